//! `scrap_sga.worker_state`: what the scheduler is doing, for the status view. One row, written
//! by the scheduler only.
use pgrx::prelude::*;
use std::time::Duration;

use crate::errors::SyncError;

/// The scheduler's state (`idle`, `running`, `backing off`, `paused`, `stopped`), when it runs
/// next, and after how many failed cycles in a row.
pub fn record(state: &str, next_run_in: Option<Duration>, failures: u32, interval_s: i32) -> Result<(), SyncError> {
    Spi::run_with_args(
        "INSERT INTO scrap_sga.worker_state AS w (pid, state, next_run_at, consecutive_failures, interval_s, updated_at)
         VALUES (pg_backend_pid(), $1, clock_timestamp() + make_interval(secs => $2), $3, $4, clock_timestamp())
         ON CONFLICT (singleton) DO UPDATE SET pid = EXCLUDED.pid, state = EXCLUDED.state, next_run_at = EXCLUDED.next_run_at,
             consecutive_failures = EXCLUDED.consecutive_failures, interval_s = EXCLUDED.interval_s, updated_at = EXCLUDED.updated_at",
        &[state.into(), next_run_in.map(|d| d.as_secs_f64()).into(), (failures as i32).into(), interval_s.into()],
    )?;
    Ok(())
}
