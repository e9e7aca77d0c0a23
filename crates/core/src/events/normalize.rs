//! A classified Dialpad event → the unified events it means (models.md's event rules), and what
//! the caller has to fetch from Dialpad to emit the rest.
//!
//! - call event: the first state seen for a call is `telephonyCall::created`, every later one
//!   `telephonyCall::updated` (the caller knows which: it has the store); a `transcription` /
//!   `call_transcription` state asks for the transcript ([`Fetch::Transcript`], then
//!   [`transcript_event`]); a `recap_*` state is also `telephonyCallTranscript::updated` with
//!   that part of the recap, and hands the part back to be stored ([`Normalized::recap`]);
//! - contact event: `genericContact::created|updated|deleted`;
//! - SMS event: `telephonySms::received` (inbound), `::sent` (outbound, `pending` or no status:
//!   what Dialpad sends when the message goes out), `::statusChanged` (outbound, any other
//!   status: the delivery-status events of a subscription with `status: true`);
//! - agent status and other events: nothing (no unified model).
//!
//! Every resource is mapped by the models' own `from_dialpad` and rendered by
//! `resources::resource_json`, so an event's `data` is what the resources API answers for the
//! same record (without `rawResource`).

use serde_json::{Map, Value};

use super::recap::{RecapPart, RECAP_STATES};
use super::sms;
use super::EventKind;
use crate::models::transcript::{self, Recap};
use crate::models::{call, contact, MapContext, Mapped, Model, ResourceRef};
use crate::read::{iso, Reader};
use crate::resources::{resource_json, Record, Render};

/// Call states after which Dialpad has a transcript for the call.
pub const TRANSCRIPTION_STATES: &[&str] = &["transcription", "call_transcription"];

/// One event for the app.
#[derive(Debug, Clone, PartialEq)]
pub struct UnifiedEvent {
    /// E.g. `telephonyCall::created`.
    pub event_type: String,
    /// E.g. `telephonyCall`.
    pub model: &'static str,
    pub resource_id: String,
    /// The resource JSON (`{object: "resource", model, id, fields, createdAt, updatedAt}`).
    pub data: Value,
    /// When it happened (Dialpad's event time, else when the connector received it), epoch ms.
    pub occurred_at_ms: i64,
}

/// Something the caller fetches from Dialpad (within the connection's rate budget) to emit
/// the events this one implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// `GET /api/v2/transcripts/{call_id}`, then [`transcript_event`]
    /// (`telephonyCallTranscript::created`).
    Transcript { call_id: String },
    /// `GET /api/v2/call/{call_id}/ai_recap` (scope `ai_recap`): a `recap_*` event came without
    /// its part (Dialpad does not document where the part sits); map it with
    /// `models::transcript::recap_from_dialpad` and emit [`recap_event`].
    Recap { call_id: String },
}

/// A recap part to store for the call, so that `expand=recap` works later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecapUpdate {
    pub call_id: String,
    pub part: RecapPart,
}

/// What one Dialpad event means.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Normalized {
    pub events: Vec<UnifiedEvent>,
    pub fetch: Vec<Fetch>,
    pub recap: Option<RecapUpdate>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The first of `keys` that holds a readable time, epoch ms.
fn event_time(claims: &Value, keys: &[&str]) -> Option<i64> {
    let mut r = Reader::new(claims);
    keys.iter()
        .find_map(|k| r.time(k, k))
        .map(|t| t.as_millis())
}

fn render(mapped: Mapped, seen: Option<(String, String)>) -> Value {
    // `raw` is not rendered (no `rawResource` in events): nothing to copy.
    resource_json(
        Record {
            mapped,
            raw: Value::Null,
        },
        &Render::default(),
        seen,
    )
}

/// [`normalize_at`] with the current time for events that carry none (contact events).
pub fn normalize(
    kind: EventKind,
    claims: &Value,
    ctx: MapContext,
    first_seen_call: bool,
) -> Normalized {
    normalize_at(kind, claims, ctx, first_seen_call, now_ms())
}

