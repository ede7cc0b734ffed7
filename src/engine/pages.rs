//! Writing to a mirror table: pages of records, soft deletions, refreshed columns, each in a
//! transaction of its own with the run's counters.
//!
//! A page travels as one JSON document, `json_to_recordset` turns it into rows, and one
//! `INSERT ... ON CONFLICT (id) DO UPDATE` writes the rows that differ: an unchanged record costs
//! neither a new row version nor WAL. A record that cannot be stored (a value of the wrong shape,
//! or one Postgres refuses: SQLSTATE classes 22 and 23) must not block its page: the page is
//! split in halves until the culprits are alone, the rest is written, and the culprits wait in
//! the retry queue.
use pgrx::prelude::*;
use scrap_sga_core::ident::quote;
use scrap_sga_core::ids::record_id;
use scrap_sga_core::mapping::{self, ModelPlan, COL_DELETED_AT, COL_RUN_ID, COL_SYNCED_AT};
use scrap_sga_core::odoo::time::OdooTime;
use scrap_sga_core::odoo::OdooError;
use serde_json::{Map, Value};

use super::context::Mirror;
use crate::catalog::model_state::{Live, ModelState};
use crate::catalog::retry_queue::{Queued, RetryQueue};
use crate::catalog::run_log::{Counts, RunLog};
use crate::errors::{state, SyncError};

/// A page as rows: `SELECT <typed columns> FROM json_to_recordset($1::json) AS r(<inputs>)`,
/// and the quoted column names, `id` first.
fn page_source(plan: &ModelPlan) -> (String, Vec<String>) {
    let cols: Vec<_> = plan.columns().collect();
    let names: Vec<String> = cols.iter().map(|c| quote(&c.name)).collect();
    let inputs: Vec<String> = cols.iter().map(|c| format!("{} {}", quote(&c.name), c.input_type())).collect();
    let exprs: Vec<String> = cols.iter().map(|c| format!("{} AS {}", c.select_expr("r"), quote(&c.name))).collect();
    (format!("SELECT {} FROM json_to_recordset($1::json) AS r({})", exprs.join(", "), inputs.join(", ")), names)
}

/// The statement that writes a page: inserts new rows, updates changed ones, restores
/// soft-deleted ones; returns how many of each.
pub struct Upsert {
    sql: String,
}

impl Upsert {
    pub fn new(table: &str, plan: &ModelPlan) -> Upsert {
        let t = table;
        let (source, names) = page_source(plan);
        let data: Vec<&String> = names.iter().filter(|n| n.as_str() != "\"id\"").collect();
        let list = |f: &dyn Fn(&str) -> String| data.iter().map(|n| f(n)).collect::<Vec<_>>().join(", ");
        // Unchanged rows are filtered out before the INSERT: ON CONFLICT DO UPDATE locks every
        // conflicting row even when its WHERE is false, and a lock dirties the page and writes WAL.
        let sql = format!(
            "WITH src AS (
                {source}
             ), changed AS (
                SELECT src.*, t.id IS NOT NULL AS existed, t.{COL_DELETED_AT} IS NOT NULL AS was_deleted
                FROM src LEFT JOIN {t} t ON t.id = src.id
                WHERE t.id IS NULL OR t.{COL_DELETED_AT} IS NOT NULL OR ({old_vals}) IS DISTINCT FROM ({src_vals})
             ), up AS (
                INSERT INTO {t} AS t ({names}, {COL_SYNCED_AT}, {COL_RUN_ID}, {COL_DELETED_AT})
                SELECT {changed_names}, now(), $2, NULL FROM changed
                ON CONFLICT (id) DO UPDATE SET ({set_cols}, {COL_SYNCED_AT}, {COL_RUN_ID}, {COL_DELETED_AT})
                    = ROW({set_vals}, EXCLUDED.{COL_SYNCED_AT}, EXCLUDED.{COL_RUN_ID}, NULL)
                RETURNING t.id
             )
             SELECT count(*) FILTER (WHERE NOT existed), count(*) FILTER (WHERE existed AND NOT was_deleted), count(*) FILTER (WHERE was_deleted),
                    coalesce(sum(id) FILTER (WHERE NOT existed OR was_deleted), 0)::bigint
             FROM changed WHERE id IN (SELECT id FROM up)",
            names = names.join(", "),
            changed_names = names.iter().map(|n| format!("changed.{n}")).collect::<Vec<_>>().join(", "),
            set_cols = list(&|n| n.to_string()),
            set_vals = list(&|n| format!("EXCLUDED.{n}")),
            old_vals = list(&|n| format!("t.{n}")),
            src_vals = list(&|n| format!("src.{n}")),
        );
        Upsert { sql }
    }

    /// `page_json` is a JSON array of converted records, ids unique. Returns the counts, and
    /// what the page added to the live rows (inserted and restored, with their ids' sum).
    pub fn apply(&self, page_json: &str, run_id: i64) -> Result<(Counts, Live), SyncError> {
        Spi::connect_mut(|c| {
            let t = c.update(self.sql.as_str(), None, &[page_json.into(), run_id.into()])?;
            let row = t.first();
            let counts = Counts {
                inserted: row.get::<i64>(1)?.unwrap_or(0),
                updated: row.get::<i64>(2)?.unwrap_or(0),
                restored: row.get::<i64>(3)?.unwrap_or(0),
                ..Default::default()
            };
            Ok((counts, Live { rows: counts.inserted + counts.restored, id_sum: row.get::<i64>(4)?.unwrap_or(0) }))
        })
    }
}

