//! The incremental pass. First list `(id, write_date)` of the records written in the window
//! `write_date >= read_at - lookback`, where `read_at` is Odoo's clock when the previous run read
//! (small answers), compare with the mirror in SQL, then `read` only the records that are new,
//! changed, soft-deleted here, or inside the recheck window. A quiet minute therefore costs one
//! small request per model and no write, once `lookback` has passed since the last burst of
//! writes (within it, the burst is listed again: that is how a late commit inside it is seen).
use pgrx::prelude::*;
use serde_json::{json, Value};

use super::pages::PageWriter;
use super::remote::Remote;
use super::reread::read_and_write;
use super::{check_interrupts, page_error, Outcome};
use crate::errors::SyncError;
use crate::txn;

/// Records listed per request: ids and write dates only, about 40 bytes each.
const LIST_PAGE: usize = 10_000;

pub struct Window {
    /// `write_date >= since`, Odoo's format.
    pub since: String,
    /// Records with `write_date >= recheck_from` are read again even if their write_date matches:
    /// they were written too close to the previous read, and a second write within the same
    /// second has the same truncated write_date.
    pub recheck_from: Option<String>,
}

pub fn copy_changes(remote: &mut Remote, w: &mut PageWriter, table: &str, window: &Window, out: &mut Outcome) -> Result<(), SyncError> {
    let model = w.model.to_owned();
    let t = table;
    let to_read_sql = format!(
        "SELECT coalesce(array_agg(s.id ORDER BY s.id), '{{}}')
         FROM json_to_recordset($1::json) AS s(id integer, write_date timestamptz)
         LEFT JOIN {t} t ON t.id = s.id
         WHERE t.id IS NULL OR t.sga_deleted_at IS NOT NULL OR t.write_date IS DISTINCT FROM s.write_date
            OR s.write_date >= $2::timestamp AT TIME ZONE 'UTC'"
    );
    let mut last_id = 0i64;
    let mut list_no = 0;
    loop {
        check_interrupts()?;
        list_no += 1;
        let domain = json!([["write_date", ">=", window.since], ["id", ">", last_id]]);
        let (listed, took) = remote.search_read(&model, domain, vec!["write_date".to_owned()], "id asc", LIST_PAGE);
        out.odoo_secs += took.as_secs_f64();
        let listed = listed.map_err(|e| page_error(&e, &model, "listing changes", list_no, last_id))?;
        if out.read_started.is_none() {
            out.read_started = remote.server_time();
        }
        let n = listed.len();
        if n == 0 {
            break;
        }
        last_id = listed.iter().filter_map(|r| r.get("id").and_then(Value::as_i64)).max().unwrap_or(last_id);
        let doc: Vec<Value> = listed
            .iter()
            .map(|r| {
                w.note_write_date(r);
                let wd = r.get("write_date").and_then(Value::as_str).map(|s| format!("{s}+00"));
                json!({"id": r.get("id"), "write_date": wd})
            })
            .collect();
        let doc = serde_json::to_string(&doc).expect("JSON values serialize");
        let t0 = std::time::Instant::now();
        let (run_id, recheck) = (w.run_id, window.recheck_from.clone());
        let to_read: Vec<i32> = txn::in_transaction(|| {
            let ids = Spi::get_one_with_args::<Vec<i32>>(&to_read_sql, &[doc.as_str().into(), recheck.as_deref().into()])?.unwrap_or_default();
            Spi::run_with_args("UPDATE scrap_sga.sync_run SET listed = listed + $2 WHERE run_id = $1", &[run_id.into(), (n as i64).into()])?;
            Ok(ids)
        })?;
        out.db_secs += t0.elapsed().as_secs_f64();
        out.listed += n as i64;
        let to_read: Vec<i64> = to_read.into_iter().map(i64::from).collect();
        read_and_write(remote, w, &to_read, "read", out)?;
        if n < LIST_PAGE {
            break;
        }
    }
    Ok(())
}
