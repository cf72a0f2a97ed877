//! Prometheus metrics, one registry per server (no process-wide recorder, so many servers can
//! share a process without mixing their figures).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::storage::CommitObserver;

/// A move's outcome, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MoveLabels {
    /// `accepted`, or the rejection code.
    pub result: String,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Rooms loaded in memory.
    pub rooms_live: Gauge,
    /// Moves by result.
    pub moves: Family<MoveLabels, Counter>,
    /// The `accepted` series of `moves`, held so the common case skips the family's lookup
    /// (a label allocation and a hash per move).
    accepted: Counter,
    /// Appends per group commit.
    pub batch_appends: Histogram,
    /// Records per group commit.
    pub batch_records: Histogram,
    /// Seconds per group commit.
    pub commit_seconds: Histogram,
    /// From a room handing an append to the log to the room hearing it is durable: queueing
    /// behind the commit in flight, the commit, and the wake-up. Every move waits this long
    /// before anyone hears of it.
    pub append_wait_seconds: Histogram,
    /// Connections closed for a slow reader.
    pub slow_consumers: Counter<u64, AtomicU64>,
    /// Rooms that panicked.
    pub room_panics: Counter<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("arbiter");
        let connections = Gauge::default();
        registry.register("connections", "Open WebSocket connections", connections.clone());
        let rooms_live = Gauge::default();
        registry.register("rooms_live", "Rooms loaded in memory", rooms_live.clone());
        let moves = Family::<MoveLabels, Counter>::default();
        registry.register("moves", "Moves by result (accepted or rejection code)", moves.clone());
        let batch_appends = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "append_batch_appends",
            "Appends per group commit",
            batch_appends.clone(),
        );
        let batch_records = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "append_batch_records",
            "Records per group commit",
            batch_records.clone(),
        );
        let commit_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 14));
        registry.register("append_commit_seconds", "Group commit latency", commit_seconds.clone());
        let append_wait_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 14));
        registry.register(
            "append_wait_seconds",
            "Time from a room's append to its durability, as the room sees it",
            append_wait_seconds.clone(),
        );
        let slow_consumers = Counter::default();
        registry.register(
            "slow_consumers",
            "Connections closed because they read too slowly",
            slow_consumers.clone(),
        );
        let room_panics = Counter::default();
        registry.register(
            "room_panics",
            "Rooms that panicked and were dropped",
            room_panics.clone(),
        );
        let accepted = moves.get_or_create(&MoveLabels { result: "accepted".into() }).clone();
        Metrics {
            registry,
            connections,
            rooms_live,
            moves,
            accepted,
            batch_appends,
            batch_records,
            commit_seconds,
            append_wait_seconds,
            slow_consumers,
            room_panics,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Counts a move's result.
    pub fn count_move(&self, result: &str) {
        if result == "accepted" {
            self.accepted.inc();
            return;
        }
        self.moves.get_or_create(&MoveLabels { result: result.to_string() }).inc();
    }
}

impl CommitObserver for Metrics {
    fn committed(&self, appends: usize, records: usize, micros: u64) {
        self.batch_appends.observe(appends as f64);
        self.batch_records.observe(records as f64);
        self.commit_seconds.observe(micros as f64 / 1e6);
    }
}
