//! The room core driven without tokio: a virtual clock, appends acknowledged (or failed) when
//! the test says so, and every message each connection would receive.

use std::collections::BTreeMap;

use game_rules::{Outcome, Status};
use protocol::v1::{EventBody, Role, ServerMsg, VerdictResult};
use serde_json::json;

use super::*;
use crate::storage::{AppendError, Record};

/// A room and what it has said, per connection and per request.
struct Harness {
    room: Room,
    now: u64,
    /// Appends emitted and not yet acknowledged: (first_seq, records).
    unacked: Vec<(u64, usize)>,
    /// Every record made durable, in order.
    durable: Vec<Vec<u8>>,
    inbox: BTreeMap<ConnId, Vec<ServerMsg>>,
    replies: BTreeMap<RequestId, Vec<Reply>>,
    backfills: Vec<(ConnId, u64, u64)>,
    stopped: Option<&'static str>,
    auto_ack: bool,
    detached: Vec<ConnId>,
    disconnected: Vec<ConnId>,
    bots: Vec<u8>,
    /// Every move decision the room reported, in order (what `/metrics` counts).
    decided: Vec<String>,
    /// Snapshots the room handed out, in order.
    snapshots: Vec<crate::storage::StateSnapshot>,
}

fn player(id: &str) -> PlayerRef {
    PlayerRef { player_id: id.into(), name: id.to_uppercase() }
}

fn mv(value: serde_json::Value) -> Vec<u8> {
    rmp_serde::to_vec_named(&value).expect("encodes")
}

fn edge(dir: &str, x: u8, y: u8) -> Vec<u8> {
    mv(json!({"dir": dir, "x": x, "y": y}))
}

/// The settings with the built-in games, which `RoomSettings::default` leaves to the caller.
fn with_games(settings: RoomSettings) -> RoomSettings {
    RoomSettings { games: builtin_games::games(), ..settings }
}

impl Harness {
    fn new(settings: RoomSettings) -> Harness {
        Harness::with_board(settings, 1, 1)
    }

    fn with_board(settings: RoomSettings, width: u8, height: u8) -> Harness {
        Harness::with_timer(settings, width, height, None)
    }

    fn with_timer(
        settings: RoomSettings,
        width: u8,
        height: u8,
        timer: Option<crate::storage::TurnTimer>,
    ) -> Harness {
        let config = json!({"width": width, "height": height, "players": 2});
        Harness::with_game_and_timer(settings, "dots", config, timer)
    }

    /// A two-seat match of `game` with `config`, created at time 0.
    fn with_game(settings: RoomSettings, game: &str, config: serde_json::Value) -> Harness {
        Harness::with_game_and_timer(settings, game, config, None)
    }

    /// A two-seat match of `game` with `config` and its own turn timer, created at time 0.
    fn with_game_and_timer(
        settings: RoomSettings,
        game: &str,
        config: serde_json::Value,
        timer: Option<crate::storage::TurnTimer>,
    ) -> Harness {
        let settings = with_games(settings);
        let created = Record::Created {
            game: game.into(),
            rules_version: 1,
            config: mv(config),
            seed: 1,
            seats: 2,
            created_at_ms: 5,
            lobby: Default::default(),
            timer,
        };
        let room = Room::create("m1".into(), created, Vec::new(), settings, 0, Some(100))
            .expect("valid creation");
        let mut h = Harness {
            room,
            now: 0,
            unacked: Vec::new(),
            durable: Vec::new(),
            inbox: BTreeMap::new(),
            replies: BTreeMap::new(),
            backfills: Vec::new(),
            stopped: None,
            auto_ack: true,
            detached: Vec::new(),
            disconnected: Vec::new(),
            bots: Vec::new(),
            decided: Vec::new(),
            snapshots: Vec::new(),
        };
        h.drain();
        h
    }

    /// A 1×1 dots match with players a (seat 0) and b (seat 1), each joined on a connection.
    fn seated() -> Harness {
        let mut h = Harness::new(RoomSettings::default());
        h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
        h.input(Input::TakeSeat { request: 2, player: player("b"), seat: None, bot: None });
        h.input(Input::Join { conn: 1, player: player("a"), role: Role::Player, from_seq: None });
        h.input(Input::Join { conn: 2, player: player("b"), role: Role::Player, from_seq: None });
        h.inbox.clear();
        h
    }

    fn input(&mut self, input: Input) {
        self.room.handle(self.now, input);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(output) = self.room.poll_output() {
            match output {
                Output::Send { conn, msg } => self.inbox.entry(conn).or_default().push(msg),
                Output::SendBatch { conn, msgs } => {
                    self.inbox.entry(conn).or_default().extend(msgs)
                }
                Output::Detach { conn } => self.detached.push(conn),
                Output::Disconnect { conn } => self.disconnected.push(conn),
                Output::StartBot { seat, .. } => self.bots.push(seat),
                Output::Broadcast { conns, msg } => {
                    for conn in conns {
                        self.inbox.entry(conn).or_default().push(msg.clone());
                    }
                }
                Output::Reply { request, reply } => {
                    self.replies.entry(request).or_default().push(reply)
                }
                Output::Append(append) => {
                    self.unacked.push((append.first_seq, append.records.len()));
                    self.durable.extend(append.records);
                }
                Output::Backfill { conn, from_seq, to_seq } => {
                    self.backfills.push((conn, from_seq, to_seq))
                }
                Output::Stop { reason } => self.stopped = Some(reason),
                Output::Decided { result } => self.decided.push(result.into_owned()),
                Output::Snapshot(snapshot) => self.snapshots.push(snapshot),
            }
        }
        if self.auto_ack {
            self.ack_all();
        }
    }

    fn ack_all(&mut self) {
        while !self.unacked.is_empty() {
            let (first_seq, _) = self.unacked.remove(0);
            self.room.handle(self.now, Input::AppendDone { first_seq, result: Ok(()) });
            let auto = self.auto_ack;
            self.auto_ack = false;
            self.drain();
            self.auto_ack = auto;
        }
    }

