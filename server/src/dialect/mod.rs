//! How a session is spelled on the wire: a [`Dialect`] reads a line into a
//! core [`Request`] and renders what the server says into bytes. The
//! session never looks at the wire form, so a dialect is one file here and
//! one line in [`for_first_line`].
//!
//! JSON is the protocol proper; plain text is for `nc`, `telnet` and
//! five-line scripts. Both are chosen by a connection's first line on the
//! main port, and both are stateless, so every connection that speaks one
//! shares one instance. IRC (`irc/`) renders one event into several lines
//! (which is why rendering appends to a buffer rather than returning one
//! line) and its replies as numerics (from the same `ServerMsg`s: a
//! welcome is 001–005, an error code a numeric). Its registration and
//! negotiated capabilities are state of one connection, so it is made per
//! connection by the IRC port. A connection holds either as an
//! `Arc<dyn Dialect>`: the session core sees the same trait.

mod irc;
mod json;
mod plain;

use std::fmt;
use std::sync::{Arc, LazyLock};

use lanchat_shared::ServerMsg;

use crate::domain::ShownTo;
use crate::hub::EventItem;
use crate::request::{BadLine, Listing, Request, Stage};

pub(crate) use irc::Irc;
pub(crate) use json::JSON;
pub(crate) use plain::PLAIN_TEXT;

/// One way of speaking to the server.
pub(crate) trait Dialect: Send + Sync + 'static {
    /// The dialect's name, for logs.
    fn name(&self) -> &'static str;

    /// Reads one line (checked to be UTF-8 without NUL, not blank) into a
    /// request. `stage` says whether the client has joined yet.
    fn parse(&self, line: &str, stage: Stage) -> Result<Request, BadLine>;

    /// Appends `msg`, meant for this client only, in this dialect.
    fn render(&self, msg: &ServerMsg, out: &mut Vec<u8>);

    /// Appends a message of history as `shown_to` sees it: its sender, or
    /// anyone else. As any reply, unless a dialect tells the way a direct
    /// message went from it (IRC: a message one sent under an earlier
    /// nickname is still one's own).
    fn render_history(&self, msg: &ServerMsg, _shown_to: ShownTo, out: &mut Vec<u8>) {
        self.render(msg, out);
    }

    /// Appends a published event as `shown_to` sees it. JSON clients
    /// share the bytes made once at publish time; other dialects render
    /// the event themselves (and show no `client_id`).
    fn render_event(&self, item: &EventItem, _shown_to: ShownTo, out: &mut Vec<u8>) {
        self.render(&item.msg, out);
    }

    /// Appends what the session found (`/who`, IRC's `NAMES`...). By
    /// default its words, as an `info`; nothing for what has none.
    fn render_answer(&self, answer: &Answer, out: &mut Vec<u8>) {
        if let Some(text) = answer.in_words() {
            self.render(&ServerMsg::info(text), out);
        }
    }

    /// Notes the request about to be carried out, whose refusal (if any)
    /// comes next: IRC's error numerics name the channel or nickname a
    /// refusal is about, which the refusal itself does not carry.
    fn dispatching(&self, _request: &Request) {}

    /// How entering a room is shown to the one who entered.
    fn entry(&self) -> Entry {
        Entry::Confirmed
    }

    /// What to send a client that has been silent for
    /// `Config::irc_ping_after`, if this dialect asks such clients whether
    /// they are still there (IRC's `PING`); `None` for dialects that rely
    /// on TCP keepalive alone.
    fn keepalive_ping(&self) -> Option<bytes::Bytes> {
        None
    }

    /// Whether lines sent faster than the rate wait their turn (IRC
    /// clients do not send a refused line again) rather than being
    /// refused.
    fn paces_excess_lines(&self) -> bool {
        false
    }

    /// Where chat text that names no room goes.
    fn unaddressed_text_goes_to(&self) -> DefaultRoom;

    /// How a client of this dialect gives the server password.
    fn password_comes(&self) -> PasswordComes;
}

/// How entering a room is shown to the one who entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// History, then words that say lines go there now (JSON, plain text).
    Confirmed,
    /// [`Answer::Entered`] (who is there), then history (IRC's `JOIN`
    /// and `NAMES`).
    Announced,
}

/// What the session found for a client, which each dialect spells its
/// own way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Who is in a room.
    People {
        room: String,
        people: Vec<Person>,
        listing: Listing,
    },
    /// The client entered `room`, where `people` are (itself included).
    Entered { room: String, people: Vec<Person> },
    /// The rooms the client may see.
    Rooms(Vec<ListedRoom>),
    /// Those of the nicknames asked about who are here now (IRC's
    /// `ISON`).
    Online(Vec<String>),
    /// The bans of a room (`None`: of the server), as `/bans` lists them.
    Bans {
        room: Option<String>,
        bans: Vec<ListedBan>,
    },
}

/// A ban as `/bans` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedBan {
    /// Whom, as `/ban` and `/unban` take it: `SHA256:...`, `10.0.0.0/24`,
    /// `~10.0.0.7`.
    pub(crate) target: String,
    /// Who placed it.
    pub(crate) by: String,
    /// When, in Unix milliseconds.
    pub(crate) at_ms: u64,
    /// The whole ban in words (whom, how long, why).
    pub(crate) described: String,
}

/// A room as `/rooms` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedRoom {
    pub(crate) name: String,
    /// How many are in it.
    pub(crate) people: usize,
    /// Whether the asker is in it.
    pub(crate) mine: bool,
    pub(crate) topic: Option<String>,
}

