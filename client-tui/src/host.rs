//! Hosting a room in-process: the server crate is a library, so the first
//! person on a LAN can be the server too. Only in builds with the `host`
//! feature (the default).

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::Context;
use lanchat_server::{Config, DbLocation, Server};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running inside this process.
#[derive(Debug)]
pub struct Hosted {
    /// The TCP (and discovery) port.
    pub port: u16,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Starts a server on 0.0.0.0:`port`, named after its host's nickname.
/// Everything that can fail at start (the port, the database) fails here,
/// before the room is announced, with a message for the person hosting.
pub async fn host(port: u16, nick: &str) -> anyhow::Result<Hosted> {
    let listener = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).await {
        Ok(listener) => listener,
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "port {port} is already in use here. If lanchat is already hosting on this machine, \
             join it with `lanchat --server 127.0.0.1:{port}`; or host on another port with `--port`."
        ),
        Err(error) => return Err(error).context(format!("could not listen on port {port}")),
    };
    let port = listener.local_addr()?.port();
    let config = Config {
        server_name: format!("{nick}'s room"),
        db: hosted_db(port),
        ..Config::default()
    };
    let server = tokio::task::spawn_blocking(move || Server::open(config))
        .await
        .context("could not open the room")?
        .context(
            "could not open the room's history; set XDG_DATA_HOME to a writable directory, \
             or join a room hosted elsewhere with --server",
        )?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    Ok(Hosted { port, stop, task })
}

impl Hosted {
    /// Shuts the room down gracefully: everyone gets the notice.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(6), self.task).await;
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
