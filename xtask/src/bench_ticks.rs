//! `cargo xtask bench --realtime`: the real-time tick benchmark. Starts the release `arbiter`
//! with the durable disk store (pinned to core 0 where the machine has two), keeps 200 light
//! cycles matches of 4 bots at 20 Hz running with `bots load` (pinned to core 1), and reads
//! the server's `/metrics` and `/proc` at the start and the end of a window after a warm-up:
//! ticks per second scheduled and achieved, tick lateness and deadline-to-broadcast
//! percentiles, server CPU per tick per match, bytes per tick per viewer. Writes the table under
//! `target/bench/`, and into docs/PERFORMANCE.md with `--update-docs`.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench::{
    LogFigures, Server, Setup, free_addr, metrics_text, pinned, process_cpu_us, process_wait_us,
};
use crate::floor::Floor;
use crate::histogram::Buckets;

const START: &str = "<!-- ticks:start -->";
const END: &str = "<!-- ticks:end -->";

/// Matches kept running, bots per match, and their clock.
const MATCHES: u32 = 200;
const PLAYERS: u32 = 4;
const TICK_HZ: u32 = 20;
/// The largest arena the game allows: 4 steering cycles last about a minute in it, so few
/// matches end within a window; each that ends is replaced by a new one.
const ARENA: u32 = 64;

/// How long the load runs before the window (connections, matches, first ticks) and the
/// window measured.
#[derive(Debug, Clone, Copy)]
struct Timing {
    warm_up: Duration,
    window: Duration,
}

/// What one run measured.
struct Run {
    /// `disk` or `memory`.
    store: &'static str,
    /// The load averages over 1, 5 and 15 minutes at the window's start.
    loadavg: String,
    /// The server's figures and both processes' CPU over the window.
    window: Scrape,
    /// The load tool's report of the whole run.
    report: Value,
}

/// Runs the benchmark on the durable store, then on the memory store to show what the disk
/// adds; `quick` is a short window for trying the command out.
pub fn bench(quick: bool, update_docs: bool) -> Result<()> {
    let timing = if quick {
        Timing { warm_up: Duration::from_secs(8), window: Duration::from_secs(20) }
    } else {
        Timing { warm_up: Duration::from_secs(20), window: Duration::from_secs(120) }
    };
    let setup = Setup::prepare("arbiter-ticks")?;
    let out = setup.root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    let mut runs = Vec::new();
    for store in ["disk", "memory"] {
        let run = run_on(&setup, store, timing);
        let _ = std::fs::remove_dir_all(&setup.data);
        let run = run?;
        std::fs::write(out.join(format!("ticks-load-{store}.json")), run.report.to_string())?;
        runs.push(run);
    }
    let table = render(&runs, &setup.floor, setup.pin, timing);
    eprintln!("{table}");
    std::fs::write(out.join("ticks.md"), &table)?;
    eprintln!("wrote target/bench/ticks.md and the load tool's reports beside it");
    if update_docs {
        let page = setup.root.join("docs/PERFORMANCE.md");
        crate::bench::write_section(&page, &table, (START, END), "Real-time ticks")?;
        eprintln!("wrote docs/PERFORMANCE.md");
    }
    Ok(())
}

/// One run against a server on `store`.
fn run_on(setup: &Setup, store: &'static str, timing: Timing) -> Result<Run> {
    let addr = free_addr()?;
    let exe = setup.release.join("arbiter");
    let server = Server::start(&exe, store, &setup.data, &addr, setup.pin)?;
    eprintln!("== {store} store");
    let measured = measure(&server, &setup.release.join("bots"), &addr, timing, setup.pin);
    server.stop()?;
    Ok(Run { store, ..measured? })
}

