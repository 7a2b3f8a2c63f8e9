//! Hosting a room in-process: the server crate is a library, so the first
//! person on a LAN can be the server too. Only in builds with the `host`
//! feature (the default).

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::Context;
use lanchat_server::{Config, DbLocation, OpenError, Server};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::warnings;

/// What to say when the room's database cannot be opened: the ways out.
const OPEN_HINT: &str = "could not open the room's history; keep it elsewhere with --db PATH \
     (or keep none with --db :memory:), set XDG_DATA_HOME to a writable directory, \
     or join a room hosted elsewhere with --server";

/// A server running inside this process.
#[derive(Debug)]
pub struct Hosted {
    /// The TCP (and discovery) port.
    pub port: u16,
    /// The fingerprint of the room's TLS key.
    pub fingerprint: lanchat_shared::Fingerprint,
    /// The server's warnings as lines for the scrollback, for the run loop
    /// to take; `None` if this process already had a tracing subscriber.
    pub warnings: Option<mpsc::Receiver<String>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Starts a server on 0.0.0.0:`port`, named after its host's nickname,
/// keeping its history at `db` (as `--db` spells it) or in its own file,
/// with the hosting person's identity (`admin`) as its admin.
/// Everything that can fail at start (the port, the database) fails here,
/// before the room is announced or the screen changes, with a message for
/// the person hosting.
pub async fn host(
    port: u16,
    nick: &str,
    db: Option<&str>,
    admin: Option<lanchat_shared::Fingerprint>,
) -> anyhow::Result<Hosted> {
    let listener = listen(port).await?;
    let port = listener.local_addr()?.port();
    // Installed before the server opens, so its first warnings are seen.
    let warnings = warnings::install();
    let config = Config {
        server_name: format!("{nick}'s room"),
        db: db.map_or_else(|| hosted_db(port), DbLocation::parse),
        admins: admin.into_iter().collect(),
        ..Config::default()
    };
    let server = open(config).await?;
    let fingerprint = server.fingerprint().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    Ok(Hosted {
        port,
        fingerprint,
        warnings,
        stop,
        task,
    })
}

impl Hosted {
    /// Shuts the room down gracefully: everyone gets the notice.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(6), self.task).await;
    }
}

/// Binds the room's port, explaining the usual reason it is taken.
async fn listen(port: u16) -> anyhow::Result<TcpListener> {
    match TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).await {
        Ok(listener) => Ok(listener),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "port {port} is already in use here. If lanchat is already hosting on this machine, \
             join it with `lanchat --server 127.0.0.1:{port}`; or host on another port with `--port`."
        ),
        Err(error) => Err(error).context(format!("could not listen on port {port}")),
    }
}

/// Opens the server (settings, database, store thread) off the async
/// threads, since opening a database blocks.
async fn open(config: Config) -> anyhow::Result<Server> {
    let opened = tokio::task::spawn_blocking(move || Server::open(config))
        .await
        .context("could not open the room")?;
    match opened {
        Ok(server) => Ok(server),
        // Only a database problem has the database's ways out.
        Err(error @ OpenError::Database(_)) => Err(anyhow::Error::from(error).context(OPEN_HINT)),
        Err(error) => Err(anyhow::Error::from(error).context("could not open the room")),
    }
}

/// A hosted room keeps its history in its own file per port, next to (never
/// shared with) a dedicated server's: two servers on one database would mix
/// their ids.
fn hosted_db(port: u16) -> DbLocation {
    match DbLocation::default_file() {
        DbLocation::File(path) => {
            DbLocation::File(path.with_file_name(format!("hosted-{port}.db")))
        }
        DbLocation::Memory => DbLocation::Memory,
    }
}

/// This machine's LAN addresses (IPv4, not loopback) with `port`: what
/// others type after `--server`.
pub fn lan_addresses(port: u16) -> Vec<String> {
    let Ok(interfaces) = if_addrs::get_if_addrs() else {
        return Vec::new();
    };
    interfaces
        .into_iter()
        .filter(|i| !i.is_loopback())
        .filter_map(|i| match i.ip() {
            std::net::IpAddr::V4(ip) => Some(format!("{ip}:{port}")),
            std::net::IpAddr::V6(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unusable_database_is_named_once_with_the_ways_out() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("a-file");
        std::fs::write(&file, "not a directory").expect("write a file");
        let config = Config {
            db: DbLocation::File(file.join("lanchat").join("hosted-1.db")),
            ..Config::default()
        };
        let error = match open(config).await {
            Ok(_) => panic!("a database below a file opened"),
            Err(error) => format!("{error:#}"),
        };
        assert!(error.contains("--db PATH"), "{error}");
        assert!(error.contains("message database"), "{error}");
        let cause = std::io::Error::from_raw_os_error(20).to_string();
        assert_eq!(error.matches(&cause).count(), 1, "{error}");
    }
}
