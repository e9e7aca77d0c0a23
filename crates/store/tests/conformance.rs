//! One conformance suite, run against every backend: SQLite always (a fresh temp file per
//! test), PostgreSQL when `TEST_DATABASE_URL` is set (a fresh `dpc_test_<random>` database per
//! test, created through that admin URL and dropped afterwards; set-but-unreachable fails).

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dpc_store::{
    connect, Cipher, ConnectionStatus, Credentials, Grant, LockedRefreshError, NewConnection,
    OAuthState, RefreshDecision, RefreshFailureKind, RefreshFn, Session, SessionPurpose, Store,
    StoreError, StoredCredentials,
};
use futures::FutureExt as _;
use secrecy::{ExposeSecret as _, SecretString};

#[path = "conformance/events.rs"]
mod events;
use events::*;
#[path = "conformance/idempotency.rs"]
mod idempotency;
use idempotency::*;

// ---------------------------------------------------------------- harness

enum Backend {
    Sqlite {
        path: PathBuf,
        _dir: tempfile::TempDir,
    },
    Postgres,
}

struct TestDb {
    url: String,
    backend: Backend,
    key: String,
}

impl TestDb {
    fn cipher(&self) -> Cipher {
        Cipher::from_base64(&self.key, &[]).unwrap()
    }

    /// A new store (its own pool) on this database, migrated, with the test's key.
    async fn store(&self) -> Arc<dyn Store> {
        self.store_with(self.cipher()).await
    }

    async fn store_with(&self, cipher: Cipher) -> Arc<dyn Store> {
        let s = connect(&self.url, cipher).await.expect("connect");
        s.migrate().await.expect("migrate");
        s
    }
}

async fn with_sqlite<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let url = format!("sqlite://{}", path.display());
    test(TestDb {
        url,
        backend: Backend::Sqlite { path, _dir: dir },
        key: Cipher::generate_key_base64(),
    })
    .await
}

async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("TEST_DATABASE_URL not set: PostgreSQL conformance skipped");
        return;
    };
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .expect("TEST_DATABASE_URL is set but PostgreSQL is unreachable");
    let name = format!(
        "dpc_test_{}",
        Cipher::generate_key_base64()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect::<String>()
            .to_ascii_lowercase()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    let db = TestDb {
        url: url.to_string(),
        backend: Backend::Postgres,
        key: Cipher::generate_key_base64(),
    };
    let outcome = std::panic::AssertUnwindSafe(test(db)).catch_unwind().await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .expect("drop test database");
    admin.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::with_sqlite(super::$name).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::with_postgres(super::$name).await
                }
            )*
        }
    };
}

conformance!(
    polls_claim_once_snapshot_and_publish,
    recap_parts_replace_purge_and_cascade,
    idempotency_keys_claim_replay_conflict_and_expiry,
    idempotency_concurrent_claims_have_one_winner,
    endpoints_crud_secrets_and_rotation,
    outbox_keeps_order_per_resource_and_settles,
    failed_deliveries_release_the_next_and_replay,
    expired_leases_are_claimed_again_and_stale_settlements_ignored,
    per_endpoint_concurrency_is_bounded,
    an_endpoint_at_its_limit_does_not_starve_the_others,
    two_stores_never_claim_one_delivery_twice,
    inbound_events_dedup_lease_and_publish_once,
    purge_goes_in_slices_and_takes_the_attempts,
    intakes_route_secrets_and_cascade,
    rotate_key_reseals_event_secrets,
    field_mappings_put_get_delete,
    observations_keep_first_seen_and_move_only_on_change,
    refresh_holds_no_write_lock_while_dialpad_is_called,
    refresh_failure_is_remembered_for_the_next_holder,
    refresh_replace_loses_to_a_new_authorization,
    concurrent_list_merges_lose_nothing,
    sharing_a_grant_is_counted,
    reseal_moves_every_secret_to_the_current_key,
    expired_refresh_lease_is_taken_over,
    migrate_is_idempotent,
    connections_crud_and_conflict,
    list_connections_paginates_to_the_end,
    credentials_round_trip_and_versions,
    wrong_key_fails_and_old_key_in_ring_opens,
    delete_connection_cascades,
    api_keys_create_verify_list_revoke,
    sessions_create_get_delete_and_expiry,
    oauth_state_single_use_and_expiry,
    refresh_lock_50_tasks_one_replace,
    refresh_lock_two_pools_one_replace,
    refresh_error_writes_nothing,
    purge_expired_respects_grace,
    secrets_are_not_stored_in_plaintext,
    oauth_state_is_taken_only_by_its_browser,
    connect_sessions_bind_to_one_browser_and_are_used_up,
);

// ---------------------------------------------------------------- helpers

pub(crate) fn new_conn(connector: &str, owner: &str) -> NewConnection {
    NewConnection {
        connector_id: connector.into(),
        owner_id: owner.into(),
        operations: vec!["call::list".into(), "sms::send".into()],
    }
}

