//! How `to_jsonb` renders a value (jsonb.c's datum_to_jsonb), and the scalars: numbers, integers
//! and text without printing and parsing them. What may be a container: `builder`.
// Lengths and counts handed to Postgres' C API narrow to its int types: a row's columns (at most
// 1,600), a varlena's length (under 1 GB), a batch's memory; and a Datum is read at its type's
// width (an int2 or int4 column's value). None is an Odoo id or a count of records.
#![allow(clippy::cast_possible_truncation)]
use pgrx::pg_sys::{self, jbvType};
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_char, CStr};
use std::ptr::null_mut;

use super::place;

/// How `to_jsonb` renders a value of a type (jsonb.c's jsonb_categorize_type).
#[derive(Clone, Copy)]
pub(super) enum Render {
    Scalar(Scalar),
    /// A value that may be a container, built token by token.
    Container(Container),
}

#[derive(Clone, Copy)]
pub(super) enum Scalar {
    Bool,
    /// A number if its text (from this output function) is one, else a string (NaN, Infinity).
    Number(pg_sys::Oid),
    /// A `numeric`: itself, unless it is NaN or infinite (then as `Number`, with this output
    /// function). What numeric_in would make of numeric_out's text is the same value and scale.
    Numeric(pg_sys::Oid),
    /// An integer of this type (int2, int4, int8), made a numeric directly, as its text would be.
    Integer(pg_sys::Oid),
    /// text, varchar, bpchar: a string of the stored bytes, which is what their output
    /// functions return.
    StoredText,
    DateTime(pg_sys::Oid),
    /// A string: the text of this output function.
    Text(pg_sys::Oid),
}

#[derive(Clone, Copy)]
pub(super) enum Container {
    Json,
    Jsonb,
    Array,
    Composite,
    /// A type of the database's own with a cast to json (this function).
    JsonCast(pg_sys::Oid),
    /// bytea: `{"bytes": n, "sha256": "<hex>"}`, not the content (`to_jsonb` would render it).
    Binary,
}

impl Render {
    /// The output function the rendering goes through, if it goes through the value's text.
    pub(super) fn output(self) -> Option<pg_sys::Oid> {
        match self {
            Render::Scalar(Scalar::Number(out) | Scalar::Numeric(out) | Scalar::Text(out)) => Some(out),
            _ => None,
        }
    }

    /// Whether two values are equal only when stored alike (integers, booleans, dates and times).
    pub(super) fn bitwise(self) -> bool {
        matches!(self, Render::Scalar(Scalar::Integer(_) | Scalar::Bool | Scalar::DateTime(_)))
    }
}

thread_local! {
    static RENDERS: RefCell<HashMap<pg_sys::Oid, Render>> = RefCell::new(HashMap::new());
    /// Bumped when a type changes anywhere (a syscache callback), which empties RENDERS.
    static TYPES_CHANGED: Cell<u64> = const { Cell::new(0) };
    static SEEN: Cell<Option<u64>> = const { Cell::new(None) };
}

#[pg_guard]
unsafe extern "C-unwind" fn types_changed(_arg: pg_sys::Datum, _cache: i32, _hash: u32) {
    // Only a counter: this may run in the middle of a lookup that holds RENDERS.
    TYPES_CHANGED.with(|c| c.set(c.get() + 1));
}

/// How a value of the type renders, looked up once per type until a type changes.
pub(super) fn render_of(typid: pg_sys::Oid) -> Render {
    if SEEN.with(|s| s.get()).is_none() {
        // SAFETY: a function of this library, which stays loaded as long as the backend; it only
        // bumps a counter.
        unsafe {
            pg_sys::CacheRegisterSyscacheCallback(pg_sys::SysCacheIdentifier::TYPEOID as i32, Some(types_changed), pg_sys::Datum::from(0usize))
        };
        SEEN.with(|s| s.set(Some(TYPES_CHANGED.with(|c| c.get()))));
    }
    let now = TYPES_CHANGED.with(|c| c.get());
    if SEEN.with(|s| s.get()) != Some(now) {
        RENDERS.with(|r| r.borrow_mut().clear());
        SEEN.with(|s| s.set(Some(now)));
    }
    if let Some(r) = RENDERS.with(|r| r.borrow().get(&typid).copied()) {
        return r;
    }
    let r = categorize(typid);
    RENDERS.with(|m| m.borrow_mut().insert(typid, r));
    r
}

