//! The mirror tables' DDL, all of it: create a table, add columns for new fields, change a
//! column's type, its indexes, grants and audit triggers. Nothing is ever dropped: a field that
//! disappears from Odoo keeps its column and its data.
use pgrx::prelude::*;
use scrap_sga_core::ident::{literal, quote};
use scrap_sga_core::mapping::{self, ModelPlan, COL_DELETED_AT, COL_RUN_ID, COL_SYNCED_AT};
use std::collections::BTreeMap;

use crate::catalog::model_state::{Live, ModelState};
use crate::catalog::ModelConf;
use crate::errors::SyncError;

/// `CREATE TABLE` for a mirror table: the plan's columns, `id` the primary key, and scrap_sga's
/// own columns last. Every identifier is quoted.
pub fn create_table_sql(table: &str, plan: &ModelPlan) -> String {
    let mut cols: Vec<String> = plan
        .columns()
        .map(|c| if c.name == "id" { "\"id\" integer PRIMARY KEY".to_owned() } else { format!("{} {}", quote(&c.name), c.pg_type) })
        .collect();
    cols.push(format!("{COL_SYNCED_AT} timestamptz NOT NULL DEFAULT now()"));
    cols.push(format!("{COL_RUN_ID} bigint"));
    cols.push(format!("{COL_DELETED_AT} timestamptz"));
    format!("CREATE TABLE IF NOT EXISTS {table} (\n  {}\n)", cols.join(",\n  "))
}

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

pub struct TableOutcome {
    pub changes: Vec<String>,
    pub created: bool,
    /// Columns were added: every record must be read again to fill them.
    pub needs_full_pass: bool,
}

/// Create or extend the table and set its audit triggers. Returns the changes, for the run log.
pub fn ensure_table(conf: &ModelConf, plan: &ModelPlan, mirrored: &std::collections::BTreeSet<String>) -> Result<TableOutcome, SyncError> {
    let table = conf.table();
    let mut changes = Vec::new();
    let mut ddl = Vec::new();
    let mut created = false;
    let mut needs_full_pass = false;
    let existing = existing_columns(conf)?;
    match &existing {
        None => {
            ddl.push(create_table_sql(&table, plan));
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
            created = true;
        }
        Some(existing) => {
            for c in plan.columns() {
                // A change Postgres can make without losing a value (amounts that were double
                // precision before 0.3.0 and are numeric now): the column keeps its name, and each
                // value becomes the decimal a fresh read would give. (A view on the column would
                // make the ALTER fail at every run: such a column takes the last path instead.)
                let in_place = match existing.get(&c.name).filter(|t| !same_type(t, c.pg_type)).and_then(|t| converts_in_place(t, c.pg_type)) {
                    Some(using) if !used_by_views(&table, &c.name)? => Some(using),
                    _ => None,
                };
                match (existing.get(&c.name), in_place) {
                    (None, _) => {
                        ddl.push(format!("ALTER TABLE {table} ADD COLUMN {} {}", quote(&c.name), c.pg_type));
                        changes.push(format!("added column {} {}", c.name, c.pg_type));
                        needs_full_pass = true;
                    }
                    (Some(t), _) if same_type(t, c.pg_type) => {}
                    (Some(t), Some(using)) => {
                        let using = using.replace("{}", &quote(&c.name));
                        ddl.push("SET LOCAL extra_float_digits TO 1".into());
                        ddl.push(format!("ALTER TABLE {table} ALTER COLUMN {} TYPE {} USING {using}", quote(&c.name), c.pg_type));
                        changes.push(format!("column {} converted from {t} to {} in place (every value kept)", c.name, c.pg_type));
                    }
                    (Some(t), None) => {
                        // The field's type changed in Odoo. Its old values are kept under a name in
                        // scrap_sga's reserved prefix, and a fresh column takes the new type.
                        let kept = free_name(existing, &format!("{}old_{}", mapping::META_PREFIX, c.name));
                        ddl.push(format!("ALTER TABLE {table} RENAME COLUMN {} TO {}", quote(&c.name), quote(&kept)));
                        ddl.push(format!("ALTER TABLE {table} ADD COLUMN {} {}", quote(&c.name), c.pg_type));
                        changes.push(format!("column {} changed type from {t} to {}: old values kept in {kept}", c.name, c.pg_type));
                        needs_full_pass = true;
                    }
                }
            }
        }
    }
    // A many2one to another mirrored model is how Django joins them (lines of an order): its
    // column is indexed, also when the model it points to is mirrored after the table was made.
    let indexed = if created { Default::default() } else { indexed_columns(conf)? };
    for f in &plan.fields {
        if f.ftype == "many2one" && f.relation.as_ref().is_some_and(|r| mirrored.contains(r)) && !indexed.contains(&f.field) {
            ddl.push(format!("CREATE INDEX IF NOT EXISTS {} ON {table} ({})", quote(&format!("{}_{}_idx", conf.table_name, f.field)), quote(&f.field)));
            if !created {
                changes.push(format!("index on {} for the joins to {}, now mirrored", f.field, f.relation.as_deref().unwrap_or_default()));
            }
        }
    }
    // Readers (Django) may read every mirror table, and nobody but its owner may write it.
    let (role, granted) = Spi::get_two_with_args::<bool, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'scrap_sga_reader'),
                EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'scrap_sga_reader')
                AND to_regclass($1) IS NOT NULL AND has_table_privilege('scrap_sga_reader', $1, 'SELECT')",
        &[table.as_str().into()],
    )?;
    if role.unwrap_or(false) && !granted.unwrap_or(false) {
        ddl.push(format!("GRANT SELECT ON {table} TO scrap_sga_reader"));
    }
    // Audit triggers: statement-level, with transition tables (see sql/audit.sql), enabled or
    // disabled as scrap_sga.model.audit says.
    let triggers = existing_triggers(conf)?;
    for (name, event, transition, func) in [
        ("scrap_sga_audit_insert", "INSERT", "NEW TABLE AS new_rows", "audit_insert"),
        ("scrap_sga_audit_update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows", "audit_update"),
    ] {
        if !triggers.contains_key(name) {
            ddl.push(format!(
                "CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION scrap_sga.{func}()"
            ));
        }
        if triggers.get(name).copied().unwrap_or(true) != conf.audit {
            ddl.push(format!("ALTER TABLE {table} {} TRIGGER {name}", if conf.audit { "ENABLE" } else { "DISABLE" }));
        }
    }
    Spi::connect_mut(|c| -> Result<(), SyncError> {
        for stmt in &ddl {
            c.update(stmt.as_str(), None, &[])?;
        }
        Ok(())
    })?;
    if created {
        // The kept count of live rows starts again with the table (see engine::deletions).
        ModelState::set_live(&conf.model, Live::default())?;
    }
    Ok(TableOutcome { changes, created, needs_full_pass })
}

