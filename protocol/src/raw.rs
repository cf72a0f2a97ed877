//! [`RawValue`]: a game payload kept as its MessagePack encoding, so that a move goes from the
//! frame to the game's decoder without a generic value tree in between.
//!
//! Decoding writes MessagePack as the decoder visits the payload (a MessagePack frame is
//! copied token by token; a JSON one is converted once). Encoding reads those bytes back
//! token by token into whatever encoding the message is written in (`emit.rs`). Either way the bytes on the wire are those of the same
//! [`rmpv::Value`], so the protocol does not change.

mod emit;

use std::cell::Cell;
use std::fmt;

use rmp::encode::{
    write_array_len, write_bin, write_bool, write_ext_meta, write_f32, write_f64, write_map_len,
    write_nil, write_sint, write_str, write_uint,
};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::v1::Value;

/// One game value (a move, a config, a view) held as its MessagePack encoding.
///
/// The bytes are always exactly one whole MessagePack value: they come from decoding a message,
/// from a [`Value`], or from a game's own encoder ([`RawValue::from_msgpack_unchecked`]).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct RawValue(Vec<u8>);

impl RawValue {
    /// Wraps bytes a game encoded itself (one whole MessagePack value), without checking them.
    pub fn from_msgpack_unchecked(bytes: Vec<u8>) -> RawValue {
        RawValue(bytes)
    }

    /// The MessagePack encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The MessagePack encoding, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The value, decoded into a generic tree.
    pub fn to_value(&self) -> Value {
        rmpv::decode::read_value(&mut self.0.as_slice()).unwrap_or(Value::Nil)
    }
}

impl From<&Value> for RawValue {
    fn from(value: &Value) -> RawValue {
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = rmpv::encode::write_value(&mut bytes, value);
        RawValue(bytes)
    }
}

impl From<Value> for RawValue {
    fn from(value: Value) -> RawValue {
        RawValue::from(&value)
    }
}

impl fmt::Debug for RawValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawValue({})", self.to_value())
    }
}

impl Serialize for RawValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        emit::Next(&Cell::new(self.0.as_slice())).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawValue, D::Error> {
        let mut bytes = Vec::with_capacity(32);
        Capture(&mut bytes).deserialize(deserializer)?;
        Ok(RawValue(bytes))
    }
}

/// Writes the MessagePack of whatever value the decoder visits onto the end of a buffer.
struct Capture<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for Capture<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A container's header, written where its items start. A MessagePack decoder announces the
/// count, so the header goes first; a JSON decoder does not, so the header is inserted once
/// the items are written and counted.
struct Header {
    start: usize,
    announced: Option<u32>,
    write: fn(&mut Vec<u8>, u32),
}

impl Header {
    fn begin(out: &mut Vec<u8>, hint: Option<usize>, write: fn(&mut Vec<u8>, u32)) -> Header {
        let start = out.len();
        let announced = hint.and_then(|n| u32::try_from(n).ok());
        if let Some(n) = announced {
            write(out, n);
        }
        Header { start, announced, write }
    }

    fn end(self, out: &mut Vec<u8>, len: u32) {
        if self.announced == Some(len) {
            return;
        }
        if let Some(n) = self.announced {
            // A hint that was wrong: take its header out again.
            let mut wrong = Vec::new();
            (self.write)(&mut wrong, n);
            out.drain(self.start..self.start + wrong.len());
        }
        let mut head = Vec::with_capacity(5);
        (self.write)(&mut head, len);
        out.splice(self.start..self.start, head);
    }
}

// Writing to a Vec cannot fail.
fn array_header(out: &mut Vec<u8>, len: u32) {
    let _ = write_array_len(out, len);
}

fn map_header(out: &mut Vec<u8>, len: u32) {
    let _ = write_map_len(out, len);
}

impl<'de> Visitor<'de> for Capture<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any MessagePack or JSON value")
    }

    // Writing to a Vec cannot fail, so the encoders' results are dropped below.

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        let _ = write_bool(self.0, v);
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        // Like `rmpv::Value`: a non-negative integer is written as unsigned.
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => {
                let _ = write_sint(self.0, v);
                Ok(())
            }
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let _ = write_uint(self.0, v);
        Ok(())
    }

    fn visit_f32<E: de::Error>(self, v: f32) -> Result<(), E> {
        let _ = write_f32(self.0, v);
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        let _ = write_f64(self.0, v);
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let _ = write_str(self.0, v);
        Ok(())
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        let _ = write_bin(self.0, v);
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        let _ = write_nil(self.0);
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let header = Header::begin(self.0, seq.size_hint(), array_header);
        let mut len: u32 = 0;
        while seq.next_element_seed(Capture(self.0))?.is_some() {
            len += 1;
        }
        header.end(self.0, len);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let header = Header::begin(self.0, map.size_hint(), map_header);
        let mut len: u32 = 0;
        while map.next_key_seed(Capture(self.0))?.is_some() {
            map.next_value_seed(Capture(self.0))?;
            len += 1;
        }
        header.end(self.0, len);
        Ok(())
    }

    /// rmp-serde hands a MessagePack extension over as a newtype of `(tag, data)`.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(Ext(self.0))
    }
}

/// Writes a MessagePack extension visited as `(tag, data)`.
struct Ext<'a>(&'a mut Vec<u8>);

impl<'de> Visitor<'de> for Ext<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a MessagePack extension")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let missing = || de::Error::custom("an extension needs a tag and data");
        let tag: i8 = seq.next_element()?.ok_or_else(missing)?;
        let data: Data = seq.next_element()?.ok_or_else(missing)?;
        let len = u32::try_from(data.0.len()).map_err(de::Error::custom)?;
        let _ = write_ext_meta(self.0, len, tag);
        self.0.extend_from_slice(&data.0);
        Ok(())
    }
}

/// An extension's data.
struct Data(Vec<u8>);

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Data, D::Error> {
        deserializer.deserialize_bytes(DataVisitor)
    }
}

struct DataVisitor;

impl Visitor<'_> for DataVisitor {
    type Value = Data;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Data, E> {
        Ok(Data(v.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Encoding, decode, encode};

    fn value() -> Value {
        Value::Map(vec![
            ("dir".into(), "h".into()),
            ("x".into(), 1.into()),
            ("neg".into(), (-300).into()),
            ("big".into(), u64::MAX.into()),
            ("f".into(), 1.5f64.into()),
            ("list".into(), Value::Array((0..20).map(Value::from).collect())),
            ("nil".into(), Value::Nil),
            ("bin".into(), Value::Binary(vec![1, 2, 3])),
            ("ext".into(), Value::Ext(5, vec![9, 8])),
        ])
    }

    #[test]
    fn decodes_to_the_same_bytes_as_a_generic_value() {
        let value = value();
        let raw = RawValue::from(&value);
        let encoded = encode(&value, Encoding::MsgPack);
        assert_eq!(decode::<RawValue>(&encoded, Encoding::MsgPack), Ok(raw.clone()));
        assert_eq!(encode(&raw, Encoding::MsgPack), encoded);
        assert_eq!(encode(&raw, Encoding::Json), encode(&value, Encoding::Json));
        assert_eq!(raw.to_value(), value);
    }

    #[test]
    fn json_converts_like_a_generic_value() {
        let json = br#"{"a":[1,-2,3.5,"x",null,true,{"b":[]}],"c":{}}"#;
        let value: Value = decode(json, Encoding::Json).expect("decodes");
        assert_eq!(decode::<RawValue>(json, Encoding::Json), Ok(RawValue::from(&value)));
    }
}
