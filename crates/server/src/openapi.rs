//! The OpenAPI 3.1 document of the connector API (`GET /openapi.json`, `dialpad-connector
//! openapi`, the committed `openapi.json`), derived with utoipa from the code's types: the
//! response structs of the handlers (`connections::ConnectionObject`, `error::ErrorBody`, …), the
//! unified models of `dpc_core::models` and `ErrorCode::ALL`.
//!
//! The operations are declared here, on stubs named after the handlers, rather than on the
//! handlers themselves: the key and session twins of the resources routes share one handler body
//! each, and the resources module changes often. The tests keep the two honest: every answer
//! any of them gets from the server is validated against this document (`tests/shared/
//! checked.rs`), `tests/it/openapi.rs` calls every route of the router and checks that every
//! documented route exists.

#![allow(dead_code)]

use serde_json::{json, Map, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::authorization::{AuthorizationStatus, AuthorizeBody, ConnectionAuthorization};
use crate::connections::{
    ApiKeyBody, ConnectionBody, ConnectionList, ConnectionObject, ConnectionStatusSchema,
    ConnectorObject, DeletedConnection, OperationsBody, SessionBody, SessionConnection,
    SessionObject,
};
use crate::error::ErrorBody;
use dpc_core::mapping::FieldMapping;
use dpc_core::models::{
    call, contact, transcript, user, workspace, FieldDescription, FieldError, Filter, FilterKind,
    Model, ModelDescription, ModelOperations, OperationSupport, ResourceRef,
};
use dpc_core::read::Warning;
use dpc_core::ErrorCode;

/// The document as JSON (what every consumer gets).
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    finish(&mut doc);
    doc
}

/// The document as the committed `openapi.json` holds it (pretty, with a final newline).
pub fn document_text() -> String {
    let mut s = serde_json::to_string_pretty(&document()).unwrap_or_default();
    s.push('\n');
    s
}

/// `GET /openapi.json`.
pub async fn serve() -> axum::Json<Value> {
    axum::Json(document())
}

// Schema-only types: answers the resources handlers build as JSON.

/// A unified resource of any model (an expanded reference is one too).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct Resource {
    /// Always `resource`.
    object: String,
    /// The model's API name, e.g. `genericContact`.
    model: String,
    id: String,
    /// The model's fields (see the model's own resource schema); only those asked for with
    /// `fields=a,b`; keys added by the connection's field mappings too.
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
    /// ISO-8601; from Dialpad, or when the connector first saw the record.
    #[schema(required = true)]
    created_at: Option<String>,
    #[schema(required = true)]
    updated_at: Option<String>,
    /// Dialpad's record as received (`raw=true`).
    #[schema(value_type = Option<Object>)]
    raw_resource: Option<Value>,
    /// What could not be mapped (the field is left out, the record kept).
    warnings: Option<Vec<Warning>>,
}

/// A page of a resources list.
#[derive(ToSchema)]
struct ResourcePage {
    #[schema(value_type = Vec<AnyModelResource>)]
    data: Vec<Value>,
    /// The signed cursor of the next page; `null` on the last one.
    next: Option<String>,
}

/// A resource of one of the models (`oneOf` the model resources, told apart by `model`; a
/// custom model's is `CustomResource`).
struct AnyModelResource;

impl utoipa::PartialSchema for AnyModelResource {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let mut one = utoipa::openapi::schema::OneOfBuilder::new();
        for m in Model::ALL {
            one = one.item(utoipa::openapi::Ref::from_schema_name(
                resource_schema_name(m),
            ));
        }
        one.item(utoipa::openapi::Ref::from_schema_name("CustomResource"))
            .into()
    }
}
impl ToSchema for AnyModelResource {}

/// A resource of a custom model (`DPC_CUSTOM_MODELS`): its `fields` are the model's declared
/// ones (`GET /v1/models/{model}/fields`). Completed in [`finish`].
struct CustomResource;

impl utoipa::PartialSchema for CustomResource {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::Object::new().into()
    }
}
impl ToSchema for CustomResource {}

/// What create and update answer without `returnResource=true`.
#[derive(ToSchema)]
struct CreatedRef {
    /// Always `resourceRef`.
    object: String,
    model: String,
    id: String,
    remote: RemoteId,
}

#[derive(ToSchema)]
struct RemoteId {
    /// Dialpad's id.
    id: String,
}

/// The answer of a create or update: the reference, or the resource (`returnResource=true`).
struct WriteAnswer;

impl utoipa::PartialSchema for WriteAnswer {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(utoipa::openapi::Ref::from_schema_name("CreatedRef"))
            .item(utoipa::openapi::Ref::from_schema_name("AnyModelResource"))
            .into()
    }
}
impl ToSchema for WriteAnswer {}

/// Any action's output (`anyOf` the actions' output types; which one is the path's action's,
/// its `outputSchema` in `GET /v1/actions`).
pub struct AnyActionOutput;

impl utoipa::PartialSchema for AnyActionOutput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        action_union(|names| names.1)
    }
}
impl ToSchema for AnyActionOutput {}

/// Any action's input (`anyOf` the actions' input types; which one is the path's action's).
struct AnyActionInput;

impl utoipa::PartialSchema for AnyActionInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        action_union(|names| names.0)
    }
}
impl ToSchema for AnyActionInput {}

fn action_union(
    pick: fn((String, String)) -> String,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let mut names: Vec<String> = dpc_core::actions::catalog()
        .iter()
        .filter_map(|a| dpc_core::actions::schema_names(a.id).map(pick))
        .collect();
    names.sort();
    names.dedup();
    let mut any = utoipa::openapi::schema::AnyOfBuilder::new();
    for n in names {
        any = any.item(utoipa::openapi::Ref::from_schema_name(n));
    }
    any.into()
}

/// The actions' input and output types (and the types they use) as components.
struct ActionSchemas;

impl Modify for ActionSchemas {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        for (name, schema) in dpc_core::actions::components() {
            c.schemas.entry(name).or_insert(schema);
        }
    }
}

/// An empty object (`{}`): what a delete answers.
#[derive(ToSchema)]
struct Empty {}

/// A page of `GET /v1/models/{model}/fields`.
#[derive(ToSchema)]
struct FieldsPage {
    data: Vec<FieldDescription>,
    next: Option<String>,
}

/// A connection's field mappings of one model.
#[derive(serde::Serialize, ToSchema)]
pub struct FieldMappings {
    /// Always `fieldMappings`.
    pub object: &'static str,
    pub model: &'static str,
    pub mappings: Vec<FieldMapping>,
}

/// The body of `PUT …/field-mappings/{model}`.
#[derive(ToSchema)]
struct FieldMappingsBody {
    /// At most 50; replaces the model's mappings.
    mappings: Vec<FieldMapping>,
}

/// A create body: the model's own (`anyOf` the models' write schemas; which one is the path's
/// `{model}`), plus the written keys of the connection's field mappings.
struct CreateBody;

impl utoipa::PartialSchema for CreateBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        write_body(Write::Create)
    }
}
impl ToSchema for CreateBody {}

