//! The resources routes for custom models (`dpc_core::custom`): the same query parameters,
//! signed cursors, permission check and error codes as the unified models; no filters, search
//! or expand (a custom model declares none).

use axum::http::StatusCode;
use dpc_core::cursor::Resume;
use dpc_core::custom::CustomModel;
use dpc_core::models::Op;
use dpc_core::operations::{self, Permission};
use dpc_core::ErrorCode;
use dpc_store::ConnectionStatus;
use serde_json::{json, Value};

use crate::authorization::missing_permission;
use crate::error::{ApiError, ApiResult};
use crate::resources::{limit_of, parse_query, resource_error, Caller, Query};
use crate::AppState;

async fn permit(state: &AppState, c: &Caller, m: &CustomModel, op: Op) -> ApiResult<()> {
    if !m.supports(op) {
        return Err(ApiError::of(
            ErrorCode::OperationNotSupported,
            format!(
                "{} has no {} endpoint declared in the connector's configuration",
                m.name,
                op.as_str()
            ),
        )
        .with_details(json!({"model": m.name, "operation": op.as_str()})));
    }
    match c.conn.status {
        ConnectionStatus::RefreshFailed => return Err(ApiError::refresh_failed()),
        ConnectionStatus::Unauthorized | ConnectionStatus::AwaitingAuthorization => {
            return Err(ApiError::not_authorized())
        }
        ConnectionStatus::Authorized => {}
    }
    let id = format!("{}::{}", m.name, op.as_str());
    let Some(operation) = operations::find(&id) else {
        return Err(ApiError::internal(format!("{id} was not registered")));
    };
    match operations::check(
        operation,
        &c.conn.operations,
        c.session_ops.as_deref(),
        &c.conn.scopes,
    ) {
        Permission::Granted => Ok(()),
        Permission::NotGranted => Err(crate::resources::not_granted(c, operation)),
        Permission::MissingScopes(missing) => {
            Err(missing_permission(state, &c.conn, operation, &missing).await)
        }
    }
}

fn only(q: &Query, what: &str, allowed: &[&str]) -> ApiResult<()> {
    let used = [
        ("limit", q.limit.is_some()),
        ("cursor", q.cursor.is_some()),
        ("q", q.q.is_some()),
        ("filters", !q.filters.is_empty()),
        ("expand", q.expand.is_some()),
        ("returnResource", q.return_resource),
    ];
    for (name, set) in used {
        if set && !allowed.contains(&name) {
            return Err(ApiError::invalid(format!(
                "`{name}` does not apply to {what} of a custom model"
            )));
        }
    }
    Ok(())
}

fn fields_of(m: &CustomModel, q: &Query) -> ApiResult<Option<Vec<String>>> {
    let Some(raw) = q.fields.as_deref().filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    let keep: Vec<String> = raw.split(',').map(|s| s.trim().to_owned()).collect();
    if let Some(bad) = keep.iter().find(|k| !m.fields.contains_key(*k)) {
        let known: Vec<&str> = m.fields.keys().map(String::as_str).collect();
        return Err(ApiError::invalid(format!(
            "unknown field `{bad}` for {}: fields are {}",
            m.name,
            known.join(", ")
        ))
        .with_details(json!({"field": bad, "allowedFields": known})));
    }
    Ok(Some(keep))
}

