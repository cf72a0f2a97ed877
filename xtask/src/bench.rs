//! `cargo xtask bench`: the load benchmark. Measures this machine's floor (`floor.rs`), starts
//! the release `arbiter` with the durable disk store in a temp dir (pinned to core 0 where the
//! machine has two), drives it with the `bots` load tool (pinned to core 1), and reports for
//! each scenario, over WebSocket and over QUIC: moves/s, latency percentiles, server CPU µs per
//! move (from /proc, independent of the client's speed) beside the floor, and server RSS. Then
//! the same fixed load on the memory store, and on the Colyseus peer (`peer.rs`) where it is
//! present. Writes the tables and a latency plot under `target/bench/`, and into
//! docs/PERFORMANCE.md and docs/latency.svg with `--update-docs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::floor::{self, Floor};
use crate::peer;
use crate::sh;

const START: &str = "<!-- bench:start -->";
const END: &str = "<!-- bench:end -->";

/// Options: `--quick` runs short scenarios (for trying the command out); `--update-docs` also
/// writes the figures into docs/PERFORMANCE.md and docs/latency.svg.
pub fn bench(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let update_docs = args.iter().any(|a| a == "--update-docs");
    if args.iter().any(|a| a == "--realtime") {
        return crate::bench_ticks::bench(quick, update_docs);
    }
    let secs = if quick { "5s" } else { "20s" };
    let idle_conns = if quick { "1000" } else { "10000" };
    let Setup { root, release, pin, data, floor } = Setup::prepare("arbiter-bench")?;
    let addr = free_addr()?;
    let server = Server::start(&release.join("arbiter"), "disk", &data, &addr, pin)?;
    let url = format!("http://{addr}");
    let bots = release.join("bots");

    let mut rows = Vec::new();
    // In lockstep every bot answers exactly 50 ms after its event; the spread row draws each
    // think time from 25..75 ms, as players do. Each runs over both transports, one after the
    // other, so their figures come from the same server and the same minute.
    let scenarios = [
        ("fixed ~2,000 moves/s, lockstep", "100", "50", "0"),
        ("fixed ~2,000 moves/s, think ±50%", "100", "50", "0.5"),
        ("saturation", "200", "0", "0"),
    ];
    for ((name, matches, think, spread), transport) in
        scenarios.into_iter().flat_map(|s| [(s, "ws"), (s, "quic")])
    {
        eprintln!("== {name} over {transport}");
        let cpu_before = server.cpu_us()?;
        let log_before = LogFigures::scrape(&addr)?;
        let report = run_load(&bots, &url, transport, [matches, think, spread, secs], pin)?;
        let cpu = server.cpu_us()? - cpu_before;
        let log = LogFigures::scrape(&addr)?.since(&log_before);
        let moves = report["moves"].as_u64().unwrap_or(0).max(1);
        rows.push(Row {
            name,
            store: "disk",
            transport,
            matches,
            think,
            cpu_per_move_us: cpu as f64 / moves as f64,
            load_cpu_per_move_us: load_cpu_per_move(&report),
            rss_mib: server.rss_kib()? as f64 / 1024.0,
            log,
            report,
        });
    }
    eprintln!("== idle connections");
    let before = server.rss_kib()?;
    let (held, idle) = hold_idle(&bots, &url, idle_conns, pin)?;
    let after = server.rss_kib()?;
    let _ = idle.join();
    let per_conn_kib = after.saturating_sub(before) as f64 / held.max(1) as f64;
    server.stop()?;
    let _ = std::fs::remove_dir_all(&data);
    rows.push(memory_row(&release, &data, pin, secs)?);
    let peers = colyseus(&root, quick)?;

    let mut table = render(&rows, &floor, held, per_conn_kib, pin, quick);
    table.push_str(&side_by_side(&rows, &peers));
    eprintln!("{table}");
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("table.md"), &table)?;
    std::fs::write(out.join("latency.svg"), plot(&rows))?;
    eprintln!("wrote target/bench/table.md and target/bench/latency.svg");
    if update_docs {
        let markers = (START, END);
        write_section(&root.join("docs/PERFORMANCE.md"), &table, markers, "Load benchmark")?;
        std::fs::write(root.join("docs/latency.svg"), plot(&rows))?;
        eprintln!("wrote docs/PERFORMANCE.md and docs/latency.svg");
    }
    Ok(())
}

