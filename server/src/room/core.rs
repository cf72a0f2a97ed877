//! The room core: a synchronous state machine for one match. It is fed `(now, input)` through
//! [`Room::handle`] and says what to do through [`Room::poll_output`] and
//! [`Room::poll_timeout`]; it never touches a socket, a file or a clock.
//!
//! Ordering promise: a move is applied to the in-memory state at once (so the next move is
//! validated against it), but its event, its verdict and its broadcast are released only when
//! the store reports the append durable. A failed append poisons the room: it answers what
//! was pending with `storage_error` and asks to be rebuilt from the log, which never holds
//! an event that was not acknowledged.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};

use game_rules::{Games, Mode, Seat, Viewer};
use protocol::v1::{
    CaughtUp, ErrorBody, ErrorMsg, Event, EventBody, Joined, MoveId, Role, ServerMsg, Snapshot,
    VerdictResult,
};

pub use self::clock::NextTick;
pub use self::inspect::{RoomSummary, SeatSummary};
pub use self::lobby::LobbyAct;
use crate::replay::MatchState;
use crate::storage::{Append, AppendError, BotSpec, MatchSummary, Record, StateSnapshot};

mod clock;
mod fork;
mod inspect;
mod join;
mod lobby;
mod moves;
mod snapshot;
mod turn_timer;

/// A connection, as the driver numbers them.
pub type ConnId = u64;
/// An HTTP request waiting on the room, as the driver numbers them.
pub type RequestId = u64;

/// Who gets a verdict: a connection, or an HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    /// A WebSocket (or QUIC) connection.
    Conn(ConnId),
    /// An HTTP request.
    Request(RequestId),
}

/// An authenticated player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerRef {
    /// Their id (from the token).
    pub player_id: String,
    /// Their display name.
    pub name: String,
}

/// Room settings from the server's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSettings {
    /// A turn not played within this many ms times out (an empty tick). `None`: no timer.
    pub turn_timeout_ms: Option<u64>,
    /// Durable events kept in memory for catch-up; older ones are read from the log.
    pub history_cap: usize,
    /// A room with no subscribers and nothing pending for this long unloads.
    pub idle_unload_ms: u64,
    /// Rule rejections remembered for retried move ids, per seat (the oldest is forgotten
    /// first). Accepted moves are remembered for the match's whole life.
    pub verdict_cap: usize,
    /// Connections subscribed at once; past it a join is refused, unless it is a seated
    /// player's, so that spectators can never lock a match's players out.
    pub max_subscribers: usize,
    /// The games this server plays: a match's log names one of them.
    pub games: Games,
    /// A room snapshots its state every this many events (0: never), so that a long match
    /// reloads from the latest snapshot and the log's tail.
    pub snapshot_every: u64,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            turn_timeout_ms: None,
            history_cap: 4096,
            idle_unload_ms: 60_000,
            verdict_cap: 256,
            max_subscribers: 1000,
            games: Games::new(),
            snapshot_every: 1000,
        }
    }
}

