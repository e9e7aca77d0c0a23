//! `{items, cursor}` pages. The cursor is opaque to callers (an offset, base64-encoded) and is
//! absent on the last page, as Dialpad omits it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use crate::error::ApiError;
use crate::params::Params;

pub const DEFAULT_LIMIT: usize = 100;

#[derive(Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

fn decode(cursor: &str) -> Result<usize, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::invalid_field("cursor", "not a cursor this API issued"))
}

fn encode(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

/// Cuts one page out of `items` (already filtered and ordered) using `cursor` and `limit`.
pub fn paginate<T>(items: Vec<T>, params: &Params) -> Result<Page<T>, ApiError> {
    let limit = params.limit(DEFAULT_LIMIT)?;
    let offset = params.cursor().map(decode).transpose()?.unwrap_or(0);
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
    let end = offset + items.len();
    let cursor = (end < total).then(|| encode(end));
    Ok(Page { items, cursor })
}
