//! The core driven by scripted server messages: real Dots events with real hashes.

use protocol::v1::{
    CaughtUp, ClientMsg, ErrorMsg, Joined, Role, ServerMsg, Verdict, VerdictResult, Welcome,
};

use super::*;
use crate::testlog::{Log, M, edge};

/// A core authenticated and following `M` as seat 0, caught up with `log`.
pub(super) fn joined(log: &Log) -> Core {
    let mut core = Core::new(builtin_games::games(), "t".into(), 1_000, 9);
    core.join(M, Role::Player);
    core.connect();
    assert_eq!(core.poll_socket(), Some(SocketAction::Open));
    core.handle_open();
    let welcome = Welcome { version: 1, player_id: "p0".into(), max_frame_bytes: 65536 };
    core.handle_message(0, ServerMsg::Welcome(welcome));
    serve_join(&mut core, log, 0);
    core
}

/// Answers the join the core sent with `joined`, the events from its cursor and `caught_up`;
/// returns the cursor.
pub(super) fn serve_join(core: &mut Core, log: &Log, now: u64) -> u64 {
    let from = sent(core)
        .into_iter()
        .find_map(|m| match m {
            ClientMsg::Join(j) => j.from_seq,
            _ => None,
        })
        .expect("a join with a cursor");
    let head = log.events.len() as u64 - 1;
    let joined = Joined {
        match_id: M.into(),
        game: log.state.game_id().into(),
        role: Role::Player,
        seat: Some(0),
        head_seq: head,
    };
    core.handle_message(now, ServerMsg::Joined(joined));
    for e in &log.events[from as usize..] {
        core.handle_message(now, ServerMsg::Event(e.clone()));
    }
    core.handle_message(now, ServerMsg::CaughtUp(CaughtUp { match_id: M.into(), seq: head }));
    from
}

pub(super) fn sent(core: &mut Core) -> Vec<ClientMsg> {
    std::iter::from_fn(|| core.poll_transmit()).collect()
}

pub(super) fn updates(core: &mut Core) -> Vec<Update> {
    std::iter::from_fn(|| core.poll_update()).collect()
}

fn kinds(updates: &[Update]) -> Vec<&'static str> {
    updates
        .iter()
        .map(|u| match u {
            Update::Connection { .. } => "connection",
            Update::Joined { .. } => "joined",
            Update::Event { .. } => "event",
            Update::CaughtUp { .. } => "caught_up",
            Update::Verdict { .. } => "verdict",
            Update::Error { .. } => "error",
            Update::Desync { .. } => "desync",
        })
        .collect()
}

#[test]
fn connects_authenticates_joins_from_zero_and_reduces_the_history() {
    let log = Log::new();
    let mut core = Core::new(builtin_games::games(), "tok".into(), 5, 1);
    core.join(M, Role::Player);
    assert!(sent(&mut core).is_empty(), "nothing is sent before the socket is open");
    core.connect();
    assert_eq!(core.connection(), ConnState::Connecting);
    assert_eq!(core.poll_socket(), Some(SocketAction::Open));
    core.handle_open();
    assert!(
        matches!(&sent(&mut core)[..], [ClientMsg::Hello(h)] if h.token == "tok" && h.version == 1)
    );
    let welcome = Welcome { version: 1, player_id: "p0".into(), max_frame_bytes: 65536 };
    core.handle_message(0, ServerMsg::Welcome(welcome));
    assert_eq!(core.connection(), ConnState::Authenticated);
    let joins = sent(&mut core);
    assert!(
        matches!(&joins[..], [ClientMsg::Join(j)] if j.from_seq == Some(0) && j.role == Role::Player)
    );
    core.join(M, Role::Player); // re-sent: serve_join reads it
    serve_join(&mut core, &log, 0);
    let state = core.state(M).expect("reduced");
    assert_eq!(state.state.seq, 2);
    assert_eq!(state.state.state_hash, log.state.state_hash());
    assert!(state.caught_up && state.my_turn);
    assert_eq!(state.state.seats[1].as_ref().map(|s| s.name.as_str()), Some("p1"));
    assert_eq!(core.legal_moves(M).len(), 7, "a 2×1 board has 7 edges");
}

