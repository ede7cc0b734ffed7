//! The incremental pass. First list `(id, write_date)` of the records written in the window
//! `write_date >= read_at - lookback`, where `read_at` is Odoo's clock when the previous run read
//! (small answers), compare with the mirror in SQL, then `read` only the records that are new,
//! changed, soft-deleted here, or inside the recheck window. A quiet minute therefore costs one
//! small request per model and no write, once `lookback` has passed since the last burst of
//! writes (within it, the burst is listed again: that is how a late commit inside it is seen).
use pgrx::prelude::*;
use scrap_sga_core::ids::IdRange;
use scrap_sga_core::odoo::time::OdooTime;
use serde_json::json;

use super::context::{Mirror, ModelRun};
use crate::listing::{pairs_document, PAIRS};
use super::streams::{self, Event};
use crate::catalog::retry_queue::RetryQueue;
use crate::catalog::run_log::{timestamptz, Counts, RunLog};
use crate::errors::SyncError;

/// Pairs listed per request: ids and write dates only, about 40 bytes each.
const LIST_PAGE: usize = 10_000;

/// A record waiting in the retry queue is left to its retry while its write_date stays what it
/// was when it failed, except inside the recheck window, where a second write in the same second
/// keeps the same write_date (and may be the cure).
pub struct Window {
    /// `write_date >= since`.
    pub since: OdooTime,
    /// Records with `write_date >= recheck_from` are read again even if their write_date matches:
    /// they were written too close to the previous read, and a second write within the same
    /// second has the same truncated write_date.
    pub recheck_from: Option<OdooTime>,
}

impl ModelRun<'_> {
    pub fn copy_changes(&mut self, window: &Window) -> Result<(), SyncError> {
        let (t, model) = (self.mirror.table.clone(), self.model().to_owned());
        let to_read_sql = format!(
            "SELECT coalesce(array_agg(o.id ORDER BY o.id), '{{}}')
             FROM {PAIRS} LEFT JOIN {t} t ON t.id = o.id
             WHERE (t.id IS NULL OR t.sga_deleted_at IS NOT NULL OR t.write_date IS DISTINCT FROM o.write_date OR o.write_date >= $2)
               AND (o.write_date >= $2 OR NOT {})",
            RetryQueue::waiting_sql(&model, "o.id", "o.write_date")
        );
        let listing = self.listing(vec!["write_date".into()], vec![json!(["write_date", ">=", window.since.to_string()])], "listing changes", false);
        let pairs = Mirror::pair_sizer(LIST_PAGE);
        let (mirror, recheck) = (&mut self.mirror, timestamptz(window.recheck_from));
        streams::fetch(self.remote, &listing, vec![IdRange::ALL], 1, &pairs, |remote, event| {
            let Event::Page(page) = event else { return Ok(()) };
            mirror.note_answer(page.answered_at);
            for r in &page.records {
                mirror.note_write_date(r);
            }
            let doc = pairs_document(&page.records);
            let listed = Counts { listed: page.records.len() as i64, ..Default::default() };
            let run_id = mirror.run_id;
            let to_read: Vec<i32> = mirror.db.txn(|| {
                RunLog::add(run_id, &listed)?;
                Ok(Spi::get_one_with_args::<Vec<i32>>(&to_read_sql, &[doc.as_str().into(), recheck.into()])?.unwrap_or_default())
            })?;
            mirror.done.add(&listed);
            mirror.read_ids(remote, &to_read, "read")?;
            if mirror.queue_in_use {
                mirror.db.txn(|| RetryQueue::note_listed(&model, &doc))?;
            }
            Ok(())
        })?;
        self.mirror.count_splits(&pairs);
        Ok(())
    }
}
