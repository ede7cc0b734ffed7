//! Odoo's `(id, write_date)` pairs, as SQL reads them: the window's listing, reconcile's,
//! verify's. One document format and one way to read it, for every comparison with the mirror;
//! and the one page the window's listing answers without SQL (`ids_if_all_newer`: every pair
//! newer than the mirror, after a bulk write).
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use scrap_sga_core::odoo::time::OdooTime;
use serde_json::{json, Value};


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

/// A page of pairs as one JSON document for [`PAIRS`]. Odoo's datetimes are UTC without a zone:
/// the document says so (`Z`), or Postgres would read them in the session's time zone.
pub fn pairs_document(records: &[serde_json::Map<String, Value>]) -> String {
    let pairs: Vec<Value> = records
        .iter()
        .map(|r| {
            let wd = r.get("write_date").and_then(Value::as_str).and_then(OdooTime::parse).map(|t| format!("{t}Z"));
            json!({"id": r.get("id"), "write_date": wd})
        })
        .collect();
    serde_json::to_string(&pairs).expect("JSON values serialize")
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

/// The page's ids, in order, when every pair was written after `newest` (the mirror's newest
/// write_date, None for an empty mirror) and at or after `from`; else None. Times are
/// PostgreSQL's microseconds. Such a page is read whole: no row of the mirror can carry a pair's
/// write_date, nor is the retry queue asked about it: what [`to_read_sql`] returns for it
/// (pg_test `a_page_newer_than_the_mirror_reads_the_same_ids_in_rust_as_in_sql`). Answering it
/// here spares a statement per page after a bulk write.
pub fn ids_if_all_newer(records: &[serde_json::Map<String, Value>], newest: Option<i64>, from: i64) -> Option<Vec<i32>> {
    let mut ids = Vec::with_capacity(records.len());
    for r in records {
        let written = r.get("write_date").and_then(Value::as_str).and_then(OdooTime::parse)?.pg_micros();
        if written < from || newest.is_some_and(|n| written <= n) {
            return None;
        }
        ids.push(i32::try_from(r.get("id")?.as_i64()?).ok()?);
    }
    ids.sort_unstable();
    Some(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(pairs: &[(Value, Value)]) -> Vec<serde_json::Map<String, Value>> {
        pairs.iter().map(|(id, wd)| json!({"id": id, "write_date": wd}).as_object().unwrap().clone()).collect()
    }

    fn at(text: &str) -> i64 {
        OdooTime::parse(text).unwrap().pg_micros()
    }

    #[test]
    fn a_page_newer_than_the_mirror_is_read_whole_in_id_order() {
        let p = page(&[(json!(7), json!("2026-01-01 10:00:01")), (json!(3), json!("2026-01-01 10:00:05"))]);
        assert_eq!(ids_if_all_newer(&p, Some(at("2026-01-01 10:00:00")), at("2026-01-01 09:00:00")), Some(vec![3, 7]));
        assert_eq!(ids_if_all_newer(&p, None, at("2026-01-01 10:00:01")), Some(vec![3, 7]));
        assert_eq!(ids_if_all_newer(&[], Some(0), 0), Some(vec![]));
    }

    #[test]
    fn any_pair_not_newer_leaves_the_page_to_sql() {
        let p = page(&[(json!(7), json!("2026-01-01 10:00:01")), (json!(3), json!("2026-01-01 10:00:05"))]);
        // The mirror's newest row has the second of a pair: that row may be this pair's record.
        assert_eq!(ids_if_all_newer(&p, Some(at("2026-01-01 10:00:01")), 0), None);
        // Written before the recheck: the retry queue decides.
        assert_eq!(ids_if_all_newer(&p, None, at("2026-01-01 10:00:02")), None);
        // A write_date or an id SQL would read otherwise than as given.
        for odd in [(json!(1), json!(false)), (json!(1), json!("2026-01-01T10:00:09")), (json!(null), json!("2026-01-01 10:00:09")), (json!(3_000_000_000i64), json!("2026-01-01 10:00:09"))] {
            let mut q = p.clone();
            q.extend(page(&[odd]));
            assert_eq!(ids_if_all_newer(&q, None, 0), None);
        }
    }
}
