//! Which columns of two rows of a table differ, and their old and new values as two jsonb
//! objects. Each column is compared with its type's equality, and only the columns that differ
//! are rendered. What comparing and rendering a column needs is looked up once per statement.
// Lengths and counts handed to Postgres' C API narrow to its int types: a row's columns (at most
// 1,600), a varlena's length (under 1 GB), a batch's memory; and a Datum is read at its type's
// width (an int2 or int4 column's value). None is an Odoo id or a count of records.
#![allow(clippy::cast_possible_truncation)]
use pgrx::pg_sys::{self, jbvType};
use pgrx::PgTupleDesc;
use scrap_sga_core::mapping::{COL_RUN_ID, COL_SYNCED_AT};
use std::ptr::null_mut;

use super::builder::render;
use super::place::Place;
use super::render::{blank, encode_array, render_of, string_of, Render};
use super::row::{copy_name, name_bytes, palloc_array, same_bytes};

/// A column the diff compares, with what comparing and rendering it needs.
struct Column {
    index: usize,
    /// The column's name, copied into the memory context of `Columns::of`.
    key: *mut std::ffi::c_char,
    key_len: usize,
    len: i16,
    byval: bool,
    /// The type's `=` (the type cache's, which lives as long as the backend); null when the
    /// type has none.
    eq: *mut pg_sys::FmgrInfo,
    collation: pg_sys::Oid,
    /// Equal only when stored alike (integers, booleans, dates and times): `=` is not called.
    bitwise: bool,
    kind: Render,
    /// The type's output function, when its rendering goes through its text; else null.
    output: *mut pg_sys::FmgrInfo,
}

/// The columns of a table the audit compares, in jsonb's key order (shorter names first, then
/// byte order), so that the objects are built already sorted.
///
/// Everything here is palloc'd, in the memory context current when it is made, which outlives
/// it, and nothing per row or per column calls malloc: a malloc inside the statement pays for
/// sorting whatever the engine's JSON handling left in the C heap (0.4 s of a 500,000-line
/// update was that, when the columns were a Vec). Per batch, pgrx's SPI call still makes three
/// small argument arrays.
pub(super) struct Columns<'p> {
    all: *mut Column,
    len: usize,
    /// Scratch for `diff`: the columns that differ in the row at hand.
    changed: *mut *const Column,
    /// Told which column is at hand, for errors.
    place: &'p Place,
}

/// A function's FmgrInfo, palloc'd in the current memory context.
fn function_info(func: pg_sys::Oid) -> *mut pg_sys::FmgrInfo {
    let f = palloc_array::<pg_sys::FmgrInfo>(1);
    // SAFETY: `f` has room for an FmgrInfo, which fmgr_info fills (an unknown function is an
    // ERROR of the server's).
    unsafe { pg_sys::fmgr_info(func, f) };
    f
}