/// An update body: the model's own, as [`CreateBody`].
struct UpdateBody;

impl utoipa::PartialSchema for UpdateBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        write_body(Write::Update)
    }
}
impl ToSchema for UpdateBody {}

/// A custom model's write body: its declared writable fields.
#[derive(ToSchema)]
struct CustomWrite {}

#[derive(Clone, Copy, PartialEq)]
enum Write {
    Create,
    Update,
}

/// The component name of `m`'s write body (`None`: the model has no such write).
fn write_schema_name(m: Model, w: Write) -> Option<String> {
    Some(
        match (m, w) {
            (Model::Contact, _) => <contact::ContactWrite as ToSchema>::name(),
            (Model::User, _) => <user::UserWrite as ToSchema>::name(),
            (Model::Workspace, _) => <workspace::WorkspaceWrite as ToSchema>::name(),
            (Model::Call, Write::Create) => <call::CallCreate as ToSchema>::name(),
            (Model::Call, Write::Update) => <call::CallUpdate as ToSchema>::name(),
            (Model::Transcript, _) => return None,
        }
        .into_owned(),
    )
}

fn write_body(w: Write) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let mut any = utoipa::openapi::schema::AnyOfBuilder::new();
    for m in Model::ALL {
        if let Some(name) = write_schema_name(m, w) {
            any = any.item(utoipa::openapi::Ref::from_schema_name(name));
        }
    }
    any.item(utoipa::openapi::Ref::from_schema_name("CustomWrite"))
        .description(Some(
            "The path's model's write body (`genericContact`: `ContactWrite`, …), plus the \
             written keys of the connection's field mappings",
        ))
        .into()
}

#[derive(ToSchema)]
struct Health {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    status: String,
}

/// Dialpad's answer through the proxy, status, content type and body unchanged. Completed in
/// [`finish`]: anything but an object with a text `error` (that is the connector's own
/// [`ErrorBody`]).
struct DialpadAnswer;

impl utoipa::PartialSchema for DialpadAnswer {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::Object::new().into()
    }
}
impl ToSchema for DialpadAnswer {}

/// The schema of each model's `fields`, by model (the component names of the core's structs).
fn fields_schema_name(m: Model) -> String {
    match m {
        Model::Contact => <contact::Contact as ToSchema>::name(),
        Model::User => <user::User as ToSchema>::name(),
        Model::Workspace => <workspace::Workspace as ToSchema>::name(),
        Model::Call => <call::Call as ToSchema>::name(),
        Model::Transcript => <transcript::Transcript as ToSchema>::name(),
    }
    .into_owned()
}

fn resource_schema_name(m: Model) -> String {
    format!("{}Resource", fields_schema_name(m))
}

/// `object` of each object schema: always this text.
const OBJECT_CONSTS: &[(&str, &str)] = &[
    ("Connection", "connection"),
    ("DeletedConnection", "connection"),
    ("ConnectionList", "list"),
    ("Connector", "connector"),
    ("Session", "session"),
    ("ConnectionAuthorization", "connectionAuthorization"),
    ("Resource", "resource"),
    ("ResourceRef", "resourceRef"),
    ("CreatedRef", "resourceRef"),
    ("FieldDescription", "field"),
    ("FieldMappings", "fieldMappings"),
    ("ActionResult", "actionResult"),
];

/// What the derives cannot say, added to the generated document: `object` constants, one
/// resource schema per model, optional `fields` keys (`fields=a,b` keeps only some), and the
/// error answers every route may give.
/// OpenAPI 3.1's `webhooks`: the requests the connector sends to an app's endpoints, one per
/// event type (utoipa 5 has no webhooks section, so it is written here). The body is
/// `dpc_core::events::WebhookBody`; the headers are Standard Webhooks'.
fn webhooks(doc: &mut Value) {
    doc["components"]["schemas"]["WebhookEvent"] = json!({
        "description": "The body of an event delivery (Standard Webhooks: verify `webhook-signature` over `webhook-id.webhook-timestamp.body` with the endpoint's `whsec_` secret).",
        "type": "object",
        "required": ["event", "connectorId", "ownerId", "data", "source", "occurredAt"],
        "properties": {
            "event": {"type": "string", "enum": crate::webhooks::EVENT_TYPES},
            "connectorId": {"type": "string"},
            "ownerId": {"type": "string", "description": "The connection's owner."},
            "data": {"$ref": "#/components/schemas/Resource"},
            "source": {"type": "string", "enum": ["dialpad", "poll"], "description": "`dialpad` (Dialpad's event) or `poll` (a change the connector found by polling)."},
            "occurredAt": {"type": "string", "format": "date-time"},
        },
    });
    let header = |name: &str, description: &str| json!({"name": name, "in": "header", "required": true, "description": description, "schema": {"type": "string"}});
    let mut hooks = serde_json::Map::new();
    for event in crate::webhooks::EVENT_TYPES {
        hooks.insert(
            (*event).to_owned(),
            json!({"post": {
                "summary": format!("`{event}` delivered to a webhook endpoint subscribed to it"),
                "tags": ["events"],
                "parameters": [
                    header("webhook-id", "The event id (`evt_…`): the same on every retry; deduplicate on it."),
                    header("webhook-timestamp", "Seconds since the epoch when this attempt was signed."),
                    header("webhook-signature", "Space-separated `v1,<base64 HMAC-SHA256>`, one per active secret (two for 24 h after a rotation)."),
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"allOf": [
                    {"$ref": "#/components/schemas/WebhookEvent"},
                    {"type": "object", "properties": {"event": {"const": event}}},
                ]}}}},
                "responses": {
                    "2XX": {"description": "Received: the delivery is settled."},
                    "410": {"description": "Gone: the endpoint is disabled, no further deliveries."},
                    "default": {"description": "Anything else (or no answer in time) is retried on the schedule, honouring `Retry-After`."},
                },
            }}),
        );
    }
    doc["webhooks"] = Value::Object(hooks);
}

