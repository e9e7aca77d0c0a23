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
    let mut body = dialpad::user_calls::InitiateCall::new(i.phone_number.0);
    body.custom_data = i.custom_data;
    body.outbound_caller_id = i.outbound_caller_id;
    if let Some(g) = i.group {
        body.group_id = Some(checked("group.id", &g.id)?);
        body.group_type = Some(group_type(g.group_type));
    }
    let r = client.users().initiate_call(user, &body).await?;
    Ok(device_answer(r))
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
    let r = client.calls().unpark(call, user).await?;
    Ok(CallRef {
        call_id: s(r.call_id).or(Some(i.call_id)),
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
    use dialpad::user_calls::{ActiveCallRecordingType as T, ActiveCallUpdate};
    let user = checked("userId", &i.user_id)?;
    let mut body = ActiveCallUpdate::recording(i.is_recording);
    body.play_message = i.play_message;
    body.recording_type = i.recording_type.map(|t| match t {
        RecordingScope::User => T::User,
        RecordingScope::Group => T::Group,
        RecordingScope::All => T::All,
    });
    let r = client.users().update_active_call(user, &body).await?;
    Ok(ActiveCall {
        call_id: s(r.id),
        call_state: text(r.call_state),
        is_recording: r.is_recording,
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
    let r = client
        .users()
        .screen_pop(user, &dialpad::user_calls::ScreenPop::new(i.url))
        .await?;
    Ok(device_answer(r))
}

fn device_answer(r: dialpad::user_calls::DeviceUsed) -> DeviceAnswer {
    DeviceAnswer {
        device: r.device.map(|d| DeviceOutput {
            id: d.id,
            device_type: text(d.device_type),
            phone_number: d.phone_number,
            user_id: s(d.user_id),
        }),
    }
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
    use dialpad::calls::RecordingType as T;
    use dialpad::recording_share_links::{CreateRecordingShareLink, SharePrivacy as P};
    let kind = match i.recording_type {
        RecordingKind::CallRecording => T::CallRecording,
        RecordingKind::AdminCallRecording => T::AdminCallRecording,
        RecordingKind::Voicemail => T::Voicemail,
    };
    let mut body = CreateRecordingShareLink::new(i.recording_id, kind);
    body.privacy = i.privacy.map(|p| match p {
        LinkPrivacy::Owner => P::Owner,
        LinkPrivacy::Admin => P::Admin,
        LinkPrivacy::Company => P::Company,
        LinkPrivacy::Public => P::Public,
    });
    let l = client.recording_share_links().create(&body).await?;
    Ok(ShareLinkOutput {
        id: l.id,
        access_link: l.access_link,
        call_id: s(l.call_id),
        recording_id: l.item_id,
        recording_type: text(l.recording_type),
        privacy: text(l.privacy),
        created_by_id: s(l.created_by_id),
        created_at: l.date_added.map(iso),
    })
}
