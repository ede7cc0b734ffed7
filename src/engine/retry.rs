//! The retry queue: records that could not be stored are read again when due (every one of them
//! for resync_failed). A record Odoo no longer has leaves the queue and is soft-deleted here.
use pgrx::prelude::*;
use scrap_sga_core::ident::quote;

use super::pages::PageWriter;
use super::remote::Remote;
use super::reread::read_and_write;
use super::Outcome;
use crate::catalog::ModelConf;
use crate::errors::SyncError;
use crate::txn;

pub fn retry_queued(remote: &mut Remote, w: &mut PageWriter, conf: &ModelConf, all: bool, out: &mut Outcome) -> Result<(), SyncError> {
    let model = conf.model.as_str();
    let (queued, due): (i64, Vec<i32>) = txn::in_transaction(|| {
        let queued = Spi::get_one_with_args::<i64>("SELECT count(*) FROM scrap_sga.failed_record WHERE model = $1", &[model.into()])?.unwrap_or(0);
        let due = Spi::get_one_with_args::<Vec<i32>>(
            "SELECT coalesce(array_agg(odoo_id ORDER BY odoo_id), '{}') FROM scrap_sga.failed_record WHERE model = $1 AND ($2 OR next_attempt_at <= now())",
            &[model.into(), all.into()],
        )?
        .unwrap_or_default();
        Ok((queued, due))
    })?;
    w.queue_in_use = queued > 0;
    let t = format!("{}.{}", quote(&conf.table_schema), quote(&conf.table_name));
    for chunk in due.chunks(conf.page_size) {
        let ids: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
        let found: std::collections::BTreeSet<i64> = read_and_write(remote, w, &ids, "retrying queued records", out)?.into_iter().collect();
        let gone: Vec<i32> = chunk.iter().copied().filter(|id| !found.contains(&(*id as i64))).collect();
        if !gone.is_empty() {
            txn::in_transaction(|| Ok(Spi::run_with_args("DELETE FROM scrap_sga.failed_record WHERE model = $1 AND odoo_id = ANY($2)", &[model.into(), gone.clone().into()])?))?;
            w.soft_delete(&t, "id = ANY($1)", 1, || vec![gone.clone().into()], out)?;
        }
    }
    Ok(())
}
