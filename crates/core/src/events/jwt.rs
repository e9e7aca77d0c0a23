//! Dialpad's event bodies: a compact JWS signed with HS256 under the webhook's secret (the
//! body of the hook POST is the token itself, whatever the content type says), or plain JSON
//! when the webhook has no secret.
//!
//! Verified here with RustCrypto's `hmac` rather than `jsonwebtoken` (which the simulator uses to
//! sign): `jsonwebtoken`'s header type has no `none` and requires `alg`, so a `none` or an
//! `alg`-less token comes back as a JSON error indistinguishable from a garbled header, and its
//! claim checks (`exp` required, `aud` refused when present) would all have to be switched off;
//! we would still parse the header ourselves to label the failure. Dialpad's claims are the
//! event itself: no `exp`, `iat` or `aud` (see the simulator's `events::encode`), so none is
//! required or checked. The simulator's real tokens are verified in the tests, which keeps the
//! two implementations honest with each other.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Why a Dialpad event body was refused. [`JwtError::reason`] is a stable label (metrics); the
/// messages say nothing about the token or the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts with a JSON header and JSON claims (truncated, padded, bad
    /// characters, a critical header extension we do not implement).
    #[error("the body is not a well-formed event token")]
    Malformed,
    /// `alg` is missing, `none`, or anything but `HS256`.
    #[error("the event token is not signed with HS256")]
    BadAlgorithm,
    /// The signature does not match the secret (or the secret is empty).
    #[error("the event token's signature does not match")]
    BadSignature,
    /// Well signed, but the claims are not a JSON object.
    #[error("the event is not a JSON object")]
    NotAnObject,
}

impl JwtError {
    pub const fn reason(self) -> &'static str {
        match self {
            JwtError::Malformed => "malformed",
            JwtError::BadAlgorithm => "bad_algorithm",
            JwtError::BadSignature => "bad_signature",
            JwtError::NotAnObject => "not_an_object",
        }
    }
}

fn b64(part: &[u8]) -> Result<Vec<u8>, JwtError> {
    // URL_SAFE_NO_PAD refuses `=` padding, the standard alphabet's `+` and `/`, and
    // non-canonical trailing bits: one token has one encoding.
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)
}

/// Verifies a Dialpad event token and answers its claims (a JSON object).
///
/// `token` is the raw request body; surrounding ASCII whitespace is ignored. Only `HS256` is
/// accepted; the signature is checked (in constant time, by `hmac`'s `verify_slice`) before the
/// claims are parsed. An empty `secret` verifies nothing: anyone can sign with it.
pub fn verify_dialpad_jwt(token: &[u8], secret: &[u8]) -> Result<Value, JwtError> {
    let token = token.trim_ascii();
    let mut parts = token.split(|b| *b == b'.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    if header_b64.is_empty() || payload_b64.is_empty() {
        return Err(JwtError::Malformed);
    }
    let header: Value =
        serde_json::from_slice(&b64(header_b64)?).map_err(|_| JwtError::Malformed)?;
    let Value::Object(header) = header else {
        return Err(JwtError::Malformed);
    };
    // RFC 7515 §4.1.11: a token naming extensions the recipient does not implement is invalid.
    if header.contains_key("crit") {
        return Err(JwtError::Malformed);
    }
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(JwtError::BadAlgorithm);
    }
    let signature = b64(signature_b64)?;
    if secret.is_empty() {
        return Err(JwtError::BadSignature);
    }
    // The signing input is the token up to its last dot: `header.payload` as sent.
    let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| JwtError::BadSignature)?;
    mac.update(signed);
    mac.verify_slice(&signature)
        .map_err(|_| JwtError::BadSignature)?;
    let claims: Value =
        serde_json::from_slice(&b64(payload_b64)?).map_err(|_| JwtError::Malformed)?;
    if !claims.is_object() {
        return Err(JwtError::NotAnObject);
    }
    Ok(claims)
}

/// An unsigned event body (a webhook registered without a secret): JSON, surrounding
/// whitespace ignored, which must be an object. The connector always registers a secret; this
/// is for reading what Dialpad sends to a hook someone created without one.
pub fn parse_unsigned(body: &[u8]) -> Result<Value, JwtError> {
    let v: Value = serde_json::from_slice(body.trim_ascii()).map_err(|_| JwtError::Malformed)?;
    if !v.is_object() {
        return Err(JwtError::NotAnObject);
    }
    Ok(v)
}

