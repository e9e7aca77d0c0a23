//! `dialpad-connector connections list | show OWNER | delete OWNER`: the connections in the
//! store `serve` uses (same configuration), as a table or, with `--json`, as the API's
//! connection objects. Credentials are never read for display: nothing secret can be printed.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use dpc_server::connections::{connection_json, ConnectionObject};
use dpc_server::operations::CONNECTOR_ID;
use dpc_server::{AppState, Config};

#[derive(Args, Debug)]
pub struct ConnectionsArgs {
    /// A TOML configuration file (as for `serve`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print JSON (the API's connection objects) instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: ConnectionsCommand,
}

#[derive(Subcommand, Debug)]
enum ConnectionsCommand {
    /// Every connection: owner, status, operations, missing scopes.
    List,
    /// One connection in full.
    Show {
        /// The owner id (your customer's id, as given when the connection was created).
        owner: String,
        #[arg(long, default_value = CONNECTOR_ID)]
        connector: String,
    },
    /// Delete a connection with its credentials (deauthorized at Dialpad when no other
    /// connection shares the grant; its Dialpad event subscriptions are removed).
    Delete {
        owner: String,
        #[arg(long, default_value = CONNECTOR_ID)]
        connector: String,
    },
}

/// Most rows one store call lists (the store pages; the command follows to the end).
const PAGE: u32 = 100;

pub async fn run(args: ConnectionsArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(args.config.as_deref())?;
    let store = dpc_server::connect_store(&config).await?;
    match args.command {
        ConnectionsCommand::List => {
            let mut all = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let (items, next) = store
                    .list_connections(None, cursor.as_deref(), PAGE)
                    .await?;
                all.extend(items.iter().map(connection_json));
                match next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
            if args.json {
                let list = serde_json::json!({"object": "list", "data": all, "next": null});
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print_table(&all);
            }
        }
        ConnectionsCommand::Show { owner, connector } => {
            let conn = store
                .get_connection(&connector, &owner)
                .await?
                .ok_or_else(|| not_found(&connector, &owner))?;
            let c = connection_json(&conn);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "-".to_owned()
                    } else {
                        v.join(", ")
                    }
                };
                println!("connector       {}", c.connector_id);
                println!("owner           {}", c.owner_id);
                println!("status          {}", status_text(&c));
                println!("operations      {}", list(&c.operations));
                println!("scopes          {}", list(&c.scopes));
                println!("missing scopes  {}", list(&c.missing_scopes));
                if let Some(u) = &conn.dialpad_user_id {
                    println!("dialpad user    {u}");
                }
                if let Some(co) = &conn.dialpad_company_id {
                    println!("dialpad company {co}");
                }
                println!("created         {}", c.created_at);
                println!("updated         {}", c.updated_at);
            }
        }
        ConnectionsCommand::Delete { owner, connector } => {
            let conn = store
                .get_connection(&connector, &owner)
                .await?
                .ok_or_else(|| not_found(&connector, &owner))?;
            // The server's own delete (credentials, sessions, states, the events intake, and
            // Dialpad's side in the background), which needs the server's state.
            let state = AppState::new(config, store)?;
            let (deleted, background) = dpc_server::connections::remove_connection(&state, &conn)
                .await
                .map_err(|e| format!("{}: {}", e.code, e.message))?;
            // The process would end the clean-up at Dialpad; it is bounded by its own deadline.
            if let Some(task) = background {
                let _ = task.await;
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&deleted)?);
            } else {
                println!("deleted {}/{}", deleted.connector_id, deleted.owner_id);
            }
        }
    }
    Ok(())
}

fn not_found(connector: &str, owner: &str) -> String {
    format!("no connection {connector}/{owner} (see `dialpad-connector connections list`)")
}

fn status_text(c: &ConnectionObject) -> String {
    serde_json::to_value(c.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Aligned columns, one connection a line (owner ids are free text: a tab in one would break
/// the columns, so control characters are shown escaped).
fn print_table(all: &[ConnectionObject]) {
    if all.is_empty() {
        println!("no connections");
        return;
    }
    let rows: Vec<[String; 6]> = all
        .iter()
        .map(|c| {
            [
                c.connector_id.clone(),
                c.owner_id.clone(),
                status_text(c),
                c.operations.len().to_string(),
                if c.missing_scopes.is_empty() {
                    "-".to_owned()
                } else {
                    c.missing_scopes.join(",")
                },
                c.updated_at.clone(),
            ]
        })
        .collect();
    let head = [
        "CONNECTOR",
        "OWNER",
        "STATUS",
        "OPERATIONS",
        "MISSING SCOPES",
        "UPDATED",
    ];
    crate::table::print(head, &rows);
}
