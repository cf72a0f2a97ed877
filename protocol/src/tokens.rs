//! MessagePack read token by token straight from bytes, with no value tree: what
//! [`RawValue`](crate::v1::RawValue) serializes from, and what the direct readers of the hottest
//! messages (`direct.rs`) walk.

use rmp::Marker;

/// One MessagePack token; containers carry their item count.
pub(crate) enum Token<'a> {
    Nil,
    Bool(bool),
    Uint(u64),
    Int(i64),
    F32(f32),
    F64(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(u32),
    Map(u32),
    Ext(i8, &'a [u8]),
}

/// The bytes end early or hold a reserved marker.
#[derive(Debug)]
pub(crate) struct Malformed;

fn take<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], Malformed> {
    let (head, tail) = rest.split_first_chunk::<N>().ok_or(Malformed)?;
    *rest = tail;
    Ok(*head)
}

fn take_slice<'a>(rest: &mut &'a [u8], len: usize) -> Result<&'a [u8], Malformed> {
    let (head, tail) = rest.split_at_checked(len).ok_or(Malformed)?;
    *rest = tail;
    Ok(head)
}

/// A length stored big-endian in `N` bytes.
fn len<const N: usize>(rest: &mut &[u8]) -> Result<u32, Malformed> {
    let bytes = take::<N>(rest)?;
    Ok(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

fn ext<'a>(rest: &mut &'a [u8], size: u32) -> Result<Token<'a>, Malformed> {
    let [tag] = take::<1>(rest)?;
    Ok(Token::Ext(tag as i8, take_slice(rest, size as usize)?))
}

/// Reads the token at the front of `rest`.
pub(crate) fn read_token<'a>(rest: &mut &'a [u8]) -> Result<Token<'a>, Malformed> {
    let [byte] = take::<1>(rest)?;
    let signed = |v: i64| if v >= 0 { Token::Uint(v as u64) } else { Token::Int(v) };
    Ok(match Marker::from_u8(byte) {
        Marker::Null => Token::Nil,
        Marker::True => Token::Bool(true),
        Marker::False => Token::Bool(false),
        Marker::FixPos(v) => Token::Uint(u64::from(v)),
        Marker::FixNeg(v) => Token::Int(i64::from(v)),
        Marker::U8 => Token::Uint(u64::from(u8::from_be_bytes(take(rest)?))),
        Marker::U16 => Token::Uint(u64::from(u16::from_be_bytes(take(rest)?))),
        Marker::U32 => Token::Uint(u64::from(u32::from_be_bytes(take(rest)?))),
        Marker::U64 => Token::Uint(u64::from_be_bytes(take(rest)?)),
        Marker::I8 => signed(i64::from(i8::from_be_bytes(take(rest)?))),
        Marker::I16 => signed(i64::from(i16::from_be_bytes(take(rest)?))),
        Marker::I32 => signed(i64::from(i32::from_be_bytes(take(rest)?))),
        Marker::I64 => signed(i64::from_be_bytes(take(rest)?)),
        Marker::F32 => Token::F32(f32::from_be_bytes(take(rest)?)),
        Marker::F64 => Token::F64(f64::from_be_bytes(take(rest)?)),
        Marker::FixStr(n) => Token::Str(take_slice(rest, usize::from(n))?),
        Marker::Str8 => Token::Str(take_sized::<1>(rest)?),
        Marker::Str16 => Token::Str(take_sized::<2>(rest)?),
        Marker::Str32 => Token::Str(take_sized::<4>(rest)?),
        Marker::Bin8 => Token::Bin(take_sized::<1>(rest)?),
        Marker::Bin16 => Token::Bin(take_sized::<2>(rest)?),
        Marker::Bin32 => Token::Bin(take_sized::<4>(rest)?),
        Marker::FixArray(n) => Token::Array(u32::from(n)),
        Marker::Array16 => Token::Array(len::<2>(rest)?),
        Marker::Array32 => Token::Array(len::<4>(rest)?),
        Marker::FixMap(n) => Token::Map(u32::from(n)),
        Marker::Map16 => Token::Map(len::<2>(rest)?),
        Marker::Map32 => Token::Map(len::<4>(rest)?),
        Marker::FixExt1 => ext(rest, 1)?,
        Marker::FixExt2 => ext(rest, 2)?,
        Marker::FixExt4 => ext(rest, 4)?,
        Marker::FixExt8 => ext(rest, 8)?,
        Marker::FixExt16 => ext(rest, 16)?,
        Marker::Ext8 => sized_ext::<1>(rest)?,
        Marker::Ext16 => sized_ext::<2>(rest)?,
        Marker::Ext32 => sized_ext::<4>(rest)?,
        Marker::Reserved => return Err(Malformed),
    })
}

fn take_sized<'a, const N: usize>(rest: &mut &'a [u8]) -> Result<&'a [u8], Malformed> {
    let size = len::<N>(rest)?;
    take_slice(rest, size as usize)
}

fn sized_ext<'a, const N: usize>(rest: &mut &'a [u8]) -> Result<Token<'a>, Malformed> {
    let size = len::<N>(rest)?;
    ext(rest, size)
}

/// Steps over one whole value, nested at most `depth` containers deep.
pub(crate) fn skip_value(rest: &mut &[u8], depth: usize) -> Result<(), Malformed> {
    let items = match read_token(rest)? {
        Token::Array(n) => u64::from(n),
        Token::Map(n) => 2 * u64::from(n),
        // serde reads a string that is not UTF-8 as binary: leave such values to it.
        Token::Str(bytes) => return std::str::from_utf8(bytes).map(drop).map_err(|_| Malformed),
        _ => return Ok(()),
    };
    let inner = depth.checked_sub(1).ok_or(Malformed)?;
    for _ in 0..items {
        skip_value(rest, inner)?;
    }
    Ok(())
}

/// The bytes of the one value at the front of `rest`, which it steps over.
pub(crate) fn value_bytes<'a>(rest: &mut &'a [u8], depth: usize) -> Result<&'a [u8], Malformed> {
    let start = *rest;
    skip_value(rest, depth)?;
    Ok(&start[..start.len() - rest.len()])
}
