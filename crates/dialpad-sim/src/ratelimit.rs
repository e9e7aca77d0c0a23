//! Dialpad's rate limits: 20 requests per second per company across all endpoints, plus each
//! operation's own limit from the 2026 spec's `x-ratelimit` (only those that differ from the
//! company-wide one are listed). Over a limit: 429, reason `rateLimitExceeded`, `Retry-After`.
//!
//! Each limit is a GCRA (generic cell rate algorithm) cell: `count` requests per `period` with a
//! burst of `count`, so a client pacing itself at the published rate never sees a 429.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// `(method, spec path, count, period seconds)`. For `POST /sms` the spec lists two tiers;
/// the simulator applies tier 0 (100 per minute), the stricter one.
const OPERATION_LIMITS: &[(&str, &str, u32, u64)] = &[
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
    ("POST", "/api/v2/websockets", 500, 120),
];

/// Limits Dialpad counts per user rather than per company: the user's app is what is driven
/// (5 call starts and 5 screen pops a minute per user). Their cell is keyed by the request's
/// path, which names the user.
const PER_USER: &[(&str, &str)] = &[
    ("POST", "/api/v2/users/{id}/initiate_call"),
    ("POST", "/api/v2/users/{id}/screenpop"),
];

/// Whether the operation's own limit is counted per user.
pub fn per_user(method: &str, path: &str) -> bool {
    PER_USER.iter().any(|&(m, p)| m == method && p == path)
}

/// The company-wide limit.
pub const COMPANY_LIMIT: (u32, u64) = (20, 1);

/// The limit Dialpad applies to one operation (method + spec path template), if it has its own.
pub fn operation_limit(method: &str, path: &str) -> Option<(u32, u64)> {
    OPERATION_LIMITS
        .iter()
        .find(|(m, p, _, _)| *m == method && *p == path)
        .map(|&(_, _, n, secs)| (n, secs))
}

#[derive(Default)]
pub struct RateLimiter {
    /// Theoretical arrival time per limit key.
    cells: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// Admits one request against every limit in `limits` (all or none), or says how long to
    /// wait before retrying.
    pub fn check(&self, limits: &[(String, (u32, u64))]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut cells = self.cells.lock();
        let mut updates = Vec::with_capacity(limits.len());
        let mut wait = Duration::ZERO;
        for (key, (count, period)) in limits {
            let period = Duration::from_secs(*period);
            let interval = period / (*count).max(1);
            let tat = cells.get(key).copied().unwrap_or(now).max(now);
            // Allowed while the backlog stays within one burst.
            let backlog = tat - now;
            if backlog + interval > period {
                wait = wait.max(backlog + interval - period);
            } else {
                updates.push((key.clone(), tat + interval));
            }
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        for (key, tat) in updates {
            cells.insert(key, tat);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_a_burst_then_refuses_with_a_wait() {
        let rl = RateLimiter::default();
        let limits = [("op".to_owned(), (5, 60))];
        for _ in 0..5 {
            assert!(rl.check(&limits).is_ok());
        }
        let wait = rl
            .check(&limits)
            .expect_err("sixth request in the burst must wait");
        // One emission interval (12 s), give or take the time the loop took.
        assert!(
            wait > Duration::from_secs(11) && wait <= Duration::from_secs(12),
            "{wait:?}"
        );
    }

    #[test]
    fn a_refused_request_consumes_nothing() {
        let rl = RateLimiter::default();
        let tight = ("tight".to_owned(), (1, 60));
        let loose = ("loose".to_owned(), (2, 60));
        assert!(rl.check(&[tight.clone(), loose.clone()]).is_ok());
        assert!(rl.check(&[tight, loose.clone()]).is_err());
        // The loose cell still has its second slot.
        assert!(rl.check(&[loose]).is_ok());
    }

    #[test]
    fn spec_limits_are_found_by_template() {
        assert_eq!(operation_limit("GET", "/api/v2/call/{id}"), Some((10, 60)));
        assert_eq!(operation_limit("GET", "/api/v2/call"), None);
        assert!(per_user("POST", "/api/v2/users/{id}/initiate_call"));
        assert!(!per_user("POST", "/api/v2/call"));
    }
}
