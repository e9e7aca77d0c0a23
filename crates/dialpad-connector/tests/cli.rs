//! The real `dialpad-connector` binary against the simulator running as a real server (in this
//! process) and a real SQLite file: `connections list|show|delete` and `export` (NDJSON, CSV,
//! interrupted by SIGINT and SIGKILL then resumed, refusals, a Dialpad outage mid-run).
//!
//! Connections are seeded through `dpc_store` with the simulator's company API key (a credential
//! the connector accepts through `PUT …/api-key`), so the binary reads the same rows a server
//! would.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialpad_sim::{SimConfig, SimHandle};
use dpc_store::{Cipher, Credentials, Grant, NewConnection, Store};
use secrecy::SecretString;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_dialpad-connector");
const SIM_KEY: &str = "sim-api-key";

struct Env {
    sim: SimHandle,
    dir: tempfile::TempDir,
    db_url: String,
    key: String,
    store: Arc<dyn Store>,
    http: reqwest::Client,
}

async fn env(calls: usize) -> Env {
    let sim = dialpad_sim::spawn(SimConfig {
        call_history: calls,
        rate_limit: false,
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
    Env {
        sim,
        dir,
        db_url,
        key,
        store,
        http: reqwest::Client::new(),
    }
}

impl Env {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DPC_DATABASE_URL", &self.db_url)
            .env("DPC_ENCRYPTION_KEY", &self.key)
            .env("DPC_DIALPAD_CLIENT_ID", "sim-client")
            .env("DPC_DIALPAD_CLIENT_SECRET", "sim-client-secret")
            .env("DPC_DIALPAD_BASE_URL", &self.sim.base_url)
            .env("RUST_LOG", "warn")
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A connection asking for `operations`, authorized with the simulator's company key
    /// (`authorize: false`: created but never authorized).
    async fn connection(&self, owner: &str, operations: &[&str], authorize: bool) {
        let ops: Vec<String> = operations.iter().map(|s| (*s).to_owned()).collect();
        let conn = self
            .store
            .insert_connection(NewConnection {
                connector_id: "dialpad".into(),
                owner_id: owner.into(),
                operations: ops.clone(),
            })
            .await
            .unwrap();
        if authorize {
            self.store
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
        }
    }

    async fn fault(&self, fault: Value) {
        let r = self
            .http
            .post(format!("{}/_sim/faults", self.sim.base_url))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    async fn clear_faults(&self) {
        let r = self
            .http
            .delete(format!("{}/_sim/faults", self.sim.base_url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// Every concluded call id, read from the simulator's own API with its company key.
    async fn call_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self
                .http
                .get(format!("{}/api/v2/call", self.sim.base_url))
                .bearer_auth(SIM_KEY);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let page: Value = req.send().await.unwrap().json().await.unwrap();
            for c in page["items"].as_array().unwrap() {
                ids.push(match &c["call_id"] {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                });
            }
            match page["cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        ids
    }
}

const CALLS: &[&str] = &["telephonyCall::list"];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The ids of an NDJSON export; panics on a line that is not a whole resource.
fn ndjson_ids(path: &Path) -> Vec<String> {
    let body = std::fs::read_to_string(path).unwrap();
    assert!(body.is_empty() || body.ends_with('\n'), "ends mid-line");
    body.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["object"], "resource");
            assert_eq!(v["model"], "telephonyCall");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn assert_exactly_once(got: &[String], want: &[String]) {
    let set: HashSet<&String> = got.iter().collect();
    assert_eq!(set.len(), got.len(), "a record was written twice");
    let want_set: HashSet<&String> = want.iter().collect();
    assert_eq!(set, want_set, "exported ids differ from the simulator's");
}

fn checkpoint(out: &Path) -> Option<Value> {
    let p = PathBuf::from(format!("{}.checkpoint.json", out.display()));
    let text = std::fs::read(p).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Waits until the running export has checkpointed at least `records`.
fn wait_for_records(out: &Path, records: u64, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(cp) = checkpoint(out) {
            if cp["records"].as_u64().unwrap_or(0) >= records {
                return;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the export ended ({status}) before {records} records");
        }
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_list_show_delete() {
    let e = env(10).await;
    let r = e.run(&["connections", "list"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_eq!(text(&r.stdout).trim(), "no connections");

    e.connection("acme", &["telephonyCall::list", "contact::list"], true)
        .await;
    e.connection("globex", CALLS, false).await;

    let r = e.run(&["connections", "list"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let out = text(&r.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("CONNECTOR"));
    assert!(out.contains("acme") && out.contains("authorized"), "{out}");
    assert!(
        out.contains("globex") && out.contains("unauthorized"),
        "{out}"
    );
    assert!(!out.contains(SIM_KEY), "a secret was printed");

    let r = e.run(&["connections", "list", "--json"]);
    assert!(r.status.success());
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    let owners: HashSet<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ownerId"].as_str().unwrap())
        .collect();
    assert_eq!(owners, HashSet::from(["acme", "globex"]));
    assert!(!text(&r.stdout).contains(SIM_KEY));

    let r = e.run(&["connections", "show", "acme"]);
    assert!(r.status.success());
    let out = text(&r.stdout);
    assert!(out.contains("telephonyCall::list, contact::list"), "{out}");
    assert!(out.contains("calls:list"), "{out}");
    assert!(!out.contains(SIM_KEY));

    let r = e.run(&["connections", "show", "acme", "--json"]);
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["object"], "connection");
    assert_eq!(v["status"], "authorized");
    assert_eq!(
        v["operations"],
        json!(["telephonyCall::list", "contact::list"])
    );

    let r = e.run(&["connections", "delete", "acme", "--json"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["deleted"], true);
    assert!(e
        .store
        .get_connection("dialpad", "acme")
        .await
        .unwrap()
        .is_none());
    assert!(e.store.get_connection_by_id("x").await.unwrap().is_none());

    let r = e.run(&["connections", "delete", "globex"]);
    assert!(r.status.success());
    assert_eq!(text(&r.stdout).trim(), "deleted dialpad/globex");

    let r = e.run(&["connections", "show", "acme"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        text(&r.stderr).contains("no connection dialpad/acme"),
        "{}",
        text(&r.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn export_ndjson_and_csv_every_call_once() {
    let e = env(450).await;
    e.connection("acme", CALLS, true).await;
    let want = e.call_ids().await;
    assert_eq!(want.len(), 450);

    let out = e.path("calls.ndjson");
    let r = e.run(&[
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
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("exported 450 records"));
    assert_exactly_once(&ndjson_ids(&out), &want);
    let cp = checkpoint(&out).unwrap();
    assert_eq!(cp["done"], true);
    assert_eq!(cp["records"], 450);
    assert_eq!(
        cp["bytes"].as_u64().unwrap(),
        std::fs::metadata(&out).unwrap().len()
    );

    // A second run refuses to overwrite; --resume of a finished export changes nothing.
    let r = e.run(&[
        "export",
        "--owner",
        "acme",
        "--model",
        "telephonyCall",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("exists"), "{}", text(&r.stderr));

    let csv_out = e.path("calls.csv");
    let r = e.run(&[
        "export",
        "--owner",
        "acme",
        "--model",
        "telephonyCall",
        "--format",
        "csv",
        "--out",
        csv_out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let mut rd = csv::Reader::from_path(&csv_out).unwrap();
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(&header[..4], ["id", "createdAt", "updatedAt", "direction"]);
    assert!(header.contains(&"startedAt".to_owned()));
    let mut ids = Vec::new();
    for row in rd.records() {
        let row = row.unwrap();
        assert_eq!(row.len(), header.len());
        ids.push(row[0].to_owned());
    }
    assert_exactly_once(&ids, &want);

    // The CSV's rows are the NDJSON's resources, flattened (nested values as JSON text).
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let mut rd = csv::Reader::from_path(&csv_out).unwrap();
    let row = rd.records().next().unwrap().unwrap();
    for (i, col) in header.iter().enumerate().skip(3) {
        let v = &first["fields"][col.as_str()];
        let want = match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(row[i], want, "column {col}");
    }
}

/// Interrupted (SIGINT, then SIGKILL), resumed: every call exactly once, the file valid at
/// every stop.
#[tokio::test(flavor = "multi_thread")]
async fn interrupted_export_resumes_without_duplicates() {
    let e = env(2_500).await;
    e.connection("acme", CALLS, true).await;
    let want = e.call_ids().await;
    // Slow pages, so the signals land mid-run.
    e.fault(json!({"path": "/api/v2/call", "method": "GET", "latency_ms": 120}))
        .await;
    let out = e.path("calls.ndjson");
    let args = [
        "export",
        "--owner",
        "acme",
        "--model",
        "telephonyCall",
        "--since",
        "2000-01-01",
        "--out",
        out.to_str().unwrap(),
    ];

    let mut child = e.cmd(&args).stderr(Stdio::piped()).spawn().unwrap();
    wait_for_records(&out, 300, &mut child);
    signal(child.id(), "-INT");
    let r = child.wait_with_output().unwrap();
    assert_eq!(r.status.code(), Some(130), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("--resume"), "{}", text(&r.stderr));
    let cp = checkpoint(&out).unwrap();
    let so_far = ndjson_ids(&out);
    assert_eq!(so_far.len() as u64, cp["records"].as_u64().unwrap());
    assert!(so_far.len() < want.len());
    // The limiter's state is kept for the resume, which paces on instead of bursting (the
    // export bench measures what that saves: no 429 on resume).
    assert!(cp["pacing"]["atMs"].is_i64(), "{cp}");
    assert!(cp["pacing"]["spentMs"].is_array(), "{cp}");

    // A resume, killed without a chance to clean up.
    let mut resumed: Vec<&str> = args.to_vec();
    resumed.push("--resume");
    let mut child = e.cmd(&resumed).stderr(Stdio::null()).spawn().unwrap();
    wait_for_records(&out, so_far.len() as u64 + 400, &mut child);
    signal(child.id(), "-KILL");
    child.wait().unwrap();
    let cp = checkpoint(&out).unwrap();
    assert!(cp["done"] == false);
    // Whatever the killed process wrote past its checkpoint is dropped on resume.
    assert!(std::fs::metadata(&out).unwrap().len() >= cp["bytes"].as_u64().unwrap());

    e.clear_faults().await;
    let r = e.run(&resumed);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_exactly_once(&ndjson_ids(&out), &want);

    // A checkpoint whose offset cuts a record is refused, the file left as it is.
    let cp_path = PathBuf::from(format!("{}.checkpoint.json", out.display()));
    let good_cp = std::fs::read(&cp_path).unwrap();
    let mut edited = checkpoint(&out).unwrap();
    edited["done"] = json!(false);
    edited["bytes"] = json!(1000);
    std::fs::write(&cp_path, edited.to_string()).unwrap();
    let before = std::fs::read(&out).unwrap();
    let r = e.run(&resumed);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
    assert!(
        text(&r.stderr).contains("does not match its checkpoint"),
        "{}",
        text(&r.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), before);
    std::fs::write(&cp_path, good_cp).unwrap();

    // Resuming with other options is refused, the file left as it is.
    let before = std::fs::read(&out).unwrap();
    let mut other: Vec<&str> = resumed.clone();
    other[6] = "2001-01-01";
    let r = e.run(&other);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        text(&r.stderr).contains("belongs to another export"),
        "{}",
        text(&r.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_leave_no_file() {
    let e = env(50).await;
    e.connection("pending", CALLS, false).await;
    e.connection("contacts-only", &["contact::list"], true)
        .await;
    e.connection("acme", CALLS, true).await;
    let out = e.path("x.ndjson");
    let o = out.to_str().unwrap();

    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--owner",
                "acme",
                "--model",
                "telephonyCall",
                "--since",
                "2025-01-01",
                "--until",
                "2024-01-01",
            ],
            "must be before --until",
        ),
        (
            &["--owner", "pending", "--model", "telephonyCall"],
            "CONNECTION::NOT_AUTHORIZED",
        ),
        (
            &["--owner", "contacts-only", "--model", "telephonyCall"],
            "telephonyCall::list",
        ),
        (
            &["--owner", "acme", "--model", "telephoneCall"],
            "no model `telephoneCall`",
        ),
        (&["--owner", "nobody", "--model", "telephonyCall"], "nobody"),
    ];
    for (args, says) in cases {
        let mut all = vec!["export", "--out", o];
        all.extend_from_slice(args);
        let r = e.run(&all);
        let err = text(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{all:?}: {err}");
        assert!(err.contains(says), "{all:?}: {err}");
        assert!(!out.exists(), "{all:?} left a file");
    }
    let r = e.run(&[
        "export",
        "--out",
        o,
        "--owner",
        "contacts-only",
        "--model",
        "telephonyCall",
    ]);
    let err = text(&r.stderr);
    assert!(err.contains("CONNECTION::MISSING_PERMISSION"), "{err}");
}

/// Dialpad failing mid-run: a non-zero exit with Dialpad's answer named, the file valid up to
/// the last page, and a resume once Dialpad is back exports every call exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn outage_mid_run_then_resume() {
    let e = env(1_500).await;
    e.connection("acme", CALLS, true).await;
    let want = e.call_ids().await;
    e.fault(json!({"path": "/api/v2/call", "method": "GET", "latency_ms": 100}))
        .await;
    let out = e.path("calls.csv");
    let args = [
        "export",
        "--owner",
        "acme",
        "--model",
        "telephonyCall",
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ];
    let mut child = e.cmd(&args).stderr(Stdio::piped()).spawn().unwrap();
    wait_for_records(&out, 200, &mut child);
    e.fault(json!({"path": "/api/v2/call", "method": "GET", "error_rate": 1.0, "status": 503}))
        .await;
    let r = child.wait_with_output().unwrap();
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("UPSTREAM::UNAVAILABLE"), "{err}");
    assert!(err.contains("--resume"), "{err}");
    let cp = checkpoint(&out).unwrap();
    let mut rd = csv::Reader::from_path(&out).unwrap();
    let rows = rd.records().collect::<Result<Vec<_>, _>>().unwrap().len() as u64;
    assert_eq!(rows, cp["records"].as_u64().unwrap());
    assert!(rows < want.len() as u64);

    e.clear_faults().await;
    let mut resumed = args.to_vec();
    resumed.push("--resume");
    let r = e.run(&resumed);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let mut rd = csv::Reader::from_path(&out).unwrap();
    let ids: Vec<String> = rd.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_exactly_once(&ids, &want);
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_list_and_run() {
    let e = env(10).await;
    let r = e.run(&["actions", "list"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let out = text(&r.stdout);
    assert!(out.starts_with("ACTION"), "{out}");
    assert!(
        out.contains("sendSms") && out.contains("hangUpCall"),
        "{out}"
    );
    let r = e.run(&["actions", "list", "--json"]);
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), dpc_core::actions::catalog().len());
    let list = data.iter().find(|a| a["id"] == "listChannels").unwrap();
    assert_eq!(list["operation"], "action::listChannels");
    assert_eq!(list["readOnly"], true);
    assert_eq!(list["inputSchema"]["type"], "object");

    e.connection("acme", &["action::listChannels"], true).await;
    e.connection("other", CALLS, true).await;
    let r = e.run(&[
        "actions",
        "run",
        "listChannels",
        "--owner",
        "acme",
        "--input",
        r#"{"limit": 2}"#,
    ]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let page: Value = serde_json::from_slice(&r.stdout).unwrap();
    let channels = page["channels"].as_array().expect("a page of channels");
    assert!(!channels.is_empty() && channels.len() <= 2, "{page}");

    // Not granted: the operation to grant is named, Dialpad is not called.
    let before = e.sim.stats();
    let r = e.run(&["actions", "run", "listChannels", "--owner", "other"]);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("CONNECTION::MISSING_PERMISSION") && err.contains("action::listChannels"),
        "{err}"
    );
    // Bad input: every failing path, before any connection is opened.
    let r = e.run(&[
        "actions",
        "run",
        "listChannels",
        "--owner",
        "acme",
        "--input",
        r#"{"limit": 0, "bogus": 1}"#,
    ]);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("RESOURCE::VALIDATION_FAILED"), "{err}");
    assert!(err.contains("limit") && err.contains("bogus"), "{err}");
    let r = e.run(&["actions", "run", "noSuchAction", "--owner", "acme"]);
    assert!(text(&r.stderr).contains("ACTION::NOT_FOUND"));
    assert_eq!(
        serde_json::to_value(e.sim.stats()).unwrap()["requests"],
        serde_json::to_value(before).unwrap()["requests"],
        "a refused action reached Dialpad"
    );
}

/// `--since`/`--until` cut the window exactly, and `--expand transcript,recap` gives each call
/// its transcript with the AI recap (paced at Dialpad's 1 recap per 5 s by the client).
#[tokio::test(flavor = "multi_thread")]
async fn window_and_transcripts_with_recap() {
    let e = env(60).await;
    // The transcripts and recaps read what telephonyCallTranscript::retrieve guards.
    e.connection(
        "acme",
        &["telephonyCall::list", "telephonyCallTranscript::retrieve"],
        true,
    )
    .await;
    let http = &e.http;
    let mut calls: Vec<(i64, String)> = Vec::new();
    let page: Value = http
        .get(format!("{}/api/v2/call?limit=100", e.sim.base_url))
        .bearer_auth(SIM_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for c in page["items"].as_array().unwrap() {
        let started = match &c["date_started"] {
            Value::String(s) => s.parse().unwrap(),
            v => v.as_i64().unwrap(),
        };
        let id = match &c["call_id"] {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        calls.push((started, id));
    }
    // Newest first; a call with a transcript that is not the newest.
    let mut with_transcript = None;
    for (i, (_, id)) in calls.iter().enumerate().skip(1).take(calls.len() - 3) {
        let r = http
            .get(format!("{}/api/v2/transcripts/{id}", e.sim.base_url))
            .bearer_auth(SIM_KEY)
            .send()
            .await
            .unwrap();
        if r.status().is_success() {
            with_transcript = Some(i);
            break;
        }
    }
    let j = with_transcript.expect("a seeded call with a transcript");
    // Strictly between the neighbours' start times: calls j and j+1.
    let (since, until) = (calls[j + 2].0, calls[j - 1].0);
    let want: Vec<String> = vec![calls[j].1.clone(), calls[j + 1].1.clone()];
    let out = e.path("window.ndjson");
    let r = e.run(&[
        "export",
        "--owner",
        "acme",
        "--model",
        "telephonyCall",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--expand",
        "transcript,recap",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_exactly_once(&ndjson_ids(&out), &want);
    let body = std::fs::read_to_string(&out).unwrap();
    let first: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], calls[j].1.as_str());
    let t = &first["fields"]["transcript"];
    assert_eq!(t["object"], "resource", "{first}");
    assert_eq!(t["model"], "telephonyCallTranscript");
    assert!(
        t["fields"]["recap"].is_object(),
        "no recap: {}",
        t["fields"]
    );

    // `recap` alone is refused before anything is written.
    let out2 = e.path("recap-only.ndjson");
    let r = e.run(&[
        "export",
        "--owner",
        "acme",
        "--model",
        "telephonyCall",
        "--expand",
        "recap",
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("expand transcript too"));
    assert!(!out2.exists());

    // An unknown expansion names every one the export takes, recap included; piped, the
    // message carries no colour escapes.
    let r = e.run(&[
        "export",
        "--owner",
        "acme",
        "--model",
        "telephonyCall",
        "--expand",
        "transcript,summary",
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    let err = text(&r.stderr);
    assert!(
        err.contains("expandable are users, contacts, transcript, recap"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(!out2.exists());
}

/// What a receiver got: (webhook-id, event type).
type Received = Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// An app's webhook receiver on loopback, answering 204 to every POST.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: axum::http::HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let id = h
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                let event = v["event"].as_str().unwrap_or_default().to_owned();
                g.lock().unwrap().push((id, event));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// Kills the child when dropped (a failing assertion must not leave a server running).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `endpoints create|list` and `events list|show|replay` against the store a running `serve`
/// (websocket intake) shares: the endpoint created by the CLI is noticed by the server's repair
/// loop, which subscribes at the simulator; a played call's events reach the receiver; the CLI
/// lists them and a replay arrives again with the same webhook-id.
#[tokio::test(flavor = "multi_thread")]
async fn events_and_endpoints_through_the_cli() {
    let e = env(0).await;
    e.connection("acme", CALLS, true).await;
    let (url, got) = receiver().await;

    let r = e.run(&["endpoints", "list"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_eq!(text(&r.stdout).trim(), "no webhook endpoints");

    // Loopback is refused unless the configuration allows private URLs.
    let r = e.run(&["endpoints", "create", "--url", &url]);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        text(&r.stderr).contains("RESOURCE::VALIDATION_FAILED"),
        "{}",
        text(&r.stderr)
    );
    let r = e.run(&["events", "list", "--status", "lost"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("REQUEST::INVALID"));

    let server = Child(
        e.cmd(&["serve"])
            .env("DPC_LISTEN", "127.0.0.1:0")
            .env("DPC_EVENTS_INTAKE", "websocket")
            .env("DPC_WEBHOOKS_ALLOW_PRIVATE_URLS", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Up (its first repair round, with no endpoint yet, starts as it listens), then a moment
    // more, so the endpoint below is one the running server was never told about.
    let mut server = server;
    let stdout = server.0.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        line
    })
    .await
    .unwrap();
    assert!(first.contains("listening"), "{first}");
    tokio::time::sleep(Duration::from_secs(1)).await;

    let r = e
        .cmd(&[
            "endpoints",
            "create",
            "--url",
            &url,
            "--events",
            "telephonyCall::created,telephonyCall::updated",
            "--json",
        ])
        .env("DPC_WEBHOOKS_ALLOW_PRIVATE_URLS", "true")
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", text(&r.stderr));
    let ep: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert!(ep["secret"].as_str().unwrap().starts_with("whsec_"));
    let ep_id = ep["id"].as_str().unwrap().to_owned();
    let r = e.run(&["endpoints", "list"]);
    let out = text(&r.stdout);
    assert!(out.contains(&ep_id) && out.contains("enabled"), "{out}");
    assert!(!out.contains("whsec_"), "a secret was listed");

    // The server was not told: its repair loop sees the new endpoint and opens the websocket.
    let sim = e.sim.sim.clone();
    wait_until("the server's websocket", 30, || {
        !sim.db().read().websockets.is_empty()
    })
    .await;
    let status = |http: reqwest::Client, base: String| async move {
        let v: Value = http
            .get(format!("{base}/_sim/websockets"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["open"].as_object().is_some_and(|o| !o.is_empty())
            && v["open"].as_object().unwrap().values().any(|n| n != 0)
    };
    let until = Instant::now() + Duration::from_secs(30);
    while !status(e.http.clone(), e.sim.base_url.clone()).await {
        assert!(Instant::now() < until, "the websocket never connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let r = e
        .http
        .post(format!("{}/_sim/calls", e.sim.base_url))
        .json(&json!({"outcome": "missed", "speed": 1000}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let g = got.clone();
    wait_until("telephonyCall::created at the receiver", 30, || {
        g.lock()
            .unwrap()
            .iter()
            .any(|(_, ev)| ev == "telephonyCall::created")
    })
    .await;

    let r = e.run(&[
        "events",
        "list",
        "--event",
        "telephonyCall::created",
        "--json",
    ]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    let listed = v["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{v}");
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert!(
        got.lock().unwrap().iter().any(|(w, _)| *w == id),
        "the webhook-id is the event id"
    );
    let r = e.run(&["events", "list"]);
    let out = text(&r.stdout);
    assert!(out.starts_with("ID") && out.contains(&id), "{out}");

    let r = e.run(&["events", "show", &id]);
    assert!(r.status.success());
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["deliveries"][0]["endpointId"], ep_id.as_str());

    let before = got.lock().unwrap().iter().filter(|(w, _)| *w == id).count();
    let r = e.run(&["events", "replay", &id]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(text(&r.stdout).starts_with("1 deliveries scheduled"));
    let g = got.clone();
    wait_until("the replay", 30, || {
        g.lock().unwrap().iter().filter(|(w, _)| *w == id).count() > before
    })
    .await;

    let r = e.run(&["events", "replay", "evt_nope"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("RESOURCE::NOT_FOUND"));
    let r = e.run(&[
        "events",
        "replay",
        "--endpoint",
        &ep_id,
        "--since",
        "yesterday",
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("since"), "{}", text(&r.stderr));
    drop(server);
}

/// `--expand transcript` with Dialpad's transcripts failing: the export does not write a page
/// whose expansion failed (the API would answer it with an `EXPAND::FAILED` warning), stops
/// with exit 1, and `--resume` after the outage writes every call once, each transcript
/// expanded. A connection that may list calls but not read transcripts is refused up front.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_expansion_is_not_written() {
    let e = env(300).await;
    e.connection("calls-only", CALLS, true).await;
    e.connection(
        "acme",
        &["telephonyCall::list", "telephonyCallTranscript::retrieve"],
        true,
    )
    .await;
    let want = e.call_ids().await;
    let out = e.path("calls.ndjson");
    let args = |owner: &'static str| {
        vec![
            "export".to_owned(),
            "--owner".into(),
            owner.into(),
            "--model".into(),
            "telephonyCall".into(),
            "--expand".into(),
            "transcript".into(),
            "--format".into(),
            "ndjson".into(),
            "--out".into(),
            out.to_str().unwrap().to_owned(),
        ]
    };
    let run = |a: &[String]| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        e.run(&a)
    };
    let r = run(&args("calls-only"));
    assert_eq!(r.status.code(), Some(1));
    let err = text(&r.stderr);
    assert!(
        err.contains("CONNECTION::MISSING_PERMISSION")
            && err.contains("telephonyCallTranscript::retrieve"),
        "{err}"
    );
    assert!(!out.exists(), "a refused export leaves no file");

    e.fault(json!({"path": "/api/v2/transcripts/*", "error_rate": 1.0, "status": 503}))
        .await;
    let r = run(&args("acme"));
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("UPSTREAM::UNAVAILABLE"), "{err}");
    assert!(err.contains("not written"), "{err}");
    let written = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        !written.contains("EXPAND::FAILED"),
        "a failed expansion was written"
    );

    e.clear_faults().await;
    let mut resumed = args("acme");
    resumed.push("--resume".into());
    let r = run(&resumed);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let body = std::fs::read_to_string(&out).unwrap();
    assert!(!body.contains("EXPAND::FAILED"));
    assert_exactly_once(&ndjson_ids(&out), &want);
    let expanded = body
        .lines()
        .filter(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["fields"]["transcript"]["object"] == "resource"
        })
        .count();
    assert!(expanded > 0, "no transcript was expanded");
}
