//! scrap_sga's own tables. Each has one owner here, the only code that writes it (as pg_cron's
//! `job_metadata.c` owns its metadata):
//!
//! * [`models`]: `scrap_sga.model` as the engine reads it (settings and state);
//! * [`model_state`]: what runs leave in `scrap_sga.model` (cursor, window, live rows, batches);
//! * [`fields`]: `scrap_sga.model_field`, the fields Odoo reported and what became of each;
//! * [`run_log`]: `scrap_sga.sync_run`, the run log;
//! * [`retry_queue`]: `scrap_sga.failed_record`, the records waiting for a retry;
//! * [`connection`]: `scrap_sga.connection`, the Odoo server and what is known of it;
//! * [`worker_state`]: `scrap_sga.worker_state`, what the scheduler is doing.
//!
//! Every function runs inside a transaction opened by its caller (`txn::in_transaction`). The
//! mirror tables are not here: they are the engine's (`engine::schema`, `engine::pages`).
pub mod connection;
pub mod fields;
pub mod model_state;
pub mod models;
pub mod retry_queue;
pub mod run_log;
pub mod worker_state;

pub use models::ModelConf;
