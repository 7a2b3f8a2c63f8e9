//! The one place that defines lanchat's wire protocol (v1).
//!
//! Everything a lanchat server and its clients must agree on lives here and
//! nowhere else:
//!
//! - [`limits`]: the protocol's fixed numbers (port, line length, text length).
//! - [`nick`]: the validated [`Nick`] type; a `Nick` is always a legal nickname.
//! - [`room_name`]: the validated [`RoomName`] type and the lobby.
//! - [`protocol`]: [`ClientMsg`] (client to server) and [`ServerMsg`] (server
//!   to client), the only types in the workspace that derive serde.
//! - [`codec`]: [`LineCodec`], newline framing that never buffers more than one
//!   maximum-length line and reports an over-long line as an item, not an error.
//! - [`discovery`]: the UDP datagrams that find servers on the LAN.
//! - [`fingerprint`]: how a key is named ([`Fingerprint`]), in OpenSSH's
//!   form, for servers and for people's identities alike.
//! - [`keyfile`]: the key and self-signed certificate a server or a person
//!   is known by, kept in one PEM file readable by its owner alone.
//! - [`tls`] (feature `tls`): a client's TLS handshake that reports the
//!   server's key instead of judging it, so the caller can pin it.
//! - [`command`]: the chat commands (names, arguments, help) and
//!   [`command::parse`], used by the server and the client alike.
//! - [`rate`]: the [`TokenBucket`] and [`DEFAULT_RATE`] with which the server
//!   refuses floods and the client paces itself.
//! - [`clock`]: how a message's timestamp is shown.
//! - [`sanitize`]: [`sanitize_text`], which removes everything that could drive
//!   a terminal from message text.
//! - [`irc`]: the IRC dialect for the server's gateway: [`irc::Message`]
//!   lines with IRCv3 tags, text split to fit 512 bytes, CTCP, formatting
//!   codes, and how nicknames and rooms are spelled on IRC.
//!
//! This crate knows nothing about sockets, tasks or rooms; `docs/PROTOCOL.md`
//! is the prose form of what it encodes.

#![forbid(unsafe_code)]

pub mod clock;
pub mod codec;
pub mod command;
pub mod discovery;
pub mod fingerprint;
pub mod irc;
pub mod keyfile;
pub mod limits;
pub mod nick;
pub mod protocol;
pub mod rate;
pub mod room_name;
pub mod sanitize;
#[cfg(feature = "tls")]
pub mod tls;

pub use codec::{Frame, LineCodec};
pub use fingerprint::Fingerprint;
pub use nick::{Nick, NickError};
pub use protocol::{ClientMsg, ErrorCode, ParseError, ServerMsg};
pub use rate::{DEFAULT_RATE, Rate, TokenBucket};
pub use room_name::{RoomName, RoomNameError};
pub use sanitize::sanitize_text;
