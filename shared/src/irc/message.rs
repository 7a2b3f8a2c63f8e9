//! One IRC line: reading what a client sends and writing what the server
//! sends, within the byte limits of Modern IRC and IRCv3 message-tags.
//!
//! A line is `[@tags ][:source ]COMMAND[ params]`, its parts separated by
//! spaces; the last parameter may start with `:` and then runs to the end of
//! the line, spaces included. The limits count bytes, because IRC does:
//!
//! - everything after the tags is at most [`MAX_LINE_LEN`] (512) bytes with
//!   its CRLF, so [`MAX_BODY_LEN`] (510) without;
//! - a client's tag data (between `@` and the space) is at most
//!   [`MAX_CLIENT_TAG_DATA_LEN`] (4094) bytes, and the server must refuse
//!   more with `417 ERR_INPUTTOOLONG` rather than truncate;
//! - the tag section of a line the server sends, `@` and space included, is
//!   at most [`MAX_TAG_SECTION_LEN`] (8191) bytes: its own 4094 bytes, a `;`,
//!   and the 4094 of client-only tags it relays.

use std::collections::HashSet;

/// What ends every line on the wire. Neither the parser's input nor
/// [`Message::to_line`]'s output contains it; the codec adds and strips it.
pub const CRLF: &str = "\r\n";

/// Longest line without its tags, in bytes, CRLF included. This is RFC
/// 1459's 512, which IRCv3 leaves unchanged for the part after the tags.
pub const MAX_LINE_LEN: usize = 512;

/// Longest body (everything after the tags, without CRLF), in bytes. This
/// is how [`Message::parse`] and [`Message::body_len`] count.
pub const MAX_BODY_LEN: usize = MAX_LINE_LEN - CRLF.len();

/// Longest tag data a client may send, in bytes between the `@` and the
/// space that ends the tags. IRCv3 message-tags: "Clients MUST NOT send
/// messages with tag data exceeding 4094 bytes", client-only or not.
pub const MAX_CLIENT_TAG_DATA_LEN: usize = 4094;

/// Longest tag data a server may add to a message. IRCv3 message-tags:
/// "Servers MUST NOT add tag data exceeding 4094 bytes to messages."
pub const MAX_SERVER_TAG_DATA_LEN: usize = 4094;

/// Longest tag section, `@` and trailing space included: the IRCv3 limit of
/// 8191 bytes, which is `@`, the server's 4094, a `;`, a client's 4094 and
/// the space. A server's tags come first, so a client's relayed tags can
/// never push them out.
pub const MAX_TAG_SECTION_LEN: usize =
    1 + MAX_SERVER_TAG_DATA_LEN + 1 + MAX_CLIENT_TAG_DATA_LEN + 1;

/// Longest line a server needs to read from a client, in bytes without the
/// line ending, when its parts are separated by single spaces: `@`, 4094
/// bytes of tags, a space and a 510-byte body. This is the bound to give the
/// line codec in front of [`Message::parse`].
pub const MAX_CLIENT_LINE_LEN: usize = 1 + MAX_CLIENT_TAG_DATA_LEN + 1 + MAX_BODY_LEN;

/// Most parameters a message may have. RFC 2812 allows 14 middle
/// parameters and a trailing one, and Modern IRC asks software not to send
/// more than 15 because older clients cannot read them; refusing more also
/// bounds what one line can make the server allocate.
pub const MAX_PARAMS: usize = 15;

/// Who sent a line, which decides how much tag data it may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// A client: at most [`MAX_CLIENT_TAG_DATA_LEN`] bytes of tag data. This
    /// is how the server reads every line it receives.
    Client,
    /// A server: its own tags and a client's relayed ones, a tag section of
    /// at most [`MAX_TAG_SECTION_LEN`] bytes. For tests and tools that read
    /// what the server sends.
    Server,
}

impl Sender {
    /// Bytes allowed between the `@` and the space that ends the tags.
    fn max_tag_data_len(self) -> usize {
        match self {
            Sender::Client => MAX_CLIENT_TAG_DATA_LEN,
            Sender::Server => MAX_TAG_SECTION_LEN - "@ ".len(),
        }
    }
}

/// One IRCv3 message tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// The key as sent, with its client-only `+` and vendor prefix
    /// (`+example.com/foo`). IRCv3 says to treat keys as opaque and
    /// case-sensitive, so it is neither checked nor folded.
    pub key: String,
    /// The value, unescaped. `None` both for `key` and for `key=`, because
    /// IRCv3 says an empty value means the same as none.
    pub value: Option<String>,
}