fn finish(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    for (name, text) in OBJECT_CONSTS {
        if let Some(p) = schemas[*name]["properties"].get_mut("object") {
            *p = json!({"type": "string", "const": text});
        }
    }
    schemas["CustomResource"] = json!({
        "description": "A resource of a custom model (`DPC_CUSTOM_MODELS`): `fields` are the model's declared ones (`GET /v1/models/{model}/fields`).",
        "allOf": [
            {"$ref": "#/components/schemas/Resource"},
            {"type": "object", "properties": {
                "model": {"type": "string", "not": {"enum": Model::ALL.map(Model::as_str)}},
            }},
        ],
    });
    webhooks(doc);
    let schemas = &mut doc["components"]["schemas"];
    schemas["DialpadAnswer"] = json!({
        "description": "Dialpad's answer, unchanged: anything but an object with a text `error` (that is the connector's own `Error`).",
        "not": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    });
    schemas["ProxyError"] = json!({
        "description": "The connector's own error, or Dialpad's answer with this status, unchanged.",
        "oneOf": [
            {"$ref": "#/components/schemas/Error"},
            {"$ref": "#/components/schemas/DialpadAnswer"},
        ],
    });
    // A write body takes the connection's written field mappings too: not closed.
    for name in Model::ALL
        .into_iter()
        .flat_map(|m| [Write::Create, Write::Update].map(|w| write_schema_name(m, w)))
        .flatten()
    {
        if let Some(s) = schemas[name.as_str()].as_object_mut() {
            s.remove("additionalProperties");
        }
    }
    for m in Model::ALL {
        let fields = fields_schema_name(m);
        if let Some(s) = schemas[fields.as_str()].as_object_mut() {
            s.remove("required");
        }
        schemas[resource_schema_name(m)] = json!({
            "description": format!("A `{}` resource.", m.as_str()),
            "allOf": [
                {"$ref": "#/components/schemas/Resource"},
                {"type": "object", "properties": {
                    "model": {"type": "string", "const": m.as_str()},
                    "fields": {"$ref": format!("#/components/schemas/{fields}")},
                }},
            ],
        });
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Some(responses) = op["responses"].as_object_mut() else {
                continue;
            };
            let mut common: Vec<(&str, &str)> = vec![
                ("500", "Internal error (`SERVER::INTERNAL`)"),
                ("504", "The request timeout elapsed (`SERVER::TIMEOUT`)"),
            ];
            if path.starts_with("/v1/") {
                common.push(("400", "Malformed request (`REQUEST::INVALID`)"));
                common.push(("401", "Missing or invalid credentials"));
            }
            if matches!(method.as_str(), "post" | "put" | "patch") {
                common.push((
                    "408",
                    "The request body stopped arriving (`REQUEST::TIMEOUT`)",
                ));
                common.push((
                    "413",
                    "The request body is over 1 MiB (`REQUEST::TOO_LARGE`)",
                ));
            }
            for (status, description) in common {
                responses.entry(status).or_insert_with(|| {
                    json!({
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    })
                });
            }
            if path.starts_with("/v1/proxy/") {
                proxy_responses(responses);
            }
        }
    }
}

/// The proxy answers whatever Dialpad does: at a status of the connector's own errors, the
/// error or Dialpad's answer; at any other, Dialpad's; of any content type.
fn proxy_responses(responses: &mut Map<String, Value>) {
    for (status, r) in responses.iter_mut() {
        let schema = if status.starts_with('2') {
            "DialpadAnswer"
        } else {
            "ProxyError"
        };
        r["content"] = json!({
            "application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}},
            "*/*": {},
        });
    }
    responses.insert(
        "default".into(),
        json!({
            "description": "Dialpad's answer with any other status, unchanged",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/DialpadAnswer"}},
                "*/*": {},
            },
        }),
    );
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "apiSecret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-secret",
                "The app's secret key, `sk_…` (`dialpad-connector keys create`)",
            ))),
        );
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`Authorization: Bearer sk_…`, the secret key"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "metricsToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <DPC_METRICS_TOKEN>`, on `/metrics` when that setting is set",
                    ))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "sessionBearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <session token>`, on `/v1/mcp` (MCP clients set one bearer header most easily)",
                    ))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "sessionToken",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-session-token",
                "A session token (`POST /v1/connections/{c}/{o}/sessions`), on `/v1/s/…`",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Dialpad connector API",
        description = "The open-source Dialpad connector: connections, authorization, unified resources (Morph-compatible) and the Dialpad proxy. Every error answers `{error, message, details?}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&Security, &ActionSchemas),
    paths(
        healthz, readyz, openapi_json, metrics,
        connections_list, connections_create, connections_retrieve, connections_update,
        connections_delete, connections_authorize, connections_create_session,
        connections_put_api_key, field_mappings_get, field_mappings_put, field_mappings_delete,
        session_connection_retrieve, session_connection_delete, session_authorize,
        session_connector, connector,
        key_fields, session_fields,
        key_list, key_create, key_retrieve, key_update, key_delete,
        session_list, session_create, session_retrieve, session_update, session_delete,
        proxy_get, proxy_post, proxy_put, proxy_patch, proxy_delete, proxy_head,
        connect_page, connect_start, oauth_callback,
        endpoints_list, endpoints_create, endpoints_retrieve, endpoints_update, endpoints_delete,
        endpoints_rotate, endpoints_attempts, endpoints_replay,
        events_list, events_retrieve, events_replay, dialpad_hook, connections_events_intake,
        connections_events_intake_update,
        actions_list, actions_run, session_actions_list, session_actions_run,
        mcp_post, mcp_get, session_mcp,
    ),
    components(schemas(
        ErrorBody, ErrorCode, ConnectionObject, ConnectionStatusSchema, DeletedConnection,
        ConnectionList, ConnectorObject, ModelDescription, ModelOperations, OperationSupport,
        Filter, FilterKind, SessionObject, SessionConnection, ConnectionBody, OperationsBody,
        SessionBody, ApiKeyBody, AuthorizeBody, ConnectionAuthorization, AuthorizationStatus,
        FieldMapping, FieldMappings, FieldMappingsBody, FieldDescription, FieldsPage, FieldError,
        Resource, ResourceRef, dpc_core::models::ExpandableRef, Warning, ResourcePage,
        AnyModelResource, CustomResource, CreatedRef, RemoteId, WriteAnswer, CreateBody,
        UpdateBody, CustomWrite, contact::ContactWrite, user::UserWrite,
        workspace::WorkspaceWrite, call::CallCreate, call::CallUpdate, JsonRpcMessage, JsonRpcError, JsonRpcErrorObject, McpBadRequest,
        crate::mcp::McpInfo, crate::mcp::McpAuth,
        dpc_core::models::RefInput, dpc_core::models::IdInput, Empty, Health, DialpadAnswer,
        contact::Contact, user::User, workspace::Workspace, workspace::Company,
        call::Call, call::Recording, transcript::Transcript, transcript::Segment,
        transcript::Speaker, transcript::Moment, transcript::Recap,
        EndpointObject, EndpointList, EndpointCreate, EndpointUpdate, EndpointReplay,
        AttemptObject, AttemptList, ReplayAnswer, EventObject, EventList, DeliveryObject,
        crate::intake::hook::HookAnswer,
        crate::intake::subscriptions::EventsIntakeObject,
        crate::intake::subscriptions::PollObject,
        crate::intake::subscriptions::EventsIntakeUpdate,
        crate::intake::subscriptions::RemoteSubscription,
        crate::actions::ActionObject, crate::actions::ActionList, crate::actions::ActionResult,
        AnyActionOutput, AnyActionInput,
    )),
    tags(
        (name = "connections", description = "Connections, sessions and authorization"),
        (name = "resources", description = "Unified resources (`/v1/s/…`: the session twins)"),
        (name = "proxy", description = "Any Dialpad endpoint with the connection's credentials"),
        (name = "actions", description = "Things to do at Dialpad (send an SMS, hang up or transfer a call, screen pops, channels), typed, permission-checked and retry-safe (`/v1/s/…`: the session twins)"),
        (name = "operations", description = "Health, metrics and this document"),
        (name = "events", description = "Webhook endpoints, the event log and replay"),
        (name = "browser", description = "Pages a customer's browser opens (HTML), not API calls: the hosted connect page and the OAuth callback"),
    ),
)]
struct ApiDoc;

