//! WebSocket at `/ws`: the upgrade (origin check, token) and the adapter that
//! carries a [`session`](crate::session) over it. Binary frames carry MessagePack, text frames
//! JSON; the session does the rest, exactly as over QUIC.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use protocol::Encoding;
use tracing::{Instrument, debug, info_span};

use crate::app::{App, unix_s};
use crate::auth::AuthError;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::bearer;
use crate::origin;
use crate::session::{self, CLOSE_HANDSHAKE, CloseReason, Gone, Inbound, Transport};

/// The subprotocol a browser asks for; a token may ride beside it as `bearer.<token>`.
pub const SUBPROTOCOL: &str = "arbiter.v1";
const TOKEN_PREFIX: &str = "bearer.";
/// Frames are buffered up to this before a write, so that feeding several frames and
/// flushing once makes one syscall (with 0, tungstenite writes on every feed).
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// Most bytes one socket read takes. tungstenite zero-fills this much before every read
/// attempt (also the attempts that find nothing), so it is sized to client messages (a move
/// is under 100 bytes) rather than to the largest frame, which simply takes several reads.
const READ_BUFFER_BYTES: usize = 512;

/// Opens a WebSocket (docs/PROTOCOL.md section 6). The token may come in `Authorization`, in
/// `Sec-WebSocket-Protocol` as `bearer.<token>` beside `arbiter.v1`, or later in `hello`.
#[utoipa::path(get, path = "/ws", tag = "transport", security((), ("bearer" = [])),
    params(
        ("Upgrade" = String, Header, description = "`websocket`."),
        ("Connection" = String, Header, description = "`Upgrade`."),
        ("Sec-WebSocket-Key" = String, Header, description = "RFC 6455."),
        ("Sec-WebSocket-Version" = String, Header, description = "`13`."),
        ("Sec-WebSocket-Protocol" = Option<String>, Header,
            description = "`arbiter.v1`, optionally with `bearer.<token>`."),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol."),
        (status = 400, description = "Not a WebSocket upgrade: the WebSocket library's plain \
            text reason (the one error without the JSON body).", body = String,
            content_type = "text/plain"),
        (status = 401, description = "A token that is given but refused: `token_malformed`, \
            `token_invalid` or `token_expired`.", body = ErrorResponse,
            headers(("WWW-Authenticate" = String,
                description = "`Bearer error=\"invalid_token\"`."))),
        (status = 403, description = "`origin_not_allowed`.", body = ErrorResponse),
        (status = 429, description = "`too_many_connections` from this address.",
            body = ErrorResponse),
    ))]
pub async fn upgrade(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = check_origin(&app, &headers) {
        return e.into_response();
    }
    // A token that is there must be good: a malformed one is refused, never ignored.
    let claims = match token_of(&headers)
        .and_then(|t| t.map(|t| app.keys.verify(t, unix_s())).transpose())
    {
        Ok(claims) => claims,
        Err(e) => return ApiError::from(e).into_response(),
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
        let transport = WsTransport { sink, stream };
        // The TCP connection's place under the caps stays with the upgraded socket.
        let task = session::run(transport, app, conn, peer, claims, ()).instrument(span);
        async move {
            // Owned by the tracker so shutdown waits for the socket to close cleanly.
            let _ = tasks.spawn(task).await;
        }
    })
}

/// The upgrade's token: from `Authorization`, or beside the subprotocol as `bearer.<token>`.
fn token_of(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    if let Some(token) = bearer(headers)? {
        return Ok(Some(token));
    }
    let Some(protocols) = headers.get(header::SEC_WEBSOCKET_PROTOCOL) else { return Ok(None) };
    let protocols = protocols.to_str().map_err(|_| AuthError::Malformed)?;
    match protocols.split(',').map(str::trim).find_map(|p| p.strip_prefix(TOKEN_PREFIX)) {
        Some("") => Err(AuthError::Malformed),
        token => Ok(token),
    }
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

/// A WebSocket under a session: any `Sink`/`Stream` of messages, so tests can use channels.
pub struct WsTransport<S, R> {
    /// Where frames go.
    pub sink: S,
    /// Where frames come from.
    pub stream: R,
}

fn message(bytes: Bytes, encoding: Encoding) -> Message {
    match encoding {
        Encoding::MsgPack => Message::Binary(bytes),
        // Our JSON encoder only writes UTF-8.
        Encoding::Json => Message::Text(String::from_utf8_lossy(&bytes).into_owned().into()),
    }
}

/// A socket error as a close reason: an oversized frame is 1009, anything else 1002.
fn refused(e: &axum::Error) -> CloseReason {
    debug!(error = %e, "socket error");
    let text = e.to_string();
    if text.contains("too long") || text.contains("Space limit") {
        CloseReason::FrameTooBig(text)
    } else {
        CloseReason::FrameRefused(text)
    }
}

impl<S, R> Transport for WsTransport<S, R>
where
    S: Sink<Message> + Unpin + Send,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin + Send,
{
    const NAME: &'static str = "ws";

    async fn recv(&mut self) -> Option<Result<Inbound, CloseReason>> {
        Some(match self.stream.next().await? {
            Ok(Message::Binary(bytes)) => Ok(Inbound::Frame(bytes, Encoding::MsgPack)),
            Ok(Message::Text(text)) => Ok(Inbound::Frame(Bytes::from(text), Encoding::Json)),
            Ok(Message::Close(_)) => Ok(Inbound::Close),
            Ok(Message::Ping(_) | Message::Pong(_)) => Ok(Inbound::Control),
            Err(e) => Err(refused(&e)),
        })
    }

    async fn feed(&mut self, bytes: Bytes, encoding: Encoding) -> Result<(), Gone> {
        self.sink.feed(message(bytes, encoding)).await.map_err(|_| Gone)
    }

    async fn flush(&mut self) -> Result<(), Gone> {
        self.sink.flush().await.map_err(|_| Gone)
    }

    async fn keepalive(&mut self) -> Result<(), Gone> {
        self.sink.send(Message::Ping(Bytes::new())).await.map_err(|_| Gone)
    }

    async fn close(mut self, reason: &CloseReason) {
        let handshake = async {
            // The socket answered a client's close already (it queues the echo itself):
            // flushing delivers it, so the client sees its own code, not 1006.
            if *reason != CloseReason::ClientClosed {
                let frame = CloseFrame { code: reason.code(), reason: reason.text().into() };
                if self.sink.send(Message::Close(Some(frame))).await.is_err() {
                    return;
                }
                // Read until the peer's close: dropping a socket with unread input makes TCP
                // reset it, and the peer would lose our close frame and its reason.
                while let Some(Ok(message)) = self.stream.next().await {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                }
            }
            let _ = self.sink.close().await;
        };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, handshake).await;
    }
}
