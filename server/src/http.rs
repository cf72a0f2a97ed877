//! The HTTP API (JSON; MessagePack for events when asked by `Accept`). docs/PROTOCOL.md lists
//! every route; errors go through [`ApiError`]. Each handler carries its OpenAPI operation
//! (`#[utoipa::path]`), and [`api`] builds the router and the document from one list.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use game_rules::{Games, Viewer};
use protocol::v1::{Event, Snapshot, Verdict, VerdictResult};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;
use tokio::sync::oneshot;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{App, random_u64, unix_s};
use crate::auth::Claims;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Body, MatchPath, MaybePlayer, Params, Player};
use crate::openapi::{self, ApiDoc, Document};
use crate::replay::{MatchState, replay, replay_from, to_value};
use crate::room::task::RoomMsg;
use crate::room::{Client, Input, PlayerRef, Reply};
use crate::storage::{MatchSummary, StoredRecord, read_all};
use crate::transport::quic::QuicInfo;
use crate::transport::ws;

type AppState = State<Arc<App>>;

/// Every route with its OpenAPI operation, the WebSocket's included. Each path and method is
/// taken from the handler's `#[utoipa::path]`, so the router cannot serve a route that the
/// document lacks.
pub fn api() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi::document))
        .routes(routes!(guest))
        .routes(routes!(refresh))
        .routes(routes!(list_games))
        .routes(routes!(quic_info))
        .merge(crate::lobby::api())
        .routes(routes!(inspect_match))
        .routes(routes!(join_match))
        .routes(routes!(match_events))
        .routes(routes!(match_state))
        .routes(routes!(play_move))
        .routes(routes!(crate::players::player_matches))
        .routes(routes!(ws::upgrade))
        .merge(crate::admin::api())
}

/// The routes, serving their own OpenAPI document at `/api/openapi.json`, which names the
/// ids of `games` wherever a request takes a game.
pub fn routes(games: &Games) -> Router<Arc<App>> {
    let (router, mut doc) = api().split_for_parts();
    list_game_ids(&mut doc, games);
    router.route_layer(Extension(Arc::new(doc) as Document))
}

/// Writes the registered ids into the `game` field of the requests that name a game: the
/// set is a value of the server, known only once it is built.
fn list_game_ids(doc: &mut utoipa::openapi::OpenApi, games: &Games) {
    use utoipa::openapi::{RefOr, Schema};
    let Some(components) = doc.components.as_mut() else { return };
    for name in ["CreateRequest", "QuickRequest"] {
        let Some(RefOr::T(Schema::Object(request))) = components.schemas.get_mut(name) else {
            continue;
        };
        if let Some(RefOr::T(Schema::Object(game))) = request.properties.get_mut("game") {
            game.enum_values = Some(games.ids().map(Json_::from).collect());
        }
    }
}

/// Unknown routes answer in the JSON error format too.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Known routes with the wrong method, likewise.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// A room that cannot serve now: 503 with its code.
pub(crate) fn unavailable(code: &str) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, "the match's room is restarting; retry")
}

// Descriptions that several operations' responses share.
pub(crate) const UNAUTHORIZED: &str = "`token_missing`, or a token that is refused: `token_malformed`, \
    `token_invalid` or `token_expired`.";
pub(crate) const BAD_TOKEN: &str = "The token is optional, but one that is given and refused is: \
    `token_malformed`, `token_invalid` or `token_expired`.";
pub(crate) const INTERNAL: &str = "`internal`: an unexpected failure; the server logs its cause.";
pub(crate) const UNAVAILABLE: &str = "`storage_error`, `room_restarting`, `room_failed` or \
    `shutting_down`; retry.";

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(&e))
}

// ----- operations -----

/// Whether the process lives: 200 while it does, even while it shuts down.
#[utoipa::path(get, path = "/healthz", tag = "server", responses(
    (status = 200, description = "`alive`, or `shutting_down` while the server stops.", body = Liveness),
))]
async fn healthz(State(app): AppState) -> Json<Liveness> {
    let status = if app.shutdown.is_cancelled() { "shutting_down" } else { "alive" };
    Json(Liveness { status: status.to_string(), log_damage: app.log.damage() })
}

