//! When the client repeats a request, and the counters that show it did.
//!
//! Rules (applied in the client's single send path, typed and raw requests
//! alike):
//! - **429** (any method): Dialpad did not execute the request. Wait as
//!   `Retry-After` says (or back off with jitter when it is absent), hold
//!   back everyone sharing the [`RateLimiter`](crate::limits::RateLimiter)
//!   for that long, and retry.
//! - **5xx and transport errors** (timeouts, refused or reset connections,
//!   a body cut off mid-read): retried with bounded exponential backoff and
//!   jitter only for idempotent methods (`GET`, `HEAD`, `OPTIONS`, `PUT`,
//!   `DELETE`). A `POST` or `PATCH` whose outcome is unknown is never
//!   repeated: the error is returned.
//! - Every retry counts against [`RetryPolicy::max_attempts`] and its wait
//!   against [`RetryPolicy::max_total_delay`]; when either would be
//!   exceeded the last error (or, for raw requests, the last response) is
//!   returned. A `Retry-After` longer than what is left of the budget is not
//!   waited for at all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use reqwest::Method;

/// How many times, and how long, the client retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    max_total_delay: Duration,
    base_delay: Duration,
    max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, at most 30 s of waiting in total, backoff from 250 ms
    /// doubling up to 8 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            max_total_delay: Duration::from_secs(30),
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// Never retry (each call sends exactly once, 401 refresh aside).
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Attempts per call including the first (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Upper bound on the sum of retry waits of one call (pacing waits by
    /// the rate limiter are not counted).
    pub fn max_total_delay(mut self, d: Duration) -> Self {
        self.max_total_delay = d;
        self
    }

    /// First backoff step (doubled for each further retry).
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// Cap on one backoff step.
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    pub fn total_delay(&self) -> Duration {
        self.max_total_delay
    }

    /// Backoff before retry number `retry` (1 for the first retry):
    /// `min(max_delay, base * 2^(retry-1))`, of which a random half
    /// ("equal jitter") so concurrent callers spread out.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter = rand::rng().random_range(0.0..=1.0);
        half + half.mul_f64(jitter)
    }

    /// The wait before the next attempt, or `None` when the budget is spent.
    /// `attempt` is the number of attempts made so far, `waited` the retry
    /// waits so far.
    pub(crate) fn next_delay(
        &self,
        attempt: u32,
        waited: Duration,
        wanted: Duration,
    ) -> Option<Duration> {
        (attempt < self.max_attempts && waited + wanted <= self.max_total_delay).then_some(wanted)
    }
}

/// Whether repeating `method` cannot cause a second effect.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Counters of one [`Client`](crate::Client) (shared by its clones); read
/// with [`Client::metrics`](crate::Client::metrics).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests_sent: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limit_waits: AtomicU64,
    pub rate_limit_wait_micros: AtomicU64,
    pub throttled_429s: AtomicU64,
    pub retry_wait_micros: AtomicU64,
    pub gave_up: AtomicU64,
    pub not_retried_unsafe: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Metrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Metrics {
            requests_sent: get(&self.requests_sent),
            retries: get(&self.retries),
            rate_limit_waits: get(&self.rate_limit_waits),
            rate_limit_wait_time: Duration::from_micros(get(&self.rate_limit_wait_micros)),
            throttled_429s: get(&self.throttled_429s),
            retry_wait_time: Duration::from_micros(get(&self.retry_wait_micros)),
            gave_up: get(&self.gave_up),
            not_retried_unsafe: get(&self.not_retried_unsafe),
        }
    }
}

/// A snapshot of a client's politeness counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// HTTP requests actually sent (every attempt).
    pub requests_sent: u64,
    /// Attempts after the first (429, 5xx or transport error; 401 token
    /// refreshes not counted).
    pub retries: u64,
    /// Requests the rate limiter held back before sending.
    pub rate_limit_waits: u64,
    /// Total time spent in those waits.
    pub rate_limit_wait_time: Duration,
    /// 429 responses received from Dialpad.
    pub throttled_429s: u64,
    /// Total time spent waiting between retries.
    pub retry_wait_time: Duration,
    /// Calls that failed with a retryable error after the retry budget was
    /// spent.
    pub gave_up: u64,
    /// POST/PATCH failures with unknown outcome returned without a retry.
    pub not_retried_unsafe: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy::default()
            .base_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(400));
        for _ in 0..50 {
            let b1 = p.backoff(1);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b3 = p.backoff(3);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
            let b9 = p.backoff(9);
            assert!(b9 <= Duration::from_millis(400));
        }
        assert!(p.backoff(40) <= Duration::from_millis(400));
    }

    #[test]
    fn budget() {
        let p = RetryPolicy::default()
            .max_attempts(3)
            .max_total_delay(Duration::from_secs(1));
        let s = Duration::from_millis(400);
        assert_eq!(p.next_delay(1, Duration::ZERO, s), Some(s));
        assert_eq!(p.next_delay(2, s, s), Some(s));
        assert_eq!(p.next_delay(3, s * 2, s), None);
        assert_eq!(p.next_delay(2, s * 2, s), None);
        assert_eq!(RetryPolicy::none().next_delay(1, Duration::ZERO, s), None);
    }

    #[test]
    fn idempotency() {
        assert!(is_idempotent(&Method::GET));
        assert!(is_idempotent(&Method::PUT));
        assert!(is_idempotent(&Method::DELETE));
        assert!(!is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }
}
