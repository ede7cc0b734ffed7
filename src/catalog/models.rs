//! The models to mirror, `scrap_sga.model`, as the engine reads them: settings, and the state
//! the previous runs left (written by [`super::model_state`] only). Every function runs inside
//! the caller's transaction.
use pgrx::prelude::*;
use scrap_sga_core::odoo::fingerprint::Fingerprint;
use scrap_sga_core::odoo::time::OdooTime;

use crate::errors::{state, SyncError};
use crate::values::odoo_time;

/// One row of `scrap_sga.model`, with what the engine derives from it.
#[derive(Debug, Clone)]
pub struct ModelConf {
    /// The row's id: what a job worker is told (`job_worker`).
    pub model_id: i32,
    pub model: String,
    pub table_schema: String,
    pub table_name: String,
    /// Records per request at most.
    pub page_size: usize,
    pub lookback_secs: i64,
    /// The newest write_date copied; None before the first success.
    pub cursor: Option<OdooTime>,
    /// Records listed with `write_date >= recheck_from` are read again.
    pub recheck_from: Option<OdooTime>,
    /// Odoo's clock when the last successful sync first read.
    pub read_at: Option<OdooTime>,
    pub schema_due: bool,
    /// Opted-in computed fields are due for their refresh pass.
    pub computed_due: bool,
    pub reconcile_due: bool,
    pub audit: bool,
    /// Odoo requests a full pass or a listing may have under way at once.
    pub parallel: usize,
    /// Records per request that last worked, and what a record weighed then (adaptive batches).
    pub batch_size: Option<usize>,
    pub bytes_per_record: Option<u64>,
    /// Odoo's fingerprint of the records written since a time, when the window was last listed.
    pub window: Option<(OdooTime, Fingerprint)>,
    /// How soon after its write a row must have been copied to be read once more (the recheck).
    pub recheck_margin_s: Option<f64>,
    /// A full pass was left unfinished: the next run resumes it, whatever starts it.
    pub pass_pending: bool,
    /// A many2one's display names are due for their check (`scrap_sga.model.display_refresh`).
    pub display_due: bool,
}

impl ModelConf {
    /// The mirror table, quoted and schema-qualified.
    pub fn table(&self) -> String {
        format!("{}.{}", scrap_sga_core::ident::quote(&self.table_schema), scrap_sga_core::ident::quote(&self.table_name))
    }
}

/// What the engine reads of a row, by name. Every setting is a NOT NULL column with its default
/// in sql/catalog.sql (the one place defaults are stated); what can be NULL is state.
const MODEL_COLUMNS: &str = concat!("model_id, model, table_schema::text AS table_schema, table_name::text AS table_name, page_size, \
    extract(epoch FROM lookback)::bigint AS lookback_secs, cursor, recheck_from, read_at, \
    (schema_checked_at IS NULL OR schema_checked_at + schema_refresh <= now()) AS schema_due, \
    (computed_refreshed_at IS NULL OR computed_refreshed_at + computed_refresh <= now()) AS computed_due, \
    (reconciled_at IS NULL OR reconciled_at + reconcile_every <= now()) AS reconcile_due, audit, parallel, batch_size, bytes_per_record, \
    window_since, window_count, window_id_sum, window_newest, extract(epoch FROM recheck_margin)::float8 AS recheck_margin_s, \
    EXISTS (SELECT 1 FROM scrap_sga.full_pass p WHERE p.model = m.model) AS pass_pending, \
    EXISTS (SELECT 1 FROM scrap_sga.model_field f WHERE f.model = m.model AND f.odoo_type = 'many2one' AND f.status = 'active' \
            AND ", super::fields::display_due!(), ") AS display_due");

/// A column the catalog declares NOT NULL: NULL there means the catalog is not what this
/// library expects (an upgrade not run), and is said so.
fn required<T: pgrx::datum::IntoDatum + pgrx::datum::FromDatum>(r: &pgrx::spi::SpiHeapTupleData, name: &str) -> Result<T, SyncError> {
    r.get_by_name::<T, _>(name)?.ok_or_else(|| {
        SyncError::new(state::INTERNAL, format!("scrap_sga.model.{name} is NULL: is the extension's catalog up to date (ALTER EXTENSION scrap_sga UPDATE)?"))
    })
}

/// A positive count of the catalog (a CHECK keeps it so) as a size.
fn size(n: i32) -> usize {
    usize::try_from(n).unwrap_or(1).max(1)
}

fn read(condition: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<Vec<ModelConf>, SyncError> {
    Spi::connect(|c| {
        let sql = format!("SELECT {MODEL_COLUMNS} FROM scrap_sga.model m WHERE {condition} ORDER BY sync_order, model");
        let mut out = Vec::new();
        for r in c.select(&sql, None, args)? {
            let r = &r;
            let time_of = |name: &str| -> Result<Option<OdooTime>, SyncError> { Ok(odoo_time(r.get_by_name(name)?)) };
            out.push(ModelConf {
                model_id: required(r, "model_id")?,
                model: required(r, "model")?,
                table_schema: required(r, "table_schema")?,
                table_name: required(r, "table_name")?,
                page_size: size(required(r, "page_size")?),
                lookback_secs: required(r, "lookback_secs")?,
                cursor: time_of("cursor")?,
                recheck_from: time_of("recheck_from")?,
                read_at: time_of("read_at")?,
                schema_due: required(r, "schema_due")?,
                computed_due: required(r, "computed_due")?,
                reconcile_due: required(r, "reconcile_due")?,
                audit: required(r, "audit")?,
                parallel: size(required(r, "parallel")?),
                batch_size: r.get_by_name::<i32, _>("batch_size")?.map(size),
                bytes_per_record: r.get_by_name::<i32, _>("bytes_per_record")?.and_then(|n| u64::try_from(n).ok()),
                window: match (time_of("window_since")?, r.get_by_name::<i64, _>("window_count")?, r.get_by_name::<i64, _>("window_id_sum")?) {
                    (Some(since), Some(count), Some(id_sum)) => Some((since, Fingerprint { count, id_sum, newest: time_of("window_newest")? })),
                    _ => None,
                },
                recheck_margin_s: r.get_by_name::<f64, _>("recheck_margin_s")?,
                pass_pending: required(r, "pass_pending")?,
                display_due: required(r, "display_due")?,
            });
        }
        Ok(out)
    })
}

/// Every enabled model, or the one named.
pub fn models(only: Option<&str>) -> Result<Vec<ModelConf>, SyncError> {
    let out = read("($1::text IS NULL AND enabled) OR model = $1", &[only.into()])?;
    if let (Some(m), true) = (only, out.is_empty()) {
        return Err(SyncError::new(state::INVALID_PARAMETER, format!("model {m:?} is not registered in scrap_sga.model")));
    }
    Ok(out)
}

/// A model by its row id (what a job worker is told).
pub fn model_by_id(model_id: i32) -> Result<ModelConf, SyncError> {
    read("model_id = $1", &[model_id.into()])?
        .into_iter()
        .next()
        .ok_or_else(|| SyncError::new(state::INVALID_PARAMETER, format!("no model with model_id {model_id} in scrap_sga.model")))
}

/// For a resync of a record of `model`: that model, then the models with a many2one to it.
pub fn resync_models(model: &str) -> Result<Vec<ModelConf>, SyncError> {
    let mut out = models(Some(model))?;
    out.extend(read(
        "enabled AND model <> $1 AND model IN (SELECT f.model FROM scrap_sga.model_field f
                                               WHERE f.relation = $1 AND f.odoo_type = 'many2one' AND f.status = 'active')",
        &[model.into()],
    )?);
    Ok(out)
}
