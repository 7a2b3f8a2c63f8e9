//! Nobody can be somebody else: owned nicknames, and direct messages and
//! retries that follow identities (TLS client keys) or guest sessions,
//! never spellings — over real TLS connections.

#![allow(clippy::panic)] // A test fails by panicking.

use lanchat_server::Config;
use lanchat_shared::keyfile::{KeyFile, ephemeral};
use lanchat_shared::{ClientMsg, ErrorCode, ServerMsg};
use lanchat_tests::{TestClient, TestServer, on_disk, relaxed_config, text_of};

fn key() -> KeyFile {
    ephemeral().expect("a new key")
}

/// Sends `hello` for `nick` on a fresh connection (TLS with `identity`, or
/// plain) and returns the client with the answer to it.
async fn try_hello(
    server: &TestServer,
    nick: &str,
    identity: Option<&KeyFile>,
    tls: bool,
) -> (TestClient, ServerMsg) {
    let mut client = if tls {
        TestClient::connect_tls_raw(server.addr(), identity).await.0
    } else {
        TestClient::connect_raw(server.addr()).await
    };
    client.hello(nick).await;
    client.expect_greeting().await;
    let answer = client.recv().await;
    (client, answer)
}

fn is_owned_refusal(msg: &ServerMsg) -> bool {
    matches!(
        msg,
        ServerMsg::Error {
            code: ErrorCode::NickOwned,
            ..
        }
    )
}

#[tokio::test]
async fn the_first_key_to_use_a_nickname_owns_it_and_nobody_else_gets_it() {
    let server = TestServer::start().await;
    let alice_key = key();
    let (mut alice, welcome) = try_hello(&server, "alice", Some(&alice_key), true).await;
    assert!(
        matches!(
            &welcome,
            ServerMsg::Welcome {
                owned: Some(true),
                ..
            }
        ),
        "{welcome:?}"
    );
    alice.read_history().await;
    alice.say("/quit").await;
    alice.expect_closed().await;

    // A guest over plain TCP, another key, and TLS without a key: all
    // refused, ignoring case, and each may try another nickname.
    let other = key();
    for (identity, tls, instead) in [
        (None, false, "guest"),
        (Some(&other), true, "other"),
        (None, true, "tls-guest"),
    ] {
        let (mut client, answer) = try_hello(&server, "ALICE", identity, tls).await;
        assert!(is_owned_refusal(&answer), "{answer:?}");
        client.hello(instead).await;
        assert!(matches!(client.recv().await, ServerMsg::Welcome { .. }));
    }
    // The owner gets it back.
    let (_, welcome) = try_hello(&server, "Alice", Some(&alice_key), true).await;
    assert!(matches!(
        welcome,
        ServerMsg::Welcome {
            owned: Some(true),
            ..
        }
    ));
}

#[tokio::test]
async fn the_owner_takes_its_nickname_back_from_its_own_ghost_at_once() {
    let server = TestServer::start().await;
    let alice_key = key();
    let mut ghost = server.join_with_key("alice", &alice_key).await;
    let mut bob = server.join("bob").await;
    assert!(matches!(ghost.recv().await, ServerMsg::Join { .. }));
    // No session token: the key alone proves it is hers.
    let mut alice = server.join_with_key("alice", &alice_key).await;
    ghost.expect_closed().await;
    alice.say("back").await;
    assert_eq!(
        bob.recv_chat().await.2,
        "back",
        "no leave or join in between"
    );
}

