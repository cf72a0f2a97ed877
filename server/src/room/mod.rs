//! Per-match rooms: a sans-IO core ([`core::Room`]) that decides, and a tokio task
//! ([`task`]) that feeds it time and inputs and carries out its outputs.

mod appends;
pub mod core;
mod load;
pub mod task;
mod ticks;

pub use self::core::{
    Client, ConnId, Input, LobbyAct, Output, PlayerRef, Reply, RequestId, Room, RoomError,
    RoomSettings,
};
pub use self::load::Loaded;
