//! The organisation: company, offices, users and user devices
//! (`/api/v2/company`, `/api/v2/offices`, `/api/v2/users`, `/api/v2/userdevices`).

mod company;
mod devices;
mod offices;
mod users;

use axum::Router;

use crate::error::ApiError;
use crate::operations::Op;
use crate::state::{Caller, Sim};

pub use company::{Company, CompanySettings};
pub use devices::UserDevice;
pub use offices::{E911Address, Office, OfficeSettings, Plan, RoutingOptions, RoutingOptionsInner};
pub use users::{User, VoicemailSettings};

pub const OPERATIONS: &[Op] = &[
    Op::new("GET", "/api/v2/company", "company.get"),
    Op::new("GET", "/api/v2/offices", "offices.list"),
    Op::new("POST", "/api/v2/offices", "offices.create"),
    Op::new("GET", "/api/v2/offices/primary", "offices.primary.get"),
    Op::new("GET", "/api/v2/offices/{id}", "offices.get"),
    Op::new("PATCH", "/api/v2/offices/{id}", "offices.update"),
    Op::new("GET", "/api/v2/users", "users.list"),
    Op::new("POST", "/api/v2/users", "users.create"),
    Op::new("GET", "/api/v2/users/{id}", "users.get"),
    Op::new("PATCH", "/api/v2/users/{id}", "users.update"),
    Op::new("DELETE", "/api/v2/users/{id}", "users.delete"),
    Op::new("GET", "/api/v2/userdevices", "userdevices.list"),
    Op::new("GET", "/api/v2/userdevices/{id}", "userdevices.get"),
];

pub fn routes() -> Router<Sim> {
    Router::new()
        .merge(company::routes())
        .merge(offices::routes())
        .merge(users::routes())
        .merge(devices::routes())
}

/// An int64 path or query id; anything else is a 400 naming the field.
fn parse_id(field: &str, raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| ApiError::invalid_field(field, format!("expected an integer id, got {raw:?}")))
}

/// Resolves a user id from a path or query value, where `me` is the OAuth token's user.
///
/// Dialpad documents `me` only "if you are using a user level API key". A company API key has
/// no user behind it, so `me` is a malformed request for that credential rather than a missing
/// resource: 400 (naming the field), not 404.
pub(crate) fn resolve_user_id(caller: &Caller, field: &str, raw: &str) -> Result<i64, ApiError> {
    if raw.trim().eq_ignore_ascii_case("me") {
        return caller.user_id.ok_or_else(|| {
            ApiError::invalid_field(
                field,
                "'me' can only be used with a user-level API key or OAuth token, not a company API key",
            )
        });
    }
    parse_id(field, raw)
}

/// Dialpad's office hours: pairs of `"HH:MM"` open/close times in increasing order.
fn check_hours(field: &str, hours: &[String]) -> Result<(), ApiError> {
    if !hours.len().is_multiple_of(2) {
        return Err(ApiError::invalid_field(
            field,
            "expected pairs of opening and closing times",
        ));
    }
    let mut last = -1;
    for h in hours {
        let minutes = parse_hhmm(h).ok_or_else(|| {
            ApiError::invalid_field(field, format!("{h:?} is not a time like \"08:00\""))
        })?;
        if minutes <= last {
            return Err(ApiError::invalid_field(
                field,
                "times must be in increasing order",
            ));
        }
        last = minutes;
    }
    Ok(())
}

fn parse_hhmm(h: &str) -> Option<i32> {
    let (hh, mm) = h.split_once(':')?;
    if hh.len() != 2 || mm.len() != 2 {
        return None;
    }
    let hh: i32 = hh.parse().ok()?;
    let mm: i32 = mm.parse().ok()?;
    // "24:00" closes at midnight.
    ((0..24).contains(&hh) && (0..60).contains(&mm) || (hh == 24 && mm == 0))
        .then_some(hh * 60 + mm)
}

/// `Option<Option<T>>` for PATCH bodies: absent = leave alone, `null` = clear.
fn double_opt<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}
