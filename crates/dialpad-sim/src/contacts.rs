//! `/api/v2/contacts`: company-shared contacts and users' local contacts.
//!
//! Reference module for the simulator's conventions: a stored type serialised in Dialpad's REST
//! shape, request bodies via [`JsonBody`], query via [`Params`], pages via [`paginate`], errors
//! via [`ApiError`], and an [`OPERATIONS`] table naming each route's spec operationId.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::events::Event;
use crate::operations::Op;
use crate::pagination::paginate;
use crate::params::Params;
use crate::state::{Caller, Db, Sim};
use crate::wire::{self, reply, Reply};

pub const OPERATIONS: &[Op] = &[
    Op::new("GET", "/api/v2/contacts", "contacts.list"),
    Op::new("POST", "/api/v2/contacts", "contacts.create"),
    Op::new("PUT", "/api/v2/contacts", "contacts.create_with_uid"),
    Op::new("GET", "/api/v2/contacts/{id}", "contacts.get"),
    Op::new("PATCH", "/api/v2/contacts/{id}", "contacts.update"),
    Op::new("DELETE", "/api/v2/contacts/{id}", "contacts.delete"),
];

pub fn routes() -> Router<Sim> {
    Router::new()
        .route(
            "/api/v2/contacts",
            get(list).post(create).put(create_with_uid),
        )
        .route(
            "/api/v2/contacts/{id}",
            get(get_one).patch(update).delete(delete),
        )
}

/// A contact as Dialpad stores and returns it (`protos.contact.ContactProto`).
#[derive(Clone, Debug, Serialize)]
pub struct Contact {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub company_name: Option<String>,
    pub job_title: Option<String>,
    pub extension: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub urls: Vec<String>,
    pub primary_email: Option<String>,
    pub primary_phone: Option<String>,
    /// `shared` (company) or `local` (a user's own).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(with = "wire::opt_id")]
    pub owner_id: Option<i64>,
    pub trunk_group: Option<String>,
}

impl Contact {
    fn refresh_derived(&mut self) {
        self.display_name = format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned();
        self.primary_email = self.emails.first().cloned();
        self.primary_phone = self.phones.first().cloned();
    }
}

#[derive(Deserialize)]
pub struct CreateContact {
    pub first_name: String,
    pub last_name: String,
    pub company_name: Option<String>,
    pub job_title: Option<String>,
    pub extension: Option<String>,
    #[serde(default)]
    pub emails: Option<Vec<String>>,
    #[serde(default)]
    pub phones: Option<Vec<String>>,
    #[serde(default)]
    pub urls: Option<Vec<String>>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    pub owner_id: Option<i64>,
    pub trunk_group: Option<String>,
    /// Only on `PUT /contacts` (create-or-update by uid).
    pub uid: Option<String>,
}

#[derive(Deserialize)]
pub struct UpdateContact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company_name: Option<String>,
    pub job_title: Option<String>,
    pub extension: Option<String>,
    pub emails: Option<Vec<String>>,
    pub phones: Option<Vec<String>>,
    pub urls: Option<Vec<String>>,
    pub trunk_group: Option<String>,
}

/// Dialpad requires E.164 phone numbers on contacts.
pub fn check_e164(field: &str, phones: &[String]) -> Result<(), ApiError> {
    for p in phones {
        let digits = p.strip_prefix('+').unwrap_or("");
        if digits.len() < 8 || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::invalid_field(
                field,
                format!("{p:?} is not an E.164 phone number"),
            ));
        }
    }
    Ok(())
}

fn check_names(first: &str, last: &str) -> Result<(), ApiError> {
    if first.trim().is_empty() {
        return Err(ApiError::missing_field("first_name"));
    }
    if last.trim().is_empty() {
        return Err(ApiError::missing_field("last_name"));
    }
    Ok(())
}

impl Db {
    /// Inserts a contact built from a create request; `id` decides its identity.
    pub fn insert_contact(&mut self, id: String, req: CreateContact) -> Contact {
        let mut c = Contact {
            id: id.clone(),
            first_name: req.first_name,
            last_name: req.last_name,
            display_name: String::new(),
            company_name: req.company_name,
            job_title: req.job_title,
            extension: req.extension,
            emails: req.emails.unwrap_or_default(),
            phones: req.phones.unwrap_or_default(),
            urls: req.urls.unwrap_or_default(),
            primary_email: None,
            primary_phone: None,
            kind: if req.owner_id.is_some() {
                "local"
            } else {
                "shared"
            }
            .to_owned(),
            owner_id: req.owner_id,
            trunk_group: req.trunk_group,
        };
        c.refresh_derived();
        self.contacts.insert(id, c.clone());
        c
    }
}

