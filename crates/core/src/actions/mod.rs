//! Actions: things an app (or an AI agent) asks Dialpad to do on a connection — text a customer,
//! hang up or transfer a live call, ring a rep's phone, open a screen pop, manage channels —
//! with typed input and output. One table ([`actions!`] below) states each action once: its
//! catalog entry, its input and output types (their JSON Schemas come from the same utoipa
//! derives as the OpenAPI document) and the function that runs it. The operation catalog's
//! `action::<id>` entries are derived from it (`operations::find`), so the two cannot drift.
//!
//! [`run`] validates the input against the schema (every failing path), deserializes it (serde
//! for what a schema cannot say), checks what Dialpad would refuse (text length, exactly one
//! recipient kind), then calls Dialpad through the connection's client.
//!
//! Cobalt's other Dialpad actions are covered elsewhere: contacts, users and calls (list, get,
//! create, update) by the unified models (`/v1/resources/…`), and a raw HTTP request by the proxy
//! (`/v1/proxy/…`).

mod exec;
pub mod schema;
pub mod types;

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::ErrorCode;
use crate::models::{field_error, FieldError};
use types::*;

/// One action of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionInfo {
    /// e.g. `sendSms`.
    pub id: &'static str,
    pub title: &'static str,
    /// What it does, when to use it and what it needs: written for a developer and for an AI
    /// agent choosing a tool.
    pub description: &'static str,
    /// The operation a connection must be granted: `action::<id>`.
    pub operation: &'static str,
    /// The Dialpad OAuth scopes it needs (beyond the default grant).
    pub scopes: &'static [&'static str],
    /// Reads only; changes nothing at Dialpad.
    pub read_only: bool,
    /// May destroy or end something (a call, a channel, a membership).
    pub destructive: bool,
    /// Running it again with the same input has no further effect.
    pub idempotent: bool,
    /// Dialpad's own rate limit for the endpoint, as Dialpad states it.
    pub rate_limit: Option<&'static str>,
    /// What the customer grants, in plain words (the connect page shows it).
    #[serde(skip)]
    pub grant: &'static str,
}

/// Why an action did not run, or what Dialpad answered.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The input breaks the action's schema or a rule Dialpad enforces: every failing path.
    #[error("invalid input: {}", describe(.errors))]
    Validation { errors: Vec<FieldError> },
    /// No action has this id.
    #[error("no action `{0}`")]
    UnknownAction(String),
    /// Dialpad refused or failed.
    #[error(transparent)]
    Dialpad(dialpad::Error),
}

