//! Snapshots: handed out every `snapshot_every` durable events, a room loaded from one is the
//! room replayed from the creation, and a snapshot the log does not confirm is not used.

use super::*;
use crate::replay::Origin;

/// A 3×3 Dots match (24 moves) with a and b seated and joined, snapshotting every `every`.
fn board(every: u64) -> Harness {
    let settings = RoomSettings { snapshot_every: every, ..RoomSettings::default() };
    let mut h = Harness::with_board(settings, 3, 3);
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    h.input(Input::TakeSeat { request: 2, player: player("b"), seat: None, bot: None });
    for (conn, who) in [(1, "a"), (2, "b")] {
        h.input(Input::Join { conn, player: player(who), role: Role::Player, from_seq: None });
    }
    h
}

/// Plays `n` legal moves, each by the seat to move, with move ids 1, 2, ….
fn play_moves(h: &mut Harness, n: u64) {
    for id in 1..=n {
        let Status::Turn(seat) = h.room.state().status() else { return };
        let mv = h.room.state().state.legal_moves(seat)[0].clone();
        let (conn, who) = if seat == 0 { (1, "a") } else { (2, "b") };
        h.play(conn, who, id, mv);
    }
}

fn load(h: &Harness, snapshot: Option<&crate::storage::StateSnapshot>) -> (Room, Origin) {
    let settings = h.room.settings.clone();
    let (room, loaded) = Room::load("m1", &h.stored(), snapshot, settings, 0).expect("replays");
    (room, loaded.start)
}

#[test]
fn a_snapshot_is_handed_out_every_n_durable_events() {
    let mut h = board(5);
    play_moves(&mut h, 12);
    let seqs: Vec<u64> = h.snapshots.iter().map(|s| s.seq).collect();
    // Creation and two seats are seqs 0–2; the moves are 3–14.
    assert_eq!(seqs, vec![5, 10]);
    assert!(board(0).snapshots.is_empty());
}

#[test]
fn a_room_loaded_from_a_snapshot_is_the_room_replayed_from_the_creation() {
    let mut h = board(4);
    play_moves(&mut h, 9);
    let snapshot = h.snapshots.last().cloned().expect("one was taken");
    let (from_snapshot, origin) = load(&h, Some(&snapshot));
    let (replayed, from_creation) = load(&h, None);
    assert_eq!(origin, Origin::Snapshot(snapshot.seq));
    assert_eq!(from_creation, Origin::Creation);
    let (a, b) = (from_snapshot.state(), replayed.state());
    assert_eq!(a.state.state_hash(), b.state.state_hash());
    assert_eq!((a.head, a.status(), &a.seats), (b.head, b.status(), &b.seats));
    // A move id from before the snapshot still gets its original verdict.
    h.room = from_snapshot;
    h.take(1);
    h.play(1, "a", 1, edge("h", 0, 0));
    let verdicts: Vec<_> = verdicts(&h.take(1));
    assert_eq!(verdicts, vec![(1, VerdictResult::Accepted { seq: 3 })]);
}

#[test]
fn a_snapshot_the_log_does_not_confirm_is_not_used() {
    let mut h = board(4);
    play_moves(&mut h, 9);
    let good = h.snapshots.last().cloned().expect("one was taken");
    let wrong_hash =
        crate::storage::StateSnapshot { state_hash: good.state_hash ^ 1, ..good.clone() };
    let other_rules = crate::storage::StateSnapshot { rules_version: 99, ..good.clone() };
    let garbage = crate::storage::StateSnapshot { state: vec![0xc1; 8], ..good.clone() };
    let beyond = crate::storage::StateSnapshot { seq: 500, ..good.clone() };
    let (_, expected) = load(&h, None);
    for bad in [wrong_hash, other_rules, garbage, beyond] {
        let (room, origin) = load(&h, Some(&bad));
        assert_eq!(origin, Origin::Creation, "{bad:?}");
        assert_eq!(room.state().state.state_hash(), h.room.state().state.state_hash());
    }
    assert_eq!(expected, Origin::Creation);
}

#[test]
fn a_long_log_replayed_from_its_creation_is_snapshotted_at_once() {
    let mut h = board(0);
    play_moves(&mut h, 9);
    let settings = RoomSettings { snapshot_every: 5, ..h.room.settings.clone() };
    let (mut room, loaded) = Room::load("m1", &h.stored(), None, settings, 0).expect("replays");
    assert_eq!(loaded.start, Origin::Creation);
    let mut taken = Vec::new();
    while let Some(output) = room.poll_output() {
        if let Output::Snapshot(snapshot) = output {
            taken.push(snapshot.seq);
        }
    }
    assert_eq!(taken, vec![11], "a snapshot at the head");
}
