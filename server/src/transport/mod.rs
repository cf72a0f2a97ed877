//! How clients reach rooms: WebSocket sessions (QUIC comes with its own module).

pub mod ws;