/// What every load benchmark starts from: the release binaries built, where they are, whether
/// the server and the load tool get a core each, a fresh data directory, and the floor.
pub(crate) struct Setup {
    pub(crate) root: PathBuf,
    pub(crate) release: PathBuf,
    pub(crate) pin: bool,
    pub(crate) data: PathBuf,
    pub(crate) floor: Floor,
}

impl Setup {
    /// Builds, and measures the floor with files in a temp directory named after `name`.
    pub(crate) fn prepare(name: &str) -> Result<Setup> {
        sh("cargo", &["build", "--release", "--package", "server", "--package", "bots"])?;
        let root = std::env::current_dir()?;
        let release = root.join("target/release");
        let pin = two_cores();
        let data = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        eprintln!("== this machine's floor");
        let floor = floor::measure(&data, pin)?;
        Ok(Setup { root, release, pin, data, floor })
    }
}

/// A loopback address with a free port.
pub(crate) fn free_addr() -> Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    Ok(format!("127.0.0.1:{port}"))
}

struct Row {
    name: &'static str,
    store: &'static str,
    transport: &'static str,
    matches: &'static str,
    think: &'static str,
    cpu_per_move_us: f64,
    /// The load tool's own CPU per move (it plays, and replays and hash-checks every event).
    load_cpu_per_move_us: f64,
    rss_mib: f64,
    log: LogFigures,
    report: Value,
}

/// The server's own view of its log, from `/metrics`: how many group commits, how many
/// appends they carried, and how long rooms waited for durability.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LogFigures {
    commits: f64,
    appends: f64,
    wait_s: f64,
    waits: f64,
}

impl LogFigures {
    pub(crate) fn scrape(addr: &str) -> Result<LogFigures> {
        Ok(LogFigures::read(&metrics_text(addr)?))
    }

    /// The figures in a `/metrics` exposition.
    pub(crate) fn read(text: &str) -> LogFigures {
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
                .unwrap_or(0.0)
        };
        LogFigures {
            commits: value("arbiter_append_batch_appends_count"),
            appends: value("arbiter_append_batch_appends_sum"),
            wait_s: value("arbiter_append_wait_seconds_sum"),
            waits: value("arbiter_append_wait_seconds_count"),
        }
    }

    pub(crate) fn since(&self, before: &LogFigures) -> LogFigures {
        LogFigures {
            commits: self.commits - before.commits,
            appends: self.appends - before.appends,
            wait_s: self.wait_s - before.wait_s,
            waits: self.waits - before.waits,
        }
    }

    pub(crate) fn appends_per_commit(&self) -> f64 {
        self.appends / self.commits.max(1.0)
    }

    pub(crate) fn mean_wait_us(&self) -> f64 {
        self.wait_s * 1e6 / self.waits.max(1.0)
    }
}

/// The server's `/metrics` exposition, read over a plain HTTP/1.1 request.
pub(crate) fn metrics_text(addr: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}

pub(crate) fn two_cores() -> bool {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores >= 2
        && Command::new("taskset").arg("--version").output().is_ok_and(|o| o.status.success())
}

