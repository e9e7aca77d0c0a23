//! Every answer the tests get from the connector, checked against its OpenAPI document.
//!
//! [`Http`] wraps the tests' `reqwest::Client`: `send()` reads the whole answer, checks it with
//! [`Document::check`] (the schema the document gives for that route, method and status; an
//! undocumented status fails) and panics on a mismatch, so an answer that drifts from the
//! document fails whichever test got it. Requests to the simulator (the origins given to
//! [`Http::new`]) are not checked: they are Dialpad's answers. `tests/it/main.rs` and
//! `tests/js/harness.rs` include this file with `#[path]`.
//!
//! What is checked, by answer:
//! - a documented route and method: the status is documented (or `default` is); a JSON answer
//!   validates against the status's `application/json` schema; any other answer has one of the
//!   status's documented content types; a status documented without content has no body;
//! - a route or method the document does not name: the router's JSON fallbacks,
//!   404 `REQUEST::NOT_FOUND` and 405 `REQUEST::METHOD_NOT_ALLOWED`, as `Error`s;
//! - a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`) answered with success:
//!   no body and an `Access-Control-Allow-Origin` (preflights are the browser's, not API
//!   operations, and are not in the document); one refused is the 405 above.
//! - `HEAD`: the status only (no body by definition); a `HEAD` the document does not name is
//!   checked as its `GET`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The generated document and its compiled response schemas.
pub struct Document {
    pub doc: Value,
    compiled: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// The document the server serves (`dpc_server::openapi::document()`, which `tests/openapi.rs`
/// keeps equal to the committed `openapi.json`).
pub fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| Document::new(dpc_server::openapi::document()))
}

