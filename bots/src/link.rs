//! A client's connection to a server over WebSocket or QUIC, as messages: the load tool and the
//! test harness speak through it and need not care which transport carries them.

use std::net::SocketAddr;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use protocol::Encoding;
use protocol::v1::{ClientMsg, ServerMsg};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::quic::QuicLink;

/// Which transport to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportKind {
    /// WebSocket at `/ws`.
    Ws,
    /// QUIC, at the address and pinned certificate `GET /api/quic` gives.
    Quic,
}

/// What a link delivers.
#[derive(Debug)]
pub enum Received {
    /// A message.
    Msg(ServerMsg),
    /// The server closed, with its code and reason (1005 and "" when it gave none).
    Closed(u16, String),
}

/// A connection.
pub enum Link {
    /// A WebSocket.
    Ws(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
    /// A QUIC connection's stream.
    Quic(Box<QuicLink>),
}

/// Where a server's QUIC listens, and the certificate to pin.
#[derive(Debug, Clone)]
pub struct QuicTarget {
    /// The UDP address.
    pub addr: SocketAddr,
    /// The certificate's SHA-256, lowercase hex.
    pub cert_sha256: String,
}

/// The length prefix of a QUIC message (docs/PROTOCOL.md §1).
const QUIC_PREFIX_BYTES: usize = 4;

/// The bytes of an unmasked WebSocket frame (a server's, RFC 6455 §5.2) carrying `payload`
/// bytes in one frame: a 2-byte header, and a 2- or 8-byte extended length past 125 and 65,535.
fn ws_frame_bytes(payload: usize) -> usize {
    let extended = match payload {
        0..=125 => 0,
        126..=65_535 => 2,
        _ => 8,
    };
    2 + extended + payload
}

/// A small read buffer: tungstenite zero-fills it before every read attempt (see the
/// server's ws.rs); 1 KiB holds the usual event and verdict, larger frames take more reads.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(1024).write_buffer_size(0)
}

/// Asks a server (`http://host:port`) where its QUIC is. The server answers with the address
/// it bound; a wildcard one is reached at the HTTP host's address.
pub async fn quic_target(http: &reqwest::Client, server: &str) -> Result<QuicTarget> {
    let info: serde_json::Value =
        http.get(format!("{server}/api/quic")).send().await?.error_for_status()?.json().await?;
    let mut addr: SocketAddr = info["addr"].as_str().context("no addr in /api/quic")?.parse()?;
    if addr.ip().is_unspecified() {
        let host = server.split("://").nth(1).unwrap_or(server).trim_end_matches('/');
        let http_addr: SocketAddr = tokio::net::lookup_host(host)
            .await?
            .next()
            .ok_or_else(|| anyhow!("no address for {host}"))?;
        addr.set_ip(http_addr.ip());
    }
    let cert_sha256 =
        info["cert_sha256"].as_str().context("no cert_sha256 in /api/quic")?.to_string();
    Ok(QuicTarget { addr, cert_sha256 })
}

impl Link {
    /// A WebSocket to `server` (`http://…`), authenticated in the upgrade when `token` is given.
    pub async fn websocket(server: &str, token: Option<&str>) -> Result<Link> {
        let url = format!("{}/ws", server.replacen("http", "ws", 1));
        let mut request = url.into_client_request()?;
        if let Some(token) = token {
            request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
        }
        let (socket, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(socket_config()), true)
                .await
                .context("connecting over WebSocket")?;
        Ok(Link::Ws(Box::new(socket)))
    }

    /// A QUIC connection (QUIC has no upgrade: authenticate with `hello`).
    pub async fn quic(target: &QuicTarget) -> Result<Link> {
        let link = QuicLink::connect(target.addr, &target.cert_sha256)
            .await
            .context("connecting over QUIC")?;
        Ok(Link::Quic(Box::new(link)))
    }

    /// Sends a message in MessagePack.
    pub async fn send(&mut self, msg: &ClientMsg) -> Result<()> {
        self.send_bytes(Bytes::from(protocol::encode(msg, Encoding::MsgPack))).await
    }

    /// Sends raw bytes as one MessagePack message.
    pub async fn send_bytes(&mut self, bytes: Bytes) -> Result<()> {
        match self {
            Link::Ws(ws) => ws.send(Message::Binary(bytes)).await.context("sending"),
            Link::Quic(quic) => quic.send(bytes).await.context("sending"),
        }
    }

    /// The next message or the close; WebSocket control frames are skipped.
    pub async fn recv(&mut self) -> Result<Received> {
        Ok(self.recv_sized().await?.0)
    }

    /// The next message or the close, with the bytes its frame took on the stream: the
    /// WebSocket frame (header and payload) or the QUIC message (length prefix and payload).
    /// A close counts 0.
    pub async fn recv_sized(&mut self) -> Result<(Received, usize)> {
        match self {
            Link::Ws(ws) => loop {
                let (msg, payload) = match ws.next().await {
                    None => return Ok((Received::Closed(1006, String::new()), 0)),
                    Some(Err(e)) => bail!("socket error: {e}"),
                    Some(Ok(Message::Binary(b))) => {
                        (protocol::decode(&b, Encoding::MsgPack)?, b.len())
                    }
                    Some(Ok(Message::Text(t))) => {
                        (protocol::decode(t.as_bytes(), Encoding::Json)?, t.len())
                    }
                    Some(Ok(Message::Close(Some(frame)))) => {
                        let closed = Received::Closed(frame.code.into(), frame.reason.to_string());
                        return Ok((closed, 0));
                    }
                    Some(Ok(Message::Close(None))) => {
                        return Ok((Received::Closed(1005, String::new()), 0));
                    }
                    Some(Ok(_)) => continue,
                };
                return Ok((Received::Msg(msg), ws_frame_bytes(payload)));
            },
            Link::Quic(quic) => match quic.recv().await {
                Some(Ok(bytes)) => {
                    let msg = protocol::decode(&bytes, Encoding::MsgPack)?;
                    Ok((Received::Msg(msg), QUIC_PREFIX_BYTES + bytes.len()))
                }
                // The stream ends just before the close: wait for the close's code.
                Some(Err(_)) | None => {
                    let (code, reason) = quic.closed().await.unwrap_or((1006, String::new()));
                    Ok((Received::Closed(code, reason), 0))
                }
            },
        }
    }

    /// Closes from this side.
    pub async fn close(&mut self) {
        match self {
            Link::Ws(ws) => {
                let _ = SinkExt::close(ws.as_mut()).await;
            }
            Link::Quic(quic) => quic.close(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_frame_counts_its_header_by_payload_length() {
        assert_eq!(ws_frame_bytes(0), 2);
        assert_eq!(ws_frame_bytes(125), 127);
        assert_eq!(ws_frame_bytes(126), 130);
        assert_eq!(ws_frame_bytes(65_535), 65_539);
        assert_eq!(ws_frame_bytes(65_536), 65_546);
    }
}
