//! The QUIC server's certificate: the files an operator gives (`--quic-cert`, `--quic-key`), or
//! a development certificate generated on first start and kept in the data directory, written
//! safely (a temporary file, synced, renamed, the directory synced). Clients pin it by the
//! SHA-256 fingerprint the server prints and serves at `GET /api/quic`.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use crate::files::write_atomically;

/// Where the development certificate lives in the data directory.
pub const DEV_CERT_FILE: &str = "quic-cert.pem";
/// Its private key.
pub const DEV_KEY_FILE: &str = "quic-key.pem";
/// The names the development certificate is valid for.
const DEV_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why no certificate could be had.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file holds no certificate or key in PEM.
    #[error("{path}: no PEM {what} in it")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was looked for.
        what: &'static str,
    },
    /// Generating the development certificate failed.
    #[error("generating a development certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A certificate chain and its key.
#[derive(Debug)]
pub struct Identity {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// The lowercase hex SHA-256 of the leaf certificate (its DER bytes).
    pub fn fingerprint(&self) -> String {
        self.chain.first().map(|leaf| fingerprint(leaf)).unwrap_or_default()
    }

    /// Reads a PEM chain and key.
    pub fn load(cert: &Path, key: &Path) -> Result<Identity, CertError> {
        let cert_pem = std::fs::read(cert).map_err(|source| io_error(cert, source))?;
        let key_pem = std::fs::read(key).map_err(|source| io_error(key, source))?;
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&cert_pem).filter_map(Result::ok).collect();
        if chain.is_empty() {
            return Err(CertError::Pem { path: cert.to_path_buf(), what: "certificate" });
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|_| CertError::Pem { path: key.to_path_buf(), what: "private key" })?;
        Ok(Identity { chain, key })
    }

    /// The development certificate in `dir`, generated and stored there on first use.
    pub fn development(dir: &Path) -> Result<Identity, CertError> {
        let (cert, key) = (dir.join(DEV_CERT_FILE), dir.join(DEV_KEY_FILE));
        if cert.exists() && key.exists() {
            return Identity::load(&cert, &key);
        }
        let (cert_pem, key_pem) = generate()?;
        // The key first: a crash between the two leaves no certificate without its key.
        write_atomically(&key, key_pem.as_bytes(), true).map_err(|e| io_error(&key, e))?;
        write_atomically(&cert, cert_pem.as_bytes(), false).map_err(|e| io_error(&cert, e))?;
        Identity::load(&cert, &key)
    }

    /// A development certificate held in memory only (for servers that keep nothing).
    pub fn ephemeral() -> Result<Identity, CertError> {
        let certified = rcgen::generate_simple_self_signed(DEV_NAMES.map(String::from).to_vec())?;
        let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
        Ok(Identity { chain: vec![certified.cert.der().clone()], key: key.into() })
    }
}

fn io_error(path: &Path, source: std::io::Error) -> CertError {
    CertError::Io { path: path.to_path_buf(), source }
}

/// The lowercase hex SHA-256 of a certificate's DER bytes.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref()).iter().map(|b| format!("{b:02x}")).collect()
}

fn generate() -> Result<(String, String), CertError> {
    let certified = rcgen::generate_simple_self_signed(DEV_NAMES.map(String::from).to_vec())?;
    Ok((certified.cert.pem(), certified.key_pair.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_certificate_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let first = Identity::development(dir.path()).expect("generated");
        let again = Identity::development(dir.path()).expect("loaded");
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert_eq!(first.fingerprint().len(), 64);
        assert!(!dir.path().join("quic-key.tmp").exists(), "no temporary file is left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DEV_KEY_FILE))
                .expect("kept")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the key is the owner's only");
        }
    }

    #[test]
    fn files_without_pem_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, "not a certificate").expect("written");
        std::fs::write(&key, "not a key").expect("written");
        let error = Identity::load(&cert, &key).expect_err("refused").to_string();
        assert!(error.contains("c.pem") && error.contains("certificate"), "{error}");
        assert!(Identity::load(&dir.path().join("missing"), &key).is_err());
    }

    #[test]
    fn ephemeral_certificates_differ() {
        let (a, b) = (Identity::ephemeral().expect("made"), Identity::ephemeral().expect("made"));
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
