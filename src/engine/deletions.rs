//! Deletions within one run. After the copy, Odoo's record count (archived included) is compared
//! with the mirror's: its live rows, kept up to date in `scrap_sga.model.live_rows` by every
//! write, plus the records waiting in the retry queue that the mirror lacks. Equal: nothing was
//! deleted, for the price of one small request. Different: the id space is cut in halves (by id
//! value, so that every cut halves the range and the search ends), each half counted in Odoo
//! and in the mirror, down to ranges small enough to reconcile record by record. The comparison
//! comes after the copy, so a record created and another deleted in the same interval do not
//! cancel out: the creation is already in the mirror's count.
use pgrx::prelude::*;
use scrap_sga_core::odoo::Client;

use super::pages::PageWriter;
use super::reconcile::{reconcile_range, IdRange};
use super::remote::Remote;
use super::{check_interrupts, page_error, Outcome};
use crate::errors::SyncError;
use crate::txn;

/// A range with at most this many rows is reconciled pair by pair (one or two requests).
const LEAF_ROWS: i64 = 5_000;

/// Soft-delete what Odoo no longer has, when its count says there is any.
pub fn find_deletions(remote: &mut Remote, w: &mut PageWriter, table: &str, out: &mut Outcome) -> Result<(), SyncError> {
    let model = w.model.to_owned();
    let odoo_total = count_in_odoo(remote, &model, IdRange::ALL, out)?;
    let t0 = std::time::Instant::now();
    let kept = txn::in_transaction(|| kept_count(&model, table))?;
    out.db_secs += t0.elapsed().as_secs_f64();
    if odoo_total == kept {
        return Ok(());
    }
    // Someone other than scrap_sga may have changed the table: count it for real before searching,
    // and keep that count. The highest id known here bounds the first cut.
    let t0 = std::time::Instant::now();
    let (mirror_total, top) = txn::in_transaction(|| {
        let live = live_in(table, IdRange::ALL)?;
        Spi::run_with_args("UPDATE scrap_sga.model SET live_rows = $2 WHERE model = $1", &[model.as_str().into(), live.into()])?;
        let top = Spi::get_one_with_args::<i32>(
            &format!("SELECT greatest((SELECT max(id) FROM ONLY {table}), (SELECT max(odoo_id) FROM scrap_sga.failed_record WHERE model = $1))"),
            &[model.as_str().into()],
        )?
        .unwrap_or(0) as i64;
        Ok((live + queued_missing(&model, table, IdRange::ALL)?, top))
    })?;
    out.db_secs += t0.elapsed().as_secs_f64();
    let mut todo = vec![(IdRange::ALL, odoo_total, mirror_total)];
    while let Some((range, odoo, mirror)) = todo.pop() {
        check_interrupts()?;
        if odoo == mirror {
            continue;
        }
        // The middle id of the range; the open top range is cut below the highest id known here
        // (Odoo's newer ids, if any, fall in its upper half).
        let mid = range.lo + (range.hi.unwrap_or(top).max(range.lo) - range.lo) / 2;
        if mirror <= LEAF_ROWS || odoo <= LEAF_ROWS || mid <= range.lo || range.hi.is_some_and(|h| mid >= h) {
            reconcile_range(remote, w, table, range, 1, out)?;
            continue;
        }
        let t0 = std::time::Instant::now();
        let left = IdRange { lo: range.lo, hi: Some(mid) };
        let mirror_left = txn::in_transaction(|| mirror_count(&model, table, left))?;
        out.db_secs += t0.elapsed().as_secs_f64();
        let odoo_left = count_in_odoo(remote, &model, left, out)?;
        let right = IdRange { lo: left.hi.unwrap(), hi: range.hi };
        todo.push((right, odoo - odoo_left, mirror - mirror_left));
        todo.push((left, odoo_left, mirror_left));
    }
    Ok(())
}

fn count_in_odoo(remote: &mut Remote, model: &str, range: IdRange, out: &mut Outcome) -> Result<i64, SyncError> {
    let (model_owned, domain) = (model.to_owned(), range.domain());
    let (n, took) = remote.call(move |c: &mut Client| c.search_count(&model_owned, &domain));
    out.odoo_secs += took.as_secs_f64();
    n.map_err(|e| page_error(&e, model, "counting records (deletion check)", 1, range.lo))
}

/// The kept count of live rows, plus queued records the mirror lacks; counted once if never kept.
fn kept_count(model: &str, table: &str) -> Result<i64, SyncError> {
    let kept = Spi::get_one_with_args::<i64>("SELECT live_rows FROM scrap_sga.model WHERE model = $1", &[model.into()])?;
    let live = match kept {
        Some(n) => n,
        None => {
            let n = Spi::get_one::<i64>(&format!("SELECT count(*) FROM ONLY {table} WHERE sga_deleted_at IS NULL"))?.unwrap_or(0);
            Spi::run_with_args("UPDATE scrap_sga.model SET live_rows = $2 WHERE model = $1", &[model.into(), n.into()])?;
            n
        }
    };
    Ok(live + queued_missing(model, table, IdRange::ALL)?)
}

/// Rows Odoo should have in `range`, as far as the mirror knows: live rows, and records waiting
/// in the retry queue that have no live row (Odoo has them; the mirror could not store them).
fn mirror_count(model: &str, table: &str, range: IdRange) -> Result<i64, SyncError> {
    Ok(live_in(table, range)? + queued_missing(model, table, range)?)
}

/// Live rows in `range`: all rows minus the soft-deleted ones, so that both counts come from
/// indexes (the primary key, and the partial index on soft-deleted rows) without reading the table.
fn live_in(table: &str, range: IdRange) -> Result<i64, SyncError> {
    Ok(Spi::get_one_with_args::<i64>(
        &format!(
            "SELECT (SELECT count(*) FROM ONLY {table} WHERE id > $1 AND ($2::integer IS NULL OR id <= $2))
                  - (SELECT count(*) FROM ONLY {table} WHERE sga_deleted_at IS NOT NULL AND id > $1 AND ($2::integer IS NULL OR id <= $2))"
        ),
        &[(range.lo as i32).into(), range.hi.map(|h| h as i32).into()],
    )?
    .unwrap_or(0))
}

fn queued_missing(model: &str, table: &str, range: IdRange) -> Result<i64, SyncError> {
    Ok(Spi::get_one_with_args::<i64>(
        &format!(
            "SELECT count(*) FROM scrap_sga.failed_record f WHERE f.model = $1 AND f.odoo_id > $2 AND ($3::integer IS NULL OR f.odoo_id <= $3)
               AND NOT EXISTS (SELECT 1 FROM ONLY {table} t WHERE t.id = f.odoo_id AND t.sga_deleted_at IS NULL)"
        ),
        &[model.into(), (range.lo as i32).into(), range.hi.map(|h| h as i32).into()],
    )?
    .unwrap_or(0))
}
