//! The projections: what is derived from the log and kept in SQLite so it can be listed and
//! queried (docs/LOG_FORMAT.md shows the tables and example queries). Written off the command
//! path by their own thread, rebuildable from the log, never trusted over it.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::storage::{ListFilter, MatchStatus, MatchSummary, ReadError, StateSnapshot};

/// The projection schema's version (SQLite `user_version`). Version 3 was the whole log in
/// SQLite; opening one moves its events into segments first (see `migrate`).
pub const VERSION: i64 = 5;

const SCHEMA: &str = "
    CREATE TABLE matches (
        match_id TEXT PRIMARY KEY,
        game TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        head_seq INTEGER NOT NULL,
        outcome TEXT,
        private INTEGER NOT NULL,
        summary BLOB NOT NULL
    );
    CREATE INDEX matches_by_status ON matches (status, created_at_ms);
    CREATE INDEX matches_by_game ON matches (game, created_at_ms);
    CREATE TABLE seats (
        match_id TEXT NOT NULL,
        seat INTEGER NOT NULL,
        player_id TEXT NOT NULL,
        name TEXT NOT NULL,
        bot TEXT,
        PRIMARY KEY (match_id, seat)
    );
    CREATE INDEX seats_by_player ON seats (player_id);
    CREATE TABLE projection_head (commit_no INTEGER NOT NULL);
    INSERT INTO projection_head VALUES (0);
";

/// Added in version 5: each match's latest state snapshot.
pub const SNAPSHOTS: &str = "
    CREATE TABLE snapshots (
        match_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        rules_version INTEGER NOT NULL,
        state_hash TEXT NOT NULL,
        state BLOB NOT NULL
    );
";

pub(super) fn read_err(e: rusqlite::Error) -> ReadError {
    ReadError::Storage(e.to_string())
}

/// Opens the projection database. Projections are rebuildable, so commits need not reach
/// the disk before they return (`synchronous=NORMAL`).
pub fn connect(path: &Path) -> Result<Connection, ReadError> {
    let conn = Connection::open(path).map_err(read_err)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(read_err)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(read_err)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(read_err)?;
    Ok(conn)
}

/// Whether the database at `path` is damaged (not a database, or failing SQLite's own
/// check), as opposed to refused for another reason.
pub fn damaged(path: &Path) -> bool {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let Ok(conn) = Connection::open_with_flags(path, flags) else { return false };
    match conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0)) {
        Ok(verdict) => verdict != "ok",
        Err(rusqlite::Error::SqliteFailure(e, _)) => matches!(
            e.code,
            rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
        ),
        Err(_) => false,
    }
}

/// Moves a damaged database (and its WAL) aside, so the projections are rebuilt from the log
/// in a new one; the old file is kept for whoever wants to look at it.
pub fn set_aside(path: &Path) -> std::io::Result<std::path::PathBuf> {
    let aside = path.with_extension("db.damaged");
    std::fs::rename(path, &aside)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(side));
    }
    Ok(aside)
}

/// The database's schema version.
pub fn version(conn: &Connection) -> Result<i64, ReadError> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(read_err)
}

/// Creates the tables in `tx` (an empty database, or one whose old tables are gone).
pub fn create(tx: &Transaction<'_>) -> Result<(), ReadError> {
    tx.execute_batch(SCHEMA).map_err(read_err)?;
    tx.execute_batch(SNAPSHOTS).map_err(read_err)?;
    tx.pragma_update(None, "user_version", VERSION).map_err(read_err)
}

/// Empties every projection, for a rebuild.
pub fn clear(tx: &Transaction<'_>) -> Result<(), ReadError> {
    tx.execute_batch(
        "DELETE FROM matches; DELETE FROM seats; DELETE FROM snapshots;
         UPDATE projection_head SET commit_no = 0;",
    )
    .map_err(read_err)
}

/// The last commit the projections include.
pub fn head(conn: &Connection) -> Result<u64, ReadError> {
    conn.query_row("SELECT commit_no FROM projection_head", [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(read_err)
}

/// Marks the projections as including every commit up to `commit_no`.
pub fn set_head(tx: &Transaction<'_>, commit_no: u64) -> Result<(), ReadError> {
    tx.prepare_cached("UPDATE projection_head SET commit_no = ?1")
        .and_then(|mut s| s.execute([commit_no as i64]))
        .map(drop)
        .map_err(read_err)
}

/// Keeps `snapshot` as its match's latest.
pub fn put_snapshot(tx: &Transaction<'_>, snapshot: &StateSnapshot) -> Result<(), ReadError> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO snapshots (match_id, seq, rules_version, state_hash, state)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            snapshot.match_id,
            snapshot.seq as i64,
            snapshot.rules_version,
            format!("{:016x}", snapshot.state_hash),
            snapshot.state,
        ])
    })
    .map(drop)
    .map_err(read_err)
}

