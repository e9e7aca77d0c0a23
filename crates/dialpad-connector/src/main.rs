//! `dialpad-connector`: the one binary. `main` only parses arguments and hands over.

mod sim_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "dialpad-connector", version, about = "The open-source Dialpad connector")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the local Dialpad simulator (Dialpad API v2, OAuth server, test-control API).
    Sim(sim_cmd::SimArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => sim_cmd::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
