//! Bulk export of one connection's records (`dialpad-connector export`): the same path as
//! `GET /v1/resources/{model}` (status and permission checks, `dpc_core::resources::Resources`
//! on the connection's cached client, field mappings, the connector-kept times, `expand`), one
//! Dialpad page at a time, resumable at a [`Resume`]. Nothing here holds more than one page.
//!
//! The CLI owns the file, the checkpoint and the progress; this module only answers pages and
//! errors with the API's stable codes.

use std::collections::BTreeMap;

use dpc_core::cursor::Resume;
use dpc_core::mapping::{self, FieldMapping};
use dpc_core::models::{transcript, Model, Op, Support};
use dpc_core::operations::{self, Permission};
use dpc_core::resources::{
    parse_expand_among, parse_filters, resource_json, ListParams, Render, ResourceError, Resources,
};
use dpc_core::ErrorCode;
use dpc_store::{Connection, ConnectionStatus};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::tokens::ConnectionClient;
use crate::AppState;

/// One Dialpad page per exported page: Dialpad's own page size for lists (100), so every
/// Dialpad call answers a full page and nothing is fetched twice.
pub const PAGE: usize = 100;

/// The page with recaps: Dialpad gives one recap per 5 s, so a page of 100 would take over
/// eight minutes, all of it lost to a Ctrl-C (the checkpoint moves page by page). Five records
/// keep that to about 25 s; the Dialpad page they come from is fetched again for each (one
/// list request per 25 s, far inside the company's 20 per second).
pub const RECAP_PAGE: usize = 5;

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportRequest {
    pub connector_id: String,
    pub owner_id: String,
    pub model: String,
    /// Calls started after (ISO-8601 or epoch ms), for `telephonyCall` and
    /// `telephonyCallTranscript`.
    pub since: Option<String>,
    /// Calls started before.
    pub until: Option<String>,
    /// The model's expandable fields; on `telephonyCall`, `recap` also fills the expanded
    /// transcript's AI recap.
    pub expand: Vec<String>,
    /// Add Dialpad's record as received (`rawResource`).
    pub raw: bool,
}

/// An export, checked and ready to page.
pub struct Export {
    state: AppState,
    conn: Connection,
    cc: ConnectionClient,
    model: Model,
    filters: BTreeMap<String, dpc_core::resources::FilterValue>,
    expand: Vec<String>,
    /// `recap` asked: each transcript (a call's expanded one, or the transcript exported) gets
    /// its AI recap here, waiting for Dialpad's slot (`Resources::expand` gives up after the
    /// API's 2 s, which a page of recaps at 1 per 5 s would always hit).
    recap: bool,
    maps: Vec<FieldMapping>,
    raw: bool,
}

/// The models an export can list (every built-in model that supports list).
pub fn exportable_models() -> Vec<&'static str> {
    Model::ALL
        .iter()
        .filter(|m| matches!(m.info().support(Op::List), Support::Native))
        .map(|m| m.as_str())
        .collect()
}

impl Export {
    /// Checks the model, the window, the expansions, the connection's state and its permission
    /// to list, before anything is written.
    pub async fn open(state: &AppState, req: &ExportRequest) -> ApiResult<Export> {
        let models = exportable_models();
        let model = Model::parse(&req.model)
            .filter(|m| models.contains(&m.as_str()))
            .ok_or_else(|| {
                let custom = state.config.custom_model(&req.model).is_some();
                ApiError::of(
                    ErrorCode::ResourceModelNotFound,
                    if custom {
                        format!(
                            "`{}` is a custom model; export covers the built-in models: {}",
                            req.model,
                            models.join(", ")
                        )
                    } else {
                        format!(
                            "no model `{}`: the models that can be exported are {}",
                            req.model,
                            models.join(", ")
                        )
                    },
                )
                .with_details(json!({"model": req.model, "models": models}))
            })?;
        let mut raw_filters = BTreeMap::new();
        if req.since.is_some() || req.until.is_some() {
            if !matches!(model, Model::Call | Model::Transcript) {
                return Err(ApiError::invalid(format!(
                    "--since and --until apply to telephonyCall and telephonyCallTranscript (call start times), not {model}"
                )));
            }
            if let Some(s) = &req.since {
                raw_filters.insert("startedAfter".to_owned(), s.clone());
            }
            if let Some(u) = &req.until {
                raw_filters.insert("startedBefore".to_owned(), u.clone());
            }
        }
        let filters = parse_filters(model, &raw_filters).map_err(invalid)?;
        // The export also takes `recap` on calls and transcripts (filled here, not by the
        // resources API's expansion).
        let mut allowed = model.info().expand.to_vec();
        if matches!(model, Model::Call | Model::Transcript) {
            allowed.push("recap");
        }
        let mut expand =
            parse_expand_among(model, Some(&req.expand.join(",")), &allowed).map_err(invalid)?;
        let recap = expand.iter().any(|e| e == "recap");
        if recap {
            expand.retain(|e| e != "recap");
            if model == Model::Call && !expand.iter().any(|e| e == "transcript") {
                return Err(ApiError::invalid(
                    "`recap` on telephonyCall fills the expanded transcript: expand transcript too (--expand transcript,recap)",
                ));
            }
        }
        let conn = crate::connections::load(state, &req.connector_id, &req.owner_id).await?;
        check_list(state, &conn, model).await?;
        // What the expansions read is checked now, not at the first page that needs it.
        let mut targets: Vec<Model> = expand
            .iter()
            .filter_map(|e| dpc_core::models::expand_target(model, e))
            .collect();
        if recap {
            targets.push(Model::Transcript);
        }
        for t in targets {
            check_operation(state, &conn, &Op::Retrieve.operation_id(t)).await?;
        }
        let maps = if granted(&conn, &format!("{}::fieldRead", model.as_str())) {
            stored_mappings(state, &conn, model).await
        } else {
            Vec::new()
        };
        let cc = state.connection_client(&conn)?;
        Ok(Export {
            state: state.clone(),
            conn,
            cc,
            model,
            filters,
            expand,
            recap,
            maps,
            raw: req.raw,
        })
    }