impl Tag {
    /// True for a client-only tag (`+key`), the only kind a server relays
    /// from one client to another; IRCv3 says to drop the others.
    pub fn is_client_only(&self) -> bool {
        self.key.starts_with('+')
    }
}

/// One IRC line, parsed or to be sent.
///
/// The fields are plain data so that a handler can read `params` directly.
/// A message built with [`Message::new`] and the `with_` methods can always
/// be sent; one assembled by hand is checked by [`Message::to_line`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// The IRCv3 tags, in the order sent, each key once: when a key is
    /// repeated, the last occurrence wins, as IRCv3 recommends.
    pub tags: Vec<Tag>,
    /// Where the line comes from (`nick!user@host` or a server name), without
    /// its `:`. Clients send none; the server puts one on what it sends.
    pub source: Option<String>,
    /// The command in ASCII upper case (`PRIVMSG`), or a three-digit numeric.
    pub command: String,
    /// The parameters, at most [`MAX_PARAMS`], the trailing one without its
    /// `:` and not treated specially, as Modern IRC requires.
    pub params: Vec<String>,
}

/// Why a line was not a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line was empty or held only spaces. Modern IRC says to ignore
    /// such lines without a reply.
    #[error("the line is empty")]
    Empty,
    /// The part after the tags was longer than [`MAX_BODY_LEN`] bytes; the
    /// reply is `417 ERR_INPUTTOOLONG`.
    #[error("the line has more than {MAX_BODY_LEN} bytes after its tags")]
    LineTooLong,
    /// The tag data was longer than its sender may send; the reply is
    /// `417 ERR_INPUTTOOLONG`, and IRCv3 forbids truncating instead.
    #[error("the line's tags have more than {limit} bytes")]
    TagsTooLong {
        /// The limit that was passed, in bytes of tag data.
        limit: usize,
    },
    /// The line contained NUL, or a CR or LF other than a final CR; no IRC
    /// line may, and each would let one line smuggle in another.
    #[error("the line contains a NUL, CR or LF")]
    ForbiddenCharacter,
    /// The line had tags or a source but no command.
    #[error("the line has no command")]
    NoCommand,
    /// The line started with `:` and a space: a source with no name.
    #[error("the line's source is empty")]
    EmptySource,
    /// The command was neither letters nor a three-digit numeric.
    #[error("{0:?} is not a command (letters, or a three-digit numeric)")]
    BadCommand(String),
    /// The line had more than [`MAX_PARAMS`] parameters.
    #[error("the line has more than {MAX_PARAMS} parameters")]
    TooManyParams,
}

/// Why a message could not be written as a line. Each is a mistake of the
/// code that built the message by hand: the `with_` methods prevent the
/// first five, and nothing a peer sends can cause any of them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SerializeError {
    /// The command was neither letters nor a three-digit numeric.
    #[error("{0:?} is not a command (letters, or a three-digit numeric)")]
    BadCommand(String),
    /// The source was empty or contained a space.
    #[error("a source must not be empty or contain a space")]
    BadSource,
    /// A parameter other than the last was empty, contained a space or
    /// started with `:`, which would change where the parameters split.
    #[error("parameter {index} is empty, has a space or starts with ':', as only the last may")]
    BadMiddleParam {
        /// Its position in `params`, from 0.
        index: usize,
    },
    /// A tag key was empty or contained `;`, `=` or a space.
    #[error("the tag key {0:?} is empty or contains ';', '=' or a space")]
    BadTagKey(String),
    /// A NUL, CR or LF was in the source, command, a parameter or a tag key
    /// (or a NUL in a tag value): no line can carry them.
    #[error("a line cannot carry NUL, CR or LF")]
    ForbiddenCharacter,
    /// The message had more than [`MAX_PARAMS`] parameters.
    #[error("a message has at most {MAX_PARAMS} parameters")]
    TooManyParams,
    /// The tag section would be longer than [`MAX_TAG_SECTION_LEN`] bytes.
    #[error("the tags would take more than {MAX_TAG_SECTION_LEN} bytes")]
    TagsTooLong,
}

impl Message {
    /// A message with `command` (upper-cased) and nothing else yet.
    ///
    /// Like every `with_` method, it removes NUL, CR and LF, the bytes no
    /// line can carry, so what it builds can always be sent.
    pub fn new(command: &str) -> Message {
        Message {
            command: without_line_breaks(command).to_ascii_uppercase(),
            ..Message::default()
        }
    }

