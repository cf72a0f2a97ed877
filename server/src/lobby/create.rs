//! `POST /api/matches`: a match created with its game, config, visibility and bot seats.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::{Seating, Table, Terms, new_match_id, open_match};
use crate::app::App;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Body, Player};
use crate::http::{UNAUTHORIZED, blocking};
use crate::room::PlayerRef;
use crate::storage::{BotSpec, Expiry, MatchStatus, TurnTimer};

/// A match to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"game": "dots", "config": {"width": 2, "height": 2, "players": 2},
    "bots": [{"seat": 1, "strategy": "greedy", "think_ms": 500}]}))]
pub(super) struct CreateRequest {
    /// The game's id (`GET /api/games`).
    #[schema(schema_with = game_ids)]
    game: String,
    /// The game's config; absent or null: the game's default config.
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    config: Option<Json_>,
    /// Seats to fill with server-side bots: at most one fewer than the match has.
    #[serde(default, deserialize_with = "crate::extract::objects")]
    bots: Vec<BotRequest>,
    /// `public` (listed) or `private` (listed to nobody; joined by its code or its id).
    #[serde(default)]
    visibility: Visibility,
    /// This match's turn timer (turn-based games), over the server's `--turn-timeout-ms`.
    #[serde(default)]
    timer: Option<TimerRequest>,
}

/// A match's turn timer.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TimerRequest {
    /// Time for one turn, in ms.
    #[schema(minimum = 100, maximum = 86_400_000)]
    move_ms: u64,
    /// Time for all of a seat's turns together, in ms; spending it forfeits the match.
    #[serde(default)]
    #[schema(minimum = 100, maximum = 604_800_000)]
    total_ms: Option<u64>,
    /// When a turn's time runs out: `pass` (the turn passes) or `forfeit` (the seat loses).
    #[serde(default)]
    on_expiry: Expiry,
}

/// Shortest and longest turn a match's timer may give, in ms (as `--turn-timeout-ms`).
const MOVE_MS: std::ops::RangeInclusive<u64> = 100..=86_400_000;
/// Shortest and longest total clock, in ms (a week).
const TOTAL_MS: std::ops::RangeInclusive<u64> = 100..=604_800_000;

/// A requested timer, checked.
fn turn_timer(requested: Option<TimerRequest>) -> Result<Option<TurnTimer>, ApiError> {
    let Some(TimerRequest { move_ms, total_ms, on_expiry }) = requested else { return Ok(None) };
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_timer", message);
    if !MOVE_MS.contains(&move_ms) {
        return Err(bad(format!("timer.move_ms is {} to {} ms", MOVE_MS.start(), MOVE_MS.end())));
    }
    if total_ms.is_some_and(|t| !TOTAL_MS.contains(&t)) {
        return Err(bad(format!(
            "timer.total_ms is {} to {} ms",
            TOTAL_MS.start(),
            TOTAL_MS.end()
        )));
    }
    Ok(Some(TurnTimer { move_ms, total_ms, on_expiry }))
}

/// Who may find a match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Visibility {
    /// Listed by `GET /api/matches`.
    #[default]
    Public,
    /// Listed to nobody; it gets a join code.
    Private,
}

/// The schema of a `game` field: a string, whose allowed ids `http::routes` fills in from
/// the server's games.
pub(super) fn game_ids() -> Object {
    ObjectBuilder::new().schema_type(Type::String).build()
}

/// A server-side bot to seat.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BotRequest {
    /// A seat, or (absent) the lowest seat no other bot of the request takes.
    #[schema(maximum = 255)]
    seat: Option<u8>,
    /// How it plays.
    #[serde(default = "default_strategy")]
    #[schema(default = "greedy")]
    strategy: bots::StrategyKind,
    /// Think delay before each move, ms.
    #[serde(default = "default_think_ms")]
    #[schema(default = 500, maximum = 60000)]
    think_ms: u64,
}

