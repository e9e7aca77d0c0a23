//! The MCP tools: one per operation the caller may run. `<model>_<op>` for the unified resources
//! (run through the same functions as `/v1/resources`, `crate::resources::{list, retrieve,
//! create, update, delete}`, so permissions, field mappings, cursors and error codes are the
//! API's own) and `action_<id>` for the actions.
//!
//! MCP tool names allow `A-Z a-z 0-9 _ - .` (1–128 characters); model names are camelCase and
//! action ids too, so `_` separates them unambiguously.

use std::borrow::Cow;
use std::sync::Arc;

use dpc_core::actions;
use dpc_core::models::{FilterKind, Model, Op, Support};
use dpc_core::operations::{self, Permission};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use rmcp::ErrorData;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::schema::{component, standalone};
use super::McpCaller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Records a list tool answers when `limit` is not given (an agent's context is precious).
pub const DEFAULT_LIMIT: usize = 20;
/// The most records one list call answers (the API's own maximum).
pub const MAX_LIMIT: usize = 100;
/// About the most bytes of structured content one call answers: a list page over it is asked
/// again with fewer records (its cursor then continues after the last one answered).
pub const MAX_RESULT_BYTES: usize = 64 * 1024;

/// What a tool name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolKind {
    Resource(Model, Op),
    /// An operation of a custom model (`[[custom_models]]`), by the model's name.
    Custom(String, Op),
    Action(String),
}

impl ToolKind {
    pub fn name(&self) -> String {
        match self {
            ToolKind::Resource(m, op) => format!("{}_{}", m.as_str(), op.as_str()),
            ToolKind::Custom(name, op) => format!("{name}_{}", op.as_str()),
            ToolKind::Action(id) => format!("action_{id}"),
        }
    }

    pub fn parse(name: &str) -> Option<ToolKind> {
        if let Some(id) = name.strip_prefix("action_") {
            return (!id.is_empty()).then(|| ToolKind::Action(id.to_owned()));
        }
        let (model, op) = name.rsplit_once('_')?;
        let op = Op::ALL.into_iter().find(|o| o.as_str() == op)?;
        // Any other name may be a custom model's; `call` checks it is declared.
        Some(match Model::parse(model) {
            Some(m) => ToolKind::Resource(m, op),
            None if !model.is_empty() => ToolKind::Custom(model.to_owned(), op),
            None => return None,
        })
    }

    /// The catalog operation the tool runs.
    fn operation_id(&self) -> String {
        match self {
            ToolKind::Resource(m, op) => op.operation_id(*m),
            ToolKind::Custom(name, op) => format!("{name}::{}", op.as_str()),
            ToolKind::Action(id) => format!("action::{id}"),
        }
    }
}

/// Whether the caller's connection (narrowed by its session) was granted `operation_id`. An
/// operation granted but not yet covered by the authorization's scopes counts: its tool is
/// listed, and calling it answers `CONNECTION::MISSING_PERMISSION` with the authorization URL
/// that adds the scopes.
fn granted(caller: &McpCaller, operation_id: &str) -> bool {
    operations::find(operation_id).is_some_and(|op| {
        !matches!(
            operations::check(
                op,
                &caller.conn.operations,
                caller.session_ops.as_deref(),
                &caller.conn.scopes,
            ),
            Permission::NotGranted
        )
    })
}

/// Every resource tool Dialpad can back (unsupported operations have no tool).
fn resource_kinds() -> Vec<ToolKind> {
    Model::ALL
        .into_iter()
        .flat_map(|m| {
            Op::ALL
                .into_iter()
                .filter(move |op| m.info().support(*op) == Support::Native)
                .map(move |op| ToolKind::Resource(m, op))
        })
        .collect()
}

/// The tools of `caller`: its granted resource operations, its custom models' granted
/// operations, then its granted actions.
pub(crate) fn list(state: &AppState, caller: &McpCaller) -> Vec<Tool> {
    let mut tools: Vec<Tool> = resource_kinds()
        .into_iter()
        .filter(|k| granted(caller, &k.operation_id()))
        .filter_map(|k| match k {
            ToolKind::Resource(m, op) => Some(resource_tool(m, op)),
            ToolKind::Custom(..) | ToolKind::Action(_) => None,
        })
        .collect();
    for m in &state.config.custom_models {
        for op in Op::ALL.into_iter().filter(|op| m.supports(*op)) {
            if granted(caller, &ToolKind::Custom(m.name.clone(), op).operation_id()) {
                tools.push(custom_tool(m, op));
            }
        }
    }
    tools.extend(action_tools(caller));
    tools
}

