//! `genericWorkspace` ⇄ offices (`/api/v2/offices`); `me` is the primary office with the
//! company (`/api/v2/company`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{
    field, field_error, record_id, to_fields, Filter, FilterKind, Invalid, Mapped, Model,
    ModelInfo, Support,
};
use crate::read::Reader;

pub const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
pub const STATES: &[&str] = &["active", "suspended", "pending", "cancelled", "deleted"];
pub const AVAILABILITY: &[&str] = &["open", "closed", "holiday_open", "holiday_closed"];

/// The company an office belongs to (on `me`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Company {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// The unified workspace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    pub phone_numbers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_primary: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_status: Option<String>,
    /// Opening hours per day (`monday` … `sunday`), as Dialpad's `HH:MM` pairs.
    #[schema(value_type = Object)]
    pub hours: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<Company>,
}

pub static INFO: ModelInfo = ModelInfo {
    model: Model::Workspace,
    description: "Dialpad offices; `me` is the primary office with the company",
    create: Support::Native,
    update: Support::Native,
    delete: Support::NotSupported("Dialpad's API cannot delete an office (only the admin app can)"),
    filters: &[Filter {
        name: "activeOnly",
        kind: FilterKind::Boolean,
        description: "only active offices",
    }],
    search: Some("office name"),
    expand: &[],
    me: true,
    fields: &[
        field("name", "string", "office name (required on create)", false),
        field(
            "country",
            "string",
            "country code (required on create)",
            false,
        ),
        field("timezone", "string", "time zone", false),
        field(
            "phoneNumbers",
            "string[]",
            "the office's numbers, E.164",
            true,
        ),
        field("isPrimary", "boolean", "the company's primary office", true),
        field("state", "string", "office state", true),
        field(
            "availabilityStatus",
            "string",
            "open, closed, holiday_open, holiday_closed",
            true,
        ),
        field(
            "hours",
            "object",
            "opening hours per day: `{monday: [\"08:00\", \"18:00\"], …}`",
            false,
        ),
        field(
            "company",
            "object",
            "the company `{id, name, domain}` (on `me`)",
            true,
        ),
    ],
    raw_fields: &[
        field("e911_address", "object", "emergency address", true),
        field(
            "ring_seconds",
            "integer",
            "ring time before the no-answer action",
            true,
        ),
        field("first_action", "string", "first routing action", true),
        field(
            "no_operators_action",
            "string",
            "action when no operator answers",
            true,
        ),
        field("routing_options", "object", "open and closed routing", true),
        field("office_settings", "object", "office settings", true),
        field(
            "voicemail_notification_emails",
            "string[]",
            "voicemail notification emails",
            true,
        ),
    ],
};

/// Maps a Dialpad office (`OfficeProto`), with the company when it is known (`me`).
pub fn from_dialpad(raw: &Value, company: Option<&Value>) -> Mapped {
    let mut r = Reader::new(raw);
    let id = r
        .id("id", "id")
        .or_else(|| r.id("office_id", "id"))
        .unwrap_or_else(|| record_id(&mut r, "id"));
    let mut hours = Map::new();
    for day in DAYS {
        let key = format!("{day}_hours");
        if r.get(&key).is_some() {
            hours.insert(day.into(), json!(r.strings(&key, &format!("hours.{day}"))));
        }
    }
    let company = company.map(|c| {
        let mut cr = Reader::new(c);
        let out = Company {
            id: cr.id("id", "company.id"),
            name: cr.string("name", "company.name"),
            domain: cr.string("domain", "company.domain"),
        };
        r.warnings.append(&mut cr.warnings);
        out
    });
    let w = Workspace {
        name: r.string("name", "name"),
        country: r.string("country", "country"),
        timezone: r.string("timezone", "timezone"),
        phone_numbers: r.strings("phone_numbers", "phoneNumbers"),
        is_primary: r.bool("is_primary_office", "isPrimary"),
        state: r.known("state", "state", STATES),
        availability_status: r.known("availability_status", "availabilityStatus", AVAILABILITY),
        hours,
        company,
    };
    Mapped {
        model: Model::Workspace,
        id,
        fields: to_fields(&w),
        created_at: None,
        updated_at: None,
        warnings: r.warnings,
    }
}

/// A `genericWorkspace` write body. Dialpad's office creation also needs billing details the
/// unified model does not have: they go in `dialpad` with Dialpad's own names (`currency`,
/// `plan_period`, `billing_address`, …), and a missing one is named in the 422. An update
/// changes the hours only (`hours`, `hoursOn`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceWrite {
    /// Required to create.
    pub name: Option<String>,
    /// Required to create: ISO 3166 alpha-2, any case (`us`, as read).
    pub country: Option<String>,
    /// An IANA time zone, e.g. `America/New_York`.
    pub timezone: Option<String>,
    /// Opening hours per day (`monday` … `sunday`): `HH:MM` opening and closing times, in
    /// pairs.
    #[schema(value_type = Option<HashMap<String, Vec<String>>>)]
    pub hours: Option<Map<String, Value>>,
    pub hours_on: Option<bool>,
    /// Dialpad's own office fields, by Dialpad's names: to create, `currency`, `plan_period`,
    /// `annual_commit_monthly_billing`, `invoiced`, `unified_billing` and `billing_address`.
    #[schema(value_type = Option<Object>)]
    pub dialpad: Option<Map<String, Value>>,
}

/// Fields Dialpad requires to create an office, beyond name and country.
const CREATE_REQUIRED: &[&str] = &[
    "currency",
    "plan_period",
    "annual_commit_monthly_billing",
    "invoiced",
    "unified_billing",
    "billing_address",
];

