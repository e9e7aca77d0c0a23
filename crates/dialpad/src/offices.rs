//! Offices: `/api/v2/offices`.

use std::fmt::Display;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{api, Client};
use crate::error::Result;
use crate::pagination::ListRequest;
use crate::users::{TargetType, UserState};
use crate::wire::{self, string_enum};

string_enum! {
    /// Whether an office is open right now.
    pub enum AvailabilityStatus {
        Closed = "closed",
        HolidayClosed = "holiday_closed",
        HolidayOpen = "holiday_open",
        Open = "open",
    }
}

string_enum! {
    /// What a routing rule does with a call.
    pub enum RoutingAction {
        AiAgent = "ai_agent",
        BridgeTarget = "bridge_target",
        CallServiceTarget = "call_service_target",
        CompanyDirectory = "company_directory",
        Department = "department",
        Directory = "directory",
        Disabled = "disabled",
        Extension = "extension",
        GoogleDialogflow = "google_dialogflow",
        LastNameCompanyDirectory = "last_name_company_directory",
        LastNameDirectory = "last_name_directory",
        Menu = "menu",
        Message = "message",
        Operator = "operator",
        Person = "person",
        ScriptedIvr = "scripted_ivr",
        Voicemail = "voicemail",
    }
}

/// E911 address of an office.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct E911Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
}

/// Office-level settings toggles.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OfficeSettings {
    pub allow_device_guest_login: Option<bool>,
    pub block_caller_id_disabled: Option<bool>,
    pub bridged_target_recording_allowed: Option<bool>,
    pub disable_desk_phone_self_provision: Option<bool>,
    pub disable_ivr_voicemail: Option<bool>,
    pub no_recording_message_on_user_calls: Option<bool>,
    pub set_caller_id_disabled: Option<bool>,
}

/// DTMF key option inside a routing rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DtmfOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<RoutingAction>,
    #[serde(with = "wire::opt_int64", skip_serializing_if = "Option::is_none")]
    pub action_target_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_target_type: Option<TargetType>,
}

/// DTMF key mapping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DtmfMapping {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<DtmfOptions>,
}

/// Routing for one of the open/closed states.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoutingRule {
    pub action: Option<RoutingAction>,
    #[serde(with = "wire::opt_int64", skip_serializing_if = "Option::is_none")]
    pub action_target_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_target_type: Option<TargetType>,
    #[serde(
        deserialize_with = "wire::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dtmf: Vec<DtmfMapping>,
    /// `fixedorder`, `longestidle`, `mostskilled`, `random`, `roundrobin`, `simultaneous`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_routing: Option<String>,
    pub try_dial_operators: Option<bool>,
}

/// Call routing while open and while closed (`protos.group.RoutingOptions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoutingOptions {
    pub open: Option<RoutingRule>,
    pub closed: Option<RoutingRule>,
}

/// An office (`protos.office.OfficeProto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Office {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    pub availability_status: Option<AvailabilityStatus>,
    pub country: Option<String>,
    pub e911_address: Option<E911Address>,
    /// `menu` or `operators`.
    pub first_action: Option<String>,
    pub is_primary_office: Option<bool>,
    pub name: Option<String>,
    pub no_operators_action: Option<RoutingAction>,
    #[serde(with = "wire::opt_int64")]
    pub office_id: Option<i64>,
    pub office_settings: Option<OfficeSettings>,
    #[serde(deserialize_with = "wire::null_default")]
    pub phone_numbers: Vec<String>,
    #[serde(with = "wire::opt_int64")]
    pub ring_seconds: Option<i64>,
    pub routing_options: Option<RoutingOptions>,
    pub state: Option<UserState>,
    pub timezone: Option<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub voicemail_notification_emails: Vec<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub monday_hours: Vec<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub tuesday_hours: Vec<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub wednesday_hours: Vec<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub thursday_hours: Vec<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub friday_hours: Vec<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub saturday_hours: Vec<String>,
    #[serde(deserialize_with = "wire::null_default")]
    pub sunday_hours: Vec<String>,
}

/// Billing address for a new office.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BillingAddress {
    pub address_line_1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line_2: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub postal_code: Option<String>,
    pub region: Option<String>,
}

/// Billing point of contact for a new office.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BillingContact {
    pub email: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// Voice-intelligence defaults for a new office.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VoiceIntelligence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_pause: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_start: Option<bool>,
}

/// Body of `POST /api/v2/offices` (`CreateOfficeMessage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CreateOffice {
    pub name: String,
    /// ISO country code, e.g. `US`.
    pub country: String,
    /// ISO currency, e.g. `USD`.
    pub currency: String,
    /// `monthly` or `yearly`.
    pub plan_period: String,
    pub annual_commit_monthly_billing: bool,
    pub invoiced: bool,
    pub unified_billing: bool,
    pub billing_address: BillingAddress,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_contact: Option<BillingContact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_call_recording: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e911_address: Option<E911Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours_on: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub international_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mainline_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_operators_action: Option<RoutingAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_options: Option<RoutingOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_same_address: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice_intelligence: Option<VoiceIntelligence>,
    #[serde(flatten)]
    pub hours: OfficeHours,
}

