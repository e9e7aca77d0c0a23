//! Calls: `/api/v2/call`, call actions, call labels and AI recaps.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{api, Client};
use crate::error::Result;
use crate::pagination::ListRequest;
use crate::users::TargetType;
use crate::wire::{self, string_enum, Timestamp};

string_enum! {
    /// Call state, as in call objects and call-event subscriptions.
    pub enum CallState {
        Admin = "admin",
        AdminRecording = "admin_recording",
        AiPlaybook = "ai_playbook",
        All = "all",
        Barge = "barge",
        Blocked = "blocked",
        CallTranscription = "call_transcription",
        Calling = "calling",
        Connected = "connected",
        Csat = "csat",
        Dispositions = "dispositions",
        Hangup = "hangup",
        Hold = "hold",
        Merged = "merged",
        Missed = "missed",
        Monitor = "monitor",
        Parked = "parked",
        Pcsat = "pcsat",
        Postcall = "postcall",
        Preanswer = "preanswer",
        Queued = "queued",
        RecapActionItems = "recap_action_items",
        RecapOutcome = "recap_outcome",
        RecapPurposes = "recap_purposes",
        RecapSummary = "recap_summary",
        Recording = "recording",
        Ringing = "ringing",
        Takeover = "takeover",
        Transcription = "transcription",
        Voicemail = "voicemail",
        VoicemailUploaded = "voicemail_uploaded",
    }
}

string_enum! {
    /// Direction of a call or message.
    pub enum Direction {
        Inbound = "inbound",
        Outbound = "outbound",
    }
}

string_enum! {
    /// Kind of recording attached to a call.
    pub enum RecordingType {
        AdminCallRecording = "admincallrecording",
        CallRecording = "callrecording",
        Voicemail = "voicemail",
    }
}

string_enum! {
    /// State a transferred call is put in.
    pub enum TransferState {
        Hold = "hold",
        Parked = "parked",
        Preanswer = "preanswer",
        Voicemail = "voicemail",
    }
}

string_enum! {
    /// Group types a call can be placed from or transferred to.
    pub enum CallGroupType {
        Callcenter = "callcenter",
        Department = "department",
        Office = "office",
        User = "user",
    }
}

string_enum! {
    /// Length of an AI recap summary.
    pub enum SummaryFormat {
        Bullet = "bullet",
        Long = "long",
        Medium = "medium",
        Short = "short",
    }
}

/// A party of a call (`CallContactProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CallParty {
    pub email: Option<String>,
    /// String id (contacts have string ids, users numeric ones as text).
    #[serde(deserialize_with = "wire::opt_string_or_number")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// `user`, `contact`, `office`, `callcenter`, … (free-form in the spec).
    #[serde(rename = "type")]
    pub party_type: Option<String>,
}

/// A recording, voicemail or admin recording of a call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RecordingDetails {
    /// Length in milliseconds.
    #[serde(with = "wire::opt_int64")]
    pub duration: Option<i64>,
    pub id: Option<String>,
    pub recording_type: Option<RecordingType>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub start_time: Option<Timestamp>,
    pub url: Option<String>,
}

/// A step in call-router routing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RoutingBreadcrumb {
    /// `callrouter` or `external_api`.
    pub breadcrumb_type: Option<String>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date: Option<Timestamp>,
    pub request: Option<serde_json::Value>,
    pub response: Option<serde_json::Value>,
    #[serde(with = "wire::opt_int64")]
    pub target_id: Option<i64>,
    pub target_type: Option<String>,
    pub url: Option<String>,
}

