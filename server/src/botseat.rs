//! Server-side bot seats: a bot is a task that plays through its match's room exactly like a
//! connection (joined as a player, its moves validated and logged), choosing with a pure
//! strategy from the `bots` crate after a think delay.

use std::sync::Arc;
use std::time::Duration;

use game_rules::{Seat, Status, Viewer};
use protocol::Encoding;
use protocol::Replica;
use protocol::v1::{Role, ServerMsg};
use tokio::sync::mpsc;
use tracing::{Instrument, debug, info_span};

use crate::room::task::{ConnSink, Kick, RoomMsg};
use crate::room::{Client, Input, PlayerRef};
use crate::rooms::RoomContext;
use crate::storage::BotSpec;

/// Frames a bot may have queued; it reads them at once, so this is generous.
const OUTBOX: usize = 4096;

/// Starts the bot at `seat` of `match_id`; it stops when the match ends or its room goes.
pub fn spawn(
    ctx: &Arc<RoomContext>,
    match_id: String,
    seat: Seat,
    player: PlayerRef,
    spec: BotSpec,
    seed: u64,
) {
    let span = info_span!("bot", match_id = %match_id, seat);
    let task = run(ctx.clone(), match_id, seat, player, spec, seed).instrument(span);
    ctx.rooms.spawn(task);
}

async fn run(
    ctx: Arc<RoomContext>,
    match_id: String,
    seat: Seat,
    player: PlayerRef,
    spec: BotSpec,
    seed: u64,
) {
    let conn = ctx.next_conn();
    let (outbox, mut frames) = mpsc::channel(OUTBOX);
    let sink = ConnSink {
        outbox,
        encoding: Encoding::MsgPack,
        kick: Arc::new(Kick::default()),
        generation: 0,
    };
    let join = Input::Join { conn, player: player.clone(), role: Role::Player, from_seq: Some(0) };
    if ctx.send(&match_id, RoomMsg::Join { input: join, sink }).await.is_err() {
        return;
    }
    let mut replica = Replica::new(ctx.settings.games.clone());
    let mut strategy = spec.strategy.player(seed);
    let think = Duration::from_millis(spec.think_ms);
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let thought = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = frames.recv() => {
                let Some(frame) = frame else { break };
                for bytes in frame.frames() {
                    match protocol::decode::<ServerMsg>(bytes, Encoding::MsgPack) {
                        Ok(ServerMsg::Event(event)) => {
                            if let Err(e) = replica.apply(&event) {
                                tracing::error!(error = %e, "bot replica diverged; stopping the bot");
                                return;
                            }
                            match event.status {
                                Status::Over(_) => {
                                    let _ = ctx.send(&match_id, RoomMsg::Input(Input::Leave { conn })).await;
                                    return;
                                }
                                Status::Turn(s) if s == seat => due = Some(tokio::time::Instant::now() + think),
                                // Real time: steer (or not) once per tick, at once.
                                Status::Simultaneous => due = Some(tokio::time::Instant::now()),
                                _ => due = None,
                            }
                        }
                        Ok(ServerMsg::Error(e)) => {
                            debug!(code = %e.code, "bot stops: {}", e.message);
                            return;
                        }
                        _ => {}
                    }
                }
            }
            () = thought => {
                due = None;
                let Some(state) = replica.state() else { continue };
                let legal = state.legal_moves(seat);
                let Some(pick) = strategy.choose(state.game_id(), seat, &state.view(Viewer::Seat(seat)), &legal) else { continue };
                // The head is a move id that no earlier move of this seat used, even across
                // restarts (a reused id would get the old verdict back).
                let move_id = replica.last_seq().unwrap_or(0);
                let input = Input::Move { from: Client::Conn(conn), player_id: player.player_id.clone(), move_id, mv: legal[pick].clone() };
                // A bot does not keep its room loaded: if the room unloaded while the bot was
                // thinking, the bot stops, and the room starts it again when it next loads.
                let Some(inbox) = ctx.rooms.loaded_inbox(&match_id) else { return };
                if inbox.send(RoomMsg::Input(input)).await.is_err() {
                    return;
                }
            }
        }
    }
}
