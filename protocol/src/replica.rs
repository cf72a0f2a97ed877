//! A client's local copy of a match: it reduces the wire events with the real rules and checks
//! every state hash, so any divergence from the server is caught at the event that caused it.
//! The one event reducer of every client: the browser client, the bots and the test harness.

use game_rules::{DynMatch, Games, StateHash, Status};

use crate::v1::{Created, Event, EventBody, Seated, Snapshot, Value};

/// Why an event could not be reduced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaError {
    /// Events skip or repeat.
    #[error("event {got} follows {last}")]
    Gap {
        /// The last seq reduced.
        last: u64,
        /// The seq received.
        got: u64,
    },
    /// The first event is not the creation, or the creation names a game or config this build
    /// cannot start.
    #[error("cannot start the match: {0}")]
    Start(String),
    /// The rules refused an event the server applied.
    #[error("the rules refused event {seq}: {reason}")]
    Refused {
        /// The event.
        seq: u64,
        /// The rules' reason.
        reason: String,
    },
    /// The local state hash differs from the server's.
    #[error("desync at event {seq}: local {local}, server {server}")]
    Desync {
        /// The event.
        seq: u64,
        /// Ours.
        local: String,
        /// The server's.
        server: String,
    },
}

/// A seat's last move, as the log recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct LastMove {
    /// The event that recorded it.
    pub seq: u64,
    /// Who moved.
    pub seat: u8,
    /// The move, in the game's canonical form.
    pub mv: Value,
}

/// The local copy.
pub struct Replica {
    /// The games this client knows: event 0 names one of them.
    games: Games,
    state: Option<Box<dyn DynMatch>>,
    last: Option<u64>,
    seats: Vec<Option<Seated>>,
    last_move: Option<LastMove>,
    /// Once the game hides events from this viewer (a hidden-information game), the last
    /// view, status and hash the server sent, trusted as sent: there is no action to reduce.
    hidden: Option<(Value, Status, StateHash)>,
    /// Set when the match ended outside the rules (a resignation or a cancellation): the
    /// final status, as the event that ended it said.
    ended: Option<Status>,
}

/// Encodes a wire value as the MessagePack the rules take.
pub fn encode_value(value: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing a decoded value into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut bytes, value);
    bytes
}

/// Decodes the MessagePack the rules return as a wire value (`Nil` if it does not decode,
/// which the rules' own encoder never produces).
pub fn decode_value(bytes: &[u8]) -> Value {
    rmpv::decode::read_value(&mut &bytes[..]).unwrap_or(Value::Nil)
}

impl Replica {
    /// An empty replica of a match of one of `games`, waiting for event 0.
    pub fn new(games: Games) -> Replica {
        Replica {
            games,
            state: None,
            last: None,
            seats: Vec::new(),
            last_move: None,
            hidden: None,
            ended: None,
        }
    }

    /// An empty replica of the same games, for starting again from event 0.
    pub fn restarted(&self) -> Replica {
        Replica::new(self.games.clone())
    }

    /// A replica that starts from a snapshot instead of event 0, as a hidden-information game
    /// catches up: it trusts the snapshot's view and every later event's view and hash.
    pub fn from_snapshot(games: Games, snapshot: &Snapshot) -> Result<Replica, ReplicaError> {
        let state = start(&games, &snapshot.created)?;
        let mut replica = Replica { state: Some(state), ..Replica::new(games) };
        replica.seats = vec![None; usize::from(snapshot.created.seats)];
        replica.last = Some(snapshot.seq);
        replica.hidden =
            Some((snapshot.view.clone(), snapshot.status.clone(), snapshot.state_hash));
        Ok(replica)
    }

    /// The match as reduced so far (after event 0).
    pub fn state(&self) -> Option<&dyn DynMatch> {
        self.state.as_deref()
    }

    /// The last seq reduced.
    pub fn last_seq(&self) -> Option<u64> {
        self.last
    }

    /// Who sits where, by seat (`None`: free), as the `seated` events said.
    pub fn seats(&self) -> &[Option<Seated>] {
        &self.seats
    }