/// One answer to check.
pub struct Exchange<'a> {
    pub method: &'a Method,
    /// The request's path, without the query.
    pub path: &'a str,
    pub request_headers: &'a HeaderMap,
    pub status: StatusCode,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl Document {
    pub fn new(doc: Value) -> Self {
        Self {
            doc,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// The documented path template `path` falls under (literal segments win over parameters;
    /// the proxy's `{path}` takes the rest of the path).
    pub fn template(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut best: Option<(&str, usize)> = None;
        for template in self.doc["paths"].as_object()?.keys() {
            let t: Vec<&str> = template.split('/').collect();
            let rest = t.last() == Some(&"{path}") && template.starts_with("/v1/proxy/");
            let fits = if rest {
                segments.len() >= t.len()
                    && segments[t.len() - 1..].iter().all(|s| !s.is_empty())
                    && t[..t.len() - 1]
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
            } else {
                segments.len() == t.len()
                    && t.iter()
                        .zip(&segments)
                        .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
            };
            if fits {
                let literals = t.iter().filter(|s| !s.starts_with('{')).count();
                if best.is_none_or(|(_, n)| literals > n) {
                    best = Some((template.as_str(), literals));
                }
            }
        }
        best.map(|(t, _)| t)
    }

    /// Checks one answer against the document; the route template it was checked under
    /// (`None`: a route the document does not name, checked as the router's fallback).
    pub fn check(&self, x: &Exchange<'_>) -> Result<Option<String>, String> {
        let what = format!("{} {} → {}", x.method, x.path, x.status.as_u16());
        let fail = |problem: String| Err(format!("{what}: {problem}\n  body: {}", excerpt(x.body)));
        if x.method == Method::OPTIONS
            && x.request_headers
                .contains_key("access-control-request-method")
            && x.status.is_success()
        {
            if !x.body.is_empty() {
                return fail("a CORS preflight answered with a body".into());
            }
            if !x.headers.contains_key("access-control-allow-origin") {
                return fail(
                    "a CORS preflight answered without Access-Control-Allow-Origin".into(),
                );
            }
            return Ok(None);
        }
        let template = self.template(x.path);
        let item = template.map(|t| &self.doc["paths"][t]);
        let method = x.method.as_str().to_ascii_lowercase();
        let op = item.and_then(|i| match i.get(&method) {
            Some(op) => Some(op),
            None if x.method == Method::HEAD => i.get("get"),
            None => None,
        });
        let Some(op) = op else {
            // Not in the document: the router's JSON fallbacks.
            let (status, code) = match template {
                Some(_) => (
                    StatusCode::METHOD_NOT_ALLOWED,
                    "REQUEST::METHOD_NOT_ALLOWED",
                ),
                None => (StatusCode::NOT_FOUND, "REQUEST::NOT_FOUND"),
            };
            let route = template.unwrap_or("no documented route");
            if x.status != status {
                return fail(format!(
                    "{} {route} is not documented, so only the router's {status} could answer",
                    x.method
                ));
            }
            let body: Value = match serde_json::from_slice(x.body) {
                Ok(v) => v,
                Err(e) => return fail(format!("the fallback's body is not JSON: {e}")),
            };
            if let Err(e) = self.validate(
                "fallback",
                &json!({"$ref": "#/components/schemas/Error"}),
                &body,
            ) {
                return fail(e);
            }
            if body["error"] != code {
                return fail(format!("the fallback's error is not {code}"));
            }
            return Ok(None);
        };
        let template = template.unwrap_or_default();
        let status = x.status.as_u16().to_string();
        let (key, response) = match op["responses"].get(&status) {
            Some(r) => (status.as_str(), r),
            None => match op["responses"].get("default") {
                Some(r) => ("default", r),
                None => {
                    return fail(format!(
                        "status {status} is not documented for {} {template}",
                        x.method
                    ))
                }
            },
        };
        if x.method == Method::HEAD {
            return Ok(Some(template.to_owned()));
        }
        let content = response["content"].as_object().filter(|c| !c.is_empty());
        let Some(content) = content else {
            if !x.body.is_empty() {
                return fail(format!("status {key} is documented without a body"));
            }
            return Ok(Some(template.to_owned()));
        };
        let media = x
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let Some((documented, media_type)) = content
            .iter()
            .find(|(k, _)| **k == media)
            .or_else(|| content.iter().find(|(k, _)| *k == "*/*"))
        else {
            let documented: Vec<&String> = content.keys().collect();
            return fail(format!(
                "content type {media:?}; the document gives {documented:?} for status {key}"
            ));
        };
        if media == "application/json" || media.ends_with("+json") {
            let body: Value = match serde_json::from_slice(x.body) {
                Ok(v) => v,
                Err(e) => return fail(format!("the body is not JSON: {e}")),
            };
            let schema = &media_type["schema"];
            if schema.is_null() {
                return fail(format!("no schema documented for {documented} at {key}"));
            }
            let cache_key = format!("{method} {template} {key} {documented}");
            if let Err(e) = self.validate(&cache_key, schema, &body) {
                return fail(format!("the body does not match the document: {e}"));
            }
        }
        Ok(Some(template.to_owned()))
    }

    /// Validates `body` against `schema` (with the document's components); the errors, joined.
    pub fn validate(&self, cache_key: &str, schema: &Value, body: &Value) -> Result<(), String> {
        let validator = self.compiled(cache_key, schema)?;
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{e} at {:?}", e.instance_path().to_string()))
            .take(5)
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn compiled(
        &self,
        cache_key: &str,
        schema: &Value,
    ) -> Result<Arc<jsonschema::Validator>, String> {
        if let Some(v) = self.compiled.lock().unwrap().get(cache_key) {
            return Ok(v.clone());
        }
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let v = Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&root)
                .map_err(|e| format!("the schema does not compile: {e}"))?,
        );
        self.compiled
            .lock()
            .unwrap()
            .insert(cache_key.to_owned(), v.clone());
        Ok(v)
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(600) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.into_owned(),
    }
}

/// The tests' HTTP client: a `reqwest::Client` whose answers from the connector are checked
/// against the document (see the module doc).
#[derive(Clone)]
pub struct Http {
    inner: reqwest::Client,
    /// Origins whose answers are not the connector's (the simulator).
    unchecked: Arc<Vec<String>>,
}

impl Http {
    pub fn new(inner: reqwest::Client, unchecked_bases: impl IntoIterator<Item = String>) -> Self {
        let unchecked = unchecked_bases
            .into_iter()
            .filter_map(|b| url::Url::parse(&b).ok())
            .map(|u| u.origin().ascii_serialization())
            .collect();
        Self {
            inner,
            unchecked: Arc::new(unchecked),
        }
    }

    /// The client without the checks, for an answer a test must read as it arrives.
    pub fn raw(&self) -> &reqwest::Client {
        &self.inner
    }

    pub fn request(&self, method: Method, url: impl reqwest::IntoUrl) -> Request {
        Request {
            inner: self.inner.request(method, url),
            http: self.clone(),
        }
    }
    pub fn get(&self, url: impl reqwest::IntoUrl) -> Request {
        self.request(Method::GET, url)
    }
    pub fn post(&self, url: impl reqwest::IntoUrl) -> Request {
        self.request(Method::POST, url)
    }
    pub fn put(&self, url: impl reqwest::IntoUrl) -> Request {
        self.request(Method::PUT, url)
    }
    pub fn patch(&self, url: impl reqwest::IntoUrl) -> Request {
        self.request(Method::PATCH, url)
    }
    pub fn delete(&self, url: impl reqwest::IntoUrl) -> Request {
        self.request(Method::DELETE, url)
    }
    pub fn head(&self, url: impl reqwest::IntoUrl) -> Request {
        self.request(Method::HEAD, url)
    }
}

/// A request of [`Http`]: `reqwest::RequestBuilder`'s methods the tests use.
pub struct Request {
    inner: reqwest::RequestBuilder,
    http: Http,
}

impl Request {
    pub fn header<K, V>(self, key: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<axum::http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<axum::http::Error>,
    {
        Self {
            inner: self.inner.header(key, value),
            http: self.http,
        }
    }
    pub fn headers(self, headers: HeaderMap) -> Self {
        Self {
            inner: self.inner.headers(headers),
            http: self.http,
        }
    }
    pub fn json<T: serde::Serialize + ?Sized>(self, json: &T) -> Self {
        Self {
            inner: self.inner.json(json),
            http: self.http,
        }
    }
    pub fn body<T: Into<reqwest::Body>>(self, body: T) -> Self {
        Self {
            inner: self.inner.body(body),
            http: self.http,
        }
    }
    pub fn form<T: serde::Serialize + ?Sized>(self, form: &T) -> Self {
        Self {
            inner: self.inner.form(form),
            http: self.http,
        }
    }
    pub fn query<T: serde::Serialize + ?Sized>(self, query: &T) -> Self {
        Self {
            inner: self.inner.query(query),
            http: self.http,
        }
    }
    pub fn bearer_auth<T: std::fmt::Display>(self, token: T) -> Self {
        Self {
            inner: self.inner.bearer_auth(token),
            http: self.http,
        }
    }
    pub fn timeout(self, timeout: Duration) -> Self {
        Self {
            inner: self.inner.timeout(timeout),
            http: self.http,
        }
    }

    /// Sends the request and reads the whole answer; panics when an answer of the connector
    /// does not match the document.
    pub async fn send(self) -> reqwest::Result<Response> {
        let (client, request) = self.inner.build_split();
        let request = request?;
        let method = request.method().clone();
        let url = request.url().clone();
        let request_headers = request.headers().clone();
        let r = client.execute(request).await?;
        let status = r.status();
        let headers = r.headers().clone();
        let version = r.version();
        let body = r.bytes().await?;
        let checked = !self
            .http
            .unchecked
            .contains(&url.origin().ascii_serialization());
        if checked {
            let x = Exchange {
                method: &method,
                path: url.path(),
                request_headers: &request_headers,
                status,
                headers: &headers,
                body: &body,
            };
            if let Err(e) = document().check(&x) {
                panic!("an answer that does not match openapi.json: {e}");
            }
        }
        Ok(Response {
            url,
            status,
            headers,
            version,
            body,
        })
    }
}

/// A whole answer (the body already read), with `reqwest::Response`'s accessors.
#[derive(Debug)]
pub struct Response {
    url: url::Url,
    status: StatusCode,
    headers: HeaderMap,
    version: reqwest::Version,
    body: bytes::Bytes,
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.status
    }
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    pub fn url(&self) -> &url::Url {
        &self.url
    }
    pub fn version(&self) -> reqwest::Version {
        self.version
    }
    pub fn body(&self) -> &[u8] {
        &self.body
    }
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.body)
    }
    pub async fn text(self) -> Result<String, std::convert::Infallible> {
        Ok(String::from_utf8_lossy(&self.body).into_owned())
    }
    pub async fn bytes(self) -> Result<bytes::Bytes, std::convert::Infallible> {
        Ok(self.body)
    }
}
