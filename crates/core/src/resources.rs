//! The resource service: unified list / retrieve / create / update / delete on one connection's
//! Dialpad client, and `expand`. The HTTP layer parses and checks permissions; this module
//! decides which Dialpad calls a unified operation becomes, and maps what comes back.
//!
//! Pagination: our page of `limit` records is cut out of Dialpad's pages (whose size Dialpad
//! fixes), resuming at a [`Resume`] (Dialpad's cursor plus the position inside that page), so
//! a list followed to its end yields every record once, whatever `limit` is. Searches and
//! filters Dialpad cannot apply are applied here while scanning; such a page may hold fewer than
//! `limit` records (at most [`MAX_SCAN_PAGES`] Dialpad pages are read per answer), and `next`
//! says whether to go on.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use dialpad::{Client, Method, Page};
use futures::stream::{self, StreamExt};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use crate::cursor::Resume;
use crate::models::contact::{is_contact_id, is_numeric_id, ContactRequest, ContactWrite};
use crate::models::{
    self, call, contact, parse_write, transcript, user, workspace, FilterKind, Invalid, MapContext,
    Mapped, Model, Op, Support,
};
use crate::read::{iso, normalize_phone, Warning};

/// Most Dialpad pages read for one answer when filtering or searching here.
pub const MAX_SCAN_PAGES: usize = 5;
/// Concurrent Dialpad calls for expansions and transcript lists.
pub const CONCURRENCY: usize = 4;
/// How long a retrieve may wait for a slot under a per-operation rate limit (e.g. a call's
/// 10 per minute) before answering `UPSTREAM::RATE_LIMITED` with `retryAfter`.
pub const MAX_RATE_WAIT: Duration = Duration::from_secs(2);

/// One record: its mapping and Dialpad's record as received (`rawResource`).
#[derive(Debug, Clone)]
pub struct Record {
    pub mapped: Mapped,
    pub raw: Value,
}

/// A validated filter value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FilterValue {
    Text(String),
    Bool(bool),
    /// Epoch milliseconds.
    Time(i64),
    Id(String),
}

/// What went wrong, in domain terms; the server maps each to a status and stable code.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// Bad query input (unknown filter, wrong type): 400, naming what is allowed.
    #[error("{message}")]
    Invalid { message: String, details: Value },
    /// A write body Dialpad would refuse: 422 with the field paths.
    #[error("invalid fields")]
    Validation(Invalid),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotSupported(&'static str),
    /// Dialpad answered a write with 400 or 409: its message.
    #[error("Dialpad refused the change: {message}")]
    Refused { status: u16, message: String },
    /// Everything else from Dialpad or the token provider, for the server to map (403, 429,
    /// 5xx, transport, refresh failures).
    #[error(transparent)]
    Upstream(dialpad::Error),
}

pub type Result<T> = std::result::Result<T, ResourceError>;

fn invalid(message: impl Into<String>, details: Value) -> ResourceError {
    ResourceError::Invalid {
        message: message.into(),
        details,
    }
}

/// Maps a Dialpad error of a read: 404 is the resource missing.
fn read_error(e: dialpad::Error, what: &str) -> ResourceError {
    if e.is_not_found() {
        return ResourceError::NotFound(format!("no {what} with this id"));
    }
    ResourceError::Upstream(e)
}

/// Maps a Dialpad error of a write: 400/409/422 carry Dialpad's reason for refusing.
fn write_error(e: dialpad::Error, what: &str) -> ResourceError {
    if e.is_not_found() {
        return ResourceError::NotFound(format!("no {what} with this id"));
    }
    if let dialpad::Error::Api {
        status, message, ..
    } = &e
    {
        if matches!(status.as_u16(), 400 | 409 | 422) {
            return ResourceError::Refused {
                status: status.as_u16(),
                message: message.clone(),
            };
        }
    }
    ResourceError::Upstream(e)
}

