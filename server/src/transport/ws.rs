//! WebSocket at `/ws`: the upgrade (origin check, token, per-IP limit) and the session loop,
//! which is generic over any `Sink`/`Stream` of messages so it can be driven without a socket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use protocol::v1::{
    ClientMsg, ErrorBody, ErrorMsg, Join, ServerMsg, VERSION, Verdict, VerdictResult, Welcome,
};
use protocol::{DecodeError, Encoding};
use tokio::sync::mpsc;
use tracing::{Instrument, debug, info_span};

use crate::app::{App, IpSlot, unix_s, valid_match_id};
use crate::auth::Claims;
use crate::error::ApiError;
use crate::http::bearer;
use crate::origin;
use crate::room::task::{ConnSink, Kick, Outgoing, RoomMsg};
use crate::room::{Client, ConnId, Input, PlayerRef};

/// The subprotocol a browser asks for; a token may ride beside it as `bearer.<token>`.
pub const SUBPROTOCOL: &str = "arbiter.v1";
const TOKEN_PREFIX: &str = "bearer.";
/// Most queued frames written before one flush.
const COALESCE_FRAMES: usize = 64;
/// Frames are buffered up to this before a write, so that feeding several frames and
/// flushing once makes one syscall (with 0, tungstenite writes on every feed).
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// Most bytes one socket read takes. tungstenite zero-fills this much before every read
/// attempt (also the attempts that find nothing), so it is sized to client messages (a move
/// is under 100 bytes) rather than to the largest frame, which simply takes several reads.
const READ_BUFFER_BYTES: usize = 512;

/// Close codes (RFC 6455) used with a reason.
mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const PROTOCOL: u16 = 1002;
}

/// `GET /ws`.
pub async fn upgrade(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = check_origin(&app, &headers) {
        return e.into_response();
    }
    let claims = match token_of(&headers).map(|t| app.keys.verify(t, unix_s())) {
        None => None,
        Some(Ok(claims)) => Some(claims),
        Some(Err(e)) => return ApiError::from(e).into_response(),
    };
    let Some(slot) = app.take_ip_slot(peer.ip()) else {
        let message = format!("at most {} connections per address", app.config.limits.conns_per_ip);
        return ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_connections", message)
            .into_response();
    };
    // The socket layer refuses frames far over the limit; the session refuses the rest with a
    // typed error and keeps the connection.
    let hard_limit = app.config.limits.max_frame_bytes * 2;
    // tungstenite zero-fills its read buffer up to its size on every read (128 KiB by
    // default): a small buffer saves that CPU on every message and that memory per idle
    // connection. It still grows for a large frame.
    let ws = ws
        .max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .protocols([SUBPROTOCOL]);
    let tasks = app.connections.clone();
    ws.on_upgrade(move |socket: WebSocket| {
        let conn = app.rooms.next_conn();
        let span = info_span!("conn", conn, peer = %peer);
        let (sink, stream) = socket.split();
        let task = run_session(sink, stream, app, conn, claims, slot).instrument(span);
        async move {
            // Owned by the tracker so shutdown waits for the socket to close cleanly.
            let _ = tasks.spawn(task).await;
        }
    })
}

fn token_of(headers: &HeaderMap) -> Option<&str> {
    if let Some(token) = bearer(headers) {
        return Some(token);
    }
    let protocols = headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    protocols.split(',').map(str::trim).find_map(|p| p.strip_prefix(TOKEN_PREFIX))
}

/// Browsers send `Origin`; only origins the policy in [`crate::origin`] allows may open
/// sockets. Non-browser clients send none and are allowed.
fn check_origin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return Ok(());
    };
    if origin::is_allowed(origin, origin::host_of(headers), &app.config.limits.allowed_origins) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            format!("origin {origin} may not open sockets here"),
        ))
    }
}

/// One connection's session state.
struct Session {
    app: Arc<App>,
    conn: ConnId,
    claims: Option<Claims>,
    /// Matches joined, each with the generation of its latest join.
    joined: HashMap<String, u64>,
    /// Generations of joins, counting up.
    joins: u64,
    outbox: mpsc::Sender<Outgoing>,
    kick: Arc<Kick>,
    limiter: DefaultDirectRateLimiter,
    /// Messages dropped by the rate limiter since the last one let through.
    dropped: u32,
}

/// What the loop should do after a client message.
enum Next {
    Continue,
    Close(u16, String),
    /// The peer stopped reading: drop the connection without a closing handshake.
    Gone,
}

