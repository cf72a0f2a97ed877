//! The async shell around a [`Room`]: one tokio task per loaded match. It owns the room's
//! connections' outboxes, feeds the core time and inputs from one bounded inbox, carries out
//! its outputs, and contains its panics.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::Encoding;
use protocol::v1::{ErrorMsg, ServerMsg};
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, info_span, warn};

use super::appends::{Appends, Landed};
use super::core::{Client, ConnId, Input, Output, Reply, RequestId, Room};
use super::ticks::TickTimes;
use crate::metrics::LoadLabels;
use crate::replay::{Origin, replay_from};
use crate::rooms::{Idleness, RoomContext, Slot};
use crate::session::CloseReason;
use crate::storage::{ReadError, SharedLog, StateSnapshot, StoredRecord, read_all};

/// Frames for a connection's writer, already encoded.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// One encoded message.
    Frame(Bytes, Encoding),
    /// Several messages that must arrive together (a catch-up): one outbox slot, so a long
    /// catch-up cannot overflow the outbox of a reader that keeps up.
    Batch(Vec<Bytes>, Encoding),
    /// The connection is no longer subscribed to this match (a refused join, a failed
    /// catch-up, a room that stopped): the session forgets it if `generation` is still its
    /// latest join of the match.
    Detached(String, u64),
}

impl Outgoing {
    /// The encoded messages it carries.
    pub fn frames(&self) -> &[Bytes] {
        match self {
            Outgoing::Frame(bytes, _) => std::slice::from_ref(bytes),
            Outgoing::Batch(frames, _) => frames,
            Outgoing::Detached(..) => &[],
        }
    }
}

/// A connection as a room sees it: where to send, in which encoding, and how to make it close.
#[derive(Clone)]
pub struct ConnSink {
    /// Bounded queue to the connection's writer.
    pub outbox: mpsc::Sender<Outgoing>,
    /// The connection's encoding.
    pub encoding: Encoding,
    /// Cancelled (with a reason set first) to make the connection close.
    pub kick: Arc<Kick>,
    /// Which join of this connection to this match the sink belongs to, echoed in
    /// `Detached`, so that a refusal of an earlier join cannot undo a later one.
    pub generation: u64,
}

/// A request to close a connection, with its reason.
#[derive(Default)]
pub struct Kick {
    reason: std::sync::OnceLock<CloseReason>,
    /// Fires when a reason is set.
    pub token: tokio_util::sync::CancellationToken,
}

