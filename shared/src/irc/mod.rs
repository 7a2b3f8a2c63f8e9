//! The IRC dialect of the wire: lines, text and names as IRC clients (irssi,
//! weechat, hexchat, bots) speak them, with nothing about sockets or sessions.
//!
//! The server's IRC gateway reads a client's line with [`Message::parse`],
//! answers with [`Message::to_line`], and in between uses the pieces below:
//!
//! - [`message`]: [`Message`], one IRC line (IRCv3 tags, source, command,
//!   parameters), its parser and serialiser, and the byte limits of Modern
//!   IRC and IRCv3 message-tags as named constants.
//! - [`split`]: [`split_text`] and [`split_message`], which cut a long text
//!   into pieces so every line stays within 512 bytes, losing nothing.
//! - [`ctcp`]: [`MessageText`], which tells `/me` actions and other CTCP
//!   requests from plain text, and [`render_action`] for the way back.
//! - [`format`](mod@format): [`strip_formatting`], which removes mIRC bold,
//!   colour and the other formatting codes.
//! - [`names`]: how a lanchat [`Nick`](crate::Nick) and
//!   [`RoomName`](crate::RoomName) are spelled on IRC, and back.
//!
//! Text from an IRC client goes through [`MessageText::parse`] first, then
//! [`strip_formatting`], then [`sanitize_text`](crate::sanitize_text): CTCP
//! is framed by `\x01`, which the later steps would remove.

pub mod ctcp;
pub mod format;
pub mod message;
pub mod names;
pub mod split;

pub use ctcp::{MessageText, render_action, render_ctcp};
pub use format::strip_formatting;
pub use message::{Message, ParseError, Sender, SerializeError, Tag};
pub use names::{
    IrcChannelError, IrcNickError, from_irc_channel, from_irc_nick, is_irc_nick, to_irc_channel,
    to_irc_nick,
};
pub use split::{SplitError, split_message, split_text, text_budget};
