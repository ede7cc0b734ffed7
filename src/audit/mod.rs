//! The row audit of an UPDATE (`sql/audit.sql`): which columns each updated mirror row changed,
//! with their old and new values exactly as `to_jsonb` renders them, written to
//! `scrap_sga.audit_log` one row per row updated.
//!
//! In SQL the same diff (`to_jsonb` of both rows, `jsonb_each` of each, a join per row) cost
//! three times the write it audited (issue 20). Here each column is compared with its type's
//! equality, and only the columns that differ are rendered, through the server's own jsonb
//! encoder.
//!
//! * `trigger`: the trigger, reading its two transition tables side by side;
//! * `batch`: the audit rows, written by one INSERT per batch;
//! * `diff`: which columns of two rows differ, as two jsonb objects;
//! * `builder`: a value as jsonb, built by the server's builder when it may be a container;
//! * `render`: how a type renders, and the scalars;
//! * `row`: a composite value taken apart, values compared byte for byte;
//! * `place`: where the audit is at, for the messages of errors.
use pgrx::prelude::*;
use pgrx::{pg_sys, AnyElement};
use std::ffi::CStr;

mod batch;
mod builder;
mod diff;
mod place;
mod render;
mod row;
mod trigger;

use diff::Columns;
use row::Row;

/// A jsonb datum built by the server's jsonb builder, handed back as is (pgrx's `JsonB` would
/// make it a serde value and print and parse it again).
pub struct Jsonb(pg_sys::Datum);

impl IntoDatum for Jsonb {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(self.0)
    }
    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}
pgrx::impl_sql_translatable!(Jsonb, "jsonb");

// SAFETY: the datum is a jsonb value built in the function's memory context, returned as the
// function's result, which is what return_raw_datum asks.
unsafe impl pgrx::callconv::BoxRet for Jsonb {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut pgrx::callconv::FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        // SAFETY: as above.
        unsafe { fcinfo.return_raw_datum(self.0) }
    }
}

/// `[old_values, new_values]`: the columns of `old` and `new` (rows of one table) that differ,
/// other than the two the extension stamps on every write; NULL when none differs. What the
/// audit trigger logs, callable on any two rows (pg_regress compares it with `to_jsonb`).
#[pg_extern(name = "_audit_diff", stable, parallel_safe)]
fn audit_diff(old: AnyElement, new: AnyElement) -> Option<Jsonb> {
    for arg in [&old, &new] {
        // SAFETY: a catalog lookup of the argument's type.
        if arg.oid() != pg_sys::RECORDOID && !unsafe { pg_sys::type_is_rowtype(arg.oid()) } {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                format!("scrap_sga._audit_diff: rows of a table expected, got {}", type_name(arg.oid()))
            );
        }
    }
    // SAFETY: both are composite values (checked above), which the caller keeps until this
    // call returns.
    let (o, n) = unsafe { (Row::deform(old.datum()), Row::deform(new.datum())) };
    // Each value is read as its column's type in `old`: the two rows' columns must be of the
    // same types (two anonymous records may not be).
    if o.desc.len() != n.desc.len() || o.desc.iter().zip(n.desc.iter()).any(|(a, b)| a.atttypid != b.atttypid) {
        ereport!(ERROR, PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH, "scrap_sga._audit_diff: the two rows are not of the same table");
    }
    let place = place::Pushed::new(format!("rows of type {} given to scrap_sga._audit_diff", type_name(old.oid())));
    let columns = Columns::of(&o.desc, &place);
    // SAFETY: both rows deformed with the descriptor the columns were made from; their values
    // live until this call returns.
    let mut objects = unsafe { columns.diff((&o.values, &o.nulls), (&n.values, &n.nulls)) }?;
    // SAFETY: the objects' values are the rows', alive as above.
    Some(Jsonb(pg_sys::Datum::from(unsafe { render::encode_array(&mut objects) })))
}

/// A type's name, as SQL writes it.
fn type_name(typid: pg_sys::Oid) -> String {
    // SAFETY: format_type_be returns a C string of the current memory context for any oid.
    unsafe { CStr::from_ptr(pg_sys::format_type_be(typid)) }.to_string_lossy().into_owned()
}