    fn play(&mut self, conn: ConnId, who: &str, move_id: u64, mv: Vec<u8>) {
        self.input(Input::Move { from: Client::Conn(conn), player_id: who.into(), move_id, mv });
    }

    /// Unloads the room and loads it again from its durable records, as after a restart;
    /// both players join again.
    fn reload(&mut self) {
        self.ack_all();
        let records = self.stored();
        let settings = self.room.settings.clone();
        let snapshot = self.snapshots.last();
        let loaded = Room::load("m1", &records, snapshot, settings, self.now);
        self.room = loaded.expect("the log replays").0;
        self.drain();
        for (conn, who) in [(1, "a"), (2, "b")] {
            let from_seq = Some(records.len() as u64);
            self.input(Input::Join { conn, player: player(who), role: Role::Player, from_seq });
        }
        self.inbox.clear();
    }

    /// The durable records, as the log would return them.
    fn stored(&self) -> Vec<crate::storage::StoredRecord> {
        let numbered = self.durable.iter().enumerate();
        numbered
            .map(|(seq, bytes)| crate::storage::StoredRecord {
                seq: seq as u64,
                bytes: bytes.clone(),
            })
            .collect()
    }

    fn take(&mut self, conn: ConnId) -> Vec<ServerMsg> {
        self.inbox.remove(&conn).unwrap_or_default()
    }
}

fn seqs(msgs: &[ServerMsg]) -> Vec<u64> {
    msgs.iter()
        .filter_map(|m| if let ServerMsg::Event(e) = m { Some(e.seq) } else { None })
        .collect()
}

fn verdicts(msgs: &[ServerMsg]) -> Vec<(u64, VerdictResult)> {
    msgs.iter()
        .filter_map(|m| {
            if let ServerMsg::Verdict(v) = m { Some((v.move_id, v.result.clone())) } else { None }
        })
        .collect()
}

fn rejected(code: &str) -> impl Fn(&VerdictResult) -> bool + '_ {
    move |v| matches!(v, VerdictResult::Rejected(b) if b.code == code)
}

#[test]
fn creation_and_seats_are_durable_before_they_are_answered() {
    let mut h = Harness::new(RoomSettings::default());
    assert_eq!(h.replies[&100], vec![Reply::Created(Ok(()))]);
    h.auto_ack = false;
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    assert!(!h.replies.contains_key(&1), "no answer before the seat is durable");
    h.ack_all();
    assert_eq!(h.replies[&1], vec![Reply::Seat(Ok(0))]);
    h.auto_ack = true;
    h.input(Input::TakeSeat { request: 2, player: player("a"), seat: None, bot: None });
    assert_eq!(
        h.replies[&2],
        vec![Reply::Seat(Ok(0))],
        "taking a seat twice returns the same seat"
    );
    h.input(Input::TakeSeat { request: 3, player: player("b"), seat: None, bot: None });
    h.input(Input::TakeSeat { request: 4, player: player("c"), seat: None, bot: None });
    assert_eq!(h.replies[&3], vec![Reply::Seat(Ok(1))]);
    assert_eq!(h.replies[&4], vec![Reply::Seat(Err(RoomError::MatchFull))]);
    assert_eq!(h.durable.len(), 3, "created + two seats");
}

#[test]
fn moves_wait_for_every_seat() {
    let mut h = Harness::new(RoomSettings::default());
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    h.input(Input::Join { conn: 1, player: player("a"), role: Role::Player, from_seq: None });
    h.play(1, "a", 1, edge("h", 0, 0));
    let v = verdicts(&h.take(1));
    assert!(rejected("waiting_for_players")(&v[0].1), "{v:?}");
}

#[test]
fn a_move_is_broadcast_and_acknowledged_only_once_durable() {
    let mut h = Harness::seated();
    h.auto_ack = false;
    h.play(1, "a", 7, edge("h", 0, 0));
    assert!(h.take(1).is_empty() && h.take(2).is_empty(), "nothing before durability");
    h.ack_all();
    let a = h.take(1);
    assert_eq!(seqs(&a), vec![3]);
    assert_eq!(verdicts(&a), vec![(7, VerdictResult::Accepted { seq: 3 })]);
    let b = h.take(2);
    assert_eq!(seqs(&b), vec![3]);
    assert!(verdicts(&b).is_empty(), "only the mover gets the verdict");
    let ServerMsg::Event(event) = &b[0] else { panic!("an event") };
    assert_eq!(event.status, Status::Turn(1));
    assert!(matches!(&event.body, Some(EventBody::Move(m)) if m.seat == 0 && m.move_id == 7));
}

#[test]
fn retried_move_ids_get_the_original_verdict_and_apply_once() {
    let mut h = Harness::seated();
    h.play(1, "a", 7, edge("h", 0, 0));
    let records = h.durable.len();
    h.take(1);
    h.play(1, "a", 7, edge("h", 0, 0));
    assert_eq!(verdicts(&h.take(1)), vec![(7, VerdictResult::Accepted { seq: 3 })]);
    h.play(1, "a", 8, edge("v", 0, 0));
    assert!(rejected("not_your_turn")(&verdicts(&h.take(1))[0].1));
    h.play(2, "b", 8, edge("v", 0, 0));
    assert!(
        matches!(verdicts(&h.take(2))[0].1, VerdictResult::Accepted { seq: 4 }),
        "ids are per seat"
    );
    h.play(1, "a", 8, edge("h", 0, 1));
    assert!(
        rejected("not_your_turn")(&verdicts(&h.take(1))[0].1),
        "a retried rejection stays rejected"
    );
    assert_eq!(h.durable.len(), records + 1);
    // Five answers, three moves decided: retries are not counted again.
    assert_eq!(h.decided, ["accepted", "not_your_turn", "accepted"]);
}

