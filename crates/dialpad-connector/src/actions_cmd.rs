//! `dialpad-connector actions list | run ID --owner O --input JSON`: the actions catalog
//! (`dpc_core::actions`) and running one on a connection's Dialpad client, with the API's
//! status and permission checks.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use dpc_core::actions::{self, ActionError};
use dpc_server::operations::CONNECTOR_ID;
use dpc_server::{AppState, Config};
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct ActionsArgs {
    /// A TOML configuration file (as for `serve`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print JSON instead of a table (`list`: with each action's input and output schemas).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: ActionsCommand,
}

#[derive(Subcommand, Debug)]
enum ActionsCommand {
    /// Every action: id, what it is (read-only, destructive, idempotent), Dialpad's rate limit.
    List,
    /// Run an action on a connection and print its result (JSON).
    Run {
        /// The action id (see `actions list`), e.g. sendSms.
        id: String,
        /// The connection's owner id.
        #[arg(long)]
        owner: String,
        #[arg(long, default_value = CONNECTOR_ID)]
        connector: String,
        /// The input as JSON, `@FILE` to read it from a file, or `-` for standard input.
        #[arg(long, default_value = "{}")]
        input: String,
    },
}

pub async fn run(args: ActionsArgs) -> Result<(), Box<dyn std::error::Error>> {
    match args.command {
        ActionsCommand::List => {
            list(args.json)?;
            Ok(())
        }
        ActionsCommand::Run {
            id,
            owner,
            connector,
            input,
        } => {
            let info = actions::find(&id).ok_or_else(|| {
                let ids: Vec<&str> = actions::catalog().iter().map(|a| a.id).collect();
                format!(
                    "{}: no action `{id}`: the actions are {}",
                    dpc_core::ErrorCode::ActionNotFound,
                    ids.join(", ")
                )
            })?;
            let text = match input.as_str() {
                "-" => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s
                }
                s if s.starts_with('@') => std::fs::read_to_string(&s[1..])
                    .map_err(|e| format!("cannot read the input file {}: {e}", &s[1..]))?,
                s => s.to_owned(),
            };
            let input: Value = serde_json::from_str(&text)
                .map_err(|e| format!("REQUEST::INVALID: --input is not JSON: {e}"))?;
            // Checked before the store is opened: a bad input needs no connection.
            actions::validate(info.id, &input).map_err(|e| action_error(&e))?;
            let config = Config::load(args.config.as_deref())?;
            let store = dpc_server::connect_store(&config).await?;
            let state = AppState::new(config, store)?;
            let conn = dpc_server::connections::load(&state, &connector, &owner)
                .await
                .map_err(|e| format!("{}: {}", e.code, e.message))?;
            dpc_server::export::check_operation(&state, &conn, info.operation)
                .await
                .map_err(|e| format!("{}: {}", e.code, e.message))?;
            let cc = state
                .connection_client(&conn)
                .map_err(|e| format!("{}: {}", e.code, e.message))?;
            let out = actions::run(&cc.client, info.id, input)
                .await
                .map_err(|e| action_error(&e))?;
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
    }
}

fn action_error(e: &ActionError) -> String {
    format!("{}: {e}", e.code())
}

fn list(as_json: bool) -> Result<(), serde_json::Error> {
    let all = actions::catalog();
    if as_json {
        let data: Vec<Value> = all
            .iter()
            .map(|a| {
                let mut v = serde_json::to_value(a).unwrap_or_default();
                v["inputSchema"] = actions::input_schema(a.id).unwrap_or(Value::Null);
                v["outputSchema"] = actions::output_schema(a.id).unwrap_or(Value::Null);
                v
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"object": "list", "data": data}))?
        );
        return Ok(());
    }
    let kind = |a: &actions::ActionInfo| {
        let mut k = Vec::new();
        if a.read_only {
            k.push("read-only");
        }
        if a.destructive {
            k.push("destructive");
        }
        if a.idempotent {
            k.push("idempotent");
        }
        if k.is_empty() {
            "-".to_owned()
        } else {
            k.join(",")
        }
    };
    let rows: Vec<[String; 4]> = all
        .iter()
        .map(|a| {
            [
                a.id.to_owned(),
                kind(a),
                a.rate_limit.unwrap_or("-").to_owned(),
                a.title.to_owned(),
            ]
        })
        .collect();
    crate::table::print(["ACTION", "KIND", "DIALPAD LIMIT", "TITLE"], &rows);
    Ok(())
}
