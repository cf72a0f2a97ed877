//! Project automation, run locally exactly as CI runs it:
//! `cargo xtask run | test | web | contract | bench [--realtime]`.
//!
//! Each command installs what it needs first (the wasm target, the wasm-bindgen CLI, Chromium
//! for the browser tests, schemathesis from PyPI for the API contract), so a fresh machine
//! needs nothing but the Rust toolchain and Python 3 (and root, or Chromium already installed,
//! for `test`).
#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

mod bench;
mod bench_ticks;
mod contract;
mod floor;
mod histogram;
mod peer;
mod portable;
mod web;

const USAGE: &str = "usage: cargo xtask <run [serve flags] | test | web | contract | bench [--realtime] [--quick] [--update-docs]>";

const HELP: &str = "commands:
  run [serve flags]  build the web client and serve it with `arbiter serve`
  test               every check CI makes
  web                build the web client into target/web/
  contract           fuzz the HTTP API against its OpenAPI document
  bench              the load benchmark: Dots and Boxes moves over WebSocket and QUIC, the
                     memory store, the Colyseus peer (table and plot under target/bench/)
  bench --realtime   the real-time tick benchmark: 200 light cycles matches of 4 bots at
                     20 Hz; ticks/s, tick lateness, deadline to broadcast, CPU and bytes per
                     tick (target/bench/ticks.md)
    --quick          short runs, to try a bench out (about a minute for --realtime)
    --update-docs    also write the figures into docs/PERFORMANCE.md";

/// Crates that must build for the browser: they do no IO, so they must not need a platform.
const WASM_CRATES: [&str; 4] = ["game-rules", "protocol", "lightcycles", "builtin-games"];

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("run") => run(args.collect()),
        Some("test") => test(),
        // The client alone: a running server serves the new build on the next page load.
        Some("web") => web::build_web().map(|_| ()),
        // The HTTP API fuzzed against its OpenAPI document, alone.
        Some("contract") => contract::check_contract(),
        Some("bench") => bench::bench(&args.collect::<Vec<_>>()),
        // The bench's floor measurement and its answering peer, run pinned by the bench.
        Some("floor") => floor::run(&args.collect::<Vec<_>>()),
        Some("floor-peer") => floor::peer(&args.collect::<Vec<_>>()),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}\n\n{HELP}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

/// The workspace root: xtask's manifest sits one level below it.
pub(crate) fn root() -> &'static Path {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest)
}

/// Runs a command, echoing it, and fails if it fails.
pub(crate) fn sh(program: &str, args: &[&str]) -> Result<()> {
    run_command(Command::new(program).args(args))
}

/// Runs `command`, echoing it, and fails if it fails.
pub(crate) fn run_command(command: &mut Command) -> Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let shown = format!("{program} {}", args.join(" "));
    eprintln!("$ {shown}");
    let status = command.status().with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{shown}` failed: {status}");
    }
    Ok(())
}

fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustup").args(["target", "list", "--installed"]).output()?;
    if !String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        sh("rustup", &["target", "add", "wasm32-unknown-unknown"])?;
    }
    Ok(())
}

/// Builds the web client and the server, and serves the client with the embedded defaults
/// (`extra` flags go to `arbiter serve`; a `--web-dir` among them replaces the fresh build).
fn run(extra: Vec<String>) -> Result<()> {
    let web = web::build_web()?;
    let mut command = Command::new("cargo");
    command.current_dir(root()).args(["run", "--release", "--package", "server"]);
    command.args(["--bin", "arbiter", "--", "serve"]);
    if !extra.iter().any(|a| a == "--web-dir" || a.starts_with("--web-dir=")) {
        command.arg("--web-dir").arg(&web);
    }
    command.args(&extra);
    println!("open http://{}/ once the server logs \"web client at\"", http_addr(&extra));
    run_command(&mut command)
}

/// The address `arbiter serve` will listen on, as `--http` or `ARBITER_HTTP` set it.
fn http_addr(extra: &[String]) -> String {
    let flag = extra.iter().position(|a| a == "--http").and_then(|i| extra.get(i + 1)).cloned();
    let joined = extra.iter().find_map(|a| a.strip_prefix("--http=")).map(str::to_string);
    let addr = flag.or(joined).or_else(|| std::env::var("ARBITER_HTTP").ok());
    addr.unwrap_or_else(|| "127.0.0.1:8080".to_string())
}

/// Every check CI makes: formatting, lints, the wasm build of the pure crates and of the web
/// client, all tests (the browser tests find the built client in `ARBITER_WEB_DIR`), and
/// schemathesis against a live server.
fn test() -> Result<()> {
    ensure_wasm_target()?;
    sh("cargo", &["fmt", "--all", "--", "--check"])?;
    sh("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    let mut wasm = vec!["build", "--target", "wasm32-unknown-unknown"];
    for krate in WASM_CRATES {
        wasm.extend(["--package", krate]);
    }
    sh("cargo", &wasm)?;
    portable::check_windows()?;
    let web = web::build_web()?;
    web::ensure_chromium()?;
    web::ensure_node()?;
    let (mut passed, mut failed) = cargo_test(&["--workspace", "--doc"], &web)?;
    let (p, f) = cargo_test(&["--workspace", "--all-targets"], &web)?;
    passed += p;
    failed += f;
    contract::check_contract()?;
    // One closing line for the whole run: the last binary's own line may be "0 passed".
    println!("tests: {passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} tests failed");
    }
    Ok(())
}

/// Runs `cargo test` with `args`, echoing its output, and totals its `test result` lines.
/// The tests find the built web client in `ARBITER_WEB_DIR` (`web`).
fn cargo_test(args: &[&str], web: &Path) -> Result<(u64, u64)> {
    use std::io::{BufRead, BufReader};
    eprintln!("$ ARBITER_WEB_DIR={} cargo test {}", web.display(), args.join(" "));
    let mut child = Command::new("cargo")
        .arg("test")
        .args(args)
        .env("ARBITER_WEB_DIR", web)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("starting cargo test")?;
    let stdout = child.stdout.take().context("cargo test's output")?;
    let (mut passed, mut failed) = (0, 0);
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            passed += count(rest, " passed");
            failed += count(rest, " failed");
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("`cargo test {}` failed: {status}", args.join(" "));
    }
    Ok((passed, failed))
}

/// The number before `label` in a `test result` line ("ok. 19 passed; 0 failed; …").
fn count(line: &str, label: &str) -> u64 {
    line.split(';')
        .find_map(|part| {
            part.trim()
                .trim_start_matches("ok. ")
                .trim_start_matches("FAILED. ")
                .strip_suffix(label)?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}
