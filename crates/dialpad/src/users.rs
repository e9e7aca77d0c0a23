//! Users: `/api/v2/users`.

use std::fmt::Display;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{api, Client};
use crate::error::Result;
use crate::pagination::ListRequest;
use crate::wire::{self, string_enum, Timestamp};

string_enum! {
    /// Account state of a user, office or company.
    pub enum UserState {
        Active = "active",
        Cancelled = "cancelled",
        Deleted = "deleted",
        Pending = "pending",
        Suspended = "suspended",
        /// Only meaningful as a list filter.
        All = "all",
    }
}

string_enum! {
    /// License type of a user.
    pub enum License {
        Admins = "admins",
        Agents = "agents",
        DpdeAll = "dpde_all",
        DpdeOne = "dpde_one",
        LiteLines = "lite_lines",
        LiteSupportAgents = "lite_support_agents",
        MagentaLines = "magenta_lines",
        Talk = "talk",
        User = "user",
    }
}

string_enum! {
    /// Contact-center duty status.
    pub enum OnDutyStatus {
        Available = "available",
        Busy = "busy",
        Occupied = "occupied",
        OccupiedEnd = "occupied-end",
        Unavailable = "unavailable",
        Wrapup = "wrapup",
        WrapupEnd = "wrapup-end",
    }
}

string_enum! {
    /// Kind of target (group) an object belongs to or is routed to.
    pub enum TargetType {
        Callcenter = "callcenter",
        Callrouter = "callrouter",
        Channel = "channel",
        Coachinggroup = "coachinggroup",
        Coachingteam = "coachingteam",
        Contact = "contact",
        Contactgroup = "contactgroup",
        Department = "department",
        Office = "office",
        Room = "room",
        Staffgroup = "staffgroup",
        User = "user",
        /// Dialpad's own literal `"unknown"` value.
        UnknownTarget = "unknown",
    }
}

string_enum! {
    /// Role of a user inside a group.
    pub enum GroupRole {
        Admin = "admin",
        Operator = "operator",
        Supervisor = "supervisor",
    }
}

/// Group membership of a user (`GroupDetailsProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GroupDetails {
    pub do_not_disturb: Option<bool>,
    #[serde(with = "wire::opt_int64")]
    pub group_id: Option<i64>,
    pub group_type: Option<TargetType>,
    pub role: Option<GroupRole>,
}

/// Voicemail settings of a user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct VoicemailSettings {
    pub is_default_voicemail: Option<bool>,
    pub name: Option<String>,
    pub voicemail_notifications_enabled: Option<bool>,
}

/// A user (`protos.user.UserProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct User {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    #[serde(with = "wire::vec_int64")]
    pub admin_office_ids: Vec<i64>,
    #[serde(with = "wire::opt_int64")]
    pub company_id: Option<i64>,
    pub country: Option<String>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_active: Option<Timestamp>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_added: Option<Timestamp>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub date_first_login: Option<Timestamp>,
    pub display_name: Option<String>,
    pub do_not_disturb: Option<bool>,
    pub duty_status_reason: Option<String>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub duty_status_started: Option<Timestamp>,
    #[serde(deserialize_with = "wire::null_default")]
    pub emails: Vec<String>,
    pub extension: Option<String>,
    pub first_name: Option<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub forwarding_numbers: Vec<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub group_details: Vec<GroupDetails>,
    pub image_url: Option<String>,
    pub international_dialing_enabled: Option<bool>,
    pub is_admin: Option<bool>,
    pub is_available: Option<bool>,
    pub is_on_duty: Option<bool>,
    pub is_online: Option<bool>,
    pub is_super_admin: Option<bool>,
    pub job_title: Option<String>,
    pub language: Option<String>,
    pub last_name: Option<String>,
    pub license: Option<License>,
    pub location: Option<String>,
    pub muted: Option<bool>,
    #[serde(with = "wire::opt_int64")]
    pub office_id: Option<i64>,
    #[serde(deserialize_with = "wire::opt_timestamp")]
    pub on_duty_started: Option<Timestamp>,
    pub on_duty_status: Option<OnDutyStatus>,
    pub onboarding_completed: Option<bool>,
    #[serde(deserialize_with = "wire::null_default")]
    pub phone_numbers: Vec<String>,
    /// `call` or `digital`.
    pub session_type: Option<String>,
    pub state: Option<UserState>,
    pub status_message: Option<String>,
    pub timezone: Option<String>,
    pub voicemail: Option<VoicemailSettings>,
}

/// Body of `POST /api/v2/users` (`CreateUserMessage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CreateUser {
    pub email: String,
    pub office_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_assign: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<License>,
}

