//! Idempotency keys: claim, replay, conflict, in-flight, lease takeover, release, expiry and
//! purge, and one winner among concurrent claims, on every backend.

use std::sync::Arc;

use dpc_store::events::now_ms;
use dpc_store::{ClaimOutcome, IdempotencyClaim, Store};

use super::{new_conn, TestDb};

const DAY: i64 = 24 * 3600 * 1000;

fn claim<'a>(conn: &'a str, key: &'a str, hash: &'a str, now: i64) -> IdempotencyClaim<'a> {
    IdempotencyClaim {
        connection_id: conn,
        action: "sendSms",
        key,
        body_hash: hash,
        now,
        lease_until: now + 30_000,
        expires_at: now + DAY,
    }
}

fn token(o: ClaimOutcome) -> String {
    match o {
        ClaimOutcome::Claimed { token } => token,
        other => panic!("expected a claim, got {other:?}"),
    }
}

pub async fn idempotency_keys_claim_replay_conflict_and_expiry(db: TestDb) {
    let s = db.store().await;
    let conn = s
        .insert_connection(new_conn("dialpad", "idem"))
        .await
        .unwrap();
    let other = s
        .insert_connection(new_conn("dialpad", "idem2"))
        .await
        .unwrap();
    let c = conn.id.as_str();
    let now = now_ms();

    let t = token(
        s.claim_idempotency_key(&claim(c, "k1", "h1", now))
            .await
            .unwrap(),
    );
    // While the first runs: the same body is in flight, another body a conflict.
    assert_eq!(
        s.claim_idempotency_key(&claim(c, "k1", "h1", now))
            .await
            .unwrap(),
        ClaimOutcome::InFlight
    );
    assert_eq!(
        s.claim_idempotency_key(&claim(c, "k1", "h2", now))
            .await
            .unwrap(),
        ClaimOutcome::Conflict
    );
    // Keys are per connection and per action.
    token(
        s.claim_idempotency_key(&claim(&other.id, "k1", "h1", now))
            .await
            .unwrap(),
    );
    let mut for_other_action = claim(c, "k1", "h1", now);
    for_other_action.action = "hangUpCall";
    token(s.claim_idempotency_key(&for_other_action).await.unwrap());

    // A wrong token completes nothing; the right one stores the answer.
    assert!(!s
        .complete_idempotency_key(c, "sendSms", "k1", "idem_nope", 200, "{}")
        .await
        .unwrap());
    assert!(s
        .complete_idempotency_key(c, "sendSms", "k1", &t, 201, r#"{"ok":1}"#)
        .await
        .unwrap());
    assert_eq!(
        s.claim_idempotency_key(&claim(c, "k1", "h1", now + 1000))
            .await
            .unwrap(),
        ClaimOutcome::Replay {
            status: 201,
            response: r#"{"ok":1}"#.into()
        }
    );
    assert_eq!(
        s.claim_idempotency_key(&claim(c, "k1", "h2", now + 1000))
            .await
            .unwrap(),
        ClaimOutcome::Conflict
    );
    // A lease past its time (a crashed holder) is taken over, with the same body only.
    let t2 = token(
        s.claim_idempotency_key(&claim(c, "k2", "h1", now))
            .await
            .unwrap(),
    );
    assert_eq!(
        s.claim_idempotency_key(&claim(c, "k2", "h9", now + 31_000))
            .await
            .unwrap(),
        ClaimOutcome::Conflict
    );
    let t3 = token(
        s.claim_idempotency_key(&claim(c, "k2", "h1", now + 31_000))
            .await
            .unwrap(),
    );
    assert_ne!(t2, t3);
    assert!(!s
        .complete_idempotency_key(c, "sendSms", "k2", &t2, 200, "{}")
        .await
        .unwrap());
    // Released: the key is free again.
    s.release_idempotency_key(c, "sendSms", "k2", &t3)
        .await
        .unwrap();
    token(
        s.claim_idempotency_key(&claim(c, "k2", "h5", now))
            .await
            .unwrap(),
    );
    // After 24 h an answered key is as good as new (another body included), and purged.
    token(
        s.claim_idempotency_key(&claim(c, "k1", "h2", now + DAY + 1))
            .await
            .unwrap(),
    );
    let purged = s.purge_idempotency_keys(now + 3 * DAY).await.unwrap();
    assert!(purged >= 4, "{purged}");
    assert_eq!(s.purge_idempotency_keys(now + 3 * DAY).await.unwrap(), 0);
    // Deleting the connection removes its keys.
    token(
        s.claim_idempotency_key(&claim(c, "k3", "h1", now))
            .await
            .unwrap(),
    );
    s.delete_connection("dialpad", "idem").await.unwrap();
    assert!(s
        .claim_idempotency_key(&claim(c, "k3", "h1", now))
        .await
        .is_err());
}

pub async fn idempotency_concurrent_claims_have_one_winner(db: TestDb) {
    let stores: Vec<Arc<dyn Store>> = vec![db.store().await, db.store().await];
    let conn = stores[0]
        .insert_connection(new_conn("dialpad", "race"))
        .await
        .unwrap();
    let now = now_ms();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = stores[i % 2].clone();
        let id = conn.id.clone();
        tasks.push(tokio::spawn(async move {
            s.claim_idempotency_key(&claim(&id, "race", "h", now))
                .await
                .unwrap()
        }));
    }
    let mut claimed = 0;
    for t in tasks {
        match t.await.unwrap() {
            ClaimOutcome::Claimed { .. } => claimed += 1,
            ClaimOutcome::InFlight => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(claimed, 1);
}