/// Someone in a room, as lists show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Person {
    pub(crate) nick: String,
    /// Keeps order in the room: an operator of it, or an admin.
    pub(crate) operator: bool,
    /// Their away message, if away.
    pub(crate) away: Option<String>,
}

impl Answer {
    /// The answer in words, as `/who` gives it: `Here in #dev (2): alice,
    /// bob`, then who is away and who keeps order, each on a line of its
    /// own so the first stays a list of nicknames for clients that read
    /// it. `None` for an answer that needs no words.
    pub(crate) fn in_words(&self) -> Option<String> {
        match self {
            Answer::People {
                room,
                people,
                listing,
            } => Some(people_in_words(room, people, *listing)),
            Answer::Rooms(rooms) => Some(rooms_in_words(rooms)),
            Answer::Bans { room, bans } => Some(bans_in_words(room.as_deref(), bans)),
            Answer::Entered { .. } | Answer::Online(_) => None,
        }
    }
}

/// `/rooms` in words: one room a line, `#dev* (3) - its topic`.
fn rooms_in_words(rooms: &[ListedRoom]) -> String {
    let mut text = "Rooms (* = yours):".to_owned();
    for room in rooms {
        let star = if room.mine { "*" } else { "" };
        text.push_str(&format!("\n#{}{star} ({})", room.name, room.people));
        if let Some(topic) = &room.topic {
            text.push_str(&format!(" - {topic}"));
        }
    }
    text
}

/// `/bans` in words: `Bans of #dev (2):`, then one ban a line.
fn bans_in_words(room: Option<&str>, bans: &[ListedBan]) -> String {
    let heading = match room {
        Some(room) => format!("Bans of #{room}"),
        None => "Bans of this server".to_owned(),
    };
    let mut text = format!("{heading} ({}):", bans.len());
    for ban in bans {
        text.push('\n');
        text.push_str(&ban.described);
    }
    text
}

/// `/who` in words (see [`Answer::in_words`]).
fn people_in_words(room: &str, people: &[Person], listing: Listing) -> String {
    let nicks: Vec<&str> = people.iter().map(|p| p.nick.as_str()).collect();
    let mut text = format!("Here in #{room} ({}): {}", nicks.len(), nicks.join(", "));
    if listing == Listing::Names {
        return text;
    }
    let away: Vec<String> = people
        .iter()
        .filter_map(|p| Some(format!("{} ({})", p.nick, p.away.as_deref()?)))
        .collect();
    if !away.is_empty() {
        text.push_str(&format!("\nAway: {}", away.join(", ")));
    }
    let operators: Vec<&str> = people
        .iter()
        .filter(|p| p.operator)
        .map(|p| p.nick.as_str())
        .collect();
    if !operators.is_empty() {
        text.push_str(&format!("\nOperators: {}", operators.join(", ")));
    }
    text
}

/// How a client gives the server password (`--password`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordComes {
    /// As a field of its `hello`.
    InHello,
    /// On the line after its nickname, when asked.
    OnItsOwnLine,
    /// With IRC's `PASS`, before registering.
    WithPass,
}

impl fmt::Debug for dyn Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where chat text that names no room goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultRoom {
    /// The lobby: the JSON protocol's documented default.
    Lobby,
    /// The room the client joined last, as in an IRC window.
    Current,
}

/// A dialect chosen by how a connection's first line looks.
struct ByFirstLine {
    /// True for a first line in this dialect.
    matches: fn(&str) -> bool,
    dialect: fn() -> Arc<dyn Dialect>,
}

/// The dialects told apart by their first line, tried in order; a line
/// none of them matches is plain text.
const BY_FIRST_LINE: &[ByFirstLine] = &[ByFirstLine {
    matches: json::looks_like_json,
    dialect: json,
}];

/// The JSON dialect, shared by every connection that speaks it (it has no
/// state of its own).
pub(crate) fn json() -> Arc<dyn Dialect> {
    static SHARED: LazyLock<Arc<dyn Dialect>> = LazyLock::new(|| Arc::new(JSON));
    Arc::clone(&SHARED)
}

/// The plain-text dialect, shared likewise.
fn plain_text() -> Arc<dyn Dialect> {
    static SHARED: LazyLock<Arc<dyn Dialect>> = LazyLock::new(|| Arc::new(PLAIN_TEXT));
    Arc::clone(&SHARED)
}

/// What a connection speaks, by its first non-blank line: `{` means JSON
/// (no nickname can start with `{`, so a JSON client with a typo gets a
/// `bad_request` rather than a plain-text session), anything else plain
/// text.
pub(crate) fn for_first_line(line: &str) -> Arc<dyn Dialect> {
    BY_FIRST_LINE
        .iter()
        .find(|choice| (choice.matches)(line))
        .map_or_else(plain_text, |choice| (choice.dialect)())
}

/// Renders one message into a buffer of its own.
pub(crate) fn render_alone(dialect: &dyn Dialect, msg: &ServerMsg) -> bytes::Bytes {
    let mut out = Vec::new();
    dialect.render(msg, &mut out);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_picks_the_dialect() {
        assert_eq!(for_first_line("{\"type\":\"hello\"}").name(), "json");
        assert_eq!(for_first_line("  {").name(), "json");
        assert_eq!(for_first_line("alice").name(), "plain text");
        assert_eq!(for_first_line("[\"hello\"]").name(), "plain text");
    }
}