/// Reads `filters[...]` against the model's filters: unknown names and wrong types are refused
/// with the allowed ones named.
pub fn parse_filters(
    model: Model,
    raw: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, FilterValue>> {
    let info = model.info();
    let allowed: Vec<&str> = info.filters.iter().map(|f| f.name).collect();
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        let Some(f) = info.filter(name) else {
            return Err(invalid(
                format!(
                    "unknown filter `{name}` for {model}: allowed filters are {}",
                    if allowed.is_empty() {
                        "none".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                ),
                json!({"filter": name, "allowedFilters": allowed}),
            ));
        };
        let bad = |expected: &str| {
            invalid(
                format!("filter `{name}` must be {expected}"),
                json!({"filter": name, "expected": expected}),
            )
        };
        let v = match f.kind {
            FilterKind::String => {
                if value.is_empty() || value.len() > 320 {
                    return Err(bad("a non-empty string of at most 320 characters"));
                }
                FilterValue::Text(value.clone())
            }
            FilterKind::Boolean => match value.as_str() {
                "true" => FilterValue::Bool(true),
                "false" => FilterValue::Bool(false),
                _ => return Err(bad("`true` or `false`")),
            },
            FilterKind::DateTime => match dialpad::Timestamp::parse(value) {
                Some(t) => FilterValue::Time(t.as_millis()),
                None => return Err(bad("an ISO-8601 date-time or epoch milliseconds")),
            },
            FilterKind::Id => {
                if !is_numeric_id(value) {
                    return Err(bad("a Dialpad id (digits)"));
                }
                FilterValue::Id(value.clone())
            }
            FilterKind::Enum(values) => {
                if !values.contains(&value.as_str()) {
                    return Err(bad(&format!("one of {}", values.join(", "))));
                }
                FilterValue::Text(value.clone())
            }
        };
        out.insert(name.clone(), v);
    }
    if matches!(model, Model::Call | Model::Transcript)
        && out.contains_key("user")
        && out.contains_key("workspace")
    {
        return Err(invalid(
            "filters `user` and `workspace` cannot be combined: Dialpad filters calls by one target",
            json!({"filter": "workspace"}),
        ));
    }
    if model == Model::Contact
        && matches!(out.get("type"), Some(FilterValue::Text(t)) if t == "local")
        && !out.contains_key("owner")
    {
        return Err(invalid(
            "filter `type=local` needs `owner`: Dialpad lists local contacts per user",
            json!({"filter": "type"}),
        ));
    }
    Ok(out)
}

/// What identifies a list for its cursor: the model, the filters and the search.
pub fn query_identity(
    model: Model,
    filters: &BTreeMap<String, FilterValue>,
    q: Option<&str>,
) -> String {
    let mut s = model.as_str().to_owned();
    for (k, v) in filters {
        s.push('|');
        s.push_str(k);
        s.push('=');
        s.push_str(&format!("{v:?}"));
    }
    if let Some(q) = q {
        s.push_str("|q=");
        s.push_str(q);
    }
    s
}

/// One list request.
#[derive(Debug, Clone)]
pub struct ListParams {
    pub limit: usize,
    pub resume: Resume,
    pub q: Option<String>,
    pub filters: BTreeMap<String, FilterValue>,
}

/// Calls mapped recently, by id: Dialpad allows 10 single-call reads per minute per company,
/// so a retrieve is answered from the last list page or event that carried the call when it
/// is fresh enough.
#[derive(Debug, Default)]
pub struct CallCache {
    entries: Mutex<HashMap<String, (Instant, Value)>>,
}

/// How long a cached call answers a retrieve.
pub const CALL_CACHE_TTL: Duration = Duration::from_secs(300);
const CALL_CACHE_CAP: usize = 5_000;

impl CallCache {
    pub fn put(&self, id: &str, raw: &Value) {
        let mut m = self.entries.lock();
        if m.len() >= CALL_CACHE_CAP {
            m.retain(|_, (at, _)| at.elapsed() < CALL_CACHE_TTL);
            if m.len() >= CALL_CACHE_CAP {
                m.clear();
            }
        }
        m.insert(id.to_owned(), (Instant::now(), raw.clone()));
    }

    /// Caches a raw call under its `call_id`.
    pub fn put_id_of(&self, raw: &Value) {
        let id = match raw.get("call_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return,
        };
        self.put(&id, raw);
    }

    pub fn get(&self, id: &str) -> Option<Value> {
        let m = self.entries.lock();
        m.get(id)
            .filter(|(at, _)| at.elapsed() < CALL_CACHE_TTL)
            .map(|(_, v)| v.clone())
    }
}

/// The times the connector keeps itself for records Dialpad keeps none for (the server asks its
/// store); used for resources answered inside another one by `expand`.
#[async_trait::async_trait]
pub trait SeenTimes: Send + Sync {
    /// `(createdAt, updatedAt)` per record, in order (`None`: unknown).
    async fn seen(&self, model: Model, records: &[Record]) -> Vec<Option<(String, String)>>;
    /// The AI recap kept from a call's `recap_*` events, for `expand=recap` when Dialpad's
    /// `ai_recap` cannot answer (None: nothing kept).
    async fn stored_recap(&self, _call_id: &str) -> Option<transcript::Recap> {
        None
    }
}

/// The resource operations on one connection.
pub struct Resources<'a> {
    pub client: &'a Client,
    pub ctx: MapContext,
    pub calls: &'a CallCache,
    /// Where expanded resources get their connector-kept times (none: left `null`).
    pub seen: Option<&'a dyn SeenTimes>,
}

