//! The [`Client`], its builder and the single request path.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;
use url::Url;

use crate::auth::Auth;
use crate::error::{parse_retry_after, Error, Result};
use crate::limits::{RateLimiter, RateLimits};
use crate::observe::{operation_name, RequestObserver};
use crate::retry::{is_idempotent, Counters, Metrics, RetryPolicy};

const DEFAULT_USER_AGENT: &str = concat!("dialpad-rs/", env!("CARGO_PKG_VERSION"));

/// Which Dialpad deployment to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BaseUrl {
    /// `https://dialpad.com`
    Production,
    /// `https://sandbox.dialpad.com`
    Sandbox,
    /// Any other root, e.g. a simulator at `http://127.0.0.1:PORT`. A path
    /// prefix is kept (`http://host/prefix` + `/api/v2/...`).
    Custom(Url),
}

impl BaseUrl {
    /// Parses a custom base URL.
    pub fn custom(url: &str) -> Result<Self> {
        Url::parse(url)
            .map(BaseUrl::Custom)
            .map_err(|e| Error::Config(format!("invalid base URL: {e}")))
    }

    /// The root URL.
    pub fn url(&self) -> Url {
        match self {
            // Literals are valid URLs; `expect` can only fire if they are edited wrongly.
            BaseUrl::Production => Url::parse("https://dialpad.com").expect("static URL"),
            BaseUrl::Sandbox => Url::parse("https://sandbox.dialpad.com").expect("static URL"),
            BaseUrl::Custom(u) => u.clone(),
        }
    }
}

impl From<Url> for BaseUrl {
    fn from(u: Url) -> Self {
        BaseUrl::Custom(u)
    }
}

/// Builder for [`Client`]; start with [`Client::builder`].
#[derive(Debug)]
pub struct ClientBuilder {
    base_url: BaseUrl,
    auth: Option<Auth>,
    http: Option<reqwest::Client>,
    timeout: Option<Duration>,
    user_agent: String,
    limiter: Option<Arc<RateLimiter>>,
    retry: RetryPolicy,
    observer: Option<Observer>,
}

/// A [`RequestObserver`] with a `Debug` that says only whether one is set.
#[derive(Clone)]
struct Observer(RequestObserver);

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}

impl ClientBuilder {
    /// Production (default), sandbox or a custom root.
    pub fn base_url(mut self, base: impl Into<BaseUrl>) -> Self {
        self.base_url = base.into();
        self
    }

    /// Credentials. Without them only the OAuth token endpoints work.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Shorthand for `.auth(Auth::ApiKey(key))`.
    pub fn api_key(self, key: impl Into<SecretString>) -> Self {
        self.auth(Auth::ApiKey(key.into()))
    }

    /// Use this reqwest client (connection pool, proxy, TLS settings).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Per-request timeout (default: 30 s). Covers the whole exchange
    /// including reading the body, also for [`raw`](Client::raw) streams.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Disables the per-request timeout (for long raw downloads).
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// `User-Agent` header value.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// Share this rate limiter (one per Dialpad company) with other clients
    /// for the same company. Without it each client gets its own limiter
    /// with Dialpad's published limits at a 95 % margin (its clones share
    /// it); see [`Client::rate_limiter`].
    pub fn rate_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// A new limiter with these limits (custom limits or margin); an empty
    /// [`RateLimits::none`] turns pacing off.
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.limiter = (!limits.is_empty()).then(|| Arc::new(RateLimiter::new(limits)));
        self
    }

    /// No client-side pacing (429s are still retried per the retry policy).
    pub fn no_rate_limit(mut self) -> Self {
        self.limiter = None;
        self
    }

    /// When to retry (default: [`RetryPolicy::default`], 4 attempts and at
    /// most 30 s of waiting; [`RetryPolicy::none`] sends every call once).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Calls `observer` once per HTTP attempt with the operation's name (`GET
    /// /api/v2/call/{id}`: the path template, never the raw path), Dialpad's status (`None`:
    /// no answer) and the attempt's duration; see [`crate::observe`]. Clones of the client
    /// share it.
    pub fn observer(mut self, observer: RequestObserver) -> Self {
        self.observer = Some(Observer(observer));
        self
    }

    /// Validates the settings and builds the client.
    pub fn build(self) -> Result<Client> {
        let base = self.base_url.url();
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "base URL {base} is not an http(s) URL"
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(Error::Config(
                "base URL must not have a query or fragment".into(),
            ));
        }
        let user_agent = HeaderValue::from_str(&self.user_agent)
            .map_err(|_| Error::Config("user agent is not a valid header value".into()))?;
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .build()
                .map_err(|e| Error::Config(format!("cannot build HTTP client: {e}")))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                auth: self.auth,
                timeout: self.timeout,
                user_agent,
                limiter: self.limiter,
                retry: self.retry,
                counters: Counters::default(),
                observer: self.observer,
            }),
            max_wait: None,
        })
    }
}

