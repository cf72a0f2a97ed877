//! Encoding and decoding of whole messages, with the size and nesting limits every frame from
//! the network is held to. Decoding untrusted bytes returns an error; it never panics.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::v1::ClientMsg;

/// Largest frame (one message) either side accepts, in bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Deepest nesting of maps and arrays accepted in a MessagePack frame; Arbiter's messages need
/// fewer than ten levels, and a bound keeps hostile frames from exhausting the stack.
pub const MAX_DEPTH: usize = 64;

/// How a frame is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// MessagePack with named fields (binary frames).
    MsgPack,
    /// JSON (text frames).
    Json,
}

/// Why a frame is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame is over [`MAX_FRAME_BYTES`].
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a valid message.
    #[error("malformed {encoding:?} message: {reason}")]
    Malformed {
        /// The encoding tried.
        encoding: Encoding,
        /// The decoder's complaint.
        reason: String,
    },
}

impl DecodeError {
    /// The stable error code sent back to the peer.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "frame_too_large",
            DecodeError::Malformed { .. } => "malformed_message",
        }
    }
}

/// Bytes reserved before encoding: most messages (an event, a verdict) fit, so the buffer is
/// not regrown and copied several times per message.
const ENCODE_CAPACITY: usize = 256;

/// Encodes a message. Messages are plain data with string keys, so encoding cannot fail.
pub fn encode<T: Serialize>(message: &T, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::MsgPack => {
            let mut out = Vec::with_capacity(ENCODE_CAPACITY);
            rmp_serde::encode::write_named(&mut out, message)
                .expect("messages encode as MessagePack");
            out
        }
        Encoding::Json => {
            let mut out = Vec::with_capacity(ENCODE_CAPACITY);
            serde_json::to_writer(&mut out, message).expect("messages encode as JSON");
            out
        }
    }
}

/// Decodes one message from one frame, checking its size first.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], encoding: Encoding) -> Result<T, DecodeError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge { len: bytes.len(), max: MAX_FRAME_BYTES });
    }
    let malformed = |reason: String| DecodeError::Malformed { encoding, reason };
    match encoding {
        Encoding::MsgPack => {
            let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
            de.set_max_depth(MAX_DEPTH);
            let message = T::deserialize(&mut de).map_err(|e| malformed(e.to_string()))?;
            // One frame is one message: trailing bytes mean the peer framed something wrong.
            let used = de.position();
            if used != bytes.len() as u64 {
                return Err(malformed(format!("{} trailing bytes", bytes.len() as u64 - used)));
            }
            Ok(message)
        }
        Encoding::Json => serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string())),
    }
}

/// Decodes a client's message like [`decode`], reading a MessagePack `move` directly (see
/// [`crate::direct`]) and anything else through serde.
pub fn decode_client(bytes: &[u8], encoding: Encoding) -> Result<ClientMsg, DecodeError> {
    if encoding == Encoding::MsgPack
        && bytes.len() <= MAX_FRAME_BYTES
        && let Some(msg) = crate::direct::client_move(bytes)
    {
        return Ok(msg);
    }
    decode(bytes, encoding)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::v1::{Join, Leave, Move, Ping, Role, ServerMsg, Value};

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Nil),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            "[a-z]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-z]{1,6}", inner), 0..4).prop_map(|kv| Value::Map(
                    kv.into_iter().map(|(k, v)| (k.into(), v)).collect()
                )),
            ]
        })
    }

    fn client_msg() -> impl Strategy<Value = ClientMsg> {
        let id = "[a-zA-Z0-9_-]{1,12}";
        prop_oneof![
            (id, any::<bool>(), proptest::option::of(any::<u64>())).prop_map(|(m, p, from_seq)| {
                let role = if p { Role::Player } else { Role::Spectator };
                ClientMsg::Join(Join { match_id: m, role, from_seq })
            }),
            (id, any::<u64>(), value()).prop_map(|(m, move_id, mv)| ClientMsg::Move(Move {
                match_id: m,
                move_id,
                mv: mv.into()
            })),
            id.prop_map(|m| ClientMsg::Leave(Leave { match_id: m })),
            any::<u64>().prop_map(|nonce| ClientMsg::Ping(Ping { nonce })),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            for encoding in [Encoding::MsgPack, Encoding::Json] {
                let _ = decode::<ClientMsg>(&bytes, encoding);
                let _ = decode_client(&bytes, encoding);
                let _ = decode::<ServerMsg>(&bytes, encoding);
            }
        }

        #[test]
        fn client_messages_round_trip(message in client_msg()) {
            for encoding in [Encoding::MsgPack, Encoding::Json] {
                let bytes = encode(&message, encoding);
                prop_assert_eq!(decode::<ClientMsg>(&bytes, encoding), Ok(message.clone()));
                prop_assert_eq!(decode_client(&bytes, encoding), Ok(message.clone()));
            }
        }

        #[test]
        fn truncated_frames_are_errors(message in client_msg(), cut in any::<prop::sample::Index>()) {
            let bytes = encode(&message, Encoding::MsgPack);
            let cut = cut.index(bytes.len());
            prop_assert!(decode::<ClientMsg>(&bytes[..cut], Encoding::MsgPack).is_err());
        }
    }

    #[test]
    fn oversized_frames_are_refused_before_parsing() {
        let big = vec![b' '; MAX_FRAME_BYTES + 1];
        let err = decode::<ClientMsg>(&big, Encoding::Json).expect_err("too large");
        assert_eq!(err, DecodeError::TooLarge { len: MAX_FRAME_BYTES + 1, max: MAX_FRAME_BYTES });
        assert_eq!(err.code(), "frame_too_large");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // {"move": {"match_id": "m", "move_id": 1, "move": [[[[...]]]]}} nested far past MAX_DEPTH.
        let mut frame = vec![0x81, 0xa4, b'm', b'o', b'v', b'e', 0x83];
        frame.extend([0xa8, b'm', b'a', b't', b'c', b'h', b'_', b'i', b'd', 0xa1, b'm']);
        frame.extend([
            0xa7, b'm', b'o', b'v', b'e', b'_', b'i', b'd', 0x01, 0xa4, b'm', b'o', b'v', b'e',
        ]);
        frame.extend(std::iter::repeat_n(0x91, 60_000));
        frame.push(0xc0);
        let err = decode::<ClientMsg>(&frame, Encoding::MsgPack).expect_err("too deep");
        assert_eq!(err.code(), "malformed_message");
        let json = format!(r#"{{"ping":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
        assert!(decode::<ClientMsg>(json.as_bytes(), Encoding::Json).is_err());
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode(&ClientMsg::Ping(Ping { nonce: 1 }), Encoding::MsgPack);
        bytes.push(0xc0);
        let err = decode::<ClientMsg>(&bytes, Encoding::MsgPack).expect_err("trailing");
        assert!(err.to_string().contains("1 trailing bytes"), "{err}");
    }

    #[test]
    fn unknown_message_types_are_malformed() {
        let err = decode::<ClientMsg>(br#"{"shout":{}}"#, Encoding::Json).expect_err("unknown");
        assert_eq!(err.code(), "malformed_message");
    }
}
