//! Shared by the external-proof tests (`tests/morph_sdk.rs`, `tests/morph_resources.rs`,
//! `tests/connect_page.rs`, `tests/connect_atom.rs`, `tests/secrets_at_rest.rs`, each includes
//! it with `#[path]`): the simulator plus our server on ephemeral ports with a fresh database
//! and an `sk_` key, and the cached Node folder the JavaScript scripts in this directory run
//! against.
//!
//! The Node folder (under `CARGO_TARGET_TMPDIR`, keyed by `package.json` and the Morph package
//! versions) holds what `npm install` gets for `package.json` (playwright-core, esbuild, React and
//! the atoms' own dependencies) plus two packages unpacked alone from `npm pack`, because npm
//! cannot install them: `@runmorph/cloud` (its declared dependencies do not resolve;
//! `dist/index.js` is self-contained) and `@runmorph/atoms` (its peer `@runmorph/cloud@^0.0.6`
//! matches no published version: npm stops with ETARGET). It is built in a scratch directory and
//! renamed into place, so a half-built folder is never used. Any npm or Node failure fails the
//! test with the command's output.
//!
//! `App::http` checks every answer of the connector against `openapi.json`
//! (`tests/shared/checked.rs`); what the scripts' own calls get is not checked here.

#![allow(dead_code)]

#[path = "../shared/checked.rs"]
pub mod checked;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use dialpad_sim::{SimConfig, SimHandle};
use dpc_server::Config;
use dpc_store::{Cipher, Store};
use secrecy::ExposeSecret;

/// The Morph SDK release the compatibility test runs.
pub const MORPH_SDK: &str = "@runmorph/cloud@0.0.7";
/// The React components of Dialpad's connector page snippet (`<Morph.Provider><Connect/>`).
pub const MORPH_ATOMS: &str = "@runmorph/atoms@0.0.13";

/// The OAuth client and Dialpad API key used by these tests: long random-looking values so that
/// a search of the database for them cannot match by accident.
pub const CLIENT_ID: &str = "dpc-ext-client";

