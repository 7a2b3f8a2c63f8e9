//! nc, telnet or a five-line script: a client whose first line is not JSON
//! chats in plain text, side by side with JSON clients.

use lanchat_shared::ServerMsg;
use lanchat_tests::{TestClient, TestServer};

/// Connects like `nc`: reads the greeting line, types a nickname.
async fn plain_join(server: &TestServer, nick: &str) -> TestClient {
    let mut client = TestClient::connect_raw(server.addr()).await;
    let greeting = client.recv_line().await;
    assert!(greeting.contains("Type a nickname"), "{greeting}");
    client.send_line("").await; // a stray Enter is ignored
    client.send_line(&format!("  {nick} ")).await;
    let welcome = client.recv_line().await;
    assert!(
        welcome.starts_with(&format!("-- Welcome, {nick}!")),
        "{welcome}"
    );
    let hint = client.recv_line().await;
    assert!(hint.contains("/help"), "{hint}");
    client.nick = nick.to_owned();
    client
}

#[tokio::test]
async fn a_plain_text_client_chats_with_json_clients() {
    let server = TestServer::start().await;
    let mut json = server.join("jason").await;
    let mut plain = plain_join(&server, "netcat").await;
    assert_eq!(
        json.recv().await,
        ServerMsg::Join {
            nick: "netcat".into(),
            room: Some("lobby".into()),
            owned: None,
        }
    );

    json.say("hi from json").await;
    assert_eq!(json.recv_chat().await.2, "hi from json");
    let line = plain.recv_line().await;
    let (clock, rest) = line.split_at(8);
    assert!(
        clock.starts_with('[') && clock.ends_with("] ") && clock.as_bytes()[3] == b':',
        "{line}"
    );
    assert_eq!(rest, "<jason> hi from json");

    plain.send_line("hi from nc").await;
    let (_, from, text) = json.recv_chat().await;
    assert_eq!((from.as_str(), text.as_str()), ("netcat", "hi from nc"));
    assert!(plain.recv_line().await.ends_with("<netcat> hi from nc"));

    plain.send_line("/who").await;
    assert_eq!(
        plain.recv_line().await,
        "-- Here in #lobby (2): jason, netcat"
    );
    plain.send_line("/nope").await;
    let error = plain.recv_line().await;
    assert!(
        error.starts_with("!! Unknown command /nope") && error.ends_with("(unknown_command)"),
        "{error}"
    );

    let mut joiner = server.join("late").await;
    assert_eq!(plain.recv_line().await, "* late joined");
    joiner.say("/quit").await;
    joiner.expect_closed().await;
    assert_eq!(plain.recv_line().await, "* late left (quit)");

    plain.send_line("over").await;
    assert!(plain.expect_closed().await.is_empty());
    assert_eq!(json.expect_leave("netcat").await, "quit");
}

#[tokio::test]
async fn a_plain_text_client_retries_a_taken_or_invalid_nickname() {
    let server = TestServer::start().await;
    let _bob = server.join("bob").await;
    let mut plain = TestClient::connect_raw(server.addr()).await;
    plain.recv_line().await;
    plain.send_line("BOB").await;
    assert_eq!(
        plain.recv_line().await,
        "!! The nickname BOB is taken; try another. (nick_taken)"
    );
    plain.send_line("bob smith").await;
    assert!(plain.recv_line().await.ends_with("(nick_invalid)"));
    plain.send_line("bobby").await;
    assert!(plain.recv_line().await.starts_with("-- Welcome, bobby!"));
}

#[tokio::test]
async fn quit_before_choosing_a_nickname_just_closes() {
    let server = TestServer::start().await;
    let mut plain = TestClient::connect_raw(server.addr()).await;
    plain.recv_line().await;
    plain.send_line("/quit").await;
    assert!(plain.expect_closed().await.is_empty());
}
