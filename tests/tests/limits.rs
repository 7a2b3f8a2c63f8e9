//! Limits that protect everybody from one client: slow readers and
//! connection caps.

#![allow(clippy::panic)] // A test fails by panicking.

use std::time::Duration;

use lanchat_server::Config;
use lanchat_shared::{ErrorCode, ServerMsg};
use lanchat_tests::{TIMEOUT, TestClient, TestServer, relaxed_config};

#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_and_slows_nobody_down() {
    let config = Config {
        queue_len: 256,
        write_timeout: Duration::from_secs(2),
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let mut sloth = server.join("sloth").await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;

    // Bob reads everything, as a person would, until alice says she is done.
    let bob_reads = tokio::spawn(async move {
        let mut ids = Vec::new();
        let mut sloth_left = None;
        loop {
            match bob.recv().await {
                ServerMsg::Message { text, .. } if text == "done" => return (ids, sloth_left),
                ServerMsg::Message { id, .. } => ids.push(id),
                ServerMsg::Leave { nick, reason, .. } if nick == "sloth" => {
                    sloth_left = Some(reason)
                }
                other => panic!("bob got {other:?}"),
            }
        }
    });

    // Alice talks, each message paced by its echo, until the server has cut
    // the sloth off. Every echo arriving (within TIMEOUT) is the proof that
    // the sloth never held anybody up.
    let text = "s".repeat(1900);
    let mut echoed = Vec::new();
    let mut sloth_reason = None;
    while sloth_reason.is_none() {
        assert!(echoed.len() < 50_000, "the sloth was never cut off");
        alice.say(&text).await;
        loop {
            match alice.recv().await {
                ServerMsg::Message { id, .. } => {
                    echoed.push(id);
                    break;
                }
                ServerMsg::Leave { nick, reason, .. } if nick == "sloth" => {
                    sloth_reason = Some(reason)
                }
                other => panic!("alice got {other:?}"),
            }
        }
    }
    assert_eq!(sloth_reason.as_deref(), Some("too slow to keep up"));
    alice.say("done").await;

    let (bob_ids, bob_saw) = bob_reads.await.expect("bob read to the end");
    assert_eq!(bob_ids, echoed, "bob got every message, in order");
    assert_eq!(bob_saw.as_deref(), Some("too slow to keep up"));

    // The sloth's connection was closed: reading now reaches EOF, and the
    // server held at most its socket buffers plus one ring for it.
    let limit = 512 * 1024 * 1024;
    let tail = sloth.read_to_end(limit).await;
    assert!(tail.len() < limit, "the sloth's connection ended");
}

#[tokio::test]
async fn a_client_that_floods_requests_without_reading_replies_is_cut_off() {
    let config = Config {
        write_timeout: Duration::from_secs(2),
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let (mut watcher, mut pinger) = server.join_two("watcher", "pinger").await;
    // Pings cost the server a reply each; this client never reads them.
    let pings = r#"{"type":"ping"}"#.to_owned() + "\n";
    let burst = pings.repeat(10_000);
    let mut sent = 0;
    let outcome = tokio::time::timeout(TIMEOUT, async {
        while sent < 200 {
            if pinger.try_send_raw(burst.as_bytes()).await.is_err() {
                break;
            }
            sent += 1;
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "the server kept reading or closed; it never blocked the sender"
    );
    assert_eq!(watcher.expect_leave("pinger").await, "too slow to keep up");
    watcher.expect_alive().await;
}

#[tokio::test]
async fn connections_beyond_the_per_address_cap_are_told_and_closed() {
    let config = Config {
        max_connections_per_ip: 3,
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TestClient::connect(server.addr()).await);
    }
    let mut fourth = TestClient::connect_raw(server.addr()).await;
    fourth.expect_error(ErrorCode::TooManyConnections).await;
    assert!(fourth.expect_closed().await.is_empty());

    // Closing one gives its slot back.
    let mut leaving = held.pop().expect("three held");
    leaving.close_write().await;
    leaving.expect_closed().await;
    connect_until_admitted(&server).await;
}

#[tokio::test]
async fn connections_beyond_the_total_cap_are_told_server_full() {
    let config = Config {
        max_connections: 2,
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let _one = TestClient::connect(server.addr()).await;
    let mut two = TestClient::connect(server.addr()).await;
    let mut three = TestClient::connect_raw(server.addr()).await;
    three.expect_error(ErrorCode::ServerFull).await;
    three.expect_closed().await;
    two.close_write().await;
    two.expect_closed().await;
    connect_until_admitted(&server).await;
}

/// A slot is given back when the server's task for the old connection ends,
/// a moment after the client saw EOF; retry until then, within TIMEOUT.
async fn connect_until_admitted(server: &TestServer) -> TestClient {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let mut client = TestClient::connect_raw(server.addr()).await;
        match client.recv().await {
            ServerMsg::Greeting { .. } => return client,
            ServerMsg::Error { .. } if tokio::time::Instant::now() < deadline => {
                tokio::task::yield_now().await;
            }
            other => panic!("expected to be admitted again, got {other:?}"),
        }
    }
}
