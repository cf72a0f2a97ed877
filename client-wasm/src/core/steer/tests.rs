//! Steering and prediction through the core, fed a light cycles log with real hashes.

use game_rules::Viewer;
use lightcycles::{ArenaView, Heading, Turn};
use protocol::v1::{ClientMsg, ServerMsg, Verdict, VerdictResult};

use super::super::tests::{joined, sent, updates};
use crate::core::{Core, MoveError};
use crate::testlog::{Log, M, value};

/// The server's view of the log's match.
fn arena(log: &Log) -> ArenaView {
    rmp_serde::from_slice(&log.state.view(Viewer::Spectator)).expect("an arena view")
}

/// Seat 0's heading on the server.
fn heading(log: &Log) -> Heading {
    arena(log).cycles[0].heading
}

fn turn(turn: Turn) -> protocol::v1::Value {
    let name = match turn {
        Turn::Left => "left",
        Turn::Right => "right",
    };
    value(serde_json::json!({ "turn": name }))
}

/// The moves the core sent: (move id, move).
fn moves(core: &mut Core) -> Vec<(u64, protocol::v1::Value)> {
    sent(core)
        .into_iter()
        .filter_map(|m| match m {
            ClientMsg::Move(m) => Some((m.move_id, m.mv.to_value())),
            _ => None,
        })
        .collect()
}

fn event(core: &mut Core, now_ms: u64, event: protocol::v1::Event) {
    core.handle_message(now_ms, ServerMsg::Event(event));
}

/// A core following a fresh light cycles match as seat 0, and the match's log.
fn riding() -> (Core, Log) {
    let log = Log::cycles();
    let mut core = joined(&log);
    updates(&mut core);
    sent(&mut core);
    (core, log)
}

#[test]
fn a_key_sends_a_turn_drawn_at_once_and_settled_by_the_tick_that_applies_it() {
    let (mut core, mut log) = riding();
    let start = heading(&log);
    let left = start.turned(Turn::Left);
    let id = core.steer(M, left).expect("steers").expect("a turn is sent");
    assert_eq!(moves(&mut core), [(id, turn(Turn::Left))]);
    let drawn = core.prediction(M, 0).expect("predicted");
    assert_eq!((drawn.heading, drawn.lead), (left, 1), "the turn shows before the tick");

    event(&mut core, 40, log.tick(&[(0, turn(Turn::Left))]));
    assert_eq!(heading(&log), left);
    let drawn = core.prediction(M, 40).expect("predicted");
    let head = arena(&log).cycles[0].at;
    let (dx, dy) = left.step();
    assert_eq!(drawn.cells, [[head[0] + dx, head[1] + dy]], "one cell ahead of the server");
    assert_eq!(core.steer(M, left).expect("steers"), None, "it already heads that way");
    assert!(moves(&mut core).is_empty());
}

#[test]
fn a_misprediction_snaps_back_to_the_server_state() {
    let (mut core, mut log) = riding();
    let start = heading(&log);
    let id = core.steer(M, start.turned(Turn::Left)).expect("steers").expect("sent");
    // The server applied a turn the other way (its state is the truth), then refused ours.
    event(&mut core, 10, log.tick(&[(0, turn(Turn::Right))]));
    let right = start.turned(Turn::Right);
    assert_eq!(core.prediction(M, 10).map(|p| p.heading), Some(right));
    let refused = VerdictResult::Rejected(protocol::v1::ErrorBody {
        code: "illegal_move".into(),
        message: "no".into(),
    });
    core.handle_message(
        10,
        ServerMsg::Verdict(Verdict { match_id: M.into(), move_id: id, result: refused }),
    );
    assert_eq!(core.prediction(M, 10).map(|p| p.heading), Some(right));
}

#[test]
fn a_refused_turn_is_no_longer_drawn() {
    let (mut core, log) = riding();
    let start = heading(&log);
    let id = core.steer(M, start.turned(Turn::Right)).expect("steers").expect("sent");
    assert_eq!(core.prediction(M, 0).map(|p| p.heading), Some(start.turned(Turn::Right)));
    let refused = VerdictResult::Rejected(protocol::v1::ErrorBody {
        code: "superseded".into(),
        message: "replaced".into(),
    });
    core.handle_message(
        0,
        ServerMsg::Verdict(Verdict { match_id: M.into(), move_id: id, result: refused }),
    );
    assert_eq!(core.prediction(M, 0).map(|p| p.heading), Some(start), "snapped back");
}

#[test]
fn a_second_key_within_a_tick_is_sent_once_the_first_is_applied() {
    let (mut core, mut log) = riding();
    let start = heading(&log);
    let back = start.turned(Turn::Left).turned(Turn::Left);
    core.steer(M, start.turned(Turn::Left)).expect("steers").expect("sent");
    assert_eq!(core.steer(M, back).expect("steers"), None, "kept for after the first");
    assert_eq!(moves(&mut core).len(), 1);
    let drawn = core.prediction(M, 60).expect("predicted");
    assert_eq!((drawn.heading, drawn.lead), (back, 2), "both turns are drawn, a tick late");

    // A tick without the turn: it still waits, and so does the second.
    event(&mut core, 50, log.tick(&[]));
    assert!(moves(&mut core).is_empty());
    event(&mut core, 100, log.tick(&[(0, turn(Turn::Left))]));
    assert_eq!(
        moves(&mut core).into_iter().map(|(_, m)| m).collect::<Vec<_>>(),
        [turn(Turn::Left)]
    );
    event(&mut core, 150, log.tick(&[(0, turn(Turn::Left))]));
    assert_eq!(heading(&log), back, "a U-turn over two ticks");
    assert_eq!(core.prediction(M, 150).map(|p| p.heading), Some(back));
}

#[test]
fn the_lead_grows_while_the_next_tick_is_late() {
    let (mut core, mut log) = riding();
    event(&mut core, 1_000, log.tick(&[]));
    // 20 ticks a second (the default): a period is 50 ms.
    assert_eq!(core.prediction(M, 1_000).map(|p| p.lead), Some(1));
    assert_eq!(core.prediction(M, 1_049).map(|p| p.lead), Some(1));
    assert_eq!(core.prediction(M, 1_050).map(|p| p.lead), Some(2));
    assert_eq!(core.prediction(M, 9_000).map(|p| p.lead), Some(2));
}

#[test]
fn only_a_riding_player_of_light_cycles_steers() {
    let (mut core, _) = riding();
    assert_eq!(core.steer("other", Heading::North), Err(MoveError::NotPlaying));
    let dots = Log::new();
    let mut core_dots = joined(&dots);
    assert_eq!(core_dots.steer(M, Heading::North), Err(MoveError::NoCycle));
    assert_eq!(core_dots.prediction(M, 0), None);
    core.join(M, protocol::v1::Role::Spectator);
    assert_eq!(core.steer(M, Heading::North), Err(MoveError::NotPlaying));
}
