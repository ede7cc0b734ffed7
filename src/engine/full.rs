//! The full pass: every record of the model, by keyset on id over one or more id ranges read at
//! once (`streams`), each page written as it arrives. Used for the first run, after new columns
//! appear, and by full_resync.
use scrap_sga_core::ids::IdRange;

use super::context::ModelRun;
use super::streams::{self, Event};
use crate::errors::SyncError;

impl ModelRun<'_> {
    pub fn copy_all(&mut self) -> Result<(), SyncError> {
        let listing = self.listing(self.mirror.plan().field_names(), vec![], "search_read", true);
        let parallel = self.mirror.conf().parallel;
        let ranges = streams::split(self.remote, &listing, IdRange::ALL, parallel)?;
        let (sizer, mirror) = (self.mirror.sizer().clone(), &mut self.mirror);
        streams::fetch(self.remote, &listing, ranges, parallel, &sizer, |_, event| match event {
            Event::Page(page) => {
                mirror.note_answer(page.answered_at);
                if !page.records.is_empty() {
                    mirror.write_page(page.records)?;
                }
                Ok(())
            }
            Event::SetAside { id, error } => mirror.set_aside(id, &error),
        })
    }
}
