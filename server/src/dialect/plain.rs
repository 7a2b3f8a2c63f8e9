//! The plain-text dialect, for `nc`, `telnet` and five-line scripts: the
//! first line is a nickname, every line after it is chat text (commands
//! included), and what the server says reads like a chat log.

use lanchat_shared::ServerMsg;
use lanchat_shared::clock::clock_time;
use lanchat_shared::command::{self, Command};

use super::{DefaultRoom, Dialect};
use crate::request::{BadLine, Hello, Request, Say, Stage};

/// The plain-text dialect.
pub(crate) const PLAIN_TEXT: PlainText = PlainText;

/// See the module documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlainText;

impl Dialect for PlainText {
    fn name(&self) -> &'static str {
        "plain text"
    }

    fn parse(&self, line: &str, stage: Stage) -> Result<Request, BadLine> {
        Ok(match stage {
            Stage::Joined => Request::Say(Say::text(line)),
            // Before a nickname, only "/quit" is a command: "over" is a
            // legal nickname.
            Stage::Greeting => match command::parse(line) {
                Command::Quit(_) if line.trim_start().starts_with('/') => {
                    Request::Quit { reason: None }
                }
                _ => Request::Hello(Hello::nick(line.trim())),
            },
            // Taken as typed (a password may start or end with spaces),
            // but `/quit` still leaves.
            Stage::Password => match command::parse(line) {
                Command::Quit(_) if line.starts_with('/') => Request::Quit { reason: None },
                _ => Request::Password(line.to_owned()),
            },
        })
    }

    fn render(&self, msg: &ServerMsg, out: &mut Vec<u8>) {
        out.extend_from_slice(plain_text(msg).as_bytes());
    }

    fn unaddressed_text_goes_to(&self) -> DefaultRoom {
        DefaultRoom::Current
    }

    fn password_comes(&self) -> super::PasswordComes {
        super::PasswordComes::OnItsOwnLine
    }
}

/// The plain-text form: `[12:04] <alice> hi`, `* bob joined`, `-- ` before
/// replies and notices, `!! ` before errors. Every string in it was either
/// sanitised or validated before it got here, so the lines are safe to print.
fn plain_text(msg: &ServerMsg) -> String {
    match msg {
        ServerMsg::Message {
            ts,
            from,
            text,
            room,
            to,
            action,
            notice,
            ..
        } => {
            let place = match (room.as_deref(), to) {
                (_, Some(to)) => format!("[to {to}] "),
                (Some(room), None) if room != lanchat_shared::room_name::LOBBY => {
                    format!("#{room} ")
                }
                _ => String::new(),
            };
            // A notice reads as IRC clients show one.
            match (action, notice) {
                (Some(true), _) => format!("[{}] {place}* {from} {text}\n", clock_time(*ts)),
                (_, Some(true)) => format!("[{}] {place}-{from}- {text}\n", clock_time(*ts)),
                _ => format!("[{}] {place}<{from}> {text}\n", clock_time(*ts)),
            }
        }
        ServerMsg::Join { nick, room, .. } => {
            format!("* {nick} joined{}\n", in_room(room.as_deref()))
        }
        ServerMsg::Leave { nick, reason, room } => {
            format!("* {nick} left{} ({reason})\n", in_room(room.as_deref()))
        }
        ServerMsg::Nick { old, new, .. } => format!("* {old} is now known as {new}\n"),
        // A role given or taken is told in the room's own line; plain text
        // has no user list to mark.
        ServerMsg::HistoryEnd {} | ServerMsg::Role { .. } => String::new(),
        ServerMsg::Welcome {
            nick, users, owned, ..
        } => format!(
            "-- Welcome, {nick}! Here now ({}): {}\n{}\
             -- Type a message and press Enter. /help lists commands; /quit or over leaves.\n",
            users.len(),
            users.join(", "),
            if *owned == Some(true) {
                "-- You own this nickname (it is bound to your key): nobody else can use it.\n"
            } else {
                ""
            }
        ),
        ServerMsg::Away {
            nick,
            text: Some(text),
        } => format!("* {nick} is away: {text}\n"),
        ServerMsg::Away { nick, text: None } => format!("* {nick} is back\n"),
        ServerMsg::Topic { room, text, by } => match (text.is_empty(), by) {
            (true, _) => format!("-- #{room} has no topic.\n"),
            (false, Some(by)) => format!("-- Topic of #{room}: {text} (set by {by})\n"),
            (false, None) => format!("-- Topic of #{room}: {text}\n"),
        },
        ServerMsg::Info { text } | ServerMsg::Greeting { text, .. } => {
            text.lines().map(|line| format!("-- {line}\n")).collect()
        }
        ServerMsg::Error { code, message, .. } => format!("!! {message} ({})\n", code.as_str()),
        ServerMsg::Pong {} => "-- pong\n".to_owned(),
        ServerMsg::Whois { text, .. } => text.lines().map(|line| format!("-- {line}\n")).collect(),
        ServerMsg::Unknown => String::new(),
    }
}

