//! `GET /api/players/{id}/matches`: a player's matches with their results, newest first, read
//! from the projections (docs/LOG_FORMAT.md shows the same question asked in SQL).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::App;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::Params;
use crate::http::{INTERNAL, blocking};
use crate::storage::MatchSummary;

/// The longest player id a path may carry (guest ids are 17 characters).
const MAX_PLAYER_ID: usize = 64;

/// Which player.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct PlayerPath {
    /// The player's id (`player_id` of their token). An id no player can have (longer than
    /// 64 characters) lists nothing.
    id: String,
}

/// How many.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    /// At most this many: default 50; more than 200 is taken as 200.
    limit: Option<usize>,
}

/// A player's matches, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct PlayerMatches {
    /// Each match the player holds or held a seat in, with its seats (find the player's by
    /// `player_id`) and, once finished, its `outcome`.
    matches: Vec<MatchSummary>,
}

/// A player's matches and their results, newest first.
#[utoipa::path(get, path = "/api/players/{id}/matches", tag = "matches",
    params(PlayerPath, HistoryQuery), responses(
    (status = 200, description = "The player's matches (none for an unknown player).",
        body = PlayerMatches),
    (status = 400, description = "`bad_request`: an unknown or malformed parameter.",
        body = ErrorResponse),
    (status = 500, description = INTERNAL, body = ErrorResponse),
))]
pub(crate) async fn player_matches(
    State(app): State<Arc<App>>,
    Path(PlayerPath { id }): Path<PlayerPath>,
    Params(q): Params<HistoryQuery>,
) -> Result<Json<PlayerMatches>, ApiError> {
    if id.len() > MAX_PLAYER_ID {
        return Ok(Json(PlayerMatches { matches: Vec::new() }));
    }
    let limit = q.limit.unwrap_or(50).min(200);
    let log = app.log.clone();
    let matches = blocking(move || log.player_matches(&id, limit)).await??;
    Ok(Json(PlayerMatches { matches }))
}
