//! Project automation, run locally exactly as CI runs it: `cargo xtask run | test | bench`.
//!
//! Each command installs what it needs first (the wasm target), so a fresh machine needs
//! nothing but the Rust toolchain.
#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use std::process::Command;

use anyhow::{Context, Result, bail};

mod bench;

const USAGE: &str = "usage: cargo xtask <run [serve flags] | test | bench [--quick]>";

/// Crates that must build for the browser: they do no IO, so they must not need a platform.
const WASM_CRATES: [&str; 2] = ["game-rules", "protocol"];

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("run") => run(args.collect()),
        Some("test") => test(),
        Some("bench") => bench::bench(&args.collect::<Vec<_>>()),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

/// Runs a command, echoing it, and fails if it fails.
pub(crate) fn sh(program: &str, args: &[&str]) -> Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status =
        Command::new(program).args(args).status().with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed: {status}", args.join(" "));
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

/// Builds and starts the server on the embedded defaults.
fn run(extra: Vec<String>) -> Result<()> {
    let mut args =
        vec!["run", "--release", "--package", "server", "--bin", "arbiter", "--", "serve"];
    args.extend(extra.iter().map(String::as_str));
    sh("cargo", &args)
}

/// Every check CI makes: formatting, lints, the wasm build of the pure crates, all tests.
fn test() -> Result<()> {
    ensure_wasm_target()?;
    sh("cargo", &["fmt", "--all", "--", "--check"])?;
    sh("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    let mut wasm = vec!["build", "--target", "wasm32-unknown-unknown"];
    for krate in WASM_CRATES {
        wasm.extend(["--package", krate]);
    }
    sh("cargo", &wasm)?;
    let (mut passed, mut failed) = cargo_test(&["--workspace", "--doc"])?;
    let (p, f) = cargo_test(&["--workspace", "--all-targets"])?;
    passed += p;
    failed += f;
    // One closing line for the whole run: the last binary's own line may be "0 passed".
    println!("tests: {passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} tests failed");
    }
    Ok(())
}

/// Runs `cargo test` with `args`, echoing its output, and totals its `test result` lines.
fn cargo_test(args: &[&str]) -> Result<(u64, u64)> {
    use std::io::{BufRead, BufReader};
    eprintln!("$ cargo test {}", args.join(" "));
    let mut child = Command::new("cargo")
        .arg("test")
        .args(args)
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
