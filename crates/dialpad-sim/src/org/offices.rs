//! `/api/v2/offices` (`protos.office.OfficeProto`): list, get, primary, create, update.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use chrono::{Datelike, Timelike};
use serde::{Deserialize, Serialize};

use super::{check_hours, parse_hhmm, parse_id};
use crate::body::JsonBody;
use crate::contacts::check_e164;
use crate::error::{ApiError, ApiResult};
use crate::pagination::paginate;
use crate::params::Params;
use crate::state::{Caller, Db, Sim};
use crate::wire::{self, reply, Reply};

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/api/v2/offices", get(list).post(create))
        .route("/api/v2/offices/primary", get(primary))
        .route("/api/v2/offices/{id}", get(get_one).patch(update))
}

/// An office as Dialpad returns it (`protos.office.OfficeProto`). Billing details given at
/// creation are kept (not serialised) for the office's plan.
#[derive(Clone, Debug, Serialize)]
pub struct Office {
    #[serde(with = "wire::id")]
    pub id: i64,
    /// Same as `id` (Dialpad sends both).
    #[serde(with = "wire::id")]
    pub office_id: i64,
    pub name: String,
    /// `active`, `cancelled`, `deleted`, `pending` or `suspended`.
    pub state: String,
    pub is_primary_office: bool,
    /// Lower-case ISO country code (`us`).
    pub country: String,
    /// tz database name.
    pub timezone: String,
    pub phone_numbers: Vec<String>,
    /// `open`/`closed`, computed from the hours when served.
    pub availability_status: Option<String>,
    /// `menu` or `operators`.
    pub first_action: Option<String>,
    pub no_operators_action: Option<String>,
    #[serde(with = "wire::opt_id")]
    pub ring_seconds: Option<i64>,
    pub monday_hours: Vec<String>,
    pub tuesday_hours: Vec<String>,
    pub wednesday_hours: Vec<String>,
    pub thursday_hours: Vec<String>,
    pub friday_hours: Vec<String>,
    pub saturday_hours: Vec<String>,
    pub sunday_hours: Vec<String>,
    /// false = takes calls 24/7 (Dialpad's default); true = only during the hours above.
    #[serde(skip)]
    pub hours_on: bool,
    pub e911_address: Option<E911Address>,
    pub office_settings: Option<OfficeSettings>,
    pub routing_options: Option<RoutingOptions>,
    pub voicemail_notification_emails: Vec<String>,
    #[serde(skip)]
    pub plan: Plan,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct E911Address {
    pub address: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct OfficeSettings {
    pub allow_device_guest_login: bool,
    pub block_caller_id_disabled: bool,
    pub bridged_target_recording_allowed: bool,
    pub disable_desk_phone_self_provision: bool,
    pub disable_ivr_voicemail: bool,
    pub no_recording_message_on_user_calls: bool,
    pub set_caller_id_disabled: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoutingOptions {
    pub open: Option<RoutingOptionsInner>,
    pub closed: Option<RoutingOptionsInner>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoutingOptionsInner {
    pub action: Option<String>,
    pub try_dial_operators: Option<bool>,
    pub operator_routing: Option<String>,
    #[serde(default, with = "opt_flex_id")]
    pub action_target_id: Option<i64>,
    pub action_target_type: Option<String>,
}

/// int64 written as a string, read as a number or a string.
mod opt_flex_id {
    pub use crate::wire::flex::opt_i64 as deserialize;
    pub use crate::wire::opt_id::serialize;
}

/// `protos.plan.PlanProto`, returned with an office on create and update.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    #[serde(with = "wire::id")]
    pub additional_number_lines: i64,
    pub balance: String,
    #[serde(with = "wire::id")]
    pub contact_center_lines: i64,
    #[serde(with = "wire::id")]
    pub fax_lines: i64,
    /// UTC ms since the epoch.
    #[serde(with = "wire::opt_id")]
    pub next_billing_date: Option<i64>,
    pub ppu_address: Option<BillingAddress>,
    #[serde(with = "wire::id")]
    pub room_lines: i64,
    #[serde(with = "wire::id")]
    pub sell_lines: i64,
    #[serde(with = "wire::id")]
    pub talk_lines: i64,
    #[serde(with = "wire::id")]
    pub uberconference_lines: i64,
}

/// `protos.plan.BillingContactProto` (also the shape of `BillingContactMessage`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BillingAddress {
    pub address_line_1: Option<String>,
    pub address_line_2: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub postal_code: Option<String>,
    pub region: Option<String>,
}

#[derive(Deserialize)]
struct BillingContact {
    email: Option<String>,
    name: Option<String>,
    #[allow(dead_code)]
    phone: Option<String>,
}

const COUNTRIES: &[&str] = &[
    "AR", "AT", "AU", "BD", "BE", "BG", "BH", "BR", "CA", "CH", "CI", "CL", "CN", "CO", "CR", "CY",
    "CZ", "DE", "DK", "DO", "DP", "EC", "EE", "EG", "ES", "FI", "FR", "GB", "GH", "GR", "GT", "HK",
    "HR", "HU", "ID", "IE", "IL", "IN", "IS", "IT", "JP", "KE", "KH", "KR", "KZ", "LK", "LT", "LU",
    "LV", "MA", "MD", "MM", "MT", "MX", "MY", "NG", "NL", "NO", "NZ", "PA", "PE", "PH", "PK", "PL",
    "PR", "PT", "PY", "RO", "RU", "SA", "SE", "SG", "SI", "SK", "SV", "TH", "TR", "TW", "UA", "US",
    "UY", "VE", "VN", "ZA",
];
/// Countries whose offices need an emergency address (per the spec).
const E911_COUNTRIES: &[&str] = &["US", "CA", "AU", "FR", "GB", "NZ"];
const CURRENCIES: &[&str] = &["AUD", "CAD", "EUR", "GBP", "JPY", "NZD", "USD"];
const PLAN_PERIODS: &[&str] = &["monthly", "yearly"];
const FIRST_ACTIONS: &[&str] = &["menu", "operators"];
const NO_OPERATORS_ACTIONS: &[&str] = &[
    "ai_agent",
    "bridge_target",
    "call_service_target",
    "company_directory",
    "department",
    "directory",
    "disabled",
    "extension",
    "google_dialogflow",
    "last_name_company_directory",
    "last_name_directory",
    "menu",
    "message",
    "operator",
    "person",
    "scripted_ivr",
    "voicemail",
];

/// `protos.office.CreateOfficeMessage`.
#[derive(Deserialize)]
struct CreateOffice {
    name: Option<String>,
    country: Option<String>,
    currency: Option<String>,
    plan_period: Option<String>,
    annual_commit_monthly_billing: Option<bool>,
    invoiced: Option<bool>,
    unified_billing: Option<bool>,
    billing_address: Option<BillingAddress>,
    billing_contact: Option<BillingContact>,
    e911_address: Option<E911Address>,
    use_same_address: Option<bool>,
    first_action: Option<String>,
    no_operators_action: Option<String>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    ring_seconds: Option<i64>,
    timezone: Option<String>,
    mainline_number: Option<String>,
    hours_on: Option<bool>,
    monday_hours: Option<Vec<String>>,
    tuesday_hours: Option<Vec<String>>,
    wednesday_hours: Option<Vec<String>>,
    thursday_hours: Option<Vec<String>>,
    friday_hours: Option<Vec<String>>,
    saturday_hours: Option<Vec<String>>,
    sunday_hours: Option<Vec<String>>,
    routing_options: Option<RoutingOptions>,
    #[allow(dead_code)]
    auto_call_recording: Option<bool>,
    #[allow(dead_code)]
    international_enabled: Option<bool>,
    #[allow(dead_code)]
    group_description: Option<String>,
}

/// `protos.office.OfficeUpdateMessage`: the office's hours.
#[derive(Deserialize)]
struct UpdateOffice {
    hours_on: Option<bool>,
    monday_hours: Option<Vec<String>>,
    tuesday_hours: Option<Vec<String>>,
    wednesday_hours: Option<Vec<String>>,
    thursday_hours: Option<Vec<String>>,
    friday_hours: Option<Vec<String>>,
    saturday_hours: Option<Vec<String>>,
    sunday_hours: Option<Vec<String>>,
}

/// `protos.office.OfficeUpdateResponse`.
#[derive(Serialize)]
struct OfficeUpdateResponse<'a> {
    office: Office,
    plan: &'a Plan,
}

impl Office {
    fn hours(&self, weekday: chrono::Weekday) -> &[String] {
        use chrono::Weekday::*;
        match weekday {
            Mon => &self.monday_hours,
            Tue => &self.tuesday_hours,
            Wed => &self.wednesday_hours,
            Thu => &self.thursday_hours,
            Fri => &self.friday_hours,
            Sat => &self.saturday_hours,
            Sun => &self.sunday_hours,
        }
    }

