//! The key pair and self-signed certificate that a server (its TLS key) or
//! a person (their identity) is known by, in one PEM file: the certificate,
//! then the private key. The file is made on first use, readable and
//! writable by its owner alone (mode 0600), and never rewritten after.
//!
//! A self-signed certificate is normal here: there is no authority on a
//! LAN, and peers trust a key by its [`Fingerprint`] (pinned like ssh),
//! not by who signed it.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::Fingerprint;

/// The name put in a certificate made here. Nobody checks it: peers pin the
/// key, so any name would do; this one says what made it.
const CERTIFICATE_NAME: &str = "lanchat";

/// A key and the certificates that go with it, ready for TLS.
#[derive(Debug)]
pub struct KeyFile {
    /// The certificate first, then any chain that came with it.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
    /// The key's fingerprint, from the first certificate.
    pub fingerprint: Fingerprint,
}

/// Why a key file could not be read or made. Says which file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct KeyFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, for people.
    pub problem: String,
}

impl KeyFileError {
    fn new(path: &Path, problem: impl ToString) -> KeyFileError {
        KeyFileError {
            path: path.to_owned(),
            problem: problem.to_string(),
        }
    }
}

/// Whether [`load_or_create`] found the file or made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// It was there.
    Loaded,
    /// It was made just now, with a new key.
    Created,
}

/// Reads the key file at `path`, making it first (and its directory) if
/// there is none.
pub fn load_or_create(path: &Path) -> Result<(KeyFile, Origin), KeyFileError> {
    if path.exists() {
        return Ok((load(path, path)?, Origin::Loaded));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| KeyFileError::new(dir, e))?;
    }
    let pem = new_identity_pem().map_err(|e| KeyFileError::new(path, e))?;
    // create_new: two processes starting at once must not both write it.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| KeyFileError::new(path, e))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyFileError::new(path, e))?;
    Ok((load(path, path)?, Origin::Created))
}

/// A key and certificate made in memory, kept nowhere.
pub fn ephemeral() -> Result<KeyFile, KeyFileError> {
    let here = Path::new("(in memory)");
    let pem = new_identity_pem().map_err(|e| KeyFileError::new(here, e))?;
    parse(pem.as_bytes(), pem.as_bytes(), here, here)
}

/// Reads certificates from `cert_path` and the private key from
/// `key_path` (the same file for a key file made here).
pub fn load(cert_path: &Path, key_path: &Path) -> Result<KeyFile, KeyFileError> {
    let certs = std::fs::read(cert_path).map_err(|e| KeyFileError::new(cert_path, e))?;
    let key = std::fs::read(key_path).map_err(|e| KeyFileError::new(key_path, e))?;
    parse(&certs, &key, cert_path, key_path)
}

fn parse(
    certs: &[u8],
    key: &[u8],
    cert_path: &Path,
    key_path: &Path,
) -> Result<KeyFile, KeyFileError> {
    let chain = CertificateDer::pem_slice_iter(certs)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| KeyFileError::new(cert_path, format!("unreadable PEM: {e}")))?;
    let first = chain
        .first()
        .ok_or_else(|| KeyFileError::new(cert_path, "no CERTIFICATE in the file"))?;
    let fingerprint =
        Fingerprint::of_certificate(first).map_err(|e| KeyFileError::new(cert_path, e))?;
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| KeyFileError::new(key_path, format!("no private key: {e}")))?;
    Ok(KeyFile {
        chain,
        key,
        fingerprint,
    })
}

/// A new ECDSA P-256 key and a self-signed certificate for it, as PEM.
fn new_identity_pem() -> Result<String, rcgen::Error> {
    let key = rcgen::KeyPair::generate()?;
    let cert =
        rcgen::CertificateParams::new(vec![CERTIFICATE_NAME.to_owned()])?.self_signed(&key)?;
    Ok(format!("{}{}", cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_key_file_is_made_once_private_and_then_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deeper").join("identity.pem");
        let (made, origin) = load_or_create(&path).unwrap();
        assert_eq!(origin, Origin::Created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by its owner alone");
        let (again, origin) = load_or_create(&path).unwrap();
        assert_eq!(origin, Origin::Loaded);
        assert_eq!(again.fingerprint, made.fingerprint);
        assert_eq!(again.chain, made.chain);
        assert_ne!(ephemeral().unwrap().fingerprint, made.fingerprint);
    }

    #[test]
    fn a_file_without_a_certificate_or_key_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.pem");
        std::fs::write(&path, "not pem at all").unwrap();
        let error = load(&path, &path).unwrap_err();
        assert!(error.to_string().contains("junk.pem"), "{error}");
        assert!(error.problem.contains("CERTIFICATE"), "{error}");
        let (good, _) = load_or_create(&dir.path().join("good.pem")).unwrap();
        drop(good);
        let only_cert = std::fs::read_to_string(dir.path().join("good.pem")).unwrap();
        let cert_part = only_cert.split("-----BEGIN PRIVATE KEY").next().unwrap();
        std::fs::write(&path, cert_part).unwrap();
        let error = load(&path, &path).unwrap_err();
        assert!(error.problem.contains("private key"), "{error}");
    }
}
