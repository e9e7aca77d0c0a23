//! Channels and their members (`/api/v2/channels`).

use axum::Router;
use serde::Serialize;

use crate::operations::Op;
use crate::state::Sim;

pub const OPERATIONS: &[Op] = &[];

pub fn routes() -> Router<Sim> {
    Router::new()
}

#[derive(Clone, Debug, Serialize)]
pub struct Channel {}
