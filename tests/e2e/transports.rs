//! One suite, two transports: authentication, joins, catch-up, moves, verdicts, limits and
//! close reasons behave the same over WebSocket and over QUIC. Each scenario runs on both;
//! matches are also played with one player on each.

use std::time::Duration;

use anyhow::{Context, Result};
use protocol::v1::{ClientMsg, Hello, Ping, Role, VerdictResult};
use tests::{Instance, WsClient, all_edges, edge};
use tokio_tungstenite::tungstenite::Message;

/// Which transport a client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ws,
    Quic,
}

const BOTH: [Kind; 2] = [Kind::Ws, Kind::Quic];

/// An authenticated client.
async fn connect(instance: &Instance, kind: Kind, token: &str) -> Result<WsClient> {
    match kind {
        Kind::Ws => WsClient::connect(&instance.ws_url(), token).await,
        Kind::Quic => WsClient::connect_quic(&instance.quic_target().await?, token).await,
    }
}

/// A client that has not sent hello.
async fn connect_anonymous(instance: &Instance, kind: Kind) -> Result<WsClient> {
    match kind {
        Kind::Ws => WsClient::connect_anonymous(&instance.ws_url()).await,
        Kind::Quic => WsClient::connect_quic_anonymous(&instance.quic_target().await?).await,
    }
}

/// Reads until the client has event `seq` (at once if it has it already).
async fn seen(client: &mut WsClient, seq: u64) -> Result<()> {
    while client.last_seq() < Some(seq) {
        client.recv().await?;
    }
    Ok(())
}

fn rejected(v: &VerdictResult) -> &str {
    match v {
        VerdictResult::Rejected(body) => &body.code,
        VerdictResult::Accepted { .. } => "accepted",
    }
}

