//! Shared helpers for the simulator's proof tests: the vendored 2026 Dialpad spec, the wire
//! adjustments applied before validating against it, and an HTTP client.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

/// The 2026 Dialpad OpenAPI document, vendored so a fresh clone can run the tests
/// (provenance in `tests/spec/README.md`).
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/spec/dialpad-openapi-2026.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
    })
}

/// The spec's operation object for `method` (upper case) on the path template `path`.
pub fn operation(method: &str, path: &str) -> Option<&'static Value> {
    spec()
        .get("paths")?
        .get(path)?
        .get(method.to_ascii_lowercase())
}

/// The spec's `components` after the two documented wire adjustments (see [`wire_adjust`]).
pub fn adjusted_components() -> &'static Value {
    static COMPONENTS: OnceLock<Value> = OnceLock::new();
    COMPONENTS.get_or_init(|| {
        let mut c = spec()
            .get("components")
            .cloned()
            .unwrap_or_else(|| json!({}));
        wire_adjust(&mut c);
        c
    })
}

/// THE WIRE ADJUSTMENTS — the only places where validation departs from the spec as written.
///
/// (a) int64 as strings: Dialpad's REST API sends int64 values as JSON strings (seen in real
///     captures), while the spec types them `integer` with `format: int64`. Wherever a schema
///     says `format: "int64"`, a string of digits (optionally signed) is accepted as well as an
///     integer: `"string"` is added to its `type` and a `pattern` restricts such strings to
///     digits (`pattern` does not apply to numbers).
/// (b) `format` is an annotation only: Dialpad prints naive date-times without a zone, so
///     formats are not asserted. This is done by building validators with
///     `should_validate_formats(false)` (see [`validator_for_schema`]), not by editing the spec.
///
/// Nothing else is changed: no property is made optional, no type widened, and
/// `additionalProperties` is left as the spec has it (undeclared properties are reported
/// separately by [`undeclared_properties`]).
pub fn wire_adjust(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let is_int64 = map.get("format").and_then(Value::as_str) == Some("int64");
            if is_int64 {
                let ty = map.get("type").cloned();
                let mut types: Vec<Value> = match ty {
                    Some(Value::Array(a)) => a,
                    Some(t @ Value::String(_)) => vec![t],
                    _ => vec![json!("integer")],
                };
                if !types.contains(&json!("string")) {
                    types.push(json!("string"));
                }
                map.insert("type".into(), Value::Array(types));
                map.insert("pattern".into(), json!("^-?[0-9]+$"));
            }
            for (_, child) in map.iter_mut() {
                wire_adjust(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(wire_adjust),
        _ => {}
    }
}

/// A validator for `schema` (a fragment of the spec whose `#/components/...` refs resolve
/// against the adjusted components, embedded into the schema document).
pub fn validator_for_schema(schema: &Value) -> Result<jsonschema::Validator, String> {
    let mut doc = Map::new();
    doc.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    doc.insert("components".into(), adjusted_components().clone());
    let mut adjusted = schema.clone();
    wire_adjust(&mut adjusted);
    doc.insert("allOf".into(), json!([adjusted]));
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        // Wire adjustment (b): formats are annotations only.
        .should_validate_formats(false)
        .build(&Value::Object(doc))
        .map_err(|e| format!("schema does not compile: {e}"))
}

/// The JSON schema of `op`'s 200 response, if the spec gives one.
pub fn response_schema(method: &str, path: &str) -> Option<&'static Value> {
    operation(method, path)?
        .get("responses")?
        .get("200")?
        .get("content")?
        .get("application/json")?
        .get("schema")
}

/// The JSON schema of `op`'s request body, if the spec gives one.
pub fn request_schema(method: &str, path: &str) -> Option<&'static Value> {
    operation(method, path)?
        .get("requestBody")?
        .get("content")?
        .get("application/json")?
        .get("schema")
}

