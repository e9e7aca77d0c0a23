//! Event payloads in the shape Dialpad's webhooks deliver them (developers.dialpad.com: "Call
//! Events", "SMS Events", "Contact Events", "Agent Status Events"). Unlike REST responses,
//! event payloads carry ids and epoch-ms timestamps as JSON numbers and keep unset fields as
//! explicit `null`s and empty lists.

use serde::Serialize;
use serde_json::{json, Value};

use crate::activity::{Call, CallContact, Sms};
use crate::contacts::Contact;
use crate::state::Db;

/// An id that is numeric on Dialpad's side as a number; other ids (`shared_uid_…`) as strings.
fn id_value(id: Option<&str>) -> Value {
    match id {
        Some(s) => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(s)),
        None => Value::Null,
    }
}

fn party(p: Option<&CallContact>, office_id: Option<i64>) -> Value {
    match p {
        Some(p) => {
            let mut v = json!({
                "id": id_value(p.id.as_deref()),
                "type": p.kind,
                "name": p.name,
                "phone": p.phone,
                "email": p.email,
            });
            if p.kind.as_deref() != Some("unknown") && p.kind.as_deref() != Some("shared") {
                if let (Some(o), Value::Object(m)) = (office_id, &mut v) {
                    m.insert("office_id".to_owned(), Value::from(o));
                }
            }
            v
        }
        None => Value::Null,
    }
}

/// A call event: the call as it is now, with its `state` and `event_timestamp`.
///
/// A `recap_*` event also carries its part of the call's AI recap, as `ai_recap` gives it (the
/// summary in its default format): `recap_summary` the summary item, `recap_action_items` and
/// `recap_purposes` their lists, `recap_outcome` the disposition item. Dialpad documents the
/// states but not these fields; the field names are the simulator's.
pub fn call(db: &Db, c: &Call) -> Value {
    let mut v = call_fields(db, c);
    if let (Some(part), Value::Object(m)) = (recap_part(db, c), &mut v) {
        m.insert(c.state.clone(), part);
    }
    v
}

fn recap_part(db: &Db, c: &Call) -> Option<Value> {
    if !c.state.starts_with("recap_") {
        return None;
    }
    let r = crate::activity::recap(db, c.call_id, crate::activity::DEFAULT_SUMMARY_FORMAT)?;
    let part = match c.state.as_str() {
        "recap_summary" => serde_json::to_value(&r.summary),
        "recap_action_items" => serde_json::to_value(&r.action_items),
        "recap_purposes" => serde_json::to_value(&r.purposes),
        "recap_outcome" => serde_json::to_value(&r.disposition),
        _ => return None,
    };
    part.ok()
}

fn call_fields(db: &Db, c: &Call) -> Value {
    let recordings: Vec<&crate::activity::RecordingDetails> = c
        .recording_details
        .iter()
        .filter(|r| r.recording_type == "callrecording")
        .collect();
    let voicemail = c
        .recording_details
        .iter()
        .find(|r| r.recording_type == "voicemail");
    let has_transcript = db.transcripts.contains_key(&c.call_id);
    json!({
        "call_id": c.call_id,
        "master_call_id": c.master_call_id,
        "entry_point_call_id": c.entry_point_call_id,
        "operator_call_id": c.operator_call_id,
        "state": c.state,
        "direction": c.direction,
        "event_timestamp": c.event_timestamp,
        "date_started": c.date_started,
        "date_rang": c.date_rang,
        "date_connected": c.date_connected,
        "date_ended": c.date_ended,
        "duration": c.duration,
        "total_duration": c.total_duration,
        "external_number": c.external_number,
        "internal_number": c.internal_number,
        "target": party(c.target.as_ref(), c.office_id),
        "contact": party(c.contact.as_ref(), None),
        "entry_point_target": party(c.entry_point_target.as_ref(), c.office_id),
        "proxy_target": party(c.proxy_target.as_ref(), None),
        "group_id": c.group_id,
        "is_transferred": c.is_transferred,
        "was_recorded": c.was_recorded,
        "labels": c.labels,
        "mos_score": c.mos_score,
        "recording_url": recordings.iter().map(|r| r.url.clone()).collect::<Vec<_>>(),
        "call_recording_ids": recordings.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        "voicemail_link": c.voicemail_share_link,
        "voicemail_recording_id": voicemail.map(|r| r.id.clone()),
        "transcription_text": c.transcription_text,
        "call_transcription": has_transcript.then(|| format!(
            "https://dialpad.com/callhistory/callreview/{}?tab=transcript", c.call_id
        )),
        "csat_score": Value::Null,
        "csat_recording_urls": [],
        "routing_breadcrumbs": [],
        "custom_data": c.custom_data,
        "integrations": Value::Null,
    })
}

