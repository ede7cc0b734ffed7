//! Being told to stop, in one place: every check the extension makes goes through here.
//!
//! Three ways to be told, one answer: the scheduler and the job workers get SIGTERM from
//! `pg_ctl stop -m fast` or `pg_terminate_backend` (pgrx's handler sets
//! `ShutdownRequestPending`); `verify()`, which runs in the caller's backend, is cancelled or
//! terminated like any query (`QueryCancelPending`, `ProcDiePending`). Only the backend's own
//! thread may read those flags: threads that wait on Odoo read a [`Stop`] that the backend's
//! thread raises when it sees one of them.
use pgrx::pg_sys;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Whether this process was told to stop. On the backend's thread only.
pub fn pending() -> bool {
    // SAFETY: these are `volatile sig_atomic_t` globals of the backend, set by its signal
    // handlers; a volatile read of them from the backend's own thread is what
    // CHECK_FOR_INTERRUPTS() itself does. The callers are on that thread (see the module's doc).
    unsafe {
        std::ptr::read_volatile(&raw const pg_sys::ShutdownRequestPending) != 0
            || std::ptr::read_volatile(&raw const pg_sys::QueryCancelPending) != 0
            || std::ptr::read_volatile(&raw const pg_sys::ProcDiePending) != 0
    }
}

/// `Err` once this process is told to stop, for `?` between steps and pages (a `Stopped`
/// becomes the run's error: see `errors`).
pub fn check() -> Result<(), Stopped> {
    if pending() {
        return Err(Stopped);
    }
    Ok(())
}

/// This process was told to stop.
#[derive(Debug, Clone, Copy)]
pub struct Stopped;

/// A stop signal that other threads can read: raised by the backend's thread when it sees that
/// it was told to stop ([`Stop::poll`]), or when the work the threads do is abandoned.
#[derive(Clone, Default)]
pub struct Stop {
    raised: Arc<AtomicBool>,
    /// A child also stops when its parent does.
    parent: Option<Arc<AtomicBool>>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// A stop of its own, which the parent's also raises.
    pub fn child(&self) -> Stop {
        Stop { raised: Arc::new(AtomicBool::new(false)), parent: Some(self.raised.clone()) }
    }

    pub fn raise(&self) {
        self.raised.store(true, Ordering::Relaxed);
    }

    /// From any thread.
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Relaxed) || self.parent.as_ref().is_some_and(|p| p.load(Ordering::Relaxed))
    }

    /// On the backend's thread: raise it if the process was told to stop; whether it is raised.
    pub fn poll(&self) -> bool {
        if pending() {
            self.raise();
        }
        self.is_raised()
    }

    /// For an Odoo client (which knows nothing of Postgres), on any thread.
    pub fn as_interrupt(&self) -> scrap_sga_core::odoo::Interrupt {
        let me = self.clone();
        Arc::new(move || me.is_raised())
    }
}
