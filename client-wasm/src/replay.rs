//! A match's history to step through: the state after any event, rebuilt with the rules and
//! checked against the hash the server recorded. A live match's later events can be pushed.

use game_rules::{Games, Viewer};
use protocol::v1::Event;
use protocol::{Replica, ReplicaError};

use crate::view::{StateView, state_view};

/// Events in order from 0, and a replica positioned somewhere among them.
pub struct Replay {
    events: Vec<Event>,
    replica: Replica,
}

/// Why a replay cannot be built or moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The list is empty, does not start at 0, or skips.
    #[error("events must start at 0 and follow each other: {0}")]
    Order(String),
    /// `seq` is past the last event.
    #[error("event {seq} is past the last one, {head}")]
    PastHead {
        /// Asked for.
        seq: u64,
        /// The last one held.
        head: u64,
    },
    /// The rules could not reproduce an event.
    #[error(transparent)]
    Replica(#[from] ReplicaError),
}

impl Replay {
    /// A replay of `events` of a match of one of `games`; they must start at 0 and have no
    /// gaps.
    pub fn new(games: Games, events: Vec<Event>) -> Result<Replay, ReplayError> {
        let Some(first) = events.first() else {
            return Err(ReplayError::Order("no events".into()));
        };
        if first.seq != 0 {
            return Err(ReplayError::Order(format!("the first is {}", first.seq)));
        }
        if let Some(w) = events.windows(2).find(|w| w[1].seq != w[0].seq + 1) {
            return Err(ReplayError::Order(format!("{} follows {}", w[1].seq, w[0].seq)));
        }
        Ok(Replay { events, replica: Replica::new(games) })
    }

    /// The last seq held.
    pub fn head(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq)
    }

    /// The events held.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Appends the next event of a live match; an event already held is ignored.
    pub fn push(&mut self, event: Event) -> Result<(), ReplayError> {
        let head = self.head();
        if event.seq <= head {
            return Ok(());
        }
        if event.seq != head + 1 {
            return Err(ReplayError::Order(format!("{} follows {head}", event.seq)));
        }
        self.events.push(event);
        Ok(())
    }

    /// The state after event `seq`. Moving forward reduces only the events between; moving
    /// back replays from event 0 (a match's log is short next to what the rules do per event).
    pub fn at(&mut self, seq: u64) -> Result<StateView, ReplayError> {
        let head = self.head();
        if seq > head {
            return Err(ReplayError::PastHead { seq, head });
        }
        if self.replica.last_seq().is_some_and(|last| last > seq) {
            self.replica = self.replica.restarted();
        }
        let from = self.replica.last_seq().map_or(0, |last| last + 1);
        for event in &self.events[from as usize..=seq as usize] {
            if let Err(e) = self.replica.apply(event) {
                self.replica = self.replica.restarted();
                return Err(e.into());
            }
        }
        state_view(&self.replica, Viewer::Spectator)
            .ok_or_else(|| ReplayError::Order("event 0 is not a creation".into()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testlog::{Log, edge};

    /// A finished 2×1 match: every edge drawn in a fixed order, each by the seat to move.
    fn finished() -> Log {
        let mut log = Log::new();
        let edges = [
            ("h", 0, 0),
            ("h", 1, 0),
            ("h", 0, 1),
            ("h", 1, 1),
            ("v", 0, 0),
            ("v", 1, 0),
            ("v", 2, 0),
        ];
        for (n, (dir, x, y)) in edges.into_iter().enumerate() {
            let seat = match log.state.status() {
                game_rules::Status::Turn(seat) => seat,
                other => panic!("the match ended early: {other:?}"),
            };
            log.play(seat, edge(dir, x, y), n as u64);
        }
        assert!(log.state.status().is_over());
        log
    }

    #[test]
    fn refuses_lists_that_do_not_start_at_zero_or_skip() {
        let log = finished();
        assert!(matches!(
            Replay::new(builtin_games::games(), Vec::new()),
            Err(ReplayError::Order(_))
        ));
        assert!(matches!(
            Replay::new(builtin_games::games(), log.events[1..].to_vec()),
            Err(ReplayError::Order(_))
        ));
        let mut gapped = log.events.clone();
        gapped.remove(4);
        assert!(matches!(Replay::new(builtin_games::games(), gapped), Err(ReplayError::Order(_))));
        let mut replay = Replay::new(builtin_games::games(), log.events.clone()).expect("whole");
        assert_eq!(replay.at(99), Err(ReplayError::PastHead { seq: 99, head: 9 }));
    }

    #[test]
    fn a_changed_event_is_caught_by_its_hash() {
        let mut events = finished().events;
        events[5].state_hash = game_rules::StateHash(events[5].state_hash.0 ^ 1);
        let mut replay = Replay::new(builtin_games::games(), events).expect("ordered");
        assert!(replay.at(4).is_ok());
        assert!(matches!(
            replay.at(5),
            Err(ReplayError::Replica(ReplicaError::Desync { seq: 5, .. }))
        ));
    }

    #[test]
    fn a_live_match_grows_by_push() {
        let log = finished();
        let mut replay =
            Replay::new(builtin_games::games(), log.events[..4].to_vec()).expect("ordered");
        assert_eq!(replay.head(), 3);
        replay.push(log.events[3].clone()).expect("a repeat is ignored");
        assert!(matches!(replay.push(log.events[5].clone()), Err(ReplayError::Order(_))));
        replay.push(log.events[4].clone()).expect("the next one");
        assert_eq!(replay.at(4).map(|s| s.state_hash), Ok(log.events[4].state_hash));
    }

    proptest! {
        /// Seeking anywhere, in any order, gives the state the server recorded there.
        #[test]
        fn any_seek_order_reproduces_the_recorded_hashes(seeks in prop::collection::vec(0u64..10, 1..30)) {
            let log = finished();
            let mut replay = Replay::new(builtin_games::games(), log.events.clone()).expect("ordered");
            for seq in seeks {
                let state = replay.at(seq).expect("reduces");
                prop_assert_eq!(state.seq, seq);
                prop_assert_eq!(state.state_hash, log.events[seq as usize].state_hash);
                prop_assert_eq!(&state.status, &log.events[seq as usize].status);
            }
        }
    }
}
