//! Protocol v1 messages: one compact JSON object per line, tagged by `type`.
//!
//! [`ClientMsg`] is what a client may send, [`ServerMsg`] what a server sends.
//! Both ignore fields they do not know, so either side can add optional
//! fields without breaking the other; a client must also ignore server
//! message types it does not know (they decode as [`ServerMsg::Unknown`]).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message from a client to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Asks to join under `nick`; must be the first message of a session.
    Hello {
        /// The nickname wanted, checked by [`crate::Nick::parse`].
        nick: String,
        /// Resume: replay every message after this id instead of the usual
        /// tail of history.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
        /// The token from an earlier `welcome`: reclaims the nickname (closing
        /// a ghost connection) and that session's rooms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
        /// The `history_id` of the `welcome` that `since` came from. If the
        /// server's history is another one (its database was replaced or
        /// emptied), `since` means nothing there: the client gets the usual
        /// tail and `gap`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        history_id: Option<String>,
        /// The server's password, if it asks for one (`--password`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
    /// Says `text` to a room (the lobby by default) or to one person, or
    /// runs it as a command when it starts with `/`. Fields such as `from`,
    /// `id` or `ts` are ignored: the server stamps them.
    Say {
        /// The message text, sanitised by the server before anyone sees it.
        text: String,
        /// The room to say it in; `lobby` if absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// A nickname: a direct message only the sender and they see.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        /// A string the client makes unique; a retry with the same one is
        /// stored once and answered with the first message's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// `true` for a notice (IRC's `NOTICE`): `text` is words even if it
        /// starts with `/`, and no program should answer it by itself, so
        /// two bots cannot answer each other for ever.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notice: Option<bool>,
    },
    /// Joins (creating if needed) a room.
    JoinRoom {
        /// The room's name, checked by [`crate::RoomName::parse`].
        room: String,
        /// The key of a private room, if it has one and the client was not
        /// invited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// Leaves a room.
    PartRoom {
        /// The room's name.
        room: String,
    },
    /// Ends the session cleanly.
    Quit {
        /// Optional words shown to the others in the `leave` event.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Asks the server for a `pong`, so a client can tell a live server from a
    /// dead connection without waiting for TCP to notice.
    Ping {},
    /// Asks for older history: the newest messages before `before` in a
    /// room the client is in, or in its direct messages, at most as many
    /// as the server replays on arrival; answered like a join's replay,
    /// ending in `history_end` (with nothing before it when the start of
    /// what the server keeps is reached).
    History {
        /// Only messages with a smaller id than this.
        before: u64,
        /// The room; without one, the client's direct messages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    /// Asks who is behind a nickname: answered with `whois` (or
    /// `no_such_user`). `/whois NICK` does the same as chat text.
    Whois {
        /// The nickname, ignoring case.
        nick: String,
    },
    /// Makes `nick` an operator of `room` (the client's current room by
    /// default), as `/op NICK` does; operators and admins only.
    Op {
        /// Who.
        nick: String,
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    /// Takes `room`'s operator role from `nick` (`/deop NICK`).
    Deop {
        /// Who.
        nick: String,
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    /// Puts `nick` out of `room` now (`/kick NICK [reason]`); they may come
    /// back.
    Kick {
        /// Who.
        nick: String,
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// Why, for everyone to read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Keeps `target` out of `room` (or, `server`, out of the server: admins
    /// only) for `duration_secs` (for good without), as `/ban` does.
    Ban {
        /// A nickname someone present holds (its identity is banned, or a
        /// guest's address), a fingerprint, or an address with an optional
        /// `/prefix`.
        target: String,
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// The whole server instead of a room.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        server: bool,
        /// How long; absent for good.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_secs: Option<u64>,
        /// Why, for everyone to read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Lifts a ban (`/unban`).
    Unban {
        /// A fingerprint or address as the ban list shows it.
        target: String,
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// A server-wide ban.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        server: bool,
    },
    /// Lets `nick` read `room` but not speak in it, for `duration_secs`
    /// (until unmuted without), as `/mute` does.
    Mute {
        /// Who: someone in the room now.
        nick: String,
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// How long; absent until unmuted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_secs: Option<u64>,
    },
    /// Lets `nick` speak in `room` again (`/unmute`).
    Unmute {
        /// Who.
        nick: String,
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    /// Makes `room` private (`on`: only those invited, those with its key,
    /// its operators and admins may enter, and `/rooms` does not list it to
    /// others) or open again, as `/private on|off` does.
    Private {
        /// Private or not.
        on: bool,
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    /// Lets `nick` into private `room` once (`/invite NICK`).
    Invite {
        /// Who: someone online.
        nick: String,
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    /// Sets the key of private `room` (without `key`: clears it), as `/key
    /// SECRET` and `/key -` do.
    Key {
        /// The new key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    /// Marks the client away with `text`, or (without it) back, as `/away
    /// [MESSAGE]` and `/back` do.
    Away {
        /// Why, or where: shown to others.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// Lists the bans of `room` (or of the server), answered with `info`.
    Bans {
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// The server's bans.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        server: bool,
    },
    /// Sets `room`'s topic to `text`, or, without `text`, asks for it
    /// (`/topic [text]`): answered with `topic`.
    Topic {
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// The new topic.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
}

/// The client message types the server understands, in the order the
/// protocol document lists them.
pub const CLIENT_MSG_TYPES: [&str; 21] = [
    "hello",
    "say",
    "join_room",
    "part_room",
    "quit",
    "ping",
    "history",
    "whois",
    "op",
    "deop",
    "kick",
    "topic",
    "ban",
    "unban",
    "bans",
    "mute",
    "unmute",
    "away",
    "private",
    "invite",
    "key",
];

/// Why a line could not be read as a [`ClientMsg`]. Every variant becomes a
/// `bad_request` error whose message is this type's `Display`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is not valid UTF-8.
    #[error("the line is not valid UTF-8")]
    NotUtf8,
    /// The line contains a NUL byte, which no legal message needs.
    #[error("the line contains a NUL byte")]
    Nul,
    /// The line is not JSON at all (or too deeply nested to be read).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The line is JSON, but not an object.
    #[error("a message must be a JSON object")]
    NotAnObject,
    /// The object has no `type` field, or it is not a string.
    #[error("a message needs a \"type\" field holding a string")]
    MissingType,
    /// The `type` is not one the server knows.
    #[error("unknown message type {0:?}; known types are {known}", known = known_types())]
    UnknownType(String),
    /// The `type` is known but a field is missing or has the wrong type.
    #[error("invalid {kind:?} message: {detail}")]
    BadFields {
        /// The message type whose fields were wrong.
        kind: String,
        /// What serde found wrong, e.g. "missing field `text`".
        detail: String,
    },
}

/// [`CLIENT_MSG_TYPES`] as a sentence: "hello, say, ... and ping".
fn known_types() -> String {
    match CLIENT_MSG_TYPES.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

impl ClientMsg {
    /// A plain `say` to the lobby.
    pub fn say(text: impl Into<String>) -> ClientMsg {
        ClientMsg::Say {
            text: text.into(),
            room: None,
            to: None,
            client_id: None,
            notice: None,
        }
    }

    /// Reads one line (without its line ending) as a client message, with an
    /// error that names the problem precisely enough to fix it.
    ///
    /// serde_json's recursion limit turns nesting bombs into `InvalidJson`
    /// instead of a stack overflow, and the line is bounded by the codec, so
    /// this never panics and never allocates more than a few times the line.
    pub fn parse(line: &[u8]) -> Result<ClientMsg, ParseError> {
        let text = line_as_text(line)?;
        // The common case, a good line, is parsed once, straight into the
        // type; only a bad line pays for the diagnosis below. serde reads
        // an internally tagged enum from a JSON array too (`["say","hi"]`),
        // so only an object may take the short way.
        if text.trim_start().starts_with('{')
            && let Ok(msg) = serde_json::from_str::<ClientMsg>(text)
        {
            return Ok(msg);
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
        let Value::Object(fields) = &value else {
            return Err(ParseError::NotAnObject);
        };
        let Some(Value::String(kind)) = fields.get("type") else {
            return Err(ParseError::MissingType);
        };
        if !CLIENT_MSG_TYPES.contains(&kind.as_str()) {
            return Err(ParseError::UnknownType(kind.clone()));
        }
        let kind = kind.clone();
        serde_json::from_value(value).map_err(|e| ParseError::BadFields {
            kind,
            detail: e.to_string(),
        })
    }

    /// Encodes the message as one JSON line, ending in `\n`.
    pub fn to_line(&self) -> Bytes {
        json_line(self)
    }

    /// The `client_id` in a line that is a JSON object with one, whatever
    /// else it holds, so a line refused before it is read (too fast) can
    /// still be named in the refusal.
    pub fn client_id_in(line: &[u8]) -> Option<String> {
        /// Only the field wanted; serde skips the others.
        #[derive(Deserialize)]
        struct ClientIdOnly {
            client_id: Option<String>,
        }
        serde_json::from_slice::<ClientIdOnly>(line).ok()?.client_id
    }
}

/// Checks the two things every line must be, in any mode: UTF-8, without NUL.
pub fn line_as_text(line: &[u8]) -> Result<&str, ParseError> {
    let text = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    if text.contains('\0') {
        return Err(ParseError::Nul);
    }
    Ok(text)
}

/// A message from the server to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The first line of every connection, sent before the client says anything.
    Greeting {
        /// Always `"lanchat"`, so a client knows what it reached.
        server: String,
        /// The protocol version, [`crate::limits::PROTOCOL_VERSION`].
        version: u32,
        /// Instructions for a person reading the raw line in `nc`.
        text: String,
        /// The server's TLS key, as `SHA256:...` (see
        /// [`crate::Fingerprint`]), so a client can compare it with the key
        /// it pinned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
    },
    /// Answers a good `hello`: the client is now in the room(s). History
    /// follows, then `history_end`, then live traffic.
    Welcome {
        /// The nickname granted, as spelled in the `hello`.
        nick: String,
        /// Everyone in the lobby, the new client included, sorted ignoring case.
        users: Vec<String>,
        /// Those of `users` whose identity owns their nickname (verified);
        /// the others are guests or use a nickname nobody owns.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        owners: Vec<String>,
        /// Those of `users` who are away.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        away: Vec<String>,
        /// The rooms the client is in.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rooms: Vec<String>,
        /// Token to present in a later `hello` to reclaim this session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
        /// True if a resume could not replay everything asked for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gap: Option<bool>,
        /// Names this server's history: message ids count within it. A
        /// client keeps it with the last id it saw and sends both back to
        /// resume.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        history_id: Option<String>,
        /// True if the nickname is owned by this connection's identity (its
        /// TLS client key): nobody else can use it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owned: Option<bool>,
    },
    /// Something somebody said; sent to everyone in its room (or to the two
    /// people of a direct message), the sender included.
    Message {
        /// Server-assigned, strictly increasing; everyone sees the same order.
        id: u64,
        /// Server time when the message was accepted, in Unix milliseconds.
        ts: u64,
        /// The sender's nickname, stamped by the server.
        from: String,
        /// The sanitised text.
        text: String,
        /// The room it was said in (absent for a direct message).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// The recipient of a direct message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        /// True for a `/me` action.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<bool>,
        /// True for a notice, which no program answers by itself (IRC's
        /// `NOTICE`; see [`ClientMsg::Say`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notice: Option<bool>,
        /// The sender's `client_id`, if it gave one, so it can match the
        /// echo (or a retry's answer) to what it sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// Somebody arrived in a room; sent to everyone else in it.
    Join {
        /// Who arrived.
        nick: String,
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// `true` if the identity that arrived owns the nickname; absent for
        /// a guest or a nickname nobody owns.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owned: Option<bool>,
    },
    /// Somebody left a room, whatever the way; sent to everyone else in it.
    Leave {
        /// Who left.
        nick: String,
        /// Why, for people to read (e.g. "quit", "connection lost").
        reason: String,
        /// Which room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    /// Somebody changed nickname; sent to everyone sharing a room with them.
    Nick {
        /// The old nickname.
        old: String,
        /// The new one.
        new: String,
        /// `true` if the renamed identity owns the new nickname; absent for
        /// a guest or a nickname nobody owns.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owned: Option<bool>,
    },
    /// The replay after `welcome` (or a room join) is complete.
    HistoryEnd {},
    /// A room's topic: to whoever joins it or asks, and to everyone in it
    /// when it changes.
    Topic {
        /// The room.
        room: String,
        /// The topic; empty when there is none.
        text: String,
        /// Who set it, if anyone did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// Words for this client only: command replies, notices.
    Info {
        /// The text; may hold several lines separated by `\n`.
        text: String,
    },
    /// Something this client did was refused.
    Error {
        /// Stable machine-readable code; see [`ErrorCode`].
        code: ErrorCode,
        /// A sentence for people.
        message: String,
        /// The `client_id` of the `say` refused, when the refusal is of a
        /// message that carried one, so a client knows exactly which line
        /// was not sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// Answers a `ping`.
    Pong {},
    /// Answers a `whois`: who is behind a nickname now.
    Whois {
        /// The nickname as its holder spells it.
        nick: String,
        /// The fingerprint of the key its connection proved; absent for a
        /// guest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
        /// True if that identity owns the nickname.
        owned: bool,
        /// True if its connection is TLS.
        encrypted: bool,
        /// When it connected, in Unix milliseconds.
        connected_at: u64,
        /// The rooms the asker shares with it.
        rooms: Vec<String>,
        /// Its away message, if it is away.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        away: Option<String>,
        /// The same, in words for people.
        text: String,
    },
    /// Somebody went away (`text`) or came back (no `text`): to everyone
    /// sharing a room with them, and to them.
    Away {
        /// Who.
        nick: String,
        /// Their away message; absent: back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// `nick` now keeps order in `room` (`operator`), or no longer does:
    /// to everyone in the room when an operator gives or takes the role,
    /// and when someone who keeps order there (an operator or an admin)
    /// enters it. Who keeps order in a room already is in `/who`.
    Role {
        /// The room.
        room: String,
        /// Who.
        nick: String,
        /// Whether they keep order there now.
        operator: bool,
    },
    /// A message type this version does not know. Clients must ignore it; the
    /// server never sends it.
    #[serde(other)]
    Unknown,
}

impl ServerMsg {
    /// Encodes the message as one compact JSON line, ending in `\n`.
    pub fn to_line(&self) -> Bytes {
        json_line(self)
    }

    /// Reads one line from a server. Unknown types decode as
    /// [`ServerMsg::Unknown`] and unknown fields are ignored.
    pub fn parse(line: &[u8]) -> Result<ServerMsg, serde_json::Error> {
        serde_json::from_slice(line)
    }

    /// Shorthand for an [`ServerMsg::Error`].
    pub fn error(code: ErrorCode, message: impl Into<String>) -> ServerMsg {
        ServerMsg::Error {
            code,
            message: message.into(),
            client_id: None,
        }
    }

    /// An [`ServerMsg::Error`] refusing the `say` that carried `client_id`.
    pub fn refusal_of(
        code: ErrorCode,
        message: impl Into<String>,
        client_id: Option<String>,
    ) -> ServerMsg {
        ServerMsg::Error {
            code,
            message: message.into(),
            client_id,
        }
    }

    /// Shorthand for a lobby message without extras (v1's shape).
    pub fn chat(id: u64, ts: u64, from: impl Into<String>, text: impl Into<String>) -> ServerMsg {
        ServerMsg::Message {
            id,
            ts,
            from: from.into(),
            text: text.into(),
            room: None,
            to: None,
            action: None,
            client_id: None,
            notice: None,
        }
    }

    /// Shorthand for an [`ServerMsg::Info`].
    pub fn info(text: impl Into<String>) -> ServerMsg {
        ServerMsg::Info { text: text.into() }
    }
}

/// Defines [`ErrorCode`] from one list: each code's doc, variant and wire
/// name are written once, and [`ErrorCode::ALL`] and [`ErrorCode::as_str`]
/// are made from the same list, so neither can miss a code.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident => $wire:literal,)*) => {
        /// Every error code of protocol v1. The snake_case names are the
        /// contract; `docs/PROTOCOL.md` says when each is sent and whether
        /// the connection stays.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* #[serde(rename = $wire)] $variant,)*
            /// A code this version does not know; clients must treat it as
            /// an error and show its message.
            #[serde(other, rename = "unknown")]
            Unknown,
        }

        impl ErrorCode {
            /// Every code a server sends, in the order of the protocol document.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                    ErrorCode::Unknown => "unknown",
                }
            }
        }
    };
}

error_codes! {
    /// The nickname is already in use (ignoring case); try another.
    NickTaken => "nick_taken",
    /// The nickname breaks the nickname rules; try another.
    NickInvalid => "nick_invalid",
    /// The nickname is owned by another identity (ignoring case): only the
    /// key that owns it may use it. Try another.
    NickOwned => "nick_owned",
    /// A line was longer than the server's line limit; it was discarded.
    LineTooLong => "line_too_long",
    /// A message text was longer than the text limit after sanitising.
    TextTooLong => "text_too_long",
    /// The client sent faster than its rate limit; the line was refused.
    RateLimited => "rate_limited",
    /// The line could not be understood; the message says why.
    BadRequest => "bad_request",
    /// A `/command` the server does not know.
    UnknownCommand => "unknown_command",
    /// The client fell too far behind reading and is being disconnected.
    SlowConsumer => "slow_consumer",
    /// No successful `hello` arrived in time; the connection closes.
    HelloTimeout => "hello_timeout",
    /// Too many bad lines in a short time; the connection closes.
    TooManyErrors => "too_many_errors",
    /// The server is at its connection limit; the connection closes.
    ServerFull => "server_full",
    /// This address has too many connections open; the connection closes.
    TooManyConnections => "too_many_connections",
    /// A room name breaks the room rules.
    RoomInvalid => "room_invalid",
    /// The client is not in that room.
    NotInRoom => "not_in_room",
    /// The client is in as many rooms as allowed.
    TooManyRooms => "too_many_rooms",
    /// Nobody by that nickname is here (direct messages, `/nick` clashes use
    /// `nick_taken`).
    NoSuchUser => "no_such_user",
    /// The message store failed; the message was not stored or sent.
    StoreUnavailable => "store_unavailable",
    /// Something failed inside the server, through no fault of the client
    /// (its random source, say); the request was not carried out. Try
    /// again later.
    ServerError => "server_error",
    /// The server asks for a password and none, or a wrong one, was
    /// given; the third wrong one on a connection closes it.
    BadPassword => "bad_password",
    /// The server admits only the identities on its list (`--allow`), and
    /// this connection's is not one of them; the connection closes.
    NotAllowed => "not_allowed",
    /// The server takes TLS connections only (`--require-tls`) and this
    /// one is plain TCP; the message says how to connect. The connection
    /// closes.
    TlsRequired => "tls_required",
    /// Only a room's operators (and the server's admins) may do that, and
    /// never against an admin; the message says which.
    NoPermission => "no_permission",
    /// A ban keeps this identity or address out of the room (the
    /// connection stays) or the server (it closes); the message says until
    /// when and why.
    Banned => "banned",
    /// An operator muted this client in that room: it may read, not speak;
    /// the message says until when. The line was not sent.
    Muted => "muted",
    /// The room is private: only those invited or with its key (and its
    /// operators) may enter.
    InviteOnly => "invite_only",
    /// The room is private and has a key, which was not given or was not
    /// its key (an invitation lets one in without it).
    BadKey => "bad_key",
}

fn json_line<T: Serialize>(msg: &T) -> Bytes {
    // Serialising these types cannot fail: every map key is a string and no
    // Serialize impl is hand-written. The fallback keeps that an invariant
    // of the types rather than a panic waiting in the network path.
    let mut line = serde_json::to_vec(msg).unwrap_or_else(|_| {
        br#"{"type":"error","code":"bad_request","message":"internal encoding error"}"#.to_vec()
    });
    line.push(b'\n');
    Bytes::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<ClientMsg, ParseError> {
        ClientMsg::parse(s.as_bytes())
    }

    #[test]
    fn reads_the_documented_client_messages() {
        assert_eq!(
            parse(r#"{"type":"hello","nick":"alice"}"#),
            Ok(ClientMsg::Hello {
                nick: "alice".into(),
                since: None,
                session: None,
                history_id: None,
                password: None,
            })
        );
        assert_eq!(
            parse(r#"{"type":"say","text":"hi"}"#),
            Ok(ClientMsg::say("hi"))
        );
        assert_eq!(
            parse(r#"{"type":"quit"}"#),
            Ok(ClientMsg::Quit { reason: None })
        );
        assert_eq!(parse(r#"{"type":"ping"}"#), Ok(ClientMsg::Ping {}));
    }

    #[test]
    fn ignores_fields_a_client_has_no_say_over() {
        let spoofed = r#"{"type":"say","text":"hi","from":"bob","id":1,"ts":2,"extra":[1,{}]}"#;
        assert_eq!(parse(spoofed), Ok(ClientMsg::say("hi")));
    }

    #[test]
    fn names_each_kind_of_bad_line() {
        assert_eq!(ClientMsg::parse(b"\xff\xfe"), Err(ParseError::NotUtf8));
        assert_eq!(
            ClientMsg::parse(b"{\"type\":\"say\",\0}"),
            Err(ParseError::Nul)
        );
        assert!(matches!(parse("{nope"), Err(ParseError::InvalidJson(_))));
        assert_eq!(parse("[1,2]"), Err(ParseError::NotAnObject));
        assert_eq!(
            parse(r#"["say","hi"]"#),
            Err(ParseError::NotAnObject),
            "an array is not a message, even one serde could read as one"
        );
        assert_eq!(parse(r#" ["hello","alice"]"#), Err(ParseError::NotAnObject));
        assert_eq!(parse("\"hello\""), Err(ParseError::NotAnObject));
        assert_eq!(parse(r#"{"nick":"a"}"#), Err(ParseError::MissingType));
        assert_eq!(parse(r#"{"type":7}"#), Err(ParseError::MissingType));
        assert_eq!(
            parse(r#"{"type":"shell","cmd":"rm -rf /"}"#),
            Err(ParseError::UnknownType("shell".into()))
        );
        let missing = parse(r#"{"type":"say"}"#).unwrap_err();
        assert!(
            missing.to_string().contains("missing field `text`"),
            "{missing}"
        );
        let mistyped = parse(r#"{"type":"say","text":5}"#).unwrap_err();
        assert!(mistyped.to_string().contains("invalid type"), "{mistyped}");
    }

    #[test]
    fn a_nesting_bomb_is_an_error_not_a_crash() {
        let depth = 5000;
        let bomb = format!(
            r#"{{"type":"say","text":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert!(matches!(parse(&bomb), Err(ParseError::InvalidJson(_))));
    }

    #[test]
    fn server_messages_have_the_documented_wire_form() {
        let cases = [
            (
                ServerMsg::Welcome {
                    nick: "alice".into(),
                    users: vec!["alice".into(), "bob".into()],
                    owners: vec![],
                    away: vec![],
                    rooms: vec![],
                    session: None,
                    gap: None,
                    history_id: None,
                    owned: None,
                },
                r#"{"type":"welcome","nick":"alice","users":["alice","bob"]}"#,
            ),
            (
                ServerMsg::chat(7, 1700000000000, "alice", "hi"),
                r#"{"type":"message","id":7,"ts":1700000000000,"from":"alice","text":"hi"}"#,
            ),
            (
                ServerMsg::Message {
                    id: 8,
                    ts: 1,
                    from: "alice".into(),
                    text: "waves".into(),
                    room: Some("dev".into()),
                    to: None,
                    action: Some(true),
                    client_id: None,
                    notice: None,
                },
                r#"{"type":"message","id":8,"ts":1,"from":"alice","text":"waves","room":"dev","action":true}"#,
            ),
            (
                ServerMsg::Message {
                    id: 9,
                    ts: 1,
                    from: "bot".into(),
                    text: "done".into(),
                    room: None,
                    to: Some("bob".into()),
                    action: None,
                    client_id: None,
                    notice: Some(true),
                },
                r#"{"type":"message","id":9,"ts":1,"from":"bot","text":"done","to":"bob","notice":true}"#,
            ),
            (
                ServerMsg::Nick {
                    old: "a".into(),
                    new: "b".into(),
                    owned: None,
                },
                r#"{"type":"nick","old":"a","new":"b"}"#,
            ),
            (ServerMsg::HistoryEnd {}, r#"{"type":"history_end"}"#),
            (
                ServerMsg::Join {
                    nick: "bob".into(),
                    room: None,
                    owned: None,
                },
                r#"{"type":"join","nick":"bob"}"#,
            ),
            (
                ServerMsg::Leave {
                    nick: "bob".into(),
                    reason: "quit".into(),
                    room: None,
                },
                r#"{"type":"leave","nick":"bob","reason":"quit"}"#,
            ),
            (
                ServerMsg::info("hello"),
                r#"{"type":"info","text":"hello"}"#,
            ),
            (
                ServerMsg::error(ErrorCode::NickTaken, "taken"),
                r#"{"type":"error","code":"nick_taken","message":"taken"}"#,
            ),
            (ServerMsg::Pong {}, r#"{"type":"pong"}"#),
        ];
        for (msg, wire) in cases {
            assert_eq!(msg.to_line(), format!("{wire}\n").as_bytes());
            assert_eq!(ServerMsg::parse(wire.as_bytes()).unwrap(), msg);
        }
    }

    #[test]
    fn error_codes_serialise_as_their_documented_names() {
        assert_eq!(ErrorCode::ALL.len(), 27);
        for &code in ErrorCode::ALL {
            let wire = serde_json::to_string(&code).unwrap();
            assert_eq!(wire, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&wire).unwrap(), code);
            assert_ne!(code, ErrorCode::Unknown);
        }
        assert_eq!(ErrorCode::Unknown.as_str(), "unknown");
    }

    #[test]
    fn every_documented_client_type_is_understood() {
        for kind in CLIENT_MSG_TYPES {
            let line = format!(r#"{{"type":"{kind}"}}"#);
            assert!(
                !matches!(parse(&line), Err(ParseError::UnknownType(_))),
                "{kind}"
            );
        }
        let unknown = parse(r#"{"type":"shell"}"#).unwrap_err().to_string();
        assert!(
            unknown.ends_with(
                "known types are hello, say, join_room, part_room, quit, ping, history, whois, op, deop, kick, topic, ban, unban, bans, mute, unmute, away, private, invite and key"
            ),
            "{unknown}"
        );
    }

    #[test]
    fn clients_tolerate_what_a_newer_server_adds() {
        let newer = br#"{"type":"reaction","emoji":"x"}"#;
        assert_eq!(ServerMsg::parse(newer).unwrap(), ServerMsg::Unknown);
        let extra = br#"{"type":"join","nick":"bob","mood":"happy"}"#;
        assert_eq!(
            ServerMsg::parse(extra).unwrap(),
            ServerMsg::Join {
                nick: "bob".into(),
                room: None,
                owned: None,
            }
        );
        let code = br#"{"type":"error","code":"brand_new","message":"m"}"#;
        assert_eq!(
            ServerMsg::parse(code).unwrap(),
            ServerMsg::error(ErrorCode::Unknown, "m")
        );
    }

    fn any_client_msg() -> impl Strategy<Value = ClientMsg> {
        prop_oneof![
            (
                any::<String>(),
                any::<Option<u64>>(),
                any::<Option<String>>(),
                any::<Option<String>>()
            )
                .prop_map(|(nick, since, session, history_id)| ClientMsg::Hello {
                    nick,
                    since,
                    session,
                    history_id,
                    password: None,
                }),
            (
                any::<String>(),
                any::<Option<String>>(),
                any::<Option<String>>(),
                any::<Option<String>>(),
                any::<Option<bool>>()
            )
                .prop_map(|(text, room, to, client_id, notice)| ClientMsg::Say {
                    text,
                    room,
                    to,
                    client_id,
                    notice
                }),
            any::<String>().prop_map(|room| ClientMsg::JoinRoom { room, key: None }),
            any::<String>().prop_map(|room| ClientMsg::PartRoom { room }),
            proptest::option::of(any::<String>()).prop_map(|reason| ClientMsg::Quit { reason }),
            Just(ClientMsg::Ping {}),
            (any::<u64>(), proptest::option::of(any::<String>()))
                .prop_map(|(before, room)| ClientMsg::History { before, room }),
        ]
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_message_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = ClientMsg::parse(&bytes);
            let _ = ServerMsg::parse(&bytes);
        }

        #[test]
        fn json_shaped_garbage_gives_a_message_or_an_error(s in r#"\{("[a-z]{0,5}":("[^"]{0,8}"|[0-9]{1,3}|\[|\{|null),?){0,6}\}?"#) {
            let _ = ClientMsg::parse(s.as_bytes());
        }

        #[test]
        fn client_messages_round_trip(msg in any_client_msg()) {
            let line = msg.to_line();
            let fields: Value = serde_json::from_slice(&line).unwrap();
            prop_assert!(CLIENT_MSG_TYPES.contains(&fields["type"].as_str().unwrap_or_default()));
            prop_assert_eq!(line.last(), Some(&b'\n'));
            prop_assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
            prop_assert_eq!(ClientMsg::parse(&line[..line.len() - 1]), Ok(msg));
        }

        #[test]
        fn server_messages_round_trip(id: u64, ts: u64, from in "[a-z]{1,16}", text: String, room: Option<String>, notice: Option<bool>) {
            let msg = ServerMsg::Message { id, ts, from, text, room, to: None, action: None, client_id: None, notice };
            let line = msg.to_line();
            prop_assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
            prop_assert_eq!(ServerMsg::parse(&line).unwrap(), msg);
        }
    }
}
