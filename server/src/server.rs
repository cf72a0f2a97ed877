//! A running server as a value: [`Server::start`] binds (port 0 works), opens the store and
//! serves; [`Server::shutdown`] stops accepting, closes sockets with a reason, lets rooms finish
//! their appends and closes the log. Nothing is global: tests start hundreds side by side.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::{DefaultBodyLimit, Request};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use quinn::Endpoint;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{info, warn};

use crate::app::App;
use crate::auth::Keys;
use crate::config::{Config, StoreKind};
use crate::idle::RuntimeIdle;
use crate::listener::Admitted;
use crate::metrics::Metrics;
use crate::storage::{DiskLog, DiskOptions, EventLog, MemoryLog, Pacing, SEGMENT_BYTES, SharedLog};
use crate::transport::cert::Identity;
use crate::transport::quic::{self, QuicInfo};
use crate::web::WebClient;

/// How long shutdown waits for connections to close before going on.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// How long a plain HTTP connection may take, once shutdown begins, to finish its request.
const HTTP_GRACE: Duration = Duration::from_secs(5);

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `Config::games` is empty: a server with no game could only refuse every match.
    #[error("no game is registered (Config::games is empty)")]
    NoGames,
    /// The data directory could not be prepared.
    #[error("data directory {path}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The signing key is not 64 hex digits.
    #[error("the signing key must be 64 hex digits")]
    SigningKey,
    /// The store did not open.
    #[error("opening the event log: {0}")]
    Store(#[from] crate::storage::ReadError),
    /// The web client directory does not exist or is not a directory.
    #[error("web client directory (--web-dir) {path}")]
    WebDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The QUIC certificate could not be read or made.
    #[error("QUIC certificate: {0}")]
    Certificate(#[from] crate::transport::cert::CertError),
    /// QUIC could not be set up.
    #[error(transparent)]
    Quic(#[from] crate::transport::quic::QuicError),
    /// The address could not be bound.
    #[error("binding {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    app: Arc<App>,
    accept: tokio::task::JoinHandle<()>,
    quic: Option<(Endpoint, tokio::task::JoinHandle<()>)>,
}

impl Server {
    /// Starts a server with `config`. Its SQLite writer commits as soon as it is free
    /// (lingering 1 ms first while the process is CPU-bound).
    pub async fn start(config: Config) -> Result<Server, StartError> {
        Server::start_with(config, None).await
    }

    /// Starts a server with `config` whose SQLite writer holds each commit open until `idle`
    /// (the hooks of the runtime it runs on) says that runtime has no work ready, or for
    /// `config.commit_window_us` at most.
    pub async fn start_with(
        config: Config,
        idle: Option<Arc<RuntimeIdle>>,
    ) -> Result<Server, StartError> {
        if config.games.is_empty() {
            return Err(StartError::NoGames);
        }
        let web_dir = config.web_dir.as_deref();
        let web = WebClient::open(web_dir).map_err(|source| StartError::WebDir {
            path: web_dir.map(|d| d.display().to_string()).unwrap_or_default(),
            source,
        })?;
        let metrics = Arc::new(Metrics::default());
        let (log, keys) = open_store(&config, metrics.clone(), idle)?;
        let listener = TcpListener::bind(config.http)
            .await
            .map_err(|source| StartError::Bind { addr: config.http, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr: config.http, source })?;
        let app = App::new(config, log, keys, metrics);
        let codes = crate::lobby::rebuild_codes(app.log.as_ref(), &app.codes)?;
        if codes > 0 {
            info!(codes, "join codes of private matches restored from the log");
        }
        let serves_client = web.is_served();
        let router = router(app.clone(), web);
        let quic = start_quic(&app, addr)?;
        let accept = tokio::spawn(accept_loop(listener, router, app.clone()));
        app.connections.spawn(forget_idle_clients(app.clone()));
        info!(%addr, "arbiter listening");
        if serves_client {
            info!("web client at http://{}/", browsable(addr));
        }
        Ok(Server { addr, app, accept, quic })
    }

    /// The UDP address QUIC listens on, unless it is off.
    pub fn quic_addr(&self) -> Option<SocketAddr> {
        self.app.quic.get().map(|q| q.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its shared state (tests and tools inspect it).
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Stops gracefully: no new connections, sockets closed with a reason, appends finished,
    /// the log closed.
    pub async fn shutdown(mut self) {
        self.app.shutdown.cancel();
        let _ = self.accept.await;
        if let Some((_, accept)) = &mut self.quic {
            let _ = accept.await;
        }
        self.app.connections.close();
        // Sessions close within their write timeout; a bound here keeps a stuck peer from
        // holding shutdown hostage even so.
        if tokio::time::timeout(SHUTDOWN_GRACE, self.app.connections.wait()).await.is_err() {
            warn!("connections still open after the grace period; closing regardless");
        }
        if let Some((endpoint, _)) = &self.quic {
            // Lets the last CONNECTION_CLOSE frames go out before the socket closes.
            let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        }
        self.app.rooms.shutdown().await;
        let log = self.app.log.clone();
        let _ = tokio::task::spawn_blocking(move || log.close()).await;
        info!("arbiter stopped");
    }
}

/// The API, the WebSocket and, on every other path, the web client. CORS wraps every route
/// so that a preflight is answered before routing, whatever methods the route takes.
pub(crate) fn router(app: Arc<App>, web: WebClient) -> Router {
    crate::http::routes(&app.config.games)
        .fallback(move |req: Request| web.serve(req))
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(app.clone(), crate::body::bound))
        .layer(axum::middleware::from_fn_with_state(app.clone(), crate::ratelimit::limit))
        .layer(axum::middleware::from_fn_with_state(app.clone(), crate::access::count))
        .layer(crate::access::trace_layer(app.clone()))
        .layer(crate::origin::cors(&app.config.limits.allowed_origins))
        .layer(DefaultBodyLimit::max(app.config.limits.max_body_bytes))
        .with_state(app)
}

/// Binds QUIC (unless it is off) and starts accepting: at `--quic`, or by default on the HTTP
/// address's port over UDP, falling back to any free port when that one is taken.
fn start_quic(
    app: &Arc<App>,
    http: SocketAddr,
) -> Result<Option<(Endpoint, tokio::task::JoinHandle<()>)>, StartError> {
    let config = &app.config;
    if config.no_quic {
        return Ok(None);
    }
    let identity = match (&config.quic_cert, &config.quic_key) {
        (Some(cert), Some(key)) => Identity::load(cert, key)?,
        _ if config.store == StoreKind::Disk => Identity::development(&config.data_dir)?,
        _ => Identity::ephemeral()?,
    };
    let cert_sha256 = identity.fingerprint();
    let endpoint = match config.quic {
        Some(addr) => quic::bind(addr, &identity, &config.limits)?,
        None => quic::bind(http, &identity, &config.limits).or_else(|e| {
            warn!(error = %e, "the HTTP port is taken over UDP; QUIC takes a free port");
            quic::bind(SocketAddr::new(http.ip(), 0), &identity, &config.limits)
        })?,
    };
    let addr = endpoint
        .local_addr()
        .map_err(|source| StartError::Bind { addr: config.quic.unwrap_or(http), source })?;
    info!(%addr, %cert_sha256, "QUIC listening");
    let _ = app.quic.set(QuicInfo { addr, alpn: "arbiter/1", cert_sha256 });
    let accept = tokio::spawn(quic::accept_loop(endpoint.clone(), app.clone()));
    Ok(Some((endpoint, accept)))
}

/// Keeps the rate limiters' memory to recent clients until shutdown.
async fn forget_idle_clients(app: Arc<App>) {
    let mut every = tokio::time::interval(crate::ratelimit::FORGET_EVERY);
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => break,
            _ = every.tick() => app.rate_limits.forget_idle(),
        }
    }
}

/// An address a browser on this machine can open: a wildcard bind is reachable at localhost.
fn browsable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

fn open_store(
    config: &Config,
    observer: Arc<Metrics>,
    idle: Option<Arc<RuntimeIdle>>,
) -> Result<(SharedLog, Keys), StartError> {
    let configured = config.signing_key.as_deref().map(parse_key).transpose()?;
    match config.store {
        StoreKind::Memory => {
            let key = configured.unwrap_or_else(random_key);
            Ok((Arc::new(MemoryLog::new()) as Arc<dyn EventLog>, Keys::new(key)))
        }
        StoreKind::Disk => {
            let dir = &config.data_dir;
            let data_dir = |source| StartError::DataDir { path: dir.display().to_string(), source };
            std::fs::create_dir_all(dir).map_err(data_dir)?;
            let key = match configured {
                Some(key) => key,
                None => load_or_create_key(&dir.join("signing.key")).map_err(data_dir)?,
            };
            let pacing = match idle {
                Some(idle) => Pacing::UntilIdle {
                    idle,
                    window: Duration::from_micros(config.commit_window_us),
                },
                None => Pacing::Eager,
            };
            let options = DiskOptions {
                durability: config.durability,
                segment_bytes: SEGMENT_BYTES,
                pacing,
                observer,
                summarize: crate::replay::summarizer(&config.games),
                rebuild: config.rebuild_projections,
            };
            let log = DiskLog::open(dir, options)?;
            Ok((Arc::new(log), Keys::new(key)))
        }
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random generator works");
    key
}

/// 64 hex digits; anything else (including non-ASCII text of the right length) is refused.
fn parse_key(hex: &str) -> Result<[u8; 32], StartError> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(StartError::SigningKey);
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte =
            u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| StartError::SigningKey)?;
    }
    Ok(key)
}

