//! The SQLite event log, the embedded default: WAL, one writer thread doing group commit, and
//! a separate connection for reads.
//!
//! Group commit: the writer takes every append queued while the previous transaction ran and
//! commits them together, so N rooms moving at once pay for one fsync, not N. Each append runs
//! under its own savepoint, so one bad append (a seq conflict) fails alone.

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

fn write_loop(mut conn: Connection, mut jobs: mpsc::Receiver<Job>, observer: &dyn CommitObserver) {
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
        let results = commit(&mut conn, &batch);
        observer.committed(batch.len(), records, started.elapsed().as_micros() as u64);
        for ((_, reply), result) in batch.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// Writes a batch in one transaction; returns one result per append.
fn commit(conn: &mut Connection, batch: &[Job]) -> Vec<Result<(), AppendError>> {
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => return batch.iter().map(|_| Err(storage(e.clone_message()))).collect(),
    };
    let mut results = Vec::with_capacity(batch.len());
    for (append, _) in batch {
        results.push(append_one(&tx, append));
    }
    if let Err(e) = tx.commit() {
        let e = storage(e);
        return batch.iter().map(|_| Err(e.clone())).collect();
    }
    results
}

/// Lets an error be reported to every append of a failed batch.
trait CloneMessage {
    fn clone_message(&self) -> rusqlite::Error;
}

impl CloneMessage for rusqlite::Error {
    fn clone_message(&self) -> rusqlite::Error {
        rusqlite::Error::InvalidParameterName(self.to_string())
    }
}

fn append_one(tx: &rusqlite::Transaction<'_>, append: &Append) -> Result<(), AppendError> {
    if append.records.is_empty() {
        return Err(AppendError::Empty);
    }
    let savepoint = tx.unchecked_transaction_savepoint().map_err(storage)?;
    let head: Option<i64> = savepoint
        .query_row("SELECT head_seq FROM matches WHERE match_id = ?1", [&append.match_id], |r| {
            r.get(0)
        })
        .optional()
        .map_err(storage)?;
    let expected = head.map_or(0, |h| h as u64 + 1);
    if append.first_seq != expected {
        return Err(AppendError::SeqConflict {
            match_id: append.match_id.clone(),
            expected,
            got: append.first_seq,
        });
    }
    {
        let mut insert = savepoint
            .prepare_cached("INSERT INTO events (match_id, seq, record) VALUES (?1, ?2, ?3)")
            .map_err(storage)?;
        for (i, record) in append.records.iter().enumerate() {
            let seq = (append.first_seq + i as u64) as i64;
            insert.execute(params![append.match_id, seq, record]).map_err(storage)?;
        }
    }
    let s = &append.summary;
    let summary = rmp_serde::to_vec_named(s).expect("summaries encode");
    savepoint
        .prepare_cached(
            "INSERT INTO matches (match_id, game, status, created_at_ms, head_seq, summary)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (match_id) DO UPDATE SET status = ?3, head_seq = ?5, summary = ?6",
        )
        .map_err(storage)?
        .execute(params![
            s.match_id,
            s.game,
            s.status.as_str(),
            s.created_at_ms as i64,
            (append.first_seq + append.records.len() as u64 - 1) as i64,
            summary
        ])
        .map_err(storage)?;
    savepoint.commit().map_err(storage)
}

/// A savepoint on a transaction borrowed immutably (rusqlite's `savepoint` wants `&mut`).
trait SavepointExt {
    fn unchecked_transaction_savepoint(&self) -> rusqlite::Result<Savepoint<'_>>;
}

impl SavepointExt for rusqlite::Transaction<'_> {
    fn unchecked_transaction_savepoint(&self) -> rusqlite::Result<Savepoint<'_>> {
        self.execute_batch("SAVEPOINT append")?;
        Ok(Savepoint { conn: self, done: false })
    }
}

/// Rolls back to its start unless committed.
struct Savepoint<'a> {
    conn: &'a Connection,
    done: bool,
}

impl Savepoint<'_> {
    fn commit(mut self) -> rusqlite::Result<()> {
        self.done = true;
        self.conn.execute_batch("RELEASE append")
    }
}

impl std::ops::Deref for Savepoint<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK TO append; RELEASE append");
        }
    }
}

fn decode_summary(match_id: &str, bytes: &[u8]) -> Result<MatchSummary, ReadError> {
    rmp_serde::from_slice(bytes).map_err(|_| ReadError::Corrupt(match_id.to_string()))
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
        bytes.map(|b| decode_summary(match_id, &b)).transpose()
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
        let mut found = Vec::new();
        for row in rows {
            let (id, bytes) = row.map_err(read_err)?;
            found.push(decode_summary(&id, &bytes)?);
        }
        Ok(found)
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
