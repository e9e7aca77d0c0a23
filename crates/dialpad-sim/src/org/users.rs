//! `/api/v2/users` (`protos.user.UserProto`): list with filters, create, get (`me` included),
//! update, delete.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

use super::{double_opt, resolve_user_id};
use crate::body::JsonBody;
use crate::contacts::check_e164;
use crate::error::{ApiError, ApiResult};
use crate::pagination::paginate;
use crate::params::Params;
use crate::state::{Caller, Db, Sim};
use crate::wire::{self, reply, Reply};

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/api/v2/users", get(list).post(create))
        .route(
            "/api/v2/users/{id}",
            get(get_one).patch(update).delete(delete),
        )
}

/// A user as Dialpad returns it (`protos.user.UserProto`). Date-times are epoch ms here and
/// naive ISO strings on the wire.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    #[serde(with = "wire::id")]
    pub id: i64,
    #[serde(with = "wire::id")]
    pub company_id: i64,
    #[serde(with = "wire::id")]
    pub office_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    /// The first one is the primary email.
    pub emails: Vec<String>,
    pub phone_numbers: Vec<String>,
    pub forwarding_numbers: Vec<String>,
    pub extension: Option<String>,
    pub job_title: Option<String>,
    pub location: Option<String>,
    pub country: Option<String>,
    pub timezone: Option<String>,
    pub language: Option<String>,
    pub image_url: Option<String>,
    /// `active`, `cancelled`, `deleted`, `pending` or `suspended`.
    pub state: String,
    /// Office or company admin.
    pub is_admin: bool,
    /// Company-level admin.
    pub is_super_admin: bool,
    #[serde(with = "wire::ids")]
    pub admin_office_ids: Vec<i64>,
    pub license: Option<String>,
    pub international_dialing_enabled: bool,
    pub do_not_disturb: bool,
    pub is_available: bool,
    pub is_online: bool,
    pub is_on_duty: bool,
    pub on_duty_status: Option<String>,
    #[serde(serialize_with = "wire::opt_naive_iso")]
    pub on_duty_started: Option<i64>,
    pub duty_status_reason: Option<String>,
    #[serde(serialize_with = "wire::opt_naive_iso")]
    pub duty_status_started: Option<i64>,
    pub muted: bool,
    pub status_message: Option<String>,
    pub session_type: Option<String>,
    pub onboarding_completed: bool,
    pub voicemail: VoicemailSettings,
    pub group_details: Vec<GroupDetails>,
    #[serde(serialize_with = "wire::opt_naive_iso")]
    pub date_added: Option<i64>,
    #[serde(serialize_with = "wire::opt_naive_iso")]
    pub date_active: Option<i64>,
    #[serde(serialize_with = "wire::opt_naive_iso")]
    pub date_first_login: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VoicemailSettings {
    pub is_default_voicemail: bool,
    pub name: Option<String>,
    pub voicemail_notifications_enabled: bool,
}

impl Default for VoicemailSettings {
    fn default() -> Self {
        Self {
            is_default_voicemail: true,
            name: Some("Default".to_owned()),
            voicemail_notifications_enabled: true,
        }
    }
}

/// `protos.user.GroupDetailsProto`.
#[derive(Clone, Debug, Serialize)]
pub struct GroupDetails {
    #[serde(with = "wire::id")]
    pub group_id: i64,
    pub group_type: String,
    pub do_not_disturb: bool,
    /// `admin`, `operator` or `supervisor`.
    pub role: String,
}

impl User {
    pub fn primary_email(&self) -> Option<&str> {
        self.emails.first().map(String::as_str)
    }

    pub fn refresh_derived(&mut self) {
        self.display_name = format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned();
        if self.display_name.is_empty() {
            self.display_name = self.primary_email().unwrap_or_default().to_owned();
        }
        self.is_admin = self.is_super_admin || !self.admin_office_ids.is_empty();
        // Membership of the user's office, as an admin where they administer it.
        let role = if self.is_super_admin || self.admin_office_ids.contains(&self.office_id) {
            "admin"
        } else {
            "operator"
        };
        self.group_details.retain(|g| g.group_type != "office");
        self.group_details.insert(
            0,
            GroupDetails {
                group_id: self.office_id,
                group_type: "office".to_owned(),
                do_not_disturb: false,
                role: role.to_owned(),
            },
        );
    }

