//! The audit rows of one statement, gathered in a tuplestore and written by one INSERT ... SELECT
//! per batch that reads it as a named relation, as queries read transition tables. (Arrays and
//! unnest cost a copy of every value more, and a function call per value.)
// Lengths and counts handed to Postgres' C API narrow to its int types: a row's columns (at most
// 1,600), a varlena's length (under 1 GB), a batch's memory; and a Datum is read at its type's
// width (an int2 or int4 column's value). None is an Odoo id or a count of records.
#![allow(clippy::cast_possible_truncation)]
use pgrx::prelude::*;
use pgrx::{pg_sys, Spi};
use std::ffi::{c_char, CStr};

use super::place::{here, raise};

#[derive(Clone, Copy)]
pub(super) enum Operation {
    Update,
    SoftDelete,
    Restore,
}

/// The INSERT of a batch, which reads the batch's rows as the relation its last word names (a C
/// string: pgrx passes one on as it is, where a `&str` is copied to the C heap).
const INSERT: &CStr = c"INSERT INTO scrap_sga.audit_log (run_id, table_schema, table_name, odoo_id, operation, old_values, new_values)
    SELECT run_id, $1, $2, odoo_id, operation, old_values, new_values FROM scrap_sga_audit_rows";

/// The name of the relation INSERT reads: its last word, a C string as the INSERT ends there.
fn relation() -> *const c_char {
    let start = INSERT.to_bytes().iter().rposition(|&b| b == b' ').map_or(0, |i| i + 1);
    INSERT.to_bytes_with_nul()[start..].as_ptr().cast()
}

pub(super) struct Batch {
    /// (run_id, odoo_id, operation, old_values, new_values)
    desc: pg_sys::TupleDesc,
    rows: *mut pg_sys::Tuplestorestate,
    count: usize,
    bytes: usize,
    /// The table's schema and name, as text.
    table: [pg_sys::Datum; 2],
    /// The operations' names as text, by `Operation`.
    names: [pg_sys::Datum; 3],
}

/// A text value of the current memory context.
fn text_datum(s: &[u8]) -> pg_sys::Datum {
    // SAFETY: reads the slice's `len` bytes.
    pg_sys::Datum::from(unsafe { pg_sys::cstring_to_text_with_len(s.as_ptr().cast(), s.len() as i32) })
}

impl Batch {
    /// Rows and rendered bytes per INSERT, so that a large UPDATE (a bulk soft delete, a page
    /// of 50,000) keeps a bounded amount of rendered values in memory.
    const ROWS: usize = 5_000;
    const BYTES: usize = 16 << 20;

    /// A batch of the audit rows of a table. What it holds is allocated in the current memory
    /// context, which must outlive it.
    /// `schema`, `table`: their names' bytes, as the catalog has them.
    pub(super) fn new(schema: &[u8], table: &[u8]) -> Batch {
        let columns = [(c"run_id", pg_sys::INT8OID), (c"odoo_id", pg_sys::INT4OID), (c"operation", pg_sys::TEXTOID), (c"old_values", pg_sys::JSONBOID), (c"new_values", pg_sys::JSONBOID)];
        // SAFETY: a descriptor of this many attributes, in the current memory context.
        let desc = unsafe { pg_sys::CreateTemplateTupleDesc(columns.len() as i32) };
        for (i, (name, typid)) in columns.iter().enumerate() {
            // SAFETY: attribute i + 1 of the descriptor just made, of a built-in type.
            unsafe { pg_sys::TupleDescInitEntry(desc, (i + 1) as pg_sys::AttrNumber, name.as_ptr(), *typid, -1, 0) };
        }
        Batch {
            desc,
            rows: Batch::store(),
            count: 0,
            bytes: 0,
            table: [schema, table].map(text_datum),
            names: ["update", "soft_delete", "restore"].map(|n| text_datum(n.as_bytes())),
        }
    }

