//! The `arbiter` binary: `arbiter serve` runs the server until SIGINT or SIGTERM; `export`,
//! `import`, `fork` and `verify` are the log's tools (see `cli.rs`).

mod cli;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::config::LogFormat;
use server::idle::RuntimeIdle;
use server::{Config, Server, StartError};
use tracing_subscriber::EnvFilter;

/// Arbiter: an authoritative, event-sourced multiplayer game-state server.
#[derive(Parser)]
#[command(name = "arbiter", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP and WebSocket clients.
    Serve(Box<Config>),
    /// Write one match of a data dir as a self-contained, hash-chained file.
    Export(cli::ExportArgs),
    /// Load an export file into a data dir (the server stopped), after checking it.
    Import(cli::ImportArgs),
    /// Start a new match from another's history up to an event, every seat open (the
    /// server stopped); prints the new match's id.
    Fork(cli::ForkArgs),
    /// Replay every match of a data dir (or an export file) under the current rules and
    /// report each whose state hashes differ. Exits 1 on any divergence.
    Verify(cli::VerifyArgs),
}

fn main() -> std::process::ExitCode {
    // clap exits with code 2 and a clear message on unknown or invalid flags.
    let cli = Cli::parse();
    let result = match cli.command {
        // The built-in games are registered here, not in the server library: a program that
        // embeds the server registers its own the same way (see examples/).
        Command::Serve(config) => serve(Config { games: builtin_games::games(), ..*config }),
        Command::Export(args) => cli::export(&args, &builtin_games::games()),
        Command::Import(args) => cli::import(&args, &builtin_games::games()),
        Command::Fork(args) => cli::fork(&args, &builtin_games::games()),
        Command::Verify(args) => match cli::verify(&args, &builtin_games::games()) {
            Ok(true) => Ok(()),
            Ok(false) => return std::process::ExitCode::FAILURE,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line with its causes, not a backtrace: this is for operators.
            eprintln!("arbiter: {error:#}");
            if let Some(hint) = hint(&error) {
                eprintln!("hint: {hint}");
            }
            let invalid_setting = matches!(
                error.downcast_ref::<StartError>(),
                Some(StartError::SigningKey | StartError::WebDir { .. })
            ) || error.is::<BadWorkerCount>();
            std::process::ExitCode::from(if invalid_setting { 2 } else { 1 })
        }
    }
}

/// What to do about a failure to start, where the cause says.
fn hint(error: &anyhow::Error) -> Option<&'static str> {
    let io = error.chain().find_map(|e| e.downcast_ref::<std::io::Error>());
    match (error.downcast_ref::<StartError>(), io.map(std::io::Error::kind)) {
        (Some(StartError::Bind { .. }), Some(std::io::ErrorKind::AddrInUse)) => Some(
            "another process listens there: stop it, or choose another address with --http (or ARBITER_HTTP)",
        ),
        (Some(StartError::Bind { .. }), Some(std::io::ErrorKind::PermissionDenied)) => {
            Some("ports below 1024 need privileges: use a higher port with --http")
        }
        (Some(StartError::DataDir { .. }), _) => Some(
            "the data directory must be writable: choose another with --data-dir (or ARBITER_DATA_DIR)",
        ),
        (Some(StartError::SigningKey), _) => Some(
            "give 64 hex digits, or leave --signing-key unset to keep a generated key in the data directory",
        ),
        _ => None,
    }
}

/// `TOKIO_WORKER_THREADS` is set to something other than a positive integer.
#[derive(Debug, thiserror::Error)]
#[error("TOKIO_WORKER_THREADS must be a positive integer, not {0:?}")]
struct BadWorkerCount(String);

fn serve(config: Config) -> anyhow::Result<()> {
    init_tracing(config.log_format);
    // Each connection is a file descriptor: use all the system allows (soft limit up to hard).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open files limit"),
    }
    // Tokio's own default worker count, made explicit: the idle gate must know how many there
    // are (and setting it would otherwise hide TOKIO_WORKER_THREADS).
    let workers = match std::env::var("TOKIO_WORKER_THREADS") {
        Ok(value) => match value.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return Err(BadWorkerCount(value).into()),
        },
        Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let idle = RuntimeIdle::new(workers);
    let runtime = idle
        .install(tokio::runtime::Builder::new_multi_thread().enable_all())
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let server = Server::start_with(config, Some(idle)).await.context("starting the server")?;
        // Unfinished matches need no warming: a room loads from the log on its first use.
        tracing::info!(addr = %server.addr(), "ready");
        wait_for_signal().await?;
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok(())
    })
}

fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_env("ARBITER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal: escape codes in a log file are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// SIGINT or SIGTERM (Ctrl-C elsewhere).
#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// Ctrl-C (there is no SIGTERM off Unix).
#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
}
