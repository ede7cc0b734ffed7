//! Reading and writing scrap_sga's own tables. Every function here runs inside a transaction
//! opened by `txn::in_transaction`.
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use scrap_sga_core::mapping::{OdooField, Skipped};

use crate::errors::{state, SyncError};

/// One row of `scrap_sga.model`, with what the engine derives from it.
#[derive(Debug, Clone)]
pub struct ModelConf {
    pub model: String,
    pub table_schema: String,
    pub table_name: String,
    pub page_size: usize,
    pub lookback_secs: i64,
    /// `YYYY-MM-DD HH:MM:SS` (UTC), as Odoo writes datetimes; None before the first success.
    pub cursor: Option<String>,
    /// Odoo's format; records listed with `write_date >= recheck_from` are read again.
    pub recheck_from: Option<String>,
    /// Odoo's clock when the last successful sync first read (Odoo's format).
    pub read_at: Option<String>,
    pub schema_due: bool,
    /// Opted-in computed fields are due for their refresh pass.
    pub computed_due: bool,
    pub reconcile_due: bool,
    pub audit: bool,
    /// Odoo requests a full pass or a reconcile listing may have under way at once.
    pub parallel: usize,
}

const MODEL_COLUMNS: &str = "model, table_schema::text, table_name::text, page_size, \
    extract(epoch FROM lookback)::bigint, to_char(cursor AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
    (schema_checked_at IS NULL OR schema_checked_at + schema_refresh <= now()), \
    to_char(recheck_from AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
    (reconciled_at IS NULL OR reconciled_at + reconcile_every <= now()), audit, \
    to_char(read_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
    (computed_refreshed_at IS NULL OR computed_refreshed_at + computed_refresh <= now()), parallel";

pub fn models(only: Option<&str>) -> Result<Vec<ModelConf>, SyncError> {
    Spi::connect(|c| {
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM scrap_sga.model WHERE ($1::text IS NULL AND enabled) OR model = $1 ORDER BY sync_order, model"
        );
        let t = c.select(&sql, None, &[only.into()])?;
        let mut out = Vec::new();
        for r in t {
            out.push(ModelConf {
                model: r.get::<String>(1)?.unwrap_or_default(),
                table_schema: r.get::<String>(2)?.unwrap_or_default(),
                table_name: r.get::<String>(3)?.unwrap_or_default(),
                page_size: r.get::<i32>(4)?.unwrap_or(2000) as usize,
                lookback_secs: r.get::<i64>(5)?.unwrap_or(300),
                cursor: r.get::<String>(6)?,
                schema_due: r.get::<bool>(7)?.unwrap_or(true),
                recheck_from: r.get::<String>(8)?,
                reconcile_due: r.get::<bool>(9)?.unwrap_or(true),
                audit: r.get::<bool>(10)?.unwrap_or(true),
                read_at: r.get::<String>(11)?,
                computed_due: r.get::<bool>(12)?.unwrap_or(true),
                parallel: r.get::<i32>(13)?.unwrap_or(1).max(1) as usize,
            });
        }
        if let Some(m) = only {
            if out.is_empty() {
                return Err(SyncError::new(state::INVALID_PARAMETER, format!("model {m:?} is not registered in scrap_sga.model")));
            }
        }
        Ok(out)
    })
}

/// For a resync of a record of `model`: that model, then the models with a many2one to it.
pub fn resync_models(model: &str) -> Result<Vec<ModelConf>, SyncError> {
    let mut out = models(Some(model))?;
    let children = Spi::connect(|c| -> Result<Vec<String>, SyncError> {
        let t = c.select(
            "SELECT DISTINCT f.model FROM scrap_sga.model_field f JOIN scrap_sga.model m ON m.model = f.model
             WHERE f.relation = $1 AND f.odoo_type = 'many2one' AND f.status = 'active' AND f.model <> $1 AND m.enabled",
            None,
            &[model.into()],
        )?;
        let mut v = Vec::new();
        for r in t {
            v.push(r.get::<String>(1)?.unwrap_or_default());
        }
        Ok(v)
    })?;
    for child in children {
        out.extend(models(Some(&child))?);
    }
    Ok(out)
}

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

/// The non-stored computed fields a DBA opted in (`scrap_sga.copy_computed_field`).
pub fn copy_computed(model: &str) -> Result<std::collections::BTreeSet<String>, SyncError> {
    Ok(Spi::get_one_with_args::<Vec<String>>(
        "SELECT coalesce(array_agg(field), '{}') FROM scrap_sga.model_field WHERE model = $1 AND copy_computed",
        &[model.into()],
    )?
    .unwrap_or_default()
    .into_iter()
    .collect())
}

/// Record what Odoo reported now: new fields appear, changed ones are updated, vanished ones
/// become `retired` (their columns and data stay). Returns one line per change.
pub fn save_fields(model: &str, fields: &[OdooField], plan: &scrap_sga_core::mapping::ModelPlan) -> Result<Vec<String>, SyncError> {
    let mut changes = Vec::new();
    let first_time = Spi::get_one_with_args::<bool>("SELECT NOT EXISTS (SELECT 1 FROM scrap_sga.model_field WHERE model = $1)", &[model.into()])?.unwrap_or(true);
    Spi::connect_mut(|c| -> Result<(), SyncError> {
        for f in fields {
            let (status, columns, types, reason): (&str, Vec<String>, Vec<String>, Option<String>) =
                match plan.fields.iter().find(|p| p.field == f.name) {
                    Some(p) => ("active", p.columns.iter().map(|c| c.name.clone()).collect(), p.columns.iter().map(|c| c.pg_type.to_owned()).collect(), None),
                    None => {
                        let why = plan.skipped.iter().find(|s: &&Skipped| s.field == f.name).map(|s| s.reason.clone());
                        ("skipped", vec![], vec![], why)
                    }
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
                 WHERE (m.odoo_type, m.relation, m.stored, m.status, m.columns, m.pg_types, m.digits, m.selection, m.relation_field, m.label)
                       IS DISTINCT FROM (EXCLUDED.odoo_type, EXCLUDED.relation, EXCLUDED.stored, EXCLUDED.status, EXCLUDED.columns,
                                         EXCLUDED.pg_types, EXCLUDED.digits, EXCLUDED.selection, EXCLUDED.relation_field, EXCLUDED.label)
                 RETURNING (xmax = 0) AS new, (odoo_type, relation, stored, status, columns, pg_types) AS now)
                 SELECT up.new, up.new OR (SELECT (b.odoo_type, b.relation, b.stored, b.status, b.columns, b.pg_types) FROM before b) IS DISTINCT FROM up.now
                 FROM up",
                None,
                &[
                    model.into(), f.name.as_str().into(), f.ftype.as_str().into(), f.relation.as_deref().into(),
                    f.label.as_deref().into(), f.store.into(), status.into(), columns.into(), types.into(), reason.into(),
                    f.digits.clone().into(), f.selection.as_ref().map(|v| v.to_string()).into(), f.relation_field.as_deref().into(),
                ],
            )?;
            if let Some(row) = t.into_iter().next() {
                let new = row.get::<bool>(1)?.unwrap_or(false);
                let significant = row.get::<bool>(2)?.unwrap_or(false);
                if status == "active" && !first_time && significant {
                    changes.push(format!("{} field {} ({})", if new { "new" } else { "changed" }, f.name, f.ftype));
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
        c.update("UPDATE scrap_sga.model SET schema_checked_at = now() WHERE model = $1", None, &[model.into()])?;
        Ok(())
    })?;
    Ok(changes)
}

pub fn start_run(c: &mut SpiClient<'_>, invocation: i64, model: &str, trigger: &str, cursor: Option<&str>) -> Result<i64, SyncError> {
    // We hold the model's lock, so any other run still marked running for it has died.
    c.update(
        "UPDATE scrap_sga.sync_run SET status = 'failed', finished_at = clock_timestamp(), sqlstate = '57P01',
                error = format('interrupted: the process running it (pid %s) ended before the run finished', backend_pid)
         WHERE model = $1 AND status = 'running' AND backend_pid <> pg_backend_pid()",
        None,
        &[model.into()],
    )?;
    let t = c.update(
        "INSERT INTO scrap_sga.sync_run (invocation, model, trigger, cursor_before)
         VALUES ($1, $2, $3, $4::timestamp AT TIME ZONE 'UTC') RETURNING run_id",
        None,
        &[invocation.into(), model.into(), trigger.into(), cursor.into()],
    )?;
    Ok(t.first().get::<i64>(1)?.unwrap_or(0))
}
