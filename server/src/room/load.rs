//! A room rebuilt from its match's records: the state, the recent history for catch-up, and
//! every accepted move id, so that a retry gets its original verdict after any reload. Pure:
//! the records (and perhaps a snapshot) come in, a room comes out.

use std::cell::RefCell;
use std::collections::VecDeque;

use game_rules::{Action, Seat};
use protocol::v1::{EventBody, MoveId};
use serde::de::IgnoredAny;

use super::core::{Room, RoomSettings};
use crate::replay::{Origin, ReplayError, event_of, replay_from};
use crate::storage::{Record, StateSnapshot, StoredRecord};

/// The accepted move ids of a log, as `(seat, move_id, seq)`.
#[derive(Default)]
struct Accepted(Vec<(Seat, MoveId, u64)>);

impl Accepted {
    /// Notes a record applied without the rules (before a snapshot).
    fn note(&mut self, seq: u64, record: &Record) {
        match record {
            Record::Action { action, move_id, input_ids, .. } => {
                // Seats are the only fields needed: the moves themselves are skipped unread.
                match (rmp_serde::from_slice::<Action<IgnoredAny>>(action), move_id) {
                    (Ok(Action::Move { seat, .. }), Some(id)) => self.0.push((seat, *id, seq)),
                    (Ok(Action::Tick { inputs }), _) => {
                        let seats = inputs.iter().map(|(seat, _)| *seat);
                        self.0.extend(seats.zip(input_ids).map(|(seat, id)| (seat, *id, seq)));
                    }
                    _ => {}
                }
            }
            Record::Left { seat } => self.forget(*seat),
            _ => {}
        }
    }

    /// Notes a record replayed under the rules.
    fn note_body(&mut self, seq: u64, body: &EventBody) {
        match body {
            EventBody::Move(mv) => self.0.push((mv.seat, mv.move_id, seq)),
            EventBody::Tick(tick) => {
                let ids = tick.inputs.iter().filter_map(|i| Some((i.seat, i.move_id?, seq)));
                self.0.extend(ids);
            }
            EventBody::Left(left) => self.forget(left.seat),
            _ => {}
        }
    }

    /// A seat given up (as a fork frees its seats) forgets its holder's move ids, so the next
    /// holder's ids start afresh.
    fn forget(&mut self, seat: Seat) {
        self.0.retain(|a| a.0 != seat);
    }
}

/// How a room was loaded, for the driver's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Where the replay began.
    pub start: Origin,
    /// How many records were applied under the rules.
    pub replayed: u64,
}

impl Room {
    /// The room of `match_id` at the end of `records` (its whole log, from seq 0), resumed
    /// from `snapshot` when the log confirms it.
    pub fn load(
        match_id: &str,
        records: &[StoredRecord],
        snapshot: Option<&StateSnapshot>,
        settings: RoomSettings,
        now_ms: u64,
    ) -> Result<(Room, Loaded), ReplayError> {
        let cap = settings.history_cap;
        // Only the last `cap` events are kept, so only they need their hash and status.
        let keep_from = (records.len() as u64).saturating_sub(cap as u64);
        let mut history = VecDeque::with_capacity(cap.min(4096));
        let accepted = RefCell::new(Accepted::default());
        let mut replayed = 0;
        let (m, start) = replay_from(
            &settings.games,
            records,
            snapshot,
            |seq, record| accepted.borrow_mut().note(seq, record),
            |seq, body, state| {
                replayed += 1;
                accepted.borrow_mut().note_body(seq, &body);
                if seq >= keep_from {
                    history.push_back(event_of(match_id, seq, body, state));
                }
            },
        )?;
        let mut room = Room::restore(match_id.to_string(), m, history.into(), settings, now_ms);
        for (seat, move_id, seq) in accepted.into_inner().0 {
            room.remember_accepted(seat, move_id, seq);
        }
        room.resumed_from(match start {
            Origin::Snapshot(seq) => seq,
            Origin::Creation => 0,
        });
        Ok((room, Loaded { start, replayed }))
    }
}
