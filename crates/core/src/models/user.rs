//! `genericUser` ⇄ `/api/v2/users`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{
    field, field_error, into_fields, record_id, Filter, FilterKind, IntoFields, Invalid, Mapped,
    Model, ModelInfo, RefInput, ResourceRef, Support,
};
use crate::models::contact::is_numeric_id;
use crate::read::{iso, normalize_phone, Reader};

pub const STATES: &[&str] = &["active", "suspended", "pending", "cancelled", "deleted"];
pub const LICENSES: &[&str] = &[
    "admins",
    "agents",
    "dpde_all",
    "dpde_one",
    "lite_lines",
    "lite_support_agents",
    "magenta_lines",
    "talk",
    "user",
];
pub const DUTY_STATUSES: &[&str] = &[
    "available",
    "busy",
    "occupied",
    "occupied-end",
    "unavailable",
    "wrapup",
    "wrapup-end",
];

/// The unified user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub emails: Vec<String>,
    pub phone_numbers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_super_admin: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::ExpandableRef>)]
    pub workspace: Option<ResourceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_duty_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub do_not_disturb: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_online: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

impl IntoFields for User {
    fn into_fields(self) -> Map<String, Value> {
        into_fields!(
            "country" => self.country,
            "displayName" => self.display_name,
            "doNotDisturb" => self.do_not_disturb,
            "email" => self.email,
            "emails" => self.emails,
            "extension" => self.extension,
            "firstName" => self.first_name,
            "imageUrl" => self.image_url,
            "isAdmin" => self.is_admin,
            "isOnline" => self.is_online,
            "isSuperAdmin" => self.is_super_admin,
            "jobTitle" => self.job_title,
            "language" => self.language,
            "lastName" => self.last_name,
            "license" => self.license,
            "onDutyStatus" => self.on_duty_status,
            "phoneNumbers" => self.phone_numbers,
            "state" => self.state,
            "timezone" => self.timezone,
            "workspace" => self.workspace,
        )
    }
}

pub static INFO: ModelInfo = ModelInfo {
    model: Model::User,
    description: "The users of the Dialpad company",
    create: Support::Native,
    update: Support::Native,
    delete: Support::Native,
    filters: &[
        Filter {
            name: "state",
            kind: FilterKind::Enum(STATES),
            description: "the user's state",
        },
        Filter {
            name: "email",
            kind: FilterKind::String,
            description: "exact email address",
        },
        Filter {
            name: "phone",
            kind: FilterKind::String,
            description: "a phone number of the user (E.164)",
        },
        Filter {
            name: "isAdmin",
            kind: FilterKind::Boolean,
            description: "company admins only",
        },
    ],
    search: Some("email (exact), phone number (E.164), or first or last name"),
    expand: &["workspace"],
    me: true,
    fields: &[
        field("firstName", "string", "first name", false),
        field("lastName", "string", "last name", false),
        field("displayName", "string", "name as Dialpad shows it", true),
        field(
            "email",
            "string",
            "primary email (required on create)",
            false,
        ),
        field("emails", "string[]", "all emails", false),
        field(
            "phoneNumbers",
            "string[]",
            "the user's Dialpad numbers, E.164",
            false,
        ),
        field("extension", "string", "extension", false),
        field("jobTitle", "string", "job title", false),
        field("timezone", "string", "time zone", true),
        field("language", "string", "language", true),
        field("country", "string", "country", true),
        field(
            "state",
            "string",
            "active, suspended, pending, cancelled, deleted",
            false,
        ),
        field("isAdmin", "boolean", "company or office admin", true),
        field("isSuperAdmin", "boolean", "company admin", false),
        field("license", "string", "Dialpad license", false),
        field(
            "workspace",
            "genericWorkspace",
            "the user's office (required on create)",
            false,
        ),
        field("onDutyStatus", "string", "contact-center duty status", true),
        field("doNotDisturb", "boolean", "do not disturb", true),
        field("isOnline", "boolean", "online now", true),
        field("imageUrl", "string", "avatar", true),
    ],
    raw_fields: &[
        field(
            "forwarding_numbers",
            "string[]",
            "numbers calls forward to",
            false,
        ),
        field(
            "admin_office_ids",
            "string[]",
            "offices the user administers",
            false,
        ),
        field(
            "international_dialing_enabled",
            "boolean",
            "may dial abroad",
            false,
        ),
        field("status_message", "string", "presence message", true),
        field("location", "string", "location", true),
        field("muted", "boolean", "muted", true),
        field("is_available", "boolean", "available", true),
        field("is_on_duty", "boolean", "on duty", true),
        field("duty_status_reason", "string", "why the duty status", true),
        field(
            "date_active",
            "date-time",
            "when the user became active",
            true,
        ),
        field("date_first_login", "date-time", "first login", true),
        field("company_id", "string", "company id", true),
        field(
            "group_details",
            "object[]",
            "groups the user belongs to",
            true,
        ),
        field("voicemail", "object", "voicemail settings", true),
    ],
};

