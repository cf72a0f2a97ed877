//! The log's writer thread and the recovery that precedes it.
//!
//! Group commit: the writer takes every append queued while the previous commit was syncing
//! and writes them as one frame, with one `pwrite` and one `fdatasync`. Every append is
//! checked against the heads before anything is written, so one bad append fails alone. A
//! write or sync that fails poisons the writer: after a failed `fdatasync` the kernel may have
//! dropped the dirty pages, so nothing more is acknowledged until a restart re-reads the disk.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::format::{CommitBuilder, GENESIS, Hash, MAX_MATCH_ID, SEGMENT_HEADER};
use super::index::{Index, Loc};
use super::scan::scan;
use super::{DiskOptions, Durability, Shared, files, lock, projection};
use crate::storage::pacing::{Pacing, Saturation};
use crate::storage::{Append, AppendError, CommitObserver, MatchSummary, ReadError};

/// An append and where its verdict goes.
pub type Job = (Append, oneshot::Sender<Result<(), AppendError>>);

/// Most appends one commit takes.
const MAX_BATCH: usize = 1024;

/// What recovery found.
pub struct Opened {
    pub index: Index,
    pub files: Vec<(u32, Arc<File>)>,
    pub last_commit: u64,
    pub projected: u64,
    /// Matches with commits the projections have not seen.
    pub touched: HashSet<String>,
    /// Where writing resumes, if the last segment can take more.
    pub tail: Option<(u32, usize)>,
}

/// Scans every segment, cuts a torn tail (unless `read_only`), and builds the index.
pub fn recover(
    dir: &Path,
    conn: Option<&Connection>,
    segment_bytes: usize,
    read_only: bool,
) -> Result<Opened, ReadError> {
    let io = |e: std::io::Error| ReadError::Storage(format!("{}: {e}", dir.display()));
    let projected = conn.map(projection::head).transpose()?.unwrap_or(0);
    // Read before the segments: whatever the projections say was acknowledged is then in
    // the segments read after, even with a server writing both meanwhile.
    let acknowledged = conn.map(acknowledged_heads).transpose()?.unwrap_or_default();
    let numbers = files::list(dir).map_err(io)?;
    let read = |n: u64| std::fs::read(files::segment_path(dir, n)).map_err(io);
    // One segment in memory at a time. Only the newest segment with data may end in a torn
    // commit; zero-filled ones made ahead of use may follow it.
    let mut last_with_data = None;
    for (i, &n) in numbers.iter().enumerate().rev() {
        if read(n)?.iter().skip(SEGMENT_HEADER).any(|&b| b != 0) {
            last_with_data = Some(i);
            break;
        }
    }
    let mut opened = Opened {
        index: Index::default(),
        files: Vec::new(),
        last_commit: 0,
        projected,
        touched: HashSet::new(),
        tail: None,
    };
    for (i, &n) in numbers.iter().enumerate() {
        let segment = u32::try_from(n).map_err(|_| ReadError::Storage(format!("segment {n}?")))?;
        let last = last_with_data.is_none_or(|l| i >= l);
        let bytes = read(n)?;
        let scanned = scan(&bytes, last);
        let file = Arc::new(files::open(dir, n, read_only).map_err(io)?);
        if let Some(torn) = scanned.torn.as_ref().filter(|_| !read_only) {
            tracing::warn!(segment, at = torn.start, bytes = torn.len(), "cutting a torn tail");
            files::zero(&file, torn.start as u64, torn.len()).map_err(io)?;
        }
        opened.touched.extend(opened.index.add(segment, &scanned, projected));
        opened.last_commit = opened.last_commit.max(scanned.last_commit);
        let named = bytes.get(8..SEGMENT_HEADER) == Some(n.to_le_bytes().as_slice());
        if !named {
            opened.index.unattributed.push(format!("segment {n}: its header names another"));
        }
        let clean = named && !scanned.damaged();
        if last_with_data.is_none_or(|l| i == l) && clean && scanned.end < segment_bytes {
            opened.tail = Some((segment, scanned.end));
        }
        opened.files.push((segment, file));
    }
    // Commits the log acknowledged that are gone from it (a lost file, a damaged page) are
    // never silently forgotten.
    for (id, head) in acknowledged {
        let held = opened.index.matches.get(&id).map_or(0, |m| m.locs.len() as i64);
        if held <= head {
            let why = format!("the log holds {held} records; {} were acknowledged", head + 1);
            opened.index.quarantine(&id, why);
        }
    }
    Ok(opened)
}

/// Every match's head seq as the projections last saw it.
fn acknowledged_heads(conn: &Connection) -> Result<Vec<(String, i64)>, ReadError> {
    let mut stmt =
        conn.prepare("SELECT match_id, head_seq FROM matches").map_err(projection::read_err)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(projection::read_err)?;
    rows.collect::<Result<_, _>>().map_err(projection::read_err)
}

