//! Odoo's `(id, write_date)` pairs, as SQL reads them: the window's listing, reconcile's,
//! verify's. One document format and one way to read it, for every comparison with the mirror;
//! and the one page the window's listing answers without SQL (`Listed::ids_if_all_newer`: every
//! pair newer than the mirror, after a bulk write).
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use scrap_sga_core::ids::{record_id, OdooId};
use scrap_sga_core::odoo::time::OdooTime;
use serde_json::{json, Map, Value};


/// A JSON document serde_json wrote (a listing's pairs, a page of records) as a `json` argument
/// for `json_to_recordset`. Passed as text, the cast to json would parse the whole document
/// once more only to check it: 3.5% of a page write's time (`perf`, issue 20).
pub fn json_arg(doc: &str) -> DatumWithOid<'static> {
    // SAFETY: a json value is stored as the text of the document, which is what a &str becomes
    // (a palloc'd copy); serde_json wrote it, and json_to_recordset parses it and refuses what
    // is not JSON anyway. (pgrx's JsonString does the same from an owned String: a copy of
    // every page more.)
    unsafe { DatumWithOid::new(doc, pg_sys::JSONOID) }
}

/// What SQL reads a listing document `$1` (see [`json_arg`]) with: rows `o(id, write_date)`.
pub const PAIRS: &str = "json_to_recordset($1::json) AS o(id integer, write_date timestamptz)";

/// A page of listed `(id, write_date)` pairs, each write_date read once, for all a page is used
/// for: the run's notes (`newest`), the page answered in Rust (`ids_if_all_newer`), its document.
pub struct Listed<'a> {
    records: &'a [Map<String, Value>],
    written: Vec<Option<OdooTime>>,
}

