//! scrap_sga's own tables. Each has one owner here, the only code that writes it (as pg_cron's
//! `job_metadata.c` owns its metadata):
//!
//! * [`models`]: `scrap_sga.model` as the engine reads it (settings and state);
//! * [`model_state`]: what runs leave in `scrap_sga.model` (cursor, window, live rows, batches);
//! * [`fields`]: `scrap_sga.model_field`, the fields Odoo reported and what became of each;
//! * [`run_log`]: `scrap_sga.sync_run`, the run log;
//! * [`retry_queue`]: `scrap_sga.failed_record`, the records waiting for a retry;
//! * [`full_pass`]: `scrap_sga.full_pass` and `full_pass_range`, a full pass under way;
//! * [`connection`]: `scrap_sga.connection`, the Odoo server and what is known of it;
//! * [`worker_state`]: `scrap_sga.worker_state`, what the scheduler is doing.
//!
//! Every function runs inside a transaction opened by its caller (`txn::in_transaction`). The
//! mirror tables are not here: they are the engine's (`engine::schema`, `engine::mirror`).
//!
//! The second writers, all in SQL and all the DBA's or the retention's:
//!
//! * `scrap_sga.model`: the DBA's settings (`UPDATE`, `add_model()`, and the first
//!   `set_connection()`, which registers the two dimagaz models, in sql/api.sql); and
//!   `copy_computed_field()` and `exclude_field()` (sql/api.sql), which clear
//!   `schema_checked_at` so that the next run plans the model again;
//! * `scrap_sga.model_field`: `copy_computed_field()` and `exclude_field()` set the DBA's choice
//!   on a field (`copy_computed`, `excluded`);
//! * `scrap_sga.connection`: `set_connection()` writes the row and forgets what was found out;
//! * `scrap_sga.sync_run`: `prune_runs()` (sql/audit.sql) deletes runs past their retention;
//! * `scrap_sga.audit_log` has no owner here: the mirror tables' triggers write it
//!   (`audit_insert` in sql/audit.sql, `audit_update` in `crate::audit`) and `prune_audit()`
//!   deletes what is past its retention.
pub mod connection;
pub mod fields;
pub mod full_pass;
pub mod model_state;
pub mod models;
pub mod retry_queue;
pub mod run_log;
pub mod worker_state;

pub use models::ModelConf;
