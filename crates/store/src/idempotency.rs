//! `Idempotency-Key`s of side-effecting actions: the first answer kept for 24 h, keyed by
//! (connection, action, key), with the hash of the request body it answered.
//!
//! No transaction spans the Dialpad call: [`IdempotencyStore::claim_idempotency_key`] takes the
//! row in one statement (an upsert that only overwrites an expired row, or a pending one whose
//! lease ran out and whose body is the same), the caller calls Dialpad, then
//! [`complete_idempotency_key`](IdempotencyStore::complete_idempotency_key) stores the answer,
//! or [`release_idempotency_key`](IdempotencyStore::release_idempotency_key) gives the key back
//! when the outcome is worth retrying (Dialpad unavailable, rate limited). Both only touch the row
//! while it still carries the caller's claim token.

use async_trait::async_trait;

use crate::common::{db_err, random_id};
use crate::events::Millis;
use crate::Result;

/// A claim to make.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim<'a> {
    pub connection_id: &'a str,
    pub action: &'a str,
    pub key: &'a str,
    /// Hash of the request body (the same key with another body is a conflict).
    pub body_hash: &'a str,
    pub now: Millis,
    /// Until when the claim holds without an answer (a crashed holder's claim runs out then).
    pub lease_until: Millis,
    /// When the key (and its answer) is forgotten.
    pub expires_at: Millis,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The key is the caller's: run the action, then complete or release with this token.
    Claimed { token: String },
    /// Answered before with the same body: the stored answer.
    Replay { status: u16, response: String },
    /// Used before with another body.
    Conflict,
    /// The first request with this key and body is still running.
    InFlight,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    async fn claim_idempotency_key(&self, claim: &IdempotencyClaim<'_>) -> Result<ClaimOutcome>;
    /// Stores the answer of a claimed key; false if the claim was lost (expired and taken).
    async fn complete_idempotency_key(
        &self,
        connection_id: &str,
        action: &str,
        key: &str,
        token: &str,
        status: u16,
        response: &str,
    ) -> Result<bool>;
    /// Gives a claimed key back (a retry may run the action).
    async fn release_idempotency_key(
        &self,
        connection_id: &str,
        action: &str,
        key: &str,
        token: &str,
    ) -> Result<()>;
    /// Deletes keys past their expiry; how many.
    async fn purge_idempotency_keys(&self, now: Millis) -> Result<u64>;
}

// One text for both backends: PostgreSQL's `$n`; SQLite gets `?n` (see `sqlite`).
const CLAIM: &str = "INSERT INTO idempotency_keys (connection_id, action, idem_key, body_hash, \
     state, claim_token, claimed_until, status, response, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, 'pending', $5, $6, NULL, NULL, $7, $8) \
     ON CONFLICT (connection_id, action, idem_key) DO UPDATE SET \
     body_hash = excluded.body_hash, state = 'pending', claim_token = excluded.claim_token, \
     claimed_until = excluded.claimed_until, status = NULL, response = NULL, \
     created_at = excluded.created_at, expires_at = excluded.expires_at \
     WHERE idempotency_keys.expires_at <= $7 \
     OR (idempotency_keys.state = 'pending' AND idempotency_keys.claimed_until <= $7 \
         AND idempotency_keys.body_hash = excluded.body_hash) \
     RETURNING claim_token";
const READ: &str = "SELECT body_hash, state, status, response FROM idempotency_keys \
     WHERE connection_id = $1 AND action = $2 AND idem_key = $3 AND expires_at > $4";
const COMPLETE: &str = "UPDATE idempotency_keys SET state = 'done', status = $5, response = $6 \
     WHERE connection_id = $1 AND action = $2 AND idem_key = $3 AND claim_token = $4 \
     AND state = 'pending'";
const RELEASE: &str = "DELETE FROM idempotency_keys \
     WHERE connection_id = $1 AND action = $2 AND idem_key = $3 AND claim_token = $4 \
     AND state = 'pending'";
const PURGE: &str = "DELETE FROM idempotency_keys WHERE expires_at <= $1";

type Row = (String, String, Option<i64>, Option<String>);

/// The outcome for a key another request holds or answered (`row` read after the claim lost).
fn outcome(body_hash: &str, row: Row) -> ClaimOutcome {
    let (hash, state, status, response) = row;
    if hash != body_hash {
        return ClaimOutcome::Conflict;
    }
    match (state.as_str(), status, response) {
        ("done", Some(status), Some(response)) => ClaimOutcome::Replay {
            status: u16::try_from(status).unwrap_or(500),
            response,
        },
        _ => ClaimOutcome::InFlight,
    }
}

/// A claim statement that did not take the row, then a read that found none (it expired and was
/// purged in between): tried again, a bounded number of times.
const CLAIM_ATTEMPTS: usize = 3;

macro_rules! backend {
    ($store:ty, $db:ty, $sql:expr) => {
        #[async_trait]
        impl IdempotencyStore for $store {
            async fn claim_idempotency_key(
                &self,
                c: &IdempotencyClaim<'_>,
            ) -> Result<ClaimOutcome> {
                for _ in 0..CLAIM_ATTEMPTS {
                    let token = random_id("idem");
                    let taken: Option<String> = sqlx::query_scalar::<$db, String>(&$sql(CLAIM))
                        .bind(c.connection_id)
                        .bind(c.action)
                        .bind(c.key)
                        .bind(c.body_hash)
                        .bind(&token)
                        .bind(c.lease_until)
                        .bind(c.now)
                        .bind(c.expires_at)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?;
                    if taken.as_deref() == Some(token.as_str()) {
                        return Ok(ClaimOutcome::Claimed { token });
                    }
                    let row: Option<Row> = sqlx::query_as::<$db, Row>(&$sql(READ))
                        .bind(c.connection_id)
                        .bind(c.action)
                        .bind(c.key)
                        .bind(c.now)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?;
                    if let Some(row) = row {
                        return Ok(outcome(c.body_hash, row));
                    }
                }
                Ok(ClaimOutcome::InFlight)
            }

            async fn complete_idempotency_key(
                &self,
                connection_id: &str,
                action: &str,
                key: &str,
                token: &str,
                status: u16,
                response: &str,
            ) -> Result<bool> {
                let r = sqlx::query::<$db>(&$sql(COMPLETE))
                    .bind(connection_id)
                    .bind(action)
                    .bind(key)
                    .bind(token)
                    .bind(i64::from(status))
                    .bind(response)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn release_idempotency_key(
                &self,
                connection_id: &str,
                action: &str,
                key: &str,
                token: &str,
            ) -> Result<()> {
                sqlx::query::<$db>(&$sql(RELEASE))
                    .bind(connection_id)
                    .bind(action)
                    .bind(key)
                    .bind(token)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn purge_idempotency_keys(&self, now: Millis) -> Result<u64> {
                let r = sqlx::query::<$db>(&$sql(PURGE))
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(r.rows_affected())
            }
        }
    };
}

fn pg(sql: &str) -> String {
    sql.to_owned()
}

/// SQLite numbers its parameters `?n`.
fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

backend!(crate::postgres::PgStore, sqlx::Postgres, pg);
backend!(crate::sqlite::SqliteStore, sqlx::Sqlite, sqlite);