    /// `open` or `closed` at `now_ms`: always open unless `hours_on`; otherwise the office's
    /// hours in its time zone (known zones only, DST approximated by month).
    pub fn availability_at(&self, now_ms: i64) -> &'static str {
        if !self.hours_on {
            return "open";
        }
        let Some(utc) = chrono::DateTime::from_timestamp_millis(now_ms) else {
            return "open";
        };
        let local =
            utc + chrono::Duration::minutes(utc_offset_minutes(&self.timezone, utc.month()));
        let minutes = (local.hour() * 60 + local.minute()) as i32;
        let open = self
            .hours(local.weekday())
            .chunks(2)
            .filter_map(|pair| Some((parse_hhmm(pair.first()?)?, parse_hhmm(pair.get(1)?)?)))
            .any(|(from, to)| (from..to).contains(&minutes));
        if open {
            "open"
        } else {
            "closed"
        }
    }

    /// A copy ready to serve, with the computed availability.
    pub fn view(&self) -> Office {
        let mut o = self.clone();
        o.availability_status = Some(self.availability_at(wire::now_ms()).to_owned());
        o
    }
}

/// UTC offset of the zones the simulator seeds (DST from April to October, roughly).
fn utc_offset_minutes(tz: &str, month: u32) -> i64 {
    let dst = (4..=10).contains(&month) as i64 * 60;
    match tz {
        "America/Los_Angeles" | "US/Pacific" => -480 + dst,
        "America/Denver" | "US/Mountain" => -420 + dst,
        "America/Chicago" | "US/Central" => -360 + dst,
        "America/New_York" | "America/Toronto" | "US/Eastern" => -300 + dst,
        "Europe/London" | "Europe/Dublin" => dst,
        "Europe/Paris" | "Europe/Berlin" | "Europe/Madrid" | "Europe/Amsterdam" => 60 + dst,
        "Asia/Tokyo" => 540,
        "Australia/Sydney" => 600,
        _ => 0,
    }
}