/// What the room receives.
#[derive(Debug)]
pub enum Input {
    /// A connection subscribes, as a player or spectator, from a cursor or by snapshot.
    Join {
        /// The connection.
        conn: ConnId,
        /// Who it is.
        player: PlayerRef,
        /// Player or spectator.
        role: Role,
        /// First seq wanted; `None` asks for a snapshot.
        from_seq: Option<u64>,
    },
    /// A connection unsubscribes or closed.
    Leave {
        /// The connection.
        conn: ConnId,
    },
    /// A player moves (the move is MessagePack).
    Move {
        /// Who to answer.
        from: Client,
        /// The mover's player id (from their token).
        player_id: String,
        /// The client's move id.
        move_id: MoveId,
        /// The move.
        mv: Vec<u8>,
    },
    /// A player asks for a seat (HTTP join), or a bot is seated.
    TakeSeat {
        /// The request to answer.
        request: RequestId,
        /// Who.
        player: PlayerRef,
        /// A particular seat, or the first free one.
        seat: Option<Seat>,
        /// Set for a server-side bot.
        bot: Option<BotSpec>,
    },
    /// A player leaves, cancels or resigns the match; answered with [`Reply::Done`].
    Lobby {
        /// The request to answer.
        request: RequestId,
        /// Who (from their token).
        player_id: String,
        /// What they do.
        act: LobbyAct,
    },
    /// The store finished the append that started at `first_seq`.
    AppendDone {
        /// Its first seq.
        first_seq: u64,
        /// Durable, or not.
        result: Result<(), AppendError>,
    },
    /// The clock reached the deadline from [`Room::poll_timeout`].
    Timer,
    /// The registry needs this room's place for another room: stop if idle, else go on.
    Unload,
    /// An administrator asks what the room holds; answered with [`Reply::Summary`].
    Summary {
        /// The request to answer.
        request: RequestId,
    },
    /// An administrator closes the room: every subscriber is disconnected and the room stops
    /// (the log is not touched; the next use reloads the match from it). Answered with
    /// [`Reply::Closed`].
    Close {
        /// The request to answer.
        request: RequestId,
    },
}

/// Answers to HTTP requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The seat taken (or already held).
    Seat(Result<Seat, RoomError>),
    /// A move's verdict.
    Verdict(VerdictResult),
    /// The match was created durably.
    Created(Result<(), RoomError>),
    /// A lobby act's record is durable at this seq, or was refused.
    Done(Result<u64, RoomError>),
    /// The room cannot serve requests now (rebuilding, or it failed); retry.
    Unavailable {
        /// `room_restarting` or `room_failed`.
        code: &'static str,
    },
    /// What the room holds.
    Summary(Box<RoomSummary>),
    /// The room closed, disconnecting this many people's connections (bot seats stop with
    /// the room and are not counted).
    Closed {
        /// Connections disconnected.
        disconnected: usize,
    },
}

/// Why the room refused a request that is not a move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// Every seat is taken.
    #[error("every seat of this match is taken")]
    MatchFull,
    /// The seat asked for is taken or does not exist.
    #[error("that seat is taken or does not exist")]
    SeatTaken,
    /// The match is over.
    #[error("the match is over")]
    MatchOver,
    /// The store failed; nothing was recorded.
    #[error("storage failed: {0}")]
    Storage(String),
    /// The caller holds no seat in this match.
    #[error("you hold no seat in this match")]
    NotSeated,
    /// Only the match's creator may do this.
    #[error("only the player who created this match may cancel it")]
    NotCreator,
    /// Every seat has been taken: the match has started (resign instead).
    #[error("the match has started; resign instead")]
    MatchStarted,
    /// A seat is still free: the match has not started (leave instead).
    #[error("the match has not started; leave instead")]
    NotStarted,
}

impl RoomError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            RoomError::MatchFull => "match_full",
            RoomError::SeatTaken => "seat_taken",
            RoomError::MatchOver => "match_over",
            RoomError::Storage(_) => "storage_error",
            RoomError::NotSeated => "not_seated",
            RoomError::NotCreator => "not_creator",
            RoomError::MatchStarted => "match_started",
            RoomError::NotStarted => "match_not_started",
        }
    }
}

/// Why the room refused a join; the connection is not subscribed after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefusal {
    /// A join as player by someone who holds no seat.
    #[error("join the match over HTTP first, or join as a spectator")]
    NotSeated,
    /// The cursor is past the head + 1.
    #[error("from_seq {from} is past the head {head}")]
    BadCursor {
        /// The cursor asked for.
        from: u64,
        /// The durable head.
        head: u64,
    },
    /// The room is being rebuilt after a failed append.
    #[error("the room is being rebuilt; rejoin")]
    RoomRestarting,
    /// The match has its maximum of subscribers.
    #[error("this match has its maximum of {max} subscribers; join later")]
    TooManySubscribers {
        /// The cap.
        max: usize,
    },
}

