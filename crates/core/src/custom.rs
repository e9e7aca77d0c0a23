//! Custom models: Dialpad collections the five unified models do not cover, declared in the
//! configuration (name, Dialpad endpoints, id field, scopes, a field map from raw paths) and
//! served by the same `/v1/resources/{model}` routes with the same pagination, permissions and
//! errors. E.g. `dialpadChannel` over `/api/v2/channels`, `dialpadCallLabel` over
//! `/api/v2/calllabels`.

use std::collections::BTreeMap;

use dialpad::{Client, Method};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::cursor::Resume;
use crate::models::{field_error, Invalid, Model, Op};
use crate::operations::{self, Operation};
use crate::resources::{ResourceError, Result, MAX_SCAN_PAGES};

/// A custom model as declared (`[[custom_models]]` in the TOML file, or `DPC_CUSTOM_MODELS` as a
/// JSON list of the same objects).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomModel {
    /// The model's name in the API, camelCase (e.g. `dialpadChannel`).
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Dialpad's list endpoint, e.g. `/api/v2/channels` (followed by its `cursor`).
    pub list: String,
    /// Where the list's records are in Dialpad's answer (default `items`). Strings there are
    /// records too: `{"value": "<the string>"}`.
    #[serde(default = "default_items")]
    pub items: String,
    /// `GET` one record, with `{id}`: `/api/v2/channels/{id}`.
    pub retrieve: Option<String>,
    /// `POST` a record: `/api/v2/channels`.
    pub create: Option<String>,
    /// `PATCH` a record, with `{id}`.
    pub update: Option<String>,
    /// `DELETE` a record, with `{id}`.
    pub delete: Option<String>,
    /// The record's id field (default `id`).
    #[serde(default = "default_id")]
    pub id_field: String,
    /// Dialpad scopes its operations need.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Unified field → Dialpad path (dotted for nested objects); written fields must be
    /// top-level.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

fn default_items() -> String {
    "items".into()
}

fn default_id() -> String {
    "id".into()
}

fn camel(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_lowercase())
        && s.len() <= 64
        && c.all(|c| c.is_ascii_alphanumeric())
}

/// An endpoint's path segments after `/api/v2/`; `{id}` must be present (`with_id`) or absent.
fn endpoint(path: &str, with_id: bool) -> std::result::Result<Vec<String>, String> {
    let Some(rest) = path.strip_prefix("/api/v2/") else {
        return Err("must start with /api/v2/".into());
    };
    let segs: Vec<String> = rest.split('/').map(str::to_owned).collect();
    if segs
        .iter()
        .any(|s| s.is_empty() || s == "." || s == ".." || s.contains(['?', '#', '%', '\\']))
    {
        return Err("must be a plain path (no empty, `.`/`..`, `?`, `#` or `%` segments)".into());
    }
    let ids = segs.iter().filter(|s| *s == "{id}").count();
    match (with_id, ids) {
        (true, 1) | (false, 0) => Ok(segs),
        (true, _) => Err("must contain `{id}` once, as a whole segment".into()),
        (false, _) => Err("must not contain `{id}`".into()),
    }
}

