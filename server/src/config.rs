//! Every limit the server enforces, in one struct.

use std::time::Duration;

use lanchat_shared::limits::{MAX_LINE_BYTES, MAX_TEXT_CHARS};
use lanchat_shared::{DEFAULT_RATE, Rate};

use crate::store::{DbLocation, Retention};

/// The server's settings. [`Config::default`] holds the safe defaults that
/// `lanchat-server` uses when no flag is given; `docs/PROTOCOL.md` lists the
/// same numbers for client authors.
#[derive(Clone, Debug)]
pub struct Config {
    /// Name announced in the greeting, so people can tell servers apart.
    pub server_name: String,
    /// Connections served at once; one more is told `server_full` and closed.
    /// Bounds memory and file descriptors whatever the clients do.
    pub max_connections: usize,
    /// Connections from one IP address at once; one more is told
    /// `too_many_connections`. Stops one host from taking every slot.
    pub max_connections_per_ip: usize,
    /// Longest line read, without its line ending (at most [`MAX_LINE_BYTES`]).
    pub max_line_bytes: usize,
    /// Longest message text after sanitising (at most [`MAX_TEXT_CHARS`]).
    pub max_text_chars: usize,
    /// Lines a client may send: a burst back to back, then so many a
    /// second. The default, [`DEFAULT_RATE`], is also what the client
    /// paces itself to.
    pub rate: Rate,
    /// Bad lines (`bad_request`, `line_too_long`) within `bad_line_window`
    /// after which the connection is closed with `too_many_errors`.
    pub max_bad_lines: usize,
    /// The window over which bad lines are counted.
    pub bad_line_window: Duration,
    /// Time from connecting to a successful `hello`; then `hello_timeout`.
    /// Long enough for a person typing in `nc`, short enough that silent
    /// sockets do not pile up.
    pub hello_timeout: Duration,
    /// Longest a write to one client may block before that client is cut off
    /// as a `slow_consumer`.
    pub write_timeout: Duration,
    /// Room events a client may fall behind by before it is cut off as a
    /// `slow_consumer`. This is the capacity of the one shared broadcast ring,
    /// so it also bounds the memory a non-reading client can hold.
    pub queue_len: usize,
    /// Idle time before TCP keepalive probes start; a vanished peer (power
    /// cut, Wi-Fi gone) is detected within about twice this and its nickname
    /// freed.
    pub keepalive: Duration,
    /// Answer LAN discovery probes on UDP at the listener's address and port.
    pub discovery: bool,
    /// Where messages are kept. The library's default is memory (nothing
    /// outlives the process); `lanchat-server` defaults to a file in the
    /// user's data directory.
    pub db: DbLocation,
    /// Messages of each room (and of one's direct messages) replayed on
    /// arrival and when joining a room.
    pub history_len: usize,
    /// Most messages one resume (`hello` with `since`) replays; the rest is
    /// reported as a gap.
    pub resume_limit: usize,
    /// How much history is kept.
    pub retention: Retention,
    /// Rooms one client may be in at once.
    pub max_rooms_per_client: usize,
    /// How long a graceful shutdown waits for clients to receive what is
    /// queued before the server exits anyway.
    pub shutdown_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server_name: "lanchat".to_owned(),
            max_connections: 1024,
            max_connections_per_ip: 32,
            max_line_bytes: MAX_LINE_BYTES,
            max_text_chars: MAX_TEXT_CHARS,
            rate: DEFAULT_RATE,
            max_bad_lines: 10,
            bad_line_window: Duration::from_secs(60),
            hello_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            queue_len: 1024,
            keepalive: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            discovery: true,
            db: DbLocation::Memory,
            history_len: 50,
            resume_limit: 5000,
            retention: Retention {
                max_messages: Some(1_000_000),
                max_days: None,
            },
            max_rooms_per_client: 32,
        }
    }
}
