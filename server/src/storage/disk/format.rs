//! The byte layout of log segments (docs/LOG_FORMAT.md), defined here and nowhere else:
//! segment headers, commit frames and records, and the hash that chains a match's records.
//!
//! Every number is little-endian. A commit frame is `magic, payload length, commit number,
//! header CRC, records, end marker`; a record is `length, CRC, match id, seq, previous
//! record's hash, body`. The CRCs (crc32c) catch accidents; the hash chain (SHA-256) makes any
//! change to a stored event visible at the next record of its match.

use sha2::{Digest, Sha256};

/// The first bytes of every segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"ARBSEG01";
/// Segment header: magic and the segment's number.
pub const SEGMENT_HEADER: usize = 16;
/// The first bytes of every commit frame.
pub const COMMIT_MAGIC: &[u8; 4] = b"ARBC";
/// The last bytes of every commit frame. None of its bytes is zero, and no single bit flip
/// makes one zero, so a frame whose marker reads as zeros was never completely written.
pub const END_MARKER: &[u8; 4] = b"END.";
/// Commit header: magic, payload length, commit number, CRC of the previous 16 bytes.
pub const COMMIT_HEADER: usize = 20;
/// A commit's bytes besides its records.
pub const COMMIT_OVERHEAD: usize = COMMIT_HEADER + END_MARKER.len();
/// Record header: content length, CRC of the length and the content.
pub const RECORD_HEADER: usize = 8;
/// The shortest record content: an empty match id, a seq and a hash.
pub const MIN_CONTENT: usize = 1 + 8 + 32;
/// The longest match id a record holds.
pub const MAX_MATCH_ID: usize = 255;

/// A SHA-256 digest: a record's hash, or its predecessor's.
pub type Hash = [u8; 32];

/// The hash before a match's first record.
pub const GENESIS: Hash = [0; 32];

/// The hash of a record's content (everything after its header).
pub fn hash(content: &[u8]) -> Hash {
    Sha256::digest(content).into()
}

/// The 16 bytes that open segment `number`.
pub fn segment_header(number: u64) -> [u8; SEGMENT_HEADER] {
    let mut header = [0; SEGMENT_HEADER];
    header[..8].copy_from_slice(SEGMENT_MAGIC);
    header[8..].copy_from_slice(&number.to_le_bytes());
    header
}

/// Builds one commit frame, record by record.
pub struct CommitBuilder {
    bytes: Vec<u8>,
}

impl CommitBuilder {
    /// An empty frame for commit `number`.
    pub fn new(number: u64) -> CommitBuilder {
        let mut bytes = Vec::with_capacity(4096);
        bytes.extend_from_slice(COMMIT_MAGIC);
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&number.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        CommitBuilder { bytes }
    }

    /// Appends a record and returns its hash and where the whole record sits in the frame.
    /// The caller keeps match ids within [`MAX_MATCH_ID`] bytes.
    pub fn record(&mut self, match_id: &str, seq: u64, prev: &Hash, body: &[u8]) -> (Hash, Span) {
        let id = &match_id.as_bytes()[..match_id.len().min(MAX_MATCH_ID)];
        let start = self.bytes.len();
        let content_len = 1 + id.len() + 8 + 32 + body.len();
        self.bytes.extend_from_slice(&(content_len as u32).to_le_bytes());
        self.bytes.extend_from_slice(&[0; 4]);
        self.bytes.push(id.len() as u8);
        self.bytes.extend_from_slice(id);
        self.bytes.extend_from_slice(&seq.to_le_bytes());
        self.bytes.extend_from_slice(prev);
        self.bytes.extend_from_slice(body);
        let crc = record_crc(&self.bytes[start..start + 4], &self.bytes[start + RECORD_HEADER..]);
        self.bytes[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        let end = self.bytes.len();
        let span = Span { start: start as u32, len: (end - start) as u32 };
        (hash(&self.bytes[start + RECORD_HEADER..end]), span)
    }

    /// The payload bytes so far.
    pub fn payload_len(&self) -> usize {
        self.bytes.len() - COMMIT_HEADER
    }

    /// The finished frame.
    pub fn finish(mut self) -> Vec<u8> {
        let len = self.payload_len() as u32;
        self.bytes[4..8].copy_from_slice(&len.to_le_bytes());
        let crc = crc32c::crc32c(&self.bytes[..16]);
        self.bytes[16..20].copy_from_slice(&crc.to_le_bytes());
        self.bytes.extend_from_slice(END_MARKER);
        self.bytes
    }
}

/// Where some bytes sit, relative to the start of a frame or segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Length in bytes.
    pub len: u32,
}

/// The CRC a record header holds: over its length field and its content.
pub fn record_crc(len_field: &[u8], content: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len_field), content)
}

/// A valid commit header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitHeader {
    /// Bytes of records.
    pub payload_len: usize,
    /// The commit's number, counting from 1 over the whole log.
    pub number: u64,
}

