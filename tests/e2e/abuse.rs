//! Bad input of every kind gets its typed answer, and the match goes on.

use anyhow::Result;
use protocol::v1::{ClientMsg, Ping, Role, ServerMsg, VerdictResult};
use tests::{Instance, WsClient, edge};
use tokio_tungstenite::tungstenite::Message;

fn rejected_code(v: &VerdictResult) -> &str {
    match v {
        VerdictResult::Rejected(body) => &body.code,
        VerdictResult::Accepted { .. } => "accepted",
    }
}

#[tokio::test]
async fn illegal_moves_wrong_seats_and_spectators_are_refused_by_reason() -> Result<()> {
    let instance = Instance::memory().await?;
    let (id, a, b) = instance.http.dots_match(2, 2).await?;
    let url = instance.ws_url();
    let mut ada = WsClient::connect(&url, &a.token).await?;
    ada.join(&id, Role::Player, Some(0)).await?;
    let mut bob = WsClient::connect(&url, &b.token).await?;
    bob.join(&id, Role::Player, Some(0)).await?;
    bob.play(&id, 1, edge("h", 0, 0)).await?;
    assert_eq!(rejected_code(&bob.verdict(1).await?), "not_your_turn");
    ada.play(&id, 1, edge("h", 0, 0)).await?;
    ada.verdict(1).await?;
    bob.play(&id, 2, edge("h", 0, 0)).await?;
    assert_eq!(rejected_code(&bob.verdict(2).await?), "already_taken");
    bob.play(&id, 3, edge("v", 7, 0)).await?;
    assert_eq!(rejected_code(&bob.verdict(3).await?), "out_of_range");
    bob.play(&id, 4, serde_json::json!({"dir": "d"})).await?;
    assert_eq!(rejected_code(&bob.verdict(4).await?), "malformed_move");
    let eve = instance.http.guest("eve").await?;
    let mut spectator = WsClient::connect(&url, &eve.token).await?;
    spectator.join(&id, Role::Spectator, Some(0)).await?;
    spectator.play(&id, 1, edge("h", 1, 0)).await?;
    assert_eq!(rejected_code(&spectator.verdict(1).await?), "not_seated");
    let mut ada_watching = WsClient::connect(&url, &a.token).await?;
    ada_watching.join(&id, Role::Spectator, Some(0)).await?;
    ada_watching.play(&id, 9, edge("h", 1, 0)).await?;
    assert_eq!(rejected_code(&ada_watching.verdict(9).await?), "spectator");
    let mut stranger = WsClient::connect(&url, &eve.token).await?;
    stranger.play(&id, 1, edge("h", 1, 0)).await?;
    assert_eq!(rejected_code(&stranger.verdict(1).await?), "not_joined");
    stranger
        .send(&ClientMsg::Join(protocol::v1::Join {
            match_id: id.clone(),
            role: Role::Player,
            from_seq: None,
        }))
        .await?;
    assert_eq!(stranger.error_code().await?, "not_seated");
    // The match goes on.
    bob.play(&id, 5, edge("h", 1, 0)).await?;
    assert!(matches!(bob.verdict(5).await?, VerdictResult::Accepted { seq: 4 }));
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn bad_and_expired_tokens_are_refused() -> Result<()> {
    let mut config = server::Config::ephemeral();
    config.signing_key = Some("11".repeat(32));
    let instance = Instance::with(config).await?;
    let url = instance.ws_url();
    let refused = WsClient::connect(&url, "not-a-token").await;
    let message = refused.err().map(|e| format!("{e:#}")).unwrap_or_default();
    assert!(message.contains("401"), "upgrade refused with 401: {message}");
    let mut anonymous = WsClient::connect_anonymous(&url).await?;
    anonymous
        .send(&ClientMsg::Join(protocol::v1::Join {
            match_id: "m1".into(),
            role: Role::Spectator,
            from_seq: None,
        }))
        .await?;
    assert_eq!(anonymous.error_code().await?, "unauthenticated");
    let expired = server::auth::Keys::new([0x11; 32]).issue(&server::auth::Claims {
        sub: "p".into(),
        name: "old".into(),
        exp: 1,
    });
    anonymous.hello(&expired).await?;
    assert_eq!(anonymous.error_code().await?, "token_expired");
    let (code, reason) = anonymous.closed().await?;
    assert_eq!(code, 1008);
    assert!(reason.contains("token_expired"), "{reason}");
    let (status, body) = instance
        .http
        .call("POST", "/api/matches", Some(&expired), Some(serde_json::json!({"game": "dots"})))
        .await?;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("token_expired")));
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn oversize_and_malformed_frames_get_typed_errors_and_the_socket_survives() -> Result<()> {
    let instance = Instance::memory().await?;
    let guest = instance.http.guest("eve").await?;
    let mut client = WsClient::connect(&instance.ws_url(), &guest.token).await?;
    client.send_raw(Message::Binary(vec![0xc1].into())).await?;
    assert_eq!(client.error_code().await?, "malformed_message");
    client.send_raw(Message::Text("{\"move\": 12}".into())).await?;
    assert_eq!(client.error_code().await?, "malformed_message");
    client.send_raw(Message::Binary(vec![0x90; 70_000].into())).await?;
    assert_eq!(client.error_code().await?, "frame_too_large");
    client.pong(1).await?;
    // Far over the limit, the socket layer refuses the frame and closes with 1009.
    client.send_raw(Message::Binary(vec![0x90; 200_000].into())).await?;
    let (code, _) = client.closed().await?;
    assert_eq!(code, 1009);
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_flood_is_answered_then_closed_and_the_match_goes_on() -> Result<()> {
    let instance = Instance::memory().await?;
    let (id, a, b) = instance.http.dots_match(2, 2).await?;
    let url = instance.ws_url();
    let mut ada = WsClient::connect(&url, &a.token).await?;
    ada.join(&id, Role::Player, Some(0)).await?;
    let mut flooder = WsClient::connect(&url, &b.token).await?;
    for nonce in 0..400 {
        if flooder.send(&ClientMsg::Ping(Ping { nonce })).await.is_err() {
            break;
        }
    }
    let mut limited = false;
    let close = loop {
        match flooder.recv().await {
            Ok(ServerMsg::Error(e)) if e.code == "rate_limited" => limited = true,
            Ok(_) => {}
            Err(e) => break e.to_string(),
        }
    };
    assert!(limited, "the flood got a rate_limited error first");
    assert!(close.contains("flood"), "then a close with a reason: {close}");
    ada.play(&id, 1, edge("h", 0, 0)).await?;
    assert!(matches!(ada.verdict(1).await?, VerdictResult::Accepted { .. }), "the match goes on");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn shutdown_closes_sockets_with_a_reason() -> Result<()> {
    let instance = Instance::memory().await?;
    let guest = instance.http.guest("eve").await?;
    let mut client = WsClient::connect(&instance.ws_url(), &guest.token).await?;
    let server = instance.server;
    let stopping = tokio::spawn(server.shutdown());
    let (code, reason) = client.closed().await?;
    assert_eq!((code, reason.as_str()), (1001, "server shutting down"));
    stopping.await?;
    Ok(())
}

#[tokio::test]
async fn a_second_hello_cannot_switch_the_connections_player() -> Result<()> {
    let instance = Instance::memory().await?;
    let ada = instance.http.guest("ada").await?;
    let bob = instance.http.guest("bob").await?;
    let mut client = WsClient::connect(&instance.ws_url(), &ada.token).await?;
    client.hello(&bob.token).await?;
    assert_eq!(client.error_code().await?, "already_authenticated");
    client.pong(7).await?;
    instance.server.shutdown().await;
    Ok(())
}
