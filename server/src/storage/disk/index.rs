//! The per-match index of the log, built by replaying what the segments hold: where each
//! record sits, each match's head hash, and which matches are quarantined.
//!
//! A match is quarantined when one of its records is damaged or its chain breaks (a seq
//! skipped or repeated, a predecessor hash that is not its head's hash). Its records before
//! the damage stay readable; nothing after it is served or appended, so a damaged history is
//! never silently shortened or continued. Damage that cannot be tied to a match is reported
//! for the whole log.

use std::collections::{HashMap, HashSet};

use super::format::{GENESIS, Hash};
use super::scan::{Item, Scanned};
use crate::storage::MatchSummary;

/// Where a record sits: segment number, offset of the record (header included), length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    /// The segment's number.
    pub segment: u32,
    /// The record's offset in the segment.
    pub offset: u32,
    /// The record's whole length.
    pub len: u32,
}

/// What the log knows of one match.
#[derive(Debug, Clone, Default)]
pub struct MatchEntry {
    /// Every record, by seq.
    pub locs: Vec<Loc>,
    /// The hash of the last record.
    pub head: Hash,
    /// The latest summary while it may differ from the projection's (`None`: read the
    /// projection).
    pub summary: Option<MatchSummary>,
    /// Why the match is quarantined, if it is.
    pub damaged: Option<String>,
}

/// Every match of the log.
#[derive(Debug, Default)]
pub struct Index {
    /// Matches by id.
    pub matches: HashMap<String, MatchEntry>,
    /// Damage no match could be found for, one line each.
    pub unattributed: Vec<String>,
    /// Which match each head hash belongs to, to find the owner of a damaged record.
    owners: HashMap<Hash, String>,
}

impl Index {
    /// Adds what segment `segment` holds; returns the matches of commits numbered above
    /// `after` (those the projection has not seen).
    pub fn add(&mut self, segment: u32, scanned: &Scanned, after: u64) -> HashSet<String> {
        let mut touched = HashSet::new();
        for item in &scanned.items {
            match item {
                Item::Record { commit, record } => {
                    if *commit > after {
                        touched.insert(record.match_id.clone());
                    }
                    let size = record.size as u32;
                    let offset = record.body.start + record.body.len - size;
                    let loc = Loc { segment, offset, len: size };
                    self.push(&record.match_id, record.seq, &record.prev, record.hash, loc);
                }
                Item::Damage { range, claim } => {
                    let place = format!("segment {segment} bytes {}..{}", range.start, range.end);
                    let owner = claim.as_ref().and_then(|c| {
                        let by_id = c.match_id.as_ref().filter(|id| self.matches.contains_key(*id));
                        by_id.cloned().or_else(|| self.owners.get(&c.prev).cloned())
                    });
                    match owner {
                        Some(id) => {
                            touched.insert(id.clone());
                            self.quarantine(&id, format!("a record is damaged ({place})"));
                        }
                        None => self.unattributed.push(format!("damaged bytes in {place}")),
                    }
                }
            }
        }
        touched
    }

    /// Appends a record found on disk, checking it continues its match's chain.
    fn push(&mut self, match_id: &str, seq: u64, prev: &Hash, hash: Hash, loc: Loc) {
        let entry = self.matches.entry(match_id.to_string()).or_default();
        if entry.damaged.is_some() {
            return;
        }
        let expected = entry.locs.len() as u64;
        let expected_prev = if expected == 0 { GENESIS } else { entry.head };
        if seq != expected || *prev != expected_prev {
            let why = format!(
                "record {seq} (segment {} offset {}) does not follow record {} of its chain",
                loc.segment,
                loc.offset,
                expected.wrapping_sub(1) as i64
            );
            self.quarantine(match_id, why);
            return;
        }
        self.owners.remove(&entry.head);
        entry.locs.push(loc);
        entry.head = hash;
        self.owners.insert(hash, match_id.to_string());
    }

    /// Quarantines a match (the first reason is kept).
    pub fn quarantine(&mut self, match_id: &str, why: String) {
        let entry = self.matches.entry(match_id.to_string()).or_default();
        if entry.damaged.is_none() {
            tracing::error!(match_id, reason = %why, "match quarantined: its log is damaged");
            entry.damaged = Some(why);
        }
    }

    /// Records that a commit added `hash` as the head of `match_id`.
    pub fn advance(&mut self, match_id: &str, loc: Loc, hash: Hash) {
        let entry = self.matches.entry(match_id.to_string()).or_default();
        self.owners.remove(&entry.head);
        entry.locs.push(loc);
        entry.head = hash;
        self.owners.insert(hash, match_id.to_string());
    }
}
