//! The event log: an append-only, gapless, hash-chained sequence of records per match, behind
//! the [`EventLog`] trait, with a durable segment-file implementation and an in-memory twin.
//!
//! Appends are acknowledged only once durable under the configured policy; the room
//! broadcasts nothing before that. Sequence numbers are enforced here, not trusted from the
//! caller: an append whose first seq is not the match's head + 1 fails and writes nothing.

pub mod disk;
mod memory;
mod pacing;
mod record;

use std::sync::Arc;

use game_rules::Outcome;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

pub use disk::{DiskLog, DiskOptions, Durability, SEGMENT_BYTES, Summarize};
pub use memory::MemoryLog;
pub use pacing::Pacing;
pub use record::{Expiry, Lobby, Origin, Record, RecordError, TurnTimer};

/// Where a match stands, for listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchStatus {
    /// Seats are still free.
    Open,
    /// Every seat is taken and the match is being played.
    Live,
    /// The match is over.
    Finished,
}

impl MatchStatus {
    /// The lowercase name used in the database and the HTTP API.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchStatus::Open => "open",
            MatchStatus::Live => "live",
            MatchStatus::Finished => "finished",
        }
    }
}

/// A seated player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeatHolder {
    /// The player's id.
    pub player_id: String,
    /// Their display name.
    pub name: String,
    /// Set when the seat is played by a server-side bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<BotSpec>,
}

/// A server-side bot: how it plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BotSpec {
    /// Its strategy.
    pub strategy: bots::StrategyKind,
    /// How long it thinks before each move, in ms.
    pub think_ms: u64,
}

/// What listing a match shows; derived from the log and written with each append, so that
/// listing needs no replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MatchSummary {
    /// The match's id.
    pub match_id: String,
    /// The game's id.
    pub game: String,
    /// Open, live or finished.
    pub status: MatchStatus,
    /// Who sits where (`None`: free).
    pub seats: Vec<Option<SeatHolder>>,
    /// The last sequence number.
    pub head_seq: u64,
    /// When the match was created, in Unix milliseconds.
    pub created_at_ms: u64,
    /// The result, once finished.
    pub outcome: Option<Outcome>,
    /// Set for a private match: listed to nobody, joined by its code (or its id).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
    /// The match's own turn timer, if it was created with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer: Option<TurnTimer>,
    /// For a fork: the match and event it was forked from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<Origin>,
}

/// A batch of records for one match, and the summary as it stands after them.
#[derive(Debug, Clone)]
pub struct Append {
    /// The match.
    pub match_id: String,
    /// The sequence number of the first record: the match's head + 1 (0 for a new match).
    pub first_seq: u64,
    /// Encoded [`Record`]s, in order.
    pub records: Vec<Vec<u8>>,
    /// The summary after the batch.
    pub summary: MatchSummary,
}

/// A stored record and its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its sequence number.
    pub seq: u64,
    /// The encoded [`Record`].
    pub bytes: Vec<u8>,
}

/// A match's state at one seq, kept (the latest per match) so that a long match reloads from
/// it and the log's tail instead of replaying every record. A projection: it is used only when
/// its hash equals the one the log recorded at its seq, and rebuilt by playing on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSnapshot {
    /// The match.
    pub match_id: String,
    /// The last record it includes.
    pub seq: u64,
    /// The rules version of the build that took it: another version's encoding is not read.
    pub rules_version: u32,
    /// The rules state's hash at `seq`, as the log's action records carry it.
    pub state_hash: u64,
    /// The encoded state (see `replay::Resumable`).
    pub state: Vec<u8>,
}

/// Filters for listing matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only matches in this status.
    pub status: Option<MatchStatus>,
    /// Only matches of this game.
    pub game: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
    /// Only matches listed after this one (a page's last), for paging.
    pub after: Option<ListCursor>,
}

/// A place in the listing order (newest first: `created_at_ms`, then `match_id`, both
/// descending): a page continues with the matches strictly after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    /// The listed match's creation time.
    pub created_at_ms: u64,
    /// The listed match's id.
    pub match_id: String,
}

impl ListCursor {
    /// Where `summary` stands in the listing order.
    pub fn of(summary: &MatchSummary) -> ListCursor {
        ListCursor { created_at_ms: summary.created_at_ms, match_id: summary.match_id.clone() }
    }

    /// Whether `summary` is listed after this place.
    pub fn precedes(&self, summary: &MatchSummary) -> bool {
        (summary.created_at_ms, summary.match_id.as_str())
            < (self.created_at_ms, self.match_id.as_str())
    }
}

