//! Each action: the input's own rules ([`Check`]), the Dialpad call, and the typed answer.

use dialpad::calls::{self as dc, CallGroupType};
use dialpad::Client;

use super::types::*;
use super::{ActionError, Check};
use crate::models::{field_error, FieldError};
use crate::read::iso;

type R<T> = Result<T, ActionError>;

/// A Dialpad id from a decimal string. The schema's pattern allows 19 digits, which can still
/// be above `i64::MAX`.
fn id(path: &str, s: &str, errors: &mut Vec<FieldError>) -> i64 {
    match s.parse::<i64>() {
        Ok(n) if n > 0 => n,
        _ => {
            errors.push(field_error(path, format!("{s:?} is not a Dialpad id")));
            0
        }
    }
}

/// Ids already checked by [`Check`] (so a failure here cannot happen; answered as one anyway).
fn checked(path: &str, s: &str) -> R<i64> {
    let mut errors = Vec::new();
    let n = id(path, s, &mut errors);
    if errors.is_empty() {
        Ok(n)
    } else {
        Err(ActionError::Validation { errors })
    }
}

fn ids(pairs: &[(&str, &str)]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (path, s) in pairs {
        id(path, s, &mut errors);
    }
    errors
}

fn opt_id(path: &str, s: &Option<String>) -> Vec<FieldError> {
    s.as_deref().map(|s| ids(&[(path, s)])).unwrap_or_default()
}

fn s(v: Option<i64>) -> Option<String> {
    v.map(|n| n.to_string())
}

fn text<T: std::fmt::Display>(v: Option<T>) -> Option<String> {
    v.map(|t| t.to_string())
}

fn group_type(k: CallGroupKind) -> CallGroupType {
    match k {
        CallGroupKind::Office => CallGroupType::Office,
        CallGroupKind::Department => CallGroupType::Department,
        CallGroupKind::CallCenter => CallGroupType::Callcenter,
    }
}

// ------------------------------------------------------------------------------------ SMS

impl Check for SendSmsInput {
    fn check(&self) -> Vec<FieldError> {
        let mut errors = opt_id("userId", &self.user_id);
        if let Some(g) = &self.sender_group {
            errors.extend(ids(&[("senderGroup.id", &g.id)]));
        }
        match (&self.to_numbers, &self.channel_hashtag) {
            (Some(_), Some(_)) => errors.push(field_error(
                "channelHashtag",
                "give either toNumbers or channelHashtag, not both",
            )),
            (None, None) => errors.push(field_error(
                "toNumbers",
                "required: the numbers to text (or a channelHashtag)",
            )),
            (Some(_), None) => {
                let n = self.text.chars().count();
                if n > SMS_TEXT_LIMIT {
                    errors.push(field_error(
                        "text",
                        format!(
                            "{n} characters: Dialpad sends at most {SMS_TEXT_LIMIT} to phone numbers"
                        ),
                    ));
                }
            }
            (None, Some(_)) => {}
        }
        if self.text.trim().is_empty() {
            errors.push(field_error("text", "must not be blank"));
        }
        errors
    }
}

pub(super) async fn send_sms(client: &Client, i: SendSmsInput) -> R<SmsOutput> {
    let body = dialpad::sms::SendSms {
        to_numbers: i
            .to_numbers
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.0)
            .collect(),
        text: Some(i.text),
        user_id: i
            .user_id
            .as_deref()
            .map(|u| checked("userId", u))
            .transpose()?,
        channel_hashtag: i
            .channel_hashtag
            .map(|h| h.trim_start_matches('#').to_owned()),
        from_number: i.from_number.map(|n| n.0),
        infer_country_code: i.infer_country_code,
        sender_group_id: i
            .sender_group
            .as_ref()
            .map(|g| checked("senderGroup.id", &g.id))
            .transpose()?,
        sender_group_type: i.sender_group.map(|g| match g.group_type {
            SenderGroupType::Office => CallGroupType::Office,
            SenderGroupType::Department => CallGroupType::Department,
            SenderGroupType::CallCenter => CallGroupType::Callcenter,
        }),
        ..Default::default()
    };
    let m = client.sms().send(&body).await?;
    Ok(SmsOutput {
        id: s(m.id),
        status: text(m.message_status),
        delivery_result: text(m.message_delivery_result),
        direction: text(m.direction),
        from_number: m.from_number,
        to_numbers: m.to_numbers,
        user_id: s(m.user_id),
        target_id: s(m.target_id),
        target_type: text(m.target_type),
        created_at: m.created_date.map(iso),
    })
}

