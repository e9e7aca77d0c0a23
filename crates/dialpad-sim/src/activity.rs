//! Calls, call labels, transcripts, AI recaps and SMS (`/api/v2/call`, `/api/v2/calllabels`,
//! `/api/v2/transcripts`, `/api/v2/sms`).

use axum::Router;
use serde::Serialize;

use crate::operations::Op;
use crate::state::Sim;

pub const OPERATIONS: &[Op] = &[];

pub fn routes() -> Router<Sim> {
    Router::new()
}

#[derive(Clone, Debug, Serialize)]
pub struct Call {}

#[derive(Clone, Debug, Serialize)]
pub struct Transcript {}

#[derive(Clone, Debug, Serialize)]
pub struct Sms {}