impl JoinRefusal {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            JoinRefusal::NotSeated => "not_seated",
            JoinRefusal::BadCursor { .. } => "bad_cursor",
            JoinRefusal::RoomRestarting => "room_restarting",
            JoinRefusal::TooManySubscribers { .. } => "too_many_subscribers",
        }
    }
}

/// What the room asks its driver to do.
#[derive(Debug)]
pub enum Output {
    /// Send one message to one connection.
    Send {
        /// To whom.
        conn: ConnId,
        /// What.
        msg: ServerMsg,
    },
    /// Send these messages to one connection, together (a catch-up).
    SendBatch {
        /// To whom.
        conn: ConnId,
        /// What, in order.
        msgs: Vec<ServerMsg>,
    },
    /// The connection is not (or no longer) subscribed: forget its sink and tell its session.
    Detach {
        /// Which.
        conn: ConnId,
    },
    /// Close the connection: an administrator closed the match it follows.
    Disconnect {
        /// Which.
        conn: ConnId,
    },
    /// Send one message, identical for all, to these connections.
    Broadcast {
        /// To whom.
        conns: Vec<ConnId>,
        /// What.
        msg: ServerMsg,
    },
    /// A move was decided: count it once (`accepted` or the rejection code). A retried move
    /// id answered from memory is not decided again, so it has none.
    Decided {
        /// `accepted` or the rejection code.
        result: Cow<'static, str>,
    },
    /// Answer an HTTP request.
    Reply {
        /// Which.
        request: RequestId,
        /// The answer.
        reply: Reply,
    },
    /// Make these records durable, then feed back [`Input::AppendDone`].
    Append(Append),
    /// Keep this snapshot of the durable state (it may be dropped: it is only a shortcut).
    Snapshot(StateSnapshot),
    /// Send this connection the events `from_seq..=to_seq` from the log (older than the
    /// in-memory history), then [`Input::Join`]'s tail continues from memory.
    Backfill {
        /// To whom.
        conn: ConnId,
        /// First seq.
        from_seq: u64,
        /// Last seq.
        to_seq: u64,
    },
    /// A bot's seat is durable (or the match was restored with one): start it playing.
    StartBot {
        /// Its seat.
        seat: Seat,
        /// Its identity.
        player: PlayerRef,
        /// How it plays.
        spec: BotSpec,
        /// Its strategy's seed (from the match's seed, so a bot's play is reproducible).
        seed: u64,
    },
    /// The room is poisoned (an append failed) or idle: stop it; the next use rebuilds it from
    /// the log.
    Stop {
        /// Why, for the logs.
        reason: &'static str,
    },
}

/// A subscribed connection.
#[derive(Debug, Clone)]
struct Subscriber {
    viewer: Viewer,
    /// A person (not a server-side bot): only people keep a room loaded and its clock running.
    human: bool,
}

/// An append in flight and what waits on it.
#[derive(Debug)]
struct Pending {
    first_seq: u64,
    /// The wire events it releases, with the state hash / status after each.
    events: Vec<Event>,
    /// Verdicts to send once durable: (client, seat, move id, seq).
    verdicts: Vec<(Client, Seat, MoveId, u64)>,
    /// HTTP requests to answer once durable.
    replies: Vec<(RequestId, Reply)>,
    /// Seats taken by this append (their bots start, and their holders are answered, once
    /// it is durable).
    seated: Vec<Seat>,
}