#[test]
fn a_move_is_sent_once_caught_up_and_settled_by_its_verdict() {
    let mut log = Log::new();
    let mut core = joined(&log);
    updates(&mut core);
    let id = core.send_move(M, edge("h", 0, 0)).expect("playing");
    assert_eq!(id, 1_000_000, "ids start from now_ms × 1000");
    assert!(matches!(&sent(&mut core)[..], [ClientMsg::Move(m)] if m.move_id == id));
    let event = log.play(0, edge("h", 0, 0), id);
    core.handle_message(0, ServerMsg::Event(event));
    let verdict =
        Verdict { match_id: M.into(), move_id: id, result: VerdictResult::Accepted { seq: 3 } };
    core.handle_message(0, ServerMsg::Verdict(verdict.clone()));
    core.handle_message(0, ServerMsg::Verdict(verdict));
    assert_eq!(
        kinds(&updates(&mut core)),
        ["event", "verdict"],
        "a repeated verdict is not reported twice"
    );
    let state = core.state(M).expect("reduced");
    assert_eq!(state.state.last_move.map(|m| (m.seq, m.seat)), Some((3, 0)));
    assert!(!state.my_turn, "the turn passed to seat 1");
    assert!(core.legal_moves(M).is_empty(), "none out of turn");
    assert_eq!(core.send_move(M, edge("h", 1, 0)), Ok(id + 1), "ids only grow");
}

#[test]
fn reconnect_waits_a_jittered_delay_then_resumes_from_the_cursor_and_settles_pending_moves() {
    let mut log = Log::new();
    let mut core = joined(&log);
    let lost = core.send_move(M, edge("v", 0, 0)).expect("playing");
    let never_sent = core.send_move(M, edge("v", 2, 0));
    sent(&mut core);
    updates(&mut core);
    // The first move was applied, but the connection dropped before any answer arrived.
    log.play(0, edge("v", 0, 0), lost);
    core.drop_connection();
    assert_eq!(core.poll_socket(), Some(SocketAction::Close));
    core.handle_close(10_000);
    assert_eq!(core.connection(), ConnState::Reconnecting);
    let retry_at = core.poll_timeout().expect("a retry is scheduled");
    assert!((10_000 + 125..=10_000 + 250).contains(&retry_at), "{retry_at}");
    core.handle_timeout(retry_at - 1);
    assert_eq!(core.poll_socket(), None, "not before its time");
    core.handle_timeout(retry_at);
    assert_eq!(core.poll_socket(), Some(SocketAction::Open));
    core.handle_open();
    sent(&mut core);
    core.handle_message(
        0,
        ServerMsg::Welcome(Welcome { version: 1, player_id: "p0".into(), max_frame_bytes: 65536 }),
    );
    assert_eq!(serve_join(&mut core, &log, retry_at), 3, "only what was missed");
    let ups = updates(&mut core);
    assert!(ups.iter().any(|u| matches!(u, Update::Verdict { move_id, result: VerdictResult::Accepted { seq: 3 }, .. } if *move_id == lost)),
        "the replayed event settles the lost move: {ups:?}");
    let resent: Vec<u64> = sent(&mut core)
        .iter()
        .filter_map(|m| match m {
            ClientMsg::Move(m) => Some(m.move_id),
            _ => None,
        })
        .collect();
    assert_eq!(
        resent,
        vec![never_sent.expect("queued")],
        "the unsettled move is resent with its id"
    );
}

#[test]
fn a_hash_mismatch_is_reported_and_the_match_resynced_from_event_zero() {
    let mut log = Log::new();
    let mut core = joined(&log);
    updates(&mut core);
    let mut bad = log.play(0, edge("h", 0, 0), 7);
    bad.state_hash = game_rules::StateHash(bad.state_hash.0 ^ 1);
    core.handle_message(0, ServerMsg::Event(bad));
    assert!(matches!(&updates(&mut core)[..], [Update::Desync { seq: 3, .. }]));
    let rejoin = sent(&mut core);
    assert!(matches!(&rejoin[..], [ClientMsg::Join(j)] if j.from_seq == Some(0)), "{rejoin:?}");
    core.join(M, Role::Player);
    serve_join(&mut core, &log, 0);
    let state = core.state(M).expect("resynced");
    assert_eq!((state.state.seq, state.desyncs), (3, 1));
}