/// A Dialpad API v2 client. Cheap to clone (shared connection pool).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// The longest a request of this clone waits for a rate-limit slot or a 429's
    /// `Retry-After` when the request sets no bound of its own; see [`Client::with_max_wait`].
    max_wait: Option<Duration>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    auth: Option<Auth>,
    timeout: Option<Duration>,
    user_agent: HeaderValue,
    limiter: Option<Arc<RateLimiter>>,
    retry: RetryPolicy,
    counters: Counters,
    observer: Option<Observer>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .field("auth", &self.inner.auth)
            .field("timeout", &self.inner.timeout)
            .field("rate_limited", &self.inner.limiter.is_some())
            .field("retry", &self.inner.retry)
            .field("observed", &self.inner.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts a builder (production URL, 30 s timeout, no credentials).
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            base_url: BaseUrl::Production,
            auth: None,
            http: None,
            timeout: Some(Duration::from_secs(30)),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            limiter: Some(Arc::new(RateLimiter::default())),
            retry: RetryPolicy::default(),
            observer: None,
        }
    }

    /// A clone whose requests wait at most `max` for a rate-limit slot (or a 429's
    /// `Retry-After`) and otherwise fail at once with [`Error::RateLimited`] carrying the wait,
    /// unless a request sets its own bound. For callers answering someone who waits (an HTTP
    /// request, an agent's tool call): a per-operation limit such as `POST /call`'s 5 per
    /// minute would otherwise hold the caller for up to a minute. Shares everything else,
    /// the limiter included, with `self`.
    pub fn with_max_wait(&self, max: Duration) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            max_wait: Some(max),
        }
    }

    /// The rate limiter pacing this client (shared by its clones), if any.
    /// Pass it to [`ClientBuilder::rate_limiter`] to let another client for
    /// the same company share it.
    pub fn rate_limiter(&self) -> Option<Arc<RateLimiter>> {
        self.inner.limiter.clone()
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// Politeness counters (retries, rate-limit waits, 429s received) of
    /// this client and its clones, since it was built.
    pub fn metrics(&self) -> Metrics {
        self.inner.counters.snapshot()
    }

    /// The root URL requests are sent to.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// Builds the full URL for a request.
    fn url_for(&self, spec: &RequestSpec) -> Result<Url> {
        let mut url = self.inner.base.clone();
        match &spec.path {
            ReqPath::Segments(segs) => {
                url.path_segments_mut()
                    .map_err(|_| Error::Config("base URL cannot have a path".into()))?
                    .pop_if_empty()
                    .extend(segs.iter().map(String::as_str));
            }
            ReqPath::Raw(p) => {
                // Caller-supplied path is already percent-encoded (proxy use).
                let prefix = self.inner.base.path().trim_end_matches('/');
                let p = p.trim_start_matches('/');
                let mut full = String::with_capacity(prefix.len() + 1 + p.len());
                full.push_str(prefix);
                full.push('/');
                full.push_str(p);
                url.set_path(&full);
            }
        }
        if let Some(q) = spec.raw_query.as_deref().filter(|q| !q.is_empty()) {
            url.set_query(Some(q));
        }
        if !spec.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(spec.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        Ok(url)
    }

    // ------------------------------------------------------------------
    // THE SINGLE REQUEST CHOKE POINT.
    //
    // Every call in this crate, typed or raw, goes through `execute` (or
    // `execute_with`, for typed calls that read the whole body). It is the
    // one place that paces requests under Dialpad's rate limits, injects
    // credentials, handles the 401 -> refresh -> retry-once dance, retries
    // per the `RetryPolicy` (see `retry.rs` for the rules) and turns error
    // statuses into `Error`s. Keep other code from calling `reqwest`
    // directly.
    // ------------------------------------------------------------------
    pub(crate) async fn execute(&self, spec: RequestSpec) -> Result<reqwest::Response> {
        self.execute_with(spec, |resp| async move { Ok(resp) })
            .await
    }

    /// Sends `spec` and hands a success response (any response, for raw
    /// passthrough requests) to `finish`. A `finish` failure (the body
    /// breaking off mid-read) counts as a transport error, so an idempotent
    /// request is retried whole.
    pub(crate) async fn execute_with<T, F, Fut>(&self, spec: RequestSpec, finish: F) -> Result<T>
    where
        F: Fn(reqwest::Response) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, reqwest::Error>>,
    {
        let url = self.url_for(&spec)?;
        // Path only: never the host, the query (it may carry `apikey=`) or headers.
        let path = spec.display_path();
        let span = tracing::debug_span!("dialpad_request", method = %spec.method, path = %path);
        self.run(&spec, url, &path, finish).instrument(span).await
    }

    async fn run<T, F, Fut>(&self, spec: &RequestSpec, url: Url, path: &str, finish: F) -> Result<T>
    where
        F: Fn(reqwest::Response) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, reqwest::Error>>,
    {
        let policy = &self.inner.retry;
        let counters = &self.inner.counters;
        let idempotent = is_idempotent(&spec.method);
        let max_wait = spec.max_wait.or(self.max_wait);
        let mut token = match &spec.auth {
            AuthMode::Client => Some(
                self.inner
                    .auth
                    .as_ref()
                    .ok_or_else(|| Error::Config("no credentials configured".into()))?
                    .token()
                    .await?,
            ),
            AuthMode::Token(t) => Some(t.clone()),
            AuthMode::None => None,
        };
        let mut retried_auth = false;
        let mut attempt: u32 = 0;
        let mut waited = Duration::ZERO;
        // Named once per call, only when someone watches.
        let observed = self
            .inner
            .observer
            .as_ref()
            .map(|o| (o, operation_name(spec.method.as_str(), path)));
        loop {
            attempt += 1;
            self.pace(&spec.method, path, max_wait).await?;
            Counters::add(&counters.requests_sent, 1);
            let started = std::time::Instant::now();
            let sent = self.send_once(spec, &url, token.as_ref()).await;
            if let Some((Observer(observe), operation)) = &observed {
                let status = sent.as_ref().ok().map(|r| r.status().as_u16());
                observe(operation, status, started.elapsed());
            }
            let failure = match sent {
                Err(e) => Failure::Transport(e),
                Ok(resp) => {
                    let status = resp.status();
                    tracing::debug!(%status, attempt, "dialpad response");

                    if status == reqwest::StatusCode::UNAUTHORIZED && !retried_auth {
                        if let (AuthMode::Client, Some(auth), Some(rejected)) =
                            (&spec.auth, self.inner.auth.as_ref(), token.as_ref())
                        {
                            if let Some(fresh) = auth.refresh_after_401(rejected).await? {
                                retried_auth = true;
                                token = Some(fresh);
                                // A refresh is not a retry: it does not use up an attempt.
                                attempt -= 1;
                                continue;
                            }
                        }
                    }

                    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                        Counters::add(&counters.throttled_429s, 1);
                        let retry_after = parse_retry_after(resp.headers());
                        Failure::Throttled(resp, retry_after)
                    } else if status.is_server_error() {
                        Failure::Server(resp)
                    } else if spec.passthrough_status || status.is_success() {
                        match finish(resp).await {
                            Ok(v) => return Ok(v),
                            Err(e) => Failure::Transport(Error::from(e)),
                        }
                    } else {
                        return Err(error_from_response(resp).await);
                    }
                }
            };

            let (retryable, wanted) = match &failure {
                // Dialpad did not execute the request: safe for every method.
                Failure::Throttled(_, retry_after) => {
                    let wait = retry_after.unwrap_or_else(|| policy.backoff(attempt));
                    let too_long = max_wait.is_some_and(|max| wait > max);
                    if let Some(limiter) = &self.inner.limiter {
                        let held = limiter.penalize(&spec.method, path, wait);
                        tracing::info!(
                            retry_after_ms = wait.as_millis() as u64,
                            limit = held.as_deref().unwrap_or("none"),
                            "Dialpad answered 429; holding back this limit"
                        );
                    }
                    (!too_long, wait)
                }
                Failure::Server(_) => (idempotent, policy.backoff(attempt)),
                Failure::Transport(e) => (
                    idempotent && transport_retryable(e),
                    policy.backoff(attempt),
                ),
            };
            let reason = failure.reason();
            if retryable {
                if let Some(delay) = policy.next_delay(attempt, waited, wanted) {
                    tracing::info!(
                        attempt,
                        next_attempt = attempt + 1,
                        reason = %reason,
                        delay_ms = delay.as_millis() as u64,
                        "retrying Dialpad request"
                    );
                    Counters::add(&counters.retries, 1);
                    Counters::add(&counters.retry_wait_micros, delay.as_micros() as u64);
                    // Drops (closes) a failed response before waiting.
                    drop(failure);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    waited += delay;
                    continue;
                }
                Counters::add(&counters.gave_up, 1);
                tracing::info!(attempt, reason = %reason, "retry budget spent; returning the failure");
            } else if !idempotent {
                Counters::add(&counters.not_retried_unsafe, 1);
                tracing::info!(
                    reason = %reason,
                    "not repeating a non-idempotent request whose outcome is unknown"
                );
            }
            return match failure {
                Failure::Transport(e) => Err(e),
                Failure::Throttled(resp, _) | Failure::Server(resp) => {
                    if spec.passthrough_status {
                        finish(resp).await.map_err(Error::from)
                    } else {
                        Err(error_from_response(resp).await)
                    }
                }
            };
        }
    }

    /// Waits (async) for a slot under the rate limits, if pacing is on; with `max_wait`, fails
    /// instead of waiting longer.
    async fn pace(&self, method: &Method, path: &str, max_wait: Option<Duration>) -> Result<()> {
        let Some(limiter) = &self.inner.limiter else {
            return Ok(());
        };
        let r = match max_wait {
            None => limiter.acquire(method, path).await,
            Some(max) => match limiter.acquire_within(method, path, max).await {
                Ok(r) => r,
                Err(wait) => {
                    Counters::add(&self.inner.counters.gave_up, 1);
                    return Err(Error::RateLimited {
                        retry_after: Some(wait),
                        message: format!(
                            "Dialpad's rate limit for this operation allows the next request in {} s",
                            wait.as_secs_f64().ceil() as u64
                        ),
                        body: String::new(),
                    });
                }
            },
        };
        if !r.wait.is_zero() {
            let counters = &self.inner.counters;
            Counters::add(&counters.rate_limit_waits, 1);
            Counters::add(&counters.rate_limit_wait_micros, r.wait.as_micros() as u64);
        }
        Ok(())
    }

    async fn send_once(
        &self,
        spec: &RequestSpec,
        url: &Url,
        token: Option<&SecretString>,
    ) -> Result<reqwest::Response> {
        let mut headers = spec.headers.clone();
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.inner.user_agent.clone());
        }
        match token {
            Some(t) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", t.expose_secret()))
                    .map_err(|_| Error::Config("token is not a valid header value".into()))?;
                v.set_sensitive(true);
                headers.insert(AUTHORIZATION, v);
            }
            // Never forward a caller's credentials to endpoints that must not get them.
            None => {
                headers.remove(AUTHORIZATION);
            }
        }
        let mut req = self
            .inner
            .http
            .request(spec.method.clone(), url.clone())
            .headers(headers);
        if let Some(t) = self.inner.timeout {
            req = req.timeout(t);
        }
        if let Some(body) = &spec.body {
            // `Bytes` clones are cheap, which is what makes the 401 retry possible.
            req = req.body(body.clone());
        }
        Ok(req.send().await?)
    }

    /// Sends and decodes a JSON response.
    pub(crate) async fn json<T: DeserializeOwned>(&self, spec: RequestSpec) -> Result<T> {
        let path = spec.display_path().into_owned();
        let bytes = self.execute_with(spec, reqwest::Response::bytes).await?;
        decode(&path, &bytes)
    }

    /// Sends and ignores the (possibly empty) response body.
    pub(crate) async fn empty(&self, spec: RequestSpec) -> Result<()> {
        // Drain so the connection can be reused.
        self.execute_with(spec, reqwest::Response::bytes).await?;
        Ok(())
    }
}

