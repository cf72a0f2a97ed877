//! Rebuilding a match from its log: the one place records become states. Room loading,
//! catch-up from old seqs, `GET /state?at=` and log verification all go through [`MatchState`].

use game_rules::{Action, DynGame, DynMatch, Games, Outcome, Seat, StateHash, Status, Viewer};
use protocol::v1::{
    Cancelled, Created, Event, EventBody, Forfeited, Left, MoveEvent, RawValue, Resigned, Seated,
    Tick, TickInput, Value,
};

use serde::{Deserialize, Serialize};

use crate::storage::{
    Lobby, MatchStatus, MatchSummary, Record, RecordError, SeatHolder, StateSnapshot, StoredRecord,
    TurnTimer,
};

/// Why a log does not replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The match has no records.
    #[error("the match has no records")]
    Empty,
    /// Record 0 is not a creation record.
    #[error("record 0 is not a creation record")]
    NoCreation,
    /// A record does not decode.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The game is not registered in this build.
    #[error("game {0:?} is not registered in this build")]
    UnknownGame(String),
    /// The config no longer starts a match.
    #[error("the recorded config is refused: {0}")]
    Config(String),
    /// A recorded action is refused by the current rules.
    #[error("record {seq} is refused by the current rules: {reason}")]
    Rules {
        /// The record's seq.
        seq: u64,
        /// The rules' complaint.
        reason: String,
    },
    /// Sequence numbers skip or repeat.
    #[error("record {got} follows record {head}")]
    Gap {
        /// The head before it.
        head: u64,
        /// The record's seq.
        got: u64,
    },
    /// A seat record names a seat the match does not have.
    #[error("record {seq} seats a player at seat {seat}, which does not exist")]
    BadSeat {
        /// The record's seq.
        seq: u64,
        /// The seat.
        seat: Seat,
    },
}

/// A match as its log says it stands: rules state, seats and head.
pub struct MatchState {
    /// The game.
    pub game: &'static dyn DynGame,
    /// Event 0, in wire form.
    pub created: Created,
    /// When it was created (Unix ms).
    pub created_at_ms: u64,
    /// The rules state.
    pub state: Box<dyn DynMatch>,
    /// Who sits where.
    pub seats: Vec<Option<SeatHolder>>,
    /// The last seq applied.
    pub head: u64,
    /// Its creator and, if private, its join code.
    pub lobby: Lobby,
    /// Its own turn timer, if it has one.
    pub timer: Option<TurnTimer>,
    /// When the current turn started (Unix ms), from the times the room logged.
    pub turn_started_ms: Option<u64>,
    /// Time each seat has spent on its turns so far, in ms, from the times the room logged
    /// (a match timer's total clock).
    pub used_ms: Vec<u64>,
    /// How the match ended outside the rules (a resignation or a cancellation), if it did.
    pub ended: Option<Outcome>,
}

/// Decodes stored game bytes into a wire value. Game encodings are our own MessagePack, so a
/// failure here is a corrupt record.
pub fn to_value(bytes: &[u8]) -> Value {
    rmpv::decode::read_value(&mut &bytes[..]).unwrap_or(Value::Nil)
}

impl MatchState {
    /// Starts a match from its creation record.
    pub fn create(games: &Games, record: &Record) -> Result<MatchState, ReplayError> {
        let Record::Created {
            game,
            rules_version,
            config,
            seed,
            seats,
            created_at_ms,
            lobby,
            timer,
        } = record
        else {
            return Err(ReplayError::NoCreation);
        };
        let found = games.find(game).ok_or_else(|| ReplayError::UnknownGame(game.clone()))?;
        let state =
            found.new_match(config, *seed).map_err(|e| ReplayError::Config(e.to_string()))?;
        let created = Created {
            game: game.clone(),
            rules_version: *rules_version,
            config: to_value(config),
            seed: *seed,
            seats: *seats,
        };
        Ok(MatchState {
            game: found,
            created,
            created_at_ms: *created_at_ms,
            seats: vec![None; usize::from(*seats)],
            state,
            head: 0,
            lobby: lobby.clone(),
            timer: *timer,
            turn_started_ms: None,
            used_ms: vec![0; usize::from(*seats)],
            ended: None,
        })
    }

    /// Applies the record at `head + 1` and returns its wire body.
    pub fn apply(&mut self, seq: u64, record: &Record) -> Result<EventBody, ReplayError> {
        if seq != self.head + 1 {
            return Err(ReplayError::Gap { head: self.head, got: seq });
        }
        let mover = self.mover();
        let body = self.apply_body(seq, record)?;
        if let Some(at_ms) = record.at_ms() {
            self.note_time(at_ms, mover);
        }
        self.head = seq;
        Ok(body)
    }

