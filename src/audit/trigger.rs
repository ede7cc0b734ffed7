//! `scrap_sga.audit_update()`, the trigger, in Rust rather than PL/pgSQL: joining the transition
//! tables by id, making each row a composite value for the diff and taking it apart again cost
//! as much as the diff. Postgres appends a row's old and new versions to the two transition
//! tables together, so they are read side by side; the ids are checked pair by pair.
use pgrx::prelude::*;
use pgrx::{pg_sys, PgMemoryContexts, PgTupleDesc};
use scrap_sga_core::mapping::{COL_DELETED_AT, COL_RUN_ID};
use std::ffi::CStr;

use super::batch::{Batch, Operation};
use super::diff::Columns;
use super::row::{name_bytes, same_bytes};
use super::place::{raise, Pushed};

/// An AFTER UPDATE ... FOR EACH STATEMENT trigger with OLD TABLE and NEW TABLE, declared in
/// sql/audit.sql.
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
/// `data` is the TriggerData of an AFTER UPDATE statement trigger being fired, with both
/// transition tables.
unsafe fn log_updates(data: &pg_sys::TriggerData) {
    // SAFETY: the trigger's relation is open while the trigger fires, with its pg_class row and
    // its descriptor (not reference-counted here: the relation holds it).
    let (class, desc) = unsafe { (&*(*data.tg_relation).rd_rel, PgTupleDesc::from_pg_unchecked((*data.tg_relation).rd_att)) };
    let table = name_bytes(&class.relname);
    // SAFETY: a catalog lookup of the schema by its oid; null when it is gone.
    let schema = unsafe { pg_sys::get_namespace_name(class.relnamespace) };
    if schema.is_null() {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_SCHEMA_NAME,
            format!("scrap_sga.audit_update: the schema of table {} is gone", String::from_utf8_lossy(table))
        );
    }
    // SAFETY: get_namespace_name returns a C string of the current memory context.
    let schema = unsafe { CStr::from_ptr(schema) }.to_bytes();
    let place = Pushed::new(format!("table {}.{}", String::from_utf8_lossy(schema), String::from_utf8_lossy(table)));
    let column = |name: &str| desc.iter().enumerate().find(|(_, a)| !a.attisdropped && name_bytes(&a.attname) == name.as_bytes());
    let Some((id, id_att)) = column("id") else {
        raise(PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN, format!("scrap_sga.audit_update: {} has no column id", place.what()));
    };
    let (run, deleted) = (column(COL_RUN_ID).map(|(i, _)| i), column(COL_DELETED_AT).map(|(i, _)| i));
    let columns = Columns::of(&desc, &place);
    // SAFETY: the trigger's transition tables, of rows of the relation.
    let (mut old, mut new) = unsafe { (TransitionTable::open(data.tg_oldtable, &desc), TransitionTable::open(data.tg_newtable, &desc)) };
    let mut batch = Batch::new(schema, table);
    let mut per_row = PgMemoryContexts::new("scrap_sga audit row");
    loop {
        let (o, n) = match (old.next(), new.next()) {
            (Some(o), Some(n)) => (o, n),
            (None, None) => break,
            _ => raise(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("scrap_sga.audit_update: the transition tables of {} have different row counts", place.what()),
            ),
        };
        // The audit follows a row by its id: an UPDATE of id is refused, not logged as a change
        // of some other row.
        // SAFETY: two values of the id column, when not null.
        if o.1[id] || n.1[id] || !unsafe { same_bytes(id_att.attlen, id_att.attbyval, o.0[id], n.0[id]) } {
            raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("scrap_sga.audit_update: an UPDATE of {} changed a row's id, which the audit does not follow", String::from_utf8_lossy(table)),
            );
        }
        let gone = |row: (&[pg_sys::Datum], &[bool])| deleted.is_some_and(|d| !row.1[d]);
        let operation = match (gone(o), gone(n)) {
            (false, true) => Operation::SoftDelete,
            (true, false) => Operation::Restore,
            _ => Operation::Update,
        };
        let run_id = run.filter(|&r| !n.1[r]).map(|r| n.0[r]);
        let log = |_: &mut PgMemoryContexts| {
            // SAFETY: two versions of a row of the relation, deformed with the descriptor the
            // columns were made from; they stay until the next row is read.
            let objects = unsafe { columns.diff(o, n) };
            let values = objects.map(|objects| {
                objects.map(|mut object| {
                    // SAFETY: an object of values alive until the row is done with.
                    pg_sys::Datum::from(unsafe { pg_sys::JsonbValueToJsonb(&mut object) })
                })
            });
            // SAFETY: the row's run_id (int8) and id (int4), and two jsonb values.
            unsafe { batch.push(run_id, n.0[id], operation, values) };
        };
        // SAFETY: what is made in the row's context is copied by the batch, and the context is
        // reset only then.
        unsafe { per_row.switch_to(log) };
        // SAFETY: as above: nothing made in it is used any more.
        unsafe { per_row.reset() };
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
    /// # Safety
    /// `store` is a transition table of rows of `desc`, alive as long as the result.
    unsafe fn open(store: *mut pg_sys::Tuplestorestate, desc: &PgTupleDesc) -> TransitionTable {
        // SAFETY: as the caller promises.
        let pointer = unsafe { pg_sys::tuplestore_alloc_read_pointer(store, pg_sys::EXEC_FLAG_REWIND as i32) };
        // SAFETY: the pointer just made.
        unsafe { pg_sys::tuplestore_select_read_pointer(store, pointer) };
        // SAFETY: as above.
        unsafe { pg_sys::tuplestore_rescan(store) };
        // SAFETY: a slot of the relation's descriptor, which outlives it (the slot holds it).
        let slot = unsafe { pg_sys::MakeSingleTupleTableSlot(desc.as_ptr(), &pg_sys::TTSOpsMinimalTuple) };
        TransitionTable { store, pointer, slot, natts: desc.len() }
    }

    /// The next row's values and null flags, valid until the next call.
    fn next(&mut self) -> Option<(&[pg_sys::Datum], &[bool])> {
        // SAFETY: the store and the read pointer of open().
        unsafe { pg_sys::tuplestore_select_read_pointer(self.store, self.pointer) };
        // SAFETY: the store, read into the slot made for its rows.
        if !unsafe { pg_sys::tuplestore_gettupleslot(self.store, true, false, self.slot) } {
            return None;
        }
        // SAFETY: the slot holds a row.
        unsafe { pg_sys::slot_getallattrs(self.slot) };
        // SAFETY: the slot's `natts` values and flags, which stay until it reads another row (a
        // call that needs `&mut self`).
        Some(unsafe { (std::slice::from_raw_parts((*self.slot).tts_values, self.natts), std::slice::from_raw_parts((*self.slot).tts_isnull, self.natts)) })
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
