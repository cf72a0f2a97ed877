//! The SQLite event log, the embedded default: WAL, one writer thread doing group commit, and
//! a separate connection for reads.
//!
//! Group commit: the writer takes every append queued while the previous transaction ran and
//! commits them together, so N rooms moving at once pay for one fsync, not N. Every append of a
//! batch is checked against the heads the writer knows before anything is written, so one bad
//! append (a seq conflict) fails alone. Events are stored in append order and indexed by match
//! in bulk, behind the appends (see [`SCHEMA`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use crate::idle::RuntimeIdle;

use super::{
    Append, AppendError, AppendTicket, CommitObserver, EventLog, ListFilter, MatchStatus,
    MatchSummary, ReadError, StoredRecord,
};

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Durability {
    /// `synchronous=FULL`: every commit is fsync'd before it is acknowledged. Survives power
    /// loss and OS crashes.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the WAL is fsync'd at checkpoints only. Survives a crash of the
    /// server process; a power loss may drop the last commits.
    Normal,
}

/// Most appends one transaction takes; bounds a commit's latency under load.
const MAX_BATCH: usize = 1024;
/// Appends that may wait for the writer; past this an append fails at once as overloaded.
const QUEUE: usize = 65_536;

type Job = (Append, oneshot::Sender<Result<(), AppendError>>);

/// The SQLite event log.
pub struct SqliteLog {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    reader: Mutex<Connection>,
}

fn storage(e: rusqlite::Error) -> AppendError {
    AppendError::Storage(e.to_string())
}

fn read_err(e: rusqlite::Error) -> ReadError {
    ReadError::Storage(e.to_string())
}

/// Schema version 3.
///
/// Events are stored in append order (`pos`, the rowid), so a group commit dirties the table's
/// last page or two. Version 2 also kept a unique index on `(match_no, seq)` up to date in
/// every commit, and that cost one more dirty B-tree page per match in the batch: the marginal
/// cost of an append was ~9 µs against ~2 µs without it (docs/PERFORMANCE.md, item 15).
///
/// `event_index` maps `(match_no, seq)` to `pos` for every event up to `index_head.upto`. The
/// writer extends it in bulk (see [`Writer::index`]), when it is idle or the unindexed tail
/// grows long, so one page write covers many events of a match. Reads take a match's events
/// from the index and from the short tail past `upto`, in one statement (one snapshot).
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
    CREATE TABLE matches (
        match_no INTEGER PRIMARY KEY,
        match_id TEXT NOT NULL UNIQUE,
        game TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        summary BLOB NOT NULL
    );
    CREATE INDEX matches_by_status ON matches (status, created_at_ms);
    CREATE TABLE events (
        pos INTEGER PRIMARY KEY,
        match_no INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        record BLOB NOT NULL
    );
";

/// The rest of the version 3 schema: the bulk index (apart, as the version 2 migration adds it).
const INDEX_SCHEMA: &str = "
    CREATE TABLE event_index (
        match_no INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        pos INTEGER NOT NULL,
        PRIMARY KEY (match_no, seq)
    ) WITHOUT ROWID;
    CREATE TABLE index_head (upto INTEGER NOT NULL);
    INSERT INTO index_head VALUES (0);
";

/// Version 1 (session 1's layout): tables renamed aside, then copied into the current schema.
const MIGRATE_1: &str = "
    ALTER TABLE events RENAME TO events_v1;
    ALTER TABLE matches RENAME TO matches_v1;
    DROP INDEX matches_by_status;
";

/// Matches are numbered in creation order and events copied in match order.
const COPY_1: &str = "
    INSERT INTO matches (match_id, game, status, created_at_ms, summary)
        SELECT match_id, game, status, created_at_ms, summary FROM matches_v1
        ORDER BY created_at_ms, match_id;
    INSERT INTO events (match_no, seq, record)
        SELECT m.match_no, e.seq, e.record FROM events_v1 e JOIN matches m USING (match_id)
        ORDER BY m.match_no, e.seq;
    DROP TABLE events_v1;
    DROP TABLE matches_v1;
";

/// Version 2 to 3: the per-commit index gives way to the bulk one ([`INDEX_SCHEMA`]).
const MIGRATE_2: &str = "DROP INDEX events_by_match;";

/// Brings the database to [`SCHEMA_VERSION`]: creates it when empty, migrates older versions,
/// and refuses one written by a newer Arbiter.
fn prepare_schema(conn: &mut Connection) -> Result<(), ReadError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(read_err)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(read_err)?;
    match version {
        SCHEMA_VERSION => return Ok(()),
        0 => {
            tx.execute_batch(SCHEMA).map_err(read_err)?;
            tx.execute_batch(INDEX_SCHEMA).map_err(read_err)?;
        }
        1 => {
            let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0)).map_err(read_err);
            let before = count("SELECT count(*) FROM events")?;
            tx.execute_batch(MIGRATE_1).map_err(read_err)?;
            tx.execute_batch(SCHEMA).map_err(read_err)?;
            tx.execute_batch(INDEX_SCHEMA).map_err(read_err)?;
            tx.execute_batch(COPY_1).map_err(read_err)?;
            // Events of a match without a listing would not survive the join: refuse (the
            // transaction rolls back) rather than drop them.
            let after = count("SELECT count(*) FROM events")?;
            if after != before {
                return Err(ReadError::Storage(format!(
                    "migrating to schema version {SCHEMA_VERSION} would keep {after} of \
                     {before} events (some have no match row); the database is left as it was"
                )));
            }
            index_everything(&tx).map_err(read_err)?;
        }
        2 => {
            tx.execute_batch(MIGRATE_2).map_err(read_err)?;
            tx.execute_batch(INDEX_SCHEMA).map_err(read_err)?;
            index_everything(&tx).map_err(read_err)?;
        }
        newer => {
            return Err(ReadError::Storage(format!(
                "the database has schema version {newer}; this Arbiter knows up to \
                 {SCHEMA_VERSION}"
            )));
        }
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(read_err)?;
    tx.commit().map_err(read_err)
}

