//! Writing one page: a single set-based statement per page.
//!
//! The page travels as one JSON document, `json_to_recordset` turns it into rows, and one
//! `INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE <row differs>` writes it. A row whose values
//! did not change is left alone, so an unchanged record costs neither a new row version nor WAL.
use pgrx::prelude::*;
use scrap_sga_core::ident::quote;
use scrap_sga_core::mapping::{ModelPlan, COL_DELETED_AT, COL_RUN_ID, COL_SYNCED_AT};

use crate::errors::SyncError;

pub struct Upsert {
    sql: String,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct PageCounts {
    pub inserted: i64,
    pub updated: i64,
    pub restored: i64,
}

/// A page as rows: `SELECT <typed columns> FROM json_to_recordset($1::json) AS r(<inputs>)`,
/// and the quoted column names, `id` first.
fn page_source(plan: &ModelPlan) -> (String, Vec<String>) {
    let cols: Vec<_> = plan.columns().collect();
    let names: Vec<String> = cols.iter().map(|c| quote(&c.name)).collect();
    let inputs: Vec<String> = cols.iter().map(|c| format!("{} {}", quote(&c.name), c.input_type())).collect();
    let exprs: Vec<String> = cols.iter().map(|c| format!("{} AS {}", c.select_expr("r"), quote(&c.name))).collect();
    (format!("SELECT {} FROM json_to_recordset($1::json) AS r({})", exprs.join(", "), inputs.join(", ")), names)
}

impl Upsert {
    pub fn new(schema: &str, table: &str, plan: &ModelPlan) -> Upsert {
        let t = format!("{}.{}", quote(schema), quote(table));
        let (source, names) = page_source(plan);
        let data: Vec<&String> = names.iter().filter(|n| n.as_str() != "\"id\"").collect();
        let set_cols: Vec<String> = data.iter().map(|n| n.to_string()).collect();
        let set_vals: Vec<String> = data.iter().map(|n| format!("EXCLUDED.{n}")).collect();
        let old_vals: Vec<String> = data.iter().map(|n| format!("t.{n}")).collect();
        let src_vals: Vec<String> = data.iter().map(|n| format!("src.{n}")).collect();
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
             SELECT count(*) FILTER (WHERE NOT existed), count(*) FILTER (WHERE existed AND NOT was_deleted), count(*) FILTER (WHERE was_deleted)
             FROM changed WHERE id IN (SELECT id FROM up)",
            names = names.join(", "),
            changed_names = names.iter().map(|n| format!("changed.{n}")).collect::<Vec<_>>().join(", "),
            set_cols = set_cols.join(", "),
            set_vals = set_vals.join(", "),
            old_vals = old_vals.join(", "),
            src_vals = src_vals.join(", "),
        );
        Upsert { sql }
    }

    /// `page_json` is a JSON array of converted records, ids unique.
    pub fn apply(&self, page_json: &str, run_id: i64) -> Result<PageCounts, SyncError> {
        Spi::connect_mut(|c| {
            let t = c.update(self.sql.as_str(), None, &[page_json.into(), run_id.into()])?;
            let row = t.first();
            Ok(PageCounts {
                inserted: row.get::<i64>(1)?.unwrap_or(0),
                updated: row.get::<i64>(2)?.unwrap_or(0),
                restored: row.get::<i64>(3)?.unwrap_or(0),
            })
        })
    }
}

/// Updating some columns of rows that exist, from a page that has only those fields (the
/// computed fields a DBA opted in, refreshed on their own schedule). Rows Odoo did not send, or
/// whose values did not change, are left alone; nothing is inserted.
pub struct Refresh {
    sql: String,
}

impl Refresh {
    /// `plan`: `id` and the fields to refresh.
    pub fn new(schema: &str, table: &str, plan: &ModelPlan) -> Refresh {
        let t = format!("{}.{}", quote(schema), quote(table));
        let (source, names) = page_source(plan);
        let data: Vec<&String> = names.iter().filter(|n| n.as_str() != "\"id\"").collect();
        let cols = data.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
        let src_vals = data.iter().map(|n| format!("src.{n}")).collect::<Vec<_>>().join(", ");
        let old_vals = data.iter().map(|n| format!("t.{n}")).collect::<Vec<_>>().join(", ");
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
