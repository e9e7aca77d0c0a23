//! `dialpad-connector sim`: the Dialpad simulator as a standalone server.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use dialpad_sim::{OAuthClientConfig, Sim, SimConfig};

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// Seed of the deterministic data set.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Company API key the simulator accepts.
    #[arg(long, default_value = "sim-api-key")]
    api_key: String,
    /// OAuth client id the simulator's authorization server accepts.
    #[arg(long, default_value = "sim-client", requires = "oauth_client_secret")]
    oauth_client_id: String,
    /// OAuth client secret for `--oauth-client-id`.
    #[arg(long, default_value = "sim-client-secret")]
    oauth_client_secret: String,
    /// Approve OAuth consent without a click (for headless tests).
    #[arg(long)]
    auto_consent: bool,
    /// Switch Dialpad's rate limits off.
    #[arg(long)]
    no_rate_limit: bool,
    /// Lifetime of OAuth access tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    access_token_ttl: u64,
    /// Number of finished calls in the seeded call history.
    #[arg(long, default_value_t = 400)]
    call_history: usize,
    /// Require this key (as `Authorization: Bearer`) on the `/_sim/` control API.
    #[arg(long)]
    admin_key: Option<String>,
    /// Lifetime of the token in a websocket's `websocket_url`, in seconds (Dialpad: 3600).
    #[arg(long, default_value_t = 3600)]
    websocket_url_ttl: u64,
}

pub async fn run(args: SimArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = SimConfig {
        seed: args.seed,
        api_keys: vec![args.api_key.clone()],
        oauth_clients: vec![OAuthClientConfig {
            client_id: args.oauth_client_id.clone(),
            client_secret: args.oauth_client_secret,
        }],
        auto_consent: args.auto_consent,
        access_token_ttl: Duration::from_secs(args.access_token_ttl),
        rate_limit: !args.no_rate_limit,
        call_history: args.call_history,
        admin_key: args.admin_key,
        websocket_url_ttl: Duration::from_secs(args.websocket_url_ttl),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("dialpad-sim listening on http://{addr}");
    println!("api key: {}", args.api_key);
    println!(
        "oauth client: {} (secret as given by --oauth-client-secret)",
        args.oauth_client_id
    );
    dialpad_sim::serve(listener, Sim::new(config), shutdown_signal()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so the server drains in-flight requests before exiting.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
