//! The lobby over real sockets: private matches and their codes, listing pages, and quick
//! match under 100 players asking at once.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, anyhow, ensure};
use serde_json::{Value as Json, json};
use tests::{Guest, Http, Instance};

/// A server whose budgets let one test address mint and seat many guests.
fn roomy() -> server::Config {
    let mut config = server::Config::ephemeral();
    config.limits.guests_per_ip_per_min = 10_000;
    config.limits.guest_burst_per_ip = 10_000;
    config.limits.http_per_ip_per_s = 10_000;
    config.limits.http_burst_per_ip = 10_000;
    config
}

async fn code_of(http: &Http, who: &Guest, body: Json) -> Result<(String, String)> {
    let created = http.ok("POST", "/api/matches", Some(&who.token), Some(body)).await?;
    let field =
        |k: &str| created[k].as_str().map(str::to_string).ok_or_else(|| anyhow!("{created}"));
    Ok((field("match_id")?, field("code")?))
}

async fn listed(http: &Http, query: &str) -> Result<(Vec<String>, Option<String>)> {
    let page = http.ok("GET", &format!("/api/matches{query}"), None, None).await?;
    let ids = page["matches"]
        .as_array()
        .ok_or_else(|| anyhow!("{page}"))?
        .iter()
        .filter_map(|m| m["match_id"].as_str().map(str::to_string))
        .collect();
    Ok((ids, page["next"].as_str().map(str::to_string)))
}

#[tokio::test]
async fn a_private_match_is_joined_by_its_code_and_never_listed() -> Result<()> {
    let instance = Instance::memory().await?;
    let http = &instance.http;
    let (a, b, c) = (http.guest("ada").await?, http.guest("bob").await?, http.guest("cy").await?);
    let body = json!({"game": "dots", "config": {"width": 1}, "visibility": "private"});
    let (id, code) = code_of(http, &a, body).await?;
    let public = http.create(&a, "dots", json!({})).await?;
    assert_eq!(listed(http, "").await?.0, vec![public.clone()]);
    let summary = http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["private"], json!(true));

    let join = |who: &Guest, body: Json| {
        let (http, token) = (http.clone(), who.token.clone());
        async move { http.call("POST", "/api/join", Some(&token), Some(body)).await }
    };
    let seated = join(&a, json!({"code": code.to_lowercase()})).await?;
    assert_eq!(seated, (200, json!({"match_id": id, "seat": 0})));
    for (body, status, error) in [
        (json!({"code": code, "game": "tictactoe"}), 409, "wrong_game"),
        (json!({"code": "ZZZZZZ"}), 404, "unknown_code"),
        (json!({"code": "O0"}), 400, "bad_code"),
    ] {
        let (got, answer) = join(&b, body.clone()).await?;
        assert_eq!((got, answer["error"]["code"].as_str()), (status, Some(error)), "{body}");
    }
    assert_eq!(join(&b, json!({"code": code, "game": "dots"})).await?.0, 200);
    let (status, answer) = join(&c, json!({"code": code})).await?;
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("match_full")));
    Ok(())
}

#[tokio::test]
async fn listing_pages_follow_the_cursor_to_the_end() -> Result<()> {
    let instance = Instance::memory().await?;
    let http = &instance.http;
    let a = http.guest("ada").await?;
    let mut made = Vec::new();
    for _ in 0..3 {
        made.push(http.create(&a, "dots", json!({})).await?);
        code_of(http, &a, json!({"game": "dots", "visibility": "private"})).await?;
    }
    made.reverse();
    let (first, next) = listed(http, "?limit=2&status=open&game=dots").await?;
    let next = next.ok_or_else(|| anyhow!("a second page"))?;
    let (second, last) =
        listed(http, &format!("?limit=2&status=open&game=dots&after={next}")).await?;
    assert_eq!([first, second].concat(), made);
    assert_eq!(last, None);
    let (status, answer) = http.call("GET", "/api/matches?after=nonsense", None, None).await?;
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("bad_cursor")));
    Ok(())
}

