//! A page of records as it came, parsed later. A stream asks for its next page as soon as it
//! knows where the last one ended (its ids, read in one quick pass over the answer that keeps
//! nothing else), and the records are parsed off that path (`RawPage::parse`), while Odoo is
//! already serving the next page: Odoo's serving time, not ours, sets the pace.
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::error::OdooError;
use crate::ids::OdooId;

/// The records of an answer, still the JSON text Odoo sent, with their ids.
#[derive(Debug)]
pub struct RawPage {
    records: Box<RawValue>,
    ids: Vec<Option<OdooId>>,
}

/// A record's id, every other member skipped without being kept.
#[derive(Deserialize)]
struct IdOf {
    #[serde(default)]
    id: Value,
}

impl<'de> Deserialize<'de> for RawPage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawPage, D::Error> {
        let records = Box::<RawValue>::deserialize(d)?;
        // One pass that keeps nothing but the ids (and says whether the records are a list of
        // objects: the parse that follows expects no less).
        let ids = serde_json::from_str::<Vec<IdOf>>(records.get()).map_err(serde::de::Error::custom)?;
        Ok(RawPage { records, ids: ids.into_iter().map(|i| OdooId::from_json(&i.id)).collect() })
    }
}

impl RawPage {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The highest id of the page (None for an empty page, or one whose records have none).
    pub fn max_id(&self) -> Option<OdooId> {
        self.ids.iter().flatten().max().copied()
    }

    /// The records, parsed.
    pub fn parse(self, url: &str) -> Result<Vec<Map<String, Value>>, OdooError> {
        serde_json::from_str(self.records.get())
            .map_err(|_| OdooError::Malformed { url: url.to_owned(), what: "a page whose records are not JSON objects".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_page_knows_its_ids_at_once_and_parses_to_the_same_records() {
        let body = r#"[{"name": "x", "id": 7, "tags": [1, {"id": 99}]}, {"id": 3, "n": 1.5}, {"id": 3000000000}, {"no_id": true}]"#;
        let page: RawPage = serde_json::from_str(body).unwrap();
        assert_eq!(page.len(), 4);
        assert_eq!(page.max_id(), Some(OdooId::from_column(7)), "ids nested deeper, and ids that do not fit, are not ids");
        let parsed = page.parse("u").unwrap();
        let whole: Vec<Map<String, Value>> = serde_json::from_str(body).unwrap();
        assert_eq!(parsed, whole);
        assert!(serde_json::from_str::<RawPage>("[1, 2]").is_err(), "records that are not objects fail at once");
        assert!(serde_json::from_str::<RawPage>("[{\"id\": 1, \"x\": NaN}]").is_err(), "what is not JSON fails at once, as before");
    }
}
