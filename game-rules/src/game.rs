//! The `Game` trait and the vocabulary shared by every game: seats, viewers, status, errors.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::hash::StateHasher;

/// A seat at the table, numbered from 0.
pub type Seat = u8;

/// Who is looking at a state: a seated player, or a spectator who may see only public facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Viewer {
    /// The player in this seat.
    Seat(Seat),
    /// Anyone else.
    Spectator,
}

/// How a game advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Each accepted move is applied at once and becomes one event.
    Turns,
    /// Moves are validated on arrival, gathered, and applied together by [`Game::tick`]
    /// `tick_hz` times a second of the room's clock; each tick is one event.
    RealTime {
        /// Ticks per second: tick n of a run of the clock is due `n × 1000 / tick_hz` ms after
        /// it started.
        tick_hz: u32,
    },
}

/// The final result of a match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Outcome {
    /// One score per seat, in seat order.
    pub scores: Vec<i64>,
    /// The seats with the best result: one seat for a win, several for a tie.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<u8>))]
    pub winners: Vec<Seat>,
}

/// Where a match stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not started: a real-time game counting down, say. (Empty seats are the lobby's concern.)
    Waiting,
    /// This seat must move.
    #[cfg_attr(feature = "openapi", schema(value_type = u8))]
    Turn(Seat),
    /// Every seat may move; moves are applied at the next tick.
    Simultaneous,
    /// Finished, with its result.
    Over(Outcome),
}

impl Status {
    /// Whether the match has finished.
    pub fn is_over(&self) -> bool {
        matches!(self, Status::Over(_))
    }
}

/// Why a move was refused. Illegal moves are data, not bugs: each reason is a variant with a
/// stable [`code`](RuleError::code) that goes back to the player.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Another seat is to move.
    #[error("seat {seat} may not move now; it is seat {to_move}'s turn")]
    NotYourTurn {
        /// The seat that tried.
        seat: Seat,
        /// The seat whose turn it is.
        to_move: Seat,
    },
    /// The seat does not exist in this match.
    #[error("seat {seat} is not a seat of this match (it has {seats})")]
    NotASeat {
        /// The seat that tried.
        seat: Seat,
        /// How many seats the match has.
        seats: u8,
    },
    /// The place is already taken (an edge drawn, a cell filled).
    #[error("{what} is already taken")]
    AlreadyTaken {
        /// What was taken, readable.
        what: String,
    },
    /// The move addresses something outside the board.
    #[error("{what} is out of range")]
    OutOfRange {
        /// What was out of range, readable.
        what: String,
    },
    /// The match has finished.
    #[error("the match is over")]
    MatchOver,
    /// The move could not be decoded as this game's move.
    #[error("malformed move: {reason}")]
    MalformedMove {
        /// The decoder's complaint.
        reason: String,
    },
    /// A move that is well-formed and in range but breaks another rule of the game.
    #[error("illegal move: {reason}")]
    Illegal {
        /// The rule broken, readable.
        reason: String,
    },
}

impl RuleError {
    /// The stable, machine-readable code sent on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::NotYourTurn { .. } => "not_your_turn",
            RuleError::NotASeat { .. } => "not_a_seat",
            RuleError::AlreadyTaken { .. } => "already_taken",
            RuleError::OutOfRange { .. } => "out_of_range",
            RuleError::MatchOver => "match_over",
            RuleError::MalformedMove { .. } => "malformed_move",
            RuleError::Illegal { .. } => "illegal_move",
        }
    }

    /// Every code, for documentation and metrics labels.
    pub const CODES: [&'static str; 7] = [
        "not_your_turn",
        "not_a_seat",
        "already_taken",
        "out_of_range",
        "match_over",
        "malformed_move",
        "illegal_move",
    ];
}

/// Why a config cannot start a match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A numeric field lies outside its bounds.
    #[error("{field} must be in {min}..={max}, got {got}")]
    OutOfBounds {
        /// The field's name.
        field: &'static str,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
        /// The value given.
        got: i64,
    },
    /// The config could not be decoded as this game's config.
    #[error("malformed config: {reason}")]
    Malformed {
        /// The decoder's complaint.
        reason: String,
    },
    /// No game with this id is registered.
    #[error("unknown game {id:?}")]
    UnknownGame {
        /// The id asked for.
        id: String,
    },
}

impl ConfigError {
    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::OutOfBounds { .. } => "config_out_of_bounds",
            ConfigError::Malformed { .. } => "config_malformed",
            ConfigError::UnknownGame { .. } => "unknown_game",
        }
    }
}

/// Why snapshot bytes do not give back a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The game keeps no snapshots: its matches are always rebuilt by replay.
    #[error("this game keeps no snapshots")]
    Unsupported,
    /// The bytes do not decode as a state of this game, or describe an impossible one.
    #[error("malformed snapshot: {reason}")]
    Malformed {
        /// What is wrong with them.
        reason: String,
    },
}

