//! [`EventStore`] on SQLite. Claims are single `UPDATE … RETURNING` statements (atomic on one
//! file, whatever the number of processes); transactions that read first use `BEGIN IMMEDIATE`.

use async_trait::async_trait;
use secrecy::SecretString;
use sqlx::{Sqlite, Transaction};

use super::*;
use crate::common::{db_err, list_to_json, ordered_id, random_id, sha256_hex};
use crate::sqlite::SqliteStore;

impl SqliteStore {
    async fn begin_immediate(&self) -> Result<Transaction<'_, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)
    }

    async fn endpoints_in(tx: &mut Transaction<'_, Sqlite>) -> Result<Vec<Endpoint>> {
        let rows: Vec<EndpointRow> =
            sqlx::query_as(&format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints"))
                .fetch_all(&mut **tx)
                .await
                .map_err(db_err)?;
        rows.into_iter().map(EndpointRow::into_endpoint).collect()
    }

    /// Stores events and one delivery per endpoint that wants each; answers the deliveries made.
    /// Two statements whatever the number of events (rows passed as one JSON array): through
    /// sqlx's SQLite worker every statement is a thread round trip, which per row was the
    /// pipeline's ceiling.
    async fn publish_in(
        tx: &mut Transaction<'_, Sqlite>,
        endpoints: &[Endpoint],
        events: &[NewEvent],
        now: Millis,
    ) -> Result<u64> {
        if events.is_empty() {
            return Ok(0);
        }
        let rows: Vec<serde_json::Value> = events
            .iter()
            .map(|e| {
                serde_json::json!({
                    "id": e.id, "t": e.event_type, "c": e.connector_id, "o": e.owner_id,
                    "m": e.model, "r": e.resource_id, "s": e.source, "b": e.body,
                    "at": e.occurred_at,
                })
            })
            .collect();
        let seqs: Vec<(String, i64)> = sqlx::query_as(
            "INSERT INTO events (id, event_type, connector_id, owner_id, model, resource_id, \
             source, body, occurred_at, created_at) \
             SELECT value ->> '$.id', value ->> '$.t', value ->> '$.c', value ->> '$.o', \
             value ->> '$.m', value ->> '$.r', value ->> '$.s', value ->> '$.b', \
             value ->> '$.at', ?2 FROM json_each(jsonb(?1)) ORDER BY key RETURNING id, seq",
        )
        .bind(serde_json::Value::Array(rows).to_string())
        .bind(now)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?;
        let seq_of: std::collections::HashMap<String, i64> = seqs.into_iter().collect();
        let mut deliveries = Vec::new();
        for e in events {
            let Some(seq) = seq_of.get(&e.id) else {
                continue;
            };
            for ep in endpoints
                .iter()
                .filter(|ep| ep.wants(&e.event_type, &e.owner_id))
            {
                deliveries.push(serde_json::json!({
                    "id": ordered_id("dlv"), "e": e.id, "s": seq, "ep": ep.id,
                    "k": order_key(&ep.id, e),
                }));
            }
        }
        if deliveries.is_empty() {
            return Ok(0);
        }
        let made = sqlx::query(
            "INSERT INTO deliveries (id, event_id, event_seq, endpoint_id, order_key, \
             status, next_attempt_at, created_at) \
             SELECT value ->> '$.id', value ->> '$.e', value ->> '$.s', value ->> '$.ep', \
             value ->> '$.k', 'pending', ?2, ?2 FROM json_each(jsonb(?1)) ORDER BY key",
        )
        .bind(serde_json::Value::Array(deliveries).to_string())
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(made)
    }
}

impl SqliteStore {
    /// Re-seals up to `limit` webhook endpoint and intake secrets sealed under an older key
    /// (these tables are small: read whole, filtered here), each swapped only if unchanged
    /// since the read. Answers (resealed, still under another key).
    pub(crate) async fn reseal_event_secrets(&self, limit: u32) -> Result<(u64, u64)> {
        let current = self.cipher.current_key_id().to_owned();
        let stale = |b: &[u8]| {
            sealed_from_bytes(b, "secret")
                .map(|s| s.key_id != current)
                .unwrap_or(false)
        };
        let (mut resealed, mut remaining) = (0u64, 0u64);
        let endpoints: Vec<(String, Vec<u8>, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT id, secret, previous_secret FROM webhook_endpoints")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        for (id, current_b, previous_b) in endpoints {
            for (column, which, blob) in [
                ("secret", "current", Some(current_b)),
                ("previous_secret", "previous", previous_b),
            ] {
                let Some(blob) = blob.filter(|b| stale(b)) else {
                    continue;
                };
                if resealed >= u64::from(limit) {
                    remaining += 1;
                    continue;
                }
                let plain = open_endpoint_secret(&self.cipher, &id, which, &blob)?;
                let new = seal_endpoint_secret(&self.cipher, &id, which, &plain)?;
                resealed += sqlx::query(&format!(
                    "UPDATE webhook_endpoints SET {column} = ?1 WHERE id = ?2 AND {column} = ?3"
                ))
                .bind(new)
                .bind(&id)
                .bind(blob)
                .execute(&self.writer)
                .await
                .map_err(db_err)?
                .rows_affected();
            }
        }
        let intakes: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT connection_id, secret FROM event_intakes")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        for (id, blob) in intakes {
            if !stale(&blob) {
                continue;
            }
            if resealed >= u64::from(limit) {
                remaining += 1;
                continue;
            }
            let plain = open_intake_secret(&self.cipher, &id, &blob)?;
            let new = seal_intake_secret(&self.cipher, &id, &plain)?;
            resealed += sqlx::query(
                "UPDATE event_intakes SET secret = ?1 WHERE connection_id = ?2 AND secret = ?3",
            )
            .bind(new)
            .bind(&id)
            .bind(blob)
            .execute(&self.writer)
            .await
            .map_err(db_err)?
            .rows_affected();
        }
        Ok((resealed, remaining))
    }
}

