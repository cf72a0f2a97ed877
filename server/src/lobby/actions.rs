//! Leaving, cancelling and resigning a match over HTTP: each asks the match's room, which
//! checks the act and logs it (`left`, `cancelled`, `resigned` events), and answers once the
//! event is durable.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{MatchPath, Player};
use crate::http::{INTERNAL, UNAUTHORIZED, UNAVAILABLE, ask_room, unavailable};
use crate::room::{Input, LobbyAct, Reply};

/// A lobby act, logged.
// Fields in alphabetical order, the order docs/PROTOCOL.md shows.
#[derive(Serialize, ToSchema)]
pub(super) struct ActDone {
    /// The match.
    match_id: String,
    /// The seq of the event that records the act.
    seq: u64,
}

/// Asks the room to do `act` for the caller.
async fn act(
    app: &Arc<App>,
    id: String,
    player_id: String,
    act: LobbyAct,
) -> Result<ActDone, ApiError> {
    let make = Box::new(move |request| Input::Lobby { request, player_id, act });
    match ask_room(app, &id, make).await? {
        Reply::Done(Ok(seq)) => Ok(ActDone { match_id: id, seq }),
        // A failed append answers every request it held as a failed seat.
        Reply::Done(Err(e)) | Reply::Seat(Err(e)) => Err(e.into()),
        Reply::Unavailable { code } => Err(unavailable(code)),
        other => Err(ApiError::internal(&format!("unexpected room reply {other:?}"))),
    }
}

/// Gives up the caller's seat of a match not yet started: the seat is free again.
#[utoipa::path(post, path = "/api/matches/{id}/leave", tag = "matches", params(MatchPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The `left` event is durable.", body = ActDone),
        (status = 401, description = UNAUTHORIZED, body = ErrorResponse),
        (status = 404, description = "`unknown_match`.", body = ErrorResponse),
        (status = 409, description = "`not_seated`, `match_started` (resign instead) or \
            `match_over`.", body = ErrorResponse),
        (status = 500, description = INTERNAL, body = ErrorResponse),
        (status = 503, description = UNAVAILABLE, body = ErrorResponse),
    ))]
pub(super) async fn leave_match(
    State(app): State<Arc<App>>,
    Player(who): Player,
    MatchPath(id): MatchPath,
) -> Result<Json<ActDone>, ApiError> {
    act(&app, id, who.sub, LobbyAct::Leave).await.map(Json)
}

/// Ends a match not yet started, as its creator: it is over, nobody winning.
#[utoipa::path(post, path = "/api/matches/{id}/cancel", tag = "matches", params(MatchPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The `cancelled` event is durable.", body = ActDone),
        (status = 401, description = UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`not_creator`.", body = ErrorResponse),
        (status = 404, description = "`unknown_match`.", body = ErrorResponse),
        (status = 409, description = "`match_started` or `match_over`.", body = ErrorResponse),
        (status = 500, description = INTERNAL, body = ErrorResponse),
        (status = 503, description = UNAVAILABLE, body = ErrorResponse),
    ))]
pub(super) async fn cancel_match(
    State(app): State<Arc<App>>,
    Player(who): Player,
    MatchPath(id): MatchPath,
) -> Result<Json<ActDone>, ApiError> {
    act(&app, id, who.sub, LobbyAct::Cancel).await.map(Json)
}

/// Resigns the caller's seat of a live match: it is over, every other seat winning.
#[utoipa::path(post, path = "/api/matches/{id}/resign", tag = "matches", params(MatchPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The `resigned` event is durable.", body = ActDone),
        (status = 401, description = UNAUTHORIZED, body = ErrorResponse),
        (status = 404, description = "`unknown_match`.", body = ErrorResponse),
        (status = 409, description = "`not_seated`, `match_not_started` (leave instead) or \
            `match_over`.", body = ErrorResponse),
        (status = 500, description = INTERNAL, body = ErrorResponse),
        (status = 503, description = UNAVAILABLE, body = ErrorResponse),
    ))]
pub(super) async fn resign_match(
    State(app): State<Arc<App>>,
    Player(who): Player,
    MatchPath(id): MatchPath,
) -> Result<Json<ActDone>, ApiError> {
    act(&app, id, who.sub, LobbyAct::Resign).await.map(Json)
}
