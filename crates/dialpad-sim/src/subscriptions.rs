//! Webhooks and event subscriptions (`/api/v2/webhooks`, `/api/v2/subscriptions/{type}`).

use axum::Router;
use serde::Serialize;

use crate::operations::Op;
use crate::state::Sim;

pub const OPERATIONS: &[Op] = &[];

pub fn routes() -> Router<Sim> {
    Router::new()
}

#[derive(Clone, Debug, Serialize)]
pub struct Webhook {}

#[derive(Clone, Debug, Serialize)]
pub struct Subscription {}
