//! The log's tools through the real `arbiter` binary: a match played against a server bot is
//! exported, verified, imported into another data dir and served from there, and forked
//! there; a changed file is caught.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use protocol::v1::Role;
use tests::{Instance, WsClient};

use crate::play::play_against_bot;
use crate::restart::arbiter;

/// A disk-backed server in `dir`.
async fn disk_server(dir: &std::path::Path) -> Result<Instance> {
    let mut config = server::Config::ephemeral();
    config.store = server::StoreKind::Disk;
    config.data_dir = dir.to_path_buf();
    Instance::with(config).await
}

/// A match against a server bot, played out.
async fn bot_match(instance: &Instance) -> Result<String> {
    let ada = instance.http.guest("ada").await?;
    let body = serde_json::json!({
        "game": "dots", "config": {"width": 2, "height": 2, "players": 2},
        "bots": [{"seat": 1, "think_ms": 0, "strategy": "greedy"}],
    });
    let created = instance.http.ok("POST", "/api/matches", Some(&ada.token), Some(body)).await?;
    let id = created["match_id"].as_str().context("a match id")?.to_string();
    instance.http.join(&ada, &id).await?;
    let mut human = WsClient::connect(&instance.ws_url(), &ada.token).await?;
    human.join(&id, Role::Player, Some(0)).await?;
    play_against_bot(&mut human, &id, 1).await?;
    for _ in 0..400 {
        let summary = instance.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
        if summary["status"] == "finished" {
            return Ok(id);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("match {id} is not listed as finished")
}

fn run(exe: &std::path::Path, args: &[&str]) -> Result<(i32, String)> {
    let out = Command::new(exe).args(args).output().context("running arbiter")?;
    Ok((out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned()))
}

#[tokio::test]
async fn a_played_match_exports_verifies_and_imports_into_another_data_dir() -> Result<()> {
    let exe = tokio::task::spawn_blocking(arbiter).await??;
    let (from, to, files) = (tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?);
    let instance = disk_server(from.path()).await?;
    let id = bot_match(&instance).await?;
    let events = instance.http.ok("GET", &format!("/api/matches/{id}/events"), None, None).await?;
    // Export and verify while the server runs: both only read the data dir.
    let file = files.path().join("match.json");
    let from_dir = from.path().to_str().context("utf-8 path")?;
    let file_arg = file.to_str().context("utf-8 path")?;
    let (code, err) = run(&exe, &["export", &id, "--data-dir", from_dir, "--out", file_arg])?;
    assert_eq!(code, 0, "{err}");
    let (code, err) = run(&exe, &["verify", "--data-dir", from_dir])?;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 matches") && err.contains("0 diverge"), "{err}");
    instance.server.shutdown().await;
    let to_dir = to.path().to_str().context("utf-8 path")?;
    let (code, err) = run(&exe, &["import", file_arg, "--data-dir", to_dir])?;
    assert_eq!(code, 0, "{err}");
    let (code, err) = run(&exe, &["import", file_arg, "--data-dir", to_dir])?;
    assert_eq!(code, 1, "a second import of one match is refused: {err}");
    assert!(err.contains("already exists"), "{err}");
    let imported = disk_server(to.path()).await?;
    let served = imported.http.ok("GET", &format!("/api/matches/{id}/events"), None, None).await?;
    assert_eq!(served["events"], events["events"], "the imported match replays identically");
    let summary = imported.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["status"], "finished");
    imported.server.shutdown().await;
    // A fork of the imported match at event 4, made offline, is served as an open match.
    let out = Command::new(&exe).args(["fork", &id, "--at", "4", "--data-dir", to_dir]).output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let fork_id = String::from_utf8(out.stdout)?.trim().to_string();
    let served = disk_server(to.path()).await?;
    let fork = served.http.ok("GET", &format!("/api/matches/{fork_id}"), None, None).await?;
    assert_eq!(
        (fork["status"].as_str(), fork["forked_from"]["seq"].as_u64()),
        (Some("open"), Some(4))
    );
    served.server.shutdown().await;
    // One changed character in a record is caught by the chain.
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file)?)?;
    let record = json["events"][3]["record"].as_str().context("a record")?.to_string();
    let flipped = if record.starts_with('g') { "h" } else { "g" };
    json["events"][3]["record"] = format!("{flipped}{}", &record[1..]).into();
    std::fs::write(&file, serde_json::to_vec(&json)?)?;
    let (code, err) = run(&exe, &["verify", file_arg])?;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("event 3") && err.contains("changed"), "{err}");
    Ok(())
}