/// `/healthz`'s answer.
#[derive(Serialize, ToSchema)]
struct Liveness {
    /// `alive` or `shutting_down`.
    status: String,
    /// Damage the event log found (empty lists when there is none): quarantined matches
    /// serve their events before the damage and take no moves; every other match serves on.
    log_damage: crate::storage::LogDamage,
}

/// Whether the server can accept and persist moves now.
#[utoipa::path(get, path = "/readyz", tag = "server", responses(
    (status = 200, description = "Ready.", body = crate::health::Readiness),
    (status = 503, description = "Not ready, with the reasons.", body = crate::health::Readiness),
))]
async fn readyz(State(app): AppState) -> Response {
    let mut reasons = Vec::new();
    if app.shutdown.is_cancelled() {
        reasons.push("shutting down".to_string());
    }
    if let Some(failure) = app.metrics.storage.failure() {
        reasons.push(format!("the latest append failed: {failure}"));
    }
    let ready = reasons.is_empty();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(crate::health::Readiness { ready, reasons })).into_response()
}

/// The server's metrics, in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "server", responses(
    (status = 200, description = "OpenMetrics text format 1.0.0.", body = String,
        content_type = "application/openmetrics-text"),
))]
async fn metrics(State(app): AppState) -> Response {
    let damage = app.log.damage();
    app.metrics.log_quarantined.set(damage.matches.len() as i64);
    app.metrics.log_unattributed.set(damage.unattributed.len() as i64);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], app.metrics.render()).into_response()
}

/// A guest's chosen name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GuestRequest {
    /// 1 to 32 characters, none a control character, once leading and trailing whitespace is
    /// trimmed. (The pattern: no control characters but in whitespace at either end.)
    #[schema(min_length = 1, pattern = r"^\s*[^\u0000-\u001f\u007f-\u009f]*\s*$", example = "Ada")]
    name: String,
}

/// A new guest player and its token.
// Fields in alphabetical order, the order docs/PROTOCOL.md shows.
#[derive(Serialize, ToSchema)]
struct GuestToken {
    /// When the token expires, Unix seconds.
    expires_at: u64,
    /// The trimmed name.
    name: String,
    /// The new player's id.
    player_id: String,
    /// The bearer token: opaque.
    token: String,
}

/// Makes a new guest player and gives out its token.
#[utoipa::path(post, path = "/api/auth/guest", tag = "auth", request_body = GuestRequest,
    responses(
        (status = 200, description = "The new player.", body = GuestToken),
        (status = 400, description = "`bad_name`, or `bad_request` (the body is not an object \
            of these fields).", body = ErrorResponse),
        (status = 413, description = "`body_too_large`.", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON.", body = ErrorResponse),
    ))]
async fn guest(
    State(app): AppState,
    Body(req): Body<GuestRequest>,
) -> Result<Json<GuestToken>, ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 32 || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_name",
            "a name is 1 to 32 printable characters",
        ));
    }
    let player_id = format!("p{:016x}", random_u64());
    Ok(Json(issue(&app, player_id, name.to_string())))
}

/// A token for a player, valid for the configured lifetime from now.
fn issue(app: &App, player_id: String, name: String) -> GuestToken {
    let exp = unix_s() + app.config.token_ttl_s;
    let token = app.keys.issue(&Claims { sub: player_id.clone(), name: name.clone(), exp });
    GuestToken { expires_at: exp, name, player_id, token }
}

/// A fresh token for the same player: a client refreshes before its token expires, so a long
/// match never loses its seat to a clock. An expired token cannot be refreshed.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, description = "A new token for the same player.", body = GuestToken),
    (status = 401, description = UNAUTHORIZED, body = ErrorResponse),
))]
async fn refresh(State(app): AppState, Player(who): Player) -> Json<GuestToken> {
    Json(issue(&app, who.sub, who.name))
}

/// Where QUIC listens and the certificate fingerprint to pin.
#[utoipa::path(get, path = "/api/quic", tag = "transport", responses(
    (status = 200, description = "QUIC's address, ALPN and certificate.", body = QuicInfo),
    (status = 404, description = "`quic_disabled`: the server serves no QUIC.",
        body = ErrorResponse),
))]
async fn quic_info(State(app): AppState) -> Result<Json<QuicInfo>, ApiError> {
    let info = app.quic.get().cloned();
    info.map(Json).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "quic_disabled", "this server serves no QUIC")
    })
}

/// Every game this server plays.
#[derive(Serialize, ToSchema)]
struct GameList {
    /// The games, in registration order.
    games: Vec<GameEntry>,
}

