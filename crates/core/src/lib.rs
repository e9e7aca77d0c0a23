//! The Dialpad connector's domain core, between the HTTP server and the Dialpad client: the
//! operation catalog and its scope rules, the stable error codes, the unified models with their
//! Dialpad mappers, and the resource service that runs unified operations on a connection's
//! Dialpad client. Nothing here knows HTTP routes or the store; data flows server → core →
//! client.

#![forbid(unsafe_code)]

pub mod actions;
pub mod cursor;
pub mod custom;
pub mod error;
pub mod events;
pub mod mapping;
pub mod models;
pub mod operations;
pub mod read;
pub mod resources;

pub use error::ErrorCode;
pub use models::{Model, Op};
