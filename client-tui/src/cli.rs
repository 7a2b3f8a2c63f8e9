//! The `lanchat` command line.

use clap::Parser;
use lanchat_shared::Nick;
use lanchat_shared::limits::{DEFAULT_PORT, MAX_NICK_LEN};

use crate::config::Config;

/// Full-screen LAN chat. With no options, finds a lanchat server on the
/// local network, or offers to host one.
#[derive(Debug, Parser)]
#[command(name = "lanchat", version, about, after_help = SETTINGS_HELP)]
pub struct Args {
    /// Server to join, as HOST:PORT (or just HOST for port 7878).
    #[arg(long, short)]
    pub server: Option<String>,

    /// Nickname (default: your user name, made valid).
    #[arg(long, short)]
    pub nick: Option<String>,

    /// Host a chat room on this machine (0.0.0.0, --port) and join it
    /// (in builds with the default `host` feature).
    #[arg(long, conflicts_with = "server")]
    pub host: bool,

    /// Where a room hosted here keeps its history: a SQLite file, or
    /// `:memory:` to keep nothing [default: hosted-PORT.db next to the
    /// server's default history.db].
    #[arg(long, value_name = "PATH")]
    pub db: Option<String>,

    /// Port to host on, and to look for servers on.
    #[arg(long, short, default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// How long to look for servers on the LAN, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub discovery_ms: u64,

    /// Do not ring the terminal bell when someone mentions you.
    #[arg(long)]
    pub no_bell: bool,

    /// Send no desktop notification (through the terminal) when someone
    /// mentions you or writes to you while the terminal is in the
    /// background.
    #[arg(long)]
    pub no_notify: bool,

    /// Leave the mouse to the terminal, so text can be selected (the wheel
    /// then does not scroll); Alt-M switches while running.
    #[arg(long)]
    pub no_mouse: bool,

    /// Trust a server met for the first time without asking (for
    /// scripts). Its key is pinned all the same: a different key later is
    /// refused.
    #[arg(long)]
    pub trust_new: bool,

    /// Connect over plain TCP instead of TLS: unencrypted, and the server
    /// takes you for a guest (for servers that speak only plain TCP).
    #[arg(long)]
    pub plain: bool,

    /// Your identity (key and certificate, PEM) [default:
    /// $XDG_CONFIG_HOME/lanchat/identity.pem, made on first run].
    #[arg(long, value_name = "FILE")]
    pub identity: Option<std::path::PathBuf>,

    /// The server's password, if it asks for one.
    #[arg(long, env = "LANCHAT_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Forget the key pinned for HOST:PORT, to accept a server's new key on
    /// purpose; then exit.
    #[arg(long, value_name = "HOST:PORT")]
    pub forget: Option<String>,

    /// Print your identity's fingerprint (what a server's --allow file
    /// lists) and exit.
    #[arg(long)]
    pub fingerprint: bool,

    /// Send discovery probes only to these addresses instead of the LAN
    /// broadcast address and this machine (for tests and odd networks).
    #[arg(long, value_name = "IP")]
    pub probe: Vec<std::net::IpAddr>,
}

/// What `--help` says about the settings file.
const SETTINGS_HELP: &str = "Settings: $XDG_CONFIG_HOME/lanchat/config.toml (or \
~/.config/lanchat/config.toml), TOML, every key optional, flags win: \
nickname = \"ben\", server = \"HOST:PORT\", rooms = [\"dev\"] (joined at start), \
highlights = [\"word\"] (count as mentions), bell, mouse, notify, colours = true|false, \
auto_away = MINUTES (away after that long without a key; 0 never).";

impl Args {
    /// These flags with the settings file's values where no flag was
    /// given: a server (unless hosting), a nickname, and the switches the
    /// file turns off.
    pub fn with_config(mut self, config: &Config) -> Args {
        if self.server.is_none() && !self.host {
            self.server.clone_from(&config.server);
        }
        if self.nick.is_none() {
            self.nick.clone_from(&config.nickname);
        }
        self.no_bell |= !config.bell;
        self.no_mouse |= !config.mouse;
        self.no_notify |= !config.notify;
        self
    }

    /// The nickname to try first.
    pub fn nick(&self) -> String {
        match &self.nick {
            Some(nick) => nick.clone(),
            None => nick_from_user_name(std::env::var("USER").ok().as_deref()),
        }
    }
}

/// `$USER` made into a legal nickname: illegal characters dropped, cut to
/// length, `guest` if nothing usable is left.
pub fn nick_from_user_name(user: Option<&str>) -> String {
    let cleaned: String = user
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(MAX_NICK_LEN)
        .collect();
    match Nick::parse(&cleaned) {
        Ok(nick) => nick.to_string(),
        Err(_) => "guest".to_owned(),
    }
}

/// `HOST` or `HOST:PORT` as an address to dial.
pub fn with_default_port(server: &str) -> String {
    let has_port = match server.rsplit_once(':') {
        Some((host, port)) => {
            !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    };
    if has_port {
        server.to_owned()
    } else if server.contains(':') && !server.starts_with('[') {
        format!("[{server}]:{DEFAULT_PORT}")
    } else {
        format!("{server}:{DEFAULT_PORT}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_become_legal_nicknames() {
        assert_eq!(nick_from_user_name(Some("alice")), "alice");
        assert_eq!(nick_from_user_name(Some("jean pierre")), "jeanpierre");
        assert_eq!(
            nick_from_user_name(Some("a_very_long_user_name_indeed")),
            "a_very_long_user"
        );
        assert_eq!(nick_from_user_name(Some("root")), "root");
        assert_eq!(nick_from_user_name(Some("système")), "systme");
        assert_eq!(nick_from_user_name(Some("System")), "guest", "reserved");
        assert_eq!(nick_from_user_name(Some("张三")), "guest");
        assert_eq!(nick_from_user_name(None), "guest");
    }

    #[test]
    fn a_missing_port_means_the_default() {
        assert_eq!(with_default_port("box"), "box:7878");
        assert_eq!(with_default_port("10.0.0.2:9000"), "10.0.0.2:9000");
        assert_eq!(with_default_port("[::1]:9000"), "[::1]:9000");
        assert_eq!(with_default_port("::1"), "[::1]:7878");
    }

    #[test]
    fn flags_win_over_the_settings_file_and_fill_from_it_otherwise() {
        let config = Config {
            nickname: Some("ben".into()),
            server: Some("box:9000".into()),
            bell: false,
            ..Config::default()
        };
        let bare = Args::parse_from(["lanchat"]).with_config(&config);
        assert_eq!(bare.server.as_deref(), Some("box:9000"));
        assert_eq!(bare.nick(), "ben");
        assert!(bare.no_bell && !bare.no_mouse);
        let flags =
            Args::parse_from(["lanchat", "-s", "other:1", "-n", "amy"]).with_config(&config);
        assert_eq!(
            (flags.server.as_deref(), flags.nick()),
            (Some("other:1"), "amy".into())
        );
        let hosting = Args::parse_from(["lanchat", "--host"]).with_config(&config);
        assert_eq!(hosting.server, None, "hosting needs no server to go to");
    }
}