/// Indexes every event of a migrated database in one go.
fn index_everything(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let last: i64 = tx.query_row("SELECT coalesce(max(pos), 0) FROM events", [], |r| r.get(0))?;
    index_range(tx, 0, last)
}

/// Adds the events with `after < pos <= upto` to the index and moves its head to `upto`. In
/// key order, so each index page is written once per call.
fn index_range(conn: &Connection, after: i64, upto: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO event_index (match_no, seq, pos)
         SELECT match_no, seq, pos FROM events WHERE pos > ?1 AND pos <= ?2
         ORDER BY match_no, seq",
    )?
    .execute(params![after, upto])?;
    conn.prepare_cached("UPDATE index_head SET upto = ?1")?.execute([upto])?;
    Ok(())
}

/// The highest seq of a match (by `match_no`), from the index and the tail.
fn head_of(conn: &Connection, match_no: i64) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT max(s) FROM (
            SELECT max(seq) AS s FROM event_index WHERE match_no = ?1
            UNION ALL
            SELECT max(seq) FROM events
            WHERE pos > (SELECT upto FROM index_head) AND match_no = ?1
        )",
    )?
    .query_row([match_no], |r| r.get(0))
}

/// The highest seq of every match with events in the tail, from one scan of it.
fn tail_heads(conn: &Connection) -> rusqlite::Result<HashMap<i64, i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT match_no, max(seq) FROM events
         WHERE pos > (SELECT upto FROM index_head) GROUP BY match_no",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

