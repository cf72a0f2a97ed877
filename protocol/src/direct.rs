//! Direct readers for the messages a server handles on every move: a MessagePack `move` frame
//! and a logged move action, read by hand from their bytes. Each accepts only the exact shape
//! serde would produce (a one-key map around a map of exactly the expected fields, nothing
//! after it) and answers `None` for anything else, so the caller falls back to serde and its
//! answer, errors included, never changes.

use crate::tokens::{Token, read_token, value_bytes};
use crate::v1::{ClientMsg, Move, RawValue};

/// How deep a move may nest on the direct path; deeper ones go through serde, which holds
/// them to [`MAX_DEPTH`](crate::MAX_DEPTH).
const DIRECT_DEPTH: usize = 16;

/// The fields of `{tag: {name: value, ...}}`, each name exactly once, as the bytes of each
/// value in the order of `names`; `None` if the bytes are anything else.
pub fn tagged_fields<'a, const N: usize>(
    bytes: &'a [u8],
    tag: &str,
    names: [&str; N],
) -> Option<[&'a [u8]; N]> {
    let mut rest = bytes;
    if !matches!(read_token(&mut rest), Ok(Token::Map(1))) || read_str(&mut rest)? != tag {
        return None;
    }
    if !matches!(read_token(&mut rest), Ok(Token::Map(n)) if n as usize == N) {
        return None;
    }
    let mut found: [Option<&[u8]>; N] = [None; N];
    for _ in 0..N {
        let name = read_str(&mut rest)?;
        let slot = found.get_mut(names.iter().position(|n| *n == name)?)?;
        if slot.is_some() {
            return None;
        }
        *slot = Some(value_bytes(&mut rest, DIRECT_DEPTH).ok()?);
    }
    if !rest.is_empty() {
        return None;
    }
    let mut fields: [&[u8]; N] = [&[]; N];
    for (field, value) in fields.iter_mut().zip(found) {
        *field = value?;
    }
    Some(fields)
}

fn read_str<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
    match read_token(rest).ok()? {
        Token::Str(bytes) => std::str::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// The whole of `bytes` as one unsigned integer.
pub fn read_uint(mut bytes: &[u8]) -> Option<u64> {
    match read_token(&mut bytes).ok()? {
        Token::Uint(v) if bytes.is_empty() => Some(v),
        _ => None,
    }
}

/// A MessagePack `move` frame, read directly; `None` sends it through serde.
pub fn client_move(bytes: &[u8]) -> Option<ClientMsg> {
    let [match_id, move_id, mv] = tagged_fields(bytes, "move", ["match_id", "move_id", "move"])?;
    let mut rest = match_id;
    let match_id = read_str(&mut rest)?.to_string();
    let move_id = read_uint(move_id)?;
    let mv = RawValue::from_msgpack_unchecked(mv.to_vec());
    Some(ClientMsg::Move(Move { match_id, move_id, mv }))
}

/// A logged `game_rules::Action::Move` (`{"move": {"seat": s, "move": m}}`), read directly as
/// its seat and its move's bytes; `None` for anything else.
pub fn move_action(bytes: &[u8]) -> Option<(game_rules::Seat, RawValue)> {
    let [seat, mv] = tagged_fields(bytes, "move", ["seat", "move"])?;
    let seat = game_rules::Seat::try_from(read_uint(seat)?).ok()?;
    Some((seat, RawValue::from_msgpack_unchecked(mv.to_vec())))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{Encoding, decode, encode};

    fn frame(fields: &[(&str, rmpv::Value)]) -> Vec<u8> {
        let inner = fields.iter().map(|(k, v)| (rmpv::Value::from(*k), v.clone())).collect();
        let msg = rmpv::Value::Map(vec![("move".into(), rmpv::Value::Map(inner))]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &msg).expect("encodes");
        bytes
    }

    #[test]
    fn reads_a_move_as_serde_does_and_leaves_other_shapes_to_it() {
        let mv = rmpv::Value::Map(vec![("x".into(), 1.into())]);
        let good = frame(&[("move", mv.clone()), ("match_id", "m1".into()), ("move_id", 7.into())]);
        let direct = client_move(&good).expect("read directly");
        assert_eq!(Ok(direct), decode::<ClientMsg>(&good, Encoding::MsgPack));
        for odd in [
            frame(&[("match_id", "m1".into()), ("move_id", 7.into())]),
            frame(&[("match_id", "m1".into()), ("move_id", (-7).into()), ("move", mv.clone())]),
            frame(&[("match_id", "m1".into()), ("match_id", "m1".into()), ("move", mv.clone())]),
            frame(&[("match_id", 3.into()), ("move_id", 7.into()), ("move", mv.clone())]),
        ] {
            assert_eq!(client_move(&odd), None);
        }
        let mut trailing = good.clone();
        trailing.push(0xc0);
        assert_eq!(client_move(&trailing), None);
        assert_eq!(client_move(&good[..good.len() - 1]), None);
    }

    #[test]
    fn reads_a_logged_move_as_serde_does() {
        let mv = RawValue::from(rmpv::Value::Map(vec![("x".into(), 1.into())]));
        let action = rmp_serde::to_vec_named(&game_rules::Action::Move { seat: 1, mv: mv.clone() })
            .expect("encodes");
        assert_eq!(move_action(&action), Some((1, mv)));
        let tick = game_rules::Action::<RawValue>::Tick { inputs: Vec::new() };
        assert_eq!(move_action(&rmp_serde::to_vec_named(&tick).expect("encodes")), None);
    }

    proptest! {
        #[test]
        fn any_bytes_read_directly_decode_the_same_through_serde(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            id in any::<u64>(),
        ) {
            let mut framed = encode(&ClientMsg::Move(Move {
                match_id: "m".into(),
                move_id: id,
                mv: RawValue::from(rmpv::Value::Nil),
            }), Encoding::MsgPack);
            // Replace the empty move (the frame's last byte is its placeholder) with noise.
            framed.pop();
            framed.extend(&bytes);
            if let Some(ClientMsg::Move(direct)) = client_move(&framed) {
                let Ok(ClientMsg::Move(serde)) = decode::<ClientMsg>(&framed, Encoding::MsgPack)
                else {
                    return Err(TestCaseError::fail("serde refused what was read directly"));
                };
                prop_assert_eq!((&direct.match_id, direct.move_id), (&serde.match_id, serde.move_id));
                // The direct path keeps the client's bytes; serde writes them canonically.
                let canonical = |raw: &RawValue| RawValue::from(raw.to_value());
                prop_assert_eq!(canonical(&direct.mv), canonical(&serde.mv));
            }
        }
    }
}
