//! End-to-end tests of the request path against a tiny scripted HTTP/1.1
//! server (no simulator needed): auth injection, 401 refresh-and-retry,
//! error mapping, cursor streaming, raw passthrough, OAuth form bodies.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::{Auth, BaseUrl, Client, Error, TokenProvider};

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
}

fn reply(status: u16, body: &'static str) -> Reply {
    Reply {
        status,
        headers: vec![("content-type", "application/json")],
        body,
    }
}

/// Serves `replies` in order, one per connection, recording each request.
async fn serve(replies: Vec<Reply>) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    tokio::spawn(async move {
        for r in replies {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let header_end = loop {
                let n = sock.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break buf.len();
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break p + 4;
                }
            };
            let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
            let mut lines = head.split("\r\n");
            let mut first = lines.next().unwrap_or_default().split(' ');
            let method = first.next().unwrap_or_default().to_owned();
            let target = first.next().unwrap_or_default().to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = buf[header_end..].to_vec();
            while body.len() < len {
                let n = sock.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            log2.lock().unwrap().push(Recorded {
                method,
                target,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let mut out = format!("HTTP/1.1 {} X\r\nconnection: close\r\n", r.status);
            for (k, v) in &r.headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str(&format!(
                "content-length: {}\r\n\r\n{}",
                r.body.len(),
                r.body
            ));
            sock.write_all(out.as_bytes()).await.unwrap();
            sock.shutdown().await.ok();
        }
    });
    (format!("http://{addr}"), log)
}

fn client(url: &str, auth: Auth) -> Client {
    Client::builder()
        .base_url(BaseUrl::custom(url).unwrap())
        .auth(auth)
        .build()
        .unwrap()
}

struct Rotating {
    seen_rejected: Mutex<Vec<String>>,
    fresh: Option<&'static str>,
}

#[async_trait]
impl TokenProvider for Rotating {
    async fn access_token(&self) -> Result<SecretString, Error> {
        Ok(SecretString::from("old"))
    }
    async fn on_unauthorized(
        &self,
        rejected: &SecretString,
    ) -> Result<Option<SecretString>, Error> {
        self.seen_rejected
            .lock()
            .unwrap()
            .push(rejected.expose_secret().to_owned());
        Ok(self.fresh.map(SecretString::from))
    }
}

#[tokio::test]
async fn api_key_is_sent_and_404_maps_to_api_error() {
    let (url, log) = serve(vec![reply(
        404,
        r#"{"error":{"code":404,"errors":[{"domain":"global","message":"nope","reason":"notFound"}],"message":"nope"}}"#,
    )])
    .await;
    let c = client(&url, Auth::api_key("k123"));
    let err = c.contacts().get("a/b").await.unwrap_err();
    assert!(
        matches!(&err, Error::Api { reason: Some(r), .. } if r == "notFound"),
        "{err:?}"
    );
    let req = log.lock().unwrap()[0].clone();
    assert_eq!(req.method, "GET");
    assert_eq!(req.target, "/api/v2/contacts/a%2Fb");
    assert_eq!(req.header("authorization"), Some("Bearer k123"));
    assert!(req.header("user-agent").unwrap().starts_with("dialpad-rs/"));
    assert!(!format!("{err}").contains("k123"));
}

#[tokio::test]
async fn unauthorized_refreshes_once_and_retries() {
    let (url, log) = serve(vec![
        reply(401, r#"{"error":{"code":401,"message":"expired"}}"#),
        reply(200, r#"{"id":"5734470963462144","state":"active"}"#),
    ])
    .await;
    let p = Arc::new(Rotating {
        seen_rejected: Mutex::new(vec![]),
        fresh: Some("new"),
    });
    let c = client(&url, Auth::Provider(p.clone()));
    let me = c.users().me().await.unwrap();
    assert_eq!(me.id, Some(5734470963462144));
    assert_eq!(*p.seen_rejected.lock().unwrap(), vec!["old".to_owned()]);
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].header("authorization"), Some("Bearer old"));
    assert_eq!(log[1].header("authorization"), Some("Bearer new"));
    assert_eq!(log[1].target, "/api/v2/users/me");
}

#[tokio::test]
async fn unauthorized_without_fresh_token_is_error() {
    let (url, log) = serve(vec![reply(401, "Unauthorized")]).await;
    let p = Rotating {
        seen_rejected: Mutex::new(vec![]),
        fresh: None,
    };
    let c = client(&url, Auth::provider(p));
    let err = c.company().get().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn rate_limit_and_non_json_errors() {
    let (url, _) = serve(vec![
        Reply {
            status: 429,
            headers: vec![("retry-after", "3")],
            body: "slow down",
        },
        Reply {
            status: 502,
            headers: vec![("content-type", "text/html")],
            body: "<h1>bad gateway</h1>",
        },
        reply(200, r#"{"id":"not-a-number"}"#),
    ])
    .await;
    // Single-shot and unpaced: this test is about error mapping, not
    // retries (nor the 3 s hold-back the 429 would impose on later calls).
    let c = Client::builder()
        .base_url(BaseUrl::custom(&url).unwrap())
        .auth(Auth::api_key("k"))
        .retry_policy(crate::RetryPolicy::none())
        .no_rate_limit()
        .build()
        .unwrap();
    let e = c.offices().get(1).await.unwrap_err();
    assert!(matches!(e, Error::RateLimited { retry_after: Some(d), .. } if d.as_secs() == 3));
    let e = c.offices().get(1).await.unwrap_err();
    assert!(
        matches!(&e, Error::Api { status, .. } if status.as_u16() == 502),
        "{e:?}"
    );
    let e = c.offices().get(1).await.unwrap_err();
    assert!(
        matches!(&e, Error::Decode { path, .. } if path == "/api/v2/offices/1"),
        "{e:?}"
    );
}

#[tokio::test]
async fn stream_follows_cursor_until_absent() {
    let (url, log) = serve(vec![
        reply(
            200,
            r#"{"items":[{"call_id":"1"},{"call_id":2}],"cursor":"c1"}"#,
        ),
        reply(200, r#"{"items":[{"call_id":"3"}],"cursor":null}"#),
    ])
    .await;
    let c = client(&url, Auth::api_key("k"));
    let calls: Vec<_> = c
        .calls()
        .list()
        .started_after_millis(1000)
        .stream()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<_> = calls.iter().map(|c| c.call_id.unwrap()).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    let log = log.lock().unwrap();
    assert_eq!(log[0].target, "/api/v2/call?started_after=1000");
    assert_eq!(log[1].target, "/api/v2/call?started_after=1000&cursor=c1");
}

#[tokio::test]
async fn stream_stops_on_repeated_cursor_and_send_returns_page() {
    let (url, _) = serve(vec![
        reply(200, r#"{"items":[{"id":"1"}],"cursor":"same"}"#),
        reply(200, r#"{"items":[{"id":"2"}],"cursor":"same"}"#),
        reply(200, r#"{"items":[],"cursor":"next"}"#),
    ])
    .await;
    let c = client(&url, Auth::api_key("k"));
    let all: Vec<_> = c.webhooks().list().stream().try_collect().await.unwrap();
    assert_eq!(all.len(), 2);
    let page = c.webhooks().list().send().await.unwrap();
    assert_eq!(page.cursor.as_deref(), Some("next"));
}

#[tokio::test]
async fn raw_passes_status_through_and_streams_body() {
    let (url, log) = serve(vec![Reply {
        status: 500,
        headers: vec![("x-custom", "1")],
        body: "boom",
    }])
    .await;
    let c = client(&url, Auth::api_key("k"));
    let resp = c
        .raw(reqwest::Method::POST, "/api/v2/sms?x=%20")
        .header(
            reqwest::header::AUTHORIZATION,
            reqwest::header::HeaderValue::from_static("Bearer caller"),
        )
        .body(&b"{\"text\":\"hi\"}"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    assert_eq!(resp.headers().get("x-custom").unwrap(), "1");
    let chunks: Vec<_> = resp.into_body_stream().try_collect().await.unwrap();
    assert_eq!(chunks.concat(), b"boom");
    let req = log.lock().unwrap()[0].clone();
    assert_eq!(req.target, "/api/v2/sms?x=%20");
    assert_eq!(req.header("authorization"), Some("Bearer k"));
    assert_eq!(req.body, r#"{"text":"hi"}"#);
}

#[tokio::test]
async fn oauth_token_is_form_without_auth() {
    let (url, log) = serve(vec![reply(
        200,
        r#"{"access_token":"at","refresh_token":"rt","expires_in":3600,"token_type":"bearer"}"#,
    )])
    .await;
    let c = Client::builder()
        .base_url(BaseUrl::custom(&url).unwrap())
        .build()
        .unwrap();
    let t = c
        .oauth()
        .exchange_code(&crate::oauth::AuthorizationCodeGrant {
            code: SecretString::from("the code"),
            redirect_uri: Some("https://app.test/cb".into()),
            client_id: Some("cid".into()),
            client_secret: Some(SecretString::from("cs")),
            code_verifier: Some(SecretString::from("ver")),
        })
        .await
        .unwrap();
    assert_eq!(t.access_token.expose_secret(), "at");
    assert_eq!(t.expires_in, Some(3600));
    let req = log.lock().unwrap()[0].clone();
    assert_eq!(req.target, "/oauth2/token");
    assert_eq!(req.header("authorization"), None);
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        req.body,
        "grant_type=authorization_code&code=the+code&redirect_uri=https%3A%2F%2Fapp.test%2Fcb&client_id=cid&client_secret=cs&code_verifier=ver"
    );
}

#[tokio::test]
async fn channel_member_removal_sends_json_body() {
    let (url, log) = serve(vec![reply(200, "")]).await;
    let c = client(&url, Auth::api_key("k"));
    c.channels().remove_member(10, 20).await.unwrap();
    let req = log.lock().unwrap()[0].clone();
    assert_eq!(req.method, "DELETE");
    assert_eq!(req.target, "/api/v2/channels/10/members");
    assert_eq!(req.body, r#"{"user_id":20}"#);
}

#[tokio::test]
async fn missing_credentials_is_config_error() {
    let c = Client::builder()
        .base_url(BaseUrl::custom("http://127.0.0.1:9").unwrap())
        .build()
        .unwrap();
    let e = c.users().me().await.unwrap_err();
    assert!(matches!(e, Error::Config(_)));
}

#[tokio::test]
async fn observer_sees_every_attempt_by_template() {
    let (url, _) = serve(vec![
        Reply {
            status: 429,
            headers: vec![("retry-after", "0")],
            body: "slow down",
        },
        reply(200, r#"{"id":"1"}"#),
        reply(404, r#"{"error":{"code":404,"message":"nope"}}"#),
    ])
    .await;
    type Seen = Vec<(String, Option<u16>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let log = seen.clone();
    let c = Client::builder()
        .base_url(BaseUrl::custom(&url).unwrap())
        .auth(Auth::api_key("k"))
        .no_rate_limit()
        .observer(Arc::new(move |op: &str, status, _elapsed| {
            log.lock().unwrap().push((op.to_owned(), status));
        }))
        .build()
        .unwrap();
    assert!(format!("{c:?}").contains("observed: true"));
    c.offices().get(4242).await.unwrap();
    let r = c
        .raw(crate::Method::GET, "/api/v2/users/5734470963462144?x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // Nothing listens any more: no answer at all, for each of the 4 attempts (DELETE is
    // idempotent, so it is retried).
    c.raw(crate::Method::DELETE, "/api/v2/nowhere/42")
        .send()
        .await
        .unwrap_err();
    let seen = seen.lock().unwrap().clone();
    let office = "GET /api/v2/offices/{id}".to_owned();
    assert_eq!(
        seen,
        vec![
            (office.clone(), Some(429)),
            (office, Some(200)),
            ("GET /api/v2/users/{id}".to_owned(), Some(404)),
        ]
        .into_iter()
        .chain(std::iter::repeat_n(("DELETE other".to_owned(), None), 4))
        .collect::<Vec<_>>()
    );
}
