//! `bots`: strategies against each other in process (`tournament`), and bots against a
//! server over real connections (`load`).
#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;
use bots::StrategyKind;
use bots::link::TransportKind;
use bots::load::{LoadConfig, run};
use bots::tournament::dots_tournament;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(name = "bots", version, about = "Arbiter's bot players and load-test tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Two strategies play Dots and Boxes against each other in process; prints win rates.
    Tournament {
        /// First strategy.
        #[arg(long, default_value = "greedy")]
        a: StrategyKind,
        /// Second strategy.
        #[arg(long, default_value = "random")]
        b: StrategyKind,
        /// Matches to play (seats alternate).
        #[arg(long, default_value_t = 1000)]
        matches: u32,
        /// Board width and height, in boxes.
        #[arg(long, default_value_t = 5)]
        size: u8,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Keeps N matches of bots running against a server and measures them.
    Load(LoadArgs),
    /// Opens N idle spectator connections, prints `ready N`, holds them, then closes them.
    Idle {
        /// The server, `http://host:port`.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Connections to open.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// How long to hold them.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        hold: Duration,
        /// Transport: `ws` or `quic`.
        #[arg(long, value_enum, default_value = "ws")]
        transport: TransportKind,
    },
}

#[derive(clap::Args)]
struct LoadArgs {
    /// The server, `http://host:port`.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Matches kept running at once.
    #[arg(long, default_value_t = 10)]
    matches: usize,
    /// How long to run: `30s`, `2m`, `500ms`.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Each bot thinks this many ms before moving, on average. The default plays like people
    /// and stays within a default server's limits; 0 is as fast as the server lets it, which
    /// needs a server started with higher `--msgs-per-s` and `--msg-burst`.
    #[arg(long, default_value_t = 500)]
    think_ms: u64,
    /// How far each think time strays from `--think-ms`, as a fraction: drawn uniformly
    /// from T×[1−S, 1+S], seeded. 0 makes every bot answer exactly T after its event, which
    /// groups the load into waves that people do not make.
    #[arg(long, default_value_t = 0.5, value_parser = parse_spread)]
    think_spread: f64,
    /// Spectators per match.
    #[arg(long, default_value_t = 0)]
    spectators: usize,
    /// Transport: `ws`, or `quic` (its address and certificate pin come from `/api/quic`).
    #[arg(long, value_enum, default_value = "ws")]
    transport: TransportKind,
    /// The bots' strategy.
    #[arg(long, default_value = "greedy")]
    strategy: StrategyKind,
    /// Seed for the strategies.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The game to play (the bots binary knows the built-in games: dots, tictactoe,
    /// lightcycles).
    #[arg(long, default_value = "dots")]
    game: String,
    /// Seats of each match, each taken by a bot: what the match config asks for.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=8))]
    players: u8,
    /// The match config, as JSON (default: the game's own default; for dots, `--size`).
    #[arg(long, value_parser = parse_json)]
    config: Option<serde_json::Value>,
    /// Dots board side, in boxes, when `--config` is not given.
    #[arg(long, default_value_t = 5)]
    size: u8,
    /// Where failed matches' events are saved (the repository's .gitignore covers the
    /// default).
    #[arg(long, default_value = "bots-failures")]
    failures_dir: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) =
        text.find(|c: char| !c.is_ascii_digit()).map_or((text, "s"), |i| text.split_at(i));
    let n: u64 =
        number.parse().map_err(|_| format!("{text:?} is not a duration like 30s, 2m or 500ms"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{text:?}: the unit is ms, s or m")),
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // Every bot is a connection, and so a file descriptor.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    match cli.command {
        Command::Tournament { a, b, matches, size, seed } => {
            let standings = dots_tournament(a, b, matches, size, size, seed)?;
            println!(
                "{} vs {} over {matches} matches on {size}x{size} (seed {seed}):",
                a.name(),
                b.name()
            );
            for i in 0..2 {
                println!(
                    "  {:<8} wins {:>5}  win rate {:5.1}%",
                    standings.strategies[i].name(),
                    standings.wins[i],
                    100.0 * standings.win_rate(i)
                );
            }
            println!("  ties     {:>5}", standings.ties);
            Ok(())
        }
        Command::Load(args) => load(args),
        Command::Idle { server, count, hold, transport } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let opened = runtime.block_on(bots::load::hold_idle(
                server.trim_end_matches('/'),
                transport,
                count,
                hold,
                |n| {
                    println!("ready {n}");
                },
            ))?;
            println!("closed {opened}");
            Ok(())
        }
    }
}