// ------------------------------------------------------------------------------------ calls

impl Check for PlaceCallInput {
    fn check(&self) -> Vec<FieldError> {
        let mut e = ids(&[("userId", &self.user_id)]);
        if let Some(g) = &self.group {
            e.extend(ids(&[("group.id", &g.id)]));
        }
        e
    }
}

pub(super) async fn place_call(client: &Client, i: PlaceCallInput) -> R<CallRef> {
    let mut body = dc::RingCall::new(checked("userId", &i.user_id)?, i.phone_number.0);
    body.device_id = i.device_id;
    body.custom_data = i.custom_data;
    body.outbound_caller_id = i.outbound_caller_id;
    body.is_consult = i.is_consult;
    if let Some(g) = i.group {
        body.group_id = Some(checked("group.id", &g.id)?);
        body.group_type = Some(group_type(g.group_type));
    }
    let r = client.calls().ring(&body).await?;
    Ok(CallRef {
        call_id: s(r.call_id),
    })
}

impl Check for InitiateCallInput {
    fn check(&self) -> Vec<FieldError> {
        let mut e = ids(&[("userId", &self.user_id)]);
        if let Some(g) = &self.group {
            e.extend(ids(&[("group.id", &g.id)]));
        }
        e
    }
}

pub(super) async fn initiate_call(client: &Client, i: InitiateCallInput) -> R<DeviceAnswer> {
    let user = checked("userId", &i.user_id)?;
    let mut body = serde_json::json!({"phone_number": i.phone_number.0});
    if let Some(c) = i.custom_data {
        body["custom_data"] = c.into();
    }
    if let Some(c) = i.outbound_caller_id {
        body["outbound_caller_id"] = c.into();
    }
    if let Some(g) = i.group {
        body["group_id"] = checked("group.id", &g.id)?.into();
        body["group_type"] = group_type(g.group_type).to_string().into();
    }
    post_device(client, &format!("users/{user}/initiate_call"), body).await
}

impl Check for CallInput {
    fn check(&self) -> Vec<FieldError> {
        ids(&[("callId", &self.call_id)])
    }
}

pub(super) async fn hang_up(client: &Client, i: CallInput) -> R<HungUp> {
    client
        .calls()
        .hangup(checked("callId", &i.call_id)?)
        .await?;
    Ok(HungUp {
        call_id: i.call_id,
        hung_up: true,
    })
}

fn target(path: &str, t: CallTarget) -> R<dc::TransferDestination> {
    let (id, kind) = match t {
        CallTarget::Number { number } => {
            return Ok(dc::TransferDestination::Number { number: number.0 })
        }
        CallTarget::User { id } => (id, CallGroupType::User),
        CallTarget::Office { id } => (id, CallGroupType::Office),
        CallTarget::Department { id } => (id, CallGroupType::Department),
        CallTarget::CallCenter { id } => (id, CallGroupType::Callcenter),
    };
    Ok(dc::TransferDestination::Target {
        target_id: checked(&format!("{path}.id"), &id)?,
        target_type: kind,
    })
}

fn target_ids(path: &str, t: &CallTarget) -> Vec<FieldError> {
    match t {
        CallTarget::Number { .. } => Vec::new(),
        CallTarget::User { id }
        | CallTarget::Office { id }
        | CallTarget::Department { id }
        | CallTarget::CallCenter { id } => ids(&[(&format!("{path}.id"), id)]),
    }
}

