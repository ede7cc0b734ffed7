//! Passes over some columns of every record: reading only `id` and those fields, page by page,
//! and updating only the rows whose values changed (audited like any change). Two uses:
//!
//! * the fields Odoo computes without storing them, where a DBA opted them in: their value can
//!   change while `write_date` stays put, so besides being read with every record the sync reads
//!   anyway, they are refreshed for every record every `computed_refresh`;
//! * a field the sync user may read again (its related model's read right was granted): its
//!   column is filled, without reading every other field again.
use scrap_sga_core::ids::IdRange;

use super::context::ModelRun;
use super::mirror::upsert::Refresh;
use super::mirror::Unit;
use crate::catalog::model_state::ModelState;
use super::streams::{self, Event};
use crate::errors::SyncError;

impl ModelRun<'_> {
    /// Refresh the opted-in computed fields of every record.
    pub fn refresh_computed(&mut self) -> Result<(), SyncError> {
        let names: Vec<String> = self.mirror.plan().fields.iter().filter(|f| f.computed).map(|f| f.field.clone()).collect();
        self.refresh_columns(&names, "refreshing computed fields")
    }

    /// Read `fields` (and `id`) of every record, and update the rows whose values differ.
    pub fn refresh_columns(&mut self, fields: &[String], what: &'static str) -> Result<(), SyncError> {
        // Only the fields the plan still copies: one readable again at the field check may have
        // been refused again by this run's reads since, and left out.
        let fields: Vec<String> = fields.iter().filter(|f| self.mirror.plan().has_field(f)).cloned().collect();
        if fields.is_empty() {
            return Ok(());
        }
        let refresh = Refresh::new(self.mirror.table(), self.mirror.plan().restricted_to(&fields));
        let model = self.model().to_owned();
        let expected = self.mirror.txn(|| ModelState::live(&model))?.map(|l| l.rows);
        self.mirror.begin_phase("computed refresh", Unit::Fetched, 0, expected, None)?;
        let listing = self.listing(refresh.plan().field_names(), vec![], what, true);
        let (sizer, mirror) = (self.mirror.sizer().clone(), &mut self.mirror);
        streams::fetch(self.remote, &listing, vec![IdRange::ALL], 1, &sizer, |_, event| match event {
            Event::Page(page) => mirror.write_refresh(&refresh, page.records, what).map(|_| ()),
            Event::SetAside { id, error } => mirror.set_aside(id, &error),
        })
    }
}
