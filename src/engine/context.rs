//! One model's run: everything its steps share, with a method per step in the step's own module
//! (`full`, `incremental`, `deletions`, `reconcile`, `computed`, `retry`, `resync`), and the
//! reading by ids (`reader`) they all use. It has two halves, so that a step can hand Odoo's
//! pages (read through `remote`) to the mirror's writer as they come: the remote, and the
//! [`Mirror`], the table, its plan and what the run did so far.
use serde_json::Value;

use super::names::DisplayNames;
use super::job::{Invocation, Job};
use super::mirror::Mirror;
use super::remote::Remote;
use super::streams::Listing;
use super::window::RECHECK_SECS;
use crate::catalog::run_log::Report;

pub struct ModelRun<'a> {
    pub inv: &'a Invocation,
    pub remote: &'a mut Remote,
    pub mirror: Mirror,
    /// The display names the invocation's models share.
    pub names: &'a mut DisplayNames,
}

impl<'a> ModelRun<'a> {
    pub fn new(inv: &'a Invocation, remote: &'a mut Remote, mut mirror: Mirror, names: &'a mut DisplayNames) -> ModelRun<'a> {
        mirror.watch_odoo(remote.totals());
        ModelRun { inv, remote, mirror, names }
    }

    pub fn model(&self) -> &str {
        self.mirror.model()
    }

    /// A listing of this model: `fields` of the records under `domain`, by id.
    pub fn listing(&self, fields: Vec<String>, domain: Vec<Value>, what: &'static str, sets_aside: bool) -> Listing {
        Listing { model: self.model().to_owned(), fields, domain, what, sets_aside, parked: self.mirror.parked().to_vec(), prepare: None }
    }

    /// The run is over: what it did, for its row in the run log and the model's state. A
    /// resync or a retry run leaves the cursor where it was.
    pub fn finish(self) -> Report {
        let keeps_cursor = matches!(self.inv.job, Job::Resync { .. } | Job::RetryFailed);
        self.mirror.into_report(RECHECK_SECS, keeps_cursor)
    }
}
