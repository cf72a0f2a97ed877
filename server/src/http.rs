//! The HTTP API (JSON; MessagePack for events when asked by `Accept`). docs/PROTOCOL.md lists
//! every route; errors go through [`ApiError`].

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use game_rules::{Viewer, find_game, games};
use protocol::v1::{Event, Snapshot, Verdict, VerdictResult};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json_, json};
use tokio::sync::oneshot;

use crate::app::{App, random_u64, unix_ms, unix_s, valid_match_id};
use crate::auth::{AuthError, Claims};
use crate::error::ApiError;
use crate::replay::{MatchState, replay, to_value};
use crate::room::task::RoomMsg;
use crate::room::{Client, Input, PlayerRef, Reply, RoomError};
use crate::storage::{ListFilter, MatchStatus, MatchSummary, Record, StoredRecord, read_all};

type AppState = State<Arc<App>>;

/// The API routes (the WebSocket route is added by the server).
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/auth/guest", post(guest))
        .route("/api/games", get(list_games))
        .route("/api/quic", get(quic_info))
        .route("/api/matches", post(create_match).get(list_matches))
        .route("/api/matches/{id}", get(inspect_match))
        .route("/api/matches/{id}/join", post(join_match))
        .route("/api/matches/{id}/events", get(match_events))
        .route("/api/matches/{id}/state", get(match_state))
        .route("/api/matches/{id}/moves", post(play_move))
        .merge(crate::admin::routes())
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
fn unavailable(code: &str) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, "the match's room is restarting; retry")
}

// ----- extractors that answer in our error format -----

/// A JSON body; a bad or oversized one is a typed error.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => {
                let status = rejection.status();
                // 413 and 415 say something precise; every other malformed body is a 400, so
                // that 422 stays the rules' "move refused".
                let (status, code) = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => (status, "body_too_large"),
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => (status, "unsupported_media_type"),
                    _ => (StatusCode::BAD_REQUEST, "bad_request"),
                };
                Err(ApiError::new(status, code, rejection.body_text()))
            }
        }
    }
}

/// Query parameters; bad ones are a typed error.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", r.body_text()))
    }
}

/// The caller's token, required.
pub struct Player(pub Claims);

/// The caller's token, if any (a bad one is still refused).
pub struct MaybePlayer(pub Option<Claims>);

/// The bearer token of a request: `None` without an `Authorization` header; a header that is
/// not `Bearer <token>` (the scheme in any case, RFC 9110) is malformed, never ignored.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| AuthError::Malformed)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(Some(token))
}

impl FromRequestParts<Arc<App>> for MaybePlayer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        match bearer(&parts.headers)? {
            None => Ok(MaybePlayer(None)),
            Some(token) => Ok(MaybePlayer(Some(app.keys.verify(token, unix_s())?))),
        }
    }
}

impl FromRequestParts<Arc<App>> for Player {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let MaybePlayer(claims) = MaybePlayer::from_request_parts(parts, app).await?;
        claims.map(Player).ok_or_else(|| AuthError::Missing.into())
    }
}

/// A match id from a path; one that cannot be a match id is an unknown match.
pub(crate) fn match_path(id: &str) -> Result<&str, ApiError> {
    if valid_match_id(id) { Ok(id) } else { Err(ApiError::unknown_match()) }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(&e))
}

// ----- operations -----

/// The process lives and answers: always 200 while it does (even while shutting down).
async fn healthz(State(app): AppState) -> Json<Json_> {
    let status = if app.shutdown.is_cancelled() { "shutting_down" } else { "alive" };
    Json(json!({ "status": status }))
}

/// Whether the server can accept and persist moves now: 200, or 503 saying why not.
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

async fn metrics(State(app): AppState) -> Response {
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], app.metrics.render()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuestRequest {
    name: String,
}

async fn guest(
    State(app): AppState,
    Body(req): Body<GuestRequest>,
) -> Result<Json<Json_>, ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 32 || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_name",
            "a name is 1 to 32 printable characters",
        ));
    }
    let player_id = format!("p{:016x}", random_u64());
    let exp = unix_s() + app.config.token_ttl_s;
    let token = app.keys.issue(&Claims { sub: player_id.clone(), name: name.to_string(), exp });
    Ok(Json(json!({"token": token, "player_id": player_id, "name": name, "expires_at": exp})))
}

/// Where QUIC listens and the certificate fingerprint to pin.
async fn quic_info(
    State(app): AppState,
) -> Result<Json<crate::transport::quic::QuicInfo>, ApiError> {
    let info = app.quic.get().cloned();
    info.map(Json).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "quic_disabled", "this server serves no QUIC")
    })
}

