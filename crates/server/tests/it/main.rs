//! Integration tests of the server against the simulator.

#[path = "../shared/checked.rs"]
mod checked;
mod helpers;

mod actions;
mod bad_input;
mod connections;
mod cors;
mod errors;
mod events_e2e;
mod hardening;
mod mcp;
mod metrics;
mod openapi;
mod polling;
mod refresh;
mod resources;
mod review;
mod timeouts;
mod webhooks;
