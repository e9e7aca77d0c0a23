//! Any `/api/v2/…` call, answered as the caller's type (often `serde_json::Value`): for code
//! that maps Dialpad's records itself (the connector's unified models keep the record as
//! received). It goes through the same choke point as the typed calls: rate limits, retries,
//! token refresh and Dialpad's error envelope.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::client::{api, Client, RequestSpec};
use crate::error::Result;
use crate::Method;

/// A request built with [`Client::request`].
#[must_use = "a request does nothing until you call send()"]
pub struct ApiRequest {
    client: Client,
    spec: RequestSpec,
}

impl std::fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRequest")
            .field("method", &self.spec.method)
            .field("path", &self.spec.display_path())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// `method /api/v2/<parts…>`; each part is percent-encoded as one path segment.
    pub fn request(&self, method: Method, parts: &[&str]) -> ApiRequest {
        ApiRequest {
            client: self.clone(),
            spec: api(method, parts),
        }
    }
}

impl ApiRequest {
    /// Appends a query parameter.
    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.spec = self.spec.query(key, value);
        self
    }

    /// A JSON body.
    pub fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Result<Self> {
        self.spec = self.spec.json(body)?;
        Ok(self)
    }

    /// Fail with [`Error::RateLimited`](crate::Error::RateLimited) (its `retry_after` set)
    /// rather than wait longer than `max` for a rate-limit slot or a 429's `Retry-After`.
    pub fn max_wait(mut self, max: Duration) -> Self {
        self.spec.max_wait = Some(max);
        self
    }

    /// Sends and decodes the body.
    pub async fn send<T: DeserializeOwned>(self) -> Result<T> {
        self.client.json(self.spec).await
    }

    /// Sends and ignores the body.
    pub async fn send_empty(self) -> Result<()> {
        self.client.empty(self.spec).await
    }
}
