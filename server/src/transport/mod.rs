//! How clients reach rooms: WebSocket and QUIC, each a thin adapter under the one session
//! layer (`crate::session`), and the QUIC certificate.

pub mod cert;
pub mod quic;
pub mod ws;
