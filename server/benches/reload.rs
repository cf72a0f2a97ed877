//! Reload time of a long match: a room rebuilt from a 100,000-event log on the durable disk
//! log, replayed from its creation and from its latest snapshot (as `--snapshot-every 1000`
//! leaves it: at most 999 events behind the head).
//!
//! `cargo bench -p server --bench reload`
//!
//! The game is defined here: a board of 4,096 counters that each move increments, so a state
//! hash reads 8 KiB, about what a mid-sized board game's does. No built-in game runs 100,000
//! events (a light cycles match ends within 4,096 ticks), and games are a library: a bench
//! registers its own like any embedder.
#![allow(missing_docs)]
#![allow(clippy::print_stdout)] // A bench prints its figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use game_rules::{
    ConfigError, Game, Games, RuleError, Seat, SnapshotError, StateHasher, Status, Viewer,
};
use serde::{Deserialize, Serialize};
use server::room::{Room, RoomSettings};
use server::storage::{
    Append, DiskLog, DiskOptions, Durability, EventLog, Lobby, MatchStatus, MatchSummary,
    NoObserver, Pacing, Record, SEGMENT_BYTES, SeatHolder, StateSnapshot, StoredRecord, read_all,
};

const EVENTS: u64 = 100_000;
const SNAPSHOT_EVERY: u64 = 1_000;
const CELLS: usize = 4_096;
const RUNS: usize = 5;

struct Tally;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Config {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Bump {
    cell: u16,
}

#[derive(Serialize, Deserialize)]
struct Board {
    cells: Vec<u16>,
    to_move: Seat,
}

impl Game for Tally {
    const ID: &'static str = "tally";
    const NAME: &'static str = "Tally";
    const RULES_VERSION: u32 = 1;
    const MIN_SEATS: u8 = 2;
    const MAX_SEATS: u8 = 2;
    type Config = Config;
    type State = Board;
    type Move = Bump;
    type View = Vec<u16>;

