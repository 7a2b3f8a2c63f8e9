//! Every limit the server enforces, in one struct, with the check that
//! they make a usable server.

use std::path::PathBuf;
use std::time::Duration;

use lanchat_shared::limits::{MAX_LINE_BYTES, MAX_TEXT_CHARS};
use lanchat_shared::{DEFAULT_RATE, Rate};

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
    /// How long an IRC client may be silent before the server sends it a
    /// `PING`; as long again without a line from it closes the connection
    /// ("ping timeout"), as IRC servers do. TCP keepalive finds dead peers
    /// too; this finds clients that are there but stuck.
    pub irc_ping_after: Duration,
    /// Answer LAN discovery probes on UDP at the listener's address and port.
    pub discovery: bool,
    /// Where messages are kept. The library's default is memory (nothing
    /// outlives the process); `lanchat-server` defaults to a file in the
    /// user's data directory.
    pub db: DbLocation,
    /// The Redis server that holds every piece of shared state instead of
    /// `db`, for several servers that serve the same rooms (`--redis`; see
    /// `store::redis`). `None`, the default, keeps everything in `db`.
    pub redis: Option<String>,
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
    /// Where the TLS key and certificate come from.
    pub tls_keys: TlsKeys,
    /// Serve encrypted connections only: a plain-TCP client is told how to
    /// connect with TLS, in one line, and closed.
    pub require_tls: bool,
    /// Longest a TLS handshake may take. On a LAN one takes milliseconds;
    /// a client that stalls half way holds its connection slot (it counts
    /// against the caps) no longer than this.
    pub tls_handshake_timeout: Duration,
    /// Nicknames one identity may own. A new key costs nothing, so owning
    /// must not be a way to lock everyone out of every name.
    pub max_owned_nicks: usize,
    /// An owned nickname its owner has not used for this long is free
    /// again.
    pub owned_nick_lapse: Duration,
    /// A shared secret every client must give before it joins.
    pub password: Option<Secret>,
    /// A file of the identities (fingerprints) that alone may connect;
    /// re-read on SIGHUP.
    pub allow_file: Option<PathBuf>,
    /// Identities that may keep order in every room (`--admin`); guests
    /// never can.
    pub admins: Vec<lanchat_shared::Fingerprint>,
}

/// A secret setting: shown nowhere, its `Debug` included.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, for comparing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Where the server's TLS key and certificate come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsKeys {
    /// `server-identity.pem` beside the database file, made on first start
    /// (so the fingerprint stays the same across restarts); a new key at
    /// every start for a database in memory.
    BesideDatabase,
    /// Given files (`--tls-cert`, `--tls-key`), e.g. from a real CA. They
    /// may be the same file.
    Files {
        /// PEM certificates, the server's first.
        cert: PathBuf,
        /// The PEM private key.
        key: PathBuf,
    },
}

/// A setting that would make the server unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} (--{flag}) {problem}")]
pub struct ConfigError {
    /// The [`Config`] field.
    pub setting: &'static str,
    /// The `lanchat-server` flag that sets it.
    pub flag: &'static str,
    /// What is wrong, e.g. "must be at least 1".
    pub problem: String,
}