/// A created match.
// Fields in alphabetical order, the order docs/PROTOCOL.md shows.
#[derive(Serialize, ToSchema)]
pub(super) struct MatchCreated {
    /// The seat of each bot, in the order of the request's `bots`.
    bot_seats: Vec<u8>,
    /// A private match's join code (`POST /api/join`); absent for a public match.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-HJ-NP-Z2-9]{6}$")]
    code: Option<String>,
    /// The new match.
    match_id: String,
}

fn default_strategy() -> bots::StrategyKind {
    bots::StrategyKind::Greedy
}

fn default_think_ms() -> u64 {
    500
}

/// Most think time a bot may be given.
const MAX_THINK_MS: u64 = 60_000;

/// Creates a match, its bots seated in the same write. The creator is not seated.
#[utoipa::path(post, path = "/api/matches", tag = "matches", request_body = CreateRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The match is durable.", body = MatchCreated),
        (status = 400, description = "`unknown_game`, `config_out_of_bounds`, \
            `config_malformed`, `bad_bots`, `bad_config`, `bad_timer`, or `bad_request` (the \
            body is not an object of these fields).", body = ErrorResponse),
        (status = 401, description = UNAUTHORIZED, body = ErrorResponse,
            headers(("WWW-Authenticate" = String, description = "`Bearer`, with \
                `error=\"invalid_token\"` when a token was given but refused."))),
        (status = 413, description = "`body_too_large`.", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON.", body = ErrorResponse),
        (status = 429, description = "`too_many_matches`: the caller has too many unfinished \
            matches.", body = ErrorResponse),
        (status = 503, description = "`shutting_down`, `storage_error`, or \
            `too_many_private_matches` (every join code is in use); retry.",
            body = ErrorResponse),
    ))]
pub(super) async fn create_match(
    State(app): State<Arc<App>>,
    Player(who): Player,
    Body(req): Body<CreateRequest>,
) -> Result<Json<MatchCreated>, ApiError> {
    let table = Table::new(&app.config.games, &req.game, req.config)?;
    let timer = turn_timer(req.timer)?;
    check_creation_limit(&app, &who.sub).await?;
    let match_id = new_match_id();
    let bots = seat_bots(&match_id, table.seats, req.bots)?;
    let bot_seats: Vec<u8> = bots.iter().map(|(seat, _, _)| *seat).collect();
    let private = req.visibility == Visibility::Private;
    let terms = Terms { creator: Some(who.sub.clone()), private, timer };
    let (id, code) = open_match(&app, match_id, &table, terms, bots).await?;
    note_created(&app, who.sub, &id);
    Ok(Json(MatchCreated { bot_seats, code, match_id: id }))
}

/// Counts a match against its creator's unfinished matches.
pub(super) fn note_created(app: &App, player_id: String, match_id: &str) {
    let mut created = app.created_by.lock().unwrap_or_else(|p| p.into_inner());
    created.entry(player_id).or_default().push(match_id.to_string());
}

/// Places the requested bots: each in its seat or the first free one, one seat always left
/// for a person. Refused before the match exists, so a bad request creates nothing.
fn seat_bots(match_id: &str, seats: u8, requested: Vec<BotRequest>) -> Result<Seating, ApiError> {
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
        let spec = BotSpec { strategy: bot.strategy, think_ms: bot.think_ms };
        placed.push((seat, bot_player(match_id, n, spec.strategy), Some(spec)));
    }
    Ok(placed)
}

/// The identity of a match's `n`th server bot.
pub(super) fn bot_player(match_id: &str, n: usize, strategy: bots::StrategyKind) -> PlayerRef {
    PlayerRef { player_id: format!("bot-{match_id}-{n}"), name: format!("{} bot", strategy.name()) }
}

/// Bounds the unfinished matches one player has created (in this process).
pub(super) async fn check_creation_limit(app: &Arc<App>, player_id: &str) -> Result<(), ApiError> {
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
