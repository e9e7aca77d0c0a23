//! `CachedStore`: its own writes are seen at once; another instance's writes within the TTL;
//! misses are not cached.

use std::sync::Arc;
use std::time::Duration;

use dpc_store::{CachedStore, Cipher, ConnectionStatus, NewConnection, Store};

async fn two_handles(ttl: Duration) -> (tempfile::TempDir, Arc<dyn Store>, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let key = Cipher::generate_key_base64();
    let a = dpc_store::connect(&url, Cipher::from_base64(&key, &[]).unwrap())
        .await
        .unwrap();
    a.migrate().await.unwrap();
    let b = dpc_store::connect(&url, Cipher::from_base64(&key, &[]).unwrap())
        .await
        .unwrap();
    // `a` is the cached instance under test; `b` plays another server instance.
    (dir, CachedStore::wrap(a, ttl), b)
}

fn new_conn(owner: &str) -> NewConnection {
    NewConnection {
        connector_id: "dialpad".into(),
        owner_id: owner.into(),
        operations: vec!["genericContact::list".into()],
    }
}

#[tokio::test]
async fn own_writes_are_seen_at_once() {
    let (_dir, cached, _other) = two_handles(Duration::from_secs(60)).await;
    let c = cached.insert_connection(new_conn("o1")).await.unwrap();
    // Cached now; each intent-named write replaces the cached copy.
    cached.get_connection("dialpad", "o1").await.unwrap();
    cached.mark_awaiting_authorization(&c.id).await.unwrap();
    let got = cached
        .get_connection("dialpad", "o1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, ConnectionStatus::AwaitingAuthorization);
    cached
        .authorize(
            &c.id,
            &dpc_store::Grant {
                credentials: dpc_store::Credentials::ApiKey {
                    api_key: secrecy::SecretString::from("k".to_string()),
                },
                scopes: vec!["offline_access".into()],
                dialpad_user_id: None,
                dialpad_company_id: None,
            },
        )
        .await
        .unwrap();
    let got = cached
        .get_connection("dialpad", "o1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, ConnectionStatus::Authorized);
    assert_eq!(got.credentials_version, Some(1));
    cached
        .set_operations(&c.id, &["genericUser::list".to_string()], None)
        .await
        .unwrap();
    let got = cached
        .get_connection("dialpad", "o1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.operations, vec!["genericUser::list"]);
    cached.delete_connection("dialpad", "o1").await.unwrap();
    assert!(cached
        .get_connection("dialpad", "o1")
        .await
        .unwrap()
        .is_none());

    let (_rec, key) = cached.create_api_key("app").await.unwrap();
    let key = secrecy::ExposeSecret::expose_secret(&key).to_owned();
    assert!(cached.verify_api_key(&key).await.unwrap().is_some());
    cached.revoke_api_key("app").await.unwrap();
    assert!(
        cached.verify_api_key(&key).await.unwrap().is_none(),
        "revoked here: refused at once"
    );
}

#[tokio::test]
async fn other_instances_writes_are_seen_within_the_ttl() {
    let ttl = Duration::from_millis(300);
    let (_dir, cached, other) = two_handles(ttl).await;
    cached.insert_connection(new_conn("o2")).await.unwrap();
    let (_rec, key) = cached.create_api_key("app").await.unwrap();
    let key = secrecy::ExposeSecret::expose_secret(&key).to_owned();
    assert!(cached.verify_api_key(&key).await.unwrap().is_some());
    assert!(cached
        .get_connection("dialpad", "o2")
        .await
        .unwrap()
        .is_some());

    other.delete_connection("dialpad", "o2").await.unwrap();
    other.revoke_api_key("app").await.unwrap();
    // Within the TTL the cached answers may still stand (that is the trade-off)…
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    // …after it, never.
    assert!(cached
        .get_connection("dialpad", "o2")
        .await
        .unwrap()
        .is_none());
    assert!(cached.verify_api_key(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn misses_are_not_cached() {
    let (_dir, cached, other) = two_handles(Duration::from_secs(60)).await;
    assert!(cached
        .get_connection("dialpad", "o3")
        .await
        .unwrap()
        .is_none());
    other.insert_connection(new_conn("o3")).await.unwrap();
    assert!(cached
        .get_connection("dialpad", "o3")
        .await
        .unwrap()
        .is_some());
    assert!(cached
        .verify_api_key("sk_not_a_key")
        .await
        .unwrap()
        .is_none());
}

/// Reads racing with this process's own delete, update or revoke must not put back what they saw
/// before the write (it would be served for the whole TTL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_racing_with_own_writes_do_not_cache_stale_values() {
    let (_dir, cached, _other) = two_handles(Duration::from_secs(60)).await;
    for round in 0..20 {
        let owner = format!("race{round}");
        cached.insert_connection(new_conn(&owner)).await.unwrap();
        let (_rec, key) = cached.create_api_key(&owner).await.unwrap();
        let key = secrecy::ExposeSecret::expose_secret(&key).to_owned();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let (cached, owner, key, stop) =
                    (cached.clone(), owner.clone(), key.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = cached.get_connection("dialpad", &owner).await;
                        let _ = cached.verify_api_key(&key).await;
                        // Cache hits never suspend: let the writer run.
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(5)).await;
        cached.delete_connection("dialpad", &owner).await.unwrap();
        cached.revoke_api_key(&owner).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            r.await.unwrap();
        }
        assert!(
            cached
                .get_connection("dialpad", &owner)
                .await
                .unwrap()
                .is_none(),
            "round {round}: deleted connection still served"
        );
        assert!(
            cached.verify_api_key(&key).await.unwrap().is_none(),
            "round {round}: revoked key still accepted"
        );
    }
}
