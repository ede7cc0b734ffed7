//! The full pass: every record of the model, by keyset on id, the next page fetched while the
//! current one is written. Used for the first run, after new columns appear, and by full_resync.
use serde_json::Value;

use super::pages::PageWriter;
use super::remote::Remote;
use super::{check_interrupts, page_error, Outcome};
use crate::errors::SyncError;

pub fn copy_all(remote: &mut Remote, w: &mut PageWriter, out: &mut Outcome) -> Result<(), SyncError> {
    let page_size = w.page_size;
    let model = w.model.to_owned();
    let names = w.plan.field_names();
    let start = |remote: &mut Remote, last: i64| remote.start(Remote::search_read_call(&model, Remote::ids_after(last), names.clone(), "id asc", page_size));
    let mut last_id = 0i64;
    let mut inflight = Some(start(remote, 0).map_err(|e| page_error(&e, &model, "search_read", 1, 0))?);
    let mut page_no = 0;
    while let Some(pending) = inflight.take() {
        page_no += 1;
        let (page, waited) = remote.finish(pending);
        out.odoo_secs += waited.as_secs_f64();
        let page = page.map_err(|e| page_error(&e, &model, "search_read", page_no, last_id))?;
        if out.read_started.is_none() {
            out.read_started = remote.server_time();
        }
        check_interrupts()?;
        if page.is_empty() {
            break;
        }
        let page_last = page.iter().filter_map(|r| r.get("id").and_then(Value::as_i64)).max().unwrap_or(last_id);
        if page.len() >= page_size {
            inflight = Some(start(remote, page_last).map_err(|e| page_error(&e, &model, "search_read", page_no + 1, page_last))?);
        }
        // On an error here a page may still be in flight: its thread ends with its request, and
        // the client goes with it; the session is over anyway.
        w.write(page, out)?;
        last_id = page_last;
    }
    Ok(())
}