#[test]
fn a_retry_while_the_original_is_in_flight_waits_for_it() {
    let mut h = Harness::seated();
    h.auto_ack = false;
    h.play(1, "a", 7, edge("h", 0, 0));
    h.play(1, "a", 7, edge("h", 0, 0));
    assert_eq!(h.unacked.len(), 1, "the retry appends nothing");
    h.ack_all();
    assert_eq!(verdicts(&h.take(1)), vec![(7, VerdictResult::Accepted { seq: 3 }); 2]);
    assert_eq!(h.decided, ["accepted"], "one move, answered twice");
}

#[test]
fn rejections_change_nothing_and_carry_their_reason() {
    let mut h = Harness::seated();
    let before = h.room.state().state.state_hash();
    h.play(2, "b", 1, edge("h", 0, 0));
    h.play(1, "a", 2, edge("h", 9, 9));
    h.play(1, "a", 3, mv(json!({"bogus": true})));
    h.play(1, "stranger", 4, edge("h", 0, 0));
    h.input(Input::Join { conn: 3, player: player("s"), role: Role::Spectator, from_seq: None });
    h.input(Input::Join { conn: 4, player: player("a"), role: Role::Spectator, from_seq: None });
    h.play(4, "a", 5, edge("h", 0, 0));
    let codes: Vec<String> = [h.take(2), h.take(1), h.take(4)]
        .concat()
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Verdict(v) => match &v.result {
                VerdictResult::Rejected(b) => Some(b.code.clone()),
                VerdictResult::Accepted { .. } => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        codes,
        ["not_your_turn", "out_of_range", "malformed_move", "not_seated", "spectator"]
    );
    assert_eq!(h.room.state().state.state_hash(), before);
    assert_eq!(h.durable.len(), 3);
}

#[test]
fn joins_catch_up_from_a_cursor_or_a_snapshot() {
    let mut h = Harness::seated();
    h.play(1, "a", 1, edge("h", 0, 0));
    h.play(2, "b", 1, edge("h", 0, 1));
    h.input(Input::Join { conn: 3, player: player("s"), role: Role::Spectator, from_seq: Some(0) });
    let from_zero = h.take(3);
    assert!(matches!(from_zero[0], ServerMsg::Joined(ref j) if j.head_seq == 4));
    assert_eq!(seqs(&from_zero), vec![0, 1, 2, 3, 4]);
    assert!(matches!(from_zero.last(), Some(ServerMsg::CaughtUp(c)) if c.seq == 4));
    h.input(Input::Join { conn: 4, player: player("t"), role: Role::Spectator, from_seq: Some(4) });
    assert_eq!(seqs(&h.take(4)), vec![4]);
    h.input(Input::Join { conn: 5, player: player("u"), role: Role::Spectator, from_seq: None });
    let snap = h.take(5);
    assert!(
        matches!(&snap[1], ServerMsg::Snapshot(s) if s.seq == 4 && s.state_hash == h.room.state().state.state_hash())
    );
    h.input(Input::Join { conn: 6, player: player("v"), role: Role::Spectator, from_seq: Some(9) });
    assert!(matches!(&h.take(6)[0], ServerMsg::Error(e) if e.code == "bad_cursor"));
    assert_eq!(h.detached, vec![6], "a refused join is detached, so the session forgets it");
    h.play(1, "a", 2, edge("v", 0, 0));
    for conn in [3, 4, 5] {
        assert_eq!(seqs(&h.take(conn)), vec![5], "conn {conn} is live");
    }
}

#[test]
fn history_older_than_memory_is_backfilled_from_the_log() {
    let mut h = Harness::new(RoomSettings { history_cap: 2, ..RoomSettings::default() });
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    h.input(Input::TakeSeat { request: 2, player: player("b"), seat: None, bot: None });
    h.play(9, "a", 1, edge("h", 0, 0));
    h.input(Input::Join { conn: 3, player: player("s"), role: Role::Spectator, from_seq: Some(1) });
    assert_eq!(h.backfills, vec![(3, 1, 1)]);
    assert_eq!(seqs(&h.take(3)), vec![2, 3]);
}

#[test]
fn a_failed_append_publishes_nothing_and_stops_the_room() {
    let mut h = Harness::seated();
    h.auto_ack = false;
    h.play(1, "a", 1, edge("h", 0, 0));
    h.play(2, "b", 1, edge("h", 0, 1));
    h.play(1, "a", 1, edge("h", 0, 0)); // a retry, waiting on the same append
    h.room.handle(
        0,
        Input::AppendDone { first_seq: 3, result: Err(AppendError::Storage("disk full".into())) },
    );
    h.unacked.clear();
    h.drain();
    assert_eq!(h.stopped, Some("append failed"));
    let a = h.take(1);
    assert!(seqs(&a).is_empty(), "no event of a failed append is published");
    assert!(rejected("storage_error")(&verdicts(&a)[0].1));
    assert!(rejected("storage_error")(&verdicts(&h.take(2))[0].1), "later pending moves fail too");
    h.play(1, "a", 2, edge("h", 0, 0));
    assert!(rejected("room_restarting")(&verdicts(&h.take(1))[0].1));
    assert_eq!(
        h.decided,
        ["storage_error", "storage_error", "room_restarting"],
        "a's move and its retry are one decision"
    );
}

#[test]
fn turn_timer_writes_a_timeout_event() {
    let mut h =
        Harness::new(RoomSettings { turn_timeout_ms: Some(1000), ..RoomSettings::default() });
    assert_eq!(h.room.poll_timeout(), Some(60_000), "only the idle timer before seats fill");
    h.now = 10;
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    h.input(Input::TakeSeat { request: 2, player: player("b"), seat: None, bot: None });
    h.input(Input::Join { conn: 1, player: player("a"), role: Role::Player, from_seq: None });
    assert_eq!(h.room.poll_timeout(), Some(1010));
    h.take(1);
    h.now = 1010;
    h.input(Input::Timer);
    let msgs = h.take(1);
    assert!(matches!(&msgs[0], ServerMsg::Event(e) if e.seq == 3 && e.status == Status::Turn(1)
        && matches!(&e.body, Some(EventBody::Tick(t)) if t.inputs.is_empty())));
    assert_eq!(h.room.poll_timeout(), Some(2010));
}

