//! One contract, two implementations: every test here runs against the disk log and memory.

use std::sync::Arc;

use super::*;

/// A listing for tests (the disk log's own tests use it too).
pub(crate) fn summary(match_id: &str, status: MatchStatus, created_at_ms: u64) -> MatchSummary {
    MatchSummary {
        match_id: match_id.into(),
        game: "dots".into(),
        status,
        seats: vec![None, None],
        head_seq: 0,
        created_at_ms,
        outcome: None,
        private: false,
        timer: None,
        forked_from: None,
    }
}

fn append(match_id: &str, first_seq: u64, n: usize, status: MatchStatus) -> Append {
    let records = (0..n).map(|i| vec![first_seq as u8, i as u8]).collect();
    Append { match_id: match_id.into(), first_seq, records, summary: summary(match_id, status, 1) }
}

fn block(ticket: AppendTicket) -> Result<(), AppendError> {
    ticket.blocking_recv().unwrap_or(Err(AppendError::Closed))
}

/// A disk log in `dir` with default segments, durability as given.
fn disk(dir: &std::path::Path, durability: Durability) -> DiskLog {
    let options = DiskOptions {
        durability,
        segment_bytes: SEGMENT_BYTES,
        pacing: Pacing::Eager,
        observer: Arc::new(NoObserver),
        summarize: Arc::new(|id, _| Ok(summary(id, MatchStatus::Open, 0))),
        rebuild: false,
    };
    DiskLog::open(dir, options).expect("opens")
}

/// Runs `check` against a fresh disk log in a temp dir and a fresh memory log.
fn both(check: impl Fn(&dyn EventLog)) {
    let dir = tempfile::tempdir().expect("temp dir");
    check(&disk(dir.path(), Durability::Full));
    check(&MemoryLog::new());
}

#[test]
fn appends_read_back_in_order() {
    both(|log| {
        block(log.append(append("m1", 0, 3, MatchStatus::Open))).expect("first append");
        block(log.append(append("m1", 3, 2, MatchStatus::Live))).expect("second append");
        let all = read_all(log, "m1").expect("reads");
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert_eq!(all[3].bytes, vec![3, 0]);
        let page = log.read("m1", 2, 2).expect("reads");
        assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert!(log.read("nope", 0, 10).expect("reads").is_empty());
        let summary = log.summary("m1").expect("reads").expect("exists");
        assert_eq!((summary.status, summary.head_seq), (MatchStatus::Live, 4));
        let listed = log.list(&ListFilter { limit: 5, ..ListFilter::default() }).expect("lists");
        assert_eq!(listed[0].head_seq, 4);
    });
}

#[test]
fn gaps_and_second_writers_are_refused_whole() {
    both(|log| {
        block(log.append(append("m1", 0, 2, MatchStatus::Open))).expect("first append");
        let gap = block(log.append(append("m1", 3, 1, MatchStatus::Open)));
        assert_eq!(
            gap,
            Err(AppendError::SeqConflict { match_id: "m1".into(), expected: 2, got: 3 })
        );
        let stale = block(log.append(append("m1", 1, 2, MatchStatus::Open)));
        assert!(matches!(stale, Err(AppendError::SeqConflict { expected: 2, got: 1, .. })));
        let fresh = block(log.append(append("m2", 1, 1, MatchStatus::Open)));
        assert!(matches!(fresh, Err(AppendError::SeqConflict { expected: 0, .. })));
        assert_eq!(
            block(log.append(append("m1", 2, 0, MatchStatus::Open))),
            Err(AppendError::Empty)
        );
        assert_eq!(read_all(log, "m1").expect("reads").len(), 2, "failed appends wrote nothing");
        assert_eq!(log.summary("m2").expect("reads"), None);
    });
}

#[test]
fn listing_filters_and_orders_newest_first() {
    both(|log| {
        for (id, status, at) in [
            ("a", MatchStatus::Open, 1),
            ("b", MatchStatus::Finished, 2),
            ("c", MatchStatus::Open, 3),
        ] {
            let mut a = append(id, 0, 1, status);
            a.summary = summary(id, status, at);
            block(log.append(a)).expect("append");
        }
        let open =
            ListFilter { status: Some(MatchStatus::Open), limit: 10, ..ListFilter::default() };
        let ids = |f: &ListFilter| {
            log.list(f).expect("lists").into_iter().map(|s| s.match_id).collect::<Vec<_>>()
        };
        assert_eq!(ids(&open), vec!["c", "a"]);
        assert_eq!(ids(&ListFilter { limit: 2, ..ListFilter::default() }), vec!["c", "b"]);
        assert!(
            ids(&ListFilter { game: Some("chess".into()), limit: 10, ..ListFilter::default() })
                .is_empty()
        );
        assert_eq!(log.unfinished().expect("reads"), vec!["a", "c"]);
        let after_c = ListCursor { created_at_ms: 3, match_id: "c".into() };
        let page = ListFilter { limit: 1, after: Some(after_c), ..ListFilter::default() };
        assert_eq!(ids(&page), vec!["b"]);
        let after_b = ListCursor { created_at_ms: 2, match_id: "b".into() };
        let page = ListFilter { limit: 5, after: Some(after_b), ..ListFilter::default() };
        assert_eq!(ids(&page), vec!["a"]);
    });
}

