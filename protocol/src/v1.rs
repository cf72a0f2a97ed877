//! Version 1 of the wire messages. Every message is externally tagged: a map with one key, the
//! message type, whose value is the message's fields (`{"move": {"match_id": ...}}`). Optional
//! fields are left out when absent. docs/PROTOCOL.md is the specification.

use game_rules::{Seat, StateHash, Status, hex64};
use serde::{Deserialize, Serialize};

pub use crate::raw::RawValue;

/// The protocol version these types speak, exchanged in `hello` and `welcome`.
pub const VERSION: u16 = 1;

/// A game payload: a move, a config, a view. Any MessagePack / JSON value; its shape is the
/// game's (see game-rules).
pub type Value = rmpv::Value;

/// A match's id, as the server assigned it.
pub type MatchId = String;

/// A move's id, chosen by the client; a retry with the same `(seat, move_id)` is never
/// applied twice and gets the original verdict.
pub type MoveId = u64;

/// How a connection joins a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// As the player seated there (the seat comes from the player's token).
    Player,
    /// As a read-only spectator.
    Spectator,
}

/// Messages a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message unless the token came with the WebSocket upgrade.
    Hello(Hello),
    /// Subscribe to a match.
    Join(Join),
    /// Play a move.
    Move(Move),
    /// Unsubscribe from a match.
    Leave(Leave),
    /// Keep-alive; answered with `pong`.
    Ping(Ping),
}

/// Authenticates the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the client speaks.
    pub version: u16,
    /// A token from `POST /api/auth/guest`.
    pub token: String,
}

/// Subscribes to a match from a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// Which match.
    pub match_id: MatchId,
    /// As player or spectator.
    pub role: Role,
    /// The first sequence number the client wants (its last seen + 1). Absent: the server
    /// sends a snapshot of the current state instead of the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_seq: Option<u64>,
}

/// Plays a move in a match the connection joined as a player.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Move {
    /// Which match.
    pub match_id: MatchId,
    /// The client's id for this move.
    pub move_id: MoveId,
    /// The game's move, kept as its MessagePack encoding: it goes to the game's decoder as it
    /// came, with no generic value in between.
    #[serde(rename = "move")]
    pub mv: RawValue,
}

/// Unsubscribes from a match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leave {
    /// Which match.
    pub match_id: MatchId,
}

/// A keep-alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Echoed in the `pong`.
    pub nonce: u64,
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerMsg {
    /// The connection is authenticated.
    Welcome(Welcome),
    /// A `join` succeeded; catch-up follows.
    Joined(Joined),
    /// The state at `seq` as this viewer may see it (instead of the history before it).
    Snapshot(Snapshot),
    /// One event of the log, in order, with no gaps.
    Event(Event),
    /// Every event up to `seq` has been sent; what follows is live.
    CaughtUp(CaughtUp),
    /// The answer to a `move`.
    Verdict(Verdict),
    /// Something the client sent could not be served.
    Error(ErrorMsg),
    /// The answer to a `ping`.
    Pong(Ping),
}

/// Sent once the connection is authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The protocol version the server speaks.
    pub version: u16,
    /// Who the token says the client is.
    pub player_id: String,
    /// The largest frame the server accepts.
    pub max_frame_bytes: u32,
}

/// Sent when a `join` succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// Which match.
    pub match_id: MatchId,
    /// The game's id.
    pub game: String,
    /// The role granted.
    pub role: Role,
    /// The viewer's seat, when joined as a player.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<Seat>,
    /// The match's last sequence number now.
    pub head_seq: u64,
}

/// The state at `seq`, as one viewer may see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    /// Which match.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub match_id: MatchId,
    /// The event this state follows.
    pub seq: u64,
    /// The state hash at `seq` (see docs/PROTOCOL.md for hidden-information games).
    pub state_hash: StateHash,
    /// Where the match stands.
    pub status: Status,
    /// The game's view for this viewer.
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub view: Value,
    /// The match's creation record (event 0), so the client can reduce what follows.
    pub created: Created,
}

/// One event of a match's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Which match.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub match_id: MatchId,
    /// Its sequence number: 0 for the creation, then +1 each, with no gaps.
    pub seq: u64,
    /// The state hash after this event.
    pub state_hash: StateHash,
    /// Where the match stands after this event.
    pub status: Status,
    /// What happened. Absent when the game hides it from this viewer; `view` is then set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<EventBody>,
    /// This viewer's view after the event, for hidden-information games.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Value>))]
    pub view: Option<Value>,
}

