//! lanchat's terminal client.
//!
//! - [`app`]: all state and the one `update` that changes it.
//! - [`buffers`]: one conversation per room or person, with unread counts.
//! - [`event`]: the closed set of things that can happen.
//! - [`input`], [`scrollback`], [`wrap`]: the editing line, the
//!   conversation, display-width wrapping.
//! - [`ui`] and [`layout`]: drawing, a pure function of `&App`.
//! - [`net`]: the connection task (dial, hello, relay, reconnect);
//!   [`dial`]: one connection, TLS with the key expected, or plain TCP.
//! - [`secure`]: before full screen, the user's identity and the server key
//!   to expect (asking on first contact); [`trust`]: the server keys this
//!   user pinned (`known_servers`).
//! - [`discovery`], `host`, `launch`: finding a server on the LAN, or
//!   hosting one in-process (with the default `host` feature), before
//!   full-screen mode starts; `warnings` brings the hosted server's
//!   warnings to the screen.
//! - [`people`]: who is in each room.
//! - [`marks`]: which messages were read, kept on disk between runs.
//! - `terminal`, `runtime`: entering and always leaving full-screen mode,
//!   and the event loop.

#![forbid(unsafe_code)]

pub mod app;
pub mod buffers;
pub mod cli;
pub mod config;
pub mod dial;
pub mod discovery;
pub mod event;
#[cfg(feature = "host")]
pub mod host;
pub mod input;
mod launch;
pub mod layout;
pub mod marks;
pub mod net;
pub mod people;
mod runtime;
pub mod scrollback;
pub mod secure;
mod terminal;
pub mod trust;
pub mod ui;
#[cfg(feature = "host")]
pub mod warnings;
pub mod wrap;

use std::io::IsTerminal;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::app::{App, AppOptions, Mouse, Now};
pub use crate::cli::Args;
use crate::config::Config;
use crate::event::Event;

/// Room for network news between frames; the connection task waits when
/// it is full, which slows reading from the server, never the UI.
const NEWS_QUEUE: usize = 4096;

/// Runs the client: choose a server, settle its key, go full screen, chat,
/// restore. `--forget` and `--fingerprint` do their one thing instead.
pub async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(server) = &args.forget {
        return forget(server);
    }
    if args.fingerprint {
        println!("{}", secure::identity(&args)?.fingerprint);
        return Ok(());
    }
    require_a_terminal()?;
    let config = match config::default_path() {
        Some(path) => config::load(&path).map_err(anyhow::Error::msg)?,
        None => Config::default(),
    };
    let args = args.with_config(&config);
    let nick = args.nick();
    let choice = launch::choose(&args, &nick).await?;
    let security = match secure::settle(&args, &choice).await {
        Ok(security) => security,
        Err(refusal) => {
            if let Some(hosted) = choice.hosted {
                hosted.stop().await;
            }
            return Err(refusal);
        }
    };
    let protection = security.protection();
    let endpoint = net::Endpoint {
        address: choice.address.clone(),
        security,
        password: args.password.clone(),
    };
    let (news_in, news) = mpsc::channel(NEWS_QUEUE);
    let (commands, commands_out) = mpsc::channel(256);
    let connection = tokio::spawn(net::run(endpoint, nick.clone(), news_in, commands_out));

    let marks_path = marks::default_path();
    let read_marks = marks_path
        .as_deref()
        .map(|path| marks::load(path, &choice.address))
        .unwrap_or_default();
    let options = app_options(&args, config, &choice, nick, protection, read_marks);
    let mut full_screen = terminal::enter(options.mouse)?;
    let size = full_screen.terminal.size()?;
    let now = Now::read();
    let mut app = App::new(options, (size.width, size.height), now);
    for notice in choice.notices {
        app.update(Event::Notice(notice), now);
    }
    let sources = runtime::Sources {
        news,
        warnings: choice.warnings,
    };
    let result = runtime::event_loop(&mut full_screen.terminal, &mut app, sources, commands).await;
    drop(full_screen);
    // Nowhere to say it if this fails: the terminal is the user's again,
    // and the cost is only that read history counts again next time.
    if let Some(path) = &marks_path {
        let _ = marks::save(path, &choice.address, &app.buffers().marks_to_keep());
    }

    // The connection task writes the quit and ends; give it a moment.
    let _ = tokio::time::timeout(Duration::from_secs(2), connection).await;
    if let Some(hosted) = choice.hosted {
        hosted.stop().await;
    }
    result
}

/// `lanchat --forget HOST:PORT`: unpins the server's key, so the next join
/// asks again.
fn forget(server: &str) -> anyhow::Result<()> {
    let address = cli::with_default_port(server);
    let path = trust::default_path()
        .ok_or_else(|| anyhow::anyhow!("no data directory: set XDG_DATA_HOME or HOME"))?;
    let mut known = trust::KnownServers::load(&path)?;
    if known.forget(&address)? {
        println!(
            "Forgot the key of {address} ({}). The next join shows the server's key and asks.",
            path.display()
        );
    } else {
        println!("No key was pinned for {address} in {}.", path.display());
    }
    Ok(())
}

/// Fails, saying why, unless both ends are a terminal. Without this, the
/// first thing to fail is opening the terminal, with "No such device or
/// address (os error 6)", which tells nobody what to do.
fn require_a_terminal() -> anyhow::Result<()> {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return Ok(());
    }
    anyhow::bail!(
        "lanchat is a full-screen program and needs a terminal for its input and output; \
         run it in a terminal window (to script a chat, speak the protocol in docs/PROTOCOL.md, \
         or use nc HOST 7878)"
    )
}

/// What the app is told at start: the flags (already merged with the
/// settings file), what only the file says, the nickname to ask for and
/// how the connection is protected.
fn app_options(
    args: &Args,
    config: Config,
    choice: &launch::Choice,
    nick: String,
    protection: dial::Protection,
    mut read_marks: std::collections::HashMap<String, u64>,
) -> AppOptions {
    // A room named in the settings is opened (and so joined) like one that
    // was open when the client last quit.
    for room in &config.rooms {
        read_marks.entry(format!("#{room}")).or_insert(0);
    }
    AppOptions {
        server: choice.address.clone(),
        nick,
        bell_on_mention: !args.no_bell,
        read_marks,
        mouse: if args.no_mouse {
            Mouse::Free
        } else {
            Mouse::Captured
        },
        highlights: config.highlights,
        auto_away: (config.auto_away > 0)
            .then(|| Duration::from_secs(config.auto_away.saturating_mul(60))),
        colours: config.colours,
        notify: !args.no_notify,
        hosting: choice.hosted.is_some(),
        protection,
    }
}