/// One match's room.
pub struct Room {
    match_id: String,
    settings: RoomSettings,
    m: MatchState,
    /// The last durable seq.
    durable: Option<u64>,
    subscribers: BTreeMap<ConnId, Subscriber>,
    /// Joins that asked for a snapshot while appends were in flight (the in-memory state is
    /// ahead of the durable one then); served when the room is idle again.
    deferred_joins: Vec<(ConnId, PlayerRef, Role, Option<u64>)>,
    history: VecDeque<Event>,
    pending: VecDeque<Pending>,
    /// Every accepted move of the match by `(seat, move_id)`: its seq. Rebuilt from the log
    /// when the room loads, so a retry gets its verdict at any age.
    accepted: HashMap<(Seat, MoveId), u64>,
    /// Rule rejections per seat, oldest first, at most `verdict_cap` each: one seat's
    /// refusals can never push out another's.
    rejected: HashMap<Seat, VecDeque<(MoveId, VerdictResult)>>,
    /// Real-time inputs gathered for the next tick: at most one per seat (`clock.rs`).
    gathered: Vec<(Seat, Vec<u8>, Client, MoveId)>,
    outputs: VecDeque<Output>,
    now_ms: u64,
    /// When the current turn started (for turn timers) or the last tick ran.
    clock_since_ms: u64,
    /// When the current run of the real-time clock started: tick n is due n periods later.
    tick_origin_ms: u64,
    /// Ticks counted in the current run of the real-time clock.
    ticks_run: u64,
    /// When the room last had a subscriber or pending work.
    idle_since_ms: u64,
    /// The Unix ms at which `now_ms` was 0 (see `turn_timer.rs`).
    wall_base_ms: u64,
    /// The seq of the latest snapshot taken or loaded from (see `snapshot.rs`).
    snapshot_seq: u64,
    poisoned: bool,
}

impl Room {
    /// A new match: queues the append of its creation record.
    ///
    /// Seats given at creation (server bots, or the players a quick match paired) are taken
    /// in the same append as the creation, so a match never exists without them.
    pub fn create(
        match_id: String,
        created: Record,
        seating: Vec<(Seat, PlayerRef, Option<BotSpec>)>,
        settings: RoomSettings,
        now_ms: u64,
        request: Option<RequestId>,
    ) -> Result<Room, crate::replay::ReplayError> {
        let m = MatchState::create(&settings.games, &created)?;
        let mut room = Room::new(match_id, m, None, settings, now_ms);
        room.set_wall_base(room.m.created_at_ms.saturating_sub(now_ms));
        let mut events = vec![room.event(0, EventBody::Created(room.m.created.clone()))];
        let mut records = vec![created.encode()];
        for (seat, player, bot) in seating {
            let (player_id, name, at_ms) = (player.player_id, player.name, Some(room.wall_ms()));
            let record = Record::Seated { seat, player_id, name, bot, at_ms };
            let seq = room.m.head + 1;
            let body = room.m.apply(seq, &record)?;
            events.push(room.event(seq, body));
            records.push(record.encode());
        }
        let replies = request.map(|r| (r, Reply::Created(Ok(())))).into_iter().collect();
        room.push_append(0, records, events, Vec::new(), replies);
        Ok(room)
    }

    /// A match rebuilt from its log; `history` holds its most recent events.
    pub fn restore(
        match_id: String,
        m: MatchState,
        history: Vec<Event>,
        settings: RoomSettings,
        now_ms: u64,
    ) -> Room {
        let head = m.head;
        let mut room = Room::new(match_id, m, Some(head), settings, now_ms);
        let cap = room.settings.history_cap;
        room.history.extend(history.into_iter().rev().take(cap).rev());
        if !room.m.status().is_over() {
            let seats: Vec<Seat> = (0..room.m.seats.len() as Seat).collect();
            room.start_bots(&seats);
        }
        room
    }

    /// Asks the driver to start the bots among `seats`.
    fn start_bots(&mut self, seats: &[Seat]) {
        for &seat in seats {
            let Some(Some(holder)) = self.m.seats.get(usize::from(seat)) else { continue };
            let Some(spec) = holder.bot else { continue };
            let player =
                PlayerRef { player_id: holder.player_id.clone(), name: holder.name.clone() };
            let seed = self.m.created.seed.wrapping_add(u64::from(seat));
            self.outputs.push_back(Output::StartBot { seat, player, spec, seed });
        }
    }