    /// The seat whose turn it is in a started, unfinished turn-based match.
    pub fn mover(&self) -> Option<Seat> {
        let started = self.seats.iter().all(Option::is_some);
        match self.status() {
            Status::Turn(seat) if started => Some(seat),
            _ => None,
        }
    }

    /// A record decided at `at_ms` ended the turn of `mover` (if a turn was running): charge
    /// its time to that seat, and start the next turn then.
    pub fn note_time(&mut self, at_ms: u64, mover: Option<Seat>) {
        if let (Some(seat), Some(start)) = (mover, self.turn_started_ms)
            && let Some(used) = self.used_ms.get_mut(usize::from(seat))
        {
            *used += at_ms.saturating_sub(start);
        }
        self.turn_started_ms = Some(at_ms);
    }

    fn apply_body(&mut self, seq: u64, record: &Record) -> Result<EventBody, ReplayError> {
        let body = match record {
            Record::Created { .. } => return Err(ReplayError::Gap { head: self.head, got: 0 }),
            Record::Seated { seat, player_id, name, bot, .. } => {
                let slot = self
                    .seats
                    .get_mut(usize::from(*seat))
                    .ok_or(ReplayError::BadSeat { seq, seat: *seat })?;
                *slot = Some(SeatHolder {
                    player_id: player_id.clone(),
                    name: name.clone(),
                    bot: *bot,
                });
                EventBody::Seated(Seated {
                    seat: *seat,
                    player_id: player_id.clone(),
                    name: name.clone(),
                })
            }
            Record::Action { action, move_id, input_ids, .. } => {
                let rules =
                    |e: game_rules::RuleError| ReplayError::Rules { seq, reason: e.to_string() };
                self.state.apply_action(action).map_err(rules)?;
                wire_action(action, *move_id, input_ids)
            }
            Record::Left { seat } => {
                let slot = self.seats.get_mut(usize::from(*seat));
                let holder =
                    slot.and_then(Option::take).ok_or(ReplayError::BadSeat { seq, seat: *seat })?;
                EventBody::Left(Left { seat: *seat, player_id: holder.player_id })
            }
            Record::Resigned { seat } => {
                self.ended = Some(self.resignation(seq, *seat)?);
                EventBody::Resigned(Resigned { seat: *seat })
            }
            Record::Forfeited { seat, .. } => {
                self.ended = Some(self.resignation(seq, *seat)?);
                EventBody::Forfeited(Forfeited { seat: *seat })
            }
            Record::Cancelled => {
                let nobody = Outcome { scores: vec![0; self.seats.len()], winners: Vec::new() };
                self.ended = Some(nobody);
                let player_id = self.lobby.creator.clone().unwrap_or_default();
                EventBody::Cancelled(Cancelled { player_id })
            }
        };
        Ok(body)
    }

    /// The result of `seat` resigning (or forfeiting): every other seat wins, scoring 1; the resigner
    /// scores 0. (A match of any number of seats ends at the first resignation.)
    fn resignation(&self, seq: u64, seat: Seat) -> Result<Outcome, ReplayError> {
        if usize::from(seat) >= self.seats.len() {
            return Err(ReplayError::BadSeat { seq, seat });
        }
        let seats = 0..self.seats.len() as Seat;
        Ok(Outcome {
            scores: seats.clone().map(|s| i64::from(s != seat)).collect(),
            winners: seats.filter(|s| *s != seat).collect(),
        })
    }

    /// Where the match stands: the rules' status, unless it ended outside the rules.
    pub fn status(&self) -> Status {
        match &self.ended {
            Some(outcome) => Status::Over(outcome.clone()),
            None => self.state.status(),
        }
    }

    /// The match's listing as it stands.
    pub fn summary(&self, match_id: &str) -> MatchSummary {
        let outcome = match self.status() {
            Status::Over(outcome) => Some(outcome),
            _ => None,
        };
        MatchSummary {
            match_id: match_id.to_string(),
            game: self.created.game.clone(),
            status: self.listing_status(),
            seats: self.seats.clone(),
            head_seq: self.head,
            created_at_ms: self.created_at_ms,
            outcome,
            private: self.lobby.code.is_some(),
            timer: self.timer,
            forked_from: self.lobby.origin.clone(),
        }
    }

    /// The match's listing status.
    pub fn listing_status(&self) -> MatchStatus {
        if self.status().is_over() {
            MatchStatus::Finished
        } else if self.seats.iter().all(Option::is_some) {
            MatchStatus::Live
        } else {
            MatchStatus::Open
        }
    }

