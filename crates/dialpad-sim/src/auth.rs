//! Authentication of Dialpad API calls: an API key as `Authorization: Bearer` or `?apikey=`,
//! or an OAuth access token; scopes enforced where the spec declares them.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::params::Params;
use crate::state::{Caller, Sim};
use crate::wire::now_ms;

impl Caller {
    /// 403 unless the caller holds `scope`. API keys hold every scope.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        match &self.scopes {
            None => Ok(()),
            Some(s) if s.contains(scope) => Ok(()),
            Some(_) => Err(ApiError::forbidden(format!(
                "This operation requires the '{scope}' scope, which was not granted"
            ))),
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.contains(scope))
    }
}

fn presented_token(parts: &Parts) -> Option<String> {
    if let Some(v) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(t.trim().to_owned());
        }
    }
    Params::parse(parts.uri.query().unwrap_or(""))
        .str("apikey")
        .map(str::to_owned)
}

impl FromRequestParts<Sim> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, sim: &Sim) -> Result<Self, Self::Rejection> {
        let token = presented_token(parts)
            .ok_or_else(|| ApiError::unauthorized("Missing API key or access token"))?;
        if sim.config().api_keys.iter().any(|k| k == &token) {
            return Ok(Caller {
                user_id: None,
                scopes: None,
            });
        }
        let db = sim.db().read();
        match db.oauth.access_tokens.get(&token) {
            Some(t) if t.expires_at_ms > now_ms() => Ok(Caller {
                user_id: Some(t.user_id),
                scopes: Some(t.scopes.clone()),
            }),
            Some(_) => Err(ApiError::unauthorized("Access token expired")),
            None => Err(ApiError::unauthorized("Invalid API key or access token")),
        }
    }
}