async fn list_games() -> Json<Json_> {
    let list: Vec<Json_> = games()
        .iter()
        .map(|g| {
            let info = g.info();
            let default_config = serde_json::to_value(to_value(&info.default_config)).unwrap_or(Json_::Null);
            json!({
                "id": info.id, "name": info.name, "rules_version": info.rules_version,
                "min_seats": info.min_seats, "max_seats": info.max_seats, "default_config": default_config,
            })
        })
        .collect();
    Json(json!({ "games": list }))
}

// ----- matches -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    game: String,
    #[serde(default)]
    config: Option<Json_>,
    /// Seats to fill with server-side bots.
    #[serde(default)]
    bots: Vec<BotRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BotRequest {
    /// A seat, or the first free one.
    seat: Option<u8>,
    #[serde(default = "default_strategy")]
    strategy: bots::StrategyKind,
    /// Think delay before each move, ms (at most 60000).
    #[serde(default = "default_think_ms")]
    think_ms: u64,
}

fn default_strategy() -> bots::StrategyKind {
    bots::StrategyKind::Greedy
}

fn default_think_ms() -> u64 {
    500
}

/// Most think time a bot may be given.
const MAX_THINK_MS: u64 = 60_000;

async fn create_match(
    State(app): AppState,
    Player(who): Player,
    Body(req): Body<CreateRequest>,
) -> Result<Json<Json_>, ApiError> {
    let game = find_game(&req.game).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "unknown_game", format!("no game {:?}", req.game))
    })?;
    check_creation_limit(&app, &who.sub).await?;
    let config = match req.config {
        Some(config) => rmp_serde::to_vec_named(&config).map_err(|e| ApiError::internal(&e))?,
        None => game.info().default_config,
    };
    let seed = random_u64();
    let m = game
        .new_match(&config, seed)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    let record = Record::Created {
        game: game.id().to_string(),
        rules_version: game.info().rules_version,
        config: m.config(),
        seed,
        seats: m.seats(),
        created_at_ms: unix_ms(),
    };
    let match_id = format!("m{:016x}", random_u64());
    let bots = seat_bots(&match_id, m.seats(), req.bots)?;
    let bot_seats: Vec<u8> = bots.iter().map(|(seat, _, _)| *seat).collect();
    let id = app.rooms.create(match_id, record, bots, 0).await?;
    app.created_by
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(who.sub)
        .or_default()
        .push(id.clone());
    Ok(Json(json!({ "match_id": id, "bot_seats": bot_seats })))
}

/// Places the requested bots: each in its seat or the first free one, one seat always left
/// for a person. Refused before the match exists, so a bad request creates nothing.
fn seat_bots(
    match_id: &str,
    seats: u8,
    requested: Vec<BotRequest>,
) -> Result<Vec<(u8, PlayerRef, crate::storage::BotSpec)>, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_bots", message);
    if requested.len() >= usize::from(seats) {
        return Err(bad(format!(
            "this match has {seats} seats; bots may take at most {}",
            seats - 1
        )));
    }
    let mut taken = vec![false; usize::from(seats)];
    for seat in requested.iter().filter_map(|b| b.seat) {
        match taken.get_mut(usize::from(seat)) {
            Some(slot @ false) => *slot = true,
            Some(true) => return Err(bad(format!("seat {seat} is asked for twice"))),
            None => {
                return Err(bad(format!("seat {seat} does not exist (seats 0 to {})", seats - 1)));
            }
        }
    }
    let mut placed = Vec::with_capacity(requested.len());
    for (n, bot) in requested.into_iter().enumerate() {
        if bot.think_ms > MAX_THINK_MS {
            return Err(bad(format!("think_ms is at most {MAX_THINK_MS}")));
        }
        let seat = match bot.seat {
            Some(seat) => seat,
            None => {
                let free =
                    taken.iter().position(|t| !t).ok_or_else(|| bad("no free seat left".into()))?;
                taken[free] = true;
                free as u8
            }
        };
        let player = PlayerRef {
            player_id: format!("bot-{match_id}-{n}"),
            name: format!("{} bot", bot.strategy.name()),
        };
        placed.push((
            seat,
            player,
            crate::storage::BotSpec { strategy: bot.strategy, think_ms: bot.think_ms },
        ));
    }
    Ok(placed)
}