/// ` #room` for rooms other than the lobby, which needs no mention.
fn in_room(room: Option<&str>) -> String {
    match room {
        Some(room) if room != lanchat_shared::room_name::LOBBY => format!(" #{room}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanchat_shared::ErrorCode;

    fn plain(msg: &ServerMsg) -> String {
        let mut out = Vec::new();
        PLAIN_TEXT.render(msg, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn message(room: Option<&str>, to: Option<&str>, action: bool) -> ServerMsg {
        ServerMsg::Message {
            id: 1,
            ts: 0,
            from: "bob".into(),
            text: "hi".into(),
            room: room.map(str::to_owned),
            to: to.map(str::to_owned),
            action: action.then_some(true),
            client_id: None,
            notice: None,
        }
    }

    #[test]
    fn plain_text_lines_read_like_a_chat_log() {
        let line = plain(&ServerMsg::chat(1, 0, "alice", "hi"));
        assert!(
            line.starts_with('[') && line.ends_with("] <alice> hi\n"),
            "{line:?}"
        );
        assert_eq!(line.len(), "[12:04] <alice> hi\n".len());
        assert!(
            plain(&message(Some("lobby"), None, false)).ends_with("] <bob> hi\n"),
            "the lobby goes unsaid"
        );
        assert!(plain(&message(Some("dev"), None, false)).ends_with("] #dev <bob> hi\n"));
        assert!(plain(&message(Some("dev"), None, true)).ends_with("] #dev * bob hi\n"));
        assert!(plain(&message(None, Some("alice"), false)).ends_with("] [to alice] <bob> hi\n"));
        let join = ServerMsg::Join {
            nick: "bob".into(),
            room: Some("lobby".into()),
            owned: None,
        };
        assert_eq!(plain(&join), "* bob joined\n");
        let leave = ServerMsg::Leave {
            nick: "bob".into(),
            reason: "quit".into(),
            room: Some("dev".into()),
        };
        assert_eq!(plain(&leave), "* bob left #dev (quit)\n");
        assert_eq!(
            plain(&ServerMsg::Nick {
                old: "a".into(),
                new: "b".into(),
                owned: None,
            }),
            "* a is now known as b\n"
        );
        assert_eq!(plain(&ServerMsg::HistoryEnd {}), "");
        assert_eq!(plain(&ServerMsg::info("a\nb")), "-- a\n-- b\n");
        assert_eq!(
            plain(&ServerMsg::error(ErrorCode::NickTaken, "Taken.")),
            "!! Taken. (nick_taken)\n"
        );
    }

    #[test]
    fn asked_for_a_password_a_line_is_the_password_as_typed_unless_it_is_quit() {
        assert_eq!(
            PLAIN_TEXT.parse(" open sesame ", Stage::Password),
            Ok(Request::Password(" open sesame ".into()))
        );
        assert_eq!(
            PLAIN_TEXT.parse("/quit", Stage::Password),
            Ok(Request::Quit { reason: None })
        );
    }

    #[test]
    fn a_line_is_a_nickname_before_joining_and_chat_after() {
        let hello = PLAIN_TEXT.parse("  alice ", Stage::Greeting);
        assert_eq!(hello, Ok(Request::Hello(Hello::nick("alice"))));
        assert_eq!(
            PLAIN_TEXT.parse("/quit", Stage::Greeting),
            Ok(Request::Quit { reason: None })
        );
        // "over" is a legal nickname; it only means leaving once joined.
        assert!(matches!(
            PLAIN_TEXT.parse("over", Stage::Greeting),
            Ok(Request::Hello(_))
        ));
        assert_eq!(
            PLAIN_TEXT.parse("over", Stage::Joined),
            Ok(Request::Say(Say::text("over")))
        );
    }
}
