//! The settings file, `$XDG_CONFIG_HOME/lanchat/config.toml` (or
//! `~/.config/lanchat/config.toml`). Every key is optional; a flag on the
//! command line wins over the file. A file that cannot be read as these
//! settings stops the client before full screen, naming the file and the
//! key, rather than being half applied.
//!
//! ```toml
//! nickname = "ben"
//! server = "192.168.1.20:7878"
//! rooms = ["dev", "ops"]          # joined at start
//! highlights = ["deploy", "ben-team"]  # words that count as mentions
//! bell = true                     # false: as --no-bell
//! mouse = true                    # false: as --no-mouse
//! notify = true                   # false: as --no-notify
//! colours = true                  # false: nicknames in the default colour
//! auto_away = 15                  # minutes without a key press until away; 0: never
//! ```
//!
//! The file is read as a plain TOML table, key by key, so the client
//! state derives nothing from it (only the protocol types derive serde).

use std::path::{Path, PathBuf};

use lanchat_shared::RoomName;
use toml::{Table, Value};

/// Every key the file may hold, as `--help` and errors list them.
pub const KEYS: &str =
    "nickname, server, rooms, highlights, bell, mouse, notify, colours, auto_away";

/// The settings, with the defaults a missing key means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The nickname to ask for when `--nick` is not given.
    pub nickname: Option<String>,
    /// The server to join when `--server` (and `--host`) are not given.
    pub server: Option<String>,
    /// Rooms to join at every start.
    pub rooms: Vec<RoomName>,
    /// Words that count as mentions, as the nickname does.
    pub highlights: Vec<String>,
    /// Whether a highlight rings the bell.
    pub bell: bool,
    /// Whether the mouse starts captured.
    pub mouse: bool,
    /// Whether highlights send desktop notifications while unfocused.
    pub notify: bool,
    /// Whether nicknames are coloured.
    pub colours: bool,
    /// Minutes without a key press after which the client marks the user
    /// away (and back at the next key); 0: never.
    pub auto_away: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nickname: None,
            server: None,
            rooms: Vec::new(),
            highlights: Vec::new(),
            bell: true,
            mouse: true,
            notify: true,
            colours: true,
            auto_away: 0,
        }
    }
}

/// Where the settings file is looked for.
pub fn default_path() -> Option<PathBuf> {
    Some(xdg_dir("XDG_CONFIG_HOME", ".config")?.join("lanchat/config.toml"))
}

/// The directory an XDG `variable` names, or `fallback` under `$HOME`
/// when it is unset or empty (as the XDG base directory rules say).
pub fn xdg_dir(variable: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(variable)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(fallback)))
}

/// The settings in the file at `path`; the defaults if there is no file.
pub fn load(path: &Path) -> Result<Config, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).map_err(|error| format!("{}: {error}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(error) => Err(format!("{}: {error}", path.display())),
    }
}

/// Reads the settings from TOML text.
pub fn parse(text: &str) -> Result<Config, String> {
    let table: Table = text.parse().map_err(|error| format!("not TOML: {error}"))?;
    let mut config = Config::default();
    for (key, value) in &table {
        match key.as_str() {
            "nickname" => config.nickname = Some(string(key, value)?),
            "server" => config.server = Some(string(key, value)?),
            "rooms" => config.rooms = rooms(key, value)?,
            "highlights" => config.highlights = strings(key, value)?,
            "bell" => config.bell = boolean(key, value)?,
            "mouse" => config.mouse = boolean(key, value)?,
            "notify" => config.notify = boolean(key, value)?,
            "colours" | "colors" => config.colours = boolean(key, value)?,
            "auto_away" => config.auto_away = minutes(key, value)?,
            _ => return Err(format!("unknown key {key:?}; the keys are {KEYS}")),
        }
    }
    Ok(config)
}

fn string(key: &str, value: &Value) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{key} must be a string, in quotes"))
}

fn boolean(key: &str, value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("{key} must be true or false"))
}

fn minutes(key: &str, value: &Value) -> Result<u64, String> {
    value
        .as_integer()
        .and_then(|minutes| u64::try_from(minutes).ok())
        .filter(|&minutes| minutes <= 24 * 60)
        .ok_or_else(|| format!("{key} must be a number of minutes, 0 to 1440"))
}

fn strings(key: &str, value: &Value) -> Result<Vec<String>, String> {
    let list = value
        .as_array()
        .ok_or_else(|| format!("{key} must be a list of strings, like [\"a\", \"b\"]"))?;
    list.iter().map(|item| string(key, item)).collect()
}

fn rooms(key: &str, value: &Value) -> Result<Vec<RoomName>, String> {
    let names = strings(key, value)?;
    names
        .iter()
        .map(|name| {
            RoomName::parse(name.trim_start_matches('#'))
                .map_err(|error| format!("{key}: {name:?}: {error}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_read_and_a_missing_one_keeps_its_default() {
        let config = parse(
            "nickname = \"ben\"\nserver = \"box:9000\"\nrooms = [\"dev\", \"#ops\"]\n\
             highlights = [\"deploy\"]\nbell = false\nmouse = false\nnotify = false\ncolours = false\n\
             auto_away = 15\n",
        )
        .expect("good settings");
        assert_eq!(config.nickname.as_deref(), Some("ben"));
        assert_eq!(config.server.as_deref(), Some("box:9000"));
        let rooms: Vec<String> = config.rooms.iter().map(ToString::to_string).collect();
        assert_eq!(rooms, ["dev", "ops"]);
        assert_eq!(config.highlights, ["deploy"]);
        assert!(!config.bell && !config.mouse && !config.notify && !config.colours);
        assert_eq!(config.auto_away, 15);
        assert_eq!(parse("").expect("empty is fine"), Config::default());
    }

    #[test]
    fn a_mistake_names_the_key_and_what_it_should_be() {
        for (text, says) in [
            ("bell = \"no\"", "bell must be true or false"),
            ("nick = \"ben\"", "unknown key \"nick\""),
            ("rooms = \"dev\"", "rooms must be a list"),
            ("rooms = [\"not a room\"]", "rooms: \"not a room\""),
            ("nickname = ", "not TOML"),
            ("auto_away = -5", "auto_away must be a number of minutes"),
            (
                "auto_away = \"soon\"",
                "auto_away must be a number of minutes",
            ),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(says), "{text}: {error}");
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("config.toml");
        assert_eq!(load(&path), Ok(Config::default()), "no file, defaults");
        std::fs::write(&path, "bell = 3").expect("written");
        let error = load(&path).expect_err("a bad file");
        assert!(error.starts_with(&path.display().to_string()), "{error}");
    }
}
