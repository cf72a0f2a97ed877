//! A server is a value: many isolated instances in one process, no cross-talk.

use anyhow::Result;
use serde_json::json;
use tests::{Instance, all_edges};

async fn play_one(n: usize) -> Result<(String, String)> {
    let instance = Instance::memory().await?;
    let http = &instance.http;
    let (id, a, b) = http.dots_match(1, 1).await?;
    let path = format!("/api/matches/{id}/moves");
    let mut turn = 0;
    for (i, mv) in all_edges(1, 1).into_iter().enumerate() {
        let who = if turn == 0 { &a } else { &b };
        let verdict = http
            .ok("POST", &path, Some(&who.token), Some(json!({"move_id": i, "move": mv})))
            .await?;
        assert!(verdict["result"]["accepted"].is_object(), "instance {n}: {verdict}");
        let state = http.ok("GET", &format!("/api/matches/{id}/state"), None, None).await?;
        turn = state["view"]["to_move"].as_u64().unwrap_or(0);
    }
    let listed = http.ok("GET", "/api/matches", None, None).await?;
    let ids: Vec<_> =
        listed["matches"].as_array().into_iter().flatten().map(|m| m["match_id"].clone()).collect();
    assert_eq!(ids, vec![json!(id)], "instance {n} lists only its own match");
    let state = http.ok("GET", &format!("/api/matches/{id}/state"), None, None).await?;
    assert!(state["status"]["over"].is_object(), "instance {n} finished: {state}");
    instance.server.shutdown().await;
    Ok((id, state["state_hash"].as_str().unwrap_or_default().to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_isolated_instances_play_concurrently() -> Result<()> {
    let tasks: Vec<_> = (0..100).map(|n| tokio::spawn(play_one(n))).collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let (id, _) = task.await??;
        ids.insert(id);
    }
    assert_eq!(ids.len(), 100);
    Ok(())
}
