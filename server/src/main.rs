//! `lanchat-server`: parse flags, set up logging, bind, serve until SIGINT
//! or SIGTERM. Everything else lives in the library.

use std::io::IsTerminal;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use lanchat_server::{Args, Server};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // A setting the server cannot run with is a usage error, reported as
    // clap reports a malformed flag (exit status 2).
    let config = args.config().unwrap_or_else(|error| {
        Args::command()
            .error(clap::error::ErrorKind::ValueValidation, error)
            .exit()
    });
    if let Some(done) = maintain(&args, &config) {
        return done;
    }
    let server = Server::open(config)?;
    if let Some(allow) = server.allow_list() {
        tokio::spawn(reload_on_hangup(allow));
    }
    let addr = args.listen_addr();
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("could not listen on {addr}"))?;
    let server = match args.irc_addr() {
        Some(addr) => match TcpListener::bind(addr).await {
            Ok(irc) => server.with_irc(irc),
            Err(error) => {
                tracing::warn!(%addr, %error, "cannot listen for IRC clients; serving without IRC");
                server
            }
        },
        None => server,
    };
    server.serve(listener, shutdown_signal()).await;
    Ok(())
}

/// Does what the operator asked instead of serving (`--release-nick`,
/// `--migrate-from`), if anything.
fn maintain(args: &Args, config: &lanchat_server::Config) -> Option<anyhow::Result<()>> {
    if let Some(nick) = &args.release_nick {
        return Some(
            lanchat_server::release_nick(config, nick)
                .map(|freed| {
                    let outcome = if freed {
                        "is free now"
                    } else {
                        "was not owned"
                    };
                    println!("{nick} {outcome}.");
                })
                .map_err(Into::into),
        );
    }
    let from = args.migrate_from.as_ref()?;
    Some(
        lanchat_server::migrate_from_sqlite(config, from).map(|copied| {
            println!(
                "Copied {} messages (ids up to {}), {} owned nicknames, {} rooms, {} bans and {} sessions into Redis.",
                copied.messages,
                copied.last_id,
                copied.owners,
                copied.rooms,
                copied.bans,
                copied.sessions
            );
        })
        .map_err(Into::into),
    )
}

/// Reads the allow list again at every SIGHUP, as daemons do their
/// configuration; a bad file is reported and the old list kept.
async fn reload_on_hangup(allow: std::sync::Arc<lanchat_server::AllowList>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot watch SIGHUP; the allow list is read at start only");
            return;
        };
        while hangups.recv().await.is_some() {
            match allow.reload() {
                Ok(count) => tracing::info!(count, "allow list reloaded"),
                Err(error) => tracing::warn!(%error, "allow list not reloaded; the old one stays"),
            }
        }
    }
    #[cfg(not(unix))]
    drop(allow);
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM (systemd, docker, kill).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