    /// The message with `source` (without its `:`) as its source.
    pub fn with_source(mut self, source: &str) -> Message {
        self.source = Some(without_line_breaks(source));
        self
    }

    /// The message with `param` appended to its parameters. Only the last
    /// parameter may be empty, contain spaces or start with `:`.
    pub fn with_param(mut self, param: &str) -> Message {
        self.params.push(without_line_breaks(param));
        self
    }

    /// The message with tag `key` set to `value`, replacing an earlier tag
    /// with the same key. An empty value is stored as `None`, the same thing
    /// to IRCv3; CR and LF in a value are kept, since tag escaping carries them.
    pub fn with_tag(mut self, key: &str, value: Option<&str>) -> Message {
        let key = without_line_breaks(key);
        let value = value.map(|v| v.replace('\0', "")).filter(|v| !v.is_empty());
        self.tags.retain(|tag| tag.key != key);
        self.tags.push(Tag { key, value });
        self
    }

    /// The parameter at `index`, if there is one.
    pub fn param(&self, index: usize) -> Option<&str> {
        self.params.get(index).map(String::as_str)
    }

    /// The tag with `key`, if the message has one.
    pub fn tag(&self, key: &str) -> Option<&Tag> {
        self.tags.iter().find(|tag| tag.key == key)
    }

    /// The client-only tags, the ones a server relays with `PRIVMSG` and
    /// `NOTICE` (IRCv3 says it MUST) after adding its own.
    pub fn client_only_tags(&self) -> impl Iterator<Item = &Tag> {
        self.tags.iter().filter(|tag| tag.is_client_only())
    }

    /// Parses one line without its CRLF (a final `\r` is accepted and
    /// dropped, for a codec that splits at `\n` only).
    ///
    /// Parts may be separated by more than one space, and spaces before the
    /// first part are skipped. The command is upper-cased, so handlers can
    /// match `"PRIVMSG"` whatever the client typed. Tag values are
    /// unescaped, so they may contain CR and LF: sanitise before showing one.
    /// Tags with an empty key (`@;a` or `@=v`) are skipped rather than
    /// refused, since IRCv3 forbids rejecting a line for its tag names.
    pub fn parse(line: &str, sender: Sender) -> Result<Message, ParseError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.bytes().any(is_line_break) {
            return Err(ParseError::ForbiddenCharacter);
        }
        let line = line.trim_start_matches(' ');
        if line.is_empty() {
            return Err(ParseError::Empty);
        }
        let (tags, body) = split_tags(line, sender)?;
        let body = body.trim_start_matches(' ');
        if body.len() > MAX_BODY_LEN {
            return Err(ParseError::LineTooLong);
        }
        let (source, rest) = split_source(body)?;
        let (command, rest) = split_command(rest)?;
        Ok(Message {
            tags,
            source,
            command,
            params: split_params(rest)?,
        })
    }

    /// The line to send, without its CRLF: tags escaped, parts separated by
    /// one space, and a `:` before the last parameter only when it is empty,
    /// contains a space or starts with `:`.
    ///
    /// A body longer than [`MAX_BODY_LEN`] is not refused: callers keep
    /// within it with [`body_len`](Message::body_len) and
    /// [`split_message`](crate::irc::split_message).
    pub fn to_line(&self) -> Result<String, SerializeError> {
        self.write(Trailing::WhenNeeded)
    }

    /// The line as [`to_line`](Message::to_line) writes it, but with a `:`
    /// before the last parameter whatever it holds: how servers write free
    /// text (a message, a reason, a numeric's words), since simple clients
    /// and bots take the text to be what follows ` :`. It reads back the
    /// same.
    pub fn to_text_line(&self) -> Result<String, SerializeError> {
        self.write(Trailing::Always)
    }

    fn write(&self, trailing: Trailing) -> Result<String, SerializeError> {
        self.check()?;
        let mut line = self.tag_section();
        if line.len() > MAX_TAG_SECTION_LEN {
            return Err(SerializeError::TagsTooLong);
        }
        self.write_body(&mut line, trailing);
        Ok(line)
    }

    /// Bytes [`to_line`](Message::to_line) writes after the tags, without the
    /// CRLF: what must stay within [`MAX_BODY_LEN`].
    pub fn body_len(&self) -> usize {
        let mut body = String::new();
        self.write_body(&mut body, Trailing::WhenNeeded);
        body.len()
    }

    /// Refuses what cannot be written without changing the message's
    /// meaning; see [`SerializeError`].
    fn check(&self) -> Result<(), SerializeError> {
        if !is_command(&self.command) {
            return Err(SerializeError::BadCommand(self.command.clone()));
        }
        if let Some(source) = &self.source {
            if source.bytes().any(is_line_break) {
                return Err(SerializeError::ForbiddenCharacter);
            }
            if source.is_empty() || source.contains(' ') {
                return Err(SerializeError::BadSource);
            }
        }
        self.check_params()?;
        self.tags.iter().try_for_each(check_tag)
    }

    /// Checks the parameter count, and that only the last one needs a `:`.
    fn check_params(&self) -> Result<(), SerializeError> {
        if self.params.len() > MAX_PARAMS {
            return Err(SerializeError::TooManyParams);
        }
        let last = self.params.len().saturating_sub(1);
        for (index, param) in self.params.iter().enumerate() {
            if param.bytes().any(is_line_break) {
                return Err(SerializeError::ForbiddenCharacter);
            }
            if index < last && needs_colon(param) {
                return Err(SerializeError::BadMiddleParam { index });
            }
        }
        Ok(())
    }

    /// `@key=value;key ` with values escaped, or nothing without tags.
    fn tag_section(&self) -> String {
        let mut section = String::new();
        for (index, tag) in self.tags.iter().enumerate() {
            section.push(if index == 0 { '@' } else { ';' });
            section.push_str(&tag.key);
            if let Some(value) = &tag.value {
                section.push('=');
                escape_tag_value(value, &mut section);
            }
        }
        if !section.is_empty() {
            section.push(' ');
        }
        section
    }

    /// Appends `:source COMMAND params` to `out`.
    fn write_body(&self, out: &mut String, trailing: Trailing) {
        if let Some(source) = &self.source {
            out.push(':');
            out.push_str(source);
            out.push(' ');
        }
        out.push_str(&self.command);
        let last = self.params.len().saturating_sub(1);
        for (index, param) in self.params.iter().enumerate() {
            out.push(' ');
            if index == last && (trailing == Trailing::Always || needs_colon(param)) {
                out.push(':');
            }
            out.push_str(param);
        }
    }
}

