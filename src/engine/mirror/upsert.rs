//! The statements that write a page to a mirror table, built once per plan: `Upsert` for whole
//! records, `Refresh` for some columns of existing rows. A page travels as one JSON document and
//! `json_to_recordset` turns it into typed rows. (Which pages to write, and what to do when one
//! fails, is `pages`'.)
use pgrx::prelude::*;
use scrap_sga_core::ident::quote;
use scrap_sga_core::mapping::{ModelPlan, COL_DELETED_AT, COL_RUN_ID, COL_SYNCED_AT};

use crate::catalog::model_state::Live;
use crate::catalog::run_log::Counts;
use crate::errors::{state, SyncError};
use crate::listing::json_arg;

/// A page as rows: `SELECT <typed columns> FROM json_to_recordset($1::json) AS r(<inputs>)`,
/// and the quoted column names, `id` first.
struct PageColumns {
    source: String,
    names: Vec<String>,
}

impl PageColumns {
    fn of(plan: &ModelPlan) -> PageColumns {
        let cols: Vec<_> = plan.columns().collect();
        let names: Vec<String> = cols.iter().map(|c| quote(&c.name)).collect();
        let inputs: Vec<String> = cols.iter().map(|c| format!("{} {}", quote(&c.name), c.input_type())).collect();
        let exprs: Vec<String> = cols.iter().map(|c| format!("{} AS {}", c.select_expr("r"), quote(&c.name))).collect();
        PageColumns { source: format!("SELECT {} FROM json_to_recordset($1::json) AS r({})", exprs.join(", "), inputs.join(", ")), names }
    }

    /// The columns other than `id`, each written by `f`, joined with commas.
    fn data(&self, f: impl Fn(&str) -> String) -> String {
        self.names.iter().filter(|n| n.as_str() != "\"id\"").map(|n| f(n)).collect::<Vec<_>>().join(", ")
    }
}

/// What the comparison adds to a page's columns, named with the prefix no Odoo field may use
/// (`mapping::META_PREFIX`): the mirror row's ctid, whether it existed, whether it was soft-deleted.
const CTID: &str = "sga_ctid";
const EXISTED: &str = "sga_existed";
const WAS_DELETED: &str = "sga_was_deleted";

/// The statement that writes a page: inserts new rows, updates changed ones, restores
/// soft-deleted ones; returns how many of each.
pub struct Upsert {
    sql: String,
    /// For a table the run created: the rows inserted, with no comparison (nothing to compare
    /// with). Should a row be there after all (inserted by hand), it fails its record (23505),
    /// which waits in the retry queue, as with `sql`.
    insert_sql: String,
}