/// A custom model's tool: the same arguments as the unified models' (no search, filters or
/// expansions, which a custom model has none of), its declared fields named in the schemas.
fn custom_tool(m: &dpc_core::custom::CustomModel, op: Op) -> Tool {
    let name = m.name.as_str();
    let what = if m.description.is_empty() {
        format!("the custom model {name}")
    } else {
        format!("{} (custom model {name})", m.description)
    };
    let field_props: Map<String, Value> = m
        .fields
        .iter()
        .map(|(k, path)| {
            (
                k.clone(),
                json!({"description": format!("Dialpad's `{path}`")}),
            )
        })
        .collect();
    let keys: Vec<&str> = m.fields.keys().map(String::as_str).collect();
    let resource = json!({
        "type": "object",
        "properties": {
            "object": {"const": "resource"},
            "model": {"const": name},
            "id": {"type": "string"},
            "fields": {"type": "object", "properties": field_props.clone()},
            "rawResource": {"description": "Dialpad's record as received (with `raw`)."},
        },
        "required": ["object", "model", "id", "fields"],
    });
    let mut read = Map::new();
    read.insert(
        "fields".into(),
        json!({"type": "array", "items": {"type": "string", "enum": keys},
               "description": "Only these fields of each record (default: all)."}),
    );
    read.insert(
        "raw".into(),
        json!({"type": "boolean", "description": "Add Dialpad's record as received (`rawResource`)."}),
    );
    let id = json!({"type": "string", "description": format!("The {name}'s id.")});
    let (title, description, props, required, output) = match op {
        Op::List => {
            let mut props = read.clone();
            props.insert("limit".into(), limit_param());
            props.insert(
                "cursor".into(),
                json!({"type": "string", "description": "The `next` of the previous page; omit for the first page."}),
            );
            (
                format!("List {name}"),
                format!(
                    "List {what}. Answers one page, `data`, and `next`: pass it back as `cursor` \
                     to get the following page; `next` is null on the last page."
                ),
                props,
                vec![],
                json!({
                    "type": "object",
                    "properties": {
                        "data": {"type": "array", "items": resource},
                        "next": {"type": ["string", "null"]},
                        "count": {"type": "integer"},
                    },
                    "required": ["data", "next", "count"],
                }),
            )
        }
        Op::Retrieve => {
            let mut props = read.clone();
            props.insert("id".into(), id);
            (
                format!("Read one {name}"),
                format!("Read one record of {what} by id."),
                props,
                vec!["id"],
                resource,
            )
        }
        Op::Create | Op::Update => {
            let mut props = Map::new();
            let mut required = vec!["fields"];
            if op == Op::Update {
                props.insert("id".into(), id);
                required.insert(0, "id");
            }
            props.insert(
                "fields".into(),
                json!({"type": "object", "properties": field_props, "additionalProperties": false,
                       "description": "The declared fields to write (top-level ones only)."}),
            );
            let verb = if op == Op::Create { "Create" } else { "Update" };
            (
                format!("{verb} {name}"),
                format!(
                    "{verb} a record of {what}; answers the record.{}",
                    if op == Op::Create {
                        " Not idempotent: calling it twice creates two."
                    } else {
                        ""
                    }
                ),
                props,
                required,
                resource,
            )
        }
        Op::Delete => {
            let mut props = Map::new();
            props.insert("id".into(), id);
            (
                format!("Delete {name}"),
                format!("Delete a record of {what} by id."),
                props,
                vec!["id"],
                json!({"type": "object", "properties": {"deleted": {"type": "boolean"}, "model": {"type": "string"}, "id": {"type": "string"}}}),
            )
        }
    };
    let mut input = Map::new();
    input.insert("type".into(), json!("object"));
    input.insert("properties".into(), Value::Object(props));
    input.insert("required".into(), json!(required));
    input.insert("additionalProperties".into(), json!(false));
    let mut tool = Tool::new(
        ToolKind::Custom(m.name.clone(), op).name(),
        Cow::Owned(description),
        Arc::new(input),
    )
    .with_title(title.clone())
    .with_annotations(annotations(title, op));
    if let Value::Object(out) = output {
        tool = tool.with_raw_output_schema(Arc::new(out));
    }
    tool
}