#[tokio::test]
async fn a_nickname_taken_with_the_same_nickname_by_a_guest_reads_no_private_history() {
    let server = TestServer::start().await;
    let (alice_key, bob_key) = (key(), key());
    let mut alice = server.join_with_key("alice", &alice_key).await;
    let mut bob = server.join_with_key("bob", &bob_key).await;
    let mut erin = server.join("erin").await; // a guest
    alice.recv().await;
    alice.recv().await;
    bob.recv().await;
    alice.say("/msg bob for bob only").await;
    assert_eq!(text_of(&bob.recv().await), "for bob only");
    alice.say("/msg erin for erin now").await;
    assert_eq!(
        text_of(&erin.recv().await),
        "for erin now",
        "guests get DMs live"
    );
    for client in [bob, erin] {
        let mut client = client;
        client.say("/quit").await;
        client.expect_closed().await;
    }

    // Bob's nickname is his; a newcomer under erin's name, and even a
    // resume from the start, gets neither message.
    let (_, answer) = try_hello(&server, "Bob", None, false).await;
    assert!(is_owned_refusal(&answer), "{answer:?}");
    let resume = ClientMsg::Hello {
        nick: "erin".into(),
        since: Some(0),
        session: None,
        history_id: None,
        password: None,
    };
    let (_, _, replay) = TestClient::rejoin_with(server.addr(), resume).await;
    assert!(replay.is_empty(), "{replay:?}");
    let stranger = server.join_with_key("mallory", &key()).await;
    assert!(stranger.history.is_empty(), "{:?}", stranger.history);

    // Their parties do get them: the recipient and the sender.
    let bob = server.join_with_key("bob", &bob_key).await;
    let texts: Vec<&str> = bob.history.iter().map(text_of).collect();
    assert_eq!(texts, ["for bob only"]);
    alice.say("/quit").await;
    alice.expect_closed().await;
    let alice = server.join_with_key("alice", &alice_key).await;
    let texts: Vec<&str> = alice.history.iter().map(text_of).collect();
    assert_eq!(texts, ["for bob only", "for erin now"]);
}

#[tokio::test]
async fn a_retry_is_matched_within_one_guest_session_never_by_nickname() {
    let server = TestServer::start().await;
    let mut watcher = server.join("watcher").await;
    let mut frank = server.join("frank").await;
    watcher.recv().await;
    frank.say_to(None, None, "first frank", Some("x1")).await;
    let (first_id, _, _) = frank.recv_chat().await;
    watcher.recv_chat().await;
    frank.say("/quit").await;
    frank.expect_closed().await;
    watcher.expect_leave("frank").await;

    // Someone else under the same name, with the same client_id: a new
    // message, not the first one's echo.
    let mut newcomer = server.join("frank").await;
    newcomer
        .say_to(None, None, "second frank", Some("x1"))
        .await;
    let (id, _, text) = newcomer.recv_chat().await;
    assert_eq!(text, "second frank");
    assert_ne!(id, first_id);
    assert_eq!(watcher.recv_chat().await.2, "second frank");
}

/// Reads the `nick` event and the notice that come of a `/nick`, in
/// either order (the notice is a reply, the event goes to everyone);
/// returns the notice.
async fn renamed_with_notice(client: &mut TestClient) -> String {
    let (mut renamed, mut notice) = (false, None);
    while !renamed || notice.is_none() {
        match client.recv().await {
            ServerMsg::Nick { .. } => renamed = true,
            ServerMsg::Info { text } => notice = Some(text),
            other => panic!("expected a rename and a notice, got {other:?}"),
        }
    }
    notice.unwrap_or_default()
}

