//! The fields Odoo reported, `scrap_sga.model_field`, and what became of each: copied
//! (`active`), not copied (`skipped`, with the reason: computed, excluded by the DBA, not
//! readable by the sync user), or gone from Odoo (`retired`, column kept); and for a many2one,
//! where the check of its display names is. The only writer of that table besides the DBA's
//! own functions (copy_computed_field, exclude_field). Every function runs inside the caller's
//! transaction.
use pgrx::prelude::*;
use scrap_sga_core::mapping::{Choices, ModelPlan, OdooField};
use scrap_sga_core::odoo::time::OdooTime;
use std::collections::BTreeMap;

use super::model_state::ModelState;
use crate::errors::SyncError;
use crate::values::{odoo_time, timestamptz};

/// A many2one's display check is due (SQL on `model_field f` joined with `model m`): a macro so
/// that constant queries elsewhere (`models`) include it with `concat!`.
macro_rules! display_due {
    () => {
        "(f.display_checked_at IS NULL OR f.display_checked_at + m.display_refresh <= now())"
    };
}
pub(crate) use display_due;

/// The fields last reported by Odoo, to plan a run without asking `fields_get` again.
pub fn known_fields(model: &str) -> Result<Vec<OdooField>, SyncError> {
    Spi::connect(|c| {
        let t = c.select(
            "SELECT field, odoo_type, relation, label, stored, digits, selection::text, relation_field
             FROM scrap_sga.model_field WHERE model = $1 AND status <> 'retired'",
            None,
            &[model.into()],
        )?;
        let mut out = Vec::new();
        for r in t {
            out.push(OdooField {
                name: r.get::<String>(1)?.unwrap_or_default(),
                ftype: r.get::<String>(2)?.unwrap_or_default(),
                relation: r.get::<String>(3)?,
                label: r.get::<String>(4)?,
                store: r.get::<bool>(5)?.unwrap_or(true),
                digits: r.get::<Vec<i32>>(6)?,
                selection: r.get::<String>(7)?.and_then(|s| serde_json::from_str(&s).ok()),
                relation_field: r.get::<String>(8)?,
            });
        }
        Ok(out)
    })
}

/// The choices made about a model's fields besides Odoo's: computed fields a DBA opted in,
/// fields a DBA left out, and fields the sync user may not read (each with its reason).
pub fn choices(model: &str) -> Result<Choices, SyncError> {
    Spi::connect(|c| {
        let mut choices = Choices::default();
        let t = c.select(
            "SELECT field, copy_computed, excluded, unreadable_since IS NOT NULL, reason FROM scrap_sga.model_field
             WHERE model = $1 AND (copy_computed OR excluded OR unreadable_since IS NOT NULL)",
            None,
            &[model.into()],
        )?;
        for r in t {
            let field = r.get::<String>(1)?.unwrap_or_default();
            if r.get::<bool>(2)?.unwrap_or(false) {
                choices.copy_computed.insert(field.clone());
            }
            if r.get::<bool>(3)?.unwrap_or(false) {
                choices.left_out.insert(field, EXCLUDED.into());
            } else if r.get::<bool>(4)?.unwrap_or(false) {
                choices.unreadable.insert(field.clone());
                choices.left_out.insert(field, r.get::<String>(5)?.unwrap_or_else(|| UNREADABLE.into()));
            }
        }
        Ok(choices)
    })
}

const EXCLUDED: &str = "left out by the DBA (scrap_sga.exclude_field); the column and its data stay";
const UNREADABLE: &str = "the sync user may not read it";