/// A call (`protos.call.CallProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Call {
    #[serde(with = "wire::opt_int64")]
    pub call_id: Option<i64>,
    #[serde(deserialize_with = "wire::null_default")]
    pub admin_call_recording_share_links: Vec<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub call_recording_share_links: Vec<String>,
    pub contact: Option<CallParty>,
    #[serde(deserialize_with = "wire::null_default")]
    pub csat_recording_urls: Vec<String>,
    pub csat_score: Option<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub csat_transcriptions: Vec<String>,
    pub custom_data: Option<String>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_connected: Option<Timestamp>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_ended: Option<Timestamp>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_rang: Option<Timestamp>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_started: Option<Timestamp>,
    pub direction: Option<Direction>,
    /// Talk time in milliseconds.
    #[serde(deserialize_with = "wire::opt_f64")]
    pub duration: Option<f64>,
    #[serde(with = "wire::opt_int64")]
    pub entry_point_call_id: Option<i64>,
    pub entry_point_target: Option<CallParty>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub event_timestamp: Option<Timestamp>,
    pub external_number: Option<String>,
    pub group_id: Option<String>,
    pub internal_number: Option<String>,
    pub is_transferred: Option<bool>,
    #[serde(deserialize_with = "wire::null_default")]
    pub labels: Vec<String>,
    #[serde(with = "wire::opt_int64")]
    pub master_call_id: Option<i64>,
    #[serde(deserialize_with = "wire::opt_f64")]
    pub mos_score: Option<f64>,
    #[serde(with = "wire::opt_int64")]
    pub operator_call_id: Option<i64>,
    pub proxy_target: Option<CallParty>,
    #[serde(deserialize_with = "wire::null_default")]
    pub recording_details: Vec<RecordingDetails>,
    #[serde(deserialize_with = "wire::null_default")]
    pub routing_breadcrumbs: Vec<RoutingBreadcrumb>,
    #[serde(deserialize_with = "wire::null_default")]
    pub screen_recording_urls: Vec<String>,
    pub state: Option<CallState>,
    pub target: Option<CallParty>,
    #[serde(deserialize_with = "wire::opt_f64")]
    pub total_duration: Option<f64>,
    pub transcription_text: Option<String>,
    pub voicemail_share_link: Option<String>,
    pub was_recorded: Option<bool>,
}

/// Body of `POST /api/v2/call` (`RingCallMessage`): rings the user's
/// devices and dials `phone_number` once they answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RingCall {
    pub phone_number: String,
    pub user_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_type: Option<CallGroupType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_consult: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_caller_id: Option<String>,
}

impl RingCall {
    pub fn new(user_id: i64, phone_number: impl Into<String>) -> Self {
        RingCall {
            user_id,
            phone_number: phone_number.into(),
            ..Default::default()
        }
    }
}

/// `{ "call_id": … }` returned by ring and add-participant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CallIdResponse {
    #[serde(with = "wire::opt_int64")]
    pub call_id: Option<i64>,
}

/// Where to transfer a call (`TransferCallMessage.to`, a `oneOf`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TransferDestination {
    /// An external or internal phone number.
    Number { number: String },
    /// A user, office, department or call center.
    Target {
        target_id: i64,
        target_type: CallGroupType,
    },
    /// A specific operator of a call center.
    Agent { operator_id: i64, target_id: i64 },
    /// Merge into another call.
    Call { call_id: i64 },
}

/// Body of `POST /api/v2/call/{id}/transfer`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferCall {
    pub to: TransferDestination,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_state: Option<TransferState>,
}

impl TransferCall {
    pub fn to(to: TransferDestination) -> Self {
        TransferCall {
            to,
            custom_data: None,
            transfer_state: None,
        }
    }
}

/// Result of a transfer (`TransferredCallProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TransferredCall {
    #[serde(with = "wire::opt_int64")]
    pub call_id: Option<i64>,
    pub transferred_to_number: Option<String>,
    pub transferred_to_state: Option<TransferState>,
}

/// Who to add to a call (`AddParticipantMessage.participant`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Participant {
    Number {
        number: String,
    },
    Target {
        target_id: i64,
        target_type: CallGroupType,
    },
}

#[derive(Serialize)]
struct AddParticipantBody<'a> {
    participant: &'a Participant,
}

#[derive(Serialize)]
struct UnparkBody {
    user_id: i64,
}

#[derive(Serialize)]
struct LabelsBody<'a> {
    labels: &'a [String],
}

