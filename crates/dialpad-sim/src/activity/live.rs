//! Actions on a user's Dialpad app (`/api/v2/users/{id}/…`): start a call from the app
//! (`users.initiate_call`), toggle recording of the user's active call
//! (`users.update_active_call`) and pop a URL on the user's screen (`screen_pop.initiate`).

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::calls::{check_dial, place_call};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::events::Event;
use crate::org::{resolve_user_id, UserDevice};
use crate::state::{Caller, Db, Sim};
use crate::wire::{self, reply, Reply};

/// How many screen pops `GET /_sim/screenpops` keeps (oldest dropped first).
const MAX_SCREEN_POPS: usize = 10_000;
/// A screen pop URI longer than this is refused (a browser's practical URL limit).
const MAX_URI: usize = 2048;
const RECORDING_TYPES: &[&str] = &["all", "group", "user"];

/// Devices Dialpad can drive from the API: the desktop and web apps and CTI integrations
/// (Dialpad: "The Dialpad mobile apps and physical deskphones do not support this API call").
fn autocallable(d: &UserDevice) -> bool {
    matches!(d.kind.as_str(), "native" | "web" | "packaged_app") || d.kind.starts_with("iframe_")
}

/// The live user `raw` names (`me` = the token's user), or 404.
fn live_user(db: &Db, caller: &Caller, raw: &str) -> Result<i64, ApiError> {
    let id = resolve_user_id(caller, "id", raw)?;
    db.live_user(id)
        .map(|_| id)
        .ok_or_else(|| ApiError::not_found("User"))
}

/// The user's first autocallable device (desktop app before web before CTI), or Dialpad's 400.
fn app_device(db: &Db, user_id: i64, what: &str) -> Result<UserDevice, ApiError> {
    let rank = |d: &UserDevice| match d.kind.as_str() {
        "native" => 0,
        "web" => 1,
        _ => 2,
    };
    db.devices
        .values()
        .filter(|d| d.user_id == user_id && autocallable(d))
        .min_by_key(|d| (rank(d), d.id.clone()))
        .cloned()
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "The user has no active device that can {what} (the Dialpad desktop or web app, or a CTI application)"
            ))
        })
}

/// `protos.call.InitiateCallMessage`.
#[derive(Deserialize)]
pub(super) struct InitiateCall {
    phone_number: Option<String>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    group_id: Option<i64>,
    group_type: Option<String>,
    outbound_caller_id: Option<String>,
    custom_data: Option<String>,
}

/// `protos.call.InitiatedCallProto` and `protos.screen_pop.InitiateScreenPopResponse`.
#[derive(Serialize)]
struct DeviceReply {
    device: UserDevice,
}

/// `users.initiate_call`: the user's app dials out. The call is created, listed and evented
/// like `call.call`'s (`calling`, live until an action ends it); the answer names the device.
/// Rate limit: 5 a minute per user (`ratelimit.rs`).
pub(super) async fn initiate_call(
    State(sim): State<Sim>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<InitiateCall>,
) -> ApiResult<Reply> {
    let dial = check_dial(
        req.phone_number,
        req.group_id,
        req.group_type,
        req.outbound_caller_id,
        req.custom_data,
    )?;
    let mut db = sim.db().write();
    let user_id = live_user(&db, &caller, &id)?;
    let device = app_device(&db, user_id, "start a call")?;
    let user = db
        .user_card(user_id)
        .ok_or_else(|| ApiError::not_found("User"))?;
    place_call(&sim, &mut db, &user, dial)?;
    Ok(reply(&DeviceReply { device }))
}

/// `protos.call.UpdateActiveCallMessage`.
#[derive(Deserialize)]
pub(super) struct UpdateActiveCall {
    is_recording: Option<bool>,
    #[allow(dead_code)]
    play_message: Option<bool>,
    recording_type: Option<String>,
}

/// `protos.call.ActiveCallProto`.
#[derive(Serialize)]
struct ActiveCall {
    #[serde(with = "wire::id")]
    id: i64,
    call_state: String,
    is_recording: bool,
}

