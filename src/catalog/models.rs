//! The models to mirror, `scrap_sga.model`, as the engine reads them: settings, and the state
//! the previous runs left (written by [`super::model_state`] only). Every function runs inside
//! the caller's transaction.
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use scrap_sga_core::odoo::fingerprint::Fingerprint;
use scrap_sga_core::odoo::time::OdooTime;

use crate::errors::{state, SyncError};

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
}

impl ModelConf {
    /// The mirror table, quoted and schema-qualified.
    pub fn table(&self) -> String {
        format!("{}.{}", scrap_sga_core::ident::quote(&self.table_schema), scrap_sga_core::ident::quote(&self.table_name))
    }
}

const MODEL_COLUMNS: &str = "model_id, model, table_schema::text, table_name::text, page_size, \
    extract(epoch FROM lookback)::bigint, cursor, recheck_from, read_at, \
    (schema_checked_at IS NULL OR schema_checked_at + schema_refresh <= now()), \
    (computed_refreshed_at IS NULL OR computed_refreshed_at + computed_refresh <= now()), \
    (reconciled_at IS NULL OR reconciled_at + reconcile_every <= now()), audit, parallel, batch_size, bytes_per_record, \
    window_since, window_count, window_id_sum, window_newest, extract(epoch FROM recheck_margin)::float8";

fn time(t: Option<TimestampWithTimeZone>) -> Option<OdooTime> {
    t.filter(TimestampWithTimeZone::is_finite).and_then(|t| OdooTime::from_pg_micros(t.into_inner()))
}

fn read(condition: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<Vec<ModelConf>, SyncError> {
    Spi::connect(|c| {
        let sql = format!("SELECT {MODEL_COLUMNS} FROM scrap_sga.model WHERE {condition} ORDER BY sync_order, model");
        let mut out = Vec::new();
        for r in c.select(&sql, None, args)? {
            out.push(ModelConf {
                model_id: r.get::<i32>(1)?.unwrap_or_default(),
                model: r.get::<String>(2)?.unwrap_or_default(),
                table_schema: r.get::<String>(3)?.unwrap_or_default(),
                table_name: r.get::<String>(4)?.unwrap_or_default(),
                page_size: r.get::<i32>(5)?.unwrap_or(2000).max(1) as usize,
                lookback_secs: r.get::<i64>(6)?.unwrap_or(300),
                cursor: time(r.get(7)?),
                recheck_from: time(r.get(8)?),
                read_at: time(r.get(9)?),
                schema_due: r.get::<bool>(10)?.unwrap_or(true),
                computed_due: r.get::<bool>(11)?.unwrap_or(true),
                reconcile_due: r.get::<bool>(12)?.unwrap_or(true),
                audit: r.get::<bool>(13)?.unwrap_or(true),
                parallel: r.get::<i32>(14)?.unwrap_or(1).max(1) as usize,
                batch_size: r.get::<i32>(15)?.map(|n| n.max(1) as usize),
                bytes_per_record: r.get::<i32>(16)?.map(|n| n.max(0) as u64),
                window: match (time(r.get(17)?), r.get::<i64>(18)?, r.get::<i64>(19)?) {
                    (Some(since), Some(count), Some(id_sum)) => Some((since, Fingerprint { count, id_sum, newest: time(r.get(20)?) })),
                    _ => None,
                },
                recheck_margin_s: r.get::<f64>(21)?,
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
