//! The real `arbiter` binary: killed with SIGKILL mid-match and restarted on the same data dir,
//! and refusing bad settings.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use protocol::v1::{Role, VerdictResult};
use tests::{Http, WsClient, all_edges};

/// The `arbiter` binary, built if needed.
pub fn arbiter() -> Result<std::path::PathBuf> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--package", "server", "--bin", "arbiter"])
        .status()
        .context("building arbiter")?;
    if !status.success() {
        bail!("building arbiter failed");
    }
    let exe = std::env::current_exe()?;
    let target_dir =
        exe.parent().and_then(|deps| deps.parent()).ok_or_else(|| anyhow!("no target dir"))?;
    Ok(target_dir.join("arbiter"))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(
    exe: &std::path::Path,
    data_dir: &std::path::Path,
    port: u16,
) -> Result<(Process, Http)> {
    let child = Command::new(exe)
        .args(["serve", "--data-dir"])
        .arg(data_dir)
        .args(["--http", &format!("127.0.0.1:{port}")])
        // Snapshots every two events, so the reload after the kill starts from one.
        .args(["--snapshot-every", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let http = Http::new(&format!("http://127.0.0.1:{port}"));
    for _ in 0..200 {
        if http.ok("GET", "/healthz", None, None).await.is_ok() {
            return Ok((Process(child), http));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("arbiter did not come up on port {port}")
}

#[tokio::test]
async fn sigkill_mid_match_loses_no_acknowledged_move() -> Result<()> {
    let exe = tokio::task::spawn_blocking(arbiter).await??;
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let (mut process, http) = serve(&exe, dir.path(), port).await?;
    let (id, a, b) = http.dots_match(2, 2).await?;
    let url = format!("ws://127.0.0.1:{port}/ws");
    let mut players =
        [WsClient::connect(&url, &a.token).await?, WsClient::connect(&url, &b.token).await?];
    players[0].join(&id, Role::Player, Some(0)).await?;
    players[1].join(&id, Role::Player, Some(0)).await?;
    let edges = all_edges(2, 2);
    let mut acknowledged = Vec::new();
    let mut next = 0;
    // Play half the match, remembering every acknowledged seq.
    while next < 6 {
        let seat = players[0].events.last().map_or(0, |e| match e.status {
            game_rules::Status::Turn(s) => s,
            _ => 0,
        });
        let seat = usize::from(seat);
        players[seat].play(&id, next as u64 + 1, edges[next].clone()).await?;
        match players[seat].verdict(next as u64 + 1).await? {
            VerdictResult::Accepted { seq } => acknowledged.push(seq),
            VerdictResult::Rejected(r) => bail!("refused: {}", r.code),
        }
        let seq = *acknowledged.last().unwrap_or(&0);
        players[1 - seat]
            .until(|m| matches!(m, protocol::v1::ServerMsg::Event(e) if e.seq == seq).then_some(()))
            .await?;
        players[0]
            .until(|m| matches!(m, protocol::v1::ServerMsg::Event(e) if e.seq == seq).then_some(()))
            .await
            .ok();
        next += 1;
    }
    let last_hash =
        players[1].events.last().map(|e| e.state_hash).ok_or_else(|| anyhow!("events"))?;
    process.0.kill()?; // SIGKILL
    process.0.wait()?;
    drop(players);
    let (_process, http) = serve(&exe, dir.path(), port).await?;
    let events =
        http.ok("GET", &format!("/api/matches/{id}/events?limit=1000"), None, None).await?;
    let seqs: Vec<u64> = events["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    for seq in &acknowledged {
        assert!(seqs.contains(seq), "acknowledged seq {seq} survived the kill");
    }
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "gapless");
    // Reconnect from the last seq seen, and finish the match.
    let mut players =
        [WsClient::connect(&url, &a.token).await?, WsClient::connect(&url, &b.token).await?];
    let state = http.ok("GET", &format!("/api/matches/{id}/state"), None, None).await?;
    assert_eq!(state["state_hash"], last_hash.to_string());
    players[0].join(&id, Role::Player, Some(0)).await?;
    players[1].join(&id, Role::Player, Some(0)).await?;
    let metrics = reqwest::get(format!("{}/metrics", http.base)).await?.text().await?;
    assert!(
        metrics.contains("arbiter_room_load_seconds_count{from=\"snapshot\"} 1"),
        "the room reloaded from a snapshot:\n{}",
        metrics.lines().filter(|l| l.contains("room_load")).collect::<Vec<_>>().join("\n")
    );
    while next < edges.len() {
        let Some(game_rules::Status::Turn(seat)) =
            players[0].events.last().map(|e| e.status.clone())
        else {
            break;
        };
        let seat = usize::from(seat);
        players[seat].play(&id, next as u64 + 1, edges[next].clone()).await?;
        let VerdictResult::Accepted { seq } = players[seat].verdict(next as u64 + 1).await? else {
            bail!("refused after restart")
        };
        players[1 - seat]
            .until(|m| matches!(m, protocol::v1::ServerMsg::Event(e) if e.seq == seq).then_some(()))
            .await?;
        next += 1;
    }
    assert!(
        players[1].events.last().is_some_and(|e| e.status.is_over()),
        "the match finished after the restart"
    );
    Ok(())
}

#[tokio::test]
async fn bad_settings_exit_with_code_2_and_say_what_is_wrong() -> Result<()> {
    let exe = tokio::task::spawn_blocking(arbiter).await??;
    let dir = tempfile::tempdir()?;
    /// Flags, an environment variable, and what the message must name.
    type Case = (&'static [&'static str], Option<(&'static str, &'static str)>, &'static str);
    let cases: [Case; 4] = [
        (&["--commit-window-us", "5000000"], None, "--commit-window-us"),
        (&["--signing-key", "nothex"], None, "signing key"),
        (&["--web-dir", "/nonexistent/arbiter-web"], None, "--web-dir"),
        (&[], Some(("TOKIO_WORKER_THREADS", "0")), "TOKIO_WORKER_THREADS"),
    ];
    for (flags, env, named) in cases {
        let mut command = Command::new(&exe);
        command.args(["serve", "--http", "127.0.0.1:0", "--data-dir"]).arg(dir.path()).args(flags);
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        let out = tokio::task::spawn_blocking(move || command.output()).await??;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?} {env:?}: {stderr}");
        assert!(stderr.contains(named), "{flags:?} {env:?} should name {named}: {stderr}");
    }
    Ok(())
}