/// A match's latest snapshot. A row that does not read back (a damaged database) is no
/// snapshot: the match is replayed from its log instead.
pub fn snapshot(conn: &Connection, match_id: &str) -> Result<Option<StateSnapshot>, ReadError> {
    let row = conn
        .prepare_cached(
            "SELECT seq, rules_version, state_hash, state FROM snapshots WHERE match_id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([match_id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?, r.get::<_, String>(2)?, r.get(3)?))
            })
            .optional()
        })
        .map_err(read_err)?;
    Ok(row.and_then(|(seq, rules_version, hash, state)| {
        Some(StateSnapshot {
            match_id: match_id.to_string(),
            seq: u64::try_from(seq).ok()?,
            rules_version,
            state_hash: u64::from_str_radix(&hash, 16).ok()?,
            state,
        })
    }))
}

/// Writes a match's summary and seats.
pub fn upsert(tx: &Transaction<'_>, s: &MatchSummary) -> Result<(), ReadError> {
    let blob = rmp_serde::to_vec_named(s).map_err(|e| ReadError::Storage(e.to_string()))?;
    let outcome = s.outcome.as_ref().and_then(|o| serde_json::to_string(o).ok());
    tx.prepare_cached(
        "INSERT INTO matches
            (match_id, game, status, created_at_ms, head_seq, outcome, summary, private)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (match_id) DO UPDATE SET
            status = ?3, head_seq = ?5, outcome = ?6, summary = ?7, private = ?8",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            s.match_id,
            s.game,
            s.status.as_str(),
            s.created_at_ms as i64,
            s.head_seq as i64,
            outcome,
            blob,
            s.private
        ])
    })
    .map_err(read_err)?;
    // Seats as they stand now: one freed since is gone from the table.
    tx.prepare_cached("DELETE FROM seats WHERE match_id = ?1")
        .and_then(|mut stmt| stmt.execute([&s.match_id]))
        .map_err(read_err)?;
    let mut seat = tx
        .prepare_cached(
            "INSERT INTO seats (match_id, seat, player_id, name, bot) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(read_err)?;
    for (n, holder) in s.seats.iter().enumerate() {
        let Some(h) = holder else { continue };
        let bot = h.bot.map(|b| format!("{:?}", b.strategy).to_lowercase());
        seat.execute(params![s.match_id, n as i64, h.player_id, h.name, bot]).map_err(read_err)?;
    }
    Ok(())
}

fn decode(match_id: &str, bytes: &[u8]) -> Result<MatchSummary, ReadError> {
    rmp_serde::from_slice(bytes).map_err(|_| ReadError::Corrupt(match_id.to_string()))
}

/// A match's projected summary.
pub fn summary(conn: &Connection, match_id: &str) -> Result<Option<MatchSummary>, ReadError> {
    let row: Option<Vec<u8>> = conn
        .prepare_cached("SELECT summary FROM matches WHERE match_id = ?1")
        .and_then(|mut s| s.query_row([match_id], |r| r.get(0)).optional())
        .map_err(read_err)?;
    row.map(|bytes| decode(match_id, &bytes)).transpose()
}

/// Matches by filter, newest first.
pub fn list(conn: &Connection, filter: &ListFilter) -> Result<Vec<MatchSummary>, ReadError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT match_id, summary FROM matches
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
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(read_err)?;
    let rows: Vec<(String, Vec<u8>)> = rows.collect::<Result<_, _>>().map_err(read_err)?;
    rows.iter().map(|(id, bytes)| decode(id, bytes)).collect()
}

/// The public matches `player_id` holds or held a seat in, newest first.
pub fn player_matches(
    conn: &Connection,
    player_id: &str,
    limit: usize,
) -> Result<Vec<MatchSummary>, ReadError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT m.match_id, m.summary FROM seats s JOIN matches m USING (match_id)
             WHERE s.player_id = ?1 AND NOT m.private
             ORDER BY m.created_at_ms DESC, m.match_id DESC LIMIT ?2",
        )
        .map_err(read_err)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![player_id, limit], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(read_err)?;
    let rows: Vec<(String, Vec<u8>)> = rows.collect::<Result<_, _>>().map_err(read_err)?;
    rows.iter().map(|(id, bytes)| decode(id, bytes)).collect()
}

/// The ids of every match not finished.
pub fn unfinished(conn: &Connection) -> Result<Vec<String>, ReadError> {
    let mut stmt = conn
        .prepare_cached("SELECT match_id FROM matches WHERE status != 'finished' ORDER BY match_id")
        .map_err(read_err)?;
    let rows = stmt.query_map([], |r| r.get(0)).map_err(read_err)?;
    rows.collect::<Result<_, _>>().map_err(read_err)
}
