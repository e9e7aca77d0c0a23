//! The five unified models (`../shared/docs/models.md`), their Dialpad mappers, and what each
//! supports. A mapper is a pure function from Dialpad's record (as received: REST with string
//! int64s, or a webhook payload with numbers) to the unified fields, and from a unified write
//! body to Dialpad's request body. Nothing here does I/O.
//!
//! Where to add a field: the model's struct (its serde name is the unified name) and its
//! `from_dialpad`; when writable, its `*Write` struct and body builder. Where to add a model: a
//! module here, a [`Model`] variant with its [`ModelInfo`], its operations in
//! `operations::CATALOG`, and its Dialpad calls in `resources.rs`.

pub mod call;
pub mod contact;
pub mod transcript;
pub mod user;
pub mod workspace;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::read::Warning;

/// A unified model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Model {
    Contact,
    User,
    Workspace,
    Call,
    Transcript,
}

impl Model {
    pub const ALL: [Model; 5] = [
        Model::Contact,
        Model::User,
        Model::Workspace,
        Model::Call,
        Model::Transcript,
    ];

    /// The model's API name, e.g. `genericContact`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Model::Contact => "genericContact",
            Model::User => "genericUser",
            Model::Workspace => "genericWorkspace",
            Model::Call => "telephonyCall",
            Model::Transcript => "telephonyCallTranscript",
        }
    }

    pub fn parse(s: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn info(self) -> &'static ModelInfo {
        match self {
            Model::Contact => &contact::INFO,
            Model::User => &user::INFO,
            Model::Workspace => &workspace::INFO,
            Model::Call => &call::INFO,
            Model::Transcript => &transcript::INFO,
        }
    }
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A model operation of the resources API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    List,
    Retrieve,
    Create,
    Update,
    Delete,
}

impl Op {
    pub const ALL: [Op; 5] = [Op::List, Op::Retrieve, Op::Create, Op::Update, Op::Delete];

    pub const fn as_str(self) -> &'static str {
        match self {
            Op::List => "list",
            Op::Retrieve => "retrieve",
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    /// The catalog id, e.g. `genericContact::list`.
    pub fn operation_id(self, model: Model) -> String {
        format!("{}::{}", model.as_str(), self.as_str())
    }
}

/// How a filter's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum FilterKind {
    /// Free text.
    String,
    /// `true` or `false`.
    Boolean,
    /// An ISO-8601 date-time or epoch milliseconds.
    DateTime,
    /// A resource id (a Dialpad id).
    Id,
    /// One of a fixed set.
    Enum(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: FilterKind,
    pub description: &'static str,
}

/// Whether Dialpad can do a model operation, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Native,
    NotSupported(&'static str),
}

/// What a model offers, for the permission check, the connector info route and bad-input
/// answers (which name the allowed filters, fields and expands).
#[derive(Debug)]
pub struct ModelInfo {
    pub model: Model,
    /// One line for the connector info route.
    pub description: &'static str,
    pub create: Support,
    pub update: Support,
    pub delete: Support,
    pub filters: &'static [Filter],
    /// What `q` searches, when the model supports search.
    pub search: Option<&'static str>,
    /// Reference fields `expand` may turn into full resources.
    pub expand: &'static [&'static str],
    /// Whether `retrieve` accepts the id `me`.
    pub me: bool,
    /// Every unified field: `(name, type, description, read_only)`.
    pub fields: &'static [FieldInfo],
    /// Dialpad fields of the record that no unified field carries, which a field mapping can
    /// add (`read_only: false` where Dialpad accepts them on create or update).
    pub raw_fields: &'static [FieldInfo],
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldInfo {
    pub key: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub description: &'static str,
    pub read_only: bool,
}

pub(crate) const fn field(
    key: &'static str,
    kind: &'static str,
    description: &'static str,
    read_only: bool,
) -> FieldInfo {
    FieldInfo {
        key,
        kind,
        description,
        read_only,
    }
}

impl ModelInfo {
    /// What the connector info route says about the model.
    pub fn describe(&self) -> Value {
        let op = |o: Op| match self.support(o) {
            Support::Native => OperationSupport {
                supported: true,
                reason: None,
            },
            Support::NotSupported(why) => OperationSupport {
                supported: false,
                reason: Some(why),
            },
        };
        let d = ModelDescription {
            id: self.model.as_str(),
            description: self.description,
            operations: ModelOperations {
                list: op(Op::List),
                retrieve: op(Op::Retrieve),
                create: op(Op::Create),
                update: op(Op::Update),
                delete: op(Op::Delete),
            },
            filters: self.filters,
            search: self.search,
            expand: self.expand,
            me: self.me,
        };
        serde_json::to_value(d).unwrap_or_default()
    }