impl CreateUser {
    pub fn new(email: impl Into<String>, office_id: i64) -> Self {
        CreateUser {
            email: email.into(),
            office_id,
            ..Default::default()
        }
    }
}

/// Custom presence shown for a user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PresenceStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `conference` or `default`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub status_type: Option<String>,
}

/// Body of `PATCH /api/v2/users/{id}` (`UpdateUserMessage`); `None` fields
/// are left unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateUser {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_office_ids: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarding_numbers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub international_dialing_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_super_admin: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_paid_numbers: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<License>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_numbers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_status: Option<PresenceStatus>,
    /// Only `Active` and `Suspended` are accepted here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<UserState>,
}

/// Handler for users; from [`Client::users`].
#[derive(Debug, Clone, Copy)]
pub struct Users<'c> {
    pub(crate) client: &'c Client,
}

impl Users<'_> {
    /// `GET /api/v2/users`.
    pub fn list(&self) -> ListRequest<User> {
        ListRequest::new(self.client, api(Method::GET, &["users"]))
    }

    /// `POST /api/v2/users`.
    pub async fn create(&self, body: &CreateUser) -> Result<User> {
        self.client
            .json(api(Method::POST, &["users"]).json(body)?)
            .await
    }

    /// `GET /api/v2/users/{id}`; `id` may be numeric or `"me"`.
    pub async fn get(&self, id: impl Display) -> Result<User> {
        let id = id.to_string();
        self.client.json(api(Method::GET, &["users", &id])).await
    }

    /// `GET /api/v2/users/me`: the user the credentials belong to.
    pub async fn me(&self) -> Result<User> {
        self.get("me").await
    }

    /// `PATCH /api/v2/users/{id}`.
    pub async fn update(&self, id: impl Display, body: &UpdateUser) -> Result<User> {
        let id = id.to_string();
        self.client
            .json(api(Method::PATCH, &["users", &id]).json(body)?)
            .await
    }

    /// `DELETE /api/v2/users/{id}`; returns the deleted user.
    pub async fn delete(&self, id: impl Display) -> Result<User> {
        let id = id.to_string();
        self.client.json(api(Method::DELETE, &["users", &id])).await
    }
}

impl Client {
    /// Users (`/api/v2/users`).
    pub fn users(&self) -> Users<'_> {
        Users { client: self }
    }
}

impl ListRequest<User> {
    /// Filter by state (`active`, `all`, `cancelled`, `deleted`, `pending`, `suspended`).
    pub fn state(self, state: UserState) -> Self {
        self.param("state", state)
    }

    /// Filter by email address.
    pub fn email(self, email: impl Into<String>) -> Self {
        self.param("email", email.into())
    }

    /// Filter by assigned phone number (E.164).
    pub fn number(self, number: impl Into<String>) -> Self {
        self.param("number", number.into())
    }

    /// Only company admins (`true`) or only non-admins (`false`).
    pub fn company_admin(self, company_admin: bool) -> Self {
        self.param("company_admin", company_admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_from_rest_and_event_shapes() {
        let rest: User = serde_json::from_str(
            r#"{"id":"5734470963462144","company_id":"4","office_id":"6",
                "admin_office_ids":["6"],"state":"active","license":"talk",
                "date_added":"2024-01-02T03:04:05.123","on_duty_status":"meditating",
                "emails":["a@example.com"],"voicemail":null,"group_details":null}"#,
        )
        .unwrap();
        let event: User = serde_json::from_str(
            r#"{"id":5734470963462144,"company_id":4,"office_id":6,"admin_office_ids":[6],
                "state":"active","license":"talk","date_added":1704164645123,
                "on_duty_status":"meditating","emails":["a@example.com"]}"#,
        )
        .unwrap();
        assert_eq!(rest.id, Some(5734470963462144));
        assert_eq!(rest.id, event.id);
        assert_eq!(rest.admin_office_ids, event.admin_office_ids);
        assert_eq!(rest.date_added, event.date_added);
        assert_eq!(rest.state, Some(UserState::Active));
        assert_eq!(
            rest.on_duty_status,
            Some(OnDutyStatus::Unknown("meditating".into()))
        );
        assert!(rest.group_details.is_empty());
    }

    #[test]
    fn target_type_unknown_literal_is_not_confused() {
        let t: TargetType = serde_json::from_str(r#""unknown""#).unwrap();
        assert_eq!(t, TargetType::UnknownTarget);
        let t: TargetType = serde_json::from_str(r#""hologram""#).unwrap();
        assert_eq!(t, TargetType::Unknown("hologram".into()));
    }
}