/// Maps a Dialpad user (`UserProto`).
pub fn from_dialpad(raw: &Value) -> Mapped {
    let mut r = Reader::new(raw);
    let id = record_id(&mut r, "id");
    let emails = r.strings("emails", "emails");
    let created = r.time("date_added", "createdAt").map(iso);
    let u = User {
        first_name: r.string("first_name", "firstName"),
        last_name: r.string("last_name", "lastName"),
        display_name: r.string("display_name", "displayName"),
        email: emails.first().cloned(),
        emails,
        phone_numbers: r.strings("phone_numbers", "phoneNumbers"),
        extension: r.string("extension", "extension"),
        job_title: r.string("job_title", "jobTitle"),
        timezone: r.string("timezone", "timezone"),
        language: r.string("language", "language"),
        country: r.string("country", "country"),
        state: r.known("state", "state", STATES),
        is_admin: r.bool("is_admin", "isAdmin"),
        is_super_admin: r.bool("is_super_admin", "isSuperAdmin"),
        license: r.known("license", "license", LICENSES),
        workspace: r
            .id("office_id", "workspace")
            .map(|o| ResourceRef::new(Model::Workspace, o)),
        on_duty_status: r.known("on_duty_status", "onDutyStatus", DUTY_STATUSES),
        do_not_disturb: r.bool("do_not_disturb", "doNotDisturb"),
        is_online: r.bool("is_online", "isOnline"),
        image_url: r.string("image_url", "imageUrl"),
    };
    Mapped {
        model: Model::User,
        id,
        fields: u.into_fields(),
        created_at: created,
        updated_at: None,
        warnings: r.warnings,
    }
}

/// A `genericUser` write body (create or update). Unknown fields are refused (but the keys of
/// the connection's written field mappings). Creating needs `email` and `workspace`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserWrite {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub emails: Option<Vec<String>>,
    pub phone_numbers: Option<Vec<String>>,
    pub extension: Option<String>,
    pub job_title: Option<String>,
    pub state: Option<String>,
    pub is_super_admin: Option<bool>,
    pub license: Option<String>,
    /// The office (a `genericWorkspace`) the user is created in.
    pub workspace: Option<RefInput>,
}

fn check_known(errors: &mut Invalid, path: &str, v: &Option<String>, known: &[&str]) {
    if let Some(v) = v {
        if !known.contains(&v.as_str()) {
            errors.push(field_error(
                path,
                format!("must be one of {}", known.join(", ")),
            ));
        }
    }
}

fn office_id(errors: &mut Invalid, w: &RefInput) -> Option<i64> {
    let id = w.id();
    match id.parse::<i64>() {
        Ok(n) if is_numeric_id(&id) => Some(n),
        _ => {
            errors.push(field_error(
                "workspace",
                format!("{} is not a workspace id", crate::read::quote_input(&id)),
            ));
            None
        }
    }
}

