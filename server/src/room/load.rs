//! A room rebuilt from its match's records: the state, the recent history for catch-up, and
//! every accepted move id, so that a retry gets its original verdict after any reload. Pure:
//! the records come in, a room comes out.

use std::collections::VecDeque;

use protocol::v1::{Event, EventBody};

use super::core::{Room, RoomSettings};
use crate::replay::{ReplayError, replay};
use crate::storage::StoredRecord;

impl Room {
    /// The room of `match_id` at the end of `records` (its whole log, from seq 0).
    pub fn load(
        match_id: &str,
        records: &[StoredRecord],
        settings: RoomSettings,
        now_ms: u64,
    ) -> Result<Room, ReplayError> {
        let cap = settings.history_cap;
        let mut history = VecDeque::with_capacity(cap.min(4096));
        let mut accepted = Vec::new();
        let m = replay(&settings.games, records, |seq, body, state| {
            match &body {
                EventBody::Move(mv) => accepted.push((mv.seat, mv.move_id, seq)),
                // A seat given up (as a fork frees its seats) forgets its holder's move ids,
                // so the next holder's ids start afresh.
                EventBody::Left(left) => accepted.retain(|a| a.0 != left.seat),
                _ => {}
            }
            let (state_hash, status, _) = state.observe(game_rules::Viewer::Spectator);
            // A hidden-information game's moves are not kept: each viewer gets its own view.
            let keep =
                state.state.is_public() || !matches!(body, EventBody::Move(_) | EventBody::Tick(_));
            if history.len() == cap {
                history.pop_front();
            }
            let body = keep.then_some(body);
            let match_id = match_id.to_string();
            history.push_back(Event { match_id, seq, state_hash, status, body, view: None });
        })?;
        let mut room = Room::restore(match_id.to_string(), m, history.into(), settings, now_ms);
        for (seat, move_id, seq) in accepted {
            room.remember_accepted(seat, move_id, seq);
        }
        Ok(room)
    }
}
