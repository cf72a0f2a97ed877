//! The admin endpoints (`/api/admin/…`, docs/PROTOCOL.md 9.15): an overview of the live
//! server, closing a match's room, and disconnecting one connection. They take the admin token
//! from the configuration (`--admin-token`) as a bearer token, compared in constant time.
//! Every action is logged with who did it (the token names nobody, so "admin" and the client's
//! address) and kept in the journal the overview shows.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{App, random_u64, unix_ms};
use crate::config::AdminToken;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::MatchPath;
use crate::journal::Note;
use crate::room::core::RoomSummary;
use crate::room::task::RoomMsg;
use crate::room::{Input, Reply, RequestId};
use crate::session::{CloseReason, SessionInfo};

/// Rooms the overview asks for their details, at most (the first by match id).
pub const MAX_ROOMS_LISTED: usize = 200;
/// Connections the overview lists, at most (the first by id).
pub const MAX_CONNECTIONS_LISTED: usize = 500;
/// How long the overview waits for the rooms' answers, all of them together. A room that has
/// not answered by then (busy, or loading from the log) is listed without its details.
pub const ROOM_ANSWER: Duration = Duration::from_millis(200);
/// How long a close waits for its room.
pub const CLOSE_WAIT: Duration = Duration::from_secs(2);

type HmacSha256 = Hmac<Sha256>;

/// Who may use the admin endpoints: the holder of the configured token, or nobody.
pub struct AdminAccess {
    /// A random key and the configured token's MAC under it: a presented token is checked by
    /// its own MAC, compared in constant time, so neither its bytes nor its length leak
    /// through the comparison's timing.
    verifier: Option<([u8; 32], Vec<u8>)>,
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccess").field("enabled", &self.verifier.is_some()).finish()
    }
}

/// Why an admin request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdminRefusal {
    /// No admin token is configured.
    #[error("this server has no admin token (start it with --admin-token)")]
    Disabled,
    /// The request carries no bearer token.
    #[error("the admin endpoints take `Authorization: Bearer <admin token>`")]
    Missing,
    /// The token is not the admin token.
    #[error("that is not the admin token")]
    Wrong,
}

impl AdminRefusal {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            AdminRefusal::Disabled => "admin_disabled",
            AdminRefusal::Missing => "admin_token_required",
            AdminRefusal::Wrong => "admin_token_invalid",
        }
    }
}

fn mac(key: &[u8; 32], text: &str) -> HmacSha256 {
    // HMAC takes a key of any length.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(text.as_bytes());
    mac
}

impl AdminAccess {
    /// Access for the holder of `token`; nobody's without one.
    pub fn new(token: Option<&AdminToken>) -> AdminAccess {
        let verifier = token.map(|token| {
            let mut key = [0u8; 32];
            for chunk in key.chunks_mut(8) {
                chunk.copy_from_slice(&random_u64().to_le_bytes());
            }
            let tag = mac(&key, token.expose()).finalize().into_bytes().to_vec();
            (key, tag)
        });
        AdminAccess { verifier }
    }

    /// Whether admin endpoints are open to anyone.
    pub fn enabled(&self) -> bool {
        self.verifier.is_some()
    }

    /// Checks a presented bearer token.
    pub fn check(&self, presented: Option<&str>) -> Result<(), AdminRefusal> {
        let (key, tag) = self.verifier.as_ref().ok_or(AdminRefusal::Disabled)?;
        let presented = presented.ok_or(AdminRefusal::Missing)?;
        mac(key, presented).verify_slice(tag).map_err(|_| AdminRefusal::Wrong)
    }
}

/// An admitted admin request, and where it came from (for the log).
pub struct Admin {
    /// The client's address.
    pub peer: SocketAddr,
}

impl FromRequestParts<Arc<App>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        // Any other scheme, or an empty token, is as good as a wrong token.
        let checked = match crate::extract::bearer(&parts.headers) {
            Ok(token) => app.admin.check(token),
            Err(_) => Err(AdminRefusal::Wrong),
        };
        match checked {
            Ok(()) => Ok(Admin { peer }),
            Err(refusal @ AdminRefusal::Disabled) => {
                debug!(client = %peer, "admin request to a server without an admin token");
                Err(refusal.into())
            }
            Err(refusal) => {
                warn!(client = %peer, code = refusal.code(), "admin request refused");
                Err(refusal.into())
            }
        }
    }
}

/// The admin routes.
pub fn api() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(close_match))
        .routes(routes!(disconnect))
}

/// Why an admin request is refused with 401.
const ADMIN_REFUSED: &str = "`admin_token_required` or `admin_token_invalid`.";

/// The live server at a glance.
#[derive(Debug, Serialize)]
pub struct Overview {
    /// When this was taken, in Unix milliseconds (rates are counter differences over this).
    pub now_ms: u64,
    /// Counters since the start.
    pub counters: Counters,
    /// Open connections by transport.
    pub connections: ConnectionCounts,
    /// Rooms loaded in all.
    pub rooms_loaded: usize,
    /// The first [`MAX_ROOMS_LISTED`] loaded rooms by match id.
    pub rooms: Vec<RoomRow>,
    /// The first [`MAX_CONNECTIONS_LISTED`] live sessions by connection id.
    pub sessions: Vec<SessionInfo>,
    /// Recent notable events, newest first.
    pub recent: Vec<Note>,
}