/// What a create answers: the new id, and the record when Dialpad answered it.
#[derive(Debug)]
pub struct Created {
    pub id: String,
    pub record: Option<Record>,
}

fn record(model: Model, raw: Value, ctx: MapContext) -> Record {
    Record {
        mapped: models::from_dialpad(model, &raw, ctx),
        raw,
    }
}

/// A Dialpad list call and the filters it applies itself; the rest are applied while scanning.
struct Listing {
    parts: &'static [&'static str],
    query: Vec<(&'static str, String)>,
}

fn listing(model: Model, p: &ListParams) -> Listing {
    let mut query = Vec::new();
    let text = |k: &str| match p.filters.get(k) {
        Some(FilterValue::Text(s) | FilterValue::Id(s)) => Some(s.clone()),
        _ => None,
    };
    let flag = |k: &str| match p.filters.get(k) {
        Some(FilterValue::Bool(b)) => Some(*b),
        _ => None,
    };
    let time = |k: &str| match p.filters.get(k) {
        Some(FilterValue::Time(t)) => Some(*t),
        _ => None,
    };
    let parts: &'static [&'static str] = match model {
        Model::Contact => {
            if let Some(o) = text("owner") {
                query.push(("owner_id", o));
            }
            if let Some(b) = flag("includeLocal") {
                query.push(("include_local", b.to_string()));
            }
            &["contacts"]
        }
        Model::User => {
            if let Some(s) = text("state") {
                query.push(("state", s));
            }
            if let Some(e) = text("email") {
                query.push(("email", e));
            }
            if let Some(n) = text("phone") {
                query.push(("number", normalize_phone(&n).unwrap_or(n)));
            }
            if let Some(b) = flag("isAdmin") {
                query.push(("company_admin", b.to_string()));
            }
            // A search that is an email or a phone number is Dialpad's own exact filter.
            if let Some(q) = p.q.as_deref().map(str::trim) {
                if q.contains('@') && !p.filters.contains_key("email") {
                    query.push(("email", q.to_owned()));
                } else if let Some(n) =
                    normalize_phone(q).filter(|_| !p.filters.contains_key("phone"))
                {
                    query.push(("number", n));
                }
            }
            &["users"]
        }
        Model::Workspace => {
            if let Some(b) = flag("activeOnly") {
                query.push(("active_only", b.to_string()));
            }
            &["offices"]
        }
        Model::Call | Model::Transcript => {
            if let Some(t) = time("startedAfter") {
                query.push(("started_after", t.to_string()));
            }
            if let Some(t) = time("startedBefore") {
                query.push(("started_before", t.to_string()));
            }
            if let Some(u) = text("user") {
                query.push(("target_id", u));
                query.push(("target_type", "user".into()));
            } else if let Some(w) = text("workspace") {
                query.push(("target_id", w));
                query.push(("target_type", "office".into()));
            }
            &["call"]
        }
    };
    Listing { parts, query }
}

/// Whether a record passes what Dialpad could not filter or search itself.
fn keep(model: Model, p: &ListParams, m: &Mapped) -> bool {
    match model {
        Model::Contact => {
            if let Some(FilterValue::Text(t)) = p.filters.get("type") {
                if m.fields.get("type").and_then(Value::as_str) != Some(t.as_str()) {
                    return false;
                }
            }
            p.q.as_deref().is_none_or(|q| contact::matches(m, q))
        }
        Model::User => match p.q.as_deref().map(str::trim) {
            Some(q) if !q.contains('@') && normalize_phone(q).is_none() => user::matches_name(m, q),
            _ => true,
        },
        Model::Workspace => p.q.as_deref().is_none_or(|q| {
            m.fields
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.to_lowercase().contains(&q.trim().to_lowercase()))
        }),
        Model::Call | Model::Transcript => true,
    }
}

