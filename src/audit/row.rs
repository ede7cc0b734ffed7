//! A row's values as Postgres stores them: a composite value taken apart, two values compared
//! byte for byte, a column's name, and the copies made of them in the current memory context.
//! What the diff, the builder, the trigger and the error context share.
// A varlena's length (under 1 GB) and a row's length narrow to the C API's int types.
#![allow(clippy::cast_possible_truncation)]
use pgrx::pg_sys;
use pgrx::PgTupleDesc;
use std::ffi::c_char;

/// The two values are stored alike (then they are equal, whatever the type).
///
/// # Safety
/// Both are non-null values of a type stored with this length and by-value flag.
pub(super) unsafe fn same_bytes(len: i16, byval: bool, a: pg_sys::Datum, b: pg_sys::Datum) -> bool {
    if byval {
        return a == b;
    }
    let (pa, pb) = (a.cast_mut_ptr::<u8>(), b.cast_mut_ptr::<u8>());
    let len = match len {
        n if n > 0 => n as usize,
        -1 => {
            // SAFETY: two varlena values, whose headers say their sizes.
            let (la, lb) = unsafe { (pgrx::varlena::varsize_any(pa.cast()), pgrx::varlena::varsize_any(pb.cast())) };
            if la != lb {
                return false;
            }
            la
        }
        // SAFETY: two C strings (a cstring type, length -2).
        _ => return unsafe { std::ffi::CStr::from_ptr(pa.cast()) == std::ffi::CStr::from_ptr(pb.cast()) },
    };
    // SAFETY: `len` bytes at each, as their type or header says.
    unsafe { std::slice::from_raw_parts(pa, len) == std::slice::from_raw_parts(pb, len) }
}

/// A composite value taken apart.
pub(super) struct Row {
    pub(super) desc: PgTupleDesc<'static>,
    pub(super) values: Vec<pg_sys::Datum>,
    pub(super) nulls: Vec<bool>,
}

impl Row {
    /// # Safety
    /// `datum` is a composite value (a row), alive as long as the values read from it are used.
    pub(super) unsafe fn deform(datum: pg_sys::Datum) -> Row {
        // SAFETY: a composite value, detoasted into the current memory context if it must be.
        let header = unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) } as pg_sys::HeapTupleHeader;
        // SAFETY: the header of a whole composite value names its row type.
        let (typid, typmod) = unsafe { (pgrx::heap_tuple_header_get_type_id(header), pgrx::heap_tuple_header_get_typmod(header)) };
        // SAFETY: the type cache's descriptor of the row type (an unknown one is an ERROR of the
        // server's), reference-counted: PgTupleDesc releases it.
        let desc = unsafe { PgTupleDesc::from_pg(pg_sys::lookup_rowtype_tupdesc(typid, typmod)) };
        let mut tuple = pg_sys::HeapTupleData { t_len: pgrx::heap_tuple_header_get_datum_length(header) as u32, t_data: header, ..Default::default() };
        let natts = desc.len();
        let mut values = vec![pg_sys::Datum::from(0usize); natts];
        let mut nulls = vec![true; natts];
        // SAFETY: the value's tuple, read with its own descriptor into arrays of `natts`.
        unsafe { pg_sys::heap_deform_tuple(&mut tuple, desc.as_ptr(), values.as_mut_ptr(), nulls.as_mut_ptr()) };
        Row { desc, values, nulls }
    }
}

/// A name's bytes, up to its NUL (a NameData is a fixed array, NUL-padded).
pub(super) fn name_bytes(name: &pg_sys::NameData) -> &[u8] {
    // SAFETY: the array's own bytes: c_char and u8 have the same size, and any byte is both.
    let bytes = unsafe { std::slice::from_raw_parts(name.data.as_ptr().cast::<u8>(), name.data.len()) };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// A copy of a name (no NUL inside) in the current memory context, NUL-terminated.
pub(super) fn copy_name(name: &[u8]) -> *mut c_char {
    // SAFETY: reads at most `len` bytes of the slice.
    unsafe { pg_sys::pnstrdup(name.as_ptr().cast(), name.len()) }
}

/// `n` items of `T`, palloc'd in the current memory context (at least one: palloc(0) is valid,
/// but a slice of it need not be aligned).
pub(super) fn palloc_array<T>(n: usize) -> *mut T {
    // SAFETY: palloc returns memory aligned for any type, or raises an ERROR.
    unsafe { pg_sys::palloc(std::mem::size_of::<T>() * n.max(1)) }.cast::<T>()
}
