//! Deletions within one run. After the copy, Odoo's record count (archived included) is compared
//! with the mirror's: its live rows, kept up to date in `scrap_sga.model.live_rows` by every
//! write, plus the records waiting in the retry queue that the mirror lacks. Equal: nothing was
//! deleted, for the price of one small request. Different: the id space is cut in halves, each
//! half counted in Odoo and in the mirror, down to ranges small enough to reconcile record by
//! record. The comparison comes after the copy, so a record created and another deleted in the
//! same interval do not cancel out: the creation is already in the mirror's count.
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
    // Someone other than scrap_sga may have changed the table: count it for real before searching.
    let t0 = std::time::Instant::now();
    let mirror_total = txn::in_transaction(|| {
        let n = mirror_count(&model, table, IdRange::ALL)?;
        Spi::run_with_args(
            "UPDATE scrap_sga.model SET live_rows = (SELECT count(*) FROM ONLY {t} WHERE sga_deleted_at IS NULL) WHERE model = $1".replace("{t}", table).as_str(),
            &[model.as_str().into()],
        )?;
        Ok(n)
    })?;
    out.db_secs += t0.elapsed().as_secs_f64();
    let mut todo = vec![(IdRange::ALL, odoo_total, mirror_total)];
    while let Some((range, odoo, mirror)) = todo.pop() {
        check_interrupts()?;
        if odoo == mirror {
            continue;
        }
        if mirror <= LEAF_ROWS || odoo <= LEAF_ROWS {
            reconcile_range(remote, w, table, range, out)?;
            continue;
        }
        let t0 = std::time::Instant::now();
        let (left, mirror_left) = txn::in_transaction(|| {
            // Roughly the middle row (soft-deleted rows included: the primary key alone answers).
            let mid = Spi::get_one_with_args::<i32>(
                &format!("SELECT id FROM {table} WHERE id > $1 AND ($2::integer IS NULL OR id <= $2) ORDER BY id OFFSET $3 LIMIT 1"),
                &[(range.lo as i32).into(), range.hi.map(|h| h as i32).into(), (mirror / 2).into()],
            )?
            .unwrap_or(range.lo as i32) as i64;
            let left = IdRange { lo: range.lo, hi: Some(mid) };
            Ok((left, mirror_count(&model, table, left)?))
        })?;
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
/// Live rows are all rows minus the soft-deleted ones, so that both counts come from indexes
/// (the primary key, and the partial index on soft-deleted rows) without reading the table.
fn mirror_count(model: &str, table: &str, range: IdRange) -> Result<i64, SyncError> {
    let live = Spi::get_one_with_args::<i64>(
        &format!(
            "SELECT (SELECT count(*) FROM ONLY {table} WHERE id > $1 AND ($2::integer IS NULL OR id <= $2))
                  - (SELECT count(*) FROM ONLY {table} WHERE sga_deleted_at IS NOT NULL AND id > $1 AND ($2::integer IS NULL OR id <= $2))"
        ),
        &[(range.lo as i32).into(), range.hi.map(|h| h as i32).into()],
    )?
    .unwrap_or(0);
    Ok(live + queued_missing(model, table, range)?)
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
