//! The HTTP API: its answers and its typed errors.

use anyhow::Result;
use serde_json::json;
use tests::{Instance, edge};

#[tokio::test]
async fn errors_have_stable_codes() -> Result<()> {
    let instance = Instance::memory().await?;
    let http = &instance.http;
    let a = http.guest("ada").await?;
    let cases = [
        ("GET", "/api/matches/nope", None, None, 404, "unknown_match"),
        ("GET", "/api/matches/bad%20id/state", None, None, 404, "unknown_match"),
        ("POST", "/api/matches", None, Some(json!({"game": "dots"})), 401, "token_missing"),
        (
            "POST",
            "/api/matches",
            Some(a.token.as_str()),
            Some(json!({"game": "chess"})),
            400,
            "unknown_game",
        ),
        (
            "POST",
            "/api/matches",
            Some(a.token.as_str()),
            Some(json!({"game": "dots", "config": {"width": 40, "height": 2, "players": 2}})),
            400,
            "config_out_of_bounds",
        ),
        (
            "POST",
            "/api/matches",
            Some(a.token.as_str()),
            Some(json!({"game": "dots", "config": {"w": 1}})),
            400,
            "config_malformed",
        ),
        (
            "POST",
            "/api/matches",
            Some(a.token.as_str()),
            Some(json!({"gaem": "dots"})),
            400,
            "bad_request",
        ),
        ("GET", "/api/nothing-here", None, None, 404, "not_found"),
        ("DELETE", "/api/games", None, None, 405, "method_not_allowed"),
        ("POST", "/ws", None, None, 405, "method_not_allowed"),
        ("GET", "/api/matches/nope/events?from=5", None, None, 404, "unknown_match"),
        ("POST", "/api/auth/guest", None, Some(json!({"name": ""})), 400, "bad_name"),
        ("GET", "/api/matches?status=sideways", None, None, 400, "bad_request"),
        ("GET", "/api/matches/%FF", None, None, 404, "unknown_match"),
        ("GET", "/api/matches/%FF/events", None, None, 404, "unknown_match"),
        // Only an object is a body, though serde would fill a struct from an array.
        ("POST", "/api/auth/guest", None, Some(json!(["ada"])), 400, "bad_request"),
        ("POST", "/api/auth/guest", None, Some(json!("ada")), 400, "bad_request"),
        ("POST", "/api/matches", Some(a.token.as_str()), Some(json!(["dots"])), 400, "bad_request"),
    ];
    for (method, path, token, body, status, code) in cases {
        let (got, json) = http.call(method, path, token, body).await?;
        assert_eq!(
            (got, json["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {json}"
        );
    }
    let big = json!({"name": "x".repeat(100_000)});
    let (status, json) = http.call("POST", "/api/auth/guest", None, Some(big)).await?;
    assert_eq!((status, json["error"]["code"].as_str()), (413, Some("body_too_large")));
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn matches_list_inspect_page_and_replay_state() -> Result<()> {
    let instance = Instance::memory().await?;
    let http = &instance.http;
    let (id, a, b) = http.dots_match(1, 1).await?;
    let c = http.guest("cyd").await?;
    let (status, json) =
        http.call("POST", &format!("/api/matches/{id}/join"), Some(&c.token), None).await?;
    assert_eq!((status, json["error"]["code"].as_str()), (409, Some("match_full")));
    let open_id = http.create(&c, "tictactoe", json!({})).await?;
    let moves = format!("/api/matches/{id}/moves");
    for (who, move_id, mv) in
        [(&a, 1, edge("h", 0, 0)), (&b, 1, edge("h", 0, 1)), (&a, 2, edge("v", 0, 0))]
    {
        http.ok("POST", &moves, Some(&who.token), Some(json!({"move_id": move_id, "move": mv})))
            .await?;
    }
    let (status, json) = http
        .call("POST", &moves, Some(&a.token), Some(json!({"move_id": 3, "move": edge("v", 1, 0)})))
        .await?;
    assert_eq!((status, json["error"]["code"].as_str()), (422, Some("not_your_turn")));
    let live = http.ok("GET", "/api/matches?status=live", None, None).await?;
    assert_eq!(live["matches"][0]["match_id"], id.as_str());
    let open = http.ok("GET", "/api/matches?status=open&game=tictactoe", None, None).await?;
    assert_eq!(open["matches"][0]["match_id"], open_id.as_str());
    let history = format!("/api/players/{}/matches", a.player_id);
    let played = http.ok("GET", &history, None, None).await?;
    assert_eq!(played["matches"].as_array().map(Vec::len), Some(1), "{played}");
    assert_eq!(played["matches"][0]["match_id"], id.as_str());
    let (status, _) = http.call("GET", &format!("{history}?limit=x"), None, None).await?;
    assert_eq!(status, 400);
    assert_eq!(open["matches"].as_array().map(Vec::len), Some(1));
    let page =
        http.ok("GET", &format!("/api/matches/{id}/events?from=1&limit=2"), None, None).await?;
    assert_eq!(page["events"][0]["seq"], 1);
    assert_eq!(page["next_from"], 3);
    let rest = http.ok("GET", &format!("/api/matches/{id}/events?from=3"), None, None).await?;
    let hashes: Vec<_> =
        rest["events"].as_array().into_iter().flatten().map(|e| e["state_hash"].clone()).collect();
    assert_eq!(hashes.len(), 3);
    let at4 = http.ok("GET", &format!("/api/matches/{id}/state?at=4"), None, None).await?;
    assert_eq!(at4["seq"], 4);
    assert_eq!(at4["state_hash"], hashes[1], "state at 4 has the hash event 4 carried");
    assert_eq!(at4["view"]["drawn"], 2);
    let (status, _) =
        http.call("GET", &format!("/api/matches/{id}/state?at=99"), None, None).await?;
    assert_eq!(status, 400);
    let games = http.ok("GET", "/api/games", None, None).await?;
    assert_eq!(games["games"][0]["default_config"]["width"], 5);
    assert_eq!(
        http.ok("GET", "/healthz", None, None).await?,
        json!({"status": "alive", "log_damage": {"matches": [], "unattributed": []}})
    );
    assert_eq!(http.ok("GET", "/readyz", None, None).await?, json!({"ready": true, "reasons": []}));
    let metrics = reqwest::get(format!("{}/metrics", http.base)).await?.text().await?;
    assert!(metrics.contains("arbiter_moves_total{result=\"not_your_turn\"} 1"), "{metrics}");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn events_come_as_messagepack_when_asked() -> Result<()> {
    let instance = Instance::memory().await?;
    let (id, _, _) = instance.http.dots_match(1, 1).await?;
    let resp = reqwest::Client::new()
        .get(format!("{}/api/matches/{id}/events", instance.http.base))
        .header("accept", "application/msgpack")
        .send()
        .await?;
    assert_eq!(resp.headers()["content-type"], "application/msgpack");
    let page: serde_json::Value = rmp_serde::from_slice(&resp.bytes().await?)?;
    assert_eq!(page["events"].as_array().map(Vec::len), Some(3));
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn metrics_are_openmetrics_with_requests_connections_and_the_process() -> Result<()> {
    let instance = Instance::memory().await?;
    let guest = instance.http.guest("ada").await?;
    let _ws = tests::WsClient::connect(&instance.ws_url(), &guest.token).await?;
    let _quic = tests::WsClient::connect_quic(&instance.quic_target().await?, &guest.token).await?;
    instance.http.call("GET", "/api/matches/nope", None, None).await?;
    let resp = reqwest::get(format!("{}/metrics", instance.http.base)).await?;
    let content_type = resp.headers()["content-type"].to_str()?.to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    let text = resp.text().await?;
    for series in [
        r#"arbiter_http_requests_total{method="POST",route="/api/auth/guest",status="200"} 1"#,
        r#"arbiter_http_requests_total{method="GET",route="/api/matches/{id}",status="404"} 1"#,
        r#"arbiter_http_request_duration_seconds_count{method="GET",route="/api/matches/{id}"} 1"#,
        r#"arbiter_connections{transport="ws"} 1"#,
        r#"arbiter_connections{transport="quic"} 1"#,
        r#"arbiter_build_info{version=""#,
        "# TYPE process_cpu_seconds counter",
        "process_resident_memory_bytes ",
        "# TYPE arbiter_append_commit_seconds histogram",
        "# TYPE arbiter_tick_lateness_seconds histogram",
        "# TYPE arbiter_tick_broadcast_seconds histogram",
        "# TYPE arbiter_ticks_skipped counter",
    ] {
        assert!(text.contains(series), "{series} is missing from:\n{text}");
    }
    assert!(text.trim_end().ends_with("# EOF"), "one exposition, ended once");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_401_challenges_for_a_bearer_token() -> Result<()> {
    let instance = Instance::memory().await?;
    let ada = instance.http.guest("ada").await?;
    let client = reqwest::Client::new();
    let url = format!("{}/api/matches", instance.http.base);
    let invalid = Some("Bearer error=\"invalid_token\"");
    let cases = [
        (None, 401, Some("Bearer"), "token_missing"),
        (Some("Bearer nope".to_string()), 401, invalid, "token_malformed"),
        (Some("Basic YWRhOmFkYQ==".to_string()), 401, invalid, "token_malformed"),
        (Some(format!("Bearer {}x", ada.token)), 401, invalid, "token_invalid"),
        (Some(format!("bEaReR {}", ada.token)), 200, None, ""),
    ];
    for (authorization, status, challenge, code) in cases {
        let mut request = client.post(&url).json(&json!({"game": "tictactoe"}));
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await?;
        let got = response.headers().get("www-authenticate").map(|v| v.to_str()).transpose()?;
        let shown = format!("{authorization:?}");
        assert_eq!((response.status().as_u16(), got), (status, challenge), "{shown}");
        let body: serde_json::Value = response.json().await?;
        assert_eq!(body["error"]["code"].as_str().unwrap_or(""), code, "{shown}");
    }
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_partial_config_takes_the_games_defaults_and_tokens_refresh() -> Result<()> {
    let instance = Instance::memory().await?;
    let http = &instance.http;
    let ada = http.guest("ada").await?;
    let body = json!({"game": "dots", "config": {"width": 3}});
    let created = http.ok("POST", "/api/matches", Some(&ada.token), Some(body)).await?;
    let id = created["match_id"].as_str().expect("an id").to_string();
    let state = http.ok("GET", &format!("/api/matches/{id}/state"), None, None).await?;
    assert_eq!(state["created"]["config"], json!({"width": 3, "height": 5, "players": 2}));
    let body = json!({"game": "dots", "config": {"width": 3, "colour": "red"}});
    let (status, refused) = http.call("POST", "/api/matches", Some(&ada.token), Some(body)).await?;
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("config_malformed")));

    let fresh = http.ok("POST", "/api/auth/refresh", Some(&ada.token), None).await?;
    assert_eq!(fresh["player_id"].as_str(), Some(ada.player_id.as_str()), "the same player");
    let token = fresh["token"].as_str().expect("a token");
    let seat = http.ok("POST", &format!("/api/matches/{id}/join"), Some(token), None).await?;
    assert_eq!(seat["seat"], 0, "the new token holds the player's seats");
    let expired = server::auth::Keys::new([0; 32]).issue(&server::auth::Claims {
        sub: ada.player_id.clone(),
        name: "ada".into(),
        exp: 1,
    });
    let (status, _) = http.call("POST", "/api/auth/refresh", Some(&expired), None).await?;
    assert_eq!(status, 401, "an expired (or foreign) token cannot be refreshed");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_openapi_document_is_served() -> Result<()> {
    let instance = Instance::memory().await?;
    let doc = instance.http.ok("GET", "/api/openapi.json", None, None).await?;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let create = &doc["paths"]["/api/matches"]["post"];
    assert_eq!(create["security"], json!([{"bearer": []}]));
    assert!(create["responses"]["401"].is_object(), "{create}");
    instance.server.shutdown().await;
    Ok(())
}
