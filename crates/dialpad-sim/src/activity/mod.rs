//! Calls, call labels, transcripts, AI recaps and SMS (`/api/v2/call`, `/api/v2/calllabels`,
//! `/api/v2/transcripts`, `/api/v2/sms`).

mod calls;
mod live;
mod share_links;
pub mod sms;
mod transcripts;

use axum::routing::{get, patch, post, put};
use axum::Router;
use serde::Serialize;
use serde_json::Value;

use crate::operations::Op;
use crate::state::{Db, Sim};
use crate::wire;

pub use calls::park;
pub use live::ScreenPop;
pub use share_links::ShareLink;
pub use sms::Sms;
pub use transcripts::{recap, Transcript, TranscriptLine};
pub use transcripts::{DEFAULT_SUMMARY_FORMAT, RECAP_DELAY_MS};

pub const OPERATIONS: &[Op] = &[
    Op::new("GET", "/api/v2/call", "call.list"),
    Op::new("POST", "/api/v2/call", "call.call"),
    Op::new("GET", "/api/v2/call/{id}", "call.get_call_info"),
    Op::new(
        "PUT",
        "/api/v2/call/{id}/actions/hangup",
        "call.actions.hangup",
    ),
    Op::new("POST", "/api/v2/call/{id}/transfer", "call.transfer_call"),
    Op::new(
        "POST",
        "/api/v2/call/{id}/participants/add",
        "call.participants.add",
    ),
    Op::new("PUT", "/api/v2/call/{id}/labels", "call.put_call_labels"),
    Op::new("POST", "/api/v2/call/{id}/unpark", "call.unpark"),
    Op::new(
        "POST",
        "/api/v2/users/{id}/initiate_call",
        "users.initiate_call",
    ),
    Op::new(
        "PATCH",
        "/api/v2/users/{id}/activecall",
        "users.update_active_call",
    ),
    Op::new(
        "POST",
        "/api/v2/users/{id}/screenpop",
        "screen_pop.initiate",
    ),
    Op::new(
        "POST",
        "/api/v2/recordingsharelink",
        "recording_share_link.create",
    ),
    Op::new(
        "GET",
        "/api/v2/recordingsharelink/{id}",
        "recording_share_link.get",
    ),
    Op::new(
        "PUT",
        "/api/v2/recordingsharelink/{id}",
        "recording_share_link.update",
    ),
    Op::new(
        "DELETE",
        "/api/v2/recordingsharelink/{id}",
        "recording_share_link.delete",
    ),
    Op::new("GET", "/api/v2/call/{id}/ai_recap", "call.ai_recap"),
    Op::new("GET", "/api/v2/calllabels", "calllabel.list"),
    Op::new("GET", "/api/v2/transcripts/{call_id}", "transcripts.get"),
    Op::new(
        "GET",
        "/api/v2/transcripts/{call_id}/url",
        "transcripts.get_url",
    ),
    Op::new("POST", "/api/v2/sms", "sms.send"),
];

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/api/v2/call", get(calls::list).post(calls::ring))
        .route("/api/v2/call/{id}", get(calls::get_one))
        .route("/api/v2/call/{id}/actions/hangup", put(calls::hangup))
        .route("/api/v2/call/{id}/transfer", post(calls::transfer))
        .route(
            "/api/v2/call/{id}/participants/add",
            post(calls::add_participant),
        )
        .route("/api/v2/call/{id}/labels", put(calls::put_labels))
        .route("/api/v2/call/{id}/unpark", post(calls::unpark))
        .route(
            "/api/v2/users/{id}/initiate_call",
            post(live::initiate_call),
        )
        .route(
            "/api/v2/users/{id}/activecall",
            patch(live::update_active_call),
        )
        .route("/api/v2/users/{id}/screenpop", post(live::screen_pop))
        .route("/api/v2/recordingsharelink", post(share_links::create))
        .route(
            "/api/v2/recordingsharelink/{id}",
            get(share_links::get_one)
                .put(share_links::update)
                .delete(share_links::delete),
        )
        .route("/api/v2/call/{id}/ai_recap", get(transcripts::ai_recap))
        .route("/api/v2/calllabels", get(calls::list_labels))
        .route("/api/v2/transcripts/{call_id}", get(transcripts::get_one))
        .route(
            "/api/v2/transcripts/{call_id}/url",
            get(transcripts::get_url),
        )
        .route("/api/v2/sms", post(sms::send))
}

/// `protos.call.CallContactProto`: a party of a call (contact, target, entry point, caller id).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CallContact {
    pub id: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// `protos.call.CallRecordingDetailsProto`.
#[derive(Clone, Debug, Serialize)]
pub struct RecordingDetails {
    pub id: String,
    #[serde(with = "wire::id")]
    pub duration: i64,
    pub recording_type: String,
    #[serde(with = "wire::id")]
    pub start_time: i64,
    pub url: String,
}