/// The commit header at the start of `bytes`, if it is whole and its CRC holds.
pub fn commit_header(bytes: &[u8]) -> Option<CommitHeader> {
    let header = bytes.get(..COMMIT_HEADER)?;
    if &header[..4] != COMMIT_MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(header[16..20].try_into().ok()?);
    if crc32c::crc32c(&header[..16]) != crc {
        return None;
    }
    let payload_len = u32::from_le_bytes(header[4..8].try_into().ok()?) as usize;
    let number = u64::from_le_bytes(header[8..16].try_into().ok()?);
    Some(CommitHeader { payload_len, number })
}

/// A record read from a frame, its CRC checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView {
    /// The match.
    pub match_id: String,
    /// Its seq in the match.
    pub seq: u64,
    /// The hash of the match's previous record ([`GENESIS`] for seq 0).
    pub prev: Hash,
    /// This record's hash.
    pub hash: Hash,
    /// Where the body sits in the bytes parsed.
    pub body: Span,
    /// The record's whole size, header included.
    pub size: usize,
}

/// The record at `at` in `bytes`, if it is whole and its CRC holds.
pub fn record_at(bytes: &[u8], at: usize) -> Option<RecordView> {
    let len_field = bytes.get(at..at + 4)?;
    let content_len = u32::from_le_bytes(len_field.try_into().ok()?) as usize;
    if content_len < MIN_CONTENT {
        return None;
    }
    let crc = u32::from_le_bytes(bytes.get(at + 4..at + 8)?.try_into().ok()?);
    let start = at + RECORD_HEADER;
    let content = bytes.get(start..start.checked_add(content_len)?)?;
    if record_crc(len_field, content) != crc {
        return None;
    }
    let claim = claim(content)?;
    let body_start = start + claim.fixed_len;
    Some(RecordView {
        match_id: claim.match_id?,
        seq: claim.seq,
        prev: claim.prev,
        hash: hash(content),
        body: Span { start: body_start as u32, len: (content_len - claim.fixed_len) as u32 },
        size: RECORD_HEADER + content_len,
    })
}

/// What the fixed fields of a record's content say, trusted or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The match id, when its bytes are UTF-8.
    pub match_id: Option<String>,
    /// The seq.
    pub seq: u64,
    /// The predecessor's hash.
    pub prev: Hash,
    /// Bytes before the body.
    fixed_len: usize,
}

/// Reads the fixed fields at the start of a record's content. Used on damaged records too,
/// to find whose they were: a single flipped bit leaves the id or the predecessor's hash
/// intact.
pub fn claim(content: &[u8]) -> Option<Claim> {
    let id_len = *content.first()? as usize;
    let id = content.get(1..1 + id_len)?;
    let seq = u64::from_le_bytes(content.get(1 + id_len..9 + id_len)?.try_into().ok()?);
    let prev: Hash = content.get(9 + id_len..41 + id_len)?.try_into().ok()?;
    let match_id = std::str::from_utf8(id).ok().map(str::to_string);
    Some(Claim { match_id, seq, prev, fixed_len: 41 + id_len })
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The layout is a schema: these bytes are what data dirs in the field hold.
    #[test]
    fn golden_commit_bytes() {
        let mut commit = CommitBuilder::new(1);
        let (first, _) = commit.record("m1", 0, &GENESIS, b"A");
        let (_, span) = commit.record("m1", 1, &first, b"BC");
        let frame = commit.finish();
        expect!["41524243690000000100000000000000736d38cc2c000000a791b9d9026d3100000000000000000000000000000000000000000000000000000000000000000000000000000000412d00000081c6c669026d3101000000000000004764fabac492540fa8b75266dd4ce209602c19c6696ca07ef8f8072a48dd82404243454e442e"]
        .assert_eq(&hex(&frame));
        assert_eq!(record_at(&frame, span.start as usize).map(|r| r.size), Some(span.len as usize));
        let header = commit_header(&frame).expect("a valid header");
        assert_eq!(header, CommitHeader { payload_len: frame.len() - COMMIT_OVERHEAD, number: 1 });
        let record = record_at(&frame, COMMIT_HEADER).expect("a valid record");
        assert_eq!((record.match_id.as_str(), record.seq, record.prev), ("m1", 0, GENESIS));
        let second = record_at(&frame, COMMIT_HEADER + record.size).expect("a valid record");
        assert_eq!((second.seq, second.prev), (1, record.hash));
    }

    #[test]
    fn a_changed_byte_fails_the_record_or_header_check() {
        let mut commit = CommitBuilder::new(9);
        commit.record("match", 3, &[7; 32], b"payload");
        let frame = commit.finish();
        for at in 0..frame.len() - END_MARKER.len() {
            let mut bad = frame.clone();
            bad[at] ^= 0x10;
            let header_ok = commit_header(&bad).is_some();
            let record_ok = record_at(&bad, COMMIT_HEADER).is_some();
            assert!(!(header_ok && record_ok), "a flip at byte {at} went unnoticed");
        }
    }
}
