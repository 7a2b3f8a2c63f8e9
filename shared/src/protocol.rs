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
    },
    /// Says `text` to the room, or runs it as a command when it starts with `/`.
    /// Fields such as `from`, `id` or `ts` are ignored: the server stamps them.
    Say {
        /// The message text, sanitised by the server before anyone sees it.
        text: String,
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
}

/// The client message types the server understands, in the order the
/// protocol document lists them.
pub const CLIENT_MSG_TYPES: [&str; 4] = ["hello", "say", "quit", "ping"];

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
    #[error("unknown message type {0:?}; known types are hello, say, quit and ping")]
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

impl ClientMsg {
    /// Reads one line (without its line ending) as a client message, with an
    /// error that names the problem precisely enough to fix it.
    ///
    /// serde_json's recursion limit turns nesting bombs into `InvalidJson`
    /// instead of a stack overflow, and the line is bounded by the codec, so
    /// this never panics and never allocates more than a few times the line.
    pub fn parse(line: &[u8]) -> Result<ClientMsg, ParseError> {
        let text = line_as_text(line)?;
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
    },
    /// Answers a good `hello`: the client is now in the room.
    Welcome {
        /// The nickname granted, as spelled in the `hello`.
        nick: String,
        /// Everyone in the room, the new client included, sorted ignoring case.
        users: Vec<String>,
    },
    /// Something somebody said; sent to everyone, the sender included.
    Message {
        /// Server-assigned, strictly increasing; everyone sees the same order.
        id: u64,
        /// Server time when the message was accepted, in Unix milliseconds.
        ts: u64,
        /// The sender's nickname, stamped by the server.
        from: String,
        /// The sanitised text.
        text: String,
    },
    /// Somebody arrived; sent to everyone else.
    Join {
        /// Who arrived.
        nick: String,
    },
    /// Somebody left, whatever the way; sent to everyone else.
    Leave {
        /// Who left.
        nick: String,
        /// Why, for people to read (e.g. "quit", "connection lost").
        reason: String,
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
    },
    /// Answers a `ping`.
    Pong {},
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

    /// Shorthand for an [`ServerMsg::Error`] with its code's standard wording
    /// extended by `detail`.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> ServerMsg {
        ServerMsg::Error {
            code,
            message: message.into(),
        }
    }

    /// Shorthand for an [`ServerMsg::Info`].
    pub fn info(text: impl Into<String>) -> ServerMsg {
        ServerMsg::Info { text: text.into() }
    }
}

/// Every error code of protocol v1. The snake_case names are the contract;
/// `docs/PROTOCOL.md` says when each is sent and whether the connection stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The nickname is already in use (ignoring case); try another.
    NickTaken,
    /// The nickname breaks the nickname rules; try another.
    NickInvalid,
    /// A line was longer than the server's line limit; it was discarded.
    LineTooLong,
    /// A message text was longer than the text limit after sanitising.
    TextTooLong,
    /// The client sent faster than its rate limit; the line was refused.
    RateLimited,
    /// The line could not be understood; the message says why.
    BadRequest,
    /// A `/command` the server does not know.
    UnknownCommand,
    /// The client fell too far behind reading and is being disconnected.
    SlowConsumer,
    /// No successful `hello` arrived in time; the connection closes.
    HelloTimeout,
    /// Too many bad lines in a short time; the connection closes.
    TooManyErrors,
    /// The server is at its connection limit; the connection closes.
    ServerFull,
    /// This address has too many connections open; the connection closes.
    TooManyConnections,
    /// A code this version does not know; clients must treat it as an error
    /// and show its message.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NickTaken => "nick_taken",
            ErrorCode::NickInvalid => "nick_invalid",
            ErrorCode::LineTooLong => "line_too_long",
            ErrorCode::TextTooLong => "text_too_long",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::SlowConsumer => "slow_consumer",
            ErrorCode::HelloTimeout => "hello_timeout",
            ErrorCode::TooManyErrors => "too_many_errors",
            ErrorCode::ServerFull => "server_full",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::Unknown => "unknown",
        }
    }
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
                nick: "alice".into()
            })
        );
        assert_eq!(
            parse(r#"{"type":"say","text":"hi"}"#),
            Ok(ClientMsg::Say { text: "hi".into() })
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
        assert_eq!(parse(spoofed), Ok(ClientMsg::Say { text: "hi".into() }));
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
                },
                r#"{"type":"welcome","nick":"alice","users":["alice","bob"]}"#,
            ),
            (
                ServerMsg::Message {
                    id: 7,
                    ts: 1700000000000,
                    from: "alice".into(),
                    text: "hi".into(),
                },
                r#"{"type":"message","id":7,"ts":1700000000000,"from":"alice","text":"hi"}"#,
            ),
            (
                ServerMsg::Join { nick: "bob".into() },
                r#"{"type":"join","nick":"bob"}"#,
            ),
            (
                ServerMsg::Leave {
                    nick: "bob".into(),
                    reason: "quit".into(),
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
        use ErrorCode::*;
        for code in [
            NickTaken,
            NickInvalid,
            LineTooLong,
            TextTooLong,
            RateLimited,
            BadRequest,
            UnknownCommand,
            SlowConsumer,
            HelloTimeout,
            TooManyErrors,
            ServerFull,
            TooManyConnections,
        ] {
            let wire = serde_json::to_string(&code).unwrap();
            assert_eq!(wire, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn clients_tolerate_what_a_newer_server_adds() {
        let newer = br#"{"type":"reaction","emoji":"x"}"#;
        assert_eq!(ServerMsg::parse(newer).unwrap(), ServerMsg::Unknown);
        let extra = br#"{"type":"join","nick":"bob","room":"dev"}"#;
        assert_eq!(
            ServerMsg::parse(extra).unwrap(),
            ServerMsg::Join { nick: "bob".into() }
        );
        let code = br#"{"type":"error","code":"brand_new","message":"m"}"#;
        assert_eq!(
            ServerMsg::parse(code).unwrap(),
            ServerMsg::error(ErrorCode::Unknown, "m")
        );
    }

    fn any_client_msg() -> impl Strategy<Value = ClientMsg> {
        prop_oneof![
            any::<String>().prop_map(|nick| ClientMsg::Hello { nick }),
            any::<String>().prop_map(|text| ClientMsg::Say { text }),
            proptest::option::of(any::<String>()).prop_map(|reason| ClientMsg::Quit { reason }),
            Just(ClientMsg::Ping {}),
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
            prop_assert_eq!(line.last(), Some(&b'\n'));
            prop_assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
            prop_assert_eq!(ClientMsg::parse(&line[..line.len() - 1]), Ok(msg));
        }

        #[test]
        fn server_messages_round_trip(id: u64, ts: u64, from in "[a-z]{1,16}", text: String) {
            let msg = ServerMsg::Message { id, ts, from, text };
            let line = msg.to_line();
            prop_assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
            prop_assert_eq!(ServerMsg::parse(&line).unwrap(), msg);
        }
    }
}
