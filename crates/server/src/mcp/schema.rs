//! JSON Schemas for the tools, cut from our OpenAPI document's components so that a tool's
//! input and output schemas are the very ones the HTTP API documents (and its tests validate
//! against). A tool schema must stand alone: the components it references are copied under
//! `$defs` and every `#/components/schemas/X` becomes `#/$defs/X`.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::{Map, Value};

const COMPONENTS: &str = "#/components/schemas/";
const DEFS: &str = "#/$defs/";

fn components() -> &'static Map<String, Value> {
    static DOC: OnceLock<Map<String, Value>> = OnceLock::new();
    DOC.get_or_init(|| {
        let doc = crate::openapi::document();
        doc["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    })
}

/// Rewrites the component references in `v` and collects the names they point to.
fn rewrite(v: &mut Value, found: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if k == "$ref" {
                    if let Value::String(s) = child {
                        if let Some(name) = s.strip_prefix(COMPONENTS) {
                            found.push(name.to_owned());
                            *s = format!("{DEFS}{name}");
                        }
                    }
                } else {
                    rewrite(child, found);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite(c, found)),
        _ => {}
    }
}

/// `root` (an object schema that may reference the document's components) made
/// self-contained: the referenced components, transitively, under `$defs`.
pub fn standalone(mut root: Value) -> Map<String, Value> {
    let mut pending = Vec::new();
    rewrite(&mut root, &mut pending);
    let mut seen = BTreeSet::new();
    let mut defs = Map::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let mut s = components().get(&name).cloned().unwrap_or_else(|| {
            // Only a bug in this module can name a missing component; an open schema keeps
            // the tool usable while the test suite (which checks every ref resolves) catches it.
            tracing::error!(component = %name, "MCP schema refers to a missing component");
            Value::Object(Map::new())
        });
        rewrite(&mut s, &mut pending);
        defs.insert(name, s);
    }
    let mut out = match root {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("allOf".into(), Value::Array(vec![other]));
            m
        }
    };
    out.entry("type").or_insert_with(|| "object".into());
    if !defs.is_empty() {
        out.insert("$defs".into(), Value::Object(defs));
    }
    out
}

/// A reference to component `name` (to be made standalone).
pub fn component(name: &str) -> Value {
    serde_json::json!({"$ref": format!("{COMPONENTS}{name}")})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` of a standalone schema resolves inside it.
    fn refs_resolve(v: &Value, root: &Map<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    if k == "$ref" {
                        let name = child.as_str().unwrap().strip_prefix(DEFS).unwrap();
                        assert!(root["$defs"].get(name).is_some(), "{name} unresolved");
                    } else {
                        refs_resolve(child, root);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|c| refs_resolve(c, root)),
            _ => {}
        }
    }

    #[test]
    fn a_write_schema_stands_alone() {
        let s = standalone(serde_json::json!({
            "type": "object",
            "properties": {"fields": component("ContactWrite")},
        }));
        assert!(s["$defs"]["ContactWrite"]["properties"]["firstName"].is_object());
        // ContactWrite's `owner` refers to RefInput, which came along.
        assert!(s["$defs"].get("RefInput").is_some());
        refs_resolve(&Value::Object(s.clone()), &s);
        assert!(!serde_json::to_string(&s).unwrap().contains(COMPONENTS));
    }
}
