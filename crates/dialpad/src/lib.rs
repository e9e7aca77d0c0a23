//! Typed async client for the [Dialpad API v2](https://developers.dialpad.com/).
//!
//! ```no_run
//! use dialpad::{Auth, BaseUrl, Client};
//! use futures::TryStreamExt;
//!
//! # async fn run() -> Result<(), dialpad::Error> {
//! let client = Client::builder()
//!     .base_url(BaseUrl::Sandbox)
//!     .auth(Auth::api_key(std::env::var("DIALPAD_API_KEY").unwrap_or_default()))
//!     .build()?;
//!
//! let me = client.users().me().await?;
//! println!("hello {:?}", me.display_name);
//!
//! // One page…
//! let page = client.contacts().list().limit(50).send().await?;
//! println!("{} contacts, more: {}", page.items.len(), page.has_more());
//!
//! // …or every item, following cursors.
//! let mut calls = client.calls().list().started_after_millis(1_700_000_000_000).stream();
//! while let Some(call) = calls.try_next().await? {
//!     println!("{:?} {:?}", call.call_id, call.state);
//! }
//! # Ok(()) }
//! ```
//!
//! Resources (each a handler borrowed from the [`Client`]):
//! [`contacts`](Client::contacts), [`users`](Client::users),
//! [`offices`](Client::offices), [`company`](Client::company),
//! [`calls`](Client::calls) (incl. call labels and AI recaps),
//! [`transcripts`](Client::transcripts), [`channels`](Client::channels),
//! [`sms`](Client::sms), [`webhooks`](Client::webhooks),
//! [`recording_share_links`](Client::recording_share_links) (the user's app:
//! [`initiate_call`](users::Users::initiate_call), recording of the active call and screen pops
//! are on [`users`](Client::users)),
//! [`subscriptions`](Client::subscriptions) (call, sms, contact, agent
//! status, changelog), [`devices`](Client::devices), [`oauth`](Client::oauth)
//! and [`raw`](Client::raw) for proxying:
//!
//! ```no_run
//! # async fn run(client: dialpad::Client) -> Result<(), dialpad::Error> {
//! use futures::TryStreamExt;
//! let resp = client
//!     .raw(dialpad::Method::GET, "/api/v2/users?state=active")
//!     .send()
//!     .await?; // any status comes back as a response, not an error
//! let (status, headers, mut body) = resp.into_parts();
//! while let Some(chunk) = body.try_next().await? {
//!     // forward `chunk` without buffering the whole body
//! #   let _ = (&status, &headers, chunk);
//! }
//! # Ok(()) }
//! ```
//!
//! Design notes:
//! - every request goes through one internal send path, which injects the
//!   bearer token and asks the [`TokenProvider`] for a fresh one after a 401;
//! - response models tolerate `null`/absent fields, unknown fields and
//!   unknown enum values (kept as `Unknown(String)`), and accept `int64`
//!   values as JSON strings or numbers (see [`wire`]);
//! - secrets are [`secrecy::SecretString`]s and never appear in `Debug`
//!   output or errors;
//! - requests are paced below Dialpad's published rate limits (20 req/s per
//!   company plus each operation's own limit, at 95 % by default; see
//!   [`RateLimits`], and share one [`RateLimiter`] between clients of the same
//!   company); a 429 waits for `Retry-After` and is retried; GET/PUT/DELETE are
//!   retried on 5xx and transport errors with bounded, jittered backoff
//!   ([`RetryPolicy`]); a POST or PATCH whose outcome is unknown is never
//!   repeated. [`Client::metrics`] counts what the client did, and an
//!   [observer](ClientBuilder::observer) sees every attempt (operation as a
//!   path template, status, duration) for a metrics registry of your own.

#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

pub mod auth;
pub mod calls;
pub mod channels;
pub mod client;
pub mod company;
pub mod contacts;
pub mod devices;
pub mod error;
pub mod limits;
pub mod oauth;
pub mod observe;
pub mod offices;
pub mod pagination;
pub mod raw;
pub mod recording_share_links;
pub mod request;
pub mod retry;
pub mod sms;
pub mod subscriptions;
pub mod transcripts;
pub mod user_calls;
pub mod users;
pub mod webhooks;
pub mod wire;

#[cfg(test)]
mod http_tests;

pub use auth::{Auth, TokenProvider};
pub use client::{BaseUrl, Client, ClientBuilder};
pub use error::{Error, Result, TokenError};
pub use limits::{Limit, RateLimiter, RateLimits};
pub use observe::RequestObserver;
pub use pagination::{ItemStream, ListRequest, Page};
pub use request::ApiRequest;
pub use retry::{Metrics, RetryPolicy};
pub use wire::Timestamp;

pub use reqwest::{header, Method, StatusCode};
pub use secrecy::{ExposeSecret, SecretString};
