//! The row audit's diff (`sql/audit.sql`): which columns an UPDATE of a mirror row changed, with
//! their old and new values exactly as `to_jsonb` renders them.
//!
//! In SQL the same diff (`to_jsonb` of both rows, `jsonb_each` of each, a join per row) cost
//! three times the write it audited: a full-table update took four times the first copy
//! (issue 20). Here each column is compared with its type's equality, and only the columns that
//! differ are rendered, through the server's own jsonb builder, with each type's rendering looked
//! up once per backend instead of once per value.
use pgrx::pg_sys::{self, jbvType, JsonbIteratorToken as Tok};
use pgrx::prelude::*;
use pgrx::{AnyElement, PgTupleDesc};
use scrap_sga_core::mapping::{COL_RUN_ID, COL_SYNCED_AT};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CStr;
use std::ptr::null_mut;

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
        fcinfo.return_raw_datum(self.0)
    }
}

/// `[old_values, new_values]`: the columns of `old` and `new` (rows of one table) that differ,
/// other than the two the extension stamps on every write; NULL when none differs.
#[pg_extern(name = "_audit_diff", stable, parallel_safe)]
fn audit_diff(old: AnyElement, new: AnyElement) -> Option<Jsonb> {
    // SAFETY: both arguments are checked to be composite values before they are read as heap
    // tuples; every pointer handed to the server below comes from the server (deformed tuples,
    // the tuple descriptor it looked up) and lives in the current memory context until this
    // call returns (a string or numeric value may point into the rows' own bytes, which the
    // caller keeps until then); the jsonb builder's state is only touched through pushJsonbValue.
    unsafe {
        for arg in [&old, &new] {
            if arg.oid() != pg_sys::RECORDOID && !pg_sys::type_is_rowtype(arg.oid()) {
                let name = CStr::from_ptr(pg_sys::format_type_be(arg.oid())).to_string_lossy();
                ereport!(ERROR, PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH, format!("scrap_sga._audit_diff: rows of a table expected, got {name}"));
            }
        }
        let (o, n) = (Row::deform(old.datum()), Row::deform(new.datum()));
        if o.desc.len() != n.desc.len() {
            ereport!(ERROR, PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH, "scrap_sga._audit_diff: the two rows are not of the same table");
        }
        let mut changed = Vec::new();
        for i in 0..o.desc.len() {
            let att = o.desc.get(i).unwrap();
            if att.attisdropped {
                continue;
            }
            let name = CStr::from_ptr(att.attname.data.as_ptr());
            let name_bytes = name.to_bytes();
            if name_bytes == COL_SYNCED_AT.as_bytes() || name_bytes == COL_RUN_ID.as_bytes() {
                continue;
            }
            let same = match (o.nulls[i], n.nulls[i]) {
                (true, true) => true,
                (false, false) => equal(att, o.values[i], n.values[i]),
                _ => false,
            };
            if !same {
                changed.push((i, name));
            }
        }
        if changed.is_empty() {
            return None;
        }
        let mut b = Builder::new();
        b.push(Tok::WJB_BEGIN_ARRAY, null_mut());
        for row in [&o, &n] {
            b.push(Tok::WJB_BEGIN_OBJECT, null_mut());
            for &(i, name) in &changed {
                b.key(name.to_bytes());
                let att = row.desc.get(i).unwrap();
                b.value(Tok::WJB_VALUE, att.atttypid, row.values[i], row.nulls[i]);
            }
            b.push(Tok::WJB_END_OBJECT, null_mut());
        }
        let res = b.push(Tok::WJB_END_ARRAY, null_mut());
        Some(Jsonb(pg_sys::Datum::from(pg_sys::JsonbValueToJsonb(res))))
    }
}

/// A composite value taken apart.
struct Row {
    desc: PgTupleDesc<'static>,
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
}

impl Row {
    /// # Safety
    /// `datum` must be a composite value (a row).
    unsafe fn deform(datum: pg_sys::Datum) -> Row {
        let header = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
        let desc = pg_sys::lookup_rowtype_tupdesc(pgrx::heap_tuple_header_get_type_id(header), pgrx::heap_tuple_header_get_typmod(header));
        let desc = PgTupleDesc::from_pg(desc);
        let mut tuple = pg_sys::HeapTupleData {
            t_len: pgrx::heap_tuple_header_get_datum_length(header) as u32,
            t_data: header,
            ..Default::default()
        };
        let natts = desc.len();
        let mut values = vec![pg_sys::Datum::from(0usize); natts];
        let mut nulls = vec![true; natts];
        pg_sys::heap_deform_tuple(&mut tuple, desc.as_ptr(), values.as_mut_ptr(), nulls.as_mut_ptr());
        Row { desc, values, nulls }
    }
}