/// How long one socket write may take. A peer that stops reading fills its socket buffer and
/// then blocks our writes; without a deadline its session could never notice its idle
/// timeout, a kick or shutdown.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the closing handshake may take.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// Runs a socket write under [`WRITE_TIMEOUT`]; false if it failed or timed out.
async fn write<E>(op: impl std::future::Future<Output = Result<(), E>>) -> bool {
    matches!(tokio::time::timeout(WRITE_TIMEOUT, op).await, Ok(Ok(())))
}

/// Runs a session until the client leaves, misbehaves, idles out or the server shuts down.
pub async fn run_session<S, R>(
    mut sink: S,
    mut stream: R,
    app: Arc<App>,
    conn: ConnId,
    claims: Option<Claims>,
    slot: IpSlot,
) where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let _slot = slot;
    app.metrics.connections.inc();
    let limits = app.config.limits.clone();
    let (outbox, mut outgoing) = mpsc::channel(limits.outbox_frames.max(1));
    let rate = NonZeroU32::new(limits.msgs_per_s).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limits.msg_burst).unwrap_or(NonZeroU32::MIN);
    let mut session = Session {
        app: app.clone(),
        conn,
        claims,
        joined: HashMap::new(),
        joins: 0,
        outbox,
        kick: Arc::new(Kick::default()),
        limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
        dropped: 0,
    };
    if let Some(claims) = &session.claims {
        let welcome = welcome(claims, &limits);
        let _ = write(sink.send(frame(&welcome, Encoding::MsgPack))).await;
    }
    let idle = Duration::from_millis(limits.idle_timeout_ms.max(3));
    let auth_deadline =
        tokio::time::Instant::now() + Duration::from_millis(limits.handshake_timeout_ms);
    let mut ping = tokio::time::interval(idle / 3);
    let mut last_heard = tokio::time::Instant::now();
    ping.tick().await;
    let kick = session.kick.clone();
    let shutdown = app.shutdown.clone();
    let close = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Some((close::GOING_AWAY, "server shutting down".to_string())),
            () = kick.token.cancelled() => break kick.reason().cloned(),
            Some(first) = outgoing.recv() => {
                // Queue everything waiting, then flush once: an event and its verdict (or a
                // catch-up burst) leave in one write instead of one each. One deadline covers
                // the whole drain (a timer per frame cost ~25% of throughput).
                let drain = async {
                    let mut ok = session.feed(&mut sink, first).await;
                    for _ in 0..COALESCE_FRAMES {
                        let Ok(next) = outgoing.try_recv() else { break };
                        ok = ok && session.feed(&mut sink, next).await;
                    }
                    ok && sink.flush().await.is_ok()
                };
                if !matches!(tokio::time::timeout(WRITE_TIMEOUT, drain).await, Ok(true)) {
                    break None;
                }
            }
            () = tokio::time::sleep_until(auth_deadline), if session.claims.is_none() => {
                break Some((close::POLICY, "authentication timeout: send hello first".to_string()));
            }
            _ = ping.tick() => {
                // Checked here rather than with a timer per message: cheaper on a busy socket.
                if last_heard.elapsed() > idle {
                    break Some((close::GOING_AWAY, "idle timeout".to_string()));
                }
                                if !write(sink.send(Message::Ping(Vec::new().into()))).await {
                    break None;
                }
            }
            received = stream.next() => match received.inspect(|_| last_heard = tokio::time::Instant::now()) {
                None => break None,
                Some(Err(e)) => {
                    debug!(error = %e, "socket error");
                    let text = e.to_string();
                    let code = if text.contains("too long") || text.contains("Space limit") { close::TOO_BIG } else { close::PROTOCOL };
                    break Some((code, format!("frame refused: {text}").chars().take(120).collect()));
                }
                Some(Ok(message)) => match session.handle_message(message, &mut sink).await {
                    Next::Continue => {}
                    Next::Close(code, reason) => break Some((code, reason)),
                    Next::Gone => break None,
                },
            },
        }
    };
    // A peer that stopped reading (close is None after a failed write) is simply dropped:
    // trying to close it politely would block on the same full socket.
    if let Some((code, reason)) = close {
        debug!(code, %reason, "closing");
        let handshake = async {
            let frame = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
            if sink.send(frame).await.is_err() {
                return;
            }
            // Read until the peer's Close: dropping a socket with unread input makes TCP
            // reset it, and the peer would lose our close frame and its reason.
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
            let _ = sink.close().await;
        };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, handshake).await;
    }
    session.leave_all().await;
    app.metrics.connections.dec();
}