    fn has_email(&self, email: &str) -> bool {
        self.emails.iter().any(|e| e.eq_ignore_ascii_case(email))
    }
}

const LICENSES: &[&str] = &[
    "admins",
    "agents",
    "dpde_all",
    "dpde_one",
    "lite_lines",
    "lite_support_agents",
    "magenta_lines",
    "talk",
    "user",
];
const LIST_STATES: &[&str] = &[
    "active",
    "all",
    "cancelled",
    "deleted",
    "pending",
    "suspended",
];

/// `protos.user.CreateUserMessage`.
#[derive(Deserialize)]
struct CreateUser {
    email: Option<String>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    office_id: Option<i64>,
    first_name: Option<String>,
    last_name: Option<String>,
    license: Option<String>,
    auto_assign: Option<bool>,
}

/// `protos.user.UpdateUserMessage`.
#[derive(Deserialize)]
struct UpdateUser {
    #[serde(default, deserialize_with = "opt_vec_i64")]
    admin_office_ids: Option<Vec<i64>>,
    emails: Option<Vec<String>>,
    extension: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    forwarding_numbers: Option<Vec<String>>,
    international_dialing_enabled: Option<bool>,
    is_super_admin: Option<bool>,
    job_title: Option<String>,
    #[allow(dead_code)]
    keep_paid_numbers: Option<bool>,
    license: Option<String>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    office_id: Option<i64>,
    phone_numbers: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_opt")]
    presence_status: Option<Option<PresenceStatus>>,
    state: Option<String>,
}

#[derive(Deserialize)]
struct PresenceStatus {
    message: Option<String>,
    provider: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn opt_vec_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<i64>>, D::Error> {
    wire::flex::vec_i64(d).map(Some)
}

fn check_email(field: &str, email: &str) -> Result<(), ApiError> {
    let ok = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            field,
            format!("{email:?} is not an email address"),
        ))
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

/// Digits of a phone number, for comparing `+14155550100` with `14155550100`.
fn digits(n: &str) -> String {
    n.chars().filter(char::is_ascii_digit).collect()
}

impl Db {
    /// The live (not deleted) user `id`.
    pub fn live_user(&self, id: i64) -> Option<&crate::org::User> {
        self.users.get(&id).filter(|u| u.state != "deleted")
    }

    fn email_taken(&self, email: &str, except: Option<i64>) -> bool {
        self.users
            .values()
            .any(|u| u.state != "deleted" && Some(u.id) != except && u.has_email(email))
    }

    fn live_office(&self, id: i64) -> bool {
        self.offices.get(&id).is_some_and(|o| o.state != "deleted")
    }
}

/// Without `state`, every user but deleted ones; `state=all` includes deleted users too.
async fn list(State(sim): State<Sim>, _caller: Caller, params: Params) -> ApiResult<Reply> {
    let state = params.one_of("state", LIST_STATES)?;
    let company_admin = params.bool("company_admin")?;
    let email = params.str("email").map(str::trim);
    let number = params.str("number").map(digits);
    let db = sim.db().read();
    let items: Vec<&User> = db
        .users
        .values()
        .filter(|u| match state.as_deref() {
            None => u.state != "deleted",
            Some("all") => true,
            Some(s) => u.state == s,
        })
        .filter(|u| company_admin.is_none_or(|a| u.is_super_admin == a))
        .filter(|u| email.is_none_or(|e| u.has_email(e)))
        .filter(|u| {
            number
                .as_deref()
                .is_none_or(|n| u.phone_numbers.iter().any(|p| digits(p) == n))
        })
        .collect();
    Ok(reply(&paginate(items, &params)?))
}