impl Check for TransferCallInput {
    fn check(&self) -> Vec<FieldError> {
        let mut e = ids(&[("callId", &self.call_id)]);
        e.extend(target_ids("to", &self.to));
        e
    }
}

pub(super) async fn transfer(client: &Client, i: TransferCallInput) -> R<Transferred> {
    let call = checked("callId", &i.call_id)?;
    let mut body = dc::TransferCall::to(target("to", i.to)?);
    body.custom_data = i.custom_data;
    body.transfer_state = i.transfer_state.map(|s| match s {
        TransferState::Hold => dc::TransferState::Hold,
        TransferState::Parked => dc::TransferState::Parked,
        TransferState::Preanswer => dc::TransferState::Preanswer,
        TransferState::Voicemail => dc::TransferState::Voicemail,
    });
    let r = client.calls().transfer(call, &body).await?;
    Ok(Transferred {
        call_id: s(r.call_id),
        transferred_to_number: r.transferred_to_number,
        transferred_to_state: text(r.transferred_to_state),
    })
}

impl Check for AddParticipantInput {
    fn check(&self) -> Vec<FieldError> {
        let mut e = ids(&[("callId", &self.call_id)]);
        e.extend(target_ids("participant", &self.participant));
        e
    }
}

pub(super) async fn add_participant(client: &Client, i: AddParticipantInput) -> R<CallRef> {
    let call = checked("callId", &i.call_id)?;
    let p = match target("participant", i.participant)? {
        dc::TransferDestination::Number { number } => dc::Participant::Number { number },
        dc::TransferDestination::Target {
            target_id,
            target_type,
        } => dc::Participant::Target {
            target_id,
            target_type,
        },
        // `target` makes only the two above.
        _ => {
            return Err(ActionError::Validation {
                errors: vec![field_error("participant", "a number or a target")],
            })
        }
    };
    let r = client.calls().add_participant(call, &p).await?;
    Ok(CallRef {
        call_id: s(r.call_id),
    })
}

impl Check for UnparkCallInput {
    fn check(&self) -> Vec<FieldError> {
        ids(&[("callId", &self.call_id), ("userId", &self.user_id)])
    }
}

pub(super) async fn unpark(client: &Client, i: UnparkCallInput) -> R<CallRef> {
    let call = checked("callId", &i.call_id)?;
    let user = checked("userId", &i.user_id)?;
    let v = post_json(
        client,
        &format!("call/{call}/unpark"),
        serde_json::json!({"user_id": user}),
    )
    .await?;
    Ok(CallRef {
        call_id: id_field(&v, "call_id"),
    })
}

impl Check for LabelCallInput {
    fn check(&self) -> Vec<FieldError> {
        let mut e = ids(&[("callId", &self.call_id)]);
        for (n, l) in self.labels.iter().enumerate() {
            if l.trim().is_empty() {
                e.push(field_error(&format!("labels[{n}]"), "must not be blank"));
            }
        }
        e
    }
}

pub(super) async fn label(client: &Client, i: LabelCallInput) -> R<Labelled> {
    let call = checked("callId", &i.call_id)?;
    let c = client.calls().set_labels(call, &i.labels).await?;
    Ok(Labelled {
        call_id: s(c.call_id).or(Some(i.call_id)),
        labels: c.labels,
    })
}

impl Check for ToggleRecordingInput {
    fn check(&self) -> Vec<FieldError> {
        ids(&[("userId", &self.user_id)])
    }
}

pub(super) async fn toggle_recording(client: &Client, i: ToggleRecordingInput) -> R<ActiveCall> {
    let user = checked("userId", &i.user_id)?;
    let mut body = serde_json::json!({"is_recording": i.is_recording});
    if let Some(p) = i.play_message {
        body["play_message"] = p.into();
    }
    if let Some(t) = i.recording_type {
        body["recording_type"] = match t {
            RecordingScope::User => "user",
            RecordingScope::Group => "group",
            RecordingScope::All => "all",
        }
        .into();
    }
    let v = send_json(
        client,
        dialpad::Method::PATCH,
        &format!("users/{user}/activecall"),
        body,
    )
    .await?;
    Ok(ActiveCall {
        call_id: id_field(&v, "id"),
        call_state: v.get("call_state").and_then(|s| s.as_str()).map(Into::into),
        is_recording: v.get("is_recording").and_then(|b| b.as_bool()),
    })
}

