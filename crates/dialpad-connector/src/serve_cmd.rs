//! `dialpad-connector serve` and `migrate`.

use std::path::PathBuf;

use clap::Args;
use dpc_server::Config;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A TOML configuration file (keys as the DPC_… variables, lower case, without the prefix).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub async fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(args.config.as_deref())?;
    config.check_for_serve()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {} (DPC_LISTEN): {e}", config.listen))?;
    println!(
        "dialpad-connector listening on http://{} (public URL {})",
        listener.local_addr()?,
        config.public_base()
    );
    dpc_server::run(config, listener, crate::sim_cmd::shutdown_signal()).await?;
    Ok(())
}

pub async fn migrate(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(args.config.as_deref())?;
    dpc_server::connect_store(&config).await?;
    println!("migrations applied");
    Ok(())
}
