//! The `lanchat-server` command line. Every flag can also be set through the
//! environment variable named in its help, which is how the systemd unit in
//! `assets/` configures the server.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use lanchat_shared::Rate;
use lanchat_shared::limits::DEFAULT_PORT;

use crate::Config;
use crate::config::{ConfigError, DbLocation, Retention, Secret, TlsKeys};

/// IRC's registered port, where IRC clients look first.
pub const DEFAULT_IRC_PORT: u16 = 6667;

/// A LAN chat server: newline-delimited JSON (or plain text for nc/telnet) over TCP.
///
/// Every default is [`Config::default`]'s, read from there.
#[derive(Debug, Parser)]
#[command(name = "lanchat-server", version, about)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "LANCHAT_BIND", default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub bind: IpAddr,

    /// TCP port to listen on (0 picks a free one and logs it).
    #[arg(long, short, env = "LANCHAT_PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// TCP port for IRC clients (irssi, weechat, hexchat, bots), in the
    /// same rooms; 0 turns it off. A port that cannot be bound is logged,
    /// and the server runs without it.
    #[arg(long, env = "LANCHAT_IRC_PORT", default_value_t = DEFAULT_IRC_PORT)]
    pub irc_port: u16,

    /// Do not listen for IRC clients (as --irc-port 0).
    #[arg(long, env = "LANCHAT_NO_IRC")]
    pub no_irc: bool,

    /// Name shown in the greeting.
    #[arg(long, env = "LANCHAT_NAME", default_value_t = Config::default().server_name)]
    pub name: String,

    /// Most connections served at once.
    #[arg(long, env = "LANCHAT_MAX_CONNECTIONS", default_value_t = Config::default().max_connections)]
    pub max_connections: usize,

    /// Most connections from one IP address at once.
    #[arg(long, env = "LANCHAT_MAX_CONNECTIONS_PER_IP", default_value_t = Config::default().max_connections_per_ip)]
    pub max_connections_per_ip: usize,

    /// Longest line accepted, in bytes without the line ending (64 to 8192).
    #[arg(long, env = "LANCHAT_MAX_LINE_BYTES", default_value_t = Config::default().max_line_bytes)]
    pub max_line_bytes: usize,

    /// Longest message text, in characters after sanitising (at most 2000).
    #[arg(long, env = "LANCHAT_MAX_TEXT_CHARS", default_value_t = Config::default().max_text_chars)]
    pub max_text_chars: usize,

    /// Lines per second each client may send once its burst is spent.
    #[arg(long, env = "LANCHAT_RATE", default_value_t = Config::default().rate.per_sec)]
    pub rate: f64,

    /// Lines each client may send back to back.
    #[arg(long, env = "LANCHAT_BURST", default_value_t = Config::default().rate.burst)]
    pub burst: u32,

    /// Bad lines within --bad-line-window after which a client is disconnected.
    #[arg(long, env = "LANCHAT_MAX_BAD_LINES", default_value_t = Config::default().max_bad_lines)]
    pub max_bad_lines: usize,

    /// Window, in seconds, over which bad lines are counted.
    #[arg(long, env = "LANCHAT_BAD_LINE_WINDOW", default_value_t = Config::default().bad_line_window.as_secs())]
    pub bad_line_window: u64,

    /// Seconds a new connection has to send a good hello.
    #[arg(long, env = "LANCHAT_HELLO_TIMEOUT", default_value_t = Config::default().hello_timeout.as_secs())]
    pub hello_timeout: u64,

    /// Seconds a write to one client may block before it is cut off as a slow consumer.
    #[arg(long, env = "LANCHAT_WRITE_TIMEOUT", default_value_t = Config::default().write_timeout.as_secs())]
    pub write_timeout: u64,

    /// Room events a client may fall behind before it is cut off as a slow consumer.
    #[arg(long, env = "LANCHAT_QUEUE_LEN", default_value_t = Config::default().queue_len)]
    pub queue_len: usize,

    /// Idle seconds before TCP keepalive probes; dead peers are dropped within about twice this.
    #[arg(long, env = "LANCHAT_KEEPALIVE", default_value_t = Config::default().keepalive.as_secs())]
    pub keepalive: u64,

    /// Seconds an IRC client may be silent before it is sent a PING; as long again without an answer closes it.
    #[arg(long, env = "LANCHAT_IRC_PING_AFTER", default_value_t = Config::default().irc_ping_after.as_secs())]
    pub irc_ping_after: u64,

    /// Seconds a graceful shutdown waits for clients to receive what is queued.
    #[arg(long, env = "LANCHAT_SHUTDOWN_GRACE", default_value_t = Config::default().shutdown_grace.as_secs())]
    pub shutdown_grace: u64,

    /// Do not answer LAN discovery probes (UDP on the same port).
    #[arg(long, env = "LANCHAT_NO_DISCOVERY")]
    pub no_discovery: bool,

    /// Message database file, or :memory: to keep nothing across restarts
    /// [default: $XDG_DATA_HOME/lanchat/history.db or ~/.local/share/lanchat/history.db].
    #[arg(long, env = "LANCHAT_DB")]
    pub db: Option<String>,

    /// Keep messages, sessions, owned nicknames, rooms and bans in this
    /// Redis server instead of --db, so that several lanchat servers serve
    /// the same rooms: redis://HOST:PORT/DB or unix:///PATH (see "Several
    /// servers" in the README).
    #[arg(
        long,
        env = "LANCHAT_REDIS",
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis: Option<String>,

    /// Messages per room replayed to a client on arrival.
    #[arg(long, env = "LANCHAT_HISTORY", default_value_t = Config::default().history_len)]
    pub history: usize,

    /// Most messages one resume (a hello with `since`) replays; the rest is reported as a gap.
    #[arg(long, env = "LANCHAT_RESUME_LIMIT", default_value_t = Config::default().resume_limit)]
    pub resume_limit: usize,

    /// Keep at most this many messages (0 = no limit).
    #[arg(long, env = "LANCHAT_RETAIN_MESSAGES", default_value_t = Config::default().retention.max_messages.unwrap_or(0))]
    pub retain_messages: u64,

    /// Drop messages older than this many days (0 = keep forever).
    #[arg(long, env = "LANCHAT_RETAIN_DAYS", default_value_t = Config::default().retention.max_days.unwrap_or(0))]
    pub retain_days: u64,

    /// Rooms one client may be in at once.
    #[arg(long, env = "LANCHAT_MAX_ROOMS", default_value_t = Config::default().max_rooms_per_client)]
    pub max_rooms: usize,

    /// PEM certificate(s) for TLS, the server's first, e.g. from a real CA
    /// (needs --tls-key) [default: server-identity.pem beside the database,
    /// made on first start].
    #[arg(
        long,
        env = "LANCHAT_TLS_CERT",
        requires = "tls_key",
        value_name = "FILE"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert (may be the same file).
    #[arg(
        long,
        env = "LANCHAT_TLS_KEY",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    pub tls_key: Option<PathBuf>,

    /// Serve TLS connections only: a plain-TCP client is told how to connect
    /// with TLS, in one line, and closed.
    #[arg(long, env = "LANCHAT_REQUIRE_TLS")]
    pub require_tls: bool,

    /// Seconds a TLS handshake may take before the connection is closed.
    #[arg(long, env = "LANCHAT_TLS_HANDSHAKE_TIMEOUT", default_value_t = Config::default().tls_handshake_timeout.as_secs())]
    pub tls_handshake_timeout: u64,

    /// Nicknames one identity (TLS client key) may own.
    #[arg(long, env = "LANCHAT_MAX_OWNED_NICKS", default_value_t = Config::default().max_owned_nicks)]
    pub max_owned_nicks: usize,

    /// Days after which an owned nickname its owner has not used is free again.
    #[arg(long, env = "LANCHAT_NICK_LAPSE_DAYS", default_value_t = Config::default().owned_nick_lapse.as_secs() / 86_400)]
    pub nick_lapse_days: u64,

    /// A password every client must give before it joins (JSON: "password"
    /// in hello; plain text: the line after the nickname).
    #[arg(long, env = "LANCHAT_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Admit only the identities (key fingerprints, one a line, # comments)
    /// in FILE; others, guests included, are told not_allowed. Re-read on SIGHUP.
    #[arg(long, env = "LANCHAT_ALLOW", value_name = "FILE")]
    pub allow: Option<PathBuf>,

    /// An identity (key fingerprint, SHA256:...) that may keep order in
    /// every room (topics, kicks, operators, bans, mutes) and ban from the
    /// whole server. Repeatable; the variable takes a comma-separated list.
    #[arg(long = "admin", env = "LANCHAT_ADMINS", value_name = "FINGERPRINT", value_delimiter = ',', value_parser = fingerprint)]
    pub admins: Vec<lanchat_shared::Fingerprint>,

    /// Copy the SQLite database FILE (messages with their ids, owned
    /// nicknames, rooms, bans, sessions) into the empty Redis of --redis
    /// and exit, without serving.
    #[arg(long, value_name = "FILE", requires = "redis")]
    pub migrate_from: Option<PathBuf>,

    /// Free an owned nickname in the database (--db, or --redis) and exit, without
    /// serving: for the server's operator, e.g. when someone lost their key.
    #[arg(long, value_name = "NICK")]
    pub release_nick: Option<String>,
}