#[test]
fn appends_after_close_fail_as_closed() {
    both(|log| {
        log.close();
        assert_eq!(
            block(log.append(append("m1", 0, 1, MatchStatus::Open))),
            Err(AppendError::Closed)
        );
    });
}

#[test]
fn group_commit_batches_concurrent_appends_and_keeps_each_verdict() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = disk(dir.path(), Durability::Normal);
    // Queue many appends before waiting on any: the writer commits them in few transactions,
    // and the one bad append among them fails alone.
    let mut tickets = Vec::new();
    for m in 0..200 {
        tickets.push(log.append(append(&format!("m{m}"), 0, 2, MatchStatus::Open)));
    }
    tickets.push(log.append(append("m7", 5, 1, MatchStatus::Open)));
    let results: Vec<_> = tickets.into_iter().map(block).collect();
    assert!(results[..200].iter().all(Result::is_ok));
    assert!(matches!(results[200], Err(AppendError::SeqConflict { .. })));
    assert_eq!(read_all(&log, "m7").expect("reads").len(), 2);
}

#[test]
fn disk_survives_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let log = disk(dir.path(), Durability::Full);
        block(log.append(append("m1", 0, 3, MatchStatus::Live))).expect("append");
    }
    let log = disk(dir.path(), Durability::Full);
    assert_eq!(read_all(&log, "m1").expect("reads").len(), 3);
    block(log.append(append("m1", 3, 1, MatchStatus::Live))).expect("continues at the head");
    assert_eq!(log.unfinished().expect("reads"), vec!["m1"]);
}

#[test]
fn a_players_matches_are_those_they_hold_a_seat_in_newest_first() {
    both(|log| {
        let ada = SeatHolder { player_id: "ada".into(), name: "Ada".into(), bot: None };
        for (id, at, seated) in [("m1", 1, true), ("m2", 2, false), ("m3", 3, true)] {
            let mut a = append(id, 0, 1, MatchStatus::Live);
            a.summary = summary(id, MatchStatus::Live, at);
            if seated {
                a.summary.seats[1] = Some(ada.clone());
            }
            block(log.append(a)).expect("append");
        }
        let ids = |limit| {
            let found = log.player_matches("ada", limit).expect("reads");
            found.into_iter().map(|s| s.match_id).collect::<Vec<_>>()
        };
        assert_eq!(ids(10), vec!["m3", "m1"]);
        assert_eq!(ids(1), vec!["m3"]);
        // A seat given up is no longer the player's.
        let mut left = append("m3", 1, 1, MatchStatus::Open);
        left.summary = summary("m3", MatchStatus::Open, 3);
        block(log.append(left)).expect("append");
        assert_eq!(ids(10), vec!["m1"]);
        assert!(log.player_matches("nobody", 10).expect("reads").is_empty());
    });
}

fn snapshot_of(match_id: &str, seq: u64) -> StateSnapshot {
    StateSnapshot {
        match_id: match_id.into(),
        seq,
        rules_version: 1,
        state_hash: 0xfeed_0000 + seq,
        state: vec![seq as u8; 3],
    }
}

#[test]
fn the_latest_snapshot_of_each_match_is_kept() {
    both(|log| {
        assert_eq!(log.snapshot("m1").expect("reads"), None);
        log.put_snapshot(snapshot_of("m1", 10));
        log.put_snapshot(snapshot_of("m2", 5));
        log.put_snapshot(snapshot_of("m1", 20));
        assert_eq!(log.snapshot("m1").expect("reads"), Some(snapshot_of("m1", 20)));
        assert_eq!(log.snapshot("m2").expect("reads"), Some(snapshot_of("m2", 5)));
    });
}

#[test]
fn snapshots_outlive_a_restart_of_the_disk_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = disk(dir.path(), Durability::Full);
    log.put_snapshot(snapshot_of("m1", 7));
    log.close();
    drop(log);
    let log = disk(dir.path(), Durability::Full);
    assert_eq!(log.snapshot("m1").expect("reads"), Some(snapshot_of("m1", 7)));
}