#[test]
fn idle_rooms_stop_and_busy_ones_do_not() {
    let mut h = Harness::seated();
    h.now = 120_000;
    h.input(Input::Timer);
    assert_eq!(h.stopped, None, "subscribers keep a room alive");
    h.input(Input::Leave { conn: 1 });
    h.input(Input::Leave { conn: 2 });
    assert_eq!(h.room.poll_timeout(), Some(180_000));
    h.now = 180_000;
    h.input(Input::Timer);
    assert_eq!(h.stopped, Some("idle"));
}

#[test]
fn a_room_whose_place_is_needed_stops_only_if_idle() {
    let mut h = Harness::seated();
    h.input(Input::Unload);
    assert_eq!(h.stopped, None, "a watched room stays");
    assert!(!h.room.is_idle());
    h.input(Input::Leave { conn: 1 });
    h.input(Input::Leave { conn: 2 });
    assert!(h.room.is_idle());
    h.input(Input::Unload);
    assert_eq!(h.stopped, Some("unloaded for another room"));
}

#[test]
fn spectators_past_the_cap_are_refused_but_seated_players_always_join() {
    let settings = RoomSettings { max_subscribers: 2, ..RoomSettings::default() };
    let mut h = Harness::new(settings);
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    for conn in [1, 2] {
        h.input(Input::Join { conn, player: player("s"), role: Role::Spectator, from_seq: None });
    }
    h.input(Input::Join { conn: 3, player: player("s"), role: Role::Spectator, from_seq: None });
    assert!(matches!(&h.take(3)[..], [ServerMsg::Error(e)] if e.code == "too_many_subscribers"));
    assert_eq!(h.detached, vec![3], "a refused join is not a join");
    h.input(Input::Join { conn: 4, player: player("a"), role: Role::Player, from_seq: None });
    assert!(matches!(&h.take(4)[0], ServerMsg::Joined(j) if j.seat == Some(0)));
    h.input(Input::Join { conn: 1, player: player("s"), role: Role::Spectator, from_seq: Some(0) });
    assert!(matches!(&h.take(1).last(), Some(ServerMsg::CaughtUp(_))), "a subscriber may rejoin");
}

#[test]
fn a_whole_match_ends_with_its_result() {
    let mut h = Harness::seated();
    h.play(1, "a", 1, edge("h", 0, 0));
    h.play(2, "b", 1, edge("h", 0, 1));
    h.play(1, "a", 2, edge("v", 0, 0));
    h.play(2, "b", 2, edge("v", 1, 0));
    let over = Status::Over(Outcome { scores: vec![0, 1], winners: vec![1] });
    assert_eq!(h.room.state().state.status(), over);
    assert_eq!(h.room.state().listing_status(), crate::storage::MatchStatus::Finished);
    h.play(2, "b", 3, edge("v", 1, 0));
    assert!(rejected("match_over")(&verdicts(&h.take(2)).last().expect("verdict").1));
}

#[test]
fn bot_seats_start_when_durable_and_again_after_a_restore() {
    let mut h = Harness::new(RoomSettings::default());
    h.auto_ack = false;
    let spec = crate::storage::BotSpec { strategy: bots::StrategyKind::Greedy, think_ms: 0 };
    h.input(Input::TakeSeat { request: 1, player: player("bot"), seat: Some(1), bot: Some(spec) });
    assert!(h.bots.is_empty(), "not before the seat is durable");
    h.ack_all();
    assert_eq!(h.bots, vec![1]);
    assert_eq!(h.replies[&1], vec![Reply::Seat(Ok(1))]);
    h.auto_ack = true;
    h.input(Input::TakeSeat { request: 2, player: player("a"), seat: Some(1), bot: None });
    assert_eq!(h.replies[&2], vec![Reply::Seat(Err(RoomError::SeatTaken))]);
    // Rebuilt from its log, the room asks for its bot again.
    let records = h.stored();
    let m =
        crate::replay::replay(&builtin_games::games(), &records, |_, _, _| {}).expect("replays");
    let mut restored =
        Room::restore("m1".into(), m, Vec::new(), with_games(RoomSettings::default()), 0);
    let started: Vec<_> = std::iter::from_fn(|| restored.poll_output())
        .filter_map(|o| {
            if let Output::StartBot { seat, spec, .. } = o { Some((seat, spec)) } else { None }
        })
        .collect();
    assert_eq!(started, vec![(1, spec)]);
}

#[test]
fn turn_timers_run_only_while_someone_watches() {
    let mut h =
        Harness::new(RoomSettings { turn_timeout_ms: Some(1000), ..RoomSettings::default() });
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    h.input(Input::TakeSeat { request: 2, player: player("b"), seat: None, bot: None });
    assert_eq!(h.room.poll_timeout(), Some(60_000), "nobody connected: only the idle unload");
    h.now = 61_000;
    h.input(Input::Timer);
    assert_eq!(h.stopped, Some("idle"), "an abandoned match unloads instead of ticking");
    assert_eq!(h.durable.len(), 3, "and writes no timeout events");
}

#[test]
fn a_seat_in_flight_is_answered_only_once_durable() {
    let mut h = Harness::new(RoomSettings::default());
    h.auto_ack = false;
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    h.input(Input::TakeSeat { request: 2, player: player("a"), seat: None, bot: None });
    h.input(Input::Join { conn: 1, player: player("a"), role: Role::Player, from_seq: Some(0) });
    assert!(
        !h.replies.contains_key(&1) && !h.replies.contains_key(&2),
        "neither request is answered before the seat is durable"
    );
    assert!(h.take(1).is_empty(), "nor is the player's join");
    h.ack_all();
    assert_eq!(h.replies[&1], vec![Reply::Seat(Ok(0))]);
    assert_eq!(h.replies[&2], vec![Reply::Seat(Ok(0))]);
    let joined = h.take(1);
    assert!(matches!(&joined[0], ServerMsg::Joined(j) if j.seat == Some(0) && j.head_seq == 1));
    assert_eq!(seqs(&joined), vec![0, 1], "the deferred join kept its cursor");
}

