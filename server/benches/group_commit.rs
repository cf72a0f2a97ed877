//! Group commit cost on the durable disk log: process CPU per append and per commit when
//! each commit carries K appends of K different live matches (100 live matches, one record
//! of a typical size each, `fdatasync` per commit, a temp dir on this machine's disk).
//!
//! `cargo bench -p server --bench group_commit`
//!
//! CPU is read from `/proc/self/stat` (Linux); the figure counts the writer thread and the
//! waiting thread alike, as the server's CPU per move does.
#![allow(missing_docs)]
#![allow(clippy::print_stdout)] // A bench prints its figures.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use server::storage::{
    Append, CommitObserver, DiskLog, DiskOptions, Durability, EventLog, MatchStatus, MatchSummary,
    Pacing, SEGMENT_BYTES,
};

const MATCHES: usize = 100;
const RECORD_BYTES: usize = 120;
const RUN: Duration = Duration::from_secs(3);

#[derive(Default)]
struct Commits(AtomicU64);

impl CommitObserver for Commits {
    fn committed(&self, _appends: usize, _records: usize, _micros: u64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat (Linux)");
    let rest = &stat[stat.rfind(')').expect("stat line") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields[i].parse::<u64>().expect("a number");
    field(11) + field(12)
}

fn summary(match_id: &str) -> MatchSummary {
    MatchSummary {
        match_id: match_id.into(),
        game: "dots".into(),
        status: MatchStatus::Live,
        seats: vec![None, None],
        head_seq: 0,
        created_at_ms: 1,
        outcome: None,
        private: false,
        timer: None,
        forked_from: None,
    }
}

fn main() {
    println!("appends/commit  commits  CPU µs/commit  CPU µs/append  wall µs/commit");
    for k in [1usize, 5, 20, 100] {
        let dir = tempfile::tempdir().expect("temp dir");
        let commits = Arc::new(Commits::default());
        let options = DiskOptions {
            durability: Durability::Full,
            segment_bytes: SEGMENT_BYTES,
            pacing: Pacing::Eager,
            observer: commits.clone(),
            summarize: Arc::new(|id, _| Ok(summary(id))),
            rebuild: false,
        };
        let log = DiskLog::open(dir.path(), options).expect("opens");
        let ids: Vec<String> = (0..MATCHES).map(|i| format!("m{i:04}")).collect();
        let mut heads = vec![0u64; MATCHES];
        let mut next = 0usize;
        let mut round = |log: &DiskLog| {
            let tickets: Vec<_> = (0..k)
                .map(|_| {
                    let m = next % MATCHES;
                    next += 1;
                    let append = Append {
                        match_id: ids[m].clone(),
                        first_seq: heads[m],
                        records: vec![vec![7; RECORD_BYTES]],
                        summary: summary(&ids[m]),
                    };
                    heads[m] += 1;
                    log.append(append)
                })
                .collect();
            for ticket in tickets {
                ticket.blocking_recv().expect("answered").expect("appended");
            }
        };
        // Warm up: every match written once, the WAL grown.
        let warm = Instant::now();
        while warm.elapsed() < Duration::from_secs(1) {
            round(&log);
        }
        let (c0, t0, n0) = (cpu_ticks(), Instant::now(), commits.0.load(Ordering::Relaxed));
        let mut appends = 0usize;
        while t0.elapsed() < RUN {
            round(&log);
            appends += k;
        }
        let wall = t0.elapsed();
        let cpu_us = (cpu_ticks() - c0) as f64 * 10_000.0;
        let n = (commits.0.load(Ordering::Relaxed) - n0).max(1) as f64;
        println!(
            "{:>14.1}  {:>7}  {:>13.0}  {:>13.1}  {:>14.0}",
            appends as f64 / n,
            n,
            cpu_us / n,
            cpu_us / appends as f64,
            wall.as_secs_f64() * 1e6 / n
        );
        log.close();
    }
}