    /// The fields route's entries: unified fields, then the mappable Dialpad ones.
    pub fn field_list(&self) -> Vec<Value> {
        let entry = |f: &FieldInfo, custom: bool| {
            let e = FieldDescription {
                object: "field",
                model: self.model.as_str(),
                key: f.key,
                name: f.key,
                kind: f.kind,
                description: f.description,
                read_only: f.read_only,
                is_custom: custom,
                source: if custom { "dialpad" } else { "unified" },
            };
            serde_json::to_value(e).unwrap_or_default()
        };
        self.fields
            .iter()
            .map(|f| entry(f, false))
            .chain(self.raw_fields.iter().map(|f| entry(f, true)))
            .collect()
    }

    pub fn support(&self, op: Op) -> Support {
        match op {
            Op::List | Op::Retrieve => Support::Native,
            Op::Create => self.create,
            Op::Update => self.update,
            Op::Delete => self.delete,
        }
    }

    pub fn filter(&self, name: &str) -> Option<&'static Filter> {
        self.filters.iter().find(|f| f.name == name)
    }

    pub fn has_field(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.key == name)
    }
}

/// A model as the connector info route describes it (`models[]`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelDescription {
    /// The model's API name, e.g. `genericContact`.
    pub id: &'static str,
    pub description: &'static str,
    pub operations: ModelOperations,
    pub filters: &'static [Filter],
    /// What `q` searches; `null` when the model has no search.
    pub search: Option<&'static str>,
    /// The reference fields `expand` turns into full resources.
    pub expand: &'static [&'static str],
    /// Whether `retrieve` accepts the id `me`.
    pub me: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelOperations {
    pub list: OperationSupport,
    pub retrieve: OperationSupport,
    pub create: OperationSupport,
    pub update: OperationSupport,
    pub delete: OperationSupport,
}

/// Whether Dialpad can do a model operation, and if not, why (`OPERATION::NOT_SUPPORTED`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OperationSupport {
    pub supported: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// One entry of `GET /v1/models/{model}/fields`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldDescription {
    /// Always `field`.
    pub object: &'static str,
    pub model: &'static str,
    /// The field's key in a resource's `fields`.
    pub key: &'static str,
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub description: &'static str,
    pub read_only: bool,
    /// A Dialpad field a field mapping can add, not a unified one.
    pub is_custom: bool,
    /// `unified` or `dialpad`.
    pub source: &'static str,
}

/// `{object:"resourceRef", model, id}`: a reference to another resource (expandable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ResourceRef {
    pub object: &'static str,
    pub model: &'static str,
    pub id: String,
}

impl ResourceRef {
    pub fn new(model: Model, id: impl Into<String>) -> Self {
        ResourceRef {
            object: "resourceRef",
            model: model.as_str(),
            id: id.into(),
        }
    }
}

/// Schema only (the OpenAPI document): a reference field as answered, a [`ResourceRef`], or the
/// full resource when the request expanded it (`expand=…`). The server's document defines the
/// `Resource` component it points to.
pub struct ExpandableRef;

impl utoipa::PartialSchema for ExpandableRef {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{OneOfBuilder, Ref};
        OneOfBuilder::new()
            .item(Ref::from_schema_name("ResourceRef"))
            .item(Ref::from_schema_name("Resource"))
            .description(Some(
                "a reference, or the full resource when the request expanded this field",
            ))
            .into()
    }
}

impl utoipa::ToSchema for ExpandableRef {}

/// A reference in a write body: the id as a string or number, or `{id}` (a resourceRef or a
/// resource as another call answered it).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum RefInput {
    Id(IdInput),
    Object { id: IdInput },
}

/// An id, as a string or a number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum IdInput {
    Text(String),
    Number(u64),
}

impl RefInput {
    pub fn id(&self) -> String {
        let id = match self {
            RefInput::Id(i) | RefInput::Object { id: i } => i,
        };
        match id {
            IdInput::Text(s) => s.clone(),
            IdInput::Number(n) => n.to_string(),
        }
    }
}

/// One record mapped from Dialpad: its id, the unified fields, Dialpad's own timestamps when it
/// has them, and what could not be mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub model: Model,
    pub id: String,
    pub fields: Map<String, Value>,
    /// ISO-8601 times from Dialpad's record; `None` when Dialpad keeps none (contacts, offices):
    /// the server fills them from when the connector first and last saw the record change.
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub warnings: Vec<Warning>,
}

/// What a mapper may show, from the connection's grants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapContext {
    /// The connection holds `recordings_export`: recording URLs are shown.
    pub recordings: bool,
}

/// A write body that Dialpad would refuse, or that names unknown fields: the field paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

