//! Small files the server keeps beside its log (the signing key, the QUIC certificate),
//! written so that a crash at any instant leaves the old file or the whole new one.

use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to `path` so that a crash leaves either the old file or the whole new one:
/// a temporary file, synced, renamed over `path`, then the directory synced so the rename
/// itself survives. `secret` files are readable by their owner only.
pub fn write_atomically(path: &Path, bytes: &[u8], secret: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Opening a directory to sync it works on Unix; elsewhere the rename is what we have.
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all())?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("signing.key");
        write_atomically(&path, b"old", true).expect("written");
        write_atomically(&path, b"new", true).expect("replaced");
        assert_eq!(std::fs::read(&path).expect("there"), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).expect("listed").count(), 1);
    }
}
