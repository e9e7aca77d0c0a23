//! `dialpad-connector demo`: the simulator and the server in one process on SQLite, with an API
//! key made for you and copy-paste steps to connect an account and call the proxy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use dialpad_sim::{Sim, SimConfig};
use dpc_server::Config;
use secrecy::ExposeSecret;

/// Where the demo keeps its database and its generated encryption key.
const DEMO_DIR: &str = ".dialpad-connector";

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Address of the connector.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address of the simulator.
    #[arg(long, default_value = "127.0.0.1:8089")]
    sim_listen: SocketAddr,
    /// Approve the simulator's consent page without a click.
    #[arg(long)]
    auto_consent: bool,
    /// A TOML configuration file, as for `serve` (DPC_… variables win over it; the demo's own
    /// database, key and public URL apply where both are silent; the listener and the simulator
    /// are always the demo's).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// `DPC_ENCRYPTION_KEY`, else the key kept in `.dialpad-connector/encryption.key` (generated once).
fn encryption_key(dir: &Path) -> Result<String, Box<dyn std::error::Error>> {
    if let Ok(k) = std::env::var("DPC_ENCRYPTION_KEY") {
        if !k.trim().is_empty() {
            return Ok(k);
        }
    }
    let path = dir.join("encryption.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return Ok(k.trim().to_owned());
    }
    let k = dpc_store::Cipher::generate_key_base64();
    std::fs::write(&path, format!("{k}\n"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(k)
}

/// The demo's configuration. Its wiring is fixed: the listener it bound and the simulator it
/// runs (base URL and OAuth client), whatever the environment or the file say, since the demo
/// is that pair. Every other setting comes as for `serve`: `DPC_…` variables, then the file,
/// then the demo's own defaults (its SQLite file under `.dialpad-connector`, its key, the
/// listener's URL as public URL), then the built-in defaults.
fn demo_config(
    file: Option<&Path>,
    addr: SocketAddr,
    sim_url: &str,
    key: String,
    process_env: impl Fn(&str) -> Option<String>,
) -> Result<Config, dpc_server::ConfigError> {
    let wiring = [
        ("DPC_LISTEN", addr.to_string()),
        ("DPC_DIALPAD_BASE_URL", sim_url.to_owned()),
        ("DPC_DIALPAD_CLIENT_ID", "sim-client".to_owned()),
        ("DPC_DIALPAD_CLIENT_SECRET", "sim-client-secret".to_owned()),
    ];
    let defaults = [
        ("DPC_PUBLIC_URL", format!("http://{addr}")),
        ("DPC_DATABASE_URL", format!("sqlite://{DEMO_DIR}/demo.db")),
        ("DPC_ENCRYPTION_KEY", key),
        // Events reach the demo over Dialpad's websocket (nothing has to reach this machine),
        // and the app's receiver may be on localhost.
        ("DPC_EVENTS_INTAKE", "websocket".to_owned()),
        ("DPC_WEBHOOKS_ALLOW_PRIVATE_URLS", "true".to_owned()),
    ];
    let find = |list: &[(&str, String)], k: &str| {
        list.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    };
    Config::from_layers(
        file,
        |k| find(&wiring, k).or_else(|| process_env(k)),
        |k| find(&defaults, k),
    )
}

pub async fn run(args: DemoArgs) -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(DEMO_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {DEMO_DIR}: {e}"))?;
    let key = encryption_key(&dir)?;

    let sim_listener = tokio::net::TcpListener::bind(args.sim_listen)
        .await
        .map_err(|e| format!("cannot listen on {} (--sim-listen): {e}", args.sim_listen))?;
    let sim_url = format!("http://{}", sim_listener.local_addr()?);
    let sim = Sim::new(SimConfig {
        auto_consent: args.auto_consent,
        ..Default::default()
    });
    let (sim_stop_tx, sim_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sim_task = tokio::spawn(dialpad_sim::serve(sim_listener, sim, async {
        let _ = sim_stop_rx.await;
    }));

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {} (--listen): {e}", args.listen))?;
    let addr = listener.local_addr()?;
    let config = demo_config(args.config.as_deref(), addr, &sim_url, key, |k| {
        std::env::var(k).ok()
    })?;
    let store = dpc_server::connect_store(&config).await?;
    let (_, api_key) = store
        .create_api_key(&format!("demo-{}", std::process::id()))
        .await?;
    let base = config.public_base();
    let sk = api_key.expose_secret();
    println!(
        r#"
dialpad-connector demo
  connector:  {base}
  simulator:  {sim_url}  (OAuth client sim-client; consent {consent})
  API key:    {sk}

1. Create a connection for your customer "acme":
   curl -s -X POST {base}/v1/connections/dialpad/acme -H 'x-api-secret: {sk}' -H 'content-type: application/json' -d '{{"operations":["genericUser::retrieve","genericContact::list"]}}'

2. Get a link to the hosted connect page, open it in a browser and press Connect:
   curl -s -X POST '{base}/v1/connections/dialpad/acme/authorization?mode=connect' -H 'x-api-secret: {sk}'
   (without mode=connect you get Dialpad's consent URL directly)

3. Check the connection, then call Dialpad through the proxy:
   curl -s {base}/v1/connections/dialpad/acme -H 'x-api-secret: {sk}'
   curl -s {base}/v1/proxy/api/v2/users/me -H 'x-api-secret: {sk}' -H 'x-connector-id: dialpad' -H 'x-owner-id: acme'

Ctrl-C stops both.
"#,
        consent = if args.auto_consent {
            "automatic"
        } else {
            "by click"
        },
    );
    let served =
        dpc_server::run_with_store(config, store, listener, crate::sim_cmd::shutdown_signal())
            .await;
    let _ = sim_stop_tx.send(());
    let _ = sim_task.await;
    served?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The review found `demo` ignoring every `DPC_…` variable but DPC_DATABASE_URL (and the
    /// key): timeouts, origins, cache, public URL set for `serve` did nothing here.
    #[test]
    fn demo_honours_the_environment_and_the_file_except_its_wiring() {
        let addr: SocketAddr = "127.0.0.1:8123".parse().unwrap();
        let key = dpc_store::Cipher::generate_key_base64();
        let env = |k: &str| {
            [
                ("DPC_REQUEST_TIMEOUT_MS", "1234"),
                ("DPC_CACHE_TTL_MS", "0"),
                ("DPC_ALLOWED_ORIGINS", "https://app.example"),
                ("DPC_ALLOWED_REDIRECT_ORIGINS", "https://app.example"),
                ("DPC_PUBLIC_URL", "https://tunnel.example"),
                // The wiring stays the demo's.
                ("DPC_DIALPAD_BASE_URL", "https://dialpad.com"),
                ("DPC_DIALPAD_CLIENT_ID", "real-client"),
                ("DPC_LISTEN", "0.0.0.0:9"),
            ]
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
        };
        let c = demo_config(None, addr, "http://127.0.0.1:8089", key.clone(), env).unwrap();
        assert_eq!(c.request_timeout, std::time::Duration::from_millis(1234));
        assert!(c.cache_ttl.is_zero());
        assert_eq!(c.allowed_origins, vec!["https://app.example".to_owned()]);
        assert_eq!(
            c.allowed_redirect_origins,
            vec!["https://app.example".to_owned()]
        );
        assert_eq!(c.public_url.as_str(), "https://tunnel.example/");
        assert_eq!(c.dialpad_base_url.as_str(), "http://127.0.0.1:8089/");
        assert_eq!(c.dialpad_client_id.as_deref(), Some("sim-client"));
        assert_eq!(c.listen, addr);
        assert_eq!(
            c.database_url.expose_secret(),
            "sqlite://.dialpad-connector/demo.db"
        );
        assert_eq!(c.encryption_key.as_ref().unwrap().expose_secret(), key);

        // A file beats the demo's defaults, the environment beats the file.
        let path = std::env::temp_dir().join(format!("dpc-demo-test-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "database_url = \"sqlite://elsewhere.db\"\nrequest_timeout_ms = 5000\ndialpad_base_url = \"https://dialpad.com\"\n",
        )
        .unwrap();
        let c = demo_config(Some(&path), addr, "http://127.0.0.1:8089", key, env);
        let _ = std::fs::remove_file(&path);
        let c = c.unwrap();
        assert_eq!(c.database_url.expose_secret(), "sqlite://elsewhere.db");
        assert_eq!(c.request_timeout, std::time::Duration::from_millis(1234));
        assert_eq!(c.dialpad_base_url.as_str(), "http://127.0.0.1:8089/");
        // Nothing set anywhere: the demo's own public URL.
        let c = demo_config(
            None,
            addr,
            "http://127.0.0.1:8089",
            dpc_store::Cipher::generate_key_base64(),
            |_| None,
        )
        .unwrap();
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:8123/");
    }
}
