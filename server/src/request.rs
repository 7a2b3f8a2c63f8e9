//! What a client can ask of the server, whatever dialect it speaks: the
//! session core's requests. A dialect turns a line into one of these (or a
//! [`BadLine`]); the session carries it out.

use lanchat_shared::ErrorCode;

/// One thing a client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// Join the chat under a nickname.
    Hello(Hello),
    /// Chat text: a message, or a command when it starts with `/`.
    Say(Say),
    /// Enter (or create) a room.
    JoinRoom {
        /// The room's name, unchecked.
        room: String,
        /// A private room's key, as given.
        key: Option<String>,
    },
    /// Leave a room.
    PartRoom {
        /// The room's name, unchecked.
        room: String,
    },
    /// Leave the chat.
    Quit {
        /// Words for the others, unchecked.
        reason: Option<String>,
    },
    /// Is the server still there?
    Ping,
    /// A page of a room's history (or of the client's direct messages).
    History {
        /// Which messages.
        range: HistoryRange,
        /// The room's name, unchecked; `None` for direct messages.
        room: Option<String>,
        /// For direct messages: only those exchanged with this nickname
        /// (unchecked); `None` for all of them.
        with: Option<String>,
        /// At most this many (and never more than `--history`).
        limit: Option<usize>,
    },
    /// The server password, on a line of its own (plain text).
    Password(String),
    /// Who is behind a nickname?
    Whois {
        /// The nickname, unchecked.
        nick: String,
    },
    /// Away with a message, or (`None`) back.
    Away(Option<String>),
    /// Keeping order in a room (or asking its topic).
    Moderate {
        /// The room's name, unchecked; `None` for the current room.
        room: Option<String>,
        /// What to do.
        action: Moderation,
    },
    /// Another nickname, as `/nick` asks.
    Nick {
        /// The nickname, unchecked.
        nick: String,
    },
    /// Who is in a room, for a list of them (`/who`, IRC's `WHO` and
    /// `NAMES`).
    People {
        /// The room's name, unchecked; `None` for the current room.
        room: Option<String>,
        /// Which list.
        listing: Listing,
    },
    /// Leave every room but the lobby (IRC's `JOIN 0`).
    PartAll,
    /// The rooms there are (`/rooms`, IRC's `LIST`).
    Rooms,
    /// Which of these nicknames are here (IRC's `ISON`).
    Online(Vec<String>),
    /// A room's bans as far as the client may see them (IRC's `MODE
    /// #room b`).
    BanList {
        /// The room's name, unchecked.
        room: String,
    },
    /// Several requests from one line (IRC's `JOIN #a,#b`), carried out
    /// in order.
    Many(Vec<Request>),
    /// What the dialect answers by itself, without the session (IRC's
    /// capability negotiation, `PONG`, an unknown command's numeric): sent
    /// back as it is; empty for a line that needs no answer. Not a bad
    /// line.
    Answer(bytes::Bytes),
}

/// The lists of who is in a room, which dialects spell differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    /// Everyone with their state (`/who`, IRC's `WHO`).
    Who,
    /// The nicknames alone (IRC's `NAMES`).
    Names,
}

/// A ban as asked for, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BanRequest {
    /// A nickname, a fingerprint or a network, as typed.
    pub(crate) target: String,
    /// The whole server rather than the room.
    pub(crate) server: bool,
    /// How long; `None` for good.
    pub(crate) duration_secs: Option<u64>,
    /// Why.
    pub(crate) reason: Option<String>,
}

