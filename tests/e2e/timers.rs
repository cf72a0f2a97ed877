//! A match's own turn timer over real sockets, across a restart of the server on the same
//! data dir: the turn that ran out while the server was down expires when the match loads.

use std::time::Duration;

use anyhow::{Result, anyhow};
use protocol::v1::{EventBody, Role, ServerMsg};
use serde_json::json;
use tests::{Instance, WsClient};

#[tokio::test]
async fn a_turn_that_runs_out_during_a_restart_forfeits_when_the_match_loads() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let first = Instance::on_disk(dir.path()).await?;
    let (a, b) = (first.http.guest("ada").await?, first.http.guest("bob").await?);
    let timer = json!({"move_ms": 1000, "on_expiry": "forfeit"});
    let body = json!({"game": "dots", "config": {"width": 1, "height": 1}, "timer": timer});
    let created = first.http.ok("POST", "/api/matches", Some(&a.token), Some(body)).await?;
    let id = created["match_id"].as_str().ok_or_else(|| anyhow!("{created}"))?.to_string();
    first.http.join(&a, &id).await?;
    first.http.join(&b, &id).await?;
    first.server.shutdown().await;
    // Ada's turn (seat 0) started when Bob sat down; it runs out while no server runs.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let second = Instance::on_disk(dir.path()).await?;
    let summary = second.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["status"], "live", "nothing is decided before the match loads");
    let mut ws = WsClient::connect(&second.ws_url(), &b.token).await?;
    ws.join(&id, Role::Player, Some(0)).await?;
    let (seat, status) = ws
        .until(|m| match m {
            ServerMsg::Event(e) => match &e.body {
                Some(EventBody::Forfeited(f)) => Some((f.seat, e.status.clone())),
                _ => None,
            },
            _ => None,
        })
        .await?;
    assert_eq!(seat, 0, "the seat whose turn ran out");
    assert!(status.is_over());
    let summary = second.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["status"], "finished");
    assert_eq!(summary["outcome"], json!({"scores": [0, 1], "winners": [1]}));
    second.server.shutdown().await;
    Ok(())
}