fn secs(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

fn oauth(access: &str, refresh: Option<&str>, expires_at: Option<DateTime<Utc>>) -> Credentials {
    Credentials::OAuth {
        access_token: SecretString::from(access.to_string()),
        refresh_token: refresh.map(|r| SecretString::from(r.to_string())),
        expires_at,
    }
}

fn access_of(c: &StoredCredentials) -> String {
    match &c.credentials {
        Credentials::OAuth { access_token, .. } => access_token.expose_secret().to_string(),
        Credentials::ApiKey { api_key } => api_key.expose_secret().to_string(),
    }
}

fn refresh_fn<F, Fut>(f: F) -> RefreshFn
where
    F: FnOnce(Option<StoredCredentials>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<RefreshDecision, dpc_store::RefreshError>> + Send + 'static,
{
    Box::new(move |cur| f(cur).boxed())
}

fn state(connector: &str, owner: &str, verifier: &str, expires_at: DateTime<Utc>) -> OAuthState {
    OAuthState {
        connector_id: connector.into(),
        owner_id: owner.into(),
        pkce_verifier: SecretString::from(verifier.to_string()),
        redirect_url: Some("https://app.example/back".into()),
        scopes: vec!["calls:list".into(), "offline_access".into()],
        expires_at,
        browser_hash: Some(browser()),
    }
}

/// The binding-cookie hash `state()`'s flows are bound to.
fn browser() -> String {
    dpc_store::sha256_hex("browser-cookie")
}

fn session(owner: &str, expires_at: DateTime<Utc>) -> Session {
    Session {
        connector_id: "app".into(),
        owner_id: owner.into(),
        operations: vec!["call::list".into(), "sms::send".into()],
        expires_at,
        purpose: SessionPurpose::App,
        redirect_url: None,
        extra_scopes: vec![],
    }
}

pub(crate) fn grant(access: &str, user: Option<&str>, scopes: &[&str]) -> Grant {
    Grant {
        credentials: oauth(access, Some("refresh"), None),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        dialpad_user_id: user.map(str::to_owned),
        dialpad_company_id: user.map(|_| "co1".to_owned()),
    }
}

// ---------------------------------------------------------------- tests

async fn migrate_is_idempotent(db: TestDb) {
    let s = db.store().await;
    s.migrate().await.unwrap();
    s.migrate().await.unwrap();
}

async fn connections_crud_and_conflict(db: TestDb) {
    let s = db.store().await;
    let c = s.insert_connection(new_conn("app", "alice")).await.unwrap();
    assert!(!c.id.is_empty());
    assert_eq!(c.status, ConnectionStatus::Unauthorized);
    assert_eq!(c.operations, vec!["call::list", "sms::send"]);
    assert!(c.scopes.is_empty() && c.missing_scopes.is_empty());
    assert_eq!(
        s.get_connection("app", "alice").await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(s.get_connection("app", "bob").await.unwrap(), None);
    assert_eq!(s.get_connection("other", "alice").await.unwrap(), None);

    assert!(matches!(
        s.insert_connection(new_conn("app", "alice")).await,
        Err(StoreError::Conflict)
    ));
    // Same owner, other app: fine.
    let other = s
        .insert_connection(new_conn("other", "alice"))
        .await
        .unwrap();
    assert_ne!(other.id, c.id);

    // Field-level writes: each changes its own columns only.
    let awaiting = {
        s.mark_awaiting_authorization(&c.id).await.unwrap();
        s.get_connection("app", "alice").await.unwrap().unwrap()
    };
    assert_eq!(awaiting.status, ConnectionStatus::AwaitingAuthorization);
    let updated = s
        .authorize(
            &c.id,
            &grant("tok", Some("u1"), &["calls:list", "offline_access"]),
        )
        .await
        .unwrap();
    assert_eq!(updated.status, ConnectionStatus::Authorized);
    assert_eq!(updated.scopes, vec!["calls:list", "offline_access"]);
    assert_eq!(updated.dialpad_user_id.as_deref(), Some("u1"));
    assert_eq!(updated.credentials_version, Some(1));
    assert_eq!(
        updated.operations, c.operations,
        "authorize leaves operations alone"
    );
    assert_eq!(updated.created_at, c.created_at);
    assert!(updated.updated_at >= c.updated_at);
    assert_eq!(
        s.get_connection("app", "alice").await.unwrap(),
        Some(updated.clone())
    );
    // Already authorized: awaiting does not downgrade it.
    s.mark_awaiting_authorization(&c.id).await.unwrap();
    s.mark_authorization_abandoned(&c.id).await.unwrap();
    assert_eq!(
        s.get_connection("app", "alice")
            .await
            .unwrap()
            .unwrap()
            .status,
        ConnectionStatus::Authorized
    );
    let ops = s
        .set_operations(&c.id, &["call::list".to_string()], None)
        .await
        .unwrap();
    assert_eq!(ops.operations, vec!["call::list"]);
    assert_eq!(ops.scopes, updated.scopes, "scopes kept when not given");
    let ops = s
        .add_operations(&c.id, &["sms::send".to_string(), "call::list".to_string()])
        .await
        .unwrap();
    assert_eq!(ops.operations, vec!["call::list", "sms::send"]);
    let missing = s
        .record_missing_scopes(&c.id, &["message_content_export".to_string()], 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(missing.missing_scopes, vec!["message_content_export"]);
    // A 403 seen with an older token proves nothing about the current one.
    assert!(s
        .record_missing_scopes(&c.id, &["screen_pop".to_string()], 0)
        .await
        .unwrap()
        .is_none());
    let cleared = s
        .clear_missing_scopes(&c.id, &["message_content_export".to_string()], 1)
        .await
        .unwrap()
        .unwrap();
    assert!(cleared.missing_scopes.is_empty());
    assert!(
        !s.mark_refresh_failed(&c.id, 0).await.unwrap(),
        "stale version"
    );
    assert!(s.mark_refresh_failed(&c.id, 1).await.unwrap());
    assert_eq!(
        s.get_connection("app", "alice")
            .await
            .unwrap()
            .unwrap()
            .status,
        ConnectionStatus::RefreshFailed
    );
    for missing in [
        s.set_operations("con_missing", &[], None).await.err(),
        s.add_operations("con_missing", &[]).await.err(),
        s.authorize("con_missing", &grant("t", None, &[]))
            .await
            .err(),
    ] {
        assert!(matches!(missing, Some(StoreError::NotFound)), "{missing:?}");
    }

    s.delete_connection("app", "alice").await.unwrap();
    assert_eq!(s.get_connection("app", "alice").await.unwrap(), None);
    assert!(matches!(
        s.delete_connection("app", "alice").await,
        Err(StoreError::NotFound)
    ));
    assert!(s.get_connection("other", "alice").await.unwrap().is_some());
    // The pair is free again.
    s.insert_connection(new_conn("app", "alice")).await.unwrap();
}

async fn list_connections_paginates_to_the_end(db: TestDb) {
    let s = db.store().await;
    let mut a_ids = Vec::new();
    for i in 0..7 {
        a_ids.push(
            s.insert_connection(new_conn("a", &format!("owner{i}")))
                .await
                .unwrap()
                .id,
        );
        if i < 5 {
            s.insert_connection(new_conn("b", &format!("owner{i}")))
                .await
                .unwrap();
        }
    }
    // Connector a, pages of 3: 3 + 3 + 1, in creation order, then no cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let (page, next) = s
            .list_connections(Some("a"), cursor.as_deref(), 3)
            .await
            .unwrap();
        pages += 1;
        assert!(page.len() <= 3);
        assert!(page.iter().all(|c| c.connector_id == "a"));
        seen.extend(page.into_iter().map(|c| c.id));
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, a_ids);

    // Exact multiple: 5 in pages of 5 is one page with no next.
    let (page, next) = s.list_connections(Some("b"), None, 5).await.unwrap();
    assert_eq!((page.len(), next), (5, None));
    // All connectors.
    let (page, next) = s.list_connections(None, None, 100).await.unwrap();
    assert_eq!((page.len(), next), (12, None));
    // Unknown connector: empty.
    assert_eq!(
        s.list_connections(Some("zzz"), None, 10).await.unwrap(),
        (vec![], None)
    );
    // Garbage cursor.
    assert!(matches!(
        s.list_connections(None, Some("%%garbage"), 10).await,
        Err(StoreError::NotFound)
    ));
}

async fn credentials_round_trip_and_versions(db: TestDb) {
    let s = db.store().await;
    let c = s.insert_connection(new_conn("app", "alice")).await.unwrap();
    assert!(s.get_credentials(&c.id).await.unwrap().is_none());

    let exp = secs(Utc::now()) + chrono::Duration::hours(1);
    let v1 = s
        .put_credentials(&c.id, &oauth("access-1", Some("refresh-1"), Some(exp)))
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    let got = s.get_credentials(&c.id).await.unwrap().unwrap();
    assert_eq!(got.version, 1);
    match &got.credentials {
        Credentials::OAuth {
            access_token,
            refresh_token,
            expires_at,
        } => {
            assert_eq!(access_token.expose_secret(), "access-1");
            assert_eq!(refresh_token.as_ref().unwrap().expose_secret(), "refresh-1");
            assert_eq!(*expires_at, Some(exp));
        }
        other => panic!("wrong kind {other:?}"),
    }
    // Debug never shows secrets.
    assert!(!format!("{got:?}").contains("access-1"));

    let v2 = s
        .put_credentials(&c.id, &oauth("access-2", None, None))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let v3 = s
        .put_credentials(
            &c.id,
            &Credentials::ApiKey {
                api_key: SecretString::from("dialpad-api-key".to_string()),
            },
        )
        .await
        .unwrap();
    assert_eq!(v3.version, 3);
    let got = s.get_credentials(&c.id).await.unwrap().unwrap();
    assert_eq!(got.version, 3);
    assert!(
        matches!(&got.credentials, Credentials::ApiKey { api_key } if api_key.expose_secret() == "dialpad-api-key")
    );

    s.delete_credentials(&c.id).await.unwrap();
    assert!(s.get_credentials(&c.id).await.unwrap().is_none());
    s.delete_credentials(&c.id).await.unwrap();

    // No connection, no credentials.
    assert!(matches!(
        s.put_credentials("con_missing", &oauth("x", None, None))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn wrong_key_fails_and_old_key_in_ring_opens(db: TestDb) {
    let old_key = db.key.clone();
    let s_old = db.store().await;
    let c = s_old
        .insert_connection(new_conn("app", "alice"))
        .await
        .unwrap();
    s_old
        .put_credentials(&c.id, &oauth("sealed-with-old", Some("r"), None))
        .await
        .unwrap();
    let st = s_old
        .create_oauth_state(&state(
            "app",
            "alice",
            "verifier-old",
            Utc::now() + chrono::Duration::minutes(5),
        ))
        .await
        .unwrap();

    // A different key alone cannot open them.
    let new_key = Cipher::generate_key_base64();
    let s_wrong = db
        .store_with(Cipher::from_base64(&new_key, &[]).unwrap())
        .await;
    assert!(matches!(
        s_wrong.get_credentials(&c.id).await,
        Err(StoreError::Crypto(_))
    ));

    // The new key with the old one in the ring opens old rows...
    let s_rotated = db
        .store_with(Cipher::from_base64(&new_key, &[&old_key]).unwrap())
        .await;
    let got = s_rotated.get_credentials(&c.id).await.unwrap().unwrap();
    assert_eq!(access_of(&got), "sealed-with-old");
    let taken = s_rotated
        .take_oauth_state(&st, Some(&browser()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.pkce_verifier.expose_secret(), "verifier-old");

    // ...and writes with the new key: the old key alone no longer opens them.
    s_rotated
        .put_credentials(&c.id, &oauth("sealed-with-new", None, None))
        .await
        .unwrap();
    assert!(matches!(
        s_old.get_credentials(&c.id).await,
        Err(StoreError::Crypto(_))
    ));
    assert_eq!(
        access_of(&s_wrong.get_credentials(&c.id).await.unwrap().unwrap()),
        "sealed-with-new"
    );

    // The error names what failed, not the secret.
    let e = s_old.get_credentials(&c.id).await.unwrap_err().to_string();
    assert!(!e.contains("sealed-with-new"), "{e}");
}

async fn delete_connection_cascades(db: TestDb) {
    let s = db.store().await;
    let c = s.insert_connection(new_conn("app", "alice")).await.unwrap();
    let keep = s.insert_connection(new_conn("app", "bob")).await.unwrap();
    s.put_credentials(&c.id, &oauth("a", None, None))
        .await
        .unwrap();
    s.put_credentials(&keep.id, &oauth("b", None, None))
        .await
        .unwrap();
    let later = Utc::now() + chrono::Duration::hours(1);
    let tok = s.create_session(&session("alice", later)).await.unwrap();
    let tok_bob = s.create_session(&session("bob", later)).await.unwrap();
    let st = s
        .create_oauth_state(&state("app", "alice", "v", later))
        .await
        .unwrap();
    let st_bob = s
        .create_oauth_state(&state("app", "bob", "v", later))
        .await
        .unwrap();

    s.delete_connection("app", "alice").await.unwrap();
    assert!(s.get_credentials(&c.id).await.unwrap().is_none());
    assert!(s.get_session(tok.expose_secret()).await.unwrap().is_none());
    assert!(s
        .take_oauth_state(&st, Some(&browser()))
        .await
        .unwrap()
        .is_none());
    // Bob's are untouched.
    assert!(s.get_credentials(&keep.id).await.unwrap().is_some());
    assert!(s
        .get_session(tok_bob.expose_secret())
        .await
        .unwrap()
        .is_some());
    assert!(s
        .take_oauth_state(&st_bob, Some(&browser()))
        .await
        .unwrap()
        .is_some());
}

async fn recap_parts_replace_purge_and_cascade(db: TestDb) {
    let s = db.store().await;
    let c = s.insert_connection(new_conn("app", "alice")).await.unwrap();
    let other = s.insert_connection(new_conn("app", "bob")).await.unwrap();
    assert!(s.recap_parts(&c.id, "1").await.unwrap().is_empty());
    s.put_recap_part(
        &c.id,
        "1",
        "summary",
        r#"{"part":"summary","value":"a"}"#,
        1_000,
    )
    .await
    .unwrap();
    s.put_recap_part(
        &c.id,
        "1",
        "outcome",
        r#"{"part":"outcome","value":"b"}"#,
        1_000,
    )
    .await
    .unwrap();
    // The same part again replaces it.
    s.put_recap_part(
        &c.id,
        "1",
        "summary",
        r#"{"part":"summary","value":"c"}"#,
        5_000,
    )
    .await
    .unwrap();
    s.put_recap_part(
        &other.id,
        "1",
        "summary",
        r#"{"part":"summary","value":"bob"}"#,
        1_000,
    )
    .await
    .unwrap();
    assert_eq!(
        s.recap_parts(&c.id, "1").await.unwrap(),
        [
            r#"{"part":"outcome","value":"b"}"#,
            r#"{"part":"summary","value":"c"}"#
        ]
    );
    assert!(s.recap_parts(&c.id, "2").await.unwrap().is_empty());
    // Retention: parts last written before the cut go with the events.
    s.purge_events(2_000).await.unwrap();
    assert_eq!(
        s.recap_parts(&c.id, "1").await.unwrap(),
        [r#"{"part":"summary","value":"c"}"#]
    );
    assert!(s.recap_parts(&other.id, "1").await.unwrap().is_empty());
    // And with their connection.
    s.delete_connection("app", "alice").await.unwrap();
    assert!(s.recap_parts(&c.id, "1").await.unwrap().is_empty());
}

async fn api_keys_create_verify_list_revoke(db: TestDb) {
    let s = db.store().await;
    let (k1, p1) = s.create_api_key("ci").await.unwrap();
    let (k2, p2) = s.create_api_key("laptop").await.unwrap();
    for (rec, plain) in [(&k1, &p1), (&k2, &p2)] {
        let p = plain.expose_secret();
        assert!(p.starts_with("sk_") && p.len() >= 3 + 43, "{}", p.len());
        assert!(p.starts_with(&rec.prefix) && rec.prefix.len() < p.len());
        assert!(rec.revoked_at.is_none());
        assert_eq!(s.verify_api_key(p).await.unwrap().as_ref(), Some(rec));
    }
    assert_ne!(p1.expose_secret(), p2.expose_secret());
    assert_eq!(s.verify_api_key("sk_nope").await.unwrap(), None);
    assert_eq!(s.verify_api_key("").await.unwrap(), None);
    let list = s.list_api_keys().await.unwrap();
    assert_eq!(list, vec![k1.clone(), k2.clone()]);

    s.revoke_api_key(&k1.id).await.unwrap();
    assert_eq!(s.verify_api_key(p1.expose_secret()).await.unwrap(), None);
    assert!(s
        .verify_api_key(p2.expose_secret())
        .await
        .unwrap()
        .is_some());
    s.revoke_api_key("laptop").await.unwrap();
    assert_eq!(s.verify_api_key(p2.expose_secret()).await.unwrap(), None);
    assert!(matches!(
        s.revoke_api_key("laptop").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.revoke_api_key("nobody").await,
        Err(StoreError::NotFound)
    ));
    let list = s.list_api_keys().await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|k| k.revoked_at.is_some()));
}

async fn sessions_create_get_delete_and_expiry(db: TestDb) {
    let s = db.store().await;
    let live = session("alice", secs(Utc::now()) + chrono::Duration::minutes(30));
    let t1 = s.create_session(&live).await.unwrap();
    assert!(t1.expose_secret().len() >= 40);
    assert_eq!(
        s.get_session(t1.expose_secret()).await.unwrap(),
        Some(live.clone())
    );
    let expired = Session {
        expires_at: secs(Utc::now()) - chrono::Duration::minutes(1),
        ..live.clone()
    };
    let t2 = s.create_session(&expired).await.unwrap();
    assert_ne!(t1.expose_secret(), t2.expose_secret());
    // Expired sessions are returned (the caller says SESSION::EXPIRED).
    assert_eq!(
        s.get_session(t2.expose_secret()).await.unwrap(),
        Some(expired)
    );
    assert_eq!(s.get_session("not-a-token").await.unwrap(), None);
    s.delete_session(t1.expose_secret()).await.unwrap();
    assert_eq!(s.get_session(t1.expose_secret()).await.unwrap(), None);
    s.delete_session(t1.expose_secret()).await.unwrap();
    // A connect link's session keeps its purpose, redirect target and extra scopes.
    let connect = Session {
        purpose: SessionPurpose::Connect,
        redirect_url: Some("https://app.example/done".into()),
        extra_scopes: vec!["change_log".into()],
        ..live.clone()
    };
    let t3 = s.create_session(&connect).await.unwrap();
    assert_eq!(
        s.get_session(t3.expose_secret()).await.unwrap(),
        Some(connect)
    );
}

async fn oauth_state_single_use_and_expiry(db: TestDb) {
    let s = db.store().await;
    let exp = secs(Utc::now()) + chrono::Duration::minutes(10);
    let want = state("app", "alice", "pkce-verifier-123", exp);
    let st = s.create_oauth_state(&want).await.unwrap();
    assert!(
        st.len() >= 43
            && st
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{st}"
    );
    let got = s
        .take_oauth_state(&st, Some(&browser()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.connector_id, "app");
    assert_eq!(got.owner_id, "alice");
    assert_eq!(got.pkce_verifier.expose_secret(), "pkce-verifier-123");
    assert_eq!(got.redirect_url, want.redirect_url);
    assert_eq!(got.scopes, want.scopes);
    assert_eq!(got.expires_at, exp);
    assert!(
        s.take_oauth_state(&st, Some(&browser()))
            .await
            .unwrap()
            .is_none(),
        "single use"
    );

    let no_redirect = OAuthState {
        redirect_url: None,
        ..state("app", "bob", "v", exp)
    };
    let st = s.create_oauth_state(&no_redirect).await.unwrap();
    assert_eq!(
        s.take_oauth_state(&st, Some(&browser()))
            .await
            .unwrap()
            .unwrap()
            .redirect_url,
        None
    );

    let st = s
        .create_oauth_state(&state(
            "app",
            "alice",
            "v",
            Utc::now() - chrono::Duration::seconds(1),
        ))
        .await
        .unwrap();
    assert!(
        s.take_oauth_state(&st, Some(&browser()))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(s
        .take_oauth_state("never-issued", Some(&browser()))
        .await
        .unwrap()
        .is_none());

    // Concurrent takes of one state: exactly one wins.
    let st = s.create_oauth_state(&want).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let s = s.clone();
            let st = st.clone();
            tokio::spawn(async move {
                s.take_oauth_state(&st, Some(&browser()))
                    .await
                    .unwrap()
                    .is_some()
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}

/// A bound flow is consumed only by its browser; a wrong one leaves it pending. An unbound one
/// (direct mode) is taken by anyone.
async fn oauth_state_is_taken_only_by_its_browser(db: TestDb) {
    let s = db.store().await;
    let exp = secs(Utc::now()) + chrono::Duration::minutes(10);
    let st = s
        .create_oauth_state(&state("app", "alice", "v", exp))
        .await
        .unwrap();
    assert!(s.oauth_state_pending(&st).await.unwrap());
    let other = dpc_store::sha256_hex("another-cookie");
    assert!(s
        .take_oauth_state(&st, Some(&other))
        .await
        .unwrap()
        .is_none());
    assert!(s.take_oauth_state(&st, None).await.unwrap().is_none());
    assert!(s.oauth_state_pending(&st).await.unwrap(), "left pending");
    assert!(s
        .take_oauth_state(&st, Some(&browser()))
        .await
        .unwrap()
        .is_some());
    assert!(!s.oauth_state_pending(&st).await.unwrap(), "used up");
    assert!(!s.oauth_state_pending("never-issued").await.unwrap());
    let unbound = OAuthState {
        browser_hash: None,
        ..state("app", "alice", "v", exp)
    };
    let st = s.create_oauth_state(&unbound).await.unwrap();
    assert!(s
        .take_oauth_state(&st, Some(&other))
        .await
        .unwrap()
        .is_some());
    let st = s
        .create_oauth_state(&state(
            "app",
            "alice",
            "v",
            Utc::now() - chrono::Duration::seconds(1),
        ))
        .await
        .unwrap();
    assert!(!s.oauth_state_pending(&st).await.unwrap(), "expired");
}

/// A connect session is bound to the first browser that asks (that one may ask again), never
/// to a second one, and is handed out again only while unbound and unexpired; app sessions are
/// never bound; using the links up deletes the connection's connect sessions only.
async fn connect_sessions_bind_to_one_browser_and_are_used_up(db: TestDb) {
    let s = db.store().await;
    let later = secs(Utc::now()) + chrono::Duration::minutes(30);
    let connect = Session {
        purpose: SessionPurpose::Connect,
        ..session("alice", later)
    };
    let link = s.create_session(&connect).await.unwrap();
    let link2 = s.create_session(&connect).await.unwrap();
    let app = s.create_session(&session("alice", later)).await.unwrap();
    let bob = s
        .create_session(&Session {
            purpose: SessionPurpose::Connect,
            ..session("bob", later)
        })
        .await
        .unwrap();
    let (a, b) = (dpc_store::sha256_hex("a"), dpc_store::sha256_hex("b"));
    assert!(s
        .connect_session_reusable(link.expose_secret())
        .await
        .unwrap());
    assert!(!s
        .connect_session_reusable(app.expose_secret())
        .await
        .unwrap());
    assert!(s
        .bind_connect_session(link.expose_secret(), &a)
        .await
        .unwrap());
    assert!(
        !s.connect_session_reusable(link.expose_secret())
            .await
            .unwrap(),
        "bound: not handed out again"
    );
    assert!(s
        .bind_connect_session(link.expose_secret(), &a)
        .await
        .unwrap());
    assert!(!s
        .bind_connect_session(link.expose_secret(), &b)
        .await
        .unwrap());
    assert!(s
        .bind_connect_session(link2.expose_secret(), &b)
        .await
        .unwrap());
    assert!(!s
        .bind_connect_session(app.expose_secret(), &a)
        .await
        .unwrap());
    assert!(!s.bind_connect_session("never-issued", &a).await.unwrap());
    // Concurrent first presses from two browsers: exactly one wins.
    let fresh = s.create_session(&connect).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let s = s.clone();
            let t = fresh.expose_secret().to_owned();
            let h = dpc_store::sha256_hex(&format!("browser-{i}"));
            tokio::spawn(async move { s.bind_connect_session(&t, &h).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);

    let expired = s
        .create_session(&Session {
            purpose: SessionPurpose::Connect,
            ..session("carol", secs(Utc::now()) - chrono::Duration::minutes(1))
        })
        .await
        .unwrap();
    assert!(!s
        .connect_session_reusable(expired.expose_secret())
        .await
        .unwrap());
    assert!(s
        .connect_session_reusable(bob.expose_secret())
        .await
        .unwrap());

    assert_eq!(s.delete_connect_sessions("app", "alice").await.unwrap(), 3);
    assert!(!s
        .connect_session_reusable(link2.expose_secret())
        .await
        .unwrap());
    assert!(s.get_session(link.expose_secret()).await.unwrap().is_none());
    assert!(s
        .get_session(link2.expose_secret())
        .await
        .unwrap()
        .is_none());
    assert!(s.get_session(app.expose_secret()).await.unwrap().is_some());
    assert!(s.get_session(bob.expose_secret()).await.unwrap().is_some());
    assert_eq!(s.delete_connect_sessions("app", "alice").await.unwrap(), 0);
}

/// Each task does what the server does: under the lock, refresh only if the credentials are
/// still the ones it saw as expired (same version); otherwise keep what someone else wrote.
async fn contend(stores: Vec<Arc<dyn Store>>, connection_id: String, tasks_per_store: usize) {
    let replaces = Arc::new(AtomicUsize::new(0));
    let start_version = stores[0]
        .get_credentials(&connection_id)
        .await
        .unwrap()
        .unwrap()
        .version;
    let mut handles = Vec::new();
    for (si, store) in stores.iter().enumerate() {
        for i in 0..tasks_per_store {
            let store = store.clone();
            let id = connection_id.clone();
            let replaces = replaces.clone();
            handles.push(tokio::spawn(async move {
                let f = refresh_fn(move |cur: Option<StoredCredentials>| async move {
                    let cur = cur.expect("credentials exist");
                    if cur.version == start_version {
                        // The "HTTP call" to Dialpad, while the lock is held.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        replaces.fetch_add(1, Ordering::SeqCst);
                        Ok(RefreshDecision::Replace(oauth(
                            &format!("new-{si}-{i}"),
                            Some("r2"),
                            None,
                        )))
                    } else {
                        Ok(RefreshDecision::Keep)
                    }
                });
                store.with_refresh_lock(&id, f).await.unwrap()
            }));
        }
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.unwrap());
    }
    assert_eq!(replaces.load(Ordering::SeqCst), 1, "exactly one refresh");
    let final_creds = stores[0]
        .get_credentials(&connection_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(final_creds.version, start_version + 1);
    for r in &results {
        assert_eq!(r.version, final_creds.version);
        assert_eq!(access_of(r), access_of(&final_creds));
    }
}

async fn refresh_lock_50_tasks_one_replace(db: TestDb) {
    let s = db.store().await;
    let c = s.insert_connection(new_conn("app", "alice")).await.unwrap();
    s.put_credentials(&c.id, &oauth("expired", Some("r1"), Some(Utc::now())))
        .await
        .unwrap();
    contend(vec![s], c.id, 50).await;
}

async fn refresh_lock_two_pools_one_replace(db: TestDb) {
    // Two stores, two pools: like two server instances sharing the database.
    let a = db.store().await;
    let b = db.store().await;
    let c = a.insert_connection(new_conn("app", "alice")).await.unwrap();
    a.put_credentials(&c.id, &oauth("expired", Some("r1"), Some(Utc::now())))
        .await
        .unwrap();
    contend(vec![a, b], c.id, 25).await;
}

async fn refresh_error_writes_nothing(db: TestDb) {
    let s = db.store().await;
    let c = s.insert_connection(new_conn("app", "alice")).await.unwrap();

    // No credentials yet: the closure sees None; Keep has nothing to return.
    let r = s
        .with_refresh_lock(
            &c.id,
            refresh_fn(|cur| async move {
                assert!(cur.is_none());
                Ok(RefreshDecision::Keep)
            }),
        )
        .await;
    assert!(matches!(
        r,
        Err(LockedRefreshError::Store(StoreError::NotFound))
    ));
    // A refresh replaces existing credentials only: from nothing it is NotFound.
    let r = s
        .with_refresh_lock(
            &c.id,
            refresh_fn(|_| async { Ok(RefreshDecision::Replace(oauth("first", None, None))) }),
        )
        .await;
    assert!(matches!(
        r,
        Err(LockedRefreshError::Store(StoreError::NotFound))
    ));
    let r = s
        .put_credentials(&c.id, &oauth("first", None, None))
        .await
        .unwrap();
    assert_eq!(r.version, 1);

    // The closure fails: its error comes back and nothing is written.
    let r = s
        .with_refresh_lock(&c.id, refresh_fn(|_| async { Err("invalid_grant".into()) }))
        .await;
    match r {
        Err(LockedRefreshError::Refresh(e)) => assert_eq!(e.to_string(), "invalid_grant"),
        other => panic!("expected Refresh error, got {:?}", other.map(|c| c.version)),
    }
    let cur = s.get_credentials(&c.id).await.unwrap().unwrap();
    assert_eq!((cur.version, access_of(&cur)), (1, "first".to_string()));

    // Keep returns the current ones untouched.
    let kept = s
        .with_refresh_lock(&c.id, refresh_fn(|_| async { Ok(RefreshDecision::Keep) }))
        .await
        .unwrap();
    assert_eq!((kept.version, access_of(&kept)), (1, "first".to_string()));

    // The lock is released after an error: another call goes through at once.
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        s.with_refresh_lock(
            &c.id,
            refresh_fn(|_| async { Ok(RefreshDecision::Replace(oauth("second", None, None))) }),
        ),
    )
    .await
    .expect("lock released")
    .unwrap();
    assert_eq!(r.version, 2);
}

async fn purge_expired_respects_grace(db: TestDb) {
    let s = db.store().await;
    let now = Utc::now();
    let mk = |exp: DateTime<Utc>| Session {
        connector_id: "app".into(),
        owner_id: "alice".into(),
        operations: vec![],
        expires_at: exp,
        purpose: SessionPurpose::App,
        redirect_url: None,
        extra_scopes: vec![],
    };
    let long_ago = s
        .create_session(&mk(now - chrono::Duration::hours(2)))
        .await
        .unwrap();
    let just_now = s
        .create_session(&mk(now - chrono::Duration::minutes(1)))
        .await
        .unwrap();
    let live = s
        .create_session(&mk(now + chrono::Duration::hours(1)))
        .await
        .unwrap();
    let st_old = s
        .create_oauth_state(&state("app", "a", "v", now - chrono::Duration::hours(2)))
        .await
        .unwrap();
    let st_recent = s
        .create_oauth_state(&state("app", "a", "v", now - chrono::Duration::minutes(1)))
        .await
        .unwrap();
    let st_live = s
        .create_oauth_state(&state("app", "a", "v", now + chrono::Duration::hours(1)))
        .await
        .unwrap();

    assert_eq!(s.purge_expired(Duration::from_secs(3600)).await.unwrap(), 2);
    assert!(s
        .get_session(long_ago.expose_secret())
        .await
        .unwrap()
        .is_none());
    assert!(s
        .get_session(just_now.expose_secret())
        .await
        .unwrap()
        .is_some());
    assert_eq!(s.purge_expired(Duration::ZERO).await.unwrap(), 2);
    assert!(s
        .get_session(just_now.expose_secret())
        .await
        .unwrap()
        .is_none());
    assert!(s.get_session(live.expose_secret()).await.unwrap().is_some());
    assert!(s
        .take_oauth_state(&st_old, Some(&browser()))
        .await
        .unwrap()
        .is_none());
    assert!(s
        .take_oauth_state(&st_recent, Some(&browser()))
        .await
        .unwrap()
        .is_none());
    assert!(s
        .take_oauth_state(&st_live, Some(&browser()))
        .await
        .unwrap()
        .is_some());
    assert_eq!(s.purge_expired(Duration::ZERO).await.unwrap(), 0);
    // A huge grace purges nothing and does not overflow.
    assert_eq!(
        s.purge_expired(Duration::from_secs(u64::MAX))
            .await
            .unwrap(),
        0
    );
}

async fn secrets_are_not_stored_in_plaintext(db: TestDb) {
    let s = db.store().await;
    let c = s
        .insert_connection(new_conn("app-visible-marker", "alice"))
        .await
        .unwrap();
    let c2 = s
        .insert_connection(new_conn("app-visible-marker", "bob"))
        .await
        .unwrap();
    let access = "ACCESSTOKENMARKER0123456789";
    let refresh = "REFRESHTOKENMARKER0123456789";
    let dialpad_key = "DIALPADAPIKEYMARKER0123456789";
    let verifier = "PKCEVERIFIERMARKER0123456789";
    s.put_credentials(&c.id, &oauth(access, Some(refresh), None))
        .await
        .unwrap();
    s.put_credentials(
        &c2.id,
        &Credentials::ApiKey {
            api_key: SecretString::from(dialpad_key.to_string()),
        },
    )
    .await
    .unwrap();
    let (_, sk) = s.create_api_key("ci").await.unwrap();
    let session = s
        .create_session(&Session {
            connector_id: "app-visible-marker".into(),
            owner_id: "alice".into(),
            operations: vec![],
            expires_at: Utc::now() + chrono::Duration::hours(1),
            purpose: SessionPurpose::App,
            redirect_url: None,
            extra_scopes: vec![],
        })
        .await
        .unwrap();
    let st = s
        .create_oauth_state(&state(
            "app-visible-marker",
            "alice",
            verifier,
            Utc::now() + chrono::Duration::hours(1),
        ))
        .await
        .unwrap();
    let secrets = [
        access,
        refresh,
        dialpad_key,
        verifier,
        sk.expose_secret(),
        session.expose_secret(),
        &st,
    ];

    let raw: Vec<u8> = match &db.backend {
        Backend::Sqlite { path, .. } => {
            let mut all = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                if let Ok(bytes) = std::fs::read(&p) {
                    all.extend(bytes);
                }
            }
            all
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let mut all = String::new();
            for table in [
                "connections",
                "credentials",
                "api_keys",
                "sessions",
                "oauth_states",
            ] {
                let rows: Vec<(String,)> =
                    sqlx::query_as(&format!("SELECT t::text FROM {table} t"))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                for (r,) in rows {
                    all.push_str(&r);
                    all.push('\n');
                }
            }
            pool.close().await;
            all.into_bytes()
        }
    };
    let contains = |needle: &str| raw.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        contains("app-visible-marker"),
        "sanity: the raw data is readable"
    );
    for secret in secrets {
        assert!(!contains(secret), "a secret is stored in plaintext");
    }
}

// ---------------------------------------------------------------- issue 7: hardening

/// Defect 1: while one refresh waits on a slow Dialpad (3 s here), other writes go through
/// at once: no transaction, database lock or pooled connection is held across the call.
async fn refresh_holds_no_write_lock_while_dialpad_is_called(db: TestDb) {
    let s = db.store().await;
    let c = s.insert_connection(new_conn("app", "slow")).await.unwrap();
    s.put_credentials(&c.id, &oauth("expired", Some("r1"), Some(Utc::now())))
        .await
        .unwrap();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let refreshing = {
        let s = s.clone();
        let id = c.id.clone();
        tokio::spawn(async move {
            s.with_refresh_lock(
                &id,
                refresh_fn(move |_| async move {
                    let _ = started_tx.send(());
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    Ok(RefreshDecision::Replace(oauth("fresh", Some("r2"), None)))
                }),
            )
            .await
        })
    };
    started_rx.await.unwrap();
    let t0 = std::time::Instant::now();
    for i in 0..20 {
        let other = s
            .insert_connection(new_conn("app", &format!("writer-{i}")))
            .await
            .unwrap();
        s.create_session(&session(
            &other.owner_id,
            Utc::now() + chrono::Duration::minutes(5),
        ))
        .await
        .unwrap();
        s.authorize(&other.id, &grant("t", None, &[]))
            .await
            .unwrap();
    }
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "60 writes took {took:?} while a refresh was in flight"
    );
    let done = refreshing.await.unwrap().unwrap();
    assert_eq!(access_of(&done), "fresh");
}

/// A failed refresh is recorded against the credentials version: whoever takes the lease next
/// sees it (and does not resend the dead refresh token); a new write clears it.
async fn refresh_failure_is_remembered_for_the_next_holder(db: TestDb) {
    let a = db.store().await;
    let b = db.store().await;
    let c = a.insert_connection(new_conn("app", "dead")).await.unwrap();
    a.put_credentials(&c.id, &oauth("expired", Some("dead"), Some(Utc::now())))
        .await
        .unwrap();
    let r = a
        .with_refresh_lock(
            &c.id,
            refresh_fn(|cur| async move {
                assert!(cur.unwrap().refresh_failure.is_none());
                Ok(RefreshDecision::Fail(RefreshFailureKind::Refused))
            }),
        )
        .await;
    assert!(matches!(
        r,
        Err(LockedRefreshError::Failed(RefreshFailureKind::Refused))
    ));
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen2 = seen.clone();
    b.with_refresh_lock(
        &c.id,
        refresh_fn(move |cur| async move {
            *seen2.lock().unwrap() = cur.unwrap().refresh_failure.map(|f| f.kind);
            Ok(RefreshDecision::Keep)
        }),
    )
    .await
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(RefreshFailureKind::Refused));
    a.put_credentials(&c.id, &oauth("new", Some("r"), None))
        .await
        .unwrap();
    assert!(b
        .get_credentials(&c.id)
        .await
        .unwrap()
        .unwrap()
        .refresh_failure
        .is_none());
}

/// A refresh that finishes after the customer re-authorized (credentials replaced without the
/// lease) does not overwrite the newer credentials.
async fn refresh_replace_loses_to_a_new_authorization(db: TestDb) {
    let s = db.store().await;
    let c = s
        .insert_connection(new_conn("app", "reauth"))
        .await
        .unwrap();
    s.put_credentials(&c.id, &oauth("expired", Some("r1"), Some(Utc::now())))
        .await
        .unwrap();
    let s2 = s.clone();
    let id = c.id.clone();
    let got = s
        .with_refresh_lock(
            &c.id,
            refresh_fn(move |_| async move {
                s2.authorize(&id, &grant("reauthorized", None, &[]))
                    .await
                    .unwrap();
                Ok(RefreshDecision::Replace(oauth("refreshed", None, None)))
            }),
        )
        .await
        .unwrap();
    assert_eq!(access_of(&got), "reauthorized");
    let stored = s.get_credentials(&c.id).await.unwrap().unwrap();
    assert_eq!(access_of(&stored), "reauthorized");
}

/// Defect 2: concurrent field-level changes from two instances never undo each other.
async fn concurrent_list_merges_lose_nothing(db: TestDb) {
    let a = db.store().await;
    let b = db.store().await;
    let c = a.insert_connection(new_conn("app", "merge")).await.unwrap();
    a.authorize(&c.id, &grant("t", None, &[])).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let id = c.id.clone();
        tasks.push(tokio::spawn(async move {
            s.add_operations(&id, &[format!("op{i}::list")])
                .await
                .unwrap();
            s.record_missing_scopes(&id, &[format!("scope{i}")], 1)
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = a.get_connection("app", "merge").await.unwrap().unwrap();
    assert_eq!(got.operations.len(), 2 + 20, "{:?}", got.operations);
    assert_eq!(got.missing_scopes.len(), 20, "{:?}", got.missing_scopes);
    assert_eq!(got.status, ConnectionStatus::Authorized);
}

async fn sharing_a_grant_is_counted(db: TestDb) {
    let s = db.store().await;
    let mut ids = Vec::new();
    for (owner, user) in [
        ("o1", Some("u1")),
        ("o2", Some("u1")),
        ("o3", Some("u2")),
        ("o4", None),
    ] {
        let c = s.insert_connection(new_conn("app", owner)).await.unwrap();
        s.authorize(&c.id, &grant("t", user, &[])).await.unwrap();
        ids.push(c.id);
    }
    // o4's Dialpad user is unknown: it may be u1 or u2, so it counts for both.
    assert_eq!(s.count_sharing_grant(&ids[0], "u1").await.unwrap(), 2);
    assert_eq!(s.count_sharing_grant(&ids[2], "u2").await.unwrap(), 1);
    s.delete_connection("app", "o2").await.unwrap();
    assert_eq!(s.count_sharing_grant(&ids[0], "u1").await.unwrap(), 1);
    s.delete_connection("app", "o4").await.unwrap();
    assert_eq!(s.count_sharing_grant(&ids[0], "u1").await.unwrap(), 0);
    assert_eq!(s.count_sharing_grant(&ids[2], "u2").await.unwrap(), 0);
    // An API-key connection is no grant at all.
    let k = s.insert_connection(new_conn("app", "o5")).await.unwrap();
    s.put_credentials(
        &k.id,
        &Credentials::ApiKey {
            api_key: SecretString::from("key"),
        },
    )
    .await
    .unwrap();
    assert_eq!(s.count_sharing_grant(&ids[0], "u1").await.unwrap(), 0);
}

/// Key rotation: every credentials row and PKCE verifier moves to the current key, in batches,
/// and the old key is no longer needed afterwards.
async fn reseal_moves_every_secret_to_the_current_key(db: TestDb) {
    let old = db.store().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = old
            .insert_connection(new_conn("app", &format!("k{i}")))
            .await
            .unwrap();
        old.put_credentials(&c.id, &oauth(&format!("access-{i}"), Some("r"), None))
            .await
            .unwrap();
        ids.push(c.id);
    }
    let st = old
        .create_oauth_state(&state(
            "app",
            "k0",
            "verifier",
            Utc::now() + chrono::Duration::minutes(5),
        ))
        .await
        .unwrap();
    let new_key = Cipher::generate_key_base64();
    let rotated = db
        .store_with(Cipher::from_base64(&new_key, &[&db.key]).unwrap())
        .await;
    let first = rotated.reseal_batch(2).await.unwrap();
    assert_eq!(first.resealed, 3, "2 credentials + 1 state");
    assert_eq!(first.remaining, 3);
    let mut total = first.resealed;
    loop {
        let p = rotated.reseal_batch(2).await.unwrap();
        total += p.resealed;
        if p.remaining == 0 {
            break;
        }
    }
    assert_eq!(total, 6);
    assert_eq!(rotated.reseal_batch(10).await.unwrap().resealed, 0);
    // The new key alone opens everything now; versions are unchanged.
    let only_new = db
        .store_with(Cipher::from_base64(&new_key, &[]).unwrap())
        .await;
    for (i, id) in ids.iter().enumerate() {
        let c = only_new.get_credentials(id).await.unwrap().unwrap();
        assert_eq!(access_of(&c), format!("access-{i}"));
        assert_eq!(c.version, 1);
    }
    let taken = only_new
        .take_oauth_state(&st, Some(&browser()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.pkce_verifier.expose_secret(), "verifier");
    // Without the old key in the ring, unsealable rows are an error naming no secret.
    let c = old
        .insert_connection(new_conn("app", "late"))
        .await
        .unwrap();
    old.put_credentials(&c.id, &oauth("late", None, None))
        .await
        .unwrap();
    let e = only_new.reseal_batch(10).await.unwrap_err();
    assert!(matches!(e, StoreError::Crypto(_)), "{e}");
}

/// A holder that died leaves its lease behind; once it expires the next refresh takes it over
/// (here the lease row is aged by hand instead of waiting a minute).
async fn expired_refresh_lease_is_taken_over(db: TestDb) {
    let s = db.store().await;
    let c = s
        .insert_connection(new_conn("app", "crashed"))
        .await
        .unwrap();
    s.put_credentials(&c.id, &oauth("expired", Some("r1"), Some(Utc::now())))
        .await
        .unwrap();
    match &db.backend {
        Backend::Sqlite { path, .. } => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO refresh_leases VALUES (?1, 'dead', '2000-01-01T00:00:00.000000Z')",
            )
            .bind(&c.id)
            .execute(&pool)
            .await
            .unwrap();
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query(
                "INSERT INTO refresh_leases VALUES ($1, 'dead', now() - interval '1 hour')",
            )
            .bind(&c.id)
            .execute(&pool)
            .await
            .unwrap();
        }
    }
    let got = tokio::time::timeout(
        Duration::from_secs(5),
        s.with_refresh_lock(
            &c.id,
            refresh_fn(|_| async { Ok(RefreshDecision::Replace(oauth("taken-over", None, None))) }),
        ),
    )
    .await
    .expect("an expired lease is taken over at once")
    .unwrap();
    assert_eq!(access_of(&got), "taken-over");
}

async fn observations_keep_first_seen_and_move_only_on_change(db: TestDb) {
    let store = db.store().await;
    let conn = store
        .insert_connection(new_conn("dialpad", "obs"))
        .await
        .unwrap();
    let recs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert!(store
        .observe_records(&conn.id, "genericContact", &[])
        .await
        .unwrap()
        .is_empty());
    let first = store
        .observe_records(&conn.id, "genericContact", &recs(&[("a", "1"), ("b", "1")]))
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    for o in &first {
        assert_eq!(
            o.first_seen, o.last_changed,
            "a first sighting is the first change"
        );
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Seen again: `a` unchanged, `b` changed, `c` new; answered in input order, duplicates once.
    let again = store
        .observe_records(
            &conn.id,
            "genericContact",
            &recs(&[("c", "1"), ("a", "1"), ("b", "2"), ("b", "2")]),
        )
        .await
        .unwrap();
    assert_eq!(again.len(), 4);
    let (c, a, b) = (again[0], again[1], again[2]);
    assert_eq!(a, first[0], "unchanged: both times kept");
    assert_eq!(b.first_seen, first[1].first_seen);
    assert!(
        b.last_changed > first[1].last_changed,
        "changed: last_changed moves"
    );
    assert!(c.first_seen > first[0].first_seen);
    assert_eq!(again[3], b);
    // Per model and per connection.
    let other = store
        .observe_records(&conn.id, "genericWorkspace", &recs(&[("a", "1")]))
        .await
        .unwrap();
    assert!(other[0].first_seen > first[0].first_seen);
    // 100 records in one call (a full page) works on both backends.
    let many: Vec<(String, String)> = (0..100)
        .map(|i| (format!("r{i}"), "f".to_owned()))
        .collect();
    assert_eq!(
        store
            .observe_records(&conn.id, "genericContact", &many)
            .await
            .unwrap()
            .len(),
        100
    );
    // Deleting the connection deletes its observations (no error, nothing left behind).
    store.delete_connection("dialpad", "obs").await.unwrap();
    let conn = store
        .insert_connection(new_conn("dialpad", "obs"))
        .await
        .unwrap();
    let fresh = store
        .observe_records(&conn.id, "genericContact", &recs(&[("a", "1")]))
        .await
        .unwrap();
    assert!(fresh[0].first_seen > first[0].first_seen);
}

async fn field_mappings_put_get_delete(db: TestDb) {
    let store = db.store().await;
    let conn = store
        .insert_connection(new_conn("dialpad", "fm"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_field_mappings(&conn.id, "telephonyCall")
            .await
            .unwrap(),
        None
    );
    store
        .put_field_mappings(&conn.id, "telephonyCall", "[1]")
        .await
        .unwrap();
    store
        .put_field_mappings(&conn.id, "telephonyCall", "[2]")
        .await
        .unwrap();
    store
        .put_field_mappings(&conn.id, "genericContact", "[3]")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_field_mappings(&conn.id, "telephonyCall")
            .await
            .unwrap()
            .as_deref(),
        Some("[2]")
    );
    assert!(store
        .delete_field_mappings(&conn.id, "telephonyCall")
        .await
        .unwrap());
    assert!(!store
        .delete_field_mappings(&conn.id, "telephonyCall")
        .await
        .unwrap());
    assert_eq!(
        store
            .get_field_mappings(&conn.id, "genericContact")
            .await
            .unwrap()
            .as_deref(),
        Some("[3]")
    );
    store.delete_connection("dialpad", "fm").await.unwrap();
    let conn2 = store
        .insert_connection(new_conn("dialpad", "fm"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_field_mappings(&conn2.id, "genericContact")
            .await
            .unwrap(),
        None
    );
    // Unknown connection: the foreign key refuses it.
    assert!(store
        .put_field_mappings("nope", "genericContact", "[]")
        .await
        .is_err());
}
