//! `/api/v2/call…` and `/api/v2/calllabels`: call history, ringing a user's devices, and actions
//! on active calls (hang up, transfer, add a participant, labels).

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::{external_party, Call, CallContact};
use crate::body::JsonBody;
use crate::contacts::check_e164;
use crate::error::{ApiError, ApiResult};
use crate::events::Event;
use crate::pagination::paginate;
use crate::params::Params;
use crate::state::{Caller, Db, Sim};
use crate::subscriptions::TARGET_TYPES;
use crate::wire::{self, reply, Reply};

const GROUP_TYPES: &[&str] = &["callcenter", "department", "office"];
const TRANSFER_TARGET_TYPES: &[&str] = &["callcenter", "department", "office", "user"];
const TRANSFER_STATES: &[&str] = &["hold", "parked", "preanswer", "voicemail"];

/// A path id that is not an integer names no call.
pub(super) fn call_id(raw: &str) -> Result<i64, ApiError> {
    raw.trim().parse().map_err(|_| ApiError::not_found("Call"))
}

/// `call.list`: concluded calls, newest first, filtered by start time and target.
pub(super) async fn list(
    State(sim): State<Sim>,
    caller: Caller,
    params: Params,
) -> ApiResult<Reply> {
    caller.require_scope("calls:list")?;
    let after = params.i64("started_after")?;
    let before = params.i64("started_before")?;
    let target_id = params.i64("target_id")?;
    let target_type = params.one_of("target_type", TARGET_TYPES)?;
    params.bool("include_anonymized")?;
    if target_id.is_some() && target_type.is_none() {
        return Err(ApiError::missing_field("target_type"));
    }
    if target_type.is_some() && target_id.is_none() {
        return Err(ApiError::missing_field("target_id"));
    }
    let db = sim.db().read();
    let mut items: Vec<&Call> = db
        .calls
        .values()
        .filter(|c| c.date_ended.is_some())
        .filter(|c| {
            let started = c.date_started.unwrap_or(0);
            after.is_none_or(|a| started > a) && before.is_none_or(|b| started < b)
        })
        .filter(|c| match (target_id, target_type.as_deref()) {
            // An office's calls include those of its users.
            (Some(id), Some("office")) => {
                (c.target_type == "office" && c.target_id == id) || c.office_id == Some(id)
            }
            (Some(id), Some(kind)) => c.target_type == kind && c.target_id == id,
            _ => true,
        })
        .collect();
    items.sort_by_key(|c| std::cmp::Reverse((c.date_started, c.call_id)));
    Ok(reply(&paginate(items, &params)?))
}

pub(super) async fn get_one(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = call_id(&id)?;
    let db = sim.db().read();
    db.calls
        .get(&id)
        .map(reply)
        .ok_or_else(|| ApiError::not_found("Call"))
}

#[derive(Deserialize)]
pub(super) struct RingCall {
    phone_number: Option<String>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    user_id: Option<i64>,
    device_id: Option<String>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    group_id: Option<i64>,
    group_type: Option<String>,
    #[allow(dead_code)]
    is_consult: Option<bool>,
    outbound_caller_id: Option<String>,
    custom_data: Option<String>,
}

/// `protos.call.RingCallProto`.
#[derive(Serialize)]
struct RingCallReply {
    #[serde(with = "wire::id")]
    call_id: i64,
}

fn device_owner(db: &Db, device_id: &str) -> Option<Option<i64>> {
    let device = db.devices.get(device_id)?;
    let v = serde_json::to_value(device).unwrap_or_default();
    Some(v.get("user_id").and_then(super::json_i64))
}

/// What to dial, checked: shared by `call.call` and `users.initiate_call`.
pub(super) struct Dial {
    number: String,
    group_id: Option<i64>,
    group_type: Option<String>,
    caller_id: Option<String>,
    custom_data: Option<String>,
}

