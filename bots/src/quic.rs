//! A QUIC client for Arbiter: one bidirectional stream, each message preceded by its length as
//! a 4-byte big-endian `u32` (docs/PROTOCOL.md §1), the server's certificate pinned by the
//! SHA-256 fingerprint it serves at `GET /api/quic`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use quinn::crypto::rustls::QuicClientConfig;
use quinn::{Connection, ConnectionError, Endpoint, RecvStream, SendStream, VarInt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// The ALPN protocol the server speaks.
pub const ALPN: &[u8] = b"arbiter/1";
/// Largest message accepted from the server.
const MAX_RECV_BYTES: usize = 16 * 1024 * 1024;
/// QUIC keep-alives: the server drops a connection silent for its idle timeout (60 s).
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Why a QUIC connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QuicConnectError {
    /// TLS settings were refused.
    #[error("TLS: {0}")]
    Tls(String),
    /// The local UDP socket.
    #[error("binding a UDP socket: {0}")]
    Bind(#[from] std::io::Error),
    /// Connecting failed (handshake, pin mismatch, refusal).
    #[error("connecting: {0}")]
    Connect(String),
}

/// One QUIC connection to an Arbiter server, with its stream.
pub struct QuicLink {
    connection: Connection,
    send: FramedWrite<SendStream, LengthDelimitedCodec>,
    recv: FramedRead<RecvStream, LengthDelimitedCodec>,
    /// Kept so the local socket lives as long as the connection.
    _endpoint: Endpoint,
}

fn codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(max)
        .new_codec()
}

impl QuicLink {
    /// Connects to `addr`, accepting only the certificate whose SHA-256 is `cert_sha256`.
    pub async fn connect(
        addr: SocketAddr,
        cert_sha256: &str,
    ) -> Result<QuicLink, QuicConnectError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(Pinned {
            sha256: cert_sha256.to_ascii_lowercase(),
            provider: provider.clone(),
        });
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| QuicConnectError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let crypto =
            QuicClientConfig::try_from(tls).map_err(|e| QuicConnectError::Tls(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(KEEP_ALIVE));
        client.transport_config(Arc::new(transport));
        let local: SocketAddr = if addr.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }
            .parse()
            .map_err(|_| QuicConnectError::Connect("a local address".into()))?;
        let mut endpoint = Endpoint::client(local)?;
        endpoint.set_default_client_config(client);
        let connecting = endpoint
            .connect(addr, "localhost")
            .map_err(|e| QuicConnectError::Connect(e.to_string()))?;
        let connection = connecting.await.map_err(|e| QuicConnectError::Connect(e.to_string()))?;
        let (send, recv) =
            connection.open_bi().await.map_err(|e| QuicConnectError::Connect(e.to_string()))?;
        Ok(QuicLink {
            connection,
            send: FramedWrite::new(send, codec(usize::MAX)),
            recv: FramedRead::new(recv, codec(MAX_RECV_BYTES)),
            _endpoint: endpoint,
        })
    }

    /// Sends one message (its bytes; the length prefix is added here).
    pub async fn send(&mut self, message: Bytes) -> std::io::Result<()> {
        self.send.send(message).await
    }

    /// The next message, or `None` once the server finished the stream or closed.
    pub async fn recv(&mut self) -> Option<std::io::Result<Bytes>> {
        self.recv.next().await.map(|r| r.map(bytes::BytesMut::freeze))
    }

    /// The close code and reason the server gave, once it closed.
    pub fn close_reason(&self) -> Option<(u16, String)> {
        match self.connection.close_reason()? {
            ConnectionError::ApplicationClosed(close) => {
                let code = u16::try_from(close.error_code.into_inner()).unwrap_or(u16::MAX);
                Some((code, String::from_utf8_lossy(&close.reason).into_owned()))
            }
            _ => None,
        }
    }

    /// Waits until the server closes the connection; returns its code and reason.
    pub async fn closed(&self) -> Option<(u16, String)> {
        self.connection.closed().await;
        self.close_reason()
    }

    /// Closes from this side with a normal code.
    pub fn close(&self) {
        self.connection.close(VarInt::from_u32(1000), b"bye");
    }
}

/// Accepts exactly one certificate, by its fingerprint; signatures are still checked.
#[derive(Debug)]
struct Pinned {
    sha256: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen: String =
            Sha256::digest(end_entity.as_ref()).iter().map(|b| format!("{b:02x}")).collect();
        if seen == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate {seen} is not the pinned {}",
                self.sha256
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