// The SAFETY of each lookup below: a catalog lookup by a type's oid, in a backend inside a
// transaction (the audit runs in a trigger or a SQL function); an unknown oid is an ERROR of the
// server's. Their out-arguments are locals.
fn categorize(typid: pg_sys::Oid) -> Render {
    // SAFETY: see above.
    let base = unsafe { pg_sys::getBaseType(typid) };
    let output = || {
        let (mut func, mut varlena) = (pg_sys::InvalidOid, false);
        // SAFETY: see above.
        unsafe { pg_sys::getTypeOutputInfo(base, &mut func, &mut varlena) };
        func
    };
    let (scalar, container) = (Render::Scalar, Render::Container);
    match base {
        pg_sys::BOOLOID => scalar(Scalar::Bool),
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID => scalar(Scalar::Integer(base)),
        pg_sys::NUMERICOID => scalar(Scalar::Numeric(output())),
        pg_sys::FLOAT4OID | pg_sys::FLOAT8OID => scalar(Scalar::Number(output())),
        pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::BPCHAROID => scalar(Scalar::StoredText),
        pg_sys::DATEOID | pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID => scalar(Scalar::DateTime(base)),
        pg_sys::JSONBOID => container(Container::Jsonb),
        pg_sys::JSONOID => container(Container::Json),
        pg_sys::BYTEAOID => container(Container::Binary),
        // SAFETY: see above.
        _ if unsafe { pg_sys::get_element_type(base) } != pg_sys::InvalidOid
            || [pg_sys::ANYARRAYOID, pg_sys::ANYCOMPATIBLEARRAYOID, pg_sys::RECORDARRAYOID].contains(&base) =>
        {
            container(Container::Array)
        }
        // SAFETY: see above.
        _ if unsafe { pg_sys::type_is_rowtype(base) } => container(Container::Composite),
        _ if base.to_u32() >= pg_sys::FirstNormalObjectId => {
            let mut cast = pg_sys::InvalidOid;
            // SAFETY: see above.
            let path = unsafe { pg_sys::find_coercion_pathway(pg_sys::JSONOID, base, pg_sys::CoercionContext::COERCION_EXPLICIT, &mut cast) };
            if path == pg_sys::CoercionPathType::COERCION_PATH_FUNC && cast != pg_sys::InvalidOid {
                container(Container::JsonCast(cast))
            } else {
                scalar(Scalar::Text(output()))
            }
        }
        _ => scalar(Scalar::Text(output())),
    }
}

/// A non-null value rendered as a jsonb scalar.
///
/// # Safety
/// As render()'s, and `d` is not null.
pub(super) unsafe fn scalar(kind: Scalar, d: pg_sys::Datum, output: *mut pg_sys::FmgrInfo) -> pg_sys::JsonbValue {
    let text = |out| {
        if output.is_null() {
            // SAFETY: `d` is a value of the type whose output function `out` is.
            unsafe { pg_sys::OidOutputFunctionCall(out, d) }
        } else {
            // SAFETY: as above, with the caller's lookup of the same function.
            unsafe { pg_sys::OutputFunctionCall(output, d) }
        }
    };
    match kind {
        Scalar::Bool => {
            let mut v = blank(jbvType::jbvBool);
            v.val.boolean = d.value() != 0;
            v
        }
        // The three fast paths below (numeric, integers, text) give what the text path would,
        // without printing and parsing each value: the diff of a row whose every column changed
        // spent most of its time there.
        Scalar::Numeric(out) => {
            // SAFETY: a numeric value, detoasted into the current memory context if it must be.
            let num = unsafe { pg_sys::pg_detoast_datum(d.cast_mut_ptr()) }.cast::<pg_sys::NumericData>();
            // SAFETY: a whole numeric.
            let special = unsafe { pg_sys::numeric_is_nan(num) } || {
                // SAFETY: as above.
                unsafe { pg_sys::numeric_is_inf(num) }
            };
            if special {
                // SAFETY: its text, a C string.
                return unsafe { number_text(text(out)) };
            }
            numeric(num)
        }
        Scalar::Integer(base) => {
            integer(match base {
                pg_sys::INT2OID => d.value() as i16 as i64,
                pg_sys::INT4OID => d.value() as i32 as i64,
                _ => d.value() as i64,
            })
        }
        Scalar::StoredText => {
            // SAFETY: a text value, detoasted (its short header kept) if it must be.
            let text = unsafe { pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr()) };
            // SAFETY: a whole text value; the string points into it.
            unsafe { string_of(pgrx::varlena::vardata_any(text).cast_mut(), pgrx::varlena::varsize_any_exhdr(text)) }
        }
        // SAFETY: its text, a C string.
        Scalar::Number(out) => unsafe { number_text(text(out)) },
        // SAFETY: `d` is a value of `base`; the result is a C string of the current context.
        Scalar::DateTime(base) => unsafe { string(pg_sys::JsonEncodeDateTime(null_mut(), d, base, std::ptr::null())) },
        // SAFETY: its text, a C string.
        Scalar::Text(out) => unsafe { string(text(out)) },
    }
}

