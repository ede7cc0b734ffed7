//! Reading records by id and writing them: what the incremental pass, reconciliation, a resync
//! and the retry queue all do once they know which records to read. One loop, so that each of
//! them adapts its batches, sets aside what cannot be fetched, notes Odoo's clock and stops alike.
use scrap_sga_core::batch::CulpritSearch;
use scrap_sga_core::ids::{record_id, OdooId};
use scrap_sga_core::odoo::time::OdooTime;
use scrap_sga_core::odoo::OdooError;
use std::borrow::Cow;

use super::context::ModelRun;
use super::mirror::Mirror;
use super::remote::Remote;
use crate::catalog::retry_queue::RetryQueue;
use crate::errors::SyncError;
use crate::interrupt;
use crate::listing::Listed;

impl ModelRun<'_> {
    /// [`Mirror::read_ids`] through this run's remote.
    pub fn read_ids(&mut self, ids: &[OdooId], what: &str) -> Result<Vec<OdooId>, SyncError> {
        self.mirror.read_ids(self.remote, ids, what)
    }
}

impl Mirror {
    /// After a page of `(id, write_date)` pairs (`listed`, and its document `doc` if the caller
    /// made one): read the records it showed to be read, then tell the retry queue which records
    /// were listed (see `RetryQueue::note_listed`). A listing page answered without SQL
    /// (`Listed::ids_if_all_newer`) has no document: it is made here only if the queue needs it.
    pub fn read_listed(&mut self, remote: &mut Remote, to_read: &[OdooId], what: &str, listed: &Listed<'_>, doc: Option<&str>) -> Result<(), SyncError> {
        self.read_ids(remote, to_read, what)?;
        if self.queue_in_use() {
            let model = self.model().to_owned();
            let doc = doc.map_or_else(|| Cow::Owned(listed.document()), Cow::Borrowed);
            self.txn(|| RetryQueue::note_listed(&model, &doc))?;
        }
        Ok(())
    }

    /// `read` the records `ids` with the plan's fields, in batches the model's sizer chooses,
    /// and write each page. A batch Odoo cannot serve is asked again in halves, while Odoo still
    /// answers a small request; a record it cannot serve alone is set aside. So is a record whose
    /// data makes Odoo fail (found in halves, `CulpritSearch`), once other records are seen to
    /// read well. Returns the ids Odoo has: those it returned (`read` silently leaves out those
    /// it no longer has), and those set aside, which it has but could not send. Callers
    /// soft-delete the others. `what` names the step.
    pub fn read_ids(&mut self, remote: &mut Remote, ids: &[OdooId], what: &str) -> Result<Vec<OdooId>, SyncError> {
        let names = self.plan().field_names();
        let mut found = Vec::with_capacity(ids.len());
        let (mut search, mut set_aside, mut good): (CulpritSearch, Vec<OdooId>, Option<OdooId>) = (CulpritSearch::default(), vec![], None);
        let mut pos = 0;
        while pos < ids.len() {
            interrupt::check()?;
            let n = search.limit(self.sizer().with(|s| s.next())).min(ids.len() - pos);
            let chunk = &ids[pos..pos + n];
            let model = self.model().to_owned();
            let failed = |e: &OdooError| SyncError::from_odoo(e).context(format!("{model}: {what}, ids {} to {}", chunk[0], chunk[n - 1]));
            let page = match remote.read(&model, chunk.to_vec(), names.clone()) {
                Ok(page) => page,
                Err(e) => {
                    // An error of one record's data: it is found in halves, from the same place.
                    // One of size: the batch is halved, as long as Odoo answers a small request.
                    let its_own = e.may_be_one_records();
                    let alone = if its_own {
                        search.failed(n)
                    } else if e.is_too_heavy() && remote.answers_small_requests(&model) {
                        if n > 1 {
                            self.sizer().with(|s| s.refused(n, &e));
                        }
                        n == 1
                    } else {
                        return Err(failed(&e));
                    };
                    if !alone {
                        continue;
                    }
                    set_aside.push(chunk[0]);
                    if its_own && !remote.others_read_well(&model, names.clone(), good, set_aside.clone(), self.parked().to_vec()).map_err(|e| failed(&e))? {
                        return Err(failed(&e));
                    }
                    self.set_aside(chunk[0], &e)?;
                    found.push(chunk[0]);
                    pos += 1;
                    continue;
                }
            };
            search.passed(n, n);
            self.sizer().with(|s| s.passed(n, page.len(), remote.last_answer_bytes()));
            let at = remote.server_time();
            self.note_answer(at);
            self.note_skew(at, page.iter().filter_map(OdooTime::write_date_of).max());
            let start = found.len();
            found.extend(page.iter().filter_map(record_id));
            good = found[start..].last().copied().or(good);
            self.write_page(page, None)?;
            pos += n;
        }
        Ok(found)
    }
}