impl UserWrite {
    /// The body of `POST /api/v2/users`: Dialpad needs the email and the office.
    pub fn create_body(&self) -> Result<Value, Invalid> {
        let mut errors = Invalid::new();
        let mut body = Map::new();
        match self.email.as_deref().map(str::trim) {
            Some(e) if e.contains('@') => {
                body.insert("email".into(), json!(e));
            }
            Some(_) => errors.push(field_error("email", "not an email address")),
            None => errors.push(field_error(
                "email",
                "required: Dialpad needs the user's email",
            )),
        }
        match &self.workspace {
            Some(w) => {
                if let Some(id) = office_id(&mut errors, w) {
                    body.insert("office_id".into(), json!(id));
                }
            }
            None => errors.push(field_error(
                "workspace",
                "required: Dialpad creates a user in an office",
            )),
        }
        if let Some(v) = &self.first_name {
            body.insert("first_name".into(), json!(v));
        }
        if let Some(v) = &self.last_name {
            body.insert("last_name".into(), json!(v));
        }
        check_known(&mut errors, "license", &self.license, LICENSES);
        if let Some(v) = &self.license {
            body.insert("license".into(), json!(v));
        }
        for (path, set) in [
            ("emails", self.emails.is_some()),
            ("phoneNumbers", self.phone_numbers.is_some()),
            ("extension", self.extension.is_some()),
            ("jobTitle", self.job_title.is_some()),
            ("state", self.state.is_some()),
            ("isSuperAdmin", self.is_super_admin.is_some()),
        ] {
            if set {
                errors.push(field_error(
                    path,
                    "Dialpad does not take this on create: update the user after creating it",
                ));
            }
        }
        if errors.is_empty() {
            Ok(Value::Object(body))
        } else {
            Err(errors)
        }
    }

    /// The body of `PATCH /api/v2/users/{id}`.
    pub fn update_body(&self) -> Result<Value, Invalid> {
        let mut errors = Invalid::new();
        let mut body = Map::new();
        let mut put = |k: &str, v: Value| {
            body.insert(k.into(), v);
        };
        if let Some(v) = &self.first_name {
            put("first_name", json!(v));
        }
        if let Some(v) = &self.last_name {
            put("last_name", json!(v));
        }
        if let Some(v) = &self.extension {
            put("extension", json!(v));
        }
        if let Some(v) = &self.job_title {
            put("job_title", json!(v));
        }
        if let Some(v) = &self.is_super_admin {
            put("is_super_admin", json!(v));
        }
        if self.email.is_some() || self.emails.is_some() {
            let mut all: Vec<String> = self.email.iter().cloned().collect();
            all.extend(self.emails.iter().flatten().cloned());
            all.dedup();
            for (i, e) in all.iter().enumerate() {
                if !e.contains('@') {
                    errors.push(field_error(&format!("emails[{i}]"), "not an email address"));
                }
            }
            put("emails", json!(all));
        }
        if let Some(ns) = &self.phone_numbers {
            let mut out = Vec::new();
            for (i, n) in ns.iter().enumerate() {
                match normalize_phone(n) {
                    Some(n) => out.push(n),
                    None => errors.push(field_error(
                        &format!("phoneNumbers[{i}]"),
                        "not a phone number (E.164)",
                    )),
                }
            }
            put("phone_numbers", json!(out));
        }
        check_known(&mut errors, "state", &self.state, &["active", "suspended"]);
        if let Some(v) = &self.state {
            put("state", json!(v));
        }
        check_known(&mut errors, "license", &self.license, LICENSES);
        if let Some(v) = &self.license {
            put("license", json!(v));
        }
        if let Some(w) = &self.workspace {
            if let Some(id) = office_id(&mut errors, w) {
                put("office_id", json!(id));
            }
        }
        if errors.is_empty() {
            Ok(Value::Object(body))
        } else {
            Err(errors)
        }
    }
}

