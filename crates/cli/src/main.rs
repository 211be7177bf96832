//! `stateplane`: the one binary. `stateplane server` runs the control plane; client verbs
//! (`stateplane deployment …`, `stateplane savepoint …`) will join the [`Command`] enum.

use clap::{Parser, Subcommand};

mod server;

#[derive(Parser, Debug)]
#[command(
    name = "stateplane",
    version,
    about = "Runs Apache Flink jobs as Deployments, with savepoints as first-class resources"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the control plane: the HTTP API (and the controller) on one data directory.
    Server(server::ServerArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Server(args) => runtime.block_on(server::run(args)),
    }
}