// The operations. Path parameters are documented once per stub.

#[utoipa::path(get, path = "/v1/actions", tag = "actions",
    params(("x-connector-id" = Option<String>, Header, description = "With `x-owner-id`: say per action whether this connection may run it"),
           ("x-owner-id" = Option<String>, Header)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Every action with its input and output JSON Schemas (`permitted` only with a connection)", body = crate::actions::ActionList),
        (status = 404, description = "`CONNECTION::NOT_FOUND` (connection headers naming none)", body = ErrorBody)))]
fn actions_list() {}

#[utoipa::path(post, path = "/v1/actions/{actionId}", tag = "actions",
    params(("actionId" = String, Path, description = "e.g. `sendSms`"),
           ("x-connector-id" = String, Header), ("x-owner-id" = String, Header),
           ("Idempotency-Key" = Option<String>, Header, description = "On an action that changes something: a retry with the same key and body answers the first result again (for 24 h, header `Idempotent-Replayed: true`) without calling Dialpad")),
    request_body(content = AnyActionInput, description = "The action's input (its `inputSchema`)"),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Done; `output` is the action's", body = crate::actions::ActionResult),
        (status = 403, description = "`CONNECTION::MISSING_PERMISSION` (details: operation, missingScopes, authorizationUrl), `UPSTREAM::FORBIDDEN`", body = ErrorBody),
        (status = 404, description = "`ACTION::NOT_FOUND`, `CONNECTION::NOT_FOUND`, `RESOURCE::NOT_FOUND` (Dialpad has no such call, channel, …)", body = ErrorBody),
        (status = 409, description = "`REQUEST::IDEMPOTENCY_CONFLICT` (the key was used with another body), `REQUEST::IDEMPOTENCY_IN_PROGRESS`, `CONNECTION::NOT_AUTHORIZED`, `RESOURCE::CONFLICT`", body = ErrorBody),
        (status = 422, description = "`RESOURCE::VALIDATION_FAILED`: every failing path in `details.fields`", body = ErrorBody),
        (status = 429, description = "`UPSTREAM::RATE_LIMITED` (details: retryAfter)", body = ErrorBody),
        (status = 502, description = "`UPSTREAM::UNAVAILABLE`, `UPSTREAM::ERROR`", body = ErrorBody)))]
fn actions_run() {}

#[utoipa::path(get, path = "/v1/s/actions", tag = "actions",
    security(("sessionToken" = [])),
    responses((status = 200, description = "Every action, with whether the session's connection may run it", body = crate::actions::ActionList)))]
fn session_actions_list() {}

#[utoipa::path(post, path = "/v1/s/actions/{actionId}", tag = "actions",
    params(("actionId" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "As on `/v1/actions/{actionId}`")),
    request_body(content = AnyActionInput, description = "The action's input (its `inputSchema`)"),
    security(("sessionToken" = [])),
    responses(
        (status = 200, description = "Done", body = crate::actions::ActionResult),
        (status = 403, description = "`CONNECTION::MISSING_PERMISSION`, `UPSTREAM::FORBIDDEN`", body = ErrorBody),
        (status = 404, description = "`ACTION::NOT_FOUND`, `RESOURCE::NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`REQUEST::IDEMPOTENCY_CONFLICT`, `REQUEST::IDEMPOTENCY_IN_PROGRESS`, `CONNECTION::NOT_AUTHORIZED`", body = ErrorBody),
        (status = 422, description = "`RESOURCE::VALIDATION_FAILED`", body = ErrorBody),
        (status = 429, description = "`UPSTREAM::RATE_LIMITED`", body = ErrorBody),
        (status = 502, description = "`UPSTREAM::UNAVAILABLE`", body = ErrorBody)))]
fn session_actions_run() {}

use crate::webhooks::endpoints::{
    AttemptList, AttemptObject, EndpointCreate, EndpointList, EndpointObject, EndpointReplay,
    EndpointUpdate, ReplayAnswer,
};
use crate::webhooks::log::{DeliveryObject, EventList, EventObject};

#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "events",
    params(("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "1 to 100, default 50")),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of endpoints (secrets are not listed)", body = EndpointList),
        (status = 400, description = "`REQUEST::INVALID` (limit, cursor)", body = ErrorBody)))]
fn endpoints_list() {}

#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "events",
    request_body(content = EndpointCreate),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Created; `secret` is answered this once", body = EndpointObject),
        (status = 400, description = "`REQUEST::INVALID` (malformed JSON, unknown field)", body = ErrorBody),
        (status = 409, description = "`REQUEST::LIMIT_REACHED` (`DPC_WEBHOOKS_MAX_ENDPOINTS` endpoints exist)", body = ErrorBody),
        (status = 422, description = "`RESOURCE::VALIDATION_FAILED` (a private URL, an unknown event type)", body = ErrorBody)))]
fn endpoints_create() {}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}", tag = "events",
    params(("id" = String, Path)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint", body = EndpointObject),
        (status = 404, description = "`RESOURCE::NOT_FOUND`", body = ErrorBody)))]
fn endpoints_retrieve() {}

#[utoipa::path(patch, path = "/v1/webhook-endpoints/{id}", tag = "events",
    params(("id" = String, Path)),
    request_body(content = EndpointUpdate),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The updated endpoint", body = EndpointObject),
        (status = 400, description = "`REQUEST::INVALID`", body = ErrorBody),
        (status = 404, description = "`RESOURCE::NOT_FOUND`", body = ErrorBody),
        (status = 422, description = "`RESOURCE::VALIDATION_FAILED`", body = ErrorBody)))]
fn endpoints_update() {}

#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", tag = "events",
    params(("id" = String, Path)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Deleted, with its deliveries"),
        (status = 404, description = "`RESOURCE::NOT_FOUND`", body = ErrorBody)))]
fn endpoints_delete() {}

#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/rotate-secret", tag = "events",
    params(("id" = String, Path)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The new `secret`; the old one signs beside it for 24 h", body = EndpointObject),
        (status = 404, description = "`RESOURCE::NOT_FOUND`", body = ErrorBody)))]
fn endpoints_rotate() {}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/attempts", tag = "events",
    params(("id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Delivery attempts, newest first", body = AttemptList),
        (status = 400, description = "`REQUEST::INVALID`", body = ErrorBody),
        (status = 404, description = "`RESOURCE::NOT_FOUND`", body = ErrorBody)))]
fn endpoints_attempts() {}

#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/replay", tag = "events",
    params(("id" = String, Path)),
    request_body(content = EndpointReplay, description = "May be empty"),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 202, description = "The failed deliveries since `since`, due again now", body = ReplayAnswer),
        (status = 400, description = "`REQUEST::INVALID`", body = ErrorBody),
        (status = 404, description = "`RESOURCE::NOT_FOUND`", body = ErrorBody),
        (status = 422, description = "`RESOURCE::VALIDATION_FAILED`", body = ErrorBody)))]
fn endpoints_replay() {}

