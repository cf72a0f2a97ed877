//! The session driven over channels, with no socket: what a client sends goes in as
//! [`Inbound`], and everything the session writes, pings or closes with comes out as [`Out`].
//! Timers run on tokio's paused clock.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use protocol::Encoding;
use protocol::v1::{ClientMsg, Hello, Join, Ping, Role, ServerMsg};
use tokio::sync::mpsc;

use super::*;
use crate::auth::{Claims, Keys};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::storage::MemoryLog;

/// What the session did to its transport.
#[derive(Debug, PartialEq)]
enum Out {
    Msg(ServerMsg),
    Ping,
    Closed(CloseReason),
}

/// A transport made of channels.
struct Channels {
    inbox: mpsc::Receiver<Inbound>,
    out: mpsc::UnboundedSender<Out>,
    fed: Vec<(Bytes, Encoding)>,
}

impl Transport for Channels {
    const NAME: &'static str = "test";

    async fn recv(&mut self) -> Option<Result<Inbound, CloseReason>> {
        self.inbox.recv().await.map(Ok)
    }

    async fn feed(&mut self, bytes: Bytes, encoding: Encoding) -> Result<(), Gone> {
        self.fed.push((bytes, encoding));
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Gone> {
        for (bytes, encoding) in self.fed.drain(..) {
            let msg = protocol::decode(&bytes, encoding).map_err(|_| Gone)?;
            self.out.send(Out::Msg(msg)).map_err(|_| Gone)?;
        }
        Ok(())
    }

    async fn keepalive(&mut self) -> Result<(), Gone> {
        self.out.send(Out::Ping).map_err(|_| Gone)
    }

    async fn close(self, reason: &CloseReason) {
        let _ = self.out.send(Out::Closed(reason.clone()));
    }
}

/// A session on an in-memory server, and the client's ends of its channels.
struct Peer {
    app: Arc<App>,
    to_session: mpsc::Sender<Inbound>,
    from_session: mpsc::UnboundedReceiver<Out>,
    ended: tokio::task::JoinHandle<()>,
}

fn start(configure: impl FnOnce(&mut Config)) -> Peer {
    let mut config = Config::ephemeral();
    configure(&mut config);
    let app = App::new(
        config,
        Arc::new(MemoryLog::new()),
        Keys::new([7; 32]),
        Arc::new(Metrics::default()),
    );
    let (to_session, inbox) = mpsc::channel(64);
    let (out, from_session) = mpsc::unbounded_channel();
    let transport = Channels { inbox, out, fed: Vec::new() };
    let place = app.gate.admit(IpAddr::V4(Ipv4Addr::LOCALHOST)).expect("room under the caps");
    let peer = std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 4000));
    let ended = tokio::spawn(run(transport, app.clone(), 1, peer, None, place));
    Peer { app, to_session, from_session, ended }
}

impl Peer {
    async fn send(&self, msg: &ClientMsg) {
        let bytes = Bytes::from(protocol::encode(msg, Encoding::MsgPack));
        self.to_session
            .send(Inbound::Frame(bytes, Encoding::MsgPack))
            .await
            .expect("the session reads");
    }

    async fn next(&mut self) -> Out {
        self.from_session.recv().await.expect("the session is still there")
    }

    fn token(&self, name: &str) -> String {
        let exp = crate::app::unix_s() + 60;
        self.app.keys.issue(&Claims { sub: format!("p-{name}"), name: name.into(), exp })
    }

    async fn hello(&mut self, token: String) -> Out {
        self.send(&ClientMsg::Hello(Hello { version: 1, token })).await;
        self.next().await
    }