#[tokio::test]
async fn an_identity_owns_a_few_nicknames_and_can_give_them_up() {
    let config = Config {
        max_owned_nicks: 2,
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let squatter = key();
    let mut client = server.join_with_key("one", &squatter).await;
    client.say("/nick two").await;
    assert!(
        renamed_with_notice(&mut client)
            .await
            .contains("You now own")
    );
    client.say("/nick three").await;
    assert!(
        renamed_with_notice(&mut client)
            .await
            .contains("without owning")
    );
    client.say("/release one").await;
    assert!(
        matches!(client.recv().await, ServerMsg::Info { text } if text.contains("no longer own"))
    );
    client.say("/release one").await;
    client.expect_error(ErrorCode::BadRequest).await;
    client.say("/quit").await;
    client.expect_closed().await;

    // "three" was never owned and "one" was given up; "two" is still theirs.
    for free in ["one", "three"] {
        let (_, answer) = try_hello(&server, free, None, false).await;
        assert!(
            matches!(answer, ServerMsg::Welcome { .. }),
            "{free}: {answer:?}"
        );
    }
    let (_, answer) = try_hello(&server, "two", None, false).await;
    assert!(is_owned_refusal(&answer), "{answer:?}");
}

#[tokio::test]
async fn a_session_token_does_not_bring_a_session_back_for_another_identity() {
    let server = TestServer::start().await;
    let (mut guest, welcome, _) = TestClient::rejoin(server.addr(), "gina", None, None).await;
    let token = lanchat_tests::session_of(&welcome);
    guest.join_room("secret").await;
    guest.say("/quit").await;
    guest.expect_closed().await;

    let (client, _) = TestClient::connect_tls_raw(server.addr(), Some(&key())).await;
    let mut client = client;
    client
        .send(&ClientMsg::Hello {
            nick: "gina".into(),
            since: None,
            session: Some(token.clone()),
            history_id: None,
            password: None,
        })
        .await;
    client.expect_greeting().await;
    match client.recv().await {
        ServerMsg::Welcome { session, rooms, .. } => {
            assert_ne!(session.as_deref(), Some(token.as_str()), "a new session");
            assert_eq!(rooms, ["lobby"], "none of the guest's rooms");
        }
        other => panic!("expected a welcome, got {other:?}"),
    }
}

#[tokio::test]
async fn the_operator_can_free_an_owned_nickname_from_the_command_line_library() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(on_disk(&dir)).await;
    let port = server.addr().port();
    let lost_key = key();
    drop(server.join_with_key("alice", &lost_key).await);
    server.shutdown().await;
    let config = on_disk(&dir);
    assert!(lanchat_server::release_nick(&config, "ALICE").unwrap());
    assert!(
        !lanchat_server::release_nick(&config, "alice").unwrap(),
        "once"
    );

    let server = TestServer::on_port(port, on_disk(&dir)).await;
    let (_, answer) = try_hello(&server, "alice", None, false).await;
    assert!(matches!(answer, ServerMsg::Welcome { .. }), "{answer:?}");
}

#[tokio::test]
async fn direct_messages_stored_before_identities_are_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(on_disk(&dir)).await;
    // A row as an older lanchat stored it: nicknames, no identities.
    let db = rusqlite::Connection::open(dir.path().join("history.db")).unwrap();
    db.execute(
        "INSERT INTO messages (ts, sender, sender_key, recipient, recipient_key, text)
         VALUES (1, 'alice', 'alice', 'bob', 'bob', 'old secret')",
        [],
    )
    .unwrap();
    drop(db);
    let resume = ClientMsg::Hello {
        nick: "bob".into(),
        since: Some(0),
        session: None,
        history_id: None,
        password: None,
    };
    let (client, _) = TestClient::connect_tls_raw(server.addr(), Some(&key())).await;
    let mut client = client;
    client.send(&resume).await;
    client.expect_greeting().await;
    assert!(matches!(client.recv().await, ServerMsg::Welcome { .. }));
    let replay = client.read_history().await;
    assert!(replay.is_empty(), "{replay:?}");
}

