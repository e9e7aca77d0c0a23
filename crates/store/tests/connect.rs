//! `connect` picks the backend from the URL and reports configuration problems clearly,
//! without echoing secrets.

use dpc_store::{connect, Cipher, NewConnection, PgStore, SqliteStore, Store, StoreError};

fn cipher() -> Cipher {
    Cipher::from_base64(&Cipher::generate_key_base64(), &[]).unwrap()
}

#[tokio::test]
async fn unknown_scheme_is_a_config_error() {
    for url in ["mysql://u:hunter2@h/db", "", "/tmp/x.db"] {
        match connect(url, cipher()).await {
            Err(StoreError::Config(m)) => assert!(!m.contains("hunter2"), "{m}"),
            Err(e) => panic!("{url}: expected Config, got {e}"),
            Ok(_) => panic!("{url}: expected Config"),
        }
    }
}

#[tokio::test]
async fn sqlite_url_forms() {
    let dir = tempfile::tempdir().unwrap();
    let a = format!("sqlite:{}", dir.path().join("a.db").display());
    let b = format!("sqlite://{}", dir.path().join("nested-b.db").display());
    for url in [a.as_str(), b.as_str(), "sqlite::memory:"] {
        let s = connect(url, cipher())
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        s.migrate().await.unwrap();
        s.insert_connection(NewConnection {
            connector_id: "app".into(),
            owner_id: "o".into(),
            operations: vec![],
        })
        .await
        .unwrap();
        assert!(
            s.get_connection("app", "o").await.unwrap().is_some(),
            "{url}"
        );
    }
    assert!(dir.path().join("a.db").exists());
    assert!(dir.path().join("nested-b.db").exists());
    // The concrete type is usable directly too.
    let s = SqliteStore::connect("sqlite::memory:", cipher())
        .await
        .unwrap();
    s.migrate().await.unwrap();
    assert!(!format!("{s:?}").is_empty());
}

#[tokio::test]
async fn unreachable_postgres_is_a_config_error_without_the_password() {
    // Port 1 on localhost: nothing listens there.
    let url = "postgresql://dpc:hunter2@127.0.0.1:1/db?connect_timeout=2";
    match PgStore::connect(url, cipher()).await {
        Err(StoreError::Config(m)) => assert!(!m.contains("hunter2"), "{m}"),
        Err(e) => panic!("expected Config, got {e}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[tokio::test]
async fn postgresql_scheme_connects() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("TEST_DATABASE_URL not set: skipped");
        return;
    };
    let url = url.replacen("postgres://", "postgresql://", 1);
    let s = connect(&url, cipher())
        .await
        .expect("TEST_DATABASE_URL set but unreachable");
    // Only reads: this is the admin database, not a throwaway one.
    let _ = s.list_api_keys().await;
}
