//! A value as jsonb: a scalar (`render`), or one that may be a container (jsonb, json, arrays,
//! rows, types cast to json), built by the server's jsonb builder fed token by token, as
//! jsonb.c's datum_to_jsonb feeds it.
use pgrx::pg_sys::{self, jbvType, JsonbIteratorToken as Tok};
use pgrx::prelude::*;
use std::ffi::c_char;
use std::ptr::null_mut;

use super::place;
use super::render::{blank, call, integer, render_of, scalar, string_of, Container, Render};
use super::row::{copy_name, name_bytes, Row};

/// A value as `to_jsonb` renders it: a scalar, or a container built by the server's builder.
/// `output`: the type's output function when the caller keeps one (else null: looked up).
///
/// # Safety
/// Unless `null`, `d` is a value of a type that renders as `kind`, alive until the result is
/// encoded; `output` is null or that type's output function.
pub(super) unsafe fn render(kind: Render, d: pg_sys::Datum, null: bool, output: *mut pg_sys::FmgrInfo) -> pg_sys::JsonbValue {
    match kind {
        _ if null => blank(jbvType::jbvNull),
        // SAFETY: as the caller promises.
        Render::Scalar(kind) => unsafe { scalar(kind, d, output) },
        Render::Container(kind) => {
            let mut b = Builder::new();
            b.mark(Tok::WJB_BEGIN_ARRAY);
            // SAFETY: as the caller promises.
            unsafe { b.container(Tok::WJB_ELEM, kind, d) };
            let array = b.mark(Tok::WJB_END_ARRAY);
            // SAFETY: closing the outermost array returns the array built, of the one element
            // pushed.
            unsafe { *(*array).val.array.elems }
        }
    }
}

/// The server's jsonb builder (pushJsonbValue), fed as jsonb.c's datum_to_jsonb feeds it.
pub(super) struct Builder {
    state: *mut pg_sys::JsonbParseState,
}

impl Builder {
    pub(super) fn new() -> Builder {
        Builder { state: null_mut() }
    }

    /// # Safety
    /// What `v` points to (a string, a numeric) lives until the value built is encoded.
    unsafe fn push(&mut self, tok: Tok::Type, v: &mut pg_sys::JsonbValue) {
        // SAFETY: the state is this builder's; pushJsonbValue copies `v` itself, and what it
        // points to lives as the caller promises.
        unsafe { pg_sys::pushJsonbValue(&mut self.state, tok, v) };
    }

    /// Opens or closes an array or an object; the value built when the outermost one closes.
    pub(super) fn mark(&mut self, tok: Tok::Type) -> *mut pg_sys::JsonbValue {
        // SAFETY: the state is this builder's; these tokens take no value (one out of place is
        // an ERROR of the server's).
        unsafe { pg_sys::pushJsonbValue(&mut self.state, tok, null_mut()) }
    }

    fn key(&mut self, name: &[u8]) {
        // The builder keeps the key's pointer until the value is encoded: a copy, in the current
        // memory context.
        let mut key = string_of(copy_name(name), name.len());
        // SAFETY: the copy lives as long as the current memory context.
        unsafe { self.push(Tok::WJB_KEY, &mut key) };
    }

    /// A value as the element of an array (WJB_ELEM) or the value of a key (WJB_VALUE).
    ///
    /// # Safety
    /// Unless `null`, `d` is a value of type `typid`, alive until the value built is encoded.
    unsafe fn value(&mut self, tok: Tok::Type, typid: pg_sys::Oid, d: pg_sys::Datum, null: bool) {
        match render_of(typid) {
            Render::Scalar(kind) if !null => {
                // SAFETY: as the caller promises; no output function kept (it is looked up).
                let mut v = unsafe { scalar(kind, d, null_mut()) };
                // SAFETY: `v` points into `d` or into the current memory context.
                unsafe { self.push(tok, &mut v) }
            }
            // SAFETY: as the caller promises.
            Render::Container(kind) if !null => unsafe { self.container(tok, kind, d) },
            // SAFETY: a null points to nothing.
            _ => unsafe { self.push(tok, &mut blank(jbvType::jbvNull)) },
        }
    }

