//! Odoo's ids and times as Postgres values, and back: the only place they are converted.
//!
//! The core crate knows nothing of Postgres, so `OdooId` and `OdooTime` cannot carry pgrx's
//! datum traits themselves: these functions are their way in and out of SQL.
use pgrx::datum::TimestampWithTimeZone;
use scrap_sga_core::ids::OdooId;
use scrap_sga_core::odoo::time::OdooTime;

/// An Odoo time as a `timestamptz` argument (None stays NULL).
pub fn timestamptz(t: Option<OdooTime>) -> Option<TimestampWithTimeZone> {
    t.and_then(|t| TimestampWithTimeZone::try_from(t.pg_micros()).ok())
}

/// A `timestamptz` read back as an Odoo time (NULL and infinities are None).
pub fn odoo_time(t: Option<TimestampWithTimeZone>) -> Option<OdooTime> {
    t.filter(TimestampWithTimeZone::is_finite).and_then(|t| OdooTime::from_pg_micros(t.into_inner()))
}

/// Ids as an `integer[]` argument.
pub fn id_array(ids: &[OdooId]) -> Vec<i32> {
    ids.iter().map(|id| id.get()).collect()
}

/// An `integer[]` of ids read back (a mirror's or the catalog's `integer` ids).
pub fn ids(v: Option<Vec<i32>>) -> Vec<OdooId> {
    v.unwrap_or_default().into_iter().map(OdooId::from_column).collect()
}

/// A count as a `bigint` argument: a count past `i64::MAX` is not one this process could make,
/// but it is stated rather than wrapped.
pub fn bigint(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