/// Fills `createdAt`/`updatedAt` from the connector's own observations (Dialpad's records of
/// these collections carry no times).
async fn with_times(
    state: &AppState,
    c: &Caller,
    m: &CustomModel,
    items: &mut [(String, Value, String)],
) {
    if items.is_empty() {
        return;
    }
    let pairs: Vec<(String, String)> = items
        .iter()
        .map(|(id, _, fp)| (id.clone(), fp.clone()))
        .collect();
    match state
        .store
        .observe_records(&c.conn.id, &m.name, &pairs)
        .await
    {
        Ok(obs) => {
            for ((_, v, _), o) in items.iter_mut().zip(obs) {
                v["createdAt"] = json!(crate::connections::ts(o.first_seen));
                v["updatedAt"] = json!(crate::connections::ts(o.last_changed));
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not record when records were seen"),
    }
}

fn rendered(
    m: &CustomModel,
    raw: Value,
    q: &Query,
    keep: Option<&[String]>,
) -> (String, Value, String) {
    let fp = dpc_core::resources::fingerprint(&raw);
    let (id, v) = m.resource(raw, q.raw, keep);
    (id, v, fp)
}

async fn fail(
    state: &AppState,
    c: &Caller,
    m: &CustomModel,
    op: Op,
    held: Option<i64>,
    e: dpc_core::resources::ResourceError,
) -> ApiError {
    let id = format!("{}::{}", m.name, op.as_str());
    resource_error(state, &c.conn, &m.name, &id, held, e).await
}

pub(crate) async fn list(
    state: &AppState,
    c: Caller,
    m: &CustomModel,
    raw_query: Option<String>,
) -> ApiResult<Value> {
    let q = parse_query(raw_query.as_deref())?;
    only(&q, "a list", &["limit", "cursor"])?;
    let limit = limit_of(&q)?;
    let keep = fields_of(m, &q)?;
    permit(state, &c, m, Op::List).await?;
    let identity = format!("custom|{}", m.name);
    let resume = match &q.cursor {
        Some(cur) => state
            .cursor_key
            .decode(&c.conn.id, &identity, cur)
            .map_err(|e| {
                ApiError::invalid(e.to_string()).with_details(json!({"parameter": "cursor"}))
            })?,
        None => Resume::default(),
    };
    let cc = state.connection_client(&c.conn)?;
    let (raws, next) = match m.list(&cc.client, limit, resume).await {
        Ok(v) => v,
        Err(e) => return Err(fail(state, &c, m, Op::List, cc.tokens.held_version(), e).await),
    };
    let mut items: Vec<(String, Value, String)> = raws
        .into_iter()
        .map(|raw| rendered(m, raw, &q, keep.as_deref()))
        .collect();
    with_times(state, &c, m, &mut items).await;
    let next = next.map(|at| state.cursor_key.encode(&c.conn.id, &identity, &at));
    Ok(dpc_core::resources::list_json(
        items.into_iter().map(|(_, v, _)| v).collect(),
        next,
    ))
}

pub(crate) async fn retrieve(
    state: &AppState,
    c: Caller,
    m: &CustomModel,
    id: &str,
    raw_query: Option<String>,
) -> ApiResult<Value> {
    let q = parse_query(raw_query.as_deref())?;
    only(&q, "a retrieve", &[])?;
    let keep = fields_of(m, &q)?;
    permit(state, &c, m, Op::Retrieve).await?;
    let cc = state.connection_client(&c.conn)?;
    let raw = match m.retrieve(&cc.client, id).await {
        Ok(v) => v,
        Err(e) => return Err(fail(state, &c, m, Op::Retrieve, cc.tokens.held_version(), e).await),
    };
    let mut items = vec![rendered(m, raw, &q, keep.as_deref())];
    with_times(state, &c, m, &mut items).await;
    Ok(items.pop().map(|(_, v, _)| v).unwrap_or_default())
}

fn reference(m: &CustomModel, id: &str) -> Value {
    json!({"object": "resourceRef", "model": m.name, "id": id, "remote": {"id": id}})
}

pub(crate) async fn write(
    state: &AppState,
    c: Caller,
    m: &CustomModel,
    op: Op,
    id: Option<&str>,
    raw_query: Option<String>,
    body: Value,
) -> ApiResult<(StatusCode, Value)> {
    let q = parse_query(raw_query.as_deref())?;
    only(&q, "a write", &["returnResource"])?;
    permit(state, &c, m, op).await?;
    let cc = state.connection_client(&c.conn)?;
    let answer = match m.write(&cc.client, op, id, &body).await {
        Ok(v) => v,
        Err(e) => return Err(fail(state, &c, m, op, cc.tokens.held_version(), e).await),
    };
    if op == Op::Delete {
        return Ok((StatusCode::OK, json!({})));
    }
    let status = if op == Op::Create {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let (new_id, rendered_v, fp) = rendered(m, answer, &q, None);
    let id = if new_id.is_empty() {
        id.unwrap_or_default().to_owned()
    } else {
        new_id
    };
    if q.return_resource {
        let mut items = vec![(id, rendered_v, fp)];
        with_times(state, &c, m, &mut items).await;
        return Ok((status, items.pop().map(|(_, v, _)| v).unwrap_or_default()));
    }
    Ok((status, reference(m, &id)))
}

/// `GET /v1/models/{custom}/fields`.
pub(crate) fn fields(m: &CustomModel) -> Value {
    json!({"data": m.field_list(), "next": null})
}
