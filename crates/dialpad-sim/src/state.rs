//! The simulator's in-memory Dialpad: one company and everything in it.
//!
//! All state sits behind one `RwLock`. Handlers take the lock, do a short synchronous piece of
//! work and release it before any `.await`, which keeps reads and writes consistent (what the API
//! creates is what the next call sees) and is fast enough for tens of thousands of requests a
//! second on two cores.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::SimConfig;
use crate::{activity, channels, contacts, org, subscriptions, websockets};

/// Cheap to clone handle on the simulator's state, shared by every route.
#[derive(Clone)]
pub struct Sim(pub(crate) Arc<SimInner>);

pub struct SimInner {
    pub config: SimConfig,
    pub db: RwLock<Db>,
    pub stats: Mutex<Stats>,
    pub rate_limiter: crate::ratelimit::RateLimiter,
    pub faults: crate::faults::Faults,
    pub events: crate::events::Hub,
    /// Signs the tokens in websocket URLs.
    pub url_keys: websockets::UrlKeys,
    /// Woken when a call ends through the API (or on reset), so a played call left live
    /// (`/_sim/calls` with `stop_at`) goes on to its post-call events.
    pub calls_changed: tokio::sync::Notify,
}

impl Sim {
    pub fn new(config: SimConfig) -> Self {
        let db = crate::seed::build(config.seed, config.call_history);
        Sim(Arc::new(SimInner {
            config,
            db: RwLock::new(db),
            stats: Mutex::new(Stats::default()),
            rate_limiter: Default::default(),
            faults: Default::default(),
            events: Default::default(),
            url_keys: Default::default(),
            calls_changed: Default::default(),
        }))
    }

    pub fn config(&self) -> &SimConfig {
        &self.0.config
    }

    pub fn db(&self) -> &RwLock<Db> {
        &self.0.db
    }

    pub fn stats(&self) -> &Mutex<Stats> {
        &self.0.stats
    }

    /// Replaces all data with the seed data set `seed` (tokens and stats included).
    pub fn reset(&self, seed: u64) {
        *self.0.db.write() = crate::seed::build(seed, self.0.config.call_history);
        *self.0.stats.lock() = Stats::default();
        self.0.events.clear();
        self.0.events.sockets.clear();
        // Ids restart with the seed: a websocket URL minted before the reset must not open
        // the new websocket that happens to get the old id.
        self.0.url_keys.rotate();
        // Players waiting on a live call of the old data set find it gone and stop.
        self.0.calls_changed.notify_waiters();
    }
}

/// Everything Dialpad would store. Maps are ordered by id so listings are stable.
pub struct Db {
    /// Ids and other random choices come from here, so a seed always yields the same data and
    /// the same sequence of API calls yields the same ids.
    pub rng: StdRng,
    next_id: i64,
    pub company: org::Company,
    pub offices: BTreeMap<i64, org::Office>,
    pub users: BTreeMap<i64, org::User>,
    pub devices: BTreeMap<String, org::UserDevice>,
    pub contacts: BTreeMap<String, contacts::Contact>,
    pub calls: BTreeMap<i64, activity::Call>,
    pub call_labels: Vec<String>,
    pub transcripts: BTreeMap<i64, activity::Transcript>,
    pub sms: BTreeMap<i64, activity::Sms>,
    /// Recording share links by their token id.
    pub share_links: BTreeMap<String, activity::ShareLink>,
    /// Screen pops sent to users' apps, oldest first (`GET /_sim/screenpops`).
    pub screen_pops: std::collections::VecDeque<activity::ScreenPop>,
    pub channels: BTreeMap<i64, channels::Channel>,
    pub webhooks: BTreeMap<i64, subscriptions::Webhook>,
    pub websockets: BTreeMap<i64, websockets::Websocket>,
    pub subscriptions: BTreeMap<i64, subscriptions::Subscription>,
    pub oauth: OAuthState,
}

impl Db {
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        // Dialpad ids are 16-digit int64s; start somewhere in that range, seed-dependent.
        let next_id = 4_503_599_627_370_496 + rng.random_range(0..1_000_000_000_i64) * 1000;
        Db {
            rng,
            next_id,
            company: org::Company::default(),
            offices: BTreeMap::new(),
            users: BTreeMap::new(),
            devices: BTreeMap::new(),
            contacts: BTreeMap::new(),
            calls: BTreeMap::new(),
            call_labels: Vec::new(),
            transcripts: BTreeMap::new(),
            sms: BTreeMap::new(),
            share_links: BTreeMap::new(),
            screen_pops: Default::default(),
            channels: BTreeMap::new(),
            webhooks: BTreeMap::new(),
            websockets: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            oauth: OAuthState::default(),
        }
    }

    /// A fresh, increasing, Dialpad-looking int64 id.
    pub fn next_id(&mut self) -> i64 {
        self.next_id += self.rng.random_range(1..=997);
        self.next_id
    }
}

/// Who is calling: a company API key (every scope) or an OAuth access token (the scopes the
/// user granted).
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user an OAuth token was issued to; `None` for a company API key.
    pub user_id: Option<i64>,
    /// `None` means every scope (API keys).
    pub scopes: Option<BTreeSet<String>>,
}

#[derive(Clone, Debug)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: i64,
    pub scopes: BTreeSet<String>,
    pub code_challenge: Option<String>,
    /// `S256` or `plain`.
    pub code_challenge_method: Option<String>,
    pub expires_at_ms: i64,
}

#[derive(Clone, Debug)]
pub struct AccessToken {
    pub client_id: String,
    pub user_id: i64,
    pub scopes: BTreeSet<String>,
    pub expires_at_ms: i64,
    /// The refresh token issued with it (revoking one revokes the pair).
    pub refresh_token: Option<String>,
}

#[derive(Clone, Debug)]
pub struct RefreshToken {
    pub client_id: String,
    pub user_id: i64,
    pub scopes: BTreeSet<String>,
}

#[derive(Default)]
pub struct OAuthState {
    pub codes: HashMap<String, AuthCode>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
}

/// What `/_sim/stats` reports.
#[derive(Default, Debug, Clone, serde::Serialize)]
pub struct Stats {
    /// Requests per operation, keyed `"GET /api/v2/users/{id}"`.
    pub requests: BTreeMap<String, u64>,
    pub rate_limited: u64,
    pub tokens_issued: u64,
    pub tokens_refreshed: u64,
    pub events_delivered: u64,
    pub events_failed: u64,
    pub connections_dropped: u64,
    /// Websocket events lost: pushed out of a full buffer while no socket was connected, or
    /// refused by a connection whose queue was full. Each is also in `/_sim/deliveries`.
    pub websocket_events_dropped: u64,
}
