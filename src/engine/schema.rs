//! Keep a mirror table's columns in step with the plan: create it, add columns for new fields.
//! Nothing is ever dropped: a field that disappears from Odoo keeps its column and its data.
use pgrx::prelude::*;
use scrap_sga_core::ident::{literal, quote};
use scrap_sga_core::mapping::{self, ModelPlan};
use std::collections::BTreeMap;

use crate::catalog::ModelConf;
use crate::errors::{state, SyncError};

fn existing_columns(conf: &ModelConf) -> Result<Option<BTreeMap<String, String>>, SyncError> {
    Spi::connect(|c| {
        let t = c.select(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
             FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = k.oid AND a.attnum > 0 AND NOT a.attisdropped
             WHERE n.nspname = $1 AND k.relname = $2",
            None,
            &[conf.table_schema.as_str().into(), conf.table_name.as_str().into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let mut cols = BTreeMap::new();
        for r in t {
            if let Some(name) = r.get::<String>(1)? {
                cols.insert(name, r.get::<String>(2)?.unwrap_or_default());
            }
        }
        Ok(Some(cols))
    })
}

/// Create or extend the table. Returns the schema changes made, for the run log.
pub fn ensure_table(conf: &ModelConf, plan: &ModelPlan, synced_tables: &BTreeMap<String, String>) -> Result<Vec<String>, SyncError> {
    let table = format!("{}.{}", quote(&conf.table_schema), quote(&conf.table_name));
    let mut changes = Vec::new();
    let mut ddl = Vec::new();
    match existing_columns(conf)? {
        None => {
            ddl.push(mapping::create_table_sql(&conf.table_schema, &conf.table_name, plan));
            ddl.push(format!(
                "COMMENT ON TABLE {table} IS {}",
                literal(&format!("Mirror of the Odoo model {} kept by the scrap_sga extension. Do not write to it: the next sync would overwrite the change.", conf.model))
            ));
            // Soft-deleted rows are few; this keeps "is it deleted?" checks cheap.
            ddl.push(format!(
                "CREATE INDEX {} ON {table} (id) WHERE sga_deleted_at IS NOT NULL",
                quote(&format!("{}_sga_deleted_idx", conf.table_name))
            ));
            if plan.has_field("write_date") {
                ddl.push(format!("CREATE INDEX {} ON {table} (write_date)", quote(&format!("{}_write_date_idx", conf.table_name))));
            }
            changes.push(format!("created table {}.{}", conf.table_schema, conf.table_name));
            // A many2one to another mirrored model is how Django joins them (lines of an order).
            for f in &plan.fields {
                if f.ftype == "many2one" && f.relation.as_ref().is_some_and(|r| synced_tables.contains_key(r)) {
                    ddl.push(format!("CREATE INDEX {} ON {table} ({})", quote(&format!("{}_{}_idx", conf.table_name, f.field)), quote(&f.field)));
                }
            }
        }
        Some(existing) => {
            for c in plan.columns() {
                match existing.get(&c.name) {
                    None => {
                        ddl.push(format!("ALTER TABLE {table} ADD COLUMN {} {}", quote(&c.name), c.pg_type));
                        changes.push(format!("added column {} {}", c.name, c.pg_type));
                    }
                    Some(t) if !same_type(t, c.pg_type) => {
                        return Err(SyncError::new(
                            state::DATA_EXCEPTION,
                            format!(
                                "column {} of {}.{} is {t} but Odoo's field now maps to {}; rename the column to keep its data, and the next sync recreates it",
                                c.name, conf.table_schema, conf.table_name, c.pg_type
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Spi::connect_mut(|c| -> Result<(), SyncError> {
        for stmt in &ddl {
            c.update(stmt.as_str(), None, &[])?;
        }
        Ok(())
    })?;
    Ok(changes)
}

fn same_type(existing: &str, wanted: &str) -> bool {
    existing == wanted || (existing == "timestamp with time zone" && wanted == "timestamptz")
}
