//! Serde helpers for the quirks of Dialpad's JSON.
//!
//! Dialpad's REST responses encode `int64` values as JSON strings
//! (`"5734470963462144"`) while its webhook events use plain numbers, any
//! field may be `null` or missing, and timestamps come either as epoch
//! milliseconds (string or number) or as ISO date-times without a zone.
//! Everything in this module accepts all of those shapes so that a single
//! odd field never makes a whole page fail to decode.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Visitor shared by the int64 helpers: accepts a JSON number or a string
/// holding a (possibly signed) integer. Floats with no fractional part are
/// tolerated because some JSON encoders emit `1.0`-style numbers.
struct I64Visitor;

impl<'de> Visitor<'de> for I64Visitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an int64 as a JSON number or string")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("integer {v} out of int64 range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if v.fract() == 0.0 && v >= i64::MIN as f64 && v <= i64::MAX as f64 {
            Ok(v as i64)
        } else {
            Err(E::custom(format!("expected an integer, got {v}")))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        v.trim()
            .parse::<i64>()
            .map_err(|_| E::custom(format!("expected an integer string, got {v:?}")))
    }
}

/// `int64` that may arrive as a JSON number or string. Serializes as a number.
pub mod int64 {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        d.deserialize_any(I64Visitor)
    }

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(*v)
    }
}

/// Optional `int64`: number, string, `null`, empty string or absent (with
/// `#[serde(default)]`). Serializes as a number or `null`.
pub mod opt_int64 {
    use super::*;

    struct OptVisitor;

    impl<'de> Visitor<'de> for OptVisitor {
        type Value = Option<i64>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an int64 as a JSON number or string, or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            I64Visitor.visit_i64(v).map(Some)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            I64Visitor.visit_u64(v).map(Some)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            I64Visitor.visit_f64(v).map(Some)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            // Protobuf-JSON bridges sometimes emit "" for an unset id.
            if v.trim().is_empty() {
                Ok(None)
            } else {
                I64Visitor.visit_str(v).map(Some)
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_option(OptVisitor)
    }

    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_i64(*v),
            None => s.serialize_none(),
        }
    }
}

/// List of `int64` values (each a number or string); `null` becomes empty.
pub mod vec_int64 {
    use super::*;

    #[derive(Deserialize)]
    struct Item(#[serde(with = "super::int64")] i64);

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
        let items: Option<Vec<Item>> = Option::deserialize(d)?;
        Ok(items.unwrap_or_default().into_iter().map(|i| i.0).collect())
    }

    pub fn serialize<S: Serializer>(v: &[i64], s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }
}

/// Treats `null` like an absent field: the type's default (empty list, etc.).
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Cursor: `null`, absent and `""` all mean "no more pages".
pub fn opt_cursor<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let c: Option<String> = Option::deserialize(d)?;
    Ok(c.filter(|c| !c.trim().is_empty()))
}

/// A point in time as Dialpad sends it.
///
/// Accepts epoch milliseconds (JSON number or numeric string), RFC 3339
/// date-times, and the zone-less ISO date-times Dialpad uses on several
/// `date-time` fields (`"2024-01-02T03:04:05.123456"`), which are UTC.
/// Serializes as epoch milliseconds (a JSON number), the form Dialpad's
/// query parameters and webhook payloads use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// From epoch milliseconds; `None` if out of chrono's range.
    pub fn from_millis(ms: i64) -> Option<Self> {
        Utc.timestamp_millis_opt(ms).single().map(Timestamp)
    }

    /// Epoch milliseconds.
    pub fn as_millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    /// The chrono value.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// Parses any of the accepted string forms.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        if s.bytes().all(|b| b.is_ascii_digit()) || (s.starts_with('-') && s.len() > 1) {
            if let Ok(ms) = s.parse::<i64>() {
                return Self::from_millis(ms);
            }
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return Some(Timestamp(dt.with_timezone(&Utc)));
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
                return Some(Timestamp(naive.and_utc()));
            }
        }
        // "2024-01-02 03:04:05+00:00" style (space separator with offset).
        if let Ok(dt) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z") {
            return Some(Timestamp(dt.with_timezone(&Utc)));
        }
        None
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(dt: DateTime<Utc>) -> Self {
        Timestamp(dt)
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.to_rfc3339(), f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.as_millis())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("epoch milliseconds or an ISO 8601 date-time")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Timestamp::from_millis(v).ok_or_else(|| E::custom("timestamp out of range"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                self.visit_i64(I64Visitor.visit_u64(v)?)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                self.visit_i64(v.trunc() as i64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v)
                    .ok_or_else(|| E::custom(format!("unrecognised timestamp {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Optional [`Timestamp`] that never fails: `null`, absent, `""` and
/// unrecognised formats all give `None` (the latter logged at debug level),
/// because one odd date must not make a whole list page undecodable.
pub fn opt_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
            .and_then(Timestamp::from_millis),
        Some(serde_json::Value::String(s)) => {
            let t = Timestamp::parse(&s);
            if t.is_none() && !s.trim().is_empty() {
                tracing::debug!(value = %s, "ignoring unrecognised Dialpad timestamp");
            }
            t
        }
        Some(other) => {
            tracing::debug!(value = %other, "ignoring non-scalar Dialpad timestamp");
            None
        }
    })
}

/// Optional string that some producers send as a number (ids typed
/// `string` in the spec but numeric in webhook events).
pub fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    })
}

