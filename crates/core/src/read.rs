//! Reading one Dialpad record, field by field, without ever failing the record.
//!
//! Dialpad's REST answers carry int64s as strings and times as epoch milliseconds (sometimes as
//! zone-less ISO strings); its webhook payloads carry the same fields as JSON numbers. A mapper
//! reads each field through a [`Reader`], which accepts every shape Dialpad is known to send,
//! and when a value cannot be read, leaves the field out and records a [`Warning`] naming it:
//! one odd value never drops a record.

use chrono::SecondsFormat;
use dialpad::Timestamp;
use serde::Serialize;
use serde_json::Value;

/// Something in Dialpad's record that could not be mapped as is. `field` is the unified field;
/// the value is left out (`INVALID_VALUE`) or kept (`UNKNOWN_VALUE`, an enum value this
/// connector does not know yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
    pub field: String,
}

/// A value of a type the field cannot hold; the field is left out.
pub const INVALID_VALUE: &str = "FIELD::INVALID_VALUE";
/// An enum value the connector does not know; kept as Dialpad sent it.
pub const UNKNOWN_VALUE: &str = "FIELD::UNKNOWN_VALUE";

/// Reads fields of one raw record, collecting warnings.
pub struct Reader<'a> {
    raw: &'a Value,
    pub warnings: Vec<Warning>,
}

/// A caller's input quoted for an error message, cut to 64 characters: an id of 3000 digits is
/// answered as "its first 64 … (3000 characters)", never echoed whole.
pub fn quote_input(s: &str) -> String {
    const MAX: usize = 64;
    let chars = s.chars().count();
    if chars <= MAX {
        return format!("{s:?}");
    }
    let head: String = s.chars().take(MAX).collect();
    format!("{head:?}… ({chars} characters)")
}

/// A short, bounded rendering of a bad value for a warning message (no record dumps).
fn show(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 60 {
        let cut = (0..=60).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

impl<'a> Reader<'a> {
    pub fn new(raw: &'a Value) -> Self {
        Reader {
            raw,
            warnings: Vec::new(),
        }
    }

    /// The raw value at `key`, `None` when absent or `null`.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.raw.get(key).filter(|v| !v.is_null())
    }

    /// A reader over the object at `key` (an empty one when absent), sharing no warnings.
    pub fn child(&self, key: &str) -> Option<&'a Value> {
        self.get(key).filter(|v| v.is_object())
    }

    pub fn warn(&mut self, code: &'static str, field: &str, message: String) {
        self.warnings.push(Warning {
            code,
            message,
            field: field.to_owned(),
        });
    }

    fn invalid(&mut self, field: &str, key: &str, v: &Value, expected: &str) {
        self.warn(
            INVALID_VALUE,
            field,
            format!("Dialpad's `{key}` is {}, not {expected}", show(v)),
        );
    }

    /// A string (empty strings are absent). Numbers and booleans are not strings here.
    pub fn string(&mut self, key: &str, field: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            v => {
                self.invalid(field, key, v, "a string");
                None
            }
        }
    }

    /// A Dialpad id: an int64 as a string (REST) or a number (webhooks), or an opaque string id
    /// (shared contacts). Always answered as a string.
    pub fn id(&mut self, key: &str, field: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            v => {
                self.invalid(field, key, v, "an id");
                None
            }
        }
    }

    /// An int64 sent as a string or a number.
    pub fn int(&mut self, key: &str, field: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Number(n) => match n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)) {
                Some(i) => Some(i),
                None => {
                    let v = Value::Number(n.clone());
                    self.invalid(field, key, &v, "an integer");
                    None
                }
            },
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => Some(i),
                Err(_) => {
                    let v = Value::String(s.clone());
                    self.invalid(field, key, &v, "an integer");
                    None
                }
            },
            v => {
                self.invalid(field, key, v, "an integer");
                None
            }
        }
    }

    /// A float sent as a number or a numeric string.
    pub fn number(&mut self, key: &str, field: &str) -> Option<f64> {
        match self.get(key)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Some(f),
                _ => {
                    let v = Value::String(s.clone());
                    self.invalid(field, key, &v, "a number");
                    None
                }
            },
            v => {
                self.invalid(field, key, v, "a number");
                None
            }
        }
    }

    pub fn bool(&mut self, key: &str, field: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            v => {
                self.invalid(field, key, v, "a boolean");
                None
            }
        }
    }

    /// A time: epoch milliseconds (number or numeric string) or an ISO date-time, answered
    /// as [`Timestamp`].
    pub fn time(&mut self, key: &str, field: &str) -> Option<Timestamp> {
        let v = self.get(key)?;
        let t = match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .and_then(Timestamp::from_millis),
            Value::String(s) if s.is_empty() => return None,
            Value::String(s) => Timestamp::parse(s),
            _ => None,
        };
        if t.is_none() {
            self.invalid(field, key, v, "a time");
        }
        t
    }

    /// A list of strings; non-string items are dropped with a warning, the rest kept.
    pub fn strings(&mut self, key: &str, field: &str) -> Vec<String> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        let Some(items) = v.as_array() else {
            self.invalid(field, key, v, "a list");
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::String(s) if !s.is_empty() => out.push(s.clone()),
                Value::String(_) | Value::Null => {}
                other => self.invalid(field, key, other, "a string"),
            }
        }
        out
    }

    /// A string from a known set; an unknown value is kept, with a warning.
    pub fn known(&mut self, key: &str, field: &str, known: &[&str]) -> Option<String> {
        let s = self.string(key, field)?;
        if !known.contains(&s.as_str()) {
            self.warn(
                UNKNOWN_VALUE,
                field,
                format!("Dialpad's `{key}` has a value this connector does not know: {s:?}"),
            );
        }
        Some(s)
    }
}

