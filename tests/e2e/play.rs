//! Playing, spectating, reconnecting and retrying over WebSocket.

use anyhow::{Result, anyhow};
use game_rules::Status;
use protocol::Encoding;
use protocol::v1::{Role, ServerMsg, VerdictResult};
use tests::{Instance, WsClient, all_edges, edge};

/// Whose turn it is after the last event a client has seen.
fn to_move(client: &WsClient) -> Result<u8> {
    match &client.events.last().ok_or_else(|| anyhow!("no events"))?.status {
        Status::Turn(seat) => Ok(*seat),
        other => Err(anyhow!("not a turn: {other:?}")),
    }
}

/// Plays `edges` in order, each by the seat to move, until the match ends; every client in
/// `watchers` must see every event.
async fn play_out(
    players: &mut [WsClient; 2],
    watchers: &mut [WsClient],
    match_id: &str,
    edges: &[serde_json::Value],
    first_id: u64,
) -> Result<()> {
    for (i, mv) in edges.iter().enumerate() {
        let seat = usize::from(to_move(&players[0])?);
        let move_id = first_id + i as u64;
        players[seat].play(match_id, move_id, mv.clone()).await?;
        let VerdictResult::Accepted { seq } = players[seat].verdict(move_id).await? else {
            return Err(anyhow!("move {mv} refused"));
        };
        let other = 1 - seat;
        players[other]
            .until(|m| matches!(m, ServerMsg::Event(e) if e.seq == seq).then_some(()))
            .await?;
        for w in watchers.iter_mut() {
            w.until(|m| matches!(m, ServerMsg::Event(e) if e.seq == seq).then_some(())).await?;
        }
        if players[0].events.last().is_some_and(|e| e.status.is_over()) {
            break;
        }
    }
    Ok(())
}

