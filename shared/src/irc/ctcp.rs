//! CTCP, the client-to-client requests inside `PRIVMSG` and `NOTICE` text:
//! `/me` actions, `VERSION`, `PING` and the rest.
//!
//! A CTCP text is `\x01COMMAND[ params][\x01]`: the whole text is one CTCP
//! message or plain text, never a mix (Modern IRC's CTCP document). Read it
//! before formatting is stripped and the text sanitised, since both remove
//! the `\x01` that frames it.

/// The byte that opens and closes a CTCP message.
pub const CTCP_DELIMITER: char = '\x01';

/// The CTCP command of a `/me` action.
pub const ACTION: &str = "ACTION";

/// Most bytes [`render_action`] adds around a text (`\x01ACTION ` and
/// `\x01`; one fewer for an empty text), to take off the budget when
/// splitting an action over several lines.
pub const ACTION_FRAME_LEN: usize = 1 + ACTION.len() + 1 + 1;

/// What a `PRIVMSG` or `NOTICE` text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageText<'a> {
    /// Ordinary text, to be shown as it is (once cleaned).
    Plain(&'a str),
    /// A `/me` action (`\x01ACTION waves\x01`): the text after `ACTION `.
    Action(&'a str),
    /// Any other CTCP request or reply.
    Ctcp {
        /// The command as sent (`VERSION`, `PING`); compare it ignoring
        /// ASCII case, as clients differ.
        command: &'a str,
        /// Everything after the space that follows the command, or `""`.
        params: &'a str,
    },
}

impl<'a> MessageText<'a> {
    /// Tells what `text` is. The closing `\x01` is optional, as Modern IRC
    /// asks parsers to accept, because some clients lose it when they split
    /// long actions. A text that is a `\x01` without a command (`\x01\x01`,
    /// `\x01 x`) is plain, for the sanitiser to clean.
    pub fn parse(text: &'a str) -> MessageText<'a> {
        let Some(body) = text.strip_prefix(CTCP_DELIMITER) else {
            return MessageText::Plain(text);
        };
        let body = body.strip_suffix(CTCP_DELIMITER).unwrap_or(body);
        let (command, params) = body.split_once(' ').unwrap_or((body, ""));
        if command.is_empty() {
            return MessageText::Plain(text);
        }
        if command.eq_ignore_ascii_case(ACTION) {
            return MessageText::Action(params);
        }
        MessageText::Ctcp { command, params }
    }
}

/// A CTCP message with `command` and `params`, closing delimiter included,
/// for replies such as `VERSION` and `PING`. A `\x01` inside either is
/// dropped, since it would end the message early.
pub fn render_ctcp(command: &str, params: &str) -> String {
    let mut out = String::with_capacity(command.len() + params.len() + 3);
    out.push(CTCP_DELIMITER);
    out.extend(command.chars().filter(|&c| c != CTCP_DELIMITER));
    if !params.is_empty() {
        out.push(' ');
        out.extend(params.chars().filter(|&c| c != CTCP_DELIMITER));
    }
    out.push(CTCP_DELIMITER);
    out
}

/// `text` as a `/me` action: `\x01ACTION text\x01`.
pub fn render_action(text: &str) -> String {
    render_ctcp(ACTION, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn actions_are_recognised_with_or_without_the_closing_delimiter() {
        assert_eq!(
            MessageText::parse("\x01ACTION waves\x01"),
            MessageText::Action("waves")
        );
        assert_eq!(
            MessageText::parse("\x01ACTION waves"),
            MessageText::Action("waves")
        );
        assert_eq!(
            MessageText::parse("\x01action waves\x01"),
            MessageText::Action("waves")
        );
        assert_eq!(
            MessageText::parse("\x01ACTION\x01"),
            MessageText::Action("")
        );
        assert_eq!(
            MessageText::parse("\x01ACTION  two spaces\x01"),
            MessageText::Action(" two spaces")
        );
    }

    #[test]
    fn other_ctcp_keeps_its_command_and_params() {
        assert_eq!(
            MessageText::parse("\x01VERSION\x01"),
            MessageText::Ctcp {
                command: "VERSION",
                params: ""
            }
        );
        assert_eq!(
            MessageText::parse("\x01PING 1473523796 918320\x01"),
            MessageText::Ctcp {
                command: "PING",
                params: "1473523796 918320"
            }
        );
        assert_eq!(
            MessageText::parse("\x01TIME"),
            MessageText::Ctcp {
                command: "TIME",
                params: ""
            }
        );
    }

    #[test]
    fn anything_else_is_plain() {
        for text in [
            "hello",
            "",
            "not \x01ACTION\x01 first",
            "\x01",
            "\x01\x01",
            "\x01 x\x01",
        ] {
            assert_eq!(MessageText::parse(text), MessageText::Plain(text));
        }
    }

    #[test]
    fn actions_and_replies_render_as_clients_expect() {
        assert_eq!(render_action("waves"), "\x01ACTION waves\x01");
        assert_eq!(render_action(""), "\x01ACTION\x01");
        assert_eq!(
            render_ctcp("VERSION", "lanchat 0.1"),
            "\x01VERSION lanchat 0.1\x01"
        );
        assert_eq!(render_ctcp("PING", "1\x012"), "\x01PING 12\x01");
        assert_eq!(
            render_action("waves").len(),
            "waves".len() + ACTION_FRAME_LEN
        );
    }

    proptest! {
        #[test]
        fn a_rendered_action_parses_back(text in "[^\x01]{0,100}") {
            let rendered = render_action(&text);
            prop_assert_eq!(MessageText::parse(&rendered), MessageText::Action(&text));
            prop_assert!(rendered.len() <= text.len() + ACTION_FRAME_LEN);
        }

        #[test]
        fn parsing_never_panics(text in any::<String>()) {
            let _ = MessageText::parse(&text);
        }
    }
}