    fn new(
        match_id: String,
        m: MatchState,
        durable: Option<u64>,
        settings: RoomSettings,
        now_ms: u64,
    ) -> Room {
        Room {
            match_id,
            settings,
            m,
            durable,
            subscribers: BTreeMap::new(),
            deferred_joins: Vec::new(),
            history: VecDeque::new(),
            pending: VecDeque::new(),
            accepted: HashMap::new(),
            rejected: HashMap::new(),
            gathered: Vec::new(),
            outputs: VecDeque::new(),
            now_ms,
            clock_since_ms: now_ms,
            tick_origin_ms: now_ms,
            ticks_run: 0,
            idle_since_ms: now_ms,
            wall_base_ms: 0,
            snapshot_seq: 0,
            poisoned: false,
        }
    }

    /// Remembers an accepted move found in the log, so a retry after a restart gets its
    /// original verdict.
    pub fn remember_accepted(&mut self, seat: Seat, move_id: MoveId, seq: u64) {
        let _ = self.remember(seat, move_id, VerdictResult::Accepted { seq });
    }

    /// The match id.
    pub fn match_id(&self) -> &str {
        &self.match_id
    }

    /// The match as it stands (including appends still in flight).
    pub fn state(&self) -> &MatchState {
        &self.m
    }

    /// Feeds one input at time `now_ms` (a monotonic clock, in ms).
    pub fn handle(&mut self, now_ms: u64, input: Input) {
        self.now_ms = self.now_ms.max(now_ms);
        if self.poisoned {
            self.refuse_poisoned(input);
            return;
        }
        match input {
            Input::Join { conn, player, role, from_seq } => {
                self.handle_join(conn, player, role, from_seq)
            }
            Input::Leave { conn } => {
                self.subscribers.remove(&conn);
                self.deferred_joins.retain(|d| d.0 != conn);
            }
            Input::Move { from, player_id, move_id, mv } => {
                self.handle_move(from, &player_id, move_id, &mv)
            }
            Input::TakeSeat { request, player, seat, bot } => {
                self.handle_take_seat(request, player, seat, bot)
            }
            Input::Lobby { request, player_id, act } => self.handle_lobby(request, &player_id, act),
            Input::AppendDone { first_seq, result } => self.handle_append_done(first_seq, result),
            Input::Timer => self.handle_timer(),
            Input::Unload => {
                if self.is_idle() {
                    self.outputs.push_back(Output::Stop { reason: "unloaded for another room" });
                }
            }
            Input::Summary { request } => self.handle_summary(request),
            Input::Close { request } => self.handle_close(request),
        }
        self.refuse_gathered_if_over();
        if self.watched() || self.busy() {
            self.idle_since_ms = self.now_ms;
        }
    }

    /// Whether nothing keeps the room loaded: no person subscribed and no append in flight.
    /// An idle room unloads after `idle_unload_ms`, or sooner when its place is needed.
    pub fn is_idle(&self) -> bool {
        !self.poisoned && !self.watched() && !self.busy()
    }

    /// Whether work keeps the room loaded although no person watches: an append in flight, or
    /// a move sent over HTTP waiting for its tick.
    fn busy(&self) -> bool {
        !self.pending.is_empty() || self.http_input_waiting()
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to feed [`Input::Timer`] next (same clock as `handle`).
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.poisoned {
            return None;
        }
        let mut deadline = None;
        if !self.watched() && !self.busy() {
            deadline = Some(self.idle_since_ms + self.settings.idle_unload_ms);
        }
        if let Some(clock) = self.clock_deadline() {
            deadline = Some(deadline.map_or(clock, |d: u64| d.min(clock)));
        }
        deadline
    }