impl Config {
    /// Checks that these settings make a server that can serve anyone:
    /// limits of at least one, and no limit beyond the protocol's.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |setting, flag, problem: &str| {
            Err(ConfigError {
                setting,
                flag,
                problem: problem.to_owned(),
            })
        };
        if !(self.rate.per_sec.is_finite() && self.rate.per_sec > 0.0) {
            return fail("rate.per_sec", "rate", "must be a positive number");
        }
        let at_least_one = [
            (self.rate.burst as usize, "rate.burst", "burst"),
            (self.max_connections, "max_connections", "max-connections"),
            (
                self.max_connections_per_ip,
                "max_connections_per_ip",
                "max-connections-per-ip",
            ),
            (self.queue_len, "queue_len", "queue-len"),
            (self.max_bad_lines, "max_bad_lines", "max-bad-lines"),
            (
                self.max_rooms_per_client,
                "max_rooms_per_client",
                "max-rooms",
            ),
            (self.max_text_chars, "max_text_chars", "max-text-chars"),
        ];
        for (value, setting, flag) in at_least_one {
            if value == 0 {
                return fail(setting, flag, "must be at least 1");
            }
        }
        if self.hello_timeout.is_zero() {
            return fail(
                "hello_timeout",
                "hello-timeout",
                "must be at least 1 second",
            );
        }
        if self
            .password
            .as_ref()
            .is_some_and(|p| p.expose().is_empty())
        {
            return fail("password", "password", "must not be empty");
        }
        if self.tls_handshake_timeout.is_zero() {
            return fail(
                "tls_handshake_timeout",
                "tls-handshake-timeout",
                "must be at least 1 second",
            );
        }
        if self.keepalive.is_zero() {
            return fail("keepalive", "keepalive", "must be at least 1 second");
        }
        if self.write_timeout.is_zero() {
            return fail(
                "write_timeout",
                "write-timeout",
                "must be at least 1 second",
            );
        }
        if !(64..=MAX_LINE_BYTES).contains(&self.max_line_bytes) {
            let problem = format!("must be from 64 to {MAX_LINE_BYTES} bytes");
            return fail("max_line_bytes", "max-line-bytes", &problem);
        }
        if self.max_text_chars > MAX_TEXT_CHARS {
            let problem = format!("must be at most {MAX_TEXT_CHARS} characters");
            return fail("max_text_chars", "max-text-chars", &problem);
        }
        Ok(())
    }
}

/// Where the database is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbLocation {
    /// Nothing is kept across restarts (`--db :memory:`).
    Memory,
    /// A SQLite file, created if missing.
    File(PathBuf),
}

impl DbLocation {
    /// `:memory:` means memory; anything else is a file path.
    pub fn parse(spec: &str) -> DbLocation {
        if spec == ":memory:" {
            DbLocation::Memory
        } else {
            DbLocation::File(PathBuf::from(spec))
        }
    }

    /// The default file: `$XDG_DATA_HOME/lanchat/history.db`, falling back
    /// to `~/.local/share/lanchat/history.db`, or memory if neither exists.
    pub fn default_file() -> DbLocation {
        let data_home = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share"))
            });
        match data_home {
            Some(dir) => DbLocation::File(dir.join("lanchat").join("history.db")),
            None => DbLocation::Memory,
        }
    }
}

/// How much history is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many messages (the newest).
    pub max_messages: Option<u64>,
    /// Drop messages older than this many days.
    pub max_days: Option<u64>,
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
            irc_ping_after: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(5),
            discovery: true,
            db: DbLocation::Memory,
            redis: None,
            history_len: 50,
            resume_limit: 5000,
            retention: Retention {
                max_messages: Some(1_000_000),
                max_days: None,
            },
            max_rooms_per_client: 32,
            tls_keys: TlsKeys::BesideDatabase,
            require_tls: false,
            tls_handshake_timeout: Duration::from_secs(10),
            max_owned_nicks: 3,
            owned_nick_lapse: Duration::from_secs(90 * 86_400),
            password: None,
            allow_file: None,
            admins: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn an_unusable_setting_is_named_with_its_flag() {
        let config = Config {
            queue_len: 0,
            ..Config::default()
        };
        let error = config.validate().unwrap_err();
        assert_eq!(
            error.to_string(),
            "queue_len (--queue-len) must be at least 1"
        );
        let config = Config {
            rate: Rate {
                per_sec: f64::NAN,
                burst: 5,
            },
            ..Config::default()
        };
        assert_eq!(config.validate().unwrap_err().flag, "rate");
        let config = Config {
            max_line_bytes: MAX_LINE_BYTES + 1,
            ..Config::default()
        };
        assert_eq!(config.validate().unwrap_err().setting, "max_line_bytes");
        let config = Config {
            hello_timeout: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(config.validate().unwrap_err().flag, "hello-timeout");
    }
}
