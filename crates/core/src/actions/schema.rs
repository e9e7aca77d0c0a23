//! Self-contained JSON Schemas of the actions' input and output types, from the same utoipa
//! derives that make the OpenAPI document: the type's schema with every component it refers to
//! inlined (no `$ref` left), so a client (an MCP agent, a form builder) needs nothing else.

use serde_json::{Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

/// Nesting deeper than this is a recursive type, which no action has: the ref is left as an
/// open schema rather than looping.
const MAX_DEPTH: usize = 16;

/// `T`'s schema as JSON Schema 2020-12, every reference inlined.
pub fn of<T: ToSchema>() -> Value {
    let mut components: Vec<(String, RefOr<Schema>)> = Vec::new();
    T::schemas(&mut components);
    let components: Map<String, Value> = components
        .into_iter()
        .map(|(name, s)| (name, serde_json::to_value(s).unwrap_or(Value::Null)))
        .collect();
    let root = serde_json::to_value(T::schema()).unwrap_or(Value::Null);
    let mut out = inline(root, &components, 0);
    if let Value::Object(m) = &mut out {
        m.insert(
            "$schema".into(),
            Value::String("https://json-schema.org/draft/2020-12/schema".into()),
        );
    }
    out
}

fn inline(v: Value, components: &Map<String, Value>, depth: usize) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
                return match components.get(name) {
                    Some(target) if depth < MAX_DEPTH => {
                        let mut resolved = inline(target.clone(), components, depth + 1);
                        // Siblings of `$ref` (utoipa puts a field's description there) win.
                        if let Value::Object(rm) = &mut resolved {
                            for (k, v) in m {
                                if k != "$ref" {
                                    rm.insert(k, inline(v, components, depth + 1));
                                }
                            }
                        }
                        resolved
                    }
                    _ => Value::Object(Map::new()),
                };
            }
            Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k, inline(v, components, depth)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(
            a.into_iter()
                .map(|v| inline(v, components, depth))
                .collect(),
        ),
        other => other,
    }
}

/// Whether any `$ref` is left (the tests assert none is).
pub fn has_ref(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("$ref") || m.values().any(has_ref),
        Value::Array(a) => a.iter().any(has_ref),
        _ => false,
    }
}
