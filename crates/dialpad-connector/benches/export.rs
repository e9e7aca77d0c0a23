//! Export bench (prints figures; asserts only correctness, never time): the real binary exports
//! 10,000 calls from the simulator with Dialpad's rate limits on, once straight through and once
//! interrupted by SIGINT halfway then resumed. Every call must come out exactly once. The wall
//! time is set against the fastest schedule the client's limiter admits for the pages needed,
//! and the peak RSS of the process is printed (also for 1,000 calls: memory should not grow
//! with the number of records).
//!
//! `cargo bench -p dialpad-connector --bench export`

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialpad_sim::{SimConfig, SimHandle};
use dpc_store::{Cipher, Credentials, Grant, NewConnection, Store};
use secrecy::SecretString;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dialpad-connector");
const SIM_KEY: &str = "sim-api-key";
/// Dialpad's page of calls (the simulator's and the export's page size).
const PAGE: usize = 100;

struct Env {
    sim: SimHandle,
    dir: tempfile::TempDir,
    db_url: String,
    key: String,
    _store: Arc<dyn Store>,
}

async fn env(calls: usize) -> Env {
    let sim = dialpad_sim::spawn(SimConfig {
        call_history: calls,
        rate_limit: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("dpc.db").display());
    let key = Cipher::generate_key_base64();
    let store = dpc_store::connect(&db_url, Cipher::from_base64(&key, &[]).unwrap())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let ops = vec!["telephonyCall::list".to_owned()];
    let conn = store
        .insert_connection(NewConnection {
            connector_id: "dialpad".into(),
            owner_id: "acme".into(),
            operations: ops.clone(),
        })
        .await
        .unwrap();
    store
        .authorize(
            &conn.id,
            &Grant {
                credentials: Credentials::ApiKey {
                    api_key: SecretString::from(SIM_KEY.to_owned()),
                },
                scopes: dpc_core::operations::scopes_for(&ops).into_iter().collect(),
                dialpad_user_id: None,
                dialpad_company_id: None,
            },
        )
        .await
        .unwrap();
    Env {
        sim,
        dir,
        db_url,
        key,
        _store: store,
    }
}

impl Env {
    fn spawn(&self, out: &Path, resume: bool) -> Child {
        let mut c = Command::new(BIN);
        c.args([
            "export",
            "--owner",
            "acme",
            "--model",
            "telephonyCall",
            "--format",
            "ndjson",
            "--out",
            out.to_str().unwrap(),
        ]);
        if resume {
            c.arg("--resume");
        }
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DPC_DATABASE_URL", &self.db_url)
            .env("DPC_ENCRYPTION_KEY", &self.key)
            .env("DPC_DIALPAD_CLIENT_ID", "sim-client")
            .env("DPC_DIALPAD_CLIENT_SECRET", "sim-client-secret")
            .env("DPC_DIALPAD_BASE_URL", &self.sim.base_url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    }
}

/// The process's peak resident set (VmHWM), read from /proc while it runs.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Run {
    wall: Duration,
    peak_kib: u64,
    code: Option<i32>,
    stderr: String,
}

/// Runs to the end (or until `stop_at` records are checkpointed, then SIGINT), sampling the
/// peak RSS every 10 ms.
fn run(env: &Env, out: &Path, resume: bool, stop_at: Option<u64>) -> Run {
    let start = Instant::now();
    let mut child = env.spawn(out, resume);
    let mut peak = 0;
    let mut signalled = false;
    loop {
        if let Some(k) = peak_rss_kib(child.id()) {
            peak = peak.max(k);
        }
        if let (Some(n), false) = (stop_at, signalled) {
            if records_checkpointed(out) >= n {
                let _ = Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status();
                signalled = true;
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let wall = start.elapsed();
    let o = child.wait_with_output().unwrap();
    Run {
        wall,
        peak_kib: peak,
        code: o.status.code(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn records_checkpointed(out: &Path) -> u64 {
    let p = format!("{}.checkpoint.json", out.display());
    std::fs::read(p)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["records"].as_u64())
        .unwrap_or(0)
}

fn ids_exactly_once(out: &Path, want: usize) {
    let body = std::fs::read_to_string(out).unwrap();
    let mut seen = HashSet::new();
    for l in body.lines() {
        let v: Value = serde_json::from_str(l).expect("a whole NDJSON line");
        assert!(
            seen.insert(v["id"].as_str().unwrap().to_owned()),
            "written twice"
        );
    }
    assert_eq!(seen.len(), want, "not every call was exported");
}

/// The fastest schedule the client's limiter admits for `requests` sequential list calls: a
/// GCRA cell of `rate` per second with a burst of `burst` lets the k-th request (from 0) go at
/// max(0, k - burst + 1) / rate seconds.
fn fastest(requests: usize, rate: f64, burst: usize) -> f64 {
    (requests.saturating_sub(burst)) as f64 / rate
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // The client's pacing (crates/dialpad/src/limits.rs): the company limit, 20 per second,
    // at the default 95 % margin, rate and burst alike. The calls list has no limit of its own.
    let limit = dialpad::limits::COMPANY_LIMIT;
    let margin = dialpad::limits::DEFAULT_MARGIN;
    let rate = f64::from(limit.count) * margin / limit.period.as_secs_f64();
    let burst = (f64::from(limit.count) * margin).floor() as usize;

    println!("export bench: NDJSON, Dialpad's rate limits on in the simulator and the client");
    let mut peaks = Vec::new();
    for calls in [1_000usize, 10_000] {
        let e = env(calls).await;
        let out = e.dir.path().join("calls.ndjson");
        let r = tokio::task::block_in_place(|| run(&e, &out, false, None));
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        ids_exactly_once(&out, calls);
        let pages = calls.div_ceil(PAGE);
        let ideal = fastest(pages, rate, burst);
        let naive = pages as f64 / rate;
        let list_calls = e
            .sim
            .stats()
            .requests
            .get("GET /api/v2/call")
            .copied()
            .unwrap_or(0);
        println!(
            "{calls:>6} calls: {:.2} s wall, {list_calls} list calls for {pages} pages, {} rate-limited; \
             fastest schedule {ideal:.2} s (burst {burst}, then {rate:.0}/s; {naive:.2} s without the burst): \
             ratio {}; peak RSS {:.1} MiB",
            r.wall.as_secs_f64(),
            e.sim.stats().rate_limited,
            if ideal > 0.0 {
                format!("{:.2}", ideal / r.wall.as_secs_f64())
            } else {
                "n/a (every page within the burst)".to_owned()
            },
            r.peak_kib as f64 / 1024.0
        );
        peaks.push((calls, r.peak_kib));

        if calls == 10_000 {
            let out = e.dir.path().join("interrupted.ndjson");
            // Let the limiter's burst refill after the first run.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let first =
                tokio::task::block_in_place(|| run(&e, &out, false, Some(calls as u64 / 2)));
            assert_eq!(first.code, Some(130), "{}", first.stderr);
            let at = records_checkpointed(&out);
            let second = tokio::task::block_in_place(|| run(&e, &out, true, None));
            assert_eq!(second.code, Some(0), "{}", second.stderr);
            ids_exactly_once(&out, calls);
            let wall = first.wall + second.wall;
            // Dialpad's limit runs on across the two processes (the resumed one starts with a
            // fresh client-side burst the company's budget may not have refilled): the fastest
            // schedule is that of one straight run.
            let ideal2 = fastest(pages, rate, burst);
            println!(
                "{calls:>6} calls, SIGINT at {at} records then --resume: {:.2} s + {:.2} s wall, every call once, \
                 {} rate-limited in all; fastest schedule {ideal2:.2} s: ratio {:.2}; peak RSS {:.1} / {:.1} MiB",
                first.wall.as_secs_f64(),
                second.wall.as_secs_f64(),
                e.sim.stats().rate_limited,
                ideal2 / wall.as_secs_f64(),
                first.peak_kib as f64 / 1024.0,
                second.peak_kib as f64 / 1024.0
            );
        }
    }
    let (small, big) = (peaks[0].1 as f64, peaks[1].1 as f64);
    println!(
        "peak RSS {:.1} MiB for {} calls, {:.1} MiB for {} calls ({:+.1} %)",
        small / 1024.0,
        peaks[0].0,
        big / 1024.0,
        peaks[1].0,
        (big - small) / small * 100.0
    );
}