fn hours_into(hours: &Map<String, Value>, body: &mut Map<String, Value>, errors: &mut Invalid) {
    for (day, v) in hours {
        if !DAYS.contains(&day.as_str()) {
            errors.push(field_error(
                &format!("hours.{day}"),
                format!("not a day: use {}", DAYS.join(", ")),
            ));
            continue;
        }
        let ok = v.as_array().is_some_and(|a| {
            a.len() % 2 == 0
                && a.iter().all(|t| {
                    t.as_str().is_some_and(|t| {
                        let b = t.as_bytes();
                        b.len() == 5
                            && b[2] == b':'
                            && t[..2].parse::<u8>().is_ok_and(|h| h < 24)
                            && t[3..].parse::<u8>().is_ok_and(|m| m < 60)
                    })
                })
        });
        if !ok {
            errors.push(field_error(
                &format!("hours.{day}"),
                "a list of `HH:MM` opening and closing times, in pairs",
            ));
            continue;
        }
        body.insert(format!("{day}_hours"), v.clone());
    }
}

impl WorkspaceWrite {
    /// The body of `POST /api/v2/offices`. The country goes in upper case, as Dialpad's create
    /// takes it (its offices answer it in lower case, as the unified `country` reads).
    pub fn create_body(&self) -> Result<Value, Invalid> {
        let mut errors = Invalid::new();
        let mut body = self.dialpad.clone().unwrap_or_default();
        let country = self.country.as_deref().map(str::to_ascii_uppercase);
        for (path, key, v) in [
            ("name", "name", self.name.as_deref()),
            ("country", "country", country.as_deref()),
        ] {
            match v.map(str::trim) {
                Some(s) if !s.is_empty() => {
                    body.insert(key.into(), json!(s));
                }
                _ => errors.push(field_error(path, "required to create an office")),
            }
        }
        if let Some(tz) = &self.timezone {
            body.insert("timezone".into(), json!(tz));
        }
        if let Some(h) = &self.hours {
            hours_into(h, &mut body, &mut errors);
        }
        if let Some(on) = self.hours_on {
            body.insert("hours_on".into(), json!(on));
        }
        for key in CREATE_REQUIRED {
            if body.get(*key).is_none_or(Value::is_null) {
                errors.push(field_error(
                    &format!("dialpad.{key}"),
                    "Dialpad needs this billing detail to create an office (it has no unified field)",
                ));
            }
        }
        if errors.is_empty() {
            Ok(Value::Object(body))
        } else {
            Err(errors)
        }
    }

    /// The body of `PATCH /api/v2/offices/{id}`: Dialpad updates office hours only.
    pub fn update_body(&self) -> Result<Value, Invalid> {
        let mut errors = Invalid::new();
        let mut body = Map::new();
        for (path, set) in [
            ("name", self.name.is_some()),
            ("country", self.country.is_some()),
            ("timezone", self.timezone.is_some()),
            ("dialpad", self.dialpad.is_some()),
        ] {
            if set {
                errors.push(field_error(
                    path,
                    "Dialpad's API updates only an office's hours (`hours`, `hoursOn`)",
                ));
            }
        }
        if let Some(h) = &self.hours {
            hours_into(h, &mut body, &mut errors);
        }
        if let Some(on) = self.hours_on {
            body.insert("hours_on".into(), json!(on));
        }
        if errors.is_empty() {
            Ok(Value::Object(body))
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::parse_write;

    #[test]
    fn office_and_me() {
        let raw = json!({"id": "4503599627370496", "name": "HQ", "country": "us",
            "is_primary_office": true, "state": "active", "availability_status": "open",
            "phone_numbers": ["+14155550000"], "monday_hours": ["08:00", "18:00"]});
        let m = from_dialpad(&raw, None);
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(m.id, "4503599627370496");
        assert_eq!(m.fields["hours"], json!({"monday": ["08:00", "18:00"]}));
        assert!(m.fields.get("company").is_none());
        let company = json!({"id": 123, "name": "Acme", "domain": "acme.test"});
        let me = from_dialpad(&raw, Some(&company));
        assert_eq!(
            me.fields["company"],
            json!({"id": "123", "name": "Acme", "domain": "acme.test"})
        );
    }

    #[test]
    fn create_names_the_missing_billing_details() {
        let w: WorkspaceWrite = parse_write(&json!({"name": "Branch"})).unwrap();
        let paths: Vec<String> = w
            .create_body()
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths[0], "country");
        assert!(paths.contains(&"dialpad.currency".to_string()));
        assert!(paths.contains(&"dialpad.billing_address".to_string()));
    }

    #[test]
    fn create_sends_the_country_as_dialpad_takes_it() {
        let w: WorkspaceWrite = parse_write(&json!({"name": " Branch ", "country": "us ",
            "dialpad": {"currency": "USD", "plan_period": "monthly",
                "annual_commit_monthly_billing": false, "invoiced": false,
                "unified_billing": false, "billing_address": {"city": "SF"}}}))
        .unwrap();
        let body = w.create_body().unwrap();
        assert_eq!(
            (&body["name"], &body["country"]),
            (&json!("Branch"), &json!("US"))
        );
    }

    #[test]
    fn update_is_hours_only() {
        let w: WorkspaceWrite =
            parse_write(&json!({"hours": {"monday": ["09:00", "17:00"]}, "hoursOn": true}))
                .unwrap();
        assert_eq!(
            w.update_body().unwrap(),
            json!({"monday_hours": ["09:00", "17:00"], "hours_on": true})
        );
        let w: WorkspaceWrite =
            parse_write(&json!({"name": "x", "hours": {"funday": [], "monday": ["9am"]}})).unwrap();
        let paths: Vec<String> = w
            .update_body()
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, vec!["name", "hours.funday", "hours.monday"]);
    }
}
