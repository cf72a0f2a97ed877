//! Steering a light cycle through the core: a direction becomes a turn move (with its move id,
//! like any move), a second direction within one tick waits for the first to be applied, and
//! the own cycle is predicted ahead of the server's last tick ([`crate::cycles`]).

use game_rules::{Mode, Status, Viewer};
use lightcycles::{ArenaView, Heading, Steer};
use protocol::v1::{MoveId, Role};

use super::{Core, Followed, MoveError};
use crate::cycles::{self, KeyAction, Prediction, Steering};

/// The server's state of a light cycles match, as this client's seat sees it.
fn arena(f: &Followed) -> Option<ArenaView> {
    let state = f.replica.state()?;
    if state.game_id() != cycles::GAME_ID {
        return None;
    }
    let viewer = f.seat.map_or(Viewer::Spectator, Viewer::Seat);
    rmp_serde::from_slice(&state.view(viewer)).ok()
}

/// The heading of `seat`'s cycle, if it still rides.
fn riding(view: &ArenaView, seat: u8) -> Option<Heading> {
    view.cycles.iter().find(|c| c.seat == seat && c.alive).map(|c| c.heading)
}

/// The wire value of a turn move.
fn turn_move(turn: lightcycles::Turn) -> protocol::v1::Value {
    let bytes = rmp_serde::to_vec_named(&Steer { turn }).unwrap_or_default();
    protocol::replica::decode_value(&bytes)
}

impl Core {
    /// Steers this client's light cycle towards `to`: sends the quarter turn that leads there
    /// (returning its move id), or keeps `to` to ask for once the turn in flight is applied,
    /// or does nothing (`None`) when the cycle already heads that way or would turn back.
    pub fn steer(&mut self, match_id: &str, to: Heading) -> Result<Option<MoveId>, MoveError> {
        let f = self.matches.get_mut(match_id).ok_or(MoveError::NotPlaying)?;
        let seat = f.seat.filter(|_| f.role == Role::Player).ok_or(MoveError::NotPlaying)?;
        let live = f.replica.status() == Some(Status::Simultaneous);
        let server = arena(f).filter(|_| live).and_then(|view| riding(&view, seat));
        let server = server.ok_or(MoveError::NoCycle)?;
        match cycles::on_key(server, f.steering.as_ref(), to) {
            KeyAction::Send(turn) => {
                let move_id = self.send_move(match_id, turn_move(turn))?;
                if let Some(f) = self.matches.get_mut(match_id) {
                    let to = server.turned(turn);
                    f.steering = Some(Steering { from: server, to, move_id, then: None });
                }
                Ok(Some(move_id))
            }
            KeyAction::Queue(then) => {
                if let Some(s) = f.steering.as_mut() {
                    s.then = Some(then);
                }
                Ok(None)
            }
            KeyAction::Ignore => Ok(None),
        }
    }

    /// After an event: a turn seen applied is done, and the heading kept after it is sent
    /// now; a turn the server's state contradicts is dropped with what was kept after it.
    pub(super) fn follow_steering(&mut self, match_id: &str) {
        let Some(f) = self.matches.get_mut(match_id) else { return };
        let Some(steering) = f.steering else { return };
        let Some(seat) = f.seat else { return };
        let server = arena(f).and_then(|view| riding(&view, seat));
        if server.is_some_and(|h| steering.waits(h)) {
            return;
        }
        f.steering = None;
        if let (Some(then), true) = (steering.then, server == Some(steering.to)) {
            // A refusal here means the match or the cycle is over: nothing left to steer.
            let _ = self.steer(match_id, then);
        }
    }

    /// This client's light cycle drawn ahead of the server's last tick, `now_ms` being the
    /// time now on the clock the shell passes to `handle_message`; `None` for a spectator,
    /// another game, a crashed cycle, before the catch-up ends or once the match is over.
    pub fn prediction(&self, match_id: &str, now_ms: u64) -> Option<Prediction> {
        let f = self.matches.get(match_id)?;
        let seat = f.seat.filter(|_| f.role == Role::Player && f.caught_up)?;
        let state = f.replica.state()?;
        let Mode::RealTime { tick_hz } = state.mode() else { return None };
        let live = f.replica.status() == Some(Status::Simultaneous);
        if !live || f.replica.seats().iter().any(Option::is_none) {
            return None;
        }
        let since = now_ms.saturating_sub(f.last_event_ms.unwrap_or(now_ms));
        let view = arena(f)?;
        cycles::predict(&view, seat, f.steering.as_ref(), cycles::lead_ticks(since, tick_hz))
    }
}

#[cfg(test)]
mod tests;
