//! Reading records by id and writing them: what the incremental pass, reconciliation, a
//! resync and the retry queue all do once they know which records to read. One loop, so that
//! each of them pages, counts Odoo's time, notes Odoo's clock and stops on shutdown alike.
use scrap_sga_core::odoo::OdooError;
use serde_json::Value;

use super::pages::PageWriter;
use super::remote::Remote;
use super::{check_interrupts, odoo_error, Outcome};
use crate::errors::SyncError;

/// `read` the records `ids` (with the plan's fields, `page_size` at a time) and write each page.
/// Returns the ids Odoo returned: `read` silently leaves out those it no longer has.
/// `what` names the step in an error message.
pub fn read_and_write(remote: &mut Remote, w: &mut PageWriter, ids: &[i64], what: &str, out: &mut Outcome) -> Result<Vec<i64>, SyncError> {
    let names = w.plan.field_names();
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(w.page_size.max(1)) {
        check_interrupts()?;
        let (page, took) = remote.read(w.model, chunk.to_vec(), names.clone());
        out.odoo_secs += took.as_secs_f64();
        let page = page.map_err(|e: OdooError| odoo_error(&e).context(format!("{}: {what}, ids {} to {}", w.model, chunk[0], chunk[chunk.len() - 1])))?;
        if out.read_started.is_none() {
            out.read_started = remote.server_time();
        }
        found.extend(page.iter().filter_map(|r| r.get("id").and_then(Value::as_i64)));
        w.write(page, out)?;
    }
    Ok(found)
}