/// One AI-recap element (summary, action item, purpose, disposition).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RecapItem {
    /// Only set on purposes.
    pub category: Option<String>,
    pub content: Option<String>,
    pub edited: Option<bool>,
    pub format: Option<String>,
    pub id: Option<String>,
    pub target_short_key: Option<String>,
}

/// `GET /api/v2/call/{id}/ai_recap` (`AiRecapProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AiRecap {
    #[serde(deserialize_with = "wire::null_default")]
    pub action_items: Vec<RecapItem>,
    /// A string in the spec; numbers are tolerated.
    #[serde(deserialize_with = "wire::opt_string_or_number")]
    pub call_id: Option<String>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_created: Option<Timestamp>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_modified: Option<Timestamp>,
    pub disposition: Option<RecapItem>,
    pub is_internal_call: Option<bool>,
    #[serde(deserialize_with = "wire::null_default")]
    pub purposes: Vec<RecapItem>,
    pub source: Option<String>,
    pub summary: Option<RecapItem>,
}

/// `GET /api/v2/calllabels` (`CompanyCallLabels`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CallLabels {
    #[serde(deserialize_with = "wire::null_default")]
    pub labels: Vec<String>,
}

/// Handler for calls; from [`Client::calls`].
#[derive(Debug, Clone, Copy)]
pub struct Calls<'c> {
    pub(crate) client: &'c Client,
}

impl Calls<'_> {
    /// `GET /api/v2/call`.
    pub fn list(&self) -> ListRequest<Call> {
        ListRequest::new(self.client, api(Method::GET, &["call"]))
    }

    /// `GET /api/v2/call/{id}`.
    pub async fn get(&self, call_id: i64) -> Result<Call> {
        let id = call_id.to_string();
        self.client.json(api(Method::GET, &["call", &id])).await
    }

    /// `POST /api/v2/call`: ring a user's devices and dial out.
    pub async fn ring(&self, body: &RingCall) -> Result<CallIdResponse> {
        self.client
            .json(api(Method::POST, &["call"]).json(body)?)
            .await
    }

    /// `PUT /api/v2/call/{id}/actions/hangup`.
    pub async fn hangup(&self, call_id: i64) -> Result<()> {
        let id = call_id.to_string();
        self.client
            .empty(api(Method::PUT, &["call", &id, "actions", "hangup"]))
            .await
    }

    /// `POST /api/v2/call/{id}/transfer`.
    pub async fn transfer(&self, call_id: i64, body: &TransferCall) -> Result<TransferredCall> {
        let id = call_id.to_string();
        self.client
            .json(api(Method::POST, &["call", &id, "transfer"]).json(body)?)
            .await
    }

    /// `POST /api/v2/call/{id}/participants/add`.
    pub async fn add_participant(
        &self,
        call_id: i64,
        participant: &Participant,
    ) -> Result<CallIdResponse> {
        let id = call_id.to_string();
        let body = AddParticipantBody { participant };
        self.client
            .json(api(Method::POST, &["call", &id, "participants", "add"]).json(&body)?)
            .await
    }

    /// `POST /api/v2/call/{id}/unpark`: `user_id` picks up the parked call.
    pub async fn unpark(&self, call_id: i64, user_id: i64) -> Result<CallIdResponse> {
        let id = call_id.to_string();
        self.client
            .json(api(Method::POST, &["call", &id, "unpark"]).json(&UnparkBody { user_id })?)
            .await
    }

    /// `PUT /api/v2/call/{id}/labels`: replaces the call's labels.
    pub async fn set_labels(&self, call_id: i64, labels: &[String]) -> Result<Call> {
        let id = call_id.to_string();
        self.client
            .json(api(Method::PUT, &["call", &id, "labels"]).json(&LabelsBody { labels })?)
            .await
    }

    /// `GET /api/v2/calllabels`: the company's configured call labels.
    pub async fn labels(&self, limit: Option<u32>) -> Result<CallLabels> {
        self.client
            .json(api(Method::GET, &["calllabels"]).query_opt("limit", limit))
            .await
    }

    /// `GET /api/v2/call/{id}/ai_recap`.
    pub async fn ai_recap(&self, call_id: i64, format: Option<SummaryFormat>) -> Result<AiRecap> {
        let id = call_id.to_string();
        self.client
            .json(api(Method::GET, &["call", &id, "ai_recap"]).query_opt("summary_format", format))
            .await
    }
}

