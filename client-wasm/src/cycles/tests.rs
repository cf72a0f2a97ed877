//! Key mapping, lead and prediction on hand-built views.

use lightcycles::CycleView;

use super::*;

const N: Heading = Heading::North;
const E: Heading = Heading::East;
const S: Heading = Heading::South;
const W: Heading = Heading::West;

/// A 10×8 board: seat 0 at (3, 4) heading east with a trail from (1, 4), seat 1 at (8, 2)
/// heading west.
fn board() -> ArenaView {
    let cycle = |seat, at: [i16; 2], heading, trail: Vec<[i16; 2]>| CycleView {
        seat,
        at,
        heading,
        alive: true,
        trail,
    };
    ArenaView {
        width: 10,
        height: 8,
        tick: 2,
        cycles: vec![
            cycle(0, [3, 4], E, vec![[1, 4], [2, 4], [3, 4]]),
            cycle(1, [8, 2], W, vec![[8, 2]]),
        ],
    }
}

fn steering(from: Heading, to: Heading, then: Option<Heading>) -> Steering {
    Steering { from, to, move_id: 7, then }
}

#[test]
fn a_direction_key_is_the_quarter_turn_towards_it() {
    let cases = [
        (E, N, Some(Turn::Left)),
        (E, S, Some(Turn::Right)),
        (E, E, None),
        (E, W, None),
        (N, W, Some(Turn::Left)),
        (N, E, Some(Turn::Right)),
        (W, N, Some(Turn::Right)),
        (S, E, Some(Turn::Left)),
    ];
    for (from, to, turn) in cases {
        assert_eq!(turn_towards(from, to), turn, "{from:?} to {to:?}");
    }
}

#[test]
fn keys_send_a_turn_queue_a_second_or_do_nothing() {
    let waiting = steering(E, N, None);
    let applied = steering(S, E, None);
    let cases = [
        (None, S, KeyAction::Send(Turn::Right)),
        (None, W, KeyAction::Ignore),
        (None, E, KeyAction::Ignore),
        // A turn waits: the other quarter turn replaces it, the same one is not sent twice.
        (Some(&waiting), S, KeyAction::Send(Turn::Right)),
        (Some(&waiting), N, KeyAction::Ignore),
        // Back the way it came, after the waiting turn: a U-turn over two ticks.
        (Some(&waiting), W, KeyAction::Queue(W)),
        (Some(&waiting), E, KeyAction::Queue(E)),
        // A turn that no longer waits counts for nothing.
        (Some(&applied), W, KeyAction::Ignore),
    ];
    for (steer, to, action) in cases {
        assert_eq!(on_key(E, steer, to), action, "{steer:?}, key {to:?}");
    }
}

#[test]
fn the_lead_is_one_tick_and_one_more_per_late_period_up_to_the_cap() {
    assert_eq!(lead_ticks(0, 20), 1);
    assert_eq!(lead_ticks(49, 20), 1);
    assert_eq!(lead_ticks(50, 20), 2);
    assert_eq!(lead_ticks(10_000, 20), MAX_LEAD_TICKS);
    assert_eq!(lead_ticks(u64::MAX, 60), MAX_LEAD_TICKS);
}

#[test]
fn without_input_the_own_cycle_runs_on_ahead_of_the_server() {
    let p = predict(&board(), 0, None, 2).expect("rides");
    assert_eq!((p.seat, p.tick, p.lead, p.heading), (0, 2, 2, E));
    assert_eq!(p.cells, [[4, 4], [5, 4]]);
    assert!(!p.blocked);
}

#[test]
fn a_waiting_turn_and_the_one_kept_after_it_are_drawn_at_once() {
    let turned = predict(&board(), 0, Some(&steering(E, N, None)), 1).expect("rides");
    assert_eq!((turned.heading, &turned.cells[..]), (N, &[[3, 3]][..]));
    let u_turn = predict(&board(), 0, Some(&steering(E, N, Some(W))), 2).expect("rides");
    assert_eq!((u_turn.heading, &u_turn.cells[..]), (W, &[[3, 3], [2, 3]][..]));
}

#[test]
fn the_server_wins_a_turn_it_did_not_apply_is_not_drawn() {
    // The server's cycle heads south: the turn sent from north is over (applied or not).
    let mut view = board();
    view.cycles[0].heading = S;
    let p = predict(&view, 0, Some(&steering(N, E, None)), 1).expect("rides");
    assert_eq!((p.heading, &p.cells[..]), (S, &[[3, 5]][..]));
}

#[test]
fn a_prediction_stops_short_of_walls_and_trails() {
    // South, then west onto the other cycle's trail.
    let mut view = board();
    view.cycles[1].trail.push([2, 5]);
    let p = predict(&view, 0, Some(&steering(E, S, Some(W))), 2).expect("rides");
    assert_eq!((p.cells.as_slice(), p.lead, p.blocked), (&[[3, 5]][..], 1, true));
    let mut view = board();
    view.cycles[0].at = [9, 4];
    view.cycles[0].trail.push([9, 4]);
    let p = predict(&view, 0, None, 2).expect("rides");
    assert_eq!((p.cells.len(), p.lead, p.blocked), (0, 0, true), "the east wall");
}

#[test]
fn a_crashed_or_missing_cycle_is_not_predicted() {
    let mut view = board();
    view.cycles[0].alive = false;
    assert_eq!(predict(&view, 0, None, 1), None);
    assert_eq!(predict(&board(), 5, None, 1), None);
}