impl Check for ScreenPopInput {
    fn check(&self) -> Vec<FieldError> {
        let mut e = ids(&[("userId", &self.user_id)]);
        // Dialpad refuses a URL with a userinfo part (`https://user:pass@…`).
        if let Some((_, rest)) = self.url.split_once("://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            if authority.contains('@') {
                e.push(field_error(
                    "url",
                    "a URL with user information (`user@host`) is refused by Dialpad",
                ));
            }
        }
        e
    }
}

pub(super) async fn screen_pop(client: &Client, i: ScreenPopInput) -> R<DeviceAnswer> {
    let user = checked("userId", &i.user_id)?;
    post_device(
        client,
        &format!("users/{user}/screenpop"),
        serde_json::json!({"screen_pop_uri": i.url}),
    )
    .await
}

// ------------------------------------------------------------------------------------ channels

impl Check for ListChannelsInput {}

fn channel(c: dialpad::channels::Channel) -> ChannelOutput {
    ChannelOutput {
        id: s(c.id),
        name: c.name,
    }
}

pub(super) async fn list_channels(client: &Client, i: ListChannelsInput) -> R<ChannelPage> {
    let mut req = client.channels().list();
    if let Some(c) = i.cursor {
        req = req.cursor(c);
    }
    if let Some(l) = i.limit {
        req = req.limit(l);
    }
    if let Some(st) = i.state {
        req = req.state(st);
    }
    let page = req.send().await?;
    Ok(ChannelPage {
        channels: page.items.into_iter().map(channel).collect(),
        next: page.cursor,
    })
}

impl Check for ChannelInput {
    fn check(&self) -> Vec<FieldError> {
        ids(&[("channelId", &self.channel_id)])
    }
}

pub(super) async fn get_channel(client: &Client, i: ChannelInput) -> R<ChannelOutput> {
    let c = client
        .channels()
        .get(checked("channelId", &i.channel_id)?)
        .await?;
    Ok(channel(c))
}

impl Check for CreateChannelInput {
    fn check(&self) -> Vec<FieldError> {
        let mut e = opt_id("userId", &self.user_id);
        if self.name.trim().is_empty() {
            e.push(field_error("name", "must not be blank"));
        }
        e
    }
}

pub(super) async fn create_channel(client: &Client, i: CreateChannelInput) -> R<ChannelOutput> {
    let privacy = match i.privacy {
        Privacy::Public => dialpad::channels::PrivacyType::Public,
        Privacy::Private => dialpad::channels::PrivacyType::Private,
    };
    let mut body = dialpad::channels::CreateChannel::new(i.name, i.description, privacy);
    body.user_id = i
        .user_id
        .as_deref()
        .map(|u| checked("userId", u))
        .transpose()?;
    let c = client.channels().create(&body).await?;
    Ok(channel(c))
}

pub(super) async fn delete_channel(client: &Client, i: ChannelInput) -> R<ChannelDeleted> {
    client
        .channels()
        .delete(checked("channelId", &i.channel_id)?)
        .await?;
    Ok(ChannelDeleted {
        channel_id: i.channel_id,
        deleted: true,
    })
}

impl Check for ListMembersInput {
    fn check(&self) -> Vec<FieldError> {
        ids(&[("channelId", &self.channel_id)])
    }
}

pub(super) async fn list_members(client: &Client, i: ListMembersInput) -> R<MemberPage> {
    let mut req = client
        .channels()
        .members(checked("channelId", &i.channel_id)?);
    if let Some(c) = i.cursor {
        req = req.cursor(c);
    }
    if let Some(l) = i.limit {
        req = req.limit(l);
    }
    let page = req.send().await?;
    Ok(MemberPage {
        members: page
            .items
            .into_iter()
            .map(|m| MemberOutput {
                id: s(m.id),
                name: m.name,
            })
            .collect(),
        next: page.cursor,
    })
}

