//! lanchat's terminal client.
//!
//! - [`app`]: all state and the one `update` that changes it.
//! - [`buffers`]: one conversation per room or person, with unread counts.
//! - [`event`]: the closed set of things that can happen.
//! - [`input`], [`scrollback`], [`wrap`]: the editing line, the
//!   conversation, display-width wrapping.
//! - [`ui`] and [`layout`]: drawing, a pure function of `&App`.
//! - [`net`]: the connection task (dial, hello, relay, reconnect).
//! - [`trust`]: the server keys this user pinned (`known_servers`).
//! - [`discovery`], `host`, `launch`: finding a server on the LAN, or
//!   hosting one in-process (with the default `host` feature), before
//!   full-screen mode starts; `warnings` brings the hosted server's
//!   warnings to the screen.
//! - `terminal`, `runtime`: entering and always leaving full-screen mode,
//!   and the event loop.

#![forbid(unsafe_code)]

pub mod app;
pub mod buffers;
pub mod cli;
pub mod discovery;
pub mod event;
#[cfg(feature = "host")]
pub mod host;
pub mod input;
mod launch;
pub mod layout;
pub mod net;
mod runtime;
pub mod scrollback;
mod terminal;
pub mod trust;
pub mod ui;
#[cfg(feature = "host")]
pub mod warnings;
pub mod wrap;

use std::time::Duration;

use tokio::sync::mpsc;

use crate::app::{App, AppOptions, Now};
pub use crate::cli::Args;
use crate::event::Event;

/// Room for network news between frames; the connection task waits when
/// it is full, which slows reading from the server, never the UI.
const NEWS_QUEUE: usize = 4096;

/// Runs the client: choose a server, go full screen, chat, restore.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let nick = args.nick();
    let choice = launch::choose(&args, &nick).await?;
    let (news_in, news) = mpsc::channel(NEWS_QUEUE);
    let (commands, commands_out) = mpsc::channel(256);
    let connection = tokio::spawn(net::run(
        choice.address.clone(),
        nick.clone(),
        news_in,
        commands_out,
    ));

    let mut full_screen = terminal::enter()?;
    let size = full_screen.terminal.size()?;
    let now = Now::read();
    let options = AppOptions {
        server: choice.address.clone(),
        nick,
        bell_on_mention: !args.no_bell,
    };
    let mut app = App::new(options, (size.width, size.height), now);
    for notice in choice.notices {
        app.update(Event::Notice(notice), now);
    }
    let sources = runtime::Sources {
        news,
        warnings: choice.warnings,
    };
    let result = runtime::event_loop(&mut full_screen.terminal, app, sources, commands).await;
    drop(full_screen);

    // The connection task writes the quit and ends; give it a moment.
    let _ = tokio::time::timeout(Duration::from_secs(2), connection).await;
    if let Some(hosted) = choice.hosted {
        hosted.stop().await;
    }
    result
}
