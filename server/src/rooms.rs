//! The registry of loaded rooms: finds a match's room, loading it from the log on first use,
//! and creates new matches. Every room task is tracked so shutdown can wait for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;
use crate::room::task::{RoomMsg, Start, run};
use crate::room::{Reply, Room, RoomSettings};
use crate::storage::{Record, SharedLog};

/// Messages a room's inbox holds before senders wait.
const INBOX: usize = 1024;

/// What every room task shares.
pub struct RoomContext {
    /// The event log.
    pub log: SharedLog,
    /// Room settings.
    pub settings: RoomSettings,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The registry.
    pub rooms: Rooms,
}

/// Loaded rooms by match id.
#[derive(Default)]
pub struct Rooms {
    map: Mutex<HashMap<String, mpsc::Sender<RoomMsg>>>,
    tracker: TaskTracker,
    closing: AtomicBool,
    next_conn: AtomicU64,
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
}

impl RoomsError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            RoomsError::ShuttingDown => "shutting_down",
            RoomsError::UnknownMatch => "unknown_match",
            RoomsError::Config(_) => "bad_config",
            RoomsError::Storage(_) => "storage_error",
        }
    }
}

impl Rooms {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<RoomMsg>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops a finished room's entry (unless a newer room already took its place).
    pub fn forget(&self, match_id: &str) {
        let mut map = self.lock();
        if map.get(match_id).is_some_and(mpsc::Sender::is_closed) {
            map.remove(match_id);
        }
    }

    /// Rooms loaded now.
    pub fn loaded(&self) -> usize {
        self.lock().len()
    }

    /// Runs a task that shutdown waits for (rooms, bots).
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(task);
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
            let inbox = self.inbox(match_id)?;
            match inbox.send(msg).await {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(back)) => msg = back,
            }
        }
        Err(RoomsError::UnknownMatch)
    }

    fn inbox(self: &Arc<Self>, match_id: &str) -> Result<mpsc::Sender<RoomMsg>, RoomsError> {
        if self.rooms.closing.load(Ordering::Acquire) {
            return Err(RoomsError::ShuttingDown);
        }
        let mut map = self.rooms.lock();
        if let Some(inbox) = map.get(match_id).filter(|tx| !tx.is_closed()) {
            return Ok(inbox.clone());
        }
        let (tx, rx) = mpsc::channel(INBOX);
        map.insert(match_id.to_string(), tx.clone());
        self.rooms.tracker.spawn(run(self.clone(), match_id.to_string(), Start::Load, rx));
        Ok(tx)
    }

    /// Creates a match and waits until its creation record is durable.
    pub async fn create(
        self: &Arc<Self>,
        match_id: String,
        created: Record,
        bots: Vec<(game_rules::Seat, crate::room::PlayerRef, crate::storage::BotSpec)>,
        now_ms: u64,
    ) -> Result<String, RoomsError> {
        if self.rooms.closing.load(Ordering::Acquire) {
            return Err(RoomsError::ShuttingDown);
        }
        let room =
            Room::create(match_id.clone(), created, bots, self.settings.clone(), now_ms, Some(0))
                .map_err(|e| RoomsError::Config(e.to_string()))?;
        let (reply_tx, reply_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel(INBOX);
        self.rooms.lock().insert(match_id.clone(), tx);
        self.rooms.tracker.spawn(run(
            self.clone(),
            match_id.clone(),
            Start::Create(Box::new(room), reply_tx),
            rx,
        ));
        match reply_rx.await {
            Ok(Reply::Created(Ok(()))) => Ok(match_id),
            Ok(Reply::Created(Err(e))) => Err(RoomsError::Storage(e.to_string())),
            Ok(_) | Err(_) => Err(RoomsError::Storage("the match could not be created".into())),
        }
    }

    /// Hands a stopped room's inbox over: under the registry lock it is closed and drained,
    /// and what it held is queued into a successor (loaded from the log) before the successor
    /// is visible to anyone, so nothing sent later overtakes it and nothing is dropped. Without
    /// leftovers the room is simply forgotten.
    pub fn succeed(self: &Arc<Self>, match_id: &str, mut inbox: mpsc::Receiver<RoomMsg>) {
        let mut map = self.rooms.lock();
        inbox.close();
        let mut leftovers = Vec::new();
        while let Ok(msg) = inbox.try_recv() {
            leftovers.push(msg);
        }
        if leftovers.is_empty() || self.rooms.closing.load(Ordering::Acquire) {
            if map.get(match_id).is_some_and(mpsc::Sender::is_closed) {
                map.remove(match_id);
            }
            return;
        }
        let (tx, rx) = mpsc::channel(INBOX.max(leftovers.len()));
        for msg in leftovers {
            // The channel was sized to hold them all.
            let _ = tx.try_send(msg);
        }
        map.insert(match_id.to_string(), tx);
        self.rooms.tracker.spawn(run(self.clone(), match_id.to_string(), Start::Load, rx));
    }

    /// Stops accepting work, lets every room finish its appends, and waits for them.
    pub async fn shutdown(&self) {
        self.rooms.closing.store(true, Ordering::Release);
        self.rooms.lock().clear();
        self.rooms.tracker.close();
        self.rooms.tracker.wait().await;
    }
}