    pub fn model(&self) -> Model {
        self.model
    }

    /// The CSV columns: the resource's id and times, then the model's fields and the
    /// connection's mapped ones.
    pub fn columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = ["id", "createdAt", "updatedAt"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        cols.extend(self.model.info().fields.iter().map(|f| f.key.to_owned()));
        for m in &self.maps {
            if !cols.contains(&m.key) {
                cols.push(m.key.clone());
            }
        }
        cols
    }

    /// The connection client's rate limiter (to carry its state across a stop and `--resume`).
    pub fn rate_limiter(&self) -> Option<std::sync::Arc<dialpad::RateLimiter>> {
        self.cc.client.rate_limiter()
    }

    /// The page at `at`: its resources as the API renders them (expanded), and where the next
    /// page starts (`None`: the export is complete).
    pub async fn page(&self, at: &Resume) -> ApiResult<(Vec<Value>, Option<Resume>)> {
        let seen_source = Seen {
            state: &self.state,
            conn: &self.conn,
        };
        // A cache for this page only: a listed page's calls answer the same page's
        // transcript-to-call expansions (Dialpad allows 10 single-call reads a minute), and
        // nothing outlives the page. The connection's shared cache would keep up to 5,000
        // raw calls, so the export's memory would grow with the records exported.
        let page_calls = dpc_core::resources::CallCache::default();
        let service = Resources {
            client: &self.cc.client,
            ctx: crate::resources::map_context(&self.conn),
            calls: &page_calls,
            seen: Some(&seen_source),
        };
        let params = ListParams {
            limit: if self.recap { RECAP_PAGE } else { PAGE },
            resume: at.clone(),
            q: None,
            filters: self.filters.clone(),
        };
        let (records, next) = match service.list(self.model, &params).await {
            Ok(v) => v,
            Err(e) => return Err(self.error(e).await),
        };
        let times =
            crate::resources::seen_times(&self.state, &self.conn, self.model, &records).await;
        let mut data = Vec::with_capacity(records.len());
        let render = Render {
            raw: self.raw,
            fields: None,
        };
        for (mut r, t) in records.into_iter().zip(times) {
            mapping::apply_read(&self.maps, &r.raw, &mut r.mapped.fields);
            data.push(resource_json(r, &render, t));
        }
        if !self.expand.is_empty() {
            service.expand(self.model, &mut data, &self.expand).await;
            // The API answers a reference it could not expand with a warning; an export would
            // write it and move on, and `--resume` would never fetch it again. The page fails
            // instead, unwritten, so a run again with `--resume` retries it.
            if let Some(w) = data.iter().find_map(expand_failure) {
                return Err(ApiError::of(
                    dpc_core::ErrorCode::UpstreamUnavailable,
                    format!("{w}; this page was not written"),
                ));
            }
        }
        if self.recap {
            self.recaps(&mut data).await?;
        }
        Ok((data, next))
    }

