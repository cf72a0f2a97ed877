//! A client's local copy of a match: it reduces the wire events with the real rules and checks
//! every state hash, so any divergence from the server is caught at the event that caused it.

use game_rules::{DynMatch, find_game};
use protocol::v1::{Event, EventBody};

/// Why an event could not be reduced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaError {
    /// Events skip or repeat.
    Gap {
        /// The last seq reduced.
        last: u64,
        /// The seq received.
        got: u64,
    },
    /// The creation names a game or config this build cannot start.
    Start(String),
    /// The rules refused an event the server applied.
    Refused {
        /// The event.
        seq: u64,
        /// The rules' reason.
        reason: String,
    },
    /// The local state hash differs from the server's.
    Desync {
        /// The event.
        seq: u64,
        /// Ours.
        local: String,
        /// The server's.
        server: String,
    },
}

impl std::fmt::Display for ReplicaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplicaError::Gap { last, got } => write!(f, "event {got} follows {last}"),
            ReplicaError::Start(why) => write!(f, "cannot start the match: {why}"),
            ReplicaError::Refused { seq, reason } => {
                write!(f, "the rules refused event {seq}: {reason}")
            }
            ReplicaError::Desync { seq, local, server } => {
                write!(f, "desync at event {seq}: local {local}, server {server}")
            }
        }
    }
}

impl std::error::Error for ReplicaError {}

/// The local copy.
#[derive(Default)]
pub struct Replica {
    state: Option<Box<dyn DynMatch>>,
    last: Option<u64>,
}

fn encode(value: &rmpv::Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing a decoded value into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut bytes, value);
    bytes
}

impl Replica {
    /// An empty replica, waiting for event 0.
    pub fn new() -> Replica {
        Replica::default()
    }

    /// The match as reduced so far (after event 0).
    pub fn state(&self) -> Option<&dyn DynMatch> {
        self.state.as_deref()
    }

    /// The last seq reduced.
    pub fn last_seq(&self) -> Option<u64> {
        self.last
    }

    /// Reduces the next event and checks its hash.
    pub fn apply(&mut self, event: &Event) -> Result<(), ReplicaError> {
        if let Some(last) = self.last
            && event.seq != last + 1
        {
            return Err(ReplicaError::Gap { last, got: event.seq });
        }
        let refused = |reason: game_rules::RuleError| ReplicaError::Refused {
            seq: event.seq,
            reason: reason.to_string(),
        };
        match &event.body {
            Some(EventBody::Created(c)) => {
                let game = find_game(&c.game)
                    .ok_or_else(|| ReplicaError::Start(format!("unknown game {}", c.game)))?;
                let state = game
                    .new_match(&encode(&c.config), c.seed)
                    .map_err(|e| ReplicaError::Start(e.to_string()))?;
                self.state = Some(state);
            }
            Some(EventBody::Move(m)) => {
                if let Some(state) = self.state.as_mut() {
                    state.play(m.seat, &encode(&m.mv)).map_err(refused)?;
                }
            }
            Some(EventBody::Tick(t)) => {
                if let Some(state) = self.state.as_mut() {
                    let inputs: Vec<_> = t.inputs.iter().map(|i| (i.seat, encode(&i.mv))).collect();
                    state.tick(&inputs).map_err(refused)?;
                }
            }
            Some(EventBody::Seated(_)) | None => {}
        }
        self.last = Some(event.seq);
        match &self.state {
            Some(state) if state.state_hash() != event.state_hash => Err(ReplicaError::Desync {
                seq: event.seq,
                local: state.state_hash().to_string(),
                server: event.state_hash.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

/// Replays a saved event list; returns the seq of the first event that does not reduce.
pub fn first_desync(events: &[Event]) -> Option<u64> {
    let mut replica = Replica::new();
    events.iter().find(|e| replica.apply(e).is_err()).map(|e| e.seq)
}