pub type Invalid = Vec<FieldError>;

pub fn field_error(path: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Reads a write body into `T`, naming the failing path on a wrong type or unknown field.
pub fn parse_write<T: serde::de::DeserializeOwned>(body: &Value) -> Result<T, Invalid> {
    if !body.is_object() {
        return Err(vec![field_error("", "the body must be a JSON object")]);
    }
    let mut errors = Invalid::new();
    check_text(body, &mut String::new(), &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = e.into_inner().to_string();
        vec![field_error(&path, inner)]
    })
}

/// The longest text a write body may carry in one field, in characters. Dialpad's spec states
/// no lengths; its fields here are names, emails, numbers, URLs and titles, so anything longer is
/// a caller's mistake (or an attack on the customer's Dialpad data) better refused by us with a
/// field path than passed on.
pub const MAX_TEXT_CHARS: usize = 1024;

/// Refuses control characters and over-long text anywhere in a write body, naming each field
/// (`phones[1]`): a NUL or an escape sequence in a contact's name reaches every app and screen
/// that shows it.
fn check_text(v: &Value, path: &mut String, errors: &mut Invalid) {
    match v {
        Value::String(s) => {
            if s.chars().any(|c| c.is_control()) {
                errors.push(field_error(path, "control characters are not allowed"));
            }
            let n = s.chars().count();
            if n > MAX_TEXT_CHARS {
                errors.push(field_error(
                    path,
                    format!("at most {MAX_TEXT_CHARS} characters (got {n})"),
                ));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_text(item, path, errors);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                check_text(item, path, errors);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Serializes a unified struct into its field map through serde (`None`s are left out by the
/// structs' serde attributes). The mappers' hot path is [`IntoFields`]; this is its reference
/// (the models' tests check both agree).
pub(crate) fn to_fields<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Moves a unified struct's values into its field map, without serde's copy of every string:
/// mapping runs for every record of every page, and the copy was half its cost.
pub(crate) trait IntoFields {
    fn into_fields(self) -> Map<String, Value>;
}

/// A value moved into a field map; `None` leaves the field out (as serde's
/// `skip_serializing_if = "Option::is_none"` does).
pub(crate) trait Put {
    fn put(self, fields: &mut Vec<(String, Value)>, key: &str);
}

macro_rules! put_plain {
    ($($t:ty),*) => {$(
        impl Put for $t {
            fn put(self, fields: &mut Vec<(String, Value)>, key: &str) {
                fields.push((key.to_owned(), Value::from(self)));
            }
        }
        impl Put for Option<$t> {
            fn put(self, fields: &mut Vec<(String, Value)>, key: &str) {
                if let Some(v) = self {
                    fields.push((key.to_owned(), Value::from(v)));
                }
            }
        }
    )*};
}
put_plain!(String, bool, i64, f64, Vec<String>);

impl Put for Map<String, Value> {
    fn put(self, fields: &mut Vec<(String, Value)>, key: &str) {
        fields.push((key.to_owned(), Value::Object(self)));
    }
}

impl Put for Option<Value> {
    fn put(self, fields: &mut Vec<(String, Value)>, key: &str) {
        if let Some(v) = self {
            fields.push((key.to_owned(), v));
        }
    }
}

impl ResourceRef {
    fn into_value(self) -> Value {
        // Listed sorted: built in one go, as for the fields.
        let m: Map<String, Value> = [
            ("id".to_owned(), Value::String(self.id)),
            ("model".to_owned(), Value::from(self.model)),
            ("object".to_owned(), Value::from(self.object)),
        ]
        .into_iter()
        .collect();
        Value::Object(m)
    }
}

impl Put for Option<ResourceRef> {
    fn put(self, fields: &mut Vec<(String, Value)>, key: &str) {
        if let Some(r) = self {
            fields.push((key.to_owned(), r.into_value()));
        }
    }
}

impl Put for Vec<ResourceRef> {
    fn put(self, fields: &mut Vec<(String, Value)>, key: &str) {
        fields.push((
            key.to_owned(),
            Value::Array(self.into_iter().map(ResourceRef::into_value).collect()),
        ));
    }
}

/// Anything else (nested objects of a few fields) through serde.
pub(crate) struct Serde<T>(pub T);

impl<T: Serialize> Put for Serde<T> {
    fn put(self, fields: &mut Vec<(String, Value)>, key: &str) {
        match serde_json::to_value(&self.0) {
            Ok(Value::Null) | Err(_) => {}
            Ok(v) => fields.push((key.to_owned(), v)),
        }
    }
}

/// `into_fields!("key" => value, …)`: the field map of a unified struct. The values are pushed
/// in order and the map built in one go (serde_json's map is a BTreeMap, which bulk-builds
/// from a sorted run: inserting one by one was a seventh of mapping a call), so list the keys
/// sorted.
macro_rules! into_fields {
    ($($key:literal => $e:expr),* $(,)?) => {{
        let mut fields: Vec<(String, Value)> = Vec::with_capacity(32);
        $( crate::models::Put::put($e, &mut fields, $key); )*
        fields.into_iter().collect::<Map<String, Value>>()
    }};
}
pub(crate) use into_fields;

/// A required id from Dialpad's record; a missing one is a warning (the record is kept, with
/// an empty id, so that a page never loses a row).
pub(crate) fn record_id(r: &mut crate::read::Reader<'_>, key: &str) -> String {
    match r.id(key, "id") {
        Some(id) => id,
        None => {
            r.warn(
                crate::read::INVALID_VALUE,
                "id",
                format!("Dialpad's record has no `{key}`"),
            );
            String::new()
        }
    }
}

/// The model an `expand` name of `model` fetches (its `retrieve` is what the expansion needs
/// granted): a call's `users`, `contacts`, `transcript`; a transcript's `call` and `recap` (the
/// recap is part of the transcript); a contact's `owner`; a user's `workspace`.
pub fn expand_target(model: Model, name: &str) -> Option<Model> {
    match (model, name) {
        (Model::Call, "users") | (Model::Contact, "owner") => Some(Model::User),
        (Model::Call, "contacts") => Some(Model::Contact),
        (Model::Call, "transcript") | (Model::Transcript, "recap") => Some(Model::Transcript),
        (Model::Transcript, "call") => Some(Model::Call),
        (Model::User, "workspace") => Some(Model::Workspace),
        _ => None,
    }
}

/// Maps a Dialpad record of `model`.
pub fn from_dialpad(model: Model, raw: &Value, ctx: MapContext) -> Mapped {
    match model {
        Model::Contact => contact::from_dialpad(raw),
        Model::User => user::from_dialpad(raw),
        Model::Workspace => workspace::from_dialpad(raw, None),
        Model::Call => call::from_dialpad(raw, ctx),
        Model::Transcript => transcript::from_dialpad(raw, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_expandable_field_names_the_model_it_fetches() {
        for m in Model::ALL {
            for e in m.info().expand {
                assert!(expand_target(m, e).is_some(), "{m} {e}");
            }
        }
    }

    #[test]
    fn write_bodies_refuse_control_characters_and_long_text() {
        let body = json!({
            "firstName": "Ada\u{0}",
            "lastName": "x".repeat(MAX_TEXT_CHARS + 1),
            "phones": ["+14155550100", "+1415\u{1b}[2J"],
            "companyName": "é".repeat(MAX_TEXT_CHARS),
        });
        let errors = parse_write::<contact::ContactWrite>(&body).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["firstName", "lastName", "phones[1]"], "{errors:?}");
        assert!(errors[1].message.contains("1025"), "{errors:?}");
        // At the limit, counted in characters (not bytes), it passes.
        let ok = json!({"firstName": "é".repeat(MAX_TEXT_CHARS), "lastName": "Lovelace"});
        assert!(parse_write::<contact::ContactWrite>(&ok).is_ok());
    }

    #[test]
    fn model_names_round_trip() {
        for m in Model::ALL {
            assert_eq!(Model::parse(m.as_str()), Some(m));
            assert_eq!(m.info().model, m);
            for op in Op::ALL {
                let id = op.operation_id(m);
                let supported = m.info().support(op) == Support::Native;
                assert_eq!(
                    crate::operations::find(&id).is_some(),
                    supported,
                    "catalog and model info disagree on {id}"
                );
            }
        }
        assert_eq!(Model::parse("genericcontact"), None);
    }

    #[test]
    fn refs_accept_ids_and_objects() {
        for v in [
            json!("12"),
            json!(12),
            json!({"id": "12"}),
            json!({"id": 12, "object": "resourceRef"}),
        ] {
            let r: RefInput = serde_json::from_value(v).unwrap();
            assert_eq!(r.id(), "12");
        }
        assert!(serde_json::from_value::<RefInput>(json!(true)).is_err());
    }

    #[test]
    fn write_errors_name_the_path() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct W {
            a: Option<Vec<String>>,
        }
        let e = parse_write::<W>(&json!({"a": ["x", 3]})).unwrap_err();
        assert_eq!(e[0].path, "a[1]");
        let e = parse_write::<W>(&json!({"b": 1})).unwrap_err();
        assert!(e[0].message.contains("unknown field `b`"), "{e:?}");
        assert!(parse_write::<W>(&json!([1])).is_err());
    }
}
