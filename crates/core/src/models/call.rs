//! `telephonyCall` ⇄ `/api/v2/call`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{
    field, field_error, into_fields, record_id, Filter, FilterKind, IntoFields, Invalid,
    MapContext, Mapped, Model, ModelInfo, RefInput, ResourceRef, Serde, Support,
};
use crate::models::contact::is_numeric_id;
use crate::read::{iso, ms_to_seconds, normalize_phone, Reader, UNKNOWN_VALUE};

/// Dialpad call states this connector knows (call objects and call events).
pub const STATES: &[&str] = &[
    "admin",
    "admin_recording",
    "ai_playbook",
    "barge",
    "blocked",
    "call_transcription",
    "calling",
    "connected",
    "csat",
    "dispositions",
    "hangup",
    "hold",
    "merged",
    "missed",
    "monitor",
    "parked",
    "pcsat",
    "postcall",
    "preanswer",
    "queued",
    "recap_action_items",
    "recap_outcome",
    "recap_purposes",
    "recap_summary",
    "recording",
    "ringing",
    "takeover",
    "transcription",
    "voicemail",
    "voicemail_uploaded",
];

pub const STATUSES: &[&str] = &["planned", "inProgress", "completed", "missed", "voicemail"];

const IN_PROGRESS: &[&str] = &[
    "ringing",
    "connected",
    "hold",
    "queued",
    "parked",
    "merged",
    "monitor",
    "barge",
    "takeover",
];

/// A recording, voicemail or admin recording of a call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Recording {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `call`, `voicemail` or `admin`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Only when the connection holds `recordings_export`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
}

/// The unified call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    pub status: String,
    /// Dialpad's own state, as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialpad_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Talk time in whole seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// From start to end, in whole seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_duration: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    pub recordings: Vec<Recording>,
    #[schema(value_type = Vec<super::ExpandableRef>)]
    pub users: Vec<ResourceRef>,
    #[schema(value_type = Vec<super::ExpandableRef>)]
    pub contacts: Vec<ResourceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::ExpandableRef>)]
    pub transcript: Option<ResourceRef>,
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mos_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_transferred: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was_recorded: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub entry_point: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csat: Option<String>,
}

impl IntoFields for Call {
    fn into_fields(self) -> Map<String, Value> {
        into_fields!(
            "answeredAt" => self.answered_at,
            "contacts" => self.contacts,
            "csat" => self.csat,
            "customData" => self.custom_data,
            "dialpadState" => self.dialpad_state,
            "direction" => self.direction,
            "duration" => self.duration,
            "endedAt" => self.ended_at,
            "entryPoint" => self.entry_point,
            "externalNumber" => self.external_number,
            "internalNumber" => self.internal_number,
            "isTransferred" => self.is_transferred,
            "labels" => self.labels,
            "masterCallId" => self.master_call_id,
            "mosScore" => self.mos_score,
            "recordingUrl" => self.recording_url,
            "recordings" => Serde(self.recordings),
            "startedAt" => self.started_at,
            "status" => self.status,
            "totalDuration" => self.total_duration,
            "transcript" => self.transcript,
            "users" => self.users,
            "wasRecorded" => self.was_recorded,
        )
    }
}

