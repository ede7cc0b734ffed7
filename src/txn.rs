//! Transactions inside our background workers.
//!
//! pgrx's `BackgroundWorker::transaction` has no rollback path: an ERROR inside it ends the
//! process. A sync must survive a failed page (record it, roll back, go on with the next model),
//! so each unit of work runs here: commit on `Ok`, roll back on `Err`, on an ERROR and on a panic.
use pgrx::prelude::*;
use std::panic::AssertUnwindSafe;

use crate::errors::SyncError;

pub fn in_transaction<R>(f: impl FnOnce() -> Result<R, SyncError>) -> Result<R, SyncError> {
    // SAFETY: called on the backend's thread outside any transaction (the worker's loop, between
    // pages), which is where StartTransactionCommand may be called; the snapshot pushed here is
    // popped before the commit below, or dropped with the abort.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let result = PgTryBuilder::new(AssertUnwindSafe(|| {
        let r = f();
        if r.is_ok() {
            // SAFETY: the transaction and snapshot started above, still current.
            unsafe {
                pg_sys::PopActiveSnapshot();
                pg_sys::CommitTransactionCommand();
            }
        }
        r
    }))
    .catch_others(|e| Err(SyncError::from_caught(e)))
    .catch_rust_panic(|e| Err(SyncError::from_caught(e)))
    .execute();
    if result.is_err() {
        // SAFETY: AbortCurrentTransaction undoes whatever state the failed unit left (an open
        // transaction, a pushed snapshot, an ERROR in progress), as PostgresMain does after one.
        unsafe {
            pg_sys::AbortCurrentTransaction();
        }
    }
    result
}
