//! The durable event log, the embedded default: records in append-only segment files, each
//! group commit one write and one `fdatasync`, and the projections (match list, seats,
//! results) in SQLite beside it, maintained off the command path.
//!
//! Layout of a data dir: `log/NNNNNNNNNNNNNNNNNNNN.seg` (the truth, see [`format`]) and
//! `arbiter.db` (the projections, see [`projection`]). On open every segment is scanned: CRCs
//! and hash chains checked, a torn tail cut back to the last whole commit, damaged matches
//! quarantined, the per-match index built in memory, and the projections brought up to the
//! log's last commit.

mod files;
pub mod format;
mod index;
mod migrate;
mod pio;
mod projection;
mod projector;
mod scan;
mod writer;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use self::index::{Index, Loc};
use self::writer::{Job, Writer};
use super::pacing::Pacing;
use super::{
    Append, AppendError, AppendTicket, CommitObserver, EventLog, ListFilter, LogDamage,
    MatchSummary, Quarantined, ReadError, StateSnapshot, StoredRecord,
};

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Durability {
    /// Every commit is `fdatasync`'d before it is acknowledged. Survives power loss and OS
    /// crashes.
    #[default]
    Full,
    /// Commits are written but not synced: they survive a crash of the server process, and
    /// a power loss may drop the last ones.
    Normal,
}

/// Rebuilds a match's summary from its records (the server replays them under its rules).
pub type Summarize =
    Arc<dyn Fn(&str, &[StoredRecord]) -> Result<MatchSummary, String> + Send + Sync + 'static>;

/// How a disk log is opened.
pub struct DiskOptions {
    /// When commits are acknowledged.
    pub durability: Durability,
    /// The size of each segment file.
    pub segment_bytes: usize,
    /// When the writer starts a commit.
    pub pacing: Pacing,
    /// Told about every commit.
    pub observer: Arc<dyn CommitObserver>,
    /// Rebuilds summaries the projections lack.
    pub summarize: Summarize,
    /// Rebuild every projection from the log on open.
    pub rebuild: bool,
}

/// The default segment size.
pub const SEGMENT_BYTES: usize = 64 << 20;
/// Appends that may wait for the writer; past this an append fails at once as overloaded.
const QUEUE: usize = 65_536;
/// How long a listing waits for the projections to include every commit made before it.
const PROJECTION_WAIT: Duration = Duration::from_secs(2);

/// What the writer and the projector share with readers.
struct Shared {
    dir: PathBuf,
    index: RwLock<Index>,
    files: RwLock<Vec<(u32, Arc<File>)>>,
    progress: Mutex<Progress>,
    moved: Condvar,
    reader: Mutex<Connection>,
}

