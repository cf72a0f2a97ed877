//! One session per connection, whatever carries it: authentication, joins, moves, limits and
//! close reasons live here once; WebSocket and QUIC are thin [`Transport`]s under it. The loop
//! waits for one [`Event`] at a time (`next_event` only selects) and hands it to a short
//! `handle_*` function, in the manner of rust-analyzer's main loop.

mod close;
mod handlers;
mod registry;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use protocol::Encoding;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval};
use tokio_util::sync::WaitForCancellationFutureOwned;
use tracing::{debug, info};

pub use close::{CloseReason, code};
pub use registry::{Registered, SessionInfo, Sessions};

use crate::app::App;
use crate::auth::Claims;
use crate::room::ConnId;
use crate::room::task::{Kick, Outgoing};

/// Most queued frames written before one flush.
const COALESCE_FRAMES: usize = 64;
/// How long one write (or one drain of the outbox) may take. A peer that stops reading fills
/// its buffers and then blocks our writes; without a deadline its session could never notice
/// its idle timeout, a kick or shutdown.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing handshake may take.
pub const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// What a transport delivers from its peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// One message.
    Frame(Bytes, Encoding),
    /// The peer's close.
    Close,
    /// Transport traffic with nothing for the session (a WebSocket ping or pong); it still
    /// counts as activity.
    Control,
}

/// The peer cannot be written to any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

/// A connection as the session sees it: framed messages in and out, and a way to close with a
/// reason. Implemented by the WebSocket and QUIC adapters and by the tests' channels.
pub trait Transport: Send {
    /// Its name in metrics and logs (`ws`, `quic`).
    const NAME: &'static str;
    /// The next thing from the peer; `None` once it has gone. Must be cancel-safe: the session
    /// waits on it beside other events.
    fn recv(&mut self) -> impl Future<Output = Option<Result<Inbound, CloseReason>>> + Send;
    /// Queues one message without flushing.
    fn feed(
        &mut self,
        bytes: Bytes,
        encoding: Encoding,
    ) -> impl Future<Output = Result<(), Gone>> + Send;
    /// Sends what was fed.
    fn flush(&mut self) -> impl Future<Output = Result<(), Gone>> + Send;
    /// Shows the peer we are here between messages (a WebSocket ping; nothing where the
    /// transport keeps itself alive).
    fn keepalive(&mut self) -> impl Future<Output = Result<(), Gone>> + Send;
    /// Whether the transport drops a silent peer itself (QUIC's idle timeout), so the session
    /// need not watch for silence.
    fn keeps_itself_alive(&self) -> bool {
        false
    }
    /// Closes with `reason` and waits for the peer's side of the handshake, within
    /// [`CLOSE_HANDSHAKE`].
    fn close(self, reason: &CloseReason) -> impl Future<Output = ()> + Send;
}

/// What the session loop waits for.
enum Event {
    /// The server is stopping.
    Shutdown,
    /// A room asked for this connection to close.
    Kicked(Option<CloseReason>),
    /// A room queued something for the peer.
    Outgoing(Outgoing),
    /// No `hello` in time.
    AuthTimeout,
    /// Time to check for silence and ping.
    Keepalive,
    /// The peer sent something, or went.
    Received(Option<Result<Inbound, CloseReason>>),
}

/// How the loop goes on after an event.
enum Flow {
    Continue,
    /// Close politely with a reason.
    Close(CloseReason),
    /// The peer stopped reading: drop it without a handshake, which would block as well.
    Drop,
}

/// One connection's session.
pub struct Session {
    app: Arc<App>,
    conn: ConnId,
    claims: Option<Claims>,
    /// Matches joined, each with the generation of its latest join.
    joined: HashMap<String, u64>,
    /// Generations of joins, counting up.
    joins: u64,
    outbox: mpsc::Sender<Outgoing>,
    kick: Arc<Kick>,
    /// Its entry among the live sessions, removed when the session ends.
    live: Registered,
    limiter: DefaultDirectRateLimiter,
    /// Messages dropped by the rate limiter since the last one let through.
    dropped: u32,
    last_heard: Instant,
    idle: Duration,
    auth_deadline: Instant,
}

/// What the loop owns beside the session: the queue rooms fill, the keepalive timer, and the
/// waits for shutdown and for a kick, made once rather than on every turn of the loop.
struct Wait {
    outgoing: mpsc::Receiver<Outgoing>,
    keepalive: Interval,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    kicked: Pin<Box<WaitForCancellationFutureOwned>>,
}