#[utoipa::path(post, path = "/v1/hooks/dialpad/{routeToken}", tag = "events",
    params(("routeToken" = String, Path, description = "The connection's hook token (given to Dialpad)")),
    request_body(content = String, description = "Dialpad's HS256 event token, any content type"),
    responses(
        (status = 202, description = "Verified and stored", body = crate::intake::hook::HookAnswer),
        (status = 200, description = "Seen before; not stored again", body = crate::intake::hook::HookAnswer),
        (status = 401, description = "`EVENT::REJECTED` (forged, wrong secret, `alg: none`, malformed, unknown route)", body = ErrorBody),
        (status = 413, description = "`REQUEST::TOO_LARGE`", body = ErrorBody),
        (status = 503, description = "`SERVER::NOT_READY`: not stored; Dialpad retries", body = ErrorBody)))]
fn dialpad_hook() {}

#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query),
        ("event" = Option<String>, Query, description = "An event type"),
        ("ownerId" = Option<String>, Query),
        ("since" = Option<String>, Query, description = "ISO-8601; by occurrence"),
        ("until" = Option<String>, Query, description = "ISO-8601, exclusive"),
        ("status" = Option<String>, Query, description = "pending, delivered, failed or none")),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Events, newest first", body = EventList),
        (status = 400, description = "`REQUEST::INVALID`", body = ErrorBody)))]
fn events_list() {}

#[utoipa::path(get, path = "/v1/events/{id}", tag = "events",
    params(("id" = String, Path)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The event with its deliveries and attempts", body = EventObject),
        (status = 404, description = "`RESOURCE::NOT_FOUND`", body = ErrorBody)))]
fn events_retrieve() {}

#[utoipa::path(post, path = "/v1/events/{id}/replay", tag = "events",
    params(("id" = String, Path)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 202, description = "Sent again, with the same `webhook-id`", body = ReplayAnswer),
        (status = 404, description = "`RESOURCE::NOT_FOUND`", body = ErrorBody)))]
fn events_replay() {}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)))]
fn healthz() {}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "The database is reachable", body = Health),
    (status = 503, description = "`SERVER::NOT_READY`", body = ErrorBody)))]
fn readyz() {}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object)))]
fn openapi_json() {}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    description = "Prometheus metrics in the text exposition format 0.0.4: HTTP requests by route template, method and status; Dialpad calls by operation (path template) and status (`none`: no answer), 429s included; events received, verified, rejected, deduplicated, delivered, failed, retried and dead-lettered; the outbox gauges when the store provides them. No authentication unless `DPC_METRICS_TOKEN` is set.",
    security((), ("metricsToken" = [])),
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain"),
        (status = 401, description = "`AUTH::INVALID_METRICS_TOKEN` (only with `DPC_METRICS_TOKEN` set)", body = ErrorBody)))]
fn metrics() {}

#[utoipa::path(get, path = "/v1/connections", tag = "connections",
    params(crate::connections::ListQuery),
    security(("apiSecret" = []), ("bearer" = [])),
    responses((status = 200, description = "A page of connections", body = ConnectionList)))]
fn connections_list() {}

#[utoipa::path(post, path = "/v1/connections/{connectorId}/{ownerId}", tag = "connections",
    params(("connectorId" = String, Path, description = "Always `dialpad`"),
           ("ownerId" = String, Path, description = "Your customer's id, 1 to 255 bytes")),
    request_body(content = ConnectionBody, description = "May be empty"),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = ConnectionObject),
        (status = 404, description = "`CONNECTOR::NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`CONNECTION::ALREADY_EXISTS`", body = ErrorBody)))]
fn connections_create() {}

#[utoipa::path(get, path = "/v1/connections/{connectorId}/{ownerId}", tag = "connections",
    params(("connectorId" = String, Path), ("ownerId" = String, Path)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The connection", body = ConnectionObject),
        (status = 404, description = "`CONNECTION::NOT_FOUND`, `CONNECTOR::NOT_FOUND`", body = ErrorBody)))]
fn connections_retrieve() {}

#[utoipa::path(get, path = "/v1/connections/{connectorId}/{ownerId}/events-intake", tag = "events",
    params(("connectorId" = String, Path), ("ownerId" = String, Path)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Where the connection's Dialpad events arrive and what is subscribed at Dialpad (`status: none` until an enabled endpoint wants its events); never the route token or the secret", body = crate::intake::subscriptions::EventsIntakeObject),
        (status = 404, description = "`CONNECTION::NOT_FOUND`, `CONNECTOR::NOT_FOUND`", body = ErrorBody)))]
fn connections_events_intake() {}

#[utoipa::path(patch, path = "/v1/connections/{connectorId}/{ownerId}/events-intake", tag = "events",
    params(("connectorId" = String, Path), ("ownerId" = String, Path)),
    request_body(content = crate::intake::subscriptions::EventsIntakeUpdate, description = "The connection's poll interval for users and workspaces"),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The intake with the polls, the new interval in force", body = crate::intake::subscriptions::EventsIntakeObject),
        (status = 400, description = "`REQUEST::INVALID` (malformed JSON, an unknown field, a wrong type, `pollIntervalMs` left out)", body = ErrorBody),
        (status = 404, description = "`CONNECTION::NOT_FOUND`, `CONNECTOR::NOT_FOUND`", body = ErrorBody),
        (status = 422, description = "`RESOURCE::VALIDATION_FAILED` (an interval out of range)", body = ErrorBody)))]
fn connections_events_intake_update() {}

#[utoipa::path(patch, path = "/v1/connections/{connectorId}/{ownerId}", tag = "connections",
    params(("connectorId" = String, Path), ("ownerId" = String, Path)),
    request_body(content = ConnectionBody, description = "The new operations"),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The updated connection", body = ConnectionObject),
        (status = 404, description = "`CONNECTION::NOT_FOUND`, `CONNECTOR::NOT_FOUND`", body = ErrorBody)))]
fn connections_update() {}

#[utoipa::path(delete, path = "/v1/connections/{connectorId}/{ownerId}", tag = "connections",
    params(("connectorId" = String, Path), ("ownerId" = String, Path)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Deleted (deauthorized at Dialpad in the background)", body = DeletedConnection),
        (status = 404, description = "`CONNECTION::NOT_FOUND`, `CONNECTOR::NOT_FOUND`", body = ErrorBody)))]
fn connections_delete() {}

#[utoipa::path(post, path = "/v1/connections/{connectorId}/{ownerId}/authorization", tag = "connections",
    params(("connectorId" = String, Path), ("ownerId" = String, Path), crate::authorization::AuthorizeQuery),
    request_body(content = AuthorizeBody, description = "May be empty"),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Authorized already, or where to send the customer", body = ConnectionAuthorization),
        (status = 404, description = "`CONNECTION::NOT_FOUND`, `CONNECTOR::NOT_FOUND`", body = ErrorBody)))]
fn connections_authorize() {}

#[utoipa::path(post, path = "/v1/connections/{connectorId}/{ownerId}/sessions", tag = "connections",
    params(("connectorId" = String, Path), ("ownerId" = String, Path)),
    request_body(content = SessionBody, description = "May be empty; creates the connection when missing"),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "The session", body = SessionObject),
        (status = 404, description = "`CONNECTOR::NOT_FOUND`", body = ErrorBody)))]
