//! Nicknames: validated, never cleaned.

use std::fmt;

use crate::limits::MAX_NICK_LEN;

/// Names no client may take, compared ignoring case, so that nobody can pose
/// as the server in other people's scrollback.
const RESERVED: [&str; 2] = ["server", "system"];

/// A nickname that is known to be legal: 1 to [`MAX_NICK_LEN`] ASCII letters,
/// digits, `_`, `-` or `.`, and not a reserved name.
///
/// Holding a `Nick` is the proof that the check was done, so code that
/// receives one never has to check again.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Nick(String);

/// Why a proposed nickname was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NickError {
    /// The nickname was the empty string.
    #[error("a nickname must not be empty")]
    Empty,
    /// The nickname was longer than [`MAX_NICK_LEN`].
    #[error("a nickname has at most {MAX_NICK_LEN} characters")]
    TooLong,
    /// The nickname contained something other than letters, digits, `_ - .`.
    #[error("a nickname may contain only ASCII letters, digits, '_', '-' and '.'")]
    BadCharacter,
    /// The nickname is reserved for the server.
    #[error("the nickname {0:?} is reserved")]
    Reserved(String),
}

impl Nick {
    /// Checks `candidate` and wraps it; the string is taken as it is, without
    /// trimming or case folding, so what a user typed is what others see.
    pub fn parse(candidate: &str) -> Result<Nick, NickError> {
        if candidate.is_empty() {
            return Err(NickError::Empty);
        }
        if candidate.len() > MAX_NICK_LEN {
            return Err(NickError::TooLong);
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if !candidate.chars().all(allowed) {
            return Err(NickError::BadCharacter);
        }
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(candidate)) {
            return Err(NickError::Reserved(candidate.to_owned()));
        }
        Ok(Nick(candidate.to_owned()))
    }

    /// The nickname as the user spelled it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Nick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Nick {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["a", "Alice", "bob_2", "x-y.z", "A234567890123456"] {
            assert_eq!(Nick::parse(ok).map(|n| n.to_string()), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn refuses_everything_else_with_the_reason() {
        assert_eq!(Nick::parse(""), Err(NickError::Empty));
        assert_eq!(Nick::parse("A2345678901234567"), Err(NickError::TooLong));
        for bad in [
            "a b",
            "ali\u{1b}[31m",
            "émile",
            "tab\t",
            "nul\0",
            "a/b",
            "{x}",
        ] {
            assert_eq!(Nick::parse(bad), Err(NickError::BadCharacter), "{bad:?}");
        }
        for reserved in ["server", "SYSTEM", "Server"] {
            assert!(matches!(Nick::parse(reserved), Err(NickError::Reserved(_))));
        }
    }
}
