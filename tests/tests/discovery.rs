//! LAN discovery, over a real UDP socket: a probe gets a reply that is
//! smaller than the probe, whatever the server is called.

#![allow(clippy::panic)] // A test fails by panicking.

use lanchat_server::Config;
use lanchat_shared::discovery::{DiscoveryReply, MIN_PROBE_BYTES, probe};
use lanchat_tests::{TIMEOUT, TestServer, relaxed_config};
use tokio::net::UdpSocket;

async fn reply_to_a_probe(server: &TestServer) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
    socket
        .send_to(&probe(), server.addr())
        .await
        .expect("send the probe");
    let mut datagram = vec![0_u8; 2048];
    let (length, _) = tokio::time::timeout(TIMEOUT, socket.recv_from(&mut datagram))
        .await
        .expect("a reply in time")
        .expect("receive");
    datagram.truncate(length);
    datagram
}

#[tokio::test]
async fn a_reply_never_outgrows_its_probe_whatever_the_servers_name() {
    for name in ["😀".repeat(48), "\u{1}\u{7}\u{1b}x".repeat(60)] {
        let server = TestServer::with_config(Config {
            server_name: name,
            ..relaxed_config()
        })
        .await;
        let datagram = reply_to_a_probe(&server).await;
        assert!(
            datagram.len() < MIN_PROBE_BYTES,
            "a reply of {} bytes to a probe of {MIN_PROBE_BYTES}",
            datagram.len()
        );
        let reply = DiscoveryReply::parse(&datagram).expect("a reply");
        assert!(!reply.name.contains(char::is_control), "{:?}", reply.name);
        assert_eq!(reply.port, server.addr().port());
    }
}
