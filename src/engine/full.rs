//! The full pass: every record of the model, by keyset on id over one or more id ranges read at
//! once (`streams`), each page written as it arrives. Used for the first run, after new columns
//! appear, and by full_resync.
use super::pages::PageWriter;
use super::reconcile::IdRange;
use super::remote::Remote;
use super::streams::{self, Listing};
use super::Outcome;
use crate::errors::SyncError;

pub fn copy_all(remote: &mut Remote, w: &mut PageWriter, parallel: usize, out: &mut Outcome) -> Result<(), SyncError> {
    let model = w.model;
    let listing = Listing { model, fields: w.plan.field_names(), page_size: w.page_size, what: "search_read" };
    let ranges = streams::split(remote, model, IdRange::ALL, parallel, out)?;
    streams::fetch(remote, &listing, ranges, parallel, out, |_, page, out| {
        if !page.records.is_empty() {
            w.write(page.records, out)?;
        }
        Ok(())
    })
}