/// Why an attempt failed, keeping what is needed to return it.
enum Failure {
    /// 429, with `Retry-After`.
    Throttled(reqwest::Response, Option<Duration>),
    /// 5xx.
    Server(reqwest::Response),
    /// No (complete) response.
    Transport(Error),
}

impl Failure {
    fn reason(&self) -> String {
        match self {
            Failure::Throttled(r, _) | Failure::Server(r) => r.status().as_u16().to_string(),
            Failure::Transport(e) => e.to_string(),
        }
    }
}

/// Transport failures worth retrying for an idempotent request: anything
/// but a request that could not be built or a redirect loop.
fn transport_retryable(e: &Error) -> bool {
    matches!(e, Error::Transport(t) if !t.is_builder() && !t.is_redirect())
}

/// Reads an error response into an [`Error`].
async fn error_from_response(resp: reqwest::Response) -> Error {
    let status = resp.status();
    let headers = resp.headers().clone();
    match resp.bytes().await {
        Ok(body) => Error::from_response_parts(status, &headers, &body),
        Err(e) => Error::from(e),
    }
}

/// Decodes a response body; an empty body is treated as `{}` because some
/// Dialpad endpoints answer deletes with nothing at all.
pub(crate) fn decode<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T> {
    let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Path of a request.
#[derive(Debug, Clone)]
pub(crate) enum ReqPath {
    /// Unencoded segments; each is percent-encoded when the URL is built.
    Segments(Vec<String>),
    /// Already-encoded path (raw requests).
    Raw(String),
}

/// Which credentials a request carries.
#[derive(Clone)]
pub(crate) enum AuthMode {
    /// The client's configured [`Auth`].
    Client,
    /// No `Authorization` header (OAuth token endpoint).
    None,
    /// This explicit token (e.g. deauthorizing a specific token).
    Token(SecretString),
}

/// Everything needed to send one request.
#[derive(Clone)]
pub(crate) struct RequestSpec {
    pub method: Method,
    pub path: ReqPath,
    pub query: Vec<(String, String)>,
    pub raw_query: Option<String>,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    pub auth: AuthMode,
    /// Return error statuses as responses instead of `Error`s (raw proxying).
    pub passthrough_status: bool,
    /// The longest this request may wait for a rate-limit slot or a 429's `Retry-After`;
    /// beyond it the request fails with [`Error::RateLimited`] at once. `None`: wait.
    pub max_wait: Option<Duration>,
}

impl RequestSpec {
    pub fn new<I, S>(method: Method, segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequestSpec {
            method,
            path: ReqPath::Segments(segments.into_iter().map(Into::into).collect()),
            query: Vec::new(),
            raw_query: None,
            headers: HeaderMap::new(),
            body: None,
            auth: AuthMode::Client,
            passthrough_status: false,
            max_wait: None,
        }
    }

    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }

    pub fn query_opt(self, key: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.query(key, v),
            None => self,
        }
    }

    pub fn set_query(&mut self, key: &str, value: impl ToString) {
        self.query.retain(|(k, _)| k != key);
        self.query.push((key.to_owned(), value.to_string()));
    }

    pub fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::Config(format!("cannot serialize request body: {e}")))?;
        self.body = Some(Bytes::from(bytes));
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(self)
    }

    pub fn form(mut self, pairs: &[(&str, &str)]) -> Result<Self> {
        let body = serde_urlencoded::to_string(pairs)
            .map_err(|e| Error::Config(format!("cannot encode form: {e}")))?;
        self.body = Some(Bytes::from(body));
        self.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        Ok(self)
    }

    pub fn auth(mut self, auth: AuthMode) -> Self {
        self.auth = auth;
        self
    }

    /// Path for logs and decode errors: never includes host or query.
    pub fn display_path(&self) -> Cow<'_, str> {
        match &self.path {
            ReqPath::Segments(s) => Cow::Owned(format!("/{}", s.join("/"))),
            ReqPath::Raw(p) => Cow::Borrowed(p),
        }
    }
}

