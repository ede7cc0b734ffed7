//! A run's plan: the model's fields (Odoo's `fields_get` when due, else those last recorded),
//! what the DBA chose of them, their columns, and the mirror table made to fit. One transaction
//! reads what the catalog knows, Odoo is asked with none open, one transaction writes what
//! changed. And the plan made again, without a field, when Odoo refuses to read it to the sync
//! user in the middle of a run.
use pgrx::prelude::*;
use scrap_sga_core::mapping::{self, Choices, ModelPlan, OdooField};
use std::collections::BTreeSet;

use super::context::ModelRun;
use super::job::{Invocation, Job};
use super::mirror::timed;
use super::remote::Remote;
use super::schema::{self, TableOutcome};
use crate::catalog::fields;
use crate::catalog::model_state::ModelState;
use crate::catalog::run_log::Report;
use crate::catalog::ModelConf;
use crate::errors::{state, SyncError};
use crate::interrupt;

/// The plan of a model's run: its fields, its columns, its table.
pub struct Planned {
    pub fields: Vec<OdooField>,
    pub plan: ModelPlan,
    pub table: TableOutcome,
    /// Fields the sync user may read again, whose columns exist: filled by a pass of their own.
    pub refill: Vec<String>,
}

fn plan_of(model: &str, fields: &[OdooField], choices: &Choices) -> Result<ModelPlan, SyncError> {
    mapping::plan_model(fields, choices).map_err(|e| SyncError::new(state::DATA_EXCEPTION, format!("{model}: {e}")))
}

/// Plan `conf`'s run. Its database time and schema changes go into `report`.
pub fn plan(inv: &Invocation, conf: &ModelConf, remote: &mut Remote, mirrored: &BTreeSet<String>, report: &mut Report) -> Result<Planned, SyncError> {
    let model = conf.model.as_str();
    let (known, unreadable, mut choices) = timed(&mut report.db_time, || Ok((fields::known_fields(model)?, fields::unreadable(model)?, fields::choices(model)?)))?;
    let ask = conf.schema_due || known.is_empty() || matches!(inv.job, Job::FullResync { .. });
    let fields: Vec<OdooField> = if ask {
        let answer = remote.fields_get(model).map_err(|e| SyncError::from_odoo(&e).context(format!("{model}: fields_get")))?;
        answer.iter().map(|(name, attrs)| OdooField::from_fields_get(name, attrs)).collect()
    } else {
        known
    };
    // A field the sync user could not read is tried again with each field check: granting the
    // right in Odoo is enough to get it.
    let refill: Vec<String> = if ask { unreadable.into_iter().filter(|f| readable(remote, model, f)).collect() } else { Vec::new() };
    for field in &refill {
        choices.readable_again(field);
    }
    let plan = plan_of(model, &fields, &choices)?;
    let (table, changes) = timed(&mut report.db_time, || {
        let mut changes = Vec::new();
        for field in &refill {
            // Filled by this run's refresh of its column, or by a full pass if the run fails.
            fields::mark_readable(model, field)?;
            ModelState::owe_full_pass(model)?;
            changes.push(format!("field {field} is readable again: its column is filled"));
        }
        if ask {
            changes.extend(fields::save_fields(model, &fields, &plan)?);
        }
        let table = schema::ensure_table(conf, &plan, mirrored)?;
        if table.needs_full_pass {
            ModelState::owe_full_pass(model)?;
        }
        changes.extend(table.changes.iter().cloned());
        Ok((table, changes))
    })?;
    report.schema_changes.extend(changes);
    interrupt::check()?;
    Ok(Planned { fields, plan, table, refill })
}

/// Whether the sync user may read `field` of `model` now (one record of it, nothing else).
fn readable(remote: &mut Remote, model: &str, field: &str) -> bool {
    let (m, f) = (model.to_owned(), field.to_owned());
    match remote.call(move |c| c.search_read(&m, &serde_json::json!([]), &[f], "id asc", 1)) {
        Ok(_) => true,
        Err(e) => e.unreadable_field(model).is_none(),
    }
}

impl ModelRun<'_> {
    /// Odoo refused to read a field of the model to the sync user (`e` says which, if that is
    /// what it says): the field is left out from now on, with the reason, and the run goes on
    /// with the new plan. False when `e` is another error.
    pub fn leave_out_unreadable(&mut self, e: &SyncError, fields: &[OdooField]) -> Result<bool, SyncError> {
        let model = self.model().to_owned();
        let Some(field) = e.odoo.as_ref().and_then(|o| o.unreadable_field(&model)).map(str::to_owned) else { return Ok(false) };
        // The second line of Odoo's message says which model the user may not read.
        let why = e.odoo.as_ref().and_then(|o| match o {
            scrap_sga_core::odoo::OdooError::AccessDenied { message, .. } => message.lines().nth(1).map(str::to_owned),
            _ => None,
        });
        let why = why.unwrap_or_else(|| "Odoo refused to read it".into());
        let plan = self.mirror.txn(|| {
            fields::mark_unreadable(&model, &field, &why)?;
            let plan = plan_of(&model, fields, &fields::choices(&model)?)?;
            fields::save_fields(&model, fields, &plan)?;
            Ok(plan)
        })?;
        self.mirror.note_schema_change(format!("field {field} not copied: the sync user may not read it ({why})"));
        warning!("scrap_sga: {model}: field {field} is left out: the sync user may not read it ({why}); grant the right in Odoo, the next field check takes it back");
        self.mirror.replan(plan);
        Ok(true)
    }
}