/// Record what Odoo reported now: new fields appear, changed ones are updated, vanished ones
/// become `retired` (their columns and data stay). Returns one line per change.
pub fn save_fields(model: &str, fields: &[OdooField], plan: &ModelPlan) -> Result<Vec<String>, SyncError> {
    let mut changes = Vec::new();
    let first_time = Spi::get_one_with_args::<bool>("SELECT NOT EXISTS (SELECT 1 FROM scrap_sga.model_field WHERE model = $1)", &[model.into()])?.unwrap_or(true);
    Spi::connect_mut(|c| -> Result<(), SyncError> {
        for f in fields {
            let (status, columns, types, reason): (&str, Vec<String>, Vec<String>, Option<String>) = match plan.fields.iter().find(|p| p.field == f.name) {
                Some(p) => ("active", p.columns.iter().map(|c| c.name.clone()).collect(), p.columns.iter().map(|c| c.pg_type.to_owned()).collect(), None),
                None => ("skipped", vec![], vec![], plan.skipped.iter().find(|s| s.field == f.name).map(|s| s.reason.clone())),
            };
            let t = c.update(
                // `before` sees the row as it was (a data-modifying WITH works on the statement's
                // snapshot): a new label or selection choice is recorded without being reported
                // as a schema change, a new type or status is reported.
                "WITH before AS (SELECT odoo_type, relation, stored, status, columns, pg_types FROM scrap_sga.model_field WHERE model = $1 AND field = $2),
                 up AS (INSERT INTO scrap_sga.model_field AS m (model, field, odoo_type, relation, label, stored, status, columns, pg_types, reason,
                                                          digits, selection, relation_field)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13)
                 ON CONFLICT (model, field) DO UPDATE SET
                    odoo_type = EXCLUDED.odoo_type, relation = EXCLUDED.relation, label = EXCLUDED.label,
                    stored = EXCLUDED.stored, status = EXCLUDED.status, columns = EXCLUDED.columns,
                    pg_types = EXCLUDED.pg_types, reason = EXCLUDED.reason, digits = EXCLUDED.digits,
                    selection = EXCLUDED.selection, relation_field = EXCLUDED.relation_field, changed_at = now()
                 WHERE (m.odoo_type, m.relation, m.stored, m.status, m.columns, m.pg_types, m.digits, m.selection, m.relation_field, m.label, m.reason)
                       IS DISTINCT FROM (EXCLUDED.odoo_type, EXCLUDED.relation, EXCLUDED.stored, EXCLUDED.status, EXCLUDED.columns,
                                         EXCLUDED.pg_types, EXCLUDED.digits, EXCLUDED.selection, EXCLUDED.relation_field, EXCLUDED.label, EXCLUDED.reason)
                 RETURNING (xmax = 0) AS new, odoo_type, relation, stored, status, columns, pg_types)
                 SELECT up.new, up.new OR (SELECT (b.odoo_type, b.relation, b.stored, b.status, b.columns, b.pg_types) FROM before b)
                                          IS DISTINCT FROM (up.odoo_type, up.relation, up.stored, up.status, up.columns, up.pg_types)
                 FROM up",
                None,
                &[
                    model.into(), f.name.as_str().into(), f.ftype.as_str().into(), f.relation.as_deref().into(),
                    f.label.as_deref().into(), f.store.into(), status.into(), columns.into(), types.into(), reason.clone().into(),
                    f.digits.clone().into(), f.selection.as_ref().map(|v| v.to_string()).into(), f.relation_field.as_deref().into(),
                ],
            )?;
            if let Some(row) = t.into_iter().next() {
                let new = row.get::<bool>(1)?.unwrap_or(false);
                let significant = row.get::<bool>(2)?.unwrap_or(false);
                if !first_time && significant {
                    match (status, reason) {
                        ("active", _) => changes.push(format!("{} field {} ({})", if new { "new" } else { "changed" }, f.name, f.ftype)),
                        (_, Some(why)) if !new && (why == EXCLUDED || why.starts_with(UNREADABLE)) => changes.push(format!("field {} not copied: {why}", f.name)),
                        _ => {}
                    }
                }
            }
        }
        let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
        let t = c.update(
            "UPDATE scrap_sga.model_field SET status = 'retired', changed_at = now(), reason = 'no longer reported by Odoo; column and data kept'
             WHERE model = $1 AND status <> 'retired' AND NOT (field = ANY($2)) RETURNING field",
            None,
            &[model.into(), names.into()],
        )?;
        for r in t {
            changes.push(format!("retired field {}", r.get::<String>(1)?.unwrap_or_default()));
        }
        if first_time {
            changes.push(format!("recorded {} fields ({} copied, {} skipped)", fields.len(), plan.fields.len(), plan.skipped.len()));
        }
        Ok(())
    })?;
    ModelState::schema_checked(model)?;
    Ok(changes)
}

/// Odoo refused to read `field` to the sync user (its related model is not readable to it):
/// from now on it is not read, until a field check finds it readable again.
pub fn mark_unreadable(model: &str, field: &str, why: &str) -> Result<(), SyncError> {
    Spi::run_with_args(
        "UPDATE scrap_sga.model_field SET unreadable_since = coalesce(unreadable_since, now()), status = 'skipped', columns = '{}', pg_types = '{}',
                reason = $3, changed_at = now()
         WHERE model = $1 AND field = $2",
        &[model.into(), field.into(), format!("{UNREADABLE}: {why}").into()],
    )?;
    Ok(())
}

