//! Fault injection for tests (`POST /_sim/faults`, `DELETE /_sim/faults`): per path pattern,
//! an error rate with a status, added latency, and dropped connections.
//!
//! Patterns match the request path: `*` matches any run of characters, so
//! `/api/v2/users*` hits the users collection and every user; an optional method narrows it.
//! Randomness comes from a seeded RNG so a test that injects 30 % errors sees the same
//! sequence on every run.

use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Fault {
    /// Path pattern with `*` wildcards.
    pub path: String,
    /// Only this method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Fraction of matching requests that fail, 0.0..=1.0.
    #[serde(default)]
    pub error_rate: f64,
    /// Status of injected failures (default 503).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Added to every matching request, failed or not.
    #[serde(default)]
    pub latency_ms: u64,
    /// Fraction of matching requests whose connection is dropped without a response.
    #[serde(default)]
    pub drop_rate: f64,
}

fn default_status() -> u16 {
    503
}

/// Most rules `POST /_sim/faults` keeps: every request walks the whole list under one lock, so
/// an unbounded list would let a caller slow every request and grow memory without end.
pub const MAX_RULES: usize = 100;

/// What to do with one request.
#[derive(Debug, Default, PartialEq)]
pub struct Verdict {
    pub delay: Duration,
    pub fail_with: Option<u16>,
    pub drop: bool,
}

pub struct Faults {
    rules: Mutex<(Vec<Fault>, StdRng)>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rules: Mutex::new((Vec::new(), StdRng::seed_from_u64(0x5eed))),
        }
    }
}

impl Faults {
    pub fn validate(f: &Fault) -> Result<(), String> {
        if !(0.0..=1.0).contains(&f.error_rate) || !(0.0..=1.0).contains(&f.drop_rate) {
            return Err("error_rate and drop_rate must be between 0 and 1".into());
        }
        if !(400..=599).contains(&f.status) {
            return Err("status must be a 4xx or 5xx code".into());
        }
        if f.latency_ms > 60_000 {
            return Err("latency_ms must be at most 60000".into());
        }
        if f.path.len() > 2048 || f.method.as_ref().is_some_and(|m| m.len() > 16) {
            return Err("path must be at most 2048 bytes and method at most 16".into());
        }
        if !f.path.starts_with('/') && !f.path.starts_with('*') {
            return Err("path must start with / or *".into());
        }
        Ok(())
    }

    /// Adds a rule, or refuses when [`MAX_RULES`] are already set.
    pub fn add(&self, f: Fault) -> Result<(), String> {
        let mut rules = self.rules.lock();
        if rules.0.len() >= MAX_RULES {
            return Err(format!(
                "at most {MAX_RULES} fault rules; DELETE /_sim/faults clears them"
            ));
        }
        rules.0.push(f);
        Ok(())
    }

    pub fn clear(&self) {
        self.rules.lock().0.clear();
    }

    pub fn list(&self) -> Vec<Fault> {
        self.rules.lock().0.clone()
    }

    /// Fast path: no rule, no work.
    pub fn is_empty(&self) -> bool {
        self.rules.lock().0.is_empty()
    }

    pub fn verdict(&self, method: &str, path: &str) -> Verdict {
        let mut guard = self.rules.lock();
        let (rules, rng) = &mut *guard;
        let mut v = Verdict::default();
        for f in rules.iter() {
            if f.method
                .as_deref()
                .is_some_and(|m| !m.eq_ignore_ascii_case(method))
                || !glob(&f.path, path)
            {
                continue;
            }
            v.delay += Duration::from_millis(f.latency_ms);
            if v.fail_with.is_none() && !v.drop {
                if f.drop_rate > 0.0 && rng.random_bool(f.drop_rate) {
                    v.drop = true;
                } else if f.error_rate > 0.0 && rng.random_bool(f.error_rate) {
                    v.fail_with = Some(f.status);
                }
            }
        }
        v
    }
}

/// `*` matches any run of characters (including `/`); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let Some((first, rest)) = parts.split_first() else {
        return true;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part) {
            Some(i) => remaining = &remaining[i + part.len()..],
            None => return false,
        }
    }
    remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("/api/v2/users*", "/api/v2/users"));
        assert!(glob("/api/v2/users*", "/api/v2/users/12"));
        assert!(glob("*/labels", "/api/v2/call/1/labels"));
        assert!(glob("/api/v2/call/*/labels", "/api/v2/call/1/labels"));
        assert!(!glob("/api/v2/call/*/labels", "/api/v2/call/1"));
        assert!(glob("/exact", "/exact"));
        assert!(!glob("/exact", "/exact/more"));
    }

    #[test]
    fn error_rate_is_roughly_honoured_and_deterministic() {
        let run = || {
            let f = Faults::default();
            f.add(Fault {
                path: "/api/v2/*".into(),
                method: Some("GET".into()),
                error_rate: 0.3,
                status: 503,
                latency_ms: 0,
                drop_rate: 0.0,
            })
            .unwrap();
            (0..1000)
                .filter(|_| f.verdict("GET", "/api/v2/users").fail_with.is_some())
                .count()
        };
        let n = run();
        assert!((250..350).contains(&n), "{n} of 1000 failed");
        assert_eq!(n, run());
    }

    #[test]
    fn rule_count_is_capped() {
        let f = Faults::default();
        let rule = || Fault {
            path: "/x".into(),
            method: None,
            error_rate: 0.0,
            status: 503,
            latency_ms: 0,
            drop_rate: 0.0,
        };
        for _ in 0..MAX_RULES {
            f.add(rule()).unwrap();
        }
        assert!(f.add(rule()).is_err());
        assert_eq!(f.list().len(), MAX_RULES);
        f.clear();
        assert!(f.add(rule()).is_ok());
    }

    #[test]
    fn method_filter() {
        let f = Faults::default();
        f.add(Fault {
            path: "*".into(),
            method: Some("POST".into()),
            error_rate: 1.0,
            status: 500,
            latency_ms: 0,
            drop_rate: 0.0,
        })
        .unwrap();
        assert_eq!(f.verdict("GET", "/x"), Verdict::default());
        assert_eq!(f.verdict("POST", "/x").fail_with, Some(500));
    }
}
