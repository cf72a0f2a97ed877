//! Server configuration: every setting is a `arbiter serve` flag and an `ARBITER_*`
//! environment variable, with defaults that start a durable server on localhost.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::TypedValueParser as _;

use crate::storage::Durability;
use game_rules::Games;

/// Which event log to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// Segment files and SQLite projections in the data directory (durable; the default).
    /// `sqlite` is accepted as an older name for it.
    #[value(alias = "sqlite")]
    Disk,
    /// In memory (for tests and throwaway instances; nothing survives a restart).
    Memory,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Bounds on every input. Crossing one gets a typed error or a close with a reason.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Limits {
    /// Largest WebSocket message accepted, in bytes (at most the protocol's 65536).
    #[arg(long, env = "ARBITER_MAX_FRAME_BYTES", default_value_t = protocol::MAX_FRAME_BYTES,
          value_parser = clap::value_parser!(u32).range(64..=65536).map(|v| v as usize))]
    pub max_frame_bytes: usize,
    /// Largest HTTP request body, in bytes. A request announcing more in `Content-Length` is
    /// refused from its headers, before any of its body is read.
    #[arg(long, env = "ARBITER_MAX_BODY_BYTES", default_value_t = 65_536)]
    pub max_body_bytes: usize,
    /// Time allowed to send a whole HTTP request body once its headers are in, in ms.
    #[arg(long, env = "ARBITER_BODY_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=3600000))]
    pub body_timeout_ms: u64,
    /// Messages per second one connection may send (sustained).
    #[arg(long, env = "ARBITER_MSGS_PER_S", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub msgs_per_s: u32,
    /// Messages one connection may send in a burst above the sustained rate.
    #[arg(long, env = "ARBITER_MSG_BURST", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub msg_burst: u32,
    /// Open connections allowed from one IP address (HTTP and WebSocket alike).
    #[arg(long, env = "ARBITER_CONNS_PER_IP", default_value_t = 256)]
    pub conns_per_ip: u32,
    /// Open connections allowed in total (HTTP and WebSocket alike). Lowered at start, with a
    /// warning, to fit the process's open files limit (which `arbiter serve` first raises to
    /// its hard limit).
    #[arg(long, env = "ARBITER_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000).map(|v| v as usize))]
    pub max_connections: usize,
    /// HTTP requests one IP address may make per second (sustained). `/healthz` and `/metrics`
    /// are not counted.
    #[arg(long, env = "ARBITER_HTTP_PER_IP_PER_S", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub http_per_ip_per_s: u32,
    /// HTTP requests one IP address may make in a burst above the sustained rate.
    #[arg(long, env = "ARBITER_HTTP_BURST_PER_IP", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub http_burst_per_ip: u32,
    /// HTTP requests one player (the subject of a valid token) may make per second
    /// (sustained), from any address.
    #[arg(long, env = "ARBITER_HTTP_PER_PLAYER_PER_S", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub http_per_player_per_s: u32,
    /// HTTP requests one player may make in a burst above the sustained rate.
    #[arg(long, env = "ARBITER_HTTP_BURST_PER_PLAYER", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub http_burst_per_player: u32,
    /// Guests one IP address may mint per minute (sustained).
    #[arg(long, env = "ARBITER_GUESTS_PER_IP_PER_MIN", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub guests_per_ip_per_min: u32,
    /// Guests one IP address may mint in a burst above the sustained rate.
    #[arg(long, env = "ARBITER_GUEST_BURST_PER_IP", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub guest_burst_per_ip: u32,
    /// Matches one player, and separately one IP address, may create per minute (sustained).
    #[arg(long, env = "ARBITER_CREATIONS_PER_MIN", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub creations_per_min: u32,
    /// Matches one player, and one IP address, may create in a burst above the sustained rate.
    #[arg(long, env = "ARBITER_CREATION_BURST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub creation_burst: u32,
    /// Time allowed to send an HTTP request's headers, in ms: from the connection's start for
    /// its first request, and from the end of the previous answer on a kept-alive connection.
    #[arg(long, env = "ARBITER_HEADER_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=3600000))]
    pub header_timeout_ms: u64,
    /// Time allowed after a WebSocket upgrade to authenticate, in ms.
    #[arg(long, env = "ARBITER_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=3600000))]
    pub handshake_timeout_ms: u64,
    /// A WebSocket silent this long is closed, in ms (the server pings at a third of it).
    #[arg(long, env = "ARBITER_IDLE_TIMEOUT_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(100..=86400000))]
    pub idle_timeout_ms: u64,
    /// Frames queued for one connection before it counts as too slow and is closed.
    #[arg(long, env = "ARBITER_OUTBOX_FRAMES", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000).map(|v| v as usize))]
    pub outbox_frames: usize,
    /// Matches one connection may join at once.
    #[arg(long, env = "ARBITER_JOINS_PER_CONN", default_value_t = 16)]
    pub joins_per_conn: usize,
    /// Connections subscribed to one match at once. A seated player joining as a player is
    /// always admitted, so spectators cannot lock a match's players out.
    #[arg(long, env = "ARBITER_SUBSCRIBERS_PER_ROOM", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000).map(|v| v as usize))]
    pub subscribers_per_room: usize,
    /// Rooms loaded in memory at once. Loading one more unloads the room idle the longest
    /// (nobody subscribed, nothing being written); with none idle, the request gets
    /// `server_busy`.
    #[arg(long, env = "ARBITER_MAX_LOADED_ROOMS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000).map(|v| v as usize))]
    pub max_loaded_rooms: usize,
    /// Unfinished matches one player may create.
    #[arg(long, env = "ARBITER_MATCHES_PER_PLAYER", default_value_t = 32)]
    pub matches_per_player: usize,
    /// Private matches with a join code at once (codes of matches no longer open are
    /// forgotten when this fills); past it, creating one answers `too_many_private_matches`.
    #[arg(long, env = "ARBITER_MAX_PRIVATE_MATCHES", default_value_t = 100_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000).map(|v| v as usize))]
    pub max_private_matches: usize,
    /// Players waiting for a quick match at once; past it, a request answers
    /// `quickmatch_full` at once.
    #[arg(long, env = "ARBITER_QUICKMATCH_QUEUE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000).map(|v| v as usize))]
    pub quickmatch_queue: usize,
    /// Extra browser origins allowed to open WebSockets and call the HTTP API from another
    /// origin (same-origin and localhost always are).
    #[arg(long = "allow-origin", env = "ARBITER_ALLOW_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: protocol::MAX_FRAME_BYTES,
            max_body_bytes: 65_536,
            body_timeout_ms: 10_000,
            msgs_per_s: 50,
            msg_burst: 100,
            conns_per_ip: 256,
            max_connections: 10_000,
            http_per_ip_per_s: 100,
            http_burst_per_ip: 200,
            http_per_player_per_s: 20,
            http_burst_per_player: 60,
            guests_per_ip_per_min: 30,
            guest_burst_per_ip: 10,
            creations_per_min: 30,
            creation_burst: 10,
            header_timeout_ms: 10_000,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            outbox_frames: 1024,
            joins_per_conn: 16,
            subscribers_per_room: 1_000,
            max_loaded_rooms: 10_000,
            matches_per_player: 32,
            max_private_matches: 100_000,
            quickmatch_queue: 10_000,
            allowed_origins: Vec::new(),
        }
    }
}

