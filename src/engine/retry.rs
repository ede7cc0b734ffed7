//! The retry queue's turn in a run: records that could not be stored or fetched are read again
//! when due (every one of them for resync_failed). A record Odoo no longer has leaves the queue
//! and is soft-deleted here.
use super::context::ModelRun;
use crate::catalog::retry_queue::RetryQueue;
use crate::errors::SyncError;

impl ModelRun<'_> {
    pub fn retry_queued(&mut self, all: bool) -> Result<(), SyncError> {
        let model = self.model().to_owned();
        let (queued, due) = self.mirror.db.txn(|| RetryQueue::due(&model, all))?;
        self.mirror.queue_in_use = queued > 0;
        for chunk in due.chunks(self.mirror.conf.page_size) {
            let found: std::collections::BTreeSet<i32> = self.read_ids(chunk, "retrying queued records")?.into_iter().collect();
            let gone: Vec<i32> = chunk.iter().copied().filter(|id| !found.contains(id)).collect();
            if !gone.is_empty() {
                self.mirror.db.txn(|| RetryQueue::remove(&model, &gone))?;
                self.mirror.soft_delete("id = ANY($1)", 1, || vec![gone.clone().into()])?;
            }
        }
        Ok(())
    }
}