impl Resources<'_> {
    async fn page(&self, l: &Listing, cursor: Option<&str>) -> Result<Page<Value>> {
        let mut req = self.client.request(Method::GET, l.parts);
        for (k, v) in &l.query {
            req = req.query(k, v);
        }
        if let Some(c) = cursor {
            req = req.query("cursor", c);
        }
        req.send().await.map_err(ResourceError::Upstream)
    }

    /// One page of `model`, and where the next one resumes (`None`: the list is done).
    pub async fn list(
        &self,
        model: Model,
        p: &ListParams,
    ) -> Result<(Vec<Record>, Option<Resume>)> {
        let l = listing(model, p);
        let mut out: Vec<Record> = Vec::with_capacity(p.limit);
        let mut at = p.resume.clone();
        for _ in 0..MAX_SCAN_PAGES {
            let page = self.page(&l, at.dialpad.as_deref()).await?;
            let mut items = page.items;
            let mut i = at.skip.min(items.len());
            while i < items.len() {
                if out.len() == p.limit {
                    return Ok((
                        out,
                        Some(Resume {
                            dialpad: at.dialpad,
                            skip: i,
                        }),
                    ));
                }
                if model == Model::Transcript {
                    // Transcripts of this page's calls, fetched concurrently, never more than
                    // are still needed (so nothing is fetched past the cut).
                    let want = p.limit - out.len();
                    let end = (i + want).min(items.len());
                    let found = self.transcripts_of(&items[i..end]).await?;
                    out.extend(found);
                    i = end;
                    continue;
                }
                let raw = std::mem::take(&mut items[i]);
                if model == Model::Call {
                    self.calls.put_id_of(&raw);
                }
                let r = record(model, raw, self.ctx);
                if keep(model, p, &r.mapped) {
                    out.push(r);
                }
                i += 1;
            }
            match page.cursor {
                None => return Ok((out, None)),
                Some(next) if Some(&next) == at.dialpad.as_ref() => {
                    // Dialpad repeated the cursor it was given: stop rather than loop.
                    return Ok((out, None));
                }
                Some(next) => {
                    at = Resume {
                        dialpad: Some(next),
                        skip: 0,
                    };
                }
            }
            if out.len() == p.limit {
                break;
            }
        }
        Ok((out, Some(at)))
    }

    /// The transcripts of `calls` (in order), skipping calls without one.
    async fn transcripts_of(&self, calls: &[Value]) -> Result<Vec<Record>> {
        let ids: Vec<String> = calls
            .iter()
            .map(|c| {
                let m = call::from_dialpad(c, self.ctx);
                self.calls.put(&m.id, c);
                (m.id, m.fields.get("status").cloned())
            })
            .filter(|(id, status)| {
                !id.is_empty() && status.as_ref().is_some_and(|s| s == "completed")
            })
            .map(|(id, _)| id)
            .collect();
        let results: Vec<Result<Option<Record>>> = stream::iter(ids)
            .map(|id| async move {
                match self.transcript(&id).await {
                    Ok(r) => Ok(Some(r)),
                    Err(ResourceError::NotFound(_)) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;
        let mut out = Vec::new();
        for r in results {
            if let Some(r) = r? {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn transcript(&self, id: &str) -> Result<Record> {
        let raw: Value = self
            .client
            .request(Method::GET, &["transcripts", id])
            .send()
            .await
            .map_err(|e| read_error(e, "transcript for the call"))?;
        Ok(Record {
            mapped: transcript::from_dialpad(&raw, None),
            raw,
        })
    }

    /// Refuses an id Dialpad cannot have without calling Dialpad.
    fn check_id(model: Model, id: &str) -> Result<()> {
        let ok = match model {
            Model::Contact => is_contact_id(id),
            Model::User | Model::Workspace => id == "me" || is_numeric_id(id),
            Model::Call | Model::Transcript => is_numeric_id(id),
        };
        if ok {
            Ok(())
        } else {
            Err(ResourceError::NotFound(format!(
                "{} cannot be a {model} id",
                crate::read::quote_input(id)
            )))
        }
    }

    pub async fn retrieve(&self, model: Model, id: &str) -> Result<Record> {
        Self::check_id(model, id)?;
        let get = |parts: Vec<&str>| {
            let c = self.client.clone();
            let parts: Vec<String> = parts.into_iter().map(str::to_owned).collect();
            async move {
                let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                c.request(Method::GET, &refs)
                    .max_wait(MAX_RATE_WAIT)
                    .send::<Value>()
                    .await
            }
        };
        match model {
            Model::Contact => {
                let raw = get(vec!["contacts", id])
                    .await
                    .map_err(|e| read_error(e, "contact"))?;
                Ok(record(model, raw, self.ctx))
            }
            Model::User => {
                let raw = get(vec!["users", id])
                    .await
                    .map_err(|e| read_error(e, "user"))?;
                Ok(record(model, raw, self.ctx))
            }
            Model::Workspace if id == "me" => {
                let (office, company) =
                    futures::join!(get(vec!["offices", "primary"]), get(vec!["company"]));
                let office = office.map_err(|e| read_error(e, "primary office"))?;
                let company = company.map_err(|e| read_error(e, "company"))?;
                Ok(Record {
                    mapped: workspace::from_dialpad(&office, Some(&company)),
                    raw: json!({"office": office, "company": company}),
                })
            }
            Model::Workspace => {
                let raw = get(vec!["offices", id])
                    .await
                    .map_err(|e| read_error(e, "workspace"))?;
                Ok(record(model, raw, self.ctx))
            }
            Model::Call => {
                if let Some(raw) = self.calls.get(id) {
                    return Ok(record(model, raw, self.ctx));
                }
                let raw = get(vec!["call", id])
                    .await
                    .map_err(|e| read_error(e, "call"))?;
                self.calls.put(id, &raw);
                Ok(record(model, raw, self.ctx))
            }
            Model::Transcript => self.transcript(id).await,
        }
    }

    fn not_supported(model: Model, op: Op) -> Result<()> {
        match model.info().support(op) {
            Support::Native => Ok(()),
            Support::NotSupported(why) => Err(ResourceError::NotSupported(why)),
        }
    }

    /// Creates a record from a unified write body; `extra` are Dialpad fields from written
    /// field mappings, added to Dialpad's body.
    pub async fn create(
        &self,
        model: Model,
        body: &Value,
        extra: &Map<String, Value>,
    ) -> Result<Created> {
        Self::not_supported(model, Op::Create)?;
        let v = ResourceError::Validation;
        match model {
            Model::Contact => {
                let w: ContactWrite = parse_write(body).map_err(v)?;
                let (method, dialpad_body) = match w.create_request().map_err(v)? {
                    ContactRequest::Create(b) => (Method::POST, with_extra(b, extra)),
                    ContactRequest::Upsert(b) => (Method::PUT, with_extra(b, extra)),
                };
                let raw: Value = self
                    .client
                    .request(method, &["contacts"])
                    .json(&dialpad_body)
                    .map_err(ResourceError::Upstream)?
                    .send()
                    .await
                    .map_err(|e| write_error(e, "contact"))?;
                let r = record(model, raw, self.ctx);
                Ok(Created {
                    id: r.mapped.id.clone(),
                    record: Some(r),
                })
            }
            Model::User => {
                let w: user::UserWrite = parse_write(body).map_err(v)?;
                let b = with_extra(w.create_body().map_err(v)?, extra);
                let raw: Value = self.send_json(Method::POST, &["users"], &b, "user").await?;
                let r = record(model, raw, self.ctx);
                Ok(Created {
                    id: r.mapped.id.clone(),
                    record: Some(r),
                })
            }
            Model::Workspace => {
                let w: workspace::WorkspaceWrite = parse_write(body).map_err(v)?;
                let b = w.create_body().map_err(v)?;
                let raw: Value = self
                    .send_json(Method::POST, &["offices"], &b, "office")
                    .await?;
                // `{office, plan}`: the office is the record.
                let office = raw.get("office").cloned().unwrap_or(raw);
                let r = record(model, office, self.ctx);
                Ok(Created {
                    id: r.mapped.id.clone(),
                    record: Some(r),
                })
            }
            Model::Call => {
                let w: call::CallCreate = parse_write(body).map_err(v)?;
                let b = w.body().map_err(v)?;
                let raw: Value = self.send_json(Method::POST, &["call"], &b, "call").await?;
                let id = match raw.get("call_id") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => {
                        return Err(ResourceError::Upstream(dialpad::Error::Decode {
                            path: "/api/v2/call".into(),
                            message: "no call_id in Dialpad's answer".into(),
                        }))
                    }
                };
                // A call just placed is not in the call history yet: no record to answer.
                Ok(Created { id, record: None })
            }
            Model::Transcript => Err(ResourceError::NotSupported("unreachable")),
        }
    }

    async fn send_json(
        &self,
        method: Method,
        parts: &[&str],
        body: &Value,
        what: &str,
    ) -> Result<Value> {
        self.client
            .request(method, parts)
            .json(body)
            .map_err(ResourceError::Upstream)?
            .send()
            .await
            .map_err(|e| write_error(e, what))
    }

    /// Applies a partial update (plus `extra` Dialpad fields from written field mappings);
    /// answers the updated record when Dialpad returns it.
    pub async fn update(
        &self,
        model: Model,
        id: &str,
        body: &Value,
        extra: &Map<String, Value>,
    ) -> Result<Option<Record>> {
        Self::not_supported(model, Op::Update)?;
        let v = ResourceError::Validation;
        let id_ok = match model {
            Model::Contact => is_contact_id(id),
            _ => is_numeric_id(id),
        };
        if !id_ok {
            return Err(ResourceError::NotFound(format!(
                "{} cannot be a {model} id",
                crate::read::quote_input(id)
            )));
        }
        match model {
            Model::Contact => {
                let w: ContactWrite = parse_write(body).map_err(v)?;
                let b = with_extra(w.update_body().map_err(v)?, extra);
                let raw = self
                    .send_json(Method::PATCH, &["contacts", id], &b, "contact")
                    .await?;
                Ok(Some(record(model, raw, self.ctx)))
            }
            Model::User => {
                let w: user::UserWrite = parse_write(body).map_err(v)?;
                let b = with_extra(w.update_body().map_err(v)?, extra);
                let raw = self
                    .send_json(Method::PATCH, &["users", id], &b, "user")
                    .await?;
                Ok(Some(record(model, raw, self.ctx)))
            }
            Model::Workspace => {
                let w: workspace::WorkspaceWrite = parse_write(body).map_err(v)?;
                let b = w.update_body().map_err(v)?;
                let raw = self
                    .send_json(Method::PATCH, &["offices", id], &b, "office")
                    .await?;
                let office = raw.get("office").cloned().unwrap_or(raw);
                Ok(Some(record(model, office, self.ctx)))
            }
            Model::Call => {
                let w: call::CallUpdate = parse_write(body).map_err(v)?;
                let b = w.labels_body().map_err(v)?;
                let raw = self
                    .send_json(Method::PUT, &["call", id, "labels"], &b, "call")
                    .await?;
                if raw.get("call_id").is_some() {
                    self.calls.put(id, &raw);
                    Ok(Some(record(model, raw, self.ctx)))
                } else {
                    Ok(None)
                }
            }
            Model::Transcript => Err(ResourceError::NotSupported("unreachable")),
        }
    }

    pub async fn delete(&self, model: Model, id: &str) -> Result<()> {
        Self::not_supported(model, Op::Delete)?;
        let (parts, ok): ([&str; 2], bool) = match model {
            Model::Contact => (["contacts", id], is_contact_id(id)),
            Model::User => (["users", id], is_numeric_id(id)),
            _ => return Err(ResourceError::NotSupported("unreachable")),
        };
        if !ok {
            return Err(ResourceError::NotFound(format!(
                "{} cannot be a {model} id",
                crate::read::quote_input(id)
            )));
        }
        self.client
            .request(Method::DELETE, &parts)
            .send_empty()
            .await
            .map_err(|e| write_error(e, model.as_str()))
    }

    /// The AI recap of a call (`GET /call/{id}/ai_recap`, 1 per 5 s per company).
    pub async fn recap(&self, call_id: &str) -> Result<transcript::Recap> {
        let raw: Value = self
            .client
            .request(Method::GET, &["call", call_id, "ai_recap"])
            .max_wait(MAX_RATE_WAIT)
            .send()
            .await
            .map_err(|e| read_error(e, "AI recap for the call"))?;
        Ok(transcript::recap_from_dialpad(&raw))
    }
}

impl Resources<'_> {
    /// Replaces the references named in `expand` inside `resources` (from [`resource_json`],
    /// one page or one resource) with full resources; `recap` fills a transcript's AI recap.
    /// Each distinct reference of the page is fetched once (a page of calls names the same few
    /// users many times). A reference that cannot be expanded is kept, with a warning; a call's
    /// transcript that does not exist becomes `null`.
    pub async fn expand(&self, model: Model, resources: &mut [Value], expand: &[String]) {
        let mut warnings: Vec<Vec<Warning>> = vec![Vec::new(); resources.len()];
        for name in expand {
            if model == Model::Transcript && name == "recap" {
                for (i, resource) in resources.iter_mut().enumerate() {
                    let id = resource["id"].as_str().unwrap_or_default().to_owned();
                    match self.recap(&id).await {
                        Ok(r) => resource["fields"]["recap"] = json!(r),
                        Err(e) => {
                            let kept = match self.seen {
                                Some(s) => s.stored_recap(&id).await,
                                None => None,
                            };
                            match kept {
                                Some(r) => resource["fields"]["recap"] = json!(r),
                                None => warnings[i].push(expand_warning(name, &e)),
                            }
                        }
                    }
                }
                continue;
            }
            // Every distinct reference under `name` on the page, in first-seen order.
            let mut refs: Vec<(Model, String)> = Vec::new();
            for resource in resources.iter() {
                let found: Vec<(Model, String)> = match resource["fields"].get(name.as_str()) {
                    Some(Value::Array(items)) => items.iter().filter_map(ref_of).collect(),
                    Some(v) => ref_of(v).into_iter().collect(),
                    None => Vec::new(),
                };
                for r in found {
                    if !refs.contains(&r) {
                        refs.push(r);
                    }
                }
            }
            let fetched: Vec<Result<Record>> = stream::iter(refs.iter().cloned())
                .map(|(m, rid)| async move { self.retrieve(m, &rid).await })
                .buffered(CONCURRENCY)
                .collect()
                .await;
            // The connector-kept times of the records fetched, one batch per field.
            let ok: Vec<Record> = fetched
                .iter()
                .filter_map(|r| r.as_ref().ok().cloned())
                .collect();
            let mut times = match (self.seen, ok.first()) {
                (Some(s), Some(first)) => s.seen(first.mapped.model, &ok).await,
                _ => Vec::new(),
            }
            .into_iter();
            let by_ref: Vec<std::result::Result<Value, Warning>> = fetched
                .into_iter()
                .map(|r| match r {
                    Ok(rec) => Ok(resource_json(
                        rec,
                        &Render::default(),
                        times.next().flatten(),
                    )),
                    Err(ResourceError::NotFound(_)) if name == "transcript" => Ok(Value::Null),
                    Err(e) => Err(expand_warning(name, &e)),
                })
                .collect();
            let expanded = |v: &Value, w: &mut Vec<Warning>| -> Value {
                let Some(r) = ref_of(v) else { return v.clone() };
                match refs.iter().position(|x| *x == r).map(|i| &by_ref[i]) {
                    Some(Ok(full)) => full.clone(),
                    Some(Err(warning)) => {
                        w.push(warning.clone());
                        v.clone()
                    }
                    None => v.clone(),
                }
            };
            for (i, resource) in resources.iter_mut().enumerate() {
                let Some(current) = resource["fields"].get(name.as_str()).cloned() else {
                    continue;
                };
                resource["fields"][name.as_str()] = match &current {
                    Value::Array(items) => Value::Array(
                        items
                            .iter()
                            .map(|v| expanded(v, &mut warnings[i]))
                            .collect(),
                    ),
                    v => expanded(v, &mut warnings[i]),
                };
            }
        }
        for (resource, w) in resources.iter_mut().zip(warnings) {
            if w.is_empty() {
                continue;
            }
            let list = resource
                .as_object_mut()
                .map(|o| o.entry("warnings").or_insert_with(|| json!([])));
            if let Some(Value::Array(l)) = list {
                l.extend(w.iter().map(|w| json!(w)));
            }
        }
    }
}

fn ref_of(v: &Value) -> Option<(Model, String)> {
    if v.get("object")?.as_str()? != "resourceRef" {
        return None;
    }
    let model = Model::parse(v.get("model")?.as_str()?)?;
    Some((model, v.get("id")?.as_str()?.to_owned()))
}

/// Dialpad's body with the fields of written field mappings added (they never replace what
/// the unified fields set).
fn with_extra(mut body: Value, extra: &Map<String, Value>) -> Value {
    if let Some(b) = body.as_object_mut() {
        for (k, v) in extra {
            b.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    body
}

/// Checks `expand` names against the model.
pub fn parse_expand(model: Model, raw: Option<&str>) -> Result<Vec<String>> {
    parse_expand_among(model, raw, model.info().expand)
}

/// Checks `expand` names against `allowed` (the model's, or more where a caller expands more:
/// the export's `recap`).
pub fn parse_expand_among(
    model: Model,
    raw: Option<&str>,
    allowed: &[&str],
) -> Result<Vec<String>> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !allowed.contains(&name) {
            return Err(invalid(
                format!(
                    "`{name}` cannot be expanded on {model}: expandable are {}",
                    if allowed.is_empty() {
                        "none".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                ),
                json!({"expand": name, "allowedExpand": allowed}),
            ));
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

/// Checks `fields` names against the model's fields (plus mapped ones).
pub fn parse_fields(
    model: Model,
    raw: Option<&str>,
    extra: &[String],
) -> Result<Option<Vec<String>>> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let info = model.info();
    let mut out = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !info.has_field(name) && !extra.iter().any(|e| e == name) {
            let mut allowed: Vec<&str> = info.fields.iter().map(|f| f.key).collect();
            allowed.extend(extra.iter().map(String::as_str));
            return Err(invalid(
                format!(
                    "unknown field `{name}` for {model}: fields are {}",
                    allowed.join(", ")
                ),
                json!({"field": name, "allowedFields": allowed}),
            ));
        }
        out.push(name.to_owned());
    }
    Ok(Some(out))
}

/// How to render a resource.
#[derive(Debug, Clone, Default)]
pub struct Render<'a> {
    pub raw: bool,
    pub fields: Option<&'a [String]>,
}

/// The resource object of the API: `{object:"resource", model, id, fields, createdAt, updatedAt,
/// rawResource?, warnings?}`. `seen` gives the times for models Dialpad keeps none for (when the
/// connector first and last saw the record change).
pub fn resource_json(r: Record, opts: &Render<'_>, seen: Option<(String, String)>) -> Value {
    let Record { mapped: m, raw } = r;
    let fields: Map<String, Value> = match opts.fields {
        Some(keep) => m
            .fields
            .into_iter()
            .filter(|(k, _)| keep.iter().any(|f| f == k))
            .collect(),
        None => m.fields,
    };
    let (seen_created, seen_updated) = seen.unzip();
    let created = m.created_at.or(seen_created);
    let updated = m.updated_at.or(seen_updated).or_else(|| created.clone());
    let mut out = Map::with_capacity(8);
    out.insert("object".into(), Value::from("resource"));
    out.insert("model".into(), Value::from(m.model.as_str()));
    out.insert("id".into(), Value::String(m.id));
    out.insert("fields".into(), Value::Object(fields));
    out.insert(
        "createdAt".into(),
        created.map_or(Value::Null, Value::String),
    );
    out.insert(
        "updatedAt".into(),
        updated.map_or(Value::Null, Value::String),
    );
    if opts.raw {
        out.insert("rawResource".into(), raw);
    }
    if !m.warnings.is_empty() {
        out.insert("warnings".into(), json!(m.warnings));
    }
    Value::Object(out)
}

/// A list answer, `{data, next}`, with the page moved in (`json!` would copy every resource).
pub fn list_json(data: Vec<Value>, next: Option<String>) -> Value {
    let mut out = Map::with_capacity(2);
    out.insert("data".into(), Value::Array(data));
    out.insert("next".into(), next.map_or(Value::Null, Value::String));
    Value::Object(out)
}

/// A warning for a reference that could not be expanded (the reference is kept).
pub fn expand_warning(field: &str, e: &ResourceError) -> Warning {
    Warning {
        code: "EXPAND::FAILED",
        message: format!("could not expand `{field}`: {e}"),
        field: field.to_owned(),
    }
}

/// A record's fingerprint: what "changed" means for the times the connector keeps itself
/// (SHA-256 of Dialpad's record as received; its keys are ordered, so equal records hash equal).
pub fn fingerprint(raw: &Value) -> String {
    use sha2::{Digest, Sha256};
    /// Serializes straight into the hash: no copy of the record (this runs per record of
    /// every page of contacts, users and offices).
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.update(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Hashing(Sha256::new());
    // Writing a `Value` into an infallible writer cannot fail.
    let _ = serde_json::to_writer(&mut h, raw);
    hex(&h.0.finalize()[..16])
}

/// Lower-case hex, written digit by digit (no `format!` per byte: this runs per record).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// Whether the connector keeps this model's times itself (Dialpad's record has none, or no
/// update time).
pub fn observed(model: Model) -> bool {
    matches!(model, Model::Contact | Model::User | Model::Workspace)
}

/// The current time as the API writes it (for the timestamps the connector keeps itself).
pub fn now_iso() -> String {
    iso(chrono::Utc::now().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fingerprints are stored: the streaming form must give what the stored ones were made
    /// with (the first 16 bytes of SHA-256 over the serialized record, in hex).
    #[test]
    fn fingerprint_is_the_stored_form() {
        use sha2::{Digest, Sha256};
        let raw = json!({"id": "5", "first_name": "Ada", "phones": ["+14155550100"], "n": 1.5});
        let d = Sha256::digest(serde_json::to_vec(&raw).unwrap());
        let want: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(fingerprint(&raw), want);
        assert_ne!(fingerprint(&raw), fingerprint(&json!({"id": "6"})));
    }
}