impl Check for MemberInput {
    fn check(&self) -> Vec<FieldError> {
        ids(&[("channelId", &self.channel_id), ("userId", &self.user_id)])
    }
}

pub(super) async fn add_member(client: &Client, i: MemberInput) -> R<MemberOutput> {
    let m = client
        .channels()
        .add_member(
            checked("channelId", &i.channel_id)?,
            checked("userId", &i.user_id)?,
        )
        .await?;
    Ok(MemberOutput {
        id: s(m.id).or(Some(i.user_id)),
        name: m.name,
    })
}

pub(super) async fn remove_member(client: &Client, i: MemberInput) -> R<MemberRemoved> {
    client
        .channels()
        .remove_member(
            checked("channelId", &i.channel_id)?,
            checked("userId", &i.user_id)?,
        )
        .await?;
    Ok(MemberRemoved {
        channel_id: i.channel_id,
        user_id: i.user_id,
        removed: true,
    })
}

// ------------------------------------------------------------------------------------ recordings

impl Check for ShareLinkInput {}

pub(super) async fn share_link(client: &Client, i: ShareLinkInput) -> R<ShareLinkOutput> {
    let mut body = serde_json::json!({
        "recording_id": i.recording_id,
        "recording_type": match i.recording_type {
            RecordingKind::CallRecording => "callrecording",
            RecordingKind::AdminCallRecording => "admincallrecording",
            RecordingKind::Voicemail => "voicemail",
        },
    });
    if let Some(p) = i.privacy {
        body["privacy"] = match p {
            LinkPrivacy::Owner => "owner",
            LinkPrivacy::Admin => "admin",
            LinkPrivacy::Company => "company",
            LinkPrivacy::Public => "public",
        }
        .into();
    }
    let v = post_json(client, "recordingsharelink", body).await?;
    let str_of = |k: &str| v.get(k).and_then(|s| s.as_str()).map(String::from);
    Ok(ShareLinkOutput {
        id: id_field(&v, "id"),
        access_link: str_of("access_link"),
        call_id: id_field(&v, "call_id"),
        recording_id: id_field(&v, "item_id"),
        recording_type: str_of("type"),
        privacy: str_of("privacy"),
        created_by_id: id_field(&v, "created_by_id"),
        created_at: crate::read::Reader::new(&v)
            .time("date_added", "createdAt")
            .map(iso),
    })
}

// ------------------------------------------------------------------------------------ generic calls

/// `method /api/v2/<path>` with a JSON body, answered as JSON: for the endpoints the typed client
/// has no method for. It is the client's one request path all the same (rate limits, retries,
/// token refresh, Dialpad's error envelope).
async fn send_json(
    client: &Client,
    method: dialpad::Method,
    path: &str,
    body: serde_json::Value,
) -> R<serde_json::Value> {
    let parts: Vec<&str> = path.split('/').collect();
    Ok(client.request(method, &parts).json(&body)?.send().await?)
}

async fn post_json(client: &Client, path: &str, body: serde_json::Value) -> R<serde_json::Value> {
    send_json(client, dialpad::Method::POST, path, body).await
}

/// An id Dialpad sends as a number or a string, as a string.
fn id_field(v: &serde_json::Value, key: &str) -> Option<String> {
    match v.get(key)? {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A `{device: UserDeviceProto}` answer (initiate call, screen pop).
async fn post_device(client: &Client, path: &str, body: serde_json::Value) -> R<DeviceAnswer> {
    let v = post_json(client, path, body).await?;
    let device = v
        .get("device")
        .filter(|d| d.is_object())
        .map(|d| DeviceOutput {
            id: id_field(d, "id"),
            device_type: d.get("type").and_then(|t| t.as_str()).map(Into::into),
            phone_number: d
                .get("phone_number")
                .and_then(|t| t.as_str())
                .map(Into::into),
            user_id: id_field(d, "user_id"),
        });
    Ok(DeviceAnswer { device })
}
