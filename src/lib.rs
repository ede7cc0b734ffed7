//! scrap_sga: mirror Odoo models into PostgreSQL tables, from inside the database.
//!
//! * `settings`: server settings (GUCs).
//! * `audit`: the row audit's update trigger and its diff (sql/audit.sql).
//! * `catalog`: the extension's own tables, each with one owner (models and their state,
//!   fields, run log, retry queue, connection, the scheduler's state).
//! * `engine`: plans a model's columns, reads Odoo and writes the mirror tables.
//! * `scheduler`: the background worker that syncs every interval (shared_preload_libraries).
//! * `job_worker`: runs the engine in a background worker for `scrap_sga.sync()` and friends.
//! * `verify`: compares the mirror with Odoo.
//! * `budget`: the request budget shared by every process syncing a database.
//! * `interrupt`: being told to stop, in one place.
//! * `listing`: Odoo's `(id, write_date)` pairs as SQL reads them.
//! * `txn`: transactions that can fail without ending the worker.
//! * `values`: Odoo's ids and times as Postgres values, and back.
//! * `errors`: one error type, with the SQLSTATE each error is raised with.
//!
//! The Odoo client, the field mapping and the batch sizes live in the `scrap_sga_core` crate:
//! they know nothing of Postgres and are tested on their own.
use pgrx::prelude::*;

mod audit;
mod budget;
mod catalog;
mod engine;
mod errors;
mod interrupt;
mod job_worker;
mod listing;
mod scheduler;
mod settings;
mod txn;
mod values;
mod verify;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/catalog.sql", name = "catalog", bootstrap);
extension_sql_file!("../sql/audit.sql", name = "audit", requires = ["catalog"]);
extension_sql_file!("../sql/api.sql", name = "api", requires = ["audit"]);
extension_sql_file!("../sql/privileges.sql", name = "privileges", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::define();
    scheduler::register();
}

// Tests: an unwrap that fails is the test failing.
#[cfg(any(test, feature = "pg_test"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[pg_schema]
mod tests {
    use crate::engine::upsert::Upsert;
    use crate::engine::schema::create_table_sql;
    use crate::errors::{code_of, state, SqlState};
    use pgrx::prelude::*;
    use scrap_sga_core::mapping::{self, OdooField};

    fn field(name: &str, ftype: &str) -> OdooField {
        OdooField { name: name.into(), ftype: ftype.into(), store: true, ..Default::default() }
    }

    fn plan() -> mapping::ModelPlan {
        mapping::plan_model(&[
            field("id", "integer"),
            field("name", "char"),
            field("partner_id", "many2one"),
            field("when", "datetime"),
            field("tags", "many2many"),
            field("blob", "binary"),
            field("props", "properties"),
        ], &mapping::Choices::default())
        .unwrap()
    }

    fn page(plan: &mapping::ModelPlan, records: serde_json::Value) -> String {
        let rows: Vec<_> = records
            .as_array()
            .unwrap()
            .iter()
            .map(|r| serde_json::Value::Object(mapping::convert_record(plan, r.as_object().unwrap()).unwrap()))
            .collect();
        serde_json::to_string(&rows).unwrap()
    }

    #[pg_test]
    fn the_first_connection_registers_the_two_models_and_a_restored_catalog_keeps_its_own() {
        let models = || Spi::get_one::<String>("SELECT string_agg(model, ',' ORDER BY model) FROM scrap_sga.model").unwrap();
        assert_eq!(models(), None, "CREATE EXTENSION registers none: a restore of pg_dump would fail on them");
        Spi::run("SELECT scrap_sga.set_connection('http://127.0.0.1:9', 'db', secret => 'k')").unwrap();
        assert_eq!(models().as_deref(), Some("dimagaz.bc,dimagaz.bc.line"));
        // A restored catalog: the models the DBA kept (one removed, one added), its runs, and no
        // connection (left out of pg_dump). Given its connection again, it stays as it was.
        Spi::run("DELETE FROM scrap_sga.connection").unwrap();
        Spi::run("DELETE FROM scrap_sga.model WHERE model = 'dimagaz.bc.line'").unwrap();
        Spi::run("INSERT INTO scrap_sga.model (model, table_name) VALUES ('res.partner', 'scrap_res_partner')").unwrap();
        Spi::run("INSERT INTO scrap_sga.sync_run (invocation, model, trigger, status) VALUES (1, 'dimagaz.bc', 'worker', 'succeeded')").unwrap();
        Spi::run("SELECT scrap_sga.set_connection('http://127.0.0.1:9', 'db', secret => 'k')").unwrap();
        assert_eq!(models().as_deref(), Some("dimagaz.bc,res.partner"));
    }