    /// The seat a player holds, if any.
    pub fn seat_of(&self, player_id: &str) -> Option<Seat> {
        self.seats
            .iter()
            .position(|s| s.as_ref().is_some_and(|h| h.player_id == player_id))
            .map(|i| i as Seat)
    }

    /// The hash, status and (for hidden-information games) view that go with an event.
    ///
    /// For a hidden-information game the hash is xxh3-64 of the viewer's view encoding, not of
    /// the full state: a full-state hash would let a client test guesses about hidden facts.
    pub fn observe(&self, viewer: Viewer) -> (StateHash, Status, Option<Value>) {
        if self.state.is_public() {
            return (self.state.state_hash(), self.status(), None);
        }
        let view = self.state.view(viewer);
        (view_hash(&view), self.status(), Some(to_value(&view)))
    }

    /// The hash a viewer is shown with a snapshot (see [`MatchState::observe`]).
    pub fn hash_for(&self, viewer: Viewer) -> StateHash {
        self.observe(viewer).0
    }
}

/// The wire event of the record at `seq`, as a spectator sees it with `state` after it: a
/// hidden-information game's moves and ticks are not shown, only their hash and status.
pub fn event_of(match_id: &str, seq: u64, body: EventBody, state: &MatchState) -> Event {
    let (state_hash, status, _) = state.observe(Viewer::Spectator);
    let public = state.state.is_public();
    let keep = public || !matches!(body, EventBody::Move(_) | EventBody::Tick(_));
    let body = keep.then_some(body);
    Event { match_id: match_id.to_string(), seq, state_hash, status, body, view: None }
}

/// The hash of an encoded view, for hidden-information games.
pub fn view_hash(view: &[u8]) -> StateHash {
    let mut hasher = game_rules::StateHasher::new();
    hasher.write_bytes(view);
    hasher.finish()
}

/// The wire body of an encoded `game_rules::Action`.
pub fn wire_action(action: &[u8], move_id: Option<u64>, input_ids: &[u64]) -> EventBody {
    if let Some((seat, mv)) = protocol::direct::move_action(action) {
        return EventBody::Move(MoveEvent { seat, mv, move_id: move_id.unwrap_or(0) });
    }
    match rmp_serde::from_slice::<Action<RawValue>>(action) {
        Ok(Action::Move { seat, mv }) => {
            EventBody::Move(MoveEvent { seat, mv, move_id: move_id.unwrap_or(0) })
        }
        Ok(Action::Tick { inputs }) => EventBody::Tick(Tick {
            inputs: (inputs.into_iter().enumerate())
                .map(|(i, (seat, mv))| TickInput {
                    seat,
                    mv: mv.to_value(),
                    move_id: input_ids.get(i).copied(),
                })
                .collect(),
        }),
        // `apply_action` decoded these bytes already, so this is unreachable in practice.
        Err(_) => EventBody::Tick(Tick { inputs: Vec::new() }),
    }
}

/// A snapshot's payload: the rules state and the turn clocks at its seq. Seats, lobby and
/// endings are not in it: the records give them back without the rules, cheaply.
#[derive(Serialize, Deserialize)]
struct Resumable {
    #[serde(with = "serde_bytes")]
    rules: Vec<u8>,
    used_ms: Vec<u64>,
    turn_started_ms: Option<u64>,
}

impl MatchState {
    /// A snapshot of the match as it stands, if its game keeps snapshots.
    pub fn snapshot(&self, match_id: &str) -> Option<StateSnapshot> {
        let payload = Resumable {
            rules: self.state.snapshot()?,
            used_ms: self.used_ms.clone(),
            turn_started_ms: self.turn_started_ms,
        };
        Some(StateSnapshot {
            match_id: match_id.to_string(),
            seq: self.head,
            rules_version: self.game.info().rules_version,
            state_hash: self.state.state_hash().0,
            state: rmp_serde::to_vec_named(&payload).ok()?,
        })
    }

    /// Applies the record at `head + 1` without the rules: seats, lobby and endings move on,
    /// the rules state and the turn clocks do not (a snapshot replaces them afterwards).
    fn apply_meta(&mut self, seq: u64, record: &Record) -> Result<(), ReplayError> {
        if seq != self.head + 1 {
            return Err(ReplayError::Gap { head: self.head, got: seq });
        }
        if !matches!(record, Record::Action { .. }) {
            self.apply_body(seq, record)?;
        }
        self.head = seq;
        Ok(())
    }

