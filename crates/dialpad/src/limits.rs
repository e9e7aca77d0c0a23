//! Client-side pacing under Dialpad's rate limits.
//!
//! Dialpad allows 20 requests per second per company across all endpoints,
//! and some operations have a stricter limit of their own (the `x-ratelimit`
//! extension of the API spec, e.g. `GET /api/v2/call/{id}`: 10 per minute).
//! Going over answers `429 Too Many Requests`.
//!
//! A [`RateLimiter`] keeps one GCRA cell (generic cell rate algorithm, the
//! same model Dialpad's limits follow: `count` requests per `period`, bursts
//! of up to `count`) for the company and one per limited operation. Before a
//! request is sent, [`RateLimiter::acquire`] *reserves* the earliest slot in
//! the operation's cell, sleeps until it, then does the same in the company
//! cell (async sleeps, one wake-up per stage: no polling, and no thundering
//! herd when many tasks wait at once).
//!
//! One limiter stands for one company: every clone of a [`Client`] shares
//! its limiter, and several clients for the same company can share one by
//! passing the same `Arc<RateLimiter>` to
//! [`ClientBuilder::rate_limiter`](crate::ClientBuilder::rate_limiter).
//!
//! The published limits are paced at a safety margin (default 95 %: both
//! the rate and the burst are scaled), which leaves room for network jitter
//! and clock differences, so a paced client normally never sees a 429.
//!
//! [`Client`]: crate::Client

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use tokio::time::Instant;

/// Default fraction of the published rate the limiter paces at.
pub const DEFAULT_MARGIN: f64 = 0.95;

/// `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub period: Duration,
}

impl Limit {
    /// `count` requests per `period` (a zero count is treated as 1).
    pub fn new(count: u32, period: Duration) -> Self {
        Limit {
            count: count.max(1),
            period,
        }
    }

    /// `count` requests per second.
    pub fn per_second(count: u32) -> Self {
        Limit::new(count, Duration::from_secs(1))
    }

    /// `count` requests per minute.
    pub fn per_minute(count: u32) -> Self {
        Limit::new(count, Duration::from_secs(60))
    }
}

/// Dialpad's company-wide limit: 20 requests per second.
pub const COMPANY_LIMIT: Limit = Limit {
    count: 20,
    period: Duration::from_secs(1),
};

/// Dialpad's published per-operation limits, `(method, path template, count,
/// period in seconds)`. Only operations stricter than (or different from) the
/// company limit are listed. `POST /api/v2/sms` has two tiers in the spec;
/// the stricter one (100 per minute) is used.
pub const DIALPAD_OPERATION_LIMITS: &[(&str, &str, u32, u64)] = &[
    ("GET", "/api/v2/call/{id}", 10, 60),
    ("GET", "/api/v2/call/{id}/ai_recap", 1, 5),
    ("POST", "/api/v2/call", 5, 60),
    ("PUT", "/api/v2/call/{id}/labels", 500, 120),
    ("POST", "/api/v2/contacts", 100, 60),
    ("PUT", "/api/v2/contacts", 100, 60),
    ("POST", "/api/v2/recordingsharelink", 100, 60),
    ("PUT", "/api/v2/recordingsharelink/{id}", 100, 60),
    ("POST", "/api/v2/sms", 100, 60),
    ("POST", "/api/v2/users/{id}/initiate_call", 5, 60),
    ("POST", "/api/v2/users/{id}/screenpop", 5, 60),
    ("POST", "/api/v2/webhooks", 100, 60),
];

/// Operations whose limit Dialpad counts per user (the user's app is what is driven: 5 call
/// starts and 5 screen pops a minute per user). Their cell is keyed by the request path, which
/// names the user, so one busy user does not hold back the others.
pub const DIALPAD_PER_USER_LIMITS: &[(&str, &str)] = &[
    ("POST", "/api/v2/users/{id}/initiate_call"),
    ("POST", "/api/v2/users/{id}/screenpop"),
];

