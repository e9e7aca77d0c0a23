//! `POST /_sim/calls`: plays a call through Dialpad's states, emitting a call event at each.
//! A transcribed call goes on, after `call_transcription`, to its AI recap: `recap_summary`,
//! `recap_action_items`, `recap_purposes` and `recap_outcome`, each carrying its part of what
//! `GET /api/v2/call/{id}/ai_recap` answers from then on (see `payloads::call`).
//!
//! With `stop_at` (`ringing`, `connected`, `hold` or `parked`; answered calls only) the call
//! plays up to that state and stays live there, for actions to act on (hang up, transfer,
//! unpark, record). Whenever a call ends through the API (`call.actions.hangup`), its live
//! states stop and its post-call events follow, timed from that hangup, as they would after a
//! natural one (none for a call hung up before it was answered); their timestamps keep the
//! realistic gaps from that hangup.
//!
//! Timing is realistic (a short pre-answer, a few seconds of ringing, ~45 s of talk, post-call
//! processing) and divided by `speed`. Timestamps in the call are simulated: they keep the
//! realistic gaps whatever the speed and never lie in the future, so a call played at
//! `speed: 1000` looks like a 50-second call that ended a moment ago.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Event;
use crate::activity::{external_party, Call, Card, RecordingDetails};
use crate::body::JsonBody;
use crate::contacts::check_e164;
use crate::error::ApiError;
use crate::state::{Db, Sim};
use crate::wire;

#[derive(Deserialize)]
pub struct PlayCall {
    /// `inbound` (default) or `outbound`.
    direction: Option<String>,
    /// `answered` (default), `missed` or `voicemail` (inbound only).
    outcome: Option<String>,
    /// The Dialpad user on the call (default: the first seeded user, or the office's first).
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    user_id: Option<i64>,
    /// An inbound call to an office's main line instead of a user's.
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    office_id: Option<i64>,
    /// The other party's number (default: the contact's, or a fictional 555 number).
    external_number: Option<String>,
    contact_id: Option<String>,
    /// Record and transcribe (default: answered inbound calls are).
    with_transcript: Option<bool>,
    /// Talk time (default 45 s).
    duration_secs: Option<f64>,
    /// Ringing time (default 4 s; missed and voicemail calls ring 20 s).
    ring_secs: Option<f64>,
    /// Time compression (default 1 = real time).
    speed: Option<f64>,
    custom_data: Option<String>,
    /// Stop in this state and stay live (see the module docs).
    stop_at: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Ringing,
    Connected,
    Hold,
    Parked,
    Missed,
    Voicemail,
    Hangup,
    Postcall,
    Recording,
    Transcription,
    RecapSummary,
    RecapActionItems,
    RecapPurposes,
    RecapOutcome,
    VoicemailUploaded,
}

impl Step {
    fn state(self) -> &'static str {
        match self {
            Step::Ringing => "ringing",
            Step::Connected => "connected",
            Step::Hold => "hold",
            Step::Parked => "parked",
            Step::Missed => "missed",
            Step::Voicemail => "voicemail",
            Step::Hangup => "hangup",
            Step::Postcall => "postcall",
            Step::Recording => "recording",
            Step::Transcription => "call_transcription",
            Step::RecapSummary => "recap_summary",
            Step::RecapActionItems => "recap_action_items",
            Step::RecapPurposes => "recap_purposes",
            Step::RecapOutcome => "recap_outcome",
            Step::VoicemailUploaded => "voicemail_uploaded",
        }
    }

    /// Steps of the live call: skipped once the call was hung up through the API.
    fn live(self) -> bool {
        matches!(
            self,
            Step::Ringing
                | Step::Connected
                | Step::Hold
                | Step::Parked
                | Step::Missed
                | Step::Voicemail
                | Step::Hangup
        )
    }
}

