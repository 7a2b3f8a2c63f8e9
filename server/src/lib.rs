//! lanchat's server as a library: [`Server::open`] checks the settings and
//! opens the database; [`Server::serve`] runs the chat on a listener the
//! caller has already bound, until the caller's shutdown future resolves.
//!
//! Taking a bound listener lets tests bind port 0 and run many servers in
//! parallel, and lets the TUI host a room in-process.
//!
//! Layout, one concern per module (ARCHITECTURE.md follows a message
//! through them):
//! - [`config`]: every limit, with its default, the reason for it, and the
//!   check that the settings make a usable server.
//! - `cli`: command-line flags, mapped onto [`Config`].
//! - `server`: [`Server`], open and serve.
//! - `listener`: the accept loop, connection caps, socket options.
//! - `connection`: one client's reading half: the read loop and the
//!   dispatch of each request.
//! - `dialect`: how requests and events are spelled on the wire (JSON,
//!   plain text).
//! - `request`: the requests every dialect reads lines into.
//! - `session`: the session core, one family of requests per file.
//! - `writer`: one client's writing half: batching, deadlines, slow consumers.
//! - `hub`: members, rooms, direct messages and the broadcast fan-out.
//! - `store`: the storage seam and its SQLite implementation; the store
//!   thread groups commits and publishes committed messages in id order.
//! - `domain`: nickname keys, messages, session tokens, the clock.
//! - `discovery`: answers LAN discovery probes on UDP.
//! - `open_files`: the open-file limit and the connection cap that fits it.
//! - `line_reader`, `throttle`, `state`: lines from a socket, bad-line
//!   counting, what every task shares.

#![forbid(unsafe_code)]

mod allow;
mod bans;
mod budget;
mod cli;
pub mod config;
mod connection;
mod dialect;
mod discovery;
mod group;
mod hub;
mod line_reader;
mod listener;
mod open_files;
mod request;
mod server;
mod session;
mod state;
mod throttle;
mod tls;
mod transport;
mod writer;

// The message store and its types are the server's own; the store
// benchmark (`benches/store.rs`) reaches them through this feature alone.
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod domain;
#[cfg(not(feature = "bench-internals"))]
mod domain;
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod store;
#[cfg(not(feature = "bench-internals"))]
mod store;

pub use allow::{AllowFileError, AllowList};
pub use cli::Args;
pub use config::{Config, ConfigError, DbLocation, Retention, Secret, TlsKeys};
pub use server::{OpenError, Server, migrate_from_sqlite, release_nick};
pub use store::Migrated;
pub use tls::{KEY_FILE_NAME, TlsSetupError};
