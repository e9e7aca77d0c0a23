//! `dialpad-connector keys create --name N | list | revoke ID_OR_NAME`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use dpc_server::Config;
use secrecy::ExposeSecret;

#[derive(Args, Debug)]
pub struct KeysArgs {
    /// A TOML configuration file (as for `serve`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create a key and print it (once: only its hash is stored).
    Create {
        #[arg(long)]
        name: String,
    },
    /// List keys (prefixes only).
    List,
    /// Revoke a key by id or name.
    Revoke { id_or_name: String },
}

pub async fn run(args: KeysArgs) -> Result<(), Box<dyn std::error::Error>> {
    if let KeysCommand::Create { name } = &args.command {
        if name.trim().is_empty() {
            return Err("--name must not be empty (it is how `keys revoke` finds the key)".into());
        }
    }
    let config = Config::load(args.config.as_deref())?;
    let store = dpc_server::connect_store(&config).await?;
    match args.command {
        KeysCommand::Create { name } => {
            let name = name.trim().to_owned();
            let (rec, key) = store.create_api_key(&name).await?;
            eprintln!(
                "created key {} ({}); it is shown only once:",
                rec.id, rec.name
            );
            println!("{}", key.expose_secret());
        }
        KeysCommand::List => {
            for k in store.list_api_keys().await? {
                let state = match k.revoked_at {
                    Some(t) => format!("revoked {}", t.to_rfc3339()),
                    None => "active".to_owned(),
                };
                println!(
                    "{}\t{}\t{}…\t{}\t{}",
                    k.id,
                    k.name,
                    k.prefix,
                    k.created_at.to_rfc3339(),
                    state
                );
            }
        }
        KeysCommand::Revoke { id_or_name } => {
            store
                .revoke_api_key(&id_or_name)
                .await
                .map_err(|e| match e {
                    dpc_store::StoreError::NotFound => {
                        format!("no active key with id or name {id_or_name:?}")
                    }
                    other => other.to_string(),
                })?;
            println!("revoked");
        }
    }
    Ok(())
}
