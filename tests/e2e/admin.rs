//! The admin endpoints over real sockets: the overview shows live matches, their players and
//! spectators and every connection; the admin token is checked; closing a match disconnects
//! its subscribers and leaves its log to replay; a disconnect ends one connection only.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use game_rules::Status;
use protocol::v1::{Role, ServerMsg, VerdictResult};
use serde_json::Value as Json;
use tests::{Instance, WsClient, all_edges};

/// The admin token of the servers below.
pub const TOKEN: &str = "e2e-admin-token-0123456789";

/// An in-memory server's config, with the admin token [`TOKEN`].
pub fn admin_config() -> Result<server::Config> {
    let mut config = server::Config::ephemeral();
    config.admin_token = Some(TOKEN.parse().map_err(|e: String| anyhow!(e))?);
    Ok(config)
}

async fn admin_server() -> Result<Instance> {
    Instance::with(admin_config()?).await
}

async fn overview(instance: &Instance) -> Result<Json> {
    instance.http.ok("GET", "/api/admin/overview", Some(TOKEN), None).await
}

/// Polls the overview until `check` holds of it (rooms stop and sessions end a moment after
/// they are told to); returns that overview.
async fn overview_until(instance: &Instance, check: impl Fn(&Json) -> bool) -> Result<Json> {
    let deadline = Instant::now() + tests::WAIT;
    loop {
        let seen = overview(instance).await?;
        if check(&seen) {
            return Ok(seen);
        }
        if Instant::now() > deadline {
            bail!("the overview never showed what was expected: {seen:#}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn room<'a>(overview: &'a Json, id: &str) -> Option<&'a Json> {
    overview["rooms"].as_array()?.iter().find(|r| r["match_id"] == id)
}

fn session_of<'a>(overview: &'a Json, player_id: &str) -> Option<&'a Json> {
    overview["sessions"].as_array()?.iter().find(|s| s["player_id"] == player_id)
}

/// Whose turn it is after the last event a client has seen.
fn to_move(client: &WsClient) -> Result<usize> {
    match &client.events.last().context("no events")?.status {
        Status::Turn(seat) => Ok(usize::from(*seat)),
        other => bail!("not a turn: {other:?}"),
    }
}

/// Plays `edges` in order, each by the seat to move, until the match ends or the edges run
/// out; both players see every event.
async fn play(players: &mut [WsClient; 2], id: &str, edges: &[Json], first_id: u64) -> Result<()> {
    for (n, edge) in edges.iter().enumerate() {
        let seat = to_move(&players[0])?;
        let move_id = first_id + n as u64;
        players[seat].play(id, move_id, edge.clone()).await?;
        let VerdictResult::Accepted { seq } = players[seat].verdict(move_id).await? else {
            bail!("move {edge} refused");
        };
        players[1 - seat]
            .until(|m| matches!(m, ServerMsg::Event(e) if e.seq == seq).then_some(()))
            .await?;
        if players[0].events.last().is_some_and(|e| e.status.is_over()) {
            break;
        }
    }
    Ok(())
}

/// A 2×1 match with both players joined over WebSocket, and a third guest to watch it.
async fn live_match(instance: &Instance) -> Result<(String, [WsClient; 2], tests::Guest)> {
    let (id, a, b) = instance.http.dots_match(2, 1).await?;
    let cy = instance.http.guest("cy").await?;
    let mut players = [
        WsClient::connect(&instance.ws_url(), &a.token).await?,
        WsClient::connect(&instance.ws_url(), &b.token).await?,
    ];
    for player in &mut players {
        player.join(&id, Role::Player, Some(0)).await?;
    }
    Ok((id, players, cy))
}

#[tokio::test]
async fn the_overview_lists_a_live_match_with_its_players_a_spectator_and_each_connection()
-> Result<()> {
    let instance = admin_server().await?;
    let (id, mut players, cy) = live_match(&instance).await?;
    let mut spectator = WsClient::connect_quic(&instance.quic_target().await?, &cy.token).await?;
    spectator.join(&id, Role::Spectator, Some(0)).await?;
    play(&mut players, &id, &all_edges(2, 1)[..2], 1).await?;

    let seen = overview(&instance).await?;
    let listed = room(&seen, &id).with_context(|| format!("{id} listed: {seen:#}"))?;
    let details = &listed["details"];
    assert_eq!(details["game"], "dots");
    assert_eq!(details["status"], "live");
    assert_eq!(details["head_seq"], 4, "created, two seats, two moves");
    let seats: Vec<(&str, bool)> = details["seats"]
        .as_array()
        .context("seats")?
        .iter()
        .map(|s| (s["name"].as_str().unwrap_or("?"), s["connected"] == true))
        .collect();
    assert_eq!(seats, [("ada", true), ("bob", true)]);
    assert_eq!(
        (details["spectators"].clone(), details["subscribers"].clone()),
        (1.into(), 3.into())
    );
    assert_eq!(seen["rooms_loaded"], 1);
    assert_eq!(seen["connections"]["ws"], 2);
    assert_eq!(seen["connections"]["quic"], 1);
    assert_eq!(seen["counters"]["moves_accepted"], 2);
    let watcher = session_of(&seen, &cy.player_id).context("cy's connection listed")?;
    assert_eq!(watcher["transport"], "quic");
    assert_eq!(watcher["name"], "cy");
    assert_eq!(watcher["matches"], serde_json::json!([id]));
    assert!(watcher["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{watcher}");
    assert_eq!(seen["sessions"].as_array().map(Vec::len), Some(3));
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_admin_endpoints_refuse_a_missing_or_wrong_token_and_are_off_without_one() -> Result<()>
{
    let instance = admin_server().await?;
    let player = instance.http.guest("ada").await?;
    let routes = [
        ("GET", "/api/admin/overview"),
        ("POST", "/api/admin/matches/m1/close"),
        ("POST", "/api/admin/connections/1/disconnect"),
    ];
    for (method, path) in routes {
        for (token, code) in [
            (None, "admin_token_required"),
            (Some("e2e-admin-token-012345678"), "admin_token_invalid"),
            (Some(player.token.as_str()), "admin_token_invalid"),
        ] {
            let (status, headers, body) =
                instance.http.call_with_headers(method, path, token, None).await?;
            assert_eq!((status, body["error"]["code"].as_str()), (401, Some(code)), "{path}");
            let challenge = headers.get("www-authenticate").map(|v| v.to_str().unwrap_or(""));
            let expected =
                if token.is_none() { "Bearer" } else { "Bearer error=\"invalid_token\"" };
            assert_eq!(challenge, Some(expected), "{path}");
        }
    }
    let off = Instance::memory().await?;
    for (method, path) in routes {
        let (status, body) = off.http.call(method, path, Some(TOKEN), None).await?;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("admin_disabled")));
    }
    instance.server.shutdown().await;
    off.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn closing_a_match_disconnects_its_subscribers_and_it_replays_from_the_log_after()
-> Result<()> {
    let instance = admin_server().await?;
    let (id, a, b) = instance.http.dots_match(2, 1).await?;
    let cy = instance.http.guest("cy").await?;
    let mut players = [
        WsClient::connect(&instance.ws_url(), &a.token).await?,
        WsClient::connect(&instance.ws_url(), &b.token).await?,
    ];
    for player in &mut players {
        player.join(&id, Role::Player, Some(0)).await?;
    }
    let mut spectator = WsClient::connect(&instance.ws_url(), &cy.token).await?;
    spectator.join(&id, Role::Spectator, Some(0)).await?;
    // Another match, followed by another connection, that the close must not touch.
    let (other, d, _) = instance.http.dots_match(1, 1).await?;
    let mut bystander = WsClient::connect(&instance.ws_url(), &d.token).await?;
    bystander.join(&other, Role::Player, Some(0)).await?;
    play(&mut players, &id, &all_edges(2, 1)[..3], 1).await?;
    let before = players[0].events.clone();

    let path = format!("/api/admin/matches/{id}/close");
    let closed = instance.http.ok("POST", &path, Some(TOKEN), None).await?;
    assert_eq!(
        (closed["was_loaded"].clone(), closed["disconnected"].clone()),
        (true.into(), 3.into())
    );
    for client in players.iter_mut().chain([&mut spectator]) {
        assert_eq!(client.closed().await?, (1008, "closed by an administrator".to_string()));
    }
    bystander.pong(1).await.context("the other match's connection stays")?;
    let seen = overview_until(&instance, |o| room(o, &id).is_none()).await?;
    assert!(room(&seen, &other).is_some(), "only that room unloaded: {seen:#}");
    let note = &seen["recent"][0];
    assert_eq!(note["kind"], "admin_close", "{seen:#}");
    assert!(note["message"].as_str().is_some_and(|m| m.contains(&id)), "{note}");
    let again = instance.http.ok("POST", &path, Some(TOKEN), None).await?;
    assert_eq!(again["was_loaded"], false, "nothing left to close");
    let unknown = instance.http.call("POST", "/api/admin/matches/nope/close", Some(TOKEN), None);
    assert_eq!(unknown.await?.0, 404);

    // The log is whole: the room reloads from it, every hash checks, and play goes on.
    let mut players = [
        WsClient::connect(&instance.ws_url(), &a.token).await?,
        WsClient::connect(&instance.ws_url(), &b.token).await?,
    ];
    for player in &mut players {
        player.join(&id, Role::Player, Some(0)).await?;
    }
    assert_eq!(players[0].events, before, "the same events and hashes, replayed from the log");
    play(&mut players, &id, &all_edges(2, 1)[3..], 10).await?;
    let last = players[1].events.last().context("events")?;
    assert!(last.status.is_over(), "the match was played to its end: {:?}", last.status);
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_disconnect_closes_exactly_that_connection_and_the_others_play_on() -> Result<()> {
    let instance = admin_server().await?;
    let (id, mut players, cy) = live_match(&instance).await?;
    let mut spectator = WsClient::connect(&instance.ws_url(), &cy.token).await?;
    spectator.join(&id, Role::Spectator, Some(0)).await?;
    let seen = overview(&instance).await?;
    let conn = session_of(&seen, &cy.player_id).context("cy listed")?["conn"].clone();

    let path = format!("/api/admin/connections/{conn}/disconnect");
    let told = instance.http.ok("POST", &path, Some(TOKEN), None).await?;
    assert_eq!(told["connection"]["player_id"], cy.player_id.as_str());
    assert_eq!(spectator.closed().await?, (1008, "closed by an administrator".to_string()));
    play(&mut players, &id, &all_edges(2, 1)[..2], 1).await?;
    let seen = overview_until(&instance, |o| session_of(o, &cy.player_id).is_none()).await?;
    let details = &room(&seen, &id).context("the room stays")?["details"];
    assert_eq!(
        (details["spectators"].clone(), details["subscribers"].clone()),
        (0.into(), 2.into())
    );
    assert_eq!(seen["recent"][0]["kind"], "admin_disconnect");
    for gone in [path.as_str(), "/api/admin/connections/x/disconnect"] {
        let (status, body) = instance.http.call("POST", gone, Some(TOKEN), None).await?;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_connection")));
    }
    instance.server.shutdown().await;
    Ok(())
}
