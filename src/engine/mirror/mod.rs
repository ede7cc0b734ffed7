//! The mirror's side of a run: the model, its plan and table, and what the run did so far (its
//! `Report`). Every write to a mirror table goes through here (`pages`, with the statements of
//! `upsert`), and so does every transaction of a run: each is timed into the report, and the
//! counters of what it did are added to the run's row in the same transaction and to the report
//! once it committed ([`Mirror::counted`]), the one place they are kept.
mod pages;
mod progress;
mod table;
pub mod upsert;

pub use pages::Checkpoint;
pub use progress::Unit;
pub use table::{timed, Mirror};