/// One operation's limit.
#[derive(Debug, Clone)]
struct OperationLimit {
    method: Method,
    /// `/api/v2/call/{id}`
    template: String,
    /// Template segments; `None` is a `{placeholder}`.
    segments: Vec<Option<String>>,
    limit: Limit,
    /// One cell per concrete path (per user) rather than one for the operation.
    per_path: bool,
}

impl OperationLimit {
    fn new(method: Method, template: &str, limit: Limit) -> Self {
        let template = format!("/{}", template.trim_matches('/'));
        let segments = template
            .trim_start_matches('/')
            .split('/')
            .map(|s| {
                if s.starts_with('{') && s.ends_with('}') {
                    None
                } else {
                    Some(s.to_owned())
                }
            })
            .collect();
        OperationLimit {
            method,
            template,
            segments,
            limit,
            per_path: false,
        }
    }

    fn matches(&self, method: &Method, segments: &[&str]) -> bool {
        self.method == *method
            && self.segments.len() == segments.len()
            && self.segments.iter().zip(segments).all(|(t, s)| match t {
                Some(lit) => lit == s,
                None => !s.is_empty(),
            })
    }
}

/// What a [`RateLimiter`] enforces: the company limit, per-operation limits
/// and the safety margin. Start from [`RateLimits::dialpad`] (the default)
/// or [`RateLimits::none`].
#[derive(Debug, Clone)]
pub struct RateLimits {
    company: Option<Limit>,
    operations: Vec<OperationLimit>,
    margin: f64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits::dialpad()
    }
}

impl RateLimits {
    /// Dialpad's published limits paced at [`DEFAULT_MARGIN`].
    pub fn dialpad() -> Self {
        RateLimits {
            company: Some(COMPANY_LIMIT),
            operations: DIALPAD_OPERATION_LIMITS
                .iter()
                .map(|&(m, p, n, secs)| {
                    let mut op = OperationLimit::new(
                        Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET),
                        p,
                        Limit::new(n, Duration::from_secs(secs)),
                    );
                    op.per_path = DIALPAD_PER_USER_LIMITS.contains(&(m, p));
                    op
                })
                .collect(),
            margin: DEFAULT_MARGIN,
        }
    }

    /// No limits at all (no pacing).
    pub fn none() -> Self {
        RateLimits {
            company: None,
            operations: Vec::new(),
            margin: 1.0,
        }
    }

    /// Replaces the company-wide limit (`None`: no company limit).
    pub fn company(mut self, limit: Option<Limit>) -> Self {
        self.company = limit;
        self
    }

    /// Sets (adds or replaces) the limit of one operation, given by method
    /// and path template (`{name}` matches one path segment), e.g.
    /// `(Method::GET, "/api/v2/users/{id}", Limit::per_second(2))`.
    pub fn operation(mut self, method: Method, template: &str, limit: Limit) -> Self {
        let op = OperationLimit::new(method, template, limit);
        self.operations
            .retain(|o| !(o.method == op.method && o.template == op.template));
        self.operations.push(op);
        self
    }

    /// Removes every per-operation limit (keeps the company limit).
    pub fn without_operations(mut self) -> Self {
        self.operations.clear();
        self
    }

    /// Paces at this fraction of each published limit (clamped to
    /// 0.01..=1.0; default [`DEFAULT_MARGIN`]). Both the sustained rate and
    /// the burst are scaled.
    pub fn margin(mut self, fraction: f64) -> Self {
        self.margin = if fraction.is_finite() {
            fraction.clamp(0.01, 1.0)
        } else {
            DEFAULT_MARGIN
        };
        self
    }

    /// The company-wide limit, if any.
    pub fn company_limit(&self) -> Option<Limit> {
        self.company
    }

    /// The safety margin.
    pub fn margin_fraction(&self) -> f64 {
        self.margin
    }

    /// The operation (method + template) a request path belongs to, if that
    /// operation has a limit of its own. `path` is the request path without
    /// host or query, e.g. `/api/v2/call/123`.
    pub fn operation_for(&self, method: &Method, path: &str) -> Option<(&str, Limit)> {
        self.operation_limit(method, path)
            .map(|o| (o.template.as_str(), o.limit))
    }

    fn operation_limit(&self, method: &Method, path: &str) -> Option<&OperationLimit> {
        let segs = path_segments(path);
        self.operations.iter().find(|o| o.matches(method, &segs))
    }

    /// Whether the limits do anything at all.
    pub fn is_empty(&self) -> bool {
        self.company.is_none() && self.operations.is_empty()
    }

    /// `(interval, tolerance)` of a GCRA cell for `limit` after the margin.
    fn cell_params(&self, limit: Limit) -> (Duration, Duration) {
        let rate_count = f64::from(limit.count) * self.margin;
        let interval = limit.period.div_f64(rate_count.max(f64::MIN_POSITIVE));
        // The burst is scaled too, at least 1.
        // (The epsilon keeps 20 x 0.95 at 19 despite binary rounding.)
        let burst = ((rate_count + 1e-9).floor() as u32).clamp(1, limit.count);
        (interval, interval * (burst - 1))
    }
}

