//! `GET /api/v2/company` (`protos.company.CompanyProto`).

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::state::{Caller, Sim};
use crate::wire::{self, reply, Reply};

pub fn routes() -> Router<Sim> {
    Router::new().route("/api/v2/company", get(get_company))
}

/// The one company the simulator holds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Company {
    #[serde(with = "wire::id")]
    pub id: i64,
    pub name: String,
    /// Domain of the users' emails.
    pub domain: String,
    /// Lower-case ISO country code, as Dialpad prints it (`us`).
    pub country: String,
    /// `enterprise`, `free`, `pro` or `standard`.
    pub account_type: String,
    pub admin_email: Option<String>,
    pub settings: CompanySettings,
    /// `active`, `cancelled`, `deleted`, `pending` or `suspended`.
    pub state: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CompanySettings {
    pub allow_ai_training: bool,
    pub has_callai: bool,
}

#[derive(Serialize)]
struct CompanyView<'a> {
    #[serde(flatten)]
    company: &'a Company,
    #[serde(with = "wire::id")]
    office_count: i64,
}

/// "Requires a company admin API key": company keys pass; an OAuth token passes only when its
/// user is a company (super) admin, otherwise 403.
async fn get_company(State(sim): State<Sim>, caller: Caller) -> ApiResult<Reply> {
    let db = sim.db().read();
    if let Some(uid) = caller.user_id {
        let admin = db.users.get(&uid).is_some_and(|u| u.is_super_admin);
        if !admin {
            return Err(ApiError::forbidden(
                "This operation requires a company admin",
            ));
        }
    }
    let office_count = db.offices.values().filter(|o| o.state != "deleted").count() as i64;
    Ok(reply(&CompanyView {
        company: &db.company,
        office_count,
    }))
}