/// The key in the data dir, created (owner-readable only) on first start.
fn load_or_create_key(path: &Path) -> std::io::Result<[u8; 32]> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return parse_key(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()));
    }
    let key = random_key();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    crate::files::write_atomically(path, hex.as_bytes(), true)?;
    Ok(key)
}

/// Accepts connections until shutdown; each admitted one is served by hyper's HTTP/1 with a
/// header-read deadline (axum::serve sets none), and upgrades to WebSocket where asked.
///
/// HTTP/1 is served directly rather than through hyper-util's auto builder: that one first
/// waits, with no deadline, for the bytes that tell HTTP/1 from HTTP/2, so a connection that
/// sends nothing would never meet the header deadline.
async fn accept_loop(listener: TcpListener, router: Router, app: Arc<App>) {
    let limits = &app.config.limits;
    let gate = &app.gate;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_timeout_ms));
    loop {
        let (stream, peer) = tokio::select! {
            () = app.shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        match gate.admit(peer.ip()) {
            Ok(admission) => {
                let _ = stream.set_nodelay(true);
                let stream = Admitted::new(stream, admission);
                let conn = serve(&http, stream, peer, router.clone(), app.shutdown.clone());
                app.connections.spawn(conn);
            }
            Err(refusal) => {
                if let Some(answer) = gate.refuse(stream, refusal) {
                    app.connections.spawn(answer);
                }
            }
        }
    }
}

/// Serves one connection; at shutdown it finishes the request in hand (for at most
/// [`HTTP_GRACE`]) and closes. Sockets upgraded to WebSocket are no longer this connection's:
/// their sessions close them, watching the same shutdown token.
fn serve(
    http: &http1::Builder,
    stream: Admitted<tokio::net::TcpStream>,
    peer: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let service = router.map_request(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let conn = http
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .with_upgrades();
    async move {
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => return,
            () = shutdown.cancelled() => {}
        }
        conn.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(HTTP_GRACE, conn).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_keys_are_64_hex_digits_and_nothing_else() {
        assert_eq!(parse_key(&"0f".repeat(32)).ok().map(|k| k[0]), Some(0x0f));
        for bad in ["", "zz".repeat(32).as_str(), "é".repeat(32).as_str(), "0".repeat(63).as_str()]
        {
            assert!(matches!(parse_key(bad), Err(StartError::SigningKey)), "{bad:?}");
        }
    }
}