    /// When the game clock (turn timer or real-time tick) fires next.
    ///
    /// The clock runs only while someone is connected: an abandoned match neither ticks
    /// forever nor stays loaded, and its clock restarts when the room reloads. A match's own
    /// timer is the exception: its clock runs on logged time (`turn_timer.rs`).
    fn clock_deadline(&self) -> Option<u64> {
        if self.has_match_timer() {
            return self.match_deadline();
        }
        let unwatched = !self.watched() && !self.http_input_waiting();
        if unwatched || self.m.status().is_over() || self.m.seats.iter().any(Option::is_none) {
            return None;
        }
        match self.m.state.mode() {
            Mode::RealTime { tick_hz } => Some(self.tick_due_ms(tick_hz, self.ticks_run + 1)),
            Mode::Turns => {
                // A match's own timer wins over the server's.
                let move_ms = self.m.timer.map(|t| t.move_ms).or(self.settings.turn_timeout_ms);
                move_ms.map(|t| self.clock_since_ms + t)
            }
        }
    }

    fn refuse_poisoned(&mut self, input: Input) {
        let body = || ErrorBody {
            code: "room_restarting".into(),
            message: "the room is being rebuilt; retry".into(),
        };
        match input {
            Input::Move { from, move_id, .. } => {
                self.decide(from, move_id, VerdictResult::Rejected(body()))
            }
            Input::TakeSeat { request, .. } | Input::Lobby { request, .. } => {
                let reply = Reply::Unavailable { code: "room_restarting" };
                self.outputs.push_back(Output::Reply { request, reply });
            }
            Input::Join { conn, .. } => self.refuse_join(conn, &JoinRefusal::RoomRestarting),
            // A poisoned room still says what it holds, and is stopping already: a close has
            // nobody left to disconnect.
            Input::Summary { request } => self.handle_summary(request),
            Input::Close { request } => {
                let reply = Reply::Closed { disconnected: 0 };
                self.outputs.push_back(Output::Reply { request, reply });
            }
            Input::Leave { .. } | Input::AppendDone { .. } | Input::Timer | Input::Unload => {}
        }
    }

    // ----- seats -----

    fn handle_take_seat(
        &mut self,
        request: RequestId,
        player: PlayerRef,
        wanted: Option<Seat>,
        bot: Option<BotSpec>,
    ) {
        if let Some(seat) = self.m.seat_of(&player.player_id) {
            // Held already; if its record is still in flight, answer when it is durable.
            let reply = Reply::Seat(Ok(seat));
            match self.pending.iter_mut().find(|p| p.seated.contains(&seat)) {
                Some(pending) => pending.replies.push((request, reply)),
                None => self.outputs.push_back(Output::Reply { request, reply }),
            }
            return;
        }
        if self.m.status().is_over() {
            self.outputs.push_back(Output::Reply {
                request,
                reply: Reply::Seat(Err(RoomError::MatchOver)),
            });
            return;
        }
        let Some(free) = self.m.seats.iter().position(Option::is_none) else {
            self.outputs.push_back(Output::Reply {
                request,
                reply: Reply::Seat(Err(RoomError::MatchFull)),
            });
            return;
        };
        let seat = match wanted {
            None => free as Seat,
            Some(seat) if self.m.seats.get(usize::from(seat)).is_some_and(Option::is_none) => seat,
            Some(_) => {
                self.outputs.push_back(Output::Reply {
                    request,
                    reply: Reply::Seat(Err(RoomError::SeatTaken)),
                });
                return;
            }
        };
        let (player_id, name, at_ms) = (player.player_id, player.name, Some(self.wall_ms()));
        let record = Record::Seated { seat, player_id, name, bot, at_ms };
        let seq = self.m.head + 1;
        let body = self.m.apply(seq, &record).expect("a free seat of this match can be taken");
        if self.m.seats.iter().all(Option::is_some) {
            // The game clock starts when the last seat fills.
            self.restart_clock();
        }
        let event = self.event(seq, body);
        self.push_append(
            seq,
            vec![record.encode()],
            vec![event],
            Vec::new(),
            vec![(request, Reply::Seat(Ok(seat)))],
        );
    }

