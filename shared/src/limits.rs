//! Fixed numbers of protocol v1.
//!
//! The server may be configured with lower limits than these, never higher:
//! clients are entitled to rely on them.

/// TCP port a server listens on (and a client dials) unless told otherwise.
pub const DEFAULT_PORT: u16 = 7878;

/// Longest line, in bytes and not counting its `\n` or `\r\n`, that a server
/// accepts. Anything longer is answered with `line_too_long` and discarded
/// without being buffered. 8 KiB holds the longest legal message
/// ([`MAX_TEXT_CHARS`] characters, escaped as JSON) with room to spare.
pub const MAX_LINE_BYTES: usize = 8192;

/// Longest message text, in Unicode scalar values, counted after sanitising.
/// Longer texts are refused with `text_too_long`; the connection stays open.
pub const MAX_TEXT_CHARS: usize = 2000;

/// Longest nickname, in ASCII characters.
pub const MAX_NICK_LEN: usize = 16;

/// The protocol version announced in the greeting.
pub const PROTOCOL_VERSION: u32 = 1;
