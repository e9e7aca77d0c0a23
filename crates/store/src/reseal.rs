//! Key rotation ([`Store::reseal_batch`](crate::Store::reseal_batch)), the same for both
//! backends: read a batch of values sealed under another key than the current one, open each
//! with the key ring and seal it again under the current key, and swap it in only if it is
//! unchanged since the read (so this is safe while servers run). A backend gives the statements
//! ([`ResealBackend`]), each one short.

use async_trait::async_trait;

use crate::common;
use crate::crypto::{Cipher, Sealed};
use crate::{ResealProgress, Result};

/// A `credentials` row sealed under another key.
#[derive(sqlx::FromRow)]
pub(crate) struct SealedCredentialsRow {
    connection_id: String,
    key_id: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
    version: i64,
}

/// An `oauth_states` row whose PKCE verifier is sealed under another key.
#[derive(sqlx::FromRow)]
pub(crate) struct SealedPkceRow {
    state_hash: String,
    pkce_key_id: String,
    pkce_nonce: Vec<u8>,
    pkce_ciphertext: Vec<u8>,
}

/// The statements key rotation needs from a backend.
#[async_trait]
pub(crate) trait ResealBackend: Send + Sync {
    /// Up to `limit` credentials rows sealed under another key than `current_key`.
    async fn credentials_to_reseal(
        &self,
        current_key: &str,
        limit: i64,
    ) -> Result<Vec<SealedCredentialsRow>>;
    /// Writes `new` if the row is still at `version` and sealed under `old_key_id`; the number
    /// of rows changed.
    async fn swap_credentials(
        &self,
        connection_id: &str,
        version: i64,
        old_key_id: &str,
        new: &Sealed,
    ) -> Result<u64>;
    /// Up to `limit` OAuth states whose PKCE verifier is sealed under another key.
    async fn pkce_to_reseal(&self, current_key: &str, limit: i64) -> Result<Vec<SealedPkceRow>>;
    /// Writes `new` if the verifier is still sealed under `old_key_id`; the number of rows
    /// changed.
    async fn swap_pkce(&self, state_hash: &str, old_key_id: &str, new: &Sealed) -> Result<u64>;
    /// How many values (credentials and PKCE verifiers) are sealed under another key.
    async fn count_to_reseal(&self, current_key: &str) -> Result<i64>;
}

/// Re-seals up to `limit` credentials and up to `limit` PKCE verifiers.
pub(crate) async fn reseal_batch<B: ResealBackend>(
    backend: &B,
    cipher: &Cipher,
    limit: u32,
) -> Result<ResealProgress> {
    let current = cipher.current_key_id().to_owned();
    let limit = i64::from(limit.max(1));
    let mut resealed = 0;
    for row in backend.credentials_to_reseal(&current, limit).await? {
        let old = Sealed {
            key_id: row.key_id,
            nonce: row.nonce,
            ciphertext: row.ciphertext,
        };
        let new = common::reseal_credentials(cipher, &row.connection_id, &old)?;
        // Only if untouched since the read: a refresh meanwhile sealed it anew already.
        resealed += backend
            .swap_credentials(&row.connection_id, row.version, &old.key_id, &new)
            .await?;
    }
    for row in backend.pkce_to_reseal(&current, limit).await? {
        let old = Sealed {
            key_id: row.pkce_key_id,
            nonce: row.pkce_nonce,
            ciphertext: row.pkce_ciphertext,
        };
        let new = common::reseal_pkce(cipher, &row.state_hash, &old)?;
        resealed += backend
            .swap_pkce(&row.state_hash, &old.key_id, &new)
            .await?;
    }
    let remaining = backend.count_to_reseal(&current).await?;
    Ok(ResealProgress {
        resealed,
        remaining: common::count(remaining),
    })
}
