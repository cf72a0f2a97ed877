//! The client core: one connection's state machine and a local replica per followed match,
//! with no IO. A shell feeds it what happens (`handle_*`, with the time) and performs what it
//! asks (`poll_*`): messages to send, sockets to open or close, updates for the page, and the
//! next time it wants to be woken. The browser shell and the native tests drive the same code.

mod backoff;
mod steer;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

use game_rules::{Games, Viewer};
use protocol::v1::{
    ClientMsg, ErrorMsg, Event, EventBody, Hello, Join, Leave, MatchId, Move, MoveId, Role,
    ServerMsg, Value, Verdict, VerdictResult,
};
use protocol::{Replica, ReplicaError};
use serde::Serialize;

pub use backoff::Backoff;

use crate::cycles::Steering;
use crate::view::{MatchView, may_move, state_view};

/// Moves one match may have in flight (sent, no verdict yet); past this, `send_move` refuses.
pub const MAX_PENDING_MOVES: usize = 64;
/// Wait before joining a match again after the server dropped its subscription, ms.
pub const REJOIN_DELAY_MS: u64 = 500;
/// Verdict and join refusal codes that mean "not now": the move stays pending, the join is
/// made again after [`REJOIN_DELAY_MS`].
const RETRIED_CODES: [&str; 7] = [
    "storage_error",
    "room_restarting",
    "room_failed",
    "not_joined",
    "server_busy",
    "shutting_down",
    "too_many_subscribers",
];

/// Resyncs from the log one match may need before the client gives up on it.
pub const MAX_RESYNCS: u32 = 3;

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnState {
    /// Not asked to connect yet.
    Idle,
    /// A socket is opening, or open and not yet authenticated.
    Connecting,
    /// `welcome` received: joins and moves flow.
    Authenticated,
    /// The socket was lost; a new one opens at the retry time.
    Reconnecting,
    /// Closed for good: by the page, or the server refused the token.
    Closed,
}

/// What the shell must do with its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketAction {
    /// Open a new socket and call `handle_open` once it is open.
    Open,
    /// Close the socket (its close then arrives as `handle_close`).
    Close,
}

/// Something the page may want to show.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Update {
    /// The connection changed state.
    Connection {
        /// The new state.
        state: ConnState,
        /// Reconnect attempts since the last success.
        #[serde(skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
        /// When reconnecting: the wait before the next attempt.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_in_ms: Option<u64>,
    },
    /// The server accepted a join.
    Joined {
        /// Which match.
        match_id: MatchId,
        /// The role granted.
        role: Role,
        /// The seat, when playing.
        #[serde(skip_serializing_if = "Option::is_none")]
        seat: Option<u8>,
        /// The match's head when it joined.
        head_seq: u64,
    },
    /// An event was reduced.
    Event {
        /// Which match.
        match_id: MatchId,
        /// The event.
        event: Event,
    },
    /// The history is in; what follows is live.
    CaughtUp {
        /// Which match.
        match_id: MatchId,
        /// The last event of the history.
        seq: u64,
    },
    /// A move of this client was settled.
    Verdict {
        /// Which match.
        match_id: MatchId,
        /// The move's id.
        move_id: MoveId,
        /// Accepted or rejected.
        result: VerdictResult,
    },
    /// The server refused something, or the client could not follow a match.
    Error {
        /// A stable code (docs/PROTOCOL.md §5).
        code: String,
        /// For people.
        message: String,
        /// The match concerned.
        #[serde(skip_serializing_if = "Option::is_none")]
        match_id: Option<MatchId>,
    },
    /// A state hash differed from the server's; the match is resynced from the log.
    Desync {
        /// Which match.
        match_id: MatchId,
        /// The event.
        seq: u64,
        /// The local hash.
        local: String,
        /// The server's.
        server: String,
    },
}

/// Why a move was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    /// The client does not follow the match as a player.
    #[error("join the match as a player before moving")]
    NotPlaying,
    /// Too many moves wait for their verdicts.
    #[error("{MAX_PENDING_MOVES} moves already wait for their verdicts")]
    TooManyPending,
    /// Steering needs a light cycle of this client's seat, still riding, in a live match.
    #[error("no light cycle of yours rides in this match")]
    NoCycle,
}

