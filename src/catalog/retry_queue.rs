//! The retry queue, `scrap_sga.failed_record`: records that could not be stored (a value that
//! does not fit its column) or not even fetched alone (an answer too large or too slow for one
//! record), each retried when due (after 1 minute, then 2, 4 ... up to a day). The only place
//! with SQL on that table. Every function runs inside the caller's transaction.
use pgrx::prelude::*;

use super::model_state::Live;
use crate::errors::SyncError;
use crate::listing::json_arg;
use crate::values::{id_array, ids, timestamptz};
use scrap_sga_core::ident::literal;
use scrap_sga_core::ids::{IdRange, OdooId};

/// One record for the queue: its id, why it is there, and its write_date when known.
pub struct Queued<'a> {
    pub id: OdooId,
    pub sqlstate: &'a str,
    pub error: &'a str,
    pub write_date: Option<scrap_sga_core::odoo::time::OdooTime>,
}

pub struct RetryQueue;

impl RetryQueue {
    /// The ids of `model`'s records due now (all of them for `all`).
    pub fn due(model: &str, all: bool) -> Result<Vec<OdooId>, SyncError> {
        Ok(ids(Spi::get_one_with_args::<Vec<i32>>(
            "SELECT coalesce(array_agg(odoo_id ORDER BY odoo_id), '{}') FROM scrap_sga.failed_record WHERE model = $1 AND ($2 OR next_attempt_at <= now())",
            &[model.into(), all.into()],
        )?))
    }

