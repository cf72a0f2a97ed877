//! Reading one segment's bytes back: every record whose CRC holds, every stretch that is
//! damaged, and where the written data ends.
//!
//! Segments are zero-filled before use, so the bytes past the last commit are zeros. A commit
//! cut by a crash (a *torn tail*) is therefore a prefix of a frame followed by zeros: its end
//! marker is missing. Only the last segment can hold one, and only at its end; anything else
//! that does not parse is damage. Damage does not stop the scan: the records around it whose
//! CRCs hold are still found (each record carries its own CRC), so one bad byte costs one
//! record, not the rest of the log.

use std::ops::Range;

pub use super::format::RecordView;
use super::format::{
    COMMIT_HEADER, COMMIT_MAGIC, COMMIT_OVERHEAD, Claim, END_MARKER, RECORD_HEADER, SEGMENT_HEADER,
    SEGMENT_MAGIC, claim, commit_header, record_at,
};

/// What a segment holds.
#[derive(Debug, Default)]
pub struct Scanned {
    /// Records and damaged stretches, in file order.
    pub items: Vec<Item>,
    /// Where the next commit may be written: after the last whole commit (and, in a torn
    /// tail, before the cut frame).
    pub end: usize,
    /// The torn tail that was found, as a byte range to be zeroed before writing at `end`.
    pub torn: Option<Range<usize>>,
    /// The highest commit number seen.
    pub last_commit: u64,
}

impl Scanned {
    /// Whether any damage was found.
    pub fn damaged(&self) -> bool {
        self.items.iter().any(|item| matches!(item, Item::Damage { .. }))
    }
}

/// One thing found in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A record whose CRC holds, and the number of the commit that holds it (for records
    /// salvaged from a damaged frame: the last commit number seen before it).
    Record {
        /// The commit's number.
        commit: u64,
        /// The record; its body span is relative to the segment's start.
        record: RecordView,
    },
    /// Bytes that are neither a valid record nor a frame's framing.
    Damage {
        /// Where they sit in the segment.
        range: Range<usize>,
        /// What the record that starts there claims, read without trusting it.
        claim: Option<Claim>,
    },
}

/// Scans a segment. `last` says whether it is the newest one, the only one that may end in a
/// torn commit.
pub fn scan(bytes: &[u8], last: bool) -> Scanned {
    let data_end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let mut scanned = Scanned::default();
    if bytes.get(..8) != Some(SEGMENT_MAGIC.as_slice()) {
        // Segments are renamed into place whole, so this is damage; what follows may still
        // hold records.
        scanned.items.push(Item::Damage { range: 0..SEGMENT_HEADER.min(bytes.len()), claim: None });
    }
    let mut commit = 0;
    let mut pos = SEGMENT_HEADER;
    while pos < data_end {
        if let Some(header) = commit_header(&bytes[pos..]) {
            let end = pos.saturating_add(COMMIT_OVERHEAD).saturating_add(header.payload_len);
            commit = header.number;
            scanned.last_commit = scanned.last_commit.max(commit);
            if bytes.get(end - END_MARKER.len()..end) == Some(END_MARKER.as_slice()) {
                records(bytes, pos + COMMIT_HEADER..end - END_MARKER.len(), commit, &mut scanned);
                pos = end;
                continue;
            }
            if last && end > data_end {
                scanned.torn = Some(pos..data_end);
                break;
            }
        } else if last && data_end <= pos + COMMIT_HEADER {
            scanned.torn = Some(pos..data_end);
            break;
        }
        let next = next_commit(bytes, pos + 1, data_end);
        records(bytes, pos..next, commit, &mut scanned);
        pos = next;
    }
    scanned.end = scanned.torn.as_ref().map_or(pos.max(data_end), |torn| torn.start);
    scanned
}

/// The records in `range`; stretches between them that are not records become damage.
fn records(bytes: &[u8], range: Range<usize>, commit: u64, out: &mut Scanned) {
    let bounded = &bytes[..range.end];
    let mut pos = range.start;
    let mut damaged_from = None;
    while pos < range.end {
        match record_at(bounded, pos) {
            Some(record) => {
                if let Some(from) = damaged_from.take() {
                    out.items.push(damage(bytes, from..pos));
                }
                pos += record.size;
                out.items.push(Item::Record { commit, record });
            }
            None => {
                damaged_from.get_or_insert(pos);
                pos += 1;
            }
        }
    }
    if let Some(from) = damaged_from {
        out.items.push(damage(bytes, from..range.end));
    }
}

fn damage(bytes: &[u8], range: Range<usize>) -> Item {
    let content = bytes.get(range.start + RECORD_HEADER..range.end).unwrap_or_default();
    Item::Damage { claim: claim(content), range }
}

