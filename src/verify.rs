//! `scrap_sga.verify()`: compare the mirror with Odoo and return the differences.
//!
//! It only reads, so it runs in the caller's backend: Odoo's ids and write dates come page by
//! page, through the same pager as every listing of the engine (`engine::fetch`), and each page
//! is compared with the mirror in SQL. Cancelling the statement stops it between chunks of an
//! answer.
use pgrx::prelude::*;
use scrap_sga_core::ids::IdRange;

use crate::catalog::{self, connection, ModelConf};
use crate::engine::{self, Event, Listing, Session, SharedSizer};
use crate::listing::{json_arg, Listed, PAIRS};
use crate::errors::{self, SyncError};

const PAGE: usize = 10_000;

type Row = (String, String, Option<i64>, Option<String>, Option<String>, Option<String>);

// pgrx takes the result's column names from this signature as written: a type alias (`Row`
// above, without the names) would hide them from the SQL it generates.
#[allow(clippy::type_complexity)]
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
    TableIterator::new(errors::boundary(|| {
        let models = catalog::models::models(only_model)?;
        // Inside the caller's transaction: what is found out about the server is not kept.
        let mut session = Session::new(connection::load(crate::budget::pace), false);
        let mut rows: Vec<Row> = Vec::new();
        for m in &models {
            verify_model(&mut session, m, &mut rows)?;
        }
        Ok(rows)
    }))
}

fn verify_model(session: &mut Session, m: &ModelConf, rows: &mut Vec<Row>) -> Result<(), SyncError> {
    let t = m.table();
    let remote = session.ensure()?;
    let exists = Spi::get_one_with_args::<bool>("SELECT to_regclass($1) IS NOT NULL", &[t.as_str().into()])?.unwrap_or(false);
    let context = |what: &str| format!("verify {}: {what}", m.model);
    if !exists {
        let n = remote.search_count(&m.model, serde_json::json!([])).map_err(|e| SyncError::from_odoo(&e).context(context("search_count")))?;
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
    let odoo_wd = "to_char(o.write_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')";
    let differs = if has_write_date {
        format!(
            "UNION ALL
             SELECT 'write_date differs', o.id, {odoo_wd}, {mirror_wd}, NULL
             FROM o JOIN {t} t ON t.id = o.id WHERE t.sga_deleted_at IS NULL AND t.write_date IS DISTINCT FROM o.write_date"
        )
    } else {
        String::new()
    };
    // EXCEPT rather than NOT EXISTS: see engine::reconcile (a nested loop over the listing,
    // chosen without statistics, is quadratic).
    let compare = |span: IdRange| {
        let r = span.sql("id");
        format!(
            "WITH o AS (SELECT * FROM {PAIRS})
             SELECT 'missing in mirror', o.id::bigint, {odoo_wd}, {mirror_wd}, CASE WHEN t.id IS NOT NULL THEN 'soft-deleted in the mirror' END
             FROM o LEFT JOIN {t} t ON t.id = o.id WHERE t.id IS NULL OR t.sga_deleted_at IS NOT NULL
             {differs}
             UNION ALL
             SELECT 'not in Odoo', t.id, NULL, {mirror_wd}, NULL
             FROM {t} t JOIN (SELECT id FROM {t} WHERE {r} AND sga_deleted_at IS NULL EXCEPT SELECT id FROM o) g ON g.id = t.id
             WHERE {}
             ORDER BY 2",
            span.sql("t.id")
        )
    };
    // Ids and write dates only: an empty field list would make Odoo send every field.
    let fields = vec![if has_write_date { "write_date" } else { "id" }.to_owned()];
    let listing = Listing { model: m.model.clone(), fields, domain: vec![], what: "verify listing", sets_aside: false, parked: vec![], prepare: None };
    let sizer = SharedSizer::pairs(PAGE);
    let mut odoo_count = 0i64;
    engine::fetch(remote, &listing, vec![IdRange::ALL], 1, &sizer, |_, event| {
        let Event::Page(page) = event else { return Ok(()) };
        let listed = Listed::of(&page.records);
        odoo_count += listed.count();
        let doc = listed.document();
        Spi::connect(|c| -> Result<(), SyncError> {
            for r in c.select(&compare(page.span), None, &[json_arg(&doc)])? {
                let detail = r.get::<String>(5)?;
                let problem = if detail.is_some() { "missing in mirror".into() } else { r.get::<String>(1)?.unwrap_or_default() };
                rows.push((m.model.clone(), problem, r.get::<i64>(2)?, r.get::<String>(3)?, r.get::<String>(4)?, detail));
            }
            Ok(())
        })
    })
    .map_err(|e| e.context("verify"))?;
    let mirror_count = Spi::get_one::<i64>(&format!("SELECT count(*) FROM {t} WHERE sga_deleted_at IS NULL"))?.unwrap_or(0);
    if mirror_count != odoo_count {
        rows.push((m.model.clone(), "count differs".into(), None, None, None, Some(format!("Odoo {odoo_count}, mirror {mirror_count}"))));
    }
    Ok(())
}