async fn list(State(sim): State<Sim>, _caller: Caller, params: Params) -> ApiResult<Reply> {
    let include_local = params.bool("include_local")?.unwrap_or(false);
    let owner_id = params.i64("owner_id")?;
    let db = sim.db().read();
    let items: Vec<&Contact> = db
        .contacts
        .values()
        .filter(|c| match owner_id {
            // A user's local contacts.
            Some(owner) => c.owner_id == Some(owner),
            None => c.kind == "shared" || include_local,
        })
        .collect();
    Ok(reply(&paginate(items, &params)?))
}

pub(crate) async fn create(
    State(sim): State<Sim>,
    _caller: Caller,
    JsonBody(req): JsonBody<CreateContact>,
) -> ApiResult<Reply> {
    check_names(&req.first_name, &req.last_name)?;
    check_e164("phones", req.phones.as_deref().unwrap_or_default())?;
    let mut db = sim.db().write();
    if let Some(owner) = req.owner_id {
        if !db.users.contains_key(&owner) {
            return Err(ApiError::invalid_field(
                "owner_id",
                format!("no user with id {owner}"),
            ));
        }
    }
    let id = db.next_id().to_string();
    let c = db.insert_contact(id, req);
    sim.emit(&db, Event::Contact("Created", &c));
    Ok(reply(&c))
}

/// `PUT /contacts`: creates the shared contact `shared_uid_<uid>`, or replaces it if it exists.
pub(crate) async fn create_with_uid(
    State(sim): State<Sim>,
    _caller: Caller,
    JsonBody(req): JsonBody<CreateContact>,
) -> ApiResult<Reply> {
    check_names(&req.first_name, &req.last_name)?;
    check_e164("phones", req.phones.as_deref().unwrap_or_default())?;
    let uid = match req.uid.as_deref().map(str::trim) {
        Some(u) if !u.is_empty() => u.to_owned(),
        _ => return Err(ApiError::missing_field("uid")),
    };
    let req = CreateContact {
        owner_id: None,
        ..req
    };
    let mut db = sim.db().write();
    let id = format!("shared_uid_{uid}");
    let existed = db.contacts.contains_key(&id);
    let c = db.insert_contact(id, req);
    let event = if existed { "Updated" } else { "Created" };
    sim.emit(&db, Event::Contact(event, &c));
    Ok(reply(&c))
}

async fn get_one(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let db = sim.db().read();
    db.contacts
        .get(&id)
        .map(reply)
        .ok_or_else(|| ApiError::not_found("Contact"))
}

pub(crate) async fn update(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateContact>,
) -> ApiResult<Reply> {
    if let Some(phones) = &req.phones {
        check_e164("phones", phones)?;
    }
    // Validate before touching the stored record: a refused update changes nothing.
    for (field, v) in [
        ("first_name", &req.first_name),
        ("last_name", &req.last_name),
    ] {
        if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(ApiError::invalid_field(field, "must not be empty"));
        }
    }
    let mut db = sim.db().write();
    let c = db
        .contacts
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("Contact"))?;
    if let Some(v) = req.first_name {
        c.first_name = v;
    }
    if let Some(v) = req.last_name {
        c.last_name = v;
    }
    if req.company_name.is_some() {
        c.company_name = req.company_name;
    }
    if req.job_title.is_some() {
        c.job_title = req.job_title;
    }
    if req.extension.is_some() {
        c.extension = req.extension;
    }
    if let Some(v) = req.emails {
        c.emails = v;
    }
    if let Some(v) = req.phones {
        c.phones = v;
    }
    if let Some(v) = req.urls {
        c.urls = v;
    }
    if req.trunk_group.is_some() {
        c.trunk_group = req.trunk_group;
    }
    c.refresh_derived();
    let c = c.clone();
    sim.emit(&db, Event::Contact("Updated", &c));
    Ok(reply(&c))
}

/// Dialpad answers a delete with the deleted contact.
pub(crate) async fn delete(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let mut db = sim.db().write();
    let c = db
        .contacts
        .remove(&id)
        .ok_or_else(|| ApiError::not_found("Contact"))?;
    sim.emit(&db, Event::Contact("Deleted", &c));
    Ok(reply(&c))
}