/// The unified events of a classified Dialpad event. `first_seen_call`: no earlier event of
/// this call was seen (only read for call events). `received_at_ms`: when the hook arrived,
/// the event time of payloads without one. An event that cannot be normalized (no id, an
/// unknown contact event name or SMS direction) gives nothing, never a panic.
pub fn normalize_at(
    kind: EventKind,
    claims: &Value,
    ctx: MapContext,
    first_seen_call: bool,
    received_at_ms: i64,
) -> Normalized {
    match kind {
        EventKind::Call => call_event(claims, ctx, first_seen_call, received_at_ms),
        EventKind::Contact => contact_event(claims, received_at_ms),
        EventKind::Sms => sms_event(claims, received_at_ms),
        EventKind::AgentStatus | EventKind::Other => Normalized::default(),
    }
}

fn call_event(claims: &Value, ctx: MapContext, first: bool, received: i64) -> Normalized {
    let mapped = call::from_dialpad(claims, ctx);
    if mapped.id.is_empty() {
        return Normalized::default();
    }
    let id = mapped.id.clone();
    let at = event_time(claims, &["event_timestamp"]).unwrap_or(received);
    let state = claims.get("state").and_then(Value::as_str).unwrap_or("");
    let mut out = Normalized::default();
    out.events.push(UnifiedEvent {
        event_type: format!(
            "{}::{}",
            Model::Call.as_str(),
            if first { "created" } else { "updated" }
        ),
        model: Model::Call.as_str(),
        resource_id: id.clone(),
        data: render(mapped, None),
        occurred_at_ms: at,
    });
    if TRANSCRIPTION_STATES.contains(&state) {
        out.fetch.push(Fetch::Transcript {
            call_id: id.clone(),
        });
    }
    if RECAP_STATES.contains(&state) {
        match RecapPart::from_call_event(claims) {
            Some(part) => {
                out.events
                    .push(transcript_update(&id, part.to_recap_fields(), at));
                out.recap = Some(RecapUpdate { call_id: id, part });
            }
            None => out.fetch.push(Fetch::Recap { call_id: id }),
        }
    }
    out
}

/// `telephonyCallTranscript::updated` carrying `recap` (only `call` and `recap` in `fields`:
/// the transcript's lines are not part of a recap event).
fn transcript_update(call_id: &str, recap: Map<String, Value>, at: i64) -> UnifiedEvent {
    let fields: Map<String, Value> = [
        (
            "call".to_owned(),
            serde_json::to_value(ResourceRef::new(Model::Call, call_id)).unwrap_or_default(),
        ),
        ("recap".to_owned(), Value::Object(recap)),
    ]
    .into_iter()
    .collect();
    let mapped = Mapped {
        model: Model::Transcript,
        id: call_id.to_owned(),
        fields,
        created_at: None,
        updated_at: dialpad::Timestamp::from_millis(at).map(iso),
        warnings: Vec::new(),
    };
    UnifiedEvent {
        event_type: format!("{}::updated", Model::Transcript.as_str()),
        model: Model::Transcript.as_str(),
        resource_id: call_id.to_owned(),
        data: render(mapped, None),
        occurred_at_ms: at,
    }
}

/// `telephonyCallTranscript::updated` with a whole recap (after [`Fetch::Recap`]).
pub fn recap_event(call_id: &str, recap: &Recap, occurred_at_ms: i64) -> UnifiedEvent {
    let fields = match serde_json::to_value(recap) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    transcript_update(call_id, fields, occurred_at_ms)
}

/// `telephonyCallTranscript::created` from Dialpad's transcript (`GET /api/v2/transcripts/
/// {call_id}`, fetched after [`Fetch::Transcript`]), with the recap merged from the stored
/// parts when there are any. `call_id` names the resource if Dialpad's answer does not.
pub fn transcript_event(
    call_id: &str,
    raw_transcript: &Value,
    recap: Option<Recap>,
    occurred_at_ms: i64,
) -> UnifiedEvent {
    let mut mapped = transcript::from_dialpad(raw_transcript, recap);
    if mapped.id.is_empty() {
        mapped.id = call_id.to_owned();
        mapped.fields.insert(
            "call".to_owned(),
            serde_json::to_value(ResourceRef::new(Model::Call, call_id)).unwrap_or_default(),
        );
    }
    let id = mapped.id.clone();
    UnifiedEvent {
        event_type: format!("{}::created", Model::Transcript.as_str()),
        model: Model::Transcript.as_str(),
        resource_id: id,
        data: render(mapped, None),
        occurred_at_ms,
    }
}

