//! What a verified Dialpad event is about, and its idempotency key.
//!
//! Dialpad's event bodies carry no event type: a call event is the call (`call_id`, `state`,
//! `event_timestamp`, …), an SMS event the message (`id`, `direction`, `message_status`, …), a
//! contact event `{event: Created|Updated|Deleted, contact: {…}}`, an agent status event the
//! agent's `on_duty_status` and `availability_status` (developers.dialpad.com "Call Events",
//! "SMS Events", "Contact Events", "Agent Status Events"; the simulator's
//! `events::payloads`). The kind is read from those shapes.
//!
//! Dialpad retries a delivery it thinks failed, so the same event may arrive twice; the key
//! says when two deliveries are one event. Ids and times are read tolerantly (numbers in
//! events, strings in REST) so that both spellings give one key.

use serde_json::Value;

use crate::read::Reader;

/// What a Dialpad event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Call,
    Contact,
    Sms,
    AgentStatus,
    /// Anything else a subscription may send (change log, fax, channel events…): kept for the
    /// log, not normalized.
    Other,
}

impl EventKind {
    /// A stable label (metrics, logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Call => "call",
            EventKind::Contact => "contact",
            EventKind::Sms => "sms",
            EventKind::AgentStatus => "agent_status",
            EventKind::Other => "other",
        }
    }
}

impl EventKind {
    /// The kind [`EventKind::as_str`] labelled (as stored with a raw event); anything else is
    /// [`EventKind::Other`].
    pub fn parse(s: &str) -> Self {
        [
            EventKind::Call,
            EventKind::Contact,
            EventKind::Sms,
            EventKind::AgentStatus,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .unwrap_or(EventKind::Other)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub kind: EventKind,
    /// Equal for two deliveries of one event, different for two events (see [`classify`]).
    pub dedup_key: String,
    /// The Dialpad id the event is about: the call id (to tell the call's first event from
    /// later ones), the contact's, the message's, the agent's; empty for [`EventKind::Other`].
    pub id: String,
    /// Set when `dedup_key` is made from the content (a contact event without a time): then a
    /// repeat is an event equal to the *latest* one stored whose key starts with this prefix
    /// (the same contact), and the key stored is [`chained_key`]'s, so that a contact changed
    /// and changed back (A → B → A) is three events, not two.
    pub chain_prefix: Option<String>,
}

/// The key to store for a content-keyed event ([`Inbound::chain_prefix`]) given the key of the
/// latest event stored for the same resource (`latest`), or `None` when the event repeats that
/// latest one (a Dialpad retry: a duplicate). The stored key is the content key followed by a
/// hash of the latest key, so two deliveries of one change made after the same predecessor
/// still share a key (the store's unique key settles a race between two instances), while a
/// return to an earlier content follows a different predecessor and gets a new key.
///
/// The trade-off, with no time in the payload: a retry of A that Dialpad sends only after B
/// arrived reads as a change back to A (delivered again: at least once, never lost).
pub fn chained_key(content_key: &str, latest: Option<&str>) -> Option<String> {
    if latest.is_some_and(|l| content_of(l) == content_key) {
        return None;
    }
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(latest.unwrap_or("").as_bytes());
    Some(format!("{content_key}:p{}", crate::resources::hex(&h[..8])))
}

/// The content key inside a stored key: [`chained_key`]'s without its predecessor part; any
/// other key (with a time, or stored before keys were chained) is its own content key.
fn content_of(stored: &str) -> &str {
    match stored.rsplit_once(':') {
        Some((head, last)) if last.starts_with('p') => match head.rsplit_once(':') {
            Some((_, h)) if h.starts_with('h') => head,
            _ => stored,
        },
        _ => stored,
    }
}

/// An event that cannot be told apart from others of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    #[error("the event is not a JSON object")]
    NotAnObject,
    /// A field the idempotency key needs is missing or unreadable.
    #[error("a {kind} event without a readable `{field}`")]
    MissingField {
        kind: EventKind,
        field: &'static str,
    },
}

impl ClassifyError {
    /// A stable label (metrics).
    pub const fn reason(&self) -> &'static str {
        match self {
            ClassifyError::NotAnObject => "not_an_object",
            ClassifyError::MissingField { .. } => "missing_field",
        }
    }
}

