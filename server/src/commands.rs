//! What a line of chat text asks for: a message, a command, or leaving.
//!
//! Commands are interpreted by the server so that every kind of client — the
//! TUI, a script, `nc` — gets the same ones. Nothing here ever reaches a
//! shell: a command is a fixed set of words, matched literally.

/// What a `say` text (or a plain-text line) means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Said<'a> {
    /// Ordinary text to publish. `//text` arrives here as `/text`.
    Text(&'a str),
    /// `/quit [reason]` or the old notes' `over`: leave cleanly.
    Quit(Option<&'a str>),
    /// `/who`: list who is here.
    Who,
    /// `/help`: list commands.
    Help,
    /// `/join room`.
    Join(&'a str),
    /// `/part [room]`.
    Part(Option<&'a str>),
    /// `/rooms`: list rooms.
    Rooms,
    /// `/msg nick text`: a direct message.
    Msg { to: &'a str, text: &'a str },
    /// `/me text`: an action.
    Me(&'a str),
    /// `/nick new`.
    Nick(&'a str),
    /// A known command used wrongly; the text is its usage.
    Usage(&'static str),
    /// Any other `/word`.
    Unknown(&'a str),
}

/// Classifies chat text. `over` must be the whole text (surrounding
/// whitespace aside) so "game over" stays a message.
pub(crate) fn classify(text: &str) -> Said<'_> {
    if text.trim() == "over" {
        return Said::Quit(None);
    }
    if let Some(escaped) = text.strip_prefix("//") {
        return Said::Text(&text[text.len() - escaped.len() - 1..]);
    }
    let Some(command_line) = text.strip_prefix('/') else {
        return Said::Text(text);
    };
    let (word, rest) = command_line
        .split_once(char::is_whitespace)
        .unwrap_or((command_line, ""));
    let rest = rest.trim();
    match word.to_ascii_lowercase().as_str() {
        "quit" | "exit" => Said::Quit((!rest.is_empty()).then_some(rest)),
        "who" | "names" => Said::Who,
        "help" => Said::Help,
        "rooms" | "list" => Said::Rooms,
        "join" if !rest.is_empty() => Said::Join(rest),
        "join" => Said::Usage("/join ROOM"),
        "part" | "leave" => Said::Part((!rest.is_empty()).then_some(rest)),
        "me" if !rest.is_empty() => Said::Me(rest),
        "me" => Said::Usage("/me ACTION"),
        "nick" if !rest.is_empty() && !rest.contains(char::is_whitespace) => Said::Nick(rest),
        "nick" => Said::Usage("/nick NEWNAME"),
        "msg" | "query" => match rest.split_once(char::is_whitespace) {
            Some((to, text)) if !text.trim().is_empty() => Said::Msg {
                to,
                text: text.trim(),
            },
            _ => Said::Usage("/msg NICK TEXT"),
        },
        _ => Said::Unknown(word),
    }
}

/// The `/help` reply.
pub(crate) const HELP: &str = "Commands:\n\
/who            list who is in this room\n\
/rooms          list rooms\n\
/join ROOM      join (or create) a room\n\
/part [ROOM]    leave a room (this one by default)\n\
/msg NICK TEXT  a direct message only NICK sees\n\
/me ACTION      say what you are doing\n\
/nick NEWNAME   change your nickname\n\
/help           show this help\n\
/quit [reason]  leave (typing over on its own line also leaves)\n\
//text          send a message that starts with /";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_commands_and_leaves_text_alone() {
        assert_eq!(classify("hello"), Said::Text("hello"));
        assert_eq!(classify("game over"), Said::Text("game over"));
        assert_eq!(classify("over"), Said::Quit(None));
        assert_eq!(classify("  over "), Said::Quit(None));
        assert_eq!(classify("/quit"), Said::Quit(None));
        assert_eq!(classify("/QUIT  see you "), Said::Quit(Some("see you")));
        assert_eq!(classify("/who"), Said::Who);
        assert_eq!(classify("/help"), Said::Help);
        assert_eq!(classify("/rm -rf /"), Said::Unknown("rm"));
        assert_eq!(
            classify("//etc/passwd is a path"),
            Said::Text("/etc/passwd is a path")
        );
    }
}