impl Kick {
    /// Asks the connection to close, with a reason.
    pub fn close(&self, reason: CloseReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// The reason given, if any.
    pub fn reason(&self) -> Option<&CloseReason> {
        self.reason.get()
    }
}

/// What reaches a room's inbox.
pub enum RoomMsg {
    /// A connection joins; its sink is registered first.
    Join {
        /// The join.
        input: Input,
        /// Where to send.
        sink: ConnSink,
    },
    /// A move from a connection, with the way back to it: a connection that is not subscribed
    /// here (its join was refused, say) is answered `not_joined` by the driver itself.
    Move {
        /// The move (`Input::Move` from `Client::Conn`).
        input: Input,
        /// Where to answer.
        sink: ConnSink,
    },
    /// Any other input from a connection.
    Input(Input),
    /// An HTTP request; the reply comes back on the channel.
    Request {
        /// The input, with its `RequestId` to be filled in.
        make: Box<dyn FnOnce(RequestId) -> Input + Send>,
        /// Where to answer.
        reply: oneshot::Sender<Reply>,
    },
    /// An administrator's request (a summary, a close): answered like `Request`, but never
    /// worth loading the room for, so a room that stops with one queued drops it (its reply
    /// with it) instead of reloading.
    Admin {
        /// The input, with its `RequestId` to be filled in.
        make: Box<dyn FnOnce(RequestId) -> Input + Send>,
        /// Where to answer.
        reply: oneshot::Sender<Reply>,
    },
}

impl RoomMsg {
    /// Whether the message needs the match's room at all: an administrator's question does
    /// not, and neither does a connection leaving (a room loaded from the log holds no
    /// subscription to end). A stopped room's successor is loaded only for messages that do.
    pub fn needs_room(&self) -> bool {
        !matches!(self, RoomMsg::Admin { .. } | RoomMsg::Input(Input::Leave { .. }))
    }
}

/// What a room task holds for the registry: its place under the cap, and where it says
/// whether it is idle.
pub struct Held {
    /// Its place; handed to a successor, or given back when the task ends.
    pub slot: Slot,
    /// Its idleness, as the registry reads it to choose a room to unload.
    pub idle: Arc<Idleness>,
}

/// How a room starts.
pub enum Start {
    /// Rebuild from the log.
    Load,
    /// A new match; its creation is answered on the channel.
    Create(Box<Room>, oneshot::Sender<Reply>),
}

struct Driver {
    ctx: Arc<RoomContext>,
    match_id: String,
    started: Instant,
    conns: HashMap<ConnId, ConnSink>,
    requests: HashMap<RequestId, oneshot::Sender<Reply>>,
    next_request: RequestId,
    appends: Appends,
    idle: Arc<Idleness>,
    ticks: TickTimes,
}

/// Runs a room until it stops, is unloaded, or panics.
pub async fn run(
    ctx: Arc<RoomContext>,
    match_id: String,
    start: Start,
    inbox: mpsc::Receiver<RoomMsg>,
    held: Held,
) {
    let span = info_span!("room", match_id = %match_id);
    async move {
        ctx.metrics.rooms_live.inc();
        let started = Instant::now();
        let mut driver = Driver {
            ctx: ctx.clone(),
            match_id: match_id.clone(),
            started,
            conns: HashMap::new(),
            requests: HashMap::new(),
            next_request: 1,
            appends: Appends::default(),
            idle: held.idle,
            ticks: TickTimes::new(started),
        };
        let room = match start {
            Start::Create(room, reply) => {
                driver.requests.insert(0, reply);
                Some(*room)
            }
            Start::Load => driver.load().await,
        };
        match room {
            Some(mut room) => {
                room.set_wall_base(crate::app::unix_ms().saturating_sub(driver.now_ms()));
                let inbox = driver.drive(room, inbox).await;
                // Messages that arrived as the room stopped go to its successor, loaded from
                // the log, ahead of anything sent later.
                ctx.succeed(&match_id, inbox, held.slot);
            }
            None => {
                driver.refuse_all(inbox).await;
                ctx.rooms.forget(&match_id);
            }
        }
        ctx.metrics.rooms_live.dec();
    }
    .instrument(span)
    .await
}

impl Driver {
    fn now_ms(&self) -> u64 {
        self.ms_at(Instant::now())
    }

    /// The room's clock at `at`.
    fn ms_at(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_millis() as u64
    }

    /// After a timer: counts the real-time tick it fired, if any, in `/metrics`.
    fn note_tick(&mut self, room: &Room, woke: Instant, head_before: u64) {
        let (head, next) = (room.state().head, room.next_tick());
        let Some(fired) = self.ticks.fired(woke, head_before, head, next) else { return };
        let metrics = &self.ctx.metrics;
        metrics.tick_lateness_seconds.observe(fired.lateness.as_secs_f64());
        metrics.ticks_skipped.inc_by(fired.skipped);
    }

    /// Rebuilds the room from the log; `None` if the match does not exist or does not replay.
    async fn load(&mut self) -> Option<Room> {
        if let Some(why) = self.ctx.log.quarantined(&self.match_id) {
            warn!(reason = %why, "match is quarantined; not loading it");
            let message = format!("match {} is quarantined: {why}", self.match_id);
            self.ctx.journal.note("room_unloadable", message);
            return None;
        }
        let began = Instant::now();
        let (records, snapshot) = self.read_log().await.ok()?;
        if records.is_empty() {
            return None;
        }
        let settings = self.ctx.settings.clone();
        match Room::load(&self.match_id, &records, snapshot.as_ref(), settings, self.now_ms()) {
            Ok((room, loaded)) => {
                let from = match loaded.start {
                    Origin::Snapshot(_) => "snapshot",
                    Origin::Creation => "creation",
                };
                let seconds = began.elapsed().as_secs_f64();
                self.ctx
                    .metrics
                    .room_load_seconds
                    .get_or_create(&LoadLabels { from })
                    .observe(seconds);
                tracing::debug!(
                    records = records.len(),
                    replayed = loaded.replayed,
                    from,
                    seconds,
                    "room loaded"
                );
                Some(room)
            }
            Err(error) => {
                warn!(%error, "match does not replay; not loading it");
                let message = format!("match {} does not replay: {error}", self.match_id);
                self.ctx.journal.note("room_unloadable", message);
                None
            }
        }
    }