pub static INFO: ModelInfo = ModelInfo {
    model: Model::Call,
    description: "The company's call history (concluded calls) and placing calls",
    create: Support::Native,
    update: Support::Native,
    delete: Support::NotSupported("Dialpad's API cannot delete a call from the call history"),
    filters: &[
        Filter {
            name: "startedAfter",
            kind: FilterKind::DateTime,
            description: "calls started after this time",
        },
        Filter {
            name: "startedBefore",
            kind: FilterKind::DateTime,
            description: "calls started before this time",
        },
        Filter {
            name: "user",
            kind: FilterKind::Id,
            description: "a genericUser id: that user's calls",
        },
        Filter {
            name: "workspace",
            kind: FilterKind::Id,
            description: "a genericWorkspace id: that office's calls (not with `user`)",
        },
    ],
    search: None,
    expand: &["users", "contacts", "transcript"],
    me: false,
    fields: &[
        field("direction", "string", "inbound or outbound", true),
        field(
            "status",
            "string",
            "planned, inProgress, completed, missed or voicemail",
            true,
        ),
        field("dialpadState", "string", "Dialpad's call state", true),
        field("startedAt", "date-time", "when the call started", true),
        field("answeredAt", "date-time", "when it was answered", true),
        field("endedAt", "date-time", "when it ended", true),
        field("duration", "integer", "talk time, seconds", true),
        field("totalDuration", "integer", "start to end, seconds", true),
        field(
            "recordingUrl",
            "string",
            "the call recording, else the voicemail (needs recordings_export)",
            true,
        ),
        field(
            "recordings",
            "object[]",
            "every recording `{id, type, url, duration}`",
            true,
        ),
        field(
            "users",
            "genericUser[]",
            "the company's users on the call",
            false,
        ),
        field("contacts", "genericContact[]", "the external party", true),
        field(
            "externalNumber",
            "string",
            "the external number, E.164",
            true,
        ),
        field("internalNumber", "string", "the Dialpad number used", true),
        field(
            "transcript",
            "telephonyCallTranscript",
            "the call's transcript",
            true,
        ),
        field("labels", "string[]", "call labels (writable)", false),
        field("mosScore", "number", "call quality (MOS)", true),
        field("isTransferred", "boolean", "the call was transferred", true),
        field("wasRecorded", "boolean", "the call was recorded", true),
        field(
            "masterCallId",
            "string",
            "the call this leg belongs to",
            true,
        ),
        field(
            "entryPoint",
            "object",
            "where the call entered (office, call center…)",
            true,
        ),
        field(
            "customData",
            "string",
            "custom data set when placing the call",
            true,
        ),
        field("csat", "string", "CSAT score", true),
    ],
    raw_fields: &[
        field(
            "custom_data",
            "string",
            "custom data set when placing the call",
            true,
        ),
        field(
            "group_id",
            "string",
            "the group (office, department) of the call",
            true,
        ),
        field("date_rang", "date-time", "when it rang", true),
        field(
            "entry_point_call_id",
            "string",
            "the entry point's call",
            true,
        ),
        field("operator_call_id", "string", "the operator's leg", true),
        field("proxy_target", "object", "the proxy target", true),
        field("routing_breadcrumbs", "object[]", "call-router steps", true),
        field(
            "screen_recording_urls",
            "string[]",
            "screen recordings",
            true,
        ),
        field(
            "call_recording_share_links",
            "string[]",
            "recording share links",
            true,
        ),
        field(
            "admin_call_recording_share_links",
            "string[]",
            "admin recording share links",
            true,
        ),
        field(
            "voicemail_share_link",
            "string",
            "voicemail share link",
            true,
        ),
        field(
            "transcription_text",
            "string",
            "voicemail transcription",
            true,
        ),
        field("csat_recording_urls", "string[]", "CSAT recordings", true),
        field(
            "csat_transcriptions",
            "string[]",
            "CSAT transcriptions",
            true,
        ),
        field(
            "total_duration",
            "number",
            "start to end, milliseconds",
            true,
        ),
    ],
};

/// The unified status of a call in Dialpad `state`, from models.md's rule.
pub fn status(state: Option<&str>, connected: bool, ended: bool, voicemail: bool) -> &'static str {
    if voicemail || matches!(state, Some("voicemail" | "voicemail_uploaded")) {
        return "voicemail";
    }
    match state {
        Some("preanswer") => "planned",
        Some("calling") if !connected => "planned",
        Some("missed") => "missed",
        Some(s) if IN_PROGRESS.contains(&s) => "inProgress",
        Some("calling") => "inProgress",
        // Any later state (hangup, postcall, recording, transcription, recaps, csat…), or an
        // unknown one: decided by whether the call was ever connected and has ended.
        _ if connected => {
            if ended || state.is_some() {
                "completed"
            } else {
                "inProgress"
            }
        }
        _ if ended || state.is_some() => "missed",
        _ => "planned",
    }
}

