//! Sealing secrets at rest: XChaCha20-Poly1305 with a fresh random 24-byte nonce per value and
//! a key ring (the current key seals; older keys still open what they sealed).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use crate::{Result, StoreError};

/// The environment variable the key comes from (named in configuration errors).
pub const ENCRYPTION_KEY_ENV: &str = "DPC_ENCRYPTION_KEY";

/// The environment variable with older keys (comma-separated base64) still accepted for opening
/// values sealed before a rotation.
pub const OLD_KEYS_ENV: &str = "DPC_ENCRYPTION_OLD_KEYS";

/// Length of a nonce (XChaCha20-Poly1305: 24 bytes, safe to pick at random).
pub const NONCE_LEN: usize = 24;

/// A sealed value: which key sealed it, its nonce and the ciphertext (with the tag).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

struct Key {
    id: String,
    aead: XChaCha20Poly1305,
}

/// The key ring. `Debug` shows only key ids.
#[derive(Clone)]
pub struct Cipher {
    /// `keys[0]` is the current key.
    keys: std::sync::Arc<Vec<Key>>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Cipher").field("key_ids", &ids).finish()
    }
}

/// A short, non-reversible identifier of a key: the first 8 bytes of SHA-256 over a
/// domain-separation label and the key, in hex.
fn key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"dpc-store key id v1\0");
    h.update(key);
    let d = h.finalize();
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_key(b64: &str, which: &str) -> Result<[u8; 32]> {
    let bytes = STANDARD
        .decode(b64.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64.trim()))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64.trim()))
        .map_err(|_| {
            StoreError::Config(format!(
                "{ENCRYPTION_KEY_ENV}: {which} is not valid base64 (expected base64 of 32 random bytes; `dialpad-connector demo` prints one)"
            ))
        })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        StoreError::Config(format!(
            "{ENCRYPTION_KEY_ENV}: {which} decodes to {} bytes, expected 32",
            bytes.len()
        ))
    })
}

impl Cipher {
    /// A ring whose current key is `current` (sealing always uses it) and which can still open
    /// values sealed with any of `old_keys`.
    pub fn new(current: [u8; 32], old_keys: &[[u8; 32]]) -> Self {
        let mut keys = Vec::with_capacity(1 + old_keys.len());
        for k in std::iter::once(&current).chain(old_keys) {
            let id = key_id(k);
            if keys.iter().any(|e: &Key| e.id == id) {
                continue;
            }
            keys.push(Key {
                id,
                aead: XChaCha20Poly1305::new(k.into()),
            });
        }
        Cipher {
            keys: std::sync::Arc::new(keys),
        }
    }

    /// From base64 (as in `DPC_ENCRYPTION_KEY`): the current key and older keys still accepted
    /// for opening. A malformed key is a `StoreError::Config` naming `DPC_ENCRYPTION_KEY`
    /// (never echoing the value).
    pub fn from_base64(current: &str, old_keys: &[&str]) -> Result<Self> {
        let cur = decode_key(current, "the current key")?;
        let old = old_keys
            .iter()
            .enumerate()
            .map(|(i, k)| decode_key(k, &format!("old key #{}", i + 1)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::new(cur, &old))
    }

    /// A fresh random key, base64 (standard, padded), for `demo` or first setup.
    pub fn generate_key_base64() -> String {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        STANDARD.encode(k)
    }

    /// The id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Ids of every key in the ring, the current one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// Seals `plaintext` with the current key; `aad` binds it to its place (row and field).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = key
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| StoreError::Crypto("sealing".into()))?;
        Ok(Sealed {
            key_id: key.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens a sealed value. `what` names it in the error (never a secret).
    pub fn open(&self, sealed: &Sealed, aad: &[u8], what: &str) -> Result<Vec<u8>> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| {
                StoreError::Crypto(format!(
                    "{what} (sealed with unknown key id {})",
                    sealed.key_id
                ))
            })?;
        if sealed.nonce.len() != NONCE_LEN {
            return Err(StoreError::Crypto(format!("{what} (bad nonce)")));
        }
        key.aead
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map_err(|_| StoreError::Crypto(what.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_aad_and_rotation() {
        let old_b64 = Cipher::generate_key_base64();
        let old = Cipher::from_base64(&old_b64, &[]).unwrap();
        let s = old.seal(b"secret", b"row1:access").unwrap();
        assert_eq!(old.open(&s, b"row1:access", "x").unwrap(), b"secret");
        assert!(matches!(
            old.open(&s, b"row2:access", "x"),
            Err(StoreError::Crypto(_))
        ));

        let new = Cipher::from_base64(&Cipher::generate_key_base64(), &[&old_b64]).unwrap();
        assert_eq!(new.open(&s, b"row1:access", "x").unwrap(), b"secret");
        let s2 = new.seal(b"secret", b"a").unwrap();
        assert_eq!(s2.key_id, new.current_key_id());
        assert_ne!(s2.key_id, s.key_id);
        assert!(matches!(
            old.open(&s2, b"a", "x"),
            Err(StoreError::Crypto(_))
        ));
        assert_ne!(s2.nonce, new.seal(b"secret", b"a").unwrap().nonce);
    }

    #[test]
    fn malformed_keys_name_the_variable_and_hide_the_value() {
        for bad in ["not base64!!", "c2hvcnQ="] {
            let e = Cipher::from_base64(bad, &[]).unwrap_err().to_string();
            assert!(e.contains(ENCRYPTION_KEY_ENV), "{e}");
            assert!(!e.contains(bad), "{e}");
        }
        let good = Cipher::generate_key_base64();
        let e = Cipher::from_base64(&good, &["nope"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("old key #1"), "{e}");
    }

    #[test]
    fn debug_shows_no_key_material() {
        let b64 = Cipher::generate_key_base64();
        let c = Cipher::from_base64(&b64, &[]).unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains(&b64));
        assert!(d.contains(c.current_key_id()));
    }
}