/// The fields of `model` the sync user could not read, last time it was tried.
pub fn unreadable(model: &str) -> Result<Vec<String>, SyncError> {
    Ok(Spi::get_one_with_args::<Vec<String>>(
        "SELECT coalesce(array_agg(field ORDER BY field), '{}') FROM scrap_sga.model_field WHERE model = $1 AND unreadable_since IS NOT NULL",
        &[model.into()],
    )?
    .unwrap_or_default())
}

/// A field the sync user may read again: it is planned like any other from now on.
pub fn mark_readable(model: &str, field: &str) -> Result<(), SyncError> {
    Spi::run_with_args("UPDATE scrap_sga.model_field SET unreadable_since = NULL WHERE model = $1 AND field = $2", &[model.into(), field.into()])?;
    Ok(())
}

/// Where a many2one's display names were left by their last check (see
/// `scrap_sga.model_field.display_*`).
pub struct DisplayCheck {
    pub field: String,
    /// The check is due (`scrap_sga.model.display_refresh` has passed since the last one).
    pub due: bool,
    /// What was written in the related model since this time is asked for: the last check's
    /// Odoo time less the model's lookback (None: never checked).
    pub ask_from: Option<OdooTime>,
    /// Why the last check could not be made (the sync user may not read the related model).
    pub error: Option<String>,
}

/// The display checks of `model`'s many2ones.
pub fn display_checks(model: &str) -> Result<Vec<DisplayCheck>, SyncError> {
    Spi::connect(|c| {
        let t = c.select(
            concat!(
                "SELECT f.field, ",
                display_due!(),
                " AS due, f.display_since - m.lookback AS ask_from, f.display_error
                 FROM scrap_sga.model_field f JOIN scrap_sga.model m USING (model)
                 WHERE f.model = $1 AND f.odoo_type = 'many2one' AND f.status = 'active'"
            ),
            None,
            &[model.into()],
        )?;
        let mut out = Vec::new();
        for r in t {
            out.push(DisplayCheck {
                field: r.get_by_name::<String, _>("field")?.unwrap_or_default(),
                due: r.get_by_name::<bool, _>("due")?.unwrap_or(true),
                ask_from: odoo_time(r.get_by_name("ask_from")?),
                error: r.get_by_name::<String, _>("display_error")?,
            });
        }
        Ok(out)
    })
}

/// The earliest time each related model's records must be asked from by the display checks due
/// among `models`' many2ones: what one request per related model, shared by the models of an
/// invocation, asks for.
pub fn display_ask_from(models: &[String]) -> Result<BTreeMap<String, OdooTime>, SyncError> {
    Spi::connect(|c| {
        let t = c.select(
            concat!(
                "SELECT f.relation, min(f.display_since - m.lookback) AS ask_from
                 FROM scrap_sga.model_field f JOIN scrap_sga.model m USING (model)
                 WHERE f.model = ANY($1) AND f.odoo_type = 'many2one' AND f.status = 'active' AND f.display_error IS NULL
                   AND f.display_since IS NOT NULL AND ",
                display_due!(),
                " GROUP BY f.relation"
            ),
            None,
            &[models.to_vec().into()],
        )?;
        let mut out = BTreeMap::new();
        for r in t {
            if let (Some(relation), Some(from)) = (r.get_by_name::<String, _>("relation")?, odoo_time(r.get_by_name("ask_from")?)) {
                out.insert(relation, from);
            }
        }
        Ok(out)
    })
}

/// The display names of `fields` were checked now: from `since` (Odoo's clock) on, unless it is
/// None (kept as it was); `error`, why they could not be.
pub fn display_checked(model: &str, fields: &[String], since: Option<OdooTime>, error: Option<&str>) -> Result<(), SyncError> {
    Spi::run_with_args(
        "UPDATE scrap_sga.model_field SET display_checked_at = now(), display_since = coalesce($3, display_since), display_error = $4
         WHERE model = $1 AND field = ANY($2)",
        &[model.into(), fields.to_vec().into(), timestamptz(since).into(), error.into()],
    )?;
    Ok(())
}

/// A full pass read every row of `model` with the names Odoo showed from `since` on: the
/// many2ones `fields` whose related model can be read follow it from there. Those refused keep
/// their reason, and are asked again with the field check only.
pub fn display_read_whole(model: &str, fields: &[String], since: OdooTime) -> Result<(), SyncError> {
    Spi::run_with_args(
        "UPDATE scrap_sga.model_field SET display_checked_at = now(), display_since = $3
         WHERE model = $1 AND field = ANY($2) AND display_error IS NULL",
        &[model.into(), fields.to_vec().into(), timestamptz(Some(since)).into()],
    )?;
    Ok(())
}
