//! Serializes MessagePack bytes straight into any serde serializer, token by token, with no
//! value tree: what `rmpv::Value`'s own `Serialize` would emit for the same value.

use std::cell::Cell;

use serde::ser::{Error, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::tokens::{Malformed, Token, read_token};

/// Binary data, serialized as bytes.
struct Bin<'a>(&'a [u8]);

impl Serialize for Bin<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// The value at the front of the shared cursor, which serializing consumes.
pub(super) struct Next<'a, 'c>(pub(super) &'c Cell<&'a [u8]>);

impl Serialize for Next<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut rest = self.0.get();
        let token = read_token(&mut rest)
            .map_err(|Malformed| S::Error::custom("a raw value is not MessagePack"))?;
        self.0.set(rest);
        match token {
            Token::Nil => s.serialize_unit(),
            Token::Bool(v) => s.serialize_bool(v),
            Token::Uint(v) => s.serialize_u64(v),
            Token::Int(v) => s.serialize_i64(v),
            Token::F32(v) => s.serialize_f32(v),
            Token::F64(v) => s.serialize_f64(v),
            Token::Str(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => s.serialize_str(text),
                Err(_) => s.serialize_bytes(bytes),
            },
            Token::Bin(bytes) => s.serialize_bytes(bytes),
            Token::Array(n) => {
                let mut seq = s.serialize_seq(Some(n as usize))?;
                for _ in 0..n {
                    seq.serialize_element(self)?;
                }
                seq.end()
            }
            Token::Map(n) => {
                let mut map = s.serialize_map(Some(n as usize))?;
                for _ in 0..n {
                    map.serialize_entry(self, self)?;
                }
                map.end()
            }
            Token::Ext(tag, data) => {
                s.serialize_newtype_struct(rmpv::MSGPACK_EXT_STRUCT_NAME, &(tag, Bin(data)))
            }
        }
    }
}