    #[pg_test]
    fn a_record_failing_for_months_is_still_queued_a_day_apart() {
        use crate::catalog::retry_queue::{Queued, RetryQueue};
        let failed = |attempts: i32| {
            Spi::run(&format!("UPDATE scrap_sga.failed_record SET attempts = {attempts} WHERE model = 'dimagaz.bc' AND odoo_id = 7")).unwrap();
            let id = scrap_sga_core::ids::OdooId::from_column(7);
            RetryQueue::put("dimagaz.bc", 1, &[Queued { id, sqlstate: "22P02", error: "a value that never fits", write_date: None }]).unwrap();
            Spi::get_two::<i32, f64>(
                "SELECT attempts, extract(epoch FROM next_attempt_at - last_failed_at)::float8 FROM scrap_sga.failed_record WHERE model = 'dimagaz.bc' AND odoo_id = 7",
            )
            .unwrap()
        };
        assert_eq!(failed(1), (Some(1), Some(60.0)));
        assert_eq!(failed(1), (Some(2), Some(120.0)));
        assert_eq!(failed(10), (Some(11), Some(61_440.0)));
        for attempts in [11, 37, 38, 400, i32::MAX - 1] {
            assert_eq!(failed(attempts), (Some(attempts + 1), Some(86_400.0)), "after {attempts} attempts");
        }
    }

    #[pg_test]
    fn a_run_left_running_by_this_process_is_failed_by_its_next_run() {
        use crate::catalog::run_log::{RunLog, Trigger};
        Spi::run("INSERT INTO scrap_sga.sync_run (invocation, model, trigger, backend_pid) VALUES (1, 'x.y', 'worker', pg_backend_pid())").unwrap();
        let run = RunLog::start(2, "x.y", Trigger::Worker, None).unwrap();
        let left = Spi::get_two::<String, String>("SELECT status, error FROM scrap_sga.sync_run WHERE model = 'x.y' AND invocation = 1").unwrap();
        assert_eq!(left.0.as_deref(), Some("failed"));
        assert!(left.1.unwrap().contains("its end could not be recorded"));
        assert_eq!(Spi::get_one::<String>(&format!("SELECT status FROM scrap_sga.sync_run WHERE run_id = {run}")).unwrap().as_deref(), Some("running"));
    }

    #[pg_test]
    fn sqlstates_round_trip() {
        for s in ["28P01", "08001", "38000", "55000", "22023", "XX000", "57P01", "23505", "3D000", "F0000"] {
            assert_eq!(SqlState::from_code(code_of(SqlState::new(s)) as i32).as_str(), s);
        }
        assert_eq!(code_of(state::INVALID_PASSWORD), PgSqlErrorCode::ERRCODE_INVALID_PASSWORD);
        assert_eq!(SqlState::from_code(PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION as i32).class(), "23");
    }

    #[pg_test]
    fn a_page_is_upserted_once_and_unchanged_rows_are_left_alone() {
        let plan = plan();
        Spi::run(&create_table_sql("public.t_apply", &plan)).unwrap();
        let up = Upsert::new("public.t_apply", &plan);
        let first = page(&plan, serde_json::json!([
            {"id": 1, "name": "a", "partner_id": [7, "Seven"], "when": "2026-01-02 03:04:05", "tags": [1, 2], "blob": "aGk=", "props": false},
            {"id": 2, "name": false, "partner_id": false, "when": false, "tags": [], "blob": false, "props": [{"name": "x", "value": 1}]}
        ]));
        let (c, live) = up.apply(&first, 10, false).unwrap();
        assert_eq!((c.inserted, c.updated, c.restored), (2, 0, 0));
        assert_eq!((live.rows, live.id_sum), (2, 3), "ids 1 and 2 became live");
        let (c, _) = up.apply(&first, 11, false).unwrap();
        assert_eq!((c.inserted, c.updated, c.restored), (0, 0, 0), "the same page again changes nothing");
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM t_apply WHERE sga_run_id = 11").unwrap(), Some(0));

        let second = page(&plan, serde_json::json!([
            {"id": 1, "name": "b", "partner_id": [7, "Seven"], "when": "2026-01-02 03:04:05", "tags": [1, 2], "blob": "aGk=", "props": false},
            {"id": 3, "name": "c", "partner_id": false, "when": false, "tags": [], "blob": false, "props": false}
        ]));
        let (c, live) = up.apply(&second, 12, false).unwrap();
        assert_eq!((c.inserted, c.updated, c.restored), (1, 1, 0));
        assert_eq!((live.rows, live.id_sum), (1, 3), "id 3 inserted, id 1 only updated");

        Spi::run("UPDATE t_apply SET sga_deleted_at = now() WHERE id = 2").unwrap();
        let (c, live) = up.apply(&first, 13, false).unwrap();
        assert_eq!((c.inserted, c.updated, c.restored), (0, 1, 1), "id 1 goes back to 'a', id 2 is restored");
        assert_eq!((live.rows, live.id_sum), (1, 2), "id 2 is live again");

        let row = Spi::get_one::<String>(
            "SELECT concat_ws('|', partner_id, partner_id_display, \"when\" AT TIME ZONE 'UTC', tags, encode(blob, 'escape'), sga_deleted_at) FROM t_apply WHERE id = 1",
        )
        .unwrap();
        assert_eq!(row.as_deref(), Some("7|Seven|2026-01-02 03:04:05|{1,2}|hi"));
        let empty = Spi::get_one::<String>("SELECT concat_ws('|', name IS NULL, tags, props->0->>'name') FROM t_apply WHERE id = 2").unwrap();
        assert_eq!(empty.as_deref(), Some("t|{}|x"));

        // A table the run created: rows inserted without comparison, the same values; a row
        // that is there after all fails its page, as a record error (23505).
        Spi::run(&create_table_sql("public.t_fresh", &plan)).unwrap();
        let fresh = Upsert::new("public.t_fresh", &plan);
        let (c, live) = fresh.apply(&first, 20, true).unwrap();
        assert_eq!((c.inserted, c.updated, c.restored, live.rows, live.id_sum), (2, 0, 0, 2, 3));
        let same = Spi::get_one::<bool>(
            "SELECT (SELECT array_agg(to_jsonb(t) - 'sga_synced_at' - 'sga_run_id' ORDER BY id) FROM t_fresh t)
                  = (SELECT array_agg(to_jsonb(t) - 'sga_synced_at' - 'sga_run_id' ORDER BY id) FROM t_apply t WHERE sga_run_id IN (10, 13))",
        )
        .unwrap();
        assert_eq!(same, Some(true), "inserted as the upsert writes them");
        // Its ERROR is caught in a subtransaction, as a page's transaction catches it.
        let again = crate::txn::in_subtransaction(|| fresh.apply(&first, 21, true).map(|_| ()));
        let e = again.expect_err("a row already there is not inserted twice");
        assert_eq!(e.sqlstate.as_str(), "23505", "{}", e.message);
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM t_fresh").unwrap(), Some(2), "the failed insert left nothing");
    }

