//! Room names: validated, never cleaned.

use std::fmt;

/// Longest room name.
pub const MAX_ROOM_LEN: usize = 32;

/// The room everyone is in after `hello`.
pub const LOBBY: &str = "lobby";

/// A legal room name: 1 to [`MAX_ROOM_LEN`] of `a-z`, `0-9`, `_`, `-`.
/// Lower case only, so `#Dev` and `#dev` cannot be two rooms.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(String);

/// Why a room name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a room name has 1 to {MAX_ROOM_LEN} characters from a-z, 0-9, '_' and '-'")]
pub struct RoomNameError;

impl RoomName {
    /// Checks `candidate` (a leading `#` is allowed and dropped).
    pub fn parse(candidate: &str) -> Result<RoomName, RoomNameError> {
        let name = candidate.strip_prefix('#').unwrap_or(candidate);
        let legal =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-');
        if name.is_empty() || name.len() > MAX_ROOM_LEN || !name.chars().all(legal) {
            return Err(RoomNameError);
        }
        Ok(RoomName(name.to_owned()))
    }

    /// The lobby.
    pub fn lobby() -> RoomName {
        RoomName(LOBBY.to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_follow_the_rules() {
        assert_eq!(RoomName::parse("dev").unwrap().as_str(), "dev");
        assert_eq!(RoomName::parse("#dev-ops_2").unwrap().as_str(), "dev-ops_2");
        for bad in [
            "",
            "#",
            "Dev",
            "a b",
            "x".repeat(33).as_str(),
            "ünï",
            "dev\u{1b}",
        ] {
            assert_eq!(RoomName::parse(bad), Err(RoomNameError), "{bad:?}");
        }
        assert!(RoomName::parse(&"x".repeat(32)).is_ok());
    }
}
