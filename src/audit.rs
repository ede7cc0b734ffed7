//! The row audit of an UPDATE (`sql/audit.sql`): which columns each updated mirror row changed,
//! with their old and new values exactly as `to_jsonb` renders them, written to
//! `scrap_sga.audit_log` one row per row updated.
//!
//! In SQL the same diff (`to_jsonb` of both rows, `jsonb_each` of each, a join per row) cost
//! three times the write it audited (issue 20). Here each column is compared with its type's
//! equality, and only the columns that differ are rendered, through the server's own jsonb
//! encoder. What comparing and rendering a column needs is looked up once per statement (once
//! per call of `_audit_diff`).
//!
//! The trigger itself is here too, not in PL/pgSQL: joining the transition tables by id, making
//! each row a composite value for the diff and taking it apart again cost as much as the diff.
//! Postgres appends a row's old and new versions to the two transition tables together, so they
//! are read side by side; the ids are checked pair by pair.
use pgrx::pg_sys::{self, jbvType, JsonbIteratorToken as Tok};
use pgrx::prelude::*;
use pgrx::{AnyElement, PgMemoryContexts, PgTupleDesc};
use scrap_sga_core::mapping::{COL_DELETED_AT, COL_RUN_ID, COL_SYNCED_AT};
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
/// other than the two the extension stamps on every write; NULL when none differs. What the
/// audit trigger logs, callable on any two rows (pg_regress compares it with `to_jsonb`).
#[pg_extern(name = "_audit_diff", stable, parallel_safe)]
fn audit_diff(old: AnyElement, new: AnyElement) -> Option<Jsonb> {
    // SAFETY: both arguments are checked to be composite values before they are read as heap
    // tuples; every pointer handed to the server below comes from the server (deformed tuples,
    // the tuple descriptor it looked up) and lives in the current memory context until this
    // call returns (a string or numeric value may point into the rows' own bytes, which the
    // caller keeps until then).
    unsafe {
        for arg in [&old, &new] {
            if arg.oid() != pg_sys::RECORDOID && !pg_sys::type_is_rowtype(arg.oid()) {
                let name = CStr::from_ptr(pg_sys::format_type_be(arg.oid())).to_string_lossy();
                ereport!(ERROR, PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH, format!("scrap_sga._audit_diff: rows of a table expected, got {name}"));
            }
        }
        let (o, n) = (Row::deform(old.datum()), Row::deform(new.datum()));
        // Each value is read as its column's type in `old`: the two rows' columns must be of
        // the same types (two anonymous records may not be).
        if o.desc.len() != n.desc.len() || o.desc.iter().zip(n.desc.iter()).any(|(a, b)| a.atttypid != b.atttypid) {
            ereport!(ERROR, PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH, "scrap_sga._audit_diff: the two rows are not of the same table");
        }
        let columns = Columns::of(&o.desc);
        let mut objects = columns.diff((&o.values, &o.nulls), (&n.values, &n.nulls))?;
        Some(Jsonb(pg_sys::Datum::from(encode_array(&mut objects))))
    }
}

/// `scrap_sga.audit_update()`: an AFTER UPDATE ... FOR EACH STATEMENT trigger with OLD TABLE
/// and NEW TABLE, declared in sql/audit.sql.
#[pg_trigger(sql = false)]
fn audit_update<'a>(trigger: &'a PgTrigger<'a>) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, std::convert::Infallible> {
    let fired_right = matches!(trigger.when(), Ok(PgTriggerWhen::After))
        && matches!(trigger.level(), PgTriggerLevel::Statement)
        && matches!(trigger.op(), Ok(PgTriggerOperation::Update));
    let data = trigger.trigger_data();
    if !fired_right || data.tg_oldtable.is_null() || data.tg_newtable.is_null() {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            "scrap_sga.audit_update() must be fired AFTER UPDATE FOR EACH STATEMENT, REFERENCING OLD TABLE and NEW TABLE"
        );
    }
    // SAFETY: Postgres called this as the trigger checked above: the relation and both
    // transition tables are valid for the duration of the call.
    unsafe { log_updates(data) };
    Ok(None)
}

