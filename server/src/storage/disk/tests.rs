//! The disk log on real files: restarts, torn tails, flipped bits, lost commits, segment
//! rollover, projections rebuilt, and a version 3 data dir migrated.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::storage::contract::summary;
use crate::storage::{MatchStatus, NoObserver, read_all};

/// Small segments, so a few commits roll over.
const SMALL: usize = 1024;

fn options(rebuild: bool) -> DiskOptions {
    DiskOptions {
        durability: Durability::Full,
        segment_bytes: SMALL,
        pacing: Pacing::Eager,
        observer: Arc::new(NoObserver),
        summarize: Arc::new(|id, records| {
            let mut s = summary(id, MatchStatus::Live, 1);
            s.head_seq = records.len() as u64 - 1;
            s.game = "rebuilt".into();
            Ok(s)
        }),
        rebuild,
    }
}

fn open(dir: &Path) -> DiskLog {
    DiskLog::open(dir, options(false)).expect("opens")
}

fn append(log: &DiskLog, id: &str, first_seq: u64, bodies: &[&[u8]]) {
    let records = bodies.iter().map(|b| b.to_vec()).collect();
    let append = Append {
        match_id: id.into(),
        first_seq,
        records,
        summary: summary(id, MatchStatus::Live, 1),
    };
    log.append(append).blocking_recv().expect("answered").expect("appended");
}

/// Three matches of `per_match` records each, written one commit per record.
fn fill(dir: &Path, per_match: u64) -> Vec<(String, Vec<Vec<u8>>)> {
    let log = open(dir);
    let mut all: Vec<(String, Vec<Vec<u8>>)> =
        (0..3).map(|m| (format!("m{m}"), Vec::new())).collect();
    for seq in 0..per_match {
        for (id, bodies) in &mut all {
            let body = format!("{id}-{seq}").into_bytes();
            append(&log, id, seq, &[&body]);
            bodies.push(body);
        }
    }
    all
}

fn bodies(log: &DiskLog, id: &str) -> Vec<Vec<u8>> {
    read_all(log, id).expect("reads").into_iter().map(|r| r.bytes).collect()
}

fn segment(dir: &Path, n: u64) -> std::path::PathBuf {
    files::segment_path(&dir.join("log"), n)
}

/// The newest segment holding records (a zero-filled one may follow it).
fn last_written(dir: &Path) -> u64 {
    let numbers = files::list(&dir.join("log")).expect("lists");
    *numbers
        .iter()
        .rev()
        .find(|&&n| {
            let bytes = std::fs::read(segment(dir, n)).expect("reads");
            bytes.iter().skip(16).any(|&b| b != 0)
        })
        .expect("a written segment")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("log")).expect("mkdir");
    for name in ["arbiter.db", "arbiter.db-wal", "arbiter.db-shm"] {
        if from.join(name).exists() {
            std::fs::copy(from.join(name), to.join(name)).expect("copies");
        }
    }
    for entry in std::fs::read_dir(from.join("log")).expect("lists") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join("log").join(entry.file_name())).expect("copies");
    }
}

#[test]
fn records_survive_a_restart_and_the_chain_continues_across_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let all = fill(dir.path(), 10);
    let log = open(dir.path());
    for (id, expected) in &all {
        assert_eq!(&bodies(&log, id), expected);
    }
    append(&log, "m0", 10, &[b"after"]);
    drop(log);
    let log = open(dir.path());
    assert_eq!(bodies(&log, "m0").len(), 11);
    assert_eq!(log.damage(), LogDamage::default());
    assert!(std::fs::read_dir(dir.path().join("log")).expect("lists").count() > 2, "rolled over");
    assert_eq!(log.summary("m1").expect("reads").map(|s| s.head_seq), Some(9));
}