    /// # Safety
    /// `d` is a value of a type that renders as `kind`, alive until the value built is encoded.
    pub(super) unsafe fn container(&mut self, tok: Tok::Type, kind: Container, d: pg_sys::Datum) {
        match kind {
            // SAFETY: as the caller promises.
            Container::Jsonb => unsafe { self.embed(tok, d) },
            // SAFETY: as the caller promises; json_to_jsonb makes a jsonb of the current context.
            Container::Json => unsafe { self.embed(tok, json_to_jsonb(d)) },
            Container::JsonCast(cast) => {
                // SAFETY: the cast takes a value of the type and returns json (never NULL: the
                // server checks).
                let json = unsafe { pg_sys::OidFunctionCall1Coll(cast, pg_sys::InvalidOid, d) };
                // SAFETY: a json value, made a jsonb of the current context.
                unsafe { self.embed(tok, json_to_jsonb(json)) }
            }
            // SAFETY: as the caller promises.
            Container::Array => unsafe { self.array(d) },
            Container::Composite => {
                // SAFETY: as the caller promises, a composite value.
                let row = unsafe { Row::deform(d) };
                self.mark(Tok::WJB_BEGIN_OBJECT);
                for (i, att) in row.desc.iter().enumerate() {
                    if att.attisdropped {
                        continue;
                    }
                    self.key(name_bytes(&att.attname));
                    // SAFETY: the row's value of this attribute, of its type.
                    unsafe { self.value(Tok::WJB_VALUE, att.atttypid, row.values[i], row.nulls[i]) };
                }
                self.mark(Tok::WJB_END_OBJECT);
            }
            // SAFETY: as the caller promises, a bytea value.
            Container::Binary => unsafe { self.binary(d) },
        }
    }