fn office_page_item(o: &Office) -> Office {
    o.view()
}

async fn list(State(sim): State<Sim>, _caller: Caller, params: Params) -> ApiResult<Reply> {
    let active_only = params.bool("active_only")?.unwrap_or(false);
    let db = sim.db().read();
    let items: Vec<Office> = db
        .offices
        .values()
        .filter(|o| {
            if active_only {
                o.state == "active"
            } else {
                o.state != "deleted"
            }
        })
        .map(office_page_item)
        .collect();
    Ok(reply(&paginate(items, &params)?))
}

async fn get_one(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = parse_id("id", &id)?;
    let db = sim.db().read();
    db.offices
        .get(&id)
        .filter(|o| o.state != "deleted")
        .map(|o| reply(&o.view()))
        .ok_or_else(|| ApiError::not_found("Office"))
}

async fn primary(State(sim): State<Sim>, _caller: Caller) -> ApiResult<Reply> {
    let db = sim.db().read();
    db.offices
        .values()
        .find(|o| o.is_primary_office)
        .map(|o| reply(&o.view()))
        .ok_or_else(|| ApiError::not_found("Primary office"))
}

fn required<'a, T>(field: &str, v: &'a Option<T>) -> Result<&'a T, ApiError> {
    v.as_ref().ok_or_else(|| ApiError::missing_field(field))
}

fn required_str<'a>(field: &str, v: &'a Option<String>) -> Result<&'a str, ApiError> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ApiError::missing_field(field)),
    }
}

