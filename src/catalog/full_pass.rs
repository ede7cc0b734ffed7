//! A full pass under way, `scrap_sga.full_pass` and `scrap_sga.full_pass_range`: where each of
//! its id ranges got to, committed in the transaction of each page, so that a pass cut by an
//! error, a cancel, a crash or a restart resumes there. The only writer of those tables. Every
//! function runs inside the caller's transaction.
use pgrx::prelude::*;
use scrap_sga_core::ids::IdRange;
use scrap_sga_core::odoo::time::OdooTime;

use crate::errors::SyncError;
use crate::values::{odoo_time, timestamptz};

/// A pass as it was left.
#[derive(Debug, Clone)]
pub struct FullPass {
    /// Odoo's clock at its first answer, and the newest write_date it copied.
    pub read_at: Option<OdooTime>,
    pub max_write_date: Option<OdooTime>,
    /// The columns it copies ("name type").
    pub plan: Vec<String>,
    pub expected: Option<i64>,
    pub done: i64,
    /// The ranges left, each from where it got to, with the id it began after (its key).
    pub ranges: Vec<(i32, IdRange)>,
}

impl FullPass {
    /// The model's pass left unfinished, if any.
    pub fn load(model: &str) -> Result<Option<FullPass>, SyncError> {
        let pass = Spi::connect(|c| -> Result<Option<FullPass>, SyncError> {
            let t = c.select("SELECT read_at, max_write_date, plan, expected, done FROM scrap_sga.full_pass WHERE model = $1", None, &[model.into()])?;
            let Some(r) = t.into_iter().next() else { return Ok(None) };
            Ok(Some(FullPass {
                read_at: odoo_time(r.get_by_name("read_at")?),
                max_write_date: odoo_time(r.get_by_name("max_write_date")?),
                plan: r.get_by_name::<Vec<String>, _>("plan")?.unwrap_or_default(),
                expected: r.get_by_name::<i64, _>("expected")?,
                done: r.get_by_name::<i64, _>("done")?.unwrap_or(0),
                ranges: Vec::new(),
            }))
        })?;
        let Some(mut pass) = pass else { return Ok(None) };
        pass.ranges = Spi::connect(|c| -> Result<Vec<(i32, IdRange)>, SyncError> {
            let t = c.select("SELECT lo, done_through, hi FROM scrap_sga.full_pass_range WHERE model = $1 ORDER BY lo", None, &[model.into()])?;
            let mut out = Vec::new();
            for r in t {
                let lo = r.get_by_name::<i32, _>("lo")?.unwrap_or(0);
                out.push((lo, IdRange { lo: r.get_by_name::<i32, _>("done_through")?.unwrap_or(lo), hi: r.get_by_name::<i32, _>("hi")? }));
            }
            Ok(out)
        })?;
        Ok(Some(pass))
    }

    /// A new pass of `model` copying `plan`, over `ranges`, Odoo having `expected` records; any
    /// pass left before is forgotten.
    pub fn begin(model: &str, plan: &[String], expected: Option<i64>, ranges: &[IdRange]) -> Result<(), SyncError> {
        Spi::run_with_args("DELETE FROM scrap_sga.full_pass WHERE model = $1", &[model.into()])?;
        Spi::run_with_args("INSERT INTO scrap_sga.full_pass (model, plan, expected) VALUES ($1, $2, $3)", &[model.into(), plan.to_vec().into(), expected.into()])?;
        let (los, his): (Vec<i32>, Vec<Option<i32>>) = ranges.iter().map(|r| (r.lo, r.hi)).unzip();
        Spi::run_with_args(
            "INSERT INTO scrap_sga.full_pass_range (model, lo, hi, done_through) SELECT $1, u.lo, u.hi, u.lo FROM unnest($2::integer[], $3::integer[]) AS u(lo, hi)",
            &[model.into(), los.into(), his.into()],
        )?;
        Ok(())
    }

    /// The pass goes on in a new run, after being cut.
    pub fn resumed(model: &str) -> Result<(), SyncError> {
        Spi::run_with_args("UPDATE scrap_sga.full_pass SET resumes = resumes + 1 WHERE model = $1", &[model.into()])?;
        Ok(())
    }

    /// A page of `records` committed in the range the pass began after `range_lo` (its key):
    /// every id of the range up to `through` is copied, or the whole range when `through` is
    /// None. The earliest of Odoo's clocks its pages were read from is kept (least ignores NULL).
    pub fn checkpoint(model: &str, range_lo: i32, through: Option<i32>, records: i64, read_at: Option<OdooTime>, newest: Option<OdooTime>) -> Result<(), SyncError> {
        Spi::run_with_args(
            "UPDATE scrap_sga.full_pass SET done = done + $2, read_at = least(read_at, $3), max_write_date = greatest(max_write_date, $4) WHERE model = $1",
            &[model.into(), records.into(), timestamptz(read_at).into(), timestamptz(newest).into()],
        )?;
        match through {
            Some(id) => Spi::run_with_args(
                "UPDATE scrap_sga.full_pass_range SET done_through = $3 WHERE model = $1 AND lo = $2",
                &[model.into(), range_lo.into(), id.into()],
            )?,
            None => Spi::run_with_args("DELETE FROM scrap_sga.full_pass_range WHERE model = $1 AND lo = $2", &[model.into(), range_lo.into()])?,
        }
        Ok(())
    }

    /// The run that finished the pass succeeded: nothing is left to resume.
    pub fn finish(model: &str) -> Result<(), SyncError> {
        Spi::run_with_args("DELETE FROM scrap_sga.full_pass WHERE model = $1", &[model.into()])?;
        Ok(())
    }
}
