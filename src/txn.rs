//! Transactions inside our background workers, and subtransactions inside a call.
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

/// Run `f` in a subtransaction of the caller's transaction, as a PL/pgSQL block with an
/// EXCEPTION clause does: an ERROR inside rolls back what `f` did and is returned, and the
/// caller's transaction goes on. For work that must not fail its caller (a progress notice).
pub fn in_subtransaction<R>(f: impl FnOnce() -> Result<R, SyncError>) -> Result<R, SyncError> {
    // SAFETY: called on the backend's thread inside a transaction (a function's call), where a
    // subtransaction may begin; the memory context and resource owner saved here are the
    // caller's, restored once the subtransaction is released or rolled back, as plpgsql's
    // exec_stmt_block does.
    let (context, owner) = unsafe {
        let saved = (pg_sys::CurrentMemoryContext, pg_sys::CurrentResourceOwner);
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(saved.0);
        saved
    };
    let result = PgTryBuilder::new(AssertUnwindSafe(f))
        .catch_others(|e| Err(SyncError::from_caught(e)))
        .catch_rust_panic(|e| Err(SyncError::from_caught(e)))
        .execute();
    // SAFETY: the subtransaction begun above is the current one (`f` ran inside it and an ERROR
    // caught above left it for us to roll back); the saved context and owner outlive it.
    unsafe {
        if result.is_ok() {
            pg_sys::ReleaseCurrentSubTransaction();
        } else {
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
        }
        pg_sys::MemoryContextSwitchTo(context);
        pg_sys::CurrentResourceOwner = owner;
    }
    result
}