/// What an event records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventBody {
    /// Event 0: everything needed to replay the match.
    Created(Created),
    /// A player took a seat. Changes no game state.
    Seated(Seated),
    /// A seat played a move.
    Move(MoveEvent),
    /// A tick of the room's clock: gathered inputs of a real-time game, or (empty) a turn
    /// timer running out.
    Tick(Tick),
    /// A player gave up a seat of a match not yet started: the seat is free again. Changes no
    /// game state.
    Left(Left),
    /// A seat resigned a live match: the match is over, every other seat winning. Changes no
    /// game state; the event's `status` is the final one.
    Resigned(Resigned),
    /// The creator cancelled a match not yet started: the match is over, nobody winning.
    /// Changes no game state; the event's `status` is the final one.
    Cancelled(Cancelled),
    /// A seat ran out of time under a match timer whose policy is to forfeit: the match is
    /// over, every other seat winning. Changes no game state; the event's `status` is the
    /// final one.
    Forfeited(Forfeited),
}

/// A seat forfeited on time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Forfeited {
    /// The seat whose time ran out.
    #[cfg_attr(feature = "openapi", schema(value_type = u8))]
    pub seat: Seat,
}

/// A seat was given up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Left {
    /// The seat, free again.
    #[cfg_attr(feature = "openapi", schema(value_type = u8))]
    pub seat: Seat,
    /// Who held it.
    pub player_id: String,
}

/// A seat resigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resigned {
    /// The seat that resigned.
    #[cfg_attr(feature = "openapi", schema(value_type = u8))]
    pub seat: Seat,
}

/// The match was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cancelled {
    /// The creator who cancelled it.
    pub player_id: String,
}

/// Event 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Created {
    /// The game's id.
    pub game: String,
    /// The rules version the match was created under.
    pub rules_version: u32,
    /// The game's config.
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub config: Value,
    /// The seed the initial state was drawn from (16 hex digits).
    #[serde(with = "hex64")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-f]{16}$"))]
    pub seed: u64,
    /// The number of seats.
    pub seats: u8,
}

/// A seat was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Seated {
    /// The seat.
    #[cfg_attr(feature = "openapi", schema(value_type = u8))]
    pub seat: Seat,
    /// Who took it.
    pub player_id: String,
    /// Their display name.
    pub name: String,
}

/// A move was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MoveEvent {
    /// Who moved.
    #[cfg_attr(feature = "openapi", schema(value_type = u8))]
    pub seat: Seat,
    /// The move, in the game's canonical form (its MessagePack encoding, as the log holds it).
    #[serde(rename = "move")]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub mv: RawValue,
    /// The client's id for it (lets a reconnecting client settle its pending moves).
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub move_id: MoveId,
}

/// A tick was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tick {
    /// The inputs, in the order the room accepted them.
    pub inputs: Vec<TickInput>,
}

/// One input of a tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TickInput {
    /// Who sent it.
    #[cfg_attr(feature = "openapi", schema(value_type = u8))]
    pub seat: Seat,
    /// The move.
    #[serde(rename = "move")]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub mv: Value,
    /// The id its player gave it, so a client matches the tick to its verdict (absent in
    /// ticks logged before ids were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u64>))]
    pub move_id: Option<MoveId>,
}

/// Every event up to `seq` has been sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtUp {
    /// Which match.
    pub match_id: MatchId,
    /// The last event sent.
    pub seq: u64,
}

/// The answer to one `move`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verdict {
    /// Which match.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub match_id: MatchId,
    /// The move's id, as the client sent it.
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub move_id: MoveId,
    /// Accepted or rejected.
    pub result: VerdictResult,
}

/// Accepted at a sequence number, or rejected with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VerdictResult {
    /// The move is durable as event `seq`.
    Accepted {
        /// Its sequence number.
        seq: u64,
    },
    /// The move changed nothing.
    Rejected(ErrorBody),
}

/// A stable machine-readable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable code (docs/PROTOCOL.md lists them).
    pub code: String,
    /// For people; may change between releases.
    pub message: String,
}

/// An error not tied to one move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMsg {
    /// Stable code (docs/PROTOCOL.md lists them).
    pub code: String,
    /// For people.
    pub message: String,
    /// The match concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_id: Option<MatchId>,
}
