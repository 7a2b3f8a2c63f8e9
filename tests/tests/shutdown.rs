//! Graceful shutdown: stop accepting, deliver what is queued, say goodbye.

#![allow(clippy::panic)] // A test fails by panicking.

use lanchat_shared::ServerMsg;
use lanchat_tests::{TestClient, TestServer};

#[tokio::test]
async fn shutdown_delivers_queued_messages_then_a_notice_then_closes() {
    let mut server = TestServer::start().await;
    let addr = server.addr();
    let mut alice = server.join("alice").await;
    let mut bob = server.join("bob").await;
    let mut plain = TestClient::connect_raw(addr).await;
    plain.recv_line().await;
    plain.send_line("netcat").await;
    plain.recv_line().await;
    plain.recv_line().await;
    alice.say("last words").await;
    // Once alice has her echo, the message is accepted and queued for all.
    assert_eq!(alice.recv_chat().await.2, "last words");

    server.begin_shutdown();
    assert_eq!(bob.recv_chat().await.2, "last words");
    match bob.recv().await {
        ServerMsg::Info { text } => assert!(text.contains("shutting down"), "{text}"),
        other => panic!("expected the shutdown notice, got {other:?}"),
    }
    assert!(bob.expect_closed().await.is_empty());
    let rest = plain.expect_closed().await;
    assert!(
        rest.iter().any(|l| l.ends_with("<alice> last words")),
        "{rest:?}"
    );
    assert_eq!(
        rest.last().map(String::as_str),
        Some("-- The server is shutting down. Goodbye!")
    );
    server.shutdown().await;

    // The listener is gone: nobody new gets in.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_with_nobody_connected_returns_at_once() {
    TestServer::start().await.shutdown().await;
}
