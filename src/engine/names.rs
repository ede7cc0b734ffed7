//! What an invocation learns of the display names of the models its many2ones point to, shared
//! by its models (see `display`): the records of a related model written since a time, asked
//! once, and names read by id.
use scrap_sga_core::ids::{record_id, IdRange, OdooId};
use scrap_sga_core::odoo::time::OdooTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::SystemTime;

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

/// Display names read by id, and when the oldest of them was asked for (our clock).
pub struct NamesById {
    pub names: Vec<(OdooId, Value)>,
    pub asked_at: SystemTime,
}

/// What an invocation asked of a related model's records written since a time.
enum Written {
    /// Since `from`, answered at `at` (Odoo's clock), asked at `asked_at` (ours); `names` when
    /// few enough to keep.
    Asked { from: OdooTime, at: Option<OdooTime>, asked_at: SystemTime, names: Option<Vec<(OdooId, Value)>> },
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
    /// Names read by id (the reconcile's pass), per related model, with when the first of them
    /// was asked for (our clock).
    by_id: BTreeMap<String, (SystemTime, BTreeMap<OdooId, Value>)>,
    kept: usize,
}

impl DisplayNames {
    pub fn new(ask_from: BTreeMap<String, OdooTime>) -> DisplayNames {
        DisplayNames { ask_from, ..Default::default() }
    }

    /// The records of `relation` written since `from` (or earlier), each page handed to `apply`
    /// with when it was asked for (our clock); Odoo's clock when it answered. Asked once per
    /// invocation when the answer is small enough to keep. `Err(Ok(reason))`: the sync user may
    /// not read `relation`.
    pub fn written_since(
        &mut self,
        remote: &mut Remote,
        relation: &str,
        from: OdooTime,
        mut apply: impl FnMut(&[(OdooId, Value)], SystemTime) -> Result<(), SyncError>,
    ) -> Result<Result<Option<OdooTime>, String>, SyncError> {
        match self.written.get(relation) {
            Some(Written::Refused(why)) => return Ok(Err(why.clone())),
            Some(Written::Asked { from: asked, at, asked_at, names: Some(names) }) if *asked <= from => {
                apply(names, *asked_at)?;
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
        let (mut at, mut kept, mut keeping, asked_at) = (None::<OdooTime>, Vec::new(), true, SystemTime::now());
        let fetched = streams::fetch(remote, &listing, vec![IdRange::ALL], 1, &SharedSizer::pairs(NAMES_PER_READ), |_, event| {
            let Event::Page(page) = event else { return Ok(()) };
            at = match (at, page.answered_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let names = names_of(&page.records);
            apply(&names, asked_at)?;
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
                self.written.insert(relation.to_owned(), Written::Asked { from, at, asked_at, names: keeping.then_some(kept) });
                Ok(Ok(at))
            }
            Err(e) => self.refused(e, relation),
        }
    }

    /// The display names of `ids` of `relation` (those Odoo still has and the sync user may
    /// see): those the invocation read already, and the others in one request (`ids` is one
    /// batch, at most `NAMES_PER_READ`: the caller writes each batch before asking the next).
    /// `Ok(Err(reason))`: the sync user may not read it.
    pub fn by_ids(&mut self, remote: &mut Remote, relation: &str, ids: &[OdooId]) -> Result<Result<NamesById, String>, SyncError> {
        if let Some(Written::Refused(why)) = self.written.get(relation) {
            return Ok(Err(why.clone()));
        }
        let mut asked_at = SystemTime::now();
        let (first_asked, known) = self.by_id.entry(relation.to_owned()).or_insert_with(|| (asked_at, BTreeMap::new()));
        let mut out: Vec<(OdooId, Value)> = ids.iter().filter_map(|id| Some((*id, known.get(id)?.clone()))).collect();
        if !out.is_empty() {
            asked_at = *first_asked;
        }
        let missing: Vec<OdooId> = ids.iter().copied().filter(|id| !known.contains_key(id)).collect();
        if missing.is_empty() {
            return Ok(Ok(NamesById { names: out, asked_at }));
        }
        interrupt::check()?;
        // search_read, not read: a record the sync user's record rules hide is left out, where
        // read would refuse the whole batch.
        let (model, limit) = (relation.to_owned(), missing.len());
        let domain = json!([["id", "in", missing]]);
        let page = match remote.call(move |c| c.search_read(&model, &domain, &["display_name".to_owned()], "id asc", limit)) {
            Ok(page) => page,
            Err(e) => return self.refused(SyncError::from_odoo(&e).context(format!("{relation}: reading display names")), relation),
        };
        let names = names_of(&page);
        if self.kept + names.len() <= KEPT_NAMES {
            self.kept += names.len();
            if let Some((_, known)) = self.by_id.get_mut(relation) {
                known.extend(names.iter().cloned());
            }
        }
        out.extend(names);
        Ok(Ok(NamesById { names: out, asked_at }))
    }

    /// `e`, unless it says the sync user may not read `relation`: then why, kept for the rest of
    /// the invocation.
    fn refused<T>(&mut self, e: SyncError, relation: &str) -> Result<Result<T, String>, SyncError> {
        let Some(o) = e.odoo.as_ref().filter(|o| o.refuses_model()) else { return Err(e) };
        let first = o.to_string();
        let why = format!("the sync user may not read {relation}, or Odoo has no such model: {}", first.lines().next().unwrap_or_default());
        self.written.insert(relation.to_owned(), Written::Refused(why.clone()));
        Ok(Err(why))
    }
}

