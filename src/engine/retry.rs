//! The retry queue: records that could not be stored are read again when due (every one of them
//! for resync_failed). A record Odoo no longer has leaves the queue and is soft-deleted here.
use pgrx::prelude::*;
use scrap_sga_core::ident::quote;
use serde_json::Value;

use super::pages::PageWriter;
use super::remote::Remote;
use super::{page_error, Outcome};
use crate::catalog::ModelConf;
use crate::errors::SyncError;
use crate::txn;

pub fn run(remote: &mut Remote, w: &mut PageWriter, conf: &ModelConf, all: bool, out: &mut Outcome) -> Result<(), SyncError> {
    let model = conf.model.as_str();
    let (queued, due): (i64, Vec<i32>) = txn::run(|| {
        let queued = Spi::get_one_with_args::<i64>("SELECT count(*) FROM scrap_sga.failed_record WHERE model = $1", &[model.into()])?.unwrap_or(0);
        let due = Spi::get_one_with_args::<Vec<i32>>(
            "SELECT coalesce(array_agg(odoo_id ORDER BY odoo_id), '{}') FROM scrap_sga.failed_record WHERE model = $1 AND ($2 OR next_attempt_at <= now())",
            &[model.into(), all.into()],
        )?
        .unwrap_or_default();
        Ok((queued, due))
    })?;
    w.queue_in_use = queued > 0;
    let names = w.plan.field_names();
    let t = format!("{}.{}", quote(&conf.table_schema), quote(&conf.table_name));
    for (i, chunk) in due.chunks(conf.page_size).enumerate() {
        let ids: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
        let first = ids[0];
        let page = remote.read(model, ids, names.clone()).0.map_err(|e| page_error(&e, model, "retrying queued records", i + 1, first - 1))?;
        if out.read_started.is_none() {
            out.read_started = remote.server_time();
        }
        let found: std::collections::BTreeSet<i64> = page.iter().filter_map(|r| r.get("id").and_then(Value::as_i64)).collect();
        let gone: Vec<i32> = chunk.iter().copied().filter(|id| !found.contains(&(*id as i64))).collect();
        w.write(page, out)?;
        if !gone.is_empty() {
            txn::run(|| Ok(Spi::run_with_args("DELETE FROM scrap_sga.failed_record WHERE model = $1 AND odoo_id = ANY($2)", &[model.into(), gone.clone().into()])?))?;
            w.soft_delete(&t, "id = ANY($1)", 1, || vec![gone.clone().into()], out)?;
        }
    }
    Ok(())
}
