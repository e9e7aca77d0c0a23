//! `dialpad-connector`: the one binary. `main` only parses arguments and hands over.

mod actions_cmd;
mod connections_cmd;
mod demo_cmd;
mod events_cmd;
mod export_cmd;
mod keys_cmd;
mod serve_cmd;
mod sim_cmd;
mod table;

use clap::{Parser, Subcommand};

/// mimalloc rather than the system allocator: the unified API allocates per mapped field, and
/// glibc's malloc and free were 40 % of the mapping profile (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "dialpad-connector",
    version,
    about = "The open-source Dialpad connector"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (configuration: defaults, `--config FILE`, then DPC_… variables).
    Serve(serve_cmd::ServeArgs),
    /// Apply the database migrations and exit.
    Migrate(serve_cmd::ServeArgs),
    /// Re-seal every stored secret under DPC_ENCRYPTION_KEY (old keys from
    /// DPC_ENCRYPTION_OLD_KEYS); resumable, safe while servers run.
    RotateKey(serve_cmd::ServeArgs),
    /// Manage API secret keys (`sk_…`) for your app's server.
    Keys(keys_cmd::KeysArgs),
    /// List, show or delete connections (`--json` for scripts).
    Connections(connections_cmd::ConnectionsArgs),
    /// List the actions, or run one on a connection (`--json` for scripts).
    Actions(actions_cmd::ActionsArgs),
    /// The event log: list, show, replay (`--json` for scripts).
    Events(events_cmd::EventsArgs),
    /// Webhook endpoints: list, create (the secret is printed once).
    Endpoints(events_cmd::EndpointsArgs),
    /// Export one connection's records of a model to NDJSON or CSV, resumable (`--resume`).
    Export(Box<export_cmd::ExportArgs>),
    /// Run the simulator and the server together, with copy-paste steps to connect an account.
    Demo(demo_cmd::DemoArgs),
    /// Run the local Dialpad simulator (Dialpad API v2, OAuth server, test-control API).
    Sim(sim_cmd::SimArgs),
    /// Print the OpenAPI 3.1 document of the connector API (JSON, as `GET /openapi.json`).
    Openapi,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal (and never with NO_COLOR): piped into a file
        // or a log collector, escape codes are noise.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve_cmd::serve(args).await,
        Command::Migrate(args) => serve_cmd::migrate(args).await,
        Command::RotateKey(args) => serve_cmd::rotate_key(args).await,
        Command::Keys(args) => keys_cmd::run(args).await,
        Command::Connections(args) => connections_cmd::run(args).await,
        Command::Actions(args) => actions_cmd::run(args).await,
        Command::Events(args) => events_cmd::run_events(args).await,
        Command::Endpoints(args) => events_cmd::run_endpoints(args).await,
        Command::Export(args) => export_cmd::run(*args).await,
        Command::Demo(args) => demo_cmd::run(args).await,
        Command::Sim(args) => sim_cmd::run(args).await,
        Command::Openapi => {
            print!("{}", dpc_server::openapi::document_text());
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Stopped by Ctrl-C with everything written kept: the shell's code for SIGINT.
        Err(e) if e.is::<export_cmd::Interrupted>() => {
            eprintln!("{e}");
            std::process::ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