impl Args {
    /// The address to bind.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// The address to bind for IRC clients, unless turned off.
    pub fn irc_addr(&self) -> Option<SocketAddr> {
        (!self.no_irc && self.irc_port != 0).then(|| SocketAddr::new(self.bind, self.irc_port))
    }

    /// The server settings these flags describe, checked by
    /// [`Config::validate`]: a setting that would make the server unusable
    /// fails here rather than starting half-broken.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let config = Config {
            server_name: self.name.clone(),
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            max_line_bytes: self.max_line_bytes,
            max_text_chars: self.max_text_chars,
            rate: Rate {
                per_sec: self.rate,
                burst: self.burst,
            },
            max_bad_lines: self.max_bad_lines.max(1),
            bad_line_window: Duration::from_secs(self.bad_line_window),
            hello_timeout: Duration::from_secs(self.hello_timeout),
            write_timeout: Duration::from_secs(self.write_timeout.max(1)),
            queue_len: self.queue_len,
            keepalive: Duration::from_secs(self.keepalive),
            irc_ping_after: Duration::from_secs(self.irc_ping_after.max(1)),
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
            discovery: !self.no_discovery,
            db: self
                .db
                .as_deref()
                .map_or_else(DbLocation::default_file, DbLocation::parse),
            redis: self.redis.clone(),
            history_len: self.history,
            resume_limit: self.resume_limit,
            retention: Retention {
                max_messages: (self.retain_messages > 0).then_some(self.retain_messages),
                max_days: (self.retain_days > 0).then_some(self.retain_days),
            },
            max_rooms_per_client: self.max_rooms.max(1),
            tls_keys: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => TlsKeys::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                },
                _ => TlsKeys::BesideDatabase,
            },
            require_tls: self.require_tls,
            tls_handshake_timeout: Duration::from_secs(self.tls_handshake_timeout),
            max_owned_nicks: self.max_owned_nicks,
            owned_nick_lapse: Duration::from_secs(self.nick_lapse_days.saturating_mul(86_400)),
            password: self.password.clone().map(Secret::new),
            allow_file: self.allow.clone(),
            admins: self.admins.clone(),
        };
        config.validate()?;
        Ok(config)
    }
}