#[test]
fn one_seats_refusals_cannot_evict_anothers_accepted_move() {
    let mut h =
        Harness::with_board(RoomSettings { verdict_cap: 16, ..RoomSettings::default() }, 2, 2);
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    h.input(Input::TakeSeat { request: 2, player: player("b"), seat: None, bot: None });
    for (conn, who) in [(1, "a"), (2, "b")] {
        h.input(Input::Join { conn, player: player(who), role: Role::Player, from_seq: None });
    }
    h.play(1, "a", 1, edge("h", 0, 0));
    h.play(2, "b", 1, edge("h", 1, 0));
    let original = verdicts(&h.take(2));
    assert!(matches!(original[..], [(1, VerdictResult::Accepted { seq: 4 })]), "{original:?}");
    // Seat 0 floods the room with moves out of turn, each with a new id.
    for id in 2..5000 {
        h.play(1, "a", id, edge("v", 0, 0));
    }
    h.play(2, "b", 1, edge("v", 2, 1));
    assert_eq!(verdicts(&h.take(2)), original, "the retry gets its verdict, not a new decision");
    h.reload();
    h.play(2, "b", 1, edge("v", 2, 1));
    assert_eq!(verdicts(&h.take(2)), original, "and still after the room reloads from its log");
}

mod snapshots;

mod retries {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// A seat sends a move with an id (ids repeat: retries) and an edge.
        Move { seat: u8, id: u64, edge: usize },
        /// The room unloads and loads again from its log.
        Reload,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (0u8..2, 1u64..12, 0usize..12).prop_map(|(seat, id, edge)| Op::Move { seat, id, edge }),
            1 => Just(Op::Reload),
        ]
    }

    /// Every edge of a 2×2 board.
    fn edges() -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        for y in 0..3 {
            for x in 0..2 {
                all.push(edge("h", x, y));
            }
        }
        for y in 0..2 {
            for x in 0..3 {
                all.push(edge("v", x, y));
            }
        }
        all
    }

    proptest! {
        /// Whatever is retried, whenever the room reloads: an accepted move id always gets its
        /// original verdict, and no move id is recorded twice.
        #[test]
        fn an_accepted_move_id_keeps_its_verdict_across_reloads(
            ops in prop::collection::vec(op(), 1..80),
            snapshot_every in prop_oneof![Just(0u64), Just(1), Just(3)],
        ) {
            let settings = RoomSettings { snapshot_every, ..RoomSettings::default() };
            let mut h = Harness::with_board(settings, 2, 2);
            h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
            h.input(Input::TakeSeat { request: 2, player: player("b"), seat: None, bot: None });
            for (conn, who) in [(1, "a"), (2, "b")] {
                h.input(Input::Join { conn, player: player(who), role: Role::Player, from_seq: None });
            }
            let all = edges();
            let mut accepted: BTreeMap<(u8, u64), VerdictResult> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Reload => h.reload(),
                    Op::Move { seat, id, edge } => {
                        let (conn, who) = if seat == 0 { (1, "a") } else { (2, "b") };
                        h.play(conn, who, id, all[edge].clone());
                        for (move_id, verdict) in verdicts(&h.take(conn)) {
                            if let Some(first) = accepted.get(&(seat, move_id)) {
                                prop_assert_eq!(&verdict, first, "seat {} id {}", seat, move_id);
                            } else if matches!(verdict, VerdictResult::Accepted { .. }) {
                                accepted.insert((seat, move_id), verdict);
                            }
                        }
                        h.take(3 - conn);
                    }
                }
            }
            let mut recorded = std::collections::BTreeSet::new();
            for bytes in &h.durable {
                if let Ok(Record::Action { move_id: Some(id), action, .. }) = Record::decode(0, bytes) {
                    let action: game_rules::Action<game_rules::dots::Edge> =
                        rmp_serde::from_slice(&action).expect("a dots action");
                    if let game_rules::Action::Move { seat, .. } = action {
                        prop_assert!(recorded.insert((seat, id)), "seat {} id {} recorded twice", seat, id);
                    }
                }
            }
        }
    }
}

#[test]
fn an_administrator_sees_seats_connections_and_spectators() {
    let mut h = Harness::seated();
    h.input(Input::Join { conn: 3, player: player("s"), role: Role::Spectator, from_seq: None });
    h.input(Input::Leave { conn: 2 });
    h.play(1, "a", 1, edge("h", 0, 0));
    h.input(Input::Summary { request: 7 });
    let Some([Reply::Summary(summary)]) = h.replies.get(&7).map(Vec::as_slice) else {
        panic!("a summary: {:?}", h.replies.get(&7));
    };
    let seat = |id: &str, name: &str, connected| {
        Some(SeatSummary { player_id: id.into(), name: name.into(), bot: false, connected })
    };
    let expected = RoomSummary {
        match_id: "m1".into(),
        game: "dots".into(),
        status: crate::storage::MatchStatus::Live,
        head_seq: 3,
        seats: vec![seat("a", "A", true), seat("b", "B", false)],
        spectators: 1,
        subscribers: 2,
        appends_in_flight: 0,
    };
    assert_eq!(**summary, expected);
    assert!(h.stopped.is_none(), "asking changes nothing");
}

#[test]
fn a_close_disconnects_everyone_and_stops_the_room_without_writing() {
    let mut h = Harness::seated();
    h.input(Input::Join { conn: 3, player: player("s"), role: Role::Spectator, from_seq: None });
    let written = h.durable.len();
    h.input(Input::Close { request: 9 });
    assert_eq!(h.disconnected, vec![1, 2, 3]);
    assert_eq!(h.replies.get(&9), Some(&vec![Reply::Closed { disconnected: 3 }]));
    assert_eq!(h.stopped, Some("closed by an administrator"));
    assert_eq!(h.durable.len(), written, "the log is not touched");
    assert!(h.room.is_idle(), "nobody is subscribed any more");
}

