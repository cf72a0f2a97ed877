//! Arbiter's wire protocol: versioned message types ([`v1`]) and the codec that frames them as
//! MessagePack (binary WebSocket frames, QUIC) or JSON (text frames, for debugging by hand).
//!
//! docs/PROTOCOL.md specifies every message; the golden tests (`golden.rs`) pin their bytes.

mod codec;
pub mod direct;
#[cfg(test)]
mod golden;
mod raw;
pub mod replica;
mod tokens;
pub mod v1;

pub use codec::{DecodeError, Encoding, MAX_DEPTH, MAX_FRAME_BYTES, decode, decode_client, encode};
pub use replica::{Replica, ReplicaError, first_desync};