/// Follows a `{"$ref": "#/components/schemas/X"}` (one level, repeatedly) in the raw spec.
pub fn deref(schema: &'static Value) -> &'static Value {
    let mut s = schema;
    for _ in 0..16 {
        let Some(r) = s.get("$ref").and_then(Value::as_str) else {
            return s;
        };
        // `#/components/schemas/X` is a JSON pointer into the spec (schema names have no '/').
        match r.strip_prefix('#').and_then(|p| spec().pointer(p)) {
            Some(target) => s = target,
            None => return s,
        }
    }
    s
}

/// Every validation error of `body` against `validator`, one line each.
pub fn schema_errors(validator: &jsonschema::Validator, body: &Value) -> Vec<String> {
    validator
        .iter_errors(body)
        .map(|e| {
            format!(
                "at '{}': {} (schema {})",
                e.instance_path(),
                e,
                e.schema_path()
            )
        })
        .collect()
}

/// Properties present in `body` that the spec's schema does not declare (walks objects and
/// arrays, following refs and `oneOf` branches). The spec never sets `additionalProperties`;
/// Dialpad's responses are protobuf messages with a fixed field set, so an undeclared field is
/// a simulator invention worth reporting.
pub fn undeclared_properties(schema: &'static Value, body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_undeclared(schema, body, "", &mut out);
    out
}

fn walk_undeclared(schema: &'static Value, body: &Value, at: &str, out: &mut Vec<String>) {
    let schema = deref(schema);
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
        // Report only if no branch declares everything.
        let mut best: Option<Vec<String>> = None;
        for b in branches {
            let mut errs = Vec::new();
            walk_undeclared(b, body, at, &mut errs);
            if best.as_ref().is_none_or(|x| errs.len() < x.len()) {
                best = Some(errs);
            }
        }
        out.extend(best.unwrap_or_default());
        return;
    }
    match body {
        Value::Object(map) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return; // free-form object: the spec allows anything
            };
            for (k, v) in map {
                match props.get(k) {
                    Some(p) => walk_undeclared(p, v, &format!("{at}/{k}"), out),
                    None => out.push(format!("{at}/{k}")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk_undeclared(item_schema, v, &format!("{at}/{i}"), out);
                }
            }
        }
        _ => {}
    }
}

/// A reqwest client that does not follow redirects (the OAuth consent answers with one).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("building reqwest client: {e}"))
}

/// Fills `{name}` segments of a spec path template.
pub fn fill(template: &str, params: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (k, v) in params {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Dialpad's error envelope: `{"error":{"code":N,"errors":[{"domain","message","reason"}],"message"}}`.
/// Returns the top-level message, or a description of what is wrong with the envelope.
pub fn check_envelope(body: &Value, status: u16) -> Result<String, String> {
    let err = body
        .get("error")
        .ok_or_else(|| format!("no 'error' object in {body}"))?;
    if err.get("code").and_then(Value::as_u64) != Some(u64::from(status)) {
        return Err(format!("error.code is not {status} in {body}"));
    }
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no error.message in {body}"))?;
    let errors = err
        .get("errors")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no error.errors in {body}"))?;
    let first = errors
        .first()
        .ok_or_else(|| format!("empty error.errors in {body}"))?;
    for k in ["domain", "message", "reason"] {
        if first.get(k).and_then(Value::as_str).is_none() {
            return Err(format!(
                "error.errors[0].{k} missing or not a string in {body}"
            ));
        }
    }
    Ok(message.to_owned())
}

/// Counts of the spec's operations per tag, for messages.
pub fn spec_operation_ids() -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    if let Some(paths) = spec().get("paths").and_then(Value::as_object) {
        for (p, item) in paths {
            if let Some(item) = item.as_object() {
                for (m, op) in item {
                    if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                        out.insert(id.to_owned(), (m.to_ascii_uppercase(), p.clone()));
                    }
                }
            }
        }
    }
    out
}

/// One request to the simulator as `token` (an API key or an OAuth access token); answers the
/// status and the JSON body (`Null` when the body is not JSON).
pub async fn call_as(
    h: &dialpad_sim::SimHandle,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (reqwest::StatusCode, Value) {
    let mut req = client()
        .request(method, format!("{}{path}", h.base_url))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request reaches the simulator");
    let status = resp.status();
    let text = resp.text().await.expect("response body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// [`call_as`] with the simulator's company API key.
pub async fn call(
    h: &dialpad_sim::SimHandle,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (reqwest::StatusCode, Value) {
    call_as(h, &h.api_key, method, path, body).await
}
