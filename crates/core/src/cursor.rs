//! The list cursor: opaque to the app, signed, and carrying what is needed to resume exactly
//! where the last page stopped (Dialpad's cursor, the position inside that Dialpad page, and a
//! fingerprint of the query it belongs to).
//!
//! Signed with HMAC-SHA256 under a key derived from the connector's encryption key, and bound
//! to the connection: a tampered cursor, one from another connection, another model or another
//! set of filters is refused rather than silently resuming somewhere else.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Where a list resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// Dialpad's cursor for the page to fetch (`None`: the first page).
    #[serde(rename = "c", skip_serializing_if = "Option::is_none")]
    pub dialpad: Option<String>,
    /// Records of that Dialpad page already answered.
    #[serde(rename = "i", default)]
    pub skip: usize,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    /// Fingerprint of the query (model, filters, search).
    q: String,
    #[serde(flatten)]
    at: Resume,
}

/// Signs and checks cursors.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(…)")
    }
}

/// Why a cursor was refused (the API answers `REQUEST::INVALID` with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the cursor is not one this connector issued, or it was altered")]
    Forged,
    #[error("the cursor belongs to another list (another model, connection, filters or search): start again without it")]
    Foreign,
}

const MAC_LEN: usize = 16;

impl CursorKey {
    /// Derives the cursor key from the connector's secret (its encryption key), so that one
    /// secret serves both and cursors stay valid across restarts and instances.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"dpc list cursor v1");
        CursorKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self, connection_id: &str, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(connection_id.as_bytes());
        mac.update(&[0]);
        mac.update(body);
        mac
    }

    /// The cursor for resuming `at` in the list identified by `query` on `connection_id`.
    pub fn encode(&self, connection_id: &str, query: &str, at: &Resume) -> String {
        let body = serde_json::to_vec(&Payload {
            v: 1,
            q: fingerprint(query),
            at: at.clone(),
        })
        .unwrap_or_default();
        let tag = self.mac(connection_id, &body).finalize().into_bytes();
        let mut out = Vec::with_capacity(MAC_LEN + body.len());
        out.extend_from_slice(&tag[..MAC_LEN]);
        out.extend_from_slice(&body);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Checks a cursor and answers where to resume. The tag is compared in constant time.
    pub fn decode(
        &self,
        connection_id: &str,
        query: &str,
        cursor: &str,
    ) -> Result<Resume, CursorError> {
        if cursor.len() > 4096 {
            return Err(CursorError::Forged);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(cursor.trim_end_matches('='))
            .map_err(|_| CursorError::Forged)?;
        if raw.len() <= MAC_LEN {
            return Err(CursorError::Forged);
        }
        let (tag, body) = raw.split_at(MAC_LEN);
        self.mac(connection_id, body)
            .verify_truncated_left(tag)
            .map_err(|_| CursorError::Forged)?;
        let p: Payload = serde_json::from_slice(body).map_err(|_| CursorError::Forged)?;
        if p.v != 1 || p.q != fingerprint(query) {
            return Err(CursorError::Foreign);
        }
        Ok(p.at)
    }
}

fn fingerprint(query: &str) -> String {
    let d = Sha256::digest(query.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let key = CursorKey::derive(b"secret");
        let at = Resume {
            dialpad: Some("b:100".into()),
            skip: 7,
        };
        let c = key.encode("conn1", "genericContact|type=shared", &at);
        assert_eq!(
            key.decode("conn1", "genericContact|type=shared", &c),
            Ok(at)
        );
        assert_eq!(
            key.decode("conn1", "genericContact|type=local", &c),
            Err(CursorError::Foreign)
        );
        assert_eq!(
            key.decode("conn2", "genericContact|type=shared", &c),
            Err(CursorError::Forged),
            "bound to the connection"
        );
        assert_eq!(
            CursorKey::derive(b"other").decode("conn1", "genericContact|type=shared", &c),
            Err(CursorError::Forged)
        );
        // Flip one bit anywhere: refused.
        let mut raw = URL_SAFE_NO_PAD.decode(&c).unwrap();
        for i in [0, MAC_LEN, raw.len() - 1] {
            raw[i] ^= 1;
            let t = URL_SAFE_NO_PAD.encode(&raw);
            assert!(key
                .decode("conn1", "genericContact|type=shared", &t)
                .is_err());
            raw[i] ^= 1;
        }
        for junk in ["", "x", "!!!", &"A".repeat(5000)] {
            assert_eq!(key.decode("conn1", "q", junk), Err(CursorError::Forged));
        }
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", CursorKey::derive(b"s")), "CursorKey(…)");
    }
}
