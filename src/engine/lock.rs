//! A model's lock: a session-level advisory lock, so that a manual `sync()` and the scheduler
//! never work on the same model at once. It outlives the run's page transactions, and is let
//! go when the guard is dropped, however the run ended.
use pgrx::prelude::*;
use std::time::Duration;

use crate::errors::SyncError;
use crate::{interrupt, txn};

pub struct ModelLock {
    key: String,
}

impl ModelLock {
    /// The lock of `model`: None when another run holds it and `wait` is false. Waiting tries
    /// the lock every 100 ms until it succeeds or this process is told to stop. Not
    /// pg_advisory_lock: its wait ignores SIGTERM (pgrx's handler only raises a flag), so the
    /// worker of a cancelled sync() kept waiting, and its worker slot, until the run holding the
    /// lock ended, hours for a full pass, and cancelled calls piled up workers until no more
    /// could start.
    pub fn take(model: &str, wait: bool) -> Result<Option<ModelLock>, SyncError> {
        let key = format!("hashtext('scrap_sga'), hashtext({})", scrap_sga_core::ident::literal(model));
        let sql = format!("SELECT pg_try_advisory_lock({key})");
        loop {
            if txn::in_transaction(|| Ok(Spi::get_one::<bool>(&sql)?.unwrap_or(false)))? {
                return Ok(Some(ModelLock { key }));
            }
            if !wait {
                return Ok(None);
            }
            interrupt::check()?;
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ModelLock {
    fn drop(&mut self) {
        // Failing to unlock leaves the lock to the end of this process's session (the job
        // worker's ends with its invocation): nothing to do but say so.
        if let Err(e) = txn::in_transaction(|| Ok(Spi::run(&format!("SELECT pg_advisory_unlock({})", self.key))?)) {
            warning!("scrap_sga: releasing a model's lock failed: {}", e.message);
        }
    }
}