#[test]
fn a_gap_rejoins_from_the_last_event_held_and_repeats_are_skipped() {
    let mut log = Log::new();
    let mut core = joined(&log);
    let e3 = log.play(0, edge("h", 0, 0), 1);
    let e4 = log.play(1, edge("h", 1, 0), 1);
    core.handle_message(0, ServerMsg::Event(e4.clone()));
    // Events of the old subscription still arrive before the join is answered: dropped, and
    // no second join goes out for them.
    core.handle_message(0, ServerMsg::Event(e3.clone()));
    core.handle_message(0, ServerMsg::Event(e4));
    assert_eq!(serve_join(&mut core, &log, 0), 3, "one join, from the last event held");
    assert!(sent(&mut core).is_empty());
    core.handle_message(0, ServerMsg::Event(e3));
    assert_eq!(core.state(M).map(|s| s.state.seq), Some(4), "a repeat is skipped");
}

#[test]
fn a_desync_mid_catch_up_sends_one_join_and_giving_up_is_for_good() {
    let mut log = Log::new();
    let mut core = joined(&log);
    let mut events: Vec<_> = (0..4u8)
        .map(|n| log.play(n % 2, edge(if n < 2 { "h" } else { "v" }, n % 2, 0), u64::from(n)))
        .collect();
    events[0].state_hash = game_rules::StateHash(events[0].state_hash.0 ^ 1);
    for event in &events {
        core.handle_message(0, ServerMsg::Event(event.clone()));
    }
    let joins = sent(&mut core).into_iter().filter(|m| matches!(m, ClientMsg::Join(_))).count();
    assert_eq!(joins, 1, "the rest of the batch waits for the new join");
    for _ in 0..MAX_RESYNCS {
        core.handle_message(
            0,
            ServerMsg::Joined(protocol::v1::Joined {
                match_id: M.into(),
                game: "dots".into(),
                role: Role::Player,
                seat: Some(0),
                head_seq: 6,
            }),
        );
        for event in log.events.iter().take(3).chain(&events) {
            core.handle_message(0, ServerMsg::Event(event.clone()));
        }
    }
    assert!(core.state(M).is_none(), "given up: the match is no longer followed");
    sent(&mut core);
    core.handle_message(0, ServerMsg::Event(events[1].clone()));
    assert!(sent(&mut core).is_empty(), "and nothing rejoins it");
}

#[test]
fn no_timer_is_due_while_closed_or_disconnected() {
    let log = Log::new();
    let mut core = joined(&log);
    let error = ErrorMsg {
        code: "room_restarting".into(),
        message: String::new(),
        match_id: Some(M.into()),
    };
    core.handle_message(100, ServerMsg::Error(error));
    assert!(core.poll_timeout().is_some());
    core.close();
    core.handle_close(200);
    assert_eq!(core.poll_timeout(), None, "a closed client wants no wake-up");
}

#[test]
fn a_move_the_server_could_not_record_stays_pending_and_goes_again() {
    let log = Log::new();
    let mut core = joined(&log);
    let id = core.send_move(M, edge("h", 0, 0)).expect("playing");
    sent(&mut core);
    updates(&mut core);
    let body = protocol::v1::ErrorBody { code: "storage_error".into(), message: String::new() };
    let verdict =
        Verdict { match_id: M.into(), move_id: id, result: VerdictResult::Rejected(body) };
    core.handle_message(0, ServerMsg::Verdict(verdict));
    assert!(updates(&mut core).is_empty(), "not settled");
    core.join(M, Role::Player);
    serve_join(&mut core, &log, 0);
    let resent =
        sent(&mut core).into_iter().any(|m| matches!(m, ClientMsg::Move(m) if m.move_id == id));
    assert!(resent, "sent again with its id after the catch-up");
}

