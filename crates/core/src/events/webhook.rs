//! What the connector POSTs to an app's webhook endpoint: the body (http-api.md: `{event,
//! connectorId, ownerId, data, source, occurredAt}`) and its Standard Webhooks signature
//! (standardwebhooks.com: `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.
//! {body}">`, keyed by the base64 part of a `whsec_…` secret; several space-separated
//! signatures while a secret is being rotated). Receivers verify it with any Standard
//! Webhooks or Svix library; the test vector below is theirs.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

use super::UnifiedEvent;
use crate::read::iso;

/// The prefix of a signing secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (Standard Webhooks asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;

/// The body of an event delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody<'a> {
    /// The event type, e.g. `telephonyCall::updated`.
    pub event: &'a str,
    pub connector_id: &'a str,
    /// The connection's owner.
    pub owner_id: &'a str,
    /// The resource as the resources API renders it (without `rawResource`).
    #[schema(schema_with = resource_schema)]
    pub data: &'a Value,
    /// `dialpad` (Dialpad's event) or `poll` (a change the connector found by polling).
    pub source: &'a str,
    /// When it happened, ISO-8601 UTC with milliseconds.
    pub occurred_at: String,
}

/// `data` is the server document's `Resource` (the envelope shared by every model).
fn resource_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::Ref::from_schema_name("Resource").into()
}

/// `occurredAt` of an event; a time out of chrono's range (only a hand-built event can have
/// one: `normalize` reads times through the tolerant reader) is written as the epoch.
fn occurred_at(ms: i64) -> String {
    dialpad::Timestamp::from_millis(ms)
        .or_else(|| dialpad::Timestamp::from_millis(0))
        .map(iso)
        .unwrap_or_default()
}

/// The JSON body POSTed for `event`.
pub fn webhook_body(
    event: &UnifiedEvent,
    connector_id: &str,
    owner_id: &str,
    source: &str,
) -> String {
    let body = WebhookBody {
        event: &event.event_type,
        connector_id,
        owner_id,
        data: &event.data,
        source,
        occurred_at: occurred_at(event.occurred_at_ms),
    };
    // Strings and a `Value` always serialize.
    serde_json::to_string(&body).unwrap_or_default()
}

/// A secret that cannot sign. The messages never include the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("a signing secret starts with `whsec_`")]
    MissingPrefix,
    #[error("the signing secret after `whsec_` is not base64")]
    BadBase64,
    #[error("the signing secret is empty")]
    EmptyKey,
    #[error("no signing secret")]
    NoSecrets,
}

