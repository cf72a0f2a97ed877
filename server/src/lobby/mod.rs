//! The lobby: how players come to sit in a match before its room takes over. A match is
//! created public or private (a private one gets a join code and is listed to nobody), open
//! matches are listed page by page, and quick match pairs waiting players of one game and
//! config, or fills the seats left with server bots. A player leaves a match not yet started,
//! its creator cancels it, and a seat resigns a live one. A fork starts a new match from
//! another's history up to an event, its seats open.

mod actions;
mod codes;
mod create;
pub(crate) mod fork;
mod listing;
mod quick;
mod quickmatch;

use std::sync::Arc;

use axum::http::StatusCode;
use game_rules::{DynGame, Games, Seat};
use serde_json::Value as Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use self::codes::{CodeError, JoinCodes, rebuild_codes};
pub use self::quick::{QuickError, QuickPool};
use crate::app::{App, random_u64, unix_ms};
use crate::error::ApiError;
use crate::room::PlayerRef;
use crate::storage::{BotSpec, Lobby, Record, TurnTimer};

/// The lobby's routes, with their OpenAPI operations.
pub fn api() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(create::create_match, listing::list_matches))
        .routes(routes!(codes::join_by_code))
        .routes(routes!(quickmatch::quick_match))
        .routes(routes!(actions::leave_match))
        .routes(routes!(actions::cancel_match))
        .routes(routes!(actions::resign_match))
        .routes(routes!(fork::fork_match))
}

/// A game and a config it accepts: what a new match is made from.
#[derive(Clone)]
pub(crate) struct Table {
    /// The game.
    pub(crate) game: &'static dyn DynGame,
    /// The config, in the game's canonical encoding (equal configs have equal bytes).
    pub(crate) config: Vec<u8>,
    /// How many seats a match of it has.
    pub(crate) seats: u8,
}

impl Table {
    /// Checks a game id and a (partial) config: the fields given over the game's defaults.
    pub(crate) fn new(games: &Games, game: &str, config: Option<Json>) -> Result<Table, ApiError> {
        let game = games.find(game).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "unknown_game", format!("no game {game:?}"))
        })?;
        let given = with_defaults(config, &game.info().default_config)?;
        // The seed does not change a config; 0 only checks it and finds its canonical form.
        let m = game
            .new_match(&given, 0)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
        Ok(Table { game, config: m.config(), seats: m.seats() })
    }
}

/// A match config: the fields given, over the game's defaults (`{"width":3}` is a 3-wide
/// board of the default height and players). A config that is not an object goes to the game
/// as it is, to be refused there with its reason.
fn with_defaults(given: Option<Json>, defaults: &[u8]) -> Result<Vec<u8>, ApiError> {
    let defaults: Json = rmp_serde::from_slice(defaults).map_err(|e| ApiError::internal(&e))?;
    let merged = match (given, defaults) {
        (None, defaults) => defaults,
        (Some(Json::Object(given)), Json::Object(mut merged)) => {
            merged.extend(given);
            Json::Object(merged)
        }
        (Some(given), _) => given,
    };
    rmp_serde::to_vec_named(&merged).map_err(|e| ApiError::internal(&e))
}

/// Who sits where from the creation on: people (no spec) and server bots.
pub(crate) type Seating = Vec<(Seat, PlayerRef, Option<BotSpec>)>;

/// A fresh match id.
pub(crate) fn new_match_id() -> String {
    format!("m{:016x}", random_u64())
}

/// What a match is created with besides its game and seats.
#[derive(Debug, Clone, Default)]
pub(crate) struct Terms {
    /// The player who asked for it (`None`: the server, for a quick match).
    pub(crate) creator: Option<String>,
    /// Listed to nobody, joined by a code.
    pub(crate) private: bool,
    /// Its own turn timer.
    pub(crate) timer: Option<TurnTimer>,
}

/// Creates a match with its first seats taken in the same write, and answers once it is
/// durable. A private match gets a join code first, given back if the creation fails.
pub(crate) async fn open_match(
    app: &Arc<App>,
    match_id: String,
    table: &Table,
    terms: Terms,
    seating: Seating,
) -> Result<(String, Option<String>), ApiError> {
    let code = if terms.private { Some(codes::reserve(app, &match_id).await?) } else { None };
    let seed = random_u64();
    let record = Record::Created {
        game: table.game.id().to_string(),
        rules_version: table.game.info().rules_version,
        config: table.config.clone(),
        seed,
        seats: table.seats,
        created_at_ms: unix_ms(),
        lobby: Lobby { creator: terms.creator, code: code.clone(), origin: None },
        timer: terms.timer,
    };
    match app.rooms.create(match_id, record, seating, 0).await {
        Ok(id) => Ok((id, code)),
        Err(e) => {
            if let Some(code) = &code {
                app.codes.forget(code);
            }
            Err(e.into())
        }
    }
}