#[test]
fn a_resignation_is_durable_before_it_is_answered_and_survives_a_reload() {
    let mut h = Harness::seated();
    h.auto_ack = false;
    let resign = |request| Input::Lobby { request, player_id: "b".into(), act: LobbyAct::Resign };
    h.input(resign(7));
    assert!(!h.replies.contains_key(&7), "no answer before the event is durable");
    h.ack_all();
    assert_eq!(h.replies[&7], vec![Reply::Done(Ok(3))]);
    h.input(resign(8));
    assert_eq!(h.replies[&8], vec![Reply::Done(Err(RoomError::MatchOver))]);
    h.auto_ack = true;
    h.reload();
    let over = Status::Over(Outcome { scores: vec![1, 0], winners: vec![0] });
    assert_eq!(h.room.state().status(), over);
    h.play(1, "a", 1, edge("h", 0, 0));
    assert!(verdicts(&h.take(1)).iter().all(|(_, v)| rejected("match_over")(v)));
}

#[test]
fn leave_and_cancel_are_for_matches_not_started() {
    let mut h = Harness::new(RoomSettings::default());
    let act = |request, who: &str, act| Input::Lobby { request, player_id: who.into(), act };
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    h.input(act(2, "b", LobbyAct::Leave));
    h.input(act(3, "a", LobbyAct::Resign));
    h.input(act(4, "a", LobbyAct::Leave));
    h.input(act(5, "a", LobbyAct::Cancel));
    assert_eq!(h.replies[&2], vec![Reply::Done(Err(RoomError::NotSeated))]);
    assert_eq!(h.replies[&3], vec![Reply::Done(Err(RoomError::NotStarted))]);
    assert_eq!(h.replies[&4], vec![Reply::Done(Ok(2))]);
    assert_eq!(h.replies[&5], vec![Reply::Done(Err(RoomError::NotCreator))], "no creator");
    assert_eq!(h.room.state().seats, vec![None, None]);
}

#[test]
fn a_match_timer_wins_over_the_servers() {
    let settings = RoomSettings { turn_timeout_ms: Some(1000), ..RoomSettings::default() };
    let timer = Some(crate::storage::TurnTimer {
        move_ms: 300,
        total_ms: None,
        on_expiry: crate::storage::Expiry::Pass,
    });
    let mut h = Harness::with_timer(settings, 1, 1, timer);
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    h.input(Input::TakeSeat { request: 2, player: player("b"), seat: None, bot: None });
    h.input(Input::Join { conn: 1, player: player("a"), role: Role::Player, from_seq: None });
    assert_eq!(h.room.poll_timeout(), Some(300));
    h.take(1);
    h.now = 300;
    h.input(Input::Timer);
    let msgs = h.take(1);
    assert!(matches!(&msgs[0], ServerMsg::Event(e) if e.seq == 3 && e.status == Status::Turn(1)));
    assert_eq!(h.room.poll_timeout(), Some(600));
    assert_eq!(h.room.state().timer, timer, "the timer comes from the creation record");
}

/// A seated 1×1 match (seats taken at 0) with this match timer and a spectator watching.
fn timed(timer: crate::storage::TurnTimer) -> Harness {
    let mut h = Harness::with_timer(RoomSettings::default(), 1, 1, Some(timer));
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    h.input(Input::TakeSeat { request: 2, player: player("b"), seat: None, bot: None });
    h.input(Input::Join { conn: 9, player: player("c"), role: Role::Spectator, from_seq: None });
    h.take(9);
    h
}

fn last_record(h: &Harness) -> Record {
    let bytes = h.durable.last().expect("a record");
    Record::decode(0, bytes).expect("decodes")
}

#[test]
fn a_forfeit_timer_ends_the_match_when_the_turn_runs_out() {
    use crate::storage::{Expiry, TurnTimer};
    let mut h = timed(TurnTimer { move_ms: 300, total_ms: None, on_expiry: Expiry::Forfeit });
    assert_eq!(h.room.poll_timeout(), Some(300), "it runs with only a spectator watching");
    h.now = 300;
    h.input(Input::Timer);
    assert_eq!(last_record(&h), Record::Forfeited { seat: 0, at_ms: Some(305) });
    let over = Status::Over(Outcome { scores: vec![0, 1], winners: vec![1] });
    assert_eq!(h.room.state().status(), over);
    assert!(matches!(&h.take(9)[..], [ServerMsg::Event(e)] if e.status == over));
    assert_eq!(h.room.poll_timeout(), None, "no clock once over (and a person watches)");
}

#[test]
fn a_spent_total_clock_forfeits_even_when_turns_pass() {
    use crate::storage::{Expiry, TurnTimer};
    let timer = TurnTimer { move_ms: 1000, total_ms: Some(1500), on_expiry: Expiry::Pass };
    let mut h = timed(timer);
    for now in [1000, 2000] {
        h.now = now;
        h.input(Input::Timer);
        assert!(matches!(last_record(&h), Record::Action { move_id: None, .. }), "a pass");
    }
    assert_eq!(h.room.state().used_ms, vec![1000, 1000]);
    assert_eq!(h.room.poll_timeout(), Some(2500), "a has 500 ms of its total left");
    h.now = 2500;
    h.input(Input::Timer);
    assert_eq!(last_record(&h), Record::Forfeited { seat: 0, at_ms: Some(2505) });
}

#[test]
fn a_turn_that_runs_out_while_no_room_is_loaded_expires_when_it_loads() {
    use crate::storage::{Expiry, TurnTimer};
    let mut h = timed(TurnTimer { move_ms: 1000, total_ms: None, on_expiry: Expiry::Forfeit });
    let records = h.stored();
    // A restart 5 s later: a new clock from 0, whose zero is 5 s after the seats filled.
    let settings = with_games(RoomSettings::default());
    h.room = Room::load("m1", &records, None, settings, 0).expect("the log replays").0;
    h.room.set_wall_base(5 + 5000);
    h.now = 0;
    h.drain();
    assert_eq!(h.room.poll_timeout(), Some(0), "overdue: now");
    h.input(Input::Timer);
    assert_eq!(last_record(&h), Record::Forfeited { seat: 0, at_ms: Some(5005) });
}

