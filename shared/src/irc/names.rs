//! How lanchat's nicknames and rooms are spelled on IRC, and back.
//!
//! A lanchat nickname is 1 to 16 of `A-Z a-z 0-9 _ - .`. IRC cannot carry
//! two of those spellings: a `.` makes `:a.b!u@h` read as a server, and a
//! nickname must not start with a digit or `-`. So, on IRC, every `.` is
//! written `|`, and a nickname starting with a digit or `-` gets a `^` in
//! front: `ann.b` is `ann|b`, `42` is `^42`, `-x-` is `^-x-`.
//!
//! `|` and `^` are legal in IRC nicknames and illegal in lanchat ones, so no
//! two lanchat nicknames share an IRC spelling, and the way back is exact.
//! None of the three characters has a case, so this holds with ASCII case
//! folding too, provided the server announces `CASEMAPPING=ascii`: under
//! `rfc1459` folding, `|` would equal `\`.
//!
//! A room `dev` is the channel `#dev`.

use crate::limits::MAX_NICK_LEN;
use crate::{Nick, NickError, RoomName, RoomNameError};

/// Longest IRC spelling of a lanchat nickname: a `^` and 16 characters. The
/// server announces it as `NICKLEN`.
pub const MAX_IRC_NICK_LEN: usize = MAX_NICK_LEN + 1;

/// What stands for `.` on IRC.
const DOT: char = '|';

/// What goes before a nickname that starts with a digit or `-`.
const ESCAPE: char = '^';

/// Why an IRC nickname cannot be a lanchat one. The server answers any of
/// them with `432 ERR_ERRONEUSNICKNAME`, with this text as the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IrcNickError {
    /// Not an IRC nickname at all (empty, a character IRC does not allow
    /// in nicknames, or a first character that is a digit or `-`).
    #[error(
        "an IRC nickname is letters, digits and [ ] \\ ` _ ^ {{ | }} -, and does not start with a digit or '-'"
    )]
    NotAnIrcNick,
    /// A valid IRC nickname with characters lanchat has no spelling for.
    #[error("lanchat nicknames cannot contain {characters}")]
    Unsupported {
        /// Each unsupported character once, in order of appearance, e.g.
        /// `"[ ]"`.
        characters: String,
    },
    /// Spelled as lanchat would, but refused by lanchat's own rules (too
    /// long, or reserved).
    #[error(transparent)]
    Refused(#[from] NickError),
}

/// Why an IRC channel is not a lanchat room. The server answers with
/// `403 ERR_NOSUCHCHANNEL` (or `479` where a client expects it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IrcChannelError {
    /// The channel does not start with one `#`; lanchat has no `&`, `+` or
    /// `!` channels.
    #[error("lanchat rooms are '#' channels")]
    NotHashChannel,
    /// The name after `#` is not a lanchat room name.
    #[error(transparent)]
    BadRoom(#[from] RoomNameError),
}

/// `nick` as IRC spells it: each `.` written `|`, and `^` in front when it
/// starts with a digit or `-`. The result is a valid IRC nickname
/// ([`is_irc_nick`]) of at most [`MAX_IRC_NICK_LEN`] characters.
pub fn to_irc_nick(nick: &Nick) -> String {
    let lanchat = nick.as_str();
    let mut irc = String::with_capacity(lanchat.len() + 1);
    if lanchat.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        irc.push(ESCAPE);
    }
    irc.extend(lanchat.chars().map(|c| if c == '.' { DOT } else { c }));
    irc
}

/// The lanchat nickname that IRC spells `irc`, exactly undoing
/// [`to_irc_nick`]: a leading `^` is dropped when a digit or `-` follows it,
/// each `|` becomes `.`, and the result must pass [`Nick::parse`].
///
/// So `from_irc_nick(s)` succeeds only where `to_irc_nick` gives `s` back;
/// IRC nicknames with `[ ] \ ` { }` or any other `^` are
/// [`Unsupported`](IrcNickError::Unsupported), named in the error.
pub fn from_irc_nick(irc: &str) -> Result<Nick, IrcNickError> {
    if !is_irc_nick(irc) {
        return Err(IrcNickError::NotAnIrcNick);
    }
    let unescaped = irc
        .strip_prefix(ESCAPE)
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '-'))
        .unwrap_or(irc);
    let unsupported = unsupported_characters(unescaped);
    if !unsupported.is_empty() {
        return Err(IrcNickError::Unsupported {
            characters: unsupported,
        });
    }
    let lanchat: String = unescaped
        .chars()
        .map(|c| if c == DOT { '.' } else { c })
        .collect();
    Ok(Nick::parse(&lanchat)?)
}