fn open(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

impl SqliteLog {
    /// Opens (creating if needed) the log at `path` and starts its writer thread.
    pub fn open(
        path: &Path,
        durability: Durability,
        observer: Arc<dyn CommitObserver>,
    ) -> Result<SqliteLog, ReadError> {
        SqliteLog::open_with(path, durability, observer, INDEX_LIMITS, Pacing::Eager)
    }

    /// Opens the log with its writer starting commits as `pacing` says.
    pub fn open_paced(
        path: &Path,
        durability: Durability,
        observer: Arc<dyn CommitObserver>,
        pacing: Pacing,
    ) -> Result<SqliteLog, ReadError> {
        SqliteLog::open_with(path, durability, observer, INDEX_LIMITS, pacing)
    }

    fn open_with(
        path: &Path,
        durability: Durability,
        observer: Arc<dyn CommitObserver>,
        limits: IndexLimits,
        pacing: Pacing,
    ) -> Result<SqliteLog, ReadError> {
        let mut writer_conn = open(path, durability).map_err(read_err)?;
        prepare_schema(&mut writer_conn)?;
        let mut writer = Writer::new(writer_conn, limits).map_err(read_err)?;
        // What an earlier run left unindexed is indexed before anything reads, so rooms
        // loaded after a restart read the index alone.
        writer.index(Indexing::All);
        let reader = open(path, durability).map_err(read_err)?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        let writer = std::thread::Builder::new()
            .name("arbiter-log-writer".into())
            .spawn(move || write_loop(writer, receiver, observer.as_ref(), &pacing))
            .map_err(|e| ReadError::Storage(format!("starting the writer thread: {e}")))?;
        Ok(SqliteLog {
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            reader: Mutex::new(reader),
        })
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What the writer remembers of a match it has written: its head (so appends need no read)
/// and the summary last stored (so a move that changes only the head rewrites no row).
/// Finished matches are forgotten, so this holds only the live ones.
struct Known {
    match_no: i64,
    head: u64,
    summary: MatchSummary,
}

struct Writer {
    conn: Connection,
    known: HashMap<String, Known>,
    /// Events up to this `pos` are in `event_index`.
    indexed: i64,
    /// The last `pos` written.
    last_pos: i64,
    /// No indexing is tried below this `last_pos` (set after a failed attempt, so a failing
    /// index is not retried on every commit).
    retry_at: i64,
    limits: IndexLimits,
}

/// When the writer extends the index.
#[derive(Clone, Copy)]
struct IndexLimits {
    /// With no append waiting, it indexes once the tail is this long...
    idle: i64,
    /// ...and with appends waiting, once it is this long. Reads scan the tail, so this bounds
    /// their extra work (~2 MB of rows at most).
    busy: i64,
}

impl IndexLimits {
    /// Whether a tail of `tail` events is due for indexing.
    fn due(self, tail: i64, busy: bool) -> bool {
        tail >= if busy { self.busy } else { self.idle }
    }
}

/// The tail lengths the server runs with: at 2,000 moves/s the idle writer indexes about
/// every two seconds, each index page written covering ~40 events of a match when 100 are
/// live.
const INDEX_LIMITS: IndexLimits = IndexLimits { idle: 4096, busy: 16_384 };

/// What [`Writer::index`] should do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Indexing {
    /// Index the tail if it is long enough for how busy the writer is.
    IfDue {
        /// Whether appends are waiting.
        busy: bool,
    },
    /// Index the whole tail (on open and on close).
    All,
}

/// When the whole process has been using at least this share of the cores it may run on, the
/// server is CPU-bound and the writer lingers [`LINGER`] before taking a batch, so each fsync
/// carries more appends and leaves more CPU to the rooms and sessions. Below it, commits start
/// at once and latency is untouched.
const SATURATED: f64 = 0.9;
/// How long a writer of a saturated server waits for more appends.
const LINGER: Duration = Duration::from_millis(1);
/// How often the writer looks at the process's CPU time.
const CPU_SAMPLE: Duration = Duration::from_millis(100);

/// Whether the process is CPU-bound, from `/proc/self/stat` sampled every [`CPU_SAMPLE`].
/// Where that file does not exist, the process never counts as saturated.
struct Saturation {
    cores: f64,
    /// When /proc was last looked at, and what it said (`None`: unreadable).
    last: Option<(Instant, Option<u64>)>,
    saturated: bool,
}

impl Saturation {
    fn new() -> Saturation {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        Saturation { cores, last: None, saturated: false }
    }

    fn update(&mut self, now: Instant) -> bool {
        if self.last.is_some_and(|(at, _)| now.duration_since(at) < CPU_SAMPLE) {
            return self.saturated;
        }
        // At most one read per CPU_SAMPLE, readable or not.
        let ticks = process_cpu_ticks();
        self.saturated = match (self.last, ticks) {
            (Some((at, Some(before))), Some(now_ticks)) => {
                saturated(now_ticks.saturating_sub(before), now.duration_since(at), self.cores)
            }
            _ => false,
        };
        self.last = Some((now, ticks));
        self.saturated
    }
}

/// Whether `ticks` of CPU over `wall` is at least [`SATURATED`] of `cores`.
fn saturated(ticks: u64, wall: Duration, cores: f64) -> bool {
    // Linux reports CPU time in clock ticks of 10 ms (USER_HZ = 100).
    let cpu = ticks as f64 / 100.0;
    let wall = wall.as_secs_f64();
    wall > 0.0 && cpu / wall >= SATURATED * cores
}

/// User plus system CPU ticks of this process.
fn process_cpu_ticks() -> Option<u64> {
    cpu_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// User plus system ticks (fields 14 and 15) of a `/proc/<pid>/stat` line.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses; fields after its last ')'
    // are plain.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// When the writer starts a commit once an append is waiting.
#[derive(Debug, Clone)]
pub enum Pacing {
    /// As soon as it has one, lingering 1 ms first while the process is CPU-bound.
    Eager,
    /// Once the runtime has run out of ready work, so every append its rooms had to make is
    /// in, or `window` after the writer took the first append, whichever comes first. (An
    /// append queued during a commit waits for that commit, then its window.)
    UntilIdle {
        /// The runtime's park hooks.
        idle: Arc<RuntimeIdle>,
        /// The longest an append waits for others to join its commit.
        window: Duration,
    },
}

fn write_loop(
    mut writer: Writer,
    mut jobs: mpsc::Receiver<Job>,
    observer: &dyn CommitObserver,
    pacing: &Pacing,
) {
    let mut saturation = matches!(pacing, Pacing::Eager).then(Saturation::new);
    while let Some(first) = jobs.blocking_recv() {
        match pacing {
            Pacing::Eager => {
                if saturation.as_mut().is_some_and(|s| s.update(Instant::now())) {
                    std::thread::sleep(LINGER);
                }
            }
            Pacing::UntilIdle { idle, window } => {
                // A window too long to add to now is no deadline at all.
                idle.wait_until(Instant::now().checked_add(*window));
            }
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let records: usize = batch.iter().map(|(a, _)| a.records.len()).sum();
        let results = writer.commit(&batch);
        observer.committed(batch.len(), records, started.elapsed().as_micros() as u64);
        for ((_, reply), result) in batch.into_iter().zip(results) {
            let _ = reply.send(result);
        }
        // After the replies, so no move waits for it.
        writer.index(Indexing::IfDue { busy: !jobs.is_empty() });
    }
    // A clean stop leaves nothing unindexed for the next start.
    writer.index(Indexing::All);
}

impl Writer {
    fn new(conn: Connection, limits: IndexLimits) -> rusqlite::Result<Writer> {
        let indexed = conn.query_row("SELECT upto FROM index_head", [], |r| r.get(0))?;
        let last_pos = last_pos(&conn)?;
        Ok(Writer { conn, known: HashMap::new(), indexed, last_pos, retry_at: 0, limits })
    }

    /// Extends the index over the tail, in its own transaction, when `how` says it is due. A
    /// failure is logged and retried only after another `busy` events: reads stay correct
    /// without it, just slower.
    fn index(&mut self, how: Indexing) {
        let tail = self.last_pos - self.indexed;
        let due = match how {
            Indexing::All => tail > 0,
            Indexing::IfDue { busy } => {
                self.limits.due(tail, busy) && self.last_pos >= self.retry_at
            }
        };
        if !due {
            return;
        }
        let upto = self.last_pos;
        let result = self.conn.transaction().and_then(|tx| {
            // From the head on disk, not the one remembered: a commit that reported an error
            // may still have landed, and its rows must not be indexed twice.
            let indexed = tx.query_row("SELECT upto FROM index_head", [], |r| r.get(0))?;
            index_range(&tx, indexed, upto)?;
            tx.commit()
        });
        match result {
            Ok(()) => self.indexed = upto,
            Err(error) => {
                tracing::error!(%error, tail, "could not extend the event index; reads scan more");
                self.retry_at = self.last_pos + self.limits.busy;
                if let Ok(indexed) =
                    self.conn.query_row("SELECT upto FROM index_head", [], |r| r.get(0))
                {
                    self.indexed = indexed;
                }
            }
        }
    }

    /// Writes a batch in one transaction; returns one result per append. Appends are checked
    /// against the known heads before anything is written, so a refused append writes nothing
    /// and the others still commit; a database error fails the whole batch.
    fn commit(&mut self, batch: &[Job]) -> Vec<Result<(), AppendError>> {
        let mut heads: HashMap<&str, Option<u64>> = HashMap::new();
        let mut verdicts = Vec::with_capacity(batch.len());
        for (append, _) in batch {
            let verdict = match heads.get(append.match_id.as_str()) {
                Some(head) => check(append, *head),
                None => self
                    .head(&append.match_id)
                    .map_err(storage)
                    .and_then(|head| check(append, head)),
            };
            if verdict.is_ok() {
                heads.insert(
                    &append.match_id,
                    Some(append.first_seq + append.records.len() as u64 - 1),
                );
            }
            verdicts.push(verdict);
        }
        let numbers = match self.write(batch, &verdicts) {
            Ok(numbers) => numbers,
            Err(e) => {
                // The transaction rolled back: what we cached may be ahead of disk.
                self.known.clear();
                if let Ok(pos) = last_pos(&self.conn) {
                    self.last_pos = pos;
                }
                let e = storage(e);
                return batch.iter().map(|_| Err(e.clone())).collect();
            }
        };
        for ((append, _), verdict) in batch.iter().zip(&verdicts) {
            if verdict.is_err() {
                continue;
            }
            if append.summary.status == MatchStatus::Finished {
                self.known.remove(&append.match_id);
            } else {
                let head = append.first_seq + append.records.len() as u64 - 1;
                let Some(&match_no) = numbers.get(&append.match_id) else { continue };
                self.known.insert(
                    append.match_id.clone(),
                    Known { match_no, head, summary: append.summary.clone() },
                );
            }
        }
        verdicts
    }

    /// The match's head: remembered, or read once.
    fn head(&self, match_id: &str) -> rusqlite::Result<Option<u64>> {
        if let Some(known) = self.known.get(match_id) {
            return Ok(Some(known.head));
        }
        let match_no: Option<i64> = self
            .conn
            .prepare_cached("SELECT match_no FROM matches WHERE match_id = ?1")?
            .query_row([match_id], |r| r.get(0))
            .optional()?;
        let Some(match_no) = match_no else { return Ok(None) };
        Ok(head_of(&self.conn, match_no)?.map(|h| h as u64))
    }

    /// Writes the refused-or-not appends in one transaction. Returns the `match_no` of every
    /// match written, for the cache.
    fn write(
        &mut self,
        batch: &[Job],
        verdicts: &[Result<(), AppendError>],
    ) -> rusqlite::Result<HashMap<String, i64>> {
        let mut numbers: HashMap<String, i64> = HashMap::new();
        let mut last_pos = self.last_pos;
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO events (match_no, seq, record) VALUES (?1, ?2, ?3)")?;
            let mut upsert = tx.prepare_cached(
                "INSERT INTO matches (match_id, game, status, created_at_ms, summary)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (match_id) DO UPDATE SET status = ?3, summary = ?5
                 RETURNING match_no",
            )?;
            // The listing each match last wrote in this batch, so a second append compares
            // against it rather than against what was on disk before the batch.
            let mut written: HashMap<&str, &MatchSummary> = HashMap::new();
            for ((append, _), verdict) in batch.iter().zip(verdicts) {
                if verdict.is_err() {
                    continue;
                }
                let s = &append.summary;
                let known = self.known.get(&append.match_id);
                let before =
                    written.get(append.match_id.as_str()).copied().or(known.map(|k| &k.summary));
                let number = numbers.get(&append.match_id).copied().or(known.map(|k| k.match_no));
                let match_no = match number {
                    Some(n) if before.is_some_and(|b| same_listing(b, s)) => n,
                    _ => {
                        let summary = rmp_serde::to_vec_named(s).expect("summaries encode");
                        upsert.query_row(
                            params![
                                append.match_id,
                                s.game,
                                s.status.as_str(),
                                s.created_at_ms as i64,
                                summary
                            ],
                            |r| r.get::<_, i64>(0),
                        )?
                    }
                };
                numbers.insert(append.match_id.clone(), match_no);
                written.insert(&append.match_id, s);
                for (i, record) in append.records.iter().enumerate() {
                    insert.execute(params![
                        match_no,
                        (append.first_seq + i as u64) as i64,
                        record
                    ])?;
                    last_pos = tx.last_insert_rowid();
                }
            }
        }
        tx.commit()?;
        self.last_pos = last_pos;
        Ok(numbers)
    }
}

/// The last `pos` in the log (0 when empty). Events are never deleted, so rowids only grow.
fn last_pos(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT coalesce(max(pos), 0) FROM events", [], |r| r.get(0))
}

/// Whether two summaries differ only in their head (which listing reads from the events).
fn same_listing(a: &MatchSummary, b: &MatchSummary) -> bool {
    a.status == b.status && a.seats == b.seats && a.outcome == b.outcome
}

/// Whether an append starts right after `head`.
fn check(append: &Append, head: Option<u64>) -> Result<(), AppendError> {
    if append.records.is_empty() {
        return Err(AppendError::Empty);
    }
    let expected = head.map_or(0, |h| h + 1);
    if append.first_seq != expected {
        return Err(AppendError::SeqConflict {
            match_id: append.match_id.clone(),
            expected,
            got: append.first_seq,
        });
    }
    Ok(())
}

/// A stored summary with `head`, which the caller read from the events (the row is not
/// rewritten per move).
fn decode_summary(
    match_id: &str,
    bytes: &[u8],
    head: Option<i64>,
) -> Result<MatchSummary, ReadError> {
    let mut summary: MatchSummary =
        rmp_serde::from_slice(bytes).map_err(|_| ReadError::Corrupt(match_id.to_string()))?;
    summary.head_seq = head.map_or(0, |h| h as u64);
    Ok(summary)
}

impl EventLog for SqliteLog {
    fn append(&self, append: Append) -> AppendTicket {
        let (tx, rx) = oneshot::channel();
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match sender {
            None => {
                let _ = tx.send(Err(AppendError::Closed));
            }
            Some(sender) => {
                if let Err(e) = sender.try_send((append, tx)) {
                    let (reply, error) = match e {
                        mpsc::error::TrySendError::Full((_, reply)) => {
                            (reply, AppendError::Storage("the log writer is overloaded".into()))
                        }
                        mpsc::error::TrySendError::Closed((_, reply)) => {
                            (reply, AppendError::Closed)
                        }
                    };
                    let _ = reply.send(Err(error));
                }
            }
        }
        rx
    }

    fn read(
        &self,
        match_id: &str,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, ReadError> {
        let conn = self.reader();
        // One statement, so the index and the tail are read at one snapshot: events the
        // writer indexes meanwhile are neither missed nor read twice. `i.seq`, not `e.seq`,
        // so the index's order serves the ORDER BY and LIMIT stops early (no sort of the
        // match's whole history).
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, record FROM (
                    SELECT i.seq AS seq, e.record AS record
                    FROM event_index i JOIN events e ON e.pos = i.pos
                    WHERE i.match_no = (SELECT match_no FROM matches WHERE match_id = ?1)
                      AND i.seq >= ?2
                    UNION ALL
                    SELECT seq, record FROM events
                    WHERE pos > (SELECT upto FROM index_head)
                      AND match_no = (SELECT match_no FROM matches WHERE match_id = ?1)
                      AND seq >= ?2
                 ) ORDER BY seq LIMIT ?3",
            )
            .map_err(read_err)?;
        let from = i64::try_from(from_seq).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![match_id, from, limit], |r| {
                Ok(StoredRecord { seq: r.get::<_, i64>(0)? as u64, bytes: r.get(1)? })
            })
            .map_err(read_err)?;
        rows.collect::<Result<_, _>>().map_err(read_err)
    }

    fn summary(&self, match_id: &str) -> Result<Option<MatchSummary>, ReadError> {
        let mut conn = self.reader();
        // One read transaction: the row and the head at one snapshot.
        let tx = conn.transaction().map_err(read_err)?;
        let row: Option<(i64, Vec<u8>)> = tx
            .query_row(
                "SELECT match_no, summary FROM matches WHERE match_id = ?1",
                [match_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(read_err)?;
        let Some((match_no, bytes)) = row else { return Ok(None) };
        let head = head_of(&tx, match_no).map_err(read_err)?;
        decode_summary(match_id, &bytes, head).map(Some)
    }

    fn list(&self, filter: &ListFilter) -> Result<Vec<MatchSummary>, ReadError> {
        let mut conn = self.reader();
        let tx = conn.transaction().map_err(read_err)?;
        let mut stmt = tx
            .prepare_cached(
                "SELECT match_no, match_id, summary FROM matches
                 WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR game = ?2)
                   AND (?4 IS NULL OR (created_at_ms, match_id) < (?4, ?5))
                 ORDER BY created_at_ms DESC, match_id DESC LIMIT ?3",
            )
            .map_err(read_err)?;
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let after_ms =
            filter.after.as_ref().map(|c| i64::try_from(c.created_at_ms).unwrap_or(i64::MAX));
        let after_id = filter.after.as_ref().map(|c| c.match_id.as_str());
        let status = filter.status.map(MatchStatus::as_str);
        let rows = stmt
            .query_map(params![status, filter.game, limit, after_ms, after_id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?))
            })
            .map_err(read_err)?;
        let rows: Vec<(i64, String, Vec<u8>)> = rows.collect::<Result<_, _>>().map_err(read_err)?;
        drop(stmt);
        // One scan of the tail for every match listed, then one index lookup each.
        let tail = tail_heads(&tx).map_err(read_err)?;
        let mut indexed = tx
            .prepare_cached("SELECT max(seq) FROM event_index WHERE match_no = ?1")
            .map_err(read_err)?;
        rows.iter()
            .map(|(match_no, id, bytes)| {
                let from_index: Option<i64> =
                    indexed.query_row([match_no], |r| r.get(0)).map_err(read_err)?;
                let head = from_index.max(tail.get(match_no).copied());
                decode_summary(id, bytes, head)
            })
            .collect()
    }

    fn unfinished(&self) -> Result<Vec<String>, ReadError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(
                "SELECT match_id FROM matches WHERE status != 'finished' ORDER BY match_id",
            )
            .map_err(read_err)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(read_err)?;
        rows.collect::<Result<_, _>>().map_err(read_err)
    }

    fn close(&self) {
        // Dropping the sender lets the writer drain what is queued and stop.
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

impl Drop for SqliteLog {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::contract::summary;
    use crate::storage::{NoObserver, read_all};

    /// Session 1's layout, as a database written by that version has it.
    const SCHEMA_V1: &str = "
        CREATE TABLE events (
            match_id TEXT NOT NULL, seq INTEGER NOT NULL, record BLOB NOT NULL,
            PRIMARY KEY (match_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE matches (
            match_id TEXT PRIMARY KEY, game TEXT NOT NULL, status TEXT NOT NULL,
            created_at_ms INTEGER NOT NULL, head_seq INTEGER NOT NULL, summary BLOB NOT NULL
        );
        CREATE INDEX matches_by_status ON matches (status, created_at_ms);
        PRAGMA user_version = 1;
    ";

    /// Session 2's layout: events in append order, indexed in every commit.
    const SCHEMA_V2: &str = "
        CREATE TABLE matches (
            match_no INTEGER PRIMARY KEY, match_id TEXT NOT NULL UNIQUE, game TEXT NOT NULL,
            status TEXT NOT NULL, created_at_ms INTEGER NOT NULL, summary BLOB NOT NULL
        );
        CREATE INDEX matches_by_status ON matches (status, created_at_ms);
        CREATE TABLE events (
            pos INTEGER PRIMARY KEY, match_no INTEGER NOT NULL, seq INTEGER NOT NULL,
            record BLOB NOT NULL
        );
        CREATE UNIQUE INDEX events_by_match ON events (match_no, seq);
        PRAGMA user_version = 2;
    ";

    fn open_log(path: &Path) -> Result<SqliteLog, ReadError> {
        SqliteLog::open(path, Durability::Normal, Arc::new(NoObserver))
    }

    fn open_limited(path: &Path, limits: IndexLimits) -> Result<SqliteLog, ReadError> {
        SqliteLog::open_with(path, Durability::Normal, Arc::new(NoObserver), limits, Pacing::Eager)
    }

    fn user_version(path: &Path) -> i64 {
        Connection::open(path)
            .expect("opens")
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("reads")
    }

    /// (events indexed, the index head, events in all).
    fn index_state(path: &Path) -> (i64, i64, i64) {
        let conn = Connection::open(path).expect("opens");
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).expect("reads");
        (
            count("SELECT count(*) FROM event_index"),
            count("SELECT upto FROM index_head"),
            count("SELECT count(*) FROM events"),
        )
    }

    fn one(match_id: &str, seq: u64, status: MatchStatus) -> Append {
        Append {
            match_id: match_id.into(),
            first_seq: seq,
            records: vec![vec![seq as u8]],
            summary: summary(match_id, status, 1),
        }
    }

    #[test]
    fn reads_join_the_index_and_the_unindexed_tail() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.db");
        // Equal limits: whether the writer sees the next append waiting does not matter.
        let limits = IndexLimits { idle: 3, busy: 3 };
        let log = open_limited(&path, limits).expect("opens");
        // One at a time: the writer indexes at 3 and 6 events.
        for seq in 0..7 {
            let append = one("m", seq, MatchStatus::Live);
            assert!(log.append(append).blocking_recv().expect("answered").is_ok());
        }
        assert!(log.append(one("other", 0, MatchStatus::Live)).blocking_recv().is_ok());
        assert_eq!(index_state(&path), (6, 6, 8), "six indexed, two in the tail");
        let seqs = |from| {
            log.read("m", from, 100).expect("reads").iter().map(|r| r.seq).collect::<Vec<_>>()
        };
        assert_eq!(seqs(0), [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(seqs(4), [4, 5, 6], "from the index into the tail");
        assert_eq!(
            log.read("m", 2, 3).expect("reads").iter().map(|r| r.seq).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        assert_eq!(log.read("m", 6, 1).expect("reads")[0].bytes, vec![6]);
        assert_eq!(log.summary("m").expect("reads").expect("listed").head_seq, 6);
        let listed = log.list(&ListFilter { limit: 10, ..ListFilter::default() }).expect("lists");
        let heads: Vec<(&str, u64)> =
            listed.iter().map(|m| (m.match_id.as_str(), m.head_seq)).collect();
        assert!(heads.contains(&("m", 6)) && heads.contains(&("other", 0)), "{heads:?}");
        // After a restart the writer reads the head back, and still refuses a gap.
        drop(log);
        let log = open_limited(&path, limits).expect("reopens");
        assert!(matches!(
            log.append(one("m", 8, MatchStatus::Live)).blocking_recv().expect("answered"),
            Err(AppendError::SeqConflict { expected: 7, .. })
        ));
    }

    #[test]
    fn a_busy_writer_lets_the_tail_grow_longer_before_indexing() {
        let limits = IndexLimits { idle: 4, busy: 16 };
        assert!(!limits.due(3, false));
        assert!(limits.due(4, false));
        assert!(!limits.due(15, true), "appends waiting come first");
        assert!(limits.due(16, true), "but the tail reads scan stays bounded");
    }

    #[test]
    fn a_stop_and_a_start_leave_nothing_unindexed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.db");
        let log = open_log(&path).expect("opens");
        for seq in 0..3 {
            assert!(log.append(one("m", seq, MatchStatus::Live)).blocking_recv().is_ok());
        }
        assert_eq!(index_state(&path), (0, 0, 3), "short tail: not indexed yet");
        drop(log);
        assert_eq!(index_state(&path), (3, 3, 3), "indexed on close");
        // A crash leaves a tail behind (written here by hand); the next start indexes it.
        Connection::open(&path)
            .expect("opens")
            .execute("INSERT INTO events (match_no, seq, record) VALUES (1, 3, x'03')", [])
            .expect("writes");
        let log = open_log(&path).expect("reopens");
        assert_eq!(index_state(&path), (4, 4, 4), "indexed on open");
        assert_eq!(read_all(&log, "m").expect("reads").len(), 4);
    }

    #[test]
    fn a_version_2_database_is_migrated_with_every_event_indexed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.db");
        {
            let conn = Connection::open(&path).expect("opens");
            conn.execute_batch(SCHEMA_V2).expect("v2 schema");
            for (no, id) in [(1, "a"), (2, "b")] {
                let s =
                    rmp_serde::to_vec_named(&summary(id, MatchStatus::Live, no)).expect("encodes");
                conn.execute(
                    "INSERT INTO matches VALUES (?1, ?2, 'dots', 'live', ?1, ?3)",
                    params![no as i64, id, s],
                )
                .expect("match row");
            }
            // Interleaved, as a server writes them.
            for (no, seq) in [(1, 0), (2, 0), (1, 1), (2, 1), (1, 2)] {
                conn.execute(
                    "INSERT INTO events (match_no, seq, record) VALUES (?1, ?2, ?3)",
                    params![no, seq, vec![no as u8, seq as u8]],
                )
                .expect("event row");
            }
        }
        let log = open_log(&path).expect("migrates");
        assert_eq!(index_state(&path), (5, 5, 5));
        let a = read_all(&log, "a").expect("reads");
        assert_eq!(a.iter().map(|r| r.bytes.clone()).collect::<Vec<_>>(), [[1, 0], [1, 1], [1, 2]]);
        assert_eq!(log.summary("b").expect("reads").expect("listed").head_seq, 1);
        assert!(
            log.append(one("b", 2, MatchStatus::Live)).blocking_recv().expect("answered").is_ok()
        );
        drop(log);
        assert_eq!(user_version(&path), SCHEMA_VERSION);
    }

    #[test]
    fn a_version_1_database_is_migrated_with_every_event_and_listing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.db");
        {
            let conn = Connection::open(&path).expect("opens");
            conn.execute_batch(SCHEMA_V1).expect("v1 schema");
            // Two matches whose ids sort opposite to their creation order.
            for (id, status, created, events) in
                [("zz", MatchStatus::Live, 10, 3u8), ("aa", MatchStatus::Finished, 20, 2u8)]
            {
                let s = rmp_serde::to_vec_named(&summary(id, status, created)).expect("encodes");
                conn.execute(
                    "INSERT INTO matches VALUES (?1, 'dots', ?2, ?3, 0, ?4)",
                    params![id, status.as_str(), created as i64, s],
                )
                .expect("match row");
                for seq in 0..events {
                    conn.execute(
                        "INSERT INTO events VALUES (?1, ?2, ?3)",
                        params![id, seq as i64, vec![seq, created as u8]],
                    )
                    .expect("event row");
                }
            }
        }
        let log = open_log(&path).expect("migrates");
        let zz = read_all(&log, "zz").expect("reads");
        assert_eq!(zz.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(zz[2].bytes, vec![2, 10]);
        assert_eq!(read_all(&log, "aa").expect("reads").len(), 2);
        assert_eq!(log.summary("zz").expect("reads").expect("listed").head_seq, 2);
        assert_eq!(log.unfinished().expect("reads"), vec!["zz"]);
        let listed = log.list(&ListFilter { limit: 10, ..ListFilter::default() }).expect("lists");
        assert_eq!(listed.iter().map(|m| m.match_id.as_str()).collect::<Vec<_>>(), ["aa", "zz"]);
        // The migrated match goes on at its head, and a gap is still refused.
        let next = Append {
            match_id: "zz".into(),
            first_seq: 3,
            records: vec![vec![9]],
            summary: summary("zz", MatchStatus::Live, 10),
        };
        let gap = Append { first_seq: 5, ..next.clone() };
        assert!(log.append(next).blocking_recv().expect("answered").is_ok());
        assert!(matches!(
            log.append(gap).blocking_recv().expect("answered"),
            Err(AppendError::SeqConflict { expected: 4, .. })
        ));
        drop(log);
        assert_eq!(user_version(&path), SCHEMA_VERSION);
    }

    #[test]
    fn a_version_1_migration_that_would_drop_events_is_refused_and_rolled_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.db");
        {
            let conn = Connection::open(&path).expect("opens");
            conn.execute_batch(SCHEMA_V1).expect("v1 schema");
            // An event whose match has no row: the copy's join would lose it.
            conn.execute("INSERT INTO events VALUES ('orphan', 0, x'01')", []).expect("event");
        }
        let err = open_log(&path).err().expect("refused");
        assert!(err.to_string().contains("would keep 0 of 1 events"), "{err}");
        let conn = Connection::open(&path).expect("opens");
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("reads");
        let kept: i64 =
            conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).expect("reads");
        assert_eq!((version, kept), (1, 1), "left as version 1 with its event");
    }

    #[test]
    fn cpu_ticks_are_read_past_a_command_name_with_spaces() {
        let stat = "4242 (arbiter (x) y) S 1 4242 4242 0 -1 4194304 900 0 0 0 1234 567 0 0 20 \
                    0 3 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(1234 + 567));
        assert_eq!(cpu_ticks("4242 (arbiter) S 1"), None);
        assert_eq!(cpu_ticks("garbage"), None);
        // This process's own figure reads on Linux, where the writer uses it.
        assert!(process_cpu_ticks().is_some());
    }

    #[test]
    fn saturation_is_cpu_time_against_the_cores_available() {
        let second = Duration::from_secs(1);
        assert!(saturated(95, second, 1.0));
        assert!(!saturated(60, second, 1.0));
        assert!(!saturated(95, second, 2.0), "one busy core of two is not saturation");
        assert!(saturated(190, second, 2.0));
        assert!(!saturated(100, std::time::Duration::ZERO, 1.0));
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused_untouched() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.db");
        Connection::open(&path)
            .expect("opens")
            .execute_batch("PRAGMA user_version = 9;")
            .expect("sets");
        let err = open_log(&path).err().expect("refused");
        assert!(err.to_string().contains("schema version 9"), "{err}");
    }

    /// The number of appends in each commit, in order.
    #[derive(Default)]
    struct Commits(Mutex<Vec<usize>>);

    impl CommitObserver for Commits {
        fn committed(&self, appends: usize, _records: usize, _micros: u64) {
            self.0.lock().expect("not poisoned").push(appends);
        }
    }

    /// The ticket's answer if it comes within `limit`.
    fn answer_within(mut ticket: AppendTicket, limit: Duration) -> Option<Result<(), AppendError>> {
        let until = Instant::now() + limit;
        loop {
            match ticket.try_recv() {
                Ok(answer) => return Some(answer),
                Err(oneshot::error::TryRecvError::Empty) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return None,
            }
        }
    }

    fn paced_log(
        path: &Path,
        idle: &Arc<RuntimeIdle>,
        window: Duration,
    ) -> (SqliteLog, Arc<Commits>) {
        let commits = Arc::new(Commits::default());
        let pacing = Pacing::UntilIdle { idle: idle.clone(), window };
        let log = SqliteLog::open_paced(path, Durability::Normal, commits.clone(), pacing)
            .expect("opens");
        (log, commits)
    }

    #[test]
    fn a_busy_runtime_holds_a_commit_open_for_its_window() {
        let dir = tempfile::tempdir().expect("temp dir");
        let idle = RuntimeIdle::new(1);
        let window = Duration::from_millis(300);
        let (log, commits) = paced_log(&dir.path().join("log.db"), &idle, window);
        let started = Instant::now();
        let first = log.append(one("m", 0, MatchStatus::Live));
        let give_up = Instant::now() + Duration::from_secs(30);
        while idle.waiters() == 0 {
            assert!(Instant::now() < give_up, "the writer never waited for the runtime");
            std::thread::sleep(Duration::from_millis(1));
        }
        // Queued while the writer holds the first append: the same commit takes them.
        let later = [
            log.append(one("m", 1, MatchStatus::Live)),
            log.append(one("n", 0, MatchStatus::Live)),
        ];
        for ticket in std::iter::once(first).chain(later) {
            assert!(answer_within(ticket, Duration::from_secs(30)).expect("answered").is_ok());
        }
        assert!(started.elapsed() >= window, "committed before the window closed");
        assert_eq!(*commits.0.lock().expect("not poisoned"), [3]);
    }

    #[test]
    fn an_idle_runtime_lets_a_commit_start_at_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let idle = RuntimeIdle::new(1);
        // A window no test waits out: each commit here must start because the runtime idles.
        let (log, commits) = paced_log(&dir.path().join("log.db"), &idle, Duration::from_secs(60));
        idle.parked();
        let answer =
            answer_within(log.append(one("m", 0, MatchStatus::Live)), Duration::from_secs(30));
        assert!(answer.expect("committed while idle").is_ok());
        // Busy again: the next append waits, until the worker parks.
        idle.unparked();
        let ticket = log.append(one("m", 1, MatchStatus::Live));
        std::thread::sleep(Duration::from_millis(50));
        let mut ticket = ticket;
        assert!(ticket.try_recv().is_err(), "committed while the runtime was busy");
        idle.parked();
        assert!(
            answer_within(ticket, Duration::from_secs(30)).expect("committed once idle").is_ok()
        );
        assert_eq!(*commits.0.lock().expect("not poisoned"), [1, 1]);
    }

    #[test]
    fn two_appends_of_one_match_in_a_batch_leave_the_second_listing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = open_log(&dir.path().join("log.db")).expect("opens");
        let first = Append {
            match_id: "m".into(),
            first_seq: 0,
            records: vec![vec![0]],
            summary: summary("m", MatchStatus::Open, 1),
        };
        let second =
            Append { first_seq: 1, summary: summary("m", MatchStatus::Live, 1), ..first.clone() };
        // Both queued before the writer wakes, so one transaction holds both.
        let (a, b) = (log.append(first), log.append(second));
        assert!(a.blocking_recv().expect("answered").is_ok());
        assert!(b.blocking_recv().expect("answered").is_ok());
        let listed = log.summary("m").expect("reads").expect("listed");
        assert_eq!((listed.status, listed.head_seq), (MatchStatus::Live, 1));
    }
}