fn connections_create_session() {}

#[utoipa::path(put, path = "/v1/connections/{connectorId}/{ownerId}/api-key", tag = "connections",
    params(("connectorId" = String, Path), ("ownerId" = String, Path)),
    request_body(content = ApiKeyBody, description = "A Dialpad company or user API key"),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The connection, authorized with the key", body = ConnectionObject),
        (status = 404, description = "`CONNECTION::NOT_FOUND`", body = ErrorBody),
        (status = 502, description = "`UPSTREAM::UNAVAILABLE`", body = ErrorBody)))]
fn connections_put_api_key() {}

#[utoipa::path(get, path = "/v1/connections/{connectorId}/{ownerId}/field-mappings/{model}", tag = "connections",
    params(("connectorId" = String, Path), ("ownerId" = String, Path), ("model" = String, Path)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The model's mappings (none: empty)", body = FieldMappings),
        (status = 404, description = "`CONNECTION::NOT_FOUND`, `RESOURCE::MODEL_NOT_FOUND`", body = ErrorBody)))]
fn field_mappings_get() {}

#[utoipa::path(put, path = "/v1/connections/{connectorId}/{ownerId}/field-mappings/{model}", tag = "connections",
    params(("connectorId" = String, Path), ("ownerId" = String, Path), ("model" = String, Path)),
    request_body(content = FieldMappingsBody),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The mappings stored", body = FieldMappings),
        (status = 404, description = "`CONNECTION::NOT_FOUND`, `RESOURCE::MODEL_NOT_FOUND`", body = ErrorBody),
        (status = 422, description = "`RESOURCE::VALIDATION_FAILED` (`details.fields`)", body = ErrorBody)))]
fn field_mappings_put() {}

#[utoipa::path(delete, path = "/v1/connections/{connectorId}/{ownerId}/field-mappings/{model}", tag = "connections",
    params(("connectorId" = String, Path), ("ownerId" = String, Path), ("model" = String, Path)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Removed", body = Empty),
        (status = 404, description = "`CONNECTION::NOT_FOUND`, `RESOURCE::MODEL_NOT_FOUND`", body = ErrorBody)))]
fn field_mappings_delete() {}

#[utoipa::path(get, path = "/v1/s/connection", tag = "connections",
    security(("sessionToken" = [])),
    responses(
        (status = 200, description = "The session's connection", body = ConnectionObject),
        (status = 404, description = "`CONNECTION::NOT_FOUND`", body = ErrorBody)))]
fn session_connection_retrieve() {}

#[utoipa::path(delete, path = "/v1/s/connection", tag = "connections",
    security(("sessionToken" = [])),
    responses(
        (status = 200, description = "Deleted", body = DeletedConnection),
        (status = 404, description = "`CONNECTION::NOT_FOUND`", body = ErrorBody)))]
fn session_connection_delete() {}

#[utoipa::path(post, path = "/v1/s/connection/authorization", tag = "connections",
    params(crate::authorization::AuthorizeQuery),
    request_body(content = AuthorizeBody, description = "May be empty"),
    security(("sessionToken" = [])),
    responses(
        (status = 200, description = "Authorized already, or where to send the customer", body = ConnectionAuthorization),
        (status = 404, description = "`CONNECTION::NOT_FOUND`", body = ErrorBody)))]
fn session_authorize() {}

/// A JSON-RPC 2.0 message of MCP (a request, a notification, or the answer to one).
#[derive(ToSchema)]
#[schema(as = JsonRpcMessage)]
struct JsonRpcMessage {
    /// Always `2.0`.
    jsonrpc: String,
}

/// A JSON-RPC error answer without a readable request id: the body is not JSON (-32700), or
/// not one JSON-RPC request (-32600: a batch, a bare value, no `"jsonrpc": "2.0"`, an id
/// that is neither a string nor an integer).
#[derive(serde::Serialize, ToSchema)]
#[schema(as = JsonRpcError)]
struct JsonRpcError {
    /// Always `2.0`.
    jsonrpc: String,
    /// The request's id, or null when it could not be read.
    #[schema(value_type = Option<String>)]
    id: Option<Value>,
    error: JsonRpcErrorObject,
}

#[derive(serde::Serialize, ToSchema)]
struct JsonRpcErrorObject {
    /// JSON-RPC's code (-32700 parse error, -32600 invalid request, -32602 invalid params).
    code: i64,
    message: String,
    /// `{"error": "<our stable code>"}`.
    #[schema(value_type = Option<Object>)]
    data: Option<Value>,
}

/// A 400 of `/v1/mcp`: our error JSON (no connection headers, …) or a JSON-RPC error (the
/// message itself is not a JSON-RPC request).
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum McpBadRequest {
    Error(ErrorBody),
    JsonRpc(JsonRpcError),
}

#[utoipa::path(post, path = "/v1/mcp", tag = "mcp",
    description = "The MCP server (Streamable HTTP, stateless: no `Mcp-Session-Id`): POST one JSON-RPC message (`initialize`, `tools/list`, `tools/call`, …) with `Accept: application/json, text/event-stream`. The tools are the connection's granted operations, narrowed by the session's. Authenticated on every request: a session token (`x-session-token` or `Authorization: Bearer <session token>`) or the secret key with `x-connector-id` and `x-owner-id`; failures answer our error JSON before any MCP.",
    request_body(content = JsonRpcMessage, description = "One JSON-RPC message"),
    security(("sessionToken" = []), ("sessionBearer" = []), ("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The JSON-RPC answer (a result, or a JSON-RPC error such as an unknown tool); a tool's own failure is a result with `isError: true` and our error code", body = JsonRpcMessage),
        (status = 202, description = "A notification or response, accepted"),
        (status = 400, description = "Our error JSON (`REQUEST::INVALID`: no connection headers), or a JSON-RPC error with a null id: the body is not JSON (-32700) or not one JSON-RPC request (-32600; batches are not supported)", body = McpBadRequest),
        (status = 404, description = "`CONNECTION::NOT_FOUND`", body = ErrorBody),
        (status = 406, description = "`REQUEST::INVALID`: the `Accept` header admits neither JSON nor an event stream", body = ErrorBody),
        (status = 415, description = "`REQUEST::INVALID`: the body is not a JSON-RPC message in `application/json`", body = ErrorBody),
        (status = 422, description = "`REQUEST::INVALID`: the MCP transport cannot read the message", body = ErrorBody)))]
fn mcp_post() {}

#[utoipa::path(get, path = "/v1/mcp", tag = "mcp",
    description = "Without `Accept: text/event-stream`: how to point an MCP client here (no credentials needed). Asking for the event stream answers 405: this stateless server sends no server-initiated messages. (`DELETE`, ending a session, is 405 too: there are none.)",
    security(()),
    responses(
        (status = 200, description = "How to connect", body = crate::mcp::McpInfo),
        (status = 405, description = "`REQUEST::METHOD_NOT_ALLOWED`: no event stream", body = ErrorBody)))]