/// Runs one connection until the client leaves, misbehaves, idles out or the server stops.
/// `peer` is the client's address; `claims` is set when the transport authenticated the
/// connection already (a token with the WebSocket upgrade); `place` is held until the session
/// ends.
pub async fn run<T: Transport>(
    mut transport: T,
    app: Arc<App>,
    conn: ConnId,
    peer: SocketAddr,
    claims: Option<Claims>,
    place: impl Send,
) {
    // The connection's place under the caps, given back when the session ends.
    let _place = place;
    let started = Instant::now();
    let open = app.metrics.connections_over(T::NAME);
    open.inc();
    let (mut session, mut wait) = Session::new(app.clone(), (conn, T::NAME, peer), claims);
    let greeted = match session.claims.clone() {
        Some(claims) => {
            let welcome = handlers::welcome(&claims, &app.config.limits);
            send(&mut transport, &welcome, Encoding::MsgPack).await
        }
        None => Ok(()),
    };
    let end = match greeted {
        Ok(()) => session.serve(&mut transport, &mut wait).await,
        Err(Gone) => Flow::Drop,
    };
    let ended = match &end {
        Flow::Close(reason) => reason.label(),
        _ => "dropped",
    };
    let player = session.claims.as_ref().map_or("-", |c| c.sub.as_str());
    let millis = started.elapsed().as_millis() as u64;
    info!(transport = T::NAME, player, reason = ended, duration_ms = millis, "session ended");
    app.metrics.count_closed(ended);
    // Rooms stop counting the connection before its closing handshake, which may take a
    // while: what they report (an administrator's overview, a close's count) is current.
    session.leave_all().await;
    if let Flow::Close(reason) = end {
        debug!(code = reason.code(), reason = %reason.text(), "closing");
        transport.close(&reason).await;
    }
    open.dec();
}

/// Encodes and sends one message at once, under [`WRITE_TIMEOUT`].
async fn send<T: Transport>(
    transport: &mut T,
    msg: &protocol::v1::ServerMsg,
    encoding: Encoding,
) -> Result<(), Gone> {
    let bytes = Bytes::from(protocol::encode(msg, encoding));
    let write = async {
        transport.feed(bytes, encoding).await?;
        transport.flush().await
    };
    tokio::time::timeout(WRITE_TIMEOUT, write).await.unwrap_or(Err(Gone))
}

impl Session {
    fn new(
        app: Arc<App>,
        (conn, transport, peer): (ConnId, &'static str, SocketAddr),
        claims: Option<Claims>,
    ) -> (Session, Wait) {
        let limits = &app.config.limits;
        let (outbox, outgoing) = mpsc::channel(limits.outbox_frames.max(1));
        let rate = NonZeroU32::new(limits.msgs_per_s).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.msg_burst).unwrap_or(NonZeroU32::MIN);
        let idle = Duration::from_millis(limits.idle_timeout_ms.max(3));
        let now = Instant::now();
        let kick = Arc::new(Kick::default());
        let live = app.sessions.register(conn, transport, peer, kick.clone());
        if let Some(claims) = &claims {
            live.set_player(&claims.sub, &claims.name);
        }
        let mut keepalive = tokio::time::interval_at(now + idle / 3, idle / 3);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let session = Session {
            auth_deadline: now + Duration::from_millis(limits.handshake_timeout_ms),
            app,
            conn,
            claims,
            joined: HashMap::new(),
            joins: 0,
            outbox,
            kick,
            live,
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            dropped: 0,
            last_heard: now,
            idle,
        };
        let shutdown = Box::pin(session.app.shutdown.clone().cancelled_owned());
        let kicked = Box::pin(session.kick.token.clone().cancelled_owned());
        (session, Wait { outgoing, keepalive, shutdown, kicked })
    }

    /// The loop: one event at a time, until one ends the session.
    async fn serve<T: Transport>(&mut self, transport: &mut T, wait: &mut Wait) -> Flow {
        loop {
            let event = self.next_event(transport, wait).await;
            let flow = match event {
                Event::Shutdown => Flow::Close(CloseReason::ShuttingDown),
                Event::Kicked(Some(reason)) => Flow::Close(reason),
                Event::Kicked(None) => Flow::Drop,
                Event::AuthTimeout => Flow::Close(CloseReason::AuthTimeout),
                Event::Outgoing(first) => self.handle_outgoing(transport, wait, first).await,
                Event::Keepalive => self.handle_keepalive(transport).await,
                Event::Received(received) => self.handle_received(transport, received).await,
            };
            if !matches!(flow, Flow::Continue) {
                return flow;
            }
        }
    }

    /// Waits for the next event; it only selects. The loop ends on a shutdown or a kick, so
    /// their waits are never polled again once they fire.
    async fn next_event<T: Transport>(&self, transport: &mut T, wait: &mut Wait) -> Event {
        tokio::select! {
            () = &mut wait.shutdown => Event::Shutdown,
            () = &mut wait.kicked => Event::Kicked(self.kick.reason().cloned()),
            Some(first) = wait.outgoing.recv() => Event::Outgoing(first),
            () = tokio::time::sleep_until(self.auth_deadline), if self.claims.is_none() => Event::AuthTimeout,
            _ = wait.keepalive.tick() => Event::Keepalive,
            received = transport.recv() => Event::Received(received),
        }
    }