/// The action tools (`dpc_core::actions`): each granted action with its own schemas and hints.
fn action_tools(caller: &McpCaller) -> Vec<Tool> {
    actions::catalog()
        .iter()
        .filter(|a| granted(caller, a.operation))
        .filter_map(action_tool_of)
        .collect()
}

fn object_schema(v: Value) -> Option<Arc<JsonObject>> {
    match v {
        Value::Object(mut m) if m.get("type").is_none_or(|t| t == "object") => {
            m.insert("type".into(), "object".into());
            Some(Arc::new(m))
        }
        // MCP wants an object schema; an action whose output is not one gets none (its result
        // is still structured content).
        _ => None,
    }
}

fn action_tool_of(a: &'static actions::ActionInfo) -> Option<Tool> {
    let mut input = object_schema(actions::input_schema(a.id)?)?;
    let mut description = a.description.to_owned();
    if let Some(limit) = a.rate_limit {
        description.push_str(&format!(" Dialpad's rate limit: {limit}."));
    }
    if !a.read_only {
        // The HTTP route's `Idempotency-Key`, as an argument.
        if let Some(Value::Object(props)) = Arc::make_mut(&mut input).get_mut("properties") {
            props.insert(
                IDEMPOTENCY_ARG.into(),
                json!({
                    "type": "string",
                    "minLength": 1,
                    "maxLength": crate::actions::MAX_KEY_LEN,
                    "description": "Any unique string (a UUID) for this intended action. Calling again with the same key and arguments (within 24 h) answers the first call's result without running it twice: use it to retry safely after a timeout."
                }),
            );
        }
        if !a.idempotent {
            description.push_str(&format!(
                " Not idempotent: to retry safely after a timeout, pass the same `{IDEMPOTENCY_ARG}` both times."
            ));
        }
    }
    let mut tool = Tool::new(
        ToolKind::Action(a.id.to_owned()).name(),
        Cow::Owned(description),
        input,
    )
    .with_title(a.title)
    .with_annotations(
        ToolAnnotations::with_title(a.title)
            .read_only(a.read_only)
            .destructive(a.destructive)
            .idempotent(a.idempotent)
            .open_world(true),
    );
    if let Some(out) = actions::output_schema(a.id).and_then(object_schema) {
        tool = tool.with_raw_output_schema(out);
    }
    Some(tool)
}

/// Runs action `id`: the connection's state and permission (as the resources tools), the
/// input against its schema (422 `RESOURCE::VALIDATION_FAILED` with every failing path), then
/// the action on the connection's Dialpad client, Dialpad's errors mapped as the resources
/// API maps them (a 403 naming a scope: the missing permission with an authorization URL).
async fn action_call(
    state: &AppState,
    caller: &McpCaller,
    a: &'static actions::ActionInfo,
    mut input: Value,
) -> ApiResult<(String, Value)> {
    let c = caller.resources_caller();
    crate::resources::permit(state, &c, a.operation).await?;
    // The HTTP route's `Idempotency-Key` header, as an argument (a tool call has no headers).
    let key = match input.as_object_mut().and_then(|m| m.remove(IDEMPOTENCY_ARG)) {
        None | Some(Value::Null) => None,
        Some(_) if a.read_only => {
            return Err(ApiError::invalid(format!(
                "{} changes nothing and takes no `{IDEMPOTENCY_ARG}`",
                a.id
            )))
        }
        Some(Value::String(k)) if crate::actions::valid_key(&k) => Some(k),
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "`{IDEMPOTENCY_ARG}` must be a string of 1 to {} visible ASCII characters (a UUID, say)",
                crate::actions::MAX_KEY_LEN
            ))
            .with_details(json!({"field": IDEMPOTENCY_ARG})))
        }
    };
    if let Err(e) = actions::validate(a.id, &input) {
        return Err(action_error(state, caller, a, None, e).await);
    }
    if let Some(key) = key {
        use crate::actions::Keyed;
        return match crate::actions::run_with_key(state, &c, a, &key, input).await? {
            Keyed::Fresh(Ok(r)) => Ok((format!("{}: done.", a.title), r.output)),
            Keyed::Fresh(Err(e)) => Err(e),
            Keyed::Replayed { status, body } if status.is_success() => Ok((
                format!(
                    "{}: done before, with this {IDEMPOTENCY_ARG}; Dialpad was not called again.",
                    a.title
                ),
                body.get("output").cloned().unwrap_or(Value::Null),
            )),
            Keyed::Replayed { status, body } => Err(stored_error(status, &body)),
        };
    }
    let cc = state.connection_client(&caller.conn)?;
    match actions::run(&cc.client, a.id, input).await {
        Ok(v) => Ok((format!("{}: done.", a.title), v)),
        Err(e) => Err(action_error(state, caller, a, cc.tokens.held_version(), e).await),
    }
}

