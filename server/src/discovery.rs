//! Answering LAN discovery probes on UDP, at the TCP listener's address.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use lanchat_shared::discovery::{DiscoveryReply, is_probe};
use lanchat_shared::{Rate, TokenBucket};
use tokio::net::UdpSocket;
use tracing::debug;

use crate::state::Shared;

/// Replies across all askers: plenty for a LAN, useless for a flood.
const REPLIES: Rate = Rate {
    per_sec: 50.0,
    burst: 50,
};

/// Answers probes until shutdown. Replies are smaller than probes (see
/// `lanchat_shared::discovery`) and rate-limited, so this cannot be turned
/// against anyone.
pub(crate) async fn answer_probes(socket: UdpSocket, shared: Arc<Shared>, tcp_port: u16) {
    // Random per run, so clients can tell one server heard twice from two.
    let id = std::collections::hash_map::RandomState::new().hash_one(SystemTime::now());
    let mut bucket = TokenBucket::new(REPLIES, Instant::now());
    let mut datagram = [0_u8; 512];
    loop {
        let received = tokio::select! {
            received = socket.recv_from(&mut datagram) => received,
            () = shared.shutdown.cancelled() => return,
        };
        let (length, asker) = match received {
            Ok(received) => received,
            Err(error) => {
                debug!(%error, "discovery receive failed");
                continue;
            }
        };
        if !is_probe(&datagram[..length]) || !bucket.try_take(Instant::now()) {
            continue;
        }
        let users = shared.hub.users(lanchat_shared::room_name::LOBBY).len();
        let name = &shared.config.server_name;
        let reply = DiscoveryReply::new(name, tcp_port, users, id, &shared.tls.fingerprint);
        if let Err(error) = socket.send_to(&reply.to_datagram(), asker).await {
            debug!(%error, %asker, "discovery reply failed");
        }
    }
}
