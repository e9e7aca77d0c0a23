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
    /// A TOML configuration file (the demo's defaults apply where it is silent).
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
    let defaults = [
        ("DPC_LISTEN", addr.to_string()),
        ("DPC_PUBLIC_URL", format!("http://{addr}")),
        ("DPC_DATABASE_URL", format!("sqlite://{DEMO_DIR}/demo.db")),
        ("DPC_ENCRYPTION_KEY", key),
        ("DPC_DIALPAD_CLIENT_ID", "sim-client".to_owned()),
        ("DPC_DIALPAD_CLIENT_SECRET", "sim-client-secret".to_owned()),
        ("DPC_DIALPAD_BASE_URL", sim_url.clone()),
    ];
    // The demo's own values win for the wiring (simulator, listener); the database may be
    // overridden with DPC_DATABASE_URL.
    let config = Config::from_sources(args.config.as_deref(), |k| {
        if k == "DPC_DATABASE_URL" {
            if let Ok(v) = std::env::var(k) {
                return Some(v);
            }
        }
        defaults
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
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