fn welcome(claims: &Claims, limits: &crate::config::Limits) -> ServerMsg {
    ServerMsg::Welcome(Welcome {
        version: VERSION,
        player_id: claims.sub.clone(),
        max_frame_bytes: limits.max_frame_bytes as u32,
    })
}

fn raw_frame(bytes: bytes::Bytes, encoding: Encoding) -> Message {
    match encoding {
        Encoding::MsgPack => Message::Binary(bytes),
        // Our JSON encoder only writes UTF-8.
        Encoding::Json => Message::Text(String::from_utf8_lossy(&bytes).into_owned().into()),
    }
}

fn frame(msg: &ServerMsg, encoding: Encoding) -> Message {
    raw_frame(protocol::encode(msg, encoding).into(), encoding)
}

fn error(code: &str, message: impl Into<String>, match_id: Option<String>) -> ServerMsg {
    ServerMsg::Error(ErrorMsg { code: code.into(), message: message.into(), match_id })
}

impl Session {
    /// Writes (without flushing) what a room queued; false if the socket failed. The caller
    /// puts the deadline around the whole drain.
    async fn feed<S: Sink<Message> + Unpin>(&mut self, sink: &mut S, outgoing: Outgoing) -> bool {
        match outgoing {
            Outgoing::Frame(bytes, encoding) => sink.feed(raw_frame(bytes, encoding)).await.is_ok(),
            Outgoing::Batch(frames, encoding) => {
                for bytes in frames {
                    if sink.feed(raw_frame(bytes, encoding)).await.is_err() {
                        return false;
                    }
                }
                true
            }
            Outgoing::Detached(match_id, generation) => {
                if self.joined.get(&match_id) == Some(&generation) {
                    self.joined.remove(&match_id);
                }
                true
            }
        }
    }

    async fn handle_message<S: Sink<Message> + Unpin>(
        &mut self,
        message: Message,
        sink: &mut S,
    ) -> Next {
        let (bytes, encoding) = match &message {
            Message::Binary(b) => (&b[..], Encoding::MsgPack),
            Message::Text(t) => (t.as_bytes(), Encoding::Json),
            Message::Close(_) => return Next::Close(1000, "bye".into()),
            Message::Ping(_) | Message::Pong(_) => return Next::Continue,
        };
        if self.limiter.check().is_err() {
            self.dropped += 1;
            if self.dropped > self.app.config.limits.msg_burst {
                return Next::Close(close::POLICY, "flood: message rate limit exceeded".into());
            }
            if self.dropped == 1 {
                let msg = error(
                    "rate_limited",
                    format!(
                        "over {} messages/s; message dropped",
                        self.app.config.limits.msgs_per_s
                    ),
                    None,
                );
                if !write(sink.send(frame(&msg, encoding))).await {
                    return Next::Gone;
                }
            }
            return Next::Continue;
        }
        self.dropped = 0;
        let msg = match decode_limited(bytes, encoding, self.app.config.limits.max_frame_bytes) {
            Ok(msg) => msg,
            Err(e) => {
                if !write(sink.send(frame(&error(e.code(), e.to_string(), None), encoding))).await {
                    return Next::Gone;
                }
                return Next::Continue;
            }
        };
        let reply = self.handle_client_msg(msg, encoding).await;
        match reply {
            Ok(Some(reply)) => {
                if !write(sink.send(frame(&reply, encoding))).await {
                    return Next::Gone;
                }
                Next::Continue
            }
            Ok(None) => Next::Continue,
            Err((code, reason, msg)) => {
                if !write(sink.send(frame(&msg, encoding))).await {
                    return Next::Gone;
                }
                Next::Close(code, reason)
            }
        }
    }