/// The argument of a side-effecting action tool that makes a retry safe.
pub(crate) const IDEMPOTENCY_ARG: &str = "idempotencyKey";

/// A stored error answer, given again.
fn stored_error(status: axum::http::StatusCode, body: &Value) -> ApiError {
    let code = body["error"].as_str().unwrap_or_default();
    let code = dpc_core::ErrorCode::ALL
        .iter()
        .copied()
        .find(|c| c.as_str() == code)
        .unwrap_or(dpc_core::ErrorCode::ServerInternal);
    let e = ApiError::new(
        status,
        code,
        body["message"].as_str().unwrap_or_default().to_owned(),
    );
    match body.get("details") {
        Some(d) if !d.is_null() => e.with_details(d.clone()),
        _ => e,
    }
}

async fn action_error(
    state: &AppState,
    caller: &McpCaller,
    a: &'static actions::ActionInfo,
    held_version: Option<i64>,
    e: actions::ActionError,
) -> ApiError {
    match e {
        actions::ActionError::Validation { errors } => {
            crate::resources::validation_failed(&format!("invalid input for {}", a.id), errors)
        }
        actions::ActionError::UnknownAction(id) => ApiError::of(
            dpc_core::ErrorCode::ActionNotFound,
            format!("no action `{id}`"),
        ),
        actions::ActionError::Dialpad(e) => {
            crate::resources::resource_error(
                state,
                &caller.conn,
                a.id,
                a.operation,
                held_version,
                dpc_core::resources::ResourceError::Upstream(e),
            )
            .await
        }
    }
}

fn annotations(title: String, op: Op) -> ToolAnnotations {
    let a = ToolAnnotations::with_title(title).open_world(true);
    match op {
        Op::List | Op::Retrieve => a.read_only(true).destructive(false).idempotent(true),
        Op::Create => a.read_only(false).destructive(false).idempotent(false),
        // An update overwrites the fields it names; sending it again changes nothing more.
        Op::Update => a.read_only(false).destructive(true).idempotent(true),
        Op::Delete => a.read_only(false).destructive(true).idempotent(true),
    }
}

fn resource_schema_name(m: Model) -> &'static str {
    match m {
        Model::Contact => "ContactResource",
        Model::User => "UserResource",
        Model::Workspace => "WorkspaceResource",
        Model::Call => "CallResource",
        Model::Transcript => "TranscriptResource",
    }
}

fn write_schema_name(m: Model, op: Op) -> &'static str {
    match (m, op) {
        (Model::Contact, _) => "ContactWrite",
        (Model::User, _) => "UserWrite",
        (Model::Workspace, _) => "WorkspaceWrite",
        (Model::Call, Op::Create) => "CallCreate",
        (Model::Call, _) => "CallUpdate",
        // No write: no create/update tool is made (`Support::NotSupported`).
        (Model::Transcript, _) => "CustomWrite",
    }
}

fn filter_schema(kind: FilterKind, description: &str) -> Value {
    match kind {
        FilterKind::String | FilterKind::Id => {
            json!({"type": "string", "description": description})
        }
        FilterKind::Boolean => json!({"type": "boolean", "description": description}),
        FilterKind::DateTime => json!({
            "type": ["string", "integer"],
            "description": format!("{description} (ISO-8601 date-time, or epoch milliseconds)"),
        }),
        FilterKind::Enum(values) => {
            json!({"type": "string", "enum": values, "description": description})
        }
    }
}

