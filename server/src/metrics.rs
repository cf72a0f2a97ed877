//! Prometheus metrics, one registry per server (no process-wide recorder, so many servers can
//! share a process without mixing their figures). Exposed in the OpenMetrics text format, with
//! its content type; names and units follow the Prometheus conventions (`_total` counters,
//! `_seconds` and `_bytes` units).

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::storage::CommitObserver;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A move's outcome, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MoveLabels {
    /// `accepted`, or the rejection code.
    pub result: String,
}

/// A transport, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabels {
    /// `ws` or `quic`.
    pub transport: &'static str,
}

/// Why something was refused or closed, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// A stable code.
    pub reason: String,
}

/// One HTTP request, as labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The method.
    pub method: String,
    /// The route's pattern (`/api/matches/{id}`), never the raw path: ids would make a series
    /// each.
    pub route: String,
    /// The status code.
    pub status: u16,
}

/// One HTTP route, as labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The method.
    pub method: String,
    /// The route's pattern.
    pub route: String,
}

/// Where a room's replay began, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoadLabels {
    /// `snapshot` or `creation`.
    pub from: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Seconds: 50 µs to about 0.8 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_05, 2.0, 15)
}

/// Seconds, for a real-time tick's timing: 0.1 ms steps to 2 ms, where timer wake-ups fall,
/// then coarser to 1 s, so a percentile read from the buckets is close to the exact one.
const TICK_BUCKETS: [f64; 31] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_2, 0.000_3, 0.000_4, 0.000_5, 0.000_6, 0.000_7, 0.000_8,
    0.000_9, 0.001, 0.001_2, 0.001_4, 0.001_6, 0.001_8, 0.002, 0.002_5, 0.003, 0.004, 0.005, 0.006,
    0.008, 0.010, 0.015, 0.020, 0.030, 0.050, 0.100, 0.250, 1.0,
];

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Open connections by transport.
    pub connections: Family<TransportLabels, Gauge>,
    /// Connections closed, by close reason (or `dropped` when the peer just went).
    pub connections_closed: Family<ReasonLabels, Counter>,
    /// Client frames refused unread or answered with an error, by code (`rate_limited`,
    /// `frame_too_large`, `malformed_message`, `unauthenticated`).
    pub frames_refused: Family<ReasonLabels, Counter>,
    /// Rooms loaded in memory.
    pub rooms_live: Gauge,
    /// Matches the log has quarantined (set when metrics are read).
    pub log_quarantined: Gauge,
    /// Damaged stretches of the log no match could be tied to (set when metrics are read).
    pub log_unattributed: Gauge,
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
    /// Group commits made, for the admin overview (Prometheus has them as the commit
    /// histogram's count, which the library does not read back).
    commits: AtomicU64,
    /// From a room handing an append to the log to the room hearing it is durable: queueing
    /// behind the commit in flight, the commit, and the wake-up. Every move waits this long
    /// before anyone hears of it.
    pub append_wait_seconds: Histogram,
    /// From a real-time tick's deadline to its room's driver waking to run it.
    pub tick_lateness_seconds: Histogram,
    /// From a real-time tick's deadline to its event queued for every viewer (after its
    /// append is durable).
    pub tick_broadcast_seconds: Histogram,
    /// Real-time ticks skipped by rooms that fell too far behind their clock.
    pub ticks_skipped: Counter<u64, AtomicU64>,
    /// Appends the log refused or failed.
    pub append_failures: Counter<u64, AtomicU64>,
    /// Events sent in one catch-up.
    pub catchup_events: Histogram,
    /// Connections closed for a slow reader.
    pub slow_consumers: Counter<u64, AtomicU64>,
    /// Rooms that panicked.
    pub room_panics: Counter<u64, AtomicU64>,
    /// Seconds to rebuild a room from its log (reading included), by where replay began.
    pub room_load_seconds: Family<LoadLabels, Histogram>,
    /// HTTP requests by method, route and status.
    pub http_requests: Family<HttpLabels, Counter>,
    /// HTTP request latency by method and route.
    pub http_seconds: Family<RouteLabels, Histogram>,
    process: crate::process::ProcessMetrics,
    /// The latest append's outcome, for `/readyz`.
    pub storage: crate::health::StorageHealth,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::default();
        let process = crate::process::ProcessMetrics::register(&mut root);
        let registry = root.sub_registry_with_prefix("arbiter");
        let build = Family::<BuildLabels, Gauge>::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        registry.register("build_info", "The running build (always 1)", build);
        let connections = Family::<TransportLabels, Gauge>::default();
        registry.register("connections", "Open connections by transport", connections.clone());
        let connections_closed = Family::<ReasonLabels, Counter>::default();
        let help = "Connections closed, by close reason";
        registry.register("connections_closed", help, connections_closed.clone());
        let frames_refused = Family::<ReasonLabels, Counter>::default();
        let help = "Client frames dropped or answered with an error, by code";
        registry.register("frames_refused", help, frames_refused.clone());
        let rooms_live = Gauge::default();
        registry.register("rooms_loaded", "Rooms loaded in memory", rooms_live.clone());
        let log_quarantined = Gauge::default();
        registry.register(
            "log_quarantined_matches",
            "Matches whose log is damaged: readable up to the damage, taking no moves",
            log_quarantined.clone(),
        );
        let log_unattributed = Gauge::default();
        registry.register(
            "log_unattributed_damage",
            "Damaged stretches of the log no match could be tied to",
            log_unattributed.clone(),
        );
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
        let commit_seconds = Histogram::new(latency_buckets());
        registry.register("append_commit_seconds", "Group commit latency", commit_seconds.clone());
        let append_wait_seconds = Histogram::new(latency_buckets());
        let help = "Time from a room's append to its durability, as the room sees it";
        registry.register("append_wait_seconds", help, append_wait_seconds.clone());
        let tick_lateness_seconds = Histogram::new(TICK_BUCKETS);
        let help = "Time from a real-time tick's deadline to its room waking to run it";
        registry.register("tick_lateness_seconds", help, tick_lateness_seconds.clone());
        let tick_broadcast_seconds = Histogram::new(TICK_BUCKETS);
        let help = "Time from a real-time tick's deadline to its event queued for every viewer";
        registry.register("tick_broadcast_seconds", help, tick_broadcast_seconds.clone());
        let ticks_skipped = Counter::default();
        let help = "Real-time ticks skipped by rooms more than their catch-up behind";
        registry.register("ticks_skipped", help, ticks_skipped.clone());
        let append_failures = Counter::default();
        registry.register(
            "append_failures",
            "Appends the event log failed",
            append_failures.clone(),
        );
        let catchup_events = Histogram::new(exponential_buckets(1.0, 4.0, 10));
        registry.register("catchup_events", "Events sent in one catch-up", catchup_events.clone());
        let slow_consumers = Counter::default();
        let help = "Connections closed because they read too slowly";
        registry.register("slow_consumers", help, slow_consumers.clone());
        let room_panics = Counter::default();
        registry.register(
            "room_panics",
            "Rooms that panicked and were dropped",
            room_panics.clone(),
        );
        let room_load_seconds = Family::<LoadLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        let help =
            "Time to rebuild a room from its log, by where replay began (snapshot or creation)";
        registry.register("room_load_seconds", help, room_load_seconds.clone());
        let http_requests = Family::<HttpLabels, Counter>::default();
        let help = "HTTP requests by method, route and status";
        registry.register("http_requests", help, http_requests.clone());
        let http_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        let help = "HTTP request latency, to the response's head";
        registry.register("http_request_duration_seconds", help, http_seconds.clone());
        let accepted = moves.get_or_create(&MoveLabels { result: "accepted".into() }).clone();
        Metrics {
            registry: root,
            connections,
            connections_closed,
            frames_refused,
            rooms_live,
            log_quarantined,
            log_unattributed,
            moves,
            accepted,
            batch_appends,
            batch_records,
            commit_seconds,
            commits: AtomicU64::new(0),
            append_wait_seconds,
            tick_lateness_seconds,
            tick_broadcast_seconds,
            ticks_skipped,
            append_failures,
            catchup_events,
            slow_consumers,
            room_panics,
            room_load_seconds,
            http_requests,
            http_seconds,
            process,
            storage: crate::health::StorageHealth::default(),
        }
    }
}

