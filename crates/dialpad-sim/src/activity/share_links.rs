//! `/api/v2/recordingsharelink`: links to a call's recording (or voicemail), with a privacy
//! level (`owner` by default, `admin`, `company` or `public`).

use axum::extract::{Path, State};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::state::{Caller, Sim};
use crate::wire::{self, reply, Reply};

const PRIVACY: &[&str] = &["admin", "company", "owner", "public"];
const RECORDING_TYPES: &[&str] = &["admincallrecording", "callrecording", "voicemail"];
/// Link ids look like Dialpad's: 44 letters and digits.
const ID_LEN: usize = 44;

/// `protos.recording_share_link.RecordingShareLink`.
#[derive(Clone, Debug, Serialize)]
pub struct ShareLink {
    pub id: String,
    pub access_link: String,
    #[serde(with = "wire::id")]
    pub call_id: i64,
    #[serde(with = "wire::opt_id")]
    pub created_by_id: Option<i64>,
    #[serde(serialize_with = "wire::opt_naive_iso")]
    pub date_added: Option<i64>,
    pub item_id: String,
    pub privacy: String,
    #[serde(rename = "type")]
    pub kind: String,
}

fn check_enum(field: &str, v: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            field,
            format!("{v:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

/// `protos.recording_share_link.CreateRecordingShareLink`.
#[derive(Deserialize)]
pub(super) struct CreateLink {
    recording_id: Option<String>,
    recording_type: Option<String>,
    privacy: Option<String>,
}

/// `recording_share_link.create`: a link to one of a call's `recording_details` (by its id).
/// A recording id no call has (a call that was never recorded has none) is a 404; a type that
/// is not the recording's is a 400.
pub(super) async fn create(
    State(sim): State<Sim>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateLink>,
) -> ApiResult<Reply> {
    let recording_id = req
        .recording_id
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::missing_field("recording_id"))?;
    let kind = req
        .recording_type
        .ok_or_else(|| ApiError::missing_field("recording_type"))?;
    check_enum("recording_type", &kind, RECORDING_TYPES)?;
    let privacy = req.privacy.unwrap_or_else(|| "owner".to_owned());
    check_enum("privacy", &privacy, PRIVACY)?;
    let mut db = sim.db().write();
    let (call, recording) = db
        .calls
        .values()
        .find_map(|c| {
            c.recording_details
                .iter()
                .find(|r| r.id == recording_id)
                .map(|r| (c, r))
        })
        .ok_or_else(|| ApiError::not_found("Recording"))?;
    // An admin call recording is a call recording made by an admin; the simulator keeps no
    // separate ones, so it names the same entities.
    let stored = recording.recording_type.as_str();
    let matches = stored == kind || (kind == "admincallrecording" && stored == "callrecording");
    if !matches {
        return Err(ApiError::invalid_field(
            "recording_type",
            format!("recording {recording_id} is a {stored}"),
        ));
    }
    let call_id = call.call_id;
    let created_by = caller.user_id.or(call.agent_id);
    let id: String = (0..ID_LEN)
        .map(|_| char::from(db.rng.sample(rand::distr::Alphanumeric)))
        .collect();
    let link = ShareLink {
        access_link: format!("https://dialpad.com/recording/{kind}/{id}"),
        id: id.clone(),
        call_id,
        created_by_id: created_by,
        date_added: Some(wire::now_ms()),
        item_id: recording_id,
        privacy,
        kind,
    };
    db.share_links.insert(id, link.clone());
    Ok(reply(&link))
}

pub(super) async fn get_one(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let db = sim.db().read();
    db.share_links
        .get(&id)
        .map(reply)
        .ok_or_else(|| ApiError::not_found("Recording share link"))
}

/// `protos.recording_share_link.UpdateRecordingShareLink`.
#[derive(Deserialize)]
pub(super) struct UpdateLink {
    privacy: Option<String>,
}

/// `recording_share_link.update`: changes the link's privacy.
pub(super) async fn update(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateLink>,
) -> ApiResult<Reply> {
    let privacy = req
        .privacy
        .ok_or_else(|| ApiError::missing_field("privacy"))?;
    check_enum("privacy", &privacy, PRIVACY)?;
    let mut db = sim.db().write();
    let link = db
        .share_links
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("Recording share link"))?;
    link.privacy = privacy;
    Ok(reply(&*link))
}

/// `recording_share_link.delete`: answers the deleted link; it no longer opens.
pub(super) async fn delete(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let mut db = sim.db().write();
    db.share_links
        .remove(&id)
        .map(|l| reply(&l))
        .ok_or_else(|| ApiError::not_found("Recording share link"))
}