/// Runs the load, reads the server before and after the window, and collects the load tool's
/// report.
fn measure(server: &Server, bots: &Path, addr: &str, timing: Timing, pin: bool) -> Result<Run> {
    let total = timing.warm_up + timing.window + Duration::from_secs(3);
    let mut load = start_load(bots, &format!("http://{addr}"), total, pin)?;
    eprintln!("== {MATCHES} matches of {PLAYERS} bots at {TICK_HZ} Hz: warming up");
    std::thread::sleep(timing.warm_up);
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let before = Scrape::take(server, &load, addr)?;
    eprintln!("== measuring for {} s", timing.window.as_secs());
    std::thread::sleep(timing.window);
    let after = Scrape::take(server, &load, addr)?;
    let report = finish_load(&mut load)?;
    let loadavg = loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    Ok(Run { store: "", loadavg, window: after.since(&before), report })
}

/// The server's figures and both processes' CPU at one instant.
struct Scrape {
    lateness: Buckets,
    broadcast: Buckets,
    skipped: f64,
    log: LogFigures,
    server_cpu_us: u64,
    load_cpu_us: u64,
    /// Time the processes' threads waited for a CPU while runnable.
    server_wait_us: u64,
    load_wait_us: u64,
}

impl Scrape {
    fn take(server: &Server, load: &Child, addr: &str) -> Result<Scrape> {
        let server_cpu_us = server.cpu_us()?;
        let load_cpu_us = process_cpu_us(load.id())?;
        let (server_wait_us, load_wait_us) =
            (process_wait_us(server.id())?, process_wait_us(load.id())?);
        let text = metrics_text(addr)?;
        let skipped = text
            .lines()
            .find_map(|l| l.strip_prefix("arbiter_ticks_skipped_total ")?.trim().parse().ok())
            .unwrap_or(0.0);
        Ok(Scrape {
            lateness: Buckets::parse(&text, "arbiter_tick_lateness_seconds"),
            broadcast: Buckets::parse(&text, "arbiter_tick_broadcast_seconds"),
            skipped,
            log: LogFigures::read(&text),
            server_cpu_us,
            load_cpu_us,
            server_wait_us,
            load_wait_us,
        })
    }

    /// What happened between `before` and this scrape.
    fn since(&self, before: &Scrape) -> Scrape {
        Scrape {
            lateness: self.lateness.since(&before.lateness),
            broadcast: self.broadcast.since(&before.broadcast),
            skipped: self.skipped - before.skipped,
            log: self.log.since(&before.log),
            server_cpu_us: self.server_cpu_us.saturating_sub(before.server_cpu_us),
            load_cpu_us: self.load_cpu_us.saturating_sub(before.load_cpu_us),
            server_wait_us: self.server_wait_us.saturating_sub(before.server_wait_us),
            load_wait_us: self.load_wait_us.saturating_sub(before.load_wait_us),
        }
    }
}