fn party_ref(r: &Reader<'_>, key: &str, want_user: bool) -> Option<ResourceRef> {
    let p = r.child(key)?;
    let kind = p.get("type").and_then(Value::as_str);
    let id = match p.get("id")? {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    match (want_user, kind) {
        (true, Some("user")) => Some(ResourceRef::new(Model::User, id)),
        (false, Some("user" | "office" | "callcenter" | "department")) => None,
        (false, _) => Some(ResourceRef::new(Model::Contact, id)),
        _ => None,
    }
}

/// Maps a Dialpad call (`CallProto`, or a call event's payload).
pub fn from_dialpad(raw: &Value, ctx: MapContext) -> Mapped {
    let mut r = Reader::new(raw);
    let id = record_id(&mut r, "call_id");
    let state = r.string("state", "dialpadState");
    if let Some(s) = &state {
        if !STATES.contains(&s.as_str()) {
            r.warn(
                UNKNOWN_VALUE,
                "status",
                format!("Dialpad's call state {s:?} is new to this connector: status inferred from the call's times"),
            );
        }
    }
    let started = r.time("date_started", "startedAt");
    let connected = r.time("date_connected", "answeredAt");
    let ended = r.time("date_ended", "endedAt");
    let event_time = r.time("event_timestamp", "updatedAt");

    let mut recordings = Vec::new();
    if let Some(v) = r.get("recording_details") {
        match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let mut rr = Reader::new(item);
                    // The item's path is written into its warnings only when there are any.
                    let path = "recordings[]";
                    let kind = match rr.string("recording_type", path).as_deref() {
                        Some("callrecording") => "call".to_owned(),
                        Some("voicemail") => "voicemail".to_owned(),
                        Some("admincallrecording") => "admin".to_owned(),
                        Some(other) => {
                            rr.warn(
                                UNKNOWN_VALUE,
                                path,
                                format!("unknown recording type {other:?}"),
                            );
                            other.to_owned()
                        }
                        None => "call".to_owned(),
                    };
                    recordings.push(Recording {
                        id: rr.id("id", path),
                        kind,
                        url: rr.string("url", path).filter(|_| ctx.recordings),
                        duration: rr.number("duration", path).map(ms_to_seconds),
                    });
                    for w in &mut rr.warnings {
                        w.field = format!("recordings[{i}]");
                    }
                    r.warnings.append(&mut rr.warnings);
                }
            }
            None => r.warn(
                crate::read::INVALID_VALUE,
                "recordings",
                "Dialpad's `recording_details` is not a list".into(),
            ),
        }
    }
    let recording_url = ["call", "voicemail", "admin"]
        .iter()
        .find_map(|k| recordings.iter().find(|x| x.kind == *k)?.url.clone());
    let has_voicemail = recordings.iter().any(|x| x.kind == "voicemail");
    let status = status(
        state.as_deref(),
        connected.is_some(),
        ended.is_some(),
        has_voicemail,
    );

    let mut users: Vec<ResourceRef> = Vec::new();
    for key in ["target", "entry_point_target", "proxy_target"] {
        if let Some(u) = party_ref(&r, key, true) {
            if !users.contains(&u) {
                users.push(u);
            }
        }
    }
    let contacts: Vec<ResourceRef> = party_ref(&r, "contact", false).into_iter().collect();
    let transcript = (status == "completed").then(|| ResourceRef::new(Model::Transcript, &id));
    let entry_point = r.child("entry_point_target").map(|p| {
        let get = |k: &str| p.get(k).cloned().unwrap_or(Value::Null);
        let id = match p.get("id") {
            Some(Value::Number(n)) => Value::String(n.to_string()),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        // Sorted, built in one go (as the fields are).
        let m: Map<String, Value> = [
            ("id".to_owned(), id),
            ("name".to_owned(), get("name")),
            ("phone".to_owned(), get("phone")),
            ("type".to_owned(), get("type")),
        ]
        .into_iter()
        .collect();
        Value::Object(m)
    });
    let started_iso = started.map(iso);
    let c = Call {
        direction: r.known("direction", "direction", &["inbound", "outbound"]),
        status: status.to_owned(),
        started_at: started_iso.clone(),
        answered_at: connected.map(iso),
        ended_at: ended.map(iso),
        duration: r.number("duration", "duration").map(ms_to_seconds),
        total_duration: r
            .number("total_duration", "totalDuration")
            .map(ms_to_seconds),
        recording_url,
        recordings,
        users,
        contacts,
        external_number: r.string("external_number", "externalNumber"),
        internal_number: r.string("internal_number", "internalNumber"),
        transcript,
        labels: r.strings("labels", "labels"),
        mos_score: r.number("mos_score", "mosScore"),
        is_transferred: r.bool("is_transferred", "isTransferred"),
        was_recorded: r.bool("was_recorded", "wasRecorded"),
        master_call_id: r.id("master_call_id", "masterCallId"),
        entry_point,
        custom_data: r.string("custom_data", "customData"),
        csat: r.string("csat_score", "csat"),
        dialpad_state: state,
    };
    let updated = event_time.or(ended).or(connected).or(started);
    Mapped {
        model: Model::Call,
        id,
        fields: c.into_fields(),
        created_at: started_iso,
        updated_at: updated.map(iso),
        warnings: r.warnings,
    }
}

/// A `telephonyCall` create body: placing a call (`POST /api/v2/call`) rings `user`'s devices,
/// then dials `phone`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallCreate {
    /// Required: the user (a `genericUser`) whose devices ring.
    pub user: Option<RefInput>,
    /// Required: the number to call, any format (dialled in E.164).
    pub phone: Option<String>,
    pub custom_data: Option<String>,
    pub outbound_caller_id: Option<String>,
    pub device_id: Option<String>,
}