/// Everything `arbiter serve` needs.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Config {
    /// Where the SQLite log, the signing key and certificates live.
    #[arg(long, env = "ARBITER_DATA_DIR", default_value = "./arbiter-data")]
    pub data_dir: PathBuf,
    /// HTTP and WebSocket listen address: `HOST:PORT`, `:PORT` or `PORT` (host 127.0.0.1;
    /// `0.0.0.0:PORT` listens on every interface). Port 0 picks a free port.
    #[arg(long, env = "ARBITER_HTTP", default_value = "127.0.0.1:8080", value_parser = listen_addr)]
    pub http: SocketAddr,
    /// The event log.
    #[arg(long, env = "ARBITER_STORE", value_enum, default_value_t = StoreKind::Disk)]
    pub store: StoreKind,
    /// Commit durability: `full` fdatasyncs every commit before acknowledging it; `normal`
    /// survives a process crash but may lose the last commits on power loss.
    #[arg(long, env = "ARBITER_DURABILITY", value_enum, default_value_t = Durability::Full)]
    pub durability: Durability,
    /// Rebuild the projections (match list, seats, results) from the event log on start.
    #[arg(long, env = "ARBITER_REBUILD_PROJECTIONS")]
    pub rebuild_projections: bool,
    /// The longest, in µs, the log writer holds an append it has picked up for others to
    /// share its commit. It commits as soon as the server has no other work ready, so this
    /// matters only while it stays busy (a wave of moves, or saturation): then it trades that
    /// much latency for fewer fsyncs. Used by `arbiter serve`, whose runtime reports when it
    /// is idle.
    #[arg(long, env = "ARBITER_COMMIT_WINDOW_US", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub commit_window_us: u64,
    /// Token signing key, 64 hex digits. Default: generated into the data dir on first start.
    #[arg(long, env = "ARBITER_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,
    /// Guest token lifetime, in seconds.
    #[arg(long, env = "ARBITER_TOKEN_TTL_S", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..=31536000))]
    pub token_ttl_s: u64,
    /// A turn not played within this many ms times out (written as an event). Off by default.
    #[arg(long, env = "ARBITER_TURN_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(100..=86_400_000))]
    pub turn_timeout_ms: Option<u64>,
    /// Longest a quick-match request waits for a seat, in ms; then it answers
    /// `quickmatch_timeout` and leaves the queue.
    #[arg(long, env = "ARBITER_QUICKMATCH_WAIT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub quickmatch_wait_ms: u64,
    /// After this many ms without enough players, a quick match starts with server bots in
    /// the seats left. Unset: quick match seats people only.
    #[arg(long, env = "ARBITER_QUICKMATCH_BOTS_AFTER_MS",
          value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub quickmatch_bots_after_ms: Option<u64>,
    /// Rooms with nobody connected unload after this many ms (they reload from the log).
    #[arg(long, env = "ARBITER_ROOM_IDLE_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..=86400000))]
    pub room_idle_ms: u64,
    /// A room snapshots its state every this many events (0: never), so that a long match
    /// reloads from its latest snapshot and the log's tail instead of its whole log.
    #[arg(long, env = "ARBITER_SNAPSHOT_EVERY", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub snapshot_every: u64,
    /// A directory of static files served at `/` and every path outside the API: the built web
    /// client (`cargo xtask run` builds it into target/web). Unset: `/` says how to build it.
    #[arg(long, env = "ARBITER_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// QUIC listen address (UDP), written as for `--http`. Default: the HTTP address's IP and
    /// port, over UDP.
    #[arg(long, env = "ARBITER_QUIC", value_parser = listen_addr)]
    pub quic: Option<SocketAddr>,
    /// Serve no QUIC.
    #[arg(long, env = "ARBITER_NO_QUIC", conflicts_with = "quic")]
    pub no_quic: bool,
    /// The QUIC certificate chain (PEM). Default: a development certificate generated into the
    /// data dir on first start (kept in memory with `--store memory`).
    #[arg(long, env = "ARBITER_QUIC_CERT", requires = "quic_key")]
    pub quic_cert: Option<PathBuf>,
    /// The QUIC certificate's private key (PEM).
    #[arg(long, env = "ARBITER_QUIC_KEY", requires = "quic_cert")]
    pub quic_key: Option<PathBuf>,
    /// The administrator's token, a secret of at least 16 characters (for example
    /// `openssl rand -hex 32`). `Authorization: Bearer <it>` opens the admin endpoints
    /// (`/api/admin/…`) and the web client's `#/admin` page. Unset: they answer 404
    /// `admin_disabled`.
    #[arg(long, env = "ARBITER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<AdminToken>,
    /// Log format.
    #[arg(long, env = "ARBITER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Input limits.
    #[command(flatten)]
    pub limits: Limits,
    /// The games this server plays. Not a flag: the `arbiter` binary registers the built-in
    /// games, and a program embedding the server registers its own.
    #[arg(skip)]
    pub games: Games,
}

