//! Lists 10,000 calls through the client against the rate-limited simulator
//! and reports how close the paced client gets to Dialpad's company limit
//! (20 requests/s) and how many 429s it receives.
//!
//! `cargo bench -p dialpad --bench list_calls` (env: `BENCH_CALLS`, default
//! 10000; `BENCH_MARGINS`, comma-separated safety margins to run, default
//! `0.95,0.98` (0.95 is the client's default); `BENCH_BASELINE=0` skips the
//! unpaced comparison run).

use std::time::{Duration, Instant};

use dialpad::{BaseUrl, Client, RateLimits};
use dialpad_sim::{SimConfig, SimHandle};

const PAGE: u32 = 100;
const COMPANY_RATE: f64 = 20.0;
const COMPANY_BURST: f64 = 20.0;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A rate-limited simulator holding exactly `total` concluded calls (the
/// seed's ≈400 plus copies with fresh ids).
async fn sim_with_calls(total: usize) -> SimHandle {
    let handle = dialpad_sim::spawn(SimConfig {
        rate_limit: true,
        ..Default::default()
    })
    .await
    .expect("simulator");
    {
        let mut db = handle.sim.db().write();
        let concluded = db.calls.values().filter(|c| c.date_ended.is_some()).count();
        let template = db
            .calls
            .values()
            .find(|c| c.date_ended.is_some())
            .cloned()
            .expect("seeded calls");
        let first = db.calls.keys().max().copied().unwrap_or(0) + 1;
        let start = template.date_started.unwrap_or(1_700_000_000_000);
        for i in 0..total.saturating_sub(concluded) as i64 {
            let mut c = template.clone();
            c.call_id = first + i;
            c.date_started = Some(start - i * 1000);
            db.calls.insert(first + i, c);
        }
    }
    handle
}

struct Run {
    items: usize,
    requests: usize,
    elapsed: Duration,
    /// Completion time of each page request, from the start.
    done_at: Vec<Duration>,
}

/// Pages through every call, one request at a time (cursor pagination is
/// sequential by nature).
async fn list_all(client: &Client) -> Run {
    let started = Instant::now();
    let mut done_at = Vec::new();
    let mut items = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut req = client.calls().list().limit(PAGE);
        if let Some(c) = &cursor {
            req = req.cursor(c.clone());
        }
        let page = req.send().await.expect("page");
        done_at.push(started.elapsed());
        items += page.items.len();
        match page.cursor {
            Some(c) if !c.is_empty() && Some(&c) != cursor.as_ref() => cursor = Some(c),
            _ => break,
        }
    }
    Run {
        items,
        requests: done_at.len(),
        elapsed: started.elapsed(),
        done_at,
    }
}

fn report(label: &str, run: &Run, sim: &SimHandle, client: &Client) {
    let n = run.requests as f64;
    let secs = run.elapsed.as_secs_f64();
    let rate = n / secs;
    // Fastest the simulator (Dialpad's GCRA: burst 20, then 20/s) admits n requests.
    let ideal = ((n - COMPANY_BURST) / COMPANY_RATE).max(0.0);
    // Sustained rate after the initial burst (pages 21..n).
    let sustained = if run.done_at.len() > 21 {
        let span = run.done_at[run.done_at.len() - 1] - run.done_at[20];
        (run.done_at.len() - 21) as f64 / span.as_secs_f64()
    } else {
        f64::NAN
    };
    let stats = sim.stats();
    let m = client.metrics();
    println!("== {label}");
    println!(
        "   {} calls in {} requests ({}/page) in {:.2} s",
        run.items, run.requests, PAGE, secs
    );
    println!(
        "   {:.2} req/s = {:.3} x 20 req/s (incl. initial burst)",
        rate,
        rate / COMPANY_RATE
    );
    println!(
        "   sustained after the burst: {:.2} req/s = {:.3} x 20 req/s",
        sustained,
        sustained / COMPANY_RATE
    );
    println!(
        "   vs. fastest the limit admits ({:.2} s for {} requests): {:.3}",
        ideal,
        run.requests,
        ideal / secs
    );
    println!(
        "   429s: simulator sent {}, client received {}; client paced {} requests ({:.2} s waiting), retries {}",
        stats.rate_limited,
        m.throttled_429s,
        m.rate_limit_waits,
        m.rate_limit_wait_time.as_secs_f64(),
        m.retries
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total: usize = env("BENCH_CALLS", 10_000);
    let margins: Vec<f64> = std::env::var("BENCH_MARGINS")
        .unwrap_or_else(|_| "0.95,0.98".to_owned())
        .split(',')
        .filter_map(|m| m.trim().parse().ok())
        .collect();

    for margin in margins {
        let sim = sim_with_calls(total).await;
        let client = Client::builder()
            .base_url(BaseUrl::custom(&sim.base_url).expect("url"))
            .api_key(sim.api_key.clone())
            .rate_limits(RateLimits::dialpad().margin(margin))
            .build()
            .expect("client");
        let run = list_all(&client).await;
        assert_eq!(run.items, total);
        report(
            &format!("paced client (margin {margin}), rate-limited simulator"),
            &run,
            &sim,
            &client,
        );
    }

    if env("BENCH_BASELINE", 1) != 0 {
        let sim = sim_with_calls(total).await;
        let client = Client::builder()
            .base_url(BaseUrl::custom(&sim.base_url).expect("url"))
            .api_key(sim.api_key.clone())
            .no_rate_limit()
            .build()
            .expect("client");
        let run = list_all(&client).await;
        assert_eq!(run.items, total);
        report(
            "baseline: no pacing (429s retried after Retry-After)",
            &run,
            &sim,
            &client,
        );
    }
}