fn path_segments(path: &str) -> Vec<&str> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.trim_matches('/').split('/').collect()
}

/// Key of the company cell.
const COMPANY_KEY: &str = "company";

/// What [`RateLimiter::acquire`] waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Total time waited (zero: sent at once).
    pub wait: Duration,
    /// The limit that caused most of the wait (`company` or
    /// `METHOD /template`), when there was one.
    pub limit: Option<String>,
}

/// A shared, per-company pacer; see the [module docs](self).
pub struct RateLimiter {
    limits: RateLimits,
    /// Theoretical arrival time per cell.
    cells: Mutex<HashMap<String, Instant>>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(RateLimits::default())
    }
}

impl RateLimiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            limits,
            cells: Mutex::new(HashMap::new()),
        }
    }

    /// The limits this limiter enforces.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// The cells (key, limit) a request is counted against, the operation's
    /// own first. The company limit covers `/api/...` paths only (not the
    /// OAuth endpoints).
    fn cells_for(&self, method: &Method, path: &str) -> Vec<(String, Limit)> {
        let mut out = Vec::with_capacity(2);
        if let Some(op) = self.limits.operation_limit(method, path) {
            let key = if op.per_path {
                format!("{method} /{}", path_segments(path).join("/"))
            } else {
                format!("{method} {}", op.template)
            };
            out.push((key, op.limit));
        }
        if let Some(company) = self.limits.company {
            if path.trim_start_matches('/').starts_with("api/") {
                out.push((COMPANY_KEY.to_owned(), company));
            }
        }
        out
    }

    /// Takes the earliest slot of one cell at or after `now`; returns the
    /// wait until it.
    fn reserve_cell_at(&self, now: Instant, key: &str, limit: Limit) -> Duration {
        let (interval, tolerance) = self.limits.cell_params(limit);
        let mut state = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        let tat = state.get(key).copied().unwrap_or(now).max(now);
        let at = tat.checked_sub(tolerance).unwrap_or(now).max(now);
        state.insert(key.to_owned(), tat.max(at) + interval);
        at - now
    }

    /// Waits (async sleep, no polling) until a request may be sent under
    /// every limit that applies to it, and takes its slots. Returns the
    /// total wait and the limit that caused most of it.
    ///
    /// The operation's own limit is waited for first and the company limit
    /// after it: a request queued for minutes behind a strict operation
    /// limit must not book a company slot in the future, which would hold
    /// back every other request in the meantime. (A caller that gives up
    /// while waiting leaves its slot unused, which errs on the polite side.)
    pub async fn acquire(&self, method: &Method, path: &str) -> Reservation {
        let mut total = Duration::ZERO;
        let mut longest = (Duration::ZERO, None);
        for (key, limit) in self.cells_for(method, path) {
            let wait = self.reserve_cell_at(Instant::now(), &key, limit);
            if wait.is_zero() {
                continue;
            }
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                limit = %key,
                "pacing under Dialpad rate limit"
            );
            tokio::time::sleep(wait).await;
            total += wait;
            if wait > longest.0 {
                longest = (wait, Some(key));
            }
        }
        Reservation {
            wait: total,
            limit: longest.1,
        }
    }

    /// Like [`acquire`](Self::acquire), but only when the wait for every limit is at most
    /// `max`: otherwise nothing is reserved and the wait that would be needed is returned, so a
    /// caller can answer "rate limited, retry after" instead of sleeping (a per-operation limit
    /// such as 10 per minute can mean a wait of a minute).
    pub async fn acquire_within(
        &self,
        method: &Method,
        path: &str,
        max: Duration,
    ) -> Result<Reservation, Duration> {
        let cells = self.cells_for(method, path);
        {
            let now = Instant::now();
            let state = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            for (key, limit) in &cells {
                let (_, tolerance) = self.limits.cell_params(*limit);
                let tat = state.get(key).copied().unwrap_or(now).max(now);
                let at = tat.checked_sub(tolerance).unwrap_or(now).max(now);
                let wait = at - now;
                if wait > max {
                    return Err(wait);
                }
            }
        }
        // Within bounds: reserve as usual (another task may have taken the slot in between,
        // which at worst lengthens this wait by one interval).
        Ok(self.acquire(method, path).await)
    }

    /// How much of each limit is spent, as the time until it is whole again (cells with
    /// nothing spent are left out). Dialpad's limits run on when a process stops: a process
    /// that resumes the same work soon after can [`restore_spent`](Self::restore_spent) this
    /// instead of bursting into a budget Dialpad has not refilled (which answers 429).
    pub fn spent(&self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        let state = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        state
            .iter()
            .filter(|(_, tat)| **tat > now)
            .map(|(k, tat)| (k.clone(), *tat - now))
            .collect()
    }

    /// Takes on what another limiter reported as [`spent`](Self::spent) (less the time since):
    /// each cell is at least that spent. Keys this limiter does not know are kept as given; they
    /// pace nothing until a request maps to them.
    pub fn restore_spent(&self, spent: &[(String, Duration)]) {
        let now = Instant::now();
        let mut state = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        for (key, left) in spent {
            let tat = now + *left;
            let cell = state.entry(key.clone()).or_insert(tat);
            if *cell < tat {
                *cell = tat;
            }
        }
    }

    /// Dialpad answered 429 with this wait: nobody sharing the limiter sends
    /// to the limit that was probably hit (the operation's own when it has
    /// one, else the company's) before `wait` has passed. Returns the key of
    /// the cell that was held back.
    pub fn penalize(&self, method: &Method, path: &str, wait: Duration) -> Option<String> {
        self.penalize_at(Instant::now(), method, path, wait)
    }

    fn penalize_at(
        &self,
        now: Instant,
        method: &Method,
        path: &str,
        wait: Duration,
    ) -> Option<String> {
        let (key, limit) = self.cells_for(method, path).into_iter().next()?;
        let (_, tolerance) = self.limits.cell_params(limit);
        let mut state = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        let held = now + wait + tolerance;
        let tat = state.entry(key.clone()).or_insert(held);
        if *tat < held {
            *tat = held;
        }
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn templates_match_by_segment() {
        let l = RateLimits::dialpad();
        assert_eq!(
            l.operation_for(&Method::GET, "/api/v2/call/123"),
            Some(("/api/v2/call/{id}", Limit::per_minute(10)))
        );
        assert_eq!(
            l.operation_for(&Method::GET, "/api/v2/call/123/ai_recap?x=1")
                .map(|o| o.0),
            Some("/api/v2/call/{id}/ai_recap")
        );
        assert_eq!(l.operation_for(&Method::GET, "/api/v2/call"), None);
        assert_eq!(
            l.operation_for(&Method::POST, "/api/v2/call/").map(|o| o.0),
            Some("/api/v2/call")
        );
        assert_eq!(l.operation_for(&Method::DELETE, "/api/v2/call/1"), None);
        assert_eq!(l.operation_for(&Method::GET, "/api/v2/call//"), None);
    }

    #[tokio::test]
    async fn spent_budget_carries_over_to_another_limiter() {
        let limits = RateLimits::none()
            .company(Some(Limit::per_second(10)))
            .margin(1.0);
        let a = RateLimiter::new(limits.clone());
        for _ in 0..10 {
            a.acquire(&Method::GET, "/api/v2/call").await;
        }
        let spent = a.spent();
        assert_eq!(spent.len(), 1);
        assert!(spent[0].1 > ms(500) && spent[0].1 <= ms(1000), "{spent:?}");
        // A fresh limiter would burst; one that took the spent budget waits its turn.
        let b = RateLimiter::new(limits.clone());
        b.restore_spent(&spent);
        let r = b.acquire(&Method::GET, "/api/v2/call").await;
        assert!(r.wait >= ms(50), "{r:?}");
        let fresh = RateLimiter::new(limits);
        assert!(fresh
            .acquire(&Method::GET, "/api/v2/call")
            .await
            .wait
            .is_zero());
    }

    /// Stage-by-stage reservation as `acquire` does it, all at `now`.
    fn reserve_at(rl: &RateLimiter, now: Instant, method: &Method, path: &str) -> Duration {
        rl.cells_for(method, path)
            .into_iter()
            .map(|(key, limit)| rl.reserve_cell_at(now, &key, limit))
            .sum()
    }

    #[test]
    fn paces_company_burst_then_rate_with_margin() {
        // 20/s at 95 %: burst 19, then one every 1/19 s.
        let rl = RateLimiter::new(RateLimits::dialpad());
        let now = Instant::now();
        for _ in 0..19 {
            assert_eq!(reserve_at(&rl, now, &Method::GET, "/api/v2/users/1"), ms(0));
        }
        let interval = Duration::from_secs(1).div_f64(19.0);
        assert_eq!(
            reserve_at(&rl, now, &Method::GET, "/api/v2/users/1"),
            interval
        );
        assert_eq!(
            reserve_at(&rl, now, &Method::GET, "/api/v2/users/1"),
            interval * 2
        );
        // OAuth endpoints are not counted.
        assert_eq!(reserve_at(&rl, now, &Method::POST, "/oauth2/token"), ms(0));
    }

    #[test]
    fn operation_limit_is_its_own_cell() {
        let limits = RateLimits::none()
            .company(Some(Limit::per_second(10)))
            .operation(Method::GET, "/api/v2/call/{id}", Limit::new(2, ms(1000)))
            .margin(1.0);
        let rl = RateLimiter::new(limits);
        let now = Instant::now();
        let op = ("GET /api/v2/call/{id}", Limit::new(2, ms(1000)));
        assert_eq!(rl.reserve_cell_at(now, op.0, op.1), ms(0));
        assert_eq!(rl.reserve_cell_at(now, op.0, op.1), ms(0));
        assert_eq!(rl.reserve_cell_at(now, op.0, op.1), ms(500));
        assert_eq!(rl.reserve_cell_at(now, op.0, op.1), ms(1000));
        // Queued operation slots book nothing on the company cell.
        for _ in 0..10 {
            assert_eq!(reserve_at(&rl, now, &Method::GET, "/api/v2/users"), ms(0));
        }
        assert_eq!(reserve_at(&rl, now, &Method::GET, "/api/v2/users"), ms(100));
    }

    #[tokio::test]
    async fn acquire_sleeps_and_reports_the_binding_limit() {
        let limits = RateLimits::none()
            .operation(Method::GET, "/api/v2/x/{id}", Limit::new(1, ms(40)))
            .margin(1.0);
        let rl = RateLimiter::new(limits);
        let t0 = std::time::Instant::now();
        assert_eq!(rl.acquire(&Method::GET, "/api/v2/x/1").await.wait, ms(0));
        let r = rl.acquire(&Method::GET, "/api/v2/x/2").await;
        assert!(r.wait > ms(30), "{r:?}");
        assert_eq!(r.limit.as_deref(), Some("GET /api/v2/x/{id}"));
        assert!(t0.elapsed() >= ms(30));
    }

    #[tokio::test]
    async fn acquire_within_refuses_long_waits_without_reserving() {
        let limits = RateLimits::none()
            .operation(Method::GET, "/api/v2/call/{id}", Limit::per_minute(2))
            .margin(1.0);
        let rl = RateLimiter::new(limits);
        for _ in 0..2 {
            let r = rl
                .acquire_within(&Method::GET, "/api/v2/call/1", ms(10))
                .await;
            assert_eq!(r.map(|r| r.wait), Ok(ms(0)));
        }
        let wait = rl
            .acquire_within(&Method::GET, "/api/v2/call/1", ms(10))
            .await
            .unwrap_err();
        assert!(wait > Duration::from_secs(25), "{wait:?}");
        // The refusal booked nothing: the next slot is still ~30 s away, not ~60 s.
        let again = rl
            .acquire_within(&Method::GET, "/api/v2/call/1", ms(10))
            .await
            .unwrap_err();
        assert!(again <= wait, "{again:?} > {wait:?}");
        // Other operations are not held back.
        assert!(rl
            .acquire_within(&Method::GET, "/api/v2/users", ms(10))
            .await
            .is_ok());
    }

    #[test]
    fn penalty_holds_back_the_operation() {
        let limits = RateLimits::none()
            .company(Some(Limit::per_second(10)))
            .operation(Method::GET, "/api/v2/call/{id}", Limit::per_minute(10))
            .margin(1.0);
        let rl = RateLimiter::new(limits);
        let now = Instant::now();
        let key = rl.penalize_at(now, &Method::GET, "/api/v2/call/1", ms(3000));
        assert_eq!(key.as_deref(), Some("GET /api/v2/call/{id}"));
        assert_eq!(
            rl.reserve_cell_at(now, "GET /api/v2/call/{id}", Limit::per_minute(10)),
            ms(3000)
        );
        assert_eq!(reserve_at(&rl, now, &Method::GET, "/api/v2/users"), ms(0));
        // Unlimited operations penalise the company cell.
        assert_eq!(
            rl.penalize_at(now, &Method::GET, "/api/v2/users", ms(1000))
                .as_deref(),
            Some("company")
        );
        assert!(reserve_at(&rl, now, &Method::GET, "/api/v2/users") >= ms(1000));
    }

    #[test]
    fn call_starts_and_screen_pops_are_paced_per_user() {
        let rl = RateLimiter::new(RateLimits::dialpad().margin(1.0).company(None));
        let now = Instant::now();
        let post = Method::POST;
        for path in ["/api/v2/users/1/initiate_call", "/api/v2/users/1/screenpop"] {
            for _ in 0..5 {
                assert_eq!(reserve_at(&rl, now, &post, path), Duration::ZERO, "{path}");
            }
            // The sixth waits one interval (12 s) for this user, not for another one.
            assert_eq!(
                reserve_at(&rl, now, &post, path),
                Duration::from_secs(12),
                "{path}"
            );
            let other = path.replace("/1/", "/2/");
            assert_eq!(
                reserve_at(&rl, now, &post, &other),
                Duration::ZERO,
                "{other}"
            );
        }
        // A per-operation limit elsewhere stays one cell for every id.
        let link = |id: u32| format!("/api/v2/recordingsharelink/{id}");
        let put = Method::PUT;
        for i in 0..100 {
            assert_eq!(reserve_at(&rl, now, &put, &link(i)), Duration::ZERO);
        }
        assert!(reserve_at(&rl, now, &put, &link(1000)) > Duration::ZERO);
        assert_eq!(
            reserve_at(&rl, now, &post, "/api/v2/sms"),
            Duration::ZERO,
            "sms has its own cell"
        );
    }

    #[test]
    fn none_never_waits() {
        let rl = RateLimiter::new(RateLimits::none());
        let now = Instant::now();
        for _ in 0..1000 {
            assert_eq!(reserve_at(&rl, now, &Method::GET, "/api/v2/call/1"), ms(0));
        }
        assert_eq!(rl.penalize(&Method::GET, "/api/v2/x", ms(5)), None);
    }

    #[test]
    fn small_limits_keep_a_burst_of_one() {
        let rl = RateLimiter::new(RateLimits::dialpad().margin(0.95));
        let now = Instant::now();
        let p = "/api/v2/call/9/ai_recap";
        assert_eq!(reserve_at(&rl, now, &Method::GET, p), ms(0));
        let w = reserve_at(&rl, now, &Method::GET, p);
        assert!(
            w > Duration::from_secs(5) && w < Duration::from_millis(5300),
            "{w:?}"
        );
    }
}
