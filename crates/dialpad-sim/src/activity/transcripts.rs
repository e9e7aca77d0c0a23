//! `/api/v2/transcripts/{call_id}` and `/api/v2/call/{id}/ai_recap`. The recap is derived from
//! the transcript by [`recap`], which the call playback's `recap_*` events use too, so what a
//! subscriber is told and what `ai_recap` answers agree.

use axum::extract::{Path, State};
use serde::Serialize;

use super::calls::call_id;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::{Caller, Db, Sim};
use crate::wire::{self, reply, Reply};

/// `protos.transcript.TranscriptProto`.
#[derive(Clone, Debug, Serialize)]
pub struct Transcript {
    #[serde(with = "wire::id")]
    pub call_id: i64,
    pub lines: Vec<TranscriptLine>,
}

/// `protos.transcript.TranscriptLineProto`: a spoken line (`transcript`) or a detected
/// `moment`. `time` is a naive ISO date-time.
#[derive(Clone, Debug, Serialize)]
pub struct TranscriptLine {
    pub contact_id: Option<String>,
    pub content: String,
    pub name: String,
    pub time: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(with = "wire::opt_id")]
    pub user_id: Option<i64>,
}

fn no_transcript() -> ApiError {
    ApiError::not_found("Transcript")
}

pub(super) async fn get_one(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = call_id(&id).map_err(|_| no_transcript())?;
    let db = sim.db().read();
    if !db.calls.contains_key(&id) {
        return Err(ApiError::not_found("Call"));
    }
    db.transcripts.get(&id).map(reply).ok_or_else(no_transcript)
}

/// `protos.transcript.TranscriptUrlProto`.
#[derive(Serialize)]
struct TranscriptUrl {
    #[serde(with = "wire::id")]
    call_id: i64,
    url: String,
}

pub(super) async fn get_url(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = call_id(&id).map_err(|_| no_transcript())?;
    let db = sim.db().read();
    if !db.calls.contains_key(&id) {
        return Err(ApiError::not_found("Call"));
    }
    if !db.transcripts.contains_key(&id) {
        return Err(no_transcript());
    }
    let url = format!("https://dialpad.com/callhistory/callreview/{id}?tab=transcript");
    Ok(reply(&TranscriptUrl { call_id: id, url }))
}

/// One item of an AI recap (`ActionItemProto`, `PurposeProto`, `SummaryProto`, ...).
#[derive(Clone, Debug, Serialize)]
pub struct RecapItem {
    id: String,
    content: String,
    edited: bool,
    format: String,
    category: Option<String>,
    target_short_key: Option<String>,
}

/// `protos.call.AiRecapProto`.
#[derive(Clone, Debug, Serialize)]
pub struct AiRecap {
    pub call_id: String,
    #[serde(with = "wire::id")]
    pub date_created: i64,
    #[serde(with = "wire::id")]
    pub date_modified: i64,
    pub is_internal_call: bool,
    pub source: String,
    pub summary: RecapItem,
    pub purposes: Vec<RecapItem>,
    pub action_items: Vec<RecapItem>,
    /// The call's outcome (the `recap_outcome` event).
    pub disposition: RecapItem,
}

/// How long after a call ends its AI recap is ready: `date_created` of the recap, and when the
/// playback sends the `recap_*` events.
pub const RECAP_DELAY_MS: i64 = 45_000;

/// The summary format `ai_recap` uses by default, and the `recap_summary` event carries.
pub const DEFAULT_SUMMARY_FORMAT: &str = "medium";

const SUMMARY_FORMATS: &[&str] = &["bullet", "long", "medium", "short"];

/// `call.ai_recap`: Dialpad's AI recap of a transcribed call, derived from its transcript.
pub(super) async fn ai_recap(
    State(sim): State<Sim>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    caller.require_scope("ai_recap")?;
    let format = params
        .one_of("summary_format", SUMMARY_FORMATS)?
        .unwrap_or_else(|| DEFAULT_SUMMARY_FORMAT.to_owned());
    let id = call_id(&id)?;
    let db = sim.db().read();
    if !db.calls.contains_key(&id) {
        return Err(ApiError::not_found("Call"));
    }
    recap(&db, id, &format)
        .map(|r| reply(&r))
        .ok_or_else(|| ApiError::not_found("AI recap"))
}

/// The AI recap of call `id` with its summary in `format`, or `None` without a transcript.
pub fn recap(db: &Db, id: i64, format: &str) -> Option<AiRecap> {
    let call = db.calls.get(&id)?;
    let transcript = db.transcripts.get(&id)?;
    let spoken: Vec<&TranscriptLine> = transcript
        .lines
        .iter()
        .filter(|l| l.kind == "transcript")
        .collect();
    let moments: Vec<&str> = transcript
        .lines
        .iter()
        .filter(|l| l.kind == "moment")
        .map(|l| l.content.as_str())
        .collect();
    let agent = call
        .target
        .as_ref()
        .and_then(|t| t.name.clone())
        .unwrap_or_else(|| "The agent".to_owned());
    let other = call
        .contact
        .as_ref()
        .and_then(|c| c.name.clone())
        .unwrap_or_else(|| "the caller".to_owned());
    let topic = moments.first().copied().unwrap_or("a general enquiry");
    let first = spoken
        .iter()
        .find(|l| l.user_id.is_none())
        .map(|l| l.content.as_str())
        .unwrap_or("");
    let summary = match format {
        "short" => format!("{agent} spoke with {other} about {}.", topic.to_lowercase()),
        "bullet" => format!(
            "- {agent} spoke with {other}\n- Topic: {topic}\n- {} lines exchanged",
            spoken.len()
        ),
        "long" => format!(
            "{agent} handled a {} call with {other}. The conversation covered {}. {other} opened with: \"{first}\". \
             The call ended with agreed next steps ({} lines transcribed).",
            call.direction,
            moments.join(", ").to_lowercase(),
            spoken.len()
        ),
        _ => format!("{agent} spoke with {other} about {}. Next steps were agreed.", topic.to_lowercase()),
    };
    let ended = call.date_ended.or(call.date_started).unwrap_or(0);
    let item = |n: u32, content: String, category: Option<&str>| RecapItem {
        id: format!("{id}-{n}"),
        content,
        edited: false,
        format: if n == 0 {
            format.to_owned()
        } else {
            "text".to_owned()
        },
        category: category.map(str::to_owned),
        target_short_key: None,
    };
    Some(AiRecap {
        call_id: id.to_string(),
        date_created: ended + RECAP_DELAY_MS,
        date_modified: ended + RECAP_DELAY_MS,
        is_internal_call: false,
        source: "dialpad-ai".to_owned(),
        summary: item(0, summary, None),
        purposes: vec![item(
            1,
            format!("Discuss {}", topic.to_lowercase()),
            Some("customer_request"),
        )],
        action_items: moments
            .iter()
            .enumerate()
            .map(|(i, m)| {
                item(
                    10 + i as u32,
                    format!("{agent} to follow up on {}", m.to_lowercase()),
                    None,
                )
            })
            .collect(),
        disposition: item(
            2,
            if moments.is_empty() {
                "Resolved"
            } else {
                "Follow-up required"
            }
            .to_owned(),
            None,
        ),
    })
}