fn read_params(m: Model, props: &mut Map<String, Value>) {
    let info = m.info();
    let keys: Vec<&str> = info.fields.iter().map(|f| f.key).collect();
    props.insert(
        "fields".into(),
        json!({
            "type": "array",
            "items": {"type": "string"},
            "description": format!(
                "Only these fields of each record (default: all). The fields: {}; plus the connection's mapped fields.",
                keys.join(", ")
            ),
        }),
    );
    if !info.expand.is_empty() {
        props.insert(
            "expand".into(),
            json!({
                "type": "array",
                "items": {"type": "string", "enum": info.expand},
                "description": "Reference fields to replace by the full record they point to.",
            }),
        );
    }
    props.insert(
        "raw".into(),
        json!({"type": "boolean", "description": "Add Dialpad's record as received (`rawResource`); large."}),
    );
}

/// A list tool's `limit`.
fn limit_param() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
           "description": format!("Records per page (default {DEFAULT_LIMIT}).")})
}

fn resource_tool(m: Model, op: Op) -> Tool {
    let info = m.info();
    let model = m.as_str();
    let resource = resource_schema_name(m);
    let (title, description, input, output) = match op {
        Op::List => {
            let mut props = Map::new();
            props.insert("limit".into(), limit_param());
            props.insert(
                "cursor".into(),
                json!({"type": "string",
                       "description": "The `next` of the previous page, to continue the same list (same `q` and `filters`); omit for the first page."}),
            );
            if let Some(search) = info.search {
                props.insert(
                    "q".into(),
                    json!({"type": "string", "description": format!("Search: {search}.")}),
                );
            }
            if !info.filters.is_empty() {
                let filters: Map<String, Value> = info
                    .filters
                    .iter()
                    .map(|f| (f.name.to_owned(), filter_schema(f.kind, f.description)))
                    .collect();
                props.insert(
                    "filters".into(),
                    json!({"type": "object", "properties": filters, "additionalProperties": false}),
                );
            }
            read_params(m, &mut props);
            let filters: Vec<String> = info
                .filters
                .iter()
                .map(|f| format!("`{}` ({})", f.name, f.description))
                .collect();
            let description = format!(
                "List {model} records: {}. Answers one page, `data` (at most `limit` records, \
                 and fewer when they would exceed about 64 KiB), and `next`: pass it back as \
                 `cursor` to get the following page; `next` is null on the last page.{}{}",
                info.description,
                if filters.is_empty() {
                    String::new()
                } else {
                    format!(" Filters: {}.", filters.join(", "))
                },
                info.search
                    .map(|s| format!(" `q` searches {s}."))
                    .unwrap_or_default(),
            );
            let output = json!({
                "type": "object",
                "properties": {
                    "data": {"type": "array", "items": component(resource)},
                    "next": {"type": ["string", "null"], "description": "The cursor of the next page; null on the last one."},
                    "count": {"type": "integer"},
                },
                "required": ["data", "next", "count"],
            });
            (
                format!("List {model}"),
                description,
                json!({"type": "object", "properties": props, "additionalProperties": false}),
                output,
            )
        }
        Op::Retrieve => {
            let mut props = Map::new();
            props.insert(
                "id".into(),
                json!({"type": "string", "description": if info.me {
                    format!("The {model}'s id (`me`: the authorizing user's own).")
                } else {
                    format!("The {model}'s id.")
                }}),
            );
            read_params(m, &mut props);
            (
                format!("Read one {model}"),
                format!("Read one {model} record by id: {}.", info.description),
                json!({"type": "object", "properties": props, "required": ["id"], "additionalProperties": false}),
                component(resource),
            )
        }
        Op::Create | Op::Update => {
            let mut props = Map::new();
            if op == Op::Update {
                props.insert(
                    "id".into(),
                    json!({"type": "string", "description": format!("The {model}'s id.")}),
                );
            }
            props.insert("fields".into(), component(write_schema_name(m, op)));
            let required = if op == Op::Update {
                json!(["id", "fields"])
            } else {
                json!(["fields"])
            };
            let what = if op == Op::Create {
                format!(
                    "Create a {model} in Dialpad ({}). `fields` are the new record's fields. \
                     Answers the created record. Not idempotent: calling it twice creates two.",
                    info.description
                )
            } else {
                format!(
                    "Update a {model} in Dialpad: only the `fields` given change (overwritten). \
                     Answers the updated record."
                )
            };
            (
                format!(
                    "{} {model}",
                    if op == Op::Create { "Create" } else { "Update" }
                ),
                what,
                json!({"type": "object", "properties": props, "required": required, "additionalProperties": false}),
                json!({"oneOf": [component(resource), component("CreatedRef")]}),
            )
        }
        Op::Delete => (
            format!("Delete {model}"),
            format!("Delete a {model} in Dialpad by id. It cannot be undone."),
            json!({"type": "object", "properties": {"id": {"type": "string", "description": format!("The {model}'s id.")}}, "required": ["id"], "additionalProperties": false}),
            json!({"type": "object", "properties": {
                "deleted": {"const": true}, "model": {"const": model}, "id": {"type": "string"},
            }, "required": ["deleted", "model", "id"]}),
        ),
    };
    Tool::new(
        ToolKind::Resource(m, op).name(),
        Cow::Owned(description),
        Arc::new(standalone(input)),
    )
    .with_raw_output_schema(Arc::new(standalone(output)))
    .with_title(title.clone())
    .with_annotations(annotations(title, op))
}