/// Whether two non-null values of a column are equal: the same bytes, or equal by their
/// type's `=` (text compared byte for byte, as jsonb compares strings); a type with no `=`
/// compares by its jsonb rendering.
unsafe fn equal(att: &pg_sys::FormData_pg_attribute, a: pg_sys::Datum, b: pg_sys::Datum) -> bool {
    if same_bytes(att, a, b) {
        return true;
    }
    let entry = pg_sys::lookup_type_cache(att.atttypid, pg_sys::TYPECACHE_EQ_OPR_FINFO as i32);
    if (*entry).eq_opr_finfo.fn_oid != pg_sys::InvalidOid {
        let collation = if att.attcollation != pg_sys::InvalidOid { pg_sys::C_COLLATION_OID } else { pg_sys::InvalidOid };
        return pg_sys::FunctionCall2Coll(&mut (*entry).eq_opr_finfo, collation, a, b).value() != 0;
    }
    let render = |d| {
        let mut b = Builder::new();
        b.push(Tok::WJB_BEGIN_ARRAY, null_mut());
        b.value(Tok::WJB_ELEM, att.atttypid, d, false);
        pg_sys::JsonbValueToJsonb(b.push(Tok::WJB_END_ARRAY, null_mut()))
    };
    pg_sys::compareJsonbContainers(&mut (*render(a)).root, &mut (*render(b)).root) == 0
}

/// The two values are stored alike (then they are equal, whatever the type).
unsafe fn same_bytes(att: &pg_sys::FormData_pg_attribute, a: pg_sys::Datum, b: pg_sys::Datum) -> bool {
    if att.attbyval {
        return a == b;
    }
    let (pa, pb) = (a.cast_mut_ptr::<u8>(), b.cast_mut_ptr::<u8>());
    let len = match att.attlen {
        n if n > 0 => n as usize,
        -1 => {
            let la = pgrx::varlena::varsize_any(pa as *const pg_sys::varlena);
            if la != pgrx::varlena::varsize_any(pb as *const pg_sys::varlena) {
                return false;
            }
            la
        }
        _ => return CStr::from_ptr(pa as *const _) == CStr::from_ptr(pb as *const _),
    };
    std::slice::from_raw_parts(pa, len) == std::slice::from_raw_parts(pb, len)
}

