//! The chat commands, defined once: their names, arguments and help, and
//! [`parse`], which reads a line of chat text into a [`Command`].
//!
//! The server carries out most commands, so every kind of client (the TUI,
//! a script, `nc`) gets the same ones; the TUI carries out a few itself
//! (opening and closing buffers, clearing the screen) and shows one help
//! made from the same table. Nothing here ever reaches a shell: a command
//! is one of a fixed set of words, matched literally.

/// One command as people type it and as `/help` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// The name, without its slash.
    pub name: &'static str,
    /// Other names for the same command (IRC habits: `/names`, `/list`).
    pub aliases: &'static [&'static str],
    /// The arguments as the help shows them, e.g. `NICK TEXT` or `[ROOM]`.
    pub args: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// Who carries it out: a client-only command is unknown to the server.
    pub scope: Scope,
}

/// Who carries a command out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The server, for every kind of client.
    Server,
    /// The full-screen client alone; it never reaches the server.
    Client,
}

impl CommandSpec {
    /// How to use it: `/msg NICK TEXT`.
    pub fn usage(&self) -> String {
        if self.args.is_empty() {
            format!("/{}", self.name)
        } else {
            format!("/{} {}", self.name, self.args)
        }
    }

    fn answers_to(&self, word: &str) -> bool {
        self.name == word || self.aliases.contains(&word)
    }
}

/// Every command, in the order `/help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "who",
        &["names"],
        "",
        "list who is in this room",
        Scope::Server,
    ),
    spec("rooms", &["list"], "", "list rooms", Scope::Server),
    spec(
        "join",
        &[],
        "ROOM [KEY]",
        "join (or create) a room; KEY for a private room's key",
        Scope::Server,
    ),
    spec(
        "part",
        &["leave"],
        "[ROOM]",
        "leave a room (this one by default)",
        Scope::Server,
    ),
    spec(
        "msg",
        &[],
        "NICK TEXT",
        "a direct message only NICK sees",
        Scope::Server,
    ),
    spec(
        "query",
        &[],
        "NICK [TEXT]",
        "open a conversation with NICK",
        Scope::Client,
    ),
    spec("me", &[], "ACTION", "say what you are doing", Scope::Server),
    spec(
        "nick",
        &[],
        "NEWNAME",
        "change your nickname",
        Scope::Server,
    ),
    spec(
        "away",
        &[],
        "[MESSAGE]",
        "say you are away (others see it in /who, /whois)",
        Scope::Server,
    ),
    spec("back", &[], "", "say you are back", Scope::Server),
    spec(
        "whois",
        &[],
        "NICK",
        "who NICK is: key or guest, encrypted or not",
        Scope::Server,
    ),
    spec(
        "release",
        &[],
        "[NICK]",
        "give up owning a nickname (this one by default)",
        Scope::Server,
    ),
    spec(
        "topic",
        &[],
        "[TEXT]",
        "show this room's topic, or set it (operators)",
        Scope::Server,
    ),
    spec(
        "kick",
        &[],
        "NICK [REASON]",
        "put NICK out of this room (operators)",
        Scope::Server,
    ),
    spec(
        "ban",
        &[],
        "[-s] WHO [TIME] [REASON]",
        "keep WHO (a nickname, key or address) out of this room, for TIME (30m, 2h, 7d) or for good (-s: the server, admins)",
        Scope::Server,
    ),
    spec(
        "unban",
        &[],
        "[-s] KEY|ADDRESS",
        "lift a ban, as /bans lists it",
        Scope::Server,
    ),
    spec(
        "bans",
        &[],
        "[-s]",
        "list this room's bans (-s: the server's)",
        Scope::Server,
    ),
    spec(
        "private",
        &[],
        "on|off",
        "make this room invite-only and unlisted, or open again (operators)",
        Scope::Server,
    ),
    spec(
        "invite",
        &[],
        "NICK",
        "let NICK into this private room",
        Scope::Server,
    ),
    spec(
        "key",
        &[],
        "SECRET|-",
        "let in whoever joins with SECRET (- clears it)",
        Scope::Server,
    ),
    spec(
        "mute",
        &[],
        "NICK [TIME]",
        "NICK may read this room but not speak in it, for TIME (30m, 2h) or until unmuted",
        Scope::Server,
    ),
    spec("unmute", &[], "NICK", "let NICK speak again", Scope::Server),
    spec(
        "op",
        &[],
        "NICK",
        "make NICK an operator of this room (operators)",
        Scope::Server,
    ),
    spec(
        "deop",
        &[],
        "NICK",
        "take the operator role of this room from NICK (operators)",
        Scope::Server,
    ),
    spec(
        "close",
        &[],
        "[ROOM]",
        "close a buffer, this one by default (leaving its room)",
        Scope::Client,
    ),
    spec("clear", &[], "", "clear this buffer", Scope::Client),
    spec(
        "info",
        &[],
        "",
        "this server, its key, how you are connected, and your identity",
        Scope::Client,
    ),
    spec(
        "buffer",
        &["b"],
        "N",
        "show buffer N (as numbered in the status bar)",
        Scope::Client,
    ),
    spec(
        "lastlog",
        &[],
        "TEXT",
        "list the lines of this buffer that contain TEXT",
        Scope::Client,
    ),
    spec("help", &[], "", "show this help", Scope::Server),
    spec(
        "quit",
        &["exit"],
        "[reason]",
        "leave (typing over on its own line also leaves)",
        Scope::Server,
    ),
];