/// Whether a mapped user matches a name search (email and phone searches go to Dialpad).
pub fn matches_name(m: &Mapped, q: &str) -> bool {
    let needle = q.trim().to_lowercase();
    ["firstName", "lastName", "displayName"].iter().any(|k| {
        m.fields
            .get(*k)
            .and_then(Value::as_str)
            .is_some_and(|s| s.to_lowercase().contains(&needle))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::parse_write;

    #[test]
    fn rest_and_webhook_shapes() {
        for raw in [
            json!({"id": "5910974862917632", "first_name": "Grace", "last_name": "Hopper",
                "emails": ["grace@example.com"], "office_id": "4503599627370496",
                "date_added": "1704164645123", "state": "active", "is_admin": true,
                "license": "talk", "on_duty_status": "available", "phone_numbers": ["+14155550111"]}),
            json!({"id": 5910974862917632_i64, "first_name": "Grace", "last_name": "Hopper",
                "emails": ["grace@example.com"], "office_id": 4503599627370496_i64,
                "date_added": 1704164645123_i64, "state": "active", "is_admin": true,
                "license": "talk", "on_duty_status": "available", "phone_numbers": ["+14155550111"]}),
        ] {
            let m = from_dialpad(&raw);
            assert!(m.warnings.is_empty(), "{:?}", m.warnings);
            assert_eq!(m.id, "5910974862917632");
            assert_eq!(m.created_at.as_deref(), Some("2024-01-02T03:04:05.123Z"));
            assert_eq!(m.fields["email"], "grace@example.com");
            assert_eq!(m.fields["workspace"]["id"], "4503599627370496");
            assert_eq!(m.fields["workspace"]["model"], "genericWorkspace");
            assert_eq!(m.fields["phoneNumbers"], json!(["+14155550111"]));
        }
    }

    #[test]
    fn fast_field_map_agrees_with_serde() {
        let s = || Some("x".to_owned());
        let u = User {
            first_name: s(),
            last_name: s(),
            display_name: s(),
            email: s(),
            emails: vec!["e".into()],
            phone_numbers: vec!["p".into()],
            extension: s(),
            job_title: s(),
            timezone: s(),
            language: s(),
            country: s(),
            state: s(),
            is_admin: Some(true),
            is_super_admin: Some(false),
            license: s(),
            workspace: Some(ResourceRef::new(Model::Workspace, "w")),
            on_duty_status: s(),
            do_not_disturb: Some(true),
            is_online: Some(false),
            image_url: s(),
        };
        assert_eq!(u.clone().into_fields(), crate::models::to_fields(&u));
        let empty = User::default();
        assert_eq!(
            empty.clone().into_fields(),
            crate::models::to_fields(&empty)
        );
    }

    #[test]
    fn unknown_state_kept() {
        let m = from_dialpad(&json!({"id": "1", "state": "hibernating", "license": "galaxy"}));
        assert_eq!(m.fields["state"], "hibernating");
        assert_eq!(m.warnings.len(), 2);
    }

    #[test]
    fn create_needs_email_and_workspace() {
        let w: UserWrite = parse_write(&json!({"firstName": "G"})).unwrap();
        let paths: Vec<String> = w
            .create_body()
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, vec!["email", "workspace"]);
        let w: UserWrite = parse_write(
            &json!({"email": "g@example.com", "workspace": {"id": "45"}, "license": "talk"}),
        )
        .unwrap();
        assert_eq!(
            w.create_body().unwrap(),
            json!({"email": "g@example.com", "office_id": 45, "license": "talk"})
        );
    }

    #[test]
    fn update_body() {
        let w: UserWrite = parse_write(
            &json!({"jobTitle": "Admiral", "phoneNumbers": ["415 555 0100"], "state": "suspended"}),
        )
        .unwrap();
        assert_eq!(
            w.update_body().unwrap(),
            json!({"job_title": "Admiral", "phone_numbers": ["+14155550100"], "state": "suspended"})
        );
        let w: UserWrite = parse_write(&json!({"state": "deleted"})).unwrap();
        assert_eq!(w.update_body().unwrap_err()[0].path, "state");
    }
}