    /// A binary as its size and SHA-256 digest, never its content: `{"bytes": 716800, "sha256":
    /// "<64 hex digits>"}`. (Its content as to_jsonb renders it, hex, made a 0.7 MB file 1.4 MB
    /// of text in each of old_values and new_values.)
    ///
    /// # Safety
    /// `d` is a bytea value, alive until the value built is encoded.
    unsafe fn binary(&mut self, d: pg_sys::Datum) {
        // SAFETY: a bytea value, detoasted (its short header kept) if it must be.
        let bytes = unsafe { pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr()) };
        // SAFETY: a whole bytea.
        let size = unsafe { pgrx::varlena::varsize_any_exhdr(bytes) };
        // SAFETY: sha256(bytea)'s argument, a bytea (it reads short headers too).
        let digest = unsafe { call(pg_sys::sha256_bytea, "sha256", &[Some(pg_sys::Datum::from(bytes))]) }.cast_mut_ptr::<pg_sys::varlena>();
        // SAFETY: the digest, a whole bytea just made.
        let (hash, len) = unsafe { (pgrx::varlena::vardata_any(digest), pgrx::varlena::varsize_any_exhdr(digest)) };
        let hex = palloc_text(2 * len);
        // SAFETY: hex_encode writes two digits per byte of the digest, which `hex` has room for.
        unsafe { pg_sys::hex_encode(hash, len, hex) };
        self.mark(Tok::WJB_BEGIN_OBJECT);
        self.key(b"bytes");
        // SAFETY: a numeric of the current memory context.
        unsafe { self.push(Tok::WJB_VALUE, &mut integer(size as i64)) };
        self.key(b"sha256");
        // SAFETY: the digits, in the current memory context.
        unsafe { self.push(Tok::WJB_VALUE, &mut string_of(hex, 2 * len)) };
        self.mark(Tok::WJB_END_OBJECT);
    }

    /// A jsonb value inside the one being built: a scalar as itself, a container token by token.
    ///
    /// # Safety
    /// `d` is a jsonb value, alive until the value built is encoded.
    unsafe fn embed(&mut self, tok: Tok::Type, d: pg_sys::Datum) {
        // SAFETY: a jsonb value, detoasted into the current memory context if it must be.
        let jb = unsafe { pg_sys::pg_detoast_datum(d.cast_mut_ptr()) }.cast::<pg_sys::Jsonb>();
        // SAFETY: `jb` is a whole jsonb; the iterator reads its root container.
        let mut it = unsafe { pg_sys::JsonbIteratorInit(&raw mut (*jb).root) };
        let mut v = blank(jbvType::jbvNull);
        // SAFETY: the header of a whole jsonb.
        if unsafe { (*jb).root.header } & pg_sys::JB_FSCALAR != 0 {
            // A scalar is stored as a pseudo-array of one element: its start, then the scalar.
            // SAFETY: the iterator of `jb`, which lives as the caller promises.
            unsafe { pg_sys::JsonbIteratorNext(&mut it, &mut v, true) };
            // SAFETY: as above.
            unsafe { pg_sys::JsonbIteratorNext(&mut it, &mut v, true) };
            // SAFETY: `v` points into `jb`.
            unsafe { self.push(tok, &mut v) };
            return;
        }
        loop {
            // SAFETY: as above.
            match unsafe { pg_sys::JsonbIteratorNext(&mut it, &mut v, false) } {
                Tok::WJB_DONE => break,
                t @ (Tok::WJB_BEGIN_ARRAY | Tok::WJB_END_ARRAY | Tok::WJB_BEGIN_OBJECT | Tok::WJB_END_OBJECT) => {
                    self.mark(t);
                }
                // SAFETY: `v` points into `jb`.
                t => unsafe { self.push(t, &mut v) },
            }
        }
    }

    /// An array as nested JSON arrays, one level per dimension (lower bounds are not kept).
    ///
    /// # Safety
    /// `d` is an array value, alive until the value built is encoded.
    unsafe fn array(&mut self, d: pg_sys::Datum) {
        // SAFETY: an array value, detoasted into the current memory context if it must be.
        let arr = unsafe { pg_sys::pg_detoast_datum(d.cast_mut_ptr()) }.cast::<pg_sys::ArrayType>();
        // SAFETY: the header of a whole array.
        let (ndim, elem) = unsafe { ((*arr).ndim.max(0) as usize, (*arr).elemtype) };
        // SAFETY: an array's `ndim` dimensions follow its fixed header (arrays' ARR_DIMS).
        let dims = unsafe { std::slice::from_raw_parts(arr.cast::<u8>().add(std::mem::size_of::<pg_sys::ArrayType>()).cast::<i32>(), ndim) };
        let (mut len, mut byval, mut align) = (0i16, false, 0 as c_char);
        // SAFETY: a catalog lookup of the element type; the out-arguments are locals.
        unsafe { pg_sys::get_typlenbyvalalign(elem, &mut len, &mut byval, &mut align) };
        let (mut values, mut nulls, mut n) = (null_mut(), null_mut(), 0);
        // SAFETY: an array of `elem`, as its storage is described; the out-arguments are locals.
        unsafe { pg_sys::deconstruct_array(arr, elem, len as i32, byval, align, &mut values, &mut nulls, &mut n) };
        let n = n.max(0) as usize;
        // SAFETY: deconstruct_array made `n` values and `n` null flags (none when `n` is 0).
        let (values, nulls) = unsafe { (slice_or_empty(values, n), slice_or_empty(nulls, n)) };
        let mut elems = values.iter().copied().zip(nulls.iter().copied());
        // An array without elements is `[]`, whatever its dimensions.
        let dims = if n == 0 { &[0][..] } else { dims };
        // SAFETY: the elements are values of `elem`, from `arr`, alive as `d` is.
        unsafe { self.dimension(dims, elem, &mut elems) };
    }

    /// # Safety
    /// The elements are values of type `elem`, alive until the value built is encoded.
    unsafe fn dimension(&mut self, dims: &[i32], elem: pg_sys::Oid, elems: &mut impl Iterator<Item = (pg_sys::Datum, bool)>) {
        self.mark(Tok::WJB_BEGIN_ARRAY);
        let (&size, inner) = dims.split_first().unwrap_or((&0, &[]));
        for _ in 0..size {
            if !inner.is_empty() {
                // SAFETY: as the caller promises.
                unsafe { self.dimension(inner, elem, elems) };
                continue;
            }
            let Some((d, null)) = elems.next() else {
                place::raise(
                    PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                    format!("scrap_sga audit: an array of {} has fewer elements than its dimensions say", place::here()),
                );
            };
            // SAFETY: as the caller promises.
            unsafe { self.value(Tok::WJB_ELEM, elem, d, null) };
        }
        self.mark(Tok::WJB_END_ARRAY);
    }
}

/// `n` values at `p`, or none.
///
/// # Safety
/// Unless `n` is 0, `p` points to `n` initialized values that outlive the slice.
unsafe fn slice_or_empty<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if n == 0 || p.is_null() {
        return &[];
    }
    // SAFETY: as the caller promises.
    unsafe { std::slice::from_raw_parts(p, n) }
}

/// A json value (text) as jsonb.
///
/// # Safety
/// `d` is a json value.
unsafe fn json_to_jsonb(d: pg_sys::Datum) -> pg_sys::Datum {
    // SAFETY: a json value is a text.
    let text = unsafe { pg_sys::text_to_cstring(d.cast_mut_ptr()) };
    // SAFETY: jsonb_in's argument: a C string.
    unsafe { call(pg_sys::jsonb_in, "jsonb_in", &[Some(pg_sys::Datum::from(text))]) }
}

/// Room for `len` characters and a NUL, in the current memory context.
fn palloc_text(len: usize) -> *mut c_char {
    // SAFETY: palloc0 returns zeroed memory of that size, or raises an ERROR.
    unsafe { pg_sys::palloc0(len + 1) }.cast()
}
