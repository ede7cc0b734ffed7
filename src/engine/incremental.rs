//! The incremental pass, over the window of records written since `read_at - lookback` (where
//! `read_at` is Odoo's clock when the previous run read): late commits up to `lookback` are in
//! it, and a burst of writes leaves it once `lookback` has passed.
//!
//! 1. Odoo's fingerprint of the window as it was last listed (count, id sum, newest write_date,
//!    one small request, see `Client::fingerprint`), against the one kept then: the same, and
//!    nothing was written in it since, so nothing is listed. A quiet run is that request, and the
//!    deletion check's.
//! 2. Otherwise the window's fingerprint is taken again (before listing: whatever is written from
//!    then on makes the next one differ). What was written since the previous run read (from
//!    `recheck_from`, a couple of seconds before) is listed: `(id, write_date)` pairs, compared
//!    with the mirror in SQL, and only the records that are new, changed, soft-deleted here, or
//!    copied too soon after their write (the recheck below) are read.
//! 3. The rest of the window was written before the previous run: only a late commit (or a
//!    deletion) can have changed it since. After the deletion check (which finds deletions and
//!    late creations: they change the model's count and id sum), its fingerprint in Odoo is
//!    compared with the mirror's rows written then, and where they differ, by id ranges halved
//!    (`halving`); only the ranges that differ are listed. A bulk write is not listed again at
//!    each change after it.
//!
//! What a fingerprint cannot see, a late commit that rewrote a record already in the window with a
//! write_date no newer than the newest of its range, the next reconcile sees (`reconcile_every`):
//! its write_date differs from the mirror's. A record of the window rewritten in the very second
//! of the window's newest write, after the fingerprint, would be such a change: so a fingerprint
//! taken within a few seconds of the newest write is not kept, and the next run lists what was
//! written since this one read. A server without `read_group` or `formatted_read_group` has every
//! window listed, as before 0.3.0.
//!
//! The recheck: two writes within one second carry the same write_date, so a record copied less
//! than a couple of seconds after its write (in Odoo's clock, measured) is read once more by the
//! next run; one copied later cannot hide a second write of its second.
use pgrx::prelude::*;
use scrap_sga_core::ids::IdRange;
use scrap_sga_core::odoo::fingerprint::Fingerprint;
use scrap_sga_core::odoo::time::OdooTime;
use serde_json::json;

use super::context::ModelRun;
use super::halving::Halving;
use super::window::{Window, RECHECK_SECS};
use super::mirror::Unit;
use super::streams::{self, Event, SharedSizer};
use crate::catalog::retry_queue::RetryQueue;
use crate::catalog::run_log::Counts;
use crate::errors::SyncError;
use crate::interrupt;
use crate::listing::{json_arg, to_read_sql, Listed};
use crate::values::{ids, odoo_time, timestamptz};

/// Pairs listed per request: ids and write dates only, about 40 bytes each.
const LIST_PAGE: usize = 10_000;