impl<'a> Listed<'a> {
    pub fn of(records: &'a [Map<String, Value>]) -> Listed<'a> {
        Listed { records, written: records.iter().map(OdooTime::write_date_of).collect() }
    }

    /// How many pairs, as the run log counts them.
    pub fn count(&self) -> i64 {
        crate::values::bigint(self.records.len())
    }

    /// The newest write_date listed.
    pub fn newest(&self) -> Option<OdooTime> {
        self.written.iter().flatten().max().copied()
    }

    /// The pairs as one JSON document for [`PAIRS`]. Odoo's datetimes are UTC without a zone:
    /// the document says so (`Z`), or Postgres would read them in the session's time zone.
    pub fn document(&self) -> String {
        let pairs: Vec<Value> = self.records.iter().zip(&self.written).map(|(r, w)| json!({"id": r.get("id"), "write_date": w.map(|t| format!("{t}Z"))})).collect();
        Value::Array(pairs).to_string()
    }

    /// The page's ids, in order, when every pair was written after `newest` (the mirror's
    /// newest write_date, None for an empty mirror) and at or after `from`; else None. Times are
    /// PostgreSQL's microseconds. Such a page is read whole: no row of the mirror can carry a
    /// pair's write_date, nor is the retry queue asked about it: what [`to_read_sql`] returns for
    /// it (pg_test `a_page_newer_than_the_mirror_reads_the_same_ids_in_rust_as_in_sql`).
    /// Answering it here spares a statement per page after a bulk write.
    pub fn ids_if_all_newer(&self, newest: Option<i64>, from: i64) -> Option<Vec<OdooId>> {
        let mut ids = Vec::with_capacity(self.records.len());
        for (r, w) in self.records.iter().zip(&self.written) {
            let written = (*w)?.pg_micros();
            if written < from || newest.is_some_and(|n| written <= n) {
                return None;
            }
            ids.push(record_id(r)?);
        }
        ids.sort_unstable();
        Some(ids)
    }
}

/// The window listing's comparison of a page of pairs (`$1`, read as [`PAIRS`]) with the mirror
/// `table`: the ids to read, in order. The records that are new, changed or soft-deleted here,
/// and those written since the recheck's start `$2` that were copied less than `$3` seconds
/// (NULL: any time) after their write; a pair written before `$2` whose record waits in the
/// retry queue (`waiting`, a test on `o.id` and `o.write_date`) is left to its retry.
///
/// A pair written after `$4`, the mirror's newest write_date before the listing, is read
/// without looking its id up: no row can have its write_date. After a bulk write that is every
/// pair, and the lookups were most of the comparison's cost. (A row the run wrote since then
/// may be read again; reading is never wrong, and its write finds no change.) OFFSET 0 keeps
/// the lookup a subquery, where the test on the pair gates the index scan; pulled up into the
/// join, it would be tested after the scan.
pub fn to_read_sql(table: &str, waiting: &str) -> String {
    format!(
        "SELECT coalesce(array_agg(o.id ORDER BY o.id), '{{}}')
         FROM {PAIRS} LEFT JOIN LATERAL (
            SELECT t.id, t.sga_deleted_at, t.write_date, t.sga_synced_at FROM {table} t WHERE t.id = o.id AND o.write_date <= $4 OFFSET 0) t ON true
         WHERE (t.id IS NULL OR t.sga_deleted_at IS NOT NULL OR t.write_date IS DISTINCT FROM o.write_date
                OR (o.write_date >= $2 AND ($3::float8 IS NULL OR t.write_date + make_interval(secs => $3) >= t.sga_synced_at)))
           AND (o.write_date >= $2 OR NOT {waiting})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(pairs: &[(Value, Value)]) -> Vec<Map<String, Value>> {
        pairs.iter().map(|(id, wd)| json!({"id": id, "write_date": wd}).as_object().unwrap().clone()).collect()
    }

    fn at(text: &str) -> i64 {
        OdooTime::parse(text).unwrap().pg_micros()
    }

    fn as_ints(ids: Option<Vec<OdooId>>) -> Option<Vec<i32>> {
        ids.map(|v| v.into_iter().map(OdooId::get).collect())
    }

    #[test]
    fn a_page_says_its_newest_write_and_its_pairs_in_utc() {
        let p = page(&[(json!(7), json!("2026-01-01 10:00:01")), (json!(3), json!("2026-01-01 10:00:05")), (json!(4), json!(false))]);
        let listed = Listed::of(&p);
        assert_eq!(listed.newest(), OdooTime::parse("2026-01-01 10:00:05"));
        assert_eq!(
            listed.document(),
            r#"[{"id":7,"write_date":"2026-01-01 10:00:01Z"},{"id":3,"write_date":"2026-01-01 10:00:05Z"},{"id":4,"write_date":null}]"#
        );
        assert_eq!(Listed::of(&[]).newest(), None);
    }

    #[test]
    fn a_page_newer_than_the_mirror_is_read_whole_in_id_order() {
        let p = page(&[(json!(7), json!("2026-01-01 10:00:01")), (json!(3), json!("2026-01-01 10:00:05"))]);
        assert_eq!(as_ints(Listed::of(&p).ids_if_all_newer(Some(at("2026-01-01 10:00:00")), at("2026-01-01 09:00:00"))), Some(vec![3, 7]));
        assert_eq!(as_ints(Listed::of(&p).ids_if_all_newer(None, at("2026-01-01 10:00:01"))), Some(vec![3, 7]));
        assert_eq!(as_ints(Listed::of(&[]).ids_if_all_newer(Some(0), 0)), Some(vec![]));
    }

    #[test]
    fn any_pair_not_newer_leaves_the_page_to_sql() {
        let p = page(&[(json!(7), json!("2026-01-01 10:00:01")), (json!(3), json!("2026-01-01 10:00:05"))]);
        // The mirror's newest row has the second of a pair: that row may be this pair's record.
        assert_eq!(Listed::of(&p).ids_if_all_newer(Some(at("2026-01-01 10:00:01")), 0), None);
        // Written before the recheck: the retry queue decides.
        assert_eq!(Listed::of(&p).ids_if_all_newer(None, at("2026-01-01 10:00:02")), None);
        // A write_date or an id SQL would read otherwise than as given.
        for odd in [(json!(1), json!(false)), (json!(1), json!("2026-01-01T10:00:09")), (json!(null), json!("2026-01-01 10:00:09")), (json!(3_000_000_000i64), json!("2026-01-01 10:00:09"))] {
            let mut q = p.clone();
            q.extend(page(&[odd]));
            assert_eq!(Listed::of(&q).ids_if_all_newer(None, 0), None);
        }
    }
}
