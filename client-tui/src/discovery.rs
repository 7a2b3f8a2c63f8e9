//! Finding lanchat servers on the LAN: one probe, about a second of
//! listening, every answer listed once.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use lanchat_shared::discovery::{DiscoveryReply, probe};
use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout_at};

/// A server that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its `--name`.
    pub name: String,
    /// Where to connect.
    pub address: SocketAddr,
    /// People in its room when it answered.
    pub users: usize,
}

/// Where a real search sends its probe on `port`: the LAN's broadcast
/// address, and this machine (which a broadcast may not reach when there is
/// no network route at all).
pub fn default_targets(port: u16) -> Vec<SocketAddr> {
    vec![
        SocketAddr::from((Ipv4Addr::BROADCAST, port)),
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
    ]
}

/// Sends a probe to each target and collects answers for `wait`. Fails only
/// if no probe could be sent at all; a target that cannot be reached (no
/// broadcast route, a firewall) is skipped.
pub async fn discover(targets: &[SocketAddr], wait: Duration) -> Result<Vec<Found>, String> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .await
        .map_err(|e| format!("could not open a UDP socket: {e}"))?;
    let _ = socket.set_broadcast(true);
    let probe = probe();
    let mut problems = Vec::new();
    let mut sent = 0;
    for target in targets {
        match socket.send_to(&probe, target).await {
            Ok(_) => sent += 1,
            Err(error) => problems.push(format!("{target}: {error}")),
        }
    }
    if sent == 0 {
        return Err(format!(
            "could not send a discovery probe ({})",
            problems.join("; ")
        ));
    }
    let deadline = Instant::now() + wait;
    let mut found: Vec<(u64, Found)> = Vec::new();
    let mut datagram = [0_u8; 512];
    while let Ok(received) = timeout_at(deadline, socket.recv_from(&mut datagram)).await {
        let Ok((length, from)) = received else {
            continue;
        };
        let Some(reply) = DiscoveryReply::parse(&datagram[..length]) else {
            continue;
        };
        let server = Found {
            name: lanchat_shared::sanitize_text(&reply.name),
            address: SocketAddr::new(from.ip(), reply.port),
            users: reply.users,
        };
        match found.iter_mut().find(|(id, _)| *id == reply.id) {
            // Heard twice: keep the LAN address, the one others can use too.
            Some((_, known))
                if known.address.ip().is_loopback() && !server.address.ip().is_loopback() =>
            {
                *known = server;
            }
            Some(_) => {}
            None => found.push((reply.id, server)),
        }
    }
    Ok(found.into_iter().map(|(_, server)| server).collect())
}