    /// The last move applied.
    pub fn last_move(&self) -> Option<&LastMove> {
        self.last_move.as_ref()
    }

    /// Where the match stands: the rules' status, unless a resignation or a cancellation
    /// ended it (or, for a game that hides events, as the server last said).
    pub fn status(&self) -> Option<Status> {
        if let Some((_, status, _)) = &self.hidden {
            return Some(status.clone());
        }
        self.ended.clone().or_else(|| self.state.as_ref().map(|s| s.status()))
    }

    /// The server's view after the last hidden event, for a game that hides events.
    pub fn hidden_view(&self) -> Option<&(Value, Status, StateHash)> {
        self.hidden.as_ref()
    }

    /// Reduces the next event and checks its hash.
    pub fn apply(&mut self, event: &Event) -> Result<(), ReplicaError> {
        match self.last {
            Some(last) if event.seq != last + 1 => {
                return Err(ReplicaError::Gap { last, got: event.seq });
            }
            None if event.seq != 0 => return Err(ReplicaError::Gap { last: 0, got: event.seq }),
            _ => {}
        }
        self.reduce(event)?;
        self.last = Some(event.seq);
        match &self.state {
            Some(state) if self.hidden.is_none() && state.state_hash() != event.state_hash => {
                Err(ReplicaError::Desync {
                    seq: event.seq,
                    local: state.state_hash().to_string(),
                    server: event.state_hash.to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    fn reduce(&mut self, event: &Event) -> Result<(), ReplicaError> {
        let refused = |reason: game_rules::RuleError| ReplicaError::Refused {
            seq: event.seq,
            reason: reason.to_string(),
        };
        match &event.body {
            Some(EventBody::Created(c)) => {
                self.state = Some(start(&self.games, c)?);
                self.seats = vec![None; usize::from(c.seats)];
                self.hidden = None;
                self.ended = None;
            }
            _ if self.state.is_none() => {
                return Err(ReplicaError::Start(format!(
                    "event {} came before event 0",
                    event.seq
                )));
            }
            Some(EventBody::Seated(s)) => {
                if let Some(slot) = self.seats.get_mut(usize::from(s.seat)) {
                    *slot = Some(s.clone());
                }
            }
            Some(EventBody::Move(m)) => {
                if let Some(state) = self.state.as_mut() {
                    state.play(m.seat, m.mv.as_bytes()).map_err(refused)?;
                }
                let mv = m.mv.to_value();
                self.last_move = Some(LastMove { seq: event.seq, seat: m.seat, mv });
            }
            Some(EventBody::Tick(t)) => {
                if let Some(state) = self.state.as_mut() {
                    let inputs: Vec<_> =
                        t.inputs.iter().map(|i| (i.seat, encode_value(&i.mv))).collect();
                    state.tick(&inputs).map_err(refused)?;
                }
            }
            Some(EventBody::Left(l)) => {
                if let Some(slot) = self.seats.get_mut(usize::from(l.seat)) {
                    *slot = None;
                }
            }
            Some(EventBody::Resigned(_) | EventBody::Cancelled(_) | EventBody::Forfeited(_)) => {
                self.ended = Some(event.status.clone());
            }
            None => {
                let view = event.view.clone().unwrap_or(Value::Nil);
                self.hidden = Some((view, event.status.clone(), event.state_hash));
            }
        }
        Ok(())
    }
}

/// The initial state a creation record describes.
fn start(games: &Games, created: &Created) -> Result<Box<dyn DynMatch>, ReplicaError> {
    let game = games
        .find(&created.game)
        .ok_or_else(|| ReplicaError::Start(format!("unknown game {}", created.game)))?;
    game.new_match(&encode_value(&created.config), created.seed)
        .map_err(|e| ReplicaError::Start(e.to_string()))
}

/// Replays a saved event list; returns the seq of the first event that does not reduce.
pub fn first_desync(games: Games, events: &[Event]) -> Option<u64> {
    let mut replica = Replica::new(games);
    events.iter().find(|e| replica.apply(e).is_err()).map(|e| e.seq)
}