impl Client {
    /// Calls (`/api/v2/call`, `/api/v2/calllabels`).
    pub fn calls(&self) -> Calls<'_> {
        Calls { client: self }
    }
}

impl ListRequest<Call> {
    /// Calls started after this instant.
    pub fn started_after(self, t: DateTime<Utc>) -> Self {
        self.started_after_millis(t.timestamp_millis())
    }

    /// Calls started after this epoch-milliseconds value.
    pub fn started_after_millis(self, ms: i64) -> Self {
        self.param("started_after", ms)
    }

    /// Calls started before this instant.
    pub fn started_before(self, t: DateTime<Utc>) -> Self {
        self.started_before_millis(t.timestamp_millis())
    }

    /// Calls started before this epoch-milliseconds value.
    pub fn started_before_millis(self, ms: i64) -> Self {
        self.param("started_before", ms)
    }

    /// Calls of this target (use with [`target_type`](Self::target_type)).
    pub fn target_id(self, id: i64) -> Self {
        self.param("target_id", id)
    }

    /// Type of `target_id`.
    pub fn target_type(self, t: TargetType) -> Self {
        self.param("target_type", t)
    }

    /// Include calls whose data was anonymized.
    pub fn include_anonymized(self, include: bool) -> Self {
        self.param("include_anonymized", include)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_rest_shape() {
        let c: Call = serde_json::from_str(
            r#"{"call_id":"6473016367898624","state":"hangup","direction":"inbound",
                "date_started":"1704164645123","date_ended":1704164705123,"duration":60000.0,
                "mos_score":"4.3","contact":{"id":"shared_1","type":"contact","phone":"+15555550100"},
                "target":{"id":5734470963462144,"type":"user"},"labels":null,
                "recording_details":[{"id":"r1","recording_type":"callrecording","start_time":"1704164645123","duration":"1000"}],
                "something_new":[1,2,3]}"#,
        )
        .unwrap();
        assert_eq!(c.call_id, Some(6473016367898624));
        assert_eq!(c.state, Some(CallState::Hangup));
        assert_eq!(c.direction, Some(Direction::Inbound));
        assert_eq!(c.date_started.unwrap().as_millis(), 1704164645123);
        assert_eq!(c.date_ended.unwrap().as_millis(), 1704164705123);
        assert_eq!(c.duration, Some(60000.0));
        assert_eq!(c.mos_score, Some(4.3));
        assert_eq!(c.target.unwrap().id.as_deref(), Some("5734470963462144"));
        assert!(c.labels.is_empty());
        assert_eq!(c.recording_details[0].duration, Some(1000));
    }

    #[test]
    fn unknown_call_state_round_trips() {
        let c: Call =
            serde_json::from_str(r#"{"state":"teleporting","direction":"sideways"}"#).unwrap();
        assert_eq!(c.state, Some(CallState::Unknown("teleporting".into())));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["state"], "teleporting");
        assert_eq!(v["direction"], "sideways");
    }

    #[test]
    fn transfer_bodies() {
        let b = TransferCall::to(TransferDestination::Target {
            target_id: 42,
            target_type: CallGroupType::Department,
        });
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            serde_json::json!({"to":{"target_id":42,"target_type":"department"}})
        );
        let b = AddParticipantBody {
            participant: &Participant::Number {
                number: "+15555550100".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            serde_json::json!({"participant":{"number":"+15555550100"}})
        );
        let ring = serde_json::to_value(RingCall::new(7, "+15555550100")).unwrap();
        assert_eq!(
            ring,
            serde_json::json!({"phone_number":"+15555550100","user_id":7})
        );
    }
}
