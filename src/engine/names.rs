//! What an invocation learns of the display names of the models its many2ones point to, shared
//! by its models (see `display`): the records of a related model written since a time, asked
//! once, and names read by id.
use scrap_sga_core::ids::{record_id, IdRange, OdooId};
use scrap_sga_core::odoo::time::OdooTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

use super::remote::Remote;
use super::streams::{self, Event, Listing, SharedSizer};
use crate::errors::SyncError;
use crate::interrupt;

/// Records per request for names asked by id (an id and a name each: light records).
pub const NAMES_PER_READ: usize = 5_000;
/// Names an invocation keeps for its other models: beyond, each model asks again.
const KEPT_NAMES: usize = 100_000;

/// The display name of each record of a page (`id`, `display_name`), as the document
/// [`super::mirror::Mirror::rename`] reads.
fn names_of(records: &[Map<String, Value>]) -> Vec<(OdooId, Value)> {
    records.iter().filter_map(|r| Some((record_id(r)?, r.get("display_name").filter(|v| v.is_string()).cloned().unwrap_or(Value::Null)))).collect()
}

/// Names as the JSON document of `rename`: `[{"id": 7, "name": "..."}, ...]`.
pub fn names_document(names: &[(OdooId, Value)]) -> String {
    Value::Array(names.iter().map(|(id, name)| json!({"id": id, "name": name})).collect()).to_string()
}

/// What an invocation asked of a related model's records written since a time.
enum Written {
    /// Since `from`, answered at `at` (Odoo's clock); `names` when few enough to keep.
    Asked { from: OdooTime, at: Option<OdooTime>, names: Option<Vec<(OdooId, Value)>> },
    /// The sync user may not read it: why.
    Refused(String),
}

/// What an invocation knows of the display names of related models, shared by its models.
#[derive(Default)]
pub struct DisplayNames {
    /// Per related model, the earliest time any of the invocation's models needs its records
    /// written since: the one request asks from there.
    ask_from: BTreeMap<String, OdooTime>,
    written: BTreeMap<String, Written>,
    /// Names read by id (the reconcile's pass), per related model.
    by_id: BTreeMap<String, BTreeMap<OdooId, Value>>,
    kept: usize,
}

impl DisplayNames {
    pub fn new(ask_from: BTreeMap<String, OdooTime>) -> DisplayNames {
        DisplayNames { ask_from, ..Default::default() }
    }

    /// The records of `relation` written since `from` (or earlier), each page handed to `apply`;
    /// Odoo's clock when it answered. Asked once per invocation when the answer is small enough
    /// to keep. `Err(Ok(reason))`: the sync user may not read `relation`.
    pub fn written_since(
        &mut self,
        remote: &mut Remote,
        relation: &str,
        from: OdooTime,
        mut apply: impl FnMut(&[(OdooId, Value)]) -> Result<(), SyncError>,
    ) -> Result<Result<Option<OdooTime>, String>, SyncError> {
        match self.written.get(relation) {
            Some(Written::Refused(why)) => return Ok(Err(why.clone())),
            Some(Written::Asked { from: asked, at, names: Some(names) }) if *asked <= from => {
                apply(names)?;
                return Ok(Ok(*at));
            }
            _ => {}
        }
        let from = self.ask_from.get(relation).map_or(from, |shared| from.min(*shared));
        let listing = Listing {
            model: relation.to_owned(),
            fields: vec!["display_name".into()],
            domain: vec![json!(["write_date", ">=", from.to_string()])],
            what: "display names written since the last check",
            sets_aside: false,
            parked: Vec::new(),
            prepare: None,
        };
        let (mut at, mut kept, mut keeping) = (None::<OdooTime>, Vec::new(), true);
        let fetched = streams::fetch(remote, &listing, vec![IdRange::ALL], 1, &SharedSizer::pairs(NAMES_PER_READ), |_, event| {
            let Event::Page(page) = event else { return Ok(()) };
            at = match (at, page.answered_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let names = names_of(&page.records);
            apply(&names)?;
            keeping &= self.kept + kept.len() + names.len() <= KEPT_NAMES;
            if keeping {
                kept.extend(names);
            } else {
                kept.clear();
            }
            Ok(())
        });
        match fetched {
            Ok(()) => {
                self.kept += kept.len();
                self.written.insert(relation.to_owned(), Written::Asked { from, at, names: keeping.then_some(kept) });
                Ok(Ok(at))
            }
            Err(e) => match refusal(&e, relation) {
                Some(why) => {
                    self.written.insert(relation.to_owned(), Written::Refused(why.clone()));
                    Ok(Err(why))
                }
                None => Err(e),
            },
        }
    }

    /// The display names of `ids` of `relation` (those Odoo still has), read by batches, with
    /// those the invocation read already. `Err(Ok(reason))`: the sync user may not read it.
    pub fn by_ids(&mut self, remote: &mut Remote, relation: &str, ids: &[OdooId]) -> Result<Result<Vec<(OdooId, Value)>, String>, SyncError> {
        if let Some(Written::Refused(why)) = self.written.get(relation) {
            return Ok(Err(why.clone()));
        }
        let known = self.by_id.entry(relation.to_owned()).or_default();
        let mut out: Vec<(OdooId, Value)> = ids.iter().filter_map(|id| Some((*id, known.get(id)?.clone()))).collect();
        let missing: Vec<OdooId> = ids.iter().copied().filter(|id| !known.contains_key(id)).collect();
        for chunk in missing.chunks(NAMES_PER_READ) {
            interrupt::check()?;
            let page = match remote.read(relation, chunk.to_vec(), vec!["display_name".into()]) {
                Ok(page) => page,
                Err(e) => {
                    let e = SyncError::from_odoo(&e).context(format!("{relation}: reading display names"));
                    return match refusal(&e, relation) {
                        Some(why) => {
                            self.written.insert(relation.to_owned(), Written::Refused(why.clone()));
                            Ok(Err(why))
                        }
                        None => Err(e),
                    };
                }
            };
            let names = names_of(&page);
            let known = self.by_id.entry(relation.to_owned()).or_default();
            if self.kept + names.len() <= KEPT_NAMES {
                self.kept += names.len();
                known.extend(names.iter().cloned());
            }
            out.extend(names);
        }
        Ok(Ok(out))
    }
}

/// Why the display names of `relation` cannot be had, when that is what `e` says.
fn refusal(e: &SyncError, relation: &str) -> Option<String> {
    let o = e.odoo.as_ref().filter(|o| o.refuses_model())?;
    let first = o.to_string();
    Some(format!("the sync user may not read {relation}, or Odoo has no such model: {}", first.lines().next().unwrap_or_default()))
}