    /// The rules state and clocks of `snapshot`, if the log confirms it: taken by this rules
    /// version, restoring to the hash the log recorded at its seq.
    fn resume_point(
        &self,
        records: &[StoredRecord],
        snapshot: &StateSnapshot,
    ) -> Result<(Box<dyn DynMatch>, Resumable), String> {
        let seq = usize::try_from(snapshot.seq).map_err(|e| e.to_string())?;
        if seq == 0 || records.get(seq).is_none_or(|r| r.seq != snapshot.seq) {
            return Err(format!("the log has no record {}", snapshot.seq));
        }
        if snapshot.rules_version != self.game.info().rules_version {
            return Err(format!("taken under rules version {}", snapshot.rules_version));
        }
        let recorded = recorded_hash(&records[1..=seq])?;
        if recorded != snapshot.state_hash {
            return Err(format!("the log recorded {recorded:016x} at or before its seq"));
        }
        let payload: Resumable =
            rmp_serde::from_slice(&snapshot.state).map_err(|e| e.to_string())?;
        let state = self
            .game
            .restore_match(&self.state.config(), &payload.rules)
            .map_err(|e| e.to_string())?;
        if state.state_hash().0 != snapshot.state_hash || payload.used_ms.len() != self.seats.len()
        {
            return Err("it restores to another state".into());
        }
        Ok((state, payload))
    }
}

/// The rules state's hash the log recorded last among `records`.
fn recorded_hash(records: &[StoredRecord]) -> Result<u64, String> {
    for stored in records.iter().rev() {
        if let Record::Action { state_hash, .. } =
            Record::decode(stored.seq, &stored.bytes).map_err(|e| e.to_string())?
        {
            return state_hash.ok_or_else(|| "its action record has no hash".into());
        }
    }
    Err("no action precedes it".into())
}

/// How a replay began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// From record 0.
    Creation,
    /// From the snapshot at this seq.
    Snapshot(u64),
}

/// Replays a log as [`replay`] does, from `snapshot` when the log confirms it: the records up
/// to its seq are applied without the rules (`skipped` sees each), the rules state and turn
/// clocks come from the snapshot, and `each` sees only the records after it. A snapshot the
/// log does not confirm is set aside with a warning and the whole log replays.
pub fn replay_from(
    games: &Games,
    records: &[StoredRecord],
    snapshot: Option<&StateSnapshot>,
    mut skipped: impl FnMut(u64, &Record),
    mut each: impl FnMut(u64, EventBody, &MatchState),
) -> Result<(MatchState, Origin), ReplayError> {
    let first = records.first().ok_or(ReplayError::Empty)?;
    if first.seq != 0 {
        return Err(ReplayError::NoCreation);
    }
    let mut state = MatchState::create(games, &Record::decode(0, &first.bytes)?)?;
    let resumed = snapshot.and_then(|snap| match state.resume_point(records, snap) {
        Ok(point) => Some((snap.seq, point)),
        Err(reason) => {
            tracing::warn!(match_id = %snap.match_id, seq = snap.seq, %reason, "snapshot not used");
            None
        }
    });
    let (start, tail) = match resumed {
        Some((seq, (rules, payload))) => {
            let upto = (seq as usize) + 1;
            for stored in &records[1..upto] {
                let record = Record::decode(stored.seq, &stored.bytes)?;
                state.apply_meta(stored.seq, &record)?;
                skipped(stored.seq, &record);
            }
            state.state = rules;
            state.used_ms = payload.used_ms;
            state.turn_started_ms = payload.turn_started_ms;
            (Origin::Snapshot(seq), &records[upto..])
        }
        None => {
            each(0, EventBody::Created(state.created.clone()), &state);
            (Origin::Creation, &records[1..])
        }
    };
    for stored in tail {
        let record = Record::decode(stored.seq, &stored.bytes)?;
        let body = state.apply(stored.seq, &record)?;
        each(stored.seq, body, &state);
    }
    Ok((state, start))
}

/// Replays a whole log, calling `each` after every record (the creation included) with its
/// seq, wire body and the state after it.
pub fn replay(
    games: &Games,
    records: &[StoredRecord],
    each: impl FnMut(u64, EventBody, &MatchState),
) -> Result<MatchState, ReplayError> {
    Ok(replay_from(games, records, None, |_, _| {}, each)?.0)
}

/// A match's listing, rebuilt from its whole log under `games` (the projections use it to
/// catch up).
pub fn summarize(
    games: &Games,
    match_id: &str,
    records: &[StoredRecord],
) -> Result<MatchSummary, String> {
    Ok(replay(games, records, |_, _, _| {}).map_err(|e| e.to_string())?.summary(match_id))
}

/// [`summarize`] under `games`, as the disk log takes it.
pub fn summarizer(games: &Games) -> crate::storage::Summarize {
    let games = games.clone();
    std::sync::Arc::new(move |id, records| summarize(&games, id, records))
}
