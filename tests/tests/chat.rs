//! Protocol v1 as users see it: joining, talking, ordering, leaving.

#![allow(clippy::panic)] // A test fails by panicking.

use lanchat_shared::{ClientMsg, ErrorCode, ServerMsg};
use lanchat_tests::{TestClient, TestServer};

#[tokio::test]
async fn a_message_reaches_everyone_with_the_sender_echo() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    let mut bob = server.join("bob").await;
    assert_eq!(
        alice.recv().await,
        ServerMsg::Join {
            nick: "bob".into(),
            room: Some("lobby".into()),
            owned: None,
        }
    );

    alice.say("hi bob").await;
    for client in [&mut alice, &mut bob] {
        match client.recv().await {
            ServerMsg::Message {
                id,
                ts,
                from,
                text,
                room,
                ..
            } => {
                assert_eq!(room.as_deref(), Some("lobby"));
                assert_eq!((from.as_str(), text.as_str()), ("alice", "hi bob"));
                assert!(id >= 1);
                assert!(ts > 1_600_000_000_000, "ts is Unix milliseconds: {ts}");
            }
            other => panic!("expected the message, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn welcome_lists_everyone_present() {
    let server = TestServer::start().await;
    let _carol = server.join("carol").await;
    let _alice = server.join("Alice").await;
    let mut bob = TestClient::connect(server.addr()).await;
    bob.hello("bob").await;
    match bob.recv().await {
        ServerMsg::Welcome {
            nick,
            users,
            rooms,
            session,
            gap,
            history_id,
            owned,
            owners,
            away,
        } => {
            assert!(away.is_empty(), "nobody is away");
            assert_eq!(owned, None, "a guest owns nothing");
            assert!(owners.is_empty(), "all guests: {owners:?}");
            assert_eq!(nick, "bob");
            assert_eq!(users, vec!["Alice", "bob", "carol"]);
            assert_eq!(rooms, vec!["lobby"]);
            assert_eq!(session.map(|s| s.len()), Some(32), "a 128-bit token in hex");
            assert_eq!(gap, None);
            let history_id = history_id.expect("a history id");
            assert!(
                history_id.len() == 16 && history_id.chars().all(|c| c.is_ascii_hexdigit()),
                "{history_id}"
            );
        }
        other => panic!("expected a welcome, got {other:?}"),
    }
    assert_eq!(bob.recv().await, ServerMsg::HistoryEnd {});
}

#[tokio::test]
async fn every_client_sees_the_same_order_and_increasing_ids() {
    let server = TestServer::start().await;
    let listeners = 40;
    let senders = 5;
    let per_sender = 20;
    let mut readers = Vec::new();
    for i in 0..listeners {
        readers.push(server.join(&format!("reader{i}")).await);
    }
    let mut writers = Vec::new();
    for i in 0..senders {
        writers.push(server.join(&format!("writer{i}")).await);
    }
    // All senders at once, so their messages interleave on the server.
    let sends = writers.into_iter().enumerate().map(|(i, mut w)| {
        tokio::spawn(async move {
            for n in 0..per_sender {
                w.say(&format!("w{i} n{n}")).await;
            }
            w
        })
    });
    let _writers: Vec<TestClient> = futures_join(sends).await;

    let total = senders * per_sender;
    let collect = readers.into_iter().map(|mut r| {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while seen.len() < total {
                seen.push(r.recv_chat().await);
            }
            seen
        })
    });
    let views: Vec<Vec<(u64, String, String)>> = futures_join(collect).await;
    let first = &views[0];
    assert!(
        first.windows(2).all(|w| w[0].0 < w[1].0),
        "ids strictly increase"
    );
    for view in &views {
        assert_eq!(view, first, "every client sees the same sequence");
    }
    // Each sender's own messages arrive in the order it sent them.
    for i in 0..senders {
        let mine: Vec<&str> = first
            .iter()
            .filter(|(_, from, _)| *from == format!("writer{i}"))
            .map(|(_, _, text)| text.as_str())
            .collect();
        let sent: Vec<String> = (0..per_sender).map(|n| format!("w{i} n{n}")).collect();
        assert_eq!(mine, sent);
    }
}

async fn futures_join<T: Send + 'static>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("task finished"));
    }
    out
}

#[tokio::test]
async fn the_server_stamps_sender_id_and_time() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    alice
        .send_line(r#"{"type":"say","text":"trust me","from":"bob","id":0,"ts":1}"#)
        .await;
    alice.say("second").await;
    let (id1, from1, _) = bob.recv_chat().await;
    let (id2, from2, _) = bob.recv_chat().await;
    assert_eq!((from1.as_str(), from2.as_str()), ("alice", "alice"));
    assert!(
        id1 >= 1 && id2 == id1 + 1,
        "server ids, not the client's: {id1} {id2}"
    );
    match alice.recv().await {
        ServerMsg::Message { ts, .. } => assert_ne!(ts, 1),
        other => panic!("expected the echo, got {other:?}"),
    }
}

#[tokio::test]
async fn two_messages_in_one_write_are_two_messages() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    let both = [
        ClientMsg::say("one").to_line(),
        ClientMsg::say("two").to_line(),
    ]
    .concat();
    alice.send_raw(&both).await;
    assert_eq!(alice.recv_chat().await.2, "one");
    assert_eq!(alice.recv_chat().await.2, "two");
}

#[tokio::test]
async fn a_message_split_into_single_bytes_is_one_message() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    let line = ClientMsg::say("slowly, 慢慢地").to_line();
    for byte in line.iter() {
        alice.send_raw(&[*byte]).await;
    }
    assert_eq!(alice.recv_chat().await.2, "slowly, 慢慢地");
}