fn contact_event(claims: &Value, received: i64) -> Normalized {
    let action = match claims.get("event").and_then(Value::as_str) {
        Some(e) if e.eq_ignore_ascii_case("created") => "created",
        Some(e) if e.eq_ignore_ascii_case("updated") => "updated",
        Some(e) if e.eq_ignore_ascii_case("deleted") => "deleted",
        _ => return Normalized::default(),
    };
    let Some(raw) = claims.get("contact").filter(|c| c.is_object()) else {
        return Normalized::default();
    };
    let mapped = contact::from_dialpad(raw);
    if mapped.id.is_empty() {
        return Normalized::default();
    }
    let id = mapped.id.clone();
    let at = event_time(claims, &["event_timestamp"]).unwrap_or(received);
    let t = dialpad::Timestamp::from_millis(at).map(iso);
    // Dialpad keeps no times for contacts: the event's time is when it was created (for a
    // `created` event) and last changed. For the others `createdAt` stays null here; the store
    // knows when the connector first saw the contact.
    let created = action == "created";
    let seen = t.clone().filter(|_| created).map(|t| (t.clone(), t));
    let mut data = render(mapped, seen);
    if let (Some(t), Value::Object(m)) = (t, &mut data) {
        m.insert("updatedAt".to_owned(), Value::String(t));
    }
    Normalized {
        events: vec![UnifiedEvent {
            event_type: format!("{}::{action}", Model::Contact.as_str()),
            model: Model::Contact.as_str(),
            resource_id: id,
            data,
            occurred_at_ms: at,
        }],
        ..Normalized::default()
    }
}