#[tokio::test]
async fn whois_tells_a_key_owner_from_a_guest_and_the_welcome_lists_the_owners() {
    let server = TestServer::start().await;
    let alice_key = key();
    let mut alice = server.join_with_key("alice", &alice_key).await;
    let mut bob = server.join("bob").await;
    alice.recv().await; // bob's join
    let (_carol, welcome) = try_hello(&server, "carol", None, false).await;
    match welcome {
        ServerMsg::Welcome { users, owners, .. } => {
            assert_eq!(users, ["alice", "bob", "carol"]);
            assert_eq!(owners, ["alice"], "only alice is a verified owner");
        }
        other => panic!("expected a welcome, got {other:?}"),
    }
    for client in [&mut alice, &mut bob] {
        assert!(matches!(client.recv().await, ServerMsg::Join { nick, .. } if nick == "carol"));
    }
    bob.say("/whois ALICE").await;
    match bob.recv().await {
        ServerMsg::Whois {
            nick,
            identity,
            owned,
            encrypted,
            rooms,
            text,
            ..
        } => {
            assert_eq!(nick, "alice");
            assert_eq!(identity, Some(alice_key.fingerprint.to_string()));
            assert!(owned && encrypted, "{text}");
            assert_eq!(rooms, ["lobby"]);
            assert!(text.contains(alice_key.fingerprint.as_str()), "{text}");
        }
        other => panic!("expected whois, got {other:?}"),
    }
    alice.send_line(r#"{"type":"whois","nick":"bob"}"#).await;
    match alice.recv().await {
        ServerMsg::Whois {
            identity,
            owned,
            encrypted,
            text,
            ..
        } => {
            assert_eq!((identity, owned, encrypted), (None, false, false));
            assert!(
                text.contains("guest") && text.contains("NOT encrypted"),
                "{text}"
            );
        }
        other => panic!("expected whois, got {other:?}"),
    }
    bob.say("/whois nobody").await;
    bob.expect_error(ErrorCode::NoSuchUser).await;
}

#[tokio::test]
async fn joins_and_renames_say_which_nicknames_are_owned_by_their_holder() {
    let server = TestServer::start().await;
    let mut watcher = server.join("watcher").await;
    let alice_key = key();
    let mut alice = server.join_with_key("alice", &alice_key).await;
    let owned_join = watcher.recv().await;
    assert_eq!(
        owned_join,
        ServerMsg::Join {
            nick: "alice".into(),
            room: Some("lobby".into()),
            owned: Some(true),
        }
    );
    assert!(
        owned_join.to_line().ends_with(b"\"owned\":true}\n"),
        "{:?}",
        String::from_utf8_lossy(&owned_join.to_line())
    );
    let _guest = server.join("guest").await;
    assert!(matches!(
        watcher.recv().await,
        ServerMsg::Join { nick, owned: None, .. } if nick == "guest"
    ));
    alice.recv().await; // The guest's join.

    // A new nickname for a key is owned by it once claimed.
    alice.say("/nick alicia").await;
    assert!(matches!(
        watcher.recv().await,
        ServerMsg::Nick { new, owned: Some(true), .. } if new == "alicia"
    ));
    // Entering a room later says so too.
    let mut visitor = server.join("visitor").await;
    visitor.join_room("dev").await;
    alice.say("/join dev").await;
    let joined_dev = loop {
        if let ServerMsg::Join { nick, room, owned } = visitor.recv().await
            && room.as_deref() == Some("dev")
        {
            break (nick, owned);
        }
    };
    assert_eq!(joined_dev, ("alicia".to_owned(), Some(true)));
}

#[tokio::test]
async fn nick_owned_retried_in_a_loop_is_cut_short_and_disturbs_nobody() {
    let server = TestServer::with_config(Config::default()).await;
    let alice_key = key();
    let mut alice = server.join_with_key("alice", &alice_key).await;
    let mut squatter = TestClient::connect_raw(server.addr()).await;
    let hello = ClientMsg::Hello {
        nick: "alice".into(),
        since: None,
        session: None,
        history_id: None,
        password: None,
    }
    .to_line();
    // A thousand tries at once, never reading: the server answers a few,
    // refuses the rest as too fast, and cuts off a client that reads none
    // of its answers, as it would any flood.
    let burst: Vec<u8> = hello.repeat(1000);
    let _ = squatter.try_send_raw(&burst).await;
    let mut answers = Vec::new();
    while let Some(line) = squatter.try_recv_line().await {
        let answer = ServerMsg::parse(line.as_bytes()).expect("a server line");
        assert!(
            !matches!(answer, ServerMsg::Welcome { .. }),
            "the squatter got alice"
        );
        if let ServerMsg::Error { code, .. } = answer {
            answers.push(code);
        }
    }
    let owned = answers
        .iter()
        .filter(|&&c| c == ErrorCode::NickOwned)
        .count();
    assert!(owned < 100, "{owned} tries were answered as if at leisure");
    assert!(
        answers
            .iter()
            .any(|c| matches!(c, ErrorCode::RateLimited | ErrorCode::SlowConsumer)),
        "{answers:?}"
    );
    // Alice and a newcomer never noticed.
    alice.say("still mine").await;
    assert_eq!(alice.recv_chat().await.2, "still mine");
    let mut newcomer = server.join("newcomer").await;
    newcomer.say("hello").await;
    assert_eq!(newcomer.recv_chat().await.2, "hello");
}
