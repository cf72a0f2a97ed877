//! Segment files on disk: naming, listing, creating them zero-filled ahead of use, and
//! reading a record back.
//!
//! A segment is created whole — header, zeros to its full size, synced, then renamed into
//! place and its directory synced — so a segment file that exists is never half-made, and
//! commits into it overwrite zeros (no block allocation or size change on the commit path).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::pio;

use super::format::segment_header;

/// The path of segment `number` in `dir`.
pub fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.seg"))
}

/// The numbers of the segments in `dir`, in order. Leftovers of a creation that was cut are
/// removed.
pub fn list(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".seg.tmp") {
            std::fs::remove_file(entry.path())?;
        } else if let Some(n) = name.strip_suffix(".seg").and_then(|n| n.parse().ok()) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Creates segment `number` of `size` bytes, zero-filled, durably.
pub fn create(dir: &Path, number: u64, size: usize) -> std::io::Result<File> {
    let path = segment_path(dir, number);
    let tmp = path.with_extension("seg.tmp");
    {
        let mut file = File::create(&tmp)?;
        file.write_all(&segment_header(number))?;
        let zeros = vec![0u8; 1 << 20];
        let mut left = size.saturating_sub(segment_header(number).len());
        while left > 0 {
            let n = left.min(zeros.len());
            file.write_all(&zeros[..n])?;
            left -= n;
        }
        file.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    sync_dir(dir)?;
    open(dir, number, false)
}

/// Opens segment `number` for reading, and writing unless `read_only`.
pub fn open(dir: &Path, number: u64, read_only: bool) -> std::io::Result<File> {
    File::options().read(true).write(!read_only).open(segment_path(dir, number))
}

pub use pio::sync_dir;

/// Overwrites `len` bytes at `offset` with zeros and syncs (cutting a torn tail).
pub fn zero(file: &File, offset: u64, len: usize) -> std::io::Result<()> {
    pio::write_all_at(file, &vec![0; len], offset)?;
    file.sync_data()
}

/// Reads `len` bytes at `offset`.
pub fn read_at(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    pio::read_exact_at(file, &mut buf, offset)?;
    Ok(buf)
}