/// Bounds the unfinished matches one player has created (in this process).
async fn check_creation_limit(app: &Arc<App>, player_id: &str) -> Result<(), ApiError> {
    let ids = app
        .created_by
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(player_id)
        .cloned()
        .unwrap_or_default();
    if ids.len() < app.config.limits.matches_per_player {
        return Ok(());
    }
    let log = app.log.clone();
    let unfinished: Vec<String> = blocking(move || {
        ids.into_iter()
            .filter(|id| {
                log.summary(id).ok().flatten().is_some_and(|s| s.status != MatchStatus::Finished)
            })
            .collect()
    })
    .await?;
    let full = unfinished.len() >= app.config.limits.matches_per_player;
    app.created_by
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(player_id.to_string(), unfinished);
    if full {
        let message = format!(
            "at most {} unfinished matches per player",
            app.config.limits.matches_per_player
        );
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_matches", message));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<MatchStatus>,
    game: Option<String>,
    limit: Option<usize>,
}

async fn list_matches(
    State(app): AppState,
    Params(q): Params<ListQuery>,
) -> Result<Json<Json_>, ApiError> {
    let filter =
        ListFilter { status: q.status, game: q.game, limit: q.limit.unwrap_or(50).min(200) };
    let log = app.log.clone();
    let found = blocking(move || log.list(&filter)).await??;
    Ok(Json(json!({ "matches": found })))
}

/// A stored match's summary; `unknown_match` if there is no such match.
pub(crate) async fn summary_of(app: &Arc<App>, id: &str) -> Result<MatchSummary, ApiError> {
    let (log, id) = (app.log.clone(), id.to_string());
    blocking(move || log.summary(&id)).await??.ok_or_else(ApiError::unknown_match)
}

async fn inspect_match(
    State(app): AppState,
    Path(id): Path<String>,
) -> Result<Json<MatchSummary>, ApiError> {
    Ok(Json(summary_of(&app, match_path(&id)?).await?))
}

/// Sends a request to a match's room and waits for its answer.
async fn ask_room(
    app: &Arc<App>,
    id: &str,
    make: Box<dyn FnOnce(u64) -> Input + Send>,
) -> Result<Reply, ApiError> {
    summary_of(app, id).await?;
    let (reply, answer) = oneshot::channel();
    app.rooms.send(id, RoomMsg::Request { make, reply }).await?;
    answer.await.map_err(|_| ApiError::unknown_match())
}

async fn join_match(
    State(app): AppState,
    Player(who): Player,
    Path(id): Path<String>,
) -> Result<Json<Json_>, ApiError> {
    let id = match_path(&id)?;
    let player = PlayerRef { player_id: who.sub, name: who.name };
    let reply = ask_room(
        &app,
        id,
        Box::new(move |request| Input::TakeSeat { request, player, seat: None, bot: None }),
    )
    .await?;
    match reply {
        Reply::Seat(Ok(seat)) => Ok(Json(json!({ "match_id": id, "seat": seat }))),
        Reply::Seat(Err(e)) => {
            let status = match e {
                RoomError::MatchFull | RoomError::MatchOver | RoomError::SeatTaken => {
                    StatusCode::CONFLICT
                }
                RoomError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            Err(ApiError::new(status, e.code(), e.to_string()))
        }
        Reply::Unavailable { code } => Err(unavailable(code)),
        other => Err(ApiError::internal(&format!("unexpected room reply {other:?}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveRequest {
    move_id: u64,
    #[serde(rename = "move")]
    mv: Json_,
}

async fn play_move(
    State(app): AppState,
    Player(who): Player,
    Path(id): Path<String>,
    Body(req): Body<MoveRequest>,
) -> Result<Json<Verdict>, ApiError> {
    let id = match_path(&id)?.to_string();
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct EventsPage {
    events: Vec<Event>,
    /// The `from` of the next page, when there is more.
    next_from: Option<u64>,
}

async fn match_events(
    State(app): AppState,
    MaybePlayer(who): MaybePlayer,
    Path(id): Path<String>,
    Params(q): Params<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = match_path(&id)?.to_string();
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
    replay(&records[..end.max(1)], |seq, body, state| {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateQuery {
    at: Option<u64>,
}

async fn match_state(
    State(app): AppState,
    MaybePlayer(who): MaybePlayer,
    Path(id): Path<String>,
    Params(q): Params<StateQuery>,
) -> Result<Json<Snapshot>, ApiError> {
    let id = match_path(&id)?.to_string();
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
    let m = replay(&records[..=at as usize], |_, _, _| {})?;
    let viewer = viewer_in(&m, who.as_ref());
    Ok(Json(Snapshot {
        match_id: id,
        seq: at,
        state_hash: m.hash_for(viewer),
        status: m.state.status(),
        view: to_value(&m.state.view(viewer)),
        created: m.created.clone(),
    }))
}