/// Checks the dialling fields of `RingCallMessage` / `InitiateCallMessage` (no db needed).
pub(super) fn check_dial(
    phone_number: Option<String>,
    group_id: Option<i64>,
    group_type: Option<String>,
    outbound_caller_id: Option<String>,
    custom_data: Option<String>,
) -> Result<Dial, ApiError> {
    let number = phone_number
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let number = number.ok_or_else(|| ApiError::missing_field("phone_number"))?;
    check_e164("phone_number", std::slice::from_ref(&number))?;
    if let Some(t) = &group_type {
        if !GROUP_TYPES.contains(&t.as_str()) {
            return Err(ApiError::invalid_field(
                "group_type",
                format!("{t:?} is not one of {}", GROUP_TYPES.join(", ")),
            ));
        }
    }
    if group_id.is_some() != group_type.is_some() {
        let missing = if group_id.is_some() {
            "group_type"
        } else {
            "group_id"
        };
        return Err(ApiError::missing_field(missing));
    }
    let caller_id = outbound_caller_id
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if let Some(n) = caller_id.as_deref().filter(|n| *n != "blocked") {
        check_e164("outbound_caller_id", &[n.to_owned()])?;
    }
    Ok(Dial {
        number,
        group_id,
        group_type,
        caller_id,
        custom_data,
    })
}

/// Starts an outbound call from `user` (state `calling`, its call event emitted) and stores it.
/// The call stays live until an action (hang up, transfer, …) moves it on.
pub(super) fn place_call(
    sim: &Sim,
    db: &mut Db,
    user: &super::Card,
    dial: Dial,
) -> Result<i64, ApiError> {
    if let (Some(gid), Some("office")) = (dial.group_id, dial.group_type.as_deref()) {
        if !db.offices.contains_key(&gid) {
            return Err(ApiError::invalid_field(
                "group_id",
                format!("no office with id {gid}"),
            ));
        }
    }
    let now = wire::now_ms();
    let id = db.next_id();
    let contact = external_party(db, &dial.number);
    let internal = match dial.caller_id.as_deref() {
        Some("blocked") => None,
        Some(n) => Some(n.to_owned()),
        None => user.phone.clone(),
    };
    let call = Call {
        call_id: id,
        master_call_id: None,
        entry_point_call_id: None,
        operator_call_id: None,
        contact: Some(contact),
        target: Some(user.party("user")),
        entry_point_target: None,
        proxy_target: internal.as_ref().map(|n| CallContact {
            name: Some(user.name.clone()),
            phone: Some(n.clone()),
            kind: Some("user".to_owned()),
            id: Some(user.id.to_string()),
            email: None,
        }),
        date_started: Some(now),
        date_rang: None,
        date_connected: None,
        date_ended: None,
        event_timestamp: Some(now),
        direction: "outbound".to_owned(),
        duration: None,
        total_duration: None,
        external_number: Some(dial.number),
        internal_number: internal,
        group_id: dial.group_id.map(|g| g.to_string()),
        is_transferred: false,
        labels: Vec::new(),
        mos_score: None,
        recording_details: Vec::new(),
        state: "calling".to_owned(),
        was_recorded: false,
        transcription_text: None,
        voicemail_share_link: None,
        custom_data: dial.custom_data,
        target_id: user.id,
        target_type: "user".to_owned(),
        office_id: user.office_id,
        agent_id: Some(user.id),
        recording_since: None,
    };
    sim.emit(db, Event::Call(&call));
    db.calls.insert(id, call);
    Ok(id)
}

/// `call.call`: rings the user's devices to place an outbound call; the call starts `calling`.
pub(super) async fn ring(
    State(sim): State<Sim>,
    _caller: Caller,
    JsonBody(req): JsonBody<RingCall>,
) -> ApiResult<Reply> {
    let dial = check_dial(
        req.phone_number,
        req.group_id,
        req.group_type,
        req.outbound_caller_id,
        req.custom_data,
    )?;
    let user_id = req
        .user_id
        .ok_or_else(|| ApiError::missing_field("user_id"))?;
    let mut db = sim.db().write();
    let user = db
        .user_card(user_id)
        .ok_or_else(|| ApiError::invalid_field("user_id", format!("no user with id {user_id}")))?;
    if let Some(device) = req.device_id.as_deref().filter(|d| !d.is_empty()) {
        match device_owner(&db, device) {
            Some(Some(owner)) if owner != user_id => {
                return Err(ApiError::invalid_field(
                    "device_id",
                    "device does not belong to the user",
                ))
            }
            Some(_) => {}
            None => {
                return Err(ApiError::invalid_field(
                    "device_id",
                    format!("no device with id {device:?}"),
                ))
            }
        }
    }
    let id = place_call(&sim, &mut db, &user, dial)?;
    Ok(reply(&RingCallReply { call_id: id }))
}