/// One step of a match after its creation, as the event log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action<M> {
    /// A turn-based move by a seat.
    Move {
        /// Who moved.
        seat: Seat,
        /// The move.
        #[serde(rename = "move")]
        mv: M,
    },
    /// A tick of the room's clock with the inputs gathered since the last one, in arrival
    /// order. For a turn-based game an empty tick means the turn timer ran out.
    Tick {
        /// `(seat, move)` in the order the room accepted them.
        inputs: Vec<(Seat, M)>,
    },
}

/// The rules of one game. Every function is pure: the state after a log is
/// `fold(apply, initial(config, seed), actions)` and nothing else.
///
/// To add a game, implement this trait and register it ([`Games::with`](crate::Games::with))
/// where the server, bots or client are built; nothing in them changes.
pub trait Game: Sized + Send + Sync + 'static {
    /// Stable identifier used in URLs, logs and the wire (`"dots"`).
    const ID: &'static str;
    /// Human name.
    const NAME: &'static str;
    /// Bumped whenever a change could give an old log a different state hash.
    const RULES_VERSION: u32;

    /// Match settings chosen at creation; `Default` is what `GET /api/games` advertises.
    type Config: Serialize + DeserializeOwned + Clone + Debug + Default + PartialEq + Send;
    /// The full, authoritative state. It needs neither `Clone` nor `Debug`, so a game may keep
    /// its state in whatever structure simulates it best (an ECS `World`, say).
    type State: Send + 'static;
    /// One player's move.
    type Move: Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send;
    /// What one viewer may see of a state.
    type View: Serialize + DeserializeOwned + Clone + Debug + PartialEq;

    /// Fewest seats a config may ask for.
    const MIN_SEATS: u8;
    /// Most seats a config may ask for.
    const MAX_SEATS: u8;

    /// The number of seats a config asks for (by default the game's fixed `MIN_SEATS`).
    fn seats(_config: &Self::Config) -> u8 {
        Self::MIN_SEATS
    }

    /// Whether moves are applied one by one or gathered into ticks.
    fn mode(_config: &Self::Config) -> Mode {
        Mode::Turns
    }

    /// Whether every viewer may see every move and the whole state. When false, the server
    /// sends each viewer its [`view`](Game::view) instead of the raw actions.
    const PUBLIC: bool = true;

    /// The state before any move. Randomness, if the game has any, comes from `seed` alone.
    fn initial(config: &Self::Config, seed: u64) -> Result<Self::State, ConfigError>;

    /// Whether `seat` may play `mv` now.
    fn validate(state: &Self::State, seat: Seat, mv: &Self::Move) -> Result<(), RuleError>;

    /// Applies a move that [`validate`](Game::validate) accepted. Calling it with an
    /// unvalidated move is a bug and may panic.
    fn apply(state: &mut Self::State, seat: Seat, mv: &Self::Move);

    /// Advances the clock by one tick, applying the gathered inputs (each already validated
    /// against the state at its arrival; an input that is no longer legal is skipped). For a
    /// turn-based game an empty tick means the player to move ran out of time.
    fn tick(state: &mut Self::State, inputs: &[(Seat, Self::Move)]);

    /// Every move `seat` may make now: exactly the moves `validate` accepts.
    fn legal_moves(state: &Self::State, seat: Seat) -> Vec<Self::Move>;

    /// What `viewer` may see of `state`.
    fn view(state: &Self::State, viewer: Viewer) -> Self::View;

    /// Where the match stands.
    fn status(state: &Self::State) -> Status;

    /// Writes the canonical encoding of `state` (see [`StateHasher`]).
    fn hash(state: &Self::State, hasher: &mut StateHasher);

    /// Encodes `state` so that a long match reloads from it instead of replaying its whole
    /// log. `None` (the default) means the game keeps no snapshots.
    fn snapshot(_state: &Self::State) -> Option<Vec<u8>> {
        None
    }

    /// Rebuilds the state [`snapshot`](Game::snapshot) encoded. The server trusts the result
    /// only when its [`state_hash`](Game::state_hash) equals the hash the log recorded, so a
    /// game need not defend against every forged byte, but it must not panic on any.
    fn restore(_config: &Self::Config, _snapshot: &[u8]) -> Result<Self::State, SnapshotError> {
        Err(SnapshotError::Unsupported)
    }

    /// Applies one logged action, re-validating it: a log that no longer replays under these
    /// rules is reported, not silently folded.
    fn apply_action(state: &mut Self::State, action: &Action<Self::Move>) -> Result<(), RuleError> {
        match action {
            Action::Move { seat, mv } => {
                Self::validate(state, *seat, mv)?;
                Self::apply(state, *seat, mv);
            }
            Action::Tick { inputs } => Self::tick(state, inputs),
        }
        Ok(())
    }

    /// The state hash of `state`.
    fn state_hash(state: &Self::State) -> crate::StateHash {
        let mut hasher = StateHasher::new();
        Self::hash(state, &mut hasher);
        hasher.finish()
    }
}
