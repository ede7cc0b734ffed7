//! One record, now: `read` it (or, for a model that points to it, `search` the records that do)
//! and upsert; what Odoo no longer has is soft-deleted.
use scrap_sga_core::ident::quote;
use serde_json::{json, Value};

use super::pages::PageWriter;
use super::remote::Remote;
use super::{page_error, Outcome};
use crate::catalog::ModelConf;
use crate::errors::SyncError;

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
    let key = link.as_deref().map(quote).unwrap_or_else(|| "id".into());
    w.soft_delete(&t, &format!("{key} = $1 AND NOT (id = ANY($2))"), 2, || vec![(id as i32).into(), found.into()], out)?;
    Ok(())
}