/// Updating some columns of rows that exist, from a page that has only `id` and those fields
/// (computed fields on their own schedule, a field readable again). Rows Odoo did not send, or
/// whose values did not change, are left alone; nothing is inserted.
pub struct Refresh {
    sql: String,
}

impl Refresh {
    pub fn new(table: &str, plan: &ModelPlan) -> Refresh {
        let t = table;
        let (source, names) = page_source(plan);
        let data: Vec<&String> = names.iter().filter(|n| n.as_str() != "\"id\"").collect();
        let list = |f: &dyn Fn(&str) -> String| data.iter().map(|n| f(n)).collect::<Vec<_>>().join(", ");
        let (cols, src_vals, old_vals) = (list(&|n| n.to_string()), list(&|n| format!("src.{n}")), list(&|n| format!("t.{n}")));
        let sql = format!(
            "WITH src AS ({source}), up AS (
                UPDATE {t} AS t SET ({cols}, {COL_SYNCED_AT}, {COL_RUN_ID}) = ROW({src_vals}, now(), $2)
                FROM src WHERE t.id = src.id AND t.{COL_DELETED_AT} IS NULL AND ROW({old_vals}) IS DISTINCT FROM ROW({src_vals})
                RETURNING 1
             ) SELECT count(*) FROM up"
        );
        Refresh { sql }
    }

    /// Returns how many rows changed.
    pub fn apply(&self, page_json: &str, run_id: i64) -> Result<i64, SyncError> {
        Ok(Spi::get_one_with_args::<i64>(&self.sql, &[page_json.into(), run_id.into()])?.unwrap_or(0))
    }
}

/// The error is about the record's values, not about the database or the run.
fn is_record_error(e: &SyncError) -> bool {
    matches!(e.sqlstate.class(), "22" | "23")
}

impl Mirror {
    /// Convert and write one page of records; each part commits with the run's counters.
    pub fn write_page(&mut self, page: Vec<Map<String, Value>>) -> Result<Counts, SyncError> {
        let fetched = page.len() as i64;
        let mut rows: std::collections::BTreeMap<i32, Map<String, Value>> = Default::default();
        let mut failures: Vec<(i32, SyncError)> = Vec::new();
        let mut write_dates = std::collections::BTreeMap::new();
        for rec in &page {
            let id = record_id(rec)
                .ok_or_else(|| SyncError::new(state::PROTOCOL_VIOLATION, format!("{}: a record without an integer id that fits", self.conf.model)))?;
            self.note_write_date(rec);
            write_dates.insert(id, rec.get("write_date").and_then(Value::as_str).and_then(OdooTime::parse));
            match mapping::convert_record(&self.plan, rec) {
                Ok(converted) => {
                    rows.insert(id, converted);
                }
                Err(e) => failures.push((id, SyncError::from_convert(&e))),
            }
        }
        drop(page);
        let rows: Vec<(i32, Value)> = rows.into_iter().map(|(id, m)| (id, Value::Object(m))).collect();
        // The usual case, one transaction: the whole page and its counters.
        let page_counts = Counts { fetched, pages: 1, ..Default::default() };
        let counters_now = failures.is_empty();
        let mut written = self.write_isolating(&rows, if counters_now { page_counts } else { Counts::default() }, &mut failures)?;
        if !counters_now || !failures.is_empty() {
            self.queue_failures(&failures, &write_dates, page_counts)?;
            written.failed = failures.len() as i64;
        }
        let counts = Counts { fetched, pages: 1, ..written };
        self.done.add(&counts);
        Ok(counts)
    }

    fn write_isolating(&mut self, rows: &[(i32, Value)], extra: Counts, failures: &mut Vec<(i32, SyncError)>) -> Result<Counts, SyncError> {
        if rows.is_empty() {
            return Ok(Counts::default());
        }
        match self.write_part(rows, extra) {
            Ok(c) => Ok(c),
            Err(e) if is_record_error(&e) && rows.len() == 1 => {
                failures.push((rows[0].0, e));
                Ok(Counts::default())
            }
            Err(e) if is_record_error(&e) => {
                let (a, b) = rows.split_at(rows.len() / 2);
                let mut x = self.write_isolating(a, Counts::default(), failures)?;
                x.add(&self.write_isolating(b, Counts::default(), failures)?);
                Ok(x)
            }
            Err(e) => Err(e),
        }
    }