fn sms_event(claims: &Value, received: i64) -> Normalized {
    let m = sms::from_dialpad(claims);
    if m.id.is_empty() {
        return Normalized::default();
    }
    let action = match (m.sms.direction.as_deref(), m.sms.dialpad_status.as_deref()) {
        (Some("inbound"), _) => "received",
        (Some("outbound"), None | Some("pending")) => "sent",
        (Some("outbound"), Some(_)) => "statusChanged",
        _ => return Normalized::default(),
    };
    let id = m.id.clone();
    let at = event_time(claims, &["event_timestamp", "created_date"]).unwrap_or(received);
    let data = sms::resource_json(m, dialpad::Timestamp::from_millis(at).map(iso));
    Normalized {
        events: vec![UnifiedEvent {
            event_type: format!("{}::{action}", sms::MODEL),
            model: sms::MODEL,
            resource_id: id,
            data,
            occurred_at_ms: at,
        }],
        ..Normalized::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{classify, fixtures};
    use serde_json::json;
    use std::collections::HashSet;

    const RECEIVED: i64 = 1_900_000_000_000;

    /// Plays the fixtures in delivery order as the caller would: classify, skip duplicates,
    /// tell the call's first event, normalize. Answers (fixture name, normalized).
    fn play(f: &Value) -> Vec<(String, Normalized)> {
        let mut seen_keys = HashSet::new();
        let mut seen_calls = HashSet::new();
        let mut out = Vec::new();
        for e in f["events"].as_array().unwrap() {
            let claims = &e["claims"];
            let inbound = classify(claims).unwrap();
            if !seen_keys.insert(inbound.dedup_key.clone()) {
                continue;
            }
            let first = inbound.kind == EventKind::Call && seen_calls.insert(inbound.id.clone());
            let n = normalize_at(inbound.kind, claims, MapContext::default(), first, RECEIVED);
            out.push((e["name"].as_str().unwrap().to_owned(), n));
        }
        out
    }

    fn types(n: &Normalized) -> Vec<&str> {
        n.events.iter().map(|e| e.event_type.as_str()).collect()
    }

    #[test]
    fn the_simulators_events_table() {
        let f = fixtures::load();
        let call = "4504573872449765";
        let got = play(&f);
        let by_name = |name: &str| -> &Normalized {
            &got.iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{name}"))
                .1
        };
        // (fixture, event types, asks for the transcript)
        let table: &[(&str, &[&str], bool)] = &[
            // Answered inbound call with transcript and recap.
            (
                "call/answered/preanswer",
                &["telephonyCall::created"],
                false,
            ),
            ("call/answered/ringing", &["telephonyCall::updated"], false),
            (
                "call/answered/connected",
                &["telephonyCall::updated"],
                false,
            ),
            ("call/answered/hangup", &["telephonyCall::updated"], false),
            ("call/answered/postcall", &["telephonyCall::updated"], false),
            (
                "call/answered/recording",
                &["telephonyCall::updated"],
                false,
            ),
            (
                "call/answered/call_transcription",
                &["telephonyCall::updated"],
                true,
            ),
            (
                "call/answered/recap_summary",
                &["telephonyCall::updated", "telephonyCallTranscript::updated"],
                false,
            ),
            (
                "call/answered/recap_outcome",
                &["telephonyCall::updated", "telephonyCallTranscript::updated"],
                false,
            ),
            // Missed.
            ("call/missed/preanswer", &["telephonyCall::created"], false),
            ("call/missed/missed", &["telephonyCall::updated"], false),
            ("call/missed/hangup", &["telephonyCall::updated"], false),
            // Voicemail.
            (
                "call/voicemail/preanswer",
                &["telephonyCall::created"],
                false,
            ),
            (
                "call/voicemail/voicemail",
                &["telephonyCall::updated"],
                false,
            ),
            (
                "call/voicemail/voicemail_uploaded",
                &["telephonyCall::updated"],
                false,
            ),
            // Outbound.
            ("call/outbound/calling", &["telephonyCall::created"], false),
            ("call/outbound/hangup", &["telephonyCall::updated"], false),
            // SMS.
            ("sms/outbound/pending", &["telephonySms::sent"], false),
            (
                "sms/outbound/success",
                &["telephonySms::statusChanged"],
                false,
            ),
            ("sms/inbound/success", &["telephonySms::received"], false),
            // Contacts.
            (
                "contact/shared/Created/4504573872453879",
                &["genericContact::created"],
                false,
            ),
            (
                "contact/shared/Updated/4504573872453879",
                &["genericContact::updated"],
                false,
            ),
            (
                "contact/shared/Deleted/4504573872453879",
                &["genericContact::deleted"],
                false,
            ),
            (
                "contact/shared/Created/shared_uid_crm-42",
                &["genericContact::created"],
                false,
            ),
            (
                "contact/local/Created/4504573872455661",
                &["genericContact::created"],
                false,
            ),
        ];
        for (name, want_types, transcript) in table {
            let n = by_name(name);
            assert_eq!(types(n), *want_types, "{name}");
            let fetch: Vec<Fetch> = transcript
                .then(|| Fetch::Transcript {
                    call_id: call.to_owned(),
                })
                .into_iter()
                .collect();
            assert_eq!(n.fetch, fetch, "{name}");
            for e in &n.events {
                assert_eq!(e.data["object"], "resource", "{name}");
                assert_eq!(e.data["model"], e.model, "{name}");
                assert_eq!(e.data["id"], e.resource_id.as_str(), "{name}");
                assert!(e.event_type.starts_with(e.model), "{name}");
                assert!(
                    e.data.get("warnings").is_none(),
                    "{name}: {}",
                    e.data["warnings"]
                );
                assert!(e.data.get("rawResource").is_none());
            }
        }
        // Every fixture gives at least one event, and only calls are created once.
        assert_eq!(got.len(), f["events"].as_array().unwrap().len());
        let created: Vec<&str> = got
            .iter()
            .flat_map(|(_, n)| n.events.iter())
            .filter(|e| e.event_type == "telephonyCall::created")
            .map(|e| e.resource_id.as_str())
            .collect();
        assert_eq!(created.len(), 4, "{created:?}");
    }

    #[test]
    fn call_data_is_the_resources_api_rendering() {
        let f = fixtures::load();
        let claims = fixtures::event(&f, "call/answered/hangup");
        let n = normalize_at(
            EventKind::Call,
            &claims,
            MapContext::default(),
            false,
            RECEIVED,
        );
        let e = &n.events[0];
        let want = resource_json(
            Record {
                mapped: call::from_dialpad(&claims, MapContext::default()),
                raw: claims.clone(),
            },
            &Render::default(),
            None,
        );
        assert_eq!(e.data, want);
        assert_eq!(e.data["fields"]["status"], "completed");
        assert_eq!(e.data["fields"]["dialpadState"], "hangup");
        assert_eq!(e.data["fields"]["direction"], "inbound");
        assert_eq!(
            e.data["fields"]["users"][0]["id"], "4504573872110687",
            "the agent, as a genericUser ref"
        );
        assert_eq!(
            e.occurred_at_ms,
            claims["event_timestamp"].as_i64().unwrap()
        );
        // Status by outcome, as models.md's rule has it.
        let status = |name: &str| {
            let c = fixtures::event(&f, name);
            normalize_at(EventKind::Call, &c, MapContext::default(), false, RECEIVED).events[0].data
                ["fields"]["status"]
                .clone()
        };
        assert_eq!(status("call/answered/preanswer"), "planned");
        assert_eq!(status("call/answered/connected"), "inProgress");
        assert_eq!(status("call/missed/missed"), "missed");
        assert_eq!(status("call/missed/hangup"), "missed");
        assert_eq!(status("call/voicemail/voicemail"), "voicemail");
        assert_eq!(status("call/voicemail/voicemail_uploaded"), "voicemail");
        assert_eq!(status("call/outbound/calling"), "planned");
        assert_eq!(status("call/outbound/hangup"), "completed");
        assert_eq!(status("call/answered/recap_summary"), "completed");
    }

    #[test]
    fn recap_states_give_the_transcript_update_and_the_part() {
        let f = fixtures::load();
        let mut parts = Vec::new();
        for state in RECAP_STATES {
            let claims = fixtures::event(&f, &format!("call/answered/{state}"));
            let n = normalize_at(
                EventKind::Call,
                &claims,
                MapContext::default(),
                false,
                RECEIVED,
            );
            let t = &n.events[1];
            assert_eq!(t.event_type, "telephonyCallTranscript::updated");
            assert_eq!(t.resource_id, "4504573872449765");
            assert_eq!(t.data["fields"]["call"]["model"], "telephonyCall");
            let update = n.recap.clone().unwrap();
            assert_eq!(update.call_id, "4504573872449765");
            assert_eq!(update.part.state(), *state);
            assert_eq!(
                t.data["fields"]["recap"],
                Value::Object(update.part.to_recap_fields())
            );
            assert_eq!(
                t.occurred_at_ms,
                claims["event_timestamp"].as_i64().unwrap()
            );
            assert_eq!(
                t.data["updatedAt"],
                iso(dialpad::Timestamp::from_millis(t.occurred_at_ms).unwrap())
            );
            parts.push(update.part);
        }
        let merged = super::super::merge_recap(&parts);
        assert_eq!(merged.outcome.as_deref(), Some("Follow-up required"));
        let e = recap_event("4504573872449765", &merged, 5);
        assert_eq!(e.event_type, "telephonyCallTranscript::updated");
        assert_eq!(
            e.data["fields"]["recap"]["purposes"],
            json!(["Discuss customer frustration"])
        );
        // A recap state without its part: fetch the recap instead.
        let bare = json!({"call_id": 9, "state": "recap_purposes", "event_timestamp": 5,
            "date_connected": 1, "date_ended": 4});
        let n = normalize_at(
            EventKind::Call,
            &bare,
            MapContext::default(),
            false,
            RECEIVED,
        );
        assert_eq!(types(&n), vec!["telephonyCall::updated"]);
        assert_eq!(
            n.fetch,
            vec![Fetch::Recap {
                call_id: "9".into()
            }]
        );
        assert_eq!(n.recap, None);
    }

    #[test]
    fn transcript_event_after_the_fetch() {
        let f = fixtures::load();
        let raw = &f["transcript"];
        let recap = Recap {
            summary: Some("s".into()),
            ..Recap::default()
        };
        let e = transcript_event("4504573872449765", raw, Some(recap), 7);
        assert_eq!(e.event_type, "telephonyCallTranscript::created");
        assert_eq!(e.model, "telephonyCallTranscript");
        assert_eq!(e.resource_id, "4504573872449765");
        assert_eq!(e.occurred_at_ms, 7);
        assert!(e.data.get("warnings").is_none(), "{}", e.data["warnings"]);
        assert_eq!(e.data["fields"]["recap"]["summary"], "s");
        assert_eq!(e.data["fields"]["call"]["id"], "4504573872449765");
        assert!(!e.data["fields"]["segments"].as_array().unwrap().is_empty());
        assert_eq!(e.data["fields"]["speakers"][0]["origin"], "internal");
        // Dialpad's answer without a call id: the asked-for id names it.
        let e = transcript_event("42", &json!({"lines": []}), None, 7);
        assert_eq!(e.resource_id, "42");
        assert_eq!(e.data["id"], "42");
        assert_eq!(e.data["fields"]["call"]["id"], "42");
    }

    #[test]
    fn contact_data_and_times() {
        let f = fixtures::load();
        let created = fixtures::event(&f, "contact/shared/Created/4504573872453879");
        let n = normalize_at(
            EventKind::Contact,
            &created,
            MapContext::default(),
            false,
            RECEIVED,
        );
        let e = &n.events[0];
        let t = iso(dialpad::Timestamp::from_millis(RECEIVED).unwrap());
        assert_eq!(e.occurred_at_ms, RECEIVED, "contact events carry no time");
        assert_eq!(e.data["createdAt"], t.as_str());
        assert_eq!(e.data["updatedAt"], t.as_str());
        assert_eq!(e.data["fields"]["firstName"], "Ada");
        assert_eq!(e.data["fields"]["email"], "ada@example.com");
        assert_eq!(e.data["fields"]["type"], "shared");
        let updated = fixtures::event(&f, "contact/shared/Updated/4504573872453879");
        let n = normalize_at(
            EventKind::Contact,
            &updated,
            MapContext::default(),
            false,
            RECEIVED,
        );
        assert_eq!(n.events[0].data["createdAt"], Value::Null);
        assert_eq!(n.events[0].data["updatedAt"], t.as_str());
        assert_eq!(n.events[0].data["fields"]["jobTitle"], "Engineer");
        let upsert = fixtures::event(&f, "contact/shared/Created/shared_uid_crm-42");
        let n = normalize_at(
            EventKind::Contact,
            &upsert,
            MapContext::default(),
            false,
            RECEIVED,
        );
        assert_eq!(n.events[0].resource_id, "shared_uid_crm-42");
        assert_eq!(n.events[0].data["fields"]["uid"], "crm-42");
        let local = fixtures::event(&f, "contact/local/Created/4504573872455661");
        let n = normalize_at(
            EventKind::Contact,
            &local,
            MapContext::default(),
            false,
            RECEIVED,
        );
        assert_eq!(n.events[0].data["fields"]["owner"]["model"], "genericUser");
        // The wall clock, when the caller does not say.
        let before = now_ms();
        let n = normalize(EventKind::Contact, &created, MapContext::default(), false);
        assert!(n.events[0].occurred_at_ms >= before);
    }

    #[test]
    fn sms_data() {
        let f = fixtures::load();
        let claims = fixtures::event(&f, "sms/outbound/success");
        let n = normalize_at(
            EventKind::Sms,
            &claims,
            MapContext::default(),
            false,
            RECEIVED,
        );
        let e = &n.events[0];
        assert_eq!(e.model, "telephonySms");
        assert_eq!(e.resource_id, "4504573872452006");
        assert_eq!(e.data["fields"]["status"], "delivered");
        assert_eq!(
            e.occurred_at_ms,
            claims["event_timestamp"].as_i64().unwrap()
        );
        // No event_timestamp: the message's time.
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove("event_timestamp");
        let n = normalize_at(EventKind::Sms, &c, MapContext::default(), false, RECEIVED);
        assert_eq!(
            n.events[0].occurred_at_ms,
            claims["created_date"].as_i64().unwrap()
        );
        // An outbound event without a status is the message going out.
        c.as_object_mut().unwrap().remove("message_status");
        let n = normalize_at(EventKind::Sms, &c, MapContext::default(), false, RECEIVED);
        assert_eq!(types(&n), vec!["telephonySms::sent"]);
        let failed = json!({"id": 1, "direction": "outbound", "message_status": "failed"});
        let n = normalize_at(
            EventKind::Sms,
            &failed,
            MapContext::default(),
            false,
            RECEIVED,
        );
        assert_eq!(types(&n), vec!["telephonySms::statusChanged"]);
        assert_eq!(n.events[0].occurred_at_ms, RECEIVED);
    }

    #[test]
    fn nothing_from_what_cannot_be_normalized() {
        let cases = [
            (EventKind::Call, json!({"state": "ringing"})),
            (EventKind::Call, json!([])),
            (
                EventKind::Contact,
                json!({"event": "Merged", "contact": {"id": "1"}}),
            ),
            (
                EventKind::Contact,
                json!({"event": "Created", "contact": {"first_name": "x"}}),
            ),
            (
                EventKind::Contact,
                json!({"event": "Created", "contact": [1]}),
            ),
            (EventKind::Sms, json!({"id": 1, "direction": "sideways"})),
            (EventKind::Sms, json!({"direction": "inbound"})),
            (
                EventKind::AgentStatus,
                json!({"on_duty_status": "available"}),
            ),
            (EventKind::Other, json!({"anything": 1})),
        ];
        for (kind, claims) in cases {
            assert_eq!(
                normalize_at(kind, &claims, MapContext::default(), true, RECEIVED),
                Normalized::default(),
                "{kind} {claims}"
            );
        }
        // Garbage of every kind, for every kind: no panic.
        let garbage = [
            json!(null),
            json!({"call_id": 1, "state": "recap_summary", "recap_summary": {"content": 5}, "event_timestamp": 1e300}),
            json!({"call_id": 1, "state": "call_transcription", "recording_details": "x", "target": 5}),
            json!({"event": "Deleted", "contact": {"id": 1, "phones": {}, "emails": [[]]}}),
            json!({"id": 1, "direction": "inbound", "event_timestamp": "x", "created_date": {}}),
        ];
        for g in &garbage {
            for k in [
                EventKind::Call,
                EventKind::Contact,
                EventKind::Sms,
                EventKind::AgentStatus,
                EventKind::Other,
            ] {
                let _ = normalize_at(k, g, MapContext::default(), true, RECEIVED);
            }
        }
    }

    #[test]
    fn recordings_follow_the_context() {
        let claims = json!({"call_id": 1, "state": "recording", "event_timestamp": 5,
            "date_connected": 1, "date_ended": 4,
            "recording_details": [{"id": "r", "recording_type": "callrecording", "url": "https://r", "duration": 3000}]});
        let with = normalize_at(
            EventKind::Call,
            &claims,
            MapContext { recordings: true },
            false,
            0,
        );
        let without = normalize_at(
            EventKind::Call,
            &claims,
            MapContext { recordings: false },
            false,
            0,
        );
        assert_eq!(with.events[0].data["fields"]["recordingUrl"], "https://r");
        assert!(without.events[0].data["fields"]
            .get("recordingUrl")
            .is_none());
    }
}