pub(super) fn active_call(db: &mut Db, id: i64) -> Result<&mut Call, ApiError> {
    let call = db
        .calls
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("Call"))?;
    if call.is_active() {
        Ok(call)
    } else {
        Err(ApiError::bad_request(format!(
            "Call {id} is not active (state {:?})",
            call.state
        )))
    }
}

/// `call.actions.hangup`: ends an active call; answers `{}`. A call that already ended (or
/// never existed) is Dialpad's error, never a silent success: 400 naming its state, or 404.
/// A recording in progress stops and becomes one of the call's recordings (its `recording`
/// event follows the `hangup` one); a played call left live goes on to its post-call events.
pub(super) async fn hangup(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = call_id(&id)?;
    let mut db = sim.db().write();
    // An id only for a recording that ends here, so ids stay as they were for the rest.
    let recording = active_call(&mut db, id)?.recording_since.is_some();
    let recording_id = if recording { db.next_id() } else { 0 };
    let call = active_call(&mut db, id)?;
    let now = wire::now_ms();
    call.state = "hangup".to_owned();
    call.date_ended = Some(now);
    call.event_timestamp = Some(now);
    call.duration = Some(call.date_connected.map_or(0, |c| (now - c).max(0)) as f64);
    call.total_duration = Some(call.date_started.map_or(0, |s| (now - s).max(0)) as f64);
    let recorded = call.stop_recording(now, recording_id);
    let snapshot = call.clone();
    sim.emit(&db, Event::Call(&snapshot));
    if recorded {
        let mut event = snapshot;
        event.state = "recording".to_owned();
        sim.emit(&db, Event::Call(&event));
    }
    drop(db);
    sim.0.calls_changed.notify_waiters();
    Ok(wire::empty())
}

/// `protos.call.UnparkCallMessage`.
#[derive(Deserialize)]
pub(super) struct UnparkCall {
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    user_id: Option<i64>,
}

/// `call.unpark`: a user picks up a parked call; it is `connected` again, with that user on it.
/// A call that is not parked (or has ended) is a 400 naming its state.
pub(super) async fn unpark(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UnparkCall>,
) -> ApiResult<Reply> {
    let user_id = req
        .user_id
        .ok_or_else(|| ApiError::missing_field("user_id"))?;
    let id = call_id(&id)?;
    let mut db = sim.db().write();
    let user = db
        .live_user(user_id)
        .and_then(|_| db.user_card(user_id))
        .ok_or_else(|| ApiError::invalid_field("user_id", format!("no user with id {user_id}")))?;
    let call = active_call(&mut db, id)?;
    if call.state != "parked" {
        return Err(ApiError::bad_request(format!(
            "Call {id} is not parked (state {:?})",
            call.state
        )));
    }
    let now = wire::now_ms();
    call.state = "connected".to_owned();
    call.event_timestamp = Some(now);
    call.date_connected.get_or_insert(now);
    call.agent_id = Some(user_id);
    call.operator_call_id = None;
    call.proxy_target = Some(user.party("user"));
    let snapshot = call.clone();
    sim.emit(&db, Event::Call(&snapshot));
    Ok(reply(&RingCallReply { call_id: id }))
}

/// `POST /_sim/calls/{id}/park`: someone parks an active call in Dialpad's app (so that
/// `call.unpark` has something to pick up). Answers the call.
pub async fn park(State(sim): State<Sim>, Path(id): Path<String>) -> ApiResult<Reply> {
    let id = call_id(&id)?;
    let mut db = sim.db().write();
    let call = active_call(&mut db, id)?;
    if call.state == "parked" {
        return Err(ApiError::bad_request(format!(
            "Call {id} is already parked"
        )));
    }
    call.state = "parked".to_owned();
    call.event_timestamp = Some(wire::now_ms());
    let snapshot = call.clone();
    sim.emit(&db, Event::Call(&snapshot));
    Ok(reply(&snapshot))
}

