//! The actions' typed input and output. Inputs are camelCase, closed (`deny_unknown_fields`:
//! a typo is a 422, not a silently dropped field) and carry ids as decimal strings (Dialpad's
//! ids are 64-bit, beyond what JSON numbers keep exactly in JavaScript); outputs use the
//! unified models' conventions: ids as strings, times ISO-8601.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most characters Dialpad sends to a phone number in one message (its help centre: "a
/// character count limit of 1500 characters" to non-Dialpad numbers; Dialpad-to-Dialpad chat,
/// i.e. a channel, is unlimited).
pub const SMS_TEXT_LIMIT: usize = 1500;
/// The most numbers one `POST /sms` takes.
pub const SMS_MAX_NUMBERS: usize = 10;

// ------------------------------------------------------------------------------------ SMS

/// Who sends a message on behalf of a group (its number is used): an office, a department
/// or a call center.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SenderGroup {
    #[serde(rename = "type")]
    pub group_type: SenderGroupType,
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub id: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum SenderGroupType {
    Office,
    Department,
    CallCenter,
}

/// Send a text message: to up to 10 phone numbers (E.164, e.g. `+15555550100`) or to a
/// Dialpad channel (`channelHashtag`), exactly one of the two.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendSmsInput {
    /// Recipients' numbers in E.164 (1 to 10). Omit when posting to a channel.
    #[schema(max_items = 10, min_items = 1, inline)]
    pub to_numbers: Option<Vec<E164>>,
    /// A channel's hashtag (e.g. `sales`), instead of numbers.
    #[schema(min_length = 1, max_length = 200)]
    pub channel_hashtag: Option<String>,
    /// The message. At most 1500 characters to phone numbers (Dialpad's limit for SMS);
    /// unlimited in a channel.
    #[schema(min_length = 1)]
    pub text: String,
    /// The sending user (their number is used); defaults to the connection's user.
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub user_id: Option<String>,
    /// Send from an office, department or call center line instead of the user's own.
    pub sender_group: Option<SenderGroup>,
    /// One of the sender's numbers to send from (E.164).
    #[schema(inline)]
    pub from_number: Option<E164>,
    /// Let Dialpad add the sender's country code to numbers given without one.
    pub infer_country_code: Option<bool>,
}

/// A phone number in E.164 (`+` and 7 to 15 digits).
#[derive(Debug, Clone, Deserialize)]
pub struct E164(pub String);

impl utoipa::PartialSchema for E164 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\+[1-9][0-9]{6,14}$"))
            .description(Some("A phone number in E.164, e.g. `+15555550100`"))
            .into()
    }
}

impl ToSchema for E164 {}

/// A sent message as Dialpad accepted it (`pending` until the carrier answers; the outcome
/// arrives as a `telephonySms::statusChanged` event).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmsOutput {
    /// Dialpad's message id.
    pub id: Option<String>,
    /// `pending`, `success` or `failed`.
    pub status: Option<String>,
    /// The carrier's answer, once known (e.g. `accepted`, `rejected_spam`).
    pub delivery_result: Option<String>,
    pub direction: Option<String>,
    pub from_number: Option<String>,
    pub to_numbers: Vec<String>,
    /// The sending user.
    pub user_id: Option<String>,
    /// The user, office, department or call center the message was sent as.
    pub target_id: Option<String>,
    pub target_type: Option<String>,
    /// ISO-8601.
    pub created_at: Option<String>,
}

// ------------------------------------------------------------------------------------ calls

/// The office, department or call center a call is placed for (its caller id is shown).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallGroup {
    #[serde(rename = "type")]
    pub group_type: CallGroupKind,
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub id: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum CallGroupKind {
    Office,
    Department,
    CallCenter,
}

/// Ring a user's devices (all, or one); when the user answers, Dialpad dials `phoneNumber`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceCallInput {
    /// The user whose devices ring.
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub user_id: String,
    /// The number to dial once the user answers (E.164).
    #[schema(inline)]
    pub phone_number: E164,
    /// Ring only this device of the user.
    #[schema(min_length = 1)]
    pub device_id: Option<String>,
    /// Place the call for a group (its caller id is shown).
    pub group: Option<CallGroup>,
    /// The number shown to the callee (E.164), or `blocked`.
    #[schema(min_length = 1)]
    pub outbound_caller_id: Option<String>,
    /// Passed through to the call's events.
    #[schema(max_length = 2000)]
    pub custom_data: Option<String>,
    /// A consult call (the user's current call stays on hold).
    pub is_consult: Option<bool>,
}

/// Make a user's Dialpad app (web, desktop or a CTI) start an outbound call itself.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitiateCallInput {
    /// The user whose app places the call.
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub user_id: String,
    /// The number to call (E.164).
    #[schema(inline)]
    pub phone_number: E164,
    pub group: Option<CallGroup>,
    #[schema(min_length = 1)]
    pub outbound_caller_id: Option<String>,
    #[schema(max_length = 2000)]
    pub custom_data: Option<String>,
}

/// A call that Dialpad started.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallRef {
    /// The call's id (follow it with `telephonyCall` or its events).
    pub call_id: Option<String>,
}

/// A user's device.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceOutput {
    pub id: Option<String>,
    /// e.g. `desktop`, `web`, `mobile`, `deskphone`.
    #[serde(rename = "type")]
    pub device_type: Option<String>,
    pub phone_number: Option<String>,
    pub user_id: Option<String>,
}

/// What a user's app did: the device it used.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceAnswer {
    pub device: Option<DeviceOutput>,
}

/// A live call.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallInput {
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub call_id: String,
}

