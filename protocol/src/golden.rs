//! Golden tests: the exact JSON and MessagePack of every message. A change here breaks every
//! client in the field; regenerate with `UPDATE_EXPECT=1 cargo test -p protocol` only on purpose,
//! and update docs/PROTOCOL.md in the same commit.

use std::fmt::Debug;

use expect_test::{Expect, expect};
use game_rules::{Outcome, StateHash, Status};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::v1::*;
use crate::{Encoding, decode, encode};

/// Pins both encodings of `message` and checks that each decodes back to it.
fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(message: T, expected: Expect) {
    let json = encode(&message, Encoding::Json);
    let msgpack = encode(&message, Encoding::MsgPack);
    let hex: String = msgpack.iter().map(|b| format!("{b:02x}")).collect();
    let json_text = String::from_utf8(json.clone()).expect("JSON is UTF-8");
    expected.assert_eq(&format!("{json_text}\n{hex}\n"));
    assert_eq!(decode::<T>(&json, Encoding::Json).expect("JSON decodes"), message);
    assert_eq!(decode::<T>(&msgpack, Encoding::MsgPack).expect("MessagePack decodes"), message);
}

fn edge() -> Value {
    let pair = |k: &str, v: Value| (Value::from(k), v);
    Value::Map(vec![pair("dir", "h".into()), pair("x", 1.into()), pair("y", 2.into())])
}

fn created() -> Created {
    let config = Value::Map(vec![
        ("width".into(), 2.into()),
        ("height".into(), 2.into()),
        ("players".into(), 2.into()),
    ]);
    Created { game: "dots".into(), rules_version: 1, config, seed: 0x2a, seats: 2 }
}

const HASH: StateHash = StateHash(0x0123_4567_89ab_cdef);