/// A call as Dialpad stores and returns it (`protos.call.CallProto`). Timestamps are epoch ms
/// (int64, so JSON strings); durations are ms as numbers (`format: double`).
#[derive(Clone, Debug, Serialize)]
pub struct Call {
    #[serde(with = "wire::id")]
    pub call_id: i64,
    #[serde(with = "wire::opt_id")]
    pub master_call_id: Option<i64>,
    #[serde(with = "wire::opt_id")]
    pub entry_point_call_id: Option<i64>,
    #[serde(with = "wire::opt_id")]
    pub operator_call_id: Option<i64>,
    pub contact: Option<CallContact>,
    pub target: Option<CallContact>,
    pub entry_point_target: Option<CallContact>,
    pub proxy_target: Option<CallContact>,
    #[serde(with = "wire::opt_id")]
    pub date_started: Option<i64>,
    #[serde(with = "wire::opt_id")]
    pub date_rang: Option<i64>,
    #[serde(with = "wire::opt_id")]
    pub date_connected: Option<i64>,
    #[serde(with = "wire::opt_id")]
    pub date_ended: Option<i64>,
    #[serde(with = "wire::opt_id")]
    pub event_timestamp: Option<i64>,
    pub direction: String,
    pub duration: Option<f64>,
    pub total_duration: Option<f64>,
    pub external_number: Option<String>,
    pub internal_number: Option<String>,
    pub group_id: Option<String>,
    pub is_transferred: bool,
    pub labels: Vec<String>,
    pub mos_score: Option<f64>,
    pub recording_details: Vec<RecordingDetails>,
    pub state: String,
    pub was_recorded: bool,
    pub transcription_text: Option<String>,
    pub voicemail_share_link: Option<String>,
    pub custom_data: Option<String>,
    /// What `target` is, for `call.list` filters.
    #[serde(skip)]
    pub target_id: i64,
    #[serde(skip)]
    pub target_type: String,
    /// The office the call belongs to (the target office, or the target user's office).
    #[serde(skip)]
    pub office_id: Option<i64>,
    /// The Dialpad user on the call (the target user, or the agent who took an office call);
    /// `PATCH /users/{id}/activecall` finds a user's active call by it.
    #[serde(skip)]
    pub agent_id: Option<i64>,
    /// When the recording in progress started (`PATCH /users/{id}/activecall`); `None` when
    /// nothing is being recorded.
    #[serde(skip)]
    pub recording_since: Option<i64>,
}

/// Call states in which a call is still going on.
pub const ACTIVE_STATES: &[&str] = &[
    "calling",
    "ringing",
    "preanswer",
    "queued",
    "connected",
    "hold",
    "parked",
];

impl Call {
    pub fn is_active(&self) -> bool {
        self.date_ended.is_none() && ACTIVE_STATES.contains(&self.state.as_str())
    }

    /// Ends the recording in progress at `at`: it becomes one of the call's recordings (a
    /// `callrecording` with id `recording_id`). Returns whether there was one.
    pub fn stop_recording(&mut self, at: i64, recording_id: i64) -> bool {
        let Some(since) = self.recording_since.take() else {
            return false;
        };
        self.recording_details.push(RecordingDetails {
            id: recording_id.to_string(),
            duration: (at - since).max(0),
            recording_type: "callrecording".to_owned(),
            start_time: since,
            url: format!(
                "https://dialpad.com/r/{}/callrecording/{recording_id}",
                self.call_id
            ),
        });
        true
    }
}

/// What the simulator needs to know about a user or office to put it on a call, read from its
/// REST representation so it follows the org module's types whatever their internals.
#[derive(Clone, Debug, Default)]
pub struct Card {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub office_id: Option<i64>,
}

fn json_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn first_str(v: &Value, key: &str) -> Option<String> {
    v.get(key)?
        .as_array()?
        .iter()
        .find_map(|x| x.as_str())
        .map(str::to_owned)
}

fn card_from<T: Serialize>(id: i64, item: &T) -> Card {
    let v = serde_json::to_value(item).unwrap_or(Value::Null);
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let name = s("display_name").or_else(|| s("name")).unwrap_or_else(|| {
        let full = format!(
            "{} {}",
            s("first_name").unwrap_or_default(),
            s("last_name").unwrap_or_default()
        );
        full.trim().to_owned()
    });
    Card {
        id,
        name,
        email: first_str(&v, "emails"),
        phone: first_str(&v, "phone_numbers"),
        office_id: v.get("office_id").and_then(json_i64),
    }
}

impl Db {
    pub fn user_card(&self, id: i64) -> Option<Card> {
        self.users.get(&id).map(|u| card_from(id, u))
    }

    pub fn office_card(&self, id: i64) -> Option<Card> {
        self.offices.get(&id).map(|o| {
            let mut c = card_from(id, o);
            c.office_id = Some(id);
            c
        })
    }

    /// The shared or local contact with this phone number, as a call party.
    pub fn contact_for_number(&self, number: &str) -> Option<CallContact> {
        self.contacts
            .values()
            .find(|c| c.phones.iter().any(|p| p == number))
            .map(|c| CallContact {
                id: Some(c.id.clone()),
                name: Some(c.display_name.clone()),
                phone: Some(number.to_owned()),
                email: c.primary_email.clone(),
                kind: Some(c.kind.clone()),
            })
    }
}

impl Card {
    pub fn party(&self, kind: &str) -> CallContact {
        CallContact {
            id: Some(self.id.to_string()),
            name: Some(self.name.clone()),
            phone: self.phone.clone(),
            email: self.email.clone(),
            kind: Some(kind.to_owned()),
        }
    }
}

/// The party for an external number: its contact if one matches, else an unknown caller.
pub fn external_party(db: &Db, number: &str) -> CallContact {
    db.contact_for_number(number)
        .unwrap_or_else(|| CallContact {
            id: None,
            name: Some(number.to_owned()),
            phone: Some(number.to_owned()),
            email: None,
            kind: Some("unknown".to_owned()),
        })
}