/// Opening hours per weekday, each a list of `"HH:MM"` boundaries
/// (e.g. `["08:00", "12:00", "13:00", "17:00"]`). `None` leaves a day as is.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OfficeHours {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monday_hours: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tuesday_hours: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wednesday_hours: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thursday_hours: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub friday_hours: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saturday_hours: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sunday_hours: Option<Vec<String>>,
}

/// Body of `PATCH /api/v2/offices/{id}` (`OfficeUpdateMessage`): the 2026
/// spec only allows the weekly hours and the `hours_on` switch here.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateOffice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours_on: Option<bool>,
    #[serde(flatten)]
    pub hours: OfficeHours,
}

/// Billing plan returned with office create/update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Plan {
    #[serde(with = "wire::opt_int64")]
    pub additional_number_lines: Option<i64>,
    pub balance: Option<String>,
    #[serde(with = "wire::opt_int64")]
    pub contact_center_lines: Option<i64>,
    #[serde(with = "wire::opt_int64")]
    pub fax_lines: Option<i64>,
    #[serde(with = "wire::opt_int64")]
    pub next_billing_date: Option<i64>,
    pub ppu_address: Option<BillingAddress>,
    #[serde(with = "wire::opt_int64")]
    pub room_lines: Option<i64>,
    #[serde(with = "wire::opt_int64")]
    pub sell_lines: Option<i64>,
    #[serde(with = "wire::opt_int64")]
    pub talk_lines: Option<i64>,
    #[serde(with = "wire::opt_int64")]
    pub tollfree_additional_number_lines: Option<i64>,
    #[serde(with = "wire::opt_int64")]
    pub tollfree_room_lines: Option<i64>,
    #[serde(with = "wire::opt_int64")]
    pub tollfree_uberconference_lines: Option<i64>,
    #[serde(with = "wire::opt_int64")]
    pub uberconference_lines: Option<i64>,
}

/// Response of office create/update (`OfficeUpdateResponse`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OfficeUpdateResponse {
    pub office: Option<Office>,
    pub plan: Option<Plan>,
}

/// Handler for offices; from [`Client::offices`].
#[derive(Debug, Clone, Copy)]
pub struct Offices<'c> {
    pub(crate) client: &'c Client,
}

impl Offices<'_> {
    /// `GET /api/v2/offices`.
    pub fn list(&self) -> ListRequest<Office> {
        ListRequest::new(self.client, api(Method::GET, &["offices"]))
    }

    /// `GET /api/v2/offices/{id}`.
    pub async fn get(&self, id: impl Display) -> Result<Office> {
        let id = id.to_string();
        self.client.json(api(Method::GET, &["offices", &id])).await
    }

    /// `GET /api/v2/offices/primary`.
    pub async fn primary(&self) -> Result<Office> {
        self.client
            .json(api(Method::GET, &["offices", "primary"]))
            .await
    }

    /// `POST /api/v2/offices`.
    pub async fn create(&self, body: &CreateOffice) -> Result<OfficeUpdateResponse> {
        self.client
            .json(api(Method::POST, &["offices"]).json(body)?)
            .await
    }

    /// `PATCH /api/v2/offices/{id}` (hours).
    pub async fn update(
        &self,
        id: impl Display,
        body: &UpdateOffice,
    ) -> Result<OfficeUpdateResponse> {
        let id = id.to_string();
        self.client
            .json(api(Method::PATCH, &["offices", &id]).json(body)?)
            .await
    }
}

impl Client {
    /// Offices (`/api/v2/offices`).
    pub fn offices(&self) -> Offices<'_> {
        Offices { client: self }
    }
}

impl ListRequest<Office> {
    /// Only active offices.
    pub fn active_only(self, active_only: bool) -> Self {
        self.param("active_only", active_only)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_decodes() {
        let o: Office = serde_json::from_str(
            r#"{"id":"6","office_id":"6","state":"active","availability_status":"open",
                "monday_hours":["08:00","17:00"],"tuesday_hours":null,"ring_seconds":"30",
                "routing_options":{"open":{"action":"operator","try_dial_operators":true,
                "action_target_id":"12","dtmf":null},"closed":null},
                "office_settings":{"allow_device_guest_login":false}}"#,
        )
        .unwrap();
        assert_eq!(o.id, Some(6));
        assert_eq!(o.ring_seconds, Some(30));
        assert_eq!(o.availability_status, Some(AvailabilityStatus::Open));
        let open = o.routing_options.unwrap().open.unwrap();
        assert_eq!(open.action, Some(RoutingAction::Operator));
        assert_eq!(open.action_target_id, Some(12));
        assert!(o.tuesday_hours.is_empty());
    }

    #[test]
    fn update_body_is_flat() {
        let body = UpdateOffice {
            hours_on: Some(true),
            hours: OfficeHours {
                monday_hours: Some(vec!["09:00".into(), "17:00".into()]),
                ..Default::default()
            },
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"hours_on": true, "monday_hours": ["09:00", "17:00"]})
        );
    }
}