/// What hanging up answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HungUp {
    pub call_id: String,
    /// Always true: Dialpad ended the call.
    pub hung_up: bool,
}

/// Where a call goes: a phone number, or a user, office, department or call center of the
/// company (its main line rings).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum CallTarget {
    /// Any phone number (E.164).
    Number {
        #[schema(inline)]
        number: E164,
    },
    User {
        #[schema(pattern = "^[0-9]{1,19}$")]
        id: String,
    },
    Office {
        #[schema(pattern = "^[0-9]{1,19}$")]
        id: String,
    },
    Department {
        #[schema(pattern = "^[0-9]{1,19}$")]
        id: String,
    },
    CallCenter {
        #[schema(pattern = "^[0-9]{1,19}$")]
        id: String,
    },
}

/// The state a transferred call waits in.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum TransferState {
    Hold,
    Parked,
    Preanswer,
    Voicemail,
}

/// Transfer a live call.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferCallInput {
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub call_id: String,
    /// The destination.
    pub to: CallTarget,
    /// How the call waits at the destination (default: it rings).
    pub transfer_state: Option<TransferState>,
    #[schema(max_length = 2000)]
    pub custom_data: Option<String>,
}

/// What a transfer answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transferred {
    pub call_id: Option<String>,
    pub transferred_to_number: Option<String>,
    pub transferred_to_state: Option<String>,
}

/// Add a number or a user, office, department or call center to a live call.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddParticipantInput {
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub call_id: String,
    pub participant: CallTarget,
}

/// Take a parked call back.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnparkCallInput {
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub call_id: String,
    /// The user who takes the call.
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub user_id: String,
}

/// Replace a call's labels.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelCallInput {
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub call_id: String,
    /// The labels the call has afterwards (the company's configured call labels); empty
    /// removes them all.
    #[schema(max_items = 50)]
    pub labels: Vec<String>,
}

/// A call's labels.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Labelled {
    pub call_id: Option<String>,
    pub labels: Vec<String>,
}

/// Whose recording to switch on a group call.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RecordingScope {
    /// The user's own (personal) recording.
    User,
    /// The group's (department, call center) recording.
    Group,
    All,
}

/// Start or stop recording the call a user is on.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToggleRecordingInput {
    /// The user on the call.
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub user_id: String,
    /// True starts recording, false stops it.
    pub is_recording: bool,
    /// Play a message telling the parties that recording started or stopped.
    pub play_message: Option<bool>,
    /// On a group call: the user's own recording, the group's, or both.
    pub recording_type: Option<RecordingScope>,
}

/// The user's active call after the change.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveCall {
    pub call_id: Option<String>,
    pub call_state: Option<String>,
    pub is_recording: Option<bool>,
}

/// Open a URL on a user's Dialpad app (a CRM record for the caller, say).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScreenPopInput {
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub user_id: String,
    /// An `http(s)://` URL, or a custom scheme of an app on the user's machine.
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = "^[A-Za-z][A-Za-z0-9+.-]*:"
    )]
    pub url: String,
}

// ------------------------------------------------------------------------------------ channels

/// One page of the company's channels.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListChannelsInput {
    /// `next` of the previous page.
    #[schema(min_length = 1)]
    pub cursor: Option<String>,
    /// Page size hint (1 to 100).
    #[schema(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Only channels in this state (e.g. `active`, `archived`).
    #[schema(min_length = 1)]
    pub state: Option<String>,
}

/// A channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelOutput {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A page of channels.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelPage {
    pub channels: Vec<ChannelOutput>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next: Option<String>,
}

/// A channel.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelInput {
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub channel_id: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Privacy {
    Public,
    Private,
}

/// Create a channel.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateChannelInput {
    /// The channel's name (its hashtag).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(max_length = 500)]
    pub description: String,
    pub privacy: Privacy,
    /// The owner; defaults to the connection's user.
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub user_id: Option<String>,
}

/// What deleting answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelDeleted {
    pub channel_id: String,
    pub deleted: bool,
}

/// One page of a channel's members.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListMembersInput {
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub channel_id: String,
    #[schema(min_length = 1)]
    pub cursor: Option<String>,
    #[schema(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// A channel member: a user.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberOutput {
    /// The user's id.
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A page of members.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberPage {
    pub members: Vec<MemberOutput>,
    pub next: Option<String>,
}

/// A user of a channel.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberInput {
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub channel_id: String,
    #[schema(pattern = "^[0-9]{1,19}$")]
    pub user_id: String,
}

/// What removing answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberRemoved {
    pub channel_id: String,
    pub user_id: String,
    pub removed: bool,
}

// ------------------------------------------------------------------------------------ recordings

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RecordingKind {
    CallRecording,
    AdminCallRecording,
    Voicemail,
}

/// Who may open a share link.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum LinkPrivacy {
    Owner,
    Admin,
    Company,
    Public,
}

/// Make a link to a call recording or voicemail (the ids are in a `telephonyCall`'s
/// `recordings`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShareLinkInput {
    #[schema(min_length = 1, max_length = 200)]
    pub recording_id: String,
    pub recording_type: RecordingKind,
    /// Default: Dialpad's (the company).
    pub privacy: Option<LinkPrivacy>,
}

/// A recording share link.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShareLinkOutput {
    pub id: Option<String>,
    /// Where the recording can be played or downloaded.
    pub access_link: Option<String>,
    pub call_id: Option<String>,
    pub recording_id: Option<String>,
    pub recording_type: Option<String>,
    pub privacy: Option<String>,
    pub created_by_id: Option<String>,
    /// ISO-8601.
    pub created_at: Option<String>,
}