impl Upsert {
    pub fn new(table: &str, plan: &ModelPlan) -> Upsert {
        let t = table;
        let page = PageColumns::of(plan);
        let (source, names) = (&page.source, &page.names);
        // Unchanged rows are filtered out first: ON CONFLICT DO UPDATE locks every conflicting
        // row even when its WHERE is false, and a lock dirties the page and writes WAL. The rows
        // that exist are then updated where the comparison found them (their ctid: a TID scan),
        // not through ON CONFLICT, which would look each one up in the index again and take a
        // row lock before the update. Only the model's run writes its rows (under the model's
        // lock); should another session update one of them by hand meanwhile, the row has moved
        // and is not written: the statement says how many rows it missed, and `apply` fails the
        // page rather than lose them. New rows are inserted plainly: a speculative insertion
        // (ON CONFLICT) cost 7% of a first copy's page writes (perf, issue 33), for a conflict
        // only a row inserted by hand meanwhile could make; that one fails its record (23505),
        // which waits in the retry queue, and its retry updates the row.
        let sql = format!(
            "WITH src AS (
                {source}
             ), changed AS (
                SELECT src.*, t.ctid AS {CTID}, t.id IS NOT NULL AS {EXISTED}, t.{COL_DELETED_AT} IS NOT NULL AS {WAS_DELETED}
                FROM src LEFT JOIN {t} t ON t.id = src.id
                WHERE t.id IS NULL OR t.{COL_DELETED_AT} IS NOT NULL OR ({old_vals}) IS DISTINCT FROM ({src_vals})
             ), up AS (
                UPDATE {t} AS t SET ({set_cols}, {COL_SYNCED_AT}, {COL_RUN_ID}, {COL_DELETED_AT}) = ROW({changed_set_vals}, now(), $2, NULL)
                FROM changed WHERE changed.{EXISTED} AND t.ctid = changed.{CTID} AND t.id = changed.id
                RETURNING t.id
             ), ins AS (
                INSERT INTO {t} AS t ({names}, {COL_SYNCED_AT}, {COL_RUN_ID}, {COL_DELETED_AT})
                SELECT {changed_names}, now(), $2, NULL FROM changed WHERE NOT changed.{EXISTED}
                RETURNING t.id
             )
             SELECT count(*) FILTER (WHERE NOT {EXISTED}), count(*) FILTER (WHERE {EXISTED} AND NOT {WAS_DELETED}), count(*) FILTER (WHERE {WAS_DELETED}),
                    coalesce(sum(id) FILTER (WHERE NOT {EXISTED} OR {WAS_DELETED}), 0)::bigint,
                    (SELECT count(*) FROM changed WHERE {EXISTED}) - (SELECT count(*) FROM up)
             FROM changed WHERE id IN (SELECT id FROM up UNION ALL SELECT id FROM ins)",
            names = names.join(", "),
            changed_names = names.iter().map(|n| format!("changed.{n}")).collect::<Vec<_>>().join(", "),
            changed_set_vals = page.data(|n| format!("changed.{n}")),
            set_cols = page.data(|n| n.to_string()),
            old_vals = page.data(|n| format!("t.{n}")),
            src_vals = page.data(|n| format!("src.{n}")),
        );
        let insert_sql = format!(
            "WITH ins AS (
                INSERT INTO {t} ({names}, {COL_SYNCED_AT}, {COL_RUN_ID}, {COL_DELETED_AT})
                SELECT *, now(), $2, NULL::timestamptz FROM ({source}) AS src
                RETURNING id
             )
             SELECT count(*), 0::bigint, 0::bigint, coalesce(sum(id), 0)::bigint, 0::bigint FROM ins",
            names = names.join(", "),
        );
        Upsert { sql, insert_sql }
    }

    /// `page_json` is a JSON array of converted records, ids unique. Returns the counts, and
    /// what the page added to the live rows (inserted and restored, with their ids' sum).
    /// `fresh`: the table was empty when the run began to fill it (it created it).
    pub fn apply(&self, page_json: &str, run_id: i64, fresh: bool) -> Result<(Counts, Live), SyncError> {
        let sql = if fresh { &self.insert_sql } else { &self.sql };
        Spi::connect_mut(|c| {
            let t = c.update(sql.as_str(), None, &[json_arg(page_json), run_id.into()])?;
            let row = t.first();
            let missed = row.get::<i64>(5)?.unwrap_or(0);
            if missed > 0 {
                return Err(SyncError::new(
                    state::SERIALIZATION_FAILURE,
                    format!("{missed} row(s) of the page changed in another session while it was written; the page is not kept, and the next run writes it again"),
                ));
            }
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
    /// The plan restricted to `id` and the refreshed fields.
    plan: ModelPlan,
}

impl Refresh {
    pub fn new(table: &str, plan: ModelPlan) -> Refresh {
        let t = table;
        let page = PageColumns::of(&plan);
        let source = &page.source;
        let (cols, src_vals, old_vals) = (page.data(|n| n.to_string()), page.data(|n| format!("src.{n}")), page.data(|n| format!("t.{n}")));
        let sql = format!(
            "WITH src AS ({source}), up AS (
                UPDATE {t} AS t SET ({cols}, {COL_SYNCED_AT}, {COL_RUN_ID}) = ROW({src_vals}, now(), $2)
                FROM src WHERE t.id = src.id AND t.{COL_DELETED_AT} IS NULL AND ROW({old_vals}) IS DISTINCT FROM ROW({src_vals})
                RETURNING 1
             ) SELECT count(*) FROM up"
        );
        Refresh { sql, plan }
    }

    /// The fields a page for it carries.
    pub fn plan(&self) -> &ModelPlan {
        &self.plan
    }

    /// Returns how many rows changed.
    pub fn apply(&self, page_json: &str, run_id: i64) -> Result<i64, SyncError> {
        Ok(Spi::get_one_with_args::<i64>(&self.sql, &[json_arg(page_json), run_id.into()])?.unwrap_or(0))
    }
}