/// What the player needs after the POST returns.
struct Plan {
    call_id: i64,
    agent: Card,
    /// The live steps: (offset from the start in simulated ms, step).
    steps: Vec<(i64, Step)>,
    /// The steps after the call ended: (offset from the end in simulated ms, step).
    after_hangup: Vec<(i64, Step)>,
    /// Left live (`stop_at`): only an action ends it.
    live: bool,
    /// Simulated time of the start (epoch ms).
    t0: i64,
    speed: f64,
}

fn secs(v: Option<f64>, default: f64, field: &str) -> Result<i64, ApiError> {
    let s = v.unwrap_or(default);
    if !s.is_finite() || !(0.0..=86_400.0).contains(&s) {
        return Err(ApiError::invalid_field(
            field,
            "must be between 0 and 86400 seconds",
        ));
    }
    Ok((s * 1000.0) as i64)
}

fn pick<'a>(field: &str, v: &'a Option<String>, allowed: &[&'a str]) -> Result<&'a str, ApiError> {
    match v.as_deref() {
        None => Ok(allowed[0]),
        Some(x) if allowed.contains(&x) => Ok(x),
        Some(x) => Err(ApiError::invalid_field(
            field,
            format!("{x:?} is not one of {}", allowed.join(", ")),
        )),
    }
}

pub async fn play_call(
    State(sim): State<Sim>,
    JsonBody(req): JsonBody<PlayCall>,
) -> Result<Json<Value>, ApiError> {
    let direction = pick("direction", &req.direction, &["inbound", "outbound"])?;
    let outcome = pick(
        "outcome",
        &req.outcome,
        &["answered", "missed", "voicemail"],
    )?;
    let inbound = direction == "inbound";
    if !inbound && outcome == "voicemail" {
        return Err(ApiError::invalid_field(
            "outcome",
            "an outbound call cannot go to the simulator's voicemail",
        ));
    }
    if !inbound && req.office_id.is_some() {
        return Err(ApiError::invalid_field(
            "office_id",
            "only inbound calls ring an office",
        ));
    }
    let stop_at = match req.stop_at.as_deref() {
        None => None,
        Some("ringing") => Some(Step::Ringing),
        Some("connected") => Some(Step::Connected),
        Some("hold") => Some(Step::Hold),
        Some("parked") => Some(Step::Parked),
        Some(x) => {
            return Err(ApiError::invalid_field(
                "stop_at",
                format!("{x:?} is not one of ringing, connected, hold, parked"),
            ))
        }
    };
    if stop_at.is_some() && outcome != "answered" {
        return Err(ApiError::invalid_field(
            "stop_at",
            "only an answered call can be left live",
        ));
    }
    let speed = req.speed.unwrap_or(1.0);
    if !speed.is_finite() || !(0.001..=1_000_000.0).contains(&speed) {
        return Err(ApiError::invalid_field(
            "speed",
            "must be between 0.001 and 1000000",
        ));
    }
    let talk = secs(req.duration_secs, 45.0, "duration_secs")?.max(1000);
    let default_ring = if outcome == "answered" { 4.0 } else { 20.0 };
    let ring = secs(req.ring_secs, default_ring, "ring_secs")?;
    let transcribe = outcome == "answered" && req.with_transcript.unwrap_or(inbound);
    let number = req
        .external_number
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if let Some(n) = &number {
        check_e164("external_number", std::slice::from_ref(n))?;
    }

    let mut db = sim.db().write();
    let (agent, office) = resolve_parties(&db, req.user_id, req.office_id)?;
    let number = match (number, req.contact_id.as_deref()) {
        (Some(n), _) => n,
        (None, Some(cid)) => {
            let c = db
                .contacts
                .get(cid)
                .ok_or_else(|| ApiError::invalid_field("contact_id", "no such contact"))?;
            c.phones
                .first()
                .cloned()
                .ok_or_else(|| ApiError::invalid_field("contact_id", "the contact has no phone"))?
        }
        (None, None) => "+12025550147".to_owned(),
    };

    // The plan, in simulated ms from the start.
    let mut steps = Vec::new();
    let rang = if inbound { 500 } else { 300 };
    steps.push((rang, Step::Ringing));
    let answered = rang + ring;
    let ended = match outcome {
        "answered" => {
            steps.push((answered, Step::Connected));
            steps.push((answered + talk, Step::Hangup));
            answered + talk
        }
        "voicemail" => {
            steps.push((answered, Step::Voicemail));
            steps.push((answered + talk.min(20_000), Step::Hangup));
            answered + talk.min(20_000)
        }
        _ => {
            if inbound {
                steps.push((answered, Step::Missed));
            }
            steps.push((answered + 200, Step::Hangup));
            answered + 200
        }
    };
    if outcome == "answered" && inbound {
        steps.push((ended + 1000, Step::Postcall));
    }
    if transcribe {
        steps.push((ended + 3000, Step::Recording));
        steps.push((ended + 8000, Step::Transcription));
        // The recap is ready when `ai_recap` says it was created; its parts follow each other.
        let recap = ended + crate::activity::RECAP_DELAY_MS;
        steps.push((recap, Step::RecapSummary));
        steps.push((recap + 10, Step::RecapActionItems));
        steps.push((recap + 20, Step::RecapPurposes));
        steps.push((recap + 30, Step::RecapOutcome));
    }
    if outcome == "voicemail" {
        steps.push((ended + 4000, Step::VoicemailUploaded));
    }
    // The live part plays on its own timing; what follows the hangup (post-call processing,
    // recording, transcript, recap, voicemail upload) is timed from the moment the call ends,
    // whether the plan ends it or an action (`call.actions.hangup`) does.
    let after_hangup: Vec<(i64, Step)> = steps
        .iter()
        .filter(|(_, s)| !s.live())
        .map(|&(at, s)| (at - ended, s))
        .collect();
    steps.retain(|(_, s)| s.live());
    // A call left live: its steps up to the stop, no hangup of its own.
    if let Some(stop) = stop_at {
        steps.retain(|&(_, s)| {
            s == Step::Ringing || (s == Step::Connected && stop != Step::Ringing)
        });
        if matches!(stop, Step::Hold | Step::Parked) {
            steps.push((answered + 1000, stop));
        }
    }
    let total = steps.last().map_or(0, |s| s.0);
    let now = wire::now_ms();
    // Slower than real time (speed < 1) keeps real timestamps rather than future ones.
    let t0 = now - (total as f64 * (1.0 - 1.0 / speed)).max(0.0) as i64;

    let id = db.next_id();
    let contact = external_party(&db, &number);
    let (target, target_id, target_type, office_id) = match &office {
        Some(o) => (o.party("office"), o.id, "office", Some(o.id)),
        None => (agent.party("user"), agent.id, "user", agent.office_id),
    };
    let internal = office
        .as_ref()
        .and_then(|o| o.phone.clone())
        .or_else(|| agent.phone.clone());
    let call = Call {
        call_id: id,
        master_call_id: None,
        entry_point_call_id: None,
        operator_call_id: None,
        contact: Some(contact),
        target: Some(target.clone()),
        entry_point_target: inbound.then_some(target),
        proxy_target: None,
        date_started: Some(t0),
        date_rang: None,
        date_connected: None,
        date_ended: None,
        event_timestamp: Some(t0),
        direction: direction.to_owned(),
        duration: None,
        total_duration: None,
        external_number: Some(number),
        internal_number: internal,
        group_id: office.as_ref().map(|o| o.id.to_string()),
        is_transferred: false,
        labels: Vec::new(),
        mos_score: None,
        recording_details: Vec::new(),
        state: if inbound { "preanswer" } else { "calling" }.to_owned(),
        was_recorded: false,
        transcription_text: None,
        voicemail_share_link: None,
        custom_data: req.custom_data,
        target_id,
        target_type: target_type.to_owned(),
        office_id,
        agent_id: Some(agent.id),
        recording_since: None,
    };
    let first_state = call.state.clone();
    sim.emit(&db, Event::Call(&call));
    db.calls.insert(id, call);
    drop(db);

    let live = stop_at.is_some();
    let mut states = vec![first_state];
    states.extend(steps.iter().map(|(_, s)| s.state().to_owned()));
    if live {
        states.push("hangup".to_owned());
    }
    states.extend(after_hangup.iter().map(|(_, s)| s.state().to_owned()));
    let plan = Plan {
        call_id: id,
        agent,
        steps,
        after_hangup,
        live,
        t0,
        speed,
    };
    tokio::spawn(play(sim.clone(), plan));
    Ok(Json(json!({
        "call_id": id.to_string(),
        "states": states,
        "speed": speed,
        "live": live,
    })))
}

/// The agent (a user) and, for office calls, the office.
fn resolve_parties(
    db: &Db,
    user_id: Option<i64>,
    office_id: Option<i64>,
) -> Result<(Card, Option<Card>), ApiError> {
    let office = match office_id {
        Some(oid) => Some(
            db.office_card(oid)
                .ok_or_else(|| ApiError::invalid_field("office_id", format!("no office {oid}")))?,
        ),
        None => None,
    };
    let agent = match user_id {
        Some(uid) => db
            .user_card(uid)
            .ok_or_else(|| ApiError::invalid_field("user_id", format!("no user with id {uid}")))?,
        None => {
            let in_office = |id: &i64| {
                office_id.is_none_or(|o| db.user_card(*id).and_then(|c| c.office_id) == Some(o))
            };
            db.users
                .keys()
                .find(|id| in_office(id))
                .and_then(|id| db.user_card(*id))
                .ok_or_else(|| ApiError::bad_request("The company has no user to take the call"))?
        }
    };
    Ok((agent, office))
}

async fn play(sim: Sim, plan: Plan) {
    let started = tokio::time::Instant::now();
    let mut by_action = plan.live;
    for (offset, step) in &plan.steps {
        let due = Duration::from_secs_f64(*offset as f64 / 1000.0 / plan.speed);
        // An action may end the call before its next state: then the live part is over.
        if sleep_unless_ended(&sim, plan.call_id, started + due).await {
            by_action = true;
            break;
        }
        if !play_step(&sim, &plan, *step, plan.t0 + offset) {
            return;
        }
    }
    let Some((ended, connected)) = ended_at(&sim, plan.call_id).await else {
        return;
    };
    // Hung up before anyone answered: nothing was said, so nothing follows.
    if by_action && !connected {
        return;
    }
    let started = tokio::time::Instant::now();
    for (offset, step) in &plan.after_hangup {
        let due = Duration::from_secs_f64(*offset as f64 / 1000.0 / plan.speed);
        tokio::time::sleep_until(started + due).await;
        // The realistic gap from the end, as `ai_recap` dates the recap. (After a natural end
        // the plan's start was set back so that this is not in the future; after an action's
        // hangup at a speed above 1, it can be ahead of the wall clock by up to the gap.)
        if !play_step(&sim, &plan, *step, ended + offset) {
            return;
        }
    }
}

/// Whether the call has ended (or is gone, after a reset).
fn has_ended(sim: &Sim, call_id: i64) -> bool {
    sim.db()
        .read()
        .calls
        .get(&call_id)
        .is_none_or(|c| c.date_ended.is_some())
}

/// Sleeps until `deadline`; returns `true` early when the call ends meanwhile (an action).
async fn sleep_unless_ended(sim: &Sim, call_id: i64, deadline: tokio::time::Instant) -> bool {
    loop {
        // Registered before looking, so an end between the look and the wait is not missed.
        let changed = sim.0.calls_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if has_ended(sim, call_id) {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return false,
            () = &mut changed => {}
        }
    }
}

/// Waits until the call has ended; its end time and whether it was ever connected, or `None`
/// when the call is gone (a reset).
async fn ended_at(sim: &Sim, call_id: i64) -> Option<(i64, bool)> {
    loop {
        let changed = sim.0.calls_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        match sim.db().read().calls.get(&call_id) {
            None => return None,
            Some(c) => {
                if let Some(e) = c.date_ended {
                    return Some((e, c.date_connected.is_some()));
                }
            }
        }
        changed.await;
    }
}

/// Plays one step at simulated time `at`; `false` when the call is over for the player.
fn play_step(sim: &Sim, plan: &Plan, step: Step, at: i64) -> bool {
    let mut db = sim.db().write();
    let Some(call) = db.calls.get(&plan.call_id) else {
        return false;
    };
    // Hung up through the API: the live part is over (the hangup event went out then).
    if step.live() && call.date_ended.is_some() {
        return false;
    }
    let connected = call.date_connected;
    let ended = call.date_ended;
    if step == Step::Transcription {
        let contact = call.contact.clone().unwrap_or_default();
        let talk = match (connected, ended) {
            (Some(c), Some(e)) => (e - c).max(1000),
            _ => 1000,
        };
        let t = crate::seed::activity::transcript(
            &mut db,
            plan.call_id,
            &plan.agent,
            &contact,
            connected.unwrap_or(at),
            talk,
        );
        db.transcripts.insert(plan.call_id, t);
    }
    let extra_id = match step {
        Step::Recording | Step::VoicemailUploaded => Some(db.next_id()),
        _ => None,
    };
    let Some(call) = db.calls.get_mut(&plan.call_id) else {
        return false;
    };
    apply(call, step, at, extra_id);
    let snapshot = call.clone();
    // After the call, the stored call stays `hangup` (as `call.list` shows finished calls);
    // the post-call states are events only.
    if !step.live() {
        call.state = "hangup".to_owned();
    }
    sim.emit(&db, Event::Call(&snapshot));
    true
}

fn apply(call: &mut Call, step: Step, at: i64, extra_id: Option<i64>) {
    call.state = step.state().to_owned();
    call.event_timestamp = Some(at);
    let id = call.call_id;
    match step {
        Step::Ringing => call.date_rang = Some(at),
        Step::Connected => {
            call.date_connected = Some(at);
            call.mos_score = Some(4.3);
        }
        Step::Hangup => {
            call.date_ended = Some(at);
            call.duration = Some(call.date_connected.map_or(0, |c| (at - c).max(0)) as f64);
            call.total_duration = Some(call.date_started.map_or(0, |s| (at - s).max(0)) as f64);
        }
        Step::Recording => {
            call.was_recorded = true;
            if let (Some(c), Some(rid)) = (call.date_connected, extra_id) {
                call.recording_details.push(RecordingDetails {
                    id: rid.to_string(),
                    duration: call.duration.unwrap_or(0.0) as i64,
                    recording_type: "callrecording".to_owned(),
                    start_time: c,
                    url: format!("https://dialpad.com/r/{id}/callrecording"),
                });
            }
        }
        Step::VoicemailUploaded => {
            let start = call.date_rang.unwrap_or(at);
            if let Some(rid) = extra_id {
                call.recording_details.push(RecordingDetails {
                    id: rid.to_string(),
                    duration: call.date_ended.map_or(0, |e| (e - start).max(0)),
                    recording_type: "voicemail".to_owned(),
                    start_time: start,
                    url: format!("https://dialpad.com/r/{id}/voicemail"),
                });
            }
            call.voicemail_share_link = Some(format!("https://dialpad.com/shared/voicemail/{id}"));
            call.transcription_text = Some(
                "Hi, it's about my order, please call me back when you can. Thanks.".to_owned(),
            );
        }
        Step::Hold
        | Step::Parked
        | Step::Missed
        | Step::Voicemail
        | Step::Postcall
        | Step::Transcription
        | Step::RecapSummary
        | Step::RecapActionItems
        | Step::RecapPurposes
        | Step::RecapOutcome => {}
    }
}
