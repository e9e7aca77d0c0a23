//! The committed `openapi.json` (repository root) is the document the code generates: a change to
//! a route, a response type or a unified model must regenerate it.

#[test]
fn committed_openapi_json_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = dpc_server::openapi::document_text();
    if committed != generated {
        let a: serde_json::Value = serde_json::from_str(&committed).unwrap_or_default();
        let b = dpc_server::openapi::document();
        let first = first_difference("", &a, &b).unwrap_or_else(|| "formatting".into());
        panic!(
            "openapi.json is out of date with the code (first difference at {first}).\n\
             Regenerate it: cargo run -p dialpad-connector -- openapi > openapi.json"
        );
    }
}

/// The JSON pointer of the first place where `a` and `b` differ.
fn first_difference(at: &str, a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(&format!("{at}/{k}"), p, q),
                _ => Some(format!("{at}/{k}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(&format!("{at}/{i}"), p, q)),
        _ if a == b => None,
        _ => Some(if at.is_empty() { "/".into() } else { at.into() }),
    }
}
