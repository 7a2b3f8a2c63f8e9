//! The JSON dialect: one `ClientMsg` or `ServerMsg` object per line, as
//! `docs/PROTOCOL.md` and `lanchat_shared::protocol` define it.

use lanchat_shared::{ClientMsg, ServerMsg};

use super::{DefaultRoom, Dialect};
use crate::domain::ShownTo;
use crate::hub::EventItem;
use crate::request::{
    BadLine, BanRequest, Hello, HistoryRange, Moderation, Request, Say, SayKind, Stage,
};

/// The JSON dialect.
pub(crate) const JSON: Json = Json;

/// See the module documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Json;

/// A line whose first non-blank character opens an object.
pub(super) fn looks_like_json(line: &str) -> bool {
    line.trim_start().starts_with('{')
}

impl Dialect for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn parse(&self, line: &str, _stage: Stage) -> Result<Request, BadLine> {
        let msg = ClientMsg::parse(line.as_bytes()).map_err(|e| BadLine::request(e.to_string()))?;
        Ok(match msg {
            ClientMsg::Hello {
                nick,
                since,
                session,
                history_id,
                password,
            } => Request::Hello(Hello {
                nick,
                since,
                session,
                history_id,
                password,
            }),
            ClientMsg::Say {
                text,
                room,
                to,
                client_id,
                notice,
            } => Request::Say(Say {
                text,
                // A notice is words, as IRC's NOTICE; anything else may be
                // a command.
                kind: if notice == Some(true) {
                    SayKind::Notice
                } else {
                    SayKind::Typed
                },
                room,
                to,
                client_id,
            }),
            ClientMsg::JoinRoom { room, key } => Request::JoinRoom { room, key },
            ClientMsg::PartRoom { room } => Request::PartRoom { room },
            ClientMsg::Quit { reason } => Request::Quit { reason },
            ClientMsg::Ping {} => Request::Ping,
            ClientMsg::History { before, room } => Request::History {
                range: HistoryRange::before(before),
                room,
                with: None,
                limit: None,
            },
            ClientMsg::Whois { nick } => Request::Whois { nick },
            ClientMsg::Op { nick, room } => Request::Moderate {
                room,
                action: Moderation::Operator { nick, give: true },
            },
            ClientMsg::Deop { nick, room } => Request::Moderate {
                room,
                action: Moderation::Operator { nick, give: false },
            },
            ClientMsg::Kick { nick, room, reason } => Request::Moderate {
                room,
                action: Moderation::Kick { nick, reason },
            },
            ClientMsg::Topic { room, text } => Request::Moderate {
                room,
                action: Moderation::Topic(text),
            },
            ClientMsg::Ban {
                target,
                room,
                server,
                duration_secs,
                reason,
            } => Request::Moderate {
                room,
                action: Moderation::Ban(BanRequest {
                    target,
                    server,
                    duration_secs,
                    reason,
                }),
            },
            ClientMsg::Unban {
                target,
                room,
                server,
            } => Request::Moderate {
                room,
                action: Moderation::Unban { target, server },
            },
            ClientMsg::Mute {
                nick,
                room,
                duration_secs,
            } => Request::Moderate {
                room,
                action: Moderation::Mute {
                    nick,
                    duration_secs,
                },
            },
            ClientMsg::Unmute { nick, room } => Request::Moderate {
                room,
                action: Moderation::Unmute { nick },
            },
            ClientMsg::Away { text } => Request::Away(text),
            ClientMsg::Private { on, room } => Request::Moderate {
                room,
                action: Moderation::Private(on),
            },
            ClientMsg::Invite { nick, room } => Request::Moderate {
                room,
                action: Moderation::Invite { nick },
            },
            ClientMsg::Key { key, room } => Request::Moderate {
                room,
                action: Moderation::Key(key),
            },
            ClientMsg::Bans { room, server } => Request::Moderate {
                room,
                action: Moderation::Bans { server },
            },
        })
    }

    fn render(&self, msg: &ServerMsg, out: &mut Vec<u8>) {
        out.extend_from_slice(&msg.to_line());
    }

    fn render_event(&self, item: &EventItem, shown_to: ShownTo, out: &mut Vec<u8>) {
        match (&item.own_json, shown_to) {
            (Some(own), ShownTo::Sender) => out.extend_from_slice(own),
            _ => out.extend_from_slice(&item.json),
        }
    }

    fn unaddressed_text_goes_to(&self) -> DefaultRoom {
        DefaultRoom::Lobby
    }

    fn password_comes(&self) -> super::PasswordComes {
        super::PasswordComes::InHello
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_message_becomes_its_request() {
        let say = JSON.parse(r#"{"type":"say","text":"hi","room":"dev"}"#, Stage::Joined);
        assert_eq!(
            say,
            Ok(Request::Say(Say {
                room: Some("dev".into()),
                ..Say::text("hi")
            }))
        );
        assert_eq!(
            JSON.parse(r#"{"type":"ping"}"#, Stage::Greeting),
            Ok(Request::Ping)
        );
        let bad = JSON
            .parse(r#"{"type":"shell"}"#, Stage::Joined)
            .unwrap_err();
        assert!(bad.message.contains("unknown message type"), "{bad:?}");
    }

    #[test]
    fn json_is_the_protocol_line() {
        let msg = ServerMsg::Join {
            nick: "bob".into(),
            room: None,
            owned: None,
        };
        let mut out = Vec::new();
        JSON.render(&msg, &mut out);
        assert_eq!(out, msg.to_line());
    }
}