    /// A tuplestore for one batch. Kept in memory unless one row is very large (a batch stops
    /// after the row that reaches BYTES); spilled to a file beyond, which is only slower.
    fn store() -> *mut pg_sys::Tuplestorestate {
        // SAFETY: a new tuplestore, of the current memory context and resource owner.
        unsafe { pg_sys::tuplestore_begin_heap(false, false, (4 * Batch::BYTES / 1024) as i32) }
    }

    /// Copies the row into the batch: the values may be freed once this returns.
    ///
    /// # Safety
    /// `run_id` is an int8, `id` an int4 and `values` two jsonb values, alive during the call.
    pub(super) unsafe fn push(&mut self, run_id: Option<pg_sys::Datum>, id: pg_sys::Datum, operation: Operation, values: Option<[pg_sys::Datum; 2]>) {
        let zero = pg_sys::Datum::from(0usize);
        let [old, new] = values.unwrap_or([zero, zero]);
        let mut datums = [run_id.unwrap_or(zero), id, self.names[operation as usize], old, new];
        let mut nulls = [run_id.is_none(), false, false, values.is_none(), values.is_none()];
        // SAFETY: values of the batch's descriptor's types, as the caller promises, or nulls.
        unsafe { pg_sys::tuplestore_putvalues(self.rows, self.desc, datums.as_mut_ptr(), nulls.as_mut_ptr()) };
        self.count += 1;
        if values.is_some() {
            // SAFETY: two jsonb values, varlenas whose headers say their sizes.
            self.bytes += unsafe { pgrx::varlena::varsize_any(old.cast_mut_ptr()) + pgrx::varlena::varsize_any(new.cast_mut_ptr()) };
        }
    }

    pub(super) fn full(&self) -> bool {
        self.count >= Batch::ROWS || self.bytes >= Batch::BYTES
    }

    /// Writes the rows gathered, if any.
    pub(super) fn write(&mut self) {
        if self.count == 0 {
            return;
        }
        let mut relation = pg_sys::EphemeralNamedRelationData {
            md: pg_sys::EphemeralNamedRelationMetadataData {
                name: relation().cast_mut(),
                reliddesc: pg_sys::InvalidOid,
                tupdesc: self.desc,
                enrtype: pg_sys::EphemeralNameRelationType::ENR_NAMED_TUPLESTORE,
                enrtuples: self.count as f64,
            },
            reldata: self.rows.cast(),
        };
        // SAFETY: two text values, alive until the trigger returns.
        let args = self.table.map(|t| unsafe { pgrx::datum::DatumWithOid::new(t, pg_sys::TEXTOID) });
        let written = Spi::connect_mut(|c| {
            // SAFETY: registered for this connection only: SPI_finish forgets it, before
            // `relation` (and the tuplestore it names) goes.
            if unsafe { pg_sys::SPI_register_relation(&mut relation) } != pg_sys::SPI_OK_REL_REGISTER as i32 {
                raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("scrap_sga.audit_update: the audit rows of {} could not be registered as a relation", here()));
            }
            c.update(INSERT, None, &args).map(|_| ())
        });
        if let Err(e) = written {
            raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("scrap_sga.audit_update: the audit rows of {} could not be written: {e}", here()));
        }
        // A fresh tuplestore, not a cleared one: each INSERT's scan leaves a read pointer that
        // every later row would update, and a store that once spilled would spill from then on.
        // SAFETY: the batch's tuplestore, which nothing reads any more; ended once.
        unsafe { pg_sys::tuplestore_end(self.rows) };
        self.rows = Batch::store();
        self.count = 0;
        self.bytes = 0;
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // On an error the transaction's abort releases what is left; calling into the server
        // while unwinding could only add a second error.
        if std::thread::panicking() {
            return;
        }
        // SAFETY: the tuplestore was made by store() and is ended once; ending it closes a file
        // it may have spilled to.
        unsafe { pg_sys::tuplestore_end(self.rows) }
    }
}
