//! Connection limits through the real server over raw TCP: unfinished headers and stalled
//! bodies are cut off, a slow answer becomes a JSON 504, keep-alive still works, the connection
//! cap holds, and shutdown lets an in-flight request finish.
//!
//! The timeouts are set small (300–500 ms) and every assertion allows seconds: these tests check
//! that something happens, not how fast.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app_with_env, TestApp};

/// Far above every timeout these tests set: "closed within" means "well before this".
const GENEROUS: Duration = Duration::from_secs(5);

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.addr).await.unwrap()
}

/// Reads until the server closes the connection or `within` passes: what arrived, and whether
/// the connection was closed (end of stream or reset).
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return (got, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// One HTTP/1.1 response (with a `content-length`) read off `s` within `within`: status, the
/// head in lower case, and the body; `None` if it did not arrive whole in time. The answer to
/// `request` (`"GET /healthz"`) is checked against `openapi.json`, as the tests' client does.
async fn read_response(
    s: &mut TcpStream,
    request: &str,
    within: Duration,
) -> Option<(u16, String, Vec<u8>)> {
    let answer = read_raw_response(s, within).await?;
    let (method, path) = request.split_once(' ').unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    for line in answer.1.lines().skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            headers.append(
                reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
                v.trim().parse().unwrap(),
            );
        }
    }
    let x = crate::checked::Exchange {
        method: &Method::from_bytes(method.as_bytes()).unwrap(),
        path,
        request_headers: &reqwest::header::HeaderMap::new(),
        status: StatusCode::from_u16(answer.0).unwrap(),
        headers: &headers,
        body: &answer.2,
    };
    if let Err(e) = crate::checked::document().check(&x) {
        panic!("an answer that does not match openapi.json: {e}");
    }
    Some(answer)
}

