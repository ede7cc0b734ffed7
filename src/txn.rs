//! Transactions inside our background workers.
//!
//! pgrx's `BackgroundWorker::transaction` has no rollback path: an ERROR inside it ends the
//! process. A sync must survive a failed page (record it, roll back, go on with the next model),
//! so each unit of work runs here: commit on `Ok`, roll back on `Err`, on an ERROR and on a panic.
use pgrx::prelude::*;
use std::panic::AssertUnwindSafe;

use crate::errors::SyncError;

pub fn in_transaction<R>(f: impl FnOnce() -> Result<R, SyncError>) -> Result<R, SyncError> {
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let mut f = Some(f);
    let result = PgTryBuilder::new(AssertUnwindSafe(|| {
        let r = (f.take().unwrap())();
        if r.is_ok() {
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
        unsafe {
            pg_sys::AbortCurrentTransaction();
        }
    }
    result
}