/// The next offset from `from` where a whole commit frame starts, or `limit`.
fn next_commit(bytes: &[u8], from: usize, limit: usize) -> usize {
    (from..limit)
        .find(|&at| {
            bytes[at..].starts_with(COMMIT_MAGIC)
                && commit_header(&bytes[at..]).is_some_and(|h| {
                    let end = at.saturating_add(COMMIT_OVERHEAD).saturating_add(h.payload_len);
                    bytes.get(end - END_MARKER.len()..end) == Some(END_MARKER.as_slice())
                })
        })
        .unwrap_or(limit)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::format::{CommitBuilder, GENESIS, Hash, segment_header};
    use super::*;

    /// A record as (match, seq, body).
    type Written = (String, u64, Vec<u8>);

    /// A segment of `commits` commits over three matches, zero-filled to `size`, and every
    /// record in it.
    fn segment(commits: usize, size: usize) -> (Vec<u8>, Vec<Written>) {
        let mut bytes = segment_header(0).to_vec();
        let mut heads: Vec<(u64, Hash)> = vec![(0, GENESIS); 3];
        let mut all = Vec::new();
        for c in 0..commits {
            let mut commit = CommitBuilder::new(c as u64 + 1);
            for (m, head) in heads.iter_mut().enumerate() {
                if (c + m) % 2 == 0 {
                    continue;
                }
                let (seq, prev) = *head;
                let body = vec![c as u8; 5 + m];
                let (hash, _) = commit.record(&format!("m{m}"), seq, &prev, &body);
                *head = (seq + 1, hash);
                all.push((format!("m{m}"), seq, body));
            }
            bytes.extend(commit.finish());
        }
        bytes.resize(size, 0);
        (bytes, all)
    }

    fn found(scanned: &Scanned, bytes: &[u8]) -> Vec<Written> {
        scanned
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Record { record, .. } => {
                    let body = &bytes[record.body.start as usize..][..record.body.len as usize];
                    Some((record.match_id.clone(), record.seq, body.to_vec()))
                }
                Item::Damage { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_clean_segment_reads_back_every_record() {
        let (bytes, all) = segment(6, 4096);
        let scanned = scan(&bytes, true);
        assert_eq!(found(&scanned, &bytes), all);
        assert!(!scanned.damaged() && scanned.torn.is_none());
        assert_eq!(scanned.end, bytes.iter().rposition(|&b| b != 0).expect("data") + 1);
    }

    #[test]
    fn a_torn_tail_at_every_byte_of_the_last_commit_is_cut_back_to_the_one_before() {
        let (whole, all) = segment(4, 4096);
        let (before, kept) = segment(3, 4096);
        let last_start = before.iter().rposition(|&b| b != 0).expect("data") + 1;
        let last_end = whole.iter().rposition(|&b| b != 0).expect("data") + 1;
        for cut in last_start..last_end {
            let mut bytes = whole.clone();
            bytes[cut..].fill(0);
            let scanned = scan(&bytes, true);
            assert_eq!(found(&scanned, &bytes), kept, "cut at {cut}");
            assert!(!scanned.damaged(), "cut at {cut} is a torn tail, not damage");
            assert_eq!(scanned.end, last_start, "cut at {cut}");
            // The same bytes with the file itself cut short.
            let scanned = scan(&whole[..cut], true);
            assert_eq!(found(&scanned, &whole[..cut]), kept, "file cut at {cut}");
        }
        assert_eq!(found(&scan(&whole, true), &whole), all);
    }

    #[test]
    fn a_torn_commit_is_damage_in_any_segment_but_the_last() {
        let (mut bytes, _) = segment(4, 4096);
        let end = bytes.iter().rposition(|&b| b != 0).expect("data") + 1;
        bytes[end - 10..].fill(0);
        assert!(scan(&bytes, false).damaged());
    }

    proptest! {
        /// One flipped bit anywhere in the written bytes is reported as damage, and every
        /// record found is one that was written, unchanged.
        #[test]
        fn a_flipped_bit_is_always_detected(at in SEGMENT_HEADER..100_000usize, bit in 0..8u8) {
            let (mut bytes, all) = segment(8, 4096);
            let end = bytes.iter().rposition(|&b| b != 0).expect("data") + 1;
            let at = SEGMENT_HEADER + at % (end - SEGMENT_HEADER);
            bytes[at] ^= 1 << bit;
            let scanned = scan(&bytes, true);
            prop_assert!(scanned.damaged(), "a flip at {} went unnoticed", at);
            prop_assert!(scanned.torn.is_none(), "a flip at {} passed for a torn tail", at);
            for record in found(&scanned, &bytes) {
                prop_assert!(all.contains(&record), "{:?} was never written", record);
            }
            prop_assert!(found(&scanned, &bytes).len() + 1 >= all.len());
        }
    }
}
