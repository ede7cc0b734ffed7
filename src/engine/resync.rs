//! One record, now: `read` it (or, for a model that points to it, `search` the records that do)
//! and upsert; what Odoo no longer has is soft-deleted.
use scrap_sga_core::ident::quote;
use serde_json::json;

use super::pages::PageWriter;
use super::remote::Remote;
use super::reread::read_and_write;
use super::{page_error, Outcome};
use crate::catalog::ModelConf;
use crate::errors::SyncError;

pub fn resync_record(remote: &mut Remote, w: &mut PageWriter, conf: &ModelConf, parent: &str, id: i64, out: &mut Outcome) -> Result<(), SyncError> {
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
    let found: Vec<i32> = read_and_write(remote, w, &ids, &format!("read of {id}"), out)?.into_iter().map(|i| i as i32).collect();
    // Soft-delete what Odoo no longer has: the record, or the records that pointed to it.
    let key = link.as_deref().map(quote).unwrap_or_else(|| "id".into());
    w.soft_delete(&t, &format!("{key} = $1 AND NOT (id = ANY($2))"), 2, || vec![(id as i32).into(), found.into()], out)?;
    Ok(())
}