    // ----- the clock -----

    fn handle_timer(&mut self) {
        if let Some(deadline) = self.clock_deadline()
            && self.now_ms >= deadline
        {
            if self.has_match_timer() {
                self.expire();
            } else {
                self.tick();
                if let Mode::RealTime { tick_hz } = self.m.state.mode() {
                    self.count_tick(tick_hz);
                }
            }
        }
        let idle = !self.watched() && !self.busy();
        if idle && self.now_ms >= self.idle_since_ms + self.settings.idle_unload_ms {
            self.outputs.push_back(Output::Stop { reason: "idle" });
        }
    }

    /// A turn timeout (no inputs) or a real-time tick (the gathered inputs that still
    /// validate) as one event, which holds exactly the inputs applied.
    fn tick(&mut self) {
        let mover = self.m.mover();
        let gathered = self.take_valid_inputs();
        let inputs: Vec<(Seat, Vec<u8>)> =
            gathered.iter().map(|(s, mv, _, _)| (*s, mv.clone())).collect();
        let action = match self.m.state.tick(&inputs) {
            Ok(action) => action,
            Err(e) => {
                // Inputs were canonicalised by check_move, so they always decode.
                tracing::error!(error = %e, "tick inputs failed to decode");
                return;
            }
        };
        let seq = self.m.head + 1;
        self.m.head = seq;
        self.clock_since_ms = self.now_ms;
        let at_ms = self.wall_ms();
        self.m.note_time(at_ms, mover);
        let input_ids: Vec<MoveId> = gathered.iter().map(|g| g.3).collect();
        let event = self.event(seq, crate::replay::wire_action(&action, None, &input_ids));
        let state_hash = self.recorded_hash(&event);
        let verdicts =
            gathered.into_iter().map(|(seat, _, from, id)| (from, seat, id, seq)).collect();
        let at_ms = Some(at_ms);
        let record = Record::Action { action, move_id: None, at_ms, state_hash, input_ids };
        self.push_append(seq, vec![record.encode()], vec![event], verdicts, Vec::new());
    }

    // ----- durability -----

    fn push_append(
        &mut self,
        first_seq: u64,
        records: Vec<Vec<u8>>,
        events: Vec<Event>,
        verdicts: Vec<(Client, Seat, MoveId, u64)>,
        replies: Vec<(RequestId, Reply)>,
    ) {
        let summary = self.summary();
        let append = Append { match_id: self.match_id.clone(), first_seq, records, summary };
        let seated = events
            .iter()
            .filter_map(|e| match &e.body {
                Some(EventBody::Seated(s)) => Some(s.seat),
                _ => None,
            })
            .collect();
        self.pending.push_back(Pending { first_seq, events, verdicts, replies, seated });
        self.outputs.push_back(Output::Append(append));
    }

    fn handle_append_done(&mut self, first_seq: u64, result: Result<(), AppendError>) {
        let Some(front) = self.pending.front() else { return };
        assert_eq!(front.first_seq, first_seq, "the store completes a room's appends in order");
        if let Err(error) = result {
            self.poison(&error);
            return;
        }
        let done = self.pending.pop_front().expect("front exists");
        for event in done.events {
            self.durable = Some(event.seq);
            self.publish(event);
        }
        for (from, seat, move_id, seq) in done.verdicts {
            let verdict = VerdictResult::Accepted { seq };
            // A retry that waited on this append gets the verdict too, but it is one move.
            if self.remember(seat, move_id, verdict.clone()) {
                self.decide(from, move_id, verdict);
            } else {
                self.send_verdict(from, move_id, verdict);
            }
        }
        for (request, reply) in done.replies {
            self.outputs.push_back(Output::Reply { request, reply });
        }
        self.start_bots(&done.seated);
        self.serve_deferred_joins();
        self.snapshot_if_due();
    }