fn unknown_tool(name: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!("unknown tool `{name}`: tools/list shows the tools of this connection"),
        None,
    )
}

/// Runs a tool. An unknown name is a protocol error (MCP's rule); everything else, including a
/// missing permission, is a tool result (`isError: true` with our error code), which the agent
/// sees and can act on.
pub(crate) async fn call(
    state: &AppState,
    caller: McpCaller,
    name: &str,
    arguments: Option<JsonObject>,
) -> Result<CallToolResult, ErrorData> {
    let Some(kind) = ToolKind::parse(name) else {
        return Err(unknown_tool(name));
    };
    let args = Value::Object(arguments.unwrap_or_default());
    let out = match &kind {
        ToolKind::Resource(m, op) => match (m.info().support(*op), op) {
            (Support::NotSupported(_), _) => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool `{name}`: Dialpad cannot {} {m}", op.as_str()),
                    None,
                ))
            }
            _ => model_tool(state, &caller, m.as_str(), *op, args).await,
        },
        ToolKind::Custom(model, op) => match state.config.custom_model(model) {
            Some(cm) if cm.supports(*op) => model_tool(state, &caller, model, *op, args).await,
            _ => return Err(unknown_tool(name)),
        },
        ToolKind::Action(id) => match actions::find(id) {
            Some(a) => action_call(state, &caller, a, args).await,
            None => return Err(unknown_tool(name)),
        },
    };
    Ok(match out {
        Ok((summary, value)) => {
            let mut r = CallToolResult::success(vec![ContentBlock::text(summary)]);
            r.structured_content = Some(value);
            r
        }
        Err(e) => error_result(e),
    })
}

/// A tool error: our error body as structured content, and `CODE: message` as text.
fn error_result(e: ApiError) -> CallToolResult {
    let text = format!("{}: {}", e.code.as_str(), e.message);
    let body = e.body();
    let mut r = CallToolResult::error(vec![ContentBlock::text(text)]);
    r.structured_content = Some(serde_json::to_value(body).unwrap_or_default());
    r
}