/// Test helper: a token with any header, signed with HMAC-SHA256 as Dialpad does.
#[cfg(test)]
pub(crate) fn hs256_token(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap());
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{h}.{p}").as_bytes());
    let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{h}.{p}.{s}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::fixtures;
    use serde_json::json;

    const SECRET: &[u8] = b"dpc-fixture-secret";

    fn std_header() -> Value {
        json!({"typ": "JWT", "alg": "HS256"})
    }

    #[test]
    fn the_simulators_tokens_verify() {
        let f = fixtures::load();
        let tokens = f["tokens"].as_object().unwrap();
        assert!(tokens.len() >= 4);
        for (name, token) in tokens {
            let token = token.as_str().unwrap();
            let claims = verify_dialpad_jwt(token.as_bytes(), SECRET)
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let want = &fixtures::event(&f, name);
            assert_eq!(&claims, want, "{name}");
            // Whatever surrounds it on the wire.
            let padded = format!("\r\n  {token}\n\t");
            assert_eq!(
                verify_dialpad_jwt(padded.as_bytes(), SECRET).as_ref(),
                Ok(want)
            );
        }
    }

    #[test]
    fn every_fixture_round_trips_through_a_dialpad_style_token() {
        let f = fixtures::load();
        for e in f["events"].as_array().unwrap() {
            let t = hs256_token(&std_header(), &e["claims"], SECRET);
            assert_eq!(
                verify_dialpad_jwt(t.as_bytes(), SECRET).unwrap(),
                e["claims"]
            );
        }
    }

    #[test]
    fn refusals_table() {
        let claims = json!({"call_id": 1, "state": "ringing", "event_timestamp": 5});
        let good = hs256_token(&std_header(), &claims, SECRET);
        let (h, rest) = good.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        let none_header = enc(&json!({"alg": "none", "typ": "JWT"}));
        let forged_claims = enc(&json!({"call_id": 1, "state": "hangup", "event_timestamp": 5}));
        let cases: Vec<(&str, String, &[u8], JwtError)> = vec![
            (
                "wrong secret",
                good.clone(),
                b"another-secret",
                JwtError::BadSignature,
            ),
            ("empty secret", good.clone(), b"", JwtError::BadSignature),
            (
                "forged claims, old signature",
                format!("{h}.{forged_claims}.{s}"),
                SECRET,
                JwtError::BadSignature,
            ),
            (
                "alg none, no signature",
                format!("{none_header}.{p}."),
                SECRET,
                JwtError::BadAlgorithm,
            ),
            (
                "alg none, old signature",
                format!("{none_header}.{p}.{s}"),
                SECRET,
                JwtError::BadAlgorithm,
            ),
            (
                "HS512",
                hs256_token(&json!({"alg": "HS512"}), &claims, SECRET),
                SECRET,
                JwtError::BadAlgorithm,
            ),
            (
                "RS256",
                hs256_token(&json!({"alg": "RS256"}), &claims, SECRET),
                SECRET,
                JwtError::BadAlgorithm,
            ),
            (
                "lower-case alg",
                hs256_token(&json!({"alg": "hs256"}), &claims, SECRET),
                SECRET,
                JwtError::BadAlgorithm,
            ),
            (
                "missing alg",
                hs256_token(&json!({"typ": "JWT"}), &claims, SECRET),
                SECRET,
                JwtError::BadAlgorithm,
            ),
            (
                "alg not a string",
                hs256_token(&json!({"alg": ["HS256"]}), &claims, SECRET),
                SECRET,
                JwtError::BadAlgorithm,
            ),
            (
                "critical extension",
                hs256_token(
                    &json!({"alg": "HS256", "crit": ["b64"], "b64": false}),
                    &claims,
                    SECRET,
                ),
                SECRET,
                JwtError::Malformed,
            ),
            (
                "claims an array",
                hs256_token(&std_header(), &json!([1, 2]), SECRET),
                SECRET,
                JwtError::NotAnObject,
            ),
            (
                "claims a string",
                hs256_token(&std_header(), &json!("call"), SECRET),
                SECRET,
                JwtError::NotAnObject,
            ),
            // 37 base64 characters are no whole number of bytes.
            (
                "signature cut short",
                good[..good.len() - 6].to_owned(),
                SECRET,
                JwtError::Malformed,
            ),
            (
                "signature of 31 bytes",
                format!(
                    "{h}.{p}.{}",
                    URL_SAFE_NO_PAD.encode(&b64(s.as_bytes()).unwrap()[..31])
                ),
                SECRET,
                JwtError::BadSignature,
            ),
            (
                "signature cut to nothing",
                format!("{h}.{p}."),
                SECRET,
                JwtError::BadSignature,
            ),
            ("two parts", format!("{h}.{p}"), SECRET, JwtError::Malformed),
            (
                "four parts",
                format!("{good}.{s}"),
                SECRET,
                JwtError::Malformed,
            ),
            (
                "empty header",
                format!(".{p}.{s}"),
                SECRET,
                JwtError::Malformed,
            ),
            (
                "empty payload",
                format!("{h}..{s}"),
                SECRET,
                JwtError::Malformed,
            ),
            (
                "padded signature",
                format!("{good}="),
                SECRET,
                JwtError::Malformed,
            ),
            (
                "standard alphabet",
                format!("{h}.{p}.+{}", &s[1..]),
                SECRET,
                JwtError::Malformed,
            ),
            (
                "space in the header",
                format!("{h} .{p}.{s}"),
                SECRET,
                JwtError::Malformed,
            ),
            // The claims are not read before the signature holds.
            (
                "space in the claims",
                format!("{h}. {p}.{s}"),
                SECRET,
                JwtError::BadSignature,
            ),
            (
                "header not JSON",
                format!("{}.{p}.{s}", URL_SAFE_NO_PAD.encode(b"{alg")),
                SECRET,
                JwtError::Malformed,
            ),
            (
                "header an array",
                format!("{}.{p}.{s}", enc(&json!(["HS256"]))),
                SECRET,
                JwtError::Malformed,
            ),
            ("empty body", String::new(), SECRET, JwtError::Malformed),
            (
                "plain JSON",
                claims.to_string(),
                SECRET,
                JwtError::Malformed,
            ),
        ];
        for (name, token, secret, want) in cases {
            assert_eq!(
                verify_dialpad_jwt(token.as_bytes(), secret),
                Err(want),
                "{name}"
            );
        }
        // Claims that are not JSON, signed correctly: the signature passes, the parse fails.
        let bad_payload = URL_SAFE_NO_PAD.encode(b"not json");
        let signing_input = format!("{h}.{bad_payload}");
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert_eq!(
            verify_dialpad_jwt(format!("{signing_input}.{sig}").as_bytes(), SECRET),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn every_truncation_is_refused() {
        let f = fixtures::load();
        let token = f["tokens"]["call/answered/preanswer"].as_str().unwrap();
        for cut in 0..token.len() {
            assert!(
                verify_dialpad_jwt(&token.as_bytes()[..cut], SECRET).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn garbage_bodies_never_panic() {
        // A small deterministic generator (no rand in the tests' path): bytes from JWT-ish
        // alphabets and raw noise, and every single-byte corruption of a real token.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"eyJhbGciOiJIUzI1NiJ9.-_=+/ \n{}\"\x00\xff";
        for len in 0..300 {
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 3 == 0 {
                        r as u8
                    } else {
                        alphabet[(r as usize >> 8) % alphabet.len()]
                    }
                })
                .collect();
            let _ = verify_dialpad_jwt(&body, SECRET);
            let _ = parse_unsigned(&body);
        }
        let f = fixtures::load();
        let token = f["tokens"]["sms/outbound/pending"]
            .as_str()
            .unwrap()
            .as_bytes();
        for i in 0..token.len() {
            let mut t = token.to_vec();
            t[i] ^= 1 + (next() as u8 % 127);
            assert!(verify_dialpad_jwt(&t, SECRET).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn unsigned_bodies() {
        assert_eq!(
            parse_unsigned(b" {\"event\": \"Created\"}\n"),
            Ok(json!({"event": "Created"}))
        );
        assert_eq!(parse_unsigned(b"[1]"), Err(JwtError::NotAnObject));
        assert_eq!(parse_unsigned(b"null"), Err(JwtError::NotAnObject));
        assert_eq!(parse_unsigned(b"{"), Err(JwtError::Malformed));
        assert_eq!(parse_unsigned(b""), Err(JwtError::Malformed));
        // A token is not JSON.
        let f = fixtures::load();
        let token = f["tokens"]["call/answered/preanswer"].as_str().unwrap();
        assert_eq!(parse_unsigned(token.as_bytes()), Err(JwtError::Malformed));
        // Deep nesting is refused by serde_json's recursion limit, not a stack overflow.
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse_unsigned(deep.as_bytes()), Err(JwtError::Malformed));
    }

    #[test]
    fn reasons_are_stable_and_messages_secret_free() {
        let all = [
            (JwtError::Malformed, "malformed"),
            (JwtError::BadAlgorithm, "bad_algorithm"),
            (JwtError::BadSignature, "bad_signature"),
            (JwtError::NotAnObject, "not_an_object"),
        ];
        for (e, reason) in all {
            assert_eq!(e.reason(), reason);
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("dpc-fixture-secret"));
        }
    }
}
