//! Pure, deterministic game rules: the [`Game`] trait every game implements, the object-safe
//! [`DynGame`] / [`DynMatch`] twin the server holds, [`Games`] (the set a server, client or bot
//! is built with), and two games: Dots and Boxes and tic-tac-toe.
//!
//! Nothing in this crate performs IO, reads a clock or draws randomness of its own: a state is
//! a function of its config, its seed and the actions applied to it, so any log replays to the
//! same state hashes on every platform.

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod erased;
mod game;
mod hash;
mod registry;

pub mod dots;
pub mod tictactoe;

pub use erased::{DynGame, DynMatch, GameInfo, Registered};
pub use game::{
    Action, ConfigError, Game, Mode, Outcome, RuleError, Seat, SnapshotError, Status, Viewer,
};
pub use hash::{StateHash, StateHashParseError, StateHasher, hex64};
pub use registry::Games;