impl From<dialpad::Error> for ActionError {
    fn from(e: dialpad::Error) -> Self {
        ActionError::Dialpad(e)
    }
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| {
            if e.path.is_empty() {
                e.message.clone()
            } else {
                format!("{}: {}", e.path, e.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl ActionError {
    /// The stable code, as the resources API answers the same Dialpad errors. (The server
    /// answers a Dialpad 403 that names a scope with `CONNECTION::MISSING_PERMISSION` and a
    /// fresh authorization URL; without a server, that is `UPSTREAM::FORBIDDEN`.)
    pub fn code(&self) -> ErrorCode {
        match self {
            ActionError::Validation { .. } => ErrorCode::ResourceValidationFailed,
            ActionError::UnknownAction(_) => ErrorCode::ActionNotFound,
            ActionError::Dialpad(e) => dialpad_code(e),
        }
    }
}

/// The stable code of a Dialpad error.
pub fn dialpad_code(e: &dialpad::Error) -> ErrorCode {
    use dialpad::Error as E;
    match e {
        E::RateLimited { .. } => ErrorCode::UpstreamRateLimited,
        E::Api { status, .. } => match status.as_u16() {
            400 | 422 => ErrorCode::UpstreamInvalid,
            403 => ErrorCode::UpstreamForbidden,
            404 => ErrorCode::ResourceNotFound,
            409 => ErrorCode::ResourceConflict,
            _ => ErrorCode::UpstreamUnavailable,
        },
        E::Unauthorized { .. } | E::Token(_) | E::OAuth { .. } => {
            ErrorCode::ConnectionRefreshFailed
        }
        E::Transport(_) => ErrorCode::UpstreamUnavailable,
        E::Decode { .. } => ErrorCode::UpstreamError,
        _ => ErrorCode::ServerInternal,
    }
}

/// Rules a schema cannot say, checked after deserializing and before any Dialpad call.
pub(crate) trait Check {
    fn check(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

/// The table: `id => Input, Output, runner, { catalog fields }`.
macro_rules! actions {
    ($( $id:literal => $input:ty, $output:ty, $exec:path, { $($field:ident : $value:expr),* $(,)? } )*) => {
        const CATALOG: &[ActionInfo] = &[
            $( ActionInfo { id: $id, operation: concat!("action::", $id), $($field: $value,)* }, )*
        ];

        fn schemas_of(id: &str) -> Option<(Value, Value)> {
            match id {
                $( $id => Some((schema::of::<$input>(), schema::of::<$output>())), )*
                _ => None,
            }
        }

        /// Every input and output type as an OpenAPI component `(name, schema)`, the types
        /// they refer to included (the server's document lists them).
        pub fn components() -> Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::Schema>)> {
            use utoipa::ToSchema;
            let mut out = Vec::new();
            $(
                out.push((<$input>::name().into_owned(), <$input as utoipa::PartialSchema>::schema()));
                <$input>::schemas(&mut out);
                out.push((<$output>::name().into_owned(), <$output as utoipa::PartialSchema>::schema()));
                <$output>::schemas(&mut out);
            )*
            let mut seen = std::collections::HashSet::new();
            out.retain(|(name, _)| seen.insert(name.clone()));
            out
        }

        /// The component names of an action's input and output types.
        pub fn schema_names(id: &str) -> Option<(String, String)> {
            use utoipa::ToSchema;
            match id {
                $( $id => Some((<$input>::name().into_owned(), <$output>::name().into_owned())), )*
                _ => None,
            }
        }

        fn check_of(id: &str, input: &Value) -> Result<(), ActionError> {
            match id {
                $( $id => parse::<$input>(input).map(|_| ()), )*
                _ => Err(ActionError::UnknownAction(id.to_owned())),
            }
        }

        async fn dispatch(
            client: &dialpad::Client,
            id: &str,
            input: &Value,
        ) -> Result<Value, ActionError> {
            match id {
                $( $id => {
                    let input: $input = parse(input)?;
                    let out: $output = $exec(client, input).await?;
                    Ok(serde_json::to_value(out).unwrap_or(Value::Null))
                } )*
                _ => Err(ActionError::UnknownAction(id.to_owned())),
            }
        }
    };
}

const NONE: &[&str] = &[];

actions! {
    "sendSms" => SendSmsInput, SmsOutput, exec::send_sms, {
        title: "Send an SMS",
        description: "Sends a text message from a Dialpad user (or an office, department or call center line) to up to 10 phone numbers in E.164, or posts it to a Dialpad channel by hashtag. Give exactly one of `toNumbers` and `channelHashtag`. Text to phone numbers is limited to 1500 characters. Answers the message with status `pending`; delivery is reported later by `telephonySms` events. Not idempotent: send an `Idempotency-Key` header to retry safely.",
        scopes: NONE, read_only: false, destructive: false, idempotent: false,
        rate_limit: Some("100 per minute (tier 1: 800 per minute)"),
        grant: "Send text messages",
    }
    "placeCall" => PlaceCallInput, CallRef, exec::place_call, {
        title: "Place a call (ring a user's devices)",
        description: "Rings all of a user's Dialpad devices (or one, with `deviceId`); when the user answers, Dialpad dials `phoneNumber`. The user needs at least one active device. Answers the new call's id, which `telephonyCall` reads and events follow (calls are listed and read through the `telephonyCall` model, not an action). Not idempotent.",
        scopes: NONE, read_only: false, destructive: false, idempotent: false,
        rate_limit: Some("5 per minute"),
        grant: "Place calls",
    }
    "initiateCall" => InitiateCallInput, DeviceAnswer, exec::initiate_call, {
        title: "Start a call from a user's app",
        description: "Makes a user's Dialpad app (web, desktop or a CTI; not mobile apps or desk phones) place an outbound call to `phoneNumber` by itself. Answers the device that placed it. Use `placeCall` to ring all of a user's devices instead. Not idempotent.",
        scopes: NONE, read_only: false, destructive: false, idempotent: false,
        rate_limit: Some("5 per minute per user"),
        grant: "Start calls from your Dialpad app",
    }
    "hangUpCall" => CallInput, HungUp, exec::hang_up, {
        title: "Hang up a call",
        description: "Ends a live call for every party. A call that already ended is refused by Dialpad (`UPSTREAM::INVALID`).",
        scopes: NONE, read_only: false, destructive: true, idempotent: true,
        rate_limit: Some("1200 per minute"),
        grant: "Hang up calls",
    }
    "transferCall" => TransferCallInput, Transferred, exec::transfer, {
        title: "Transfer a call",
        description: "Transfers a live call to a phone number, or to a user, office, department or call center of the company (`to: {type, id}` or `{type: \"number\", number}`). `transferState` makes it wait on hold, parked, in pre-answer or go to voicemail at the destination.",
        scopes: NONE, read_only: false, destructive: false, idempotent: false,
        rate_limit: Some("1200 per minute"),
        grant: "Transfer calls",
    }
    "addCallParticipant" => AddParticipantInput, CallRef, exec::add_participant, {
        title: "Add a participant to a call",
        description: "Adds a phone number, or a user, office, department or call center (by its primary number), to a live call, making it a conference. Answers the call's id.",
        scopes: NONE, read_only: false, destructive: false, idempotent: false,
        rate_limit: Some("1200 per minute"),
        grant: "Add participants to calls",
    }
    "unparkCall" => UnparkCallInput, CallRef, exec::unpark, {
        title: "Unpark a call",
        description: "Takes a call parked on the office's main line back to a user (`userId`), who then talks to the caller.",
        scopes: NONE, read_only: false, destructive: false, idempotent: false,
        rate_limit: Some("1200 per minute"),
        grant: "Unpark calls",
    }
    "labelCall" => LabelCallInput, Labelled, exec::label, {
        title: "Label a call",
        description: "Replaces a call's labels with `labels` (the company's configured call labels; an empty list removes them). Idempotent.",
        scopes: NONE, read_only: false, destructive: false, idempotent: true,
        rate_limit: Some("250 per minute"),
        grant: "Label calls",
    }
    "toggleCallRecording" => ToggleRecordingInput, ActiveCall, exec::toggle_recording, {
        title: "Start or stop recording a call",
        description: "Turns recording on (`isRecording: true`) or off for the call a user is on now, optionally playing a message to the parties. On a group call, `recordingType` picks the user's own recording, the group's, or both. Idempotent.",
        scopes: NONE, read_only: false, destructive: false, idempotent: true,
        rate_limit: Some("1200 per minute"),
        grant: "Record calls",
    }
    "screenPop" => ScreenPopInput, DeviceAnswer, exec::screen_pop, {
        title: "Show a screen pop",
        description: "Opens a URL (a CRM record, a ticket) on a user's Dialpad app, typically for the caller of a ringing call. Needs the `screen_pop` scope. Answers the device that showed it.",
        scopes: &["screen_pop"], read_only: false, destructive: false, idempotent: false,
        rate_limit: Some("5 per minute"),
        grant: "Show screen pops",
    }
    "listChannels" => ListChannelsInput, ChannelPage, exec::list_channels, {
        title: "List channels",
        description: "One page of the company's Dialpad channels (team chat). Pass the answer's `next` as `cursor` for the following page; `next` is null on the last.",
        scopes: NONE, read_only: true, destructive: false, idempotent: true,
        rate_limit: Some("1200 per minute"),
        grant: "List channels",
    }
    "getChannel" => ChannelInput, ChannelOutput, exec::get_channel, {
        title: "Get a channel",
        description: "A channel by id (`RESOURCE::NOT_FOUND` when there is none).",
        scopes: NONE, read_only: true, destructive: false, idempotent: true,
        rate_limit: Some("1200 per minute"),
        grant: "Read channels",
    }
    "createChannel" => CreateChannelInput, ChannelOutput, exec::create_channel, {
        title: "Create a channel",
        description: "Creates a public or private channel owned by `userId` (default: the connection's user). Not idempotent: a second call makes a second channel, or is refused if the name is taken.",
        scopes: NONE, read_only: false, destructive: false, idempotent: false,
        rate_limit: Some("1200 per minute"),
        grant: "Create channels",
    }
    "deleteChannel" => ChannelInput, ChannelDeleted, exec::delete_channel, {
        title: "Delete a channel",
        description: "Deletes a channel and its history for every member. Cannot be undone.",
        scopes: NONE, read_only: false, destructive: true, idempotent: true,
        rate_limit: Some("1200 per minute"),
        grant: "Delete channels",
    }
    "listChannelMembers" => ListMembersInput, MemberPage, exec::list_members, {
        title: "List a channel's members",
        description: "One page of a channel's members (users). Pass `next` as `cursor` for the following page.",
        scopes: NONE, read_only: true, destructive: false, idempotent: true,
        rate_limit: Some("1200 per minute"),
        grant: "List channel members",
    }
    "addChannelMember" => MemberInput, MemberOutput, exec::add_member, {
        title: "Add a user to a channel",
        description: "Adds a user to a channel; answers the member.",
        scopes: NONE, read_only: false, destructive: false, idempotent: true,
        rate_limit: Some("1200 per minute"),
        grant: "Add channel members",
    }
    "removeChannelMember" => MemberInput, MemberRemoved, exec::remove_member, {
        title: "Remove a user from a channel",
        description: "Removes a user from a channel.",
        scopes: NONE, read_only: false, destructive: true, idempotent: true,
        rate_limit: Some("1200 per minute"),
        grant: "Remove channel members",
    }
    "createRecordingShareLink" => ShareLinkInput, ShareLinkOutput, exec::share_link, {
        title: "Share a call recording",
        description: "Makes a share link to a call recording, admin recording or voicemail (ids from a `telephonyCall`'s recordings), visible to its owner, admins, the company or the public. Needs the `recordings_export` scope.",
        scopes: &["recordings_export"], read_only: false, destructive: false, idempotent: false,
        rate_limit: Some("100 per minute"),
        grant: "Share call recordings",
    }
}

/// Every action, in a stable order.
pub fn catalog() -> &'static [ActionInfo] {
    CATALOG
}

pub fn find(id: &str) -> Option<&'static ActionInfo> {
    CATALOG.iter().find(|a| a.id == id)
}

struct Compiled {
    input: Value,
    output: Value,
    validator: Option<jsonschema::Validator>,
}

/// Schemas and input validators, built once per process.
static COMPILED: LazyLock<HashMap<&'static str, Compiled>> = LazyLock::new(|| {
    CATALOG
        .iter()
        .filter_map(|a| {
            let (input, output) = schemas_of(a.id)?;
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&input)
                .map_err(|e| tracing::error!(action = a.id, error = %e, "input schema"))
                .ok();
            Some((
                a.id,
                Compiled {
                    input,
                    output,
                    validator,
                },
            ))
        })
        .collect()
});

