//! The registry of loaded rooms: finds a match's room, loading it from the log on first use,
//! and creates new matches. Every room task is tracked so shutdown can wait for it.
//!
//! Loaded rooms are capped (`--max-loaded-rooms`): a room holds a slot from its load to its
//! stop. When a room must be loaded and no slot is free, the idlest room (nobody watching,
//! nothing in flight, idle the longest) is asked to unload, and the load waits for its slot;
//! when no room is idle, the load is refused as `server_busy` at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::room::task::{Held, RoomMsg, Start, run};
use crate::room::{Input, Reply, Room, RoomSettings};
use crate::storage::{Record, SharedLog};

/// Messages a room's inbox holds before senders wait.
const INBOX: usize = 1024;

/// How long a load waits for the room it asked to unload to give up its slot. An idle room
/// has nothing in flight, so it stops at once; one that does not was joined meanwhile and
/// stays, and the next idlest is asked.
const UNLOAD_WAIT: Duration = Duration::from_millis(250);

/// Rooms asked to unload, one after another, before a load gives up as `server_busy`.
const UNLOAD_TRIES: usize = 4;

/// A loaded room's place under the cap, held by its task and handed to its successor.
pub type Slot = OwnedSemaphorePermit;

/// Since when a room has been idle, as its driver last said: ms since the registry's epoch,
/// or [`Idleness::BUSY`].
#[derive(Debug)]
pub struct Idleness(AtomicU64);

impl Idleness {
    const BUSY: u64 = u64::MAX;

    fn busy() -> Arc<Idleness> {
        Arc::new(Idleness(AtomicU64::new(Idleness::BUSY)))
    }

    /// Records whether the room is idle now; an idle room keeps the time it became idle.
    pub fn mark(&self, idle: bool, since_epoch_ms: u64) {
        if !idle {
            self.0.store(Idleness::BUSY, Ordering::Relaxed);
        } else if self.0.load(Ordering::Relaxed) == Idleness::BUSY {
            self.0.store(since_epoch_ms, Ordering::Relaxed);
        }
    }

    fn idle_since(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&ms| ms != Idleness::BUSY)
    }
}

/// A loaded room, as the registry sees it.
struct Entry {
    inbox: mpsc::Sender<RoomMsg>,
    idle: Arc<Idleness>,
}

/// What every room task shares.
pub struct RoomContext {
    /// The event log.
    pub log: SharedLog,
    /// Room settings.
    pub settings: RoomSettings,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Recent notable events, for the admin overview.
    pub journal: Arc<Journal>,
    /// The registry.
    pub rooms: Rooms,
}

/// Loaded rooms by match id.
pub struct Rooms {
    map: Mutex<HashMap<String, Entry>>,
    slots: Arc<Semaphore>,
    max_loaded: usize,
    tracker: TaskTracker,
    closing: AtomicBool,
    next_conn: AtomicU64,
    epoch: Instant,
}

impl Default for Rooms {
    /// A registry with no cap worth the name (for tests).
    fn default() -> Self {
        Rooms::with_cap(Semaphore::MAX_PERMITS)
    }
}

/// Why a room could not be reached or a match not created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomsError {
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// No such match, or it does not load.
    #[error("no such match")]
    UnknownMatch,
    /// The config was refused.
    #[error("{0}")]
    Config(String),
    /// The creation could not be stored.
    #[error("storage failed: {0}")]
    Storage(String),
    /// Every loaded room is in use and the cap is reached.
    #[error("the server has its maximum of {max} rooms in use; retry shortly")]
    Busy {
        /// The cap.
        max: usize,
    },
}

impl RoomsError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            RoomsError::ShuttingDown => "shutting_down",
            RoomsError::UnknownMatch => "unknown_match",
            RoomsError::Config(_) => "bad_config",
            RoomsError::Storage(_) => "storage_error",
            RoomsError::Busy { .. } => "server_busy",
        }
    }
}

