//! Integration tests: the typed `dialpad` client against the `dialpad-sim` simulator, over real
//! HTTP on an ephemeral port. Each area has a `scenario` function (used by its own test and by
//! the coverage check, which proves every client operation was exercised).

mod helpers;

mod actions;
mod calls;
mod channels;
mod contacts;
mod coverage;
mod devices;
mod oauth;
mod offices;
mod raw;
mod sms;
mod subscriptions;
mod transcripts;
mod users;
mod webhooks;
mod wire;