impl<'p> Columns<'p> {
    pub(super) fn of(desc: &PgTupleDesc, place: &'p Place) -> Columns<'p> {
        let all = palloc_array::<Column>(desc.len());
        let mut len = 0;
        for (index, att) in desc.iter().enumerate() {
            let name = name_bytes(&att.attname);
            if att.attisdropped || name == COL_SYNCED_AT.as_bytes() || name == COL_RUN_ID.as_bytes() {
                continue;
            }
            let kind = render_of(att.atttypid);
            // SAFETY: the type cache's entry of a type, which lives as long as the backend (an
            // unknown type is an ERROR of the server's).
            let entry = unsafe { &mut *pg_sys::lookup_type_cache(att.atttypid, pg_sys::TYPECACHE_EQ_OPR_FINFO as i32) };
            let column = Column {
                index,
                key: copy_name(name),
                key_len: name.len(),
                len: att.attlen,
                byval: att.attbyval,
                eq: if entry.eq_opr_finfo.fn_oid != pg_sys::InvalidOid { &mut entry.eq_opr_finfo } else { null_mut() },
                // Text compared byte for byte, as jsonb compares strings.
                collation: if att.attcollation != pg_sys::InvalidOid { pg_sys::C_COLLATION_OID } else { pg_sys::InvalidOid },
                bitwise: kind.bitwise(),
                kind,
                output: kind.output().map_or(null_mut(), function_info),
            };
            // SAFETY: `all` has room for every column of the table; len <= index.
            unsafe { all.add(len).write(column) };
            len += 1;
        }
        let columns = Columns { all, len, changed: palloc_array(len), place };
        // SAFETY: the `len` columns just written, which nothing else refers to yet.
        let sorting = unsafe { std::slice::from_raw_parts_mut(all, len) };
        // Unstable: it sorts in place, with no buffer (the names are unique).
        sorting.sort_unstable_by(|a, b| a.key().len().cmp(&b.key().len()).then_with(|| a.key().cmp(b.key())));
        columns
    }

    fn all(&self) -> &[Column] {
        // SAFETY: `of` wrote `len` columns at `all`, in memory that outlives `self`.
        unsafe { std::slice::from_raw_parts(self.all, self.len) }
    }

    /// The old and new values of the columns that differ, as two jsonb objects to encode; None
    /// when none differs.
    ///
    /// # Safety
    /// Both rows are values and null flags of the table's columns, as deformed with the
    /// descriptor the columns were made from, alive until the objects are encoded.
    pub(super) unsafe fn diff(&self, old: (&[pg_sys::Datum], &[bool]), new: (&[pg_sys::Datum], &[bool])) -> Option<[pg_sys::JsonbValue; 2]> {
        let mut n = 0;
        for c in self.all() {
            // SAFETY: the name lives as long as the columns, which outlive this call; left below.
            unsafe { self.place.at(c.key()) };
            // SAFETY: as the caller promises.
            if !unsafe { c.same(old, new) } {
                // SAFETY: `changed` has room for every column.
                unsafe { self.changed.add(n).write(c) };
                n += 1;
            }
        }
        let objects = (n > 0).then(|| {
            // SAFETY: the `n` columns just written.
            let changed = unsafe { std::slice::from_raw_parts(self.changed, n) };
            // SAFETY: as the caller promises.
            unsafe { [self.object(changed, old), self.object(changed, new)] }
        });
        self.place.leave();
        objects
    }

    /// A jsonb object of these columns' values in a row; the columns are in key order, unique.
    ///
    /// # Safety
    /// As diff()'s, for the row.
    unsafe fn object(&self, columns: &[*const Column], (values, nulls): (&[pg_sys::Datum], &[bool])) -> pg_sys::JsonbValue {
        let pairs = palloc_array::<pg_sys::JsonbPair>(columns.len());
        for (k, &c) in columns.iter().enumerate() {
            // SAFETY: a column of the list, which outlives this call.
            let c = unsafe { &*c };
            // SAFETY: as in diff().
            unsafe { self.place.at(c.key()) };
            // SAFETY: the row's value of the column, with its type's output function.
            let value = unsafe { render(c.kind, values[c.index], nulls[c.index], c.output) };
            // SAFETY: `pairs` has room for every column.
            unsafe { pairs.add(k).write(pg_sys::JsonbPair { key: string_of(c.key, c.key_len), value, order: k as u32 }) };
        }
        let mut object = blank(jbvType::jbvObject);
        object.val.object = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_3 { nPairs: columns.len() as i32, pairs };
        object
    }
}

impl Column {
    fn key(&self) -> &[u8] {
        // SAFETY: `key` is a copy of the name made by `Columns::of`, in memory that outlives the
        // columns.
        unsafe { std::slice::from_raw_parts(self.key.cast::<u8>(), self.key_len) }
    }

    /// # Safety
    /// As Columns::diff()'s.
    unsafe fn same(&self, (ov, on): (&[pg_sys::Datum], &[bool]), (nv, nn): (&[pg_sys::Datum], &[bool])) -> bool {
        let i = self.index;
        match (on[i], nn[i]) {
            (true, true) => true,
            // SAFETY: two non-null values of the column.
            (false, false) => unsafe { self.equal(ov[i], nv[i]) },
            _ => false,
        }
    }

    /// Whether two non-null values are equal: the same bytes, or equal by their type's `=`; a
    /// type with no `=` compares by its jsonb rendering.
    ///
    /// # Safety
    /// Both are non-null values of the column's type.
    unsafe fn equal(&self, a: pg_sys::Datum, b: pg_sys::Datum) -> bool {
        // SAFETY: as the caller promises.
        if unsafe { same_bytes(self.len, self.byval, a, b) } {
            return true;
        }
        if self.bitwise {
            return false;
        }
        if !self.eq.is_null() {
            // SAFETY: the type's `=`, on two values of the type.
            return unsafe { pg_sys::FunctionCall2Coll(self.eq, self.collation, a, b) }.value() != 0;
        }
        // SAFETY: a value of the column's type, rendered as such, then encoded.
        let encode = |d| unsafe { encode_array(&mut [render(self.kind, d, false, self.output)]) };
        let (a, b) = (encode(a), encode(b));
        // SAFETY: two jsonb arrays just encoded.
        unsafe { pg_sys::compareJsonbContainers(&raw mut (*a).root, &raw mut (*b).root) == 0 }
    }
}