/// One followed match.
struct Followed {
    role: Role,
    seat: Option<u8>,
    game: Option<String>,
    replica: Replica,
    /// The server has answered our latest join with `joined` on this connection.
    subscribed: bool,
    /// A join is on its way: events until its `joined` belong to the subscription it
    /// replaces, and are dropped (the new one's catch-up sends them again).
    joining: bool,
    caught_up: bool,
    /// Moves sent without a verdict yet, by id; resent after every catch-up.
    pending: BTreeMap<MoveId, Value>,
    desyncs: u32,
    resyncs: u32,
    rejoin_at_ms: Option<u64>,
    /// Light cycles: the own cycle's turn in flight (see [`crate::cycles`]).
    steering: Option<Steering>,
    /// When the last event was reduced, ms: a prediction's lead counts from it.
    last_event_ms: Option<u64>,
}

impl Followed {
    fn new(role: Role, games: Games) -> Followed {
        Followed {
            role,
            seat: None,
            game: None,
            replica: Replica::new(games),
            subscribed: false,
            joining: false,
            caught_up: false,
            pending: BTreeMap::new(),
            desyncs: 0,
            resyncs: 0,
            rejoin_at_ms: None,
            steering: None,
            last_event_ms: None,
        }
    }

    /// The first seq wanted: one past the last reduced.
    fn cursor(&self) -> u64 {
        self.replica.last_seq().map_or(0, |seq| seq + 1)
    }
}

/// The client core.
pub struct Core {
    games: Games,
    token: String,
    conn: ConnState,
    backoff: Backoff,
    retry_at_ms: Option<u64>,
    matches: BTreeMap<MatchId, Followed>,
    next_move_id: MoveId,
    transmit: VecDeque<ClientMsg>,
    updates: VecDeque<Update>,
    socket: VecDeque<SocketAction>,
}

impl Core {
    /// A client of `games` for `token`. Move ids start from `now_ms × 1000`, so a page
    /// reloaded later never reuses an id its seat used before; `seed` seeds the reconnect
    /// jitter.
    pub fn new(games: Games, token: String, now_ms: u64, seed: u64) -> Core {
        Core {
            games,
            token,
            conn: ConnState::Idle,
            backoff: Backoff::new(seed),
            retry_at_ms: None,
            matches: BTreeMap::new(),
            next_move_id: now_ms.saturating_mul(1000).max(1),
            transmit: VecDeque::new(),
            updates: VecDeque::new(),
            socket: VecDeque::new(),
        }
    }

    // ----- what the page asks -----

    /// Starts connecting (again, after `close`).
    pub fn connect(&mut self) {
        if matches!(self.conn, ConnState::Idle | ConnState::Closed) {
            self.open_socket();
        }
    }

    /// Uses `token` from the next authentication on (after a refresh): the open connection
    /// stays as it is, and a reconnect presents the new token.
    pub fn set_token(&mut self, token: String) {
        self.token = token;
    }

    /// Closes for good: no reconnect.
    pub fn close(&mut self) {
        if self.conn != ConnState::Closed {
            self.socket.push_back(SocketAction::Close);
            self.set_conn(ConnState::Closed, None);
        }
    }

    /// Drops the socket as a network failure would; the client reconnects.
    pub fn drop_connection(&mut self) {
        if matches!(self.conn, ConnState::Connecting | ConnState::Authenticated) {
            self.socket.push_back(SocketAction::Close);
        }
    }

    /// Follows a match (again with another role); catch-up starts after the last event held.
    pub fn join(&mut self, match_id: &str, role: Role) {
        let followed = self
            .matches
            .entry(match_id.to_string())
            .or_insert_with(|| Followed::new(role, self.games.clone()));
        followed.role = role;
        if self.conn == ConnState::Authenticated {
            self.send_join(match_id);
        }
    }

    /// Stops following a match.
    pub fn leave(&mut self, match_id: &str) {
        if self.matches.remove(match_id).is_some() && self.conn == ConnState::Authenticated {
            self.transmit.push_back(ClientMsg::Leave(Leave { match_id: match_id.to_string() }));
        }
    }

