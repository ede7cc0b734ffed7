//! Odoo's datetimes: `YYYY-MM-DD HH:MM:SS`, in UTC, truncated to the second, in every answer
//! and every domain. One type for them, so that no text is parsed or formatted twice and no time
//! crosses into SQL as a string.
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

const FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01 00:00:00 UTC).
pub const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OdooTime(NaiveDateTime);

impl OdooTime {
    /// Odoo's text (a datetime field's value, or a domain's operand).
    pub fn parse(text: &str) -> Option<OdooTime> {
        NaiveDateTime::parse_from_str(text, FORMAT).ok().map(OdooTime)
    }

    /// A record's `write_date` as Odoo sent it; None when it has none (absent, `false`) or it
    /// is not in Odoo's format.
    pub fn write_date_of(record: &serde_json::Map<String, serde_json::Value>) -> Option<OdooTime> {
        record.get("write_date").and_then(serde_json::Value::as_str).and_then(OdooTime::parse)
    }

    /// A clock reading (the HTTP `Date` header), truncated to the second as Odoo writes times.
    pub fn from_utc(t: DateTime<Utc>) -> OdooTime {
        let t = t.naive_utc();
        OdooTime(t - TimeDelta::nanoseconds(t.and_utc().timestamp_subsec_nanos() as i64))
    }

    /// PostgreSQL's `TimestampTz` value (microseconds since 2000-01-01 UTC) of this time.
    pub fn pg_micros(self) -> i64 {
        self.0.and_utc().timestamp_micros() - PG_EPOCH_UNIX_MICROS
    }

    /// From PostgreSQL's `TimestampTz`; a value with microseconds is truncated to the second
    /// (every time scrap_sga stores came from Odoo, at whole seconds).
    pub fn from_pg_micros(micros: i64) -> Option<OdooTime> {
        DateTime::from_timestamp_micros(micros + PG_EPOCH_UNIX_MICROS).map(OdooTime::from_utc)
    }

    /// This time less `secs` seconds, not before the Unix epoch: a lookback reaching further
    /// (the catalog bounds it only below) means every record, and chrono would panic beyond its
    /// range, stopping the scheduler at that model on each restart.
    pub fn minus_seconds(self, secs: i64) -> OdooTime {
        let epoch = DateTime::UNIX_EPOCH.naive_utc();
        TimeDelta::try_seconds(secs).and_then(|d| self.0.checked_sub_signed(d)).map_or(OdooTime(epoch), |t| OdooTime(t.max(epoch)))
    }

    pub fn plus_seconds(self, secs: i64) -> OdooTime {
        OdooTime(self.0 + TimeDelta::seconds(secs))
    }

    /// Seconds from `earlier` to this time.
    pub fn seconds_since(self, earlier: OdooTime) -> i64 {
        (self.0 - earlier.0).num_seconds()
    }
}

impl std::fmt::Display for OdooTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format(FORMAT))
    }
}

impl serde::Serialize for OdooTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_records_write_date_is_read_only_in_odoos_format() {
        let rec = |v: serde_json::Value| serde_json::json!({"id": 1, "write_date": v}).as_object().unwrap().clone();
        assert_eq!(OdooTime::write_date_of(&rec("2026-11-29 03:12:19".into())), OdooTime::parse("2026-11-29 03:12:19"));
        for odd in [serde_json::json!(false), serde_json::json!(null), "2026-11-29T03:12:19".into(), serde_json::json!(1764386000)] {
            assert_eq!(OdooTime::write_date_of(&rec(odd)), None);
        }
        assert_eq!(OdooTime::write_date_of(serde_json::json!({"id": 1}).as_object().unwrap()), None);
    }

    #[test]
    fn odoo_text_round_trips_and_orders() {
        let t = OdooTime::parse("2026-11-29 03:12:19").unwrap();
        assert_eq!(t.to_string(), "2026-11-29 03:12:19");
        assert!(OdooTime::parse("2026-11-29T03:12:19").is_none());
        assert!(OdooTime::parse("false").is_none());
        assert!(t.minus_seconds(300) < t);
        assert_eq!(t.minus_seconds(300).to_string(), "2026-11-29 03:07:19");
        for far in [86_400 * 365 * 100, 86_400 * 365 * 300_000, i64::MAX] {
            assert_eq!(t.minus_seconds(far).to_string(), "1970-01-01 00:00:00", "{far} s back");
        }
        assert_eq!(t.plus_seconds(1).seconds_since(t), 1);
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2026-11-29 03:12:19\"");
    }

    #[test]
    fn postgres_micros() {
        let t = OdooTime::parse("2000-01-01 00:00:01").unwrap();
        assert_eq!(t.pg_micros(), 1_000_000);
        assert_eq!(OdooTime::from_pg_micros(1_000_000), Some(t));
        assert_eq!(OdooTime::from_pg_micros(1_999_999), Some(t), "truncated to the second");
        let clock = DateTime::parse_from_rfc2822("Sun, 29 Nov 2026 03:12:19 GMT").unwrap().with_timezone(&Utc);
        assert_eq!(OdooTime::from_utc(clock).to_string(), "2026-11-29 03:12:19");
    }
}
