//! Politeness and robustness against the real simulator: pacing under
//! Dialpad's rate limits, retries of idempotent requests on 5xx, no repeated
//! POSTs whose outcome is unknown, and `Retry-After` honoured.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dialpad::contacts::CreateContact;
use dialpad::sms::SendSms;
use dialpad::{BaseUrl, Client, Error, Method, RetryPolicy};
use dialpad_sim::{SimConfig, SimHandle};
use serde_json::json;

async fn sim(rate_limit: bool) -> SimHandle {
    dialpad_sim::spawn(SimConfig {
        rate_limit,
        ..Default::default()
    })
    .await
    .expect("simulator")
}

fn builder(sim: &SimHandle) -> dialpad::ClientBuilder {
    Client::builder()
        .base_url(BaseUrl::custom(&sim.base_url).expect("base url"))
        .api_key(sim.api_key.clone())
}

/// Fast retries for tests: same rules, shorter waits.
fn quick_retries() -> RetryPolicy {
    RetryPolicy::default()
        .base_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(40))
}

async fn add_fault(sim: &SimHandle, fault: serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/_sim/faults", sim.base_url))
        .json(&fault)
        .send()
        .await
        .expect("fault request");
    assert!(resp.status().is_success(), "{}", resp.status());
}

fn served(sim: &SimHandle, op: &str) -> u64 {
    sim.stats().requests.get(op).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_100_concurrent_requests_is_paced_without_429s() {
    let sim = sim(true).await;
    // Two clients for the same company share one limiter; clones share it too.
    let a = builder(&sim).build().unwrap();
    let b = builder(&sim)
        .rate_limiter(a.rate_limiter().expect("pacing is on by default"))
        .build()
        .unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let c = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { c.company().get().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("no error reaches the caller");
    }
    let elapsed = started.elapsed();
    let stats = sim.stats();
    let (ma, mb) = (a.metrics(), b.metrics());
    println!(
        "100 concurrent GET /company: {elapsed:?}, simulator 429s: {}, client waits: {}, client 429s: {}",
        stats.rate_limited,
        ma.rate_limit_waits + mb.rate_limit_waits,
        ma.throttled_429s + mb.throttled_429s
    );
    assert_eq!(served(&sim, "GET /api/v2/company"), 100);
    // Pacing prevents 429s (0 in every run so far). A task descheduled for
    // 100+ ms on a loaded machine could in theory bunch up with the next
    // ones, so allow a stray 429 — it is retried, and never reaches the
    // caller either way.
    assert!(stats.rate_limited <= 2, "{} 429s", stats.rate_limited);
    assert_eq!(ma.throttled_429s + mb.throttled_429s, stats.rate_limited);
    // A burst of 19, then 19/s: the other 81 were held back (a few fewer if
    // spawning the tasks took longer than one 53 ms interval).
    let waits = ma.rate_limit_waits + mb.rate_limit_waits;
    assert!((70..=81).contains(&waits), "{waits}");
    assert!(elapsed >= Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_503s_on_gets_are_absorbed() {
    let sim = sim(false).await;
    add_fault(
        &sim,
        json!({"path": "/api/v2/*", "method": "GET", "error_rate": 0.3, "status": 503}),
    )
    .await;
    // 8 attempts: with the default 4, 0.3^4 = 0.8 % of calls would still fail.
    let c = builder(&sim)
        .no_rate_limit()
        .retry_policy(quick_retries().max_attempts(8))
        .build()
        .unwrap();
    const CALLS: u64 = 60;
    for _ in 0..CALLS / 2 {
        c.company().get().await.expect("typed GET succeeds");
        // Raw (proxy) requests follow the same rules and still stream.
        let resp = c.raw(Method::GET, "/api/v2/company").send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(!resp.bytes().await.unwrap().is_empty());
    }
    let sent = served(&sim, "GET /api/v2/company");
    let m = c.metrics();
    println!("{CALLS} GETs at 30 % injected 503s: {sent} requests served, {m:?}");
    assert!(sent > CALLS, "the simulator saw the retries ({sent})");
    assert_eq!(m.retries, sent - CALLS);
    assert_eq!(m.requests_sent, sent);
    assert_eq!(m.gave_up, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_with_unknown_outcome_are_never_repeated() {
    let sim = sim(false).await;
    add_fault(
        &sim,
        json!({"path": "/api/v2/sms", "method": "POST", "error_rate": 1.0, "status": 503}),
    )
    .await;
    add_fault(
        &sim,
        json!({"path": "/api/v2/contacts", "method": "POST", "drop_rate": 1.0}),
    )
    .await;
    let c = builder(&sim).retry_policy(quick_retries()).build().unwrap();
    let contacts_before = sim.sim.db().read().contacts.len();

    for _ in 0..3 {
        let sms = SendSms::text(vec!["+14155550100".into()], "hello");
        let e = c.sms().send(&sms).await.unwrap_err();
        assert!(
            matches!(&e, Error::Api { status, .. } if status.as_u16() == 503),
            "{e:?}"
        );
    }
    // Raw POSTs too: the 503 comes back as a response, sent once.
    let resp = c
        .raw(Method::POST, "/api/v2/sms")
        .body(r#"{"to_numbers":["+14155550100"],"text":"hi"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(served(&sim, "POST /api/v2/sms"), 4, "no SMS POST repeated");

    for i in 0..3 {
        let e = c
            .contacts()
            .create(&CreateContact::new("Drop", format!("Test{i}")))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Transport(_)), "{e:?}");
    }
    let stats = sim.stats();
    assert_eq!(
        served(&sim, "POST /api/v2/contacts"),
        3,
        "no contact POST repeated"
    );
    assert_eq!(stats.connections_dropped, 3);
    // The dropped requests did run: repeating them would have made duplicates.
    assert_eq!(sim.sim.db().read().contacts.len(), contacts_before + 3);

    let m = c.metrics();
    println!("POST faults: {m:?}");
    assert_eq!(m.retries, 0);
    assert_eq!(m.requests_sent, 7);
    assert_eq!(m.not_retried_unsafe, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let sim = sim(true).await;
    // A careless client (no pacing, no retries) exhausts GET /call/{id} (10 per minute).
    let careless = builder(&sim)
        .no_rate_limit()
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let call_id = careless.calls().list().limit(1).send().await.unwrap().items[0]
        .call_id
        .expect("seeded call");
    let mut retry_after = None;
    for _ in 0..11 {
        match careless.calls().get(call_id).await {
            Ok(_) => {}
            Err(Error::RateLimited { retry_after: r, .. }) => {
                retry_after = r;
                break;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    let retry_after = retry_after.expect("the 11th GET /call/{id} is rate limited");
    assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}");

    // A polite client with its own (fresh) limiter gets the 429, waits, gets through.
    let polite = builder(&sim).build().unwrap();
    let started = Instant::now();
    let call = polite.calls().get(call_id).await.expect("gets through");
    let elapsed = started.elapsed();
    assert_eq!(call.call_id, Some(call_id));
    let m = polite.metrics();
    println!("Retry-After {retry_after:?}: got through after {elapsed:?}, {m:?}");
    assert_eq!(m.throttled_429s, 1);
    assert_eq!(m.retries, 1);
    assert!(
        elapsed >= retry_after - Duration::from_millis(50),
        "{elapsed:?}"
    );
    assert!(
        elapsed < retry_after + Duration::from_secs(2),
        "{elapsed:?}"
    );
    assert_eq!(sim.stats().rate_limited, 2);
}

/// Serves `replies` (raw HTTP/1.1 status line + headers, empty body) one
/// per connection and counts the requests.
async fn scripted(replies: Vec<&'static str>) -> (String, std::sync::Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        for head in replies {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            seen.fetch_add(1, Ordering::SeqCst);
            let body = "{}";
            let resp = format!(
                "{head}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(resp.as_bytes()).await.unwrap();
        }
    });
    (url, count)
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_and_a_long_one_is_not_waited_for() {
    let (url, count) = scripted(vec![
        "HTTP/1.1 429 Too Many Requests",
        "HTTP/1.1 200 OK",
        "HTTP/1.1 429 Too Many Requests\r\nretry-after: 120",
    ])
    .await;
    let c = Client::builder()
        .base_url(BaseUrl::custom(&url).unwrap())
        .api_key("k".to_owned())
        .no_rate_limit()
        .retry_policy(quick_retries())
        .build()
        .unwrap();
    // No Retry-After: jittered backoff, then success.
    c.company().get().await.expect("retried after backoff");
    assert_eq!(count.load(Ordering::SeqCst), 2);
    // Retry-After beyond the 30 s budget: returned at once, not slept on.
    let started = Instant::now();
    let e = c.company().get().await.unwrap_err();
    assert!(
        matches!(e, Error::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(120)),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(count.load(Ordering::SeqCst), 3);
    let m = c.metrics();
    assert_eq!((m.throttled_429s, m.retries, m.gave_up), (2, 1, 1));
}