    /// The match's whole log and its latest snapshot, read off the async threads.
    fn read_log(
        &self,
    ) -> impl Future<Output = Result<(Vec<StoredRecord>, Option<StateSnapshot>), ReadError>> + 'static
    {
        read_log(self.ctx.log.clone(), self.match_id.clone())
    }

    /// The match cannot be loaded: answer everything queued, then stop.
    async fn refuse_all(&mut self, mut inbox: mpsc::Receiver<RoomMsg>) {
        inbox.close();
        while let Some(msg) = inbox.recv().await {
            match msg {
                RoomMsg::Join { input: Input::Join { conn, .. }, sink } => {
                    self.conns.insert(conn, sink);
                    self.send_error(conn, "unknown_match", "no such match");
                    self.detach(conn);
                }
                RoomMsg::Move { input: Input::Move { move_id, .. }, sink } => {
                    self.refuse_move(&sink, move_id, "unknown_match", "no such match");
                }
                // Dropping the reply tells the request the match is unknown.
                RoomMsg::Request { .. }
                | RoomMsg::Admin { .. }
                | RoomMsg::Join { .. }
                | RoomMsg::Move { .. }
                | RoomMsg::Input(_) => {}
            }
        }
    }

    /// Runs the room until it stops; returns its inbox, still open, for the handover.
    async fn drive(
        &mut self,
        mut room: Room,
        mut inbox: mpsc::Receiver<RoomMsg>,
    ) -> mpsc::Receiver<RoomMsg> {
        loop {
            if !self.execute(&mut room).await {
                break;
            }
            self.idle.mark(room.is_idle(), self.ctx.rooms.now_ms());
            let deadline = room.poll_timeout().map(|ms| self.started + Duration::from_millis(ms));
            self.ticks.arm(room.next_tick());
            let input = tokio::select! {
                msg = inbox.recv() => match msg {
                                        Some(msg) => match self.accept(msg) {
                        Some(input) => input,
                        None => continue,
                    },
                    None => break,
                },
                Some(landed) = self.appends.next() => self.landed(landed),
                () = sleep_until(deadline) => Input::Timer,
            };
            let woke = Instant::now();
            let (now, timer, head) =
                (self.ms_at(woke), matches!(input, Input::Timer), room.state().head);
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| room.handle(now, input)));
            if outcome.is_err() {
                self.ctx.metrics.room_panics.inc();
                tracing::error!("room panicked; dropping it (it reloads from the log on next use)");
                let message = format!("match {}: the room panicked and was dropped", self.match_id);
                self.ctx.journal.note("room_panicked", message);
                self.fail_everyone("room_failed", "the room failed; rejoin from your last seq");
                break;
            }
            if timer {
                self.note_tick(&room, woke, head);
            }
        }
        // Let appends in flight land before anyone else loads this match from the log, so
        // two rooms never run for one match. The inbox stays open meanwhile: what arrives is
        // handed to the successor in order.
        while let Some(landed) = self.appends.next().await {
            self.landed(landed);
        }
        // Requests whose answer waited on those appends (a room closed by an administrator
        // stops with them in flight) are told to retry: a retried move id gets its verdict.
        for (_, reply) in self.requests.drain() {
            let _ = reply.send(Reply::Unavailable { code: "room_restarting" });
        }
        inbox
    }

    /// Counts an append that landed, notes a failure, and hands the answer to the room.
    fn landed(&self, landed: Landed) -> Input {
        let Landed { first_seq, result, asked } = landed;
        let metrics = &self.ctx.metrics;
        metrics.append_wait_seconds.observe(asked.elapsed().as_secs_f64());
        match &result {
            Ok(()) => metrics.storage.succeeded(),
            Err(error) => {
                tracing::error!(%error, first_seq, "append failed");
                metrics.append_failures.inc();
                metrics.storage.failed(error);
                let message = format!("match {}, from seq {first_seq}: {error}", self.match_id);
                self.ctx.journal.note("append_failed", message);
            }
        }
        Input::AppendDone { first_seq, result }
    }

    /// Turns an inbox message into an input, registering sinks and request ids; `None` when
    /// the driver answered it itself.
    fn accept(&mut self, msg: RoomMsg) -> Option<Input> {
        Some(match msg {
            RoomMsg::Join { input, sink } => {
                if let Input::Join { conn, .. } = &input {
                    self.conns.insert(*conn, sink);
                }
                input
            }
            RoomMsg::Move { input, sink } => {
                let Input::Move { from: Client::Conn(conn), move_id, .. } = &input else {
                    return Some(input);
                };
                if !self.conns.contains_key(conn) {
                    let move_id = *move_id;
                    self.refuse_move(&sink, move_id, "not_joined", "join the match before moving");
                    return None;
                }
                input
            }
            RoomMsg::Input(input) => {
                if let Input::Leave { conn } = &input {
                    self.conns.remove(conn);
                }
                input
            }
            RoomMsg::Request { make, reply } | RoomMsg::Admin { make, reply } => {
                let id = self.next_request;
                self.next_request += 1;
                self.requests.insert(id, reply);
                make(id)
            }
        })
    }

    /// Carries out every pending output; false when the room must stop.
    async fn execute(&mut self, room: &mut Room) -> bool {
        let mut keep_going = true;
        while let Some(output) = room.poll_output() {
            match output {
                Output::Send { conn, msg } => self.send(conn, &msg),
                Output::SendBatch { conn, msgs } => self.send_batch(conn, &msgs),
                Output::Detach { conn } => self.detach(conn),
                Output::Disconnect { conn } => {
                    if let Some(sink) = self.conns.remove(&conn) {
                        sink.kick.close(CloseReason::Admin);
                    }
                }
                Output::Broadcast { conns, msg } => {
                    self.broadcast(&conns, &msg, room);
                    if let ServerMsg::Event(event) = &msg
                        && let Some(wait) = self.ticks.broadcast(event.seq, Instant::now())
                    {
                        self.ctx.metrics.tick_broadcast_seconds.observe(wait.as_secs_f64());
                    }
                }
                Output::Decided { result } => self.ctx.metrics.count_move(&result),
                Output::Reply { request, reply } => {
                    if let Some(tx) = self.requests.remove(&request) {
                        let _ = tx.send(reply);
                    }
                }
                Output::Append(append) => {
                    let first_seq = append.first_seq;
                    let ticket = self.ctx.log.append(append);
                    self.appends.push(first_seq, ticket);
                }
                Output::Snapshot(snapshot) => self.ctx.log.put_snapshot(snapshot),
                Output::Backfill { conn, from_seq, to_seq } => {
                    if !self.backfill(conn, from_seq, to_seq).await {
                        // No gap may follow: the reader is detached and rejoins from its cursor.
                        self.detach(conn);
                        room.handle(self.now_ms(), Input::Leave { conn });
                    }
                }
                Output::StartBot { seat, player, spec, seed } => {
                    crate::botseat::spawn(
                        &self.ctx,
                        self.match_id.clone(),
                        seat,
                        player,
                        spec,
                        seed,
                    );
                }
                Output::Stop { reason } => {
                    tracing::info!(reason, "room stopping");
                    keep_going = false;
                }
            }
        }
        keep_going
    }

    fn send(&mut self, conn: ConnId, msg: &ServerMsg) {
        let Some(sink) = self.conns.get(&conn) else { return };
        let frame =
            Outgoing::Frame(Bytes::from(protocol::encode(msg, sink.encoding)), sink.encoding);
        self.push(conn, frame);
    }

    fn send_batch(&mut self, conn: ConnId, msgs: &[ServerMsg]) {
        let Some(sink) = self.conns.get(&conn) else { return };
        let encoding = sink.encoding;
        let events = msgs.iter().filter(|m| matches!(m, ServerMsg::Event(_))).count();
        self.ctx.metrics.catchup_events.observe(events as f64);
        let frames = msgs.iter().map(|m| Bytes::from(protocol::encode(m, encoding))).collect();
        self.push(conn, Outgoing::Batch(frames, encoding));
    }

    /// Answers a move the room will not see (no subscription, no match) on its own sink.
    fn refuse_move(
        &self,
        sink: &ConnSink,
        move_id: protocol::v1::MoveId,
        code: &str,
        message: &str,
    ) {
        let body = protocol::v1::ErrorBody { code: code.into(), message: message.into() };
        let result = protocol::v1::VerdictResult::Rejected(body);
        let verdict = protocol::v1::Verdict { match_id: self.match_id.clone(), move_id, result };
        let frame = Bytes::from(protocol::encode(&ServerMsg::Verdict(verdict), sink.encoding));
        if sink.outbox.try_send(Outgoing::Frame(frame, sink.encoding)).is_err() {
            sink.kick.close(CloseReason::TooSlow);
        }
    }

    /// Forgets a connection's sink and tells its session it is no longer subscribed here.
    fn detach(&mut self, conn: ConnId) {
        if let Some(sink) = self.conns.remove(&conn)
            && sink
                .outbox
                .try_send(Outgoing::Detached(self.match_id.clone(), sink.generation))
                .is_err()
        {
            sink.kick.close(CloseReason::TooSlow);
        }
    }

    /// Encodes once per encoding in use, then queues the same bytes for everyone.
    fn broadcast(&mut self, conns: &[ConnId], msg: &ServerMsg, room: &mut Room) {
        let mut encoded: [Option<Bytes>; 2] = [None, None];
        for &conn in conns {
            let Some(sink) = self.conns.get(&conn) else { continue };
            let slot = usize::from(sink.encoding == Encoding::Json);
            let bytes = encoded[slot]
                .get_or_insert_with(|| Bytes::from(protocol::encode(msg, sink.encoding)))
                .clone();
            let encoding = sink.encoding;
            if !self.push(conn, Outgoing::Frame(bytes, encoding)) {
                room.handle(self.now_ms(), Input::Leave { conn });
            }
        }
    }

    /// Queues a frame; a full queue means a slow reader, which is closed rather than allowed
    /// to stall the room (it catches up from its cursor when it reconnects).
    fn push(&mut self, conn: ConnId, frame: Outgoing) -> bool {
        let Some(sink) = self.conns.get(&conn) else { return false };
        match sink.outbox.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.ctx.metrics.slow_consumers.inc();
                sink.kick.close(CloseReason::TooSlow);
                self.conns.remove(&conn);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.conns.remove(&conn);
                false
            }
        }
    }

    /// Sends old events from the log, replayed because each needs its state hash (from the
    /// match's snapshot when it precedes them); false if the log could not be read.
    async fn backfill(&mut self, conn: ConnId, from_seq: u64, to_seq: u64) -> bool {
        let Ok((records, snapshot)) = self.read_log().await else {
            self.send_error(conn, "storage_error", "could not read the log to catch up");
            return false;
        };
        let snapshot = snapshot.filter(|s| s.seq < from_seq);
        let mut events = Vec::new();
        let games = self.ctx.settings.games.clone();
        let records = &records[..records.len().min(to_seq as usize + 1)];
        let replayed = replay_from(
            &games,
            records,
            snapshot.as_ref(),
            |_, _| {},
            |seq, body, state| {
                if seq >= from_seq {
                    events.push(crate::replay::event_of(&self.match_id, seq, body, state));
                }
            },
        );
        if replayed.is_err() {
            self.send_error(conn, "storage_error", "the log does not replay");
            return false;
        }
        let msgs: Vec<ServerMsg> = events.into_iter().map(ServerMsg::Event).collect();
        self.send_batch(conn, &msgs);
        true
    }

    fn send_error(&mut self, conn: ConnId, code: &str, message: &str) {
        let msg = ServerMsg::Error(ErrorMsg {
            code: code.into(),
            message: message.into(),
            match_id: Some(self.match_id.clone()),
        });
        self.send(conn, &msg);
    }

    fn fail_everyone(&mut self, code: &str, message: &str) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.send_error(conn, code, message);
        }
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.detach(conn);
        }
        for (_, reply) in self.requests.drain() {
            let _ = reply.send(Reply::Unavailable { code: "room_failed" });
        }
    }
}