    /// Sends a move; returns its id. It is resent with the same id until a verdict comes.
    pub fn send_move(&mut self, match_id: &str, mv: Value) -> Result<MoveId, MoveError> {
        let followed = self.matches.get_mut(match_id).ok_or(MoveError::NotPlaying)?;
        if followed.role != Role::Player {
            return Err(MoveError::NotPlaying);
        }
        if followed.pending.len() >= MAX_PENDING_MOVES {
            return Err(MoveError::TooManyPending);
        }
        let move_id = self.next_move_id;
        self.next_move_id += 1;
        followed.pending.insert(move_id, mv.clone());
        // Before the catch-up ends the move waits: `caught_up` sends every pending move.
        if followed.subscribed && followed.caught_up {
            let msg = Move { match_id: match_id.to_string(), move_id, mv: mv.into() };
            self.transmit.push_back(ClientMsg::Move(msg));
        }
        Ok(move_id)
    }

    // ----- what the page reads -----

    /// The connection's state.
    pub fn connection(&self) -> ConnState {
        self.conn
    }

    /// A followed match as reduced so far; `None` if not followed or before event 0.
    pub fn state(&self, match_id: &str) -> Option<MatchView> {
        let f = self.matches.get(match_id)?;
        let viewer = f.seat.map_or(Viewer::Spectator, Viewer::Seat);
        let state = state_view(&f.replica, viewer)?;
        // A move in flight holds the turn, so a page that waits for `my_turn` never sends two;
        // and no move is taken while a seat is free.
        let my_turn = f.role == Role::Player
            && f.caught_up
            && f.pending.is_empty()
            && state.seats.iter().all(Option::is_some)
            && f.seat.is_some_and(|seat| may_move(&state.status, seat));
        Some(MatchView {
            match_id: match_id.to_string(),
            game: f.game.clone().unwrap_or_default(),
            role: f.role,
            seat: f.seat,
            state,
            caught_up: f.caught_up,
            my_turn,
            desyncs: f.desyncs,
        })
    }

    /// The moves this client's seat may make now (none for a spectator or out of turn).
    pub fn legal_moves(&self, match_id: &str) -> Vec<Value> {
        let Some(f) = self.matches.get(match_id) else { return Vec::new() };
        let (Some(seat), Some(state)) = (f.seat, f.replica.state()) else { return Vec::new() };
        if f.role != Role::Player || f.replica.hidden_view().is_some() {
            return Vec::new();
        }
        state.legal_moves(seat).iter().map(|mv| protocol::replica::decode_value(mv)).collect()
    }

    // ----- what the shell reports -----

    /// The socket opened: authenticate.
    pub fn handle_open(&mut self) {
        let hello = Hello { version: protocol::v1::VERSION, token: self.token.clone() };
        self.transmit.push_back(ClientMsg::Hello(hello));
    }

    /// The socket closed, or failed to open.
    pub fn handle_close(&mut self, now_ms: u64) {
        for f in self.matches.values_mut() {
            f.subscribed = false;
            f.joining = false;
            f.caught_up = false;
            f.rejoin_at_ms = None;
        }
        self.transmit.clear();
        if self.conn == ConnState::Closed {
            return;
        }
        let delay = self.backoff.next_delay_ms();
        self.retry_at_ms = Some(now_ms + delay);
        self.set_conn(ConnState::Reconnecting, Some(delay));
    }