/// How `to_jsonb` renders a value of a type (jsonb.c's jsonb_categorize_type).
#[derive(Clone, Copy)]
enum Render {
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
    Json,
    Jsonb,
    Array,
    Composite,
    /// A type of the database's own with a cast to json (this function).
    JsonCast(pg_sys::Oid),
    /// A string: the text of this output function.
    Text(pg_sys::Oid),
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

unsafe fn render_of(typid: pg_sys::Oid) -> Render {
    if SEEN.with(|s| s.get()).is_none() {
        pg_sys::CacheRegisterSyscacheCallback(pg_sys::SysCacheIdentifier::TYPEOID as i32, Some(types_changed), pg_sys::Datum::from(0usize));
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

unsafe fn categorize(typid: pg_sys::Oid) -> Render {
    let base = pg_sys::getBaseType(typid);
    let output = || {
        let (mut func, mut varlena) = (pg_sys::InvalidOid, false);
        pg_sys::getTypeOutputInfo(base, &mut func, &mut varlena);
        func
    };
    match base {
        pg_sys::BOOLOID => Render::Bool,
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID => Render::Integer(base),
        pg_sys::NUMERICOID => Render::Numeric(output()),
        pg_sys::FLOAT4OID | pg_sys::FLOAT8OID => Render::Number(output()),
        pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::BPCHAROID => Render::StoredText,
        pg_sys::DATEOID | pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID => Render::DateTime(base),
        pg_sys::JSONBOID => Render::Jsonb,
        pg_sys::JSONOID => Render::Json,
        _ if pg_sys::get_element_type(base) != pg_sys::InvalidOid
            || [pg_sys::ANYARRAYOID, pg_sys::ANYCOMPATIBLEARRAYOID, pg_sys::RECORDARRAYOID].contains(&base) =>
        {
            Render::Array
        }
        _ if pg_sys::type_is_rowtype(base) => Render::Composite,
        _ if base.to_u32() >= pg_sys::FirstNormalObjectId => {
            let mut cast = pg_sys::InvalidOid;
            let path = pg_sys::find_coercion_pathway(pg_sys::JSONOID, base, pg_sys::CoercionContext::COERCION_EXPLICIT, &mut cast);
            if path == pg_sys::CoercionPathType::COERCION_PATH_FUNC && cast != pg_sys::InvalidOid {
                Render::JsonCast(cast)
            } else {
                Render::Text(output())
            }
        }
        _ => Render::Text(output()),
    }
}

/// The server's jsonb builder (pushJsonbValue), fed as jsonb.c's datum_to_jsonb feeds it.
struct Builder {
    state: *mut pg_sys::JsonbParseState,
}

impl Builder {
    fn new() -> Builder {
        Builder { state: null_mut() }
    }

    unsafe fn push(&mut self, tok: Tok::Type, v: *mut pg_sys::JsonbValue) -> *mut pg_sys::JsonbValue {
        pg_sys::pushJsonbValue(&mut self.state, tok, v)
    }

    unsafe fn scalar(&mut self, tok: Tok::Type, mut v: pg_sys::JsonbValue) {
        self.push(tok, &mut v);
    }

    unsafe fn string(&mut self, tok: Tok::Type, s: *mut std::ffi::c_char) {
        let mut v = pg_sys::JsonbValue { type_: jbvType::jbvString, ..std::mem::zeroed() };
        v.val.string = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 { len: CStr::from_ptr(s).to_bytes().len() as i32, val: s };
        self.push(tok, &mut v);
    }

    unsafe fn key(&mut self, name: &[u8]) {
        // The name is copied: the builder keeps the pointer until JsonbValueToJsonb.
        let s = pg_sys::pnstrdup(name.as_ptr() as *const _, name.len());
        self.string(Tok::WJB_KEY, s);
    }

    /// A value as the element of an array (WJB_ELEM) or the value of a key (WJB_VALUE).
    unsafe fn value(&mut self, tok: Tok::Type, typid: pg_sys::Oid, d: pg_sys::Datum, null: bool) {
        if null {
            return self.scalar(tok, pg_sys::JsonbValue { type_: jbvType::jbvNull, ..std::mem::zeroed() });
        }
        match render_of(typid) {
            Render::Bool => {
                let mut v = pg_sys::JsonbValue { type_: jbvType::jbvBool, ..std::mem::zeroed() };
                v.val.boolean = d.value() != 0;
                self.scalar(tok, v)
            }
            // The three fast paths below (numeric, integers, text) give what the text path would,
            // without printing and parsing each value: the diff of a row whose every column changed
            // spent most of its time there.
            Render::Numeric(out) => {
                let num = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as pg_sys::Numeric;
                if pg_sys::numeric_is_nan(num) || pg_sys::numeric_is_inf(num) {
                    return self.number_text(tok, out, d);
                }
                let mut v = pg_sys::JsonbValue { type_: jbvType::jbvNumeric, ..std::mem::zeroed() };
                v.val.numeric = num;
                self.scalar(tok, v)
            }
            Render::Integer(base) => {
                let to_numeric = match base {
                    pg_sys::INT2OID => pg_sys::int2_numeric,
                    pg_sys::INT4OID => pg_sys::int4_numeric,
                    _ => pg_sys::int8_numeric,
                };
                let mut v = pg_sys::JsonbValue { type_: jbvType::jbvNumeric, ..std::mem::zeroed() };
                v.val.numeric = pgrx::direct_function_call_as_datum(to_numeric, &[Some(d)]).expect("an integer is a numeric").cast_mut_ptr();
                self.scalar(tok, v)
            }
            Render::StoredText => {
                let text = pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr());
                let mut v = pg_sys::JsonbValue { type_: jbvType::jbvString, ..std::mem::zeroed() };
                v.val.string = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 {
                    len: pgrx::varlena::varsize_any_exhdr(text) as i32,
                    val: pgrx::varlena::vardata_any(text) as *mut _,
                };
                self.scalar(tok, v)
            }
            Render::Number(out) => self.number_text(tok, out, d),
            Render::DateTime(base) => self.string(tok, pg_sys::JsonEncodeDateTime(null_mut(), d, base, std::ptr::null())),
            Render::Text(out) => self.string(tok, pg_sys::OidOutputFunctionCall(out, d)),
            Render::Jsonb => self.embed(tok, d),
            Render::Json => self.embed(tok, json_to_jsonb(d)),
            Render::JsonCast(cast) => self.embed(tok, json_to_jsonb(pg_sys::OidFunctionCall1Coll(cast, pg_sys::InvalidOid, d))),
            Render::Array => self.array(d),
            Render::Composite => {
                let row = Row::deform(d);
                self.push(Tok::WJB_BEGIN_OBJECT, null_mut());
                for i in 0..row.desc.len() {
                    let att = row.desc.get(i).unwrap();
                    if att.attisdropped {
                        continue;
                    }
                    self.key(CStr::from_ptr(att.attname.data.as_ptr()).to_bytes());
                    self.value(Tok::WJB_VALUE, att.atttypid, row.values[i], row.nulls[i]);
                }
                self.push(Tok::WJB_END_OBJECT, null_mut());
            }
        }
    }

    /// A number by its text (from the output function `out`), as jsonb.c renders it: a string
    /// when the text is not a JSON number (NaN, Infinity).
    unsafe fn number_text(&mut self, tok: Tok::Type, out: pg_sys::Oid, d: pg_sys::Datum) {
        let text = pg_sys::OidOutputFunctionCall(out, d);
        let bytes = CStr::from_ptr(text).to_bytes();
        if bytes.iter().any(|&c| c == b'N' || c == b'n') {
            return self.string(tok, text);
        }
        let mut v = pg_sys::JsonbValue { type_: jbvType::jbvNumeric, ..std::mem::zeroed() };
        let num = pgrx::direct_function_call_as_datum(
            pg_sys::numeric_in,
            &[Some(pg_sys::Datum::from(text)), Some(pg_sys::Datum::from(pg_sys::InvalidOid)), Some(pg_sys::Datum::from(-1i32))],
        );
        v.val.numeric = num.expect("numeric_in returns a value").cast_mut_ptr();
        self.scalar(tok, v)
    }

    /// A jsonb value inside the one being built: a scalar as itself, a container token by token.
    unsafe fn embed(&mut self, tok: Tok::Type, d: pg_sys::Datum) {
        let jb = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::Jsonb;
        let mut it = pg_sys::JsonbIteratorInit(&mut (*jb).root);
        let mut v: pg_sys::JsonbValue = std::mem::zeroed();
        if (*jb).root.header & pg_sys::JB_FSCALAR != 0 {
            pg_sys::JsonbIteratorNext(&mut it, &mut v, true); // the pseudo-array around the scalar
            pg_sys::JsonbIteratorNext(&mut it, &mut v, true);
            return self.scalar(tok, v);
        }
        loop {
            match pg_sys::JsonbIteratorNext(&mut it, &mut v, false) {
                Tok::WJB_DONE => break,
                t @ (Tok::WJB_BEGIN_ARRAY | Tok::WJB_END_ARRAY | Tok::WJB_BEGIN_OBJECT | Tok::WJB_END_OBJECT) => {
                    self.push(t, null_mut());
                }
                t => {
                    self.push(t, &mut v);
                }
            }
        }
    }

    /// An array as nested JSON arrays, one level per dimension (lower bounds are not kept).
    unsafe fn array(&mut self, d: pg_sys::Datum) {
        let arr = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::ArrayType;
        let ndim = (*arr).ndim as usize;
        // The dimensions follow the fixed header (arrays' ARR_DIMS).
        let dims = std::slice::from_raw_parts((arr as *const u8).add(std::mem::size_of::<pg_sys::ArrayType>()) as *const i32, ndim);
        let count: i64 = if ndim == 0 { 0 } else { dims.iter().map(|&x| x as i64).product() };
        if count <= 0 {
            self.push(Tok::WJB_BEGIN_ARRAY, null_mut());
            self.push(Tok::WJB_END_ARRAY, null_mut());
            return;
        }
        let elem = (*arr).elemtype;
        let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
        pg_sys::get_typlenbyvalalign(elem, &mut len, &mut byval, &mut align);
        let (mut values, mut nulls, mut n) = (null_mut(), null_mut(), 0);
        pg_sys::deconstruct_array(arr, elem, len as i32, byval, align, &mut values, &mut nulls, &mut n);
        let values = std::slice::from_raw_parts(values, n as usize);
        let nulls = std::slice::from_raw_parts(nulls, n as usize);
        let mut next = 0;
        self.dimension(0, dims, elem, values, nulls, &mut next);
    }

    unsafe fn dimension(&mut self, dim: usize, dims: &[i32], elem: pg_sys::Oid, values: &[pg_sys::Datum], nulls: &[bool], next: &mut usize) {
        self.push(Tok::WJB_BEGIN_ARRAY, null_mut());
        for _ in 0..dims[dim] {
            if dim + 1 == dims.len() {
                self.value(Tok::WJB_ELEM, elem, values[*next], nulls[*next]);
                *next += 1;
            } else {
                self.dimension(dim + 1, dims, elem, values, nulls, next);
            }
        }
        self.push(Tok::WJB_END_ARRAY, null_mut());
    }
}

/// A json value (text) as jsonb.
unsafe fn json_to_jsonb(d: pg_sys::Datum) -> pg_sys::Datum {
    let text = pg_sys::text_to_cstring(d.cast_mut_ptr());
    pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(pg_sys::Datum::from(text))]).expect("jsonb_in returns a value")
}
