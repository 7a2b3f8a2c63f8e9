//! Accepting connections: caps first, then one task per client.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lanchat_shared::{ErrorCode, ServerMsg};
use socket2::{SockRef, TcpKeepalive};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info_span, warn};

use crate::Config;
use crate::connection;
use crate::state::Shared;

/// Pause after a failed `accept` (typically EMFILE: out of file descriptors)
/// so the loop does not spin while the condition lasts.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Which of the server's ports a connection came in on: it decides how the
/// connection is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// The main port: JSON or plain text, told apart by the first line.
    Main,
    /// The IRC port (`--irc-port`).
    Irc,
}

/// Accepts connections until cancelled by the caller (the future is dropped
/// at shutdown). A failing `accept` is logged and retried; a failing
/// connection only ever affects its own task. Every port counts against
/// the same `limits`.
pub(crate) async fn accept_loop(
    (listener, port): (TcpListener, Port),
    shared: Arc<Shared>,
    limits: Arc<ConnectionLimits>,
    tracker: TaskTracker,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "accept failed; retrying shortly");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let admission = match limits.admit(peer.ip()) {
            Ok(admission) => admission,
            Err(refusal) => {
                debug!(%peer, code = refusal.as_str(), "refused connection");
                refuse(&stream, port, refusal);
                continue;
            }
        };
        if let Err(error) = configure_socket(&stream, &shared.config) {
            debug!(%peer, %error, "could not set socket options");
        }
        let shared = Arc::clone(&shared);
        let span = info_span!("client", %peer);
        tracker.spawn(
            async move {
                connection::serve(stream, peer.ip(), shared, port).await;
                drop(admission);
            }
            .instrument(span),
        );
    }
}

/// Tells a refused client why in one line, without waiting: a fresh
/// socket's send buffer is empty, so a short line always fits, and the
/// accept loop must never block on a client.
fn refuse(stream: &TcpStream, port: Port, code: ErrorCode) {
    let message = match code {
        ErrorCode::ServerFull => "The server is full; try again later.",
        _ => "Too many connections from your address; close one and try again.",
    };
    let _ = stream.try_write(&refusal_line(port, code, message));
}

/// The one line a client that is about to be closed is told why in, as
/// its port speaks: a JSON error (which a plain-text reader can read too),
/// or IRC's `ERROR`, which IRC clients show.
pub(crate) fn refusal_line(port: Port, code: ErrorCode, message: &str) -> bytes::Bytes {
    match port {
        Port::Main => ServerMsg::error(code, message).to_line(),
        Port::Irc => format!("ERROR :{message}\r\n").into(),
    }
}

/// Turns off Nagle (chat lines are small and latency matters) and turns on
/// TCP keepalive so a peer that vanished without a FIN is noticed and its
/// nickname freed.
///
/// Keepalive probes start only on an idle connection: while data we sent
/// is unacknowledged (a peer that vanished mid-conversation), the kernel
/// retransmits instead, for about fifteen minutes. `TCP_USER_TIMEOUT`
/// bounds that too: a connection whose data stays unacknowledged for twice
/// `keepalive` is closed, so either way the nickname is free within about
/// twice `keepalive`.
pub(crate) fn configure_socket(stream: &TcpStream, config: &Config) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let interval = (config.keepalive / 3).max(Duration::from_secs(1));
    let keepalive = TcpKeepalive::new()
        .with_time(config.keepalive)
        .with_interval(interval)
        .with_retries(3);
    let socket = SockRef::from(stream);
    socket.set_tcp_keepalive(&keepalive)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(config.keepalive.saturating_mul(2)))?;
    Ok(())
}

/// The total and per-address connection caps.
#[derive(Debug)]
pub(crate) struct ConnectionLimits {
    total: Arc<Semaphore>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max_per_ip: usize,
}

/// Held by a connection's task; dropping it gives both slots back.
#[derive(Debug)]
struct Admission {
    _permit: OwnedSemaphorePermit,
    ip: IpAddr,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ConnectionLimits {
    pub(crate) fn new(config: &Config) -> ConnectionLimits {
        ConnectionLimits {
            total: Arc::new(Semaphore::new(config.max_connections)),
            per_ip: Arc::default(),
            max_per_ip: config.max_connections_per_ip,
        }
    }

    fn admit(&self, ip: IpAddr) -> Result<Admission, ErrorCode> {
        let permit = Arc::clone(&self.total)
            .try_acquire_owned()
            .map_err(|_| ErrorCode::ServerFull)?;
        let mut per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            return Err(ErrorCode::TooManyConnections);
        }
        *count += 1;
        Ok(Admission {
            _permit: permit,
            ip,
            per_ip: Arc::clone(&self.per_ip),
        })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            // Forget idle addresses so the map cannot grow with every
            // address that ever connected.
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots_are_capped_and_returned() {
        let config = Config {
            max_connections: 10,
            max_connections_per_ip: 2,
            ..Config::default()
        };
        let limits = ConnectionLimits::new(&config);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = limits.admit(a).unwrap();
        let _second = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), ErrorCode::TooManyConnections);
        assert!(limits.admit(b).is_ok());
        drop(first);
        assert!(limits.admit(a).is_ok());
    }

    #[test]
    fn the_total_cap_holds_across_addresses() {
        let config = Config {
            max_connections: 2,
            ..Config::default()
        };
        let limits = ConnectionLimits::new(&config);
        let held: Vec<_> = (1..=2)
            .map(|i| limits.admit(IpAddr::from([10, 0, 0, i])).unwrap())
            .collect();
        assert_eq!(
            limits.admit(IpAddr::from([10, 0, 0, 9])).unwrap_err(),
            ErrorCode::ServerFull
        );
        drop(held);
        assert_eq!(limits.per_ip.lock().unwrap().len(), 0);
    }

    #[tokio::test]
    async fn accepted_sockets_get_keepalive_a_user_timeout_and_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        let config = Config {
            keepalive: Duration::from_secs(42),
            ..Config::default()
        };
        configure_socket(&server_side, &config).unwrap();
        let socket = SockRef::from(&server_side);
        assert!(socket.keepalive().unwrap());
        assert_eq!(
            socket.tcp_keepalive_time().unwrap(),
            Duration::from_secs(42)
        );
        assert_eq!(
            socket.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(14)
        );
        // Unacknowledged data gives up after twice the keepalive time too.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        assert_eq!(
            socket.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(84))
        );
        assert!(server_side.nodelay().unwrap());
    }
}