/// The administrator's token: a secret, so its `Debug` form hides it (configs are printed in
/// logs and test failures).
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

/// Fewest characters an admin token may have: short secrets can be guessed.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

impl AdminToken {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl std::str::FromStr for AdminToken {
    type Err = String;

    fn from_str(text: &str) -> Result<AdminToken, String> {
        let chars = text.chars().count();
        if chars < MIN_ADMIN_TOKEN_CHARS {
            return Err(format!(
                "an admin token has at least {MIN_ADMIN_TOKEN_CHARS} characters (this one has {chars}); make one with `openssl rand -hex 32`"
            ));
        }
        // It travels in an `Authorization` header, which holds visible ASCII only.
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("an admin token is printable ASCII without spaces".to_string());
        }
        Ok(AdminToken(text.to_string()))
    }
}

/// A listen address as people write it: `127.0.0.1:8080`, `localhost:8080`, `[::1]:8080`,
/// `:8080` or `8080` (the last two on 127.0.0.1).
pub fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let port_only = text.strip_prefix(':').unwrap_or(text);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(text).ok().and_then(|mut a| a.next());
    resolved.ok_or_else(|| {
        format!("{text:?} is not an address to listen on: write HOST:PORT, :PORT or PORT, such as 127.0.0.1:8080")
    })
}

