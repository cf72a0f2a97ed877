//! The JavaScript peer for side-by-side figures: Colyseus 0.16 serving the same game to the
//! same bot behaviour, run from the shared peers folder beside the repository
//! (`../shared/peers/colyseus/run.sh`; it installs its npm packages itself). Where the folder
//! is absent, the benchmark says so and goes on without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The peer's run script, if the folder is there.
pub fn script(root: &Path) -> Option<PathBuf> {
    let path = root.join("../shared/peers/colyseus/run.sh");
    path.is_file().then_some(path)
}

/// What one Colyseus run measured.
pub struct PeerRun {
    /// `new room per game` or `rooms kept`.
    pub rooms: &'static str,
    /// The driver's and server's figures (`run.sh`'s `JSON_OUT`).
    pub result: Value,
}

/// Runs `matches` matches for `secs` seconds with a fixed think time, server and driver
/// pinned to separate cores, keeping rooms between games or not.
pub fn run(
    script: &Path,
    matches: u32,
    secs: u32,
    think_ms: u32,
    keep_rooms: bool,
) -> Result<PeerRun> {
    let out = std::env::temp_dir().join(format!("colyseus-{}.json", std::process::id()));
    let status = Command::new("bash")
        .arg(script)
        .args([matches.to_string(), secs.to_string()])
        .env("PIN", "1")
        .env("THINK_MS", think_ms.to_string())
        .env("REMATCH", if keep_rooms { "1" } else { "0" })
        .env("JSON_OUT", &out)
        .stdout(Stdio::inherit())
        .status()
        .context("running the Colyseus peer")?;
    if !status.success() {
        bail!("the Colyseus peer failed ({status})");
    }
    let result: Value = serde_json::from_slice(&std::fs::read(&out)?).context("its JSON")?;
    let _ = std::fs::remove_file(&out);
    Ok(PeerRun { rooms: if keep_rooms { "rooms kept" } else { "new room per game" }, result })
}