/// The writer: the segment it writes into and the chain heads it extends.
pub struct Writer {
    shared: Arc<Shared>,
    dir: PathBuf,
    segment: u32,
    file: Arc<File>,
    pos: usize,
    segment_bytes: usize,
    next_commit: u64,
    durability: Durability,
    /// The next segment, being zero-filled.
    next: Option<JoinHandle<std::io::Result<File>>>,
    /// Why the writer stopped acknowledging, if it did.
    poisoned: Option<String>,
}

impl Writer {
    /// A writer resuming at `tail`, or in a new segment.
    pub fn start(
        shared: Arc<Shared>,
        tail: Option<(u32, usize)>,
        options: &DiskOptions,
    ) -> Result<Writer, ReadError> {
        let dir = shared.dir.clone();
        let next_commit = lock(&shared.progress).committed + 1;
        let (segment, file, pos) = match tail {
            Some((segment, pos)) => {
                let file =
                    shared.file(segment).ok_or_else(|| ReadError::Storage("no tail".into()))?;
                (segment, file, pos)
            }
            None => {
                let last = shared
                    .files
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .map(|(n, _)| *n)
                    .max();
                let segment = last.map_or(0, |n| n + 1);
                let file = files::create(&dir, u64::from(segment), options.segment_bytes)
                    .map(Arc::new)
                    .map_err(|e| ReadError::Storage(format!("creating a segment: {e}")))?;
                shared.add_file(segment, file.clone());
                (segment, file, SEGMENT_HEADER)
            }
        };
        Ok(Writer {
            shared,
            dir,
            segment,
            file,
            pos,
            segment_bytes: options.segment_bytes,
            next_commit,
            durability: options.durability,
            next: None,
            poisoned: None,
        })
    }

    /// Starts zero-filling the segment after the current one once this one is half full,
    /// unless that is under way or done.
    fn prepare_next(&mut self) {
        let number = self.segment + 1;
        if self.next.is_some()
            || self.pos < self.segment_bytes / 2
            || self.shared.file(number).is_some()
        {
            return;
        }
        let (dir, size) = (self.dir.clone(), self.segment_bytes);
        self.next = Some(std::thread::spawn(move || files::create(&dir, u64::from(number), size)));
    }

    /// Moves to the next segment.
    fn roll(&mut self) -> std::io::Result<()> {
        let number = self.segment + 1;
        let file = match self.shared.file(number) {
            Some(file) => file,
            None => {
                let made = match self.next.take() {
                    Some(handle) => handle.join().unwrap_or_else(|_| {
                        Err(std::io::Error::other("the segment preparer panicked"))
                    }),
                    None => files::create(&self.dir, u64::from(number), self.segment_bytes),
                };
                let file = Arc::new(made?);
                self.shared.add_file(number, file.clone());
                file
            }
        };
        self.segment = number;
        self.file = file;
        self.pos = SEGMENT_HEADER;
        Ok(())
    }

