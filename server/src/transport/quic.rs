//! QUIC with quinn: one bidirectional stream per connection carrying the same MessagePack
//! messages as WebSocket, each preceded by its length as a 4-byte big-endian `u32`
//! (docs/PROTOCOL.md §1). TLS 1.3 only, ALPN `arbiter/1`, no 0-RTT, and a Retry for every
//! address not yet validated, so a spoofed source cannot make the server do work or amplify.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use protocol::Encoding;
use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Connection, Endpoint, Incoming, RecvStream, SendStream, VarInt};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tracing::{Instrument, debug, info_span};

use super::cert::Identity;
use crate::app::App;
use crate::config::Limits;
use crate::listener::Admission;
use crate::session::{self, CLOSE_HANDSHAKE, CloseReason, Gone, Inbound, Transport};

/// The ALPN protocol a client must offer.
pub const ALPN: &[u8] = b"arbiter/1";
/// Largest message the server sends: catch-up snapshots of big views can exceed what a
/// client may send, so the writer has its own, looser bound.
const MAX_SEND_BYTES: usize = 16 * 1024 * 1024;

/// Why QUIC could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// The certificate or the TLS settings were refused.
    #[error("TLS for QUIC: {0}")]
    Tls(String),
    /// The UDP socket could not be bound.
    #[error("binding UDP {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// What a client needs to reach and pin this server's QUIC: served at `GET /api/quic`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct QuicInfo {
    /// The UDP address it listens on.
    #[schema(value_type = String, example = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The ALPN protocol to offer.
    pub alpn: &'static str,
    /// The lowercase hex SHA-256 of the server's certificate (DER), for pinning.
    pub cert_sha256: String,
}

/// A QUIC endpoint listening on `addr` with `identity`, its limits taken from `limits`.
pub fn bind(addr: SocketAddr, identity: &Identity, limits: &Limits) -> Result<Endpoint, QuicError> {
    let tls_error = |e: &dyn std::fmt::Display| QuicError::Tls(e.to_string());
    // The provider is chosen here, not installed process-wide: two servers in one process
    // must not depend on a global.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_error(&e))?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| tls_error(&e))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // No 0-RTT: a replayed early move must never reach a room.
    tls.max_early_data_size = 0;
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| tls_error(&e))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(Arc::new(transport_config(limits)));
    Endpoint::server(server, addr).map_err(|source| QuicError::Bind { addr, source })
}

/// One stream per connection, none from the server, no datagrams, flow-control windows sized
/// to the frame limit (so no client can make the server buffer more than a few frames for
/// it), and QUIC's own idle timeout set to the session's, so a silent peer is dropped by the
/// transport (clients send keep-alives).
fn transport_config(limits: &Limits) -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_bidi_streams(VarInt::from_u32(1));
    transport.max_concurrent_uni_streams(VarInt::from_u32(0));
    transport.datagram_receive_buffer_size(None);
    // The largest message that is read at all (twice the frame limit) and its prefix.
    let window = (limits.max_frame_bytes as u32).saturating_mul(2).saturating_add(8);
    transport.stream_receive_window(VarInt::from_u32(window));
    transport.receive_window(VarInt::from_u32(window));
    transport.send_window(u64::from(window) * 8);
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    transport.max_idle_timeout(quinn::IdleTimeout::try_from(idle).ok());
    transport
}

/// Accepts QUIC connections until shutdown.
pub async fn accept_loop(endpoint: Endpoint, app: Arc<App>) {
    loop {
        let incoming = tokio::select! {
            () = app.shutdown.cancelled() => break,
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
        };
        if !incoming.remote_address_validated() {
            // Address validation: the client must echo a token before we keep any state.
            let _ = incoming.retry();
            continue;
        }
        let peer = incoming.remote_address();
        // QUIC connections share the caps of TCP ones; past them the attempt is refused.
        let Ok(place) = app.gate.admit(peer.ip()) else {
            incoming.refuse();
            continue;
        };
        let conn = app.rooms.next_conn();
        let span = info_span!("conn", conn, peer = %peer, transport = "quic");
        let task = serve(incoming, app.clone(), conn, place).instrument(span);
        app.connections.spawn(task);
    }
}

