//! Odoo's ids and times as Postgres values, and back: the only place they are converted.
//!
//! The core crate knows nothing of Postgres, so `OdooId` and `OdooTime` cannot carry pgrx's
//! datum traits themselves: these functions are their way in and out of SQL.
use pgrx::datum::TimestampWithTimeZone;
use scrap_sga_core::ids::OdooId;
use scrap_sga_core::odoo::time::{OdooTime, PG_EPOCH_UNIX_MICROS};

/// An Odoo time as a `timestamptz` argument (None stays NULL).
pub fn timestamptz(t: Option<OdooTime>) -> Option<TimestampWithTimeZone> {
    t.and_then(|t| TimestampWithTimeZone::try_from(t.pg_micros()).ok())
}

/// A time of this machine's clock as a `timestamptz` argument, to the microsecond (Odoo's times
/// are whole seconds: an `OdooTime` would not do to compare with `now()`).
pub fn our_timestamptz(t: std::time::SystemTime) -> Option<TimestampWithTimeZone> {
    let unix = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    let micros = i64::try_from(unix.as_micros()).ok()?;
    TimestampWithTimeZone::try_from(micros - PG_EPOCH_UNIX_MICROS).ok()
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

/// A count (`u64`, or a `usize` of things held in memory) as the run log's `bigint`: a count
/// past `i64::MAX` is not one this process could make, but it is stated rather than wrapped.
pub fn bigint(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}
