//! `telephonySms` (models.md §telephonySms, events only, ours): a text message as Dialpad's SMS
//! events describe it. It has no resources API (Dialpad cannot list or fetch messages), so it
//! is not a [`crate::Model`]; its resource JSON has the same envelope as the models'.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::models::ResourceRef;
use crate::read::{iso, Reader, Warning, UNKNOWN_VALUE};
use crate::Model;

/// The model name in events and webhook bodies.
pub const MODEL: &str = "telephonySms";

/// Dialpad's `message_status` values (SMSProto), and the unified status of each.
pub const STATUSES: &[(&str, &str)] = &[
    ("pending", "pending"),
    ("success", "delivered"),
    ("failed", "failed"),
];

/// A text message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sms {
    /// `inbound` (received) or `outbound` (sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// `pending`, `delivered` or `failed` (Dialpad's `success` is `delivered`); an unknown
    /// Dialpad status is kept as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Dialpad's own `message_status`, as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialpad_status: Option<String>,
    /// Dialpad's `message_delivery_result` (`accepted`, `rejected`, `no_route`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_result: Option<String>,
    /// The sender's number, E.164.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The recipients' numbers, E.164.
    pub to: Vec<String>,
    /// The message; only when the subscription may see content (`message_content_export`,
    /// `:all` for company-wide subscriptions). Absent otherwise, never empty for "hidden".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The company's user who sent or received it (the target, or for a group target such as
    /// an office, the user who sent it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::models::ExpandableRef>)]
    pub user: Option<ResourceRef>,
    /// The external party, when Dialpad knows them as a contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::models::ExpandableRef>)]
    pub contact: Option<ResourceRef>,
    /// When the message was created (and sent), ISO-8601.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mms: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mms_url: Option<String>,
    /// Sent between two users of the company.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_internal: Option<bool>,
}

/// One message mapped from Dialpad: its id, the unified fields, what could not be mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedSms {
    pub id: String,
    pub sms: Sms,
    /// ISO-8601 of `created_date`.
    pub sent_at: Option<String>,
    pub warnings: Vec<Warning>,
}

fn numbers(r: &mut Reader<'_>, keys: &[&str]) -> Vec<String> {
    for key in keys {
        match r.get(key) {
            None => continue,
            // One recipient, as a string.
            Some(Value::String(s)) if !s.is_empty() => return vec![s.clone()],
            Some(_) => return r.strings(key, "to"),
        }
    }
    Vec::new()
}

fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Maps a Dialpad SMS event payload (or an `SMSProto`: `to_numbers`, `user_id`, `contact_id`).
pub fn from_dialpad(raw: &Value) -> MappedSms {
    let mut r = Reader::new(raw);
    let id = r.id("id", "id").unwrap_or_default();
    let dialpad_status = r.string("message_status", "status");
    let status = dialpad_status
        .as_deref()
        .map(|s| match STATUSES.iter().find(|(d, _)| *d == s) {
            Some((_, unified)) => (*unified).to_owned(),
            None => {
                r.warn(
                    UNKNOWN_VALUE,
                    "status",
                    format!("Dialpad's SMS status {s:?} is new to this connector: kept as sent"),
                );
                s.to_owned()
            }
        });
    let target = r.child("target");
    let target_user = target
        .filter(|t| t.get("type").and_then(Value::as_str) == Some("user"))
        .and_then(|t| id_of(t.get("id")));
    let user = target_user
        .or_else(|| r.id("sender_id", "user"))
        .or_else(|| r.id("user_id", "user"))
        .map(|u| ResourceRef::new(Model::User, u));
    let contact = r
        .child("contact")
        .and_then(|c| id_of(c.get("id")))
        .or_else(|| r.id("contact_id", "contact"))
        .map(|c| ResourceRef::new(Model::Contact, c));
    let sent_at = r.time("created_date", "sentAt").map(iso);
    let sms = Sms {
        direction: r.known("direction", "direction", &["inbound", "outbound"]),
        status,
        dialpad_status,
        delivery_result: r.string("message_delivery_result", "deliveryResult"),
        from: r.string("from_number", "from"),
        to: numbers(&mut r, &["to_number", "to_numbers"]),
        text: r.string("text", "text"),
        user,
        contact,
        sent_at: sent_at.clone(),
        mms: r.bool("mms", "mms"),
        mms_url: r.string("mms_url", "mmsUrl"),
        is_internal: r.bool("is_internal", "isInternal"),
    };
    MappedSms {
        id,
        sms,
        sent_at,
        warnings: r.warnings,
    }
}