pub(crate) fn pinned(core: &str, pin: bool, program: &Path) -> Command {
    if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", core]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

pub(crate) struct Server {
    child: Child,
}

impl Server {
    pub(crate) fn start(
        exe: &Path,
        store: &str,
        data: &Path,
        addr: &str,
        pin: bool,
    ) -> Result<Server> {
        let child = pinned("0", pin, exe)
            .args(["serve", "--store", store, "--durability", "full", "--data-dir"])
            .arg(data)
            .args(["--http", addr, "--msgs-per-s", "1000000", "--msg-burst", "1000000"])
            .args([
                "--conns-per-ip",
                "100000",
                "--matches-per-player",
                "1000000",
                "--outbox-frames",
                "4096",
            ])
            // One address, and for the idle connections one player, makes every request: lift
            // the HTTP budgets and the connection cap.
            .args(["--http-per-ip-per-s", "1000000", "--http-burst-per-ip", "1000000"])
            .args(["--http-per-player-per-s", "1000000", "--http-burst-per-player", "1000000"])
            .args(["--max-connections", "1000000", "--max-loaded-rooms", "1000000"])
            .args(["--guests-per-ip-per-min", "100000000", "--guest-burst-per-ip", "1000000"])
            .args(["--creations-per-min", "100000000", "--creation-burst", "1000000"])
            .env("ARBITER_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting arbiter")?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if healthy(addr) {
                return Ok(Server { child });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("arbiter did not become healthy on {addr}")
    }

    fn proc_file(&self, name: &str) -> Result<String> {
        Ok(std::fs::read_to_string(format!("/proc/{}/{name}", self.child.id()))?)
    }

    /// The server's process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU time, µs.
    pub(crate) fn cpu_us(&self) -> Result<u64> {
        process_cpu_us(self.child.id())
    }

    pub(crate) fn rss_kib(&self) -> Result<u64> {
        let status = self.proc_file("status")?;
        let line =
            status.lines().find(|l| l.starts_with("VmRSS:")).ok_or_else(|| anyhow!("no VmRSS"))?;
        Ok(line.split_whitespace().nth(1).ok_or_else(|| anyhow!("odd VmRSS"))?.parse()?)
    }

    pub(crate) fn stop(mut self) -> Result<()> {
        sh("kill", &["-TERM", &self.child.id().to_string()])?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("arbiter exited with {status} on SIGTERM");
        }
        Ok(())
    }
}

/// User + system CPU time of process `pid`, µs, from `/proc/<pid>/stat`.
pub(crate) fn process_cpu_us(pid: u32) -> Result<u64> {
    stat_cpu_us(&format!("/proc/{pid}/stat"), 11)
}

/// User + system CPU of this process's children that have exited and been waited for, µs
/// (`cutime` + `cstime` of `/proc/self/stat`): read around a child's run, its own CPU.
fn children_cpu_us() -> Result<u64> {
    stat_cpu_us("/proc/self/stat", 13)
}

/// Two adjacent clock-tick fields of a `stat` file, from field `first` after the command
/// name, in µs.
fn stat_cpu_us(path: &str, first: usize) -> Result<u64> {
    let stat = std::fs::read_to_string(path)?;
    let fields: Vec<&str> =
        stat.rsplit_once(')').ok_or_else(|| anyhow!("odd stat"))?.1.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        Ok(fields.get(i).ok_or_else(|| anyhow!("short stat"))?.parse::<u64>()?)
    };
    Ok((field(first)? + field(first + 1)?) * 1_000_000 / clock_ticks_per_s())
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`, asked once: asking spawns a
/// child, which would count in [`children_cpu_us`]).
fn clock_ticks_per_s() -> u64 {
    static HZ: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok();
        let text = out.and_then(|o| String::from_utf8(o.stdout).ok()).unwrap_or_default();
        text.trim().parse().unwrap_or(100)
    })
}

/// Time the threads of process `pid` have spent runnable but waiting for a CPU, µs, from
/// each thread's `/proc/<pid>/task/<tid>/schedstat` (threads that have ended are not counted).
pub(crate) fn process_wait_us(pid: u32) -> Result<u64> {
    let mut wait_ns = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let Ok(stat) = std::fs::read_to_string(task?.path().join("schedstat")) else { continue };
        wait_ns += stat.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    }
    Ok(wait_ns / 1000)
}

fn healthy(addr: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}

/// Runs the load tool over `transport` with `[matches, think ms, spread, duration]`.
fn run_load(bots: &Path, url: &str, transport: &str, load: [&str; 4], pin: bool) -> Result<Value> {
    let [matches, think, spread, secs] = load;
    let children_before = children_cpu_us()?;
    let out = pinned("1", pin, bots)
        .args([
            "load",
            "--transport",
            transport,
            "--server",
            url,
            "--matches",
            matches,
            "--think-ms",
            think,
            "--think-spread",
            spread,
            "--duration",
            secs,
            "--json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("running bots load")?;
    let load_cpu_us = children_cpu_us()? - children_before;
    let text = String::from_utf8(out.stdout)?;
    let mut report: Value =
        serde_json::from_str(text.trim()).with_context(|| format!("bots load printed {text:?}"))?;
    report["load_cpu_us"] = load_cpu_us.into();
    if report["errors"] != 0 || report["desyncs"] != 0 {
        bail!("the load run had errors or desyncs: {report}");
    }
    Ok(report)
}

/// The load tool's CPU per accepted move, from its run's report.
fn load_cpu_per_move(report: &Value) -> f64 {
    let moves = report["moves"].as_u64().unwrap_or(0).max(1);
    report["load_cpu_us"].as_u64().unwrap_or(0) as f64 / moves as f64
}

/// Opens idle connections; returns how many, and a handle to wait for the tool's exit once
/// the caller has measured.
fn hold_idle(
    bots: &Path,
    url: &str,
    count: &str,
    pin: bool,
) -> Result<(u64, std::thread::JoinHandle<()>)> {
    let mut child = pinned("1", pin, bots)
        .args(["idle", "--server", url, "--count", count, "--hold", "3s"])
        .stdout(Stdio::piped())
        .spawn()
        .context("running bots idle")?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines.next().ok_or_else(|| anyhow!("bots idle printed nothing"))??;
    let held: u64 =
        ready.strip_prefix("ready ").ok_or_else(|| anyhow!("unexpected {ready:?}"))?.parse()?;
    // Give the server a moment to settle its buffers before the caller measures.
    std::thread::sleep(Duration::from_millis(500));
    let done = std::thread::spawn(move || {
        for _ in lines {}
        let _ = child.wait();
    });
    Ok((held, done))
}

fn render(
    rows: &[Row],
    floor: &Floor,
    held: u64,
    per_conn_kib: f64,
    pin: bool,
    quick: bool,
) -> String {
    let mut t = String::new();
    t.push_str("| scenario | store | transport | matches | think ms | moves/s | p50 µs | p99 µs | p99.9 µs | max µs | server CPU µs/move | floor µs/move | × floor | load tool CPU µs/move | appends per commit | durability wait µs (mean) | server RSS MiB |\n");
    t.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let q = &r.report;
        let per_commit = if r.store == "disk" { r.log.appends_per_commit() } else { f64::INFINITY };
        let floor_us = floor.per_move_us(per_commit);
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.1} |\n",
            r.name,
            r.store,
            r.transport,
            r.matches,
            r.think,
            q["moves_per_s"].as_f64().unwrap_or(0.0),
            q["latency_us_p50"],
            q["latency_us_p99"],
            q["latency_us_p999"],
            q["latency_us_max"],
            r.cpu_per_move_us,
            floor_us,
            r.cpu_per_move_us / floor_us,
            r.load_cpu_per_move_us,
            r.log.appends_per_commit(),
            r.log.mean_wait_us(),
            r.rss_mib
        ));
    }
    t.push_str(&format!("\nIdle spectator connections held: **{held}**, server RSS per connection: **{per_conn_kib:.1} KiB**.\n"));
    t.push_str(&format!(
        "\nRun {}: server pinned to core 0 and load tool to core 1: {}; durable disk log (one `pwrite` + `fdatasync` per group commit); {} per scenario.\n",
        "with `cargo xtask bench`", if pin { "yes" } else { "no (fewer than two cores)" }, if quick { "5 s (quick)" } else { "20 s" }
    ));
    t.push_str(&format!(
        "\nFloor measured in the same run, on the server's core: one durable commit {:.1} µs CPU ({:.0} µs wall); one loopback exchange (a 100-byte frame written, a 1-byte answer read from a peer on the other core) {:.1} µs. Floor per move = 1.5 exchanges (the move read, a frame written to each of two players) + one commit ÷ appends per commit (none on the memory store).\n",
        floor.commit_cpu_us, floor.commit_wall_us, floor.exchange_cpu_us
    ));
    t
}

/// The fixed lockstep load on a memory-store server.
fn memory_row(release: &Path, data: &Path, pin: bool, secs: &str) -> Result<Row> {
    eprintln!("== fixed ~2,000 moves/s, lockstep, memory store");
    let addr = free_addr()?;
    let server = Server::start(&release.join("arbiter"), "memory", data, &addr, pin)?;
    let cpu_before = server.cpu_us()?;
    let url = format!("http://{addr}");
    let report = run_load(&release.join("bots"), &url, "ws", ["100", "50", "0", secs], pin)?;
    let cpu = server.cpu_us()? - cpu_before;
    let moves = report["moves"].as_u64().unwrap_or(0).max(1);
    let row = Row {
        name: "fixed ~2,000 moves/s, lockstep",
        store: "memory",
        transport: "ws",
        matches: "100",
        think: "50",
        cpu_per_move_us: cpu as f64 / moves as f64,
        load_cpu_per_move_us: load_cpu_per_move(&report),
        rss_mib: server.rss_kib()? as f64 / 1024.0,
        log: LogFigures::default(),
        report,
    };
    server.stop()?;
    Ok(row)
}

/// The Colyseus peer at the same fixed load, a new room per game and rooms kept.
fn colyseus(root: &Path, quick: bool) -> Result<Vec<peer::PeerRun>> {
    let Some(script) = peer::script(root) else {
        eprintln!("== no ../shared/peers/colyseus beside the repository: no side-by-side run");
        return Ok(Vec::new());
    };
    let secs = if quick { 5 } else { 20 };
    let mut runs = Vec::new();
    for keep_rooms in [false, true] {
        eprintln!("== Colyseus, 100 matches, think 50 ms, rooms kept: {keep_rooms}");
        runs.push(peer::run(&script, 100, secs, 50, keep_rooms)?);
    }
    Ok(runs)
}

/// Arbiter and Colyseus at the same offered load: the headline ratio is server CPU per move.
fn side_by_side(rows: &[Row], peers: &[peer::PeerRun]) -> String {
    let lockstep: Vec<&Row> = rows
        .iter()
        .filter(|r| r.name == "fixed ~2,000 moves/s, lockstep" && r.transport == "ws")
        .collect();
    let Some(durable) = lockstep.iter().find(|r| r.store == "disk") else { return String::new() };
    let mut t = String::from("\n### Side by side: 100 matches, 50 ms think, WebSocket\n\n");
    t.push_str("| server | moves/s | p50 ms | p99 ms | server CPU µs/move | ÷ Arbiter durable |\n|---|---|---|---|---|---|\n");
    for r in &lockstep {
        let q = &r.report;
        let ms = |k: &str| q[k].as_f64().unwrap_or(0.0) / 1000.0;
        t.push_str(&format!(
            "| Arbiter, {} store | {:.0} | {:.2} | {:.2} | {:.1} | {:.2} |\n",
            r.store,
            q["moves_per_s"].as_f64().unwrap_or(0.0),
            ms("latency_us_p50"),
            ms("latency_us_p99"),
            r.cpu_per_move_us,
            r.cpu_per_move_us / durable.cpu_per_move_us
        ));
    }
    for p in peers {
        let r = &p.result;
        let cpu = r["server_cpu_us_per_move"].as_f64().unwrap_or(0.0);
        t.push_str(&format!(
            "| Colyseus 0.16, {}, nothing on disk | {:.0} | {} | {} | {:.1} | {:.2} |\n",
            p.rooms,
            r["moves_per_s"].as_f64().unwrap_or(0.0),
            r["lat_p50_ms"],
            r["lat_p99_ms"],
            cpu,
            cpu / durable.cpu_per_move_us
        ));
    }
    if peers.is_empty() {
        t.push_str("\n(The Colyseus peer was not beside the repository in this run.)\n");
    }
    t
}

/// Replaces what lies between the `markers` (start, end) in the page at `path` with `table`;
/// without them, appends a section under `heading` that holds it between them.
pub(crate) fn write_section(
    path: &Path,
    table: &str,
    markers: (&str, &str),
    heading: &str,
) -> Result<()> {
    let (start, end) = markers;
    let doc = std::fs::read_to_string(path).unwrap_or_default();
    let section = format!("{start}\n{table}{end}");
    let updated = match (doc.find(start), doc.find(end)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &doc[..a], &doc[b + end.len()..]),
        _ => format!("{doc}\n## {heading}\n\n{section}\n"),
    };
    std::fs::write(path, updated)?;
    Ok(())
}

/// A small SVG: latency (log scale) at each percentile, one line per scenario.
fn plot(rows: &[Row]) -> String {
    let (w, h, left, bottom) = (640.0, 360.0, 70.0, 40.0);
    let points: Vec<Vec<(f64, u64)>> = rows
        .iter()
        .map(|r| {
            r.report["latency_percentiles"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| Some((p[0].as_f64()?, p[1].as_u64()?))).collect())
                .unwrap_or_default()
        })
        .collect();
    let max = points.iter().flatten().map(|p| p.1).max().unwrap_or(1).max(10) as f64;
    let n = points.first().map_or(1, Vec::len).max(2);
    let x = |i: usize| left + (w - left - 20.0) * i as f64 / (n - 1) as f64;
    let y =
        |us: u64| (h - bottom) - (h - bottom - 20.0) * ((us.max(1) as f64).log10() / max.log10());
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    svg.push_str(&format!(r#"<rect width="{w}" height="{h}" fill="white"/><text x="{left}" y="14">move latency, send to broadcast (µs, log scale) by percentile</text>"#));
    let mut decade = 1u64;
    while (decade as f64) <= max {
        svg.push_str(&format!(r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="4" y="{:.1}">{decade}</text>"##, w - 20.0, y(decade) + 4.0, y = y(decade)));
        decade *= 10;
    }
    if let Some(first) = points.first() {
        for (i, (p, _)) in first.iter().enumerate() {
            svg.push_str(&format!(
                r#"<text x="{:.1}" y="{}" text-anchor="middle">p{p}</text>"#,
                x(i),
                h - bottom + 18.0
            ));
        }
    }
    for (k, (row, pts)) in rows.iter().zip(&points).enumerate() {
        let colour = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"][k % 6];
        let line: Vec<String> = pts
            .iter()
            .enumerate()
            .map(|(i, (_, us))| format!("{:.1},{:.1}", x(i), y(*us)))
            .collect();
        svg.push_str(&format!(
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            line.join(" ")
        ));
        svg.push_str(&format!(
            r#"<text x="{}" y="{}" fill="{colour}">{} ({})</text>"#,
            left + 10.0,
            34.0 + 16.0 * k as f64,
            row.name,
            row.transport
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waited_for_childs_cpu_counts_in_the_children_cpu() {
        let before = children_cpu_us().expect("reads /proc/self/stat");
        let busy = "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done";
        let status = Command::new("sh").args(["-c", busy]).status().expect("runs sh");
        assert!(status.success());
        let spent = children_cpu_us().expect("reads /proc/self/stat") - before;
        assert!(spent >= 10_000, "a busy shell spent {spent} µs");
    }
}
