//! lanchat's server as a library: [`run`] serves one chat room on a listener
//! the caller has already bound, until the caller's shutdown future resolves.
//!
//! Taking a bound listener lets tests bind port 0 and run many servers in
//! parallel, and lets the TUI host a room in-process.
//!
//! Layout, one concern per module:
//! - [`config`]: every limit, with its default and the reason for it.
//! - `cli`: command-line flags, mapped onto [`Config`].
//! - `listener`: the accept loop, connection caps, socket options.
//! - `connection`: one client's reading half: greeting, hello, lines, leaving.
//! - `writer`: one client's writing half: batching, deadlines, slow consumers.
//! - `discovery`: answers LAN discovery probes on UDP.
//! - `hub`: members, rooms, direct messages and the broadcast fan-out.
//! - [`store`]: the storage seam and its SQLite implementation; the store
//!   thread groups commits and publishes committed messages in id order.
//! - `render`, `throttle`: plain-text lines, bad-line counting.

#![forbid(unsafe_code)]

mod cli;
pub mod config;
mod connection;
mod discovery;
mod hub;
mod line_reader;
mod listener;
mod render;
pub mod store;
mod throttle;
mod writer;

use std::future::Future;
use std::sync::Arc;

pub use cli::Args;
pub use config::Config;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::hub::Hub;
use crate::store::{SqliteStore, StoreHandle};

/// What every connection task shares.
#[derive(Debug)]
struct Shared {
    config: Config,
    hub: Arc<Hub>,
    store: StoreHandle,
    /// Cancelled once, when shutdown begins; every task watches it.
    shutdown: CancellationToken,
}

/// Serves the chat room on `listener` until `shutdown` completes, then shuts
/// down gracefully: it stops accepting, every client is sent what was
/// already queued for it and a notice, and `run` returns once all
/// connections have closed or `config.shutdown_grace` has passed.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    // A database that cannot be opened is a clear error before anything
    // is accepted, never a panic later.
    let mut store = SqliteStore::open(&config.db)
        .map_err(|error| anyhow::anyhow!("message database: {error}"))?;
    let hub = Hub::new(config.queue_len);
    hub.set_last_published(
        store::Store::last_id(&mut store)
            .map_err(|error| anyhow::anyhow!("message database: {error}"))?,
    );
    let publisher = Arc::clone(&hub);
    let (store, store_thread) = store::spawn(
        Box::new(store),
        Box::new(move |stored| publisher.publish_messages(stored)),
        config.retention,
    )?;
    let shared = Arc::new(Shared {
        hub,
        store,
        config,
        shutdown: CancellationToken::new(),
    });
    let tracker = TaskTracker::new();
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "lanchat-server listening");
        if shared.config.discovery {
            // Discovery is a convenience: failing to offer it is logged, not fatal.
            match UdpSocket::bind(addr).await {
                Ok(socket) => {
                    let shared = Arc::clone(&shared);
                    tracker.spawn(discovery::answer_probes(socket, shared, addr.port()));
                }
                Err(error) => warn!(%error, "LAN discovery is off: could not bind UDP {addr}"),
            }
        }
    }

    // Dropping the accept loop at shutdown drops the listener: new
    // connection attempts are refused from that moment on.
    tokio::select! {
        () = listener::accept_loop(listener, Arc::clone(&shared), tracker.clone()) => {}
        () = shutdown => {}
    }
    info!("shutting down");
    shared.shutdown.cancel();
    tracker.close();
    if tokio::time::timeout(shared.config.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        warn!(
            still_open = tracker.len(),
            "some clients did not close within the grace period"
        );
    }
    // The store thread ends once every handle is gone; wait for it so the
    // last commits are on disk before `run` returns.
    drop(shared);
    let _ = tokio::task::spawn_blocking(move || store_thread.join()).await;
    Ok(())
}
