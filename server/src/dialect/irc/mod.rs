//! The IRC dialect, for irssi, weechat, hexchat and bots on the IRC port
//! (`--irc-port`): the same session as every other client, spelled as IRC
//! (Modern IRC and the IRCv3 capabilities below).
//!
//! Unlike JSON and plain text, IRC has state of its own on each
//! connection: the registration (`CAP`, `NICK`, `USER`, `PASS`) that
//! becomes a hello, the capabilities the client asked for, and the
//! nickname numerics are addressed to. So each connection has its own
//! [`Irc`], made by the IRC port's listener; the reader (parsing,
//! replies), the writer (events) and the store thread (the answer to a
//! message it could not store) share it behind a mutex held for one line
//! at a time, never across an await.
//!
//! - `register.rs`: what a client says before it is in (`CAP`, `NICK`,
//!   `USER`, `PASS`), and capability negotiation.
//! - `commands.rs`: the commands of a registered client, as core requests.
//! - `render.rs`: what the server says, as IRC lines and numerics.
//!
//! Names: a lanchat nickname is spelled on IRC by
//! [`lanchat_shared::irc::to_irc_nick`] (`a.b` is `a|b`, `42` is `^42`),
//! room `dev` is channel `#dev`. Everyone appears as `nick!nick@lanchat`:
//! lanchat shows nobody's address to others, and `WHOIS` tells owners and
//! guests apart.

mod commands;
mod register;
mod render;

use render::Told;

use std::sync::{Mutex, MutexGuard, PoisonError};

use lanchat_shared::irc::{Message, ParseError, Sender, to_irc_nick};
use lanchat_shared::{Fingerprint, Nick, ServerMsg};

use super::{Answer, DefaultRoom, Dialect, Entry, PasswordComes};
use crate::config::Config;
use crate::domain::ShownTo;
use crate::hub::EventItem;
use crate::request::{BadLine, Request, Stage};

/// The capabilities the gateway offers, as `CAP LS` lists them.
const CAPABILITIES: [&str; 7] = [
    "away-notify",
    "batch",
    "draft/chathistory",
    "echo-message",
    "message-tags",
    "sasl",
    "server-time",
];

/// One IRC connection's dialect: see the module documentation.
#[derive(Debug)]
pub(crate) struct Irc {
    /// The server's name on IRC: the source of its numerics.
    server: String,
    /// How many rooms a client may be in, for `CHANLIMIT`.
    max_rooms: usize,
    /// The most messages one history request gives, for `CHATHISTORY`.
    history_len: usize,
    /// The key of the client certificate, if one was presented: what SASL
    /// EXTERNAL confirms.
    identity: Option<Fingerprint>,
    state: Mutex<State>,
}

/// What an IRC connection has said and asked for so far.
#[derive(Debug, Default)]
struct State {
    /// The capabilities enabled.
    caps: Caps,
    /// Between `CAP LS` (or `REQ`) and `CAP END` before registering: the
    /// hello waits for the end.
    negotiating: bool,
    /// The nickname the client asked for last, as it spelled it.
    wanted_nick: Option<String>,
    /// Whether `USER` was given.
    user_given: bool,
    /// The server password, from `PASS`.
    password: Option<String>,
    /// The client's nickname on IRC once it is in: numerics go to it.
    me: Option<String>,
    /// What the request being carried out is about, which error
    /// numerics name.
    about: About,
    /// The last nickname whose leaving was shown as one `QUIT`: its other
    /// rooms' leaves, which follow at once, are not shown again.
    last_quit: Option<String>,
    /// The `chathistory` batch open in a replay: its reference and the
    /// channel or nickname it is about.
    batch: Option<(String, String)>,
    /// Batches opened so far, for their references.
    batches: u64,
    /// The channel a `CHATHISTORY` asked about, until its answer ends: an
    /// answer with no messages is still an (empty) batch.
    history_asked: Option<String>,
    /// Where SASL stands.
    sasl: Sasl,
}

/// SASL EXTERNAL, which confirms the client certificate's identity.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Sasl {
    #[default]
    NotAsked,
    /// `AUTHENTICATE EXTERNAL` came; the client's `+` is awaited.
    Started,
    /// Confirmed.
    Done,
}

/// The channel and the nickname a request is about, and whether it
/// speaks (a refusal to speak in a channel is `404`, to enter it `442`).
#[derive(Debug, Default)]
struct About {
    channel: Option<String>,
    nick: Option<String>,
    speaking: bool,
}

/// The IRCv3 capabilities a client enabled.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Caps {
    away_notify: bool,
    batch: bool,
    chathistory: bool,
    echo_message: bool,
    message_tags: bool,
    sasl: bool,
    server_time: bool,
}

impl Caps {
    /// The flag for capability `name`, if the gateway offers it.
    fn flag(&mut self, name: &str) -> Option<&mut bool> {
        match name {
            "away-notify" => Some(&mut self.away_notify),
            "batch" => Some(&mut self.batch),
            "draft/chathistory" => Some(&mut self.chathistory),
            "echo-message" => Some(&mut self.echo_message),
            "message-tags" => Some(&mut self.message_tags),
            "sasl" => Some(&mut self.sasl),
            "server-time" => Some(&mut self.server_time),
            _ => None,
        }
    }

