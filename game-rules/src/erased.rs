//! The object-safe twin of [`Game`]: what the server, bots and browser client hold, so that
//! they stay generic over every registered game. Configs, moves and views cross it as
//! MessagePack (named fields), the same encoding the wire and the log use.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::game::{
    Action, ConfigError, Game, Mode, RuleError, Seat, SnapshotError, Status, Viewer,
};
use crate::hash::StateHash;

/// A registered game, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameInfo {
    /// Stable id.
    pub id: &'static str,
    /// Human name.
    pub name: &'static str,
    /// Rules version new matches are created with.
    pub rules_version: u32,
    /// Fewest seats.
    pub min_seats: u8,
    /// Most seats.
    pub max_seats: u8,
    /// The default config, MessagePack.
    pub default_config: Vec<u8>,
}

/// A game, type-erased.
pub trait DynGame: Send + Sync {
    /// Its description.
    fn info(&self) -> GameInfo;
    /// Its stable id.
    fn id(&self) -> &'static str;
    /// Starts a match from a MessagePack config and a seed.
    fn new_match(&self, config: &[u8], seed: u64) -> Result<Box<dyn DynMatch>, ConfigError>;
    /// Rebuilds a match of `config` from [`DynMatch::snapshot`]'s bytes.
    fn restore_match(
        &self,
        config: &[u8],
        snapshot: &[u8],
    ) -> Result<Box<dyn DynMatch>, SnapshotError>;
}

/// One match of some game, type-erased. Moves and views are MessagePack.
pub trait DynMatch: Send {
    /// The game's id.
    fn game_id(&self) -> &'static str;
    /// The config in canonical MessagePack (what the log's first event records).
    fn config(&self) -> Vec<u8>;
    /// The number of seats.
    fn seats(&self) -> u8;
    /// Turn-based or real-time.
    fn mode(&self) -> Mode;
    /// Whether every viewer may see every move (see [`Game::PUBLIC`]).
    fn is_public(&self) -> bool;
    /// Where the match stands.
    fn status(&self) -> Status;
    /// The state hash now.
    fn state_hash(&self) -> StateHash;
    /// The state encoded for a snapshot, if the game keeps snapshots.
    fn snapshot(&self) -> Option<Vec<u8>>;
    /// Decodes and validates a move without applying it; returns its canonical encoding.
    fn check_move(&self, seat: Seat, mv: &[u8]) -> Result<Vec<u8>, RuleError>;
    /// Decodes, validates and applies a move; returns the encoded [`Action::Move`] to log.
    fn play(&mut self, seat: Seat, mv: &[u8]) -> Result<Vec<u8>, RuleError>;
    /// Runs one tick with the gathered inputs (canonical encodings from `check_move`);
    /// returns the encoded [`Action::Tick`] to log.
    fn tick(&mut self, inputs: &[(Seat, Vec<u8>)]) -> Result<Vec<u8>, RuleError>;
    /// Replays one logged action (the bytes `play` or `tick` returned), re-validating it.
    fn apply_action(&mut self, action: &[u8]) -> Result<(), RuleError>;
    /// Every legal move of `seat`, encoded.
    fn legal_moves(&self, seat: Seat) -> Vec<Vec<u8>>;
    /// What `viewer` may see, encoded.
    fn view(&self, viewer: Viewer) -> Vec<u8>;
}

/// Adapts a [`Game`] to [`DynGame`]; [`Games::with`](crate::Games::with) builds one per game.
pub struct Registered<G>(PhantomData<fn() -> G>);

impl<G> Registered<G> {
    /// The adapter (a zero-sized value).
    pub const NEW: Self = Registered(PhantomData);
}

/// Encodes one of a game's own values. Our types are plain structs and enums with string
/// keys, so failing here is a bug in a game's types, not bad input.
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Reserved so that a move or an action is written without regrowing the buffer.
    let mut out = Vec::with_capacity(64);
    rmp_serde::encode::write_named(&mut out, value)
        .expect("game values always encode as MessagePack");
    out
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_slice(bytes)
}