fn mcp_get() {}

#[utoipa::path(get, path = "/v1/s/mcp", tag = "mcp",
    description = "How to point an MCP client at `/v1/mcp`: its URL, the headers to send, and a client configuration (`mcpServers`).",
    security(("sessionToken" = [])),
    responses((status = 200, description = "How to connect", body = crate::mcp::McpInfo)))]
fn session_mcp() {}

#[utoipa::path(get, path = "/v1/s/connector", tag = "connections",
    security(("sessionToken" = [])),
    responses((status = 200, description = "The connector", body = ConnectorObject)))]
fn session_connector() {}

#[utoipa::path(get, path = "/v1/connectors/{connectorId}", tag = "connections",
    params(("connectorId" = String, Path, description = "Any value (Morph's SDK sends its own)")),
    security(("apiSecret" = []), ("bearer" = [])),
    responses((status = 200, description = "The connector: operations and models", body = ConnectorObject)))]
fn connector() {}

#[utoipa::path(get, path = "/v1/models/{model}/fields", tag = "resources",
    params(("model" = String, Path),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 50"),
        ("cursor" = Option<String>, Query), ("isCustom" = Option<bool>, Query)),
    security(("apiSecret" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The model's fields", body = FieldsPage),
        (status = 404, description = "`RESOURCE::MODEL_NOT_FOUND`", body = ErrorBody)))]
fn key_fields() {}

#[utoipa::path(get, path = "/v1/s/models/{model}/fields", tag = "resources",
    params(("model" = String, Path),
        ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query), ("isCustom" = Option<bool>, Query)),
    security(("sessionToken" = [])),
    responses(
        (status = 200, description = "The model's fields", body = FieldsPage),
        (status = 404, description = "`RESOURCE::MODEL_NOT_FOUND`", body = ErrorBody)))]
fn session_fields() {}

/// The resources routes' shared answers are spelled out per stub (utoipa takes literals).
macro_rules! resource_ops {
    ($prefix:literal, [$($sec:tt)*], $list:ident, $create:ident, $retrieve:ident, $update:ident, $delete:ident) => {
        #[utoipa::path(get, path = concat!($prefix, "/{model}"), tag = "resources",
            params(("model" = String, Path, description = "A model's API name (`GET /v1/connectors/dialpad` lists them)"),
                ("x-connector-id" = Option<String>, Header, description = "`dialpad` (secret-key routes)"),
                ("x-owner-id" = Option<String>, Header, description = "The connection's owner (secret-key routes)"),
                ("limit" = Option<u32>, Query, description = "1 to 100, default 50"),
                ("cursor" = Option<String>, Query), ("q" = Option<String>, Query, description = "Search"),
                ("filters" = Option<Object>, Query, style = DeepObject, explode, description = "`filters[name]=value`"),
                ("fields" = Option<String>, Query, description = "Comma-separated field keys"),
                ("expand" = Option<String>, Query, description = "Comma-separated reference fields"),
                ("raw" = Option<bool>, Query, description = "Add Dialpad's record (`rawResource`)")),
            security($($sec)*),
            responses(
                (status = 200, description = "A page of resources", body = ResourcePage),
                (status = 403, description = "`CONNECTION::MISSING_PERMISSION`, `UPSTREAM::FORBIDDEN`", body = ErrorBody),
                (status = 404, description = "`RESOURCE::MODEL_NOT_FOUND`, `CONNECTION::NOT_FOUND`", body = ErrorBody),
                (status = 409, description = "`CONNECTION::NOT_AUTHORIZED`", body = ErrorBody),
                (status = 429, description = "`UPSTREAM::RATE_LIMITED` (`Retry-After`)", body = ErrorBody),
                (status = 501, description = "`OPERATION::NOT_SUPPORTED` (a custom model without a list endpoint)", body = ErrorBody),
                (status = 502, description = "`UPSTREAM::UNAVAILABLE`, `UPSTREAM::ERROR`", body = ErrorBody)))]
        fn $list() {}

        #[utoipa::path(post, path = concat!($prefix, "/{model}"), tag = "resources",
            params(("model" = String, Path),
                ("x-connector-id" = Option<String>, Header), ("x-owner-id" = Option<String>, Header),
                ("returnResource" = Option<bool>, Query, description = "Answer the resource instead of its reference"),
                ("raw" = Option<bool>, Query)),
            request_body(content = CreateBody, description = "The model's fields (its write schema, e.g. `ContactWrite` for `genericContact`)"),
            security($($sec)*),
            responses(
                (status = 201, description = "Created", body = WriteAnswer),
                (status = 403, description = "`CONNECTION::MISSING_PERMISSION`, `UPSTREAM::FORBIDDEN`", body = ErrorBody),
                (status = 404, description = "`RESOURCE::MODEL_NOT_FOUND`, `CONNECTION::NOT_FOUND`", body = ErrorBody),
                (status = 409, description = "`CONNECTION::NOT_AUTHORIZED`, `RESOURCE::CONFLICT`", body = ErrorBody),
                (status = 422, description = "`RESOURCE::VALIDATION_FAILED` (`details.fields`)", body = ErrorBody),
                (status = 429, description = "`UPSTREAM::RATE_LIMITED`", body = ErrorBody),
                (status = 501, description = "`OPERATION::NOT_SUPPORTED`", body = ErrorBody),
                (status = 502, description = "`UPSTREAM::UNAVAILABLE`, `UPSTREAM::ERROR`", body = ErrorBody)))]
        fn $create() {}

        #[utoipa::path(get, path = concat!($prefix, "/{model}/{id}"), tag = "resources",
            params(("model" = String, Path), ("id" = String, Path),
                ("x-connector-id" = Option<String>, Header), ("x-owner-id" = Option<String>, Header),
                ("fields" = Option<String>, Query), ("expand" = Option<String>, Query), ("raw" = Option<bool>, Query)),
            security($($sec)*),
            responses(
                (status = 200, description = "The resource", body = AnyModelResource),
                (status = 403, description = "`CONNECTION::MISSING_PERMISSION`, `UPSTREAM::FORBIDDEN`", body = ErrorBody),
                (status = 404, description = "`RESOURCE::NOT_FOUND`, `RESOURCE::MODEL_NOT_FOUND`", body = ErrorBody),
                (status = 409, description = "`CONNECTION::NOT_AUTHORIZED`", body = ErrorBody),
                (status = 429, description = "`UPSTREAM::RATE_LIMITED`", body = ErrorBody),
                (status = 501, description = "`OPERATION::NOT_SUPPORTED` (a custom model without a retrieve endpoint)", body = ErrorBody),
                (status = 502, description = "`UPSTREAM::UNAVAILABLE`, `UPSTREAM::ERROR`", body = ErrorBody)))]
        fn $retrieve() {}

        #[utoipa::path(patch, path = concat!($prefix, "/{model}/{id}"), tag = "resources",
            params(("model" = String, Path), ("id" = String, Path),
                ("x-connector-id" = Option<String>, Header), ("x-owner-id" = Option<String>, Header),
                ("returnResource" = Option<bool>, Query), ("raw" = Option<bool>, Query)),
            request_body(content = UpdateBody, description = "The fields to change (the model's write schema)"),
            security($($sec)*),
            responses(
                (status = 200, description = "Updated", body = WriteAnswer),
                (status = 403, description = "`CONNECTION::MISSING_PERMISSION`, `UPSTREAM::FORBIDDEN`", body = ErrorBody),
                (status = 404, description = "`RESOURCE::NOT_FOUND`, `RESOURCE::MODEL_NOT_FOUND`", body = ErrorBody),
                (status = 409, description = "`CONNECTION::NOT_AUTHORIZED`, `RESOURCE::CONFLICT`", body = ErrorBody),
                (status = 422, description = "`RESOURCE::VALIDATION_FAILED`", body = ErrorBody),
                (status = 429, description = "`UPSTREAM::RATE_LIMITED`", body = ErrorBody),
                (status = 501, description = "`OPERATION::NOT_SUPPORTED`", body = ErrorBody),
                (status = 502, description = "`UPSTREAM::UNAVAILABLE`, `UPSTREAM::ERROR`", body = ErrorBody)))]
        fn $update() {}

        #[utoipa::path(delete, path = concat!($prefix, "/{model}/{id}"), tag = "resources",
            params(("model" = String, Path), ("id" = String, Path),
                ("x-connector-id" = Option<String>, Header), ("x-owner-id" = Option<String>, Header)),
            security($($sec)*),
            responses(
                (status = 200, description = "Deleted", body = Empty),
                (status = 403, description = "`CONNECTION::MISSING_PERMISSION`, `UPSTREAM::FORBIDDEN`", body = ErrorBody),
                (status = 404, description = "`RESOURCE::NOT_FOUND`, `RESOURCE::MODEL_NOT_FOUND`", body = ErrorBody),
                (status = 409, description = "`CONNECTION::NOT_AUTHORIZED`", body = ErrorBody),
                (status = 429, description = "`UPSTREAM::RATE_LIMITED`", body = ErrorBody),
                (status = 501, description = "`OPERATION::NOT_SUPPORTED`", body = ErrorBody),
                (status = 502, description = "`UPSTREAM::UNAVAILABLE`, `UPSTREAM::ERROR`", body = ErrorBody)))]
        fn $delete() {}
    };
}

