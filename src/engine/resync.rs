//! One record, now: `read` it (or, for a model that points to it, `search` the records that do)
//! and upsert; what Odoo no longer has is soft-deleted.
use scrap_sga_core::ident::quote;
use scrap_sga_core::ids::OdooId;
use serde_json::json;

use super::context::ModelRun;
use super::mirror::Unit;
use crate::errors::SyncError;
use crate::values::id_array;

impl ModelRun<'_> {
    pub fn resync_record(&mut self, parent: &str, id: OdooId) -> Result<(), SyncError> {
        let model = self.model().to_owned();
        self.mirror.begin_phase("resync", Unit::Fetched, 0, None, None)?;
        // The record itself, or the records of this model that point to it through a many2one.
        let (ids, link): (Vec<OdooId>, Option<String>) = if model == parent {
            (vec![id], None)
        } else {
            let plan = self.mirror.plan();
            let Some(field) = plan.fields.iter().find(|f| f.ftype == "many2one" && f.relation.as_deref() == Some(parent)).map(|f| f.field.clone()) else {
                return Ok(());
            };
            let ids = self
                .remote
                .search_ids(&model, json!([[field, "=", id]]), None)
                .map_err(|e| SyncError::from_odoo(&e).context(format!("{model}: search for {field} = {id}")))?;
            (ids, Some(field))
        };
        let found = self.read_ids(&ids, &format!("read of {id}"))?;
        // Soft-delete what Odoo no longer has: the record, or the records that pointed to it.
        let key = link.as_deref().map(quote).unwrap_or_else(|| "id".into());
        self.mirror.soft_delete(&format!("{key} = $1 AND NOT (id = ANY($2))"), 2, || vec![id.get().into(), id_array(&found).into()])?;
        Ok(())
    }
}