/// The action's input as a self-contained JSON Schema (no `$ref`).
pub fn input_schema(id: &str) -> Option<Value> {
    COMPILED.get(id).map(|c| c.input.clone())
}

/// The action's output as a self-contained JSON Schema.
pub fn output_schema(id: &str) -> Option<Value> {
    COMPILED.get(id).map(|c| c.output.clone())
}

/// Checks `input` without running anything: the schema (every failing path), the types, and
/// Dialpad's rules. [`run`] does the same first; the server calls this before it claims an
/// idempotency key.
pub fn validate(id: &str, input: &Value) -> Result<(), ActionError> {
    let Some(c) = COMPILED.get(id) else {
        return Err(ActionError::UnknownAction(id.to_owned()));
    };
    if let Some(v) = &c.validator {
        let mut errors: Vec<FieldError> = v.iter_errors(input).map(schema_error).collect();
        if !errors.is_empty() {
            errors.sort_by(|a, b| a.path.cmp(&b.path));
            errors.dedup();
            return Err(ActionError::Validation { errors });
        }
    }
    check_of(id, input)
}

/// Runs action `id` with `input` on a connection's Dialpad client. Permission checks are the
/// caller's (`operations::check` on [`ActionInfo::operation`]).
///
/// Someone waits for the answer, so a request waits at most
/// [`MAX_RATE_WAIT`](crate::resources::MAX_RATE_WAIT) for a rate-limit slot: past it the action
/// fails with [`dialpad::Error::RateLimited`] and the wait, before anything is sent (`placeCall`
/// is 5 per minute; a sixth call would otherwise hang for up to a minute).
pub async fn run(client: &dialpad::Client, id: &str, input: Value) -> Result<Value, ActionError> {
    validate(id, &input)?;
    let client = client.with_max_wait(crate::resources::MAX_RATE_WAIT);
    dispatch(&client, id, &input).await
}