fn parse_args<T: DeserializeOwned>(tool: &str, args: Value) -> ApiResult<T> {
    serde_json::from_value(args)
        .map_err(|e| ApiError::invalid(format!("invalid arguments for {tool}: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    limit: Option<usize>,
    cursor: Option<String>,
    q: Option<String>,
    #[serde(default)]
    filters: Map<String, Value>,
    fields: Option<Vec<String>>,
    expand: Option<Vec<String>>,
    #[serde(default)]
    raw: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    id: String,
    fields: Option<Vec<String>>,
    expand: Option<Vec<String>>,
    #[serde(default)]
    raw: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    id: Option<String>,
    fields: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdArgs {
    id: String,
}

/// The `/v1/resources` query parameters of the read arguments.
fn read_query(
    q: &mut Vec<(String, String)>,
    fields: &Option<Vec<String>>,
    expand: &Option<Vec<String>>,
    raw: bool,
) {
    if let Some(f) = fields {
        q.push(("fields".into(), f.join(",")));
    }
    if let Some(e) = expand {
        q.push(("expand".into(), e.join(",")));
    }
    if raw {
        q.push(("raw".into(), "true".into()));
    }
}

/// The query string of `pairs`, as `/v1/resources` reads it.
fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn id_of(tool: &str, id: &str) -> ApiResult<()> {
    if id.trim().is_empty() {
        return Err(ApiError::invalid(format!("{tool}: `id` must not be empty")));
    }
    Ok(())
}

/// A model's tool (unified or custom, by name): the `/v1/resources` route it stands for.
async fn model_tool(
    state: &AppState,
    caller: &McpCaller,
    model: &str,
    op: Op,
    args: Value,
) -> ApiResult<(String, Value)> {
    match op {
        Op::List => list_tool(state, caller, model, args).await,
        Op::Retrieve => retrieve_tool(state, caller, model, args).await,
        Op::Create | Op::Update => write_tool(state, caller, model, op, args).await,
        Op::Delete => delete_tool(state, caller, model, args).await,
    }
}

async fn list_tool(
    state: &AppState,
    caller: &McpCaller,
    model: &str,
    args: Value,
) -> ApiResult<(String, Value)> {
    let tool = format!("{model}_list");
    let a: ListArgs = parse_args(&tool, args)?;
    let mut limit = a.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(
            ApiError::invalid(format!("`limit` must be from 1 to {MAX_LIMIT}"))
                .with_details(json!({"parameter": "limit", "min": 1, "max": MAX_LIMIT})),
        );
    }
    let mut filters = Vec::new();
    for (name, v) in &a.filters {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(ApiError::invalid(format!(
                    "filter `{name}` must be a string, number or boolean"
                )))
            }
        };
        filters.push((format!("filters[{name}]"), text));
    }
    // A page over the size cap is asked again with fewer records, sized from the first answer;
    // its cursor then resumes right after the records answered. Three tries at most: records
    // vary in size, and one record over the cap is answered whole.
    for _ in 0..3 {
        let mut q = vec![("limit".to_owned(), limit.to_string())];
        if let Some(c) = &a.cursor {
            q.push(("cursor".into(), c.clone()));
        }
        if let Some(s) = &a.q {
            q.push(("q".into(), s.clone()));
        }
        q.extend(filters.iter().cloned());
        read_query(&mut q, &a.fields, &a.expand, a.raw);
        let page = crate::resources::list(
            state.clone(),
            caller.resources_caller(),
            model,
            Some(encode(&q)),
        )
        .await?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        let size = serde_json::to_vec(&data).map(|v| v.len()).unwrap_or(0);
        if size > MAX_RESULT_BYTES && data.len() > 1 && limit > 1 {
            let fits = (data.len() * MAX_RESULT_BYTES * 9 / 10) / size.max(1);
            limit = fits.clamp(1, data.len() - 1);
            continue;
        }
        let next = page["next"].clone();
        let ids: Vec<&str> = data.iter().filter_map(|r| r["id"].as_str()).collect();
        let summary = match next.as_str() {
            Some(c) => format!(
                "{} {} record(s) (ids: {}). More: call {tool} again with cursor \"{c}\" (and the same q and filters).",
                data.len(),
                model,
                ids.join(", "),
            ),
            None => format!(
                "{} {} record(s) (ids: {}). This is the last page.",
                data.len(),
                model,
                ids.join(", "),
            ),
        };
        let count = data.len();
        return Ok((summary, json!({"data": data, "next": next, "count": count})));
    }
    // The third try's limit was computed from the second's answer: one more at it would still
    // be a guess, so the caller is told to narrow the request.
    Err(ApiError::invalid(format!(
        "{tool}: the records are too large to answer within {MAX_RESULT_BYTES} bytes: ask for fewer `fields`, no `raw` or no `expand`, or a smaller `limit`"
    )))
}

async fn retrieve_tool(
    state: &AppState,
    caller: &McpCaller,
    model: &str,
    args: Value,
) -> ApiResult<(String, Value)> {
    let tool = format!("{model}_retrieve");
    let a: ReadArgs = parse_args(&tool, args)?;
    id_of(&tool, &a.id)?;
    let mut q = Vec::new();
    read_query(&mut q, &a.fields, &a.expand, a.raw);
    let v = crate::resources::retrieve(
        state.clone(),
        caller.resources_caller(),
        model,
        &a.id,
        Some(encode(&q)),
    )
    .await?;
    let summary = format!("The {} {}.", model, v["id"].as_str().unwrap_or(&a.id));
    Ok((summary, v))
}

async fn write_tool(
    state: &AppState,
    caller: &McpCaller,
    model: &str,
    op: Op,
    args: Value,
) -> ApiResult<(String, Value)> {
    let tool = format!("{model}_{}", op.as_str());
    let a: WriteArgs = parse_args(&tool, args)?;
    // The answer is the record itself: an agent wants to see what it made.
    let query = Some("returnResource=true".to_owned());
    let v = match (op, a.id) {
        (Op::Create, None) => {
            crate::resources::create(
                state.clone(),
                caller.resources_caller(),
                model,
                query,
                Value::Object(a.fields),
            )
            .await?
            .1
        }
        (Op::Update, Some(id)) => {
            id_of(&tool, &id)?;
            crate::resources::update(
                state.clone(),
                caller.resources_caller(),
                model,
                &id,
                query,
                Value::Object(a.fields),
            )
            .await?
        }
        (Op::Create, Some(_)) => {
            return Err(ApiError::invalid(format!(
                "{tool} takes no `id`: Dialpad assigns it"
            )))
        }
        _ => return Err(ApiError::invalid(format!("{tool}: `id` is required"))),
    };
    let id = v["id"].as_str().unwrap_or_default();
    let summary = match op {
        Op::Create => format!("Created {} {id}.", model),
        _ => format!("Updated {} {id}.", model),
    };
    Ok((summary, v))
}

async fn delete_tool(
    state: &AppState,
    caller: &McpCaller,
    model: &str,
    args: Value,
) -> ApiResult<(String, Value)> {
    let tool = format!("{model}_delete");
    let a: IdArgs = parse_args(&tool, args)?;
    id_of(&tool, &a.id)?;
    crate::resources::delete(state.clone(), caller.resources_caller(), model, &a.id).await?;
    Ok((
        format!("Deleted {} {}.", model, a.id),
        json!({"deleted": true, "model": model, "id": a.id}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_follow_mcp_rules() {
        for k in resource_kinds() {
            let name = k.name();
            assert!(name.len() <= 128);
            assert!(name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')));
            assert_eq!(ToolKind::parse(&name), Some(k));
        }
        assert_eq!(
            ToolKind::parse("action_sendSms"),
            Some(ToolKind::Action("sendSms".into()))
        );
        assert_eq!(ToolKind::parse("genericContact_frobnicate"), None);
        // Any other model name may be a custom model's: `call` checks it is declared.
        assert_eq!(
            ToolKind::parse("nothing_list"),
            Some(ToolKind::Custom("nothing".into(), Op::List))
        );
        assert_eq!(ToolKind::parse("_list"), None);
        assert_eq!(ToolKind::parse("action_"), None);
    }

    #[test]
    fn unsupported_operations_have_no_tool() {
        let names: Vec<String> = resource_kinds().iter().map(ToolKind::name).collect();
        assert!(names.contains(&"genericContact_delete".to_owned()));
        assert!(!names.contains(&"telephonyCall_delete".to_owned()));
        assert!(!names.contains(&"telephonyCallTranscript_create".to_owned()));
    }

    #[test]
    fn every_tool_schema_stands_alone() {
        for k in resource_kinds() {
            let ToolKind::Resource(m, op) = k else {
                continue;
            };
            let t = resource_tool(m, op);
            for s in [Some(&t.input_schema), t.output_schema.as_ref()]
                .into_iter()
                .flatten()
            {
                assert_eq!(s["type"], "object", "{}", t.name);
                let text = serde_json::to_string(&**s).unwrap();
                assert!(!text.contains("#/components/"), "{}", t.name);
            }
        }
    }
}