    /// An append failed: the in-memory state is ahead of the log, so nothing pending may be
    /// published. Refuse it all and ask to be rebuilt from the log.
    fn poison(&mut self, error: &AppendError) {
        self.poisoned = true;
        let message = error.to_string();
        for pending in std::mem::take(&mut self.pending) {
            let mut refused = Vec::new();
            for (from, seat, move_id, _) in pending.verdicts {
                let body = ErrorBody { code: "storage_error".into(), message: message.clone() };
                let verdict = VerdictResult::Rejected(body);
                // Retries that waited on the same move are answered, not counted again.
                if refused.contains(&(seat, move_id)) {
                    self.send_verdict(from, move_id, verdict);
                } else {
                    refused.push((seat, move_id));
                    self.decide(from, move_id, verdict);
                }
            }
            for (request, _) in pending.replies {
                let reply = Reply::Seat(Err(RoomError::Storage(message.clone())));
                self.outputs.push_back(Output::Reply { request, reply });
            }
        }
        let conns: Vec<ConnId> = self
            .subscribers
            .keys()
            .copied()
            .chain(self.deferred_joins.iter().map(|d| d.0))
            .collect();
        for conn in conns {
            self.send_error(conn, "room_restarting", "storage failed; rejoin from your last seq");
            self.outputs.push_back(Output::Detach { conn });
        }
        self.subscribers.clear();
        self.deferred_joins.clear();
        self.outputs.push_back(Output::Stop { reason: "append failed" });
    }

    /// Sends a durable event to every subscriber and keeps it for catch-up.
    fn publish(&mut self, event: Event) {
        if self.m.state.is_public() || event.view.is_none() {
            let conns: Vec<ConnId> = self.subscribers.keys().copied().collect();
            if !conns.is_empty() {
                self.outputs
                    .push_back(Output::Broadcast { conns, msg: ServerMsg::Event(event.clone()) });
            }
        } else {
            // Hidden information: each viewer gets its own view of the current state.
            for (&conn, sub) in &self.subscribers {
                let (state_hash, status, view) = self.m.observe(sub.viewer);
                let mine = Event { state_hash, status, view, ..event.clone() };
                self.outputs.push_back(Output::Send { conn, msg: ServerMsg::Event(mine) });
            }
        }
        if self.history.len() == self.settings.history_cap {
            self.history.pop_front();
        }
        self.history.push_back(event);
    }

    // ----- helpers -----

    /// The wire event for `seq` with the state as it stands now.
    fn event(&self, seq: u64, body: EventBody) -> Event {
        let (state_hash, status, view) = self.m.observe(Viewer::Spectator);
        let public =
            self.m.state.is_public() || !matches!(body, EventBody::Move(_) | EventBody::Tick(_));
        Event {
            match_id: self.match_id.clone(),
            seq,
            state_hash,
            status,
            body: public.then_some(body),
            view: if public { None } else { view },
        }
    }

    /// The rules state's hash for the record of `event`: the event's own for a public game
    /// (computed once), the full state's otherwise (the event shows a view's).
    fn recorded_hash(&self, event: &Event) -> Option<u64> {
        let public = self.m.state.is_public();
        Some(if public { event.state_hash.0 } else { self.m.state.state_hash().0 })
    }

    fn summary(&self) -> MatchSummary {
        self.m.summary(&self.match_id)
    }

    fn send_error(&mut self, conn: ConnId, code: &str, message: &str) {
        let msg = ServerMsg::Error(ErrorMsg {
            code: code.into(),
            message: message.into(),
            match_id: Some(self.match_id.clone()),
        });
        self.outputs.push_back(Output::Send { conn, msg });
    }
}

#[cfg(test)]
mod tests;
