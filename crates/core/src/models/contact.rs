//! `genericContact` ⇄ `/api/v2/contacts`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{
    field, field_error, into_fields, record_id, Filter, FilterKind, IntoFields, Invalid, Mapped,
    Model, ModelInfo, RefInput, ResourceRef, Support,
};
use crate::read::{normalize_phone, Reader};

pub const TYPES: &[&str] = &["local", "shared"];

/// The unified contact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub contact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::ExpandableRef>)]
    pub owner: Option<ResourceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl IntoFields for Contact {
    fn into_fields(self) -> Map<String, Value> {
        into_fields!(
            "companyName" => self.company_name,
            "displayName" => self.display_name,
            "email" => self.email,
            "emails" => self.emails,
            "extension" => self.extension,
            "firstName" => self.first_name,
            "jobTitle" => self.job_title,
            "lastName" => self.last_name,
            "owner" => self.owner,
            "phone" => self.phone,
            "phones" => self.phones,
            "type" => self.contact_type,
            "uid" => self.uid,
            "urls" => self.urls,
        )
    }
}

pub static INFO: ModelInfo = ModelInfo {
    model: Model::Contact,
    description: "Dialpad contacts: company-wide (shared) and users' own (local)",
    create: Support::Native,
    update: Support::Native,
    delete: Support::Native,
    filters: &[
        Filter {
            name: "type",
            kind: FilterKind::Enum(TYPES),
            description: "`shared` or `local` (local contacts need `owner`)",
        },
        Filter {
            name: "owner",
            kind: FilterKind::Id,
            description: "a genericUser id: that user's local contacts",
        },
        Filter {
            name: "includeLocal",
            kind: FilterKind::Boolean,
            description: "include users' local contacts along with shared ones",
        },
    ],
    search: Some("first or last name, email, or phone number (E.164)"),
    expand: &["owner"],
    me: false,
    fields: &[
        field(
            "firstName",
            "string",
            "first name (required on create)",
            false,
        ),
        field(
            "lastName",
            "string",
            "last name (required on create)",
            false,
        ),
        field("displayName", "string", "name as Dialpad shows it", true),
        field("email", "string", "primary email", false),
        field("phone", "string", "primary phone number, E.164", false),
        field("emails", "string[]", "all emails", false),
        field("phones", "string[]", "all phone numbers, E.164", false),
        field("urls", "string[]", "web addresses", false),
        field("companyName", "string", "company", false),
        field("jobTitle", "string", "job title", false),
        field("extension", "string", "extension", false),
        field("type", "string", "`shared` or `local`", true),
        field("owner", "genericUser", "owner of a local contact", false),
        field(
            "uid",
            "string",
            "your id for a shared contact: creating with it upserts",
            false,
        ),
    ],
    raw_fields: &[
        field("trunk_group", "string", "Dialpad trunk group", false),
        field("display_name", "string", "Dialpad's display name", true),
        field("primary_email", "string", "Dialpad's primary email", true),
        field("primary_phone", "string", "Dialpad's primary phone", true),
    ],
};

/// Maps a Dialpad contact (`ContactProto`).
pub fn from_dialpad(raw: &Value) -> Mapped {
    let mut r = Reader::new(raw);
    let id = record_id(&mut r, "id");
    let emails = r.strings("emails", "emails");
    let phones = r.strings("phones", "phones");
    let email = r
        .string("primary_email", "email")
        .or_else(|| emails.first().cloned());
    let phone = r
        .string("primary_phone", "phone")
        .or_else(|| phones.first().cloned());
    let contact_type = r.known("type", "type", TYPES);
    let c = Contact {
        first_name: r.string("first_name", "firstName"),
        last_name: r.string("last_name", "lastName"),
        display_name: r.string("display_name", "displayName"),
        email,
        phone,
        emails,
        phones,
        urls: r.strings("urls", "urls"),
        company_name: r.string("company_name", "companyName"),
        job_title: r.string("job_title", "jobTitle"),
        extension: r.string("extension", "extension"),
        owner: r
            .id("owner_id", "owner")
            .map(|o| ResourceRef::new(Model::User, o)),
        uid: id.strip_prefix("shared_uid_").map(str::to_owned),
        contact_type,
    };
    Mapped {
        model: Model::Contact,
        id,
        fields: c.into_fields(),
        created_at: None,
        updated_at: None,
        warnings: r.warnings,
    }
}