/// What an operator (or admin) does in a room; see `session::moderation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Moderation {
    /// Show the topic (`None`), or set it.
    Topic(Option<String>),
    /// Put someone out of the room, with a reason for all to read.
    Kick {
        /// The nickname, unchecked.
        nick: String,
        /// Why, unchecked.
        reason: Option<String>,
    },
    /// Keep someone out of the room, or the server.
    Ban(BanRequest),
    /// Lift a ban: a fingerprint or network, of the room or the server.
    Unban {
        /// As typed, unchecked.
        target: String,
        /// A ban of the server rather than the room.
        server: bool,
    },
    /// Make the room private, or open again.
    Private(bool),
    /// Let someone into the private room.
    Invite {
        /// The nickname, unchecked.
        nick: String,
    },
    /// Set the room's key, or (`None`) clear it.
    Key(Option<String>),
    /// Let someone read the room but not speak in it.
    Mute {
        /// The nickname, unchecked.
        nick: String,
        /// How long; `None` until unmuted.
        duration_secs: Option<u64>,
    },
    /// Let someone speak again.
    Unmute {
        /// The nickname, unchecked.
        nick: String,
    },
    /// List the bans of the room, or of the server.
    Bans {
        /// The server's rather than the room's.
        server: bool,
    },
    /// Make someone an operator (`true`) or no longer one.
    Operator {
        /// The nickname, unchecked.
        nick: String,
        /// Give the role, or take it.
        give: bool,
    },
}

/// The request to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    /// The nickname wanted, unchecked.
    pub(crate) nick: String,
    /// Resume: replay what came after this id.
    pub(crate) since: Option<u64>,
    /// A session token from an earlier welcome.
    pub(crate) session: Option<String>,
    /// The history `since` counts in, from an earlier welcome.
    pub(crate) history_id: Option<String>,
    /// The server password, if the client gave one.
    pub(crate) password: Option<String>,
}

impl Hello {
    /// A hello that asks for a nickname and nothing else, as a plain-text
    /// client's first line does.
    pub(crate) fn nick(nick: impl Into<String>) -> Hello {
        Hello {
            nick: nick.into(),
            since: None,
            session: None,
            history_id: None,
            password: None,
        }
    }
}

/// Chat text and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Say {
    /// The text as sent.
    pub(crate) text: String,
    /// How to read it.
    pub(crate) kind: SayKind,
    /// The room named, if any.
    pub(crate) room: Option<String>,
    /// The person named, for a direct message.
    pub(crate) to: Option<String>,
    /// The client's idempotency key.
    pub(crate) client_id: Option<String>,
}

impl Say {
    /// Text with nowhere named: it goes where the dialect says such text goes.
    pub(crate) fn text(text: impl Into<String>) -> Say {
        Say {
            text: text.into(),
            kind: SayKind::Typed,
            room: None,
            to: None,
            client_id: None,
        }
    }
}

/// Which page of history a client asks for, by lanchat's ids. Every page
/// is sent oldest first; what differs is where it is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HistoryRange {
    /// The newest messages after `after` and before `before` (neither
    /// included): counted back from `before`.
    Newest { after: u64, before: u64 },
    /// The oldest messages after `after` and before `before`: counted on
    /// from `after`.
    Oldest { after: u64, before: u64 },
    /// The message with this id and those around it: half of the page
    /// before it (it included), the rest after it.
    Around(u64),
}

impl HistoryRange {
    /// The newest messages before `id`: what scrolling back asks for.
    pub(crate) fn before(id: u64) -> HistoryRange {
        HistoryRange::Newest {
            after: 0,
            before: id,
        }
    }
}

/// How chat text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SayKind {
    /// As typed: a leading `/` makes it a command (JSON, plain text).
    Typed,
    /// A message, whatever it starts with (IRC's `PRIVMSG`: IRC clients
    /// run their own commands, so what reaches us is meant as words).
    Message,
    /// An action, as `/me` (IRC's CTCP `ACTION`).
    Action,
    /// A message that gets no away message back (IRC's `NOTICE`), so two
    /// programs cannot answer each other forever.
    Notice,
}

/// Where a connection is in its life, as far as reading a line goes: plain
/// text reads a nickname first and chat text after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Not joined yet.
    Greeting,
    /// Not joined yet, and the server asked for its password.
    Password,
    /// Joined under a nickname.
    Joined,
}

/// A line that is no request: the error to answer it with. Bad lines are
/// counted; too many close the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadLine {
    /// The error code.
    pub(crate) code: ErrorCode,
    /// What was wrong, for people.
    pub(crate) message: String,
}

impl BadLine {
    /// A `bad_request` saying `message`.
    pub(crate) fn request(message: impl Into<String>) -> BadLine {
        BadLine {
            code: ErrorCode::BadRequest,
            message: message.into(),
        }
    }
}