#[tokio::test]
async fn a_hundred_quick_matches_at_once_make_whole_matches() -> Result<()> {
    let instance = Instance::with(roomy()).await?;
    let http = &instance.http;
    let mut guests = Vec::new();
    for n in 0..100 {
        guests.push(http.guest(&format!("p{n}")).await?);
    }
    let asks = guests.iter().map(|g| {
        let (http, token) = (http.clone(), g.token.clone());
        tokio::spawn(async move {
            let body = json!({"game": "dots", "config": {"width": 2, "height": 2}});
            http.ok("POST", "/api/quickmatch", Some(&token), Some(body)).await
        })
    });
    let answers = futures_util::future::join_all(asks).await;
    let mut seats: BTreeMap<String, BTreeMap<u64, String>> = BTreeMap::new();
    for (guest, answer) in guests.iter().zip(answers) {
        let answer = answer??;
        let (id, seat) = (answer["match_id"].as_str(), answer["seat"].as_u64());
        let (id, seat) = id.zip(seat).ok_or_else(|| anyhow!("{answer}"))?;
        let earlier =
            seats.entry(id.to_string()).or_default().insert(seat, guest.player_id.clone());
        ensure!(earlier.is_none(), "seat {seat} of {id} given twice");
    }
    assert_eq!(seats.len(), 50, "two players to a match");
    for (id, held) in &seats {
        let summary = http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
        let stored: Vec<&str> = summary["seats"]
            .as_array()
            .ok_or_else(|| anyhow!("{summary}"))?
            .iter()
            .map(|s| s["player_id"].as_str().unwrap_or("(free)"))
            .collect();
        let answered: Vec<&str> = held.values().map(String::as_str).collect();
        assert_eq!(stored, answered, "{id}: every seat, as answered");
        assert_eq!(summary["status"], "live");
    }
    let everyone: BTreeSet<&String> = seats.values().flat_map(|h| h.values()).collect();
    assert_eq!(everyone.len(), 100, "nobody in two matches");
    Ok(())
}

#[tokio::test]
async fn a_lone_player_waits_once_then_gets_bots_or_a_timeout() -> Result<()> {
    let mut config = server::Config::ephemeral();
    config.quickmatch_wait_ms = 2_000;
    let instance = Instance::with(config).await?;
    let http = instance.http.clone();
    let a = http.guest("ada").await?;
    let body = json!({"game": "dots"});
    let first = tokio::spawn({
        let (http, token, body) = (http.clone(), a.token.clone(), body.clone());
        async move { http.call("POST", "/api/quickmatch", Some(&token), Some(body)).await }
    });
    while instance.server.app().quick.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    let (status, again) = http.call("POST", "/api/quickmatch", Some(&a.token), Some(body)).await?;
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("already_queued")));
    let (status, timeout) = first.await??;
    assert_eq!((status, timeout["error"]["code"].as_str()), (408, Some("quickmatch_timeout")));
    assert_eq!(instance.server.app().quick.waiting(), 0);

    let mut config = server::Config::ephemeral();
    config.quickmatch_bots_after_ms = Some(0);
    let instance = Instance::with(config).await?;
    let b = instance.http.guest("bob").await?;
    let body = json!({"game": "dots", "config": {"players": 3}});
    let seated = instance.http.ok("POST", "/api/quickmatch", Some(&b.token), Some(body)).await?;
    assert_eq!(seated["seat"], 0);
    let id = seated["match_id"].as_str().ok_or_else(|| anyhow!("{seated}"))?;
    let summary = instance.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    let bots: Vec<bool> = summary["seats"]
        .as_array()
        .ok_or_else(|| anyhow!("{summary}"))?
        .iter()
        .map(|s| s.get("bot").is_some())
        .collect();
    assert_eq!(bots, [false, true, true], "bots take the seats left");
    Ok(())
}

async fn act(http: &Http, who: &Guest, id: &str, what: &str) -> Result<(u16, String)> {
    let path = format!("/api/matches/{id}/{what}");
    let (status, answer) = http.call("POST", &path, Some(&who.token), None).await?;
    let code = answer["error"]["code"].as_str().unwrap_or("ok").to_string();
    Ok((status, code))
}