/// Reads a fingerprint given on the command line.
fn fingerprint(text: &str) -> Result<lanchat_shared::Fingerprint, String> {
    lanchat_shared::Fingerprint::parse(text.trim()).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_library_defaults() {
        let args = Args::try_parse_from(["lanchat-server", "--db", ":memory:"]).unwrap();
        let config = args.config().unwrap();
        let default = Config::default();
        assert_eq!(args.listen_addr(), "0.0.0.0:7878".parse().unwrap());
        // Every field but the database, whose default differs on purpose
        // (the library keeps nothing; the binary keeps a file).
        assert_eq!(format!("{config:?}"), format!("{default:?}"));
    }

    #[test]
    fn tls_files_come_in_pairs() {
        let both = [
            "lanchat-server",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ];
        let args = Args::try_parse_from(both).unwrap();
        assert_eq!(
            args.config().unwrap().tls_keys,
            TlsKeys::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            }
        );
        assert!(Args::try_parse_from(["lanchat-server", "--tls-cert", "c.pem"]).is_err());
        let args = Args::try_parse_from(["lanchat-server", "--require-tls"]).unwrap();
        assert!(args.config().unwrap().require_tls);
    }

    #[test]
    fn admins_are_given_by_fingerprint_and_a_bad_one_is_refused() {
        let key = lanchat_shared::Fingerprint::of_public_key(b"admin");
        let args = Args::try_parse_from(["lanchat-server", "--admin", key.as_str()]).unwrap();
        assert_eq!(args.config().unwrap().admins, [key]);
        assert!(Args::try_parse_from(["lanchat-server", "--admin", "alice"]).is_err());
    }

    #[test]
    fn the_resume_limit_has_a_flag() {
        let args = Args::try_parse_from(["lanchat-server", "--resume-limit", "10"]).unwrap();
        assert_eq!(args.config().unwrap().resume_limit, 10);
    }

    #[test]
    fn limits_cannot_be_raised_past_the_protocol() {
        for flags in [
            ["--max-line-bytes", "9000"],
            ["--max-text-chars", "2001"],
            ["--rate", "0"],
            ["--queue-len", "0"],
        ] {
            let args = Args::try_parse_from(["lanchat-server", flags[0], flags[1]]).unwrap();
            let error = args.config().unwrap_err();
            assert!(error.to_string().contains(flags[0]), "{error}");
        }
    }
}