    #[pg_test]
    fn a_page_newer_than_the_mirror_reads_the_same_ids_in_rust_as_in_sql() {
        use crate::catalog::retry_queue::RetryQueue;
        use crate::listing::{json_arg, to_read_sql, Listed};
        use crate::values::timestamptz;
        use scrap_sga_core::odoo::time::OdooTime;
        let plan = mapping::plan_model(&[field("id", "integer"), field("write_date", "datetime")], &mapping::Choices::default()).unwrap();
        Spi::run(&create_table_sql("public.t_pairs", &plan)).unwrap();
        // Ids 1 to 5 written a second apart from 10:00:01; id 4 soft-deleted.
        Spi::run(
            "INSERT INTO t_pairs (id, write_date, sga_deleted_at)
             SELECT i, '2026-01-01 10:00:00+00'::timestamptz + make_interval(secs => i), CASE WHEN i = 4 THEN now() END FROM generate_series(1, 5) i",
        )
        .unwrap();
        let sql = to_read_sql("public.t_pairs", &RetryQueue::waiting_sql("x.y", "o.id", "o.write_date"));
        let newest = Spi::get_one::<pgrx::datum::TimestampWithTimeZone>("SELECT max(write_date) FROM ONLY t_pairs").unwrap();
        let recheck = timestamptz(OdooTime::parse("2026-01-01 10:00:00"));
        let pages = [
            // Every pair newer than the mirror: rows it has (one soft-deleted) and new ones.
            (serde_json::json!([[9, "2026-01-01 11:00:00"], [2, "2026-01-01 10:00:06"], [4, "2026-01-01 10:30:00"], [7, "2026-01-01 10:00:06"]]), true),
            // One pair as old as the mirror's newest row: that row may be its record.
            (serde_json::json!([[2, "2026-01-01 10:00:02"], [3, "2026-01-01 10:00:09"], [5, "2026-01-01 10:00:05"]]), false),
        ];
        for (pairs, all_newer) in pages {
            let records: Vec<serde_json::Map<String, serde_json::Value>> = pairs
                .as_array()
                .unwrap()
                .iter()
                .map(|p| serde_json::json!({"id": p[0], "write_date": p[1]}).as_object().unwrap().clone())
                .collect();
            let listed = Listed::of(&records);
            let doc = listed.document();
            // With the mirror's newest row, and as if the mirror were empty (no newest row).
            for newest in [newest, None] {
                let in_sql = Spi::get_one_with_args::<Vec<i32>>(&sql, &[json_arg(&doc), recheck.into(), None::<f64>.into(), newest.into()])
                    .unwrap()
                    .unwrap_or_default();
                let in_rust = listed.ids_if_all_newer(newest.map(|n| n.into_inner()), recheck.unwrap().into_inner());
                assert_eq!(in_rust.is_some(), all_newer || newest.is_none(), "{pairs}");
                if let Some(ids) = in_rust {
                    assert_eq!(ids.into_iter().map(scrap_sga_core::ids::OdooId::get).collect::<Vec<_>>(), in_sql, "{pairs} with newest {newest:?}");
                }
            }
        }
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