/// A match's whole log and its latest snapshot, read off the async threads.
async fn read_log(
    log: SharedLog,
    id: String,
) -> Result<(Vec<StoredRecord>, Option<StateSnapshot>), ReadError> {
    let read = move || {
        // A snapshot that cannot be read is only a lost shortcut: the log replays.
        let snapshot = log.snapshot(&id).unwrap_or_else(|error| {
            warn!(%error, "cannot read the match's snapshot");
            None
        });
        Ok((read_all(log.as_ref(), &id)?, snapshot))
    };
    let joined = tokio::task::spawn_blocking(read).await;
    joined.map_err(|e| ReadError::Storage(e.to_string()))?
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use protocol::v1::Role;

    use super::*;
    use crate::metrics::Metrics;
    use crate::room::{PlayerRef, RoomSettings};
    use crate::rooms::Rooms;
    use crate::storage::{Append, MemoryLog, Record, SharedLog};

    fn context(log: SharedLog) -> Arc<RoomContext> {
        context_with(log, Rooms::default())
    }

    fn context_with(log: SharedLog, rooms: Rooms) -> Arc<RoomContext> {
        Arc::new(RoomContext {
            log,
            settings: RoomSettings { games: builtin_games::games(), ..RoomSettings::default() },
            metrics: Arc::new(Metrics::default()),
            journal: Arc::default(),
            rooms,
        })
    }

    fn created() -> Record {
        let config =
            rmp_serde::to_vec_named(&serde_json::json!({"width": 1, "height": 1, "players": 2}))
                .expect("encodes");
        Record::Created {
            game: "dots".into(),
            rules_version: 1,
            config,
            seed: 1,
            seats: 2,
            created_at_ms: 0,
            lobby: Default::default(),
            timer: None,
        }
    }

    fn sink(capacity: usize) -> (ConnSink, mpsc::Receiver<Outgoing>) {
        let (outbox, frames) = mpsc::channel(capacity);
        (
            ConnSink {
                outbox,
                encoding: Encoding::MsgPack,
                kick: Arc::new(Kick::default()),
                generation: 1,
            },
            frames,
        )
    }

    fn player(id: &str) -> PlayerRef {
        PlayerRef { player_id: id.into(), name: id.into() }
    }

    async fn take_seat(ctx: &Arc<RoomContext>, id: &str, who: &str) -> Reply {
        let (reply, answer) = oneshot::channel();
        let who = player(who);
        let make = Box::new(move |request| Input::TakeSeat {
            request,
            player: who,
            seat: None,
            bot: None,
        });
        ctx.send(id, RoomMsg::Request { make, reply }).await.expect("sent");
        answer.await.expect("answered")
    }

    #[tokio::test]
    async fn past_the_room_cap_the_idlest_room_unloads_and_busy_ones_never_do() {
        let ctx = context_with(Arc::new(MemoryLog::new()), Rooms::with_cap(2));
        for id in ["m1", "m2"] {
            ctx.create(id.into(), created(), Vec::new(), 0).await.expect("created");
        }
        let (watcher, _frames) = sink(64);
        let join =
            Input::Join { conn: 7, player: player("s"), role: Role::Spectator, from_seq: None };
        ctx.send("m2", RoomMsg::Join { input: join, sink: watcher }).await.expect("sent");
        // Answered after the join (one inbox, in order): m2 is watched from here on.
        assert_eq!(take_seat(&ctx, "m2", "a").await, Reply::Seat(Ok(0)));
        // m1 is idle and m2 watched: a third room takes m1's place.
        ctx.create("m3".into(), created(), Vec::new(), 0).await.expect("m1 made room");
        assert_eq!(take_seat(&ctx, "m2", "b").await, Reply::Seat(Ok(1)), "m2 stayed");
        assert_eq!(ctx.rooms.loaded(), 2);
        // Now m1 must load again: m3, idle, gives way; then with both watched, nothing does.
        assert_eq!(take_seat(&ctx, "m1", "a").await, Reply::Seat(Ok(0)));
        let (watcher, _frames_m1) = sink(64);
        let join =
            Input::Join { conn: 8, player: player("s"), role: Role::Spectator, from_seq: None };
        ctx.send("m1", RoomMsg::Join { input: join, sink: watcher }).await.expect("sent");
        assert_eq!(take_seat(&ctx, "m1", "b").await, Reply::Seat(Ok(1)));
        let busy = ctx.create("m4".into(), created(), Vec::new(), 0).await;
        assert_eq!(busy, Err(crate::rooms::RoomsError::Busy { max: 2 }));
        let (reply, _answer) = oneshot::channel();
        let make = Box::new(move |request| Input::TakeSeat {
            request,
            player: player("b"),
            seat: None,
            bot: None,
        });
        let refused = ctx.send("m3", RoomMsg::Request { make, reply }).await;
        assert_eq!(refused.err(), Some(crate::rooms::RoomsError::Busy { max: 2 }));
    }

    #[tokio::test]
    async fn a_reader_that_does_not_read_is_closed_and_the_room_goes_on() {
        let ctx = context(Arc::new(MemoryLog::new()));
        let id = ctx.create("m1".into(), created(), Vec::new(), 0).await.expect("created");
        let (slow, _never_read) = sink(2);
        let kick = slow.kick.clone();
        let join =
            Input::Join { conn: 7, player: player("s"), role: Role::Spectator, from_seq: None };
        ctx.send(&id, RoomMsg::Join { input: join, sink: slow }).await.expect("sent");
        // joined + snapshot + caught_up fill (and overflow) a two-frame outbox.
        assert_eq!(take_seat(&ctx, &id, "a").await, Reply::Seat(Ok(0)));
        assert_eq!(take_seat(&ctx, &id, "b").await, Reply::Seat(Ok(1)), "the room went on");
        let reason = kick.reason().cloned().expect("the slow reader was told to close");
        assert_eq!(reason, CloseReason::TooSlow);
        assert_eq!(ctx.metrics.slow_consumers.get(), 1);
    }

    /// A log whose appends never complete: an append stays in flight for ever (its answer
    /// is held, never sent).
    fn stuck_log() -> crate::storage::stub::StubLog<
        impl Fn(Append) -> crate::storage::AppendTicket + Send + Sync + 'static,
    > {
        let held = Mutex::new(Vec::new());
        crate::storage::stub::StubLog(move |_| {
            let (tx, rx) = oneshot::channel::<Result<(), crate::storage::AppendError>>();
            held.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
            rx
        })
    }

    #[tokio::test]
    async fn a_room_that_panics_takes_down_only_itself() {
        let ctx = context(Arc::new(stuck_log()));
        let creating = {
            let ctx = ctx.clone();
            tokio::spawn(async move { ctx.create("m1".into(), created(), Vec::new(), 0).await })
        };
        while ctx.rooms.loaded() == 0 {
            tokio::task::yield_now().await;
        }
        let (watcher, mut frames) = sink(16);
        let join =
            Input::Join { conn: 3, player: player("s"), role: Role::Spectator, from_seq: None };
        ctx.send("m1", RoomMsg::Join { input: join, sink: watcher }).await.expect("sent");
        // An AppendDone for an append the room never made breaks an invariant: it panics.
        let bogus = Input::AppendDone { first_seq: 41, result: Ok(()) };
        ctx.send("m1", RoomMsg::Input(bogus)).await.expect("sent");
        let mut codes = Vec::new();
        while let Some(frame) =
            tokio::time::timeout(std::time::Duration::from_secs(5), frames.recv())
                .await
                .expect("in time")
        {
            for bytes in frame.frames() {
                if let Ok(ServerMsg::Error(e)) =
                    protocol::decode::<ServerMsg>(bytes, Encoding::MsgPack)
                {
                    codes.push(e.code);
                }
            }
            if matches!(frame, Outgoing::Detached(..)) {
                break;
            }
        }
        assert_eq!(codes, vec!["room_failed".to_string()], "its clients are told");
        assert_eq!(ctx.metrics.room_panics.get(), 1);
        assert!(
            matches!(creating.await.expect("joined"), Err(crate::rooms::RoomsError::Storage(_))),
            "its requests are answered"
        );
        // The process and the registry go on: another room works.
        let other = context(Arc::new(MemoryLog::new()));
        assert!(other.create("m2".into(), created(), Vec::new(), 0).await.is_ok());
    }
}
