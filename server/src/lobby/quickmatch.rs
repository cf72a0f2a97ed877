//! `POST /api/quickmatch`: the caller waits in the queue of its game and config until a
//! match has a seat for it. The request answers once that seat is durable. After
//! `--quickmatch-bots-after-ms` (if set) the waiting group is seated with server bots in the
//! seats left; after `--quickmatch-wait-ms` the caller leaves the queue with
//! `quickmatch_timeout`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use game_rules::Seat;
use serde::Deserialize;
use serde_json::Value as Json_;
use tokio::sync::oneshot;
use utoipa::ToSchema;

use super::create::{bot_player, game_ids};
use super::quick::Waiter;
use super::{Seating, Table, Terms, new_match_id, open_match};
use crate::app::App;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Body, Player};
use crate::http::{SeatTaken, UNAUTHORIZED};
use crate::room::PlayerRef;
use crate::storage::BotSpec;

/// How the bots that fill a quick match play.
const QUICK_BOT: BotSpec = BotSpec { strategy: bots::StrategyKind::Greedy, think_ms: 500 };

/// A quick match wanted.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"game": "dots", "config": {"width": 3}}))]
pub(super) struct QuickRequest {
    /// The game's id (`GET /api/games`).
    #[schema(schema_with = game_ids)]
    game: String,
    /// The config, over the game's defaults; players are paired only with others whose
    /// config comes out the same.
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    config: Option<Json_>,
}

/// Waits for a seat in a match of this game and config: with other players asking for the
/// same, or with server bots after the server's wait.
#[utoipa::path(post, path = "/api/quickmatch", tag = "matches", request_body = QuickRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's seat in a new match, durable.",
            body = SeatTaken),
        (status = 400, description = "`unknown_game`, `config_out_of_bounds`, \
            `config_malformed`, `bad_config`, or `bad_request` (the body is not an object of \
            these fields).", body = ErrorResponse),
        (status = 401, description = UNAUTHORIZED, body = ErrorResponse),
        (status = 408, description = "`quickmatch_timeout`: no match within \
            `--quickmatch-wait-ms`; the caller no longer waits.", body = ErrorResponse),
        (status = 409, description = "`already_queued`: the caller waits already, from another \
            request.", body = ErrorResponse),
        (status = 413, description = "`body_too_large`.", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON.", body = ErrorResponse),
        (status = 503, description = "`quickmatch_full` (too many players wait), \
            `shutting_down` or `storage_error`; retry.", body = ErrorResponse),
    ))]
pub(super) async fn quick_match(
    State(app): State<Arc<App>>,
    Player(who): Player,
    Body(req): Body<QuickRequest>,
) -> Result<Json<SeatTaken>, ApiError> {
    let table = Table::new(&app.config.games, &req.game, req.config)?;
    let key = (table.game.id().to_string(), table.config.clone());
    let player = PlayerRef { player_id: who.sub, name: who.name };
    let (answer_tx, answer) = oneshot::channel();
    let (ticket, group) = app.quick.join(key, player, table.seats, answer_tx)?;
    // Dropped with the request (the client went away): the caller stops waiting.
    let _leave = Withdraw { app: app.clone(), ticket };
    if let Some(group) = group {
        seat_group(&app, &table, group);
    }
    wait(&app, &table, ticket, answer).await.map(Json)
}

/// Takes a ticket out of the queue when its request ends, however it ends.
struct Withdraw {
    app: Arc<App>,
    ticket: u64,
}

impl Drop for Withdraw {
    fn drop(&mut self) {
        self.app.quick.withdraw(self.ticket);
    }
}

/// Waits for the caller's seat: bots fill its group after the bot wait, and the caller gives
/// up after the whole wait unless its group was taken (its match is being created then, and
/// its answer is near).
async fn wait(
    app: &Arc<App>,
    table: &Table,
    ticket: u64,
    mut answer: oneshot::Receiver<Result<SeatTaken, ApiError>>,
) -> Result<SeatTaken, ApiError> {
    let wait = Duration::from_millis(app.config.quickmatch_wait_ms);
    let deadline = tokio::time::Instant::now() + wait;
    if let Some(bots_after_ms) =
        app.config.quickmatch_bots_after_ms.filter(|b| *b < wait.as_millis() as u64)
    {
        tokio::select! {
            got = &mut answer => return settled(got),
            () = tokio::time::sleep(Duration::from_millis(bots_after_ms)) => {}
        }
        if let Some(group) = app.quick.take_group(ticket) {
            seat_group(app, table, group);
        }
    }
    match tokio::time::timeout_at(deadline, &mut answer).await {
        Ok(got) => settled(got),
        Err(_) if app.quick.withdraw(ticket) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "quickmatch_timeout",
            format!("no match was found within {} ms; ask again", wait.as_millis()),
        )),
        Err(_) => settled(answer.await),
    }
}

/// The answer the group's creator sent; none means it stopped (the server shuts down).
fn settled(
    got: Result<Result<SeatTaken, ApiError>, oneshot::error::RecvError>,
) -> Result<SeatTaken, ApiError> {
    got.unwrap_or_else(|_| {
        Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "shutting down"))
    })
}

/// Creates the group's match in a task of its own (a caller that goes away cannot strand the
/// others), seating the group in arrival order and bots in the seats left, and answers each.
fn seat_group(app: &Arc<App>, table: &Table, group: Vec<Waiter>) {
    let (app2, table) = (app.clone(), table.clone());
    app.connections.spawn(async move {
        let match_id = new_match_id();
        let mut seating: Seating = Vec::with_capacity(usize::from(table.seats));
        for (seat, waiter) in group.iter().enumerate() {
            seating.push((seat as Seat, waiter.player.clone(), None));
        }
        for seat in group.len()..usize::from(table.seats) {
            let bot = bot_player(&match_id, seat, QUICK_BOT.strategy);
            seating.push((seat as Seat, bot, Some(QUICK_BOT)));
        }
        let created = open_match(&app2, match_id, &table, Terms::default(), seating).await;
        for (seat, waiter) in group.into_iter().enumerate() {
            let answer =
                created.clone().map(|(match_id, _)| SeatTaken { match_id, seat: seat as Seat });
            // A caller that went away is seated all the same; it finds its match listed.
            let _ = waiter.answer.send(answer);
        }
    });
}
