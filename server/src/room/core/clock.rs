//! A room's game clock for real-time matches: tick `n` of a run is due at
//! `origin + n × 1000 / tick_hz` ms, computed from the run's origin rather than from the last
//! tick, so late wake-ups never make ticks drift; and the inputs gathered for the next tick,
//! at most one per seat (the last wins, the one it replaces is answered `superseded`).

use game_rules::{Mode, Seat};
use protocol::v1::MoveId;

use super::{Client, Room};

/// Ticks a room runs back to back when it wakes up late. Further behind (a stalled process),
/// it skips to the next tick in the future: the match slows down instead of replaying a burst.
pub const MAX_CATCH_UP_TICKS: u64 = 4;

/// The code of an input replaced by a later one of its seat before the tick it waited for.
pub const SUPERSEDED: &str = "superseded";

/// The next tick of a room's real-time clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextTick {
    /// Its number in the current run of the clock (the run's first tick is 1).
    pub n: u64,
    /// When it is due, in ms on the room's clock: `origin + n × 1000 / tick_hz`.
    pub due_ms: u64,
}

impl Room {
    /// Starts a new clock run now: the next tick is due one period from now.
    pub(super) fn restart_clock(&mut self) {
        self.clock_since_ms = self.now_ms;
        self.tick_origin_ms = self.now_ms;
        self.ticks_run = 0;
    }

    /// The real-time clock's next tick while it runs: its number in the current run and when
    /// it is due (the same clock as `handle`). The driver reads it to measure how late each
    /// tick fires; `None` for turn-based matches and while the clock is stopped.
    pub fn next_tick(&self) -> Option<NextTick> {
        let Mode::RealTime { .. } = self.m.state.mode() else { return None };
        if self.has_match_timer() {
            return None;
        }
        let due_ms = self.clock_deadline()?;
        Some(NextTick { n: self.ticks_run + 1, due_ms })
    }

    /// When tick `n` of the current run is due, at `tick_hz` ticks per second.
    pub(super) fn tick_due_ms(&self, tick_hz: u32, n: u64) -> u64 {
        self.tick_origin_ms + (n * 1000).div_ceil(u64::from(tick_hz.max(1)))
    }

    /// Counts the tick just run; past `MAX_CATCH_UP_TICKS` behind, skips the ticks missed.
    pub(super) fn count_tick(&mut self, tick_hz: u32) {
        self.ticks_run += 1;
        if self.now_ms >= self.tick_due_ms(tick_hz, self.ticks_run + MAX_CATCH_UP_TICKS) {
            let elapsed = self.now_ms - self.tick_origin_ms;
            self.ticks_run = elapsed * u64::from(tick_hz) / 1000;
        }
    }

    /// Gathers an input that `check_move` accepted for the next tick. A seat has at most one
    /// input waiting, so the gathered inputs are bounded by the seat count: a later input
    /// replaces the earlier one, which is answered `superseded`; a retry of the waiting input
    /// (same move id) is answered on the connection that retried, when the tick is durable.
    ///
    /// The clock runs while a person watches; a move sent over HTTP to a match nobody watches
    /// starts it too, and keeps it running (and the room loaded) until its tick.
    pub(super) fn gather(&mut self, from: Client, seat: Seat, move_id: MoveId, canonical: Vec<u8>) {
        if matches!(from, Client::Request(_)) && !self.watched() && !self.http_input_waiting() {
            self.restart_clock();
        }
        let Some(i) = self.gathered.iter().position(|g| g.0 == seat) else {
            self.gathered.push((seat, canonical, from, move_id));
            return;
        };
        if self.gathered[i].3 == move_id {
            self.gathered[i].2 = from;
            return;
        }
        let (_, _, earlier, earlier_id) = self.gathered.remove(i);
        let message = "a later input of this seat replaced it before the next tick".to_string();
        self.reject(earlier, seat, earlier_id, SUPERSEDED, message);
        self.gathered.push((seat, canonical, from, move_id));
    }

    /// Whether a move sent over HTTP waits for the next tick.
    pub(super) fn http_input_waiting(&self) -> bool {
        self.gathered.iter().any(|g| matches!(g.2, Client::Request(_)))
    }

    /// A match that ended outside its ticks (a resignation, a cancellation) ticks no more: the
    /// inputs waiting for a tick are answered `match_over` rather than left waiting.
    pub(super) fn refuse_gathered_if_over(&mut self) {
        if self.gathered.is_empty() || !self.m.status().is_over() {
            return;
        }
        let over = game_rules::RuleError::MatchOver;
        for (seat, _, from, move_id) in std::mem::take(&mut self.gathered) {
            self.reject(from, seat, move_id, over.code(), over.to_string());
        }
    }

    /// Takes the gathered inputs that still validate against the state, in arrival order; one
    /// that no longer does is rejected with its rule's code, never applied nor answered
    /// `accepted`. Returns `(seat, canonical move, client, move id)` of each applied.
    pub(super) fn take_valid_inputs(&mut self) -> Vec<(Seat, Vec<u8>, Client, MoveId)> {
        let gathered = std::mem::take(&mut self.gathered);
        let mut valid = Vec::with_capacity(gathered.len());
        for (seat, mv, from, move_id) in gathered {
            match self.m.state.check_move(seat, &mv) {
                Ok(_) => valid.push((seat, mv, from, move_id)),
                Err(e) => self.reject(from, seat, move_id, e.code(), e.to_string()),
            }
        }
        valid
    }
}
