//! The AI recap as it arrives in Dialpad's `recap_*` call events, one part per event, and the
//! recap shape of `telephonyCallTranscript` (models.md: `recap {summary, actionItems, purposes,
//! outcome}`) merged from the parts a caller stored.
//!
//! Dialpad documents the four states but not where each part sits in the payload; the
//! simulator puts it under the state's name, as `ai_recap` gives it (`recap_summary`: the
//! summary item, `recap_action_items` and `recap_purposes`: their lists, `recap_outcome`: the
//! disposition item). A recap event without its part asks the caller to fetch `ai_recap`
//! instead ([`super::Fetch::Recap`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::models::transcript::{recap_from_dialpad, Recap};

/// The Dialpad call states that carry a recap part.
pub const RECAP_STATES: &[&str] = &[
    "recap_summary",
    "recap_action_items",
    "recap_purposes",
    "recap_outcome",
];

/// One part of a call's AI recap, as stored by the caller until the transcript is asked for
/// with `expand=recap`. Serialized as `{"part": "summary", "value": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "part", content = "value", rename_all = "camelCase")]
pub enum RecapPart {
    Summary(String),
    ActionItems(Vec<String>),
    Purposes(Vec<String>),
    Outcome(String),
}

impl RecapPart {
    /// The part a `recap_*` call event carries; `None` for other states, or when the payload
    /// does not hold a readable part.
    pub fn from_call_event(claims: &Value) -> Option<RecapPart> {
        let state = claims.get("state")?.as_str()?;
        let raw = claims.get(state).filter(|v| !v.is_null())?;
        // Read through the ai_recap mapper: the same item shapes, one reading.
        let wrap = |key: &str| {
            let mut m = Map::new();
            m.insert(key.to_owned(), raw.clone());
            recap_from_dialpad(&Value::Object(m))
        };
        match state {
            "recap_summary" => wrap("summary").summary.map(RecapPart::Summary),
            "recap_action_items" if raw.is_array() => {
                Some(RecapPart::ActionItems(wrap("action_items").action_items))
            }
            "recap_purposes" if raw.is_array() => {
                Some(RecapPart::Purposes(wrap("purposes").purposes))
            }
            "recap_outcome" => wrap("disposition").outcome.map(RecapPart::Outcome),
            _ => None,
        }
    }

    /// The Dialpad call state that carries this part.
    pub const fn state(&self) -> &'static str {
        match self {
            RecapPart::Summary(_) => "recap_summary",
            RecapPart::ActionItems(_) => "recap_action_items",
            RecapPart::Purposes(_) => "recap_purposes",
            RecapPart::Outcome(_) => "recap_outcome",
        }
    }

    /// The part's key in the unified recap.
    pub const fn key(&self) -> &'static str {
        match self {
            RecapPart::Summary(_) => "summary",
            RecapPart::ActionItems(_) => "actionItems",
            RecapPart::Purposes(_) => "purposes",
            RecapPart::Outcome(_) => "outcome",
        }
    }

    /// Sets this part in `recap` (replacing what an earlier event of the same part said).
    pub fn apply(&self, recap: &mut Recap) {
        match self {
            RecapPart::Summary(s) => recap.summary = Some(s.clone()),
            RecapPart::ActionItems(l) => recap.action_items = l.clone(),
            RecapPart::Purposes(l) => recap.purposes = l.clone(),
            RecapPart::Outcome(s) => recap.outcome = Some(s.clone()),
        }
    }

    /// `{key: value}`: the part alone, in the unified recap's spelling (what a
    /// `telephonyCallTranscript::updated` event for this part carries as `recap`).
    pub fn to_recap_fields(&self) -> Map<String, Value> {
        let value = match self {
            RecapPart::Summary(s) | RecapPart::Outcome(s) => Value::String(s.clone()),
            RecapPart::ActionItems(l) | RecapPart::Purposes(l) => {
                Value::Array(l.iter().cloned().map(Value::String).collect())
            }
        };
        let mut m = Map::new();
        m.insert(self.key().to_owned(), value);
        m
    }
}