/// A value of this jsonb type, nothing else set yet.
pub(super) fn blank(type_: jbvType::Type) -> pg_sys::JsonbValue {
    // SAFETY: zeroes are a valid JsonbValue (a C struct of a number and a union of numbers and
    // pointers).
    pg_sys::JsonbValue { type_, ..unsafe { std::mem::zeroed() } }
}

fn numeric(num: pg_sys::Numeric) -> pg_sys::JsonbValue {
    let mut v = blank(jbvType::jbvNumeric);
    v.val.numeric = num;
    v
}

/// An integer, as a numeric of the current memory context.
pub(super) fn integer(n: i64) -> pg_sys::JsonbValue {
    // SAFETY: makes a numeric, in the current memory context.
    numeric(unsafe { pg_sys::int64_to_numeric(n) })
}

/// A string of `len` bytes at `s`, which the value keeps pointing to.
pub(super) fn string_of(s: *mut c_char, len: usize) -> pg_sys::JsonbValue {
    let mut v = blank(jbvType::jbvString);
    v.val.string = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 { len: len as i32, val: s };
    v
}

/// A string of a NUL-terminated text the value keeps pointing to.
///
/// # Safety
/// `s` is a NUL-terminated string.
unsafe fn string(s: *mut c_char) -> pg_sys::JsonbValue {
    // SAFETY: as the caller promises.
    string_of(s, unsafe { CStr::from_ptr(s) }.to_bytes().len())
}

/// A number by its text (from its type's output function), as jsonb.c renders it: a string
/// when the text is not a JSON number (NaN, Infinity).
///
/// # Safety
/// `text` is a NUL-terminated string.
unsafe fn number_text(text: *mut c_char) -> pg_sys::JsonbValue {
    // SAFETY: as the caller promises.
    let bytes = unsafe { CStr::from_ptr(text) }.to_bytes();
    if bytes.iter().any(|&c| c == b'N' || c == b'n') {
        // SAFETY: as above.
        return unsafe { string(text) };
    }
    let args = [Some(pg_sys::Datum::from(text)), Some(pg_sys::Datum::from(pg_sys::InvalidOid)), Some(pg_sys::Datum::from(-1i32))];
    // SAFETY: numeric_in's arguments: a C string, a type oid and a typmod.
    numeric(unsafe { call(pg_sys::numeric_in, "numeric_in", &args) }.cast_mut_ptr())
}

/// `func` called directly with `args`, as fmgr's DirectFunctionCall: a NULL result is an ERROR
/// (the functions called here return one only on a NULL argument, which they are never given).
///
/// # Safety
/// `args` are valid arguments of `func`.
pub(super) unsafe fn call(func: unsafe fn(pg_sys::FunctionCallInfo) -> pg_sys::Datum, name: &str, args: &[Option<pg_sys::Datum>]) -> pg_sys::Datum {
    // SAFETY: as the caller promises.
    match unsafe { pgrx::direct_function_call_as_datum(func, args) } {
        Some(d) => d,
        None => place::raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("scrap_sga audit: {name} returned NULL, for {}", place::here())),
    }
}

/// `elems` as a jsonb array.
///
/// # Safety
/// What the values point to (strings, numerics, containers) is alive.
pub(super) unsafe fn encode_array(elems: &mut [pg_sys::JsonbValue]) -> *mut pg_sys::Jsonb {
    let mut array = blank(jbvType::jbvArray);
    array.val.array = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_2 { nElems: elems.len() as i32, elems: elems.as_mut_ptr(), rawScalar: false };
    // SAFETY: the array's elements are the caller's, alive as promised.
    unsafe { pg_sys::JsonbValueToJsonb(&mut array) }
}