/// Reads the two transition tables side by side and writes one audit row per pair.
///
/// # Safety
/// `data` is the TriggerData of an AFTER UPDATE statement trigger with both transition tables.
unsafe fn log_updates(data: &pg_sys::TriggerData) {
    let desc = PgTupleDesc::from_pg_unchecked((*data.tg_relation).rd_att);
    let relname = (*(*data.tg_relation).rd_rel).relname.data.as_ptr();
    let table = CStr::from_ptr(relname).to_string_lossy();
    let index_of = |name: &str| -> Option<usize> {
        desc.iter().position(|a| !a.attisdropped && CStr::from_ptr(a.attname.data.as_ptr()).to_bytes() == name.as_bytes())
    };
    let Some(id) = index_of("id") else {
        ereport!(ERROR, PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN, format!("scrap_sga.audit_update: table {table} has no column id"));
    };
    let id_att = desc.get(id).expect("a column of the table");
    let (run, deleted) = (index_of(COL_RUN_ID), index_of(COL_DELETED_AT));
    let columns = Columns::of(&desc);
    let (mut old, mut new) = (TransitionTable::open(data.tg_oldtable, &desc), TransitionTable::open(data.tg_newtable, &desc));
    let schema = pg_sys::get_namespace_name((*(*data.tg_relation).rd_rel).relnamespace);
    if schema.is_null() {
        ereport!(ERROR, PgSqlErrorCode::ERRCODE_INVALID_SCHEMA_NAME, format!("scrap_sga.audit_update: the schema of table {table} is gone"));
    }
    let mut batch = Batch::new([schema, relname].map(|name| pg_sys::Datum::from(pg_sys::cstring_to_text(name))));
    let mut per_row = PgMemoryContexts::new("scrap_sga audit row");
    loop {
        let (o, n) = match (old.next(), new.next()) {
            (Some(o), Some(n)) => (o, n),
            (None, None) => break,
            _ => {
                ereport!(ERROR, PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, "scrap_sga.audit_update: the transition tables have different row counts");
            }
        };
        // The audit follows a row by its id: an UPDATE of id is refused, not logged as a change
        // of some other row.
        if o.1[id] || n.1[id] || !same_bytes(id_att.attlen, id_att.attbyval, o.0[id], n.0[id]) {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("scrap_sga.audit_update: an UPDATE of {table} changed a row's id, which the audit does not follow")
            );
        }
        let gone = |row: (&[pg_sys::Datum], &[bool])| deleted.is_some_and(|d| !row.1[d]);
        let operation = match (gone(o), gone(n)) {
            (false, true) => Operation::SoftDelete,
            (true, false) => Operation::Restore,
            _ => Operation::Update,
        };
        let run_id = run.filter(|&r| !n.1[r]).map(|r| n.0[r]);
        per_row.switch_to(|_| {
            let values = columns.diff(o, n).map(|mut objects| {
                let [a, b] = &mut objects;
                [pg_sys::JsonbValueToJsonb(a), pg_sys::JsonbValueToJsonb(b)].map(pg_sys::Datum::from)
            });
            batch.push(run_id, n.0[id], operation, values);
        });
        per_row.reset();
        if batch.full() {
            batch.write();
        }
    }
    batch.write();
}

/// A transition table read from its start through a read pointer of its own (other triggers
/// may be reading the same table).
struct TransitionTable {
    store: *mut pg_sys::Tuplestorestate,
    pointer: i32,
    slot: *mut pg_sys::TupleTableSlot,
    natts: usize,
}

impl TransitionTable {
    unsafe fn open(store: *mut pg_sys::Tuplestorestate, desc: &PgTupleDesc) -> TransitionTable {
        let pointer = pg_sys::tuplestore_alloc_read_pointer(store, pg_sys::EXEC_FLAG_REWIND as i32);
        pg_sys::tuplestore_select_read_pointer(store, pointer);
        pg_sys::tuplestore_rescan(store);
        let slot = pg_sys::MakeSingleTupleTableSlot(desc.as_ptr(), &pg_sys::TTSOpsMinimalTuple);
        TransitionTable { store, pointer, slot, natts: desc.len() }
    }