#[tokio::test]
async fn a_match_is_left_cancelled_and_resigned_as_its_rules_allow() -> Result<()> {
    let instance = Instance::memory().await?;
    let http = &instance.http;
    let (a, b, c) = (http.guest("ada").await?, http.guest("bob").await?, http.guest("cy").await?);
    let open = http.create(&a, "dots", json!({"players": 3})).await?;
    http.join(&b, &open).await?;
    assert_eq!(act(http, &c, &open, "leave").await?, (409, "not_seated".into()));
    assert_eq!(act(http, &b, &open, "resign").await?, (409, "match_not_started".into()));
    assert_eq!(act(http, &b, &open, "leave").await?, (200, "ok".into()));
    let summary = http.ok("GET", &format!("/api/matches/{open}"), None, None).await?;
    assert_eq!(summary["seats"], json!([null, null, null]), "the seat is free again");
    assert_eq!(act(http, &b, &open, "cancel").await?, (403, "not_creator".into()));
    assert_eq!(act(http, &a, &open, "cancel").await?, (200, "ok".into()));
    let summary = http.ok("GET", &format!("/api/matches/{open}"), None, None).await?;
    assert_eq!(summary["status"], "finished");
    assert_eq!(summary["outcome"], json!({"scores": [0, 0, 0], "winners": []}));
    assert_eq!(act(http, &a, &open, "cancel").await?, (409, "match_over".into()));

    let (live, a, b) = http.dots_match(2, 2).await?;
    assert_eq!(act(http, &a, &live, "leave").await?, (409, "match_started".into()));
    assert_eq!(act(http, &a, &live, "cancel").await?, (409, "match_started".into()));
    assert_eq!(act(http, &b, &live, "resign").await?, (200, "ok".into()));
    let summary = http.ok("GET", &format!("/api/matches/{live}"), None, None).await?;
    assert_eq!(summary["outcome"], json!({"scores": [1, 0], "winners": [0]}));
    let body = json!({"move_id": 1, "move": tests::edge("h", 0, 0)});
    let path = format!("/api/matches/{live}/moves");
    let (status, refused) = http.call("POST", &path, Some(&a.token), Some(body)).await?;
    assert_eq!((status, refused["error"]["code"].as_str()), (422, Some("match_over")));
    let events = http.ok("GET", &format!("/api/matches/{live}/events"), None, None).await?;
    let last = events["events"].as_array().and_then(|e| e.last()).cloned().unwrap_or_default();
    assert_eq!(last["body"], json!({"resigned": {"seat": 1}}));
    assert_eq!(last["status"], json!({"over": {"scores": [1, 0], "winners": [0]}}));
    Ok(())
}

#[tokio::test]
async fn a_resignation_reaches_followers_who_check_every_hash() -> Result<()> {
    let instance = Instance::memory().await?;
    let http = &instance.http;
    let (id, a, b) = http.dots_match(1, 1).await?;
    let mut ws = tests::WsClient::connect(&instance.ws_url(), &a.token).await?;
    ws.join(&id, protocol::v1::Role::Player, Some(0)).await?;
    assert_eq!(act(http, &b, &id, "resign").await?, (200, "ok".into()));
    let status = ws
        .until(|m| match m {
            protocol::v1::ServerMsg::Event(e)
                if e.body
                    .as_ref()
                    .is_some_and(|b| matches!(b, protocol::v1::EventBody::Resigned(_))) =>
            {
                Some(e.status.clone())
            }
            _ => None,
        })
        .await?;
    assert!(status.is_over());
    Ok(())
}

#[tokio::test]
async fn a_match_is_created_with_its_own_turn_timer() -> Result<()> {
    let instance = Instance::memory().await?;
    let http = &instance.http;
    let a = http.guest("ada").await?;
    let body = json!({"game": "dots", "timer": {"move_ms": 5000}});
    let created = http.ok("POST", "/api/matches", Some(&a.token), Some(body)).await?;
    let id = created["match_id"].as_str().ok_or_else(|| anyhow!("{created}"))?;
    let summary = http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["timer"], json!({"move_ms": 5000, "on_expiry": "pass"}));
    let body = json!({"game": "dots", "timer": {"move_ms": 5}});
    let (status, refused) = http.call("POST", "/api/matches", Some(&a.token), Some(body)).await?;
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("bad_timer")));
    Ok(())
}

async fn play(http: &Http, who: &Guest, id: &str, move_id: u64, mv: Json) -> Result<u64> {
    let body = json!({"move_id": move_id, "move": mv});
    let path = format!("/api/matches/{id}/moves");
    let verdict = http.ok("POST", &path, Some(&who.token), Some(body)).await?;
    verdict["result"]["accepted"]["seq"].as_u64().ok_or_else(|| anyhow!("{verdict}"))
}

async fn events(http: &Http, id: &str) -> Result<Vec<Json>> {
    let page = http.ok("GET", &format!("/api/matches/{id}/events"), None, None).await?;
    page["events"].as_array().cloned().ok_or_else(|| anyhow!("{page}"))
}