/// A JSON Schema error as a field path in the resources API's style (`toNumbers[0]`), naming
/// the missing or unknown property itself rather than its parent object.
fn schema_error(e: jsonschema::ValidationError<'_>) -> FieldError {
    use jsonschema::error::ValidationErrorKind as K;
    let mut path = String::new();
    for seg in e.instance_path().iter() {
        push_segment(&mut path, &seg.to_string());
    }
    match e.kind() {
        K::Required { property } => {
            if let Some(p) = property.as_str() {
                push_segment(&mut path, p);
            }
            field_error(&path, "required")
        }
        K::AdditionalProperties { unexpected } if unexpected.len() == 1 => {
            push_segment(&mut path, &unexpected[0]);
            field_error(&path, "unknown field")
        }
        _ => field_error(&path, e.to_string()),
    }
}

fn push_segment(path: &mut String, seg: &str) {
    if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
        path.push_str(&format!("[{seg}]"));
    } else {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(seg);
    }
}

/// Deserializes (naming the failing path) and applies the input's own rules.
fn parse<T: DeserializeOwned + Check>(input: &Value) -> Result<T, ActionError> {
    let v: T = serde_path_to_error::deserialize(input).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ActionError::Validation {
            errors: vec![field_error(&path, e.into_inner().to_string())],
        }
    })?;
    let errors = v.check();
    if errors.is_empty() {
        Ok(v)
    } else {
        Err(ActionError::Validation { errors })
    }
}

#[cfg(test)]
mod tests;
