//! `POST /api/v2/sms`: sending an SMS on behalf of a user or group.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::body::JsonBody;
use crate::contacts::check_e164;
use crate::error::{ApiError, ApiResult};
use crate::events::Event;
use crate::state::{Caller, Sim};
use crate::wire::{self, reply, Reply};

/// An SMS as Dialpad returns it (`protos.sms.SMSProto`); `created_date` is epoch ms, printed as
/// a naive ISO date-time.
#[derive(Clone, Debug, Serialize)]
pub struct Sms {
    #[serde(with = "wire::id")]
    pub id: i64,
    pub contact_id: Option<String>,
    #[serde(serialize_with = "wire::opt_naive_iso")]
    pub created_date: Option<i64>,
    pub device_type: Option<String>,
    pub direction: String,
    pub from_number: Option<String>,
    pub message_delivery_result: Option<String>,
    pub message_status: String,
    #[serde(with = "wire::opt_id")]
    pub target_id: Option<i64>,
    pub target_type: Option<String>,
    pub text: Option<String>,
    pub to_numbers: Vec<String>,
    #[serde(with = "wire::opt_id")]
    pub user_id: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct SendSms {
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    user_id: Option<i64>,
    to_numbers: Option<Vec<String>>,
    text: Option<String>,
    channel_hashtag: Option<String>,
    from_number: Option<String>,
    infer_country_code: Option<bool>,
    media: Option<String>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    sender_group_id: Option<i64>,
    sender_group_type: Option<String>,
}

const SENDER_GROUP_TYPES: &[&str] = &["callcenter", "department", "office"];
/// Dialpad caps MMS attachments at 500 KiB of raw data.
const MAX_MEDIA: usize = 500 * 1024;
/// Dialpad's help center: "Messages sent to non-Dialpad numbers have a character count limit
/// of 1500 characters"; Dialpad-to-Dialpad messages (a channel, a company number) are not
/// limited. The spec itself states no limit.
pub const MAX_TEXT_CHARS: usize = 1500;

/// `sms.send`: stores the outbound message (`pending`, accepted for delivery) and returns it.
pub(super) async fn send(
    State(sim): State<Sim>,
    caller: Caller,
    JsonBody(req): JsonBody<SendSms>,
) -> ApiResult<Reply> {
    let user_id = req
        .user_id
        .or(caller.user_id)
        .ok_or_else(|| ApiError::missing_field("user_id"))?;
    let to_numbers: Vec<String> = req
        .to_numbers
        .unwrap_or_default()
        .into_iter()
        .map(|n| n.trim().to_owned())
        .collect();
    let hashtag = req
        .channel_hashtag
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    if to_numbers.is_empty() && hashtag.is_none() {
        return Err(ApiError::missing_field("to_numbers"));
    }
    if to_numbers.len() > 10 {
        return Err(ApiError::invalid_field("to_numbers", "at most 10 numbers"));
    }
    if !req.infer_country_code.unwrap_or(false) {
        check_e164("to_numbers", &to_numbers)?;
    } else if let Some(bad) = to_numbers.iter().find(|n| {
        n.trim_start_matches('+').is_empty()
            || !n
                .trim_start_matches('+')
                .bytes()
                .all(|b| b.is_ascii_digit())
    }) {
        return Err(ApiError::invalid_field(
            "to_numbers",
            format!("{bad:?} is not a phone number"),
        ));
    }
    let text = req.text.filter(|t| !t.is_empty());
    let media = req.media.filter(|m| !m.is_empty());
    if text.is_none() && media.is_none() {
        return Err(ApiError::missing_field("text"));
    }
    if let Some(m) = &media {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(m.trim())
            .map_err(|_| ApiError::invalid_field("media", "not valid base64"))?;
        if raw.len() > MAX_MEDIA {
            return Err(ApiError::invalid_field(
                "media",
                "attachments are limited to 500 KiB",
            ));
        }
    }
    if let Some(t) = &req.sender_group_type {
        if !SENDER_GROUP_TYPES.contains(&t.as_str()) {
            return Err(ApiError::invalid_field(
                "sender_group_type",
                format!("{t:?} is not one of {}", SENDER_GROUP_TYPES.join(", ")),
            ));
        }
    }
    if req.sender_group_id.is_some() != req.sender_group_type.is_some() {
        let missing = if req.sender_group_id.is_some() {
            "sender_group_type"
        } else {
            "sender_group_id"
        };
        return Err(ApiError::missing_field(missing));
    }
    let from = req
        .from_number
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if let Some(f) = &from {
        check_e164("from_number", std::slice::from_ref(f))?;
    }
    let mut db = sim.db().write();
    let user = db
        .user_card(user_id)
        .ok_or_else(|| ApiError::invalid_field("user_id", format!("no user with id {user_id}")))?;
    if let Some(t) = &text {
        let chars = t.chars().count();
        if chars > MAX_TEXT_CHARS && to_numbers.iter().any(|n| !db.is_company_number(n)) {
            return Err(ApiError::invalid_field(
                "text",
                format!(
                    "messages to numbers outside Dialpad are limited to {MAX_TEXT_CHARS} characters (got {chars})"
                ),
            ));
        }
    }
    if let Some(tag) = &hashtag {
        let name = tag.trim_start_matches('#');
        if !db
            .channels
            .values()
            .any(|c| c.name.eq_ignore_ascii_case(name))
        {
            return Err(ApiError::invalid_field(
                "channel_hashtag",
                format!("no channel {tag:?}"),
            ));
        }
    }
    let (target_id, target_type) = match (req.sender_group_id, req.sender_group_type) {
        (Some(gid), Some(kind)) => {
            if kind == "office" && !db.offices.contains_key(&gid) {
                return Err(ApiError::invalid_field(
                    "sender_group_id",
                    format!("no office with id {gid}"),
                ));
            }
            (gid, kind)
        }
        _ => (user_id, "user".to_owned()),
    };
    let from_number = from
        .or_else(|| {
            if target_type == "office" {
                db.office_card(target_id).and_then(|o| o.phone)
            } else {
                None
            }
        })
        .or(user.phone);
    let contact_id = to_numbers
        .first()
        .and_then(|n| db.contact_for_number(n))
        .and_then(|c| c.id);
    let id = db.next_id();
    let sms = Sms {
        id,
        contact_id,
        created_date: Some(wire::now_ms()),
        device_type: Some("public_api".to_owned()),
        direction: "outbound".to_owned(),
        from_number,
        message_delivery_result: Some("accepted".to_owned()),
        message_status: "pending".to_owned(),
        target_id: Some(target_id),
        target_type: Some(target_type),
        text,
        to_numbers,
        user_id: Some(user_id),
    };
    db.sms.insert(id, sms.clone());
    sim.emit(
        &db,
        Event::Sms {
            sms: &sms,
            status_update: false,
        },
    );
    drop(db);
    tokio::spawn(settle(sim.clone(), id));
    Ok(reply(&sms))
}

impl crate::state::Db {
    /// Whether `number` is one of the company's own (a user's or an office's).
    fn is_company_number(&self, number: &str) -> bool {
        let users = self.users.keys().filter_map(|id| self.user_card(*id));
        let offices = self.offices.keys().filter_map(|id| self.office_card(*id));
        users
            .chain(offices)
            .any(|c| c.phone.as_deref() == Some(number))
    }
}

/// A moment after sending, the carrier accepts the message: `pending` becomes `success`, told
/// to subscriptions that asked for status events (`status: true`).
async fn settle(sim: Sim, id: i64) {
    let delay = sim.delivery_policy().sms_status_delay_ms;
    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    let mut db = sim.db().write();
    let Some(sms) = db.sms.get_mut(&id) else {
        return;
    };
    sms.message_status = "success".to_owned();
    let sms = sms.clone();
    sim.emit(
        &db,
        Event::Sms {
            sms: &sms,
            status_update: true,
        },
    );
}

#[derive(Deserialize)]
pub struct InboundSms {
    from_number: Option<String>,
    /// The Dialpad number it was sent to (a user's or an office's); or name the user.
    to_number: Option<String>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    user_id: Option<i64>,
    text: Option<String>,
}

/// `POST /_sim/sms/inbound`: someone outside texts a Dialpad number.
pub async fn inbound(
    State(sim): State<Sim>,
    JsonBody(req): JsonBody<InboundSms>,
) -> ApiResult<Reply> {
    let from = req
        .from_number
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing_field("from_number"))?;
    check_e164("from_number", std::slice::from_ref(&from))?;
    let text = req.text.unwrap_or_default();
    let mut db = sim.db().write();
    let to = req.to_number.map(|n| n.trim().to_owned());
    let (target_id, target_type, to_number) = match (req.user_id, to) {
        (Some(uid), to) => {
            let u = db.user_card(uid).ok_or_else(|| {
                ApiError::invalid_field("user_id", format!("no user with id {uid}"))
            })?;
            (uid, "user", to.or(u.phone))
        }
        (None, Some(n)) => {
            let user = db
                .users
                .keys()
                .filter_map(|id| db.user_card(*id))
                .find(|c| c.phone.as_deref() == Some(n.as_str()));
            let office = db
                .offices
                .keys()
                .filter_map(|id| db.office_card(*id))
                .find(|c| c.phone.as_deref() == Some(n.as_str()));
            match (user, office) {
                (Some(u), _) => (u.id, "user", Some(n)),
                (None, Some(o)) => (o.id, "office", Some(n)),
                _ => {
                    return Err(ApiError::invalid_field(
                        "to_number",
                        format!("{n:?} is not a number of this company"),
                    ))
                }
            }
        }
        (None, None) => {
            let u = db
                .users
                .keys()
                .next()
                .and_then(|id| db.user_card(*id))
                .ok_or_else(|| ApiError::missing_field("user_id"))?;
            (u.id, "user", u.phone)
        }
    };
    let contact_id = db.contact_for_number(&from).and_then(|c| c.id);
    let id = db.next_id();
    let sms = Sms {
        id,
        contact_id,
        created_date: Some(wire::now_ms()),
        device_type: None,
        direction: "inbound".to_owned(),
        from_number: Some(from),
        message_delivery_result: None,
        message_status: "success".to_owned(),
        target_id: Some(target_id),
        target_type: Some(target_type.to_owned()),
        text: Some(text),
        to_numbers: to_number.into_iter().collect(),
        user_id: (target_type == "user").then_some(target_id),
    };
    db.sms.insert(id, sms.clone());
    sim.emit(
        &db,
        Event::Sms {
            sms: &sms,
            status_update: false,
        },
    );
    Ok(reply(&sms))
}