/// The resource JSON of a message, in the envelope `resources::resource_json` gives the
/// models: `{object: "resource", model: "telephonySms", id, fields, createdAt, updatedAt,
/// warnings?}`; `createdAt` is when it was sent, `updatedAt` the event's time.
pub fn resource_json(m: MappedSms, updated_at: Option<String>) -> Value {
    let fields = match serde_json::to_value(&m.sms) {
        Ok(Value::Object(f)) => f,
        _ => Map::new(),
    };
    let created = m.sent_at;
    let updated = updated_at.or_else(|| created.clone());
    let mut out = Map::with_capacity(7);
    out.insert("object".into(), Value::from("resource"));
    out.insert("model".into(), Value::from(MODEL));
    out.insert("id".into(), Value::String(m.id));
    out.insert("fields".into(), Value::Object(fields));
    out.insert(
        "createdAt".into(),
        created.map_or(Value::Null, Value::String),
    );
    out.insert(
        "updatedAt".into(),
        updated.map_or(Value::Null, Value::String),
    );
    if !m.warnings.is_empty() {
        out.insert(
            "warnings".into(),
            serde_json::to_value(&m.warnings).unwrap_or_default(),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::fixtures;
    use serde_json::json;

    #[test]
    fn outbound_with_text_and_status() {
        let f = fixtures::load();
        let m = from_dialpad(&fixtures::event(&f, "sms/outbound/pending"));
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(m.id, "4504573872452006");
        let v = serde_json::to_value(&m.sms).unwrap();
        assert_eq!(
            v,
            json!({
                "direction": "outbound", "status": "pending", "dialpadStatus": "pending",
                "deliveryResult": "accepted", "from": "+14155551000", "to": ["+14155550123"],
                "text": "Your order shipped",
                "user": {"object": "resourceRef", "model": "genericUser", "id": "4504573872110687"},
                "sentAt": m.sent_at.clone().unwrap(), "mms": false, "isInternal": false
            })
        );
        let done = from_dialpad(&fixtures::event(&f, "sms/outbound/success"));
        assert_eq!(done.sms.status.as_deref(), Some("delivered"));
        assert_eq!(done.sms.dialpad_status.as_deref(), Some("success"));
    }

    #[test]
    fn inbound_and_without_content() {
        let f = fixtures::load();
        let mut claims = fixtures::event(&f, "sms/inbound/success");
        let m = from_dialpad(&claims);
        assert_eq!(m.sms.direction.as_deref(), Some("inbound"));
        assert_eq!(m.sms.from.as_deref(), Some("+14155550123"));
        assert_eq!(m.sms.text.as_deref(), Some("Thanks!"));
        // Without message_content_export Dialpad leaves `text` out: so do we.
        claims.as_object_mut().unwrap().remove("text");
        let m = from_dialpad(&claims);
        assert_eq!(m.sms.text, None);
        assert!(serde_json::to_value(&m.sms).unwrap().get("text").is_none());
    }

    #[test]
    fn group_targets_contacts_and_rest_spellings() {
        let m = from_dialpad(&json!({
            "id": "7", "direction": "outbound", "message_status": "failed",
            "message_delivery_result": "rejected_spam",
            "target": {"id": 124, "type": "office", "name": "Main"}, "sender_id": 59,
            "contact": {"id": 57, "name": "Ada", "phone_number": "+14155550100"},
            "from_number": "+14155551000", "to_number": "+14155550100", "created_date": 1704164645000_i64
        }));
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(m.sms.user.as_ref().unwrap().id, "59");
        assert_eq!(m.sms.contact.as_ref().unwrap().id, "57");
        assert_eq!(m.sms.contact.as_ref().unwrap().model, "genericContact");
        assert_eq!(m.sms.to, vec!["+14155550100"]);
        assert_eq!(m.sms.status.as_deref(), Some("failed"));
        assert_eq!(m.sent_at.as_deref(), Some("2024-01-02T03:04:05.000Z"));
        // The REST spelling (SMSProto).
        let rest = from_dialpad(&json!({"id": "8", "direction": "outbound", "user_id": "59",
            "contact_id": "57", "to_numbers": ["+1", "+2"], "message_status": "pending",
            "created_date": "2024-01-02T03:04:05"}));
        assert_eq!(rest.sms.user.unwrap().id, "59");
        assert_eq!(rest.sms.contact.unwrap().id, "57");
        assert_eq!(rest.sms.to, vec!["+1", "+2"]);
        assert_eq!(rest.sent_at.as_deref(), Some("2024-01-02T03:04:05.000Z"));
    }

    #[test]
    fn unknown_and_odd_values_warn() {
        let m = from_dialpad(
            &json!({"id": 1, "direction": "sideways", "message_status": "queued",
            "to_number": [3, "+1"], "mms": "maybe", "created_date": "soon"}),
        );
        assert_eq!(m.sms.status.as_deref(), Some("queued"));
        assert_eq!(m.sms.direction.as_deref(), Some("sideways"));
        assert_eq!(m.sms.to, vec!["+1"]);
        let fields: Vec<&str> = m.warnings.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(fields, vec!["status", "sentAt", "direction", "to", "mms"]);
        let v = resource_json(m, None);
        assert_eq!(v["warnings"].as_array().unwrap().len(), 5);
        assert_eq!(v["createdAt"], Value::Null);
        // Garbage never panics.
        for g in [
            json!(null),
            json!([]),
            json!({"target": [], "contact": 5, "to_number": {}}),
        ] {
            let _ = resource_json(from_dialpad(&g), None);
        }
    }

    #[test]
    fn envelope_matches_the_models_resources() {
        let f = fixtures::load();
        let sms = resource_json(
            from_dialpad(&fixtures::event(&f, "sms/outbound/pending")),
            Some("2024-01-02T03:04:06.000Z".into()),
        );
        let contact = crate::resources::resource_json(
            crate::resources::Record {
                mapped: crate::models::contact::from_dialpad(&json!({"id": "5"})),
                raw: Value::Null,
            },
            &Default::default(),
            Some(("a".into(), "b".into())),
        );
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&sms), keys(&contact));
        assert_eq!(sms["model"], MODEL);
        assert_eq!(sms["updatedAt"], "2024-01-02T03:04:06.000Z");
    }
}
