//! The state one server instance shares between its HTTP handlers and connections. A server
//! is a value: nothing here is global, so many instances can run in one process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Keys;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimits;
use crate::rooms::RoomContext;
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
    /// Open WebSocket connections per IP.
    pub per_ip: Mutex<HashMap<IpAddr, u32>>,
    /// Matches each player created in this process, to bound creation per player.
    pub created_by: Mutex<HashMap<String, Vec<String>>>,
    /// HTTP request budgets per address and per player.
    pub rate_limits: RateLimits,
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

/// Counts one open connection from an IP for as long as it lives.
pub struct IpSlot {
    app: Arc<App>,
    ip: IpAddr,
}

impl App {
    /// Takes a connection slot for `ip`, or `None` when it has too many open.
    pub fn take_ip_slot(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let open = per_ip.entry(ip).or_insert(0);
        if *open >= self.config.limits.conns_per_ip {
            return None;
        }
        *open += 1;
        Some(IpSlot { app: self.clone(), ip })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut per_ip = self.app.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = per_ip.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}
