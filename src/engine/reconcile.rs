//! Reconciliation of id sets: records Odoo no longer has are soft-deleted here, and records the
//! mirror lacks (or has soft-deleted) are read and upserted. Odoo's ids come in pages of
//! `search` (ids only, archived included); each page covers the id range up to its last id, so
//! the comparison streams and never holds a whole model.
use pgrx::prelude::*;
use scrap_sga_core::ident::quote;

use super::pages::PageWriter;
use super::remote::Remote;
use super::{check_interrupts, page_error, Outcome};
use crate::errors::SyncError;
use crate::txn;

const ID_PAGE: usize = 20_000;

pub fn run(remote: &mut Remote, w: &mut PageWriter, schema: &str, table: &str, page_size: usize, out: &mut Outcome) -> Result<(), SyncError> {
    let model = w.model.to_owned();
    let t = format!("{}.{}", quote(schema), quote(table));
    // Rows in this page's id range that Odoo did not list.
    let gone = format!("id > $2 AND ($3::integer IS NULL OR id <= $3) AND NOT EXISTS (SELECT 1 FROM unnest($1::integer[]) AS o(id) WHERE o.id = {t}.id)");
    let missing = format!(
        "SELECT coalesce(array_agg(o.id ORDER BY o.id), '{{}}') FROM unnest($1::integer[]) AS o(id)
         LEFT JOIN {t} t ON t.id = o.id WHERE t.id IS NULL OR t.sga_deleted_at IS NOT NULL"
    );
    let names = w.plan.field_names();
    let mut last_id = 0i64;
    let mut page_no = 0;
    loop {
        check_interrupts()?;
        page_no += 1;
        let (ids, took) = remote.search_ids(&model, Remote::ids_after(last_id), Some(ID_PAGE));
        out.odoo_secs += took.as_secs_f64();
        let ids = ids.map_err(|e| page_error(&e, &model, "search (ids)", page_no, last_id))?;
        let upper: Option<i32> = if ids.len() < ID_PAGE { None } else { ids.last().map(|&i| i as i32) };
        let ids32: Vec<i32> = ids.iter().map(|&i| i as i32).collect();
        let t0 = std::time::Instant::now();
        w.soft_delete(&t, &gone, 3, || vec![ids32.clone().into(), (last_id as i32).into(), upper.into()], out)?;
        let to_read: Vec<i32> = txn::run(|| Ok(Spi::get_one_with_args::<Vec<i32>>(&missing, &[ids32.clone().into()])?.unwrap_or_default()))?;
        out.db_secs += t0.elapsed().as_secs_f64();
        for chunk in to_read.chunks(page_size) {
            let chunk: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
            let first = chunk[0];
            let page = remote.read(&model, chunk, names.clone()).0.map_err(|e| page_error(&e, &model, "read", page_no, first - 1))?;
            w.write(page, out)?;
        }
        match upper {
            Some(u) => last_id = u as i64,
            None => break,
        }
    }
    Ok(())
}