#[tokio::test]
async fn a_match_is_played_with_one_player_on_each_transport_and_watched_from_a_cursor()
-> Result<()> {
    let instance = Instance::memory().await?;
    for (ada_on, bob_on) in [(Kind::Ws, Kind::Quic), (Kind::Quic, Kind::Ws)] {
        let (id, a, b) = instance.http.dots_match(2, 1).await?;
        let mut ada = connect(&instance, ada_on, &a.token).await?;
        let mut bob = connect(&instance, bob_on, &b.token).await?;
        ada.join(&id, Role::Player, Some(0)).await?;
        bob.join(&id, Role::Player, Some(0)).await?;
        let edges = all_edges(2, 1);
        for (n, mv) in edges.iter().enumerate() {
            let turn = match ada.replica.state().map(|s| s.status()) {
                Some(game_rules::Status::Turn(seat)) => seat,
                other => panic!("the match ended early: {other:?}"),
            };
            let mover = if turn == 0 { &mut ada } else { &mut bob };
            mover.play(&id, n as u64 + 1, mv.clone()).await?;
            assert!(matches!(mover.verdict(n as u64 + 1).await?, VerdictResult::Accepted { .. }));
            if n == 2 {
                // A spectator on the other transports joins from a cursor mid-match.
                for kind in BOTH {
                    let eve = instance.http.guest("eve").await?;
                    let mut watcher = connect(&instance, kind, &eve.token).await?;
                    watcher.join(&id, Role::Spectator, Some(0)).await?;
                    assert_eq!(watcher.last_seq(), Some(3 + n as u64), "{kind:?} caught up");
                }
            }
            // Both sides see every event and check its hash as they go.
            for client in [&mut ada, &mut bob] {
                seen(client, 3 + n as u64).await.with_context(|| format!("move {n}"))?;
            }
        }
        assert!(
            ada.replica.state().is_some_and(|s| s.status().is_over()),
            "{ada_on:?} vs {bob_on:?}"
        );
        assert_eq!(
            ada.events.last().map(|e| e.state_hash),
            bob.events.last().map(|e| e.state_hash)
        );
    }
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn verdicts_retries_and_refusals_are_the_same_on_both() -> Result<()> {
    let instance = Instance::memory().await?;
    for kind in BOTH {
        let (id, a, b) = instance.http.dots_match(2, 2).await?;
        let mut ada = connect(&instance, kind, &a.token).await?;
        ada.play(&id, 1, edge("h", 0, 0)).await?;
        assert_eq!(rejected(&ada.verdict(1).await?), "not_joined", "{kind:?}");
        ada.join(&id, Role::Player, Some(0)).await?;
        ada.play(&id, 1, edge("h", 0, 0)).await?;
        let first = ada.verdict(1).await?;
        assert!(matches!(first, VerdictResult::Accepted { seq: 3 }), "{kind:?}: {first:?}");
        // The same id again is not applied twice: the original verdict comes back.
        ada.play(&id, 1, edge("h", 1, 0)).await?;
        assert_eq!(ada.verdict(1).await?, first, "{kind:?}");
        ada.play(&id, 2, edge("h", 1, 0)).await?;
        assert_eq!(rejected(&ada.verdict(2).await?), "not_your_turn", "{kind:?}");
        let mut bob = connect(&instance, kind, &b.token).await?;
        bob.join(&id, Role::Player, Some(4)).await?;
        assert!(bob.events.is_empty(), "a cursor past the head gets nothing to catch up");
        bob.join(&id, Role::Player, Some(3)).await?;
        assert_eq!(bob.events.len(), 1, "{kind:?}: only what was missed");
    }
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn authentication_is_the_same_on_both() -> Result<()> {
    let mut config = server::Config::ephemeral();
    config.limits.handshake_timeout_ms = 300;
    let instance = Instance::with(config).await?;
    for kind in BOTH {
        let mut client = connect_anonymous(&instance, kind).await?;
        client.pong(1).await.with_context(|| format!("{kind:?}: ping before hello"))?;
        client
            .send(&ClientMsg::Join(protocol::v1::Join {
                match_id: "m1".into(),
                role: Role::Spectator,
                from_seq: None,
            }))
            .await?;
        assert_eq!(client.error_code().await?, "unauthenticated", "{kind:?}");
        client.hello("not-a-token").await?;
        assert_eq!(client.error_code().await?, "token_malformed", "{kind:?}");
        let closed = client.closed().await?;
        assert_eq!(closed, (1008, "authentication failed: token_malformed".into()), "{kind:?}");

        let mut client = connect_anonymous(&instance, kind).await?;
        client.send(&ClientMsg::Hello(Hello { version: 9, token: "t".into() })).await?;
        assert_eq!(client.error_code().await?, "unsupported_version", "{kind:?}");
        assert_eq!(
            client.closed().await?,
            (1002, "unsupported protocol version".into()),
            "{kind:?}"
        );

        let mut silent = connect_anonymous(&instance, kind).await?;
        // QUIC opens its stream with the first message.
        silent.pong(2).await?;
        let closed = silent.closed().await?;
        assert_eq!(closed, (1008, "authentication timeout: send hello first".into()), "{kind:?}");
    }
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn frame_limits_and_floods_are_the_same_on_both() -> Result<()> {
    let mut config = server::Config::ephemeral();
    config.limits.max_frame_bytes = 1024;
    config.limits.msgs_per_s = 5;
    config.limits.msg_burst = 10;
    let instance = Instance::with(config).await?;
    for kind in BOTH {
        let guest = instance.http.guest("eve").await?;
        let mut client = connect(&instance, kind, &guest.token).await?;
        client.send_bytes(vec![0xc1]).await?;
        assert_eq!(client.error_code().await?, "malformed_message", "{kind:?}");
        client.send_bytes(vec![0x90; 1500]).await?;
        assert_eq!(client.error_code().await?, "frame_too_large", "{kind:?}");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        client.pong(1).await.with_context(|| format!("{kind:?}: open after bad frames"))?;
        for nonce in 0..40 {
            client.send(&ClientMsg::Ping(Ping { nonce })).await?;
        }
        assert_eq!(client.error_code().await?, "rate_limited", "{kind:?}");
        assert_eq!(
            client.closed().await?,
            (1008, "flood: message rate limit exceeded".into()),
            "{kind:?}"
        );

        let mut client = connect(&instance, kind, &guest.token).await?;
        client.send_bytes(vec![0x90; 3000]).await?;
        let (code, _) = client.closed().await?;
        assert_eq!(code, 1009, "{kind:?}: a frame over twice the limit closes");
    }
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn shutdown_closes_both_with_its_reason() -> Result<()> {
    let instance = Instance::memory().await?;
    let guest = instance.http.guest("eve").await?;
    let mut ws = connect(&instance, Kind::Ws, &guest.token).await?;
    let mut quic = connect(&instance, Kind::Quic, &guest.token).await?;
    let stopping = tokio::spawn(instance.server.shutdown());
    for client in [&mut ws, &mut quic] {
        assert_eq!(client.closed().await?, (1001, "server shutting down".into()));
    }
    stopping.await?;
    Ok(())
}

#[tokio::test]
async fn a_bad_token_on_the_upgrade_is_refused_with_401() -> Result<()> {
    let instance = Instance::memory().await?;
    let url = instance.ws_url();
    let with = |name: &'static str, value: &'static str| {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.as_str().into_client_request().expect("a URL");
        request.headers_mut().insert(name, value.parse().expect("a header"));
        request
    };
    let cases = [
        with("authorization", "Bearer "),
        with("authorization", "Basic YWRhOmFkYQ=="),
        with("authorization", "Bearer not-a-token"),
        with("sec-websocket-protocol", "arbiter.v1, bearer."),
    ];
    for request in cases {
        use tokio_tungstenite::tungstenite::Error;
        let shown = format!("{:?}", request.headers());
        let refused = match tokio_tungstenite::connect_async(request).await {
            Err(Error::Http(response)) => Some(response),
            _ => None,
        };
        let challenge = refused.as_ref().and_then(|r| r.headers().get("www-authenticate"));
        assert_eq!(refused.as_ref().map(|r| r.status().as_u16()), Some(401), "{shown}");
        assert_eq!(
            challenge.and_then(|c| c.to_str().ok()),
            Some("Bearer error=\"invalid_token\""),
            "{shown}"
        );
    }
    let guest = instance.http.guest("ada").await?;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            url.as_str(),
        )?;
    request.headers_mut().insert("authorization", format!("bearer {}", guest.token).parse()?);
    assert!(
        tokio_tungstenite::connect_async(request).await.is_ok(),
        "the scheme is case-insensitive"
    );
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_clients_close_is_answered_with_its_own_code() -> Result<()> {
    use futures_util::{SinkExt, StreamExt};
    let instance = Instance::memory().await?;
    let (mut socket, _) = tokio_tungstenite::connect_async(instance.ws_url()).await?;
    let close = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 1000u16.into(),
        reason: "done".into(),
    };
    socket.send(Message::Close(Some(close))).await?;
    let answer = tokio::time::timeout(Duration::from_secs(5), socket.next()).await?;
    match answer {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1000),
        other => panic!("the close was not answered: {other:?}"),
    }
    instance.server.shutdown().await;
    Ok(())
}