    /// One transaction: the rows, the run's counters (with `extra`), and the rows' exit from the
    /// retry queue.
    fn write_part(&mut self, rows: &[(i32, Value)], extra: Counts) -> Result<Counts, SyncError> {
        let doc = serde_json::to_string(&rows.iter().map(|(_, v)| v).collect::<Vec<_>>()).expect("JSON values serialize");
        let (first, last) = (rows[0].0, rows[rows.len() - 1].0);
        let (run_id, model, queue) = (self.run_id, self.conf.model.as_str(), self.queue_in_use);
        let upsert = &self.upsert;
        self.db.txn(|| {
            // A page need not wait for its WAL flush: the run's last transaction, which moves the
            // cursor, commits synchronously, and WAL is flushed in order, so once the cursor is
            // durable every page before it is too. A crash loses at most pages the next run redoes.
            Spi::run("SET LOCAL synchronous_commit TO off")?;
            let (counts, live) = upsert.apply(&doc, run_id).map_err(|e| e.context(format!("{model}: writing a page (ids {first} to {last})")))?;
            let mut logged = counts;
            logged.add(&extra);
            RunLog::add(run_id, &logged)?;
            ModelState::add_live(model, live)?;
            if queue {
                RetryQueue::remove(model, &rows.iter().map(|(id, _)| *id).collect::<Vec<_>>())?;
            }
            Ok(counts)
        })
    }

    /// Queue the records that could not be stored, and count the page.
    fn queue_failures(&mut self, failures: &[(i32, SyncError)], write_dates: &std::collections::BTreeMap<i32, Option<OdooTime>>, page: Counts) -> Result<(), SyncError> {
        let (run_id, model) = (self.run_id, self.conf.model.as_str());
        let states: Vec<String> = failures.iter().map(|(_, e)| e.sqlstate.to_string()).collect();
        let queued: Vec<Queued> = failures
            .iter()
            .zip(&states)
            .map(|((id, e), s)| Queued { id: *id, sqlstate: s, error: &e.message, write_date: write_dates.get(id).copied().flatten() })
            .collect();
        self.db.txn(|| {
            RunLog::add(run_id, &Counts { failed: failures.len() as i64, ..page })?;
            RetryQueue::put(model, run_id, &queued)
        })?;
        if !failures.is_empty() {
            self.queue_in_use = true;
            let shown: Vec<String> = failures.iter().take(5).map(|(id, e)| format!("{id}: {}", e.message)).collect();
            warning!(
                "scrap_sga: {} record(s) of {} could not be stored and wait for a retry in scrap_sga.failed_record ({})",
                failures.len(),
                model,
                shown.join("; ")
            );
        }
        Ok(())
    }

    /// A record Odoo could not serve even alone (an answer over `max_response_mb`, too slow for
    /// `read_timeout` or for Odoo's own time limit, cut): it waits in the retry queue, and the
    /// rest of the model goes on.
    pub fn set_aside(&mut self, id: i32, error: &OdooError) -> Result<(), SyncError> {
        let e = SyncError::from_odoo(error);
        let why = format!("record {id} could not be fetched even alone: {}", e.message);
        let (run_id, model, sqlstate) = (self.run_id, self.conf.model.as_str(), e.sqlstate.to_string());
        self.db.txn(|| {
            RunLog::add(run_id, &Counts { parked: 1, ..Default::default() })?;
            RetryQueue::put(model, run_id, &[Queued { id, sqlstate: &sqlstate, error: &why, write_date: None }])
        })?;
        self.done.parked += 1;
        self.queue_in_use = true;
        warning!("scrap_sga: {model}: {why}; it waits for a retry in scrap_sga.failed_record, the rest goes on");
        Ok(())
    }

    /// Soft-delete the rows `condition` selects (SQL on the table's columns, with the `n_args`
    /// values `args` makes as $1, $2, ...), stamp them with this run, and count them. `args` runs
    /// inside the transaction: a datum such as an array is allocated in the transaction's
    /// memory, which does not exist before it starts.
    pub fn soft_delete<'d>(&mut self, condition: &str, n_args: usize, args: impl FnOnce() -> Vec<pgrx::datum::DatumWithOid<'d>>) -> Result<i64, SyncError> {
        let (run_id, model) = (self.run_id, self.conf.model.as_str());
        let sql = format!(
            "WITH d AS (UPDATE {} SET {COL_DELETED_AT} = now(), {COL_SYNCED_AT} = now(), {COL_RUN_ID} = ${}
                        WHERE {COL_DELETED_AT} IS NULL AND ({condition}) RETURNING id)
             SELECT count(*), coalesce(sum(id), 0)::bigint FROM d",
            self.table,
            n_args + 1
        );
        let deleted = self.db.txn(|| {
            let mut args = args();
            args.push(run_id.into());
            let (n, id_sum) = Spi::get_two_with_args::<i64, i64>(&sql, &args)?;
            let (n, id_sum) = (n.unwrap_or(0), id_sum.unwrap_or(0));
            RunLog::add(run_id, &Counts { deleted: n, ..Default::default() })?;
            ModelState::add_live(model, Live { rows: -n, id_sum: -id_sum })?;
            Ok(n)
        })?;
        self.done.deleted += deleted;
        Ok(deleted)
    }
}
