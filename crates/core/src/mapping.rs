//! Field mappings: per-connection extra fields of a unified model, read from (and where Dialpad
//! accepts it, written to) a raw Dialpad path, e.g. `callCustomData ← custom_data` or
//! `contactTrunkGroup ← trunk_group`. Checked against the model's mappable Dialpad fields
//! (`ModelInfo::raw_fields`): a path that does not exist, or a write to a read-only one, is
//! refused when the mapping is saved, not discovered on a read.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::models::{field_error, Invalid, Model};

/// One mapping: the unified key it adds, the Dialpad path it reads, whether it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldMapping {
    /// The field's name in the resource's `fields` (camelCase, not a unified field's name).
    pub key: String,
    /// Dialpad's field: a top-level key of the record, or a dotted path into one of its objects
    /// (`e911_address.city`).
    pub path: String,
    /// Write the field on create and update too (only where Dialpad accepts the field).
    #[serde(default)]
    pub write: bool,
}

/// Most mappings per model and connection.
pub const MAX_MAPPINGS: usize = 50;

fn valid_key(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && k.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Checks a set of mappings for `model`; each error names the mapping's index.
pub fn validate(model: Model, mappings: &[FieldMapping]) -> Result<(), Invalid> {
    let info = model.info();
    let mut errors = Invalid::new();
    if mappings.len() > MAX_MAPPINGS {
        errors.push(field_error(
            "mappings",
            format!("at most {MAX_MAPPINGS} mappings per model"),
        ));
    }
    for (i, m) in mappings.iter().enumerate() {
        let at = |f: &str| format!("mappings[{i}].{f}");
        if !valid_key(&m.key) {
            errors.push(field_error(
                &at("key"),
                "a camelCase name: a lower-case letter, then letters and digits (at most 64)",
            ));
        } else if info.has_field(&m.key) {
            errors.push(field_error(
                &at("key"),
                format!("`{}` is a unified field of {model} already", m.key),
            ));
        } else if mappings[..i].iter().any(|o| o.key == m.key) {
            errors.push(field_error(
                &at("key"),
                format!("`{}` is mapped twice", m.key),
            ));
        }
        let top = m.path.split('.').next().unwrap_or_default();
        match info.raw_fields.iter().find(|f| f.key == top) {
            None => {
                let known: Vec<&str> = info.raw_fields.iter().map(|f| f.key).collect();
                errors.push(field_error(
                    &at("path"),
                    format!(
                        "Dialpad's {model} records have no field `{top}`: mappable fields are {}",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
            Some(f) => {
                if m.path.split('.').any(str::is_empty) {
                    errors.push(field_error(&at("path"), "an empty path segment"));
                } else if m.path.contains('.') && f.kind != "object" && f.kind != "object[]" {
                    errors.push(field_error(
                        &at("path"),
                        format!("`{top}` is a {} and has no fields", f.kind),
                    ));
                }
                if m.write && (f.read_only || m.path.contains('.')) {
                    errors.push(field_error(
                        &at("write"),
                        format!(
                            "Dialpad does not accept `{}` in a write: map it read-only",
                            m.path
                        ),
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn at_path<'a>(raw: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(raw, |v, seg| v.get(seg))
        .filter(|v| !v.is_null())
}

/// Adds the mapped fields found in Dialpad's record (absent paths add nothing).
pub fn apply_read(mappings: &[FieldMapping], raw: &Value, fields: &mut Map<String, Value>) {
    for m in mappings {
        if let Some(v) = at_path(raw, &m.path) {
            fields.insert(m.key.clone(), v.clone());
        }
    }
}

/// Takes the mapped keys out of a write body; the written ones become Dialpad fields (`path →
/// value`) to add to Dialpad's body. A read-only mapped key in a write is refused.
pub fn split_write(
    mappings: &[FieldMapping],
    body: &mut Map<String, Value>,
) -> Result<Map<String, Value>, Invalid> {
    let mut extra = Map::new();
    let mut errors = Invalid::new();
    for m in mappings {
        if let Some(v) = body.remove(&m.key) {
            if m.write {
                extra.insert(m.path.clone(), v);
            } else {
                errors.push(field_error(
                    &m.key,
                    format!("mapped read-only from Dialpad's `{}`", m.path),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(extra)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(key: &str, path: &str, write: bool) -> FieldMapping {
        FieldMapping {
            key: key.into(),
            path: path.into(),
            write,
        }
    }

    #[test]
    fn validation_names_each_problem() {
        assert!(validate(Model::Call, &[m("callCustomData", "custom_data", false)]).is_ok());
        assert!(validate(
            Model::Contact,
            &[m("contactTrunkGroup", "trunk_group", true)]
        )
        .is_ok());
        assert!(validate(
            Model::Workspace,
            &[m("e911City", "e911_address.city", false)]
        )
        .is_ok());
        let e = validate(
            Model::Call,
            &[
                m("direction", "custom_data", false),
                m("x", "no_such_field", false),
                m("y", "custom_data", true),
                m("Bad Key", "group_id", false),
                m("z", "group_id.inner", false),
            ],
        )
        .unwrap_err();
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "mappings[0].key",
                "mappings[1].path",
                "mappings[2].write",
                "mappings[3].key",
                "mappings[4].path"
            ]
        );
        assert!(
            e[1].message.contains("custom_data"),
            "lists the mappable fields"
        );
        let dup = validate(
            Model::Call,
            &[m("a", "custom_data", false), m("a", "group_id", false)],
        )
        .unwrap_err();
        assert_eq!(dup[0].path, "mappings[1].key");
    }

    #[test]
    fn read_and_write() {
        let maps = [
            m("contactTrunkGroup", "trunk_group", true),
            m("primary", "primary_email", false),
        ];
        let mut fields = Map::new();
        apply_read(
            &maps,
            &json!({"trunk_group": "tg1", "primary_email": null}),
            &mut fields,
        );
        assert_eq!(Value::Object(fields), json!({"contactTrunkGroup": "tg1"}));
        let mut body = json!({"firstName": "A", "contactTrunkGroup": "tg2"})
            .as_object()
            .unwrap()
            .clone();
        let extra = split_write(&maps, &mut body).unwrap();
        assert_eq!(Value::Object(extra), json!({"trunk_group": "tg2"}));
        assert_eq!(Value::Object(body), json!({"firstName": "A"}));
        let mut body = json!({"primary": "x"}).as_object().unwrap().clone();
        assert_eq!(
            split_write(&maps, &mut body).unwrap_err()[0].path,
            "primary"
        );
    }
}
