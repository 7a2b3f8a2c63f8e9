//! Read marks on disk: for each server, the newest message id read in each
//! buffer, so the history a server replays at every start does not ring or
//! count as unread again once it was read. Every room open when the client
//! quit has a mark (0 if nothing was read in it), which is how the next run
//! knows to open and join it again.
//!
//! The file is `$XDG_STATE_HOME/lanchat/read-marks` (or
//! `~/.local/state/lanchat/read-marks`), one mark per line:
//! `SERVER BUFFER ID`, e.g. `192.168.1.20:7878 @carol 1234`. A file that
//! cannot be read or written costs only that old history rings again; it
//! never stops the client.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::xdg_dir;

/// Most lines read from the file: far more than anyone's buffers, and a
/// bound on what a damaged or hostile file can make the client hold.
const MAX_LINES: usize = 10_000;

/// Where the marks are kept, if a home for them can be found.
pub fn default_path() -> Option<PathBuf> {
    Some(xdg_dir("XDG_STATE_HOME", ".local/state")?.join("lanchat/read-marks"))
}

/// The marks kept for `server` in the file at `path`; none if it cannot be
/// read.
pub fn load(path: &Path, server: &str) -> HashMap<String, u64> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    parse(&text)
        .filter(|(from, _, _)| *from == server)
        .map(|(_, buffer, id)| (buffer.to_owned(), id))
        .collect()
}

/// Replaces the marks kept for `server` with `marks`, keeping every other
/// server's; written to a temporary file and renamed, so a crash never
/// leaves half a file.
pub fn save(path: &Path, server: &str, marks: &HashMap<String, u64>) -> io::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut text = String::new();
    for (from, buffer, id) in parse(&old).filter(|(from, _, _)| *from != server) {
        text.push_str(&format!("{from} {buffer} {id}\n"));
    }
    let mut ours: Vec<_> = marks.iter().collect();
    ours.sort();
    for (buffer, id) in ours {
        text.push_str(&format!("{server} {buffer} {id}\n"));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

/// The well-formed lines of a marks file; anything else is skipped.
fn parse(text: &str) -> impl Iterator<Item = (&str, &str, u64)> {
    text.lines().take(MAX_LINES).filter_map(|line| {
        let mut words = line.split_whitespace();
        let (server, buffer, id) = (words.next()?, words.next()?, words.next()?);
        Some((server, buffer, id.parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_kept_per_server_and_survive_a_rewrite() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("state/lanchat/read-marks");
        assert!(load(&path, "a:1").is_empty(), "no file yet");
        let a = HashMap::from([("#dev".to_owned(), 9), ("@bob".to_owned(), 4)]);
        save(&path, "a:1", &a).expect("saved");
        let b = HashMap::from([("lobby".to_owned(), 2)]);
        save(&path, "b:2", &b).expect("saved");
        assert_eq!(load(&path, "a:1"), a);
        assert_eq!(load(&path, "b:2"), b);
        let newer = HashMap::from([("#dev".to_owned(), 12)]);
        save(&path, "a:1", &newer).expect("saved");
        assert_eq!(load(&path, "a:1"), newer);
        assert_eq!(load(&path, "b:2"), b, "other servers kept");
    }

    #[test]
    fn a_damaged_file_gives_what_can_be_read() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("read-marks");
        std::fs::write(
            &path,
            "a:1 #dev 5\ngarbage\na:1 @bob many\n\u{0}\na:1 #ops 7 extra\n",
        )
        .expect("written");
        let marks = load(&path, "a:1");
        assert_eq!(marks.get("#dev"), Some(&5));
        assert_eq!(marks.get("#ops"), Some(&7));
        assert_eq!(marks.len(), 2);
    }
}