/// New users start `active` with a `talk` license; `auto_assign` gives them a number in the
/// office's area.
async fn create(
    State(sim): State<Sim>,
    _caller: Caller,
    JsonBody(req): JsonBody<CreateUser>,
) -> ApiResult<Reply> {
    let email = match req.email.as_deref().map(str::trim) {
        Some(e) if !e.is_empty() => e.to_owned(),
        _ => return Err(ApiError::missing_field("email")),
    };
    check_email("email", &email)?;
    let office_id = req
        .office_id
        .ok_or_else(|| ApiError::missing_field("office_id"))?;
    check_enum("license", req.license.as_deref(), LICENSES)?;
    let mut db = sim.db().write();
    let office = db
        .offices
        .get(&office_id)
        .filter(|o| o.state != "deleted")
        .cloned()
        .ok_or_else(|| {
            ApiError::invalid_field("office_id", format!("no office with id {office_id}"))
        })?;
    if db.email_taken(&email, None) {
        return Err(ApiError::conflict(format!(
            "A user with email {email} already exists"
        )));
    }
    let id = db.next_id();
    let phone_numbers = if req.auto_assign.unwrap_or(false) {
        let prefix = office
            .phone_numbers
            .first()
            .filter(|n| n.starts_with("+1") && n.len() == 12)
            .and_then(|n| n.get(..8))
            .unwrap_or("+1415555")
            .to_owned();
        vec![db.fresh_number(&prefix)]
    } else {
        Vec::new()
    };
    let now = wire::now_ms();
    let mut user = User {
        id,
        company_id: db.company.id,
        office_id,
        first_name: req.first_name.unwrap_or_default().trim().to_owned(),
        last_name: req.last_name.unwrap_or_default().trim().to_owned(),
        display_name: String::new(),
        emails: vec![email],
        phone_numbers,
        forwarding_numbers: Vec::new(),
        extension: None,
        job_title: None,
        location: None,
        country: Some(office.country.clone()),
        timezone: Some(office.timezone.clone()),
        language: Some("en".to_owned()),
        image_url: None,
        state: "active".to_owned(),
        is_admin: false,
        is_super_admin: false,
        admin_office_ids: Vec::new(),
        license: Some(req.license.unwrap_or_else(|| "talk".to_owned())),
        international_dialing_enabled: false,
        do_not_disturb: false,
        is_available: true,
        is_online: false,
        is_on_duty: false,
        on_duty_status: None,
        on_duty_started: None,
        duty_status_reason: None,
        duty_status_started: None,
        muted: false,
        status_message: None,
        session_type: None,
        onboarding_completed: false,
        voicemail: VoicemailSettings::default(),
        group_details: Vec::new(),
        date_added: Some(now),
        date_active: Some(now),
        date_first_login: None,
    };
    user.refresh_derived();
    db.users.insert(id, user.clone());
    Ok(reply(&user))
}

/// Deleted users are only visible through `GET /users?state=deleted|all`; get, update and
/// delete answer 404 for them.
async fn get_one(
    State(sim): State<Sim>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = resolve_user_id(&caller, "id", &id)?;
    let db = sim.db().read();
    db.live_user(id)
        .map(reply)
        .ok_or_else(|| ApiError::not_found("User"))
}

fn validate_update(req: &UpdateUser) -> Result<(), ApiError> {
    for (field, v) in [
        ("first_name", &req.first_name),
        ("last_name", &req.last_name),
    ] {
        if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(ApiError::invalid_field(field, "must not be empty"));
        }
    }
    if let Some(emails) = &req.emails {
        if emails.is_empty() {
            return Err(ApiError::invalid_field(
                "emails",
                "a user needs at least one email",
            ));
        }
        for e in emails {
            check_email("emails", e)?;
        }
    }
    if let Some(n) = &req.forwarding_numbers {
        check_e164("forwarding_numbers", n)?;
    }
    if let Some(ext) = &req.extension {
        if !ext.is_empty() && (ext.len() > 6 || !ext.bytes().all(|b| b.is_ascii_digit())) {
            return Err(ApiError::invalid_field(
                "extension",
                "expected up to 6 digits",
            ));
        }
    }
    check_enum("license", req.license.as_deref(), LICENSES)?;
    check_enum("state", req.state.as_deref(), &["active", "suspended"])
}

