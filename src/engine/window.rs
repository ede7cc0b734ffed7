//! The window of an incremental run: the records written since the previous run read (less the
//! lookback), and what the next run reads again because it was copied too soon after its write.
//! Defined here, apart from the step that lists it (`incremental`), for what the run's end needs
//! of it too (`context`).
use scrap_sga_core::odoo::fingerprint::Fingerprint;
use scrap_sga_core::odoo::time::OdooTime;

/// Seconds before the previous read whose records the next run reads again, if they were
/// copied as soon (see `scrap_sga.model.recheck_from` and `recheck_margin`): two writes within
/// one second carry the same write_date.
pub const RECHECK_SECS: i64 = 2;

/// The window of a run. A record waiting in the retry queue is left to its retry while its
/// write_date stays what it was when it failed, except in the recheck.
pub struct Window {
    /// `write_date >= since`.
    pub since: OdooTime,
    /// The recheck: rows written at or after `recheck_from` and copied less than
    /// `recheck_margin_s` (our clock) after their write_date are read again. Without a margin
    /// (a run from before 0.3.0), every row written since `recheck_from`.
    pub recheck_from: Option<OdooTime>,
    pub recheck_margin_s: Option<f64>,
    /// The window's fingerprint when it was last listed, and from when.
    pub baseline: Option<(OdooTime, Fingerprint)>,
}
