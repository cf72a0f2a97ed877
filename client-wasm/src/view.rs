//! What the client shows its user: a match's state as plain data (the JavaScript SDK hands
//! these to pages as objects), built in one place from a [`Replica`].

use game_rules::{StateHash, Status, Viewer};
use protocol::Replica;
use protocol::replica::decode_value;
use protocol::v1::{Role, Value};
use serde::Serialize;

/// Who sits in a seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatView {
    /// Their player id.
    pub player_id: String,
    /// Their display name.
    pub name: String,
}

/// The last move of a match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastMoveView {
    /// The event that recorded it.
    pub seq: u64,
    /// Who moved.
    pub seat: u8,
    /// The move.
    #[serde(rename = "move")]
    pub mv: Value,
}

/// A match's state after one event, as a viewer may see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateView {
    /// The event this state follows.
    pub seq: u64,
    /// Its state hash.
    pub state_hash: StateHash,
    /// Where the match stands.
    pub status: Status,
    /// The game's view.
    pub view: Value,
    /// Who sits where (`null`: free).
    pub seats: Vec<Option<SeatView>>,
    /// The last move, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_move: Option<LastMoveView>,
}

/// A followed match, as [`crate::core::Core::state`] reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchView {
    /// Which match.
    pub match_id: String,
    /// The game's id.
    pub game: String,
    /// How this client follows it.
    pub role: Role,
    /// The client's seat, when it plays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat: Option<u8>,
    /// The state.
    #[serde(flatten)]
    pub state: StateView,
    /// Whether the history is in and events are live.
    pub caught_up: bool,
    /// Whether the client's seat may move now.
    pub my_turn: bool,
    /// State-hash mismatches found (each one resynced the match).
    pub desyncs: u32,
}

/// The replica's state as `viewer` sees it; `None` before event 0.
pub fn state_view(replica: &Replica, viewer: Viewer) -> Option<StateView> {
    let state = replica.state()?;
    let seq = replica.last_seq()?;
    let (view, status, state_hash) = match replica.hidden_view() {
        Some((view, status, hash)) => (view.clone(), status.clone(), *hash),
        None => {
            let status = replica.status().unwrap_or_else(|| state.status());
            (decode_value(&state.view(viewer)), status, state.state_hash())
        }
    };
    let seats = replica
        .seats()
        .iter()
        .map(|s| {
            s.as_ref().map(|s| SeatView { player_id: s.player_id.clone(), name: s.name.clone() })
        })
        .collect();
    let last_move =
        replica.last_move().map(|m| LastMoveView { seq: m.seq, seat: m.seat, mv: m.mv.clone() });
    Some(StateView { seq, state_hash, status, view, seats, last_move })
}

/// Whether `seat` may move in a match standing at `status`.
pub fn may_move(status: &Status, seat: u8) -> bool {
    match status {
        Status::Turn(turn) => *turn == seat,
        Status::Simultaneous => true,
        Status::Waiting | Status::Over(_) => false,
    }
}
