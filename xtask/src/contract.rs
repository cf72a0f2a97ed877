//! The HTTP API against its own contract: schemathesis (from PyPI) fuzzes every operation of
//! the OpenAPI document that a fresh `arbiter serve --store memory` serves, and the step fails
//! on any server error (5xx) or any answer the document does not allow.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::web::{is_root, target_dir};
use crate::{root, run_command};

/// The schemathesis release these checks were chosen against. Pinned, so that a new release's
/// new checks change nothing until it is chosen here.
const SCHEMATHESIS: &str = "4.32.5";
/// Test cases per operation in each phase, at most.
const MAX_EXAMPLES: u32 = 100;
/// The run's time budget, in seconds: fuzzing and stateful testing go on until it is spent.
const BUDGET_S: u64 = 100;
/// How long past its budget a run may take to finish its phases before it is killed.
const GRACE: Duration = Duration::from_secs(60);
/// How long the server may take to answer `/healthz` after it starts.
const STARTUP: Duration = Duration::from_secs(30);

/// Builds the server, starts it on a free port, and runs schemathesis against it with a
/// guest's token.
pub fn check_contract() -> Result<()> {
    let target = target_dir(root())?;
    let schemathesis = ensure_schemathesis(&target)?;
    // Every target of the workspace, so that features unify as in `cargo test --workspace
    // --all-targets` and what it built is reused: the server alone would rebuild half its
    // dependencies with other features.
    let build = ["build", "--workspace", "--all-targets"];
    run_command(Command::new("cargo").current_dir(root()).args(build))?;
    let work = target.join("schemathesis");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let log = work.join("server.log");
    let server = LiveServer::start(&target.join("debug").join("arbiter"), &log)?;
    let token = guest_token(server.addr)?;
    let started = Instant::now();
    let result = run_schemathesis(&schemathesis, server.addr, &token, &work);
    println!(
        "schemathesis took {:.0} s; the server's log is {}",
        started.elapsed().as_secs_f64(),
        log.display()
    );
    result
}

/// The schemathesis CLI at [`SCHEMATHESIS`], installed with pip into a virtual environment
/// under the target directory (a system Python may refuse packages from pip).
fn ensure_schemathesis(target: &Path) -> Result<PathBuf> {
    let venv = target.join("py");
    let exe = venv.join("bin").join("schemathesis");
    if installed_version(&exe).as_deref() == Some(SCHEMATHESIS) {
        return Ok(exe);
    }
    let pip = venv.join("bin").join("pip");
    if !pip.is_file() {
        make_venv(&venv)?;
    }
    let package = format!("schemathesis=={SCHEMATHESIS}");
    run_command(Command::new(&pip).args(["install", "--quiet", &package]))?;
    match installed_version(&exe) {
        Some(version) if version == SCHEMATHESIS => Ok(exe),
        found => bail!("installed {package}, but {} reports {found:?}", exe.display()),
    }
}

/// A Python virtual environment at `venv`; Debian's `python3-venv` is installed first when it
/// is missing and this runs as root.
fn make_venv(venv: &Path) -> Result<()> {
    let make = || run_command(Command::new("python3").arg("-m").arg("venv").arg(venv));
    if make().is_ok() {
        return Ok(());
    }
    if !is_root()? {
        bail!("schemathesis needs Python 3 with venv: install the Debian package `python3-venv`");
    }
    run_command(Command::new("apt-get").arg("update"))?;
    run_command(
        Command::new("apt-get")
            .args(["install", "-y", "python3", "python3-venv"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    make()
}

/// What `schemathesis --version` says (`schemathesis, version 4.32.5` gives `4.32.5`).
fn installed_version(exe: &Path) -> Option<String> {
    let out = Command::new(exe).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success().then(|| text.split_whitespace().last().map(str::to_string)).flatten()
}

/// `arbiter serve` in memory on a free localhost port, its output in a log file; killed when
/// dropped.
struct LiveServer {
    child: Child,
    addr: SocketAddr,
}

impl LiveServer {
    fn start(exe: &Path, log: &Path) -> Result<LiveServer> {
        let addr = free_addr()?;
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(exe)
            .args(["serve", "--store", "memory", "--http", &addr.to_string()])
            // Creation is fuzzed, not the per-player cap: one token makes every match.
            .args(["--matches-per-player", "1000000"])
            // One address and one token make every request: the budgets are lifted so the
            // operations themselves are fuzzed (their 429 stays documented).
            .args(["--http-per-ip-per-s", "1000000", "--http-burst-per-ip", "1000000"])
            .args(["--http-per-player-per-s", "1000000", "--http-burst-per-player", "1000000"])
            .args(["--guests-per-ip-per-min", "100000000", "--guest-burst-per-ip", "1000000"])
            .args(["--creations-per-min", "100000000", "--creation-burst", "1000000"])
            .args(["--no-quic"])
            // One token asks for every quick match: it waits alone, so a short wait answers
            // its documented timeout well within the request timeout.
            .args(["--quickmatch-wait-ms", "500"])
            // With the admin API on, its operations answer as documented for a caller without
            // the admin token (401), instead of 404 for an API that is off.
            .args(["--admin-token", "schemathesis-admin-token-not-given-to-it"])
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let mut server = LiveServer { child, addr };
        server.wait_ready(log)?;
        Ok(server)
    }

    /// Waits until `/healthz` answers 200, failing if the process exits first.
    fn wait_ready(&mut self, log: &Path) -> Result<()> {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited with {status} before serving; see {}", log.display());
            }
            if http(self.addr, "GET", "/healthz", None).is_ok_and(|(status, _)| status == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the server did not answer /healthz within {STARTUP:?}; see {}", log.display())
    }
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        // An in-memory server has nothing to flush.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A localhost address with a port that was free a moment ago.
fn free_addr() -> Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// One HTTP/1.1 request with an optional JSON body; its status and body.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").context("an HTTP answer")?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    Ok((status.context("an HTTP status line")?, body.to_string()))
}

/// A fresh guest's bearer token.
fn guest_token(addr: SocketAddr) -> Result<String> {
    let (status, body) = http(addr, "POST", "/api/auth/guest", Some(r#"{"name":"schemathesis"}"#))?;
    let json: serde_json::Value = serde_json::from_str(&body).context("the guest's answer")?;
    match json["token"].as_str() {
        Some(token) if status == 200 => Ok(token.to_string()),
        _ => bail!("POST /api/auth/guest answered {status} {body}"),
    }
}

/// Runs schemathesis with every check but `positive_data_acceptance`: whether a request the
/// schema allows succeeds depends on the match's state (a cursor past its head, a seat not
/// held, a move the rules refuse), which no schema can say. It is killed, and fails, if it
/// overruns its budget by more than [`GRACE`].
fn run_schemathesis(exe: &Path, addr: SocketAddr, token: &str, work: &Path) -> Result<()> {
    let schema = format!("http://{addr}/api/openapi.json");
    let args = [
        "run",
        &schema,
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        &MAX_EXAMPLES.to_string(),
        "--max-time",
        &BUDGET_S.to_string(),
        "--request-timeout",
        "10",
    ];
    eprintln!("$ {} {} --header 'Authorization: Bearer …'", exe.display(), args.join(" "));
    let mut child = Command::new(exe)
        // Hypothesis keeps its example database in the working directory.
        .current_dir(work)
        .args(args)
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let deadline = Instant::now() + Duration::from_secs(BUDGET_S) + GRACE;
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("schemathesis found failures ({status}); its report is above");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("schemathesis ran past its {BUDGET_S} s budget by over {GRACE:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