impl Rooms {
    /// A registry holding at most `max_loaded` rooms at once.
    pub fn with_cap(max_loaded: usize) -> Rooms {
        Rooms {
            map: Mutex::default(),
            slots: Arc::new(Semaphore::new(max_loaded.min(Semaphore::MAX_PERMITS))),
            max_loaded,
            tracker: TaskTracker::new(),
            closing: AtomicBool::new(false),
            next_conn: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops a finished room's entry (unless a newer room already took its place).
    pub fn forget(&self, match_id: &str) {
        let mut map = self.lock();
        if map.get(match_id).is_some_and(|e| e.inbox.is_closed()) {
            map.remove(match_id);
        }
    }

    /// Rooms loaded now.
    pub fn loaded(&self) -> usize {
        self.lock().len()
    }

    /// The inbox of a match's room if it is loaded (or loading): for messages that are not
    /// worth loading a room for.
    pub fn loaded_inbox(&self, match_id: &str) -> Option<mpsc::Sender<RoomMsg>> {
        let map = self.lock();
        map.get(match_id).filter(|e| !e.inbox.is_closed()).map(|e| e.inbox.clone())
    }

    /// The loaded rooms' inboxes, by match id, at most `limit` of them (the first ids in
    /// order), and how many rooms are loaded in all.
    pub fn loaded_inboxes(&self, limit: usize) -> (Vec<(String, mpsc::Sender<RoomMsg>)>, usize) {
        let map = self.lock();
        let mut ids: Vec<&String> = map.keys().collect();
        ids.sort_unstable();
        let listed = ids.into_iter().take(limit).map(|id| (id.clone(), map[id].inbox.clone()));
        (listed.collect(), map.len())
    }

    /// Runs a task that shutdown waits for (rooms, bots).
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(task);
    }

    /// Ms since this registry's epoch: the clock rooms report their idleness on.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// A slot for a room to load into: a free one, or one given up by the idlest room.
    async fn take_slot(&self) -> Result<Slot, RoomsError> {
        for _ in 0..UNLOAD_TRIES {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                return Ok(slot);
            }
            if !self.unload_idlest() {
                break;
            }
            match tokio::time::timeout(UNLOAD_WAIT, self.slots.clone().acquire_owned()).await {
                Ok(Ok(slot)) => return Ok(slot),
                Ok(Err(_)) => return Err(RoomsError::ShuttingDown),
                // It was joined meanwhile and stays: try the next idlest.
                Err(_) => {}
            }
        }
        Err(RoomsError::Busy { max: self.max_loaded })
    }

    /// Asks the room idle the longest to unload; false if no room is idle.
    fn unload_idlest(&self) -> bool {
        let map = self.lock();
        let mut idle: Vec<(u64, &Entry)> =
            map.values().filter_map(|e| Some((e.idle.idle_since()?, e))).collect();
        idle.sort_by_key(|(since, _)| *since);
        for (_, entry) in idle {
            if entry.inbox.try_send(RoomMsg::Input(Input::Unload)).is_ok() {
                // Not asked twice while it stops; its driver marks it again if it stays.
                entry.idle.mark(false, 0);
                return true;
            }
        }
        false
    }
}

impl RoomContext {
    /// A connection id unique within this server (sessions and bots alike).
    pub fn next_conn(&self) -> u64 {
        self.rooms.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Sends a message to a match's room, loading the room if needed.
    pub async fn send(
        self: &Arc<Self>,
        match_id: &str,
        mut msg: RoomMsg,
    ) -> Result<(), RoomsError> {
        // Two tries: a room may stop (idle) between our lookup and our send.
        for _ in 0..2 {
            let inbox = self.inbox(match_id).await?;
            match inbox.send(msg).await {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(back)) => msg = back,
            }
        }
        Err(RoomsError::UnknownMatch)
    }

    async fn inbox(self: &Arc<Self>, match_id: &str) -> Result<mpsc::Sender<RoomMsg>, RoomsError> {
        if self.rooms.closing.load(Ordering::Acquire) {
            return Err(RoomsError::ShuttingDown);
        }
        if let Some(inbox) = self.rooms.loaded_inbox(match_id) {
            return Ok(inbox);
        }
        // A match that is not stored takes no room slot: loading it would unload a real one.
        let (log, id) = (self.log.clone(), match_id.to_string());
        let stored = tokio::task::spawn_blocking(move || log.summary(&id)).await;
        if matches!(stored, Ok(Ok(None))) {
            return Err(RoomsError::UnknownMatch);
        }
        let slot = self.rooms.take_slot().await?;
        let mut map = self.rooms.lock();
        // Another sender may have loaded it while we waited for the slot.
        if let Some(entry) = map.get(match_id).filter(|e| !e.inbox.is_closed()) {
            return Ok(entry.inbox.clone());
        }
        let (tx, rx) = mpsc::channel(INBOX);
        self.start(&mut map, match_id, Start::Load, (tx.clone(), rx), slot);
        Ok(tx)
    }