/// When the last parameter is written with a `:`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trailing {
    /// Only when it must be: empty, with a space, or starting with `:`.
    WhenNeeded,
    /// Always, as free text.
    Always,
}

/// True for the bytes no IRC line may contain.
fn is_line_break(byte: u8) -> bool {
    matches!(byte, b'\0' | b'\r' | b'\n')
}

/// `text` without NUL, CR and LF.
fn without_line_breaks(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '\0' | '\r' | '\n'))
        .collect()
}

/// True for letters only or exactly three digits, Modern IRC's two shapes
/// of a command.
fn is_command(command: &str) -> bool {
    let letters = !command.is_empty() && command.bytes().all(|b| b.is_ascii_alphabetic());
    let numeric = command.len() == 3 && command.bytes().all(|b| b.is_ascii_digit());
    letters || numeric
}

/// True when a parameter can only be sent as the trailing one, after `:`.
fn needs_colon(param: &str) -> bool {
    param.is_empty() || param.contains(' ') || param.starts_with(':')
}

/// Checks that a tag can be written so that it reads back the same.
fn check_tag(tag: &Tag) -> Result<(), SerializeError> {
    let value_has_nul = tag.value.as_deref().is_some_and(|v| v.contains('\0'));
    if tag.key.bytes().any(is_line_break) || value_has_nul {
        return Err(SerializeError::ForbiddenCharacter);
    }
    if tag.key.is_empty() || tag.key.contains([';', '=', ' ']) {
        return Err(SerializeError::BadTagKey(tag.key.clone()));
    }
    Ok(())
}

/// Splits `line` into its tags and the rest, refusing tag data over the
/// sender's limit before looking inside it.
fn split_tags(line: &str, sender: Sender) -> Result<(Vec<Tag>, &str), ParseError> {
    let Some(after_at) = line.strip_prefix('@') else {
        return Ok((Vec::new(), line));
    };
    let (data, rest) = after_at.split_once(' ').unwrap_or((after_at, ""));
    let limit = sender.max_tag_data_len();
    if data.len() > limit {
        return Err(ParseError::TagsTooLong { limit });
    }
    let tags = data.split(';').filter_map(parse_tag).collect();
    Ok((keep_last_of_each_key(tags), rest))
}