    /// The next row's values and null flags, valid until the next call.
    unsafe fn next(&mut self) -> Option<(&[pg_sys::Datum], &[bool])> {
        pg_sys::tuplestore_select_read_pointer(self.store, self.pointer);
        if !pg_sys::tuplestore_gettupleslot(self.store, true, false, self.slot) {
            return None;
        }
        pg_sys::slot_getallattrs(self.slot);
        Some((std::slice::from_raw_parts((*self.slot).tts_values, self.natts), std::slice::from_raw_parts((*self.slot).tts_isnull, self.natts)))
    }
}

impl Drop for TransitionTable {
    fn drop(&mut self) {
        // On an error the transaction's abort releases the slot's hold on the tuple descriptor;
        // calling into the server while unwinding could only add a second error.
        if std::thread::panicking() {
            return;
        }
        // SAFETY: the slot was made by open() and is dropped once; dropping it releases its
        // hold on the relation's tuple descriptor.
        unsafe { pg_sys::ExecDropSingleTupleTableSlot(self.slot) }
    }
}

#[derive(Clone, Copy)]
enum Operation {
    Update,
    SoftDelete,
    Restore,
}

/// The name the batch INSERT reads its rows by.
macro_rules! audit_rows {
    () => {
        "scrap_sga_audit_rows"
    };
}