impl Metrics {
    /// The OpenMetrics text exposition ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        self.process.refresh();
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

    /// Moves accepted since the start.
    pub fn moves_accepted(&self) -> u64 {
        self.accepted.get()
    }

    /// Group commits made since the start (the memory store makes none).
    pub fn group_commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The gauge of open connections over `transport`.
    pub fn connections_over(&self, transport: &'static str) -> Gauge {
        self.connections.get_or_create(&TransportLabels { transport }).clone()
    }

    /// Counts a refused client frame.
    pub fn count_refused(&self, code: &str) {
        self.frames_refused.get_or_create(&ReasonLabels { reason: code.to_string() }).inc();
    }

    /// Counts a closed connection.
    pub fn count_closed(&self, reason: &str) {
        self.connections_closed.get_or_create(&ReasonLabels { reason: reason.to_string() }).inc();
    }

    /// Counts one HTTP request.
    pub fn count_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let (method, route) = (method.to_string(), route.to_string());
        let route_labels = RouteLabels { method: method.clone(), route: route.clone() };
        self.http_seconds.get_or_create(&route_labels).observe(seconds);
        self.http_requests.get_or_create(&HttpLabels { method, route, status }).inc();
    }
}

impl CommitObserver for Metrics {
    fn committed(&self, appends: usize, records: usize, micros: u64) {
        self.batch_appends.observe(appends as f64);
        self.batch_records.observe(records as f64);
        self.commit_seconds.observe(micros as f64 / 1e6);
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
}