    /// The enabled capabilities, space-separated, for `CAP LIST`.
    fn enabled(mut self) -> String {
        CAPABILITIES
            .iter()
            .filter(|name| self.flag(name).is_some_and(|on| *on))
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Irc {
    /// A new connection's dialect.
    pub(crate) fn new(config: &Config, identity: Option<&Fingerprint>) -> Irc {
        Irc {
            server: server_name(&config.server_name),
            max_rooms: config.max_rooms_per_client,
            history_len: config.history_len,
            identity: identity.cloned(),
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few strings and flags, consistent after any line.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Whom numerics are addressed to: the client's nickname, or `*`
    /// before it has one.
    fn target(&self) -> &str {
        self.me.as_deref().unwrap_or("*")
    }
}

impl Dialect for Irc {
    fn name(&self) -> &'static str {
        "irc"
    }

    fn parse(&self, line: &str, stage: Stage) -> Result<Request, BadLine> {
        let message = match Message::parse(line, Sender::Client) {
            Ok(message) => message,
            Err(ParseError::Empty) => return Ok(Request::Answer(Default::default())),
            Err(error @ (ParseError::LineTooLong | ParseError::TagsTooLong { .. })) => {
                let state = self.lock();
                let reply = self.numeric(&state, "417", &[&error.to_string()]);
                return Ok(Request::Answer(reply.into()));
            }
            Err(error) => return Err(BadLine::request(error.to_string())),
        };
        let mut state = self.lock();
        Ok(match message.command.as_str() {
            "CAP" => self.cap(&mut state, &message),
            "PING" => self.pong(&message),
            "PONG" | "TAGMSG" => Request::Answer(Default::default()),
            "QUIT" => {
                // IRC servers close with an ERROR, which clients show.
                let farewell = Message::new("ERROR").with_param("Closing link: quit");
                Request::Many(vec![
                    Request::Answer(self.line(&farewell).into()),
                    Request::Quit {
                        reason: message.param(0).map(str::to_owned),
                    },
                ])
            }
            _ if stage == Stage::Joined => self.command(&mut state, &message),
            _ => self.register(&mut state, &message),
        })
    }

    fn render(&self, msg: &ServerMsg, out: &mut Vec<u8>) {
        let mut state = self.lock();
        self.render_msg(&mut state, msg, (Told::AsReply, None), out);
    }

    fn render_event(&self, item: &EventItem, shown_to: ShownTo, out: &mut Vec<u8>) {
        let mut state = self.lock();
        // Without echo-message an IRC client shows what it sent itself.
        let own = shown_to == ShownTo::Sender && matches!(item.msg, ServerMsg::Message { .. });
        if own && !state.caps.echo_message {
            return;
        }
        // A room message reads the same to everyone with the same tags
        // (its sender included): made once, for all of them.
        if let ServerMsg::Message {
            room: Some(_),
            to: None,
            ..
        } = &item.msg
        {
            state.last_quit = None;
            let slot =
                usize::from(state.caps.server_time) | usize::from(state.caps.message_tags) << 1;
            let line = item.shared_lines.get_or_render(slot, || {
                let mut line = Vec::new();
                self.render_msg(&mut state, &item.msg, (Told::AsEvent, None), &mut line);
                line.into()
            });
            out.extend_from_slice(line);
            return;
        }
        self.render_msg(&mut state, &item.msg, (Told::AsEvent, Some(shown_to)), out);
    }

    fn render_history(&self, msg: &ServerMsg, shown_to: ShownTo, out: &mut Vec<u8>) {
        let mut state = self.lock();
        self.render_msg(&mut state, msg, (Told::AsReply, Some(shown_to)), out);
    }

    fn render_answer(&self, answer: &Answer, out: &mut Vec<u8>) {
        let state = self.lock();
        self.render_people(&state, answer, out);
    }

    fn dispatching(&self, request: &Request) {
        let mut state = self.lock();
        state.about = commands::about(request);
        // A CHATHISTORY's empty batch is for its own answer alone.
        if !matches!(request, Request::History { .. }) {
            state.history_asked = None;
        }
    }

    fn entry(&self) -> Entry {
        Entry::Announced
    }

    fn paces_excess_lines(&self) -> bool {
        true
    }

    fn keepalive_ping(&self) -> Option<bytes::Bytes> {
        let ping = Message::new("PING").with_param(&self.server);
        Some(self.line(&ping).into())
    }

    fn unaddressed_text_goes_to(&self) -> DefaultRoom {
        DefaultRoom::Current
    }

    fn password_comes(&self) -> PasswordComes {
        PasswordComes::WithPass
    }
}

/// A lanchat nickname as IRC spells it; one that is not a nickname (the
/// server's own lines are from `server`) as it is.
fn irc_nick(nick: &str) -> String {
    Nick::parse(nick).map_or_else(|_| nick.to_owned(), |nick| to_irc_nick(&nick))
}

/// The channel of lanchat room `room`, which is known to be a room name.
fn channel(room: &str) -> String {
    format!("#{room}")
}

/// The server's name as an IRC source: letters, digits, `-` and `.` of
/// the configured name, with a dot, since IRC clients read a source
/// without one as a nickname.
fn server_name(configured: &str) -> String {
    let mut name: String = configured
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        .collect();
    if name.is_empty() {
        name.push_str("lanchat");
    }
    if !name.contains('.') {
        name.push_str(".lan");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_named_as_irc_reads_a_server() {
        assert_eq!(server_name("lanchat"), "lanchat.lan");
        assert_eq!(server_name("Chat room 4.example"), "Chatroom4.example");
        assert_eq!(server_name("!!"), "lanchat.lan");
    }

    #[test]
    fn nicknames_irc_cannot_carry_are_spelled_its_way() {
        assert_eq!(irc_nick("ann.b"), "ann|b");
        assert_eq!(irc_nick("42"), "^42");
        assert_eq!(irc_nick("server"), "server");
    }
}