/// One game.
// Fields in alphabetical order, the order docs/PROTOCOL.md shows.
#[derive(Serialize, ToSchema)]
struct GameEntry {
    /// The config a match gets when created without one.
    #[schema(value_type = Value)]
    default_config: Json_,
    /// Its stable id, as `POST /api/matches` takes it.
    id: &'static str,
    /// Most seats.
    max_seats: u8,
    /// Fewest seats.
    min_seats: u8,
    /// Its name, for people.
    name: &'static str,
    /// The rules version new matches are created with.
    rules_version: u32,
}

/// Lists the games.
#[utoipa::path(get, path = "/api/games", tag = "games", responses(
    (status = 200, description = "The games.", body = GameList),
))]
async fn list_games(State(app): AppState) -> Json<GameList> {
    let games = app
        .config
        .games
        .all()
        .iter()
        .map(|g| {
            let info = g.info();
            GameEntry {
                default_config: serde_json::to_value(to_value(&info.default_config))
                    .unwrap_or(Json_::Null),
                id: info.id,
                max_seats: info.max_seats,
                min_seats: info.min_seats,
                name: info.name,
                rules_version: info.rules_version,
            }
        })
        .collect();
    Json(GameList { games })
}

// ----- matches -----

/// A stored match's summary; `unknown_match` if there is no such match.
pub(crate) async fn summary_of(app: &Arc<App>, id: &str) -> Result<MatchSummary, ApiError> {
    let (log, id) = (app.log.clone(), id.to_string());
    blocking(move || log.summary(&id)).await??.ok_or_else(ApiError::unknown_match)
}

/// One match's summary.
#[utoipa::path(get, path = "/api/matches/{id}", tag = "matches", params(MatchPath), responses(
    (status = 200, description = "The match.", body = MatchSummary),
    (status = 404, description = "`unknown_match`.", body = ErrorResponse),
    (status = 500, description = INTERNAL, body = ErrorResponse),
))]
async fn inspect_match(
    State(app): AppState,
    MatchPath(id): MatchPath,
) -> Result<Json<MatchSummary>, ApiError> {
    Ok(Json(summary_of(&app, &id).await?))
}

/// Sends a request to a match's room and waits for its answer.
pub(crate) async fn ask_room(
    app: &Arc<App>,
    id: &str,
    make: Box<dyn FnOnce(u64) -> Input + Send>,
) -> Result<Reply, ApiError> {
    summary_of(app, id).await?;
    let (reply, answer) = oneshot::channel();
    app.rooms.send(id, RoomMsg::Request { make, reply }).await?;
    // A room dropped without answering: it stopped for shutdown, or found no such match.
    answer.await.map_err(|_| {
        if app.shutdown.is_cancelled() {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "shutting down")
        } else {
            ApiError::unknown_match()
        }
    })
}

/// The seat a player holds.
// Fields in alphabetical order, the order docs/PROTOCOL.md shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatTaken {
    /// The match.
    pub match_id: String,
    /// The caller's seat.
    pub seat: u8,
}

/// Takes the lowest free seat for the caller (or answers the seat it holds).
#[utoipa::path(post, path = "/api/matches/{id}/join", tag = "matches", params(MatchPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's seat, once its `seated` event is durable.",
            body = SeatTaken),
        (status = 401, description = UNAUTHORIZED, body = ErrorResponse,
            headers(("WWW-Authenticate" = String, description = "`Bearer`, with \
                `error=\"invalid_token\"` when a token was given but refused."))),
        (status = 404, description = "`unknown_match`.", body = ErrorResponse),
        (status = 409, description = "`match_over` or `match_full`.", body = ErrorResponse),
        (status = 500, description = INTERNAL, body = ErrorResponse),
        (status = 503, description = UNAVAILABLE, body = ErrorResponse),
    ))]
async fn join_match(
    State(app): AppState,
    Player(who): Player,
    MatchPath(id): MatchPath,
) -> Result<Json<SeatTaken>, ApiError> {
    let player = PlayerRef { player_id: who.sub, name: who.name };
    take_seat(&app, id, player).await.map(Json)
}

