//! `POST /api/matches/{id}/fork`: a new match whose history is another's up to an event, with
//! every seat open, for reproducing a bug, asking "what if", or teaching a position.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::create::{check_creation_limit, note_created};
use super::new_match_id;
use crate::app::{App, unix_ms};
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Body, MatchPath, Player};
use crate::http::{INTERNAL, UNAUTHORIZED, blocking};
use crate::replay::MatchState;
use crate::storage::{Lobby, Origin, Record, read_all};

/// Where to fork.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"at": 4}))]
pub(super) struct ForkRequest {
    /// The last event of the match that the fork holds: its history is events `0..=at`.
    at: u64,
}

/// A fork, created.
// Fields in alphabetical order, the order docs/PROTOCOL.md shows.
#[derive(Serialize, ToSchema)]
pub(super) struct Forked {
    /// Where it comes from.
    forked_from: Origin,
    /// The new match.
    match_id: String,
}

/// Forks a match at an event: a new match holds its events `0..=at`, then frees every seat.
#[utoipa::path(post, path = "/api/matches/{id}/fork", tag = "matches", params(MatchPath),
    request_body = ForkRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The fork is durable.", body = Forked),
        (status = 400, description = "`bad_cursor` (`at` past the head), or `bad_request` (the \
            body is not an object of these fields).", body = ErrorResponse),
        (status = 401, description = UNAUTHORIZED, body = ErrorResponse),
        (status = 404, description = "`unknown_match`.", body = ErrorResponse),
        (status = 409, description = "`match_over` (the match is over at `at`) or `not_public` \
            (a game that hides information cannot be forked).", body = ErrorResponse),
        (status = 413, description = "`body_too_large`.", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON.", body = ErrorResponse),
        (status = 429, description = "`too_many_matches`.", body = ErrorResponse),
        (status = 500, description = INTERNAL, body = ErrorResponse),
        (status = 503, description = "`shutting_down`, `server_busy` or `storage_error`; retry.",
            body = ErrorResponse),
    ))]
pub(super) async fn fork_match(
    State(app): State<Arc<App>>,
    Player(who): Player,
    MatchPath(id): MatchPath,
    Body(req): Body<ForkRequest>,
) -> Result<Json<Forked>, ApiError> {
    let history = history_to(&app, &id, req.at).await?;
    let origin = Origin { match_id: id, seq: req.at };
    let created = fork_creation(&history[0], &who.sub, origin.clone())?;
    check_forkable(&app.config.games, &created, &history[1..])?;
    check_creation_limit(&app, &who.sub).await?;
    let new_id = app.rooms.fork(new_match_id(), created, &history[1..], 0).await?;
    note_created(&app, who.sub, &new_id);
    Ok(Json(Forked { forked_from: origin, match_id: new_id }))
}

/// The records `0..=at` of a match, decoded.
async fn history_to(app: &Arc<App>, id: &str, at: u64) -> Result<Vec<Record>, ApiError> {
    let (log, id) = (app.log.clone(), id.to_string());
    let stored = blocking(move || read_all(log.as_ref(), &id)).await??;
    let Some(head) = stored.len().checked_sub(1) else { return Err(ApiError::unknown_match()) };
    if at > head as u64 {
        let message = format!("at {at} is past the head {head}");
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_cursor", message));
    }
    let decode = |s: &crate::storage::StoredRecord| Record::decode(s.seq, &s.bytes);
    let records: Result<Vec<Record>, _> = stored[..=at as usize].iter().map(decode).collect();
    records.map_err(|e| ApiError::internal(&e))
}

/// The fork's creation record: the original's game, config, seed and timer, created now by
/// `creator`, public, with its origin.
pub(crate) fn fork_creation(
    first: &Record,
    creator: &str,
    origin: Origin,
) -> Result<Record, ApiError> {
    let Record::Created { game, rules_version, config, seed, seats, timer, .. } = first else {
        return Err(ApiError::internal(&"record 0 is not a creation record"));
    };
    Ok(Record::Created {
        game: game.clone(),
        rules_version: *rules_version,
        config: config.clone(),
        seed: *seed,
        seats: *seats,
        created_at_ms: unix_ms(),
        lobby: Lobby { creator: Some(creator.to_string()), code: None, origin: Some(origin) },
        timer: *timer,
    })
}

/// A fork must be of a public game (its history would show a new seat-holder what the seat's
/// old holder saw) and of a match not over at the fork's event.
pub(crate) fn check_forkable(
    games: &game_rules::Games,
    created: &Record,
    history: &[Record],
) -> Result<(), ApiError> {
    let mut m = MatchState::create(games, created)?;
    if !m.state.is_public() {
        let message = "a game that hides information cannot be forked";
        return Err(ApiError::new(StatusCode::CONFLICT, "not_public", message));
    }
    for (n, record) in history.iter().enumerate() {
        m.apply(n as u64 + 1, record)?;
    }
    if m.status().is_over() {
        let message = "the match is over at that event; fork an earlier one";
        return Err(ApiError::new(StatusCode::CONFLICT, "match_over", message));
    }
    Ok(())
}
