//! The full pass: every record of the model, by keyset on id, the next page fetched while the
//! current one is written. Used for the first run, after new columns appear, and by full_resync.
use scrap_sga_core::odoo::Client;
use serde_json::{json, Value};

use super::pages::PageWriter;
use super::{check_interrupts, fetch, page_error, Outcome};
use crate::errors::{state, SyncError};

pub fn run(client: &mut Option<Client>, w: &mut PageWriter, page_size: usize, out: &mut Outcome) -> Result<(), SyncError> {
    let model = w.model.to_owned();
    let names = w.plan.field_names();
    let after = |last: i64| json!([["id", ">", last]]);
    let mut last_id = 0i64;
    let mut inflight = Some(fetch::start(client.take().expect("a client"), model.clone(), after(0), names.clone(), page_size));
    let result = (|| -> Result<(), SyncError> {
        let mut page_no = 0;
        while let Some(pending) = inflight.take() {
            page_no += 1;
            let (c, page, waited) = pending.wait().map_err(|e| SyncError::new(state::INTERNAL, e))?;
            *client = Some(c);
            out.odoo_secs += waited.as_secs_f64();
            let page = page.map_err(|e| page_error(&e, &model, "search_read", page_no, last_id))?;
            check_interrupts()?;
            if page.is_empty() {
                break;
            }
            let page_last = page.iter().filter_map(|r| r.get("id").and_then(Value::as_i64)).max().unwrap_or(last_id);
            if page.len() >= page_size {
                inflight = Some(fetch::start(client.take().unwrap(), model.clone(), after(page_last), names.clone(), page_size));
            }
            w.write(page, out)?;
            last_id = page_last;
        }
        Ok(())
    })();
    // With a page still in flight after an error, wait for it: the client comes back with it.
    if let Some(pending) = inflight.take() {
        if let Ok((c, _, _)) = pending.wait() {
            *client = Some(c);
        }
    }
    result
}
