//! `dialpad-connector events list | show ID | replay (ID | --endpoint EP [--since T])` and
//! `dialpad-connector endpoints list | create --url U`: the event log and the webhook endpoints
//! in the store `serve` uses (same configuration), through the same checks as the API
//! (`dpc_server::webhooks`). A running server delivers what these schedule: its delivery worker
//! polls the outbox every half second, and its repair loop notices a new endpoint within
//! seconds and registers the Dialpad subscriptions it needs.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use dpc_server::error::ApiError;
use dpc_server::webhooks::endpoints::{self, EndpointCreate, EndpointReplay, PageQuery};
use dpc_server::webhooks::log::{self, EventQuery};
use dpc_server::{AppState, Config};

use crate::table;

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// A TOML configuration file (as for `serve`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print JSON (the API's objects) instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Subcommand, Debug)]
enum EventsCommand {
    /// The event log, newest first.
    List {
        /// One event type, e.g. telephonyCall::created.
        #[arg(long)]
        event: Option<String>,
        /// One owner's events.
        #[arg(long)]
        owner: Option<String>,
        /// pending, delivered, failed or none.
        #[arg(long)]
        status: Option<String>,
        /// Events since this time (ISO-8601).
        #[arg(long)]
        since: Option<String>,
        /// Events before this time (ISO-8601).
        #[arg(long)]
        until: Option<String>,
        /// Most events printed (the store is paged through up to this many).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One event with its body, deliveries and attempts.
    Show { id: String },
    /// Send an event again (same webhook-id) to every endpoint that got or wanted it; or, with
    /// --endpoint, every failed delivery of that endpoint since --since (default: 24 hours).
    Replay {
        /// The event id (evt_…).
        #[arg(required_unless_present = "endpoint", conflicts_with = "endpoint")]
        id: Option<String>,
        #[arg(long)]
        endpoint: Option<String>,
        #[arg(long, requires = "endpoint")]
        since: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct EndpointsArgs {
    /// A TOML configuration file (as for `serve`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print JSON (the API's objects) instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: EndpointsCommand,
}

#[derive(Subcommand, Debug)]
enum EndpointsCommand {
    /// Every webhook endpoint (secrets are never listed).
    List,
    /// Register an endpoint; its signing secret (whsec_…) is printed this once.
    Create {
        /// Where events are POSTed (private and loopback addresses need
        /// DPC_WEBHOOKS_ALLOW_PRIVATE_URLS=true).
        #[arg(long)]
        url: String,
        /// Event types, comma-separated, or * (the default).
        #[arg(long, value_delimiter = ',', default_value = "*")]
        events: Vec<String>,
        /// Only this owner's events.
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
}

async fn state(config: Option<&std::path::Path>) -> Result<AppState, Box<dyn std::error::Error>> {
    let config = Config::load(config)?;
    let store = dpc_server::connect_store(&config).await?;
    Ok(AppState::new(config, store)?)
}

/// The API's error as one line: the stable code, the message, and the failing fields if any.
fn api_error(e: ApiError) -> String {
    let mut s = format!("{}: {}", e.code, e.message);
    if let Some(errors) = e
        .details
        .as_ref()
        .and_then(|d| d.get("errors"))
        .and_then(|v| v.as_array())
    {
        for err in errors.iter().skip(1) {
            if let (Some(f), Some(m)) = (err["field"].as_str(), err["message"].as_str()) {
                s.push_str(&format!("; {f}: {m}"));
            }
        }
    }
    s
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), serde_json::Error> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub async fn run_events(args: EventsArgs) -> Result<(), Box<dyn std::error::Error>> {
    let state = state(args.config.as_deref()).await?;
    match args.command {
        EventsCommand::List {
            event,
            owner,
            status,
            since,
            until,
            limit,
        } => {
            let mut all = Vec::new();
            let mut cursor = None;
            while (all.len() as u32) < limit {
                let page = log::list_page(
                    &state,
                    EventQuery {
                        cursor: cursor.take(),
                        limit: Some((limit - all.len() as u32).min(100)),
                        event: event.clone(),
                        owner_id: owner.clone(),
                        since: since.clone(),
                        until: until.clone(),
                        status: status.clone(),
                    },
                )
                .await
                .map_err(api_error)?;
                all.extend(page.data);
                match page.next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
            if args.json {
                print_json(&serde_json::json!({"object": "list", "data": all}))?;
            } else if all.is_empty() {
                println!("no events");
            } else {
                let rows: Vec<[String; 6]> = all
                    .iter()
                    .map(|e| {
                        [
                            e.id.clone(),
                            e.event.clone(),
                            e.owner_id.clone(),
                            e.resource_id.clone(),
                            e.status.clone(),
                            e.occurred_at.clone(),
                        ]
                    })
                    .collect();
                table::print(
                    ["ID", "EVENT", "OWNER", "RESOURCE", "STATUS", "OCCURRED"],
                    &rows,
                );
            }
        }
        EventsCommand::Show { id } => {
            let e = log::event_with_attempts(&state, &id)
                .await
                .map_err(api_error)?;
            print_json(&e)?;
        }
        EventsCommand::Replay {
            id,
            endpoint,
            since,
        } => {
            let answer = match (id, endpoint) {
                (Some(id), _) => log::replay_event(&state, &id).await,
                (None, Some(ep)) => {
                    endpoints::replay_endpoint(&state, &ep, EndpointReplay { since }).await
                }
                // clap requires one of the two; answered, not panicked, all the same.
                (None, None) => Err(ApiError::invalid("name an event id or --endpoint")),
            }
            .map_err(api_error)?;
            if args.json {
                print_json(&answer)?;
            } else {
                println!(
                    "{} deliveries scheduled; a running server sends them within a second",
                    answer.scheduled
                );
            }
        }
    }
    Ok(())
}

pub async fn run_endpoints(args: EndpointsArgs) -> Result<(), Box<dyn std::error::Error>> {
    let state = state(args.config.as_deref()).await?;
    match args.command {
        EndpointsCommand::List => {
            let mut all = Vec::new();
            let mut cursor = None;
            loop {
                let page = endpoints::list_page(
                    &state,
                    PageQuery {
                        cursor: cursor.take(),
                        limit: Some(100),
                    },
                )
                .await
                .map_err(api_error)?;
                all.extend(page.data);
                match page.next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
            if args.json {
                print_json(&serde_json::json!({"object": "list", "data": all}))?;
            } else if all.is_empty() {
                println!("no webhook endpoints");
            } else {
                let rows: Vec<[String; 5]> = all
                    .iter()
                    .map(|e| {
                        [
                            e.id.clone(),
                            e.url.clone(),
                            e.events.join(","),
                            e.owner_id.clone().unwrap_or_else(|| "-".into()),
                            match (&e.disabled, &e.disabled_reason) {
                                (false, _) => "enabled".into(),
                                (true, Some(r)) => format!("disabled ({r})"),
                                (true, None) => "disabled".into(),
                            },
                        ]
                    })
                    .collect();
                table::print(["ID", "URL", "EVENTS", "OWNER", "STATE"], &rows);
            }
        }
        EndpointsCommand::Create {
            url,
            events,
            owner,
            description,
            disabled,
        } => {
            let e = endpoints::create_endpoint(
                &state,
                EndpointCreate {
                    url,
                    events: Some(events),
                    owner_id: owner,
                    description,
                    disabled: Some(disabled),
                },
            )
            .await
            .map_err(api_error)?;
            if args.json {
                print_json(&e)?;
            } else {
                println!("created {} for {}", e.id, e.url);
                if let Some(s) = &e.secret {
                    println!("signing secret (shown this once): {s}");
                }
            }
        }
    }
    Ok(())
}
