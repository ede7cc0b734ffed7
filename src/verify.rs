//! `scrap_sga.verify()`: compare the mirror with Odoo and return the differences.
//!
//! It only reads, so it runs in the caller's backend: Odoo's ids and write dates come page by
//! page (`search_read` of `write_date` only) and each page is compared with the mirror in SQL.
//! Cancelling the statement stops it between chunks of an answer.
use pgrx::prelude::*;
use scrap_sga_core::ident::quote;
use scrap_sga_core::odoo::{Client, OdooError};
use serde_json::{json, Value};
use std::sync::Arc;

use crate::catalog;
use crate::connection;
use crate::errors::SyncError;

const PAGE: usize = 10_000;

type Row = (String, String, Option<i64>, Option<String>, Option<String>, Option<String>);

fn cancel_requested() -> bool {
    unsafe {
        std::ptr::read_volatile(&raw const pg_sys::QueryCancelPending) != 0 || std::ptr::read_volatile(&raw const pg_sys::ProcDiePending) != 0
    }
}

fn raise(e: SyncError) -> ! {
    pgrx::check_for_interrupts!();
    e.raise()
}

#[pg_extern(volatile, parallel_unsafe, security_definer)]
fn verify(
    only_model: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(model, String),
        name!(problem, String),
        name!(odoo_id, Option<i64>),
        name!(odoo_write_date, Option<String>),
        name!(mirror_write_date, Option<String>),
        name!(detail, Option<String>),
    ),
> {
    let settings = connection::load().unwrap_or_else(|e| raise(e));
    let models = catalog::models(only_model).unwrap_or_else(|e| raise(e));
    let interrupt: scrap_sga_core::odoo::Interrupt = Arc::new(cancel_requested);
    let mut client = Client::new(settings, Some(interrupt)).unwrap_or_else(|e| raise(SyncError::from_odoo(&e)));
    client.open().unwrap_or_else(|e| raise(SyncError::from_odoo(&e).context("connecting")));
    let mut rows: Vec<Row> = Vec::new();
    for m in &models {
        verify_model(&client, m, &mut rows).unwrap_or_else(|e| raise(e));
    }
    TableIterator::new(rows)
}

fn verify_model(client: &Client, m: &catalog::ModelConf, rows: &mut Vec<Row>) -> Result<(), SyncError> {
    let t = format!("{}.{}", quote(&m.table_schema), quote(&m.table_name));
    let exists = Spi::get_one_with_args::<bool>("SELECT to_regclass($1) IS NOT NULL", &[t.as_str().into()])?.unwrap_or(false);
    let odoo_err = |e: OdooError, what: &str| SyncError::from_odoo(&e).context(format!("verify {}: {what}", m.model));
    if !exists {
        let n = client.search_count(&m.model, &json!([])).map_err(|e| odoo_err(e, "search_count"))?;
        rows.push((m.model.clone(), "mirror table missing".into(), None, None, None, Some(format!("Odoo has {n} records; {t} does not exist yet"))));
        return Ok(());
    }
    // A model without write_date (some Odoo models have none) is compared by ids alone.
    let has_write_date = Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'write_date' AND NOT attisdropped)",
        &[t.as_str().into()],
    )?
    .unwrap_or(false);
    let mirror_wd = if has_write_date { "to_char(t.write_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')" } else { "NULL::text" };
    let differs = if has_write_date {
        format!(
            "UNION ALL
             SELECT 'write_date differs', o.id, to_char(o.write_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), {mirror_wd}, NULL
             FROM o JOIN {t} t ON t.id = o.id WHERE t.sga_deleted_at IS NULL AND t.write_date IS DISTINCT FROM o.write_date"
        )
    } else {
        String::new()
    };
    // EXCEPT rather than NOT EXISTS: see reconcile.rs (a nested loop over the listing, chosen
    // without statistics, is quadratic).
    let compare = format!(
        "WITH o AS (SELECT * FROM json_to_recordset($1::json) AS o(id integer, write_date timestamptz))
         SELECT 'missing in mirror', o.id::bigint, to_char(o.write_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), {mirror_wd},
                CASE WHEN t.id IS NOT NULL THEN 'soft-deleted in the mirror' END
         FROM o LEFT JOIN {t} t ON t.id = o.id WHERE t.id IS NULL OR t.sga_deleted_at IS NOT NULL
         {differs}
         UNION ALL
         SELECT 'not in Odoo', t.id, NULL, {mirror_wd}, NULL
         FROM {t} t JOIN (SELECT id FROM {t} WHERE id > $2 AND ($3::integer IS NULL OR id <= $3) AND sga_deleted_at IS NULL
                          EXCEPT SELECT id FROM o) g ON g.id = t.id
         WHERE t.id > $2 AND ($3::integer IS NULL OR t.id <= $3)
         ORDER BY 2"
    );
    // Ids and write dates only: an empty field list would make Odoo send every field.
    let fields = vec![if has_write_date { "write_date" } else { "id" }.to_owned()];
    let (mut last, mut odoo_count) = (0i64, 0i64);
    loop {
        let page = client.search_read(&m.model, &json!([["id", ">", last]]), &fields, "id asc", PAGE).map_err(|e| odoo_err(e, "search_read"))?;
        let upper = if page.len() < PAGE { None } else { page.last().and_then(|r| r.get("id")).and_then(Value::as_i64).map(|i| i as i32) };
        odoo_count += page.len() as i64;
        let doc: Vec<Value> = page
            .iter()
            .map(|r| json!({"id": r.get("id"), "write_date": r.get("write_date").and_then(Value::as_str).map(|s| format!("{s}+00"))}))
            .collect();
        let doc = serde_json::to_string(&doc).expect("JSON values serialize");
        Spi::connect(|c| -> Result<(), SyncError> {
            for r in c.select(&compare, None, &[doc.as_str().into(), (last as i32).into(), upper.into()])? {
                let mut problem = r.get::<String>(1)?.unwrap_or_default();
                let detail = r.get::<String>(5)?;
                if detail.is_some() {
                    problem = "missing in mirror".into();
                }
                rows.push((m.model.clone(), problem, r.get::<i64>(2)?, r.get::<String>(3)?, r.get::<String>(4)?, detail));
            }
            Ok(())
        })?;
        match upper {
            Some(u) => last = u as i64,
            None => break,
        }
    }
    let mirror_count = Spi::get_one::<i64>(&format!("SELECT count(*) FROM {t} WHERE sga_deleted_at IS NULL"))?.unwrap_or(0);
    if mirror_count != odoo_count {
        rows.push((m.model.clone(), "count differs".into(), None, None, None, Some(format!("Odoo {odoo_count}, mirror {mirror_count}"))));
    }
    Ok(())
}
