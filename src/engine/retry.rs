//! The retry queue's turn in a run: records that could not be stored or fetched are read again
//! when due (every one of them for resync_failed). A record Odoo no longer has leaves the queue
//! and is soft-deleted here.
use scrap_sga_core::ids::OdooId;
use std::collections::BTreeSet;

use super::context::ModelRun;
use super::mirror::Unit;
use crate::catalog::retry_queue::RetryQueue;
use crate::errors::SyncError;
use crate::values::id_array;

/// How many queued records at each end of the id range a run keeps from the checks of
/// `others_read_well`, whose candidates are the newest and the oldest records: enough for a run
/// of bad records at either end, and a request that stays small however long the queue.
const PARKED_AT_EACH_END: i64 = 100;

impl ModelRun<'_> {
    /// What the queue holds of the model before the run reads anything: whether a stored record
    /// must leave it, and the records `others_read_well` passes over.
    pub fn note_queue(&mut self) -> Result<(), SyncError> {
        let model = self.model().to_owned();
        let (queued, parked) = self.mirror.txn(|| RetryQueue::held(&model, PARKED_AT_EACH_END))?;
        self.mirror.note_queue(queued > 0, parked);
        Ok(())
    }

    pub fn retry_queued(&mut self, all: bool) -> Result<(), SyncError> {
        let model = self.model().to_owned();
        let due = self.mirror.txn(|| RetryQueue::due(&model, all))?;
        if due.is_empty() {
            return Ok(());
        }
        self.mirror.begin_phase("retries", Unit::Fetched, 0, Some(crate::values::bigint(due.len())), None)?;
        for chunk in due.chunks(self.mirror.conf().page_size) {
            let found: BTreeSet<OdooId> = self.read_ids(chunk, "retrying queued records")?.into_iter().collect();
            let gone: Vec<OdooId> = chunk.iter().copied().filter(|id| !found.contains(id)).collect();
            if !gone.is_empty() {
                self.mirror.txn(|| RetryQueue::remove(&model, &gone))?;
                self.mirror.soft_delete("id = ANY($1)", 1, || vec![id_array(&gone).into()])?;
            }
        }
        Ok(())
    }
}
