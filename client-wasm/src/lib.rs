//! Arbiter's client. [`core`] is the sans-IO connection and match state machine, [`replay`]
//! steps through a match's history, [`view`] is what both show a page, and [`cycles`] steers
//! and predicts the player's own light cycle. In the browser,
//! the `wasm` shell drives them with a WebSocket, timers and `fetch`; its exports are the
//! JavaScript SDK (docs/CLIENT.md).

pub mod core;
pub mod cycles;
pub mod replay;
pub mod view;

#[cfg(test)]
mod testlog;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use core::{ConnState, Core, MoveError, SocketAction, Update};
pub use replay::{Replay, ReplayError};