#[test]
fn a_torn_last_commit_is_cut_at_every_byte_and_nothing_before_it_is_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let all = fill(dir.path(), 3);
    // One more commit, whose bytes are then cut at each offset.
    let last = last_written(dir.path());
    let before = std::fs::read(segment(dir.path(), last)).expect("reads");
    append(&open(dir.path()), "m2", 3, &[b"torn"]);
    assert_eq!(last_written(dir.path()), last, "the commit went into the same segment");
    let after = std::fs::read(segment(dir.path(), last)).expect("reads");
    let changed: Vec<usize> = (0..after.len()).filter(|&i| before[i] != after[i]).collect();
    let (first, end) = (changed[0], changed[changed.len() - 1] + 1);
    for cut in first..end {
        let copy = tempfile::tempdir().expect("temp dir");
        copy_dir(dir.path(), copy.path());
        let mut bytes = after.clone();
        bytes[cut..end].fill(0);
        std::fs::write(segment(copy.path(), last), &bytes).expect("writes");
        // The projections never saw the torn commit: it was not acknowledged.
        let conn = projection::connect(&copy.path().join("arbiter.db")).expect("opens");
        conn.execute("UPDATE matches SET head_seq = 2 WHERE match_id = 'm2'", []).expect("sets");
        drop(conn);
        let log = open(copy.path());
        assert_eq!(log.damage(), LogDamage::default(), "cut at {cut}");
        for (id, expected) in &all {
            assert_eq!(&bodies(&log, id), expected, "cut at {cut}");
        }
        append(&log, "m2", 3, &[b"again"]);
        drop(log);
        assert_eq!(bodies(&open(copy.path()), "m2").len(), 4, "cut at {cut}");
    }
}

#[test]
fn a_commit_lost_whole_quarantines_its_match_instead_of_serving_an_older_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    fill(dir.path(), 3);
    let last = last_written(dir.path());
    let before = std::fs::read(segment(dir.path(), last)).expect("reads");
    append(&open(dir.path()), "m1", 3, &[b"acknowledged"]);
    assert_eq!(last_written(dir.path()), last, "the commit went into the same segment");
    std::fs::write(segment(dir.path(), last), &before).expect("writes");
    let log = open(dir.path());
    let why = log.quarantined("m1").expect("quarantined");
    assert!(why.contains("4 were acknowledged"), "{why}");
    assert_eq!(bodies(&log, "m1").len(), 3, "what is left stays readable");
    assert!(log.quarantined("m0").is_none());
    let refused = log
        .append(Append {
            match_id: "m1".into(),
            first_seq: 3,
            records: vec![b"x".to_vec()],
            summary: summary("m1", MatchStatus::Live, 1),
        })
        .blocking_recv()
        .expect("answered");
    assert!(matches!(refused, Err(AppendError::Damaged { .. })), "{refused:?}");
    append(&log, "m0", 3, &[b"others go on"]);
}

#[test]
fn a_second_writer_of_one_data_dir_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = open(dir.path());
    let second = DiskLog::open(dir.path(), options(false)).err().expect("refused");
    assert!(second.to_string().contains("in use by another Arbiter"), "{second}");
    first.close();
    drop(open(dir.path()));
}

#[test]
fn a_damaged_projection_database_is_set_aside_and_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let all = fill(dir.path(), 4);
    let db = dir.path().join("arbiter.db");
    let mut bytes = std::fs::read(&db).expect("reads");
    for b in bytes.iter_mut().step_by(97) {
        *b ^= 0x55;
    }
    std::fs::write(&db, bytes).expect("writes");
    let log = open(dir.path());
    assert!(dir.path().join("arbiter.db.damaged").exists(), "the damaged file is kept");
    let listed = log.list(&ListFilter { limit: 10, ..ListFilter::default() }).expect("lists");
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(bodies(&log, "m1"), all[1].1);
    assert_eq!(log.damage(), LogDamage::default(), "the log itself is whole");
}

#[test]
fn projections_are_rebuilt_from_the_log_on_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    fill(dir.path(), 4);
    let log = DiskLog::open(dir.path(), options(true)).expect("opens");
    let listed = log.list(&ListFilter { limit: 10, ..ListFilter::default() }).expect("lists");
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|s| s.game == "rebuilt" && s.head_seq == 3), "{listed:?}");
}

