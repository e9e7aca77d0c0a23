//! Actions on a user's Dialpad app: `POST /api/v2/users/{id}/initiate_call`,
//! `PATCH /api/v2/users/{id}/activecall` (recording on or off) and
//! `POST /api/v2/users/{id}/screenpop`. Methods of [`Users`](crate::users::Users).

use std::fmt::Display;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::calls::{CallGroupType, CallState};
use crate::client::api;
use crate::devices::UserDevice;
use crate::error::Result;
use crate::users::Users;
use crate::wire::{self, string_enum};

/// Body of `POST /api/v2/users/{id}/initiate_call` (`InitiateCallMessage`): the user's
/// desktop, web or CTI app dials `phone_number`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InitiateCall {
    pub phone_number: String,
    /// Passed through to the call's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    /// Call on behalf of this group (with [`group_type`](Self::group_type)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    /// `callcenter`, `department` or `office` (Dialpad accepts no other).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_type: Option<CallGroupType>,
    /// An E.164 number shown to the callee, or `"blocked"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_caller_id: Option<String>,
}

impl InitiateCall {
    pub fn new(phone_number: impl Into<String>) -> Self {
        InitiateCall {
            phone_number: phone_number.into(),
            ..Default::default()
        }
    }
}

/// `InitiatedCallProto` and `InitiateScreenPopResponse`: the device Dialpad used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DeviceUsed {
    pub device: Option<UserDevice>,
}

string_enum! {
    /// Which recording of a group call to toggle: the operator's own (`user`, Dialpad's
    /// default), the group's, or both.
    pub enum ActiveCallRecordingType {
        All = "all",
        Group = "group",
        User = "user",
    }
}

/// Body of `PATCH /api/v2/users/{id}/activecall` (`UpdateActiveCallMessage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActiveCallUpdate {
    /// On or off (absent: Dialpad's behaviour for a toggle).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_recording: Option<bool>,
    /// Play the "this call is being recorded" message (Dialpad's default: true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play_message: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_type: Option<ActiveCallRecordingType>,
}

impl ActiveCallUpdate {
    /// Recording on (`true`) or off.
    pub fn recording(on: bool) -> Self {
        ActiveCallUpdate {
            is_recording: Some(on),
            ..Default::default()
        }
    }
}

/// The user's active call after the update (`ActiveCallProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ActiveCall {
    /// The call's id.
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    pub call_state: Option<CallState>,
    pub is_recording: Option<bool>,
}

/// Body of `POST /api/v2/users/{id}/screenpop` (`InitiateScreenPopMessage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScreenPop {
    /// `https://…` or a native app's `customuri://…`; no user info in it (Dialpad refuses it).
    pub screen_pop_uri: String,
}

impl ScreenPop {
    pub fn new(uri: impl Into<String>) -> Self {
        ScreenPop {
            screen_pop_uri: uri.into(),
        }
    }
}

impl Users<'_> {
    /// `POST /api/v2/users/{id}/initiate_call`: the user's app (desktop, web or CTI; not mobile
    /// or deskphones) dials out. `id` may be `"me"` with a user's credentials. Dialpad allows
    /// 5 a minute per user; the client paces to it.
    pub async fn initiate_call(&self, id: impl Display, body: &InitiateCall) -> Result<DeviceUsed> {
        let id = id.to_string();
        self.client
            .json(api(Method::POST, &["users", &id, "initiate_call"]).json(body)?)
            .await
    }

    /// `PATCH /api/v2/users/{id}/activecall`: turns recording of the user's active call on or
    /// off. A user with no active call is Dialpad's error.
    pub async fn update_active_call(
        &self,
        id: impl Display,
        body: &ActiveCallUpdate,
    ) -> Result<ActiveCall> {
        let id = id.to_string();
        self.client
            .json(api(Method::PATCH, &["users", &id, "activecall"]).json(body)?)
            .await
    }

    /// `POST /api/v2/users/{id}/screenpop`: opens a URL on the user's Dialpad app. Needs the
    /// `screen_pop` scope on OAuth tokens; 5 a minute per user (paced).
    pub async fn screen_pop(&self, id: impl Display, body: &ScreenPop) -> Result<DeviceUsed> {
        let id = id.to_string();
        self.client
            .json(api(Method::POST, &["users", &id, "screenpop"]).json(body)?)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_answers() {
        let b = InitiateCall {
            group_id: Some(9),
            group_type: Some(CallGroupType::Office),
            ..InitiateCall::new("+15555550100")
        };
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            serde_json::json!({"phone_number":"+15555550100","group_id":9,"group_type":"office"})
        );
        assert_eq!(
            serde_json::to_value(ActiveCallUpdate::recording(false)).unwrap(),
            serde_json::json!({"is_recording": false})
        );
        let a: ActiveCall =
            serde_json::from_str(r#"{"call_state":"connected","id":"194","is_recording":true}"#)
                .unwrap();
        assert_eq!(a.id, Some(194));
        assert_eq!(a.call_state, Some(CallState::Connected));
        let d: DeviceUsed = serde_json::from_str(
            r#"{"device":{"id":"+14155551001-user-2-client-native","type":"native","user_id":"2","date_created":"2013-01-01T00:00:00"}}"#,
        )
        .unwrap();
        assert_eq!(d.device.unwrap().user_id, Some(2));
    }
}
