//! The simulator's HTTP tests, one module per domain, in one test binary: linking is the costly
//! part of a test build, so one link instead of eight. The official Python SDK's scenario stays
//! its own binary (`tests/python_sdk.rs`): it needs python3 and PyPI, and `--test it` runs
//! without them.

mod common;

mod actions;
mod activity;
mod bad_input;
mod conformance;
mod events;
mod oauth;
mod org;
mod subscriptions;
mod websockets;