#[test]
fn a_version_3_database_is_moved_into_segments() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = rusqlite::Connection::open(dir.path().join("arbiter.db")).expect("opens");
    conn.execute_batch(
        "CREATE TABLE matches (match_no INTEGER PRIMARY KEY, match_id TEXT NOT NULL UNIQUE,
            game TEXT NOT NULL, status TEXT NOT NULL, created_at_ms INTEGER NOT NULL,
            summary BLOB NOT NULL);
         CREATE INDEX matches_by_status ON matches (status, created_at_ms);
         CREATE TABLE events (pos INTEGER PRIMARY KEY, match_no INTEGER NOT NULL,
            seq INTEGER NOT NULL, record BLOB NOT NULL);
         CREATE TABLE event_index (match_no INTEGER NOT NULL, seq INTEGER NOT NULL,
            pos INTEGER NOT NULL, PRIMARY KEY (match_no, seq)) WITHOUT ROWID;
         CREATE TABLE index_head (upto INTEGER NOT NULL);
         INSERT INTO index_head VALUES (0);
         PRAGMA user_version = 3;",
    )
    .expect("a version 3 schema");
    for (no, id, status) in [(1i64, "old1", MatchStatus::Finished), (2, "old2", MatchStatus::Live)]
    {
        let blob = rmp_serde::to_vec_named(&summary(id, status, no as u64)).expect("encodes");
        conn.execute(
            "INSERT INTO matches VALUES (?1, ?2, 'dots', ?3, ?4, ?5)",
            rusqlite::params![no, id, status.as_str(), no, blob],
        )
        .expect("inserts");
        for seq in 0..5 {
            let record = format!("{id}/{seq}").into_bytes();
            conn.execute(
                "INSERT INTO events (match_no, seq, record) VALUES (?1, ?2, ?3)",
                rusqlite::params![no, seq, record],
            )
            .expect("inserts");
        }
    }
    drop(conn);
    let log = open(dir.path());
    assert_eq!(bodies(&log, "old2")[4], b"old2/4".to_vec());
    assert_eq!(log.unfinished().expect("reads"), vec!["old2"]);
    let old1 = log.summary("old1").expect("reads").expect("listed");
    assert_eq!((old1.status, old1.head_seq), (MatchStatus::Finished, 4));
    append(&log, "old2", 5, &[b"new"]);
    drop(log);
    let log = open(dir.path());
    assert_eq!(bodies(&log, "old2").len(), 6);
    assert_eq!(log.damage(), LogDamage::default());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// One flipped bit anywhere in the written segments is found: every match still serves
    /// exactly what was written, or a prefix of it and is quarantined; the log reports the
    /// damage; other matches serve on.
    #[test]
    fn a_flipped_bit_in_a_segment_file_is_detected_and_contained(pick in any::<u64>(), bit in 0..8u8) {
        let dir = tempfile::tempdir().expect("temp dir");
        let all = fill(dir.path(), 6);
        let numbers = files::list(&dir.path().join("log")).expect("lists");
        let written: Vec<(u64, usize)> = numbers
            .iter()
            .map(|&n| {
                let bytes = std::fs::read(segment(dir.path(), n)).expect("reads");
                (n, bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1))
            })
            .filter(|&(_, end)| end > 16)
            .collect();
        let total: usize = written.iter().map(|(_, end)| end).sum();
        let mut at = (pick % total as u64) as usize;
        let (n, offset) = written
            .iter()
            .find_map(|&(n, end)| if at < end { Some((n, at)) } else { at -= end; None })
            .expect("in range");
        let path = segment(dir.path(), n);
        let mut bytes = std::fs::read(&path).expect("reads");
        bytes[offset] ^= 1 << bit;
        std::fs::write(&path, &bytes).expect("writes");
        let log = open(dir.path());
        prop_assert!(log.damage() != LogDamage::default(), "a flip in segment {} at {} went unnoticed", n, offset);
        for (id, expected) in &all {
            let served = bodies(&log, id);
            prop_assert!(expected.starts_with(&served), "{} served a changed history", id);
            if served.len() < expected.len() {
                prop_assert!(log.quarantined(id).is_some(), "{} lost records silently", id);
            }
        }
    }
}

#[test]
fn a_version_4_database_gains_the_snapshots_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let all = fill(dir.path(), 3);
    {
        let conn = rusqlite::Connection::open(dir.path().join("arbiter.db")).expect("opens");
        conn.execute_batch("DROP TABLE snapshots; PRAGMA user_version = 4;").expect("downgrades");
    }
    let log = open(dir.path());
    assert_eq!(read_all(&log, "m1").expect("reads").len(), all[1].1.len());
    let snapshot = crate::storage::StateSnapshot {
        match_id: "m1".into(),
        seq: 2,
        rules_version: 1,
        state_hash: 7,
        state: vec![1, 2],
    };
    log.put_snapshot(snapshot.clone());
    log.close();
    drop(log);
    assert_eq!(open(dir.path()).snapshot("m1").expect("reads"), Some(snapshot));
}

#[test]
fn nearby_records_are_read_in_runs_and_far_ones_apart() {
    let loc = |segment, offset, len| Loc { segment, offset, len };
    let locs = [
        loc(1, 0, 100),
        loc(1, 150, 100),        // a small gap: same run
        loc(1, 10_000, 100),     // far: a new run
        loc(2, 10_100, 100),     // another segment: a new run
        loc(2, 10_200, 2 << 20), // past the span cap: a new run
    ];
    let runs: Vec<usize> = runs(&locs).map(<[Loc]>::len).collect();
    assert_eq!(runs, vec![2, 1, 1, 1]);
}