impl<G: Game> DynGame for Registered<G> {
    fn info(&self) -> GameInfo {
        GameInfo {
            id: G::ID,
            name: G::NAME,
            rules_version: G::RULES_VERSION,
            min_seats: G::MIN_SEATS,
            max_seats: G::MAX_SEATS,
            default_config: encode(&G::Config::default()),
        }
    }

    fn id(&self) -> &'static str {
        G::ID
    }

    fn new_match(&self, config: &[u8], seed: u64) -> Result<Box<dyn DynMatch>, ConfigError> {
        let config: G::Config =
            decode(config).map_err(|e| ConfigError::Malformed { reason: e.to_string() })?;
        let state = G::initial(&config, seed)?;
        Ok(Box::new(MatchOf::<G> { config, state }))
    }

    fn restore_match(
        &self,
        config: &[u8],
        snapshot: &[u8],
    ) -> Result<Box<dyn DynMatch>, SnapshotError> {
        let config: G::Config =
            decode(config).map_err(|e| SnapshotError::Malformed { reason: e.to_string() })?;
        let state = G::restore(&config, snapshot)?;
        Ok(Box::new(MatchOf::<G> { config, state }))
    }
}

/// A match of `G`: its config and current state.
pub struct MatchOf<G: Game> {
    config: G::Config,
    state: G::State,
}

impl<G: Game> MatchOf<G> {
    fn decode_move(mv: &[u8]) -> Result<G::Move, RuleError> {
        decode(mv).map_err(|e| RuleError::MalformedMove { reason: e.to_string() })
    }
}

impl<G: Game> DynMatch for MatchOf<G> {
    fn game_id(&self) -> &'static str {
        G::ID
    }

    fn config(&self) -> Vec<u8> {
        encode(&self.config)
    }

    fn seats(&self) -> u8 {
        G::seats(&self.config)
    }

    fn mode(&self) -> Mode {
        G::mode(&self.config)
    }

    fn is_public(&self) -> bool {
        G::PUBLIC
    }

    fn status(&self) -> Status {
        G::status(&self.state)
    }

    fn state_hash(&self) -> StateHash {
        G::state_hash(&self.state)
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        G::snapshot(&self.state)
    }

    fn check_move(&self, seat: Seat, mv: &[u8]) -> Result<Vec<u8>, RuleError> {
        let mv = Self::decode_move(mv)?;
        G::validate(&self.state, seat, &mv)?;
        Ok(encode(&mv))
    }

    fn play(&mut self, seat: Seat, mv: &[u8]) -> Result<Vec<u8>, RuleError> {
        let mv = Self::decode_move(mv)?;
        G::validate(&self.state, seat, &mv)?;
        G::apply(&mut self.state, seat, &mv);
        Ok(encode(&Action::Move { seat, mv }))
    }

    fn tick(&mut self, inputs: &[(Seat, Vec<u8>)]) -> Result<Vec<u8>, RuleError> {
        let inputs = inputs
            .iter()
            .map(|(seat, mv)| Ok((*seat, Self::decode_move(mv)?)))
            .collect::<Result<Vec<_>, RuleError>>()?;
        G::tick(&mut self.state, &inputs);
        Ok(encode(&Action::<G::Move>::Tick { inputs }))
    }

    fn apply_action(&mut self, action: &[u8]) -> Result<(), RuleError> {
        let action: Action<G::Move> =
            decode(action).map_err(|e| RuleError::MalformedMove { reason: e.to_string() })?;
        G::apply_action(&mut self.state, &action)
    }

    fn legal_moves(&self, seat: Seat) -> Vec<Vec<u8>> {
        G::legal_moves(&self.state, seat).iter().map(encode).collect()
    }

    fn view(&self, viewer: Viewer) -> Vec<u8> {
        encode(&G::view(&self.state, viewer))
    }
}