resource_ops!(
    "/v1/resources",
    [("apiSecret" = []), ("bearer" = [])],
    key_list,
    key_create,
    key_retrieve,
    key_update,
    key_delete
);
resource_ops!(
    "/v1/s/resources",
    [("sessionToken" = [])],
    session_list,
    session_create,
    session_retrieve,
    session_update,
    session_delete
);

macro_rules! proxy_op {
    ($method:ident, $name:ident) => {
        #[utoipa::path($method, path = "/v1/proxy/{path}", tag = "proxy",
            params(("path" = String, Path, description = "Dialpad's path under `/api/`, e.g. `api/v2/users/me`"),
                ("x-connector-id" = String, Header), ("x-owner-id" = String, Header)),
            security(("apiSecret" = []), ("bearer" = [])),
            responses(
                (status = 200, description = "Dialpad's answer (any status Dialpad gives, body unchanged)", body = DialpadAnswer),
                (status = 404, description = "`CONNECTION::NOT_FOUND`", body = ErrorBody),
                (status = 403, description = "`CONNECTION::MISSING_PERMISSION`", body = ErrorBody),
                (status = 405, description = "`REQUEST::METHOD_NOT_ALLOWED`", body = ErrorBody),
                (status = 409, description = "`CONNECTION::NOT_AUTHORIZED`", body = ErrorBody),
                (status = 502, description = "`UPSTREAM::UNAVAILABLE`", body = ErrorBody)))]
        fn $name() {}
    };
}

proxy_op!(get, proxy_get);
proxy_op!(post, proxy_post);
proxy_op!(put, proxy_put);
proxy_op!(patch, proxy_patch);
proxy_op!(delete, proxy_delete);
proxy_op!(head, proxy_head);

// The browser's routes: HTML pages and redirects. Their errors are pages too (with the error
// code in the page's `#dpc-outcome` data); only the request timeout answers JSON.

#[utoipa::path(get, path = "/connect", tag = "browser",
    params(("session" = String, Query, description = "A session token or connect link's token (`authorizationUrl` of `mode=connect`)")),
    responses(
        (status = 200, description = "The connect page (sets the browser-binding cookie)", body = String, content_type = "text/html"),
        (status = 401, description = "`SESSION::EXPIRED`", body = String, content_type = "text/html"),
        (status = 404, description = "`SESSION::INVALID`, `CONNECTION::NOT_FOUND`", body = String, content_type = "text/html"),
        (status = 500, description = "`SERVER::INTERNAL`", body = String, content_type = "text/html")))]
fn connect_page() {}

#[utoipa::path(post, path = "/connect/authorize", tag = "browser",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`session=…`, from the connect page's form"),
    responses(
        (status = 303, description = "To Dialpad's consent page", headers(("location" = String, description = "Dialpad's authorization URL"))),
        (status = 400, description = "`SESSION::NO_COOKIE`, `REQUEST::INVALID`", body = String, content_type = "text/html"),
        (status = 401, description = "`SESSION::EXPIRED`", body = String, content_type = "text/html"),
        (status = 403, description = "`REQUEST::FORBIDDEN_ORIGIN`, `SESSION::BROWSER_MISMATCH`", body = String, content_type = "text/html"),
        (status = 404, description = "`SESSION::INVALID`, `CONNECTION::NOT_FOUND`", body = String, content_type = "text/html"),
        (status = 408, description = "`REQUEST::TIMEOUT`", body = String, content_type = "text/html"),
        (status = 413, description = "`REQUEST::TOO_LARGE`", body = String, content_type = "text/html"),
        (status = 500, description = "`SERVER::INTERNAL`", body = String, content_type = "text/html")))]
fn connect_start() {}

#[utoipa::path(get, path = "/oauth/callback", tag = "browser",
    params(("code" = Option<String>, Query), ("state" = Option<String>, Query), ("error" = Option<String>, Query)),
    responses(
        (status = 200, description = "Connected: the result page (to the app's `redirectUrl`, or to the popup's opener)", body = String, content_type = "text/html"),
        (status = 400, description = "`OAUTH::INVALID_STATE`, `OAUTH::ACCESS_DENIED`, `OAUTH::ERROR`", body = String, content_type = "text/html"),
        (status = 403, description = "`OAUTH::BROWSER_MISMATCH`", body = String, content_type = "text/html"),
        (status = 404, description = "`CONNECTION::NOT_FOUND`", body = String, content_type = "text/html"),
        (status = 500, description = "`SERVER::INTERNAL` (the page; JSON when the store failed before the flow was known)", content(
            (String = "text/html"), (ErrorBody = "application/json"))),
        (status = 502, description = "`OAUTH::EXCHANGE_FAILED`, `UPSTREAM::UNAVAILABLE`", body = String, content_type = "text/html")))]
fn oauth_callback() {}
