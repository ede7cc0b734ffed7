//! Where the audit is at, for its errors: the table, and the column being compared or rendered.
//!
//! While the audit works on a table, its place is on the server's error context stack: an error
//! the server raises there (a type's output function, the audit log's INSERT, memory) gets a
//! CONTEXT line saying where. pgrx carries such an error across the Rust code as a panic and
//! reports it again where the trigger returns, without its context; the place therefore stays
//! on the stack while the Rust code unwinds (in palloc'd memory, which outlives the report), and
//! the server takes it off with the rest of the stack as it handles the error. The audit's own
//! errors (`raise`) say where in their message, and get no CONTEXT line.
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::ptr::{null, null_mut};

use super::row::{copy_name, palloc_array};

unsafe extern "C-unwind" {
    // elog.h's errcontext(), left out of pgrx's bindings with the other err*() functions (pgrx's
    // own error reporting declares it the same way).
    fn errcontext_msg(fmt: *const c_char, ...) -> c_int;
}

pub(super) struct Place {
    link: pg_sys::ErrorContextCallback,
    /// What is audited (`table schema.name`, or the rows given to `_audit_diff`): a palloc'd copy.
    what: (*const u8, usize),
    /// The name of the column at hand (null: none), kept by the list of the table's columns.
    column: Cell<(*const u8, usize)>,
    /// Set by `raise`: the error says where itself.
    quiet: Cell<bool>,
    /// The place this one was pushed over, if any.
    outer: *const Place,
}

thread_local! {
    /// The innermost place pushed, for `here()` and `raise()`.
    static CURRENT: Cell<*const Place> = const { Cell::new(null()) };
}

/// A place pushed on the error context stack, taken off when dropped (but left there while an
/// error unwinds: see above).
pub(super) struct Pushed(*mut Place);

impl Pushed {
    /// A place in the current memory context, which must outlive the Pushed.
    pub(super) fn new(what: String) -> Pushed {
        let what = what.replace('\0', "");
        let place = palloc_array::<Place>(1);
        let link = pg_sys::ErrorContextCallback { previous: null_mut(), callback: Some(context), arg: place.cast() };
        let value = Place { link, what: (copy_name(what.as_bytes()).cast_const().cast(), what.len()), column: Cell::new((null(), 0)), quiet: Cell::new(false), outer: CURRENT.with(Cell::get) };
        // SAFETY: room for a Place, just allocated; then the server's stack, in the backend's
        // only thread, gets the place over what it had.
        unsafe {
            place.write(value);
            (*place).link.previous = pg_sys::error_context_stack;
            pg_sys::error_context_stack = &raw mut (*place).link;
        }
        CURRENT.with(|c| c.set(place));
        Pushed(place)
    }
}

impl std::ops::Deref for Pushed {
    type Target = Place;
    fn deref(&self) -> &Place {
        // SAFETY: the place lives until this is dropped, and beyond.
        unsafe { &*self.0 }
    }
}

impl Drop for Pushed {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.outer));
        if std::thread::panicking() {
            return;
        }
        // SAFETY: the server's stack, in the backend's only thread. Places are pushed and
        // dropped in stack order, and whatever the server pushed over this one is off the stack
        // by now (it took it off on return).
        unsafe {
            if pg_sys::error_context_stack == &raw mut (*self.0).link {
                pg_sys::error_context_stack = (*self.0).link.previous;
            }
        }
    }
}

impl Place {
    /// The column at hand from now on.
    ///
    /// # Safety
    /// `name` lives until the next `at` or `leave`, or as long as this place.
    pub(super) unsafe fn at(&self, name: &[u8]) {
        self.column.set((name.as_ptr(), name.len()));
    }

    /// No column at hand any more.
    pub(super) fn leave(&self) {
        self.column.set((null(), 0));
    }

    /// What is audited, without the column.
    pub(super) fn what(&self) -> String {
        // SAFETY: new()'s copy, in memory that lives as long as the place.
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(self.what.0, self.what.1) }).into_owned()
    }

    /// What is audited, and the column at hand if any.
    fn describe(&self) -> String {
        let (name, len) = self.column.get();
        if name.is_null() {
            return self.what();
        }
        // SAFETY: the name lives until the next at() or leave(), as at()'s callers promise.
        let column = String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(name, len) });
        format!("{}, column {column}", self.what())
    }
}

fn current() -> Option<&'static Place> {
    let place = CURRENT.with(Cell::get);
    // SAFETY: CURRENT is a place pushed and not dropped yet (drop sets it back to the outer one),
    // so alive.
    (!place.is_null()).then(|| unsafe { &*place })
}

/// The innermost place pushed, described.
pub(super) fn here() -> String {
    current().map_or_else(|| "no table".into(), Place::describe)
}

/// The audit's own ERROR, whose message says where: the place adds no CONTEXT line to it.
pub(super) fn raise(code: PgSqlErrorCode, message: String) -> ! {
    if let Some(place) = current() {
        place.quiet.set(true);
    }
    ereport!(ERROR, code, message);
}

/// The error context callback: a CONTEXT line saying where the audit was.
#[pg_guard]
unsafe extern "C-unwind" fn context(arg: *mut c_void) {
    // SAFETY: `arg` is the place this callback was pushed with, alive while it is on the stack.
    let place = unsafe { &*arg.cast::<Place>() };
    if place.quiet.get() {
        return;
    }
    let mut text = format!("scrap_sga audit of {}", place.describe()).into_bytes();
    text.retain(|&b| b != 0);
    text.push(0);
    // SAFETY: called while an error is being reported, as context callbacks are; "%s" and one
    // NUL-terminated string, which errcontext_msg copies.
    unsafe { errcontext_msg(c"%s".as_ptr(), text.as_ptr()) };
}