impl ModelRun<'_> {
    /// Copy what changed in the window. When only what was written since the previous run was
    /// listed, returns the rest of the window, `[since, until)`, for [`Self::copy_late_commits`]
    /// once the deletion check has run.
    pub fn copy_changes(&mut self, window: &Window) -> Result<Option<(OdooTime, OdooTime)>, SyncError> {
        if self.window_unchanged(window)? {
            self.recheck(window)?;
            return Ok(None);
        }
        let model = self.model().to_owned();
        let since = json!(["write_date", ">=", window.since.to_string()]);
        let fingerprint = self
            .remote
            .fingerprint(&model, json!([since.clone()]), true)
            .map_err(|e| SyncError::from_odoo(&e).context(format!("{model}: fingerprint of the window")))?;
        let taken_at = self.remote.server_time();
        // A fingerprint taken within the same seconds as the window's newest write cannot be
        // trusted as the next run's baseline: another record of the window rewritten in that
        // second after it keeps its count, ids and newest write_date. The next run lists again.
        // Whole seconds of a skew measured in whole seconds.
        #[allow(clippy::cast_possible_truncation)]
        let margin = RECHECK_SECS + self.mirror.skew_s().ceil() as i64 + 1;
        let settled = |fp: &Fingerprint| match (fp.newest, taken_at) {
            (Some(newest), Some(at)) => at.seconds_since(newest) > margin,
            (None, _) => true,
            (Some(_), None) => false,
        };
        self.mirror.note_window(fingerprint.filter(settled).map(|fp| (window.since, fp)));
        // What was written since the previous run read is listed whole: a fingerprint cannot
        // tell a record rewritten in the second of another write from the copy of its first write.
        // Before that, only late commits can have changed the window: it is compared with the
        // mirror by fingerprints, and only the id ranges that differ are listed.
        match (fingerprint, window.recheck_from.filter(|r| *r > window.since)) {
            (Some(_), Some(recent)) => {
                self.list_window(window, vec![json!(["write_date", ">=", recent.to_string()])], vec![IdRange::ALL], None)?;
                Ok(Some((window.since, recent)))
            }
            _ => {
                // The whole window is listed: its fingerprint counts it.
                self.list_window(window, vec![since], vec![IdRange::ALL], fingerprint.map(|f| f.count))?;
                Ok(None)
            }
        }
    }

    /// The window's records written in `[since, until)`, before the previous run read: compared
    /// with the mirror by fingerprints, and only the id ranges that differ listed. Run after the
    /// deletion check, which leaves only late rewrites to be found here.
    pub fn copy_late_commits(&mut self, window: &Window, (since, until): (OdooTime, OdooTime)) -> Result<(), SyncError> {
        let written = vec![json!(["write_date", ">=", since.to_string()]), json!(["write_date", "<", until.to_string()])];
        let ranges = self.differing_ranges(&written, since, until)?;
        if ranges.is_empty() {
            return Ok(());
        }
        self.list_window(window, written, ranges, None)
    }

    /// List the window's `(id, write_date)` pairs in `ranges`, compare them with the mirror in
    /// SQL, and read the records that are new, changed, soft-deleted here, or to be checked again;
    /// a phase of its own, of `expected` pairs where known.
    fn list_window(&mut self, window: &Window, domain: Vec<serde_json::Value>, ranges: Vec<IdRange>, expected: Option<i64>) -> Result<(), SyncError> {
        self.mirror.begin_phase("window", Unit::Listed, 0, expected, None)?;
        let model = self.model().to_owned();
        let t = self.mirror.table().to_owned();
        // A pair written after the mirror's newest row, as it was before this listing, is read
        // without looking its id up (`to_read_sql`); a page of only such pairs (written since
        // the recheck) is not even sent to SQL (`Listed::ids_if_all_newer`).
        let newest = self.mirror.txn(|| Ok(Spi::get_one::<TimestampWithTimeZone>(&format!("SELECT max(write_date) FROM ONLY {t}"))?))?;
        let to_read_sql = to_read_sql(&t, &RetryQueue::waiting_sql(&model, "o.id", "o.write_date"));
        let listing = self.listing(vec!["write_date".into()], domain, "listing changes", false);
        let pairs = SharedSizer::pairs(LIST_PAGE);
        let (mirror, recheck, margin) = (&mut self.mirror, timestamptz(window.recheck_from), window.recheck_margin_s);
        streams::fetch(self.remote, &listing, ranges, 1, &pairs, |remote, event| {
            let Event::Page(page) = event else { return Ok(()) };
            let listed = Listed::of(&page.records);
            mirror.note_answer(page.answered_at);
            let written = listed.newest();
            mirror.note_skew(page.answered_at, written);
            mirror.note_write_date(written);
            let counts = Counts { listed: listed.count(), ..Default::default() };
            // A page of pairs all newer than the mirror is answered in Rust: no statement, and no
            // document of its pairs. Another page's document is made before the transaction:
            // writing it is not database work.
            let all_newer = recheck.and_then(|from| listed.ids_if_all_newer(newest.map(|n| n.into_inner()), from.into_inner()));
            let (to_read, doc) = match all_newer {
                Some(ids) => (mirror.counted(|| Ok((ids, counts)))?, None),
                None => {
                    let doc = listed.document();
                    let to_read = mirror.counted(|| {
                        let found = Spi::get_one_with_args::<Vec<i32>>(&to_read_sql, &[json_arg(&doc), recheck.into(), margin.into(), newest.into()])?;
                        Ok((ids(found), counts))
                    })?;
                    (to_read, Some(doc))
                }
            };
            mirror.read_listed(remote, &to_read, "read", &listed, doc.as_deref())
        })?;
        self.mirror.count_splits(&pairs);
        Ok(())
    }

    /// The id ranges where Odoo's records written in `[since, until)` (the domain `written`)
    /// differ from the mirror's live rows written then, by their fingerprints: none when they
    /// agree; else the ranges that differ, halved down to leaves (`halving`), in id order. What a
    /// fingerprint cannot tell apart (see `Fingerprint`) waits for the reconcile.
    fn differing_ranges(&mut self, written: &[serde_json::Value], since: OdooTime, until: OdooTime) -> Result<Vec<IdRange>, SyncError> {
        let (model, table) = (self.model().to_owned(), self.mirror.table().to_owned());
        let top = self.mirror.txn(|| Ok(Spi::get_one::<i32>(&format!("SELECT max(id) FROM ONLY {table}"))?.unwrap_or(0)))?;
        let halving = Halving { top };
        let mut todo = vec![IdRange::ALL];
        let mut leaves = Vec::new();
        while let Some(range) = todo.pop() {
            interrupt::check()?;
            let odoo = self
                .remote
                .fingerprint(&model, range.domain_with(written), true)
                .map_err(|e| SyncError::from_odoo(&e).context(format!("{model}: fingerprint of the window, ids after {}", range.lo)))?;
            let Some(odoo) = odoo else {
                leaves.push(range);
                continue;
            };
            let mirror = self.mirror.txn(|| window_fingerprint(&table, since, until, range))?;
            if odoo == mirror {
                continue;
            }
            match halving.halves(range, odoo.count.min(mirror.count)) {
                Some((left, right)) => todo.extend([right, left]),
                None => leaves.push(range),
            }
        }
        leaves.sort_by_key(|r| r.lo);
        Ok(leaves)
    }

    /// Whether Odoo's fingerprint of the window, as it was last listed, is still what it was.
    fn window_unchanged(&mut self, window: &Window) -> Result<bool, SyncError> {
        // A baseline from before the window's start covers it; one from after does not (the DBA
        // made lookback longer).
        let Some((from, then)) = window.baseline.filter(|(from, _)| *from <= window.since) else { return Ok(false) };
        let model = self.model().to_owned();
        let now = self
            .remote
            .fingerprint(&model, json!([["write_date", ">=", from.to_string()]]), true)
            .map_err(|e| SyncError::from_odoo(&e).context(format!("{model}: fingerprint of the window")))?;
        let at = self.remote.server_time();
        self.mirror.note_answer(at);
        Ok(now == Some(then))
    }

    /// Read again the rows copied too soon after their write to trust that no second write of
    /// the same second followed (the recheck), when the window itself is not listed.
    fn recheck(&mut self, window: &Window) -> Result<(), SyncError> {
        let Some(from) = window.recheck_from else { return Ok(()) };
        let t = self.mirror.table().to_owned();
        let (from, margin) = (timestamptz(Some(from)), window.recheck_margin_s);
        let to_read = self.mirror.txn(|| {
            Ok(ids(Spi::get_one_with_args::<Vec<i32>>(
                &format!(
                    "SELECT coalesce(array_agg(id ORDER BY id), '{{}}') FROM {t}
                     WHERE write_date >= $1 AND sga_deleted_at IS NULL
                       AND ($2::float8 IS NULL OR write_date + make_interval(secs => $2) >= sga_synced_at)"
                ),
                &[from.into(), margin.into()],
            )?))
        })?;
        if !to_read.is_empty() {
            let n = crate::values::bigint(to_read.len());
            self.mirror.begin_phase("reading changed records", Unit::Fetched, 0, Some(n), None)?;
            self.read_ids(&to_read, "recheck")?;
        }
        Ok(())
    }
}

/// The mirror's fingerprint of its live rows written in `[since, until)` in `range`,
/// in the terms of Odoo's: count, sum of ids, newest write_date to the second.
fn window_fingerprint(table: &str, since: OdooTime, until: OdooTime, range: IdRange) -> Result<Fingerprint, SyncError> {
    let (count, id_sum, newest) = Spi::get_three_with_args::<i64, i64, TimestampWithTimeZone>(
        &format!(
            "SELECT count(*), coalesce(sum(id), 0)::bigint, date_trunc('second', max(write_date))
             FROM ONLY {table} WHERE write_date >= $1 AND write_date < $2 AND sga_deleted_at IS NULL AND {}",
            range.sql("id")
        ),
        &[timestamptz(Some(since)).into(), timestamptz(Some(until)).into()],
    )?;
    Ok(Fingerprint { count: count.unwrap_or(0), id_sum: id_sum.unwrap_or(0), newest: odoo_time(newest) })
}
