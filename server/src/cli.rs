//! `arbiter export`, `import` and `verify`: flags, progress and printing around
//! `server::tools`.

use std::path::PathBuf;

use anyhow::Context;
use game_rules::Games;
use indicatif::{ProgressBar, ProgressStyle};
use server::storage::{
    DiskLog, DiskOptions, Durability, EventLog, NoObserver, Pacing, SEGMENT_BYTES,
};
use server::tools;

/// `arbiter export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The match.
    match_id: String,
    /// The data directory.
    #[arg(long, env = "ARBITER_DATA_DIR", default_value = "arbiter-data")]
    data_dir: PathBuf,
    /// Where to write (default: standard output).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// `arbiter import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The export file.
    file: PathBuf,
    /// The data directory (no server may have it open).
    #[arg(long, env = "ARBITER_DATA_DIR", default_value = "arbiter-data")]
    data_dir: PathBuf,
    /// The match id to import under (default: the exported one).
    #[arg(long = "as")]
    as_id: Option<String>,
}

/// `arbiter fork`.
#[derive(clap::Args)]
pub struct ForkArgs {
    /// The match to fork.
    match_id: String,
    /// The last event the fork holds: its history is events `0..=at`.
    #[arg(long)]
    at: u64,
    /// The data directory (no server may have it open).
    #[arg(long, env = "ARBITER_DATA_DIR", default_value = "arbiter-data")]
    data_dir: PathBuf,
}

/// `arbiter verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// An export file to verify instead of a data dir.
    file: Option<PathBuf>,
    /// The data directory (read only; a server may be running on it).
    #[arg(long, env = "ARBITER_DATA_DIR", default_value = "arbiter-data")]
    data_dir: PathBuf,
}

pub fn export(args: &ExportArgs, games: &Games) -> anyhow::Result<()> {
    let export = tools::export(games, &args.data_dir, &args.match_id)?;
    let json = serde_json::to_vec_pretty(&export).context("encoding the export")?;
    match &args.out {
        Some(path) => server::files::write_atomically(path, &json, false)
            .with_context(|| format!("writing {}", path.display()))?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&json).context("writing to standard output")?;
        }
    }
    Ok(())
}

/// The data dir's log, opened for writing (the server stopped).
fn open_log(data_dir: &std::path::Path, games: &Games) -> anyhow::Result<DiskLog> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let options = DiskOptions {
        durability: Durability::Full,
        segment_bytes: SEGMENT_BYTES,
        pacing: Pacing::Eager,
        observer: std::sync::Arc::new(NoObserver),
        summarize: server::replay::summarizer(games),
        rebuild: false,
    };
    Ok(DiskLog::open(data_dir, options)?)
}

pub fn import(args: &ImportArgs, games: &Games) -> anyhow::Result<()> {
    let json =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let log = open_log(&args.data_dir, games)?;
    let id = tools::import(games, &log, &json, args.as_id.as_deref())?;
    log.close();
    eprintln!("imported match {id}");
    Ok(())
}

pub fn fork(args: &ForkArgs, games: &Games) -> anyhow::Result<()> {
    let log = open_log(&args.data_dir, games)?;
    let id = tools::fork(games, &log, &args.match_id, args.at)?;
    log.close();
    // The id alone on standard output, for scripts.
    use std::io::Write;
    writeln!(std::io::stdout(), "{id}").context("writing to standard output")?;
    Ok(())
}

/// Returns whether everything verified.
pub fn verify(args: &VerifyArgs, games: &Games) -> anyhow::Result<bool> {
    if let Some(file) = &args.file {
        let json = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let checked = tools::verify_file(games, &json);
        report(std::slice::from_ref(&checked));
        return Ok(checked.divergence.is_none());
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} matches {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let checked = tools::verify_dir(games, &args.data_dir, |done, total, c| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        if c.divergence.is_some() {
            bar.set_message(format!("{} diverge", c.match_id));
        }
    })?;
    bar.finish_and_clear();
    report(&checked);
    Ok(checked.iter().all(|c| c.divergence.is_none()))
}

/// One line per divergent match, then a summary, on standard error.
fn report(checked: &[server::tools::Checked]) {
    let mut diverged = 0;
    for c in checked {
        if let Some(why) = &c.divergence {
            diverged += 1;
            eprintln!("{}: {why}", c.match_id);
        }
    }
    let events: usize = checked.iter().map(|c| c.events).sum();
    eprintln!("{} matches, {events} events checked; {diverged} diverge", checked.len());
}