/// Counters since the server started.
#[derive(Debug, Serialize)]
pub struct Counters {
    /// Moves accepted.
    pub moves_accepted: u64,
    /// Group commits of the log (the memory store makes none).
    pub group_commits: u64,
    /// Appends the log failed.
    pub append_failures: u64,
}

/// Open connections.
#[derive(Debug, Serialize)]
pub struct ConnectionCounts {
    /// Over WebSocket.
    pub ws: i64,
    /// Over QUIC.
    pub quic: i64,
    /// Live sessions in all.
    pub total: usize,
}

/// A loaded room, with its details if it answered in time.
#[derive(Debug, Serialize)]
pub struct RoomRow {
    /// The match.
    pub match_id: String,
    /// What the room said; `None` when it did not answer within [`ROOM_ANSWER`].
    pub details: Option<RoomSummary>,
}

/// No caching: every poll must see the server as it is.
fn fresh<T: Serialize>(body: T) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// What the server holds now: rooms, connections, counters and recent events.
#[utoipa::path(get, path = "/api/admin/overview", tag = "admin", security(("bearer" = [])),
    responses(
    (status = 200, description = "The overview (PROTOCOL.md 9.16).", body = Object),
    (status = 401, description = ADMIN_REFUSED, body = ErrorResponse),
    (status = 404, description = "`admin_disabled`.", body = ErrorResponse),
))]
pub(crate) async fn overview(State(app): State<Arc<App>>, _admin: Admin) -> Response {
    let (rooms, rooms_loaded) = room_rows(&app).await;
    let metrics = &app.metrics;
    fresh(Overview {
        now_ms: unix_ms(),
        counters: Counters {
            moves_accepted: metrics.moves_accepted(),
            group_commits: metrics.group_commits(),
            append_failures: metrics.append_failures.get(),
        },
        connections: ConnectionCounts {
            ws: metrics.connections_over("ws").get(),
            quic: metrics.connections_over("quic").get(),
            total: app.sessions.len(),
        },
        rooms_loaded,
        rooms,
        sessions: app.sessions.list(MAX_CONNECTIONS_LISTED),
        recent: app.journal.recent(),
    })
}

/// Asks every listed room for its summary at once, without loading any and without waiting on
/// a full inbox, and gives up on the stragglers at one shared deadline.
async fn room_rows(app: &App) -> (Vec<RoomRow>, usize) {
    let (inboxes, loaded) = app.rooms.rooms.loaded_inboxes(MAX_ROOMS_LISTED);
    let deadline = tokio::time::Instant::now() + ROOM_ANSWER;
    let asks = inboxes.into_iter().map(|(match_id, inbox)| async move {
        let answer = ask(&inbox, |request| Input::Summary { request });
        let details = match tokio::time::timeout_at(deadline, answer).await {
            Ok(Some(Reply::Summary(summary))) => Some(*summary),
            _ => None,
        };
        RoomRow { match_id, details }
    });
    (futures_util::future::join_all(asks).await, loaded)
}

/// Puts an administrator's request in a room's inbox (never waiting for room in it) and waits
/// for the answer; `None` if the inbox is full or the room stopped without answering.
async fn ask(
    inbox: &mpsc::Sender<RoomMsg>,
    make: impl FnOnce(RequestId) -> Input + Send + 'static,
) -> Option<Reply> {
    let (reply, answer) = oneshot::channel();
    inbox.try_send(RoomMsg::Admin { make: Box::new(make), reply }).ok()?;
    answer.await.ok()
}

/// What a close did.
#[derive(Debug, Serialize)]
pub struct Closed {
    /// The match.
    pub match_id: String,
    /// Whether its room was loaded (and so was closed); a room that is not loaded has nothing
    /// to close.
    pub was_loaded: bool,
    /// People's connections disconnected.
    pub disconnected: usize,
}

/// Closes a match's room: its subscribers are disconnected and it unloads (the log is kept).
#[utoipa::path(post, path = "/api/admin/matches/{id}/close", tag = "admin",
    security(("bearer" = [])), params(MatchPath), responses(
    (status = 200, description = "Closed: `{match_id, was_loaded, disconnected}`.", body = Object),
    (status = 401, description = ADMIN_REFUSED, body = ErrorResponse),
    (status = 404, description = "`admin_disabled`, or `unknown_match`.", body = ErrorResponse),
    (status = 503, description = "`room_busy`; retry.", body = ErrorResponse),
))]
pub(crate) async fn close_match(
    State(app): State<Arc<App>>,
    admin: Admin,
    MatchPath(id): MatchPath,
) -> Result<Response, ApiError> {
    let id = id.as_str();
    let answer = match app.rooms.rooms.loaded_inbox(id) {
        Some(inbox) => close_room(&inbox).await?,
        None => None,
    };
    let (was_loaded, disconnected) = match answer {
        Some(Reply::Closed { disconnected }) => (true, disconnected),
        Some(other) => return Err(ApiError::internal(&format!("unexpected room reply {other:?}"))),
        // Not loaded, or it stopped meanwhile: then the match must at least exist.
        None => {
            crate::http::summary_of(&app, id).await?;
            (false, 0)
        }
    };
    warn!(who = "admin", client = %admin.peer, match_id = id, was_loaded, disconnected, "admin closed a match");
    let message = format!(
        "admin at {} closed match {id}{}",
        admin.peer,
        if was_loaded {
            format!(": {disconnected} connection(s) disconnected")
        } else {
            " (it was not loaded)".to_string()
        }
    );
    app.journal.note("admin_close", message);
    Ok(fresh(Closed { match_id: id.to_string(), was_loaded, disconnected }))
}

