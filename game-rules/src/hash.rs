//! The state hash: xxh3-64 over a canonical byte encoding that each game writes explicitly.
//!
//! Games never hash `Debug` output, serde output or hash-map iteration order: they write each
//! field with the fixed-width little-endian writers below, so the bytes (and so the hash) are the
//! same on x86_64 and wasm32, and change only when a game's encoding changes on purpose.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 64-bit state hash. On the wire it is a 16-digit lowercase hex string, so clients in
/// languages without exact 64-bit numbers (JavaScript) keep every bit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StateHash(pub u64);

impl fmt::Display for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateHash({self})")
    }
}

/// Why a string is not a state hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a state hash is exactly 16 lowercase hex digits, got {got:?}")]
pub struct StateHashParseError {
    /// The rejected text (cut to 32 characters).
    pub got: String,
}

impl FromStr for StateHash {
    type Err = StateHashParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let well_formed =
            s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let parsed = well_formed.then(|| u64::from_str_radix(s, 16).ok()).flatten();
        parsed
            .map(StateHash)
            .ok_or_else(|| StateHashParseError { got: s.chars().take(32).collect() })
    }
}

impl Serialize for StateHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        hex64::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for StateHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        hex64::deserialize(deserializer).map(StateHash)
    }
}

/// The schema of a [`StateHash`] (and of any [`hex64`] value): it is written as a string.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for StateHash {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        hex64::schema().into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for StateHash {}

/// Serde helpers that write a `u64` as 16 lowercase hex digits (`#[serde(with = "hex64")]`),
/// for 64-bit values that JSON clients must keep exactly (hashes, seeds).
pub mod hex64 {
    use super::*;

    /// Writes `value` as 16 lowercase hex digits.
    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        // Written on a stack buffer: formatting through `collect_str` allocates a String for
        // every hash sent.
        let mut hex = [0u8; 16];
        for (i, digit) in hex.iter_mut().enumerate() {
            *digit = DIGITS[((value >> (60 - 4 * i)) & 0xf) as usize];
        }
        serializer.serialize_str(std::str::from_utf8(&hex).unwrap_or_default())
    }

    /// Reads exactly 16 lowercase hex digits.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse::<StateHash>().map(|h| h.0).map_err(serde::de::Error::custom)
    }

    /// The JSON schema of such a value: exactly 16 lowercase hex digits.
    #[cfg(feature = "openapi")]
    pub fn schema() -> utoipa::openapi::schema::Object {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9a-f]{16}$"))
            .description(Some("A 64-bit value as 16 lowercase hex digits."))
            .build()
    }
}

/// Collects a state's canonical encoding; [`StateHasher::finish`] hashes it.
///
/// Keeping the bytes (rather than streaming them into the hash) lets golden tests pin the
/// encoding itself, and costs one small buffer per hash.
#[derive(Debug, Default, Clone)]
pub struct StateHasher {
    bytes: Vec<u8>,
}

impl StateHasher {
    /// An empty encoding.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one byte.
    pub fn write_u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    /// Appends `false` as 0 and `true` as 1.
    pub fn write_bool(&mut self, value: bool) {
        self.bytes.push(u8::from(value));
    }

    /// Appends 2 bytes, little-endian.
    pub fn write_u16(&mut self, value: u16) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Appends 4 bytes, little-endian.
    pub fn write_u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Appends 8 bytes, little-endian.
    pub fn write_u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Appends 8 bytes, little-endian two's complement.
    pub fn write_i64(&mut self, value: i64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Appends a u32 little-endian length, then the bytes: variable-length fields are
    /// length-prefixed so that two different states never share an encoding.
    pub fn write_bytes(&mut self, value: &[u8]) {
        let len = u32::try_from(value.len()).expect("a state field is under 4 GiB");
        self.write_u32(len);
        self.bytes.extend_from_slice(value);
    }

    /// Packs booleans eight to a byte, least significant bit first, after a u32 count.
    pub fn write_bits(&mut self, bits: impl ExactSizeIterator<Item = bool>) {
        let count = u32::try_from(bits.len()).expect("a state field is under 4 Gi bits");
        self.write_u32(count);
        let mut byte = 0u8;
        let mut filled = 0u32;
        for bit in bits {
            byte |= u8::from(bit) << filled;
            filled += 1;
            if filled == 8 {
                self.bytes.push(byte);
                byte = 0;
                filled = 0;
            }
        }
        if filled > 0 {
            self.bytes.push(byte);
        }
    }

    /// The canonical encoding written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// xxh3-64 (seed 0) of the canonical encoding.
    pub fn finish(&self) -> StateHash {
        StateHash(xxhash_rust::xxh3::xxh3_64(&self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejections() {
        let hash = StateHash(0x00ab_cdef_0123_4567);
        assert_eq!(hash.to_string(), "00abcdef01234567");
        assert_eq!("00abcdef01234567".parse::<StateHash>(), Ok(hash));
        for bad in
            ["", "00ABCDEF01234567", "0abcdef01234567", "00abcdef012345678", "zzzzzzzzzzzzzzzz"]
        {
            assert!(bad.parse::<StateHash>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn bits_pack_lsb_first_with_count() {
        let mut h = StateHasher::new();
        h.write_bits([true, false, false, false, false, false, false, false, true].into_iter());
        assert_eq!(h.as_bytes(), &[9, 0, 0, 0, 0b0000_0001, 0b0000_0001]);
    }

    #[test]
    fn xxh3_of_known_input_is_pinned() {
        // xxh3-64 of the empty input with seed 0, from the reference implementation.
        assert_eq!(StateHasher::new().finish(), StateHash(0x2d06_8005_38d3_94c2));
    }
}