/// Completes the handshake, takes the client's stream and runs a session over it.
async fn serve(incoming: Incoming, app: Arc<App>, conn: u64, place: Admission) {
    let deadline = Duration::from_millis(app.config.limits.handshake_timeout_ms);
    let opened = tokio::time::timeout(deadline, async {
        let connection = incoming.await.map_err(|e| e.to_string())?;
        let (send, recv) = connection.accept_bi().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((connection, send, recv))
    })
    .await;
    let (connection, send, recv) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => return debug!(error = %e, "QUIC handshake failed"),
        Err(_) => return debug!("QUIC handshake timed out"),
    };
    let peer = connection.remote_address();
    let transport = QuicTransport::new(connection, send, recv, app.config.limits.max_frame_bytes);
    session::run(transport, app, conn, peer, None, place).await;
}

/// A QUIC connection's one stream, framed by length.
pub struct QuicTransport {
    connection: Connection,
    send: FramedWrite<SendStream, LengthDelimitedCodec>,
    recv: FramedRead<RecvStream, LengthDelimitedCodec>,
}

/// The framing: a 4-byte big-endian length, then the message. Over `max_bytes` the length
/// alone refuses the frame, before its body is read.
pub fn codec(max_bytes: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(max_bytes)
        .new_codec()
}

impl QuicTransport {
    /// Frames a stream. Messages over the frame limit but at most twice it are read and
    /// answered `frame_too_large`, as over WebSocket; longer ones close the connection.
    pub fn new(
        connection: Connection,
        send: SendStream,
        recv: RecvStream,
        max_frame_bytes: usize,
    ) -> QuicTransport {
        QuicTransport {
            connection,
            send: FramedWrite::new(send, codec(MAX_SEND_BYTES)),
            recv: FramedRead::new(recv, codec(max_frame_bytes * 2)),
        }
    }
}

impl Transport for QuicTransport {
    const NAME: &'static str = "quic";

    async fn recv(&mut self) -> Option<Result<Inbound, CloseReason>> {
        match self.recv.next().await {
            Some(Ok(frame)) => Some(Ok(Inbound::Frame(frame.freeze(), Encoding::MsgPack))),
            // The client finished its stream: a polite close.
            None => Some(Ok(Inbound::Close)),
            Some(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                Some(Err(CloseReason::FrameTooBig(e.to_string())))
            }
            Some(Err(e)) => {
                debug!(error = %e, "QUIC stream failed");
                None
            }
        }
    }

    async fn feed(&mut self, bytes: Bytes, _encoding: Encoding) -> Result<(), Gone> {
        // QUIC carries MessagePack only; a session never joins in JSON over it.
        self.send.feed(bytes).await.map_err(|_| Gone)
    }

    async fn flush(&mut self) -> Result<(), Gone> {
        SinkExt::<Bytes>::flush(&mut self.send).await.map_err(|_| Gone)
    }

    async fn keepalive(&mut self) -> Result<(), Gone> {
        Ok(())
    }

    fn keeps_itself_alive(&self) -> bool {
        true
    }

    async fn close(self, reason: &CloseReason) {
        // A CONNECTION_CLOSE discards unsent stream data: finish the stream and wait for the
        // peer to acknowledge it, so a last `error` arrives before the close.
        let mut send = self.send.into_inner();
        let delivered = async {
            if send.finish().is_ok() {
                let _ = send.stopped().await;
            }
        };
        if tokio::time::timeout(CLOSE_HANDSHAKE, delivered).await.is_err() {
            debug!("the QUIC peer did not acknowledge the last data before the close");
        }
        self.connection.close(VarInt::from(reason.code()), reason.text().as_bytes());
    }
}
