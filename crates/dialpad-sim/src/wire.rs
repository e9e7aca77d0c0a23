//! Dialpad's wire conventions for REST responses, in one place so every route follows them:
//! int64 values as JSON strings, null fields and empty lists omitted, naive ISO date-times,
//! 200 with `{}` where the spec gives no schema.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// A REST response body in Dialpad's wire format. Build it with [`reply`].
pub struct Reply(Value);

/// Serialises `value`, then drops nulls and empty lists recursively, as Dialpad does.
pub fn reply<T: Serialize>(value: &T) -> Reply {
    let mut v = serde_json::to_value(value).unwrap_or(Value::Null);
    strip_empty(&mut v);
    if v.is_null() {
        v = Value::Object(Default::default());
    }
    Reply(v)
}

/// `{}`: Dialpad's answer to creates and deletes whose spec gives no schema.
pub fn empty() -> Reply {
    Reply(Value::Object(Default::default()))
}

pub fn strip_empty(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, x| {
                strip_empty(x);
                !(x.is_null() || matches!(x, Value::Array(a) if a.is_empty()))
            });
        }
        Value::Array(items) => items.iter_mut().for_each(strip_empty),
        _ => {}
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.0).unwrap_or_else(|_| b"{}".to_vec());
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    }
}

/// `#[serde(with = "wire::id")]`: int64 as a JSON string, the way Dialpad's REST API sends them.
pub mod id {
    use serde::Serializer;
    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
}

/// `#[serde(with = "wire::opt_id")]` for optional int64 values.
pub mod opt_id {
    use serde::Serializer;
    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }
}

/// `#[serde(with = "wire::ids")]` for lists of int64 values.
pub mod ids {
    use serde::ser::SerializeSeq;
    use serde::Serializer;
    pub fn serialize<S: Serializer>(v: &[i64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for x in v {
            seq.serialize_element(&x.to_string())?;
        }
        seq.end()
    }
}

/// Epoch milliseconds → the naive ISO date-time Dialpad prints (`2024-01-02T03:04:05.123000`),
/// no zone suffix.
pub fn naive_iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
        .unwrap_or_default()
}

/// `#[serde(serialize_with = "wire::opt_naive_iso")]` for optional epoch-ms fields that Dialpad
/// prints as date-time strings.
pub fn opt_naive_iso<S: serde::Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(ms) => s.serialize_str(&naive_iso(*ms)),
        None => s.serialize_none(),
    }
}

/// Request bodies: Dialpad accepts int64 as a JSON number or a string of digits.
pub mod flex {
    use serde::de::{self, Deserializer};
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        Num(i64),
        Str(String),
    }

    fn parse<E: de::Error>(v: NumOrStr) -> Result<i64, E> {
        match v {
            NumOrStr::Num(n) => Ok(n),
            NumOrStr::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("expected an integer, got {s:?}"))),
        }
    }

    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<NumOrStr>::deserialize(d)? {
            Some(v) => parse(v).map(Some),
            None => Ok(None),
        }
    }

    pub fn vec_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
        Option::<Vec<NumOrStr>>::deserialize(d)?
            .unwrap_or_default()
            .into_iter()
            .map(parse)
            .collect()
    }
}

/// Current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
