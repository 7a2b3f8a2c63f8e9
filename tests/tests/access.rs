//! Keeping a server to its people: `--password` for JSON and plain-text
//! clients, and `--allow`, over real connections.

#![allow(clippy::panic)] // A test fails by panicking.

use lanchat_server::{Config, Secret};
use lanchat_shared::keyfile::ephemeral;
use lanchat_shared::{ClientMsg, ErrorCode, ServerMsg};
use lanchat_tests::{TestClient, TestServer, relaxed_config};

fn with_password() -> Config {
    Config {
        password: Some(Secret::new("open sesame")),
        ..relaxed_config()
    }
}

fn hello(nick: &str, password: Option<&str>) -> ClientMsg {
    ClientMsg::Hello {
        nick: nick.into(),
        since: None,
        session: None,
        history_id: None,
        password: password.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_json_client_gives_the_password_in_hello_and_three_wrong_ones_close() {
    let server = TestServer::with_config(with_password()).await;
    let mut client = TestClient::connect_raw(server.addr()).await;
    client.send(&hello("alice", None)).await;
    client.expect_greeting().await;
    let message = client.expect_error(ErrorCode::BadPassword).await;
    assert!(message.contains("\"password\""), "{message}");
    client.send(&hello("alice", Some("open sesame"))).await;
    assert!(matches!(client.recv().await, ServerMsg::Welcome { .. }));

    let mut guesser = TestClient::connect_raw(server.addr()).await;
    guesser.send(&hello("mallory", Some("guess 1"))).await;
    guesser.expect_greeting().await;
    guesser.expect_error(ErrorCode::BadPassword).await;
    guesser.send(&hello("mallory", Some("guess 2"))).await;
    guesser.expect_error(ErrorCode::BadPassword).await;
    guesser.send(&hello("mallory", Some("guess 3"))).await;
    let message = guesser.expect_error(ErrorCode::BadPassword).await;
    assert!(message.contains("too many"), "{message}");
    assert!(guesser.expect_closed().await.is_empty());
}

#[tokio::test]
async fn a_plain_text_client_is_asked_for_the_password_after_its_nickname() {
    let server = TestServer::with_config(with_password()).await;
    let mut client = TestClient::connect_raw(server.addr()).await;
    client.send_line("dave").await;
    client.expect_greeting().await;
    assert!(client.recv_line().await.contains("needs a password"));
    client.send_line("open says me").await;
    let wrong = client.recv_line().await;
    assert!(
        wrong.contains("Wrong password") && wrong.contains("bad_password"),
        "{wrong}"
    );
    client.send_line("open sesame").await;
    assert!(client.recv_line().await.contains("Welcome, dave!"));
}

#[tokio::test]
async fn only_the_listed_identities_get_in_and_guests_are_told_not_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (listed, other) = (ephemeral().unwrap(), ephemeral().unwrap());
    let allow = dir.path().join("allow");
    std::fs::write(&allow, format!("# team\n{}\n", listed.fingerprint)).unwrap();
    let config = Config {
        allow_file: Some(allow),
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let mut member = server.join_with_key("alice", &listed).await;
    member.say("in").await;
    assert_eq!(member.recv_chat().await.2, "in");

    let (mut stranger, _) = TestClient::connect_tls_raw(server.addr(), Some(&other)).await;
    stranger.expect_error(ErrorCode::NotAllowed).await;
    assert!(stranger.expect_closed().await.is_empty());
    let mut guest = TestClient::connect_raw(server.addr()).await;
    guest.send_line("bob").await;
    let message = guest.expect_error(ErrorCode::NotAllowed).await;
    assert!(message.contains("fingerprint"), "{message}");
}

#[tokio::test]
async fn an_address_that_keeps_guessing_is_turned_away_at_its_first_wrong_guess() {
    let server = TestServer::with_config(with_password()).await;
    // Ten wrong guesses spend the address's budget (over several
    // connections, since each takes only three)...
    for guess in 0..10 {
        let mut guesser = TestClient::connect_raw(server.addr()).await;
        guesser
            .send(&hello("mallory", Some(&format!("guess {guess}"))))
            .await;
        guesser.expect_greeting().await;
        guesser.expect_error(ErrorCode::BadPassword).await;
    }
    // ...after which one wrong guess closes a new connection at once.
    let mut guesser = TestClient::connect_raw(server.addr()).await;
    guesser.send(&hello("mallory", Some("guess 11"))).await;
    guesser.expect_greeting().await;
    let message = guesser.expect_error(ErrorCode::BadPassword).await;
    assert!(message.contains("too many"), "{message}");
    assert!(guesser.expect_closed().await.is_empty());
    // The right password still works.
    let mut friend = TestClient::connect_raw(server.addr()).await;
    friend.send(&hello("friend", Some("open sesame"))).await;
    friend.expect_greeting().await;
    assert!(matches!(friend.recv().await, ServerMsg::Welcome { .. }));
}