/// Optional `double` sent as a number or a numeric string; anything else
/// becomes `None`.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Deserializes an optional secret string without ever holding it in a plain
/// `String` longer than needed.
pub(crate) fn opt_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<secrecy::SecretString>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    Ok(v.filter(|s| !s.is_empty()).map(secrecy::SecretString::from))
}

/// Defines a string enum that keeps unknown values instead of failing.
///
/// Dialpad adds enum members without notice (new call states, device types,
/// licences); decoding must not break when it does, and round-tripping must
/// give back the exact string received.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate does not know yet, kept verbatim.
            Unknown(String),
        }

        impl $name {
            /// The wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $value, )+
                    Self::Unknown(s) => s.as_str(),
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $value => Self::$variant, )+
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $( $value => Self::$variant, )+
                    _ => Self::Unknown(s),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(s))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Some producers send numeric enum codes; keep them as text
                // rather than failing.
                match serde_json::Value::deserialize(d)? {
                    serde_json::Value::String(s) => Ok(Self::from(s)),
                    other => Ok(Self::Unknown(other.to_string())),
                }
            }
        }
    };
}
pub(crate) use string_enum;

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
    #[serde(default)]
    struct T {
        #[serde(with = "int64")]
        req: i64,
        #[serde(with = "opt_int64")]
        opt: Option<i64>,
        #[serde(with = "vec_int64")]
        ids: Vec<i64>,
        #[serde(deserialize_with = "null_default")]
        names: Vec<String>,
        #[serde(deserialize_with = "opt_timestamp")]
        at: Option<Timestamp>,
    }

    #[test]
    fn int64_string_or_number() {
        let a: T =
            serde_json::from_str(r#"{"req":"5734470963462144","opt":"12","ids":["1",2,"3"]}"#)
                .unwrap();
        let b: T =
            serde_json::from_str(r#"{"req":5734470963462144,"opt":12,"ids":[1,"2",3]}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.req, 5734470963462144);
        assert_eq!(a.opt, Some(12));
        assert_eq!(a.ids, vec![1, 2, 3]);
        // Sent back as numbers.
        let out = serde_json::to_value(&a).unwrap();
        assert_eq!(out["req"], serde_json::json!(5734470963462144i64));
        assert_eq!(out["opt"], serde_json::json!(12));
    }

    #[test]
    fn int64_rejects_garbage() {
        assert!(serde_json::from_str::<T>(r#"{"req":"abc"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"req":1.5}"#).is_err());
    }

    #[test]
    fn null_and_absent() {
        let a: T =
            serde_json::from_str(r#"{"opt":null,"ids":null,"names":null,"at":null}"#).unwrap();
        assert_eq!(a, T::default());
        let b: T = serde_json::from_str("{}").unwrap();
        assert_eq!(b, T::default());
        let c: T = serde_json::from_str(r#"{"opt":""}"#).unwrap();
        assert_eq!(c.opt, None);
    }

    #[test]
    fn timestamps_all_shapes() {
        let want = Timestamp::from_millis(1_704_164_645_123).unwrap();
        for lit in [
            r#"1704164645123"#,
            r#""1704164645123""#,
            r#""2024-01-02T03:04:05.123""#,
            r#""2024-01-02T03:04:05.123000""#,
            r#""2024-01-02T03:04:05.123Z""#,
            r#""2024-01-02T04:04:05.123+01:00""#,
            r#""2024-01-02 03:04:05.123""#,
        ] {
            let t: Timestamp = serde_json::from_str(lit).unwrap();
            assert_eq!(t, want, "{lit}");
        }
        let t: T = serde_json::from_str(r#"{"at":"not a date"}"#).unwrap();
        assert_eq!(t.at, None);
        let t: T = serde_json::from_str(r#"{"at":"2024-01-02T03:04:05"}"#).unwrap();
        assert_eq!(t.at.unwrap().as_millis(), 1_704_164_645_000);
        assert_eq!(serde_json::to_string(&want).unwrap(), "1704164645123");
    }

    string_enum! {
        pub enum Color { Red = "red", Blue = "blue" }
    }

    #[test]
    fn unknown_enum_values_round_trip() {
        let c: Color = serde_json::from_str(r#""red""#).unwrap();
        assert_eq!(c, Color::Red);
        let u: Color = serde_json::from_str(r#""ultraviolet""#).unwrap();
        assert_eq!(u, Color::Unknown("ultraviolet".into()));
        assert_eq!(serde_json::to_string(&u).unwrap(), r#""ultraviolet""#);
        let n: Color = serde_json::from_str("7").unwrap();
        assert_eq!(n, Color::Unknown("7".into()));
        assert_eq!("blue".parse::<Color>().unwrap(), Color::Blue);
    }
}