    /// How many records of `model` wait, and the `n` lowest and the `n` highest of their ids.
    pub fn held(model: &str, n: i64) -> Result<(i64, Vec<OdooId>), SyncError> {
        let queued = Spi::get_one_with_args::<i64>("SELECT count(*) FROM scrap_sga.failed_record WHERE model = $1", &[model.into()])?.unwrap_or(0);
        if queued == 0 {
            return Ok((0, Vec::new()));
        }
        let ends = ids(Spi::get_one_with_args::<Vec<i32>>(
            "SELECT coalesce(array_agg(e.odoo_id ORDER BY e.odoo_id), '{}') FROM (
                (SELECT odoo_id FROM scrap_sga.failed_record WHERE model = $1 ORDER BY odoo_id LIMIT $2)
                UNION (SELECT odoo_id FROM scrap_sga.failed_record WHERE model = $1 ORDER BY odoo_id DESC LIMIT $2)) e",
            &[model.into(), n.into()],
        )?);
        Ok((queued, ends))
    }

    /// Queue records (again: their attempts count up and their next attempt moves back, doubling
    /// from a minute to a day). The exponent stops at 11 (34 hours): `least()` computes both of
    /// its arguments, and a minute times 2^38 is beyond an interval's range, which failed every
    /// run of the model from a record's 38th attempt on, about a month after it first failed.
    pub fn put(model: &str, run_id: i64, records: &[Queued]) -> Result<(), SyncError> {
        let ids: Vec<i32> = records.iter().map(|r| r.id.get()).collect();
        let states: Vec<&str> = records.iter().map(|r| r.sqlstate).collect();
        let errors: Vec<&str> = records.iter().map(|r| r.error).collect();
        let write_dates: Vec<Option<pgrx::datum::TimestampWithTimeZone>> = records.iter().map(|r| timestamptz(r.write_date)).collect();
        Spi::run_with_args(
            "INSERT INTO scrap_sga.failed_record AS f (model, odoo_id, sqlstate, error, last_run_id, write_date)
             SELECT $1, u.id, u.state, u.error, $5, u.write_date
             FROM unnest($2::integer[], $3::text[], $4::text[], $6::timestamptz[]) AS u(id, state, error, write_date)
             ON CONFLICT (model, odoo_id) DO UPDATE SET
                attempts = f.attempts + 1, sqlstate = EXCLUDED.sqlstate, error = EXCLUDED.error, last_failed_at = now(),
                next_attempt_at = now() + least(interval '1 minute' * power(2, least(f.attempts, 11)), interval '1 day'),
                last_run_id = EXCLUDED.last_run_id, write_date = coalesce(EXCLUDED.write_date, f.write_date)",
            &[model.into(), ids.into(), states.into(), errors.into(), run_id.into(), write_dates.into()],
        )?;
        Ok(())
    }

    /// Records that were stored, or that Odoo no longer has: they leave the queue.
    pub fn remove(model: &str, ids: &[OdooId]) -> Result<(), SyncError> {
        Spi::run_with_args("DELETE FROM scrap_sga.failed_record WHERE model = $1 AND odoo_id = ANY($2)", &[model.into(), id_array(ids).into()])?;
        Ok(())
    }

    /// Queued records of `range` that a listing of it (`listing`, JSON of `{"id": ...}`) does
    /// not have: Odoo no longer has them, and they leave the queue.
    pub fn remove_unlisted(model: &str, range: IdRange, listing: &str) -> Result<(), SyncError> {
        Spi::run_with_args(
            &format!(
                "DELETE FROM scrap_sga.failed_record WHERE model = $2 AND odoo_id IN (
                     SELECT odoo_id FROM scrap_sga.failed_record WHERE model = $2 AND {}
                     EXCEPT SELECT o.id FROM json_to_recordset($1::json) AS o(id integer))",
                range.sql("odoo_id")
            ),
            &[json_arg(listing), model.into()],
        )?;
        Ok(())
    }

    /// SQL that is true when the record `id_sql` of `model`, listed by Odoo with
    /// `write_date_sql`, waits in the queue, is not due yet, and is known not to have changed
    /// since it failed: a window or a reconcile leaves it to its retry instead of failing on it
    /// at every run. A record changed since, or whose write_date is not known yet, is read at
    /// once (the change may be the cure).
    pub fn waiting_sql(model: &str, id_sql: &str, write_date_sql: &str) -> String {
        format!(
            "EXISTS (SELECT 1 FROM scrap_sga.failed_record f WHERE f.model = {} AND f.odoo_id = {id_sql} AND f.next_attempt_at > now()
                     AND f.write_date = {write_date_sql})",
            literal(model)
        )
    }

    /// Keep the write_date a listing (`PAIRS` document `$1`) gave for records in the queue, so
    /// that the next listings know whether they changed since they failed.
    pub fn note_listed(model: &str, listing: &str) -> Result<(), SyncError> {
        Spi::run_with_args(
            &format!(
                "UPDATE scrap_sga.failed_record f SET write_date = o.write_date FROM {} WHERE f.model = $2 AND f.odoo_id = o.id
                   AND f.write_date IS DISTINCT FROM o.write_date",
                crate::listing::PAIRS
            ),
            &[json_arg(listing), model.into()],
        )?;
        Ok(())
    }

    /// Queued records of `range` that have no live row in `table` (Odoo has them; the mirror
    /// could not store or fetch them): how many, and the sum of their ids.
    pub fn missing_from(model: &str, table: &str, range: IdRange) -> Result<Live, SyncError> {
        let (rows, id_sum) = Spi::get_two_with_args::<i64, i64>(
            &format!(
                "SELECT count(*), coalesce(sum(f.odoo_id), 0)::bigint FROM scrap_sga.failed_record f WHERE f.model = $1 AND {}
                   AND NOT EXISTS (SELECT 1 FROM ONLY {table} t WHERE t.id = f.odoo_id AND t.sga_deleted_at IS NULL)",
                range.sql("f.odoo_id")
            ),
            &[model.into()],
        )?;
        Ok(Live { rows: rows.unwrap_or(0), id_sum: id_sum.unwrap_or(0) })
    }

    /// The highest id queued for `model`.
    pub fn highest_id(model: &str) -> Result<Option<OdooId>, SyncError> {
        Ok(Spi::get_one_with_args::<i32>("SELECT max(odoo_id) FROM scrap_sga.failed_record WHERE model = $1", &[model.into()])?.map(OdooId::from_column))
    }
}