    fn initial(_: &Config, _: u64) -> Result<Board, ConfigError> {
        Ok(Board { cells: vec![0; CELLS], to_move: 0 })
    }
    fn validate(board: &Board, seat: Seat, mv: &Bump) -> Result<(), RuleError> {
        if seat != board.to_move {
            return Err(RuleError::NotYourTurn { seat, to_move: board.to_move });
        }
        if usize::from(mv.cell) >= CELLS {
            return Err(RuleError::OutOfRange { what: format!("cell {}", mv.cell) });
        }
        Ok(())
    }
    fn apply(board: &mut Board, seat: Seat, mv: &Bump) {
        let cell = &mut board.cells[usize::from(mv.cell)];
        *cell = cell.wrapping_add(1);
        board.to_move = 1 - seat;
    }
    fn tick(_: &mut Board, _: &[(Seat, Bump)]) {}
    fn legal_moves(board: &Board, _: Seat) -> Vec<Bump> {
        vec![Bump { cell: board.cells[0] % CELLS as u16 }]
    }
    fn view(board: &Board, _: Viewer) -> Vec<u16> {
        board.cells.clone()
    }
    fn status(board: &Board) -> Status {
        Status::Turn(board.to_move)
    }
    fn hash(board: &Board, h: &mut StateHasher) {
        board.cells.iter().for_each(|c| h.write_u16(*c));
        h.write_u8(board.to_move);
    }
    fn snapshot(board: &Board) -> Option<Vec<u8>> {
        rmp_serde::to_vec(board).ok()
    }
    fn restore(_: &Config, bytes: &[u8]) -> Result<Board, SnapshotError> {
        let malformed =
            |e: rmp_serde::decode::Error| SnapshotError::Malformed { reason: e.to_string() };
        let board: Board = rmp_serde::from_slice(bytes).map_err(malformed)?;
        let fits = board.cells.len() == CELLS && board.to_move < 2;
        fits.then_some(board).ok_or(SnapshotError::Malformed { reason: "wrong size".into() })
    }
}

fn settings(games: &Games) -> RoomSettings {
    RoomSettings { games: games.clone(), snapshot_every: SNAPSHOT_EVERY, ..RoomSettings::default() }
}

/// The records of a match of `EVENTS` events: creation, two seats, then moves.
fn records(games: &Games) -> Vec<Vec<u8>> {
    let config = rmp_serde::to_vec_named(&Config {}).expect("encodes");
    let mut m = games.find("tally").expect("registered").new_match(&config, 0).expect("starts");
    let created = Record::Created {
        game: "tally".into(),
        rules_version: 1,
        config,
        seed: 0,
        seats: 2,
        created_at_ms: 0,
        lobby: Lobby::default(),
        timer: None,
    };
    let mut all = vec![created.encode()];
    for (seat, who) in [(0, "a"), (1, "b")] {
        let (player_id, name) = (who.to_string(), who.to_uppercase());
        all.push(Record::Seated { seat, player_id, name, bot: None, at_ms: Some(1) }.encode());
    }
    for n in 3..EVENTS {
        let seat = (n % 2) as Seat ^ 1;
        let mv = rmp_serde::to_vec_named(&Bump { cell: (n * 7919 % CELLS as u64) as u16 })
            .expect("encodes");
        let action = m.play(seat, &mv).expect("legal");
        let state_hash = Some(m.state_hash().0);
        let input_ids = Vec::new();
        let record =
            Record::Action { action, move_id: Some(n), at_ms: Some(n), state_hash, input_ids };
        all.push(record.encode());
    }
    all
}

fn summary(id: &str) -> MatchSummary {
    let holder = |p: &str| Some(SeatHolder { player_id: p.into(), name: p.into(), bot: None });
    MatchSummary {
        match_id: id.into(),
        game: "tally".into(),
        status: MatchStatus::Live,
        seats: vec![holder("a"), holder("b")],
        head_seq: EVENTS - 1,
        created_at_ms: 0,
        outcome: None,
        private: false,
        timer: None,
        forked_from: None,
    }
}

fn open(dir: &std::path::Path) -> DiskLog {
    let options = DiskOptions {
        durability: Durability::Normal,
        segment_bytes: SEGMENT_BYTES,
        pacing: Pacing::Eager,
        observer: Arc::new(NoObserver),
        summarize: Arc::new(|id, _| Ok(summary(id))),
        rebuild: false,
    };
    DiskLog::open(dir, options).expect("opens")
}

/// Writes the match in commits of 1,000 records.
fn write(log: &DiskLog, records: Vec<Vec<u8>>) {
    for (n, chunk) in records.chunks(1_000).enumerate() {
        let append = Append {
            match_id: "long".into(),
            first_seq: (n * 1_000) as u64,
            records: chunk.to_vec(),
            summary: summary("long"),
        };
        log.append(append).blocking_recv().expect("answered").expect("appended");
    }
}

/// One reload as a room's driver does it: read the log and the snapshot, rebuild the room.
fn reload(log: &DiskLog, games: &Games, snapshot: Option<&StateSnapshot>) -> (Duration, Duration) {
    let began = Instant::now();
    let records: Vec<StoredRecord> = read_all(log, "long").expect("reads");
    let _ = log.snapshot("long").expect("reads");
    let read = began.elapsed();
    let (room, loaded) = Room::load("long", &records, snapshot, settings(games), 0).expect("loads");
    assert_eq!(room.state().head, EVENTS - 1);
    let expected = if snapshot.is_some() { SNAPSHOT_EVERY - 1 } else { EVENTS };
    assert_eq!(loaded.replayed, expected, "replayed from where it should");
    (read, began.elapsed())
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() {
    let games = Games::new().with::<Tally>();
    let dir = tempfile::tempdir().expect("temp dir");
    let log = open(dir.path());
    write(&log, records(&games));
    // The snapshot a room snapshotting every 1,000 events leaves: the state at seq 99,000.
    let stored = read_all(&log, "long").expect("reads");
    let upto = (EVENTS - SNAPSHOT_EVERY + 1) as usize;
    let (replayed, _) =
        Room::load("long", &stored[..upto], None, settings(&games), 0).expect("loads");
    let snapshot = replayed.state().snapshot("long").expect("tally keeps snapshots");
    println!(
        "reload of a {EVENTS}-event match (median of {RUNS}), snapshot at seq {}:",
        snapshot.seq
    );
    println!("| from | read log | total | events replayed under the rules |");
    println!("|---|---|---|---|");
    for (label, snap, replayed) in
        [("creation", None, EVENTS), ("snapshot", Some(&snapshot), EVENTS - 1 - snapshot.seq)]
    {
        let runs: Vec<(Duration, Duration)> =
            (0..RUNS).map(|_| reload(&log, &games, snap)).collect();
        let read = median(runs.iter().map(|r| r.0).collect());
        let total = median(runs.iter().map(|r| r.1).collect());
        println!("| {label} | {read:.1?} | {total:.1?} | {replayed} |");
    }
    log.close();
}