async fn read_raw_response(s: &mut TcpStream, within: Duration) -> Option<(u16, String, Vec<u8>)> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let status = head.get(9..12)?.parse().ok()?;
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())?;
            if got.len() >= end + 4 + length {
                return Some((status, head, got[end + 4..end + 4 + length].to_vec()));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

#[tokio::test]
async fn unfinished_headers_are_cut_off_after_the_header_read_timeout() {
    let app = spawn_app_with_env(&[("DPC_HEADER_READ_TIMEOUT_MS", "300")]).await;

    // A request line and one header, then nothing: slowloris.
    let mut s = connect(&app).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let (got, closed) = read_until_closed(&mut s, GENEROUS).await;
    assert!(
        closed,
        "still open after {GENEROUS:?} with unfinished headers"
    );
    assert!(started.elapsed() < GENEROUS);
    assert!(
        !String::from_utf8_lossy(&got).contains("\"status\":\"ok\""),
        "an unfinished request was served"
    );

    // A client that connects and sends nothing at all is closed the same way.
    let mut silent = connect(&app).await;
    let (_, closed) = read_until_closed(&mut silent, GENEROUS).await;
    assert!(
        closed,
        "a silent connection is still open after {GENEROUS:?}"
    );

    // The server is fine afterwards.
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_stalled_body_gets_408_request_timeout() {
    let app = spawn_app_with_env(&[("DPC_BODY_READ_TIMEOUT_MS", "300")]).await;

    // Content-Length: 100, 10 bytes sent, then nothing.
    let mut s = connect(&app).await;
    let head = format!(
        "POST /v1/connections/dialpad/slow HTTP/1.1\r\nHost: test\r\nx-api-secret: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        app.api_key
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(b"{\"operatio").await.unwrap();
    let (status, _, body) = read_response(&mut s, "POST /v1/connections/dialpad/slow", GENEROUS)
        .await
        .expect("an answer to the stalled body");
    assert_eq!(status, 408);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "REQUEST::TIMEOUT", "{v}");
    assert!(v["message"].as_str().unwrap().contains("body"), "{v}");
    // The rest of that body never came, so the connection cannot carry another request.
    let (_, closed) = read_until_closed(&mut s, GENEROUS).await;
    assert!(closed, "connection kept open after an unread body");

    // The connect page's form (HTML, not JSON) says so too instead of "invalid link".
    let mut s = connect(&app).await;
    s.write_all(
        b"POST /connect/authorize HTTP/1.1\r\nHost: test\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nsession=sx",
    )
    .await
    .unwrap();
    let (status, _, body) = read_response(&mut s, "POST /connect/authorize", GENEROUS)
        .await
        .expect("an answer to the stalled form");
    assert_eq!(status, 408);
    assert!(String::from_utf8_lossy(&body).contains("REQUEST::TIMEOUT"));

    // Nothing was created, and a body sent at a normal pace is accepted.
    let r = app.get("/v1/connections/dialpad/slow").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.create_connection("quick", &["genericUser::retrieve"])
        .await;
}

#[tokio::test]
async fn a_slow_answer_becomes_504_server_timeout() {
    let app = spawn_app_with_env(&[("DPC_REQUEST_TIMEOUT_MS", "500")]).await;
    app.connect("acme", &["genericUser::retrieve"]).await;

    // Dialpad takes 3 s to answer: longer than the request timeout.
    let r = app
        .http
        .post(format!("{}/_sim/faults", app.sim.base_url))
        .json(&json!({"path": "/api/v2/users/me", "latency_ms": 3000}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let started = Instant::now();
    let r = app.proxy("acme", Method::GET, "/api/v2/users/me").await;
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "SERVER::TIMEOUT", "{v}");
    assert!(v["message"].as_str().unwrap().contains("500 ms"), "{v}");

    // Without the delay the same call goes through.
    let r = app
        .http
        .delete(format!("{}/_sim/faults", app.sim.base_url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = app.proxy("acme", Method::GET, "/api/v2/users/me").await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// A stand-in for Dialpad whose `/api/v2/slow` sends its headers at once and its body in three
/// chunks over about 1.2 s (`/api/v2/company` accepts any API key).
async fn slow_streaming_upstream() -> String {
    use axum::body::{Body, Bytes};
    use axum::routing::get;
    let slow = || async {
        let chunks = futures::stream::unfold(0u8, |i| async move {
            if i == 3 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
            Some((
                Ok::<_, std::io::Error>(Bytes::from(format!("chunk{i};"))),
                i + 1,
            ))
        });
        Body::from_stream(chunks)
    };
    let app = axum::Router::new()
        .route(
            "/api/v2/company",
            get(|| async { axum::Json(json!({"name": "Acme"})) }),
        )
        .route("/api/v2/slow", get(slow));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_streamed_proxy_body_outlives_the_request_timeout() {
    let upstream = slow_streaming_upstream().await;
    let app = spawn_app_with_env(&[
        ("DPC_REQUEST_TIMEOUT_MS", "500"),
        ("DPC_DIALPAD_BASE_URL", &upstream),
    ])
    .await;
    app.create_connection("acme", &["genericUser::retrieve"])
        .await;
    let r = app
        .http
        .put(app.url("/v1/connections/dialpad/acme/api-key"))
        .header("x-api-secret", &app.api_key)
        .json(&json!({"apiKey": "dialpad-key"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Headers well within the timeout, the whole body after more than twice it.
    let started = Instant::now();
    let r = app.proxy("acme", Method::GET, "/api/v2/slow").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "chunk0;chunk1;chunk2;");
    assert!(started.elapsed() > Duration::from_millis(1000));
}

#[tokio::test]
async fn keep_alive_serves_several_requests_then_an_idle_connection_closes() {
    let app = spawn_app_with_env(&[("DPC_HEADER_READ_TIMEOUT_MS", "300")]).await;

    let mut s = connect(&app).await;
    for i in 0..3 {
        s.write_all(HEALTHZ).await.unwrap();
        let (status, head, body) = read_response(&mut s, "GET /healthz", GENEROUS)
            .await
            .unwrap_or_else(|| panic!("request {i} on the kept-alive connection unanswered"));
        assert_eq!(status, 200);
        assert!(!head.contains("connection: close"), "{head}");
        assert_eq!(body, br#"{"status":"ok"}"#);
    }
    // Idle longer than the header read timeout: hyper's one timer also ends idle keep-alive.
    let (_, closed) = read_until_closed(&mut s, GENEROUS).await;
    assert!(closed, "an idle keep-alive connection is still open");
}

#[tokio::test]
async fn the_connection_cap_holds_until_a_connection_closes() {
    let app = spawn_app_with_env(&[
        ("DPC_MAX_CONNECTIONS", "2"),
        // Long, so that the two idle connections below are not closed by it during the test.
        ("DPC_HEADER_READ_TIMEOUT_MS", "60000"),
    ])
    .await;

    // Two connections, each served once (so both are accepted and hold their slot).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = connect(&app).await;
        s.write_all(HEALTHZ).await.unwrap();
        let (status, _, _) = read_response(&mut s, "GET /healthz", GENEROUS)
            .await
            .unwrap();
        assert_eq!(status, 200);
        held.push(s);
    }

    // A third connects (the kernel queues it) but is not served while both are open.
    let mut third = connect(&app).await;
    third.write_all(HEALTHZ).await.unwrap();
    assert!(
        read_response(&mut third, "GET /healthz", Duration::from_millis(1000))
            .await
            .is_none(),
        "a third connection was served with a cap of 2"
    );

    // One closes: the third is served.
    drop(held.remove(0));
    let (status, _, body) = read_response(&mut third, "GET /healthz", GENEROUS)
        .await
        .expect("the third connection served once a slot freed");
    assert_eq!(status, 200);
    assert_eq!(body, br#"{"status":"ok"}"#);
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish_and_stops_accepting() {
    let mut app = spawn_app_with_env(&[]).await;

    // A request whose body is still arriving when the shutdown starts.
    let body = br#"{"operations":["genericUser::retrieve"]}"#;
    let mut s = connect(&app).await;
    let head = format!(
        "POST /v1/connections/dialpad/late HTTP/1.1\r\nHost: test\r\nx-api-secret: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.api_key,
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let _ = app.shutdown.take().unwrap().send(());
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.write_all(&body[10..]).await.unwrap();
    let (status, head, _) = read_response(&mut s, "POST /v1/connections/dialpad/late", GENEROUS)
        .await
        .expect("the in-flight request answered after the shutdown started");
    assert_eq!(status, 201, "{head}");
    let (_, closed) = read_until_closed(&mut s, GENEROUS).await;
    assert!(closed, "connection kept open after shutdown");

    // No new connections once shut down.
    assert!(TcpStream::connect(app.addr).await.is_err());
}
