//! The organisation: company, offices, users and user devices
//! (`/api/v2/company`, `/api/v2/offices`, `/api/v2/users`, `/api/v2/userdevices`).

use axum::Router;
use serde::Serialize;

use crate::operations::Op;
use crate::state::Sim;

pub const OPERATIONS: &[Op] = &[];

pub fn routes() -> Router<Sim> {
    Router::new()
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Company {}

#[derive(Clone, Debug, Serialize)]
pub struct Office {}

#[derive(Clone, Debug, Serialize)]
pub struct User {}

#[derive(Clone, Debug, Serialize)]
pub struct UserDevice {}
