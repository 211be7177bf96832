//! `stateplane`: the one binary. `stateplane server` runs the control plane (API, controller and web
//! UI); the client verbs (`deployment`, `savepoint`, `restore-preview`, `events`, `job`, `token`)
//! drive a server through its public API.
//!
//! A client verb that fails prints one line on stderr (`error: <message>`) and exits 1; clap's usage
//! errors exit 2.

use clap::{Parser, Subcommand};

mod client;
mod server;

use client::deployment::DeploymentCmd;
use client::job::JobCmd;
use client::savepoint::SavepointCmd;
use client::{Client, GlobalArgs};

#[derive(Parser, Debug)]
#[command(
    name = "stateplane",
    version,
    about = "Runs Apache Flink jobs as Deployments, with savepoints as first-class resources"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the control plane: the HTTP API, the controller and the web UI on one data directory.
    Server(server::ServerArgs),
    /// Create, inspect, start and stop deployments.
    #[command(subcommand)]
    Deployment(DeploymentCmd),
    /// Take, register, list, copy and delete savepoints.
    #[command(subcommand)]
    Savepoint(SavepointCmd),
    /// Which snapshot the next start of a deployment restores from, and why the others are skipped.
    RestorePreview {
        /// Deployment name or id.
        name: String,
    },
    /// A deployment's events, oldest first.
    Events {
        /// Deployment name or id.
        #[arg(long)]
        deployment: String,
        /// Keep printing new events as they happen (until interrupted).
        #[arg(long)]
        follow: bool,
    },
    /// A deployment's Flink jobs.
    #[command(subcommand)]
    Job(JobCmd),
    /// Snapshot storage: the orphan report, and disposal of orphans on request.
    #[command(subcommand)]
    Storage(client::storage::StorageCmd),
    /// Create, list and delete the namespace's API tokens (with `server --auth`).
    #[command(subcommand)]
    Token(client::token::TokenCmd),
    /// Who the token is and what role it has in the namespace (`GET …/access`).
    Whoami,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Command::Server(args) = cli.command {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .with_writer(std::io::stderr)
            .init();
        return match runtime.block_on(server::run(args)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:?}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(run_client(&cli.global, cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever the message holds.
            let msg = e.to_string().replace(['\n', '\r'], " ");
            eprintln!("error: {msg}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_client(global: &GlobalArgs, command: Command) -> client::Result<()> {
    let c = Client::new(global)?;
    let out = global.output;
    match command {
        Command::Server(_) => Ok(()),
        Command::Deployment(cmd) => client::deployment::run(&c, out, cmd).await,
        Command::Savepoint(cmd) => client::savepoint::run(&c, out, cmd).await,
        Command::RestorePreview { name } => {
            client::savepoint::restore_preview(&c, out, &name).await
        }
        Command::Events { deployment, follow } => {
            client::job::events(&c, out, &deployment, follow).await
        }
        Command::Job(cmd) => client::job::run(&c, out, cmd).await,
        Command::Token(cmd) => client::token::run(&c, out, cmd).await,
        Command::Whoami => client::token::whoami(&c, out).await,
        Command::Storage(cmd) => client::storage::run(&c, out, cmd).await,
    }
}
