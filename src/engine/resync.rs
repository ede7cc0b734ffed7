//! One record, now: `read` it (or, for a model that points to it, `search` the records that do)
//! and upsert; what Odoo no longer has is soft-deleted.
use pgrx::prelude::*;
use scrap_sga_core::ident::quote;
use serde_json::{json, Value};

use super::pages::PageWriter;
use super::remote::Remote;
use super::{page_error, Outcome};
use crate::catalog::ModelConf;
use crate::errors::SyncError;
use crate::txn;

pub fn run(remote: &mut Remote, w: &mut PageWriter, conf: &ModelConf, parent: &str, id: i64, out: &mut Outcome) -> Result<(), SyncError> {
    let model = conf.model.as_str();
    let t = format!("{}.{}", quote(&conf.table_schema), quote(&conf.table_name));
    // The record itself, or the records of this model that point to it through a many2one.
    let (ids, link): (Vec<i64>, Option<String>) = if model == parent {
        (vec![id], None)
    } else {
        let Some(field) = w.plan.fields.iter().find(|f| f.ftype == "many2one" && f.relation.as_deref() == Some(parent)).map(|f| f.field.clone()) else {
            return Ok(());
        };
        let ids = remote
            .search_ids(model, json!([[field, "=", id]]), None)
            .0
            .map_err(|e| page_error(&e, model, &format!("search for {field} = {id}"), 1, 0))?;
        (ids, Some(field))
    };
    let names = w.plan.field_names();
    let mut found: Vec<i32> = Vec::new();
    for chunk in ids.chunks(conf.page_size) {
        let page = remote.read(model, chunk.to_vec(), names.clone()).0.map_err(|e| page_error(&e, model, &format!("read of {id}"), 1, chunk[0] - 1))?;
        if out.read_started.is_none() {
            out.read_started = remote.server_time();
        }
        found.extend(page.iter().filter_map(|r| r.get("id").and_then(Value::as_i64)).map(|i| i as i32));
        w.write(page, out)?;
    }
    // Soft-delete what Odoo no longer has: the record, or the records that pointed to it.
    let sql = match &link {
        None => format!("UPDATE {t} SET sga_deleted_at = now(), sga_run_id = $3 WHERE id = $1 AND NOT (id = ANY($2)) AND sga_deleted_at IS NULL"),
        Some(field) => format!(
            "UPDATE {t} SET sga_deleted_at = now(), sga_run_id = $3 WHERE {} = $1 AND NOT (id = ANY($2)) AND sga_deleted_at IS NULL",
            quote(field)
        ),
    };
    let run_id = w.run_id;
    let deleted = txn::run(|| {
        let n = Spi::get_one_with_args::<i64>(
            &format!("WITH d AS ({sql} RETURNING 1) SELECT count(*) FROM d"),
            &[(id as i32).into(), found.clone().into(), run_id.into()],
        )?
        .unwrap_or(0);
        Spi::run_with_args("UPDATE scrap_sga.sync_run SET deleted = deleted + $2 WHERE run_id = $1", &[run_id.into(), n.into()])?;
        Ok(n)
    })?;
    out.deleted += deleted;
    out.written += deleted;
    Ok(())
}
