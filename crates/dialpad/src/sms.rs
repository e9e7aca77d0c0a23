//! SMS: `POST /api/v2/sms`.

use base64::Engine as _;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::calls::{CallGroupType, Direction};
use crate::client::{api, Client};
use crate::error::Result;
use crate::users::TargetType;
use crate::wire::{self, string_enum, Timestamp};

string_enum! {
    /// Send status of a message.
    pub enum MessageStatus {
        Failed = "failed",
        Pending = "pending",
        Success = "success",
    }
}

string_enum! {
    /// Carrier delivery result.
    pub enum DeliveryResult {
        Accepted = "accepted",
        InternalError = "internal_error",
        InvalidDestination = "invalid_destination",
        InvalidSource = "invalid_source",
        NoRoute = "no_route",
        NotSupported = "not_supported",
        Rejected = "rejected",
        RejectedSpam = "rejected_spam",
        TimeOut = "time_out",
    }
}

/// Body of `POST /api/v2/sms` (`SendSMSMessage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SendSms {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to_numbers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Sending user; defaults to the API key's user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// Post to a channel instead of phone numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_hashtag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infer_country_code: Option<bool>,
    /// Base64-encoded media (MMS); see [`SendSms::media_bytes`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_group_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_group_type: Option<CallGroupType>,
}

impl SendSms {
    /// A text to one or more numbers.
    pub fn text(to_numbers: Vec<String>, text: impl Into<String>) -> Self {
        SendSms {
            to_numbers,
            text: Some(text.into()),
            ..Default::default()
        }
    }

    /// Attaches media, base64-encoding it as the API expects.
    pub fn media_bytes(mut self, bytes: &[u8]) -> Self {
        self.media = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        self
    }
}

/// A message (`SMSProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Sms {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    #[serde(deserialize_with = "wire::opt_string_or_number")]
    pub contact_id: Option<String>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub created_date: Option<Timestamp>,
    /// `public_api`, `iphone`, `web`, … (see [`crate::devices::DeviceType`]).
    pub device_type: Option<crate::devices::DeviceType>,
    pub direction: Option<Direction>,
    pub from_number: Option<String>,
    pub message_delivery_result: Option<DeliveryResult>,
    pub message_status: Option<MessageStatus>,
    #[serde(with = "wire::opt_int64")]
    pub target_id: Option<i64>,
    pub target_type: Option<TargetType>,
    pub text: Option<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub to_numbers: Vec<String>,
    #[serde(with = "wire::opt_int64")]
    pub user_id: Option<i64>,
}

/// Handler for SMS; from [`Client::sms`].
#[derive(Debug, Clone, Copy)]
pub struct SmsHandler<'c> {
    pub(crate) client: &'c Client,
}

impl SmsHandler<'_> {
    /// `POST /api/v2/sms`.
    pub async fn send(&self, body: &SendSms) -> Result<Sms> {
        self.client
            .json(api(Method::POST, &["sms"]).json(body)?)
            .await
    }
}

impl Client {
    /// SMS (`/api/v2/sms`).
    pub fn sms(&self) -> SmsHandler<'_> {
        SmsHandler { client: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_response_and_body() {
        let s: Sms = serde_json::from_str(
            r#"{"id":"123","created_date":"2024-01-02T03:04:05.123456","direction":"outbound",
                "message_status":"pending","device_type":"public_api","to_numbers":["+15555550100"],
                "target_type":"user","target_id":"7","message_delivery_result":null}"#,
        )
        .unwrap();
        assert_eq!(s.id, Some(123));
        assert_eq!(s.message_status, Some(MessageStatus::Pending));
        assert_eq!(s.created_date.unwrap().as_millis(), 1_704_164_645_123);
        let body = SendSms::text(vec!["+15555550100".into()], "hi").media_bytes(b"ab");
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"to_numbers":["+15555550100"],"text":"hi","media":"YWI="})
        );
    }
}
