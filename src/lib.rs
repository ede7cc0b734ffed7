//! scrap_sga: mirror Odoo models into PostgreSQL tables, from inside the database.
//!
//! * `settings`: server settings (GUCs).
//! * `catalog`: the extension's own tables (connection, models, fields, run log).
//! * `engine`: plans a model's columns and applies pages of records.
//! * `launcher`: runs the engine in a background worker for `scrap_sga.sync()`.
//! * `txn`: transactions that can fail without ending the worker.
//!
//! The Odoo client and the field mapping live in the `scrap_sga_core` crate: they know nothing
//! of Postgres and are tested on their own.
use pgrx::prelude::*;

mod catalog;
mod engine;
mod errors;
mod launcher;
mod settings;
mod txn;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/catalog.sql", name = "catalog", bootstrap);
extension_sql_file!("../sql/api.sql", name = "api", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::define();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn catalog_registers_the_two_models() {
        let n = Spi::get_one::<i64>("SELECT count(*) FROM scrap_sga.model WHERE model IN ('dimagaz.bc', 'dimagaz.bc.line')").unwrap();
        assert_eq!(n, Some(2));
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