#[test]
fn a_refused_token_closes_for_good() {
    let log = Log::new();
    let mut core = joined(&log);
    updates(&mut core);
    let error =
        ErrorMsg { code: "token_expired".into(), message: "expired".into(), match_id: None };
    core.handle_message(0, ServerMsg::Error(error));
    assert_eq!(core.connection(), ConnState::Closed);
    assert_eq!(core.poll_socket(), Some(SocketAction::Close));
    core.handle_close(0);
    assert_eq!(core.poll_timeout(), None, "no reconnect");
    assert_eq!(core.connection(), ConnState::Closed);
}

#[test]
fn a_restarting_room_is_joined_again_after_a_pause() {
    let log = Log::new();
    let mut core = joined(&log);
    let error =
        ErrorMsg { code: "room_restarting".into(), message: "".into(), match_id: Some(M.into()) };
    core.handle_message(100, ServerMsg::Error(error));
    assert!(!core.state(M).expect("held").caught_up);
    assert_eq!(core.poll_timeout(), Some(100 + REJOIN_DELAY_MS));
    sent(&mut core);
    core.handle_timeout(100 + REJOIN_DELAY_MS);
    assert!(matches!(&sent(&mut core)[..], [ClientMsg::Join(j)] if j.from_seq == Some(3)));
}

#[test]
fn it_is_nobodys_turn_while_a_seat_is_free() {
    let mut log = Log::new();
    log.events.truncate(2); // seat 1 not taken yet
    let mut core = joined(&log);
    assert!(!core.state(M).expect("reduced").my_turn);
    let seated = protocol::v1::Seated { seat: 1, player_id: "p1".into(), name: "p1".into() };
    let event = log.push(protocol::v1::EventBody::Seated(seated));
    core.handle_message(0, ServerMsg::Event(event));
    assert!(core.state(M).expect("reduced").my_turn);
}

#[test]
fn spectators_and_strangers_cannot_move() {
    let log = Log::new();
    let mut core = joined(&log);
    assert_eq!(core.send_move("other", edge("h", 0, 0)), Err(MoveError::NotPlaying));
    core.join(M, Role::Spectator);
    assert_eq!(core.send_move(M, edge("h", 0, 0)), Err(MoveError::NotPlaying));
}

#[test]
fn moves_in_flight_are_bounded() {
    let log = Log::new();
    let mut core = joined(&log);
    for _ in 0..MAX_PENDING_MOVES {
        core.send_move(M, edge("h", 0, 0)).expect("room for it");
    }
    assert_eq!(core.send_move(M, edge("h", 0, 0)), Err(MoveError::TooManyPending));
}

#[test]
fn a_snapshot_is_trusted_as_sent_and_later_views_follow_it() {
    let mut log = Log::new();
    let mut core = joined(&log);
    let e3 = log.play(0, edge("h", 0, 0), 1);
    let view = protocol::replica::decode_value(&log.state.view(game_rules::Viewer::Spectator));
    let created = match &log.events[0].body {
        Some(protocol::v1::EventBody::Created(c)) => c.clone(),
        other => panic!("event 0 is {other:?}"),
    };
    let snapshot = protocol::v1::Snapshot {
        match_id: M.into(),
        seq: 3,
        state_hash: e3.state_hash,
        status: e3.status.clone(),
        view: view.clone(),
        created,
    };
    core.handle_message(0, ServerMsg::Snapshot(snapshot));
    let state = core.state(M).expect("from the snapshot");
    assert_eq!(
        (state.state.seq, state.state.state_hash, state.state.view),
        (3, e3.state_hash, view)
    );
    assert!(core.legal_moves(M).is_empty(), "a hidden state offers no local legal moves");
}

#[test]
fn a_refreshed_token_is_presented_at_the_next_reconnect() {
    let log = Log::new();
    let mut core = joined(&log);
    core.set_token("fresh".into());
    core.drop_connection();
    core.handle_close(0);
    let retry_at = core.poll_timeout().expect("a retry");
    core.handle_timeout(retry_at);
    sent(&mut core);
    core.handle_open();
    assert!(matches!(&sent(&mut core)[..], [ClientMsg::Hello(h)] if h.token == "fresh"));
}