/// ISO-8601 UTC with `Z` and milliseconds, the API's one time format. Written digit by digit
/// (a call has five times, and chrono's general formatter was a visible part of mapping one);
/// years outside 0–9999 fall back to chrono, which writes them with a sign.
pub fn iso(t: Timestamp) -> String {
    use chrono::{Datelike, Timelike};
    let d = t.as_datetime();
    let year = d.year();
    if !(0..=9999).contains(&year) {
        return d.to_rfc3339_opts(SecondsFormat::Millis, true);
    }
    let ms = d.timestamp_subsec_millis().min(999);
    let mut b = [0u8; 24];
    let mut put = |at: usize, v: u32, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year as u32, 4);
    put(5, d.month(), 2);
    put(8, d.day(), 2);
    put(11, d.hour(), 2);
    put(14, d.minute(), 2);
    put(17, d.second().min(59), 2);
    put(20, ms, 3);
    b[4] = b'-';
    b[7] = b'-';
    b[10] = b'T';
    b[13] = b':';
    b[16] = b':';
    b[19] = b'.';
    b[23] = b'Z';
    b.iter().map(|&c| c as char).collect()
}

/// Dialpad milliseconds → whole seconds (rounded).
pub fn ms_to_seconds(ms: f64) -> i64 {
    (ms / 1000.0).round() as i64
}

/// Whether `s` is an E.164 number: `+`, then 8 to 15 digits, the first not 0.
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// A phone number a user typed, as E.164 when it can be read as one: separators (spaces,
/// dashes, dots, parentheses) are dropped, `00` becomes `+`, and a bare 10-digit number is read
/// as North American (Dialpad's home market). `None` when it is not a phone number.
pub fn normalize_phone(s: &str) -> Option<String> {
    let trimmed = s.trim();
    let mut out = String::with_capacity(trimmed.len());
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '+' if i == 0 => out.push('+'),
            '0'..='9' => out.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    if let Some(rest) = out.strip_prefix("00") {
        out = format!("+{rest}");
    }
    if !out.starts_with('+') {
        out = match out.len() {
            10 => format!("+1{out}"),
            11 if out.starts_with('1') => format!("+{out}"),
            _ => return None,
        };
    }
    is_e164(&out).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_and_ints_from_strings_or_numbers() {
        let raw = json!({"a": "5734470963462144", "b": 5734470963462144_i64, "c": true, "d": ""});
        let mut r = Reader::new(&raw);
        assert_eq!(r.id("a", "x").as_deref(), Some("5734470963462144"));
        assert_eq!(r.id("b", "x").as_deref(), Some("5734470963462144"));
        assert_eq!(r.int("a", "x"), Some(5734470963462144));
        assert_eq!(r.id("d", "x"), None);
        assert!(r.warnings.is_empty());
        assert_eq!(r.id("c", "owner"), None);
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(r.warnings[0].field, "owner");
        assert_eq!(r.warnings[0].code, INVALID_VALUE);
    }

    #[test]
    fn times_from_millis_strings_and_iso() {
        let raw = json!({"n": 1704164645123_i64, "s": "1704164645123",
            "iso": "2024-01-02T03:04:05.123456", "bad": "yesterday"});
        let mut r = Reader::new(&raw);
        for k in ["n", "s", "iso"] {
            assert_eq!(
                r.time(k, "t").map(iso).as_deref(),
                Some("2024-01-02T03:04:05.123Z")
            );
        }
        assert_eq!(r.time("bad", "startedAt"), None);
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].message.contains("yesterday"));
    }

    #[test]
    fn iso_matches_chrono_across_the_range() {
        for ms in [
            0_i64,
            1,
            999,
            1_704_164_645_123,
            951_782_400_000,     // 2000-02-29
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            -62_135_596_800_000, // 0001-01-01
            -1,
            253_402_300_800_000, // year 10000: chrono's form
        ] {
            let t = Timestamp::from_millis(ms).unwrap();
            assert_eq!(
                iso(t),
                t.as_datetime().to_rfc3339_opts(SecondsFormat::Millis, true),
                "{ms}"
            );
        }
    }

    #[test]
    fn unknown_enum_values_are_kept_with_a_warning() {
        let raw = json!({"state": "hologram"});
        let mut r = Reader::new(&raw);
        assert_eq!(
            r.known("state", "state", &["active"]).as_deref(),
            Some("hologram")
        );
        assert_eq!(r.warnings[0].code, UNKNOWN_VALUE);
    }

    #[test]
    fn string_lists_keep_the_good_items() {
        let raw = json!({"l": ["a", 3, null, "b"], "o": {"x": 1}});
        let mut r = Reader::new(&raw);
        assert_eq!(r.strings("l", "emails"), vec!["a", "b"]);
        assert!(r.strings("o", "urls").is_empty());
        assert_eq!(r.warnings.len(), 2);
    }

    #[test]
    fn phone_numbers() {
        assert!(is_e164("+14155550100"));
        assert!(!is_e164("4155550100"));
        assert!(!is_e164("+0123456789"));
        assert_eq!(
            normalize_phone("(415) 555-0100").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(
            normalize_phone("0044 20 7946 0958").as_deref(),
            Some("+442079460958")
        );
        assert_eq!(
            normalize_phone("+1 415.555.0100").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(normalize_phone("ada@example.com"), None);
        assert_eq!(normalize_phone("12345"), None);
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "x".repeat(500);
        let raw = json!({ "k": [long] });
        let mut r = Reader::new(&raw);
        r.string("k", "f");
        assert!(r.warnings[0].message.len() < 120);
    }
}