#[test]
fn client_hello() {
    check(
        ClientMsg::Hello(Hello { version: 1, token: "t0k".into() }),
        expect![[r#"
            {"hello":{"version":1,"token":"t0k"}}
            81a568656c6c6f82a776657273696f6e01a5746f6b656ea374306b
        "#]],
    );
}

#[test]
fn client_join_with_and_without_cursor() {
    let join =
        |from_seq| ClientMsg::Join(Join { match_id: "m1".into(), role: Role::Player, from_seq });
    check(
        join(Some(7)),
        expect![[r#"
        {"join":{"match_id":"m1","role":"player","from_seq":7}}
        81a46a6f696e83a86d617463685f6964a26d31a4726f6c65a6706c61796572a866726f6d5f73657107
    "#]],
    );
    check(
        join(None),
        expect![[r#"
        {"join":{"match_id":"m1","role":"player"}}
        81a46a6f696e82a86d617463685f6964a26d31a4726f6c65a6706c61796572
    "#]],
    );
    let spectate = Join { match_id: "m1".into(), role: Role::Spectator, from_seq: Some(0) };
    check(
        ClientMsg::Join(spectate),
        expect![[r#"
        {"join":{"match_id":"m1","role":"spectator","from_seq":0}}
        81a46a6f696e83a86d617463685f6964a26d31a4726f6c65a9737065637461746f72a866726f6d5f73657100
    "#]],
    );
}

#[test]
fn client_move_leave_ping() {
    check(
        ClientMsg::Move(Move { match_id: "m1".into(), move_id: 3, mv: edge().into() }),
        expect![[r#"
        {"move":{"match_id":"m1","move_id":3,"move":{"dir":"h","x":1,"y":2}}}
        81a46d6f766583a86d617463685f6964a26d31a76d6f76655f696403a46d6f766583a3646972a168a17801a17902
    "#]],
    );
    check(
        ClientMsg::Leave(Leave { match_id: "m1".into() }),
        expect![[r#"
        {"leave":{"match_id":"m1"}}
        81a56c6561766581a86d617463685f6964a26d31
    "#]],
    );
    check(
        ClientMsg::Ping(Ping { nonce: 300 }),
        expect![[r#"
        {"ping":{"nonce":300}}
        81a470696e6781a56e6f6e6365cd012c
    "#]],
    );
}

#[test]
fn server_welcome_joined_caught_up_pong() {
    let welcome = Welcome { version: 1, player_id: "p1".into(), max_frame_bytes: 65536 };
    check(
        ServerMsg::Welcome(welcome),
        expect![[r#"
        {"welcome":{"version":1,"player_id":"p1","max_frame_bytes":65536}}
        81a777656c636f6d6583a776657273696f6e01a9706c617965725f6964a27031af6d61785f6672616d655f6279746573ce00010000
    "#]],
    );
    let joined = Joined {
        match_id: "m1".into(),
        game: "dots".into(),
        role: Role::Player,
        seat: Some(1),
        head_seq: 4,
    };
    check(
        ServerMsg::Joined(joined),
        expect![[r#"
        {"joined":{"match_id":"m1","game":"dots","role":"player","seat":1,"head_seq":4}}
        81a66a6f696e656485a86d617463685f6964a26d31a467616d65a4646f7473a4726f6c65a6706c61796572a47365617401a8686561645f73657104
    "#]],
    );
    check(
        ServerMsg::CaughtUp(CaughtUp { match_id: "m1".into(), seq: 4 }),
        expect![[r#"
        {"caught_up":{"match_id":"m1","seq":4}}
        81a96361756768745f757082a86d617463685f6964a26d31a373657104
    "#]],
    );
    check(
        ServerMsg::Pong(Ping { nonce: 300 }),
        expect![[r#"
        {"pong":{"nonce":300}}
        81a4706f6e6781a56e6f6e6365cd012c
    "#]],
    );
}

#[test]
fn server_snapshot() {
    let view = Value::Map(vec![("to_move".into(), 0.into())]);
    let snapshot = Snapshot {
        match_id: "m1".into(),
        seq: 2,
        state_hash: HASH,
        status: Status::Turn(0),
        view,
        created: created(),
    };
    check(
        ServerMsg::Snapshot(snapshot),
        expect![[r#"
        {"snapshot":{"match_id":"m1","seq":2,"state_hash":"0123456789abcdef","status":{"turn":0},"view":{"to_move":0},"created":{"game":"dots","rules_version":1,"config":{"width":2,"height":2,"players":2},"seed":"000000000000002a","seats":2}}}
        81a8736e617073686f7486a86d617463685f6964a26d31a373657102aa73746174655f68617368b030313233343536373839616263646566a673746174757381a47475726e00a47669657781a7746f5f6d6f766500a76372656174656485a467616d65a4646f7473ad72756c65735f76657273696f6e01a6636f6e66696783a5776964746802a668656967687402a7706c617965727302a473656564b030303030303030303030303030303261a5736561747302
    "#]],
    );
}

#[test]
fn server_events_of_every_kind() {
    let event = |seq, body, status| {
        ServerMsg::Event(Event {
            match_id: "m1".into(),
            seq,
            state_hash: HASH,
            status,
            body: Some(body),
            view: None,
        })
    };
    check(
        event(0, EventBody::Created(created()), Status::Turn(0)),
        expect![[r#"
        {"event":{"match_id":"m1","seq":0,"state_hash":"0123456789abcdef","status":{"turn":0},"body":{"created":{"game":"dots","rules_version":1,"config":{"width":2,"height":2,"players":2},"seed":"000000000000002a","seats":2}}}}
        81a56576656e7485a86d617463685f6964a26d31a373657100aa73746174655f68617368b030313233343536373839616263646566a673746174757381a47475726e00a4626f647981a76372656174656485a467616d65a4646f7473ad72756c65735f76657273696f6e01a6636f6e66696783a5776964746802a668656967687402a7706c617965727302a473656564b030303030303030303030303030303261a5736561747302
    "#]],
    );
    let seated = Seated { seat: 0, player_id: "p1".into(), name: "Ada".into() };
    check(
        event(1, EventBody::Seated(seated), Status::Turn(0)),
        expect![[r#"
        {"event":{"match_id":"m1","seq":1,"state_hash":"0123456789abcdef","status":{"turn":0},"body":{"seated":{"seat":0,"player_id":"p1","name":"Ada"}}}}
        81a56576656e7485a86d617463685f6964a26d31a373657101aa73746174655f68617368b030313233343536373839616263646566a673746174757381a47475726e00a4626f647981a673656174656483a47365617400a9706c617965725f6964a27031a46e616d65a3416461
    "#]],
    );
    let mv = MoveEvent { seat: 0, mv: edge().into(), move_id: 3 };
    check(
        event(3, EventBody::Move(mv), Status::Turn(1)),
        expect![[r#"
        {"event":{"match_id":"m1","seq":3,"state_hash":"0123456789abcdef","status":{"turn":1},"body":{"move":{"seat":0,"move":{"dir":"h","x":1,"y":2},"move_id":3}}}}
        81a56576656e7485a86d617463685f6964a26d31a373657103aa73746174655f68617368b030313233343536373839616263646566a673746174757381a47475726e01a4626f647981a46d6f766583a47365617400a46d6f766583a3646972a168a17801a17902a76d6f76655f696403
    "#]],
    );
    let tick = Tick { inputs: vec![TickInput { seat: 1, mv: edge(), move_id: None }] };
    let over = Status::Over(Outcome { scores: vec![3, 1], winners: vec![0] });
    check(
        event(4, EventBody::Tick(tick), over),
        expect![[r#"
        {"event":{"match_id":"m1","seq":4,"state_hash":"0123456789abcdef","status":{"over":{"scores":[3,1],"winners":[0]}},"body":{"tick":{"inputs":[{"seat":1,"move":{"dir":"h","x":1,"y":2}}]}}}}
        81a56576656e7485a86d617463685f6964a26d31a373657104aa73746174655f68617368b030313233343536373839616263646566a673746174757381a46f76657282a673636f726573920301a777696e6e6572739100a4626f647981a47469636b81a6696e707574739182a47365617401a46d6f766583a3646972a168a17801a17902
    "#]],
    );
    let left = Left { seat: 1, player_id: "p2".into() };
    check(
        event(2, EventBody::Left(left), Status::Turn(0)),
        expect![[r#"
        {"event":{"match_id":"m1","seq":2,"state_hash":"0123456789abcdef","status":{"turn":0},"body":{"left":{"seat":1,"player_id":"p2"}}}}
        81a56576656e7485a86d617463685f6964a26d31a373657102aa73746174655f68617368b030313233343536373839616263646566a673746174757381a47475726e00a4626f647981a46c65667482a47365617401a9706c617965725f6964a27032
    "#]],
    );
    let resigned = Status::Over(Outcome { scores: vec![0, 1], winners: vec![1] });
    check(
        event(5, EventBody::Resigned(Resigned { seat: 0 }), resigned),
        expect![[r#"
        {"event":{"match_id":"m1","seq":5,"state_hash":"0123456789abcdef","status":{"over":{"scores":[0,1],"winners":[1]}},"body":{"resigned":{"seat":0}}}}
        81a56576656e7485a86d617463685f6964a26d31a373657105aa73746174655f68617368b030313233343536373839616263646566a673746174757381a46f76657282a673636f726573920001a777696e6e6572739101a4626f647981a872657369676e656481a47365617400
    "#]],
    );
    let forfeited = Status::Over(Outcome { scores: vec![1, 0], winners: vec![0] });
    check(
        event(6, EventBody::Forfeited(Forfeited { seat: 1 }), forfeited),
        expect![[r#"
        {"event":{"match_id":"m1","seq":6,"state_hash":"0123456789abcdef","status":{"over":{"scores":[1,0],"winners":[0]}},"body":{"forfeited":{"seat":1}}}}
        81a56576656e7485a86d617463685f6964a26d31a373657106aa73746174655f68617368b030313233343536373839616263646566a673746174757381a46f76657282a673636f726573920100a777696e6e6572739100a4626f647981a9666f7266656974656481a47365617401
    "#]],
    );
    let cancelled = Cancelled { player_id: "p1".into() };
    let nobody = Status::Over(Outcome { scores: vec![0, 0], winners: vec![] });
    check(
        event(2, EventBody::Cancelled(cancelled), nobody),
        expect![[r#"
        {"event":{"match_id":"m1","seq":2,"state_hash":"0123456789abcdef","status":{"over":{"scores":[0,0],"winners":[]}},"body":{"cancelled":{"player_id":"p1"}}}}
        81a56576656e7485a86d617463685f6964a26d31a373657102aa73746174655f68617368b030313233343536373839616263646566a673746174757381a46f76657282a673636f726573920000a777696e6e65727390a4626f647981a963616e63656c6c656481a9706c617965725f6964a27031
    "#]],
    );
    // A light-cycles tick as the server sends it: one input per seat that steered.
    let turn = |to: &str| Value::Map(vec![("turn".into(), to.into())]);
    let inputs = vec![
        TickInput { seat: 0, mv: turn("left"), move_id: Some(7) },
        TickInput { seat: 2, mv: turn("right"), move_id: Some(3) },
    ];
    check(
        event(9, EventBody::Tick(Tick { inputs }), Status::Simultaneous),
        expect![[r#"
            {"event":{"match_id":"m1","seq":9,"state_hash":"0123456789abcdef","status":"simultaneous","body":{"tick":{"inputs":[{"seat":0,"move":{"turn":"left"},"move_id":7},{"seat":2,"move":{"turn":"right"},"move_id":3}]}}}}
            81a56576656e7485a86d617463685f6964a26d31a373657109aa73746174655f68617368b030313233343536373839616263646566a6737461747573ac73696d756c74616e656f7573a4626f647981a47469636b81a6696e707574739283a47365617400a46d6f766581a47475726ea46c656674a76d6f76655f69640783a47365617402a46d6f766581a47475726ea57269676874a76d6f76655f696403
        "#]],
    );
    let hidden = Event {
        match_id: "m1".into(),
        seq: 5,
        state_hash: HASH,
        status: Status::Simultaneous,
        body: None,
        view: Some(Value::Map(vec![("hand".into(), Value::Array(vec![7.into()]))])),
    };
    check(
        ServerMsg::Event(hidden),
        expect![[r#"
            {"event":{"match_id":"m1","seq":5,"state_hash":"0123456789abcdef","status":"simultaneous","view":{"hand":[7]}}}
            81a56576656e7485a86d617463685f6964a26d31a373657105aa73746174655f68617368b030313233343536373839616263646566a6737461747573ac73696d756c74616e656f7573a47669657781a468616e649107
        "#]],
    );
}

#[test]
fn server_verdicts_and_errors() {
    let accepted =
        Verdict { match_id: "m1".into(), move_id: 3, result: VerdictResult::Accepted { seq: 3 } };
    check(
        ServerMsg::Verdict(accepted),
        expect![[r#"
        {"verdict":{"match_id":"m1","move_id":3,"result":{"accepted":{"seq":3}}}}
        81a77665726469637483a86d617463685f6964a26d31a76d6f76655f696403a6726573756c7481a8616363657074656481a373657103
    "#]],
    );
    let body =
        ErrorBody { code: "not_your_turn".into(), message: "seat 1 may not move now".into() };
    let rejected =
        Verdict { match_id: "m1".into(), move_id: 4, result: VerdictResult::Rejected(body) };
    check(
        ServerMsg::Verdict(rejected),
        expect![[r#"
        {"verdict":{"match_id":"m1","move_id":4,"result":{"rejected":{"code":"not_your_turn","message":"seat 1 may not move now"}}}}
        81a77665726469637483a86d617463685f6964a26d31a76d6f76655f696404a6726573756c7481a872656a656374656482a4636f6465ad6e6f745f796f75725f7475726ea76d657373616765b7736561742031206d6179206e6f74206d6f7665206e6f77
    "#]],
    );
    let error = ErrorMsg {
        code: "unknown_match".into(),
        message: "no match m9".into(),
        match_id: Some("m9".into()),
    };
    check(
        ServerMsg::Error(error),
        expect![[r#"
        {"error":{"code":"unknown_match","message":"no match m9","match_id":"m9"}}
        81a56572726f7283a4636f6465ad756e6b6e6f776e5f6d61746368a76d657373616765ab6e6f206d61746368206d39a86d617463685f6964a26d39
    "#]],
    );
    let general =
        ErrorMsg { code: "malformed_message".into(), message: "bad".into(), match_id: None };
    check(
        ServerMsg::Error(general),
        expect![[r#"
        {"error":{"code":"malformed_message","message":"bad"}}
        81a56572726f7282a4636f6465b16d616c666f726d65645f6d657373616765a76d657373616765a3626164
    "#]],
    );
}