impl Config {
    /// An isolated in-memory instance on a free localhost port, with the built-in games: what
    /// tests start.
    pub fn ephemeral() -> Config {
        Config {
            data_dir: PathBuf::from("."),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            store: StoreKind::Memory,
            durability: Durability::Full,
            commit_window_us: 1_000,
            rebuild_projections: false,
            signing_key: None,
            token_ttl_s: 3600,
            turn_timeout_ms: None,
            quickmatch_wait_ms: 30_000,
            quickmatch_bots_after_ms: None,
            room_idle_ms: 60_000,
            snapshot_every: 1_000,
            web_dir: None,
            quic: None,
            no_quic: false,
            quic_cert: None,
            quic_key: None,
            admin_token: None,
            log_format: LogFormat::Human,
            limits: Limits::default(),
            games: builtin_games::games(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_are_read_as_people_write_them() {
        let local = |port| SocketAddr::from(([127, 0, 0, 1], port));
        for (text, expect) in [
            ("127.0.0.1:8080", local(8080)),
            (":9000", local(9000)),
            ("9000", local(9000)),
            ("localhost:9000", local(9000)),
        ] {
            let got =
                listen_addr(text).map(|a| if a.ip().is_loopback() { local(a.port()) } else { a });
            assert_eq!(got, Ok(expect), "{text}");
        }
        assert_eq!(listen_addr("0.0.0.0:1"), Ok(SocketAddr::from(([0, 0, 0, 0], 1))));
        let refused = listen_addr("nowhere:x").expect_err("refused");
        assert!(refused.contains("HOST:PORT"), "{refused}");
    }

    #[test]
    fn an_admin_token_is_long_enough_printable_and_never_printed() {
        let token: AdminToken = "0123456789abcdef".parse().expect("16 characters");
        assert_eq!(token.expose(), "0123456789abcdef");
        assert_eq!(format!("{token:?}"), "AdminToken(..)");
        let short = "secret".parse::<AdminToken>().expect_err("too short");
        assert!(short.contains("at least 16"), "{short}");
        assert!("0123456789 abcdef".parse::<AdminToken>().is_err(), "no spaces");
    }
}
