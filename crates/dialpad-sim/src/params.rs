//! Query parameters the way Dialpad reads them: empty values are absent, booleans are
//! case-insensitive (the official Python SDK sends `True`), and a bad value names its field.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;

/// Dialpad caps page sizes at 100.
pub const MAX_LIMIT: usize = 100;

#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(query: &str) -> Self {
        let map = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self(map)
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid_field(
                name,
                format!("expected a boolean, got {v:?}"),
            )),
        }
    }

    pub fn i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.str(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::invalid_field(name, format!("expected an integer, got {v:?}"))
                })
            })
            .transpose()
    }

    /// One of a fixed set of values (an enum parameter).
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v.to_owned())),
            Some(v) => Err(ApiError::invalid_field(
                name,
                format!("{v:?} is not one of {}", allowed.join(", ")),
            )),
        }
    }

    /// `limit`, capped at [`MAX_LIMIT`]; `default` when absent.
    pub fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.i64("limit")? {
            None => Ok(default.min(MAX_LIMIT)),
            Some(n) if n < 1 => Err(ApiError::invalid_field("limit", "must be at least 1")),
            Some(n) => Ok((n as usize).min(MAX_LIMIT)),
        }
    }

    pub fn cursor(&self) -> Option<&str> {
        self.str("cursor")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::parse(parts.uri.query().unwrap_or("")))
    }
}