#[tokio::test]
async fn crlf_line_endings_are_accepted() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    alice
        .send_raw(b"{\"type\":\"say\",\"text\":\"telnet style\"}\r\n")
        .await;
    assert_eq!(alice.recv_chat().await.2, "telnet style");
}

#[tokio::test]
async fn nick_rules_are_enforced_and_a_retry_on_the_same_connection_works() {
    let server = TestServer::start().await;
    let _alice = server.join("Alice").await;
    let mut client = TestClient::connect(server.addr()).await;
    for bad in [
        "",
        "has space",
        "seventeen_chars_x",
        "e\u{1b}[31m",
        "émile",
        "server",
        "SYSTEM",
    ] {
        client.hello(bad).await;
        client.expect_error(ErrorCode::NickInvalid).await;
    }
    client.hello("alice").await;
    let message = client.expect_error(ErrorCode::NickTaken).await;
    assert!(message.contains("alice"), "{message}");
    client.hello("alice2").await;
    assert!(matches!(client.recv().await, ServerMsg::Welcome { nick, .. } if nick == "alice2"));
}

#[tokio::test]
async fn a_nickname_is_free_again_once_its_owner_left() {
    let server = TestServer::start().await;
    let mut watcher = server.join("watcher").await;
    let alice = server.join("alice").await;
    watcher.recv().await; // alice's join
    alice.reset();
    watcher.expect_leave("alice").await;
    let _again = server.join("ALICE").await;
}

#[tokio::test]
async fn every_way_of_leaving_tells_the_others() {
    let server = TestServer::start().await;
    let mut watcher = server.join("watcher").await;

    let mut quitter = server.join("quitter").await;
    quitter.send(&ClientMsg::Quit { reason: None }).await;
    assert!(quitter.expect_closed().await.is_empty());
    assert_eq!(watcher.expect_leave("quitter").await, "quit");

    let mut slash = server.join("slash").await;
    slash.say("/quit gone fishing").await;
    slash.expect_closed().await;
    assert_eq!(watcher.expect_leave("slash").await, "quit: gone fishing");

    let mut over = server.join("over_and_out").await;
    over.say("over").await;
    over.expect_closed().await;
    assert_eq!(watcher.expect_leave("over_and_out").await, "quit");

    let mut eof = server.join("eof").await;
    eof.close_write().await;
    eof.expect_closed().await;
    assert_eq!(watcher.expect_leave("eof").await, "connection closed");

    let reset = server.join("reset").await;
    reset.reset();
    let reason = watcher.expect_leave("reset").await;
    assert!(
        reason == "connection lost" || reason == "connection closed",
        "{reason}"
    );

    // Nobody leaves twice, and the watcher's stream is in order: the next
    // thing it gets is its own pong.
    watcher.expect_alive().await;
}

#[tokio::test]
async fn game_over_is_a_message_not_a_quit() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    alice.say("game over").await;
    assert_eq!(alice.recv_chat().await.2, "game over");
    alice.expect_alive().await;
}

#[tokio::test]
async fn who_and_help_answer_only_the_asker() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    alice.say("/who").await;
    match alice.recv().await {
        ServerMsg::Info { text } => {
            assert!(text.contains("alice") && text.contains("bob"), "{text}")
        }
        other => panic!("expected /who's answer, got {other:?}"),
    }
    alice.say("/help").await;
    match alice.recv().await {
        ServerMsg::Info { text } => {
            for command in ["/who", "/help", "/quit", "over"] {
                assert!(text.contains(command), "help mentions {command}: {text}");
            }
        }
        other => panic!("expected /help's answer, got {other:?}"),
    }
    // Bob saw none of it.
    bob.expect_alive().await;
}

#[tokio::test]
async fn an_unknown_command_is_refused_and_not_broadcast() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    alice.say("/rm -rf /").await;
    let message = alice.expect_error(ErrorCode::UnknownCommand).await;
    assert!(message.contains("/rm"), "{message}");
    bob.expect_alive().await;
    // A doubled slash sends the text itself.
    alice.say("//rm is not a command").await;
    assert_eq!(bob.recv_chat().await.2, "/rm is not a command");
}

#[tokio::test]
async fn ping_is_answered_before_and_after_hello() {
    let server = TestServer::start().await;
    let mut client = TestClient::connect(server.addr()).await;
    client.expect_alive().await;
    client.hello("pinger").await;
    assert!(matches!(client.recv().await, ServerMsg::Welcome { .. }));
    assert!(client.read_history().await.is_empty());
    client.expect_alive().await;
}

#[tokio::test]
async fn hundreds_of_clients_at_once_all_get_the_message() {
    let server = TestServer::start().await;
    let count = 300;
    let joins = (0..count).map(|i| {
        let addr = server.addr();
        tokio::spawn(async move { TestClient::join(addr, &format!("user{i}")).await })
    });
    let mut clients = Vec::new();
    for join in joins {
        clients.push(join.await.expect("joined"));
    }
    let mut speaker = server.join("speaker").await;
    speaker.say("hello, everyone").await;
    let receives = clients.into_iter().map(|mut c| {
        tokio::spawn(async move {
            let (_, from, text) = c.recv_chat().await;
            assert_eq!(
                (from.as_str(), text.as_str()),
                ("speaker", "hello, everyone")
            );
        })
    });
    for receive in receives {
        receive.await.expect("every client got it");
    }
}