    /// Handles one decoded message: `Ok(reply)` to answer directly, `Err` to answer and close.
    async fn handle_client_msg(
        &mut self,
        msg: ClientMsg,
        encoding: Encoding,
    ) -> Result<Option<ServerMsg>, (u16, String, ServerMsg)> {
        if let ClientMsg::Hello(hello) = &msg {
            if self.claims.is_some() {
                // Switching identity mid-connection would leave subscriptions under the old one.
                return Ok(Some(error(
                    "already_authenticated",
                    "this connection is authenticated already",
                    None,
                )));
            }
            if hello.version != VERSION {
                let m = error(
                    "unsupported_version",
                    format!("this server speaks version {VERSION}"),
                    None,
                );
                return Err((close::PROTOCOL, "unsupported protocol version".into(), m));
            }
            return match self.app.keys.verify(&hello.token, unix_s()) {
                Ok(claims) => {
                    let reply = welcome(&claims, &self.app.config.limits);
                    self.claims = Some(claims);
                    Ok(Some(reply))
                }
                Err(e) => Err((
                    close::POLICY,
                    format!("authentication failed: {}", e.code()),
                    error(e.code(), e.to_string(), None),
                )),
            };
        }
        if let ClientMsg::Ping(ping) = msg {
            return Ok(Some(ServerMsg::Pong(ping)));
        }
        let Some(claims) = self.claims.clone() else {
            return Ok(Some(error("unauthenticated", "send hello with a token first", None)));
        };
        match msg {
            ClientMsg::Join(join) => Ok(self.join(join, &claims, encoding).await),
            ClientMsg::Move(mv) => {
                if !self.joined.contains_key(&mv.match_id) {
                    // Every move gets a verdict, wherever it is refused.
                    let body = ErrorBody {
                        code: "not_joined".into(),
                        message: "join the match before moving".into(),
                    };
                    let result = VerdictResult::Rejected(body);
                    return Ok(Some(ServerMsg::Verdict(Verdict {
                        match_id: mv.match_id,
                        move_id: mv.move_id,
                        result,
                    })));
                }
                let mut bytes = Vec::new();
                // Writing a decoded value back to a Vec cannot fail.
                let _ = rmpv::encode::write_value(&mut bytes, &mv.mv);
                let input = Input::Move {
                    from: Client::Conn(self.conn),
                    player_id: claims.sub,
                    move_id: mv.move_id,
                    mv: bytes,
                };
                let sink = self.sink(encoding, 0);
                Ok(self.to_room(&mv.match_id, RoomMsg::Move { input, sink }).await)
            }
            ClientMsg::Leave(leave) => {
                if self.joined.remove(&leave.match_id).is_some() {
                    let input = Input::Leave { conn: self.conn };
                    return Ok(self.to_room(&leave.match_id, RoomMsg::Input(input)).await);
                }
                Ok(None)
            }
            ClientMsg::Hello(_) | ClientMsg::Ping(_) => Ok(None),
        }
    }

    async fn join(&mut self, join: Join, claims: &Claims, encoding: Encoding) -> Option<ServerMsg> {
        if !valid_match_id(&join.match_id) {
            return Some(error("unknown_match", "no such match", Some(join.match_id)));
        }
        if !self.joined.contains_key(&join.match_id)
            && self.joined.len() >= self.app.config.limits.joins_per_conn
        {
            return Some(error(
                "too_many_joins",
                "leave a match before joining another",
                Some(join.match_id),
            ));
        }
        // A catch-up is one outbox entry however long: a client that asks for more while it
        // has not read what it was sent could make us hold many histories for it.
        if self.outbox.capacity() < self.outbox.max_capacity() / 2 {
            let message = "read what you were sent before joining again";
            return Some(error("slow_down", message, Some(join.match_id)));
        }
        self.joins += 1;
        let generation = self.joins;
        self.joined.insert(join.match_id.clone(), generation);
        let player = PlayerRef { player_id: claims.sub.clone(), name: claims.name.clone() };
        let input =
            Input::Join { conn: self.conn, player, role: join.role, from_seq: join.from_seq };
        let sink = self.sink(encoding, generation);
        let refused = self.to_room(&join.match_id, RoomMsg::Join { input, sink }).await;
        if refused.is_some() && self.joined.get(&join.match_id) == Some(&generation) {
            // The room never got the join: no room will detach it, so forget it here.
            self.joined.remove(&join.match_id);
        }
        refused
    }

    fn sink(&self, encoding: Encoding, generation: u64) -> ConnSink {
        ConnSink { outbox: self.outbox.clone(), encoding, kick: self.kick.clone(), generation }
    }

    async fn to_room(&self, match_id: &str, msg: RoomMsg) -> Option<ServerMsg> {
        match self.app.rooms.send(match_id, msg).await {
            Ok(()) => None,
            Err(e) => Some(error(e.code(), e.to_string(), Some(match_id.to_string()))),
        }
    }

    async fn leave_all(&mut self) {
        for match_id in std::mem::take(&mut self.joined).into_keys() {
            let _ = self
                .app
                .rooms
                .send(&match_id, RoomMsg::Input(Input::Leave { conn: self.conn }))
                .await;
        }
    }
}

/// Decodes a client message under the configured frame limit (at most the protocol's).
fn decode_limited(bytes: &[u8], encoding: Encoding, max: usize) -> Result<ClientMsg, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge { len: bytes.len(), max });
    }
    protocol::decode(bytes, encoding)
}