/// Queues a close in a room's inbox, waiting for a place in it, and waits for the answer,
/// each for at most [`CLOSE_WAIT`]; `None` if the room stopped without answering.
async fn close_room(inbox: &mpsc::Sender<RoomMsg>) -> Result<Option<Reply>, ApiError> {
    let seconds = CLOSE_WAIT.as_secs();
    let busy = |message: String| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "room_busy", message).retry_after(1)
    };
    let (reply, answer) = oneshot::channel();
    let make = Box::new(|request| Input::Close { request });
    match tokio::time::timeout(CLOSE_WAIT, inbox.send(RoomMsg::Admin { make, reply })).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Ok(None),
        Err(_) => {
            let why = format!("the room's inbox had no place for the close in {seconds} s");
            return Err(busy(format!("{why}; nothing was done")));
        }
    }
    match tokio::time::timeout(CLOSE_WAIT, answer).await {
        Ok(answer) => Ok(answer.ok()),
        Err(_) => Err(busy(format!(
            "the room took the close but did not answer in {seconds} s; the overview shows when it is gone"
        ))),
    }
}

/// What a disconnect did.
#[derive(Debug, Serialize)]
pub struct Disconnected {
    /// The connection, as it was listed.
    pub connection: SessionInfo,
}

/// Disconnects one live connection.
#[utoipa::path(post, path = "/api/admin/connections/{conn}/disconnect", tag = "admin",
    security(("bearer" = [])),
    params(("conn" = String, Path, description = "A connection id from the overview.")),
    responses(
    (status = 200, description = "Disconnected: `{connection}`.", body = Object),
    (status = 401, description = ADMIN_REFUSED, body = ErrorResponse),
    (status = 404, description = "`admin_disabled`, or `unknown_connection`.", body = ErrorResponse),
))]
pub(crate) async fn disconnect(
    State(app): State<Arc<App>>,
    admin: Admin,
    Path(conn): Path<String>,
) -> Result<Response, ApiError> {
    let unknown =
        || ApiError::new(StatusCode::NOT_FOUND, "unknown_connection", "no such live connection");
    let conn: u64 = conn.parse().map_err(|_| unknown())?;
    let session = app.sessions.disconnect(conn, CloseReason::Admin).ok_or_else(unknown)?;
    let player = session.player_id.as_deref().unwrap_or("-");
    warn!(who = "admin", client = %admin.peer, conn, player, transport = session.transport, "admin disconnected a connection");
    let message = format!(
        "admin at {} disconnected connection {conn} ({}, player {player}, from {})",
        admin.peer, session.transport, session.peer
    );
    app.journal.note("admin_disconnect", message);
    Ok(fresh(Disconnected { connection: session }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(token: &str) -> AdminAccess {
        AdminAccess::new(Some(&token.parse().expect("a valid token")))
    }

    #[test]
    fn only_the_configured_token_opens_the_admin_endpoints() {
        let token = "correct-horse-battery-staple";
        let admin = access(token);
        assert!(admin.enabled());
        assert_eq!(admin.check(Some(token)), Ok(()));
        for wrong in ["", "correct", "correct-horse-battery-stapl", "correct-horse-battery-staple!"]
        {
            assert_eq!(admin.check(Some(wrong)), Err(AdminRefusal::Wrong), "{wrong:?}");
        }
        assert_eq!(admin.check(None), Err(AdminRefusal::Missing));
        // Another server with the same token checks it under another key, and agrees.
        assert_eq!(access(token).check(Some(token)), Ok(()));
    }

    #[test]
    fn without_a_token_nobody_gets_in() {
        let admin = AdminAccess::new(None);
        assert!(!admin.enabled());
        assert_eq!(admin.check(Some("anything at all, really")), Err(AdminRefusal::Disabled));
        assert_eq!(admin.check(None), Err(AdminRefusal::Disabled));
    }

    #[test]
    fn refusals_have_stable_codes_and_debug_hides_the_secret() {
        let codes: Vec<&str> = [AdminRefusal::Disabled, AdminRefusal::Missing, AdminRefusal::Wrong]
            .into_iter()
            .map(AdminRefusal::code)
            .collect();
        assert_eq!(codes, ["admin_disabled", "admin_token_required", "admin_token_invalid"]);
        let shown = format!("{:?}", access("correct-horse-battery-staple"));
        assert_eq!(shown, "AdminAccess { enabled: true }");
    }
}