    /// Fills each expanded transcript's `recap`, waiting for Dialpad's 1-per-5-s slot rather than
    /// giving up after the API's short wait (an export has the time; a request does not).
    async fn recaps(&self, data: &mut [Value]) -> ApiResult<()> {
        for resource in data.iter_mut() {
            // A transcript's id is its call's.
            let id = resource["id"].as_str().unwrap_or_default().to_owned();
            let t = if self.model == Model::Transcript {
                resource
            } else {
                match resource["fields"].get_mut("transcript") {
                    Some(t) if t.get("object").and_then(Value::as_str) == Some("resource") => t,
                    _ => continue,
                }
            };
            let r: Result<Value, dialpad::Error> = self
                .cc
                .client
                .request(dialpad::Method::GET, &["call", &id, "ai_recap"])
                .send()
                .await;
            match r {
                Ok(raw) => t["fields"]["recap"] = json!(transcript::recap_from_dialpad(&raw)),
                Err(e) if e.is_not_found() => t["fields"]["recap"] = Value::Null,
                Err(e) => return Err(self.error(ResourceError::Upstream(e)).await),
            }
        }
        Ok(())
    }

    async fn error(&self, e: ResourceError) -> ApiError {
        crate::resources::resource_error(
            &self.state,
            &self.conn,
            self.model.as_str(),
            &Op::List.operation_id(self.model),
            self.cc.tokens.held_version(),
            e,
        )
        .await
    }
}

/// The first expansion that failed on a resource (its warning's message).
fn expand_failure(resource: &Value) -> Option<String> {
    resource["warnings"]
        .as_array()?
        .iter()
        .find(|w| w["code"] == "EXPAND::FAILED")
        .map(|w| {
            let id = resource["id"].as_str().unwrap_or_default();
            format!(
                "{} ({id})",
                w["message"].as_str().unwrap_or("an expansion failed")
            )
        })
}

/// The connector-kept times of expanded resources, as the list route gives them.
struct Seen<'a> {
    state: &'a AppState,
    conn: &'a Connection,
}

#[async_trait::async_trait]
impl dpc_core::resources::SeenTimes for Seen<'_> {
    async fn seen(
        &self,
        model: Model,
        records: &[dpc_core::resources::Record],
    ) -> Vec<Option<(String, String)>> {
        crate::resources::seen_times(self.state, self.conn, model, records).await
    }
    async fn stored_recap(&self, call_id: &str) -> Option<dpc_core::models::transcript::Recap> {
        crate::resources::stored_recap(self.state, &self.conn.id, call_id).await
    }
}

fn invalid(e: ResourceError) -> ApiError {
    match e {
        ResourceError::Invalid { message, details } => {
            ApiError::invalid(message).with_details(details)
        }
        other => ApiError::internal(other),
    }
}

fn granted(conn: &Connection, op: &str) -> bool {
    operations::find(op).is_some_and(|o| {
        operations::check(o, &conn.operations, None, &conn.scopes) == Permission::Granted
    })
}

/// The connection's state and its permission for `model::list`, as the list route checks them.
async fn check_list(state: &AppState, conn: &Connection, model: Model) -> ApiResult<()> {
    check_operation(state, conn, &Op::List.operation_id(model)).await
}

/// The connection's state and its permission for operation `id` (`telephonyCall::list`,
/// `action::sendSms`), as the API checks them: not authorized, refresh failed, not granted
/// (naming the operation), or missing scopes (with a fresh authorization URL). The CLI's
/// `actions run` uses it too.
pub async fn check_operation(state: &AppState, conn: &Connection, id: &str) -> ApiResult<()> {
    match conn.status {
        ConnectionStatus::RefreshFailed => return Err(ApiError::refresh_failed()),
        ConnectionStatus::Unauthorized | ConnectionStatus::AwaitingAuthorization => {
            return Err(ApiError::not_authorized())
        }
        ConnectionStatus::Authorized => {}
    }
    let Some(operation) = operations::find(id) else {
        return Err(ApiError::internal(format!("{id} missing from the catalog")));
    };
    match operations::check(operation, &conn.operations, None, &conn.scopes) {
        Permission::Granted => Ok(()),
        Permission::NotGranted => Err(ApiError::of(
            ErrorCode::ConnectionMissingPermission,
            format!(
                "the connection was not granted {id}: add it to the connection's operations \
                 (PATCH /v1/connections/{{connectorId}}/{{ownerId}}), then authorize again if it needs scopes"
            ),
        )
        .with_details(json!({"operation": id, "requiredScopes": operation.scopes}))),
        Permission::MissingScopes(missing) => Err(crate::authorization::missing_permission(
            state, conn, operation, &missing,
        )
        .await),
    }
}

/// The connection's stored field mappings of `model`; one that no longer parses is ignored
/// (as the API does).
async fn stored_mappings(state: &AppState, conn: &Connection, model: Model) -> Vec<FieldMapping> {
    match state
        .store
        .get_field_mappings(&conn.id, model.as_str())
        .await
    {
        Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "stored field mappings do not parse; ignored");
            Vec::new()
        }),
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, "could not read field mappings");
            Vec::new()
        }
    }
}
