//! Display names that follow the records they name. A many2one's `<field>_display` column holds
//! the name Odoo showed beside the id when the record was read; renaming the record pointed to
//! (a supplier, a product, a user) does not write the records that point to it, so neither the
//! window nor the reconcile of their model would ever see it.
//!
//! * At most every `scrap_sga.model.display_refresh` (5 minutes by default), the records of each
//!   related model written since its last check (less the lookback) are asked for, id and
//!   display name: one small request per related model, shared by every model of the invocation
//!   that points to it ([`DisplayNames`] keeps the answer for the invocation). Every row whose
//!   display name differs is updated, audited like any change, but for a row read after the
//!   names were asked for: what its own read showed is at least as recent.
//! * A name can change without its record being written (a contact's name that includes its
//!   company's): each reconcile reads again the display names of every id the table references,
//!   by batches.
//! * A related model the sync user may not read (or that Odoo does not have) keeps its display
//!   columns as they are, with the reason in `scrap_sga.model_field.display_error`; it is asked
//!   again with the model's field check (`schema_refresh`), so that a quiet run sends no request
//!   that fails.
use scrap_sga_core::mapping::DisplayColumn;
use scrap_sga_core::odoo::time::OdooTime;
use std::collections::BTreeMap;

use super::context::ModelRun;
use super::mirror::Unit;
use super::names::{names_document, NAMES_PER_READ};
use crate::catalog::fields;
use crate::errors::SyncError;

/// A table's display columns grouped by the model they point to.
fn by_relation(columns: Vec<DisplayColumn>) -> BTreeMap<String, Vec<DisplayColumn>> {
    let mut out: BTreeMap<String, Vec<DisplayColumn>> = BTreeMap::new();
    for c in columns {
        out.entry(c.relation.clone()).or_default().push(c);
    }
    out
}

impl ModelRun<'_> {
    /// The check of display names, when due: see the module's doc.
    pub fn refresh_display_names(&mut self) -> Result<(), SyncError> {
        let model = self.model().to_owned();
        let columns = by_relation(self.mirror.plan().display_columns());
        if columns.is_empty() || !self.mirror.conf().display_due {
            return Ok(());
        }
        let checks = self.mirror.txn(|| fields::display_checks(&model))?;
        let schema_due = self.mirror.conf().schema_due;
        for (relation, cols) in columns {
            let names: Vec<String> = cols.iter().map(|c| c.field.clone()).collect();
            let mine: Vec<&fields::DisplayCheck> = checks.iter().filter(|c| names.contains(&c.field)).collect();
            let refused = mine.iter().any(|c| c.error.is_some());
            // Refused before: asked again with the field check only, so that a quiet run sends
            // no request that fails.
            if (refused && !schema_due) || (!refused && !mine.iter().any(|c| c.due)) {
                continue;
            }
            let Some(from) = mine.iter().filter_map(|c| c.ask_from).min() else {
                // Never checked: the names are as fresh as the rows' last read, and what is
                // written from now on is followed (older renames: the reconcile's pass).
                let now = self.mirror.read_started().or_else(|| self.remote.server_time());
                self.mirror.txn(|| fields::display_checked(&model, &names, now, None))?;
                continue;
            };
            self.mirror.begin_phase("display names", Unit::Fetched, 0, None, None)?;
            let (remote, mirror, known) = (&mut *self.remote, &mut self.mirror, &mut *self.names);
            let answer = known.written_since(remote, &relation, from, |page, asked_at| {
                if page.is_empty() {
                    Ok(())
                } else {
                    mirror.rename(&cols, &names_document(page), asked_at).map(|_| ())
                }
            })?;
            self.note_display_check(&names, answer, refused)?;
        }
        Ok(())
    }

    /// A full pass read every record, each with the names Odoo showed then: the names are
    /// checked as of its start (Odoo's clock), and what is written from then on is followed.
    pub fn display_names_fresh(&mut self) -> Result<(), SyncError> {
        let model = self.model().to_owned();
        let names: Vec<String> = self.mirror.plan().display_columns().into_iter().map(|c| c.field).collect();
        let Some(since) = self.mirror.read_started().filter(|_| !names.is_empty()) else { return Ok(()) };
        self.mirror.txn(|| fields::display_read_whole(&model, &names, since))
    }

    /// The reconcile's pass: the display names of every id each many2one references, read again
    /// by batches (names that change without their record being written).
    pub fn refresh_referenced_names(&mut self) -> Result<(), SyncError> {
        let (model, table) = (self.model().to_owned(), self.mirror.table().to_owned());
        let columns = by_relation(self.mirror.plan().display_columns());
        if columns.is_empty() {
            return Ok(());
        }
        let checks = self.mirror.txn(|| fields::display_checks(&model))?;
        self.mirror.begin_phase("display names", Unit::Fetched, 0, None, None)?;
        for (relation, cols) in columns {
            let names: Vec<String> = cols.iter().map(|c| c.field.clone()).collect();
            let refused_before = checks.iter().any(|c| names.contains(&c.field) && c.error.is_some());
            if refused_before && !self.mirror.conf().schema_due {
                continue;
            }
            let mut refused = None;
            for col in &cols {
                let id = scrap_sga_core::ident::quote(&col.id_column);
                let sql = format!("SELECT coalesce(array_agg(DISTINCT {id} ORDER BY {id}), '{{}}') FROM {table} WHERE {id} IS NOT NULL AND sga_deleted_at IS NULL");
                let referenced = self.mirror.txn(|| Ok(crate::values::ids(pgrx::Spi::get_one::<Vec<i32>>(&sql)?)))?;
                for chunk in referenced.chunks(NAMES_PER_READ) {
                    match self.names.by_ids(self.remote, &relation, chunk)? {
                        Ok(found) if found.names.is_empty() => {}
                        Ok(found) => {
                            self.mirror.rename(std::slice::from_ref(col), &names_document(&found.names), found.asked_at)?;
                        }
                        Err(why) => {
                            refused = Some(why);
                            break;
                        }
                    }
                }
            }
            // Checked through: the error a check left, if any, is gone (its time is the window
            // check's to keep).
            self.note_display_check(&names, refused.map_or(Ok(None), Err), refused_before)?;
        }
        Ok(())
    }

    /// Keep how a check went for the many2ones `names`: from when the next one asks, or why
    /// none could be made (said in the run log and the server log when it is news).
    fn note_display_check(&mut self, names: &[String], answer: Result<Option<OdooTime>, String>, refused_before: bool) -> Result<(), SyncError> {
        let model = self.model().to_owned();
        match answer {
            Ok(at) => self.mirror.txn(|| fields::display_checked(&model, names, at, None)),
            Err(why) => {
                if !refused_before {
                    pgrx::warning!("scrap_sga: {model}: the display names of {} are kept as they are: {why}", names.join(", "));
                    self.mirror.note_schema_change(format!("display names of {} not refreshed: {why}", names.join(", ")));
                }
                self.mirror.txn(|| fields::display_checked(&model, names, None, Some(&why)))
            }
        }
    }
}
