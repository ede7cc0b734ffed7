//! The end of a run in the run log (scrap_sga.sync_run): its counts, status and error; for a
//! sync, the model's cursor and window move in the same transaction; and listeners hear of it.
use pgrx::prelude::*;

use super::job::Outcome;
use super::session::Session;
use crate::catalog::ModelConf;
use crate::errors::SyncError;

pub struct Done {
    pub mode: &'static str,
    /// Sync runs set the next window (read_at, recheck_from); resync and retry runs may only
    /// widen the recheck window.
    pub sets_recheck: bool,
    pub reconciled: bool,
    pub computed_refreshed: bool,
    pub cursor_after: Option<String>,
    pub schema_changes: Vec<String>,
}

pub fn finish_succeeded(conf: &ModelConf, run_id: i64, done: &Done, session: &Session, requests: u64, out: &Outcome) -> Result<(), SyncError> {
    Spi::connect_mut(|c| {
        c.update(
            "UPDATE scrap_sga.sync_run SET status = 'succeeded', finished_at = clock_timestamp(),
                    unchanged = fetched - inserted - updated - restored - failed,
                    cursor_after = $2::timestamp AT TIME ZONE 'UTC', odoo_version = $3, schema_changes = $4, requests = $5,
                    odoo_time = make_interval(secs => $6), db_time = make_interval(secs => $7), mode = $8, reconciled = $9,
                    protocol = $10
             WHERE run_id = $1",
            None,
            &[
                run_id.into(), done.cursor_after.as_deref().into(), session.version.as_deref().into(), done.schema_changes.clone().into(),
                (requests as i32).into(), out.odoo_secs.into(), out.db_secs.into(), done.mode.into(), done.reconciled.into(),
                session.protocol.into(),
            ],
        )?;
        // The cursor only moves forward, and only once everything before it is committed.
        // Without Odoo's clock (no Date header), read_at is cleared and the next window falls back
        // on the cursor: correct, but the last seconds before it are then read again at every run
        // until the cursor moves (an old read_at would instead widen the window run after run).
        c.update(
            "UPDATE scrap_sga.model SET cursor = greatest(cursor, $2::timestamp AT TIME ZONE 'UTC'),
                    recheck_from = CASE WHEN $3 THEN coalesce($5::timestamp, $2::timestamp) AT TIME ZONE 'UTC' - interval '10 seconds'
                                        ELSE least(recheck_from, $5::timestamp AT TIME ZONE 'UTC' - interval '10 seconds') END,
                    read_at = CASE WHEN $3 THEN $5::timestamp AT TIME ZONE 'UTC' ELSE read_at END,
                    reconciled_at = CASE WHEN $4 THEN now() ELSE reconciled_at END,
                    computed_refreshed_at = CASE WHEN $6 THEN now() ELSE computed_refreshed_at END
             WHERE model = $1",
            None,
            &[
                conf.model.as_str().into(), done.cursor_after.as_deref().into(), done.sets_recheck.into(), done.reconciled.into(),
                out.read_started.as_deref().into(), done.computed_refreshed.into(),
            ],
        )?;
        notify_changes(c, run_id)
    })
}

/// Tell listeners (`LISTEN scrap_sga`) what a run changed; nothing for a run that changed
/// nothing. Sent at the commit of the run's last transaction.
fn notify_changes(c: &mut pgrx::spi::SpiClient<'_>, run_id: i64) -> Result<(), SyncError> {
    c.update("SELECT scrap_sga._notify_changes($1)", None, &[run_id.into()])?;
    Ok(())
}

pub fn finish_failed(c: &mut pgrx::spi::SpiClient<'_>, run_id: i64, e: &SyncError, session: Option<&Session>, requests: u64, out: &Outcome) -> Result<(), SyncError> {
    c.update(
        "UPDATE scrap_sga.sync_run SET status = 'failed', finished_at = clock_timestamp(),
                unchanged = fetched - inserted - updated - restored - failed, sqlstate = $2, error = $3, requests = $4,
                odoo_time = make_interval(secs => $5), db_time = make_interval(secs => $6), odoo_version = $7, protocol = $8
         WHERE run_id = $1",
        None,
        &[
            run_id.into(), e.sqlstate.as_str().into(), e.message.as_str().into(), (requests as i32).into(), out.odoo_secs.into(), out.db_secs.into(),
            session.and_then(|s| s.version.as_deref()).into(), session.and_then(|s| s.protocol).into(),
        ],
    )?;
    // A failed run may have committed pages before it failed: those changes are news too.
    notify_changes(c, run_id)
}