/// A `genericContact` write body (create or update). Unknown fields are refused (but the keys
/// of the connection's written field mappings).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactWrite {
    /// Required to create (with `lastName`).
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The primary email; `emails` adds more.
    pub email: Option<String>,
    /// The primary phone number, any format (stored in E.164); `phones` adds more.
    pub phone: Option<String>,
    pub emails: Option<Vec<String>>,
    pub phones: Option<Vec<String>>,
    pub urls: Option<Vec<String>>,
    pub company_name: Option<String>,
    pub job_title: Option<String>,
    pub extension: Option<String>,
    /// The user whose local contact this is (a `genericUser`); none: a shared contact.
    pub owner: Option<RefInput>,
    /// A shared contact's own id: a write with one creates or updates that contact.
    pub uid: Option<String>,
}

/// A Dialpad call a write becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactRequest {
    /// `POST /api/v2/contacts`.
    Create(Value),
    /// `PUT /api/v2/contacts` (create or update the shared contact with this uid).
    Upsert(Value),
}

/// The primary value first, then the list, normalized and without duplicates; `None` when the
/// write sets neither (the field is left unchanged).
fn merged_list(
    primary: (&str, Option<&str>),
    list: (&str, Option<&[String]>),
    errors: &mut Invalid,
    phone: bool,
) -> Option<Vec<String>> {
    if primary.1.is_none() && list.1.is_none() {
        return None;
    }
    let items = primary
        .1
        .map(|v| (primary.0.to_owned(), v))
        .into_iter()
        .chain(
            list.1
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{}[{i}]", list.0), v.as_str())),
        );
    let mut out: Vec<String> = Vec::new();
    for (path, v) in items {
        let v = v.trim();
        let value = if phone {
            match normalize_phone(v) {
                Some(n) => n,
                None => {
                    errors.push(field_error(
                        &path,
                        format!("{v:?} is not a phone number (E.164, e.g. +14155550100)"),
                    ));
                    continue;
                }
            }
        } else if v.len() < 3 || !v.contains('@') || v.starts_with('@') || v.ends_with('@') {
            errors.push(field_error(&path, format!("{v:?} is not an email address")));
            continue;
        } else {
            v.to_owned()
        };
        if !out.contains(&value) {
            out.push(value);
        }
    }
    Some(out)
}

impl ContactWrite {
    fn common(&self, body: &mut Map<String, Value>, errors: &mut Invalid) {
        let put = |body: &mut Map<String, Value>, k: &str, v: &Option<String>| {
            if let Some(v) = v {
                body.insert(k.into(), json!(v));
            }
        };
        put(body, "company_name", &self.company_name);
        put(body, "job_title", &self.job_title);
        put(body, "extension", &self.extension);
        if let Some(e) = merged_list(
            ("email", self.email.as_deref()),
            ("emails", self.emails.as_deref()),
            errors,
            false,
        ) {
            body.insert("emails".into(), json!(e));
        }
        if let Some(p) = merged_list(
            ("phone", self.phone.as_deref()),
            ("phones", self.phones.as_deref()),
            errors,
            true,
        ) {
            body.insert("phones".into(), json!(p));
        }
        if let Some(u) = &self.urls {
            body.insert("urls".into(), json!(u));
        }
    }

