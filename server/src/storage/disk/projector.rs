//! The projector thread: writes the summaries of matches changed by commits, and the rooms'
//! state snapshots, into the SQLite projections, off the command path. It coalesces: however many commits touched a match
//! since its last pass, it writes that match once, so its work is bounded by the number of
//! matches, not of moves.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::{Shared, Summarize, lock, projection};
use crate::storage::{MatchStatus, MatchSummary, StateSnapshot};

/// How long the projector waits before retrying after SQLite failed.
const RETRY: Duration = Duration::from_secs(1);
/// How often rows whose head alone moved are brought up to date.
pub const HEADS_EVERY: Duration = Duration::from_secs(1);

/// Rebuilds the summaries of matches the projections have not caught up with, from their
/// records, and queues them for the projector.
pub fn catch_up(shared: &Shared, touched: &HashSet<String>, summarize: &Summarize) {
    let mut rebuilt = Vec::new();
    for id in touched {
        let locs = {
            let index = shared.index();
            match index.matches.get(id) {
                Some(m) if m.damaged.is_none() => m.locs.clone(),
                _ => continue,
            }
        };
        let summary = shared
            .read_locs(id, 0, &locs)
            .map_err(|e| e.to_string())
            .and_then(|records| summarize(id, &records));
        match summary {
            Ok(summary) => rebuilt.push((id.clone(), summary)),
            Err(error) => tracing::error!(match_id = %id, %error, "cannot rebuild its summary"),
        }
    }
    let mut index = shared.index_mut();
    let mut progress = lock(&shared.progress);
    for (id, summary) in rebuilt {
        if let Some(entry) = index.matches.get_mut(&id) {
            entry.summary = Some(summary);
            progress.dirty.insert(id);
        }
    }
}

/// One pass of the projector: what to write.
struct Pass {
    /// Matches whose rows are rewritten.
    ids: HashSet<String>,
    /// The commit the rows are written up to.
    upto: u64,
    /// Snapshots to keep.
    snapshots: Vec<StateSnapshot>,
}

/// Writes dirty summaries and queued snapshots until the log closes.
pub fn run(shared: &Shared, mut conn: Connection) {
    let mut flushed = Instant::now();
    loop {
        let Some(pass) = next_pass(shared, flushed) else { return };
        let summaries = current(shared, &pass.ids);
        if let Err(error) = write(&mut conn, &summaries, &pass.snapshots, pass.upto) {
            tracing::error!(%error, "cannot update the projections; retrying");
            let mut progress = lock(&shared.progress);
            progress.dirty.extend(pass.ids);
            for snapshot in pass.snapshots {
                progress.snapshots.entry(snapshot.match_id.clone()).or_insert(snapshot);
            }
            drop(progress);
            std::thread::sleep(RETRY);
            continue;
        }
        flushed = Instant::now();
        forget_finished(shared, &summaries);
        lock(&shared.progress).projected = pass.upto;
        shared.moved.notify_all();
    }
}

/// Waits for work: a listing change, a snapshot, heads due for their flush, or the close.
/// Commits that only moved heads count as projected at once (listings read heads from the
/// index). `None` once closed and drained.
fn next_pass(shared: &Shared, flushed: Instant) -> Option<Pass> {
    let mut progress = lock(&shared.progress);
    loop {
        let heads_due = !progress.heads_moved.is_empty() && flushed.elapsed() >= HEADS_EVERY;
        let work = !progress.dirty.is_empty() || !progress.snapshots.is_empty();
        if work || heads_due || progress.stopping {
            break;
        }
        if progress.projected < progress.committed {
            progress.projected = progress.committed;
            shared.moved.notify_all();
        }
        let wait = if progress.heads_moved.is_empty() { RETRY * 60 } else { HEADS_EVERY };
        progress = shared.moved.wait_timeout(progress, wait).unwrap_or_else(|p| p.into_inner()).0;
    }
    let idle = progress.dirty.is_empty() && progress.heads_moved.is_empty();
    if idle && progress.snapshots.is_empty() {
        return None;
    }
    let mut ids = std::mem::take(&mut progress.dirty);
    ids.extend(std::mem::take(&mut progress.heads_moved));
    let snapshots = std::mem::take(&mut progress.snapshots).into_values().collect();
    Some(Pass { ids, upto: progress.committed, snapshots })
}

/// The summaries of `ids` as they stand, with the head the log holds.
fn current(shared: &Shared, ids: &HashSet<String>) -> Vec<MatchSummary> {
    let index = shared.index();
    ids.iter()
        .filter_map(|id| {
            let entry = index.matches.get(id)?;
            let mut summary = entry.summary.clone()?;
            summary.head_seq = entry.locs.len().saturating_sub(1) as u64;
            Some(summary)
        })
        .collect()
}

fn write(
    conn: &mut Connection,
    summaries: &[MatchSummary],
    snapshots: &[StateSnapshot],
    upto: u64,
) -> Result<(), String> {
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    for summary in summaries {
        projection::upsert(&tx, summary).map_err(|e| e.to_string())?;
    }
    for snapshot in snapshots {
        projection::put_snapshot(&tx, snapshot).map_err(|e| e.to_string())?;
    }
    projection::set_head(&tx, upto).map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())
}

/// Finished matches no longer change: their summaries are read from the projections.
fn forget_finished(shared: &Shared, written: &[MatchSummary]) {
    let mut index = shared.index_mut();
    for summary in written.iter().filter(|s| s.status == MatchStatus::Finished) {
        if let Some(entry) = index.matches.get_mut(&summary.match_id)
            && entry.summary.as_ref().is_some_and(|s| s.status == MatchStatus::Finished)
        {
            entry.summary = None;
        }
    }
}