async fn update(
    State(sim): State<Sim>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateUser>,
) -> ApiResult<Reply> {
    let id = resolve_user_id(&caller, "id", &id)?;
    validate_update(&req)?;
    let mut db = sim.db().write();
    let current = db
        .live_user(id)
        .ok_or_else(|| ApiError::not_found("User"))?;
    // Checks against the rest of the company, before anything changes.
    if let Some(numbers) = &req.phone_numbers {
        if let Some(n) = numbers.iter().find(|n| !current.phone_numbers.contains(n)) {
            return Err(ApiError::invalid_field(
                "phone_numbers",
                format!(
                    "{n} is not assigned to this user (use the assign number API to add numbers)"
                ),
            ));
        }
    }
    if let Some(office_id) = req.office_id {
        if !db.live_office(office_id) {
            return Err(ApiError::invalid_field(
                "office_id",
                format!("no office with id {office_id}"),
            ));
        }
    }
    if let Some(ids) = &req.admin_office_ids {
        if let Some(bad) = ids.iter().find(|o| !db.live_office(**o)) {
            return Err(ApiError::invalid_field(
                "admin_office_ids",
                format!("no office with id {bad}"),
            ));
        }
    }
    if let Some(emails) = &req.emails {
        if let Some(e) = emails.iter().find(|e| db.email_taken(e, Some(id))) {
            return Err(ApiError::conflict(format!(
                "A user with email {e} already exists"
            )));
        }
    }
    let Some(u) = db.users.get_mut(&id) else {
        return Err(ApiError::not_found("User"));
    };
    if let Some(v) = req.first_name {
        u.first_name = v.trim().to_owned();
    }
    if let Some(v) = req.last_name {
        u.last_name = v.trim().to_owned();
    }
    if let Some(v) = req.emails {
        u.emails = v;
    }
    if let Some(v) = req.phone_numbers {
        u.phone_numbers = v;
    }
    if let Some(v) = req.forwarding_numbers {
        u.forwarding_numbers = v;
    }
    if let Some(v) = req.extension {
        u.extension = (!v.is_empty()).then_some(v);
    }
    if let Some(v) = req.job_title {
        u.job_title = Some(v);
    }
    if let Some(v) = req.international_dialing_enabled {
        u.international_dialing_enabled = v;
    }
    if let Some(v) = req.is_super_admin {
        u.is_super_admin = v;
    }
    if let Some(v) = req.admin_office_ids {
        u.admin_office_ids = v;
    }
    if let Some(v) = req.license {
        u.license = Some(v);
    }
    if let Some(v) = req.office_id {
        u.office_id = v;
    }
    if let Some(v) = req.state {
        u.state = v;
    }
    if let Some(p) = req.presence_status {
        // "{provider}: {message}", or "{provider}"; `{}` or null clears it.
        u.status_message = p.and_then(|p| {
            let provider = p.provider.filter(|s| !s.trim().is_empty());
            let message = p.message.filter(|s| !s.trim().is_empty());
            match (provider, message) {
                (Some(pr), Some(m)) => Some(format!("{pr}: {m}")),
                (Some(pr), None) => Some(pr),
                (None, Some(m)) if p.kind.is_some() => Some(m),
                _ => None,
            }
        });
    }
    u.refresh_derived();
    Ok(reply(&*u))
}

/// Dialpad answers a delete with the user. The user is kept with `state: deleted` (the list
/// filter `state=deleted` shows them), their devices are removed and their OAuth tokens revoked.
async fn delete(
    State(sim): State<Sim>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = resolve_user_id(&caller, "id", &id)?;
    let mut db = sim.db().write();
    let u = db
        .users
        .get_mut(&id)
        .filter(|u| u.state != "deleted")
        .ok_or_else(|| ApiError::not_found("User"))?;
    u.state = "deleted".to_owned();
    u.is_online = false;
    u.is_available = false;
    let user = u.clone();
    db.devices.retain(|_, d| d.user_id != id);
    db.oauth.access_tokens.retain(|_, t| t.user_id != id);
    db.oauth.refresh_tokens.retain(|_, t| t.user_id != id);
    Ok(reply(&user))
}
