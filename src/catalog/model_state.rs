//! What the runs leave in `scrap_sga.model` for the next ones: the cursor and the window's
//! anchor, the kept count of live rows, when the schema was checked, reconciled and refreshed,
//! and the batch size that worked. The only writer of those columns (the DBA writes the
//! settings). Every function runs inside the caller's transaction.
use pgrx::prelude::*;

use super::run_log::Report;
use crate::errors::SyncError;
use crate::values::timestamptz;

/// The live rows of a mirror table, as kept: how many, and the sum of their ids.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    pub rows: i64,
    pub id_sum: i64,
}

pub struct ModelState;

impl ModelState {
    /// A write changed the live rows by `delta` (NULL stays NULL: not counted yet).
    pub fn add_live(model: &str, delta: Live) -> Result<(), SyncError> {
        if delta != Live::default() {
            Spi::run_with_args(
                "UPDATE scrap_sga.model SET live_rows = live_rows + $2, live_id_sum = live_id_sum + $3 WHERE model = $1",
                &[model.into(), delta.rows.into(), delta.id_sum.into()],
            )?;
        }
        Ok(())
    }

    /// The live rows, counted.
    pub fn set_live(model: &str, live: Live) -> Result<(), SyncError> {
        Spi::run_with_args(
            "UPDATE scrap_sga.model SET live_rows = $2, live_id_sum = $3 WHERE model = $1",
            &[model.into(), live.rows.into(), live.id_sum.into()],
        )?;
        Ok(())
    }

    /// The live rows as kept, if they were ever counted.
    pub fn live(model: &str) -> Result<Option<Live>, SyncError> {
        let (rows, id_sum) = Spi::get_two_with_args::<i64, i64>("SELECT live_rows, live_id_sum FROM scrap_sga.model WHERE model = $1", &[model.into()])?;
        Ok(rows.zip(id_sum).map(|(rows, id_sum)| Live { rows, id_sum }))
    }

    /// Odoo's fields were asked for now.
    pub fn schema_checked(model: &str) -> Result<(), SyncError> {
        Spi::run_with_args("UPDATE scrap_sga.model SET schema_checked_at = now() WHERE model = $1", &[model.into()])?;
        Ok(())
    }

    /// A full pass is owed (columns added, a field readable again): the cursor is forgotten, in
    /// the transaction that made the pass necessary, so that every run is a full pass until one
    /// succeeds and sets it again (`advance`). Kept only in the run, the need was lost when the
    /// pass failed: the next run found the columns there and went on incrementally, and rows
    /// not written since kept NULL in them.
    pub fn owe_full_pass(model: &str) -> Result<(), SyncError> {
        Spi::run_with_args("UPDATE scrap_sga.model SET cursor = NULL WHERE model = $1", &[model.into()])?;
        Ok(())
    }

    /// A successful run's end: the cursor only moves forward, and only once
    /// everything before it is committed. Without Odoo's clock (no Date header), read_at is
    /// cleared and the next window falls back on the cursor: correct, though the last seconds
    /// before it are read again at every run until the cursor moves (an old read_at would widen
    /// the window run after run). A run that does not set the window may only widen the recheck.
    pub fn advance(model: &str, r: &Report) -> Result<(), SyncError> {
        Spi::run_with_args(
            "UPDATE scrap_sga.model SET cursor = greatest(cursor, $2),
                    recheck_from = CASE WHEN $3 THEN $5 ELSE least(recheck_from, $5) END,
                    read_at = CASE WHEN $3 THEN $6 ELSE read_at END,
                    reconciled_at = CASE WHEN $4 THEN now() ELSE reconciled_at END,
                    computed_refreshed_at = CASE WHEN $7 THEN now() ELSE computed_refreshed_at END,
                    window_since = CASE WHEN $8::timestamptz IS NULL THEN window_since ELSE $8 END,
                    window_count = CASE WHEN $8::timestamptz IS NULL THEN window_count ELSE $9 END,
                    window_id_sum = CASE WHEN $8::timestamptz IS NULL THEN window_id_sum ELSE $10 END,
                    window_newest = CASE WHEN $8::timestamptz IS NULL THEN window_newest ELSE $11 END,
                    recheck_margin = coalesce(make_interval(secs => $12), recheck_margin)
             WHERE model = $1",
            &[
                model.into(), timestamptz(r.cursor_after).into(), r.sets_window.into(), r.reconciled.into(), timestamptz(r.recheck_from).into(),
                timestamptz(r.read_started).into(), r.computed_refreshed.into(), timestamptz(r.window.map(|w| w.0)).into(),
                r.window.map(|w| w.1.count).into(), r.window.map(|w| w.1.id_sum).into(), timestamptz(r.window.and_then(|w| w.1.newest)).into(),
                r.recheck_margin_s.into(),
            ],
        )?;
        Ok(())
    }

    /// The batch size that worked last, and what a record weighed: the next run starts there.
    pub fn remember_batch(model: &str, size: usize, bytes_per_record: u64) -> Result<(), SyncError> {
        Spi::run_with_args(
            "UPDATE scrap_sga.model SET batch_size = $2, bytes_per_record = $3
             WHERE model = $1 AND (batch_size, bytes_per_record) IS DISTINCT FROM ($2, $3)",
            &[model.into(), i32::try_from(size).unwrap_or(i32::MAX).into(), i32::try_from(bytes_per_record).unwrap_or(i32::MAX).into()],
        )?;
        Ok(())
    }
}