/// The recap from the parts stored for a call, in the order they arrived (a later part of the
/// same kind replaces an earlier one). Parts not yet arrived are absent (`summary`, `outcome`)
/// or empty (`actionItems`, `purposes`), as in the recap from `ai_recap`.
pub fn merge_recap<'a>(parts: impl IntoIterator<Item = &'a RecapPart>) -> Recap {
    let mut recap = Recap::default();
    for p in parts {
        p.apply(&mut recap);
    }
    recap
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::fixtures;
    use serde_json::json;

    #[test]
    fn parts_from_the_simulators_recap_events() {
        let f = fixtures::load();
        let parts: Vec<RecapPart> = RECAP_STATES
            .iter()
            .map(|s| {
                let claims = fixtures::event(&f, &format!("call/answered/{s}"));
                let p = RecapPart::from_call_event(&claims).unwrap_or_else(|| panic!("{s}"));
                assert_eq!(p.state(), *s);
                p
            })
            .collect();
        assert_eq!(
            parts[0],
            RecapPart::Summary(
                "Mason Garcia spoke with +12025550147 about customer frustration. Next steps were agreed."
                    .into()
            )
        );
        assert_eq!(
            parts[1],
            RecapPart::ActionItems(vec![
                "Mason Garcia to follow up on customer frustration".into(),
                "Mason Garcia to follow up on renewal discussion".into()
            ])
        );
        assert_eq!(
            parts[2],
            RecapPart::Purposes(vec!["Discuss customer frustration".into()])
        );
        assert_eq!(parts[3], RecapPart::Outcome("Follow-up required".into()));
        // Merged, the parts are what the call's ai_recap answer maps to (the mapper the
        // transcript's `expand=recap` uses).
        let from_events = merge_recap(&parts);
        let mut ai_recap = json!({});
        for (k, state) in [
            ("summary", "recap_summary"),
            ("action_items", "recap_action_items"),
            ("purposes", "recap_purposes"),
            ("disposition", "recap_outcome"),
        ] {
            ai_recap[k] = fixtures::event(&f, &format!("call/answered/{state}"))[state].clone();
        }
        assert_eq!(from_events, recap_from_dialpad(&ai_recap));
        assert_eq!(from_events.summary.as_deref(), Some("Mason Garcia spoke with +12025550147 about customer frustration. Next steps were agreed."));
    }

    #[test]
    fn other_states_and_missing_parts() {
        let f = fixtures::load();
        assert_eq!(
            RecapPart::from_call_event(&fixtures::event(&f, "call/answered/hangup")),
            None
        );
        for (claims, why) in [
            (json!({"state": "recap_summary"}), "no part"),
            (
                json!({"state": "recap_summary", "recap_summary": null}),
                "null part",
            ),
            (
                json!({"state": "recap_summary", "recap_summary": {"content": ""}}),
                "empty summary",
            ),
            (
                json!({"state": "recap_summary", "recap_summary": "text"}),
                "not an item",
            ),
            (
                json!({"state": "recap_action_items", "recap_action_items": {"content": "x"}}),
                "not a list",
            ),
            (
                json!({"state": "recap_outcome", "recap_outcome": []}),
                "not an item",
            ),
            (json!({"state": 5, "5": {}}), "state not a string"),
            (json!([]), "not an object"),
        ] {
            assert_eq!(RecapPart::from_call_event(&claims), None, "{why}");
        }
        // An empty list is a part: the recap has no action items.
        assert_eq!(
            RecapPart::from_call_event(
                &json!({"state": "recap_action_items", "recap_action_items": []})
            ),
            Some(RecapPart::ActionItems(vec![]))
        );
    }

    #[test]
    fn merging_and_storing() {
        let parts = [
            RecapPart::Outcome("Won".into()),
            RecapPart::Summary("first".into()),
            RecapPart::Summary("edited".into()),
        ];
        let r = merge_recap(&parts);
        assert_eq!(r.summary.as_deref(), Some("edited"));
        assert_eq!(r.outcome.as_deref(), Some("Won"));
        assert!(r.action_items.is_empty());
        assert_eq!(merge_recap(&[]), Recap::default());
        // What the caller stores and reads back.
        for p in parts
            .iter()
            .chain([&RecapPart::Purposes(vec!["Sales".into()])])
        {
            let stored = serde_json::to_value(p).unwrap();
            assert_eq!(serde_json::from_value::<RecapPart>(stored).unwrap(), *p);
        }
        assert_eq!(
            serde_json::to_value(RecapPart::ActionItems(vec!["a".into()])).unwrap(),
            json!({"part": "actionItems", "value": ["a"]})
        );
        assert_eq!(
            Value::Object(RecapPart::Purposes(vec!["p".into()]).to_recap_fields()),
            json!({"purposes": ["p"]})
        );
        // The unified spelling of each key matches the Recap struct's.
        let full = serde_json::to_value(Recap {
            summary: Some("s".into()),
            action_items: vec![],
            purposes: vec![],
            outcome: Some("o".into()),
        })
        .unwrap();
        for p in [
            RecapPart::Summary(String::new()),
            RecapPart::ActionItems(vec![]),
            RecapPart::Purposes(vec![]),
            RecapPart::Outcome(String::new()),
        ] {
            assert!(full.get(p.key()).is_some(), "{}", p.key());
        }
    }
}
