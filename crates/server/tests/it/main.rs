//! Integration tests of the server against the simulator.

mod helpers;

mod bad_input;
mod connections;
mod cors;
mod errors;
mod hardening;
mod refresh;
mod resources;
mod review;
mod timeouts;