/// How far the log and the projections have come.
#[derive(Default)]
struct Progress {
    /// The last commit made.
    committed: u64,
    /// The last commit the projections include.
    projected: u64,
    /// Matches whose listing changed since the projections were last written.
    dirty: HashSet<String>,
    /// Matches whose head alone moved since then: their rows are brought up to date at most
    /// every [`projector::HEADS_EVERY`] (reads take the head from the index anyway), so moves
    /// cost the projections nothing.
    heads_moved: HashSet<String>,
    /// Snapshots waiting to be written, the latest per match: at most one per match, so
    /// bounded by the number of rooms.
    snapshots: HashMap<String, StateSnapshot>,
    /// Set on close: the projector drains and stops.
    stopping: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn index_mut(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    fn file(&self, segment: u32) -> Option<Arc<File>> {
        let files = self.files.read().unwrap_or_else(|p| p.into_inner());
        files.iter().find(|(n, _)| *n == segment).map(|(_, f)| f.clone())
    }

    fn add_file(&self, segment: u32, file: Arc<File>) {
        self.files.write().unwrap_or_else(|p| p.into_inner()).push((segment, file));
    }

    /// Reads records by location, checking each one's CRC again. Records lying close
    /// together in one segment (a long match's, a commit's) are read with one `pread`.
    fn read_locs(
        &self,
        match_id: &str,
        first: u64,
        locs: &[Loc],
    ) -> Result<Vec<StoredRecord>, ReadError> {
        let mut out = Vec::with_capacity(locs.len());
        let damaged = |why: String| ReadError::Damaged { match_id: match_id.into(), reason: why };
        for run in runs(locs) {
            let (head, last) = (run[0], run[run.len() - 1]);
            let file =
                self.file(head.segment).ok_or_else(|| damaged("its segment is gone".into()))?;
            let span = (last.offset + last.len - head.offset) as usize;
            let bytes = files::read_at(&file, u64::from(head.offset), span)
                .map_err(|e| ReadError::Storage(e.to_string()))?;
            for loc in run {
                let seq = first + out.len() as u64;
                let at = (loc.offset - head.offset) as usize;
                match format::record_at(&bytes[at..at + loc.len as usize], 0) {
                    Some(r) if r.seq == seq && r.match_id == match_id => {
                        let body = &bytes[at + r.body.start as usize..][..r.body.len as usize];
                        out.push(StoredRecord { seq, bytes: body.to_vec() });
                    }
                    _ => {
                        let why = format!(
                            "record {seq} (segment {} offset {}) no longer passes its checksum",
                            loc.segment, loc.offset
                        );
                        self.index_mut().quarantine(match_id, why.clone());
                        return Err(damaged(why));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Waits until the projections include every commit made before this call (bounded).
    fn await_projection(&self) {
        let deadline = Instant::now() + PROJECTION_WAIT;
        let mut progress = lock(&self.progress);
        let target = progress.committed;
        while progress.projected < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(target, projected = progress.projected, "projections lag the log");
                return;
            }
            progress = self.moved.wait_timeout(progress, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// The head seq the log holds for a match, which overrides the projection's.
    fn head_seq(&self, match_id: &str) -> Option<u64> {
        let index = self.index();
        let locs = index.matches.get(match_id).map(|m| m.locs.len())?;
        Some(locs.saturating_sub(1) as u64)
    }
}

/// Opens the projections database, creating or migrating it.
fn open_projections(db: &Path, dir: &Path, segment_bytes: usize) -> Result<Connection, ReadError> {
    let mut conn = projection::connect(db)?;
    migrate::prepare(&mut conn, dir, segment_bytes)?;
    Ok(conn)
}

/// Whether the log directory holds any segment.
fn has_segments(dir: &Path) -> bool {
    files::list(dir).is_ok_and(|numbers| !numbers.is_empty())
}

/// Bytes of other records a read may skip over to take two of a match's records in one
/// `pread`, and the most one `pread` reads.
const READ_GAP: u32 = 4096;
const READ_SPAN: u32 = 1 << 20;

/// `locs` cut into runs that one `pread` each reads: same segment, in order, gaps of at most
/// [`READ_GAP`], spans of at most [`READ_SPAN`] (or one record, however long).
fn runs(locs: &[Loc]) -> impl Iterator<Item = &[Loc]> {
    let mut span_start = locs.first().map_or(0, |l| l.offset);
    locs.chunk_by(move |a, b| {
        let close = b.segment == a.segment
            && b.offset >= a.offset + a.len
            && b.offset - (a.offset + a.len) <= READ_GAP
            && b.offset + b.len - span_start <= READ_SPAN;
        if !close {
            span_start = b.offset;
        }
        close
    })
}

/// The disk log.
pub struct DiskLog {
    shared: Arc<Shared>,
    /// Held (locked) while the log is open, so a second process cannot write the same dir.
    lock: Mutex<Option<File>>,
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl DiskLog {
    /// Opens (creating if needed) the log in `data_dir` and starts its writer and projector.
    pub fn open(data_dir: &Path, options: DiskOptions) -> Result<DiskLog, ReadError> {
        let dir = data_dir.join("log");
        let io = |e: std::io::Error| ReadError::Storage(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(&dir).map_err(io)?;
        let lock = File::create(dir.join("LOCK")).map_err(io)?;
        if lock.try_lock().is_err() {
            return Err(ReadError::Storage(format!(
                "{} is in use by another Arbiter (its log is locked)",
                data_dir.display()
            )));
        }
        let db = data_dir.join("arbiter.db");
        let (mut conn, rebuild) = match open_projections(&db, &dir, options.segment_bytes) {
            Ok(conn) => (conn, options.rebuild),
            // Projections are derived: a damaged database is rebuilt from the log, never a
            // reason not to serve it. (A database still holding the log itself, version 3,
            // has no segments beside it yet and is never set aside.)
            Err(error) if has_segments(&dir) && projection::damaged(&db) => {
                let aside = projection::set_aside(&db).map_err(io)?;
                tracing::error!(%error, aside = %aside.display(), "projections damaged; rebuilding them");
                (open_projections(&db, &dir, options.segment_bytes)?, true)
            }
            Err(error) => return Err(error),
        };
        if rebuild {
            let tx = conn.transaction().map_err(projection::read_err)?;
            projection::clear(&tx)?;
            tx.commit().map_err(projection::read_err)?;
        }
        let opened = writer::recover(&dir, Some(&conn), options.segment_bytes, false)?;
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            index: RwLock::new(opened.index),
            files: RwLock::new(opened.files),
            progress: Mutex::new(Progress {
                committed: opened.last_commit,
                projected: opened.projected,
                ..Progress::default()
            }),
            moved: Condvar::new(),
            reader: Mutex::new(projection::connect(&db)?),
        });
        projector::catch_up(&shared, &opened.touched, &options.summarize);
        let writer = Writer::start(shared.clone(), opened.tail, &options)?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        let observer = options.observer.clone();
        let pacing = options.pacing.clone();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| ReadError::Storage(format!("starting {name}: {e}")))
        };
        let write_thread = spawn(
            "arbiter-log-writer",
            Box::new(move || writer.run(receiver, observer.as_ref(), &pacing)),
        )?;
        let projected = shared.clone();
        let project_thread =
            spawn("arbiter-projector", Box::new(move || projector::run(&projected, conn)))?;
        Ok(DiskLog {
            shared,
            lock: Mutex::new(Some(lock)),
            sender: Mutex::new(Some(sender)),
            threads: Mutex::new(vec![write_thread, project_thread]),
        })
    }

    /// Opens the log in `data_dir` to read it, beside a server that may be writing it: no
    /// lock, no writer, nothing cut or migrated. Appends fail as closed. What it reads is the
    /// log as it stood when opened.
    pub fn open_read_only(data_dir: &Path) -> Result<DiskLog, ReadError> {
        let dir = data_dir.join("log");
        if !dir.is_dir() {
            return Err(ReadError::Storage(format!("{} holds no event log", data_dir.display())));
        }
        let db = data_dir.join("arbiter.db");
        let conn = Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(projection::read_err)?;
        if projection::version(&conn)? != projection::VERSION {
            return Err(ReadError::Storage(format!(
                "{} is from another release: start the server on it once to migrate it",
                db.display()
            )));
        }
        let opened = writer::recover(&dir, Some(&conn), SEGMENT_BYTES, true)?;
        let shared = Arc::new(Shared {
            dir,
            index: RwLock::new(opened.index),
            files: RwLock::new(opened.files),
            progress: Mutex::new(Progress::default()),
            moved: Condvar::new(),
            reader: Mutex::new(conn),
        });
        Ok(DiskLog {
            shared,
            lock: Mutex::new(None),
            sender: Mutex::new(None),
            threads: Mutex::new(Vec::new()),
        })
    }

    /// The ids of every match the log holds, in order.
    pub fn match_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.shared.index().matches.keys().cloned().collect();
        ids.sort();
        ids
    }
}

impl EventLog for DiskLog {
    fn append(&self, append: Append) -> AppendTicket {
        let (tx, rx) = oneshot::channel();
        let sender = lock(&self.sender).clone();
        let Some(sender) = sender else {
            let _ = tx.send(Err(AppendError::Closed));
            return rx;
        };
        if let Err(e) = sender.try_send((append, tx)) {
            let (reply, error) = match e {
                mpsc::error::TrySendError::Full((_, reply)) => {
                    (reply, AppendError::Storage("the log writer is overloaded".into()))
                }
                mpsc::error::TrySendError::Closed((_, reply)) => (reply, AppendError::Closed),
            };
            let _ = reply.send(Err(error));
        }
        rx
    }

    fn read(
        &self,
        match_id: &str,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, ReadError> {
        let locs: Vec<Loc> = {
            let index = self.shared.index();
            let Some(entry) = index.matches.get(match_id) else { return Ok(Vec::new()) };
            let from = usize::try_from(from_seq).unwrap_or(usize::MAX).min(entry.locs.len());
            let to = from.saturating_add(limit).min(entry.locs.len());
            entry.locs[from..to].to_vec()
        };
        self.shared.read_locs(match_id, from_seq, &locs)
    }

    fn summary(&self, match_id: &str) -> Result<Option<MatchSummary>, ReadError> {
        let fresh = self.shared.index().matches.get(match_id).and_then(|m| m.summary.clone());
        let summary = match fresh {
            Some(s) => Some(s),
            None => projection::summary(&lock(&self.shared.reader), match_id)?,
        };
        Ok(summary.map(|mut s| {
            s.head_seq = self.shared.head_seq(match_id).unwrap_or(s.head_seq);
            s
        }))
    }

    fn list(&self, filter: &ListFilter) -> Result<Vec<MatchSummary>, ReadError> {
        self.shared.await_projection();
        let mut listed = projection::list(&lock(&self.shared.reader), filter)?;
        for s in &mut listed {
            s.head_seq = self.shared.head_seq(&s.match_id).unwrap_or(s.head_seq);
        }
        Ok(listed)
    }

    fn player_matches(
        &self,
        player_id: &str,
        limit: usize,
    ) -> Result<Vec<MatchSummary>, ReadError> {
        self.shared.await_projection();
        let mut found = projection::player_matches(&lock(&self.shared.reader), player_id, limit)?;
        for s in &mut found {
            s.head_seq = self.shared.head_seq(&s.match_id).unwrap_or(s.head_seq);
        }
        Ok(found)
    }

    fn unfinished(&self) -> Result<Vec<String>, ReadError> {
        self.shared.await_projection();
        projection::unfinished(&lock(&self.shared.reader))
    }

    fn quarantined(&self, match_id: &str) -> Option<String> {
        self.shared.index().matches.get(match_id).and_then(|m| m.damaged.clone())
    }

    fn damage(&self) -> LogDamage {
        let index = self.shared.index();
        let mut matches: Vec<Quarantined> = index
            .matches
            .iter()
            .filter_map(|(id, m)| {
                let reason = m.damaged.clone()?;
                Some(Quarantined { match_id: id.clone(), reason })
            })
            .collect();
        matches.sort();
        LogDamage { matches, unattributed: index.unattributed.clone() }
    }

    fn put_snapshot(&self, snapshot: StateSnapshot) {
        if lock(&self.sender).is_none() {
            return;
        }
        let mut progress = lock(&self.shared.progress);
        progress.snapshots.insert(snapshot.match_id.clone(), snapshot);
        drop(progress);
        self.shared.moved.notify_all();
    }

    fn snapshot(&self, match_id: &str) -> Result<Option<StateSnapshot>, ReadError> {
        if let Some(queued) = lock(&self.shared.progress).snapshots.get(match_id) {
            return Ok(Some(queued.clone()));
        }
        projection::snapshot(&lock(&self.shared.reader), match_id)
    }

    fn close(&self) {
        // Dropping the sender lets the writer drain what is queued and stop; the projector
        // then writes what is dirty and stops.
        lock(&self.sender).take();
        let threads = std::mem::take(&mut *lock(&self.threads));
        let mut threads = threads.into_iter();
        if let Some(writer) = threads.next() {
            let _ = writer.join();
        }
        lock(&self.shared.progress).stopping = true;
        self.shared.moved.notify_all();
        for thread in threads {
            let _ = thread.join();
        }
        lock(&self.lock).take();
    }
}

impl Drop for DiskLog {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests;
