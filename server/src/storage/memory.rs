//! The in-memory event log: for tests and instant isolated instances. Same contract as
//! SQLite (gapless seqs, atomic appends), no durability.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::{
    Append, AppendError, AppendTicket, EventLog, ListFilter, MatchStatus, MatchSummary, ReadError,
    StateSnapshot, StoredRecord,
};

#[derive(Default)]
struct Inner {
    matches: HashMap<String, (Vec<Vec<u8>>, MatchSummary)>,
    snapshots: HashMap<String, StateSnapshot>,
    closed: bool,
}

/// An event log held in memory.
#[derive(Default)]
pub struct MemoryLog {
    inner: Mutex<Inner>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied append (appends are
        // checked before they mutate), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn try_append(&self, append: Append) -> Result<(), AppendError> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(AppendError::Closed);
        }
        if append.records.is_empty() {
            return Err(AppendError::Empty);
        }
        let next =
            inner.matches.get(&append.match_id).map_or(0, |(records, _)| records.len() as u64);
        if append.first_seq != next {
            return Err(AppendError::SeqConflict {
                match_id: append.match_id,
                expected: next,
                got: append.first_seq,
            });
        }
        let entry = inner
            .matches
            .entry(append.match_id)
            .or_insert_with(|| (Vec::new(), append.summary.clone()));
        entry.0.extend(append.records);
        entry.1 = append.summary;
        Ok(())
    }
}

/// The summary with its head taken from the records, as SQLite reports it.
fn with_head((records, summary): &(Vec<Vec<u8>>, MatchSummary)) -> MatchSummary {
    MatchSummary { head_seq: records.len().saturating_sub(1) as u64, ..summary.clone() }
}

impl EventLog for MemoryLog {
    fn append(&self, append: Append) -> AppendTicket {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(self.try_append(append));
        rx
    }

    fn read(
        &self,
        match_id: &str,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, ReadError> {
        let inner = self.lock();
        let Some((records, _)) = inner.matches.get(match_id) else { return Ok(Vec::new()) };
        let from = usize::try_from(from_seq).unwrap_or(usize::MAX).min(records.len());
        Ok(records[from..]
            .iter()
            .take(limit)
            .enumerate()
            .map(|(i, bytes)| StoredRecord { seq: (from + i) as u64, bytes: bytes.clone() })
            .collect())
    }

    fn summary(&self, match_id: &str) -> Result<Option<MatchSummary>, ReadError> {
        Ok(self.lock().matches.get(match_id).map(with_head))
    }

    fn list(&self, filter: &ListFilter) -> Result<Vec<MatchSummary>, ReadError> {
        let inner = self.lock();
        let mut found: Vec<MatchSummary> = inner
            .matches
            .values()
            .filter(|(_, s)| filter.status.is_none_or(|st| s.status == st))
            .filter(|(_, s)| filter.game.as_ref().is_none_or(|g| &s.game == g))
            .filter(|(_, s)| filter.after.as_ref().is_none_or(|c| c.precedes(s)))
            .map(with_head)
            .collect();
        found.sort_by(|a, b| {
            b.created_at_ms.cmp(&a.created_at_ms).then(b.match_id.cmp(&a.match_id))
        });
        found.truncate(filter.limit);
        Ok(found)
    }

    fn player_matches(
        &self,
        player_id: &str,
        limit: usize,
    ) -> Result<Vec<MatchSummary>, ReadError> {
        let seated =
            |s: &MatchSummary| s.seats.iter().flatten().any(|holder| holder.player_id == player_id);
        let mut found: Vec<MatchSummary> =
            self.lock().matches.values().filter(|(_, s)| seated(s)).map(with_head).collect();
        found.sort_by(|a, b| (b.created_at_ms, &b.match_id).cmp(&(a.created_at_ms, &a.match_id)));
        found.truncate(limit);
        Ok(found)
    }

    fn unfinished(&self) -> Result<Vec<String>, ReadError> {
        let inner = self.lock();
        let mut ids: Vec<String> = inner
            .matches
            .values()
            .filter(|(_, s)| s.status != MatchStatus::Finished)
            .map(|(_, s)| s.match_id.clone())
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn put_snapshot(&self, snapshot: StateSnapshot) {
        self.lock().snapshots.insert(snapshot.match_id.clone(), snapshot);
    }

    fn snapshot(&self, match_id: &str) -> Result<Option<StateSnapshot>, ReadError> {
        Ok(self.lock().snapshots.get(match_id).cloned())
    }

    fn close(&self) {
        self.lock().closed = true;
    }
}