    /// The session ended and gave back its connection slot.
    async fn ended(self) {
        self.ended.await.expect("the session task ends cleanly");
        let again = self.app.gate.admit(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(again.is_ok(), "the place is given back");
    }
}

fn error_code(out: &Out) -> Option<&str> {
    match out {
        Out::Msg(ServerMsg::Error(e)) => Some(&e.code),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn hello_is_welcomed_and_a_ping_answered_before_and_after() {
    let mut peer = start(|_| {});
    peer.send(&ClientMsg::Ping(Ping { nonce: 3 })).await;
    assert_eq!(peer.next().await, Out::Msg(ServerMsg::Pong(Ping { nonce: 3 })));
    let token = peer.token("ada");
    assert!(
        matches!(peer.hello(token.clone()).await, Out::Msg(ServerMsg::Welcome(w)) if w.player_id == "p-ada")
    );
    let again = peer.hello(token).await;
    assert_eq!(error_code(&again), Some("already_authenticated"), "{again:?}");
}

#[tokio::test(start_paused = true)]
async fn messages_before_hello_are_refused_and_the_connection_stays() {
    let mut peer = start(|_| {});
    let join = Join { match_id: "m1".into(), role: Role::Spectator, from_seq: None };
    peer.send(&ClientMsg::Join(join)).await;
    assert_eq!(error_code(&peer.next().await), Some("unauthenticated"));
    let token = peer.token("ada");
    assert!(matches!(peer.hello(token).await, Out::Msg(ServerMsg::Welcome(_))));
}

#[tokio::test(start_paused = true)]
async fn a_bad_token_or_version_is_answered_then_closed() {
    let mut peer = start(|_| {});
    assert_eq!(error_code(&peer.hello("nonsense".into()).await), Some("token_malformed"));
    assert_eq!(peer.next().await, Out::Closed(CloseReason::AuthFailed("token_malformed")));
    peer.ended().await;

    let mut peer = start(|_| {});
    let token = peer.token("ada");
    peer.send(&ClientMsg::Hello(Hello { version: 2, token })).await;
    assert_eq!(error_code(&peer.next().await), Some("unsupported_version"));
    assert_eq!(peer.next().await, Out::Closed(CloseReason::UnsupportedVersion));
    peer.ended().await;
}

#[tokio::test(start_paused = true)]
async fn a_malformed_frame_is_answered_and_the_connection_stays() {
    let mut peer = start(|_| {});
    peer.to_session
        .send(Inbound::Frame(Bytes::from_static(b"\xc1"), Encoding::MsgPack))
        .await
        .expect("sent");
    assert_eq!(error_code(&peer.next().await), Some("malformed_message"));
    let json = Bytes::from_static(br#"{"ping":{"nonce":1}}"#);
    peer.to_session.send(Inbound::Frame(json, Encoding::Json)).await.expect("sent");
    assert_eq!(peer.next().await, Out::Msg(ServerMsg::Pong(Ping { nonce: 1 })));
}

#[tokio::test(start_paused = true)]
async fn no_hello_within_the_handshake_timeout_closes() {
    let mut peer = start(|c| c.limits.handshake_timeout_ms = 500);
    tokio::time::sleep(Duration::from_millis(501)).await;
    assert_eq!(peer.next().await, Out::Closed(CloseReason::AuthTimeout));
    peer.ended().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_pinged_then_closed_for_idleness() {
    let mut peer = start(|c| c.limits.idle_timeout_ms = 3_000);
    let token = peer.token("ada");
    peer.hello(token).await;
    let mut pings = 0;
    let closed = loop {
        match peer.next().await {
            Out::Ping => pings += 1,
            other => break other,
        }
    };
    assert_eq!(closed, Out::Closed(CloseReason::IdleTimeout));
    assert!((2..=4).contains(&pings), "pinged every third of the timeout: {pings}");
    peer.ended().await;
}

#[tokio::test(start_paused = true)]
async fn a_flood_is_answered_once_then_closed() {
    let mut peer = start(|c| {
        c.limits.msgs_per_s = 1;
        c.limits.msg_burst = 3;
    });
    for nonce in 0..8 {
        peer.send(&ClientMsg::Ping(Ping { nonce })).await;
    }
    let mut outs = Vec::new();
    while let Some(out) = peer.from_session.recv().await {
        outs.push(out);
    }
    let pongs = outs.iter().filter(|o| matches!(o, Out::Msg(ServerMsg::Pong(_)))).count();
    let limited = outs.iter().filter(|o| error_code(o) == Some("rate_limited")).count();
    assert_eq!((pongs, limited), (3, 1), "{outs:?}");
    assert_eq!(outs.last(), Some(&Out::Closed(CloseReason::Flood)));
}

#[tokio::test(start_paused = true)]
async fn the_peers_close_is_answered_and_shutdown_closes_with_its_reason() {
    let mut peer = start(|_| {});
    peer.to_session.send(Inbound::Close).await.expect("sent");
    assert_eq!(peer.next().await, Out::Closed(CloseReason::ClientClosed));
    peer.ended().await;

    let mut peer = start(|_| {});
    peer.app.shutdown.cancel();
    assert_eq!(peer.next().await, Out::Closed(CloseReason::ShuttingDown));
    peer.ended().await;
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_goes_away_ends_its_session_without_a_close() {
    let peer = start(|_| {});
    let Peer { app, to_session, mut from_session, ended } = peer;
    drop(to_session);
    ended.await.expect("ends");
    assert_eq!(from_session.recv().await, None, "nothing more was sent");
    assert_eq!(app.metrics.connections_over("test").get(), 0);
    assert!(
        app.metrics.render().contains(r#"arbiter_connections_closed_total{reason="dropped"} 1"#)
    );
}

#[tokio::test(start_paused = true)]
async fn a_join_of_an_unknown_match_is_refused_with_its_id() {
    let mut peer = start(|_| {});
    let token = peer.token("ada");
    peer.hello(token).await;
    for id in ["no such id!", "m0000000000000000"] {
        let join = Join { match_id: id.into(), role: Role::Spectator, from_seq: Some(0) };
        peer.send(&ClientMsg::Join(join)).await;
        match peer.next().await {
            Out::Msg(ServerMsg::Error(e)) => {
                assert_eq!((e.code.as_str(), e.match_id.as_deref()), ("unknown_match", Some(id)))
            }
            other => panic!("{other:?}"),
        }
    }
}