/// A transfer destination or a new participant: one of a number, a call, a target, or an
/// operator of a call center.
#[derive(Deserialize, Default)]
pub(super) struct Destination {
    number: Option<String>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    call_id: Option<i64>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    target_id: Option<i64>,
    target_type: Option<String>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    operator_id: Option<i64>,
}

/// Where a destination leads: its party on the call and its phone number.
fn resolve(
    db: &Db,
    field: &str,
    d: &Destination,
    allow_calls: bool,
) -> Result<(CallContact, Option<String>), ApiError> {
    if let Some(n) = d.number.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        check_e164(&format!("{field}.number"), &[n.to_owned()])?;
        return Ok((external_party(db, n), Some(n.to_owned())));
    }
    if let (true, Some(cid)) = (allow_calls, d.call_id) {
        let other = db.calls.get(&cid).filter(|c| c.is_active());
        let other = other.ok_or_else(|| {
            ApiError::invalid_field(
                &format!("{field}.call_id"),
                format!("no active call with id {cid}"),
            )
        })?;
        return Ok((
            other.target.clone().unwrap_or_default(),
            other.internal_number.clone(),
        ));
    }
    if let (Some(op), true, Some(_)) = (d.operator_id, allow_calls, d.target_id) {
        let user = db.user_card(op).ok_or_else(|| {
            ApiError::invalid_field(
                &format!("{field}.operator_id"),
                format!("no user with id {op}"),
            )
        })?;
        let phone = user.phone.clone();
        return Ok((user.party("user"), phone));
    }
    match (d.target_id, d.target_type.as_deref()) {
        (Some(tid), Some(kind)) => {
            if !TRANSFER_TARGET_TYPES.contains(&kind) {
                return Err(ApiError::invalid_field(
                    &format!("{field}.target_type"),
                    format!("{kind:?} is not one of {}", TRANSFER_TARGET_TYPES.join(", ")),
                ));
            }
            let card = match kind {
                "user" => db.user_card(tid),
                "office" => db.office_card(tid),
                // Call centers and departments are not modelled: a bare party.
                _ => Some(super::Card { id: tid, ..Default::default() }),
            };
            let card = card.ok_or_else(|| ApiError::invalid_field(&format!("{field}.target_id"), format!("no {kind} with id {tid}")))?;
            let phone = card.phone.clone();
            Ok((card.party(kind), phone))
        }
        (Some(_), None) => Err(ApiError::missing_field(&format!("{field}.target_type"))),
        _ => Err(ApiError::bad_request(format!(
            "Invalid value for field '{field}': give a number, a call_id, or a target_id and target_type"
        ))),
    }
}

#[derive(Deserialize)]
pub(super) struct TransferCall {
    to: Option<Destination>,
    transfer_state: Option<String>,
    custom_data: Option<String>,
}

/// `protos.call.TransferredCallProto`.
#[derive(Serialize)]
struct TransferredCall {
    #[serde(with = "wire::id")]
    call_id: i64,
    transferred_to_number: Option<String>,
    transferred_to_state: Option<String>,
}

/// `call.transfer_call`: transfers an active call to a number, another call or a target.
pub(super) async fn transfer(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<TransferCall>,
) -> ApiResult<Reply> {
    let id = call_id(&id)?;
    if let Some(s) = &req.transfer_state {
        if !TRANSFER_STATES.contains(&s.as_str()) {
            return Err(ApiError::invalid_field(
                "transfer_state",
                format!("{s:?} is not one of {}", TRANSFER_STATES.join(", ")),
            ));
        }
    }
    let to = req.to.ok_or_else(|| ApiError::missing_field("to"))?;
    let mut db = sim.db().write();
    active_call(&mut db, id)?;
    if to.call_id == Some(id) {
        return Err(ApiError::invalid_field(
            "to.call_id",
            "a call cannot be transferred to itself",
        ));
    }
    let (_party, number) = resolve(&db, "to", &to, true)?;
    // Transferred to a user (or a call center's operator): it is now that user's active call.
    let new_agent = match (to.operator_id, to.target_type.as_deref()) {
        (Some(op), _) if to.target_id.is_some() => Some(op),
        (None, Some("user")) => to.target_id,
        _ => None,
    };
    let call = active_call(&mut db, id)?;
    if new_agent.is_some() {
        call.agent_id = new_agent;
    }
    call.is_transferred = true;
    call.event_timestamp = Some(wire::now_ms());
    if req.custom_data.is_some() {
        call.custom_data = req.custom_data;
    }
    if let Some(s) = &req.transfer_state {
        call.state = s.clone();
    }
    let snapshot = call.clone();
    sim.emit(&db, Event::Call(&snapshot));
    Ok(reply(&TransferredCall {
        call_id: id,
        transferred_to_number: number,
        transferred_to_state: req.transfer_state,
    }))
}

