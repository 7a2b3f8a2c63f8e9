//! Which server keys this user trusts, pinned like ssh's `known_hosts`:
//! the first key seen for a server (host and port) is remembered once the
//! user accepts it, and a different key later is refused until the user
//! forgets the old one on purpose (`lanchat --forget HOST:PORT`).
//!
//! The file, `known_servers` in the client's data directory
//! (`$XDG_DATA_HOME/lanchat/`), has one server a line, `HOST:PORT
//! SHA256:...`; blank lines and lines starting with `#` are ignored, and
//! so is a line that does not parse (it is kept as it is).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use lanchat_shared::Fingerprint;

/// What the pinned keys say about a key a server presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The key pinned for this server.
    Known,
    /// No key is pinned for this server yet.
    New,
    /// Another key is pinned: someone may be between us and the server,
    /// or the server's key was replaced.
    Changed {
        /// The key pinned before.
        pinned: Fingerprint,
    },
}

/// The pinned keys, read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownServers {
    path: PathBuf,
    entries: Vec<(String, Fingerprint)>,
}

/// The file of pinned keys in the client's data directory, if there is a
/// data directory.
pub fn default_path() -> Option<PathBuf> {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share"))
        })?;
    Some(data_home.join("lanchat").join("known_servers"))
}

impl KnownServers {
    /// Reads the file at `path`; a missing file pins nothing.
    pub fn load(path: &Path) -> std::io::Result<KnownServers> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(error),
        };
        let entries = text.lines().filter_map(parse_line).collect();
        Ok(KnownServers {
            path: path.to_owned(),
            entries,
        })
    }

    /// What the pins say about `key` presented by `server` (`HOST:PORT`).
    pub fn verdict(&self, server: &str, key: &Fingerprint) -> Verdict {
        match self.pinned(server) {
            None => Verdict::New,
            Some(pinned) if pinned == key => Verdict::Known,
            Some(pinned) => Verdict::Changed {
                pinned: pinned.clone(),
            },
        }
    }

    /// The key pinned for `server`, if any.
    pub fn pinned(&self, server: &str) -> Option<&Fingerprint> {
        self.entries
            .iter()
            .find(|(name, _)| name == server)
            .map(|(_, key)| key)
    }

    /// Pins `key` for `server`, appending a line (made with mode 0600, and
    /// its directory if needed).
    pub fn remember(&mut self, server: &str, key: &Fingerprint) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // A file edited by hand may lack its last newline; the new line
        // must not run into it.
        let ends_open = std::fs::read(&self.path)
            .map(|bytes| bytes.last().is_some_and(|&last| last != b'\n'))
            .unwrap_or(false);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode_private()
            .open(&self.path)?;
        if ends_open {
            writeln!(file)?;
        }
        writeln!(file, "{server} {key}")?;
        self.entries.push((server.to_owned(), key.clone()));
        Ok(())
    }

    /// Removes the pin of `server`; true if there was one. Other lines,
    /// comments included, are kept as they were.
    pub fn forget(&mut self, server: &str) -> std::io::Result<bool> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(error),
        };
        let kept: Vec<&str> = text
            .lines()
            .filter(|line| parse_line(line).is_none_or(|(name, _)| name != server))
            .collect();
        let forgot = kept.len() != text.lines().count();
        if forgot {
            let mut rest = kept.join("\n");
            rest.push('\n');
            std::fs::write(&self.path, rest)?;
            self.entries.retain(|(name, _)| name != server);
        }
        Ok(forgot)
    }
}

/// What the user is told when `server` presents `presented` instead of
/// the key pinned for it, before full screen and in the scrollback alike.
pub fn key_changed_warning(server: &str, pinned: &Fingerprint, presented: &Fingerprint) -> String {
    format!(
        "WARNING: the server at {server} presented a different key than before.\n  \
         pinned:    {pinned}\n  presented: {presented}\n\
         Someone may be between you and the server, reading or changing what you send, or its \
         operator replaced its key. Nothing was sent to it. If you know the key was replaced \
         (ask its operator for the new fingerprint), forget the old one with \
         `lanchat --forget {server}` and join again."
    )
}

fn parse_line(line: &str) -> Option<(String, Fingerprint)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (server, key) = line.split_once(char::is_whitespace)?;
    Some((server.to_owned(), Fingerprint::parse(key).ok()?))
}

/// Opening the file readable by its owner alone, on Unix.
trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: &[u8]) -> Fingerprint {
        Fingerprint::of_public_key(seed)
    }

    #[test]
    fn a_key_is_new_then_known_and_a_different_one_is_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lanchat").join("known_servers");
        let mut known = KnownServers::load(&path).unwrap();
        assert_eq!(known.verdict("10.0.0.5:7878", &key(b"a")), Verdict::New);
        known.remember("10.0.0.5:7878", &key(b"a")).unwrap();
        let known = KnownServers::load(&path).unwrap();
        assert_eq!(known.verdict("10.0.0.5:7878", &key(b"a")), Verdict::Known);
        assert_eq!(
            known.verdict("10.0.0.5:7878", &key(b"b")),
            Verdict::Changed { pinned: key(b"a") }
        );
        assert_eq!(known.verdict("10.0.0.5:7879", &key(b"a")), Verdict::New);
    }

    #[test]
    fn a_pin_never_runs_into_a_hand_edited_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_servers");
        std::fs::write(&path, format!("attic:7878 {}", key(b"a"))).unwrap();
        let mut known = KnownServers::load(&path).unwrap();
        known.remember("cellar:7878", &key(b"c")).unwrap();
        let known = KnownServers::load(&path).unwrap();
        assert_eq!(known.verdict("attic:7878", &key(b"a")), Verdict::Known);
        assert_eq!(known.verdict("cellar:7878", &key(b"c")), Verdict::Known);
    }

    #[test]
    fn forgetting_one_server_keeps_every_other_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_servers");
        let text = format!(
            "# my servers\nattic:7878 {}\nnot a line\ncellar:7878 {}\n",
            key(b"a"),
            key(b"c")
        );
        std::fs::write(&path, &text).unwrap();
        let mut known = KnownServers::load(&path).unwrap();
        assert!(known.forget("attic:7878").unwrap());
        assert!(!known.forget("attic:7878").unwrap());
        let left = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            left,
            format!("# my servers\nnot a line\ncellar:7878 {}\n", key(b"c"))
        );
        assert_eq!(known.verdict("attic:7878", &key(b"a")), Verdict::New);
        assert_eq!(known.verdict("cellar:7878", &key(b"c")), Verdict::Known);
    }
}