/// Seats a player in the lowest free seat of a match (or answers the seat it holds).
pub(crate) async fn take_seat(
    app: &Arc<App>,
    id: String,
    player: PlayerRef,
) -> Result<SeatTaken, ApiError> {
    let reply = ask_room(
        app,
        &id,
        Box::new(move |request| Input::TakeSeat { request, player, seat: None, bot: None }),
    )
    .await?;
    match reply {
        Reply::Seat(Ok(seat)) => Ok(SeatTaken { match_id: id, seat }),
        Reply::Seat(Err(e)) => Err(e.into()),
        Reply::Unavailable { code } => Err(unavailable(code)),
        other => Err(ApiError::internal(&format!("unexpected room reply {other:?}"))),
    }
}

/// A move to play.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"move_id": 1, "move": {"dir": "h", "x": 0, "y": 0}}))]
struct MoveRequest {
    /// The client's id for the move: a retry with the same id is never applied twice.
    move_id: u64,
    /// The game's move.
    #[serde(rename = "move")]
    #[schema(value_type = Value)]
    mv: Json_,
}

/// Plays a move as the caller's seat.
#[utoipa::path(post, path = "/api/matches/{id}/moves", tag = "matches", params(MatchPath),
    request_body = MoveRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Accepted: the event is durable.", body = Verdict),
        (status = 400, description = "`bad_request`: the body is not an object of these fields.",
            body = ErrorResponse),
        (status = 401, description = UNAUTHORIZED, body = ErrorResponse,
            headers(("WWW-Authenticate" = String, description = "`Bearer`, with \
                `error=\"invalid_token\"` when a token was given but refused."))),
        (status = 404, description = "`unknown_match`.", body = ErrorResponse),
        (status = 413, description = "`body_too_large`.", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON.", body = ErrorResponse),
        (status = 422, description = "Refused by the match: a rule code, `not_seated`, \
            `waiting_for_players`, or `superseded` (real time: a later move of the seat \
            replaced it before the tick).", body = ErrorResponse),
        (status = 500, description = INTERNAL, body = ErrorResponse),
        (status = 503, description = UNAVAILABLE, body = ErrorResponse),
    ))]
async fn play_move(
    State(app): AppState,
    Player(who): Player,
    MatchPath(id): MatchPath,
    Body(req): Body<MoveRequest>,
) -> Result<Json<Verdict>, ApiError> {
    let mv = rmp_serde::to_vec_named(&req.mv).map_err(|e| ApiError::internal(&e))?;
    let move_id = req.move_id;
    let make = Box::new(move |request| Input::Move {
        from: Client::Request(request),
        player_id: who.sub,
        move_id,
        mv,
    });
    match ask_room(&app, &id, make).await? {
        Reply::Verdict(VerdictResult::Rejected(body)) => {
            // The server's own trouble is a 503 (retry); a refusal by the rules is a 422.
            let status = match body.code.as_str() {
                "storage_error" | "room_restarting" | "room_failed" => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            Err(ApiError::new(status, &body.code, body.message))
        }
        Reply::Verdict(result) => Ok(Json(Verdict { match_id: id, move_id, result })),
        Reply::Unavailable { code } => Err(unavailable(code)),
        other => Err(ApiError::internal(&format!("unexpected room reply {other:?}"))),
    }
}

// ----- reading the log -----

async fn records_of(app: &Arc<App>, id: &str) -> Result<Vec<StoredRecord>, ApiError> {
    let (log, id) = (app.log.clone(), id.to_string());
    let records = blocking(move || read_all(log.as_ref(), &id)).await??;
    if records.is_empty() {
        return Err(ApiError::unknown_match());
    }
    Ok(records)
}

fn viewer_in(m: &MatchState, who: Option<&Claims>) -> Viewer {
    who.and_then(|c| m.seat_of(&c.sub)).map_or(Viewer::Spectator, Viewer::Seat)
}

/// Which page of the log.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// The first `seq`: default 0; at most the head + 1.
    from: Option<u64>,
    /// At most this many events: default 100, kept within 1 to 1000.
    limit: Option<usize>,
}

/// A page of a match's log.
#[derive(Serialize, ToSchema)]
struct EventsPage {
    /// The events, in order.
    events: Vec<Event>,
    /// The `from` of the next page, when there is more.
    next_from: Option<u64>,
}

