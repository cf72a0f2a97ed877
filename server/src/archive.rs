//! Match export files (docs/LOG_FORMAT.md, "Export files"): one self-contained JSON document
//! per match — header, every record, the state hash after each, and a SHA-256 chain over all
//! of it — so a match can move between data dirs and any change to it is detected.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use game_rules::StateHash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use game_rules::Games;

use crate::replay::{ReplayError, replay};
use crate::storage::StoredRecord;

/// The `format` field of every export.
pub const FORMAT: &str = "arbiter-match";
/// The export format's version.
pub const VERSION: u32 = 1;

/// An export file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The match's id where it was exported.
    pub match_id: String,
    /// Its game.
    pub game: String,
    /// The rules version it was created under.
    pub rules_version: u32,
    /// Every record, from seq 0.
    pub events: Vec<ExportedEvent>,
}

/// One record of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedEvent {
    /// Its seq.
    pub seq: u64,
    /// The log record, base64 of its MessagePack.
    pub record: String,
    /// The rules state's hash after it, 16 hex digits.
    pub state_hash: String,
    /// SHA-256 over the previous event's chain, this seq, state hash and record, 64 hex digits.
    pub chain: String,
}

/// Why an export file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// Not JSON of the export's shape.
    #[error("not an Arbiter export: {0}")]
    Shape(String),
    /// Another format or version.
    #[error("export format {format:?} version {version} is not {FORMAT:?} version {VERSION}")]
    Format {
        /// The file's format.
        format: String,
        /// The file's version.
        version: u32,
    },
    /// Seqs are not 0, 1, 2, …
    #[error("event {index} has seq {seq}")]
    Seq {
        /// Its place in the file.
        index: usize,
        /// The seq it claims.
        seq: u64,
    },
    /// A field does not decode.
    #[error("event {seq}: {what}")]
    Field {
        /// The event.
        seq: u64,
        /// What is wrong.
        what: String,
    },
    /// The chain does not hold: the file was changed after export.
    #[error("event {seq}'s chain hash does not match its contents: the file was changed")]
    Chain {
        /// The first event whose chain fails.
        seq: u64,
    },
    /// The records do not replay, or replay to other hashes, under the current rules.
    #[error(transparent)]
    Diverges(#[from] Divergence),
    /// The header disagrees with record 0.
    #[error("the header says {header}, record 0 says {record}")]
    Header {
        /// The header's game and rules version.
        header: String,
        /// Record 0's.
        record: String,
    },
    /// The file has no events.
    #[error("the export has no events")]
    Empty,
}

/// Where a match stops reproducing under the current rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Divergence {
    /// A record does not replay.
    #[error("does not replay: {0}")]
    Replay(#[from] ReplayError),
    /// A record replays to another state hash than recorded.
    #[error("event {seq}: recorded state hash {recorded}, the current rules give {now}")]
    Hash {
        /// The first event that differs.
        seq: u64,
        /// What was recorded.
        recorded: StateHash,
        /// What the rules compute now.
        now: StateHash,
    },
}

/// The chain value before event 0: the header's fields.
fn genesis(match_id: &str, game: &str, rules_version: u32) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"arbiter-match/1\0");
    h.update(match_id.as_bytes());
    h.update(b"\0");
    h.update(game.as_bytes());
    h.update(b"\0");
    h.update(rules_version.to_le_bytes());
    h.finalize().into()
}

fn link(prev: &[u8; 32], seq: u64, state_hash: u64, record: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_le_bytes());
    h.update(state_hash.to_le_bytes());
    h.update(record);
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The state hash after each record, as the current rules compute it.
pub fn hashes(games: &Games, records: &[StoredRecord]) -> Result<Vec<StateHash>, ReplayError> {
    let mut out = Vec::with_capacity(records.len());
    replay(games, records, |_, _, m| out.push(m.state.state_hash()))?;
    Ok(out)
}

/// Builds the export of a match from its records.
pub fn export(
    games: &Games,
    match_id: &str,
    records: &[StoredRecord],
) -> Result<Export, ReplayError> {
    let hashes = hashes(games, records)?;
    let m = replay(games, &records[..1], |_, _, _| {})?;
    let (game, rules_version) = (m.created.game.clone(), m.created.rules_version);
    let mut chain = genesis(match_id, &game, rules_version);
    let events = records
        .iter()
        .zip(hashes)
        .map(|(r, hash)| {
            chain = link(&chain, r.seq, hash.0, &r.bytes);
            ExportedEvent {
                seq: r.seq,
                record: STANDARD.encode(&r.bytes),
                state_hash: hash.to_string(),
                chain: hex(&chain),
            }
        })
        .collect();
    Ok(Export {
        format: FORMAT.into(),
        version: VERSION,
        match_id: match_id.into(),
        game,
        rules_version,
        events,
    })
}

/// Reads an export: its shape, its chain, and that the current rules reproduce every state
/// hash. Returns the records.
pub fn check(json: &[u8], games: &Games) -> Result<(Export, Vec<StoredRecord>), ArchiveError> {
    let export: Export =
        serde_json::from_slice(json).map_err(|e| ArchiveError::Shape(e.to_string()))?;
    if export.format != FORMAT || export.version != VERSION {
        let (format, version) = (export.format.clone(), export.version);
        return Err(ArchiveError::Format { format, version });
    }
    if export.events.is_empty() {
        return Err(ArchiveError::Empty);
    }
    let mut chain = genesis(&export.match_id, &export.game, export.rules_version);
    let mut records = Vec::with_capacity(export.events.len());
    let mut recorded = Vec::with_capacity(export.events.len());
    for (index, e) in export.events.iter().enumerate() {
        if e.seq != index as u64 {
            return Err(ArchiveError::Seq { index, seq: e.seq });
        }
        let field = |what: &str| ArchiveError::Field { seq: e.seq, what: what.into() };
        let bytes = STANDARD.decode(&e.record).map_err(|_| field("record is not base64"))?;
        let hash: StateHash =
            e.state_hash.parse().map_err(|_| field("state_hash is not 16 hex digits"))?;
        chain = link(&chain, e.seq, hash.0, &bytes);
        if hex(&chain) != e.chain {
            return Err(ArchiveError::Chain { seq: e.seq });
        }
        records.push(StoredRecord { seq: e.seq, bytes });
        recorded.push(hash);
    }
    let created = replay(games, &records[..1], |_, _, _| {}).map_err(Divergence::from)?;
    if (created.created.game.as_str(), created.created.rules_version)
        != (export.game.as_str(), export.rules_version)
    {
        return Err(ArchiveError::Header {
            header: format!("{} v{}", export.game, export.rules_version),
            record: format!("{} v{}", created.created.game, created.created.rules_version),
        });
    }
    first_divergence(games, &records, &recorded)?;
    Ok((export, records))
}

/// The first event whose state hash the current rules do not reproduce, if any.
pub fn first_divergence(
    games: &Games,
    records: &[StoredRecord],
    recorded: &[StateHash],
) -> Result<(), Divergence> {
    let now = hashes(games, records)?;
    match now.iter().zip(recorded).zip(records).find(|((n, r), _)| n != r) {
        Some(((now, recorded), record)) => {
            Err(Divergence::Hash { seq: record.seq, recorded: *recorded, now: *now })
        }
        None => Ok(()),
    }
}