/// One `key[=value]`, or `None` for an empty key.
fn parse_tag(raw: &str) -> Option<Tag> {
    let (key, escaped) = raw.split_once('=').unwrap_or((raw, ""));
    if key.is_empty() {
        return None;
    }
    let value = unescape_tag_value(escaped);
    Some(Tag {
        key: key.to_owned(),
        value: (!value.is_empty()).then_some(value),
    })
}

/// Drops all but the last occurrence of each key, keeping the order of those
/// that stay. A set keeps this linear: a client's 4094 bytes of tags can name
/// two thousand keys.
fn keep_last_of_each_key(tags: Vec<Tag>) -> Vec<Tag> {
    let mut seen = HashSet::with_capacity(tags.len());
    let mut kept: Vec<Tag> = tags
        .into_iter()
        .rev()
        .filter(|tag| seen.insert(tag.key.clone()))
        .collect();
    kept.reverse();
    kept
}

/// Undoes IRCv3 value escaping. A backslash before any other character is
/// dropped and the character kept, and a lone final backslash is dropped,
/// as the specification says.
fn unescape_tag_value(escaped: &str) -> String {
    let mut value = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            value.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => value.push(';'),
            Some('s') => value.push(' '),
            Some('r') => value.push('\r'),
            Some('n') => value.push('\n'),
            Some(other) => value.push(other),
            None => {}
        }
    }
    value
}

/// Appends `value` to `out` with IRCv3 escaping, so that no `;`, space, CR
/// or LF ends the tag early.
fn escape_tag_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Splits a `:source` off the start of `body`, if it has one.
fn split_source(body: &str) -> Result<(Option<String>, &str), ParseError> {
    let Some(after_colon) = body.strip_prefix(':') else {
        return Ok((None, body));
    };
    let (source, rest) = after_colon.split_once(' ').unwrap_or((after_colon, ""));
    if source.is_empty() {
        return Err(ParseError::EmptySource);
    }
    Ok((Some(source.to_owned()), rest.trim_start_matches(' ')))
}