#[tokio::test]
async fn two_players_play_a_whole_match_in_both_encodings() -> Result<()> {
    let instance = Instance::memory().await?;
    let (id, a, b) = instance.http.dots_match(2, 2).await?;
    let mut ada = WsClient::connect(&instance.ws_url(), &a.token).await?;
    let mut bob = WsClient::connect(&instance.ws_url(), &b.token).await?;
    bob.encoding = Encoding::Json;
    ada.join(&id, Role::Player, Some(0)).await?;
    bob.join(&id, Role::Player, Some(0)).await?;
    let mut players = [ada, bob];
    play_out(&mut players, &mut [], &id, &all_edges(2, 2), 1).await?;
    let [ada, bob] = players;
    let last = ada.events.last().ok_or_else(|| anyhow!("no events"))?;
    assert!(last.status.is_over(), "match over: {:?}", last.status);
    assert_eq!(last.seq, 2 + 12, "created + 2 seats + 12 edges");
    assert_eq!(ada.events, bob.events, "msgpack and JSON clients saw the same events");
    let json = instance.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(json["status"], "finished");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn early_and_late_spectators_see_identical_events_and_hashes() -> Result<()> {
    let instance = Instance::memory().await?;
    let (id, a, b) = instance.http.dots_match(2, 1).await?;
    let watcher = instance.http.guest("eve").await?;
    let mut early = WsClient::connect(&instance.ws_url(), &watcher.token).await?;
    early.join(&id, Role::Spectator, Some(0)).await?;
    let mut players = [
        WsClient::connect(&instance.ws_url(), &a.token).await?,
        WsClient::connect(&instance.ws_url(), &b.token).await?,
    ];
    players[0].join(&id, Role::Player, Some(0)).await?;
    players[1].join(&id, Role::Player, Some(0)).await?;
    let edges = all_edges(2, 1);
    play_out(&mut players, std::slice::from_mut(&mut early), &id, &edges[..3], 1).await?;
    let mut late = WsClient::connect(&instance.ws_url(), &watcher.token).await?;
    late.join(&id, Role::Spectator, Some(0)).await?;
    let mut snapshot = WsClient::connect(&instance.ws_url(), &watcher.token).await?;
    snapshot.join(&id, Role::Spectator, None).await?;
    let mut watchers = [early, late];
    play_out(&mut players, &mut watchers, &id, &edges[3..], 10).await?;
    let [early, late] = watchers;
    assert_eq!(early.events, late.events);
    assert!(early.events.last().is_some_and(|e| e.status.is_over()));
    let seen = snapshot
        .until(|m| matches!(m, ServerMsg::Event(e) if e.status.is_over()).then_some(()))
        .await;
    assert!(seen.is_ok(), "the snapshot joiner receives live events to the end");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_reconnecting_player_receives_exactly_the_missed_events() -> Result<()> {
    let instance = Instance::memory().await?;
    let (id, a, b) = instance.http.dots_match(2, 2).await?;
    let mut ada = WsClient::connect(&instance.ws_url(), &a.token).await?;
    ada.join(&id, Role::Player, Some(0)).await?;
    let mut bob = WsClient::connect(&instance.ws_url(), &b.token).await?;
    bob.join(&id, Role::Player, Some(0)).await?;
    ada.play(&id, 1, edge("h", 0, 0)).await?;
    ada.verdict(1).await?;
    bob.until(|m| matches!(m, ServerMsg::Event(e) if e.seq == 3).then_some(())).await?;
    let bob_last = bob.last_seq().ok_or_else(|| anyhow!("bob saw events"))?;
    drop(bob);
    // While bob is away: bob moves over HTTP (no socket), then ada moves twice.
    let path = format!("/api/matches/{id}/moves");
    let body = serde_json::json!({"move_id": 2, "move": edge("h", 1, 0)});
    instance.http.ok("POST", &path, Some(&b.token), Some(body)).await?;
    ada.play(&id, 2, edge("h", 0, 2)).await?;
    ada.verdict(2).await?;
    let body = serde_json::json!({"move_id": 3, "move": edge("h", 1, 2)});
    instance.http.ok("POST", &path, Some(&b.token), Some(body)).await?;
    let mut bob = WsClient::connect(&instance.ws_url(), &b.token).await?;
    bob.send(&protocol::v1::ClientMsg::Join(protocol::v1::Join {
        match_id: id.clone(),
        role: Role::Player,
        from_seq: Some(bob_last + 1),
    }))
    .await?;
    let mut caught = Vec::new();
    loop {
        match bob.recv().await? {
            ServerMsg::Event(e) => caught.push(e.seq),
            ServerMsg::CaughtUp(c) => {
                assert_eq!(c.seq, 6);
                break;
            }
            ServerMsg::Joined(j) => assert_eq!(j.seat, Some(1)),
            other => return Err(anyhow!("unexpected {other:?}")),
        }
    }
    assert_eq!(caught, vec![4, 5, 6], "exactly the missed events, no full resync");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_retried_move_id_gets_the_original_verdict_and_is_applied_once() -> Result<()> {
    let instance = Instance::memory().await?;
    let (id, a, b) = instance.http.dots_match(2, 2).await?;
    let mut ada = WsClient::connect(&instance.ws_url(), &a.token).await?;
    ada.join(&id, Role::Player, Some(0)).await?;
    ada.play(&id, 7, edge("h", 0, 0)).await?;
    ada.play(&id, 7, edge("h", 0, 0)).await?;
    let first = ada.verdict(7).await?;
    let second = ada.verdict(7).await?;
    assert_eq!(first, VerdictResult::Accepted { seq: 3 });
    assert_eq!(second, first);
    // A retry over HTTP, after the fact, gets the same verdict too.
    let path = format!("/api/matches/{id}/moves");
    let retry = instance
        .http
        .ok(
            "POST",
            &path,
            Some(&a.token),
            Some(serde_json::json!({"move_id": 7, "move": edge("h", 0, 0)})),
        )
        .await?;
    assert_eq!(retry["result"]["accepted"]["seq"], 3);
    let _ = b;
    let events = instance.http.ok("GET", &format!("/api/matches/{id}/events"), None, None).await?;
    assert_eq!(events["events"].as_array().map(Vec::len), Some(4), "created, two seats, one move");
    instance.server.shutdown().await;
    Ok(())
}

/// Plays seat 0 against the server's bot until the match ends.
pub async fn play_against_bot(human: &mut WsClient, match_id: &str, first_id: u64) -> Result<()> {
    let mut move_id = first_id;
    loop {
        let Some(last) = human.events.last() else { return Err(anyhow!("no events")) };
        match &last.status {
            Status::Over(_) => return Ok(()),
            Status::Turn(0) => {
                let state = human.replica.state().ok_or_else(|| anyhow!("no replica"))?;
                let legal = state.legal_moves(0);
                let mv: serde_json::Value = rmp_serde::from_slice(&legal[0])?;
                human.play(match_id, move_id, mv).await?;
                let VerdictResult::Accepted { .. } = human.verdict(move_id).await? else {
                    return Err(anyhow!("refused"));
                };
                move_id += 1;
            }
            _ => {
                let seq = last.seq;
                human
                    .until(|m| matches!(m, ServerMsg::Event(e) if e.seq > seq).then_some(()))
                    .await?;
            }
        }
    }
}

#[tokio::test]
async fn a_server_side_bot_plays_a_seat_through_the_room() -> Result<()> {
    let instance = Instance::memory().await?;
    let ada = instance.http.guest("ada").await?;
    let body = serde_json::json!({"game": "dots", "config": {"width": 2, "height": 2, "players": 2},
                                  "bots": [{"seat": 1, "strategy": "greedy", "think_ms": 5}]});
    let created = instance.http.ok("POST", "/api/matches", Some(&ada.token), Some(body)).await?;
    assert_eq!(created["bot_seats"], serde_json::json!([1]));
    let id = created["match_id"].as_str().ok_or_else(|| anyhow!("id"))?.to_string();
    assert_eq!(instance.http.join(&ada, &id).await?, 0);
    let mut human = WsClient::connect(&instance.ws_url(), &ada.token).await?;
    human.join(&id, Role::Player, Some(0)).await?;
    play_against_bot(&mut human, &id, 1).await?;
    let bot_moves = human
        .events
        .iter()
        .filter(|e| matches!(&e.body, Some(protocol::v1::EventBody::Move(m)) if m.seat == 1))
        .count();
    assert!(bot_moves > 0, "the bot moved");
    let summary = instance.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["status"], "finished");
    assert_eq!(summary["seats"][1]["bot"]["strategy"], "greedy");
    let (status, json) = instance
        .http
        .call(
            "POST",
            "/api/matches",
            Some(&ada.token),
            Some(serde_json::json!({"game": "dots", "bots": [{}, {}]})),
        )
        .await?;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (400, Some("bad_bots")),
        "a match keeps one human seat"
    );
    let positional = serde_json::json!({"game": "dots", "bots": [[null]]});
    let (status, _) =
        instance.http.call("POST", "/api/matches", Some(&ada.token), Some(positional)).await?;
    assert_eq!(status, 400, "a bot is an object, not an array of its fields");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_bot_resumes_its_seat_after_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = server::Config::ephemeral();
    config.store = server::StoreKind::Disk;
    config.data_dir = dir.path().to_path_buf();
    let instance = Instance::with(config.clone()).await?;
    let ada = instance.http.guest("ada").await?;
    let body = serde_json::json!({"game": "dots", "config": {"width": 2, "height": 1, "players": 2}, "bots": [{"seat": 1, "think_ms": 0}]});
    let id =
        instance.http.ok("POST", "/api/matches", Some(&ada.token), Some(body)).await?["match_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    instance.http.join(&ada, &id).await?;
    let mut human = WsClient::connect(&instance.ws_url(), &ada.token).await?;
    human.join(&id, Role::Player, Some(0)).await?;
    human.play(&id, 1, edge("h", 0, 0)).await?;
    human.verdict(1).await?;
    // The bot answers, then the server restarts on the same data dir.
    human.until(|m| matches!(m, ServerMsg::Event(e) if matches!(&e.body, Some(protocol::v1::EventBody::Move(mv)) if mv.seat == 1)).then_some(())).await?;
    drop(human);
    instance.server.shutdown().await;
    let instance = Instance::with(config).await?;
    let mut human = WsClient::connect(&instance.ws_url(), &ada.token).await?;
    human.join(&id, Role::Player, Some(0)).await?;
    play_against_bot(&mut human, &id, 100).await?;
    assert!(
        human.events.last().is_some_and(|e| e.status.is_over()),
        "the resumed bot played the match out"
    );
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_refused_join_is_not_a_join_even_when_a_move_follows_at_once() -> Result<()> {
    let instance = Instance::memory().await?;
    let (id, a, _b) = instance.http.dots_match(2, 2).await?;
    let eve = instance.http.guest("eve").await?;
    let mut client = WsClient::connect(&instance.ws_url(), &eve.token).await?;
    let join = |match_id: &str, role, from_seq| {
        protocol::v1::ClientMsg::Join(protocol::v1::Join {
            match_id: match_id.into(),
            role,
            from_seq,
        })
    };
    // Unknown match, then a move straight after: both answered, nothing applied.
    client.send(&join("mnothing", Role::Spectator, None)).await?;
    client.play("mnothing", 1, edge("h", 0, 0)).await?;
    let mut codes = Vec::new();
    while codes.len() < 2 {
        match client.recv().await? {
            ServerMsg::Error(e) => codes.push(e.code),
            ServerMsg::Verdict(v) => codes.push(match v.result {
                VerdictResult::Rejected(b) => b.code,
                VerdictResult::Accepted { .. } => "accepted".into(),
            }),
            _ => {}
        }
    }
    // The move is answered either way: by the room (no such match) or, if the refusal reached
    // the session first, by the session (not joined).
    assert_eq!(codes[0], "unknown_match");
    assert!(codes[1] == "unknown_match" || codes[1] == "not_joined", "{codes:?}");
    // A seated player's refused join (a cursor past the head), a move at once, then a good join.
    let mut ada = WsClient::connect(&instance.ws_url(), &a.token).await?;
    ada.send(&join(&id, Role::Player, Some(99))).await?;
    ada.play(&id, 1, edge("h", 0, 0)).await?;
    let refused = ada
        .until(|m| if let ServerMsg::Error(e) = m { Some(e.code.clone()) } else { None })
        .await?;
    assert_eq!(refused, "bad_cursor");
    let verdict = ada.verdict(1).await?;
    assert!(
        matches!(&verdict, VerdictResult::Rejected(b) if b.code == "not_joined"),
        "{verdict:?}"
    );
    ada.join(&id, Role::Player, Some(0)).await?;
    // The later join holds: moves work and events arrive.
    ada.play(&id, 2, edge("h", 0, 0)).await?;
    assert!(matches!(ada.verdict(2).await?, VerdictResult::Accepted { seq: 3 }));
    assert_eq!(ada.last_seq(), Some(3));
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_long_catch_up_fits_a_small_outbox() -> Result<()> {
    let mut config = server::Config::ephemeral();
    config.limits.outbox_frames = 4;
    let instance = Instance::with(config).await?;
    let (id, a, b) = instance.http.dots_match(2, 2).await?;
    let path = format!("/api/matches/{id}/moves");
    let mut turn = [&a, &b];
    for (i, mv) in all_edges(2, 2).into_iter().take(8).enumerate() {
        let who = turn[0];
        let verdict = instance
            .http
            .ok(
                "POST",
                &path,
                Some(&who.token),
                Some(serde_json::json!({"move_id": i, "move": mv})),
            )
            .await?;
        let state =
            instance.http.ok("GET", &format!("/api/matches/{id}/state"), None, None).await?;
        if state["view"]["to_move"] == 1 {
            turn = [&b, &a]
        } else {
            turn = [&a, &b]
        }
        let _ = verdict;
    }
    let mut late = WsClient::connect(&instance.ws_url(), &a.token).await?;
    late.join(&id, Role::Spectator, Some(0)).await?;
    assert_eq!(late.events.len(), 3 + 8, "every event, in one catch-up, through a 4-frame outbox");
    instance.server.shutdown().await;
    Ok(())
}