/// An SMS event. `text` is present only when the subscription may see message content.
pub fn sms(db: &Db, s: &Sms, with_text: bool) -> Value {
    let tid = s.target_id.unwrap_or(0);
    let target = match s.target_type.as_deref() {
        Some("office") => db.office_card(tid),
        _ => db.user_card(tid),
    };
    let external = if s.direction == "inbound" {
        s.from_number.clone()
    } else {
        s.to_numbers.first().cloned()
    };
    let contact = external.as_deref().map(|n| {
        let c = crate::activity::external_party(db, n);
        json!({
            "id": id_value(c.id.as_deref()),
            "name": c.name,
            "phone_number": n,
        })
    });
    let is_group = s.target_type.as_deref().is_some_and(|t| t != "user");
    let mut v = json!({
        "id": s.id,
        "created_date": s.created_date,
        "event_timestamp": crate::wire::now_ms(),
        "direction": s.direction,
        "target": target.map(|t| json!({
            "id": t.id,
            "type": s.target_type,
            "name": t.name,
            "phone_number": t.phone,
        })),
        "contact": contact,
        "sender_id": if is_group { s.user_id.map(Value::from) } else { None }.unwrap_or(Value::Null),
        "from_number": s.from_number,
        "to_number": s.to_numbers,
        "mms": false,
        "mms_url": Value::Null,
        "is_internal": false,
        "message_status": s.message_status,
        "message_delivery_result": s.message_delivery_result,
    });
    if with_text {
        if let Value::Object(m) = &mut v {
            m.insert("text".to_owned(), json!(s.text));
        }
    }
    v
}

/// A contact event: `{"event": "Created" | "Updated" | "Deleted", "contact": {...}}`. Dialpad's
/// sample payloads give the contact id as a string, as its REST API does.
pub fn contact(event: &str, c: &Contact) -> Value {
    json!({
        "event": event,
        "contact": {
            "id": c.id,
            "type": c.kind,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "display_name": c.display_name,
            "phones": c.phones,
            "primary_phone": c.primary_phone,
            "emails": c.emails,
            "primary_email": c.primary_email,
            "company_name": c.company_name,
            "job_title": c.job_title,
            "urls": c.urls,
            "trunk_group": c.trunk_group,
            "extension": c.extension,
            "owner_id": c.owner_id,
        }
    })
}

/// An agent status event (call center agents).
#[derive(Clone, Debug, Serialize)]
pub struct AgentStatus {
    /// `available`, or `unavailable` (do not disturb, or on a call).
    pub availability_status: String,
    /// Call centers the agent is on duty for (strings, as in Dialpad's samples).
    pub call_center_ids: Vec<String>,
    /// When the on-duty status changed (epoch ms).
    pub date: i64,
    pub event_timestamp: i64,
    /// `available`, `unavailable`, `occupied`, `wrapup` or `busy`.
    pub on_duty_status: String,
    pub on_duty_status_reason: Option<String>,
    pub powerdialer_mode: bool,
    pub powerdialer_session: Option<String>,
    pub target: AgentTarget,
}

#[derive(Clone, Debug, Serialize)]
pub struct AgentTarget {
    pub email: Option<String>,
    pub id: i64,
    pub name: String,
    pub phone: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
}

pub fn agent_status(a: &AgentStatus) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}