    /// Takes appends until the channel closes.
    pub fn run(
        mut self,
        mut jobs: mpsc::Receiver<Job>,
        observer: &dyn CommitObserver,
        pacing: &Pacing,
    ) {
        let mut saturation = Saturation::new();
        let budget = self.segment_bytes / 4;
        while let Some(first) = jobs.blocking_recv() {
            pacing.wait(&mut saturation);
            let mut bytes = size(&first.0);
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH && bytes < budget {
                match jobs.try_recv() {
                    Ok(job) => {
                        bytes += size(&job.0);
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            let started = Instant::now();
            let records: usize = batch.iter().map(|(a, _)| a.records.len()).sum();
            let results = self.commit(&batch);
            observer.committed(batch.len(), records, started.elapsed().as_micros() as u64);
            for ((_, reply), result) in batch.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
    }

    /// Writes a batch as one commit; one verdict per append.
    fn commit(&mut self, batch: &[Job]) -> Vec<Result<(), AppendError>> {
        if let Some(why) = &self.poisoned {
            return batch.iter().map(|_| Err(AppendError::Storage(why.clone()))).collect();
        }
        let verdicts = self.check(batch);
        let number = self.next_commit;
        let mut builder = CommitBuilder::new(number);
        let mut placed: Vec<(usize, Vec<(Loc, Hash)>)> = Vec::new();
        // The chain head of each match as this commit extends it.
        let mut heads: HashMap<&str, Hash> = HashMap::new();
        let index = self.shared.index();
        for (i, ((append, _), verdict)) in batch.iter().zip(&verdicts).enumerate() {
            let Ok(first_seq) = verdict else { continue };
            let id = append.match_id.as_str();
            let mut prev = heads
                .get(id)
                .copied()
                .unwrap_or_else(|| index.matches.get(id).map_or(GENESIS, |m| m.head));
            let mut locs = Vec::with_capacity(append.records.len());
            for (k, body) in append.records.iter().enumerate() {
                let seq = first_seq + k as u64;
                let (hash, span) = builder.record(&append.match_id, seq, &prev, body);
                locs.push((Loc { segment: 0, offset: span.start, len: span.len }, hash));
                prev = hash;
            }
            heads.insert(id, prev);
            placed.push((i, locs));
        }
        drop(index);
        if placed.is_empty() {
            return verdicts.into_iter().map(|v| v.map(drop)).collect();
        }
        let frame = builder.finish();
        if let Err(why) = self.write(&frame) {
            tracing::error!(error = %why, "the log cannot write; no more appends are acknowledged");
            self.poisoned = Some(why.clone());
            return batch.iter().map(|_| Err(AppendError::Storage(why.clone()))).collect();
        }
        let at = self.pos - frame.len();
        self.publish(batch, &mut placed, at, number);
        self.next_commit += 1;
        verdicts.into_iter().map(|v| v.map(drop)).collect()
    }

    /// Checks each append against the heads; for a good one, its first seq and predecessor.
    fn check(&self, batch: &[Job]) -> Vec<Result<u64, AppendError>> {
        let index = self.shared.index();
        let mut heads: HashMap<&str, u64> = HashMap::new();
        batch
            .iter()
            .map(|(append, _)| {
                let id = append.match_id.as_str();
                if append.records.is_empty() {
                    return Err(AppendError::Empty);
                }
                if id.len() > MAX_MATCH_ID {
                    return Err(AppendError::Storage(format!(
                        "a match id is at most {MAX_MATCH_ID} bytes"
                    )));
                }
                let entry = index.matches.get(id);
                if let Some(why) = entry.and_then(|m| m.damaged.clone()) {
                    return Err(AppendError::Damaged { match_id: id.into(), reason: why });
                }
                let next = heads
                    .get(id)
                    .copied()
                    .unwrap_or_else(|| entry.map_or(0, |m| m.locs.len() as u64));
                if append.first_seq != next {
                    return Err(AppendError::SeqConflict {
                        match_id: id.into(),
                        expected: next,
                        got: append.first_seq,
                    });
                }
                heads.insert(id, next + append.records.len() as u64);
                Ok(next)
            })
            .collect()
    }

    /// Writes and syncs one frame, in a new segment if this one is full.
    fn write(&mut self, frame: &[u8]) -> Result<(), String> {
        if SEGMENT_HEADER + frame.len() > self.segment_bytes {
            return Err(format!(
                "a commit of {} bytes does not fit a segment of {}",
                frame.len(),
                self.segment_bytes
            ));
        }
        if self.pos + frame.len() > self.segment_bytes {
            self.roll().map_err(|e| format!("starting a segment: {e}"))?;
        }
        super::pio::write_all_at(&self.file, frame, self.pos as u64)
            .map_err(|e| format!("writing: {e}"))?;
        if self.durability == Durability::Full {
            self.file.sync_data().map_err(|e| format!("fdatasync: {e}"))?;
        }
        self.pos += frame.len();
        self.prepare_next();
        Ok(())
    }

    /// Makes a written commit visible: index, summaries, and the projector's to-do list.
    fn publish(
        &self,
        batch: &[Job],
        placed: &mut [(usize, Vec<(Loc, Hash)>)],
        at: usize,
        number: u64,
    ) {
        let mut ids = Vec::with_capacity(placed.len());
        let mut moved = Vec::new();
        {
            let mut index = self.shared.index_mut();
            for (i, locs) in placed.iter_mut() {
                let append = &batch[*i].0;
                for (loc, hash) in locs.iter_mut() {
                    loc.segment = self.segment;
                    loc.offset += at as u32;
                    index.advance(&append.match_id, *loc, *hash);
                }
                let Some(entry) = index.matches.get_mut(&append.match_id) else { continue };
                let same = entry.summary.as_ref().is_some_and(|s| same_listing(s, &append.summary));
                entry.summary = Some(append.summary.clone());
                if same { &mut moved } else { &mut ids }.push(append.match_id.clone());
            }
        }
        let mut progress = lock(&self.shared.progress);
        progress.committed = number;
        progress.dirty.extend(ids);
        progress.heads_moved.extend(moved);
        drop(progress);
        self.shared.moved.notify_all();
    }
}

/// Whether two summaries list the same but for their head.
fn same_listing(a: &MatchSummary, b: &MatchSummary) -> bool {
    MatchSummary { head_seq: b.head_seq, ..a.clone() } == *b
}

/// The bytes an append adds to a commit, roughly.
fn size(append: &Append) -> usize {
    append.records.iter().map(|r| r.len() + 64 + append.match_id.len()).sum()
}
