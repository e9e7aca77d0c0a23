//! Webhooks: `/api/v2/webhooks`.

use std::fmt::{self, Display};

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::client::{api, Client};
use crate::error::Result;
use crate::pagination::ListRequest;
use crate::wire;

/// How Dialpad signs webhook payloads (`SignatureProto`). The secret is a
/// [`SecretString`] so it never appears in `Debug` output.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Signature {
    /// e.g. `HS256`.
    pub algo: Option<String>,
    #[serde(
        deserialize_with = "wire::opt_secret",
        serialize_with = "ser_opt_secret"
    )]
    pub secret: Option<SecretString>,
    /// e.g. `jwt`.
    #[serde(rename = "type")]
    pub signature_type: Option<String>,
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("algo", &self.algo)
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field("type", &self.signature_type)
            .finish()
    }
}

pub(crate) fn ser_opt_secret<S: Serializer>(
    v: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v.expose_secret()),
        None => s.serialize_none(),
    }
}

/// A webhook endpoint (`WebhookProto`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Webhook {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    pub hook_url: Option<String>,
    pub signature: Option<Signature>,
}

/// A websocket endpoint attached to a subscription (`WebsocketProto`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Websocket {
    #[serde(with = "wire::opt_int64")]
    pub id: Option<i64>,
    pub signature: Option<Signature>,
    pub websocket_url: Option<String>,
}

/// Body of `POST /api/v2/webhooks` and `PATCH /api/v2/webhooks/{id}`. With a
/// `secret`, Dialpad sends events as HS256-signed JWTs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WebhookRequest {
    /// Required on create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_url: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_secret"
    )]
    pub secret: Option<SecretString>,
}

impl WebhookRequest {
    pub fn new(hook_url: impl Into<String>) -> Self {
        WebhookRequest {
            hook_url: Some(hook_url.into()),
            secret: None,
        }
    }

    pub fn secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.secret = Some(secret.into());
        self
    }
}

/// Handler for webhooks; from [`Client::webhooks`].
#[derive(Debug, Clone, Copy)]
pub struct Webhooks<'c> {
    pub(crate) client: &'c Client,
}

impl Webhooks<'_> {
    /// `GET /api/v2/webhooks`.
    pub fn list(&self) -> ListRequest<Webhook> {
        ListRequest::new(self.client, api(Method::GET, &["webhooks"]))
    }

    /// `POST /api/v2/webhooks`.
    pub async fn create(&self, body: &WebhookRequest) -> Result<Webhook> {
        self.client
            .json(api(Method::POST, &["webhooks"]).json(body)?)
            .await
    }

    /// `GET /api/v2/webhooks/{id}`.
    pub async fn get(&self, id: impl Display) -> Result<Webhook> {
        let id = id.to_string();
        self.client.json(api(Method::GET, &["webhooks", &id])).await
    }

    /// `PATCH /api/v2/webhooks/{id}`.
    pub async fn update(&self, id: impl Display, body: &WebhookRequest) -> Result<Webhook> {
        let id = id.to_string();
        self.client
            .json(api(Method::PATCH, &["webhooks", &id]).json(body)?)
            .await
    }

    /// `DELETE /api/v2/webhooks/{id}`; returns the deleted webhook.
    pub async fn delete(&self, id: impl Display) -> Result<Webhook> {
        let id = id.to_string();
        self.client
            .json(api(Method::DELETE, &["webhooks", &id]))
            .await
    }
}

impl Client {
    /// Webhooks (`/api/v2/webhooks`).
    pub fn webhooks(&self) -> Webhooks<'_> {
        Webhooks { client: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secret_is_redacted_but_sent() {
        let w: Webhook = serde_json::from_str(
            r#"{"id":"99","hook_url":"https://x.test/h","signature":{"algo":"HS256","secret":"s3cr3t","type":"jwt"}}"#,
        )
        .unwrap();
        assert_eq!(w.id, Some(99));
        assert!(!format!("{w:?}").contains("s3cr3t"));
        let body = WebhookRequest::new("https://x.test/h").secret("s3cr3t");
        assert!(!format!("{body:?}").contains("s3cr3t"));
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"hook_url":"https://x.test/h","secret":"s3cr3t"})
        );
    }
}