    /// A message from the server.
    pub fn handle_message(&mut self, now_ms: u64, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome(_) => self.handle_welcome(),
            ServerMsg::Joined(j) => {
                if let Some(f) = self.matches.get_mut(&j.match_id) {
                    f.subscribed = true;
                    f.joining = false;
                    f.caught_up = false;
                    f.seat = j.seat;
                    f.game = Some(j.game.clone());
                    let update = Update::Joined {
                        match_id: j.match_id,
                        role: j.role,
                        seat: j.seat,
                        head_seq: j.head_seq,
                    };
                    self.updates.push_back(update);
                }
            }
            ServerMsg::Snapshot(s) => self.handle_snapshot(&s),
            ServerMsg::Event(e) => self.handle_event(now_ms, e),
            ServerMsg::CaughtUp(c) => self.handle_caught_up(&c.match_id, c.seq),
            ServerMsg::Verdict(v) => self.handle_verdict(v),
            ServerMsg::Error(e) => self.handle_error(now_ms, e),
            ServerMsg::Pong(_) => {}
        }
    }

    /// Time passed: reconnect or rejoin when due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.conn == ConnState::Reconnecting && self.retry_at_ms.is_some_and(|at| at <= now_ms) {
            self.open_socket();
        }
        if self.conn != ConnState::Authenticated {
            return;
        }
        let due: Vec<MatchId> = self
            .matches
            .iter()
            .filter(|(_, f)| f.rejoin_at_ms.is_some_and(|at| at <= now_ms))
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.send_join(&id);
        }
    }

    // ----- what the shell performs -----

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<ClientMsg> {
        self.transmit.pop_front()
    }

    /// The next thing to do with the socket.
    pub fn poll_socket(&mut self) -> Option<SocketAction> {
        self.socket.pop_front()
    }

    /// The next update for the page.
    pub fn poll_update(&mut self) -> Option<Update> {
        self.updates.pop_front()
    }

    /// When `handle_timeout` should next be called, if at all.
    pub fn poll_timeout(&self) -> Option<u64> {
        // Rejoins are due only on a live connection; a new one rejoins everything anyway.
        let authenticated = self.conn == ConnState::Authenticated;
        let rejoins =
            self.matches.values().filter_map(|f| f.rejoin_at_ms.filter(|_| authenticated));
        let retry = self.retry_at_ms.filter(|_| self.conn == ConnState::Reconnecting);
        rejoins.chain(retry).min()
    }

    // ----- the handlers -----

    fn open_socket(&mut self) {
        self.retry_at_ms = None;
        self.socket.push_back(SocketAction::Open);
        self.set_conn(ConnState::Connecting, None);
    }

    fn set_conn(&mut self, state: ConnState, retry_in_ms: Option<u64>) {
        self.conn = state;
        let attempt = (state == ConnState::Reconnecting).then(|| self.backoff.attempt());
        self.updates.push_back(Update::Connection { state, attempt, retry_in_ms });
    }

    fn handle_welcome(&mut self) {
        self.backoff.reset();
        self.set_conn(ConnState::Authenticated, None);
        let ids: Vec<MatchId> = self.matches.keys().cloned().collect();
        for id in ids {
            self.send_join(&id);
        }
    }

    fn send_join(&mut self, match_id: &str) {
        let Some(f) = self.matches.get_mut(match_id) else { return };
        f.subscribed = false;
        f.joining = true;
        f.caught_up = false;
        f.rejoin_at_ms = None;
        let join =
            Join { match_id: match_id.to_string(), role: f.role, from_seq: Some(f.cursor()) };
        self.transmit.push_back(ClientMsg::Join(join));
    }

    fn handle_snapshot(&mut self, snapshot: &protocol::v1::Snapshot) {
        let Some(f) = self.matches.get_mut(&snapshot.match_id) else { return };
        match Replica::from_snapshot(self.games.clone(), snapshot) {
            Ok(replica) => f.replica = replica,
            Err(e) => self.updates.push_back(Update::Error {
                code: "cannot_follow".into(),
                message: e.to_string(),
                match_id: Some(snapshot.match_id.clone()),
            }),
        }
    }

    fn handle_event(&mut self, now_ms: u64, event: Event) {
        let Some(f) = self.matches.get_mut(&event.match_id) else { return };
        // Until the join in flight is answered, events are the old subscription's; and a
        // re-join can repeat events already held (live ones that raced it): skip them.
        if f.joining || f.replica.last_seq().is_some_and(|last| event.seq <= last) {
            return;
        }
        match f.replica.apply(&event) {
            Ok(()) => {
                f.last_event_ms = Some(now_ms);
                self.follow_steering(&event.match_id);
                let settled = self.settle_from_event(&event);
                self.updates.push_back(Update::Event { match_id: event.match_id.clone(), event });
                self.updates.extend(settled);
            }
            Err(ReplicaError::Desync { seq, local, server }) => {
                f.desyncs += 1;
                let match_id = event.match_id.clone();
                self.updates.push_back(Update::Desync {
                    match_id: match_id.clone(),
                    seq,
                    local,
                    server,
                });
                self.resync(&match_id);
            }
            Err(ReplicaError::Gap { .. }) => {
                // Events missed: ask again from the last one held.
                let match_id = event.match_id.clone();
                self.send_join(&match_id);
            }
            Err(e) => {
                let match_id = event.match_id.clone();
                self.updates.push_back(Update::Error {
                    code: "cannot_follow".into(),
                    message: e.to_string(),
                    match_id: Some(match_id.clone()),
                });
                self.resync(&match_id);
            }
        }
    }

    /// Throws the replica away and reads the match again from event 0, a bounded number of
    /// times: a client whose rules differ from the server's would otherwise loop.
    fn resync(&mut self, match_id: &str) {
        let Some(f) = self.matches.get_mut(match_id) else { return };
        f.replica = f.replica.restarted();
        f.resyncs += 1;
        if f.resyncs > MAX_RESYNCS {
            // Given up for good: the match is no longer followed, and nothing rejoins it.
            self.matches.remove(match_id);
            self.transmit.push_back(ClientMsg::Leave(Leave { match_id: match_id.to_string() }));
            self.updates.push_back(Update::Error {
                code: "cannot_follow".into(),
                message: format!(
                    "this client's rules disagree with the server's {MAX_RESYNCS} times"
                ),
                match_id: Some(match_id.to_string()),
            });
            return;
        }
        self.send_join(match_id);
    }

    /// A replayed `move` event of our own seat settles a pending move as accepted (6.4).
    fn settle_from_event(&mut self, event: &Event) -> Option<Update> {
        let Some(EventBody::Move(m)) = &event.body else { return None };
        let f = self.matches.get_mut(&event.match_id)?;
        if f.seat != Some(m.seat) || f.pending.remove(&m.move_id).is_none() {
            return None;
        }
        Some(Update::Verdict {
            match_id: event.match_id.clone(),
            move_id: m.move_id,
            result: VerdictResult::Accepted { seq: event.seq },
        })
    }

    fn handle_caught_up(&mut self, match_id: &str, seq: u64) {
        let Some(f) = self.matches.get_mut(match_id) else { return };
        if !f.subscribed {
            return;
        }
        f.caught_up = true;
        // Whatever is still pending was lost or never sent: the same id makes a retry safe.
        for (move_id, mv) in &f.pending {
            let msg = Move { match_id: match_id.to_string(), move_id: *move_id, mv: mv.into() };
            self.transmit.push_back(ClientMsg::Move(msg));
        }
        self.updates.push_back(Update::CaughtUp { match_id: match_id.to_string(), seq });
    }

    fn handle_verdict(&mut self, v: Verdict) {
        let Some(f) = self.matches.get_mut(&v.match_id) else { return };
        // The server's own trouble settles nothing (PROTOCOL.md 5.4): the move stays pending
        // and goes again, with its id, after the next catch-up.
        if let VerdictResult::Rejected(body) = &v.result
            && RETRIED_CODES.contains(&body.code.as_str())
        {
            return;
        }
        if f.pending.remove(&v.move_id).is_none() {
            return; // Settled already, by its event.
        }
        if matches!(v.result, VerdictResult::Rejected(_))
            && f.steering.is_some_and(|s| s.move_id == v.move_id)
        {
            f.steering = None;
        }
        self.updates.push_back(Update::Verdict {
            match_id: v.match_id,
            move_id: v.move_id,
            result: v.result,
        });
    }

    fn handle_error(&mut self, now_ms: u64, e: ErrorMsg) {
        match (e.code.as_str(), &e.match_id) {
            ("token_malformed" | "token_invalid" | "token_expired" | "unsupported_version", _) => {
                // Retrying cannot help: stop, and let the page get a new token.
                self.close();
            }
            (code, Some(id)) if code == "slow_down" || RETRIED_CODES.contains(&code) => {
                if let Some(f) = self.matches.get_mut(id) {
                    f.subscribed = false;
                    f.joining = false;
                    f.caught_up = false;
                    f.rejoin_at_ms = Some(now_ms + REJOIN_DELAY_MS);
                }
            }
            ("rate_limited", None) => {
                // Dropped frames get no answer: join again later (the catch-up resends the
                // moves still pending), also where a join itself may have been dropped.
                for f in self.matches.values_mut().filter(|f| !f.pending.is_empty() || f.joining) {
                    f.joining = false;
                    f.rejoin_at_ms = Some(now_ms + REJOIN_DELAY_MS);
                }
            }
            ("bad_cursor", Some(id)) => {
                let id = id.clone();
                self.resync(&id);
            }
            (_, Some(id)) => {
                if let Some(f) = self.matches.get_mut(id) {
                    f.subscribed = false;
                    f.joining = false;
                    f.caught_up = false;
                }
            }
            _ => {}
        }
        self.updates.push_back(Update::Error {
            code: e.code,
            message: e.message,
            match_id: e.match_id,
        });
    }
}