fn check_enum(field: &str, v: Option<&str>, allowed: &[&str]) -> Result<(), ApiError> {
    match v {
        Some(v) if !allowed.contains(&v) => Err(ApiError::invalid_field(
            field,
            format!("{v:?} is not one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

const DAYS: [&str; 7] = [
    "monday_hours",
    "tuesday_hours",
    "wednesday_hours",
    "thursday_hours",
    "friday_hours",
    "saturday_hours",
    "sunday_hours",
];

fn check_all_hours(hours: [&Option<Vec<String>>; 7]) -> Result<(), ApiError> {
    for (field, h) in DAYS.iter().zip(hours) {
        if let Some(h) = h {
            check_hours(field, h)?;
        }
    }
    Ok(())
}

fn validate_create(req: &CreateOffice) -> Result<(), ApiError> {
    required_str("name", &req.name)?;
    let country = required_str("country", &req.country)?;
    check_enum("country", Some(country), COUNTRIES)?;
    check_enum(
        "currency",
        Some(required_str("currency", &req.currency)?),
        CURRENCIES,
    )?;
    check_enum(
        "plan_period",
        Some(required_str("plan_period", &req.plan_period)?),
        PLAN_PERIODS,
    )?;
    required(
        "annual_commit_monthly_billing",
        &req.annual_commit_monthly_billing,
    )?;
    required("invoiced", &req.invoiced)?;
    required("unified_billing", &req.unified_billing)?;
    let billing = required("billing_address", &req.billing_address)?;
    required_str("billing_address.address_line_1", &billing.address_line_1)?;
    required_str("billing_address.city", &billing.city)?;
    required_str("billing_address.country", &billing.country)?;
    required_str("billing_address.postal_code", &billing.postal_code)?;
    required_str("billing_address.region", &billing.region)?;
    if let Some(contact) = &req.billing_contact {
        required_str("billing_contact.name", &contact.name)?;
        let email = required_str("billing_contact.email", &contact.email)?;
        if !email.contains('@') {
            return Err(ApiError::invalid_field(
                "billing_contact.email",
                "not an email address",
            ));
        }
    }
    let same_address = req.use_same_address.unwrap_or(false);
    match &req.e911_address {
        Some(e) => {
            required_str("e911_address.address", &e.address)?;
            required_str("e911_address.city", &e.city)?;
            required_str("e911_address.state", &e.state)?;
            required_str("e911_address.zip", &e.zip)?;
            required_str("e911_address.country", &e.country)?;
        }
        None if E911_COUNTRIES.contains(&country) && !same_address => {
            return Err(ApiError::missing_field("e911_address"));
        }
        None => {}
    }
    check_enum("first_action", req.first_action.as_deref(), FIRST_ACTIONS)?;
    check_enum(
        "no_operators_action",
        req.no_operators_action.as_deref(),
        NO_OPERATORS_ACTIONS,
    )?;
    if let Some(r) = req.ring_seconds {
        if !(1..=600).contains(&r) {
            return Err(ApiError::invalid_field(
                "ring_seconds",
                "must be between 1 and 600",
            ));
        }
    }
    if let Some(n) = &req.mainline_number {
        check_e164("mainline_number", std::slice::from_ref(n))?;
    }
    check_all_hours([
        &req.monday_hours,
        &req.tuesday_hours,
        &req.wednesday_hours,
        &req.thursday_hours,
        &req.friday_hours,
        &req.saturday_hours,
        &req.sunday_hours,
    ])
}

/// Default opening hours per the spec: weekdays 08:00–18:00, weekends closed.
fn default_hours(v: Option<Vec<String>>, weekday: bool) -> Vec<String> {
    v.unwrap_or_else(|| {
        if weekday {
            vec!["08:00".to_owned(), "18:00".to_owned()]
        } else {
            Vec::new()
        }
    })
}

impl Db {
    /// A fresh phone number `+1<area>555xxxx` that no office or user holds yet.
    pub fn fresh_number(&mut self, prefix: &str) -> String {
        use rand::Rng;
        loop {
            let n = format!("{prefix}{:04}", self.rng.random_range(0..10_000));
            let taken = self.offices.values().any(|o| o.phone_numbers.contains(&n))
                || self.users.values().any(|u| u.phone_numbers.contains(&n));
            if !taken {
                return n;
            }
        }
    }
}

/// Creates a (non-primary) office with its plan. Dialpad provisions a main line: the
/// `mainline_number` asked for, or a fresh one.
async fn create(
    State(sim): State<Sim>,
    _caller: Caller,
    JsonBody(req): JsonBody<CreateOffice>,
) -> ApiResult<Reply> {
    validate_create(&req)?;
    let country = req.country.clone().unwrap_or_default();
    let mut db = sim.db().write();
    if let Some(n) = &req.mainline_number {
        let taken = db.offices.values().any(|o| o.phone_numbers.contains(n))
            || db.users.values().any(|u| u.phone_numbers.contains(n));
        if taken {
            return Err(ApiError::conflict(format!(
                "The number {n} is already assigned"
            )));
        }
    }
    let id = db.next_id();
    let number = match req.mainline_number {
        Some(n) => n,
        None => db.fresh_number("+1415555"),
    };
    let billing = req.billing_address.unwrap_or_default();
    let e911 = req.e911_address.or_else(|| {
        req.use_same_address.unwrap_or(false).then(|| E911Address {
            address: billing.address_line_1.clone(),
            address2: billing.address_line_2.clone(),
            city: billing.city.clone(),
            state: billing.region.clone(),
            zip: billing.postal_code.clone(),
            country: billing.country.clone(),
        })
    });
    let now = wire::now_ms();
    let office = Office {
        id,
        office_id: id,
        name: req.name.unwrap_or_default().trim().to_owned(),
        state: "active".to_owned(),
        is_primary_office: false,
        country: country.to_ascii_lowercase(),
        timezone: req
            .timezone
            .unwrap_or_else(|| "America/Los_Angeles".to_owned()),
        phone_numbers: vec![number],
        availability_status: None,
        first_action: Some(req.first_action.unwrap_or_else(|| "operators".to_owned())),
        no_operators_action: Some(
            req.no_operators_action
                .unwrap_or_else(|| "voicemail".to_owned()),
        ),
        ring_seconds: Some(req.ring_seconds.unwrap_or(30)),
        monday_hours: default_hours(req.monday_hours, true),
        tuesday_hours: default_hours(req.tuesday_hours, true),
        wednesday_hours: default_hours(req.wednesday_hours, true),
        thursday_hours: default_hours(req.thursday_hours, true),
        friday_hours: default_hours(req.friday_hours, true),
        saturday_hours: default_hours(req.saturday_hours, false),
        sunday_hours: default_hours(req.sunday_hours, false),
        hours_on: req.hours_on.unwrap_or(false),
        e911_address: e911,
        office_settings: Some(OfficeSettings::default()),
        routing_options: req.routing_options,
        voicemail_notification_emails: Vec::new(),
        plan: Plan {
            balance: "0.00".to_owned(),
            next_billing_date: Some(now + 30 * 86_400_000),
            ppu_address: Some(billing),
            talk_lines: 0,
            ..Plan::default()
        },
    };
    db.offices.insert(id, office.clone());
    Ok(reply(&OfficeUpdateResponse {
        office: office.view(),
        plan: &office.plan,
    }))
}

async fn update(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateOffice>,
) -> ApiResult<Reply> {
    let id = parse_id("id", &id)?;
    check_all_hours([
        &req.monday_hours,
        &req.tuesday_hours,
        &req.wednesday_hours,
        &req.thursday_hours,
        &req.friday_hours,
        &req.saturday_hours,
        &req.sunday_hours,
    ])?;
    let mut db = sim.db().write();
    let o = db
        .offices
        .get_mut(&id)
        .filter(|o| o.state != "deleted")
        .ok_or_else(|| ApiError::not_found("Office"))?;
    if let Some(v) = req.hours_on {
        o.hours_on = v;
    }
    for (slot, v) in [
        (&mut o.monday_hours, req.monday_hours),
        (&mut o.tuesday_hours, req.tuesday_hours),
        (&mut o.wednesday_hours, req.wednesday_hours),
        (&mut o.thursday_hours, req.thursday_hours),
        (&mut o.friday_hours, req.friday_hours),
        (&mut o.saturday_hours, req.saturday_hours),
        (&mut o.sunday_hours, req.sunday_hours),
    ] {
        if let Some(v) = v {
            *slot = v;
        }
    }
    let office = o.view();
    Ok(reply(&OfficeUpdateResponse {
        plan: &o.plan,
        office,
    }))
}