impl CallCreate {
    pub fn body(&self) -> Result<Value, Invalid> {
        let mut errors = Invalid::new();
        let user_id = match &self.user {
            Some(u) if is_numeric_id(&u.id()) => u.id().parse::<i64>().ok(),
            Some(u) => {
                errors.push(field_error(
                    "user",
                    format!("{} is not a user id", crate::read::quote_input(&u.id())),
                ));
                None
            }
            None => {
                errors.push(field_error("user", "required: the user whose devices ring"));
                None
            }
        };
        let phone = match self.phone.as_deref().map(normalize_phone) {
            Some(Some(p)) => Some(p),
            Some(None) => {
                errors.push(field_error(
                    "phone",
                    "not a phone number (E.164, e.g. +14155550100)",
                ));
                None
            }
            None => {
                errors.push(field_error("phone", "required: the number to call"));
                None
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut body = json!({"user_id": user_id, "phone_number": phone});
        if let Some(v) = &self.custom_data {
            body["custom_data"] = json!(v);
        }
        if let Some(v) = &self.outbound_caller_id {
            body["outbound_caller_id"] = json!(v);
        }
        if let Some(v) = &self.device_id {
            body["device_id"] = json!(v);
        }
        Ok(body)
    }
}

/// A `telephonyCall` update body: its labels (`PUT /api/v2/call/{id}/labels`), the one thing
/// Dialpad lets an app change on a call.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallUpdate {
    /// Required: the call's labels (replacing its current ones).
    pub labels: Option<Vec<String>>,
}

impl CallUpdate {
    pub fn labels_body(&self) -> Result<Value, Invalid> {
        match &self.labels {
            Some(l) => Ok(json!({ "labels": l })),
            None => Err(vec![field_error(
                "labels",
                "required: labels are the only call field Dialpad lets an app change",
            )]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::parse_write;

    fn rest_call() -> Value {
        json!({
            "call_id": "6473016367898624", "direction": "inbound", "state": "hangup",
            "date_started": "1704164645000", "date_connected": "1704164650000",
            "date_ended": "1704164705000", "duration": 55000.0, "total_duration": "60000",
            "external_number": "+14155550100", "internal_number": "+14155550111",
            "contact": {"id": "5734470963462144", "type": "contact", "name": "Ada", "phone": "+14155550100"},
            "target": {"id": "5910974862917632", "type": "user", "name": "Grace"},
            "recording_details": [
                {"id": "r1", "recording_type": "callrecording", "url": "https://dialpad.test/r1", "duration": "54000"}],
            "labels": ["sales"], "mos_score": "4.3", "was_recorded": true
        })
    }

    #[test]
    fn completed_call_rest_shape() {
        let m = from_dialpad(&rest_call(), MapContext { recordings: true });
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        let f = &m.fields;
        assert_eq!(m.id, "6473016367898624");
        assert_eq!(f["status"], "completed");
        assert_eq!(f["startedAt"], "2024-01-02T03:04:05.000Z");
        assert_eq!(f["duration"], 55);
        assert_eq!(f["totalDuration"], 60);
        assert_eq!(f["recordingUrl"], "https://dialpad.test/r1");
        assert_eq!(
            f["recordings"][0],
            json!({"id": "r1", "type": "call", "url": "https://dialpad.test/r1", "duration": 54})
        );
        assert_eq!(
            f["users"],
            json!([{"object": "resourceRef", "model": "genericUser", "id": "5910974862917632"}])
        );
        assert_eq!(f["contacts"][0]["model"], "genericContact");
        assert_eq!(f["transcript"]["id"], "6473016367898624");
        assert_eq!(f["mosScore"], 4.3);
        assert_eq!(m.created_at.as_deref(), Some("2024-01-02T03:04:05.000Z"));
        assert_eq!(m.updated_at.as_deref(), Some("2024-01-02T03:05:05.000Z"));
    }

    #[test]
    fn recording_urls_need_recordings_export() {
        let m = from_dialpad(&rest_call(), MapContext { recordings: false });
        assert!(m.fields.get("recordingUrl").is_none());
        assert!(m.fields["recordings"][0].get("url").is_none());
        assert_eq!(m.fields["recordings"][0]["id"], "r1");
    }

    #[test]
    fn webhook_shape_with_numbers() {
        let m = from_dialpad(
            &json!({"call_id": 6473016367898624_i64, "state": "ringing", "direction": "outbound",
                "date_started": 1704164645000_i64, "target": {"id": 5910974862917632_i64, "type": "user"},
                "event_timestamp": 1704164646000_i64}),
            MapContext::default(),
        );
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(m.id, "6473016367898624");
        assert_eq!(m.fields["status"], "inProgress");
        assert_eq!(m.fields["users"][0]["id"], "5910974862917632");
        assert!(m.fields.get("transcript").is_none());
        assert_eq!(m.updated_at.as_deref(), Some("2024-01-02T03:04:06.000Z"));
    }

    #[test]
    fn rang_never_connected_is_missed() {
        let m = from_dialpad(
            &json!({"call_id": "1", "state": "hangup", "date_started": 1, "date_rang": 2, "date_ended": 3}),
            MapContext::default(),
        );
        assert_eq!(m.fields["status"], "missed");
        assert!(m.fields.get("transcript").is_none());
    }

    #[test]
    fn voicemail_by_state_or_recording() {
        let by_state = from_dialpad(
            &json!({"call_id": "1", "state": "voicemail_uploaded"}),
            MapContext::default(),
        );
        assert_eq!(by_state.fields["status"], "voicemail");
        let by_recording = from_dialpad(
            &json!({"call_id": "1", "state": "hangup", "date_ended": 5,
                "recording_details": [{"recording_type": "voicemail", "url": "https://v", "duration": 9000}]}),
            MapContext { recordings: true },
        );
        assert_eq!(by_recording.fields["status"], "voicemail");
        assert_eq!(by_recording.fields["recordingUrl"], "https://v");
    }

    #[test]
    fn status_rule_table() {
        let cases: &[(Option<&str>, bool, bool, &str)] = &[
            (Some("preanswer"), false, false, "planned"),
            (Some("calling"), false, false, "planned"),
            (Some("calling"), true, false, "inProgress"),
            (Some("ringing"), false, false, "inProgress"),
            (Some("hold"), true, false, "inProgress"),
            (Some("parked"), true, false, "inProgress"),
            (Some("missed"), false, true, "missed"),
            (Some("hangup"), true, true, "completed"),
            (Some("hangup"), false, true, "missed"),
            (Some("postcall"), true, true, "completed"),
            (Some("recording"), true, true, "completed"),
            (Some("recap_summary"), true, true, "completed"),
            (Some("teleported"), true, true, "completed"),
            (Some("teleported"), false, false, "missed"),
            (None, false, false, "planned"),
        ];
        for (state, connected, ended, want) in cases {
            assert_eq!(
                status(*state, *connected, *ended, false),
                *want,
                "{state:?} {connected} {ended}"
            );
        }
    }

    #[test]
    fn unknown_state_kept_with_warning() {
        let m = from_dialpad(
            &json!({"call_id": "1", "state": "teleported", "date_connected": 1, "date_ended": 2}),
            MapContext::default(),
        );
        assert_eq!(m.fields["dialpadState"], "teleported");
        assert_eq!(m.fields["status"], "completed");
        assert_eq!(m.warnings[0].field, "status");
    }

    #[test]
    fn fast_field_map_agrees_with_serde() {
        let c = Call {
            direction: Some("inbound".into()),
            status: "completed".into(),
            dialpad_state: Some("hangup".into()),
            started_at: Some("t".into()),
            answered_at: Some("t".into()),
            ended_at: Some("t".into()),
            duration: Some(1),
            total_duration: Some(2),
            recording_url: Some("u".into()),
            recordings: vec![Recording {
                id: Some("r".into()),
                kind: "call".into(),
                url: None,
                duration: Some(3),
            }],
            users: vec![ResourceRef::new(Model::User, "1")],
            contacts: vec![],
            external_number: Some("+1".into()),
            internal_number: Some("+2".into()),
            transcript: Some(ResourceRef::new(Model::Transcript, "9")),
            labels: vec!["l".into()],
            mos_score: Some(4.5),
            is_transferred: Some(false),
            was_recorded: Some(true),
            master_call_id: Some("8".into()),
            entry_point: Some(json!({"type": "office"})),
            custom_data: Some("c".into()),
            csat: Some("5".into()),
        };
        assert_eq!(c.clone().into_fields(), crate::models::to_fields(&c));
    }

    #[test]
    fn place_call_body() {
        let c: CallCreate =
            parse_write(&json!({"user": {"id": "59"}, "phone": "415-555-0100"})).unwrap();
        assert_eq!(
            c.body().unwrap(),
            json!({"user_id": 59, "phone_number": "+14155550100"})
        );
        let c: CallCreate = parse_write(&json!({"phone": "x"})).unwrap();
        let paths: Vec<String> = c.body().unwrap_err().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, vec!["user", "phone"]);
        assert!(parse_write::<CallUpdate>(&json!({"status": "missed"})).is_err());
    }
}
