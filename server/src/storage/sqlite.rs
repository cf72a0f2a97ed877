//! The SQLite event log, the embedded default: WAL, one writer thread doing group commit, and
//! a separate connection for reads.
//!
//! Group commit: the writer takes every append queued while the previous transaction ran and
//! commits them together, so N rooms moving at once pay for one fsync, not N. Each append runs
//! under its own savepoint, so one bad append (a seq conflict) fails alone.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

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

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS events (
        match_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        record BLOB NOT NULL,
        PRIMARY KEY (match_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS matches (
        match_id TEXT PRIMARY KEY,
        game TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        head_seq INTEGER NOT NULL,
        summary BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS matches_by_status ON matches (status, created_at_ms);
    PRAGMA user_version = 1;
";

fn open(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

impl SqliteLog {
    /// Opens (creating if needed) the log at `path` and starts its writer thread.
    pub fn open(
        path: &Path,
        durability: Durability,
        observer: Arc<dyn CommitObserver>,
    ) -> Result<SqliteLog, ReadError> {
        let writer_conn = open(path, durability).map_err(read_err)?;
        writer_conn.execute_batch(SCHEMA).map_err(read_err)?;
        let reader = open(path, durability).map_err(read_err)?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        let writer = std::thread::Builder::new()
            .name("arbiter-log-writer".into())
            .spawn(move || write_loop(writer_conn, receiver, observer.as_ref()))
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
    head: u64,
    summary: MatchSummary,
}

struct Writer {
    conn: Connection,
    known: HashMap<String, Known>,
}

fn write_loop(conn: Connection, mut jobs: mpsc::Receiver<Job>, observer: &dyn CommitObserver) {
    let mut writer = Writer { conn, known: HashMap::new() };
    while let Some(first) = jobs.blocking_recv() {
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
    }
}

impl Writer {
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
        let written = self.write(batch, &verdicts);
        if let Err(e) = written {
            // The transaction rolled back: what we cached for this batch may be ahead of disk.
            self.known.clear();
            let e = storage(e);
            return batch.iter().map(|_| Err(e.clone())).collect();
        }
        for ((append, _), verdict) in batch.iter().zip(&verdicts) {
            if verdict.is_err() {
                continue;
            }
            if append.summary.status == MatchStatus::Finished {
                self.known.remove(&append.match_id);
            } else {
                let head = append.first_seq + append.records.len() as u64 - 1;
                self.known.insert(
                    append.match_id.clone(),
                    Known { head, summary: append.summary.clone() },
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
        let head: Option<i64> = self.conn.query_row(
            "SELECT max(seq) FROM events WHERE match_id = ?1",
            [match_id],
            |r| r.get(0),
        )?;
        Ok(head.map(|h| h as u64))
    }

    fn write(
        &mut self,
        batch: &[Job],
        verdicts: &[Result<(), AppendError>],
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO events (match_id, seq, record) VALUES (?1, ?2, ?3)")?;
            let mut upsert = tx.prepare_cached(
                "INSERT INTO matches (match_id, game, status, created_at_ms, head_seq, summary)
                 VALUES (?1, ?2, ?3, ?4, 0, ?5)
                 ON CONFLICT (match_id) DO UPDATE SET status = ?3, summary = ?5",
            )?;
            for ((append, _), verdict) in batch.iter().zip(verdicts) {
                if verdict.is_err() {
                    continue;
                }
                for (i, record) in append.records.iter().enumerate() {
                    insert.execute(params![
                        append.match_id,
                        (append.first_seq + i as u64) as i64,
                        record
                    ])?;
                }
                let s = &append.summary;
                let unchanged =
                    self.known.get(&s.match_id).is_some_and(|k| same_listing(&k.summary, s));
                if !unchanged {
                    let summary = rmp_serde::to_vec_named(s).expect("summaries encode");
                    upsert.execute(params![
                        s.match_id,
                        s.game,
                        s.status.as_str(),
                        s.created_at_ms as i64,
                        summary
                    ])?;
                }
            }
        }
        tx.commit()
    }
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

/// A stored summary with its head read from the events (the row is not rewritten per move).
fn decode_summary(
    conn: &Connection,
    match_id: &str,
    bytes: &[u8],
) -> Result<MatchSummary, ReadError> {
    let mut summary: MatchSummary =
        rmp_serde::from_slice(bytes).map_err(|_| ReadError::Corrupt(match_id.to_string()))?;
    let head: Option<i64> = conn
        .prepare_cached("SELECT max(seq) FROM events WHERE match_id = ?1")
        .and_then(|mut stmt| stmt.query_row([match_id], |r| r.get(0)))
        .map_err(read_err)?;
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
        let mut stmt = conn
            .prepare_cached("SELECT seq, record FROM events WHERE match_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3")
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
        let conn = self.reader();
        let bytes: Option<Vec<u8>> = conn
            .query_row("SELECT summary FROM matches WHERE match_id = ?1", [match_id], |r| r.get(0))
            .optional()
            .map_err(read_err)?;
        bytes.map(|b| decode_summary(&conn, match_id, &b)).transpose()
    }

    fn list(&self, filter: &ListFilter) -> Result<Vec<MatchSummary>, ReadError> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(
                "SELECT match_id, summary FROM matches
                 WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR game = ?2)
                 ORDER BY created_at_ms DESC, match_id DESC LIMIT ?3",
            )
            .map_err(read_err)?;
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![filter.status.map(MatchStatus::as_str), filter.game, limit], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(read_err)?;
        let rows: Vec<(String, Vec<u8>)> = rows.collect::<Result<_, _>>().map_err(read_err)?;
        drop(stmt);
        rows.iter().map(|(id, bytes)| decode_summary(&conn, id, bytes)).collect()
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