/// Says what to do about what went wrong.
fn explain(report: &bots::load::Report, failures_dir: &std::path::Path) {
    if report.rate_limited > 0 {
        eprintln!(
            "the server rate-limited this run {} times (requests waited as its Retry-After \
             said; dropped moves failed their match): for more load, raise its limits \
             (arbiter serve --msgs-per-s, --msg-burst, --guests-per-ip-per-min, \
             --creations-per-min, --http-per-ip-per-s; see `arbiter serve --help`), or slow \
             the bots down with --think-ms",
            report.rate_limited
        );
    }
    if report.errors > 0 || report.desyncs > 0 {
        eprintln!("the events of failed matches are saved under {}", failures_dir.display());
    }
}

fn parse_spread(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a fraction from 0 to 1")),
    }
}

fn parse_json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|e| format!("not JSON: {e}"))
}

/// The config the matches of `args` are created with.
fn match_config(args: &LoadArgs) -> Result<serde_json::Value> {
    if builtin_games::games().find(&args.game).is_none() {
        let known: Vec<_> = builtin_games::games().ids().collect();
        anyhow::bail!("unknown game {:?}: the bots binary plays {}", args.game, known.join(", "));
    }
    Ok(match (&args.config, args.game.as_str()) {
        (Some(config), _) => config.clone(),
        (None, "dots") => {
            serde_json::json!({"width": args.size, "height": args.size, "players": args.players})
        }
        (None, _) => serde_json::Value::Null,
    })
}

fn load(args: LoadArgs) -> Result<()> {
    let config = LoadConfig {
        server: args.server.trim_end_matches('/').to_string(),
        matches: args.matches,
        duration: args.duration,
        think: Duration::from_millis(args.think_ms),
        think_spread: args.think_spread,
        spectators: args.spectators,
        strategy: args.strategy,
        seed: args.seed,
        game: args.game.clone(),
        players: usize::from(args.players),
        config: match_config(&args)?,
        failures_dir: args.failures_dir.clone(),
        transport: args.transport,
    };
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(args.duration.as_secs())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len}s {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let progress_bar = bar.clone();
    let report = runtime.block_on(run(config, move |c, elapsed| {
        progress_bar.set_position(elapsed.as_secs());
        progress_bar.set_message(format!(
            "{} moves, {} matches, {} errors, {} desyncs",
            c.moves.load(Ordering::Relaxed),
            c.matches.load(Ordering::Relaxed),
            c.errors.load(Ordering::Relaxed),
            c.desyncs.load(Ordering::Relaxed)
        ));
    }))?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("matches completed  {}", report.matches_completed);
        println!("moves              {} ({:.0}/s)", report.moves, report.moves_per_s);
        println!(
            "latency µs         p50 {}  p99 {}  p99.9 {}  max {}",
            report.latency_us_p50,
            report.latency_us_p99,
            report.latency_us_p999,
            report.latency_us_max
        );
        if report.tick_events > 0 {
            println!(
                "ticks received     {} ({:.0} bytes each)  interval µs p1 {}  p50 {}  p99 {}  max {}",
                report.tick_events,
                report.tick_bytes as f64 / report.tick_events as f64,
                report.tick_interval_us_p1,
                report.tick_interval_us_p50,
                report.tick_interval_us_p99,
                report.tick_interval_us_max
            );
            println!(
                "tick delay µs      p50 {}  p99 {}  max {} (after each match's schedule)",
                report.tick_delay_us_p50, report.tick_delay_us_p99, report.tick_delay_us_max
            );
        }
        println!(
            "rejects {}  errors {}  desyncs {}  rate-limited {}  connections {}",
            report.rejects, report.errors, report.desyncs, report.rate_limited, report.connections
        );
    }
    explain(&report, &args.failures_dir);
    if report.desyncs > 0 || report.errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}
