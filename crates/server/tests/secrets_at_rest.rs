//! Secrets never in plaintext at rest, end to end: after a full OAuth connection (consent,
//! callback, a proxied call, an expired token refreshed with rotation) and an API-key connection,
//! the raw database holds none of the access tokens or refresh tokens the simulator issued, the
//! Dialpad API key, our `sk_` key or the OAuth client secret, neither as text nor hex- or
//! base64-encoded. SQLite: the raw bytes of the database file and its `-wal`/`-shm` files.
//! PostgreSQL (when `TEST_DATABASE_URL` is set, a fresh database): every row of every table as
//! JSON text.

#[path = "js/harness.rs"]
mod harness;

use base64::Engine as _;
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeSet;

/// Every token the simulator has issued so far (it forgets rotated ones, so collect often).
fn sim_tokens(app: &harness::App, into: &mut BTreeSet<String>) {
    let db = app.sim.sim.db().read();
    into.extend(db.oauth.access_tokens.keys().cloned());
    into.extend(db.oauth.refresh_tokens.keys().cloned());
    into.extend(
        db.oauth
            .access_tokens
            .values()
            .filter_map(|t| t.refresh_token.clone()),
    );
}

async fn proxy_ok(app: &harness::App, owner: &str) {
    let r = app
        .call(Method::GET, "/v1/proxy/api/v2/company")
        .header("x-connector-id", "dialpad")
        .header("x-owner-id", owner)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "proxy for {owner}: {}",
        r.text().await.unwrap()
    );
}

/// Connects both kinds of connection; returns every secret that must not be at rest.
async fn exercise(app: &harness::App) -> Vec<(String, String)> {
    let mut tokens = BTreeSet::new();
    // OAuth: create → authorize → (auto) consent → callback.
    let r = app
        .call(Method::POST, "/v1/connections/dialpad/oauth-owner")
        .json(&json!({"operations": ["telephonyCall::list", "genericUser::retrieve"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .call(
            Method::POST,
            "/v1/connections/dialpad/oauth-owner/authorization",
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let url = v["authorizationUrl"].as_str().expect("authorizationUrl");
    let r = app.http.get(url).send().await.unwrap();
    let callback = r.headers()["location"].to_str().unwrap().to_owned();
    sim_tokens(app, &mut tokens);
    let r = app.http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.status("oauth-owner").await, "authorized");
    sim_tokens(app, &mut tokens);
    proxy_ok(app, "oauth-owner").await;
    // Expire the access token: the next call refreshes (and the refresh token rotates).
    let r = app
        .http
        .post(format!("{}/_sim/tokens/expire", app.sim.base_url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    proxy_ok(app, "oauth-owner").await;
    sim_tokens(app, &mut tokens);
    assert!(
        app.sim.stats().tokens_refreshed >= 1,
        "no refresh happened: {:?}",
        app.sim.stats()
    );
    assert!(
        tokens.len() >= 4,
        "expected 2 access + 2 refresh tokens: {tokens:?}"
    );

    // API key connection.
    let r = app
        .call(Method::POST, "/v1/connections/dialpad/key-owner")
        .json(&json!({"operations": ["genericUser::retrieve"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .call(Method::PUT, "/v1/connections/dialpad/key-owner/api-key")
        .json(&json!({"apiKey": app.dialpad_api_key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "put api key: {}", r.text().await.unwrap());
    proxy_ok(app, "key-owner").await;

    let mut secrets: Vec<(String, String)> = tokens
        .into_iter()
        .map(|t| ("an OAuth token issued by Dialpad".to_owned(), t))
        .collect();
    secrets.push(("the Dialpad API key".into(), app.dialpad_api_key.clone()));
    secrets.push(("our sk_ API key".into(), app.api_key.clone()));
    secrets.push(("the OAuth client secret".into(), app.client_secret.clone()));
    secrets
}

fn hex(b: &[u8], upper: bool) -> String {
    b.iter()
        .map(|x| {
            if upper {
                format!("{x:02X}")
            } else {
                format!("{x:02x}")
            }
        })
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Panics naming the secret (not printing it) when `hay` holds it in any encoding.
fn assert_absent(what: &str, hay: &[u8], secrets: &[(String, String)]) {
    for (kind, s) in secrets {
        let b = s.as_bytes();
        let forms = [
            ("plaintext", b.to_vec()),
            ("hex", hex(b, false).into_bytes()),
            ("HEX", hex(b, true).into_bytes()),
            (
                "base64",
                base64::engine::general_purpose::STANDARD
                    .encode(b)
                    .trim_end_matches('=')
                    .as_bytes()
                    .to_vec(),
            ),
            (
                "base64url",
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(b)
                    .into_bytes(),
            ),
        ];
        for (enc, form) in forms {
            assert!(
                !contains(hay, &form),
                "{what} holds {kind} ({} chars, starts {:?}) as {enc}",
                s.len(),
                &s[..6.min(s.len())]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_holds_no_secret() {
    let app = harness::spawn(true).await;
    let secrets = exercise(&app).await;
    let db = app.sqlite_path.clone().expect("SQLite");
    let mut bytes = Vec::new();
    let mut files = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        if let Ok(b) = std::fs::read(&p) {
            files.push(format!("{} ({} bytes)", p.display(), b.len()));
            bytes.extend_from_slice(&b);
        }
    }
    eprintln!("read {files:?}");
    // The search looks at the right data: the connections' owner ids are there in clear.
    assert!(
        contains(&bytes, b"oauth-owner") && contains(&bytes, b"key-owner"),
        "{files:?}"
    );
    assert_absent("the SQLite files", &bytes, &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rows_hold_no_secret() {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("TEST_DATABASE_URL not set: PostgreSQL part skipped");
        return;
    };
    use sqlx::Connection as _;
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("TEST_DATABASE_URL is set but PostgreSQL is unreachable");
    let name = format!(
        "dpc_secrets_{}",
        dpc_store::Cipher::generate_key_base64()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect::<String>()
            .to_ascii_lowercase()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));

    let outcome = tokio::spawn({
        let url = url.to_string();
        async move {
            let app = harness::spawn_on(true, Some(url.clone())).await;
            let secrets = exercise(&app).await;
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
            let tables: Vec<(String, String)> = sqlx::query_as(
                "SELECT table_schema, table_name FROM information_schema.tables \
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
                 AND table_type = 'BASE TABLE'",
            )
            .fetch_all(&mut conn)
            .await
            .expect("list tables");
            assert!(!tables.is_empty());
            let mut dump = String::new();
            for (schema, table) in &tables {
                let rows: Vec<(String,)> = sqlx::query_as(&format!(
                    "SELECT row_to_json(t)::text FROM \"{schema}\".\"{table}\" t"
                ))
                .fetch_all(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("dump {schema}.{table}: {e}"));
                for (r,) in rows {
                    dump.push_str(&r);
                    dump.push('\n');
                }
            }
            eprintln!("dumped {} tables, {} bytes", tables.len(), dump.len());
            assert!(
                dump.contains("oauth-owner") && dump.contains("key-owner"),
                "the dump misses the connections: {tables:?}"
            );
            assert_absent("the PostgreSQL rows", dump.as_bytes(), &secrets);
        }
    })
    .await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
