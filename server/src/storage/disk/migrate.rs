//! Bringing a data dir to the current layout. Version 3 kept the whole log in SQLite; its
//! events are copied into segments (chained and checksummed as if written today), synced,
//! and only then are the old tables replaced by the projections, in one transaction. A
//! migration cut short leaves the version 3 database as it was, and the next start redoes it.

use std::path::Path;

use rusqlite::{Connection, params};

use super::format::{CommitBuilder, GENESIS, Hash, SEGMENT_HEADER};
use super::{files, projection};
use crate::storage::{MatchSummary, ReadError};

use projection::read_err;

/// Records per commit while copying.
const COPY_COMMIT: usize = 1024;

/// Creates the projections in an empty database, migrates a version 3 one, and refuses
/// anything else it does not know.
pub fn prepare(conn: &mut Connection, dir: &Path, segment_bytes: usize) -> Result<(), ReadError> {
    match projection::version(conn)? {
        projection::VERSION => Ok(()),
        0 => {
            let tx = conn.transaction().map_err(read_err)?;
            projection::create(&tx)?;
            tx.commit().map_err(read_err)
        }
        3 => from_v3(conn, dir, segment_bytes),
        4 => {
            let tx = conn.transaction().map_err(read_err)?;
            tx.execute_batch(projection::SNAPSHOTS).map_err(read_err)?;
            tx.pragma_update(None, "user_version", projection::VERSION).map_err(read_err)?;
            tx.commit().map_err(read_err)
        }
        other => Err(ReadError::Storage(format!(
            "the database has schema version {other}; this Arbiter opens versions 3 to {} \
             (a version 1 or 2 database is first opened by a release that knows it)",
            projection::VERSION
        ))),
    }
}

fn from_v3(conn: &mut Connection, dir: &Path, segment_bytes: usize) -> Result<(), ReadError> {
    let io =
        |e: std::io::Error| ReadError::Storage(format!("migrating into {}: {e}", dir.display()));
    // Segments beside a version 3 database are from a copy that was cut short.
    for n in files::list(dir).map_err(io)? {
        std::fs::remove_file(files::segment_path(dir, n)).map_err(io)?;
    }
    let (commits, heads) = copy_events(conn, dir, segment_bytes)?;
    let tx = conn.transaction().map_err(read_err)?;
    let summaries: Vec<(String, Vec<u8>)> = {
        let mut stmt = tx.prepare("SELECT match_id, summary FROM matches").map_err(read_err)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(read_err)?;
        rows.collect::<Result<_, _>>().map_err(read_err)?
    };
    tx.execute_batch(
        "DROP TABLE event_index; DROP TABLE index_head; DROP TABLE events;
         DROP INDEX matches_by_status; DROP TABLE matches;",
    )
    .map_err(read_err)?;
    projection::create(&tx)?;
    for (id, blob) in summaries {
        let mut summary: MatchSummary =
            rmp_serde::from_slice(&blob).map_err(|_| ReadError::Corrupt(id.clone()))?;
        let Some(&head) = heads.get(&id) else { continue };
        summary.head_seq = head;
        projection::upsert(&tx, &summary)?;
    }
    projection::set_head(&tx, commits)?;
    tx.commit().map_err(read_err)?;
    tracing::info!(commits, matches = heads.len(), "moved the version 3 log into segments");
    Ok(())
}

/// Copies every event into segments, match by match; returns the commits written and each
/// match's head seq.
fn copy_events(
    conn: &Connection,
    dir: &Path,
    segment_bytes: usize,
) -> Result<(u64, std::collections::HashMap<String, u64>), ReadError> {
    let mut out = Copier { dir, segment_bytes, segment: 0, file: None, pos: 0, commits: 0 };
    let mut heads = std::collections::HashMap::new();
    let mut stmt = conn
        .prepare(
            "SELECT m.match_id, e.seq, e.record FROM events e JOIN matches m USING (match_no)
             ORDER BY m.match_no, e.seq",
        )
        .map_err(read_err)?;
    let mut rows = stmt.query(params![]).map_err(read_err)?;
    let mut builder = CommitBuilder::new(1);
    let mut in_commit = 0;
    let mut chain: (String, Hash) = (String::new(), GENESIS);
    while let Some(row) = rows.next().map_err(read_err)? {
        let id: String = row.get(0).map_err(read_err)?;
        let seq = row.get::<_, i64>(1).map_err(read_err)? as u64;
        let body: Vec<u8> = row.get(2).map_err(read_err)?;
        if chain.0 != id {
            chain = (id.clone(), GENESIS);
        }
        let (hash, _) = builder.record(&id, seq, &chain.1, &body);
        chain.1 = hash;
        heads.insert(id, seq);
        in_commit += 1;
        if in_commit == COPY_COMMIT {
            out.write(std::mem::replace(&mut builder, CommitBuilder::new(out.commits + 2)))?;
            in_commit = 0;
        }
    }
    if in_commit > 0 {
        out.write(builder)?;
    }
    out.finish()?;
    Ok((out.commits, heads))
}

/// Writes commits into fresh segments.
struct Copier<'a> {
    dir: &'a Path,
    segment_bytes: usize,
    segment: u64,
    file: Option<std::fs::File>,
    pos: usize,
    commits: u64,
}

impl Copier<'_> {
    fn write(&mut self, commit: CommitBuilder) -> Result<(), ReadError> {
        let io = |e: std::io::Error| ReadError::Storage(format!("migrating: {e}"));
        let frame = commit.finish();
        if SEGMENT_HEADER + frame.len() > self.segment_bytes {
            return Err(ReadError::Storage("a migrated commit does not fit a segment".into()));
        }
        if self.file.is_none() || self.pos + frame.len() > self.segment_bytes {
            self.finish()?;
            let number = if self.file.is_some() { self.segment + 1 } else { 0 };
            self.file = Some(files::create(self.dir, number, self.segment_bytes).map_err(io)?);
            self.segment = number;
            self.pos = SEGMENT_HEADER;
        }
        if let Some(file) = &self.file {
            super::pio::write_all_at(file, &frame, self.pos as u64).map_err(io)?;
        }
        self.pos += frame.len();
        self.commits += 1;
        Ok(())
    }

    fn finish(&self) -> Result<(), ReadError> {
        match &self.file {
            Some(file) => {
                file.sync_all().map_err(|e| ReadError::Storage(format!("migrating: {e}")))
            }
            None => Ok(()),
        }
    }
}
