//! Away and back (issue 13, presence): who sees it, where, and the one
//! automatic notice a direct message to someone away gets.

#![allow(clippy::panic)] // A test fails by panicking.

use lanchat_shared::ServerMsg;
use lanchat_tests::{TestClient, TestServer};

/// Reads until an `away` event about `nick`, and returns its text.
async fn away_event(client: &mut TestClient, nick: &str) -> Option<String> {
    loop {
        if let ServerMsg::Away { nick: who, text } = client.recv().await
            && who == nick
        {
            return text;
        }
    }
}

/// Reads until an `info` that starts with `start`.
async fn info_starting(client: &mut TestClient, start: &str) -> String {
    loop {
        if let ServerMsg::Info { text } = client.recv().await
            && text.starts_with(start)
        {
            return text;
        }
    }
}

#[tokio::test]
async fn away_is_seen_in_who_whois_the_welcome_and_once_by_a_direct_message() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    bob.say("/away at lunch").await;
    assert_eq!(
        away_event(&mut alice, "bob").await.as_deref(),
        Some("at lunch")
    );
    assert_eq!(
        away_event(&mut bob, "bob").await.as_deref(),
        Some("at lunch")
    );

    alice.say("/who").await;
    let who = info_starting(&mut alice, "Here in #lobby").await;
    assert_eq!(who, "Here in #lobby (2): alice, bob\nAway: bob (at lunch)");
    alice.say("/whois bob").await;
    let whois = loop {
        if let ServerMsg::Whois { away, text, .. } = alice.recv().await {
            break (away, text);
        }
    };
    assert_eq!(whois.0.as_deref(), Some("at lunch"));
    assert!(whois.1.ends_with("bob: away: at lunch"), "{}", whois.1);

    // A newcomer's welcome says who is away.
    let mut carol = TestClient::connect(server.addr()).await;
    carol.hello("carol").await;
    match carol.recv().await {
        ServerMsg::Welcome { away, .. } => assert_eq!(away, ["bob"]),
        other => panic!("expected a welcome, got {other:?}"),
    }

    // A direct message gets one notice, not one per message.
    for text in ["are you there?", "hello?"] {
        alice.say(&format!("/msg bob {text}")).await;
    }
    assert_eq!(
        info_starting(&mut alice, "bob is away").await,
        "bob is away: at lunch"
    );
    alice.say("/who").await;
    let next = info_starting(&mut alice, "").await;
    assert!(
        next.starts_with("Here in #lobby"),
        "a second notice: {next}"
    );

    bob.send_line(r#"{"type":"away"}"#).await;
    assert_eq!(away_event(&mut alice, "bob").await, None, "back");
    alice.say("/msg bob welcome back").await;
    alice.say("/who").await;
    let next = info_starting(&mut alice, "").await;
    assert_eq!(
        next, "Here in #lobby (3): alice, bob, carol",
        "no notice, no Away line"
    );
}