const fn cstr(s: &'static str) -> &'static std::ffi::CStr {
    match std::ffi::CStr::from_bytes_with_nul(s.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("one NUL, at the end"),
    }
}

/// Audit rows gathered in a tuplestore, written by one INSERT ... SELECT per batch that reads it
/// as a named relation, as queries read transition tables. (Arrays and unnest cost a copy of
/// every value more, and a function call per value.)
struct Batch {
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

impl Batch {
    /// Rows and rendered bytes per INSERT, so that a large UPDATE (a bulk soft delete, a page
    /// of 50,000) keeps a bounded amount of rendered values in memory.
    const ROWS: usize = 5_000;
    const BYTES: usize = 16 << 20;
    /// What the INSERT reads the batch as, and the INSERT (C strings: pgrx passes them on as
    /// they are, where a `&str` is copied to the C heap).
    const RELATION: &'static std::ffi::CStr = cstr(concat!(audit_rows!(), "\0"));
    const INSERT: &'static std::ffi::CStr = cstr(concat!(
        "INSERT INTO scrap_sga.audit_log (run_id, table_schema, table_name, odoo_id, operation, old_values, new_values)
         SELECT r.run_id, $1, $2, r.odoo_id, r.operation, r.old_values, r.new_values FROM ",
        audit_rows!(),
        " r\0"
    ));

    /// `table`: the table's schema and name as text, kept until the trigger returns.
    unsafe fn new(table: [pg_sys::Datum; 2]) -> Batch {
        let columns = [(c"run_id", pg_sys::INT8OID), (c"odoo_id", pg_sys::INT4OID), (c"operation", pg_sys::TEXTOID), (c"old_values", pg_sys::JSONBOID), (c"new_values", pg_sys::JSONBOID)];
        let desc = pg_sys::CreateTemplateTupleDesc(columns.len() as i32);
        for (i, (name, typid)) in columns.iter().enumerate() {
            pg_sys::TupleDescInitEntry(desc, (i + 1) as pg_sys::AttrNumber, name.as_ptr(), *typid, -1, 0);
        }
        Batch {
            desc,
            rows: Batch::store(),
            count: 0,
            bytes: 0,
            table,
            names: ["update", "soft_delete", "restore"].map(|n| text_datum(n)),
        }
    }

    /// A tuplestore for one batch. Kept in memory unless one row is very large (a batch stops
    /// after the row that reaches BYTES); spilled to a file beyond, which is only slower.
    unsafe fn store() -> *mut pg_sys::Tuplestorestate {
        pg_sys::tuplestore_begin_heap(false, false, (4 * Batch::BYTES / 1024) as i32)
    }

    /// Copies the row into the batch: the values may be freed once this returns.
    unsafe fn push(&mut self, run_id: Option<pg_sys::Datum>, id: pg_sys::Datum, operation: Operation, values: Option<[pg_sys::Datum; 2]>) {
        let zero = pg_sys::Datum::from(0usize);
        let [old, new] = values.unwrap_or([zero, zero]);
        let mut datums = [run_id.unwrap_or(zero), id, self.names[operation as usize], old, new];
        let mut nulls = [run_id.is_none(), false, false, values.is_none(), values.is_none()];
        pg_sys::tuplestore_putvalues(self.rows, self.desc, datums.as_mut_ptr(), nulls.as_mut_ptr());
        self.count += 1;
        if values.is_some() {
            self.bytes += pgrx::varlena::varsize_any(old.cast_mut_ptr()) + pgrx::varlena::varsize_any(new.cast_mut_ptr());
        }
    }

    fn full(&self) -> bool {
        self.count >= Batch::ROWS || self.bytes >= Batch::BYTES
    }

    unsafe fn write(&mut self) {
        if self.count == 0 {
            return;
        }
        let mut relation = pg_sys::EphemeralNamedRelationData {
            md: pg_sys::EphemeralNamedRelationMetadataData {
                name: Batch::RELATION.as_ptr() as *mut _,
                reliddesc: pg_sys::InvalidOid,
                tupdesc: self.desc,
                enrtype: pg_sys::EphemeralNameRelationType::ENR_NAMED_TUPLESTORE,
                enrtuples: self.count as f64,
            },
            reldata: self.rows as *mut _,
        };
        Spi::connect_mut(|c| {
            // Registered for this connection only: SPI_finish forgets it, before `relation` goes.
            if pg_sys::SPI_register_relation(&mut relation) != pg_sys::SPI_OK_REL_REGISTER as i32 {
                panic!("scrap_sga.audit_update: the batch could not be registered as a relation");
            }
            c.update(
                Batch::INSERT,
                None,
                &self.table.map(|t| pgrx::datum::DatumWithOid::new(t, pg_sys::TEXTOID)),
            )
            .map(|_| ())
        })
        .unwrap_or_else(|e| panic!("scrap_sga.audit_update: {e}"));
        // A fresh tuplestore, not a cleared one: each INSERT's scan leaves a read pointer that
        // every later row would update, and a store that once spilled would spill from then on.
        pg_sys::tuplestore_end(self.rows);
        self.rows = Batch::store();
        self.count = 0;
        self.bytes = 0;
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // As TransitionTable's: the abort releases what is left on an error.
        if std::thread::panicking() {
            return;
        }
        // SAFETY: the tuplestore was made by new() and is ended once; ending it closes a file it
        // may have spilled to.
        unsafe { pg_sys::tuplestore_end(self.rows) }
    }
}

unsafe fn text_datum(s: &str) -> pg_sys::Datum {
    pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(s.as_ptr() as *const _, s.len() as i32))
}

