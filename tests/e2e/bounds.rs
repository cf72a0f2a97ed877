//! Every connection, request and room is bounded: crossing a bound gets its typed refusal, and
//! other clients and matches are served meanwhile.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use protocol::v1::{ClientMsg, Join, Leave, Role, ServerMsg, VerdictResult};
use reqwest::header::HeaderMap;
use serde_json::{Value as Json, json};
use tests::{Guest, Http, Instance, RawClient, WsClient, all_edges, edge, status_and_code};

const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn config() -> server::Config {
    server::Config::ephemeral()
}

#[tokio::test]
async fn a_silent_connection_and_an_idle_keep_alive_are_closed_at_the_header_deadline() -> Result<()>
{
    let mut config = config();
    config.limits.header_timeout_ms = 300;
    let instance = Instance::with(config).await?;
    let addr = instance.server.addr();
    let started = Instant::now();
    let mut silent = RawClient::connect(addr, HOME).await?;
    let said = silent.read_to_close(Duration::from_secs(5)).await?;
    assert_eq!(said, "", "closed without an answer");
    assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
    let mut kept = RawClient::connect(addr, HOME).await?;
    kept.send(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await?;
    let answered = Instant::now();
    let said = kept.read_to_close(Duration::from_secs(5)).await?;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    assert!(answered.elapsed() >= Duration::from_millis(250), "kept alive until the deadline");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_body_that_never_finishes_is_cut_with_408_and_others_are_served() -> Result<()> {
    let mut config = config();
    config.limits.body_timeout_ms = 300;
    let instance = Instance::with(config).await?;
    let addr = instance.server.addr();
    let mut slow = RawClient::connect(addr, HOME).await?;
    slow.send(
        b"POST /api/auth/guest HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"name\":",
    )
    .await?;
    // Meanwhile another client is served at once.
    instance.http.guest("ada").await?;
    let said = slow.read_to_close(Duration::from_secs(5)).await?;
    assert_eq!(status_and_code(&said), (408, "body_timeout".to_string()), "{said}");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_refused_from_its_header() -> Result<()> {
    let mut config = config();
    // Long enough that an answer in time can only come from the header.
    config.limits.body_timeout_ms = 60_000;
    let instance = Instance::with(config).await?;
    let mut huge = RawClient::connect(instance.server.addr(), HOME).await?;
    huge.send(
        b"POST /api/auth/guest HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 1000000000000\r\n\r\n",
    )
    .await?;
    let said = huge.read_to_close(Duration::from_secs(5)).await?;
    assert_eq!(status_and_code(&said), (413, "body_too_large".to_string()), "{said}");
    instance.server.shutdown().await;
    Ok(())
}

/// A loopback client address other than 127.0.0.1.
fn away(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// `GET path` on a fresh connection from `from`: the status and error code of the answer.
async fn get_from(instance: &Instance, from: IpAddr, path: &str) -> Result<(u16, String)> {
    let mut client = RawClient::connect(instance.server.addr(), from).await?;
    client
        .send(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .await?;
    Ok(status_and_code(&client.read_to_close(Duration::from_secs(5)).await?))
}

#[tokio::test]
async fn past_the_connection_caps_clients_are_refused_clearly_until_silent_ones_are_reaped()
-> Result<()> {
    let mut config = config();
    config.limits.max_connections = 6;
    config.limits.conns_per_ip = 3;
    config.limits.header_timeout_ms = 2_000;
    let instance = Instance::with(config).await?;
    let addr = instance.server.addr();
    let (id, a, b) = instance.http.dots_match(2, 2).await?;
    let mut ada = WsClient::connect(&instance.ws_url(), &a.token).await?;
    let mut bob = WsClient::connect(&instance.ws_url(), &b.token).await?;
    ada.join(&id, Role::Player, Some(0)).await?;
    bob.join(&id, Role::Player, Some(0)).await?;
    // The HTTP client's kept-alive connections are reaped by the header deadline too; then the
    // two WebSockets are the only connections.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(RawClient::connect(addr, away(2)).await?);
    }
    assert_eq!(
        get_from(&instance, away(2), "/healthz").await?,
        (429, "too_many_connections".to_string()),
        "one address cannot take more than its share"
    );
    silent.push(RawClient::connect(addr, away(3)).await?);
    assert_eq!(get_from(&instance, away(4), "/healthz").await?, (503, "server_full".to_string()));
    // The match goes on over the connections it holds.
    ada.play(&id, 1, edge("h", 0, 0)).await?;
    assert!(matches!(ada.verdict(1).await?, VerdictResult::Accepted { .. }));
    for mut socket in silent {
        socket.read_to_close(Duration::from_secs(5)).await?;
    }
    assert_eq!(get_from(&instance, away(4), "/healthz").await?, (200, String::new()));
    bob.play(&id, 1, edge("h", 0, 1)).await?;
    assert!(matches!(bob.verdict(1).await?, VerdictResult::Accepted { .. }));
    instance.server.shutdown().await;
    Ok(())
}

/// Whether an answer is a 429 `rate_limited` that says when to retry.
fn is_rate_limited(answer: &(u16, HeaderMap, Json)) -> bool {
    let retry_after = answer.1.get("retry-after").and_then(|v| v.to_str().ok());
    answer.0 == 429
        && answer.2["error"]["code"] == "rate_limited"
        && retry_after.and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s >= 1)
}

/// Plays the first `moves` edges of a 2×2 dots match over HTTP, alternating seats (no box
/// closes among the first four).
async fn play_over_http(http: &Http, id: &str, players: [&Guest; 2], moves: usize) -> Result<()> {
    let path = format!("/api/matches/{id}/moves");
    for (i, mv) in all_edges(2, 2).into_iter().take(moves).enumerate() {
        let body = json!({"move_id": i, "move": mv});
        let verdict = http.ok("POST", &path, Some(&players[i % 2].token), Some(body)).await?;
        assert!(verdict["result"]["accepted"].is_object(), "{verdict}");
    }
    Ok(())
}

#[tokio::test]
async fn a_flood_of_guests_from_one_address_gets_429_while_other_matches_play() -> Result<()> {
    let mut config = config();
    config.limits.guests_per_ip_per_min = 1;
    config.limits.guest_burst_per_ip = 3;
    let instance = Instance::with(config).await?;
    let http = &instance.http;
    let (id, a, b) = http.dots_match(2, 2).await?;
    let flooder = Http::from_address(&http.base, away(2))?;
    let flood = tokio::spawn(async move {
        let mut answers = Vec::new();
        for i in 0..20 {
            let name = json!({"name": format!("x{i}")});
            answers.push(
                flooder.call_with_headers("POST", "/api/auth/guest", None, Some(name)).await?,
            );
        }
        anyhow::Ok(answers)
    });
    play_over_http(http, &id, [&a, &b], 4).await?;
    let answers = flood.await??;
    assert_eq!(answers.iter().filter(|a| a.0 == 200).count(), 3, "the burst, then no more");
    assert!(answers[3..].iter().all(is_rate_limited), "{:?}", answers[3]);
    http.guest("cy").await.context("another address still mints")?;
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_flood_of_match_creation_by_one_player_gets_429_while_other_matches_play() -> Result<()> {
    let mut config = config();
    config.limits.creations_per_min = 1;
    config.limits.creation_burst = 3;
    let instance = Instance::with(config).await?;
    let http = &instance.http;
    let (id, a, b) = http.dots_match(2, 2).await?;
    let flooder = Http::from_address(&http.base, away(2))?;
    let eve = flooder.guest("eve").await?;
    let create = json!({"game": "tictactoe"});
    let flood = {
        let (flooder, eve, create) = (flooder.clone(), eve.clone(), create.clone());
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..10 {
                let body = Some(create.clone());
                answers.push(
                    flooder
                        .call_with_headers("POST", "/api/matches", Some(&eve.token), body)
                        .await?,
                );
            }
            anyhow::Ok(answers)
        })
    };
    play_over_http(http, &id, [&a, &b], 4).await?;
    let answers = flood.await??;
    assert_eq!(answers.iter().filter(|a| a.0 == 200).count(), 3, "the burst, then no more");
    assert!(answers[3..].iter().all(is_rate_limited), "{:?}", answers[3]);
    // The budget is the player's, wherever she comes from; others still create.
    let elsewhere = Http::from_address(&http.base, away(3))?;
    let again = elsewhere
        .call_with_headers("POST", "/api/matches", Some(&eve.token), Some(create.clone()))
        .await?;
    assert!(is_rate_limited(&again), "{again:?}");
    let cy = http.guest("cy").await?;
    http.create(&cy, "tictactoe", json!({})).await.context("another player still creates")?;
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn requests_are_limited_per_address_and_per_player_while_other_matches_play() -> Result<()> {
    let mut config = config();
    (config.limits.http_per_ip_per_s, config.limits.http_burst_per_ip) = (1, 10);
    (config.limits.http_per_player_per_s, config.limits.http_burst_per_player) = (1, 5);
    let instance = Instance::with(config).await?;
    let (id, a, _b) = instance.http.dots_match(2, 2).await?;
    let mut ada = WsClient::connect(&instance.ws_url(), &a.token).await?;
    ada.join(&id, Role::Player, Some(0)).await?;
    let from = Http::from_address(&instance.http.base, away(2))?;
    let mut answers = Vec::new();
    for _ in 0..15 {
        answers.push(from.call_with_headers("GET", "/api/games", None, None).await?);
    }
    let limited =
        answers.iter().find(|a| is_rate_limited(a)).context("an address flood is limited")?;
    assert!(
        limited.2["error"]["message"].as_str().unwrap_or("").contains("address"),
        "{limited:?}"
    );
    // One player spread over two addresses still has one budget.
    let eve = Http::from_address(&instance.http.base, away(3))?.guest("eve").await?;
    let (three, four) = (
        Http::from_address(&instance.http.base, away(3))?,
        Http::from_address(&instance.http.base, away(4))?,
    );
    let mut answers = Vec::new();
    for i in 0..8 {
        let http = if i % 2 == 0 { &three } else { &four };
        answers.push(
            http.call_with_headers("GET", &format!("/api/matches/{id}"), Some(&eve.token), None)
                .await?,
        );
    }
    let limited =
        answers.iter().find(|a| is_rate_limited(a)).context("a player flood is limited")?;
    assert!(limited.2["error"]["message"].as_str().unwrap_or("").contains("player"), "{limited:?}");
    // The match goes on, over its socket.
    ada.play(&id, 1, edge("h", 0, 0)).await?;
    assert!(matches!(ada.verdict(1).await?, VerdictResult::Accepted { .. }));
    instance.server.shutdown().await;
    Ok(())
}

/// The code of the next `error` a client receives.
async fn next_error(client: &mut WsClient) -> Result<(String, Option<String>)> {
    client
        .until(|m| match m {
            ServerMsg::Error(e) => Some((e.code.clone(), e.match_id.clone())),
            _ => None,
        })
        .await
}

fn spectate(match_id: &str) -> ClientMsg {
    ClientMsg::Join(Join { match_id: match_id.into(), role: Role::Spectator, from_seq: None })
}

#[tokio::test]
async fn spectators_past_the_room_cap_are_refused_but_players_always_join() -> Result<()> {
    let mut config = config();
    config.limits.subscribers_per_room = 2;
    let instance = Instance::with(config).await?;
    let url = instance.ws_url();
    let (id, a, b) = instance.http.dots_match(2, 2).await?;
    let mut watcher = WsClient::connect(&url, &a.token).await?;
    watcher.join(&id, Role::Spectator, None).await?;
    let eve = instance.http.guest("eve").await?;
    let mut eve = WsClient::connect(&url, &eve.token).await?;
    eve.join(&id, Role::Spectator, None).await?;
    let mut late = WsClient::connect(&url, &b.token).await?;
    late.send(&spectate(&id)).await?;
    assert_eq!(next_error(&mut late).await?, ("too_many_subscribers".into(), Some(id.clone())));
    // The match's players are never locked out.
    let mut ada = WsClient::connect(&url, &a.token).await?;
    ada.join(&id, Role::Player, Some(0)).await?;
    let mut bob = WsClient::connect(&url, &b.token).await?;
    bob.join(&id, Role::Player, Some(0)).await?;
    ada.play(&id, 1, edge("h", 0, 0)).await?;
    assert!(matches!(ada.verdict(1).await?, VerdictResult::Accepted { .. }));
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn past_the_loaded_room_cap_an_idle_room_gives_way_and_with_none_idle_the_answer_is_busy()
-> Result<()> {
    let mut config = config();
    config.limits.max_loaded_rooms = 2;
    let instance = Instance::with(config).await?;
    let (http, url) = (&instance.http, instance.ws_url());
    let (playing, a, _b) = http.dots_match(2, 2).await?;
    let mut ada = WsClient::connect(&url, &a.token).await?;
    ada.join(&playing, Role::Player, Some(0)).await?;
    let cy = http.guest("cy").await?;
    let idle = http.create(&cy, "tictactoe", json!({})).await?;
    // The idle room unloads to make room for a third match, which someone then watches.
    let watched = http.create(&cy, "tictactoe", json!({})).await?;
    let mut watcher = WsClient::connect(&url, &cy.token).await?;
    watcher.join(&watched, Role::Spectator, None).await?;
    // Both loaded rooms are watched: nothing can load.
    let (status, headers, body) = http
        .call_with_headers("POST", &format!("/api/matches/{idle}/join"), Some(&cy.token), None)
        .await?;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("server_busy")), "{body}");
    assert!(headers.contains_key("retry-after"));
    watcher.send(&spectate(&idle)).await?;
    assert_eq!(next_error(&mut watcher).await?, ("server_busy".into(), Some(idle.clone())));
    let (status, body) = http
        .call("POST", "/api/matches", Some(&cy.token), Some(json!({"game": "tictactoe"})))
        .await?;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("server_busy")));
    // The match in play goes on; and once a room is idle again, the waiting one loads.
    ada.play(&playing, 1, edge("h", 0, 0)).await?;
    assert!(matches!(ada.verdict(1).await?, VerdictResult::Accepted { .. }));
    watcher.send(&ClientMsg::Leave(Leave { match_id: watched.clone() })).await?;
    // A leave has no answer: retry as Retry-After says until the room it frees is idle.
    let path = format!("/api/matches/{idle}/join");
    let mut answer = http.call("POST", &path, Some(&cy.token), None).await?;
    for _ in 0..50 {
        if answer.0 != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        answer = http.call("POST", &path, Some(&cy.token), None).await?;
    }
    let seat = answer.1["seat"].as_u64();
    assert_eq!((answer.0, seat), (200, Some(0)), "{answer:?}");
    instance.server.shutdown().await;
    Ok(())
}