#[test]
fn a_fork_frees_its_seats_and_forgets_their_move_ids_after_a_reload() {
    let mut h = Harness::with_board(RoomSettings::default(), 2, 1);
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    h.input(Input::TakeSeat { request: 2, player: player("b"), seat: None, bot: None });
    h.input(Input::Join { conn: 1, player: player("a"), role: Role::Player, from_seq: None });
    h.play(1, "a", 1, edge("h", 0, 0));
    let decode = |s: &crate::storage::StoredRecord| Record::decode(s.seq, &s.bytes);
    let records: Vec<Record> = h.stored().iter().map(decode).collect::<Result<_, _>>().expect("ok");
    let settings = with_games(RoomSettings::default());
    let fork = Room::fork("f1".into(), records[0].clone(), &records[1..], settings, 0, None);
    h.room = fork.expect("forks");
    let before = h.durable.len();
    h.drain();
    assert_eq!(h.room.state().seats, vec![None, None], "every seat open");
    assert_eq!(h.durable.len() - before, 6, "creation, two seats, a move, two seats freed");
    let forked: Vec<crate::storage::StoredRecord> = h.stored()[before..]
        .iter()
        .enumerate()
        .map(|(seq, r)| crate::storage::StoredRecord { seq: seq as u64, bytes: r.bytes.clone() })
        .collect();
    let settings = with_games(RoomSettings::default());
    h.room = Room::load("f1", &forked, None, settings, 0).expect("the fork replays").0;
    h.durable.truncate(before);
    h.durable.extend(forked.into_iter().map(|r| r.bytes));
    h.input(Input::TakeSeat { request: 3, player: player("c"), seat: None, bot: None });
    h.input(Input::TakeSeat { request: 4, player: player("d"), seat: None, bot: None });
    h.input(Input::Join { conn: 3, player: player("c"), role: Role::Player, from_seq: None });
    h.take(3);
    // Seat 0's old holder used move id 1; for its new holder it is a new move, decided by
    // the rules (seat 1 is to move), not answered from memory as the old move's retry.
    h.play(3, "c", 1, edge("h", 1, 0));
    let got = verdicts(&h.take(3));
    assert!(got.len() == 1 && rejected("not_your_turn")(&got[0].1), "{got:?}");
}

/// A two-player light-cycles match at `tick_hz`, both seats taken and joined at time 10.
fn realtime(tick_hz: u32) -> Harness {
    realtime_with(RoomSettings::default(), tick_hz)
}

/// [`realtime`] with `settings`.
fn realtime_with(settings: RoomSettings, tick_hz: u32) -> Harness {
    let config = json!({"width": 16, "height": 16, "players": 2, "tick_hz": tick_hz});
    let mut h = Harness::with_game(settings, "lightcycles", config);
    h.now = 10;
    h.input(Input::TakeSeat { request: 1, player: player("a"), seat: None, bot: None });
    h.input(Input::TakeSeat { request: 2, player: player("b"), seat: None, bot: None });
    h.input(Input::Join { conn: 1, player: player("a"), role: Role::Player, from_seq: None });
    h.input(Input::Join { conn: 2, player: player("b"), role: Role::Player, from_seq: None });
    h.inbox.clear();
    h
}

fn turn(to: &str) -> Vec<u8> {
    mv(json!({"turn": to}))
}