const fn spec(
    name: &'static str,
    aliases: &'static [&'static str],
    args: &'static str,
    help: &'static str,
    scope: Scope,
) -> CommandSpec {
    CommandSpec {
        name,
        aliases,
        args,
        help,
        scope,
    }
}

/// The command named `name` (or one of its aliases), if there is one.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|spec| spec.answers_to(name))
}

/// What a line of chat text asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// Ordinary text to send. `//text` arrives here as `/text`.
    Text(&'a str),
    /// `/quit [reason]` or the old notes' `over`: leave cleanly.
    Quit(Option<&'a str>),
    /// `/who`: list who is here.
    Who,
    /// `/rooms`: list rooms.
    Rooms,
    /// `/join ROOM`.
    Join(&'a str),
    /// `/part [ROOM]`.
    Part(Option<&'a str>),
    /// `/msg NICK TEXT`: a direct message.
    Msg {
        /// The nickname as typed.
        to: &'a str,
        /// The text, trimmed.
        text: &'a str,
    },
    /// `/query NICK [TEXT]`: open a conversation (client only; the
    /// server, as IRC users expect, takes one with text as `/msg`).
    Query {
        /// The nickname as typed.
        to: &'a str,
        /// What to send at once, if anything.
        text: Option<&'a str>,
    },
    /// `/me ACTION`: an action.
    Me(&'a str),
    /// `/nick NEWNAME`.
    Nick(&'a str),
    /// `/away [MESSAGE]`: away, with a message (a default without).
    Away(Option<&'a str>),
    /// `/back`: no longer away.
    Back,
    /// `/whois NICK`: who is behind a nickname.
    Whois(&'a str),
    /// `/release [NICK]`: stop owning a nickname, the one in use by default.
    Release(Option<&'a str>),
    /// `/topic [TEXT]`: show the room's topic, or set it.
    Topic(Option<&'a str>),
    /// `/kick NICK [REASON]`: put someone out of the room.
    Kick {
        /// The nickname as typed.
        nick: &'a str,
        /// Why, if given.
        reason: Option<&'a str>,
    },
    /// `/ban [-s] TARGET [DURATION] [REASON]`: what follows the word, read
    /// by the server.
    Ban(&'a str),
    /// `/unban [-s] TARGET`: what follows the word.
    Unban(&'a str),
    /// `/bans [-s]`: what follows the word.
    Bans(&'a str),
    /// `/private on|off`: true for on.
    Private(bool),
    /// `/invite NICK`.
    Invite(&'a str),
    /// `/key SECRET`, or `/key -` (`None`) to clear it.
    Key(Option<&'a str>),
    /// `/mute NICK [TIME]`: what follows the word.
    Mute(&'a str),
    /// `/unmute NICK`.
    Unmute(&'a str),
    /// `/op NICK`: make someone an operator of the room.
    Op(&'a str),
    /// `/deop NICK`: take the operator role from someone.
    Deop(&'a str),
    /// `/close [ROOM]`: close a buffer, the one shown by default (client only).
    Close(Option<&'a str>),
    /// `/clear`: clear the buffer shown (client only).
    Clear,
    /// `/info`: the server, its key and the user's identity (client only).
    Info,
    /// `/buffer N` or `/b N`: show buffer N (client only); the number as
    /// typed.
    Buffer(&'a str),
    /// `/lastlog TEXT`: search the buffer shown (client only).
    Lastlog(&'a str),
    /// `/help`.
    Help,
    /// A known command used wrongly.
    Usage(&'static CommandSpec),
    /// Any other `/word`: the word, as typed.
    Unknown(&'a str),
}

/// Reads chat text. `over` must be the whole text (surrounding whitespace
/// aside) so that "game over" stays a message.
pub fn parse(text: &str) -> Command<'_> {
    if text.trim() == "over" {
        return Command::Quit(None);
    }
    if let Some(escaped) = text.strip_prefix("//") {
        return Command::Text(&text[text.len() - escaped.len() - 1..]);
    }
    let Some(command_line) = text.strip_prefix('/') else {
        return Command::Text(text);
    };
    let (word, rest) = command_line
        .split_once(char::is_whitespace)
        .unwrap_or((command_line, ""));
    match find(&word.to_ascii_lowercase()) {
        Some(spec) => with_arguments(spec, rest.trim()),
        None => Command::Unknown(word),
    }
}

/// A known command with what followed its name (trimmed).
fn with_arguments<'a>(spec: &'static CommandSpec, rest: &'a str) -> Command<'a> {
    let optional = (!rest.is_empty()).then_some(rest);
    let one_word = !rest.is_empty() && !rest.contains(char::is_whitespace);
    let command = match spec.name {
        "who" => Some(Command::Who),
        "rooms" => Some(Command::Rooms),
        "help" => Some(Command::Help),
        "clear" => Some(Command::Clear),
        "info" => Some(Command::Info),
        "buffer" => one_word.then_some(Command::Buffer(rest)),
        "lastlog" => optional.map(Command::Lastlog),
        "close" => Some(Command::Close(optional)),
        "quit" => Some(Command::Quit(optional)),
        "part" => Some(Command::Part(optional)),
        "join" => optional.map(Command::Join),
        "me" => optional.map(Command::Me),
        "nick" => one_word.then_some(Command::Nick(rest)),
        "whois" => one_word.then_some(Command::Whois(rest)),
        "away" => Some(Command::Away(optional)),
        "back" => Some(Command::Back),
        "op" => one_word.then_some(Command::Op(rest)),
        "ban" => optional.map(Command::Ban),
        "unban" => optional.map(Command::Unban),
        "bans" => Some(Command::Bans(rest)),
        "mute" => optional.map(Command::Mute),
        "private" => match rest.to_ascii_lowercase().as_str() {
            "on" => Some(Command::Private(true)),
            "off" => Some(Command::Private(false)),
            _ => None,
        },
        "invite" => one_word.then_some(Command::Invite(rest)),
        "key" => match rest {
            "-" => Some(Command::Key(None)),
            _ if one_word => Some(Command::Key(Some(rest))),
            _ => None,
        },
        "unmute" => one_word.then_some(Command::Unmute(rest)),
        "deop" => one_word.then_some(Command::Deop(rest)),
        "topic" => Some(Command::Topic(optional)),
        "kick" => match rest.split_once(char::is_whitespace) {
            None if one_word => Some(Command::Kick {
                nick: rest,
                reason: None,
            }),
            Some((nick, reason)) => Some(Command::Kick {
                nick,
                reason: Some(reason.trim()),
            }),
            None => None,
        },
        "release" => match optional {
            None => Some(Command::Release(None)),
            Some(nick) if one_word => Some(Command::Release(Some(nick))),
            Some(_) => None,
        },
        "query" => match rest.split_once(char::is_whitespace) {
            None if one_word => Some(Command::Query {
                to: rest,
                text: None,
            }),
            Some((to, text)) => Some(Command::Query {
                to,
                text: Some(text.trim()),
            }),
            None => None,
        },
        "msg" => match rest.split_once(char::is_whitespace) {
            Some((to, text)) if !text.trim().is_empty() => Some(Command::Msg {
                to,
                text: text.trim(),
            }),
            _ => None,
        },
        _ => None,
    };
    command.unwrap_or(Command::Usage(spec))
}

/// The help for the commands of `scope`, one per line, arguments aligned
/// (`/join ROOM       join (or create) a room`): for the server, the ones
/// it carries out; for the client, every command (it carries out its own
/// and passes the server's on). The escape for a line that starts with a
/// slash comes last.
pub fn help_lines(scope: Scope) -> Vec<String> {
    let mut lines: Vec<(String, &str)> = COMMANDS
        .iter()
        .filter(|spec| spec.scope == scope || scope == Scope::Client)
        .map(|spec| (spec.usage(), spec.help))
        .collect();
    lines.push(("//text".to_owned(), "send a message that starts with /"));
    // Aligned, but a long usage (`/ban`'s) does not push every help to
    // the right of an 80-column screen: past the column, two spaces.
    let width = lines
        .iter()
        .map(|(usage, _)| usage.len())
        .filter(|&len| len <= HELP_COLUMN)
        .max()
        .unwrap_or(0)
        + 2;
    lines
        .into_iter()
        .map(|(usage, help)| {
            if usage.len() < width {
                format!("{usage:width$}{help}")
            } else {
                format!("{usage}  {help}")
            }
        })
        .collect()
}

/// The widest usage the help aligns the others with.
const HELP_COLUMN: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_commands_and_leaves_text_alone() {
        assert_eq!(parse("hello"), Command::Text("hello"));
        assert_eq!(parse("game over"), Command::Text("game over"));
        assert_eq!(parse("over"), Command::Quit(None));
        assert_eq!(parse("  over "), Command::Quit(None));
        assert_eq!(parse("/quit"), Command::Quit(None));
        assert_eq!(parse("/QUIT  see you "), Command::Quit(Some("see you")));
        assert_eq!(parse("/exit"), Command::Quit(None));
        assert_eq!(parse("/who"), Command::Who);
        assert_eq!(parse("/names"), Command::Who);
        assert_eq!(parse("/list"), Command::Rooms);
        assert_eq!(parse("/help"), Command::Help);
        assert_eq!(parse("/leave dev"), Command::Part(Some("dev")));
        assert_eq!(parse("/part"), Command::Part(None));
        assert_eq!(parse("/b 12"), Command::Buffer("12"));
        assert_eq!(
            parse("/lastlog  deploy plan "),
            Command::Lastlog("deploy plan")
        );
        assert_eq!(
            parse("/msg bob  hi there "),
            Command::Msg {
                to: "bob",
                text: "hi there"
            }
        );
        assert_eq!(parse("/rm -rf /"), Command::Unknown("rm"));
        assert_eq!(
            parse("//etc/passwd is a path"),
            Command::Text("/etc/passwd is a path")
        );
    }

    #[test]
    fn a_command_used_wrongly_names_its_usage() {
        for (text, usage) in [
            ("/join", "/join ROOM [KEY]"),
            ("/me", "/me ACTION"),
            ("/nick", "/nick NEWNAME"),
            ("/nick two words", "/nick NEWNAME"),
            ("/msg bob", "/msg NICK TEXT"),
            ("/msg", "/msg NICK TEXT"),
            ("/query", "/query NICK [TEXT]"),
            ("/b", "/buffer N"),
            ("/buffer 1 2", "/buffer N"),
            ("/lastlog", "/lastlog TEXT"),
        ] {
            match parse(text) {
                Command::Usage(spec) => assert_eq!(spec.usage(), usage, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_name_and_alias_belongs_to_one_command() {
        let mut seen = std::collections::HashSet::new();
        for spec in COMMANDS {
            for word in std::iter::once(&spec.name).chain(spec.aliases) {
                assert!(seen.insert(*word), "/{word} is listed twice");
                assert!(
                    !matches!(parse(&format!("/{word}")), Command::Unknown(_)),
                    "/{word} is listed but not understood"
                );
            }
        }
    }

    #[test]
    fn the_servers_help_lists_only_what_the_server_does() {
        let server = help_lines(Scope::Server).join("\n");
        assert!(server.contains("/join ROOM [KEY]     join (or create) a room"));
        assert!(server.ends_with("//text               send a message that starts with /"));
        assert!(!server.contains("/clear"), "{server}");
        assert!(
            server.contains("\n/ban [-s] WHO [TIME] [REASON]  keep WHO"),
            "a long usage is not aligned: {server}"
        );
        let client = help_lines(Scope::Client).join("\n");
        assert!(client.contains("/clear") && client.contains("/join ROOM"));
    }
}