/// A key part with `%` and `:` escaped, so that parts can never run into each other (a shared
/// contact's id is free text: `shared_uid_…`).
fn part(s: &str) -> String {
    s.replace('%', "%25").replace(':', "%3A")
}

fn key(kind: &str, parts: &[&str]) -> String {
    let mut k = String::from(kind);
    for p in parts {
        k.push(':');
        k.push_str(&part(p));
    }
    k
}

fn has(v: &Value, field: &str) -> bool {
    v.get(field).is_some_and(|x| !x.is_null())
}

fn missing(kind: EventKind, field: &'static str) -> ClassifyError {
    ClassifyError::MissingField { kind, field }
}

/// The kind of a Dialpad event and its idempotency key:
/// - call: `call:{call_id}:{state}:{event_timestamp ms}` (a call may pass through a state twice,
///   hold → connected → hold, so the state alone is not enough);
/// - contact: `contact:{id}:{event}:{t}`, where `t` is the event's `event_timestamp` when it has
///   one, else `h` and a hash of the contact as sent: Dialpad's contact events carry no time at
///   all, so two deliveries of one event are told by their content (see the note below);
/// - SMS: `sms:{id}:{direction}:{message_status}:{message_delivery_result}` (`-` when absent): a
///   status update is the same message with a new status;
/// - agent status: `agent:{target id}:{on_duty_status}:{availability_status}:{event_timestamp}`;
/// - other: `other:{hash of the event}`.
///
/// Note on contacts: without a time in the payload, a contact that is changed and then changed
/// back to exactly what an earlier event of the same type showed (A → B → A, or deleted and
/// recreated with the same id and fields) has the content key of that earlier event; such a
/// key comes with [`Inbound::chain_prefix`], and what is stored is [`chained_key`]'s key, a
/// repeat being told against the contact's latest event only.
pub fn classify(claims: &Value) -> Result<Inbound, ClassifyError> {
    if !claims.is_object() {
        return Err(ClassifyError::NotAnObject);
    }
    let mut r = Reader::new(claims);
    if has(claims, "call_id") {
        let k = EventKind::Call;
        let id = r.id("call_id", "call_id").ok_or(missing(k, "call_id"))?;
        let state = r.string("state", "state").ok_or(missing(k, "state"))?;
        let at = r
            .time("event_timestamp", "event_timestamp")
            .ok_or(missing(k, "event_timestamp"))?;
        let at = at.as_millis().to_string();
        return Ok(Inbound {
            kind: k,
            dedup_key: key("call", &[&id, &state, &at]),
            id,
            chain_prefix: None,
        });
    }
    if let Some(contact) = claims.get("contact").filter(|_| has(claims, "event")) {
        let k = EventKind::Contact;
        let event = r.string("event", "event").ok_or(missing(k, "event"))?;
        let id = Reader::new(contact)
            .id("id", "id")
            .ok_or(missing(k, "contact.id"))?;
        let (t, chain_prefix) = match r.time("event_timestamp", "event_timestamp") {
            Some(t) => (t.as_millis().to_string(), None),
            None => (
                format!("h{}", crate::resources::fingerprint(contact)),
                Some(format!("{}:", key("contact", &[&id]))),
            ),
        };
        return Ok(Inbound {
            kind: k,
            dedup_key: key("contact", &[&id, &event, &t]),
            id,
            chain_prefix,
        });
    }
    if has(claims, "message_status")
        || (has(claims, "direction") && (has(claims, "from_number") || has(claims, "to_number")))
    {
        let k = EventKind::Sms;
        let id = r.id("id", "id").ok_or(missing(k, "id"))?;
        let direction = r
            .string("direction", "direction")
            .ok_or(missing(k, "direction"))?;
        let status = r
            .string("message_status", "message_status")
            .unwrap_or_else(|| "-".into());
        let result = r
            .string("message_delivery_result", "message_delivery_result")
            .unwrap_or_else(|| "-".into());
        return Ok(Inbound {
            kind: k,
            dedup_key: key("sms", &[&id, &direction, &status, &result]),
            id,
            chain_prefix: None,
        });
    }
    if has(claims, "on_duty_status") || has(claims, "availability_status") {
        let k = EventKind::AgentStatus;
        let id = claims
            .get("target")
            .and_then(|t| Reader::new(t).id("id", "target.id"))
            .ok_or(missing(k, "target.id"))?;
        let duty = r
            .string("on_duty_status", "on_duty_status")
            .unwrap_or_else(|| "-".into());
        let availability = r
            .string("availability_status", "availability_status")
            .unwrap_or_else(|| "-".into());
        let at = r
            .time("event_timestamp", "event_timestamp")
            .or_else(|| r.time("date", "date"))
            .ok_or(missing(k, "event_timestamp"))?;
        let at = at.as_millis().to_string();
        return Ok(Inbound {
            kind: k,
            dedup_key: key("agent", &[&id, &duty, &availability, &at]),
            id,
            chain_prefix: None,
        });
    }
    Ok(Inbound {
        kind: EventKind::Other,
        dedup_key: key("other", &[&crate::resources::fingerprint(claims)]),
        id: String::new(),
        chain_prefix: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::fixtures;
    use serde_json::json;
    use std::collections::HashSet;

    #[test]
    fn kinds_read_back_from_their_labels() {
        for k in [
            EventKind::Call,
            EventKind::Contact,
            EventKind::Sms,
            EventKind::AgentStatus,
            EventKind::Other,
        ] {
            assert_eq!(EventKind::parse(k.as_str()), k);
        }
        assert_eq!(EventKind::parse("fax"), EventKind::Other);
    }

    #[test]
    fn every_fixture_is_classified_with_a_distinct_key() {
        let f = fixtures::load();
        let mut keys = HashSet::new();
        for e in f["events"].as_array().unwrap() {
            let name = e["name"].as_str().unwrap();
            let got = classify(&e["claims"]).unwrap_or_else(|err| panic!("{name}: {err}"));
            let want = match name.split('/').next().unwrap() {
                "call" => EventKind::Call,
                "contact" => EventKind::Contact,
                "sms" => EventKind::Sms,
                other => panic!("{other}"),
            };
            assert_eq!(got.kind, want, "{name}");
            assert!(
                keys.insert(got.dedup_key.clone()),
                "{name}: {}",
                got.dedup_key
            );
            // A redelivery is the same event.
            assert_eq!(classify(&e["claims"].clone()).unwrap(), got);
        }
        assert_eq!(keys.len(), f["events"].as_array().unwrap().len());
    }

    #[test]
    fn keys_exactly() {
        let f = fixtures::load();
        let ev = |n: &str| classify(&fixtures::event(&f, n)).unwrap();
        let ringing = fixtures::event(&f, "call/answered/ringing");
        assert_eq!(
            ev("call/answered/ringing").dedup_key,
            format!(
                "call:4504573872449765:ringing:{}",
                ringing["event_timestamp"].as_i64().unwrap()
            )
        );
        assert_eq!(ev("call/answered/ringing").id, "4504573872449765");
        assert_eq!(
            ev("sms/outbound/pending").dedup_key,
            "sms:4504573872452006:outbound:pending:accepted"
        );
        assert_eq!(
            ev("sms/outbound/success").dedup_key,
            "sms:4504573872452006:outbound:success:accepted"
        );
        assert_eq!(
            ev("sms/inbound/success").dedup_key,
            "sms:4504573872452171:inbound:success:-"
        );
        let created = ev("contact/shared/Created/4504573872453879");
        assert!(
            created
                .dedup_key
                .starts_with("contact:4504573872453879:Created:h"),
            "{}",
            created.dedup_key
        );
        // The shared contact's free-text id cannot run into the next part.
        let upsert = ev("contact/shared/Created/shared_uid_crm-42");
        assert!(upsert
            .dedup_key
            .starts_with("contact:shared_uid_crm-42:Created:h"));
        let odd =
            classify(&json!({"event": "Updated", "contact": {"id": "shared_uid_a:b%"}})).unwrap();
        assert!(odd
            .dedup_key
            .starts_with("contact:shared_uid_a%3Ab%25:Updated:h"));
        assert_eq!(odd.id, "shared_uid_a:b%");
    }

    #[test]
    fn number_and_string_spellings_give_one_key() {
        let a = classify(&json!({"call_id": 6473016367898624_i64, "state": "hold", "event_timestamp": 1704164645000_i64})).unwrap();
        let b = classify(&json!({"call_id": "6473016367898624", "state": "hold", "event_timestamp": "1704164645000"})).unwrap();
        assert_eq!(a, b);
        // The same state later is another event.
        let c = classify(&json!({"call_id": 6473016367898624_i64, "state": "hold", "event_timestamp": 1704164699000_i64})).unwrap();
        assert_ne!(a.dedup_key, c.dedup_key);
    }

    #[test]
    fn contact_keys_follow_the_content_or_a_time() {
        let a = json!({"event": "Updated", "contact": {"id": "5", "first_name": "Ada"}});
        let b = json!({"event": "Updated", "contact": {"id": "5", "first_name": "Ada L."}});
        assert_ne!(
            classify(&a).unwrap().dedup_key,
            classify(&b).unwrap().dedup_key
        );
        let deleted = json!({"event": "Deleted", "contact": {"id": "5", "first_name": "Ada"}});
        assert_ne!(
            classify(&a).unwrap().dedup_key,
            classify(&deleted).unwrap().dedup_key
        );
        let timed =
            json!({"event": "Updated", "event_timestamp": 1704164645000_i64, "contact": {"id": 5}});
        assert_eq!(
            classify(&timed).unwrap().dedup_key,
            "contact:5:Updated:1704164645000"
        );
    }

    #[test]
    fn content_keys_chain_so_a_change_back_is_a_new_event() {
        let a = json!({"event": "Updated", "contact": {"id": "5", "first_name": "Ada"}});
        let b = json!({"event": "Updated", "contact": {"id": "5", "first_name": "Ada L."}});
        let (a, b) = (classify(&a).unwrap(), classify(&b).unwrap());
        assert_eq!(a.chain_prefix.as_deref(), Some("contact:5:"));
        let timed = json!({"event": "Updated", "event_timestamp": 1, "contact": {"id": 5}});
        assert_eq!(classify(&timed).unwrap().chain_prefix, None);
        // A, a retry of A, B, A again, a retry of that.
        let a1 = chained_key(&a.dedup_key, None).unwrap();
        assert!(a1.starts_with(&format!("{}:p", a.dedup_key)));
        assert_eq!(
            chained_key(&a.dedup_key, Some(&a1)),
            None,
            "a retry of the latest"
        );
        let b1 = chained_key(&b.dedup_key, Some(&a1)).unwrap();
        let a2 = chained_key(&a.dedup_key, Some(&b1)).unwrap();
        assert_ne!(a2, a1, "A after B is a new event");
        assert_eq!(chained_key(&a.dedup_key, Some(&a2)), None);
        // Two instances that saw the same predecessor make the same key (the store's unique key
        // then keeps one).
        assert_eq!(chained_key(&b.dedup_key, Some(&a1)), Some(b1.clone()));
        // A key stored before chaining, or one with a time, is its own content.
        assert_eq!(chained_key(&a.dedup_key, Some(&a.dedup_key)), None);
        assert!(chained_key(&a.dedup_key, Some("contact:5:Updated:17")).is_some());
        // An id or content that happens to look like the suffix is not mistaken for it.
        assert_eq!(content_of("contact:p1:Updated:17"), "contact:p1:Updated:17");
        assert_eq!(content_of("contact:h1:p2"), "contact:h1");
    }

    #[test]
    fn agent_status_and_others() {
        let a = json!({"availability_status": "available", "call_center_ids": ["1"], "date": 1704164645000_i64,
            "event_timestamp": 1704164645001_i64, "on_duty_status": "available", "on_duty_status_reason": null,
            "powerdialer_mode": false, "powerdialer_session": null,
            "target": {"email": "a@x", "id": 59, "name": "Grace", "phone": null, "type": "user"}});
        let got = classify(&a).unwrap();
        assert_eq!(got.kind, EventKind::AgentStatus);
        assert_eq!(got.dedup_key, "agent:59:available:available:1704164645001");
        assert_eq!(got.id, "59");
        let other = classify(&json!({"change_log": {"x": 1}})).unwrap();
        assert_eq!(other.kind, EventKind::Other);
        assert!(other.dedup_key.starts_with("other:"));
        assert_eq!(other.id, "");
        assert_eq!(classify(&json!({})).unwrap().kind, EventKind::Other);
    }

    #[test]
    fn refusals() {
        let cases = [
            (json!([1]), ClassifyError::NotAnObject),
            (json!("call"), ClassifyError::NotAnObject),
            (
                json!({"call_id": 1, "event_timestamp": 5}),
                missing(EventKind::Call, "state"),
            ),
            (
                json!({"call_id": 1, "state": "ringing"}),
                missing(EventKind::Call, "event_timestamp"),
            ),
            (
                json!({"call_id": 1, "state": "ringing", "event_timestamp": "yesterday"}),
                missing(EventKind::Call, "event_timestamp"),
            ),
            (
                json!({"call_id": true, "state": "ringing", "event_timestamp": 5}),
                missing(EventKind::Call, "call_id"),
            ),
            (
                json!({"call_id": 1, "state": 7, "event_timestamp": 5}),
                missing(EventKind::Call, "state"),
            ),
            (
                json!({"event": "Created", "contact": {"first_name": "x"}}),
                missing(EventKind::Contact, "contact.id"),
            ),
            (
                json!({"event": "Created", "contact": "5"}),
                missing(EventKind::Contact, "contact.id"),
            ),
            (
                json!({"event": 3, "contact": {"id": "5"}}),
                missing(EventKind::Contact, "event"),
            ),
            (
                json!({"message_status": "pending", "direction": "outbound"}),
                missing(EventKind::Sms, "id"),
            ),
            (
                json!({"id": 1, "message_status": "pending"}),
                missing(EventKind::Sms, "direction"),
            ),
            (
                json!({"on_duty_status": "available", "event_timestamp": 1}),
                missing(EventKind::AgentStatus, "target.id"),
            ),
        ];
        for (claims, want) in cases {
            assert_eq!(classify(&claims), Err(want.clone()), "{claims}");
            assert!(!want.to_string().is_empty());
        }
        assert_eq!(ClassifyError::NotAnObject.reason(), "not_an_object");
        assert_eq!(missing(EventKind::Sms, "id").reason(), "missing_field");
    }

    #[test]
    fn garbage_never_panics() {
        let values = [
            json!(null),
            json!(1),
            json!({"call_id": null}),
            json!({"call_id": {}, "state": [], "event_timestamp": {}}),
            json!({"call_id": 1e300, "state": "x", "event_timestamp": -1e300}),
            json!({"call_id": 1, "state": "x", "event_timestamp": i64::MAX}),
            json!({"call_id": 1, "state": "x", "event_timestamp": u64::MAX}),
            json!({"event": "Created", "contact": null}),
            json!({"event": null, "contact": {"id": 1}}),
            json!({"direction": "inbound", "to_number": [[]], "id": [1]}),
            json!({"availability_status": {}, "target": []}),
        ];
        for v in values {
            let _ = classify(&v);
        }
    }
}