/// The tick events a connection received: (seq, inputs as (seat, move)).
fn ticks(msgs: &[ServerMsg]) -> Vec<(u64, Vec<(u8, protocol::v1::Value)>)> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMsg::Event(e) => match &e.body {
                Some(EventBody::Tick(t)) => {
                    Some((e.seq, t.inputs.iter().map(|i| (i.seat, i.mv.clone())).collect()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn real_time_ticks_fall_due_from_the_clock_start_and_never_drift() {
    // 30 Hz from time 10: tick n is due at 10 + ceil(n × 1000 / 30).
    let mut h = realtime(30);
    assert_eq!(h.room.poll_timeout(), Some(44));
    h.now = 50; // woken 6 ms late
    h.input(Input::Timer);
    assert_eq!(ticks(&h.take(1)).len(), 1);
    assert_eq!(h.room.poll_timeout(), Some(77), "due from the start, not 34 ms after 50");
    h.now = 77;
    h.input(Input::Timer);
    assert_eq!(h.room.poll_timeout(), Some(110));
    h.now = 1000 + 10; // a stall of about 30 periods: one tick, then the next one due
    h.input(Input::Timer);
    assert_eq!(ticks(&h.take(1)).len(), 2);
    assert_eq!(h.room.poll_timeout(), Some(10 + 1034), "ticks missed past 4 are skipped");
}

#[test]
fn the_next_tick_says_its_number_and_deadline_and_follows_a_skip() {
    let mut h = realtime(30);
    assert_eq!(h.room.next_tick(), Some(NextTick { n: 1, due_ms: 44 }));
    h.now = 50;
    h.input(Input::Timer);
    assert_eq!(h.room.next_tick(), Some(NextTick { n: 2, due_ms: 77 }));
    h.now = 1010; // tick 2 runs a second late; the clock then jumps past the ticks missed
    h.input(Input::Timer);
    assert_eq!(h.room.next_tick(), Some(NextTick { n: 31, due_ms: 1044 }));
    assert_eq!(Harness::seated().room.next_tick(), None, "a turn-based match has no ticks");
}

#[test]
fn a_seats_last_input_before_a_tick_wins_and_the_earlier_is_answered_superseded() {
    let mut h = realtime(20);
    h.play(1, "a", 1, turn("left"));
    h.play(1, "a", 2, turn("right"));
    h.play(2, "b", 7, turn("left"));
    assert_eq!(
        verdicts(&h.take(1)).len(),
        1,
        "only the superseded one is answered before the tick"
    );
    h.now = 60;
    h.input(Input::Timer);
    let msgs = h.take(1);
    let ticked = ticks(&msgs);
    assert_eq!(ticked.len(), 1);
    let (seq, inputs) = &ticked[0];
    assert_eq!(inputs.iter().map(|i| i.0).collect::<Vec<_>>(), [0, 1], "one input per seat");
    assert_eq!(inputs[0].1, protocol::replica::decode_value(&turn("right")));
    assert_eq!(verdicts(&msgs), [(2, VerdictResult::Accepted { seq: *seq })]);
    let b = verdicts(&h.take(2));
    assert_eq!(b, [(7, VerdictResult::Accepted { seq: *seq })]);
    h.play(1, "a", 1, turn("left"));
    assert!(rejected("superseded")(&verdicts(&h.take(1))[0].1), "the retry gets its verdict");
}

#[test]
fn a_retried_input_waiting_for_its_tick_is_answered_once_on_the_retrying_connection() {
    let mut h = realtime(20);
    h.play(1, "a", 5, turn("left"));
    h.input(Input::Join { conn: 3, player: player("a"), role: Role::Player, from_seq: None });
    h.play(3, "a", 5, turn("left"));
    h.now = 60;
    h.input(Input::Timer);
    let msgs = h.take(3);
    let (seq, inputs) = ticks(&msgs).remove(0);
    assert_eq!(inputs.len(), 1, "gathered once");
    assert_eq!(verdicts(&msgs), [(5, VerdictResult::Accepted { seq })]);
    assert!(verdicts(&h.take(1)).is_empty(), "answered where it was retried");
}

#[test]
fn a_reloaded_real_time_match_replays_every_tick_to_the_same_hash() {
    let mut h = realtime(20);
    for (i, to) in ["left", "right", "right", "left"].iter().enumerate() {
        h.play(1 + (i % 2) as u64, ["a", "b"][i % 2], i as u64 + 1, turn(to));
        h.now += 50;
        h.input(Input::Timer);
    }
    let before = (h.room.m.head, h.room.m.state.state_hash());
    assert!(before.0 >= 6, "four ticks after creation and seats");
    h.reload();
    assert_eq!((h.room.m.head, h.room.m.state.state_hash()), before);
}

#[test]
fn a_tick_carries_its_inputs_move_ids_and_a_retry_after_a_reload_gets_its_verdict() {
    // Reloaded by replaying the tick, and from a snapshot taken after it.
    for snapshot_every in [0, 1] {
        retried_tick_input_after_a_reload(RoomSettings { snapshot_every, ..Default::default() });
    }
}

fn retried_tick_input_after_a_reload(settings: RoomSettings) {
    let mut h = realtime_with(settings, 20);
    h.play(1, "a", 41, turn("left"));
    h.play(2, "b", 42, turn("right"));
    h.now = 60;
    h.input(Input::Timer);
    let msgs = h.take(1);
    let ids: Vec<Option<u64>> = msgs
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Event(e) => match &e.body {
                Some(EventBody::Tick(t)) => {
                    Some(t.inputs.iter().map(|i| i.move_id).collect::<Vec<_>>())
                }
                _ => None,
            },
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(ids, [Some(41), Some(42)], "each input names its move id");
    let [(_, VerdictResult::Accepted { seq })] = verdicts(&msgs)[..] else {
        panic!("a's input is accepted at the tick");
    };
    let head = h.room.m.head;
    h.reload();
    h.play(1, "a", 41, turn("left"));
    assert_eq!(verdicts(&h.take(1)), [(41, VerdictResult::Accepted { seq })]);
    h.now = 120;
    h.input(Input::Timer);
    assert_eq!(ticks(&h.take(1)).pop().map(|t| t.1.len()), Some(0), "not gathered again");
    assert_eq!(h.room.m.head, head + 1);
}

#[test]
fn a_move_over_http_to_a_real_time_match_nobody_watches_ticks_and_is_answered() {
    let mut h = realtime(20);
    for conn in [1, 2] {
        h.input(Input::Leave { conn });
    }
    h.now = 5_000;
    assert_eq!(h.room.poll_timeout(), Some(10 + 60_000), "unwatched: no clock, only unloading");
    let from = Client::Request(77);
    h.input(Input::Move { from, player_id: "a".into(), move_id: 1, mv: turn("left") });
    assert!(!h.room.is_idle(), "a waiting move keeps the room loaded");
    assert_eq!(h.room.poll_timeout(), Some(5_050), "the clock starts for it");
    h.now = 5_050;
    h.input(Input::Timer);
    let head = h.room.m.head;
    assert_eq!(
        h.replies.get(&77),
        Some(&vec![Reply::Verdict(VerdictResult::Accepted { seq: head })])
    );
    assert!(h.room.is_idle(), "answered: nothing keeps it loaded");
    assert_eq!(h.room.poll_timeout(), Some(5_050 + 60_000), "and the clock stops again");
}

#[test]
fn a_resignation_answers_the_inputs_waiting_for_the_next_tick() {
    let mut h = realtime(20);
    h.play(1, "a", 8, turn("left"));
    let from = Client::Request(77);
    h.input(Input::Move { from, player_id: "b".into(), move_id: 9, mv: turn("right") });
    h.input(Input::Lobby { request: 5, player_id: "b".into(), act: LobbyAct::Resign });
    assert!(rejected("match_over")(&verdicts(&h.take(1))[0].1), "a's input is answered");
    let b = h.replies.get(&77).cloned().unwrap_or_default();
    assert!(
        matches!(&b[..], [Reply::Verdict(VerdictResult::Rejected(e))] if e.code == "match_over")
    );
    assert_eq!(h.room.poll_timeout(), None, "over: no clock runs, and people still watch");
}