/// `name`, or `name_2`, `name_3`... whichever the table does not have yet.
fn free_name(existing: &BTreeMap<String, String>, name: &str) -> String {
    let base: String = name.chars().take(scrap_sga_core::ident::MAX_IDENT_BYTES - 4).collect();
    let mut name = base.clone();
    for i in 2.. {
        if !existing.contains_key(&name) {
            break;
        }
        name = format!("{base}_{i}");
    }
    name
}

/// The table's columns that lead an index (the extension's, or one the DBA made).
fn indexed_columns(conf: &ModelConf) -> Result<std::collections::BTreeSet<String>, SyncError> {
    Spi::connect(|c| {
        let t = c.select(
            "SELECT a.attname::text
             FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class k ON k.oid = i.indrelid
             JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
             JOIN pg_catalog.pg_attribute a ON a.attrelid = k.oid AND a.attnum = i.indkey[0]
             WHERE n.nspname = $1 AND k.relname = $2 AND i.indpred IS NULL",
            None,
            &[conf.table_schema.as_str().into(), conf.table_name.as_str().into()],
        )?;
        let mut cols = std::collections::BTreeSet::new();
        for r in t {
            if let Some(name) = r.get::<String>(1)? {
                cols.insert(name);
            }
        }
        Ok(cols)
    })
}

/// The audit triggers present on the table, and whether each is enabled.
fn existing_triggers(conf: &ModelConf) -> Result<BTreeMap<String, bool>, SyncError> {
    Spi::connect(|c| {
        let t = c.select(
            "SELECT g.tgname::text, g.tgenabled <> 'D'
             FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class k ON k.oid = g.tgrelid
             JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
             WHERE n.nspname = $1 AND k.relname = $2 AND g.tgname LIKE 'scrap\\_sga\\_audit\\_%'",
            None,
            &[conf.table_schema.as_str().into(), conf.table_name.as_str().into()],
        )?;
        let mut out = BTreeMap::new();
        for r in t {
            out.insert(r.get::<String>(1)?.unwrap_or_default(), r.get::<bool>(2)?.unwrap_or(true));
        }
        Ok(out)
    })
}

/// Whether a view (or rule) reads the column: Postgres refuses to change the type of such a column.
fn used_by_views(table: &str, column: &str) -> Result<bool, SyncError> {
    Ok(Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                        WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refobjid = $1::regclass AND a.attname = $2)",
        &[table.into(), column.into()],
    )?
    .unwrap_or(false))
}

/// The conversion of a column from type `from` to `to` that keeps every value, as a USING
/// expression over `{}` (the column), where there is one. double precision to numeric goes
/// through text: a double's text is its shortest exact form (extra_float_digits = 1, the default
/// since PostgreSQL 12), the very number Odoo's JSON carries, whereas the direct cast rounds to
/// 15 digits.
fn converts_in_place(from: &str, to: &str) -> Option<&'static str> {
    match (from, to) {
        ("double precision", "numeric") => Some("{}::text::numeric"),
        _ => None,
    }
}

fn same_type(existing: &str, wanted: &str) -> bool {
    existing == wanted || (existing == "timestamp with time zone" && wanted == "timestamptz")
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrap_sga_core::mapping::{plan_model, Choices, OdooField};

    #[test]
    fn create_table_quotes_every_identifier() {
        let field = |name: &str, ftype: &str| OdooField { name: name.into(), ftype: ftype.into(), store: true, ..Default::default() };
        let plan = plan_model(&[field("id", "integer"), field("Weird_Name", "char")], &Choices::default()).unwrap();
        let sql = create_table_sql("\"public\".\"scrap_x\"", &plan);
        assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS \"public\".\"scrap_x\" ("), "{sql}");
        assert!(sql.contains("\"id\" integer PRIMARY KEY"));
        assert!(sql.contains("\"Weird_Name\" text"));
        assert!(sql.contains("sga_deleted_at timestamptz"));
    }
}