/// True for an IRC nickname in RFC 2812's alphabet: a letter or one of
/// `[ ] \ ` _ ^ { | }` first, then those, digits and `-`. Length is left to
/// the caller (the server's `NICKLEN`), except that it is not empty.
///
/// This is stricter than Modern IRC, which only bans a few characters, on
/// purpose: it is what every client and bot accepts, and it keeps `.` out.
pub fn is_irc_nick(candidate: &str) -> bool {
    let mut chars = candidate.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let special = |c: char| matches!(c, '[' | ']' | '\\' | '`' | '_' | '^' | '{' | '|' | '}');
    let starts_well = first.is_ascii_alphabetic() || special(first);
    starts_well && chars.all(|c| c.is_ascii_alphanumeric() || special(c) || c == '-')
}

/// The IRC characters in `irc` (already unescaped) that lanchat cannot
/// spell, each once, separated by spaces.
fn unsupported_characters(irc: &str) -> String {
    let mut found: Vec<char> = Vec::new();
    for c in irc.chars() {
        let spellable = c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | DOT);
        if !spellable && !found.contains(&c) {
            found.push(c);
        }
    }
    found
        .iter()
        .map(char::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The IRC channel of `room`: `dev` is `#dev`.
pub fn to_irc_channel(room: &RoomName) -> String {
    format!("#{room}")
}

/// The room that `channel` names: `#dev` is `dev`.
///
/// IRC channel names are case-insensitive (`CASEMAPPING=ascii`), so `#Dev`
/// is the same channel as `#dev` and names the room `dev`; lanchat room
/// names are lower case only. Anything else lanchat refuses in a room name
/// is an error, as is a channel without its `#` or with two (`##dev`).
pub fn from_irc_channel(channel: &str) -> Result<RoomName, IrcChannelError> {
    let name = channel
        .strip_prefix('#')
        .filter(|name| !name.starts_with('#'))
        .ok_or(IrcChannelError::NotHashChannel)?;
    Ok(RoomName::parse(&name.to_ascii_lowercase())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn irc(lanchat: &str) -> String {
        to_irc_nick(&Nick::parse(lanchat).unwrap())
    }

    fn lanchat(irc: &str) -> Result<String, IrcNickError> {
        from_irc_nick(irc).map(|nick| nick.to_string())
    }

    #[test]
    fn dots_become_bars_and_a_leading_digit_or_dash_is_escaped() {
        assert_eq!(irc("alice"), "alice");
        assert_eq!(irc("ann.b"), "ann|b");
        assert_eq!(irc(".x."), "|x|");
        assert_eq!(irc("42"), "^42");
        assert_eq!(irc("-x-"), "^-x-");
        assert_eq!(irc("_9"), "_9");
        assert_eq!(irc("A234567890123456").len(), 16);
        assert_eq!(irc("1234567890123456").len(), MAX_IRC_NICK_LEN);
    }

    #[test]
    fn the_way_back_undoes_exactly_that() {
        assert_eq!(lanchat("alice"), Ok("alice".into()));
        assert_eq!(lanchat("ann|b"), Ok("ann.b".into()));
        assert_eq!(lanchat("|x|"), Ok(".x.".into()));
        assert_eq!(lanchat("^42"), Ok("42".into()));
        assert_eq!(lanchat("^-x-"), Ok("-x-".into()));
        assert_eq!(lanchat("Bob_2"), Ok("Bob_2".into()));
    }

    #[test]
    fn irc_nicks_lanchat_cannot_spell_name_the_characters() {
        let unsupported = |characters: &str| {
            Err(IrcNickError::Unsupported {
                characters: characters.into(),
            })
        };
        assert_eq!(lanchat("[away]"), unsupported("[ ]"));
        assert_eq!(lanchat("a^b"), unsupported("^"));
        assert_eq!(
            lanchat("^a"),
            unsupported("^"),
            "only ^ before a digit or - is ours"
        );
        assert_eq!(lanchat("^"), unsupported("^"));
        assert_eq!(lanchat("^^1"), unsupported("^"));
        assert_eq!(lanchat("x`{}\\`"), unsupported("` { } \\"));
    }

    #[test]
    fn invalid_irc_nicks_and_lanchat_refusals_are_told_apart() {
        for bad in [
            "", "1abc", "-abc", "a.b", "a b", "a!b", "a@b", "#chan", "é", "a:b",
        ] {
            assert_eq!(lanchat(bad), Err(IrcNickError::NotAnIrcNick), "{bad:?}");
        }
        assert_eq!(
            lanchat("A2345678901234567"),
            Err(IrcNickError::Refused(NickError::TooLong))
        );
        assert!(matches!(
            lanchat("Server"),
            Err(IrcNickError::Refused(NickError::Reserved(_)))
        ));
    }

    #[test]
    fn channels_are_rooms_with_a_hash() {
        let room = |name: &str| RoomName::parse(name).unwrap();
        assert_eq!(to_irc_channel(&room("dev")), "#dev");
        assert_eq!(from_irc_channel("#dev"), Ok(room("dev")));
        assert_eq!(from_irc_channel("#Dev-Ops_2"), Ok(room("dev-ops_2")));
        assert_eq!(from_irc_channel("#lobby"), Ok(RoomName::lobby()));
        for not_ours in ["dev", "&dev", "##dev", ""] {
            assert_eq!(
                from_irc_channel(not_ours),
                Err(IrcChannelError::NotHashChannel),
                "{not_ours:?}"
            );
        }
        for bad in ["#", "#a b", "#dév", "#a.b", &format!("#{}", "x".repeat(33))] {
            assert_eq!(
                from_irc_channel(bad),
                Err(IrcChannelError::BadRoom(RoomNameError)),
                "{bad:?}"
            );
        }
    }

    fn lanchat_nick() -> impl Strategy<Value = Nick> {
        "[A-Za-z0-9_.-]{1,16}".prop_filter_map("reserved", |s| Nick::parse(&s).ok())
    }

    proptest! {
        #[test]
        fn every_nick_has_a_valid_irc_spelling_that_maps_back(nick in lanchat_nick()) {
            let spelled = to_irc_nick(&nick);
            prop_assert!(is_irc_nick(&spelled), "{}", spelled);
            prop_assert!(!spelled.contains('.'));
            prop_assert!(spelled.len() <= MAX_IRC_NICK_LEN);
            prop_assert_eq!(from_irc_nick(&spelled), Ok(nick));
        }

        #[test]
        fn distinct_nicks_stay_distinct_even_ignoring_case(a in lanchat_nick(), b in lanchat_nick()) {
            let (irc_a, irc_b) = (to_irc_nick(&a), to_irc_nick(&b));
            prop_assert_eq!(a == b, irc_a == irc_b);
            let same_lanchat = a.as_str().eq_ignore_ascii_case(b.as_str());
            prop_assert_eq!(same_lanchat, irc_a.eq_ignore_ascii_case(&irc_b));
        }

        #[test]
        fn whatever_irc_nick_is_accepted_is_the_spelling_of_its_result(
            candidate in "[A-Za-z0-9_.|^\\-\\[\\]{}`\\\\ !@#]{0,18}"
        ) {
            if let Ok(nick) = from_irc_nick(&candidate) {
                prop_assert_eq!(to_irc_nick(&nick), candidate);
            }
        }

        #[test]
        fn case_variants_of_a_nick_pair_up_on_irc(nick in lanchat_nick()) {
            let upper = Nick::parse(&nick.as_str().to_ascii_uppercase()).unwrap();
            prop_assert_eq!(
                to_irc_nick(&upper),
                to_irc_nick(&nick).to_ascii_uppercase()
            );
        }
    }
}