    /// Sends a message to a match's room only if it is loaded; false if it is not (or stopped
    /// meanwhile). For messages that mean nothing to a room loaded afresh, such as a
    /// connection leaving.
    pub async fn send_if_loaded(&self, match_id: &str, msg: RoomMsg) -> bool {
        match self.rooms.loaded_inbox(match_id) {
            Some(inbox) => inbox.send(msg).await.is_ok(),
            None => false,
        }
    }

    /// Registers a room and spawns its task, under the registry lock.
    fn start(
        self: &Arc<Self>,
        map: &mut HashMap<String, Entry>,
        match_id: &str,
        start: Start,
        (tx, rx): (mpsc::Sender<RoomMsg>, mpsc::Receiver<RoomMsg>),
        slot: Slot,
    ) {
        let idle = Idleness::busy();
        map.insert(match_id.to_string(), Entry { inbox: tx, idle: idle.clone() });
        let room = Held { slot, idle };
        self.rooms.tracker.spawn(run(self.clone(), match_id.to_string(), start, rx, room));
    }

    /// Creates a match and waits until its creation record is durable.
    pub async fn create(
        self: &Arc<Self>,
        match_id: String,
        created: Record,
        seating: Vec<(game_rules::Seat, crate::room::PlayerRef, Option<crate::storage::BotSpec>)>,
        now_ms: u64,
    ) -> Result<String, RoomsError> {
        let room = Room::create(match_id, created, seating, self.settings.clone(), now_ms, Some(0))
            .map_err(|e| RoomsError::Config(e.to_string()))?;
        self.open(room).await
    }

    /// Forks a match: a new one whose log starts with `history` (see [`Room::fork`]), and
    /// waits until it is durable.
    pub async fn fork(
        self: &Arc<Self>,
        match_id: String,
        created: Record,
        history: &[Record],
        now_ms: u64,
    ) -> Result<String, RoomsError> {
        let settings = self.settings.clone();
        let room = Room::fork(match_id, created, history, settings, now_ms, Some(0))
            .map_err(|e| RoomsError::Config(e.to_string()))?;
        self.open(room).await
    }

    /// Starts the room of a new match, whose first append it has queued (answering request
    /// 0), and waits until that append is durable.
    async fn open(self: &Arc<Self>, room: Room) -> Result<String, RoomsError> {
        if self.rooms.closing.load(Ordering::Acquire) {
            return Err(RoomsError::ShuttingDown);
        }
        let match_id = room.match_id().to_string();
        let slot = self.rooms.take_slot().await?;
        let (reply_tx, reply_rx) = oneshot::channel();
        let start = Start::Create(Box::new(room), reply_tx);
        self.start(&mut self.rooms.lock(), &match_id, start, mpsc::channel(INBOX), slot);
        match reply_rx.await {
            Ok(Reply::Created(Ok(()))) => Ok(match_id),
            Ok(Reply::Created(Err(e))) => Err(RoomsError::Storage(e.to_string())),
            Ok(_) | Err(_) => Err(RoomsError::Storage("the match could not be created".into())),
        }
    }

    /// Hands a stopped room's inbox over: under the registry lock it is closed and drained,
    /// and what it held is queued into a successor (loaded from the log) before the successor
    /// is visible to anyone, so nothing sent later overtakes it and nothing is dropped. Without
    /// leftovers, or with only leftovers that need no room (connections leaving, an
    /// administrator's questions), the room is simply forgotten.
    pub fn succeed(
        self: &Arc<Self>,
        match_id: &str,
        mut inbox: mpsc::Receiver<RoomMsg>,
        slot: Slot,
    ) {
        let mut map = self.rooms.lock();
        inbox.close();
        let mut leftovers = Vec::new();
        while let Ok(msg) = inbox.try_recv() {
            leftovers.push(msg);
        }
        let needed = leftovers.iter().any(RoomMsg::needs_room);
        if !needed || self.rooms.closing.load(Ordering::Acquire) {
            if map.get(match_id).is_some_and(|e| e.inbox.is_closed()) {
                map.remove(match_id);
            }
            return;
        }
        let (tx, rx) = mpsc::channel(INBOX.max(leftovers.len()));
        for msg in leftovers {
            // The channel was sized to hold them all.
            let _ = tx.try_send(msg);
        }
        // The successor takes over the slot: a handover never waits for, or frees, a place.
        self.start(&mut map, match_id, Start::Load, (tx, rx), slot);
    }

    /// Stops accepting work, lets every room finish its appends, and waits for them.
    pub async fn shutdown(&self) {
        self.rooms.closing.store(true, Ordering::Release);
        self.rooms.lock().clear();
        self.rooms.tracker.close();
        self.rooms.tracker.wait().await;
    }
}