const EVENT_SELECT: &str = "SELECT e.seq, e.id, e.event_type, e.connector_id, e.owner_id, \
     e.model, e.resource_id, e.source, e.body, e.occurred_at, e.created_at, \
     (SELECT group_concat(d.status, ',') FROM deliveries d WHERE d.event_id = e.id) AS statuses \
     FROM events e";

/// What makes a due delivery (`d`) claimable in `claim_deliveries`: its endpoint enabled and
/// not at its limit (`inflight`, `?3`), and no earlier delivery of its resource unsettled.
macro_rules! claimable {
    () => {
        "AND EXISTS (SELECT 1 FROM webhook_endpoints w \
             WHERE w.id = d.endpoint_id AND w.disabled = 0) \
         AND d.endpoint_id NOT IN (SELECT endpoint_id FROM inflight WHERE n >= ?3) \
         AND NOT EXISTS (SELECT 1 FROM deliveries p \
             WHERE p.order_key = d.order_key AND p.event_seq < d.event_seq \
             AND p.status IN ('pending', 'delivering')) "
    };
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn create_endpoint(&self, new: &NewEndpoint, secret: &SecretString) -> Result<Endpoint> {
        let id = random_id("ep");
        let now = now_ms();
        let sealed = seal_endpoint_secret(&self.cipher, &id, "current", secret)?;
        let row: EndpointRow = sqlx::query_as(&format!(
            "INSERT INTO webhook_endpoints (id, url, events, owner_id, description, disabled, \
             secret, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) \
             RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(&id)
        .bind(&new.url)
        .bind(list_to_json(&new.events))
        .bind(&new.owner_id)
        .bind(&new.description)
        .bind(new.disabled)
        .bind(sealed)
        .bind(now)
        .fetch_one(&self.writer)
        .await
        .map_err(db_err)?;
        row.into_endpoint()
    }

    async fn get_endpoint(&self, id: &str) -> Result<Option<Endpoint>> {
        let row: Option<EndpointRow> = sqlx::query_as(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(EndpointRow::into_endpoint).transpose()
    }

    async fn list_endpoints(&self, cursor: Option<&str>, limit: u32) -> Result<Page<Endpoint>> {
        let after = decode_cursor(cursor)?;
        let limit = clamp_limit(limit);
        let rows: Vec<EndpointRow> = sqlx::query_as(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        ))
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let rows = rows
            .into_iter()
            .map(|r| Ok((r.seq, r.into_endpoint()?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(rows, limit))
    }

    async fn count_endpoints(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(n.max(0) as u64)
    }

    async fn subscribed_endpoints(&self) -> Result<Vec<Endpoint>> {
        let rows: Vec<EndpointRow> = sqlx::query_as(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY seq"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(EndpointRow::into_endpoint).collect()
    }

    async fn update_endpoint(&self, id: &str, patch: &EndpointPatch) -> Result<Endpoint> {
        // One statement; each column keeps its value unless the patch names it.
        let row: Option<EndpointRow> = sqlx::query_as(&format!(
            "UPDATE webhook_endpoints SET \
             url = COALESCE(?2, url), \
             events = COALESCE(?3, events), \
             owner_id = CASE WHEN ?4 THEN ?5 ELSE owner_id END, \
             description = CASE WHEN ?6 THEN ?7 ELSE description END, \
             disabled = COALESCE(?8, disabled), \
             disabled_reason = CASE WHEN ?8 = 0 THEN NULL WHEN ?8 = 1 THEN 'disabled by the app' \
                 ELSE disabled_reason END, \
             failing_since = CASE WHEN ?8 = 0 THEN NULL ELSE failing_since END, \
             updated_at = ?9 \
             WHERE id = ?1 RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(id)
        .bind(&patch.url)
        .bind(patch.events.as_deref().map(list_to_json))
        .bind(patch.owner_id.is_some())
        .bind(patch.owner_id.clone().flatten())
        .bind(patch.description.is_some())
        .bind(patch.description.clone().flatten())
        .bind(patch.disabled)
        .bind(now_ms())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_err)?;
        row.ok_or(StoreError::NotFound)?.into_endpoint()
    }

    async fn delete_endpoint(&self, id: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM webhook_endpoints WHERE id = ?1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn rotate_endpoint_secret(
        &self,
        id: &str,
        secret: &SecretString,
        previous_until: Millis,
    ) -> Result<()> {
        let mut tx = self.begin_immediate().await?;
        let old: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT secret FROM webhook_endpoints WHERE id = ?1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let old = old.ok_or(StoreError::NotFound)?;
        let old = open_endpoint_secret(&self.cipher, id, "current", &old)?;
        let previous = seal_endpoint_secret(&self.cipher, id, "previous", &old)?;
        let current = seal_endpoint_secret(&self.cipher, id, "current", secret)?;
        sqlx::query(
            "UPDATE webhook_endpoints SET secret = ?2, previous_secret = ?3, previous_until = ?4, \
             updated_at = ?5 WHERE id = ?1",
        )
        .bind(id)
        .bind(current)
        .bind(previous)
        .bind(previous_until)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn endpoint_secrets(&self, id: &str) -> Result<Option<EndpointSecrets>> {
        let row: Option<(Vec<u8>, Option<Vec<u8>>, Option<i64>)> = sqlx::query_as(
            "SELECT secret, previous_secret, previous_until FROM webhook_endpoints WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some((current, previous, until)) = row else {
            return Ok(None);
        };
        let previous = match (previous, until) {
            (Some(p), Some(u)) if u > now_ms() => {
                Some(open_endpoint_secret(&self.cipher, id, "previous", &p)?)
            }
            _ => None,
        };
        Ok(Some(EndpointSecrets {
            current: open_endpoint_secret(&self.cipher, id, "current", &current)?,
            previous,
        }))
    }

    async fn disable_endpoint(&self, id: &str, reason: &str) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_endpoints SET disabled = 1, disabled_reason = ?2, updated_at = ?3 \
             WHERE id = ?1",
        )
        .bind(id)
        .bind(reason)
        .bind(now_ms())
        .execute(&self.writer)
        .await
        .map_err(db_err)
        .map(drop)
    }

    async fn mark_endpoint_failing(&self, id: &str, at: Option<Millis>) -> Result<Option<Millis>> {
        let since: Option<Option<i64>> = sqlx::query_scalar(
            "UPDATE webhook_endpoints SET failing_since = \
             CASE WHEN ?2 IS NULL THEN NULL ELSE COALESCE(failing_since, ?2) END \
             WHERE id = ?1 RETURNING failing_since",
        )
        .bind(id)
        .bind(at)
        .fetch_optional(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(since.flatten())
    }

    async fn create_intake(&self, new: &NewIntake<'_>) -> Result<Intake> {
        let now = now_ms();
        let sealed = seal_intake_secret(&self.cipher, new.connection_id, new.secret)?;
        let row: IntakeRow = sqlx::query_as(&format!(
            "INSERT INTO event_intakes (connection_id, route_hash, secret, mode, status, \
             created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5) \
             RETURNING {INTAKE_COLUMNS}"
        ))
        .bind(new.connection_id)
        .bind(sha256_hex(new.route_token))
        .bind(sealed)
        .bind(new.mode)
        .bind(now)
        .fetch_one(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(row.into())
    }

    async fn get_intake(&self, connection_id: &str) -> Result<Option<Intake>> {
        let row: Option<IntakeRow> = sqlx::query_as(&format!(
            "SELECT {INTAKE_COLUMNS} FROM event_intakes WHERE connection_id = ?1"
        ))
        .bind(connection_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(Into::into))
    }

    async fn list_intakes(&self) -> Result<Vec<Intake>> {
        let rows: Vec<IntakeRow> = sqlx::query_as(&format!(
            "SELECT {INTAKE_COLUMNS} FROM event_intakes ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn intake_by_route(&self, route_token: &str) -> Result<Option<IntakeSecret>> {
        let row: Option<(String, Vec<u8>)> =
            sqlx::query_as("SELECT connection_id, secret FROM event_intakes WHERE route_hash = ?1")
                .bind(sha256_hex(route_token))
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        row.map(|(connection_id, b)| {
            let secret = open_intake_secret(&self.cipher, &connection_id, &b)?;
            Ok(IntakeSecret {
                connection_id,
                secret,
            })
        })
        .transpose()
    }

    async fn intake_secret(&self, connection_id: &str) -> Result<Option<SecretString>> {
        let b: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT secret FROM event_intakes WHERE connection_id = ?1")
                .bind(connection_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        b.map(|b| open_intake_secret(&self.cipher, connection_id, &b))
            .transpose()
    }

    async fn set_intake_remote(&self, connection_id: &str, remote: &IntakeRemote) -> Result<()> {
        let now = now_ms();
        let n = sqlx::query(
            "UPDATE event_intakes SET remote_id = ?2, subscriptions = ?3, status = ?4, \
             last_error = ?5, checked_at = ?6, updated_at = ?6 WHERE connection_id = ?1",
        )
        .bind(connection_id)
        .bind(&remote.remote_id)
        .bind(&remote.subscriptions)
        .bind(&remote.status)
        .bind(&remote.last_error)
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(db_err)?
        .rows_affected();
        crate::common::found(n)
    }

    async fn delete_intake(&self, connection_id: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM event_intakes WHERE connection_id = ?1")
            .bind(connection_id)
            .execute(&self.writer)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn insert_inbound(&self, events: &[NewInbound<'_>]) -> Result<Vec<InboundOutcome>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let ids: Vec<String> = events.iter().map(|_| ordered_id("in")).collect();
        let rows: Vec<serde_json::Value> = events
            .iter()
            .zip(&ids)
            .map(|(e, id)| {
                serde_json::json!({
                    "id": id, "c": e.connection_id, "k": e.dedup_key, "t": e.kind,
                    "p": e.payload, "h": e.chain,
                })
            })
            .collect();
        // One statement for the batch, in order (a key repeated in the batch: the first one is
        // stored, the later ones are duplicates, as one by one).
        let stored: Vec<String> = sqlx::query_scalar(
            "INSERT INTO inbound_events (id, connection_id, dedup_key, kind, payload, \
             received_at, status, chain) \
             SELECT value ->> '$.id', value ->> '$.c', value ->> '$.k', value ->> '$.t', \
             value ->> '$.p', ?2, 'pending', value ->> '$.h' \
             FROM json_each(jsonb(?1)) WHERE true ORDER BY key \
             ON CONFLICT (connection_id, dedup_key) DO NOTHING RETURNING id",
        )
        .bind(serde_json::Value::Array(rows).to_string())
        .bind(now)
        .fetch_all(&self.writer)
        .await
        .map_err(db_err)?;
        let stored: std::collections::HashSet<String> = stored.into_iter().collect();
        Ok(ids
            .into_iter()
            .map(|id| {
                if stored.contains(&id) {
                    InboundOutcome::Stored(id)
                } else {
                    InboundOutcome::Duplicate
                }
            })
            .collect())
    }

    async fn latest_inbound_key(&self, connection_id: &str, chain: &str) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT dedup_key FROM inbound_events WHERE connection_id = ?1 AND chain = ?2 \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(connection_id)
        .bind(chain)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn claim_inbound(
        &self,
        worker: &str,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<InboundEvent>> {
        let now = now_ms();
        let mut rows: Vec<InboundRow> = sqlx::query_as(
            "UPDATE inbound_events SET lease_owner = ?1, lease_until = ?2 + ?3, \
             attempts = attempts + 1 \
             WHERE id IN (SELECT i.id FROM inbound_events i \
                 WHERE i.status = 'pending' AND (i.lease_until IS NULL OR i.lease_until < ?2) \
                 AND i.connection_id NOT IN (SELECT o.connection_id FROM inbound_events o \
                     WHERE o.status = 'pending' AND o.lease_until >= ?2 \
                     AND o.lease_owner <> ?1) \
                 ORDER BY i.seq LIMIT ?4) \
             RETURNING id, connection_id, kind, payload, received_at, attempts, seq",
        )
        .bind(worker)
        .bind(now)
        .bind(lease_ms)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.writer)
        .await
        .map_err(db_err)?;
        // RETURNING gives no order: normalize in arrival order.
        rows.sort_by_key(|r| r.seq);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn finish_inbound(&self, worker: &str, done: &[(String, Vec<NewEvent>)]) -> Result<u64> {
        if done.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let ids = list_to_json(&done.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>());
        let mut tx = self.begin_immediate().await?;
        let endpoints = Self::endpoints_in(&mut tx).await?;
        // The raw events still ours (a lease lost meanwhile: another worker publishes them).
        let ours: Vec<String> = sqlx::query_scalar(
            "UPDATE inbound_events SET status = 'done', lease_until = NULL, error = NULL \
             WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'pending' \
             AND lease_owner = ?2 RETURNING id",
        )
        .bind(ids)
        .bind(worker)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let ours: std::collections::HashSet<String> = ours.into_iter().collect();
        let events: Vec<NewEvent> = done
            .iter()
            .filter(|(id, _)| ours.contains(id))
            .flat_map(|(_, events)| events.iter().cloned())
            .collect();
        let made = Self::publish_in(&mut tx, &endpoints, &events, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(made)
    }

    async fn fail_inbound(&self, worker: &str, id: &str, error: &str, give_up: bool) -> Result<()> {
        sqlx::query(
            "UPDATE inbound_events SET status = CASE WHEN ?3 THEN 'failed' ELSE 'pending' END, \
             error = ?4, lease_until = NULL WHERE id = ?1 AND lease_owner = ?2",
        )
        .bind(id)
        .bind(worker)
        .bind(give_up)
        .bind(error)
        .execute(&self.writer)
        .await
        .map_err(db_err)
        .map(drop)
    }

    async fn put_recap_part(
        &self,
        connection_id: &str,
        call_id: &str,
        part: &str,
        body: &str,
        at: Millis,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO recap_parts (connection_id, call_id, part, body, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (connection_id, call_id, part) DO UPDATE SET body = excluded.body, \
             updated_at = excluded.updated_at",
        )
        .bind(connection_id)
        .bind(call_id)
        .bind(part)
        .bind(body)
        .bind(at)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn recap_parts(&self, connection_id: &str, call_id: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT body FROM recap_parts WHERE connection_id = ?1 AND call_id = ?2 \
             ORDER BY part",
        )
        .bind(connection_id)
        .bind(call_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn resources_seen(
        &self,
        connector_id: &str,
        owner_id: &str,
        model: &str,
        resource_ids: &[String],
    ) -> Result<Vec<String>> {
        if resource_ids.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query_scalar(
            "SELECT DISTINCT resource_id FROM events WHERE connector_id = ?1 AND owner_id = ?2 \
             AND model = ?3 AND resource_id IN (SELECT value FROM json_each(?4))",
        )
        .bind(connector_id)
        .bind(owner_id)
        .bind(model)
        .bind(list_to_json(resource_ids))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn publish_events(&self, events: &[NewEvent]) -> Result<u64> {
        if events.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_immediate().await?;
        let endpoints = Self::endpoints_in(&mut tx).await?;
        let made = Self::publish_in(&mut tx, &endpoints, events, now_ms()).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(made)
    }

    async fn claim_deliveries(
        &self,
        limit: u32,
        per_endpoint: u32,
        lease_ms: i64,
    ) -> Result<Vec<DueDelivery>> {
        let now = now_ms();
        // Walks the due index in order and stops at 4 × limit candidates (no sort of the whole
        // backlog); the endpoints' in-flight counts are read once, not per candidate, and an
        // endpoint at its limit is passed over in the walk (else a slow endpoint's backlog fills
        // the candidates and starves every other endpoint until it settles). A lease
        // that ran out (its worker died) makes its delivery a candidate again, first in line
        // (its attempt count moves on, so the dead worker's late settlement is ignored): one
        // statement, one turn of the writer, per claim.
        let claimed: Vec<DueRow> = sqlx::query_as(concat!(
            "WITH inflight AS (SELECT endpoint_id, COUNT(*) AS n FROM deliveries \
                 WHERE status = 'delivering' AND lease_until >= ?1 GROUP BY endpoint_id) \
             UPDATE deliveries SET status = 'delivering', attempts = attempts + 1, \
             lease_until = ?1 + ?2 \
             WHERE id IN (SELECT c.id FROM ( \
                 SELECT r.id, r.next_attempt_at, ROW_NUMBER() OVER \
                     (PARTITION BY r.endpoint_id ORDER BY r.next_attempt_at, r.seq) \
                     + COALESCE(f.n, 0) AS rank \
                 FROM (SELECT * FROM (SELECT d.id, d.endpoint_id, d.next_attempt_at, d.seq \
                         FROM deliveries d INDEXED BY deliveries_due \
                         WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 ",
            claimable!(),
            "ORDER BY d.next_attempt_at LIMIT ?4 * 4) \
                     UNION ALL \
                     SELECT * FROM (SELECT d.id, d.endpoint_id, d.next_attempt_at, d.seq \
                         FROM deliveries d INDEXED BY deliveries_due \
                         WHERE d.status = 'delivering' AND d.lease_until < ?1 ",
            claimable!(),
            "LIMIT ?4 * 4)) r \
                 LEFT JOIN inflight f ON f.endpoint_id = r.endpoint_id \
             ) c WHERE c.rank <= ?3 ORDER BY c.next_attempt_at LIMIT ?4) \
             RETURNING id, event_id, endpoint_id, attempts",
        ))
        .bind(now)
        .bind(lease_ms)
        .bind(i64::from(per_endpoint.max(1)))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.writer)
        .await
        .map_err(db_err)?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let ids = list_to_json(&claimed.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
        let details: Vec<DueDetailRow> = sqlx::query_as(
            "SELECT d.id, w.url, e.body, e.connector_id, e.owner_id, e.created_at \
             FROM deliveries d JOIN events e ON e.id = d.event_id \
             JOIN webhook_endpoints w ON w.id = d.endpoint_id \
             WHERE d.id IN (SELECT value FROM json_each(?1)) ORDER BY d.event_seq",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut due = due_deliveries(claimed, details);
        due.sort_by_key(|d| d.created_at);
        Ok(due)
    }

    async fn settle_deliveries(&self, done: &[Settlement]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let rows: Vec<serde_json::Value> = done
            .iter()
            .map(|s| {
                let (status, next, delivered) = settle_columns(s.settle, now);
                serde_json::json!({
                    "id": s.delivery_id, "a": s.attempt, "st": status, "n": next,
                    "d": delivered, "code": s.result.status_code, "err": s.result.error,
                    "ms": s.result.duration_ms, "resp": s.result.response,
                    "att": ordered_id("att"),
                })
            })
            .collect();
        let rows = serde_json::Value::Array(rows).to_string();
        let mut tx = self.begin_immediate().await?;
        // Only a delivery still held by this attempt moves; every attempt is recorded (one
        // whose delivery was taken over, or settled, still says what the receiver answered).
        sqlx::query(
            "UPDATE deliveries SET status = s.st, next_attempt_at = s.n, delivered_at = s.d, \
             last_status = s.code, last_error = s.err, lease_until = NULL \
             FROM (SELECT value ->> '$.id' AS id, value ->> '$.a' AS a, value ->> '$.st' AS st, \
                 value ->> '$.n' AS n, value ->> '$.d' AS d, value ->> '$.code' AS code, \
                 value ->> '$.err' AS err FROM json_each(jsonb(?1))) AS s \
             WHERE deliveries.id = s.id AND deliveries.status = 'delivering' \
             AND deliveries.attempts = s.a",
        )
        .bind(&rows)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO delivery_attempts (id, delivery_id, event_id, endpoint_id, attempt, \
             attempted_at, status_code, duration_ms, error, response) \
             SELECT j.value ->> '$.att', d.id, d.event_id, d.endpoint_id, j.value ->> '$.a', ?2, \
             j.value ->> '$.code', j.value ->> '$.ms', j.value ->> '$.err', j.value ->> '$.resp' \
             FROM json_each(jsonb(?1)) j JOIN deliveries d ON d.id = j.value ->> '$.id' ORDER BY j.key",
        )
        .bind(&rows)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn next_due(&self) -> Result<Option<Millis>> {
        // Only what a claim could take: a delivery waiting behind an earlier one of its
        // resource is not due, or the worker would wake for nothing.
        // Two index lookups, not a scan of the backlog: a due delivery that cannot be claimed
        // (behind an earlier one of its resource, its endpoint paused or at its limit) shows
        // here as due now, and the worker then waits for a settlement or a change to wake it.
        sqlx::query_scalar(
            "SELECT MIN(t) FROM ( \
                 SELECT MIN(next_attempt_at) AS t FROM deliveries WHERE status = 'pending' \
                 UNION ALL \
                 SELECT MIN(lease_until) FROM deliveries WHERE status = 'delivering')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<EventRecord>> {
        let after = decode_cursor(cursor)?;
        let limit = clamp_limit(limit);
        let status = match filter.status.as_deref() {
            Some(s) => status_condition(s).ok_or(StoreError::NotFound)?,
            None => "1 = 1",
        };
        // Newest first: the cursor is the last seq seen, the next page is below it.
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "{EVENT_SELECT} WHERE (?1 = 0 OR e.seq < ?1) \
             AND (?2 IS NULL OR e.event_type = ?2) AND (?3 IS NULL OR e.owner_id = ?3) \
             AND (?4 IS NULL OR e.occurred_at >= ?4) AND (?5 IS NULL OR e.occurred_at < ?5) \
             AND {status} ORDER BY e.seq DESC LIMIT ?6"
        ))
        .bind(after)
        .bind(&filter.event_type)
        .bind(&filter.owner_id)
        .bind(filter.since)
        .bind(filter.until)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(page_of(
            rows.into_iter().map(|r| (r.seq, r.into_record())).collect(),
            limit,
        ))
    }

    async fn get_event(&self, id: &str) -> Result<Option<EventRecord>> {
        let row: Option<EventRow> = sqlx::query_as(&format!("{EVENT_SELECT} WHERE e.id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.map(EventRow::into_record))
    }

    async fn event_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE event_id = ?1 ORDER BY seq"
        ))
        .bind(event_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn list_attempts(
        &self,
        endpoint_id: Option<&str>,
        event_id: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Attempt>> {
        let after = decode_cursor(cursor)?;
        let limit = clamp_limit(limit);
        let rows: Vec<AttemptRow> = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM delivery_attempts WHERE (?1 = 0 OR seq < ?1) \
             AND (?2 IS NULL OR endpoint_id = ?2) AND (?3 IS NULL OR event_id = ?3) \
             ORDER BY seq DESC LIMIT ?4"
        ))
        .bind(after)
        .bind(endpoint_id)
        .bind(event_id)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(page_of(
            rows.into_iter().map(|r| (r.seq, r.into())).collect(),
            limit,
        ))
    }

    async fn replay_event(&self, event_id: &str) -> Result<u64> {
        let now = now_ms();
        let mut tx = self.begin_immediate().await?;
        let event: Option<(i64, String, String, String, String)> = sqlx::query_as(
            "SELECT seq, event_type, owner_id, model, resource_id FROM events WHERE id = ?1",
        )
        .bind(event_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let (seq, event_type, owner_id, model, resource_id) = event.ok_or(StoreError::NotFound)?;
        let mut n = sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?2, lease_until = NULL \
             WHERE event_id = ?1 AND status IN ('failed', 'delivered')",
        )
        .bind(event_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        let probe = NewEvent {
            id: event_id.to_owned(),
            event_type,
            connector_id: String::new(),
            owner_id,
            model,
            resource_id,
            source: String::new(),
            body: String::new(),
            occurred_at: 0,
        };
        for ep in Self::endpoints_in(&mut tx).await? {
            if !ep.wants(&probe.event_type, &probe.owner_id) {
                continue;
            }
            n += sqlx::query(
                "INSERT INTO deliveries (id, event_id, event_seq, endpoint_id, order_key, status, \
                 next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6) \
                 ON CONFLICT (event_id, endpoint_id) DO NOTHING",
            )
            .bind(ordered_id("dlv"))
            .bind(event_id)
            .bind(seq)
            .bind(&ep.id)
            .bind(order_key(&ep.id, &probe))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        }
        tx.commit().await.map_err(db_err)?;
        Ok(n)
    }

    async fn replay_endpoint(&self, endpoint_id: &str, since: Millis) -> Result<u64> {
        let n = sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?3, lease_until = NULL \
             WHERE endpoint_id = ?1 AND status = 'failed' AND created_at >= ?2",
        )
        .bind(endpoint_id)
        .bind(since)
        .bind(now_ms())
        .execute(&self.writer)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n)
    }

    async fn outbox_stats(&self) -> Result<OutboxStats> {
        let now = now_ms();
        let (pending, oldest, failed, inbound): (i64, Option<i64>, i64, i64) = sqlx::query_as(
            "SELECT \
             (SELECT COUNT(*) FROM deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                 WHERE w.disabled = 0 AND d.status IN ('pending', 'delivering')), \
             (SELECT MIN(d.next_attempt_at) FROM deliveries d \
                 JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                 WHERE w.disabled = 0 AND d.status = 'pending' AND d.next_attempt_at <= ?1), \
             (SELECT COUNT(*) FROM deliveries WHERE status = 'failed'), \
             (SELECT COUNT(*) FROM inbound_events WHERE status = 'pending')",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(OutboxStats {
            pending: crate::common::count(pending),
            oldest_due_age_ms: oldest.map_or(0, |t| (now - t).max(0)),
            inbound_pending: crate::common::count(inbound),
            failed: crate::common::count(failed),
        })
    }

    async fn purge_events(&self, before: Millis) -> Result<u64> {
        let purged = purge_in_slices(|| async {
            let mut tx = self.begin_immediate().await?;
            let events = sqlx::query(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events \
                 WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
            )
            .bind(before)
            .bind(PURGE_SLICE)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            let raw = sqlx::query(
                "DELETE FROM inbound_events WHERE seq IN (SELECT seq FROM inbound_events \
                 WHERE received_at < ?1 AND status <> 'pending' ORDER BY seq LIMIT ?2)",
            )
            .bind(before)
            .bind(PURGE_SLICE)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            tx.commit().await.map_err(db_err)?;
            Ok((events, raw))
        })
        .await?;
        sqlx::query("DELETE FROM recap_parts WHERE updated_at < ?1")
            .bind(before)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(purged)
    }

    async fn claim_polls(
        &self,
        worker: &str,
        models: &[&str],
        limit: u32,
        lease_ms: i64,
        add_missing: bool,
    ) -> Result<Vec<PollClaim>> {
        let now = now_ms();
        let models = list_to_json(&models.iter().map(|m| (*m).to_owned()).collect::<Vec<_>>());
        // Each statement is atomic on its own (as on PostgreSQL): no transaction around them.
        if add_missing {
            sqlx::query(
                "INSERT INTO poll_state (connection_id, model, next_poll_at) \
                 SELECT c.id, m.value, ?2 FROM connections c, json_each(?1) m \
                 WHERE c.status = 'authorized' AND NOT EXISTS (SELECT 1 FROM poll_state p \
                     WHERE p.connection_id = c.id AND p.model = m.value)",
            )
            .bind(&models)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        }
        let rows: Vec<PollClaimRow> = sqlx::query_as(
            "UPDATE poll_state SET lease_owner = ?1, lease_until = ?2 + ?3 \
             WHERE rowid IN (SELECT p.rowid FROM poll_state p \
                 JOIN connections c ON c.id = p.connection_id \
                 WHERE c.status = 'authorized' AND p.model IN (SELECT value FROM json_each(?5)) \
                 AND p.next_poll_at <= ?2 AND (p.lease_until IS NULL OR p.lease_until < ?2) \
                 ORDER BY p.next_poll_at LIMIT ?4) \
             RETURNING connection_id, model, interval_ms, baselined_at",
        )
        .bind(worker)
        .bind(now)
        .bind(lease_ms)
        .bind(i64::from(limit.max(1)))
        .bind(&models)
        .fetch_all(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn poll_snapshot(
        &self,
        connection_id: &str,
        model: &str,
    ) -> Result<Vec<(String, String)>> {
        sqlx::query_as(
            "SELECT resource_id, fingerprint FROM poll_snapshots \
             WHERE connection_id = ?1 AND model = ?2",
        )
        .bind(connection_id)
        .bind(model)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn snapshot_bodies(
        &self,
        connection_id: &str,
        model: &str,
        ids: &[String],
    ) -> Result<Vec<(String, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query_as(
            "SELECT resource_id, body FROM poll_snapshots WHERE connection_id = ?1 \
             AND model = ?2 AND resource_id IN (SELECT value FROM json_each(?3))",
        )
        .bind(connection_id)
        .bind(model)
        .bind(list_to_json(ids))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn finish_poll(
        &self,
        worker: &str,
        claim: &PollClaim,
        changes: &[SnapshotChange],
        events: &[NewEvent],
        next_at: Millis,
    ) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin_immediate().await?;
        let held = sqlx::query(
            "UPDATE poll_state SET lease_owner = NULL, lease_until = NULL, next_poll_at = ?4, \
             last_polled_at = ?5, baselined_at = COALESCE(baselined_at, ?5), last_error = NULL \
             WHERE connection_id = ?1 AND model = ?2 AND lease_owner = ?3 AND lease_until >= ?5",
        )
        .bind(&claim.connection_id)
        .bind(&claim.model)
        .bind(worker)
        .bind(next_at)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if held != 1 {
            return Ok(false);
        }
        for c in changes {
            match &c.seen {
                Some(r) => sqlx::query(
                    "INSERT INTO poll_snapshots (connection_id, model, resource_id, fingerprint, \
                     body) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (connection_id, model, resource_id) DO UPDATE SET \
                     fingerprint = excluded.fingerprint, body = excluded.body",
                )
                .bind(&claim.connection_id)
                .bind(&claim.model)
                .bind(&c.resource_id)
                .bind(&r.fingerprint)
                .bind(&r.body),
                None => sqlx::query(
                    "DELETE FROM poll_snapshots WHERE connection_id = ?1 AND model = ?2 \
                     AND resource_id = ?3",
                )
                .bind(&claim.connection_id)
                .bind(&claim.model)
                .bind(&c.resource_id),
            }
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        if !events.is_empty() {
            let endpoints = Self::endpoints_in(&mut tx).await?;
            Self::publish_in(&mut tx, &endpoints, events, now).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn fail_poll(
        &self,
        worker: &str,
        claim: &PollClaim,
        error: &str,
        next_at: Millis,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE poll_state SET lease_owner = NULL, lease_until = NULL, next_poll_at = ?4, \
             last_error = ?5 WHERE connection_id = ?1 AND model = ?2 AND lease_owner = ?3",
        )
        .bind(&claim.connection_id)
        .bind(&claim.model)
        .bind(worker)
        .bind(next_at)
        .bind(error)
        .execute(&self.writer)
        .await
        .map_err(db_err)
        .map(drop)
    }

    async fn forget_poll(&self, worker: &str, claim: &PollClaim, next_at: Millis) -> Result<()> {
        let mut tx = self.begin_immediate().await?;
        let held = sqlx::query(
            "UPDATE poll_state SET lease_owner = NULL, lease_until = NULL, next_poll_at = ?4, \
             baselined_at = NULL, last_error = NULL \
             WHERE connection_id = ?1 AND model = ?2 AND lease_owner = ?3",
        )
        .bind(&claim.connection_id)
        .bind(&claim.model)
        .bind(worker)
        .bind(next_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if held == 1 {
            sqlx::query("DELETE FROM poll_snapshots WHERE connection_id = ?1 AND model = ?2")
                .bind(&claim.connection_id)
                .bind(&claim.model)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn set_poll_interval(
        &self,
        connection_id: &str,
        models: &[&str],
        interval_ms: Option<Millis>,
        effective_ms: Millis,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin_immediate().await?;
        for m in models {
            sqlx::query(
                "INSERT INTO poll_state (connection_id, model, interval_ms, next_poll_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (connection_id, model) DO UPDATE SET \
                 interval_ms = excluded.interval_ms, \
                 next_poll_at = CASE WHEN poll_state.last_polled_at IS NOT NULL \
                     AND poll_state.next_poll_at > poll_state.last_polled_at + ?5 \
                     THEN poll_state.last_polled_at + ?5 \
                     ELSE poll_state.next_poll_at END",
            )
            .bind(connection_id)
            .bind(m)
            .bind(interval_ms)
            .bind(now)
            .bind(effective_ms)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn poll_status(&self, connection_id: &str) -> Result<Vec<PollStatus>> {
        let rows: Vec<PollStatusRow> = sqlx::query_as(
            "SELECT p.model, p.interval_ms, p.next_poll_at, p.last_polled_at, p.baselined_at, \
             p.last_error, (SELECT COUNT(*) FROM poll_snapshots s \
                 WHERE s.connection_id = p.connection_id AND s.model = p.model) AS records \
             FROM poll_state p WHERE p.connection_id = ?1 ORDER BY p.model",
        )
        .bind(connection_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