/// `users.update_active_call`: turns recording of the user's active call on or off
/// (`is_recording` absent: toggles). Starting marks the call `was_recorded`; stopping turns
/// the recorded stretch into one of the call's `recording_details` and emits the call's
/// `recording` event (Dialpad tells a recording when it is available). No active call: 404.
pub(super) async fn update_active_call(
    State(sim): State<Sim>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateActiveCall>,
) -> ApiResult<Reply> {
    if let Some(t) = &req.recording_type {
        if !RECORDING_TYPES.contains(&t.as_str()) {
            return Err(ApiError::invalid_field(
                "recording_type",
                format!("{t:?} is not one of {}", RECORDING_TYPES.join(", ")),
            ));
        }
    }
    let mut db = sim.db().write();
    let user_id = live_user(&db, &caller, &id)?;
    // The user's newest active call.
    let call_id = db
        .calls
        .values()
        .rev()
        .find(|c| c.is_active() && c.agent_id == Some(user_id))
        .map(|c| c.call_id)
        .ok_or_else(|| ApiError::not_found("Active call"))?;
    let recording = db
        .calls
        .get(&call_id)
        .is_some_and(|c| c.recording_since.is_some());
    let on = req.is_recording.unwrap_or(!recording);
    // An id only for a recording that ends here, so ids stay as they were for the rest.
    let recording_id = if recording && !on { db.next_id() } else { 0 };
    let Some(call) = db.calls.get_mut(&call_id) else {
        return Err(ApiError::not_found("Active call"));
    };
    let now = wire::now_ms();
    let mut stopped = None;
    if on && call.recording_since.is_none() {
        call.recording_since = Some(now);
        call.was_recorded = true;
    } else if !on && call.stop_recording(now, recording_id) {
        let mut event = call.clone();
        event.state = "recording".to_owned();
        event.event_timestamp = Some(now);
        stopped = Some(event);
    }
    let answer = ActiveCall {
        id: call_id,
        call_state: call.state.clone(),
        is_recording: call.recording_since.is_some(),
    };
    if let Some(event) = stopped {
        sim.emit(&db, Event::Call(&event));
    }
    Ok(reply(&answer))
}

/// A screen pop as `GET /_sim/screenpops` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct ScreenPop {
    #[serde(with = "wire::id")]
    pub user_id: i64,
    pub device_id: String,
    pub screen_pop_uri: String,
    /// Epoch ms.
    pub date: i64,
}

/// `protos.screen_pop.InitiateScreenPopMessage`.
#[derive(Deserialize)]
pub(super) struct InitiateScreenPop {
    screen_pop_uri: Option<String>,
}

/// Dialpad's rules for the URI: a scheme (`https://…`, or a native app's `customuri://…`), no
/// user info (`https://user:pass@…` is refused "for security reasons").
fn check_uri(raw: &str) -> Result<(), ApiError> {
    const FIELD: &str = "screen_pop_uri";
    if raw.len() > MAX_URI {
        return Err(ApiError::invalid_field(
            FIELD,
            format!("at most {MAX_URI} characters"),
        ));
    }
    let url = url::Url::parse(raw)
        .map_err(|e| ApiError::invalid_field(FIELD, format!("not a URL with a scheme ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::invalid_field(
            FIELD,
            "URLs with a user name or password are not supported",
        ));
    }
    Ok(())
}

/// `screen_pop.initiate`: opens `screen_pop_uri` on the user's Dialpad app. Needs the
/// `screen_pop` scope (OAuth); logged for `GET /_sim/screenpops`. Rate limit: 5 a minute per
/// user.
pub(super) async fn screen_pop(
    State(sim): State<Sim>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<InitiateScreenPop>,
) -> ApiResult<Reply> {
    caller.require_scope("screen_pop")?;
    let uri = req
        .screen_pop_uri
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::missing_field("screen_pop_uri"))?;
    check_uri(&uri)?;
    let mut db = sim.db().write();
    let user_id = live_user(&db, &caller, &id)?;
    let device = app_device(&db, user_id, "show a screen pop")?;
    if db.screen_pops.len() >= MAX_SCREEN_POPS {
        db.screen_pops.pop_front();
    }
    db.screen_pops.push_back(ScreenPop {
        user_id,
        device_id: device.id.clone(),
        screen_pop_uri: uri,
        date: wire::now_ms(),
    });
    Ok(reply(&DeviceReply { device }))
}
