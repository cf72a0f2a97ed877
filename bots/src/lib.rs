//! Bot players. The strategies are pure and seeded: they see only a viewer's view and the
//! legal moves, read no clock and draw randomness only from their seed, so a bot's game
//! replays exactly. The `bots` binary adds the tournament and the load-test tool.

pub mod cycles;
pub mod strategy;
pub mod tournament;

#[cfg(feature = "tools")]
pub mod arrivals;
#[cfg(feature = "tools")]
pub mod link;
#[cfg(feature = "tools")]
pub mod load;
#[cfg(feature = "tools")]
pub mod quic;

pub use strategy::{Strategy, StrategyKind};