/// Splits the command off `rest` and upper-cases it.
fn split_command(rest: &str) -> Result<(String, &str), ParseError> {
    let (command, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if command.is_empty() {
        return Err(ParseError::NoCommand);
    }
    if !is_command(command) {
        return Err(ParseError::BadCommand(command.to_owned()));
    }
    Ok((command.to_ascii_uppercase(), rest))
}

/// Reads the parameters: words separated by spaces, the first one starting
/// with `:` taking the rest of the line.
fn split_params(mut rest: &str) -> Result<Vec<String>, ParseError> {
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            return Ok(params);
        }
        if params.len() == MAX_PARAMS {
            return Err(ParseError::TooManyParams);
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            params.push(trailing.to_owned());
            return Ok(params);
        }
        let (middle, after) = rest.split_once(' ').unwrap_or((rest, ""));
        params.push(middle.to_owned());
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(line: &str) -> Result<Message, ParseError> {
        Message::parse(line, Sender::Client)
    }

    fn params(line: &str) -> Vec<String> {
        parse(line).unwrap().params
    }

    fn tag(key: &str, value: Option<&str>) -> Tag {
        Tag {
            key: key.to_owned(),
            value: value.map(str::to_owned),
        }
    }

    #[test]
    fn a_full_line_has_every_part() {
        let message =
            parse("@id=234AB;rose :dan!d@localhost PRIVMSG #chan :Hey what's up!").unwrap();
        assert_eq!(
            message.tags,
            vec![tag("id", Some("234AB")), tag("rose", None)]
        );
        assert_eq!(message.source.as_deref(), Some("dan!d@localhost"));
        assert_eq!(message.command, "PRIVMSG");
        assert_eq!(message.params, ["#chan", "Hey what's up!"]);
    }

    #[test]
    fn parameters_follow_the_modern_irc_examples() {
        assert_eq!(params(":irc.example.com CAP * LIST :"), ["*", "LIST", ""]);
        assert_eq!(
            params("CAP * LS :multi-prefix sasl"),
            ["*", "LS", "multi-prefix sasl"]
        );
        assert_eq!(
            params("CAP REQ :sasl message-tags foo"),
            ["REQ", "sasl message-tags foo"]
        );
        assert_eq!(
            params(":dan!d@localhost PRIVMSG #chan :Hey!"),
            ["#chan", "Hey!"]
        );
        assert_eq!(
            params(":dan!d@localhost PRIVMSG #chan Hey!"),
            ["#chan", "Hey!"]
        );
        assert_eq!(
            params(":dan!d@localhost PRIVMSG #chan ::-)"),
            ["#chan", ":-)"]
        );
    }

    #[test]
    fn commands_are_upper_cased_and_numerics_kept() {
        assert_eq!(parse("privmsg #a :x").unwrap().command, "PRIVMSG");
        assert_eq!(parse(":srv 001 alice :Welcome").unwrap().command, "001");
        assert_eq!(parse("PING").unwrap().params, Vec::<String>::new());
    }

    #[test]
    fn extra_spaces_and_a_final_cr_are_tolerated() {
        let message = parse("  @a=1   :src   NICK    alice   \r").unwrap();
        assert_eq!(message.tags, vec![tag("a", Some("1"))]);
        assert_eq!(message.source.as_deref(), Some("src"));
        assert_eq!(message.params, ["alice"]);
        assert_eq!(params("PRIVMSG #a   :  spaced  "), ["#a", "  spaced  "]);
    }

    #[test]
    fn tag_values_are_unescaped() {
        let message = parse(r"@+example=raw+:=,escaped\:\s\\;b=x\ry\nz;c=\b\ PING").unwrap();
        assert_eq!(
            message.tags,
            vec![
                tag("+example", Some("raw+:=,escaped; \\")),
                tag("b", Some("x\ry\nz")),
                tag("c", Some("b")),
            ]
        );
        assert!(message.tags[0].is_client_only());
        assert!(!message.tags[1].is_client_only());
    }

    #[test]
    fn empty_values_are_no_values_and_the_last_duplicate_wins() {
        let message = parse("@url=;a=1;;=v;b;a=2;lone=\\ TAGMSG #x").unwrap();
        assert_eq!(
            message.tags,
            vec![
                tag("url", None),
                tag("b", None),
                tag("a", Some("2")),
                tag("lone", None)
            ]
        );
        assert_eq!(message.tag("a"), Some(&tag("a", Some("2"))));
        assert_eq!(message.tag("missing"), None);
    }

    #[test]
    fn broken_lines_say_what_is_wrong() {
        assert_eq!(parse(""), Err(ParseError::Empty));
        assert_eq!(parse("   \r"), Err(ParseError::Empty));
        assert_eq!(parse("@a=b"), Err(ParseError::NoCommand));
        assert_eq!(parse("@a=b  "), Err(ParseError::NoCommand));
        assert_eq!(parse(":src"), Err(ParseError::NoCommand));
        assert_eq!(parse(":src  "), Err(ParseError::NoCommand));
        assert_eq!(parse(": PRIVMSG"), Err(ParseError::EmptySource));
        assert_eq!(
            parse("PRIV-MSG x"),
            Err(ParseError::BadCommand("PRIV-MSG".into()))
        );
        assert_eq!(parse("12 x"), Err(ParseError::BadCommand("12".into())));
        assert_eq!(parse("1234"), Err(ParseError::BadCommand("1234".into())));
        assert_eq!(
            parse("PRIVMSG#a"),
            Err(ParseError::BadCommand("PRIVMSG#a".into()))
        );
        for smuggled in [
            "PRIVMSG #a :x\r\nQUIT",
            "PRIVMSG #a :x\nQUIT",
            "PRIVMSG #a :x\0",
        ] {
            assert_eq!(parse(smuggled), Err(ParseError::ForbiddenCharacter));
        }
    }

    #[test]
    fn fifteen_parameters_pass_and_sixteen_do_not() {
        let fifteen = format!("CMD{}", " p".repeat(15));
        assert_eq!(params(&fifteen).len(), 15);
        let fourteen_and_trailing = format!("CMD{} :last one", " p".repeat(14));
        assert_eq!(params(&fourteen_and_trailing)[14], "last one");
        assert_eq!(
            parse(&format!("CMD{}", " p".repeat(16))),
            Err(ParseError::TooManyParams)
        );
        let fifteen_and_trailing = format!("CMD{} :x", " p".repeat(15));
        assert_eq!(parse(&fifteen_and_trailing), Err(ParseError::TooManyParams));
    }

    #[test]
    fn the_body_may_have_510_bytes_but_not_511() {
        let head = "PRIVMSG #a :";
        let fits = format!("{head}{}", "x".repeat(MAX_BODY_LEN - head.len()));
        assert!(parse(&fits).is_ok());
        assert!(
            parse(&format!("{fits}\r")).is_ok(),
            "the final CR does not count"
        );
        assert_eq!(parse(&format!("{fits}x")), Err(ParseError::LineTooLong));
        let tagged = format!("@{} {fits}", "k".repeat(MAX_CLIENT_TAG_DATA_LEN));
        assert_eq!(tagged.len(), MAX_CLIENT_LINE_LEN);
        assert!(parse(&tagged).is_ok(), "tags do not count towards the 510");
    }

    #[test]
    fn tag_data_is_bounded_by_who_sent_it() {
        let line = |data_len: usize| format!("@{} PING", "k".repeat(data_len));
        assert!(parse(&line(4094)).is_ok());
        assert_eq!(
            parse(&line(4095)),
            Err(ParseError::TagsTooLong { limit: 4094 })
        );
        assert!(Message::parse(&line(8189), Sender::Server).is_ok());
        assert_eq!(
            Message::parse(&line(8190), Sender::Server),
            Err(ParseError::TagsTooLong { limit: 8189 })
        );
        assert_eq!(MAX_TAG_SECTION_LEN, 8191);
    }

    #[test]
    fn the_last_parameter_gets_a_colon_only_when_it_needs_one() {
        let line = |last: &str| {
            Message::new("PRIVMSG")
                .with_param("#a")
                .with_param(last)
                .to_line()
        };
        assert_eq!(line("hi").unwrap(), "PRIVMSG #a hi");
        assert_eq!(line("hi there").unwrap(), "PRIVMSG #a :hi there");
        assert_eq!(line("").unwrap(), "PRIVMSG #a :");
        assert_eq!(line(":-)").unwrap(), "PRIVMSG #a ::-)");
        assert_eq!(Message::new("ping").to_line().unwrap(), "PING");
    }

    #[test]
    fn serialising_writes_tags_source_and_numerics() {
        let message = Message::new("001")
            .with_tag("time", Some("2024-01-01T00:00:00.000Z"))
            .with_tag("+note", Some("a; b\\c"))
            .with_tag("flag", Some(""))
            .with_source("lanchat")
            .with_param("alice")
            .with_param("Welcome to lanchat");
        assert_eq!(
            message.to_line().unwrap(),
            "@time=2024-01-01T00:00:00.000Z;+note=a\\:\\sb\\\\c;flag :lanchat 001 alice :Welcome to lanchat"
        );
        assert_eq!(
            message.body_len(),
            ":lanchat 001 alice :Welcome to lanchat".len()
        );
        let relayed: Vec<&str> = message.client_only_tags().map(|t| t.key.as_str()).collect();
        assert_eq!(relayed, ["+note"]);
    }

    #[test]
    fn the_builder_removes_line_breaks_and_replaces_tags() {
        let message = Message::new("PRIV\nMSG")
            .with_source("a\rb")
            .with_param("#x\0")
            .with_param("one\r\ntwo")
            .with_tag("k", Some("1"))
            .with_tag("k", Some("2\0\n"));
        assert_eq!(message.to_line().unwrap(), "@k=2\\n :ab PRIVMSG #x onetwo");
    }

    #[test]
    fn hand_built_messages_that_would_change_meaning_are_refused() {
        let base = Message::new("PRIVMSG");
        let with_params = |params: &[&str]| Message {
            params: params.iter().map(|p| p.to_string()).collect(),
            ..base.clone()
        };
        assert_eq!(
            with_params(&["#a b", "x"]).to_line(),
            Err(SerializeError::BadMiddleParam { index: 0 })
        );
        assert_eq!(
            with_params(&["#a", "", "x"]).to_line(),
            Err(SerializeError::BadMiddleParam { index: 1 })
        );
        assert_eq!(
            with_params(&[":a", "x"]).to_line(),
            Err(SerializeError::BadMiddleParam { index: 0 })
        );
        assert_eq!(
            with_params(&["a\nb"]).to_line(),
            Err(SerializeError::ForbiddenCharacter)
        );
        assert_eq!(
            with_params(&["p"; 16]).to_line(),
            Err(SerializeError::TooManyParams)
        );
        let bad_command = Message {
            command: "PRIV MSG".into(),
            ..Message::default()
        };
        assert_eq!(
            bad_command.to_line(),
            Err(SerializeError::BadCommand("PRIV MSG".into()))
        );
        let bad_source = Message {
            source: Some("a b".into()),
            ..base.clone()
        };
        assert_eq!(bad_source.to_line(), Err(SerializeError::BadSource));
        let bad_key = Message {
            tags: vec![tag("a=b", None)],
            ..base.clone()
        };
        assert_eq!(
            bad_key.to_line(),
            Err(SerializeError::BadTagKey("a=b".into()))
        );
        let huge_tags = Message {
            tags: vec![tag("k", Some(&"v".repeat(MAX_TAG_SECTION_LEN)))],
            ..base
        };
        assert_eq!(huge_tags.to_line(), Err(SerializeError::TagsTooLong));
    }

    /// A tag key as IRCv3 shapes them: optional `+`, optional vendor.
    fn tag_key() -> impl Strategy<Value = String> {
        "\\+?([a-z0-9.-]{1,10}/)?[a-zA-Z0-9-]{1,12}"
    }

    /// Any value a tag can carry, which after escaping is any text but NUL.
    fn tag_value() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("[^\0]{1,20}")
    }

    fn message() -> impl Strategy<Value = Message> {
        let tags = proptest::collection::vec((tag_key(), tag_value()), 0..5);
        let source = proptest::option::of("[^\0\r\n ]{1,30}");
        let command = prop_oneof!["[A-Z]{1,12}", "[0-9]{3}"];
        let middles = proptest::collection::vec("[^\0\r\n :][^\0\r\n ]{0,10}", 0..=14);
        let last = proptest::option::of("[^\0\r\n]{0,40}");
        (tags, source, command, middles, last).prop_map(|(tags, source, command, middles, last)| {
            let tags = tags
                .into_iter()
                .map(|(key, value)| Tag { key, value })
                .collect();
            Message {
                tags: keep_last_of_each_key(tags),
                source,
                command,
                params: middles.into_iter().chain(last).collect(),
            }
        })
    }

    /// Lines close enough to IRC that many parse, with the odd spacing,
    /// escapes and empty parts a careless client sends.
    fn line_like() -> impl Strategy<Value = String> {
        let tags = "(@[a-z+/=;\\\\: ]{0,30} {1,2})?";
        let source = "(:[a-z!@.:]{0,12} {1,2})?";
        let command = "[A-Za-z]{1,8}|[0-9]{2,4}";
        let params = "( {1,2}[a-z#:]{0,6}){0,17}( :[a-z :]{0,20})?";
        proptest::string::string_regex(&format!("{tags}{source}({command}){params}\r?")).unwrap()
    }

    /// Anything printable, and the characters that mean something in a line.
    fn noise() -> &'static str {
        "(@|:| |\\\\|;|=|\r|[a-zA-Z0-9]|\\PC){0,300}"
    }

    proptest! {
        #[test]
        fn parsing_a_serialised_message_gives_it_back(message in message()) {
            let line = message.to_line().unwrap();
            prop_assert_eq!(Message::parse(&line, Sender::Server), Ok(message.clone()));
            let text_line = message.to_text_line().unwrap();
            prop_assert_eq!(Message::parse(&text_line, Sender::Server), Ok(message.clone()));
            let tag_len = line.len() - message.body_len();
            prop_assert!(tag_len == 0 || line[..tag_len].ends_with(' '));
        }

        #[test]
        fn any_input_parses_within_bounds_or_is_refused(line in prop_oneof![line_like(), noise()]) {
            if let Ok(message) = Message::parse(&line, Sender::Client) {
                prop_assert!(message.params.len() <= MAX_PARAMS);
                prop_assert!(is_command(&message.command));
                let again = message.to_line().unwrap();
                prop_assert!(message.body_len() <= MAX_BODY_LEN);
                prop_assert_eq!(Message::parse(&again, Sender::Client), Ok(message));
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(line in any::<String>()) {
            let _ = Message::parse(&line, Sender::Client);
            let _ = Message::parse(&line, Sender::Server);
        }

        #[test]
        fn long_inputs_are_refused_by_their_bounds(body in "[a-z ]{511,700}", tags in "[a-z=;]{4095,4200}") {
            let body = format!("X {body}");
            prop_assert_eq!(parse(&body), Err(ParseError::LineTooLong));
            let tagged = format!("@{tags} PING");
            prop_assert_eq!(parse(&tagged), Err(ParseError::TagsTooLong { limit: 4094 }));
        }
    }
}