/// A page of a match's durable log, as the caller may see it.
#[utoipa::path(get, path = "/api/matches/{id}/events", tag = "matches",
    params(MatchPath, EventsQuery), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The page; MessagePack when `Accept` asks for it.", content(
            (EventsPage = "application/json"), (EventsPage = "application/msgpack"))),
        (status = 400, description = "`bad_cursor` (`from` past the head + 1), or \
            `bad_request`: an unknown or malformed parameter.", body = ErrorResponse),
        (status = 401, description = BAD_TOKEN, body = ErrorResponse,
            headers(("WWW-Authenticate" = String, description = "`Bearer`, with \
                `error=\"invalid_token\"` when a token was given but refused."))),
        (status = 404, description = "`unknown_match`.", body = ErrorResponse),
        (status = 500, description = INTERNAL, body = ErrorResponse),
    ))]
async fn match_events(
    State(app): AppState,
    MaybePlayer(who): MaybePlayer,
    MatchPath(id): MatchPath,
    Params(q): Params<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let records = records_of(&app, &id).await?;
    let from = q.from.unwrap_or(0);
    if from > records.len() as u64 {
        let message = format!("from {from} is past the head {}", records.len() - 1);
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_cursor", message));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let end = (from as usize).saturating_add(limit).min(records.len());
    let mut seats_of_caller = None;
    let mut events = Vec::new();
    // Replay to the page's end: every event needs the state hash after it.
    replay(&app.config.games, &records[..end.max(1)], |seq, body, state| {
        if seq < from {
            return;
        }
        let viewer = *seats_of_caller.get_or_insert_with(|| viewer_in(state, who.as_ref()));
        let (state_hash, status, view) = state.observe(viewer);
        let body = if view.is_none()
            || matches!(
                body,
                protocol::v1::EventBody::Created(_) | protocol::v1::EventBody::Seated(_)
            ) {
            Some(body)
        } else {
            None
        };
        events.push(Event { match_id: id.clone(), seq, state_hash, status, body, view });
    })?;
    let page = EventsPage { events, next_from: (end < records.len()).then_some(end as u64) };
    let wants_msgpack = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("msgpack"));
    if wants_msgpack {
        let bytes = protocol::encode(&page, protocol::Encoding::MsgPack);
        return Ok(([(header::CONTENT_TYPE, "application/msgpack")], bytes).into_response());
    }
    Ok(Json(page).into_response())
}

/// Which state.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct StateQuery {
    /// The `seq` to show the state after: default the head.
    at: Option<u64>,
}

/// The state after one event, as the caller may see it.
#[utoipa::path(get, path = "/api/matches/{id}/state", tag = "matches",
    params(MatchPath, StateQuery), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The snapshot.", body = Snapshot),
        (status = 400, description = "`bad_cursor` (`at` past the head), or `bad_request`: an \
            unknown or malformed parameter.", body = ErrorResponse),
        (status = 401, description = BAD_TOKEN, body = ErrorResponse,
            headers(("WWW-Authenticate" = String, description = "`Bearer`, with \
                `error=\"invalid_token\"` when a token was given but refused."))),
        (status = 404, description = "`unknown_match`.", body = ErrorResponse),
        (status = 500, description = INTERNAL, body = ErrorResponse),
    ))]
async fn match_state(
    State(app): AppState,
    MaybePlayer(who): MaybePlayer,
    MatchPath(id): MatchPath,
    Params(q): Params<StateQuery>,
) -> Result<Json<Snapshot>, ApiError> {
    let records = records_of(&app, &id).await?;
    let head = records.len() as u64 - 1;
    let at = q.at.unwrap_or(head);
    if at > head {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_cursor",
            format!("at {at} is past the head {head}"),
        ));
    }
    let (log, match_id) = (app.log.clone(), id.clone());
    // A snapshot is a shortcut only: one that cannot be read leaves a replay from record 0.
    let snapshot = blocking(move || log.snapshot(&match_id)).await?.ok().flatten();
    let snapshot = snapshot.filter(|s| s.seq <= at);
    let records = &records[..=at as usize];
    let (m, _) =
        replay_from(&app.config.games, records, snapshot.as_ref(), |_, _| {}, |_, _, _| {})?;
    let viewer = viewer_in(&m, who.as_ref());
    Ok(Json(Snapshot {
        match_id: id,
        seq: at,
        state_hash: m.hash_for(viewer),
        status: m.status(),
        view: to_value(&m.state.view(viewer)),
        created: m.created.clone(),
    }))
}
