//! The fields Odoo computes without storing them, where a DBA opted them in: their value can
//! change while `write_date` stays put, so besides being read with every record the sync reads
//! anyway, they are refreshed for every record every `computed_refresh`, reading only `id` and
//! those fields, page by page (keyset on id), and updating only the rows whose values changed.
use pgrx::prelude::*;
use scrap_sga_core::mapping::{self, ModelPlan};
use serde_json::Value;

use super::apply::Refresh;
use super::remote::Remote;
use super::{check_interrupts, page_error, Outcome};
use crate::catalog::ModelConf;
use crate::errors::SyncError;
use crate::txn;

pub fn refresh_computed(remote: &mut Remote, plan: &ModelPlan, conf: &ModelConf, run_id: i64, out: &mut Outcome) -> Result<(), SyncError> {
    let names = plan.computed_field_names();
    if names.is_empty() {
        return Ok(());
    }
    let model = conf.model.as_str();
    let sub = plan.computed_only();
    let refresh = Refresh::new(&conf.table_schema, &conf.table_name, &sub);
    let mut last_id = 0i64;
    let mut page_no = 0;
    loop {
        check_interrupts()?;
        page_no += 1;
        let (page, took) = remote.search_read(model, Remote::ids_after(last_id), names.clone(), "id asc", conf.page_size);
        out.odoo_secs += took.as_secs_f64();
        let page = page.map_err(|e| page_error(&e, model, "refreshing computed fields", page_no, last_id))?;
        let n = page.len();
        let Some(page_last) = page.iter().filter_map(|r| r.get("id").and_then(Value::as_i64)).max() else { break };
        // A value of the wrong shape is left as it was: the record's next full read reports it.
        let rows: Vec<Value> = page.iter().filter_map(|r| mapping::convert_record(&sub, r).ok()).map(Value::Object).collect();
        let doc = serde_json::to_string(&rows).expect("JSON values serialize");
        let t0 = std::time::Instant::now();
        let changed = txn::in_transaction(|| {
            let changed = refresh.apply(&doc, run_id)?;
            // Read and compared like any record the run reads: `unchanged` stays what it says.
            Spi::run_with_args(
                "UPDATE scrap_sga.sync_run SET fetched = fetched + $3, updated = updated + $2 WHERE run_id = $1",
                &[run_id.into(), changed.into(), (n as i64).into()],
            )?;
            Ok(changed)
        })?;
        out.db_secs += t0.elapsed().as_secs_f64();
        out.written += changed;
        last_id = page_last;
        if n < conf.page_size {
            break;
        }
    }
    Ok(())
}