/// Starts `bots load` on light cycles for `duration`, its JSON report on stdout.
fn start_load(bots: &Path, url: &str, duration: Duration, pin: bool) -> Result<Child> {
    let config =
        format!(r#"{{"width":{ARENA},"height":{ARENA},"players":{PLAYERS},"tick_hz":{TICK_HZ}}}"#);
    pinned("1", pin, bots)
        .args(["load", "--game", "lightcycles", "--server", url, "--config", &config])
        .args(["--players", &PLAYERS.to_string(), "--matches", &MATCHES.to_string()])
        .args(["--duration", &format!("{}s", duration.as_secs()), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running bots load")
}

/// Waits for the load tool and reads its report; a run with errors or desyncs is refused.
fn finish_load(load: &mut Child) -> Result<Value> {
    let mut text = String::new();
    if let Some(mut out) = load.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut text)?;
    }
    load.wait()?;
    let report: Value =
        serde_json::from_str(text.trim()).with_context(|| format!("bots load printed {text:?}"))?;
    if report["errors"] != 0 || report["desyncs"] != 0 {
        bail!("the load run had errors or desyncs: {report}");
    }
    Ok(report)
}

/// Milliseconds, two decimals; a dash without observations.
fn ms(seconds: Option<f64>) -> String {
    match seconds {
        Some(s) if s.is_infinite() => "> 1000".into(),
        Some(s) => format!("{:.2}", s * 1000.0),
        None => "–".into(),
    }
}

fn render(runs: &[Run], floor: &Floor, pin: bool, timing: Timing) -> String {
    let mut t = String::new();
    t.push_str("| store | load avg (1 min) | waiting for a CPU, server / load tool, ms/s | offered ticks/s | rooms ticking (mean) | ticks/s due on their clocks | achieved ticks/s | lateness p50 / p99 ms | lateness max ms (≤) | deadline → broadcast p50 / p99 ms | server CPU µs per tick per match | floor µs | core busy, server / load tool, % | bytes per tick per viewer | client: tick delay after schedule p50 / p99 / max ms | matches ended | appends per commit | durability wait µs (mean) |\n");
    t.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for run in runs {
        t.push_str(&row(run, floor, timing));
    }
    t.push_str(&notes(floor, pin, timing));
    t
}

/// One run's line of the table.
fn row(run: &Run, floor: &Floor, timing: Timing) -> String {
    let w = &run.window;
    let window_s = timing.window.as_secs_f64();
    let ticks = w.lateness.count();
    let per_tick = |us: u64| us as f64 / ticks.max(1.0);
    let busy = |us: u64| us as f64 / 1e4 / window_s;
    let q = &run.report;
    let tick_events = q["tick_events"].as_f64().unwrap_or(0.0);
    let viewer_bytes = q["tick_bytes"].as_f64().unwrap_or(0.0) / tick_events.max(1.0);
    let commit_us = if run.store == "disk" { floor.commit_cpu_us } else { 0.0 };
    let floor_us = f64::from(PLAYERS) * floor.exchange_cpu_us
        + commit_us / w.log.appends_per_commit().max(1.0);
    let client_ms = |k: &str| q[k].as_f64().unwrap_or(0.0) / 1000.0;
    format!(
        "| {} | {} | {:.0} / {:.0} | {} | {:.0} | {:.0} | {:.0} | {} / {} | {} | {} / {} | {:.1} | {:.1} | {:.0} / {:.0} | {:.1} | {:.1} / {:.1} / {:.1} | {} | {:.1} | {:.0} |\n",
        run.store,
        run.loadavg.split_whitespace().next().unwrap_or("?"),
        w.server_wait_us as f64 / 1000.0 / window_s,
        w.load_wait_us as f64 / 1000.0 / window_s,
        MATCHES * TICK_HZ,
        ticks / window_s / f64::from(TICK_HZ),
        (ticks + w.skipped) / window_s,
        ticks / window_s,
        ms(w.lateness.quantile(0.5)),
        ms(w.lateness.quantile(0.99)),
        ms(w.lateness.max_bound()),
        ms(w.broadcast.quantile(0.5)),
        ms(w.broadcast.quantile(0.99)),
        per_tick(w.server_cpu_us),
        floor_us,
        busy(w.server_cpu_us),
        busy(w.load_cpu_us),
        viewer_bytes,
        client_ms("tick_delay_us_p50"),
        client_ms("tick_delay_us_p99"),
        client_ms("tick_delay_us_max"),
        q["matches_completed"],
        w.log.appends_per_commit(),
        w.log.mean_wait_us(),
    )
}

fn notes(floor: &Floor, pin: bool, timing: Timing) -> String {
    format!(
        "\nRun with `cargo xtask bench --realtime`: {MATCHES} light cycles matches of {PLAYERS} bots at {TICK_HZ} Hz on a {ARENA}×{ARENA} arena, a new match for each that ends; server pinned to core 0 and load tool to core 1: {}; the durable disk log, then the memory store; {} s warm-up, then a {} s window (server figures and both processes' CPU from the window; bytes, the client's tick delays and the matches ended from the whole run).\n\nFloor measured in the same run, on the server's core: one durable commit {:.1} µs CPU; one loopback exchange (a 100-byte frame written, a 1-byte answer read from a peer on the other core) {:.1} µs. Floor per tick per match = {PLAYERS} exchanges (the tick's event written to each bot, their inputs read) + one commit ÷ appends per commit (none on the memory store).\n",
        if pin { "yes" } else { "no (fewer than two cores)" },
        timing.warm_up.as_secs(),
        timing.window.as_secs(),
        floor.commit_cpu_us,
        floor.exchange_cpu_us,
    )
}