    /// Writes everything waiting, then flushes once: an event and its verdict (or a catch-up)
    /// leave in one write. One deadline covers the whole drain.
    async fn handle_outgoing<T: Transport>(
        &mut self,
        transport: &mut T,
        wait: &mut Wait,
        first: Outgoing,
    ) -> Flow {
        let drain = async {
            self.feed(transport, first).await?;
            for _ in 0..COALESCE_FRAMES {
                let Ok(next) = wait.outgoing.try_recv() else { break };
                self.feed(transport, next).await?;
            }
            transport.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, drain).await {
            Ok(Ok(())) => Flow::Continue,
            _ => Flow::Drop,
        }
    }

    /// Writes (without flushing) what a room queued.
    async fn feed<T: Transport>(
        &mut self,
        transport: &mut T,
        outgoing: Outgoing,
    ) -> Result<(), Gone> {
        match outgoing {
            Outgoing::Frame(bytes, encoding) => transport.feed(bytes, encoding).await,
            Outgoing::Batch(frames, encoding) => {
                for bytes in frames {
                    transport.feed(bytes, encoding).await?;
                }
                Ok(())
            }
            Outgoing::Detached(match_id, generation) => {
                if self.joined.get(&match_id) == Some(&generation) {
                    self.joined.remove(&match_id);
                    self.live.set_matches(self.joined.keys());
                }
                Ok(())
            }
        }
    }

    /// Silence is checked here rather than with a timer per message: cheaper on a busy
    /// connection.
    async fn handle_keepalive<T: Transport>(&mut self, transport: &mut T) -> Flow {
        if transport.keeps_itself_alive() {
            return Flow::Continue;
        }
        if self.last_heard.elapsed() > self.idle {
            return Flow::Close(CloseReason::IdleTimeout);
        }
        match tokio::time::timeout(WRITE_TIMEOUT, transport.keepalive()).await {
            Ok(Ok(())) => Flow::Continue,
            _ => Flow::Drop,
        }
    }

    async fn handle_received<T: Transport>(
        &mut self,
        transport: &mut T,
        received: Option<Result<Inbound, CloseReason>>,
    ) -> Flow {
        self.last_heard = Instant::now();
        match received {
            None => Flow::Drop,
            Some(Err(reason)) => Flow::Close(reason),
            Some(Ok(Inbound::Close)) => Flow::Close(CloseReason::ClientClosed),
            Some(Ok(Inbound::Control)) => Flow::Continue,
            Some(Ok(Inbound::Frame(bytes, encoding))) => {
                self.handle_frame(transport, &bytes, encoding).await
            }
        }
    }

    /// One message from the peer: rate-limited, decoded, then handled.
    async fn handle_frame<T: Transport>(
        &mut self,
        transport: &mut T,
        bytes: &[u8],
        encoding: Encoding,
    ) -> Flow {
        if self.limiter.check().is_err() {
            return self.handle_dropped(transport, encoding).await;
        }
        self.dropped = 0;
        let reply =
            match handlers::decode_limited(bytes, encoding, self.app.config.limits.max_frame_bytes)
            {
                Ok(msg) => self.handle_client_msg(msg, encoding).await,
                Err(e) => {
                    self.app.metrics.count_refused(e.code());
                    Ok(Some(handlers::error(e.code(), e.to_string(), None)))
                }
            };
        let (reply, then) = match reply {
            Ok(reply) => (reply, Flow::Continue),
            Err(closing) => {
                let (reason, reply) = *closing;
                (Some(reply), Flow::Close(reason))
            }
        };
        if let Some(reply) = reply
            && send(transport, &reply, encoding).await.is_err()
        {
            return Flow::Drop;
        }
        then
    }

    /// A frame over the rate: dropped unread; the first of a run is answered, a long run
    /// closes the connection.
    async fn handle_dropped<T: Transport>(
        &mut self,
        transport: &mut T,
        encoding: Encoding,
    ) -> Flow {
        self.dropped += 1;
        self.app.metrics.count_refused("rate_limited");
        let limits = &self.app.config.limits;
        if self.dropped > limits.msg_burst {
            return Flow::Close(CloseReason::Flood);
        }
        if self.dropped == 1 {
            let text = format!("over {} messages/s; message dropped", limits.msgs_per_s);
            let msg = handlers::error("rate_limited", text, None);
            if send(transport, &msg, encoding).await.is_err() {
                return Flow::Drop;
            }
        }
        Flow::Continue
    }
}