/// A column the diff compares, with what comparing and rendering it needs.
struct Column {
    index: usize,
    /// The column's name, copied into the memory context of `Columns::of`.
    key: *const u8,
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
struct Columns {
    all: *mut Column,
    len: usize,
    /// Scratch for `diff`: the columns that differ in the row at hand.
    changed: *mut *const Column,
}

impl Columns {
    unsafe fn of(desc: &PgTupleDesc) -> Columns {
        let all = pg_sys::palloc(std::mem::size_of::<Column>() * desc.len().max(1)) as *mut Column;
        let mut len = 0;
        for (index, att) in desc.iter().enumerate() {
            let name = CStr::from_ptr(att.attname.data.as_ptr()).to_bytes();
            if att.attisdropped || name == COL_SYNCED_AT.as_bytes() || name == COL_RUN_ID.as_bytes() {
                continue;
            }
            let kind = render_of(att.atttypid);
            let entry = pg_sys::lookup_type_cache(att.atttypid, pg_sys::TYPECACHE_EQ_OPR_FINFO as i32);
            let has_eq = (*entry).eq_opr_finfo.fn_oid != pg_sys::InvalidOid;
            all.add(len).write(Column {
                index,
                key: pg_sys::pnstrdup(name.as_ptr() as *const _, name.len()) as *const u8,
                key_len: name.len(),
                len: att.attlen,
                byval: att.attbyval,
                eq: if has_eq { &mut (*entry).eq_opr_finfo } else { null_mut() },
                // Text compared byte for byte, as jsonb compares strings.
                collation: if att.attcollation != pg_sys::InvalidOid { pg_sys::C_COLLATION_OID } else { pg_sys::InvalidOid },
                bitwise: matches!(kind, Render::Integer(_) | Render::Bool | Render::DateTime(_)),
                kind,
                output: match kind {
                    Render::Number(out) | Render::Numeric(out) | Render::Text(out) => {
                        let f = pg_sys::palloc0(std::mem::size_of::<pg_sys::FmgrInfo>()) as *mut pg_sys::FmgrInfo;
                        pg_sys::fmgr_info(out, f);
                        f
                    }
                    _ => null_mut(),
                },
            });
            len += 1;
        }
        let changed = pg_sys::palloc(std::mem::size_of::<*const Column>() * len.max(1)) as *mut *const Column;
        let columns = Columns { all, len, changed };
        // Unstable: it sorts in place, with no buffer (the names are unique).
        std::slice::from_raw_parts_mut(all, len).sort_unstable_by(|a, b| a.key().len().cmp(&b.key().len()).then_with(|| a.key().cmp(b.key())));
        columns
    }

    fn all(&self) -> &[Column] {
        // SAFETY: `of` wrote `len` columns at `all`, in memory that outlives `self`.
        unsafe { std::slice::from_raw_parts(self.all, self.len) }
    }

    /// The old and new values of the columns that differ, as two jsonb objects to encode; None
    /// when none differs.
    unsafe fn diff(&self, old: (&[pg_sys::Datum], &[bool]), new: (&[pg_sys::Datum], &[bool])) -> Option<[pg_sys::JsonbValue; 2]> {
        let mut n = 0;
        for c in self.all() {
            if !c.same(old, new) {
                self.changed.add(n).write(c);
                n += 1;
            }
        }
        if n == 0 {
            return None;
        }
        let changed = std::slice::from_raw_parts(self.changed, n);
        Some([object(changed, old), object(changed, new)])
    }
}

impl Column {
    fn key(&self) -> &[u8] {
        // SAFETY: `key` is a copy of the name made by `Columns::of`, in memory that outlives the
        // columns.
        unsafe { std::slice::from_raw_parts(self.key, self.key_len) }
    }

    unsafe fn same(&self, (ov, on): (&[pg_sys::Datum], &[bool]), (nv, nn): (&[pg_sys::Datum], &[bool])) -> bool {
        let i = self.index;
        match (on[i], nn[i]) {
            (true, true) => true,
            (false, false) => self.equal(ov[i], nv[i]),
            _ => false,
        }
    }