#[tokio::test]
async fn a_fork_holds_the_history_to_its_event_with_every_seat_open() -> Result<()> {
    let instance = Instance::memory().await?;
    let http = &instance.http;
    let (id, a, b) = http.dots_match(2, 2).await?;
    play(http, &a, &id, 1, tests::edge("h", 0, 0)).await?;
    play(http, &b, &id, 1, tests::edge("h", 1, 0)).await?;
    play(http, &a, &id, 2, tests::edge("h", 0, 2)).await?;
    let body = json!({"at": 4});
    let forked =
        http.ok("POST", &format!("/api/matches/{id}/fork"), Some(&a.token), Some(body)).await?;
    assert_eq!(forked["forked_from"], json!({"match_id": id, "seq": 4}));
    let fork = forked["match_id"].as_str().ok_or_else(|| anyhow!("{forked}"))?.to_string();

    let (original, copied) = (events(http, &id).await?, events(http, &fork).await?);
    let hashes = |e: &[Json]| e.iter().map(|e| e["state_hash"].clone()).collect::<Vec<_>>();
    assert_eq!(hashes(&copied[..5]), hashes(&original[..5]), "the same states to event 4");
    assert_eq!(copied[5]["body"], json!({"left": {"seat": 0, "player_id": a.player_id}}));
    assert_eq!(copied[6]["body"], json!({"left": {"seat": 1, "player_id": b.player_id}}));
    let summary = http.ok("GET", &format!("/api/matches/{fork}"), None, None).await?;
    assert_eq!(
        (summary["status"].as_str(), &summary["seats"]),
        (Some("open"), &json!([null, null]))
    );
    assert_eq!(summary["forked_from"], json!({"match_id": id, "seq": 4}));

    // New players take the position; a move id the old seat used is a new move.
    let (c, d) = (http.guest("cy").await?, http.guest("di").await?);
    http.join(&c, &fork).await?;
    http.join(&d, &fork).await?;
    assert_eq!(play(http, &c, &fork, 2, tests::edge("h", 0, 2)).await?, 9);

    let fork_at = |at: u64| {
        let (http, token, path) =
            (http.clone(), a.token.clone(), format!("/api/matches/{id}/fork"));
        async move { http.call("POST", &path, Some(&token), Some(json!({ "at": at }))).await }
    };
    let (status, refused) = fork_at(99).await?;
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("bad_cursor")));
    Ok(())
}

#[tokio::test]
async fn a_private_matchs_code_still_seats_after_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let first = Instance::on_disk(dir.path()).await?;
    let (a, b) = (first.http.guest("ada").await?, first.http.guest("bob").await?);
    let (id, code) =
        code_of(&first.http, &a, json!({"game": "dots", "visibility": "private"})).await?;
    first.server.shutdown().await;
    let second = Instance::on_disk(dir.path()).await?;
    let body = json!({"code": code});
    let seated = second.http.ok("POST", "/api/join", Some(&b.token), Some(body)).await?;
    assert_eq!(seated, json!({"match_id": id, "seat": 0}));
    second.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn full_code_tables_and_queues_refuse_at_once_and_free_up() -> Result<()> {
    let mut config = server::Config::ephemeral();
    config.limits.max_private_matches = 1;
    config.limits.quickmatch_queue = 1;
    config.quickmatch_wait_ms = 2_000;
    let instance = Instance::with(config).await?;
    let http = instance.http.clone();
    let (a, b) = (http.guest("ada").await?, http.guest("bob").await?);
    let private = json!({"game": "dots", "visibility": "private"});
    let (first, _) = code_of(&http, &a, private.clone()).await?;
    let (status, full) =
        http.call("POST", "/api/matches", Some(&a.token), Some(private.clone())).await?;
    assert_eq!((status, full["error"]["code"].as_str()), (503, Some("too_many_private_matches")));
    // A code whose match is no longer open is forgotten when the table fills.
    assert_eq!(act(&http, &a, &first, "cancel").await?, (200, "ok".into()));
    code_of(&http, &a, private).await?;

    let waiting = tokio::spawn({
        let (http, token) = (http.clone(), a.token.clone());
        async move {
            http.call("POST", "/api/quickmatch", Some(&token), Some(json!({"game": "dots"}))).await
        }
    });
    while instance.server.app().quick.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    let body = json!({"game": "tictactoe"});
    let (status, full) = http.call("POST", "/api/quickmatch", Some(&b.token), Some(body)).await?;
    assert_eq!((status, full["error"]["code"].as_str()), (503, Some("quickmatch_full")));
    assert_eq!(waiting.await??.0, 408, "the one waiting times out");
    Ok(())
}