    /// The Dialpad request a create becomes: Dialpad requires both names; `uid` makes it an
    /// upsert of a shared contact (which cannot have an owner).
    pub fn create_request(&self) -> Result<ContactRequest, Invalid> {
        let mut errors = Invalid::new();
        let mut body = Map::new();
        for (path, v) in [
            ("firstName", &self.first_name),
            ("lastName", &self.last_name),
        ] {
            match v.as_deref().map(str::trim) {
                Some(s) if !s.is_empty() => {}
                _ => errors.push(field_error(
                    path,
                    "required: Dialpad needs a first and a last name",
                )),
            }
        }
        body.insert(
            "first_name".into(),
            json!(self.first_name.as_deref().unwrap_or_default()),
        );
        body.insert(
            "last_name".into(),
            json!(self.last_name.as_deref().unwrap_or_default()),
        );
        self.common(&mut body, &mut errors);
        if let Some(uid) = &self.uid {
            if uid.trim().is_empty() {
                errors.push(field_error("uid", "must not be empty"));
            }
            if self.owner.is_some() {
                errors.push(field_error(
                    "owner",
                    "a contact with a uid is shared: it cannot have an owner",
                ));
            }
            body.insert("uid".into(), json!(uid.trim()));
        } else if let Some(owner) = &self.owner {
            let id = owner.id();
            if !is_numeric_id(&id) {
                errors.push(field_error(
                    "owner",
                    format!("{} is not a user id", crate::read::quote_input(&id)),
                ));
            }
            body.insert("owner_id".into(), json!(id));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(if self.uid.is_some() {
            ContactRequest::Upsert(Value::Object(body))
        } else {
            ContactRequest::Create(Value::Object(body))
        })
    }

    /// The body of `PATCH /api/v2/contacts/{id}`; owner and uid cannot change.
    pub fn update_body(&self) -> Result<Value, Invalid> {
        let mut errors = Invalid::new();
        let mut body = Map::new();
        for (path, key, v) in [
            ("firstName", "first_name", &self.first_name),
            ("lastName", "last_name", &self.last_name),
        ] {
            if let Some(s) = v {
                if s.trim().is_empty() {
                    errors.push(field_error(path, "must not be empty"));
                }
                body.insert(key.into(), json!(s));
            }
        }
        self.common(&mut body, &mut errors);
        if self.owner.is_some() {
            errors.push(field_error("owner", "a contact's owner cannot change"));
        }
        if self.uid.is_some() {
            errors.push(field_error("uid", "a contact's uid cannot change"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Value::Object(body))
    }
}

/// Whether `id` can be a Dialpad numeric id (users, offices, calls).
pub fn is_numeric_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `id` can be a Dialpad contact id: numeric, or Dialpad's string forms
/// (`shared_uid_…`, `shared_…`, `local_…`): printable ASCII without path separators.
pub fn is_contact_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// Whether a mapped contact matches the search `q` (name, email, or phone in E.164).
pub fn matches(m: &Mapped, q: &str) -> bool {
    let q = q.trim();
    if q.is_empty() {
        return true;
    }
    if let Some(phone) = normalize_phone(q) {
        return m.fields["phones"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p.as_str() == Some(phone.as_str())));
    }
    let needle = q.to_lowercase();
    let has = |k: &str| {
        m.fields
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| s.to_lowercase().contains(&needle))
    };
    has("firstName")
        || has("lastName")
        || has("displayName")
        || m.fields["emails"].as_array().is_some_and(|es| {
            es.iter()
                .filter_map(Value::as_str)
                .any(|e| e.to_lowercase().contains(&needle))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::parse_write;

    #[test]
    fn rest_shape() {
        let m = from_dialpad(&json!({
            "id": "5734470963462144", "first_name": "Ada", "last_name": "Lovelace",
            "display_name": "Ada Lovelace", "emails": ["ada@example.com", "a@x.org"],
            "primary_email": "ada@example.com", "phones": ["+14155550100"],
            "type": "local", "owner_id": "5910974862917632", "urls": null,
            "company_name": "Analytical", "brand_new": 1
        }));
        assert_eq!(m.id, "5734470963462144");
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        let f = Value::Object(m.fields);
        assert_eq!(f["firstName"], "Ada");
        assert_eq!(f["email"], "ada@example.com");
        assert_eq!(f["phone"], "+14155550100");
        assert_eq!(f["emails"], json!(["ada@example.com", "a@x.org"]));
        assert_eq!(f["urls"], json!([]));
        assert_eq!(
            f["owner"],
            json!({"object": "resourceRef", "model": "genericUser", "id": "5910974862917632"})
        );
        assert_eq!(f["type"], "local");
        assert!(f.get("uid").is_none());
        assert!(m.created_at.is_none(), "Dialpad contacts carry no times");
    }

    #[test]
    fn webhook_shape_with_numbers() {
        let m = from_dialpad(&json!({
            "id": 5734470963462144_i64, "first_name": "Ada", "owner_id": 5910974862917632_i64,
            "phones": ["+14155550100"]
        }));
        assert_eq!(m.id, "5734470963462144");
        assert_eq!(m.fields["owner"]["id"], "5910974862917632");
        assert_eq!(m.fields["phone"], "+14155550100");
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn contact_with_no_name_and_a_shared_uid() {
        let m = from_dialpad(&json!({"id": "shared_uid_crm-42", "type": "shared", "phones": []}));
        assert!(m.fields.get("firstName").is_none());
        assert!(m.fields.get("phone").is_none());
        assert_eq!(m.fields["uid"], "crm-42");
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn unknown_type_is_kept_and_bad_values_are_reported() {
        let m = from_dialpad(&json!({"id": "1", "type": "federated", "first_name": 7,
            "emails": "not-a-list"}));
        assert_eq!(m.fields["type"], "federated");
        assert!(m.fields.get("firstName").is_none());
        let fields: Vec<&str> = m.warnings.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(fields, vec!["emails", "type", "firstName"]);
    }

    #[test]
    fn create_bodies() {
        let w: ContactWrite = parse_write(&json!({"firstName": "Ada", "lastName": "L",
            "phone": "(415) 555-0100", "phones": ["+442079460958"], "email": "ada@example.com",
            "owner": {"id": "12"}}))
        .unwrap();
        assert_eq!(
            w.create_request().unwrap(),
            ContactRequest::Create(json!({"first_name": "Ada", "last_name": "L",
                "phones": ["+14155550100", "+442079460958"], "emails": ["ada@example.com"],
                "owner_id": "12"}))
        );
        let w: ContactWrite =
            parse_write(&json!({"firstName": "Ada", "lastName": "L", "uid": "crm-1"})).unwrap();
        assert!(
            matches!(w.create_request().unwrap(), ContactRequest::Upsert(b) if b["uid"] == "crm-1")
        );
    }

    #[test]
    fn invalid_writes_name_each_path() {
        let w: ContactWrite = parse_write(&json!({"firstName": "", "phones": ["call me"],
            "email": "nope"}))
        .unwrap();
        let e = w.create_request().unwrap_err();
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["firstName", "lastName", "email", "phones[0]"]);
        let e = parse_write::<ContactWrite>(&json!({"firstName": 3})).unwrap_err();
        assert_eq!(e[0].path, "firstName");
        let e = parse_write::<ContactWrite>(&json!({"nickname": "x"})).unwrap_err();
        assert!(e[0].message.contains("nickname"));
        let w: ContactWrite = parse_write(&json!({"owner": "1"})).unwrap();
        assert_eq!(w.update_body().unwrap_err()[0].path, "owner");
    }

    #[test]
    fn search() {
        let m = from_dialpad(
            &json!({"id": "1", "first_name": "Ada", "last_name": "Lovelace",
            "emails": ["ada@example.com"], "phones": ["+14155550100"]}),
        );
        assert!(matches(&m, "love"));
        assert!(matches(&m, "EXAMPLE.com"));
        assert!(matches(&m, "(415) 555-0100"));
        assert!(!matches(&m, "+14155550101"));
        assert!(!matches(&m, "grace"));
    }

    #[test]
    fn fast_field_map_agrees_with_serde() {
        let c = Contact {
            first_name: Some("a".into()),
            last_name: Some("b".into()),
            display_name: Some("c".into()),
            email: Some("d".into()),
            phone: Some("e".into()),
            emails: vec!["f".into()],
            phones: vec!["g".into()],
            urls: vec!["h".into()],
            company_name: Some("i".into()),
            job_title: Some("j".into()),
            extension: Some("k".into()),
            contact_type: Some("l".into()),
            owner: Some(ResourceRef::new(Model::User, "m")),
            uid: Some("n".into()),
        };
        assert_eq!(c.clone().into_fields(), crate::models::to_fields(&c));
        let empty = Contact::default();
        assert_eq!(
            empty.clone().into_fields(),
            crate::models::to_fields(&empty)
        );
    }

    #[test]
    fn ids() {
        assert!(is_numeric_id("5734470963462144"));
        assert!(!is_numeric_id("12a"));
        assert!(!is_numeric_id("99999999999999999999"));
        assert!(is_contact_id("shared_uid_crm-42"));
        assert!(!is_contact_id("../users"));
        assert!(!is_contact_id("a b"));
    }
}
