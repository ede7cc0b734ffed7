//! Reconciliation: the mirror against what Odoo has now, record by record. Odoo's `(id,
//! write_date)` pairs come in pages (`search_read` of `write_date` only, archived included) and
//! are compared with the mirror in SQL: a record whose write_date differs, or that the mirror
//! lacks or has soft-deleted, is read again (a *repair*: the window missed it, as it misses a
//! transaction that committed later than `lookback`); a row Odoo no longer has is soft-deleted.
//! Each page speaks for an id range (up to its last id), so the comparison streams and never holds
//! a whole model; the listing can use several streams (`parallel`), and it can be asked for one
//! id range only (the per-run deletion check does).
use pgrx::prelude::*;
use serde_json::{json, Value};

use super::pages::PageWriter;
use super::remote::Remote;
use super::reread::read_and_write;
use super::streams::{self, Listing};
use super::Outcome;
use crate::errors::SyncError;
use crate::txn;

/// Pairs per request: about 45 bytes each.
const PAIR_PAGE: usize = 20_000;

/// An id range: `lo < id`, and `id <= hi` when there is a `hi`.
#[derive(Debug, Clone, Copy)]
pub struct IdRange {
    pub lo: i64,
    pub hi: Option<i64>,
}

impl IdRange {
    pub const ALL: IdRange = IdRange { lo: 0, hi: None };

    pub fn domain(&self) -> Value {
        match self.hi {
            Some(hi) => json!([["id", ">", self.lo], ["id", "<=", hi]]),
            None => json!([["id", ">", self.lo]]),
        }
    }
}

/// Reconcile `range` on up to `parallel` streams.
pub fn reconcile_range(remote: &mut Remote, w: &mut PageWriter, table: &str, range: IdRange, parallel: usize, out: &mut Outcome) -> Result<(), SyncError> {
    let model = w.model.to_owned();
    let by_write_date = w.plan.has_field("write_date");
    // Rows in this page's id range that Odoo did not list. EXCEPT, not NOT EXISTS: the planner
    // cannot know how many records the JSON holds, and without statistics on the table (just
    // after a first copy) it chose a nested loop that read the listing once per row: 52 s for a
    // page of 20,000 pairs, against a set operation that is linear whatever the estimates.
    // The range stands outside too, so that the update never scans the table beyond it.
    let gone = format!(
        "id > $2 AND ($3::integer IS NULL OR id <= $3)
         AND id IN (SELECT id FROM {table} WHERE id > $2 AND ($3::integer IS NULL OR id <= $3)
                    EXCEPT SELECT o.id FROM json_to_recordset($1::json) AS o(id integer))"
    );
    // Odoo's records the mirror lacks, has soft-deleted, or holds at another write_date; the
    // second column says whether that is a repair (the mirror held the record, out of date).
    // Records waiting in the retry queue are read when their retry is due, not before.
    let differs = if by_write_date { "OR t.write_date IS DISTINCT FROM o.write_date" } else { "" };
    let stale = format!(
        "SELECT coalesce(array_agg(o.id ORDER BY o.id), '{{}}'), count(*) FILTER (WHERE t.id IS NOT NULL AND t.sga_deleted_at IS NULL)
         FROM json_to_recordset($1::json) AS o(id integer, write_date timestamptz)
         LEFT JOIN {table} t ON t.id = o.id
         WHERE (t.id IS NULL OR t.sga_deleted_at IS NOT NULL {differs})
           AND NOT EXISTS (SELECT 1 FROM scrap_sga.failed_record f WHERE f.model = $2 AND f.odoo_id = o.id AND f.next_attempt_at > now())"
    );
    // Queued records Odoo no longer has leave the queue (their retry would only find them gone).
    let unqueue = "DELETE FROM scrap_sga.failed_record WHERE model = $2 AND odoo_id IN (
                       SELECT odoo_id FROM scrap_sga.failed_record WHERE model = $2 AND odoo_id > $3 AND ($4::integer IS NULL OR odoo_id <= $4)
                       EXCEPT SELECT o.id FROM json_to_recordset($1::json) AS o(id integer))";
    let listing = Listing { model: &model, fields: vec![if by_write_date { "write_date" } else { "id" }.to_owned()], page_size: PAIR_PAGE, what: "reconcile listing" };
    let ranges = streams::split(remote, &model, range, parallel, out)?;
    streams::fetch(remote, &listing, ranges, parallel, out, |remote, page, out| {
        // Everything is compared within the ids the page speaks for.
        let (after, upper) = (page.span.lo as i32, page.span.hi.map(|i| i as i32));
        let doc: Vec<Value> = page
            .records
            .iter()
            .map(|r| json!({"id": r.get("id"), "write_date": r.get("write_date").and_then(Value::as_str).map(|s| format!("{s}+00"))}))
            .collect();
        let doc = serde_json::to_string(&doc).expect("JSON values serialize");
        let t0 = std::time::Instant::now();
        w.soft_delete(table, &gone, 3, || vec![doc.as_str().into(), after.into(), upper.into()], out)?;
        let (run_id, listed) = (w.run_id, page.records.len() as i64);
        let (to_read, repairs): (Vec<i32>, i64) = txn::in_transaction(|| {
            Spi::run_with_args("UPDATE scrap_sga.sync_run SET listed = listed + $2 WHERE run_id = $1", &[run_id.into(), listed.into()])?;
            Spi::run_with_args(unqueue, &[doc.as_str().into(), model.as_str().into(), after.into(), upper.into()])?;
            let (ids, repairs) = Spi::get_two_with_args::<Vec<i32>, i64>(&stale, &[doc.as_str().into(), model.as_str().into()])?;
            let repairs = repairs.unwrap_or(0);
            if repairs > 0 {
                Spi::run_with_args("UPDATE scrap_sga.sync_run SET repaired = repaired + $2 WHERE run_id = $1", &[run_id.into(), repairs.into()])?;
            }
            Ok((ids.unwrap_or_default(), repairs))
        })?;
        out.db_secs += t0.elapsed().as_secs_f64();
        out.repaired += repairs;
        out.listed += listed;
        let to_read: Vec<i64> = to_read.into_iter().map(i64::from).collect();
        read_and_write(remote, w, &to_read, "reconcile read", out)?;
        Ok(())
    })
}