/// Why an append failed. Nothing of a failed append is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The batch does not start right after the match's head: a stale or second writer.
    #[error("match {match_id}: append at seq {got}, but the next seq is {expected}")]
    SeqConflict {
        /// The match.
        match_id: String,
        /// The seq the store expected.
        expected: u64,
        /// The seq the batch started at.
        got: u64,
    },
    /// The database failed.
    #[error("storage failed: {0}")]
    Storage(String),
    /// The log is shut down.
    #[error("the event log is shut down")]
    Closed,
    /// The batch is empty.
    #[error("an append must carry at least one record")]
    Empty,
    /// The match's log is damaged: it is quarantined and takes no more records.
    #[error("match {match_id} is quarantined: {reason}")]
    Damaged {
        /// The match.
        match_id: String,
        /// What is damaged.
        reason: String,
    },
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The database failed.
    #[error("storage failed: {0}")]
    Storage(String),
    /// A stored summary could not be decoded (a bug or a corrupted database).
    #[error("corrupt summary for match {0}")]
    Corrupt(String),
    /// A record of the match fails its checks: the match is quarantined.
    #[error("match {match_id} is quarantined: {reason}")]
    Damaged {
        /// The match.
        match_id: String,
        /// What is damaged.
        reason: String,
    },
}

/// What damage a log has found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LogDamage {
    /// Quarantined matches, by match id.
    pub matches: Vec<Quarantined>,
    /// Damaged bytes no match could be tied to.
    pub unattributed: Vec<String>,
}

/// A match the log has quarantined.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
pub struct Quarantined {
    /// The match.
    pub match_id: String,
    /// What is damaged.
    pub reason: String,
}

/// Resolves when an append is durable, or failed.
pub type AppendTicket = oneshot::Receiver<Result<(), AppendError>>;

/// Figures a log reports about its group commits (for `/metrics`).
pub trait CommitObserver: Send + Sync + 'static {
    /// One transaction committed `appends` appends holding `records` records in `micros` µs.
    fn committed(&self, appends: usize, records: usize, micros: u64);
}

/// No observer.
pub struct NoObserver;

impl CommitObserver for NoObserver {
    fn committed(&self, _appends: usize, _records: usize, _micros: u64) {}
}

/// The event log. Reads block briefly (call them from `spawn_blocking` in async code);
/// appends are queued and resolve through their ticket.
pub trait EventLog: Send + Sync + 'static {
    /// Queues an append. The ticket resolves once it is durable or has failed.
    fn append(&self, append: Append) -> AppendTicket;
    /// Up to `limit` records of a match from `from_seq` on, in order.
    fn read(
        &self,
        match_id: &str,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, ReadError>;
    /// A match's summary.
    fn summary(&self, match_id: &str) -> Result<Option<MatchSummary>, ReadError>;
    /// Matches by filter, newest first.
    fn list(&self, filter: &ListFilter) -> Result<Vec<MatchSummary>, ReadError>;
    /// The ids of every match not finished (to resume after a restart).
    fn unfinished(&self) -> Result<Vec<String>, ReadError>;
    /// The public matches a player holds or held a seat in, newest first (a private match's
    /// id is not shown to others).
    fn player_matches(&self, player_id: &str, limit: usize)
    -> Result<Vec<MatchSummary>, ReadError>;
    /// Why a match is quarantined, if it is: its records before the damage are readable, and
    /// it takes no appends.
    fn quarantined(&self, _match_id: &str) -> Option<String> {
        None
    }
    /// Every damage found, for health reports.
    fn damage(&self) -> LogDamage {
        LogDamage::default()
    }
    /// Keeps `snapshot` as its match's latest, off the command path: it returns at once, and
    /// a snapshot not yet stored is replaced by a newer one of the same match.
    fn put_snapshot(&self, _snapshot: StateSnapshot) {}
    /// A match's latest snapshot, if one is kept.
    fn snapshot(&self, _match_id: &str) -> Result<Option<StateSnapshot>, ReadError> {
        Ok(None)
    }
    /// Finishes every queued append and stops accepting new ones.
    fn close(&self);
}

/// A shared event log.
pub type SharedLog = Arc<dyn EventLog>;

/// Reads a match's whole log.
pub fn read_all(log: &dyn EventLog, match_id: &str) -> Result<Vec<StoredRecord>, ReadError> {
    const PAGE: usize = 4096;
    let mut all = Vec::new();
    loop {
        let page = log.read(match_id, all.len() as u64, PAGE)?;
        let done = page.len() < PAGE;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

#[cfg(test)]
pub(crate) mod contract;
#[cfg(test)]
pub mod stub;
