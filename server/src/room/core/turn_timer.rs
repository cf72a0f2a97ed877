//! A match's own turn timer. Its deadline is read from the times the room logs with each
//! record (`at_ms`), not from when the room loaded, so the clock of the seat to move runs on
//! across unloads and restarts: a room loaded after its deadline decides the expiry at once.
//! Time reaches the room as arguments only: `now_ms` with each input, and the wall-clock time
//! of its zero from the driver ([`Room::set_wall_base`]).

use game_rules::Mode;

use super::Room;
use crate::storage::{Expiry, Record};

impl Room {
    /// Sets the Unix ms at which this room's `now_ms` was 0, so that the times it logs and
    /// reads are wall-clock times.
    pub fn set_wall_base(&mut self, unix_ms_at_zero: u64) {
        self.wall_base_ms = unix_ms_at_zero;
    }

    /// Now, in Unix ms.
    pub(super) fn wall_ms(&self) -> u64 {
        self.wall_base_ms + self.now_ms
    }

    /// Whether this match's own timer (not the server's) governs its turns.
    pub(super) fn has_match_timer(&self) -> bool {
        self.m.timer.is_some() && self.m.state.mode() == Mode::Turns
    }

    /// When the seat to move runs out of time (on the room's clock): its turn's time, or less
    /// if its total clock has less left.
    pub(super) fn match_deadline(&self) -> Option<u64> {
        let timer = self.m.timer?;
        let seat = self.m.mover()?;
        let started = self.m.turn_started_ms?;
        let mut allowed = timer.move_ms;
        if let Some(total) = timer.total_ms {
            let used = self.m.used_ms.get(usize::from(seat)).copied().unwrap_or(0);
            allowed = allowed.min(total.saturating_sub(used));
        }
        Some((started + allowed).saturating_sub(self.wall_base_ms))
    }

    /// The seat to move ran out of time: with its total clock spent it forfeits; otherwise the
    /// timer's policy says whether the turn passes or the seat forfeits.
    pub(super) fn expire(&mut self) {
        let (Some(timer), Some(seat)) = (self.m.timer, self.m.mover()) else { return };
        let used = self.m.used_ms.get(usize::from(seat)).copied().unwrap_or(0);
        let running = self.m.turn_started_ms.map_or(0, |s| self.wall_ms().saturating_sub(s));
        let spent = timer.total_ms.is_some_and(|total| used + running >= total);
        match timer.on_expiry {
            Expiry::Pass if !spent => self.tick(),
            _ => self.forfeit(seat),
        }
    }

    fn forfeit(&mut self, seat: game_rules::Seat) {
        let record = Record::Forfeited { seat, at_ms: Some(self.wall_ms()) };
        let seq = self.m.head + 1;
        let body = self.m.apply(seq, &record).expect("the seat to move can forfeit");
        let event = self.event(seq, body);
        self.push_append(seq, vec![record.encode()], vec![event], Vec::new(), Vec::new());
    }
}