pub struct App {
    pub base_url: String,
    pub sim: SimHandle,
    pub store: Arc<dyn Store>,
    pub api_key: String,
    pub client_secret: String,
    pub dialpad_api_key: String,
    /// The SQLite file (None on PostgreSQL).
    pub sqlite_path: Option<PathBuf>,
    /// Follows no redirects; checks the connector's answers against the document.
    pub http: checked::Http,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

fn random_token(prefix: &str) -> String {
    let k: String = Cipher::generate_key_base64()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{prefix}{k}")
}

/// Simulator (`auto_consent` as given, rate limiting off) + server on SQLite in a temp dir.
pub async fn spawn(auto_consent: bool) -> App {
    spawn_on(auto_consent, None).await
}

/// As [`spawn`], on `database_url` when given (e.g. a fresh PostgreSQL database).
pub async fn spawn_on(auto_consent: bool, database_url: Option<String>) -> App {
    spawn_with(auto_consent, database_url, Vec::new()).await
}

/// As [`spawn_on`], with extra `DPC_…` settings (e.g. `DPC_ALLOWED_ORIGINS`).
pub async fn spawn_with(
    auto_consent: bool,
    database_url: Option<String>,
    extra_env: Vec<(&'static str, String)>,
) -> App {
    spawn_full(auto_consent, database_url, extra_env, None).await
}

/// As [`spawn`], with a simulator call history of `call_history` calls instead of 400: lists
/// to the end stay fast under the connector's pacing of Dialpad calls (~19 per second).
pub async fn spawn_with_calls(auto_consent: bool, call_history: usize) -> App {
    spawn_full(auto_consent, None, Vec::new(), Some(call_history)).await
}

async fn spawn_full(
    auto_consent: bool,
    database_url: Option<String>,
    extra_env: Vec<(&'static str, String)>,
    call_history: Option<usize>,
) -> App {
    let client_secret = random_token("cs_");
    let dialpad_api_key = random_token("dpk_");
    let defaults = SimConfig::default();
    let sim = dialpad_sim::spawn(SimConfig {
        auto_consent,
        api_keys: vec![dialpad_api_key.clone()],
        oauth_clients: vec![dialpad_sim::OAuthClientConfig {
            client_id: CLIENT_ID.to_owned(),
            client_secret: client_secret.clone(),
        }],
        call_history: call_history.unwrap_or(defaults.call_history),
        ..defaults
    })
    .await
    .expect("start the simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite_path = dir.path().join("dpc.db");
    let (db_url, sqlite_path) = match database_url {
        Some(u) => (u, None),
        None => (
            format!("sqlite://{}", sqlite_path.display()),
            Some(sqlite_path),
        ),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let mut env = vec![
        ("DPC_LISTEN", addr.to_string()),
        ("DPC_PUBLIC_URL", format!("http://{addr}")),
        ("DPC_DATABASE_URL", db_url),
        ("DPC_ENCRYPTION_KEY", Cipher::generate_key_base64()),
        ("DPC_DIALPAD_CLIENT_ID", CLIENT_ID.to_owned()),
        ("DPC_DIALPAD_CLIENT_SECRET", client_secret.clone()),
        ("DPC_DIALPAD_BASE_URL", sim.base_url.clone()),
    ];
    env.extend(extra_env);
    let config: Config = Config::from_sources(None, |k| {
        env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .expect("configuration");
    let store = dpc_server::connect_store(&config)
        .await
        .expect("connect the store");
    let (_, api_key) = store.create_api_key("external tests").await.expect("key");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = store.clone();
    tokio::spawn(async move {
        dpc_server::run_with_store(config, served, listener, async {
            let _ = rx.await;
        })
        .await
        .expect("server");
    });
    let sim_base = sim.base_url.clone();
    App {
        base_url: format!("http://{addr}"),
        sim,
        store,
        api_key: api_key.expose_secret().to_owned(),
        client_secret,
        dialpad_api_key,
        sqlite_path,
        http: checked::Http::new(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            [sim_base],
        ),
        _dir: dir,
        _shutdown: tx,
    }
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A request with our secret key.
    pub fn call(&self, method: reqwest::Method, path: &str) -> checked::Request {
        self.http
            .request(method, self.url(path))
            .header("x-api-secret", &self.api_key)
    }

    /// The connection's `status` through the API.
    pub async fn status(&self, owner: &str) -> String {
        let r = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/connections/dialpad/{owner}"),
            )
            .send()
            .await
            .expect("retrieve connection");
        assert_eq!(r.status(), 200, "retrieve {owner}");
        let v: serde_json::Value = r.json().await.expect("json");
        v["status"].as_str().unwrap_or_default().to_owned()
    }
}

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start ({e}); is Node.js/npm installed?"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

/// The prepared Node folder (its `node_modules` has `package.json`'s packages,
/// `@runmorph/cloud` and `@runmorph/atoms`).
pub fn node_modules_root() -> PathBuf {
    let manifest = std::fs::read(js_dir().join("package.json")).expect("tests/js/package.json");
    // FNV-1a over the manifest and the Morph versions: a new pin gets a new folder.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in manifest
        .iter()
        .chain(MORPH_SDK.as_bytes())
        .chain(MORPH_ATOMS.as_bytes())
    {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("dpc-js-{h:016x}"));
    let ready = root.join(".ready");
    if ready.exists() {
        return root;
    }
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "dpc-js-{h:016x}.tmp-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&scratch).expect("create the Node scratch folder");
    std::fs::write(scratch.join("package.json"), &manifest).expect("write package.json");
    run(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&scratch),
        "npm install (tests/js/package.json)",
    );
    for (package, folder, must_have) in [
        (MORPH_SDK, "@runmorph/cloud", "dist/index.js"),
        (MORPH_ATOMS, "@runmorph/atoms", "dist/index.js"),
    ] {
        unpack_alone(&scratch, package, folder, must_have);
    }
    std::fs::write(scratch.join(".ready"), b"ok").expect("mark ready");
    match std::fs::rename(&scratch, &root) {
        Ok(()) => {}
        // Another test prepared it first: use theirs.
        Err(_) if ready.exists() => {
            let _ = std::fs::remove_dir_all(&scratch);
        }
        Err(e) => panic!("cannot move the Node folder into place: {e}"),
    }
    root
}

/// `npm pack`s `package` and unpacks it as `node_modules/<folder>`, without its dependencies.
fn unpack_alone(scratch: &Path, package: &str, folder: &str, must_have: &str) {
    // `npm pack` prints the tarball's file name on its last stdout line.
    let packed = run(
        Command::new("npm")
            .args(["pack", package, "--silent"])
            .current_dir(scratch),
        &format!("npm pack {package}"),
    );
    let tarball = packed
        .lines()
        .rfind(|l| l.trim().ends_with(".tgz"))
        .unwrap_or_else(|| panic!("npm pack printed no tarball name: {packed:?}"))
        .trim()
        .to_owned();
    let dest = scratch.join("node_modules").join(folder);
    std::fs::create_dir_all(&dest).expect("create the package folder");
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(scratch.join(&tarball))
            .arg("-C")
            .arg(&dest)
            .arg("--strip-components=1"),
        &format!("unpack {package}"),
    );
    assert!(
        dest.join(must_have).is_file(),
        "{package} has no {must_have}"
    );
}

/// Runs `node tests/js/<script>` with `envs` (plus `DPC_NODE_ROOT`, where the scripts resolve
/// their packages) off the async runtime; fails with the script's output unless it exits 0.
/// Returns its stdout.
pub async fn node(script: &str, envs: Vec<(String, String)>) -> String {
    let script = js_dir().join(script);
    tokio::task::spawn_blocking(move || {
        let root = node_modules_root();
        let mut cmd = Command::new("node");
        cmd.arg(&script)
            .env("DPC_NODE_ROOT", &root)
            .envs(envs)
            .current_dir(&root);
        run(&mut cmd, &format!("node {}", script.display()))
    })
    .await
    .expect("node task")
}

/// The last line of a script's output, as JSON.
pub fn last_json(stdout: &str) -> serde_json::Value {
    let line = stdout
        .lines()
        .rfind(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in the script's output:\n{stdout}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}"))
}