#[derive(Deserialize)]
pub(super) struct AddParticipant {
    participant: Option<Destination>,
}

/// `call.participants.add`: rings a number or target into an active call as a new call leg.
pub(super) async fn add_participant(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<AddParticipant>,
) -> ApiResult<Reply> {
    let id = call_id(&id)?;
    let participant = req
        .participant
        .ok_or_else(|| ApiError::missing_field("participant"))?;
    let mut db = sim.db().write();
    let base = active_call(&mut db, id)?.clone();
    let (party, number) = resolve(&db, "participant", &participant, false)?;
    if number.is_none() {
        return Err(ApiError::invalid_field(
            "participant",
            "the target has no primary number assigned",
        ));
    }
    let now = wire::now_ms();
    let leg_id = db.next_id();
    // The leg is the new participant's: a Dialpad user on it has it as their active call.
    let agent_id = match party.kind.as_deref() {
        Some("user") => party.id.as_deref().and_then(|i| i.parse().ok()),
        _ => None,
    };
    let leg = Call {
        call_id: leg_id,
        master_call_id: Some(base.master_call_id.unwrap_or(id)),
        entry_point_call_id: Some(id),
        operator_call_id: None,
        contact: Some(party),
        external_number: number,
        date_started: Some(now),
        date_rang: Some(now),
        date_connected: None,
        date_ended: None,
        event_timestamp: Some(now),
        direction: "outbound".to_owned(),
        duration: None,
        total_duration: None,
        is_transferred: false,
        labels: Vec::new(),
        mos_score: None,
        recording_details: Vec::new(),
        state: "ringing".to_owned(),
        was_recorded: false,
        transcription_text: None,
        voicemail_share_link: None,
        recording_since: None,
        agent_id,
        ..base
    };
    sim.emit(&db, Event::Call(&leg));
    db.calls.insert(leg_id, leg);
    Ok(reply(&RingCallReply { call_id: leg_id }))
}

#[derive(Deserialize)]
pub(super) struct PutLabels {
    labels: Option<Vec<String>>,
}

/// `call.put_call_labels`: replaces the call's labels; answers with the call.
pub(super) async fn put_labels(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<PutLabels>,
) -> ApiResult<Reply> {
    let id = call_id(&id)?;
    let mut labels: Vec<String> = Vec::new();
    for l in req.labels.unwrap_or_default() {
        let l = l.trim().to_owned();
        if l.is_empty() {
            return Err(ApiError::invalid_field(
                "labels",
                "labels must not be empty",
            ));
        }
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    let mut db = sim.db().write();
    let call = db
        .calls
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("Call"))?;
    call.labels = labels;
    Ok(reply(&*call))
}

/// `protos.call_label.CompanyCallLabels`.
#[derive(Serialize)]
struct CompanyCallLabels<'a> {
    labels: &'a [String],
}

/// `calllabel.list`: the company's call labels (not paged; `limit` caps the count).
pub(super) async fn list_labels(
    State(sim): State<Sim>,
    _caller: Caller,
    params: Params,
) -> ApiResult<Reply> {
    let limit = match params.i64("limit")? {
        Some(n) if n < 1 => return Err(ApiError::invalid_field("limit", "must be at least 1")),
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => usize::MAX,
    };
    let db = sim.db().read();
    let labels = &db.call_labels[..limit.min(db.call_labels.len())];
    Ok(reply(&CompanyCallLabels { labels }))
}
