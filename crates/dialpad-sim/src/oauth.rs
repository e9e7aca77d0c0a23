//! Dialpad's OAuth 2.0 server: `/oauth2/authorize` (consent page), `/oauth2/token`,
//! `/oauth2/deauthorize`.

use axum::Router;

use crate::operations::Op;
use crate::state::Sim;

pub const OPERATIONS: &[Op] = &[];

pub fn routes() -> Router<Sim> {
    Router::new()
}