    /// Whether two non-null values are equal: the same bytes, or equal by their type's `=`; a
    /// type with no `=` compares by its jsonb rendering.
    unsafe fn equal(&self, a: pg_sys::Datum, b: pg_sys::Datum) -> bool {
        if same_bytes(self.len, self.byval, a, b) {
            return true;
        }
        if self.bitwise {
            return false;
        }
        if !self.eq.is_null() {
            return pg_sys::FunctionCall2Coll(self.eq, self.collation, a, b).value() != 0;
        }
        let encode = |d| encode_array(&mut [render(self.kind, d, false, self.output)]);
        pg_sys::compareJsonbContainers(&mut (*encode(a)).root, &mut (*encode(b)).root) == 0
    }
}

/// `elems` as a jsonb array.
unsafe fn encode_array(elems: &mut [pg_sys::JsonbValue]) -> *mut pg_sys::Jsonb {
    let mut array = pg_sys::JsonbValue { type_: jbvType::jbvArray, ..std::mem::zeroed() };
    array.val.array = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_2 { nElems: elems.len() as i32, elems: elems.as_mut_ptr(), rawScalar: false };
    pg_sys::JsonbValueToJsonb(&mut array)
}

/// A jsonb object of these columns' values in a row; the columns are in key order, unique.
unsafe fn object(columns: &[*const Column], (values, nulls): (&[pg_sys::Datum], &[bool])) -> pg_sys::JsonbValue {
    let pairs = pg_sys::palloc(std::mem::size_of::<pg_sys::JsonbPair>() * columns.len()) as *mut pg_sys::JsonbPair;
    for (k, &c) in columns.iter().enumerate() {
        let c = &*c;
        let mut key = pg_sys::JsonbValue { type_: jbvType::jbvString, ..std::mem::zeroed() };
        key.val.string = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 { len: c.key_len as i32, val: c.key as *mut _ };
        pairs.add(k).write(pg_sys::JsonbPair { key, value: render(c.kind, values[c.index], nulls[c.index], c.output), order: k as u32 });
    }
    let mut object = pg_sys::JsonbValue { type_: jbvType::jbvObject, ..std::mem::zeroed() };
    object.val.object = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_3 { nPairs: columns.len() as i32, pairs };
    object
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

/// The two values are stored alike (then they are equal, whatever the type).
unsafe fn same_bytes(len: i16, byval: bool, a: pg_sys::Datum, b: pg_sys::Datum) -> bool {
    if byval {
        return a == b;
    }
    let (pa, pb) = (a.cast_mut_ptr::<u8>(), b.cast_mut_ptr::<u8>());
    let len = match len {
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

    unsafe fn key(&mut self, name: &[u8]) {
        // The name is copied: the builder keeps the pointer until JsonbValueToJsonb.
        let s = pg_sys::pnstrdup(name.as_ptr() as *const _, name.len());
        self.push(Tok::WJB_KEY, &mut string(s));
    }

    /// A value as the element of an array (WJB_ELEM) or the value of a key (WJB_VALUE).
    unsafe fn value(&mut self, tok: Tok::Type, typid: pg_sys::Oid, d: pg_sys::Datum, null: bool) {
        let kind = render_of(typid);
        match if null { Some(null_value()) } else { scalar(kind, d, null_mut()) } {
            Some(mut v) => {
                self.push(tok, &mut v);
            }
            None => self.container(tok, kind, d),
        }
    }

    /// A value that `scalar` does not render.
    unsafe fn container(&mut self, tok: Tok::Type, kind: Render, d: pg_sys::Datum) {
        match kind {
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
            Render::Bool | Render::Numeric(_) | Render::Integer(_) | Render::StoredText | Render::Number(_) | Render::DateTime(_) | Render::Text(_) => {
                unreachable!("scalar() renders these")
            }
        }
    }

    /// A jsonb value inside the one being built: a scalar as itself, a container token by token.
    unsafe fn embed(&mut self, tok: Tok::Type, d: pg_sys::Datum) {
        let jb = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::Jsonb;
        let mut it = pg_sys::JsonbIteratorInit(&mut (*jb).root);
        let mut v: pg_sys::JsonbValue = std::mem::zeroed();
        if (*jb).root.header & pg_sys::JB_FSCALAR != 0 {
            pg_sys::JsonbIteratorNext(&mut it, &mut v, true); // the pseudo-array around the scalar
            pg_sys::JsonbIteratorNext(&mut it, &mut v, true);
            self.push(tok, &mut v);
            return;
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

/// A value as `to_jsonb` renders it: a scalar, or a container built by the server's builder.
/// `output`: the type's output function when the caller keeps one (else null: looked up).
unsafe fn render(kind: Render, d: pg_sys::Datum, null: bool, output: *mut pg_sys::FmgrInfo) -> pg_sys::JsonbValue {
    if null {
        return null_value();
    }
    if let Some(v) = scalar(kind, d, output) {
        return v;
    }
    let mut b = Builder::new();
    b.push(Tok::WJB_BEGIN_ARRAY, null_mut());
    b.container(Tok::WJB_ELEM, kind, d);
    let array = b.push(Tok::WJB_END_ARRAY, null_mut());
    *(*array).val.array.elems
}

/// A non-null value rendered as a jsonb scalar; None for the kinds that may be containers.
unsafe fn scalar(kind: Render, d: pg_sys::Datum, output: *mut pg_sys::FmgrInfo) -> Option<pg_sys::JsonbValue> {
    let text = |out| if output.is_null() { pg_sys::OidOutputFunctionCall(out, d) } else { pg_sys::OutputFunctionCall(output, d) };
    let v = match kind {
        Render::Bool => {
            let mut v = pg_sys::JsonbValue { type_: jbvType::jbvBool, ..std::mem::zeroed() };
            v.val.boolean = d.value() != 0;
            v
        }
        // The three fast paths below (numeric, integers, text) give what the text path would,
        // without printing and parsing each value: the diff of a row whose every column changed
        // spent most of its time there.
        Render::Numeric(out) => {
            let num = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as pg_sys::Numeric;
            if pg_sys::numeric_is_nan(num) || pg_sys::numeric_is_inf(num) {
                return Some(number_text(text(out)));
            }
            numeric(num)
        }
        Render::Integer(base) => numeric(pg_sys::int64_to_numeric(match base {
            pg_sys::INT2OID => d.value() as i16 as i64,
            pg_sys::INT4OID => d.value() as i32 as i64,
            _ => d.value() as i64,
        })),
        Render::StoredText => {
            let text = pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr());
            let mut v = pg_sys::JsonbValue { type_: jbvType::jbvString, ..std::mem::zeroed() };
            v.val.string = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 {
                len: pgrx::varlena::varsize_any_exhdr(text) as i32,
                val: pgrx::varlena::vardata_any(text) as *mut _,
            };
            v
        }
        Render::Number(out) => number_text(text(out)),
        Render::DateTime(base) => string(pg_sys::JsonEncodeDateTime(null_mut(), d, base, std::ptr::null())),
        Render::Text(out) => string(text(out)),
        Render::Jsonb | Render::Json | Render::JsonCast(_) | Render::Array | Render::Composite => return None,
    };
    Some(v)
}

fn null_value() -> pg_sys::JsonbValue {
    // SAFETY: a JsonbValue of zeroes is a valid value of the C struct; the type is then set.
    pg_sys::JsonbValue { type_: jbvType::jbvNull, ..unsafe { std::mem::zeroed() } }
}

unsafe fn numeric(num: pg_sys::Numeric) -> pg_sys::JsonbValue {
    let mut v = pg_sys::JsonbValue { type_: jbvType::jbvNumeric, ..std::mem::zeroed() };
    v.val.numeric = num;
    v
}

/// A string of a NUL-terminated text the value keeps pointing to.
unsafe fn string(s: *mut std::ffi::c_char) -> pg_sys::JsonbValue {
    let mut v = pg_sys::JsonbValue { type_: jbvType::jbvString, ..std::mem::zeroed() };
    v.val.string = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 { len: CStr::from_ptr(s).to_bytes().len() as i32, val: s };
    v
}

/// A number by its text (from its type's output function), as jsonb.c renders it: a string
/// when the text is not a JSON number (NaN, Infinity).
unsafe fn number_text(text: *mut std::ffi::c_char) -> pg_sys::JsonbValue {
    let bytes = CStr::from_ptr(text).to_bytes();
    if bytes.iter().any(|&c| c == b'N' || c == b'n') {
        return string(text);
    }
    let num = pgrx::direct_function_call_as_datum(
        pg_sys::numeric_in,
        &[Some(pg_sys::Datum::from(text)), Some(pg_sys::Datum::from(pg_sys::InvalidOid)), Some(pg_sys::Datum::from(-1i32))],
    );
    numeric(num.expect("numeric_in returns a value").cast_mut_ptr())
}

/// A json value (text) as jsonb.
unsafe fn json_to_jsonb(d: pg_sys::Datum) -> pg_sys::Datum {
    let text = pg_sys::text_to_cstring(d.cast_mut_ptr());
    pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(pg_sys::Datum::from(text))]).expect("jsonb_in returns a value")
}
