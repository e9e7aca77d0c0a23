//! `dialpad-connector serve`, `migrate` and `rotate-key`.

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

/// How many secrets one `rotate-key` step re-seals (each step is a few short statements; a
/// server running meanwhile keeps working, and a crash loses nothing: run it again).
const RESEAL_BATCH: u32 = 200;

/// `dialpad-connector rotate-key`: re-seals every stored secret under `DPC_ENCRYPTION_KEY`,
/// opening old values with `DPC_ENCRYPTION_OLD_KEYS`. Resumable (it only touches values still
/// sealed under another key) and safe while servers run (each value is swapped only if nobody
/// changed it since it was read). When it reports 0 remaining, the old keys can be dropped from
/// the configuration.
pub async fn rotate_key(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(args.config.as_deref())?;
    let store = dpc_server::connect_store(&config).await?;
    let mut total = 0u64;
    loop {
        let p = store.reseal_batch(RESEAL_BATCH).await.map_err(|e| {
            format!(
                "re-sealing stopped ({e}); if a key is unknown, add the key that sealed it to DPC_ENCRYPTION_OLD_KEYS; \
                 {total} values were re-sealed so far and stay so"
            )
        })?;
        total += p.resealed;
        if p.remaining == 0 {
            break;
        }
        if p.resealed == 0 {
            // Values under another key that this step could not swap (changed meanwhile): the
            // next step reads them again; pause so a busy server's writes settle.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        eprintln!("re-sealed {total}, {} to go", p.remaining);
    }
    let cipher = config.cipher()?;
    println!(
        "re-sealed {total} secrets; everything is sealed under key {} now (the old keys may be removed)",
        cipher.current_key_id()
    );
    Ok(())
}
