//! Raw requests for proxying: any method/path/headers/body, auth injected,
//! response body streamed (never buffered).

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

use crate::client::{Client, ReqPath, RequestSpec};
use crate::error::{Error, Result};

/// Request headers a proxy must not forward: hop-by-hop headers, ones the
/// HTTP stack computes itself, and the caller's credentials (the client
/// injects its own).
const DROPPED_REQUEST_HEADERS: &[HeaderName] = &[
    header::HOST,
    header::CONNECTION,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::AUTHORIZATION,
];

/// A raw request; from [`Client::raw`].
#[must_use = "a raw request does nothing until you call send()"]
pub struct RawRequest {
    client: Client,
    spec: RequestSpec,
}

impl std::fmt::Debug for RawRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRequest")
            .field("method", &self.spec.method)
            .field("path", &self.spec.display_path())
            .finish_non_exhaustive()
    }
}

impl RawRequest {
    /// Appends a query parameter (encoded for you).
    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.spec.query.push((key.to_owned(), value.to_string()));
        self
    }

    /// Sets the query string verbatim (already encoded, without `?`).
    /// Parameters added with [`query`](Self::query) are appended after it.
    pub fn query_string(mut self, raw: impl Into<String>) -> Self {
        self.spec.raw_query = Some(raw.into());
        self
    }

    /// Adds a header. Hop-by-hop headers and `Authorization` are dropped.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        if !DROPPED_REQUEST_HEADERS.contains(&name) {
            self.spec.headers.append(name, value);
        }
        self
    }

    /// Adds all headers (same filtering as [`header`](Self::header)).
    pub fn headers(mut self, headers: &HeaderMap) -> Self {
        for (name, value) in headers {
            if !DROPPED_REQUEST_HEADERS.contains(name) {
                self.spec.headers.append(name.clone(), value.clone());
            }
        }
        self
    }

    /// Adds all headers of an owned map without copying them (same
    /// filtering as [`header`](Self::header)).
    pub fn header_map(mut self, mut headers: HeaderMap) -> Self {
        for name in DROPPED_REQUEST_HEADERS {
            headers.remove(name);
        }
        if self.spec.headers.is_empty() {
            self.spec.headers = headers;
            return self;
        }
        // Appended like `headers` does (`HeaderMap::extend` would replace same-named values).
        let mut last: Option<HeaderName> = None;
        for (name, value) in headers {
            if name.is_some() {
                last = name;
            }
            if let Some(name) = &last {
                self.spec.headers.append(name.clone(), value);
            }
        }
        self
    }

    /// Request body. It is kept in memory so it can be re-sent when the token
    /// provider refreshes after a 401, after a 429, and (for idempotent methods
    /// only) on the retries the [`RetryPolicy`](crate::RetryPolicy) allows.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.spec.body = Some(body.into());
        self
    }

    /// Sends the request. Any HTTP status (including 4xx/5xx) is returned as
    /// a [`RawResponse`]; only transport and credential failures are errors.
    pub async fn send(self) -> Result<RawResponse> {
        let mut resp = self.client.execute(self.spec).await?;
        let status = resp.status();
        // Moved out, not copied: the body stream does not need them.
        let headers = std::mem::take(resp.headers_mut());
        Ok(RawResponse {
            status,
            headers,
            response: resp,
        })
    }
}

/// Response of a raw request, body not yet read.
#[derive(Debug)]
pub struct RawResponse {
    status: StatusCode,
    headers: HeaderMap,
    response: reqwest::Response,
}

/// Streamed response body.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

impl RawResponse {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body as a stream of chunks, read lazily from the connection.
    pub fn into_body_stream(self) -> ByteStream {
        self.response.bytes_stream().map_err(Error::from).boxed()
    }

    /// Status, headers and body stream at once.
    pub fn into_parts(self) -> (StatusCode, HeaderMap, ByteStream) {
        let RawResponse {
            status,
            headers,
            response,
        } = self;
        (
            status,
            headers,
            response.bytes_stream().map_err(Error::from).boxed(),
        )
    }

    /// Reads the whole body (convenience for small responses).
    pub async fn bytes(self) -> Result<Bytes> {
        Ok(self.response.bytes().await?)
    }
}

impl Client {
    /// A raw request to `path` (e.g. `/api/v2/users/me`; may include
    /// `?query`, which is kept verbatim). Credentials are injected the same
    /// way as for typed calls, including the 401 refresh-and-retry.
    pub fn raw(&self, method: Method, path: &str) -> RawRequest {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (path, None),
        };
        let mut spec = RequestSpec::new(method, Vec::<String>::new());
        spec.path = ReqPath::Raw(path.to_owned());
        spec.raw_query = query;
        spec.passthrough_status = true;
        RawRequest {
            client: self.clone(),
            spec,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_builder_filters_headers_and_splits_query() {
        let c = Client::builder()
            .base_url(crate::BaseUrl::custom("http://127.0.0.1:9").unwrap())
            .build()
            .unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer caller"),
        );
        h.insert(header::HOST, HeaderValue::from_static("evil"));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let r = c
            .raw(Method::GET, "/api/v2/users?state=active")
            .headers(&h)
            .query("limit", 5);
        assert!(!r.spec.headers.contains_key(header::AUTHORIZATION));
        assert!(!r.spec.headers.contains_key(header::HOST));
        assert!(r.spec.headers.contains_key(header::ACCEPT));
        assert_eq!(r.spec.raw_query.as_deref(), Some("state=active"));
        assert!(matches!(&r.spec.path, ReqPath::Raw(p) if p == "/api/v2/users"));

        let r = c
            .raw(Method::GET, "/api/v2/users")
            .header(header::ACCEPT_LANGUAGE, HeaderValue::from_static("en"))
            .header_map(h);
        assert!(!r.spec.headers.contains_key(header::AUTHORIZATION));
        assert!(!r.spec.headers.contains_key(header::HOST));
        assert!(r.spec.headers.contains_key(header::ACCEPT));
        assert!(r.spec.headers.contains_key(header::ACCEPT_LANGUAGE));
    }
}
