//! `--allow FILE`: the identities that alone may connect. The file holds
//! key fingerprints (`SHA256:...`), one a line; blank lines and `#`
//! comments are ignored, and anything after the fingerprint on a line is
//! too (a name, say). A connection whose identity is not listed — a guest
//! included — is told `not_allowed` and closed before anything else.
//!
//! The file is read at start (a line that is no fingerprint stops the
//! server, naming the line) and again on SIGHUP: a good new list applies
//! to new connections; a bad one is reported and the old list kept.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use lanchat_shared::Fingerprint;

/// The identities admitted, and where they were read from.
#[derive(Debug)]
pub struct AllowList {
    path: PathBuf,
    keys: RwLock<HashSet<Fingerprint>>,
}

/// Why the file of admitted identities cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct AllowFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, with the line number if a line is.
    pub problem: String,
}

impl AllowList {
    /// Reads the list at `path`.
    pub fn load(path: &Path) -> Result<AllowList, AllowFileError> {
        Ok(AllowList {
            path: path.to_owned(),
            keys: RwLock::new(read(path)?),
        })
    }

    /// Reads the file again; returns how many identities it admits now.
    /// On an error the list stays as it was.
    pub fn reload(&self) -> Result<usize, AllowFileError> {
        let keys = read(&self.path)?;
        let count = keys.len();
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(count)
    }

    /// True if `identity` is on the list (a guest, having none, never is).
    pub(crate) fn admits(&self, identity: Option<&Fingerprint>) -> bool {
        identity.is_some_and(|identity| {
            self.keys
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(identity)
        })
    }
}

fn read(path: &Path) -> Result<HashSet<Fingerprint>, AllowFileError> {
    let fail = |problem: String| AllowFileError {
        path: path.to_owned(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|error| fail(error.to_string()))?;
    let mut keys = HashSet::new();
    for (number, line) in text.lines().enumerate() {
        let Some(first) = line
            .split_whitespace()
            .next()
            .filter(|w| !w.starts_with('#'))
        else {
            continue;
        };
        let key = Fingerprint::parse(first)
            .map_err(|error| fail(format!("line {}: {error}", number + 1)))?;
        keys.insert(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_keys_are_admitted_guests_never_and_a_bad_reload_keeps_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allow");
        let (alice, bob) = (
            Fingerprint::of_public_key(b"alice"),
            Fingerprint::of_public_key(b"bob"),
        );
        std::fs::write(&path, format!("# the team\n\n{alice} alice's laptop\n")).unwrap();
        let list = AllowList::load(&path).unwrap();
        assert!(list.admits(Some(&alice)));
        assert!(!list.admits(Some(&bob)));
        assert!(!list.admits(None), "a guest");
        std::fs::write(&path, format!("{bob}\n")).unwrap();
        assert_eq!(list.reload().unwrap(), 1);
        assert!(list.admits(Some(&bob)) && !list.admits(Some(&alice)));
        std::fs::write(&path, format!("{alice}\nnot a key\n")).unwrap();
        let error = list.reload().unwrap_err();
        assert!(error.problem.starts_with("line 2:"), "{error}");
        assert!(list.admits(Some(&bob)), "the old list stays");
    }
}