/// A request to `/api/v2/<parts...>`; each part is percent-encoded, so ids
/// containing `/` or spaces cannot escape their segment.
pub(crate) fn api(method: Method, parts: &[&str]) -> RequestSpec {
    RequestSpec::new(
        method,
        ["api", "v2"].into_iter().chain(parts.iter().copied()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> Client {
        Client::builder()
            .base_url(BaseUrl::custom(base).unwrap())
            .api_key(SecretString::from("sk_live_very_secret"))
            .build()
            .unwrap()
    }

    #[test]
    fn debug_never_prints_key() {
        let c = client("http://127.0.0.1:9");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("very_secret"), "{dbg}");
        assert!(dbg.contains("REDACTED"));
    }

    #[test]
    fn urls_encode_segments_and_keep_prefix() {
        let c = client("http://127.0.0.1:9/prefix/");
        let spec = RequestSpec::new(Method::GET, ["api", "v2", "contacts", "shared/a b"])
            .query("cursor", "x y");
        let url = c.url_for(&spec).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/prefix/api/v2/contacts/shared%2Fa%20b?cursor=x+y"
        );
        let mut raw = RequestSpec::new(Method::GET, Vec::<String>::new());
        raw.path = ReqPath::Raw("/api/v2/users/me".into());
        raw.raw_query = Some("a=1&b=%20".into());
        assert_eq!(
            c.url_for(&raw).unwrap().as_str(),
            "http://127.0.0.1:9/prefix/api/v2/users/me?a=1&b=%20"
        );
    }

    #[test]
    fn base_urls() {
        assert_eq!(BaseUrl::Production.url().as_str(), "https://dialpad.com/");
        assert_eq!(
            BaseUrl::Sandbox.url().as_str(),
            "https://sandbox.dialpad.com/"
        );
        assert!(Client::builder()
            .base_url(BaseUrl::custom("mailto:x@y").unwrap())
            .build()
            .is_err());
    }

    #[test]
    fn empty_body_decodes_as_empty_object() {
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct X {
            a: Option<i64>,
        }
        let x: X = decode("/p", b"").unwrap();
        assert_eq!(x.a, None);
        let err = decode::<X>("/api/v2/x", b"[1").err().unwrap();
        assert!(matches!(err, Error::Decode { ref path, .. } if path == "/api/v2/x"));
    }
}
