//! `/api/v2/userdevices` (`protos.userdevice.UserDeviceProto`).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use serde::Serialize;

use super::resolve_user_id;
use crate::error::{ApiError, ApiResult};
use crate::pagination::paginate;
use crate::params::Params;
use crate::state::{Caller, Sim};
use crate::wire::{self, reply, Reply};

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/api/v2/userdevices", get(list))
        .route("/api/v2/userdevices/{id}", get(get_one))
}

/// A device a user is signed in on (`protos.userdevice.UserDeviceProto`). Ids are strings.
#[derive(Clone, Debug, Serialize)]
pub struct UserDevice {
    pub id: String,
    #[serde(with = "wire::id")]
    pub user_id: i64,
    /// `native`, `web`, `iphone`, `android`, `yealink`, `polycom`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub display_name: String,
    pub phone_number: Option<String>,
    pub app_version: Option<String>,
    #[serde(serialize_with = "wire::opt_naive_iso")]
    pub date_created: Option<i64>,
    #[serde(serialize_with = "wire::opt_naive_iso")]
    pub date_registered: Option<i64>,
    #[serde(serialize_with = "wire::opt_naive_iso")]
    pub date_updated: Option<i64>,
}

/// `user_id` (or `me`) picks one user's devices. Without it, an OAuth token sees its own user's
/// devices and a company key sees every device in the company.
async fn list(State(sim): State<Sim>, caller: Caller, params: Params) -> ApiResult<Reply> {
    let user_id = match params.str("user_id") {
        Some(raw) => Some(resolve_user_id(&caller, "user_id", raw)?),
        None => caller.user_id,
    };
    let db = sim.db().read();
    if let Some(uid) = user_id {
        if db.live_user(uid).is_none() {
            return Err(ApiError::not_found("User"));
        }
    }
    let items: Vec<&UserDevice> = db
        .devices
        .values()
        .filter(|d| user_id.is_none_or(|u| d.user_id == u))
        .collect();
    Ok(reply(&paginate(items, &params)?))
}

async fn get_one(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let db = sim.db().read();
    db.devices
        .get(&id)
        .map(reply)
        .ok_or_else(|| ApiError::not_found("Device"))
}
