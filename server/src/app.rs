//! The state one server instance shares between its HTTP handlers and connections. A server
//! is a value: nothing here is global, so many instances can run in one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::AdminAccess;
use crate::auth::Keys;
use crate::config::Config;
use crate::journal::Journal;
use crate::listener::{Gate, fitted_cap};
use crate::lobby::{JoinCodes, QuickPool};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimits;
use crate::room::RoomSettings;
use crate::rooms::{RoomContext, Rooms};
use crate::session::Sessions;
use crate::storage::SharedLog;

/// One server's shared state.
pub struct App {
    /// Its configuration.
    pub config: Config,
    /// The event log.
    pub log: SharedLog,
    /// Rooms.
    pub rooms: Arc<RoomContext>,
    /// Token keys.
    pub keys: Keys,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Cancelled when shutdown begins.
    pub shutdown: CancellationToken,
    /// Connection tasks, so shutdown can wait for them.
    pub connections: TaskTracker,
    /// Every connection's place under the total and per-address caps, TCP and QUIC alike.
    pub gate: Gate,
    /// Matches each player created in this process, to bound creation per player.
    pub created_by: Mutex<HashMap<String, Vec<String>>>,
    /// HTTP request budgets per address and per player.
    pub rate_limits: RateLimits,
    /// Where QUIC listens and its certificate's fingerprint, once it does.
    pub quic: std::sync::OnceLock<crate::transport::quic::QuicInfo>,
    /// Who may use the admin endpoints.
    pub admin: AdminAccess,
    /// The live sessions, for the admin overview and disconnect.
    pub sessions: Sessions,
    /// Recent notable events (shared with the rooms).
    pub journal: Arc<Journal>,
    /// Join codes of private matches.
    pub codes: JoinCodes,
    /// Players waiting for a quick match.
    pub quick: QuickPool,
}

impl App {
    /// A server's state over an open log, with its rooms' settings and limits taken from
    /// `config`.
    pub fn new(config: Config, log: SharedLog, keys: Keys, metrics: Arc<Metrics>) -> Arc<App> {
        let settings = RoomSettings {
            turn_timeout_ms: config.turn_timeout_ms,
            idle_unload_ms: config.room_idle_ms,
            max_subscribers: config.limits.subscribers_per_room,
            games: config.games.clone(),
            snapshot_every: config.snapshot_every,
            ..RoomSettings::default()
        };
        let journal = Arc::new(Journal::default());
        let rooms = Arc::new(RoomContext {
            log: log.clone(),
            settings,
            metrics: metrics.clone(),
            journal: journal.clone(),
            rooms: Rooms::with_cap(config.limits.max_loaded_rooms),
        });
        Arc::new(App {
            admin: AdminAccess::new(config.admin_token.as_ref()),
            sessions: Sessions::default(),
            journal,
            codes: JoinCodes::new(config.limits.max_private_matches),
            quick: QuickPool::new(config.limits.quickmatch_queue),
            rate_limits: RateLimits::new(&config.limits),
            gate: Gate::new(fitted_cap(config.limits.max_connections), config.limits.conns_per_ip),
            config,
            log,
            rooms,
            keys,
            metrics,
            shutdown: CancellationToken::new(),
            connections: TaskTracker::new(),
            created_by: Default::default(),
            quic: std::sync::OnceLock::new(),
        })
    }
}

/// Seconds since the Unix epoch.
pub fn unix_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// 64 random bits from the OS.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // The OS generator failing is not recoverable for a server that signs tokens.
    getrandom::fill(&mut bytes).expect("the OS random generator works");
    u64::from_le_bytes(bytes)
}

/// Whether a string can be a match id: 1..=64 of `[A-Za-z0-9_-]`.
pub fn valid_match_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