/// The standard alphabet, with or without padding (Svix's secrets have none, ours do).
const SECRET_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `v1,<signature>` of one delivery attempt: HMAC-SHA256 over `{msg_id}.{timestamp}.{body}`
/// keyed by the base64-decoded part of `secret` after `whsec_`.
pub fn sign(
    secret: &str,
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> Result<String, SignError> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or(SignError::MissingPrefix)?;
    let key = SECRET_B64
        .decode(encoded)
        .map_err(|_| SignError::BadBase64)?;
    if key.is_empty() {
        return Err(SignError::EmptyKey);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| SignError::EmptyKey)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one signature per secret, space-separated (during a
/// rotation the endpoint has the new secret and the old one; a receiver accepts any match).
pub fn signature_header(
    secrets: &[&str],
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> Result<String, SignError> {
    if secrets.is_empty() {
        return Err(SignError::NoSecrets);
    }
    let sigs = secrets
        .iter()
        .map(|s| sign(s, msg_id, timestamp_secs, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(sigs.join(" "))
}

/// A new signing secret: `whsec_` and 32 random bytes in base64, from the thread-local CSPRNG
/// (`rand::rng()`, ChaCha12 seeded and reseeded from the OS).
pub fn new_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The Standard Webhooks test vector (the reference libraries' tests, e.g. svix's
    /// `testSignFunctionWorks`): interoperability, which a round trip through our own code
    /// could not show.
    #[test]
    fn the_standard_webhooks_test_vector() {
        assert_eq!(
            sign(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#,
            )
            .unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    /// An independent computation of the same construction, for the new secrets.
    fn reference(secret: &str, id: &str, ts: i64, body: &str) -> String {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{ts}.{body}").as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn rotation_header_and_new_secrets() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        for s in [&a, &b] {
            assert!(s.starts_with("whsec_"));
            assert_eq!(STANDARD.decode(&s[6..]).unwrap().len(), SECRET_BYTES, "{s}");
        }
        let h = signature_header(&[&a, &b], "msg_1", 1700000000, b"{}").unwrap();
        let parts: Vec<&str> = h.split(' ').collect();
        assert_eq!(
            parts,
            vec![
                reference(&a, "msg_1", 1700000000, "{}"),
                reference(&b, "msg_1", 1700000000, "{}")
            ]
        );
        assert_eq!(
            signature_header(&[], "m", 1, b""),
            Err(SignError::NoSecrets)
        );
        assert_eq!(
            signature_header(&[&a, "nope"], "m", 1, b""),
            Err(SignError::MissingPrefix)
        );
        // Another id, time or body is another signature.
        let base = sign(&a, "msg_1", 1, b"x").unwrap();
        assert_ne!(base, sign(&a, "msg_2", 1, b"x").unwrap());
        assert_ne!(base, sign(&a, "msg_1", 2, b"x").unwrap());
        assert_ne!(base, sign(&a, "msg_1", 1, b"y").unwrap());
    }

    #[test]
    fn bad_secrets() {
        for (secret, want) in [
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SignError::MissingPrefix),
            ("whsec_", SignError::EmptyKey),
            ("whsec_S3cret-not-base64!", SignError::BadBase64),
            ("whsec_a", SignError::BadBase64),
        ] {
            let e = sign(secret, "m", 1, b"").unwrap_err();
            assert_eq!(e, want, "{secret}");
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains("MfKQ9r8G") && !shown.contains("S3cret"),
                "{shown}"
            );
        }
        // With or without padding, one key.
        let padded = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let bare = padded.trim_end_matches('=');
        assert_eq!(
            sign(padded, "m", 1, b"").unwrap(),
            sign(bare, "m", 1, b"").unwrap()
        );
    }

    #[test]
    fn the_body() {
        let e = UnifiedEvent {
            event_type: "telephonyCall::updated".into(),
            model: "telephonyCall",
            resource_id: "9".into(),
            data: json!({"object": "resource", "model": "telephonyCall", "id": "9", "fields": {}}),
            occurred_at_ms: 1704164645123,
        };
        let body: Value =
            serde_json::from_str(&webhook_body(&e, "dialpad", "owner-1", "dialpad")).unwrap();
        assert_eq!(
            body,
            json!({
                "event": "telephonyCall::updated",
                "connectorId": "dialpad",
                "ownerId": "owner-1",
                "data": {"object": "resource", "model": "telephonyCall", "id": "9", "fields": {}},
                "source": "dialpad",
                "occurredAt": "2024-01-02T03:04:05.123Z"
            })
        );
        let odd = UnifiedEvent {
            occurred_at_ms: i64::MAX,
            ..e
        };
        let body: Value =
            serde_json::from_str(&webhook_body(&odd, "c", "o\"wner", "poll")).unwrap();
        assert_eq!(body["occurredAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(body["ownerId"], "o\"wner");
    }

    #[test]
    fn the_body_schema_names_the_resource() {
        use utoipa::PartialSchema;
        let s = serde_json::to_value(WebhookBody::schema()).unwrap();
        assert_eq!(
            s["properties"]["data"]["$ref"],
            "#/components/schemas/Resource"
        );
        assert_eq!(s["properties"]["occurredAt"]["type"], "string");
        let required: Vec<&str> = s["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for f in [
            "event",
            "connectorId",
            "ownerId",
            "data",
            "source",
            "occurredAt",
        ] {
            assert!(required.contains(&f), "{f}: {required:?}");
        }
    }
}