impl CustomModel {
    /// Checks the declaration; errors name the setting (`custom_models[i].list`, …).
    pub fn validate_all(models: &[CustomModel]) -> std::result::Result<(), Invalid> {
        let mut errors = Invalid::new();
        for (i, m) in models.iter().enumerate() {
            let at = |f: &str| format!("custom_models[{i}].{f}");
            if !camel(&m.name) {
                errors.push(field_error(
                    &at("name"),
                    "a camelCase name (letters and digits)",
                ));
            } else if Model::parse(&m.name).is_some() {
                errors.push(field_error(
                    &at("name"),
                    format!("`{}` is a built-in model", m.name),
                ));
            } else if m.name == "action" {
                // MCP tools are `<model>_<op>` and `action_<id>`: `action_list` would be both.
                errors.push(field_error(
                    &at("name"),
                    "`action` is reserved (the MCP action tools are named `action_<id>`)",
                ));
            } else if models[..i].iter().any(|o| o.name == m.name) {
                errors.push(field_error(
                    &at("name"),
                    format!("`{}` is declared twice", m.name),
                ));
            }
            if let Err(e) = endpoint(&m.list, false) {
                errors.push(field_error(&at("list"), e));
            }
            for (key, path, with_id) in [
                ("retrieve", &m.retrieve, true),
                ("create", &m.create, false),
                ("update", &m.update, true),
                ("delete", &m.delete, true),
            ] {
                if let Some(p) = path {
                    if let Err(e) = endpoint(p, with_id) {
                        errors.push(field_error(&at(key), e));
                    }
                }
            }
            if m.id_field.is_empty() {
                errors.push(field_error(&at("id_field"), "must not be empty"));
            }
            for (k, p) in &m.fields {
                if !camel(k) {
                    errors.push(field_error(
                        &at(&format!("fields.{k}")),
                        "a camelCase field name",
                    ));
                }
                if p.is_empty() || p.split('.').any(str::is_empty) {
                    errors.push(field_error(
                        &at(&format!("fields.{k}")),
                        "a Dialpad path such as `name` or `owner.id`",
                    ));
                }
            }
            for s in &m.scopes {
                if s.is_empty() || s.len() > 100 || !s.chars().all(|c| c.is_ascii_graphic()) {
                    errors.push(field_error(
                        &at("scopes"),
                        format!("{s:?} is not a scope name"),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    pub fn supports(&self, op: Op) -> bool {
        match op {
            Op::List => true,
            Op::Retrieve => self.retrieve.is_some(),
            Op::Create => self.create.is_some(),
            Op::Update => self.update.is_some(),
            Op::Delete => self.delete.is_some(),
        }
    }

    /// The catalog entries of its supported operations.
    pub fn operations(&self) -> Vec<Operation> {
        let scopes: &'static [&'static str] = Box::leak(
            self.scopes
                .iter()
                .map(|s| &*Box::leak(s.clone().into_boxed_str()))
                .collect::<Vec<&'static str>>()
                .into_boxed_slice(),
        );
        Op::ALL
            .into_iter()
            .filter(|op| self.supports(*op))
            .map(|op| Operation {
                id: Box::leak(format!("{}::{}", self.name, op.as_str()).into_boxed_str()),
                description: Box::leak(
                    format!(
                        "{} {}",
                        match op {
                            Op::List => "List",
                            Op::Retrieve => "Read",
                            Op::Create => "Create",
                            Op::Update => "Update",
                            Op::Delete => "Delete",
                        },
                        if self.description.is_empty() {
                            &self.name
                        } else {
                            &self.description
                        }
                    )
                    .into_boxed_str(),
                ),
                scopes,
            })
            .collect()
    }

    /// What the connector info route says about it.
    pub fn describe(&self) -> Value {
        let op = |o: Op| {
            if self.supports(o) {
                json!({"supported": true})
            } else {
                json!({"supported": false, "reason": "not declared for this custom model"})
            }
        };
        json!({
            "id": self.name,
            "description": self.description,
            "custom": true,
            "operations": {
                "list": op(Op::List), "retrieve": op(Op::Retrieve), "create": op(Op::Create),
                "update": op(Op::Update), "delete": op(Op::Delete),
            },
            "filters": [],
            "search": null,
            "expand": [],
            "me": false,
        })
    }

    /// The fields route's entries.
    pub fn field_list(&self) -> Vec<Value> {
        self.fields
            .iter()
            .map(|(k, p)| {
                json!({
                    "object": "field", "model": self.name, "key": k, "name": k, "type": "any",
                    "description": format!("Dialpad's `{p}`"), "readOnly": p.contains('.'),
                    "isCustom": true, "source": "dialpad",
                })
            })
            .collect()
    }

    fn id_of(&self, raw: &Value) -> Option<String> {
        match raw.get(&self.id_field)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// One record as a resource (times filled by the caller).
    pub fn resource(&self, raw: Value, with_raw: bool, keep: Option<&[String]>) -> (String, Value) {
        let id = self.id_of(&raw).unwrap_or_default();
        let mut fields = Map::new();
        for (k, p) in &self.fields {
            if keep.is_some_and(|keep| !keep.iter().any(|f| f == k)) {
                continue;
            }
            if let Some(v) = p
                .split('.')
                .try_fold(&raw, |v, seg| v.get(seg))
                .filter(|v| !v.is_null())
            {
                fields.insert(k.clone(), v.clone());
            }
        }
        let mut out = json!({
            "object": "resource", "model": self.name, "id": id, "fields": fields,
            "createdAt": null, "updatedAt": null,
        });
        if with_raw {
            out["rawResource"] = raw;
        }
        (id, out)
    }

    /// Dialpad's request path for `template` with `id`.
    fn parts(template: &str, id: Option<&str>) -> Vec<String> {
        template
            .trim_start_matches("/api/v2/")
            .split('/')
            .map(|s| match (s, id) {
                ("{id}", Some(id)) => id.to_owned(),
                _ => s.to_owned(),
            })
            .collect()
    }

    fn records_of(&self, answer: &Value) -> Vec<Value> {
        answer
            .get(&self.items)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => json!({ "value": s }),
                        other => other.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One page of `limit` records cut from Dialpad's pages, and where the next resumes.
    pub async fn list(
        &self,
        client: &Client,
        limit: usize,
        resume: Resume,
    ) -> Result<(Vec<Value>, Option<Resume>)> {
        let parts = Self::parts(&self.list, None);
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let mut out = Vec::with_capacity(limit);
        let mut at = resume;
        for _ in 0..MAX_SCAN_PAGES {
            let mut req = client.request(Method::GET, &refs);
            if let Some(c) = &at.dialpad {
                req = req.query("cursor", c);
            }
            let answer: Value = req.send().await.map_err(ResourceError::Upstream)?;
            let items = self.records_of(&answer);
            let next = answer
                .get("cursor")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            let start = at.skip.min(items.len());
            for (i, item) in items.iter().enumerate().skip(start) {
                if out.len() == limit {
                    return Ok((
                        out,
                        Some(Resume {
                            dialpad: at.dialpad,
                            skip: i,
                        }),
                    ));
                }
                out.push(item.clone());
            }
            match next {
                Some(n) if Some(&n) != at.dialpad.as_ref() => {
                    at = Resume {
                        dialpad: Some(n),
                        skip: 0,
                    };
                }
                _ => return Ok((out, None)),
            }
            if out.len() == limit {
                break;
            }
        }
        Ok((out, Some(at)))
    }

    fn check_id(&self, id: &str) -> Result<()> {
        if crate::models::contact::is_contact_id(id) {
            Ok(())
        } else {
            Err(ResourceError::NotFound(format!(
                "{id:?} cannot be a {} id",
                self.name
            )))
        }
    }

    pub async fn retrieve(&self, client: &Client, id: &str) -> Result<Value> {
        let template = self.retrieve.as_deref().ok_or(ResourceError::NotSupported(
            "retrieve is not declared for this custom model",
        ))?;
        self.check_id(id)?;
        let parts = Self::parts(template, Some(id));
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        client
            .request(Method::GET, &refs)
            .send()
            .await
            .map_err(|e| {
                if e.is_not_found() {
                    ResourceError::NotFound(format!("no {} with this id", self.name))
                } else {
                    ResourceError::Upstream(e)
                }
            })
    }

    /// The Dialpad body of a write: each unified field to its (top-level) Dialpad field.
    pub fn write_body(&self, body: &Value) -> std::result::Result<Value, Invalid> {
        let Some(obj) = body.as_object() else {
            return Err(vec![field_error("", "the body must be a JSON object")]);
        };
        let mut out = Map::new();
        let mut errors = Invalid::new();
        for (k, v) in obj {
            match self.fields.get(k) {
                Some(p) if !p.contains('.') => {
                    out.insert(p.clone(), v.clone());
                }
                Some(p) => errors.push(field_error(
                    k,
                    format!("read-only (Dialpad's nested `{p}`)"),
                )),
                None => {
                    let known: Vec<&str> = self.fields.keys().map(String::as_str).collect();
                    errors.push(field_error(
                        k,
                        format!("unknown field: {} has {}", self.name, known.join(", ")),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(Value::Object(out))
        } else {
            Err(errors)
        }
    }

    pub async fn write(
        &self,
        client: &Client,
        op: Op,
        id: Option<&str>,
        body: &Value,
    ) -> Result<Value> {
        let template = match op {
            Op::Create => self.create.as_deref(),
            Op::Update => self.update.as_deref(),
            Op::Delete => self.delete.as_deref(),
            _ => None,
        }
        .ok_or(ResourceError::NotSupported(
            "not declared for this custom model",
        ))?;
        if let Some(id) = id {
            self.check_id(id)?;
        }
        let parts = Self::parts(template, id);
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let method = match op {
            Op::Create => Method::POST,
            Op::Update => Method::PATCH,
            _ => Method::DELETE,
        };
        let mut req = client.request(method, &refs);
        if op != Op::Delete {
            let b = self.write_body(body).map_err(ResourceError::Validation)?;
            req = req.json(&b).map_err(ResourceError::Upstream)?;
        }
        let answer: std::result::Result<Value, dialpad::Error> = if op == Op::Delete {
            req.send_empty().await.map(|()| Value::Null)
        } else {
            req.send().await
        };
        answer.map_err(|e| {
            if e.is_not_found() {
                return ResourceError::NotFound(format!("no {} with this id", self.name));
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
        })
    }
}

/// Registers the custom models' operations in the process's catalog (so connections may ask
/// for them and the permission check knows their scopes).
pub fn register(models: &[CustomModel]) {
    for m in models {
        operations::register(m.operations());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> CustomModel {
        serde_json::from_value(json!({
            "name": "dialpadChannel", "list": "/api/v2/channels",
            "retrieve": "/api/v2/channels/{id}", "create": "/api/v2/channels",
            "delete": "/api/v2/channels/{id}",
            "fields": {"name": "name", "description": "description", "privacy": "privacy_type"}
        }))
        .unwrap()
    }

    #[test]
    fn declarations_are_checked() {
        assert!(CustomModel::validate_all(&[channel()]).is_ok());
        let bad: CustomModel = serde_json::from_value(json!({
            "name": "genericContact", "list": "/oauth2/token", "retrieve": "/api/v2/x",
            "update": "/api/v2/../{id}", "fields": {"Bad": ""}
        }))
        .unwrap();
        let e = CustomModel::validate_all(&[bad]).unwrap_err();
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "custom_models[0].name",
                "custom_models[0].list",
                "custom_models[0].retrieve",
                "custom_models[0].update",
                "custom_models[0].fields.Bad",
                "custom_models[0].fields.Bad"
            ]
        );
        assert!(serde_json::from_value::<CustomModel>(
            json!({"name": "x", "list": "/api/v2/x", "typo": 1})
        )
        .is_err());
    }

    #[test]
    fn records_and_writes() {
        let m = channel();
        let (id, r) = m.resource(
            json!({"id": 42, "name": "general", "privacy_type": "public"}),
            false,
            None,
        );
        assert_eq!(id, "42");
        assert_eq!(r["fields"], json!({"name": "general", "privacy": "public"}));
        assert_eq!(
            m.write_body(&json!({"name": "x", "privacy": "private"}))
                .unwrap(),
            json!({"name": "x", "privacy_type": "private"})
        );
        assert_eq!(
            m.write_body(&json!({"color": 1})).unwrap_err()[0].path,
            "color"
        );
        let labels: CustomModel = serde_json::from_value(json!({
            "name": "dialpadCallLabel", "list": "/api/v2/calllabels", "items": "labels",
            "id_field": "value", "fields": {"name": "value"}
        }))
        .unwrap();
        assert_eq!(
            labels.records_of(&json!({"labels": ["vip"]})),
            vec![json!({"value": "vip"})]
        );
        let ops: Vec<&str> = m.operations().iter().map(|o| o.id).collect();
        assert_eq!(
            ops,
            vec![
                "dialpadChannel::list",
                "dialpadChannel::retrieve",
                "dialpadChannel::create",
                "dialpadChannel::delete"
            ]
        );
    }
}
