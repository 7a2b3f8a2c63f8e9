//! Several servers sharing one Redis (`--redis`): one order, one history
//! and one set of ids, whichever server a client uses. Each test starts
//! its own `redis-server` (see `lanchat_tests::redis`) and two lanchat
//! servers in this process, and drives real clients over TCP.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lanchat_shared::keyfile::{KeyFile, ephemeral};
use lanchat_shared::{ErrorCode, ServerMsg};
use lanchat_tests::redis::RedisServer;
use lanchat_tests::{TestClient, TestServer, id_of, on_disk, session_of, sharing, text_of};

/// Two servers on one Redis, or `None` when the test is skipped.
async fn two_servers() -> Option<(RedisServer, TestServer, TestServer)> {
    let redis = RedisServer::start()?;
    let a = TestServer::with_config(sharing(&redis)).await;
    let b = TestServer::with_config(sharing(&redis)).await;
    Some((redis, a, b))
}

/// Reads `count` chat messages, skipping other events (joins, roles, the
/// topic of a room joined); returns (id, from, text) of each.
async fn chats(client: &mut TestClient, count: usize) -> Vec<(u64, String, String)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        if let ServerMsg::Message { id, from, text, .. } = client.recv().await {
            seen.push((id, from, text));
        }
    }
    seen
}

#[tokio::test]
async fn messages_sent_on_two_servers_reach_both_with_the_same_ids_in_one_order() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let mut alice = a.join("alice").await;
    let mut bob = b.join("bob").await;
    // Neither waits for the other: the two servers append at the same time.
    for round in 0..5 {
        alice.say(&format!("alice {round}")).await;
        bob.say(&format!("bob {round}")).await;
    }
    let seen_by_alice = chats(&mut alice, 10).await;
    let seen_by_bob = chats(&mut bob, 10).await;
    assert_eq!(seen_by_alice, seen_by_bob, "one order for everybody");
    let ids: Vec<u64> = seen_by_alice.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>(), "one sequence of ids");
    for sender in ["alice", "bob"] {
        let texts: Vec<&str> = seen_by_alice
            .iter()
            .filter(|(_, from, _)| from == sender)
            .map(|(_, _, text)| text.as_str())
            .collect();
        let sent: Vec<String> = (0..5).map(|round| format!("{sender} {round}")).collect();
        assert_eq!(texts, sent, "{sender}'s messages, in the order sent");
    }
}

#[tokio::test]
async fn a_newcomer_on_one_server_is_shown_what_was_said_on_the_other() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let mut alice = a.join("alice").await;
    alice.say("said on A").await;
    let (id, _, _) = alice.recv_chat().await;
    let bob = b.join("bob").await;
    let history: Vec<(u64, &str)> = bob.history.iter().map(|m| (id_of(m), text_of(m))).collect();
    assert_eq!(history, [(id, "said on A")]);
}

#[tokio::test]
async fn a_client_resumes_on_the_other_server_with_the_id_it_had() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let (mut alice, welcome, _) = TestClient::rejoin(a.addr(), "alice", None, None).await;
    let session = session_of(&welcome);
    let mut carol = a.join("carol").await;
    alice.say("before").await;
    let (seen, _, _) = alice.recv_chat().await;
    drop(alice);
    for text in ["missed 1", "missed 2"] {
        carol.say(text).await;
    }
    let missed = chats(&mut carol, 3).await;
    let (mut alice, welcome, replay) =
        TestClient::rejoin(b.addr(), "alice", Some(seen), Some(session)).await;
    assert!(
        matches!(welcome, ServerMsg::Welcome { gap: None, .. }),
        "no gap: {welcome:?}"
    );
    let mut got: Vec<(u64, String)> = replay
        .iter()
        .map(|m| (id_of(m), text_of(m).to_owned()))
        .collect();
    // B's reader may not have read all of them when alice arrived: then
    // the rest come live, right after the replay.
    while got.len() < 2 {
        if let ServerMsg::Message { id, text, .. } = alice.recv().await {
            got.push((id, text));
        }
    }
    let expected: Vec<(u64, String)> = missed[1..]
        .iter()
        .map(|(id, _, text)| (*id, text.clone()))
        .collect();
    assert_eq!(got, expected, "what A stored after the id, from B");
    // Each once: nothing more came before the answer to a ping.
    alice.expect_alive().await;
}

#[tokio::test]
async fn a_retry_on_the_other_server_is_stored_once() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let mut watcher = b.join("watcher").await;
    let (mut alice, welcome, _) = TestClient::rejoin(a.addr(), "alice", None, None).await;
    let session = session_of(&welcome);
    alice
        .say_to(Some("lobby"), None, "only once", Some("retry-1"))
        .await;
    let first = alice.recv().await;
    assert!(matches!(&first, ServerMsg::Message { client_id: Some(c), .. } if c == "retry-1"));
    drop(alice);
    // The connection was lost before the echo arrived, as far as alice
    // knows: she sends again, on the other server, under her session.
    let (mut alice, welcome, _) =
        TestClient::rejoin(b.addr(), "alice", None, Some(session.clone())).await;
    assert_eq!(session_of(&welcome), session, "the session, reclaimed on B");
    alice
        .say_to(Some("lobby"), None, "only once", Some("retry-1"))
        .await;
    let again = loop {
        match alice.recv().await {
            msg @ ServerMsg::Message { .. } => break msg,
            _ => continue,
        }
    };
    assert_eq!(
        id_of(&again),
        id_of(&first),
        "the retry is told the first's id"
    );
    watcher.say("after").await;
    let seen = chats(&mut watcher, 2).await;
    let texts: Vec<&str> = seen.iter().map(|(_, _, text)| text.as_str()).collect();
    assert_eq!(texts, ["only once", "after"], "stored and shown once");
}

#[tokio::test]
async fn without_redis_messages_and_hellos_are_refused_and_nothing_is_lost() {
    let Some((mut redis, a, b)) = two_servers().await else {
        return;
    };
    let mut alice = a.join("alice").await;
    let mut bob = b.join("bob").await;
    alice.say("before").await;
    let (before, _, _) = bob.recv_chat().await;
    alice.recv_chat().await;
    redis.kill();
    alice
        .say_to(Some("lobby"), None, "while down", Some("down-1"))
        .await;
    let refusal = alice.expect_error(ErrorCode::StoreUnavailable).await;
    assert!(refusal.contains("Redis"), "says what is missing: {refusal}");
    let mut late = TestClient::connect_raw(b.addr()).await;
    late.hello("late").await;
    late.expect_greeting().await;
    let refusal = late.expect_error(ErrorCode::StoreUnavailable).await;
    assert!(refusal.contains("Redis"), "{refusal}");

    redis.restart();
    // Both stayed connected. Alice retries, as a client does after
    // `store_unavailable`, until her message goes through.
    let echo = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            alice
                .say_to(Some("lobby"), None, "while down", Some("down-1"))
                .await;
            match alice.recv().await {
                ServerMsg::Error {
                    code: ErrorCode::StoreUnavailable,
                    ..
                } => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => break other,
            }
        }
    })
    .await
    .expect("stored within 10 s of Redis's return");
    assert_eq!(id_of(&echo), before + 1, "the next id: {echo:?}");
    // Bob sees it once, and nothing else came in between.
    alice.say("marker").await;
    let seen = chats(&mut bob, 2).await;
    let seen: Vec<(u64, &str)> = seen.iter().map(|(id, _, t)| (*id, t.as_str())).collect();
    assert_eq!(seen, [(before + 1, "while down"), (before + 2, "marker")]);
}

#[tokio::test]
async fn a_redis_that_lost_messages_is_refused_rather_than_ids_given_out_again() {
    let Some((redis, a, _b)) = two_servers().await else {
        return;
    };
    let mut alice = a.join("alice").await;
    for text in ["one", "two"] {
        alice.say(text).await;
    }
    let seen = chats(&mut alice, 2).await;
    assert_eq!(seen.last().map(|(id, _, _)| *id), Some(2));
    // As if Redis came back from an old copy of its data.
    assert!(redis.command(&["FLUSHALL"]).starts_with("+OK"));
    alice.say("three").await;
    let refusal = alice.expect_error(ErrorCode::StoreUnavailable).await;
    assert!(refusal.contains("lost"), "{refusal}");
    alice.expect_alive().await;
    // A server started now serves what Redis holds, a new history from id
    // 1; once its ids pass those A has seen, A still refuses: the history
    // it served is gone.
    let fresh = TestServer::with_config(sharing(&redis)).await;
    let mut carol = fresh.join("carol").await;
    for text in ["new one", "new two", "new three"] {
        carol.say(text).await;
    }
    let ids: Vec<u64> = chats(&mut carol, 3)
        .await
        .iter()
        .map(|(id, _, _)| *id)
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    alice.say("four").await;
    let refusal = alice.expect_error(ErrorCode::StoreUnavailable).await;
    assert!(refusal.contains("no longer holds the history"), "{refusal}");
}

#[tokio::test]
async fn direct_message_history_goes_to_its_two_identities_on_any_server() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let (alice_key, bob_key, carol_key) = (key(), key(), key());
    let mut alice = a.join_with_key("alice", &alice_key).await;
    let bob = a.join_with_key("bob", &bob_key).await;
    // A room message names its sender's identity too, but is no direct
    // message: it must not come back to alice outside the room.
    alice.join_room("dev").await;
    alice.say_to(Some("dev"), None, "in dev", None).await;
    alice.say_to(None, Some("bob"), "for bob alone", None).await;
    let (id, _, _) = chats(&mut alice, 2).await[1].clone();
    drop((alice, bob));
    let alice = b.join_with_key("alice", &alice_key).await;
    let history: Vec<(u64, &str)> = alice
        .history
        .iter()
        .map(|m| (id_of(m), text_of(m)))
        .collect();
    assert_eq!(history, [(id, "for bob alone")], "her DM, not #dev");
    // Bob comes back on the other server, under the same key but with no
    // session: his direct messages follow his key.
    let bob = b.join_with_key("bob", &bob_key).await;
    let history: Vec<(u64, &str)> = bob.history.iter().map(|m| (id_of(m), text_of(m))).collect();
    assert_eq!(history, [(id, "for bob alone")]);
    let carol = b.join_with_key("carol", &carol_key).await;
    assert!(carol.history.is_empty(), "{:?}", carol.history);
    let mut guest = b.join("bob-guest").await;
    assert!(guest.history.is_empty(), "{:?}", guest.history);
    // Asked for, a guest's direct-message history is empty, not an error.
    guest
        .send(&lanchat_shared::ClientMsg::History {
            before: u64::MAX,
            room: None,
        })
        .await;
    assert_eq!(guest.recv().await, ServerMsg::HistoryEnd {});
}

#[tokio::test]
async fn a_nickname_owned_through_one_server_is_owned_on_the_other() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let alice_key = key();
    drop(a.join_with_key("alice", &alice_key).await);
    let mut guest = TestClient::connect_raw(b.addr()).await;
    guest.hello("Alice").await;
    guest.expect_greeting().await;
    guest.expect_error(ErrorCode::NickOwned).await;
    // Its owner takes it on the other server.
    let alice = b.join_with_key("alice", &alice_key).await;
    drop(alice);
}

#[tokio::test]
async fn a_room_founded_and_given_a_topic_on_one_server_keeps_both_on_the_other() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let mut alice = a.join_with_key("alice", &key()).await;
    alice.join_room("dev").await;
    alice.say("/topic Shared plans").await;
    loop {
        if let ServerMsg::Topic { text, .. } = alice.recv().await {
            assert_eq!(text, "Shared plans");
            break;
        }
    }
    let mut bob = b.join_with_key("bob", &key()).await;
    // Joiners are shown the topic.
    bob.join_room("dev").await;
    let topic = loop {
        if let ServerMsg::Topic { text, by, .. } = bob.recv().await {
            break (text, by);
        }
    };
    assert_eq!(topic, ("Shared plans".into(), Some("alice".into())));
    // Alice founded the room, through A: on B, bob is not its operator.
    bob.say("/topic mine now").await;
    loop {
        match bob.recv().await {
            ServerMsg::Error { code, .. } => {
                assert_eq!(code, ErrorCode::NoPermission);
                break;
            }
            ServerMsg::Topic { text, .. } => panic!("bob set the topic to {text}"),
            _ => {}
        }
    }
    // What alice changes through A reaches bob on B as it happens: a new
    // topic, and bob made an operator beside her.
    alice.say("/topic Next plans").await;
    let topic = loop {
        if let ServerMsg::Topic { text, .. } = bob.recv().await {
            break text;
        }
    };
    assert_eq!(topic, "Next plans");
    alice.say("/op bob").await;
    let role = loop {
        if let msg @ ServerMsg::Role { .. } = bob.recv().await {
            break msg;
        }
    };
    assert_eq!(
        role,
        ServerMsg::Role {
            room: "dev".into(),
            nick: "bob".into(),
            operator: true
        }
    );
    // A kick through A puts bob out of #dev on B: he and alice are told.
    alice.say("/kick bob enough").await;
    for client in [&mut bob, &mut alice] {
        let reason = loop {
            if let ServerMsg::Leave { nick, reason, .. } = client.recv().await {
                assert_eq!(nick, "bob");
                break reason;
            }
        };
        assert_eq!(reason, "kicked by alice: enough", "{}", client.nick);
    }
    // A mute is kept by the server it is given on: refused, saying why.
    bob.join_room("dev").await;
    while !matches!(alice.recv().await, ServerMsg::Join { nick, .. } if nick == "bob") {}
    alice.say("/mute bob").await;
    let refusal = loop {
        if let ServerMsg::Error { code, message, .. } = alice.recv().await {
            break (code, message);
        }
    };
    assert_eq!(refusal.0, ErrorCode::NoSuchUser);
    assert!(refusal.1.contains("another server"), "{}", refusal.1);
}

fn key() -> KeyFile {
    ephemeral().expect("a new key")
}

#[tokio::test]
async fn a_sqlite_history_moves_into_redis_with_its_ids_owners_and_rooms() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (alice_key, bob_key) = (key(), key());
    let alone = TestServer::with_config(on_disk(&dir)).await;
    let (mut alice, _) = TestClient::connect_tls_raw(alone.addr(), Some(&alice_key)).await;
    alice.hello("alice").await;
    alice.expect_greeting().await;
    let ServerMsg::Welcome { history_id, .. } = alice.recv().await else {
        panic!("alice is welcome");
    };
    alice.read_history().await;
    let bob = alone.join_with_key("bob", &bob_key).await;
    alice.join_room("dev").await;
    alice.say_to(Some("dev"), None, "in dev", None).await;
    alice.say_to(None, Some("bob"), "for bob", None).await;
    alice.say("in the lobby").await;
    let said: Vec<u64> = chats(&mut alice, 3)
        .await
        .iter()
        .map(|(id, _, _)| *id)
        .collect();
    assert_eq!(said, [1, 2, 3]);
    drop((alice, bob));
    alone.shutdown().await;

    let copied =
        lanchat_server::migrate_from_sqlite(&sharing(&redis), &dir.path().join("history.db"))
            .expect("migrated");
    assert_eq!((copied.messages, copied.last_id), (3, 3), "{copied:?}");
    assert!(copied.owners >= 2 && copied.rooms >= 1, "{copied:?}");
    let again =
        lanchat_server::migrate_from_sqlite(&sharing(&redis), &dir.path().join("history.db"));
    assert!(again.is_err(), "a second copy would mix histories");

    let shared = TestServer::with_config(sharing(&redis)).await;
    // Bob resumes as after a restart: same history, same ids, his DM.
    let hello = lanchat_shared::ClientMsg::Hello {
        nick: "bob".into(),
        since: Some(0),
        session: None,
        history_id,
        password: None,
    };
    let (mut bob, _) = TestClient::connect_tls_raw(shared.addr(), Some(&bob_key)).await;
    bob.send(&hello).await;
    bob.expect_greeting().await;
    assert!(matches!(
        bob.recv().await,
        ServerMsg::Welcome { gap: None, .. }
    ));
    let replay = bob.read_history().await;
    let replay: Vec<(u64, &str)> = replay.iter().map(|m| (id_of(m), text_of(m))).collect();
    assert_eq!(
        replay,
        [(2, "for bob"), (3, "in the lobby")],
        "bob's rooms and DMs"
    );
    // Alice still owns her nickname, founded #dev, and the ids go on.
    let mut guest = TestClient::connect_raw(shared.addr()).await;
    guest.hello("alice").await;
    guest.expect_greeting().await;
    guest.expect_error(ErrorCode::NickOwned).await;
    let mut alice = shared.join_with_key("alice", &alice_key).await;
    alice.say("after the move").await;
    assert_eq!(alice.recv_chat().await.0, 4);
}

#[tokio::test]
async fn a_last_word_comes_before_the_part_that_follows_it() {
    let Some((_redis, a, _b)) = two_servers().await else {
        return;
    };
    let mut alice = a.join("alice").await;
    let mut bob = a.join("bob").await;
    bob.join_room("dev").await;
    alice.join_room("dev").await;
    for round in 0..20 {
        let text = format!("bye {round}");
        alice.say_to(Some("dev"), None, &text, None).await;
        alice
            .send(&lanchat_shared::ClientMsg::PartRoom { room: "dev".into() })
            .await;
        // Bob hears the word, then the part, as on a server alone: the
        // server holds the part until the word is published.
        loop {
            match bob.recv().await {
                ServerMsg::Message { text: said, .. } => {
                    assert_eq!(said, text);
                    break;
                }
                ServerMsg::Join { .. } => {}
                other => panic!("round {round}: {other:?} before the word"),
            }
        }
        assert!(
            matches!(bob.recv().await, ServerMsg::Leave { .. }),
            "then the part"
        );
        // Alice has her echo and the part's confirmation to read.
        while !matches!(alice.recv().await, ServerMsg::Info { text } if text.starts_with("You left"))
        {
        }
        alice.join_room("dev").await;
    }
}

#[tokio::test]
async fn a_message_redis_was_too_slow_to_confirm_is_uncertain_and_its_retry_is_stored_once() {
    let Some((redis, a, b)) = two_servers().await else {
        return;
    };
    let mut alice = a.join("alice").await;
    let mut bob = b.join("bob").await;
    alice.expect_join("bob").await;
    // Longer than the server waits for a reply (5 s): the server cannot
    // tell whether Redis will still run the append.
    redis.stall(6);
    alice
        .say_to(Some("lobby"), None, "slow", Some("slow-1"))
        .await;
    let refusal = alice.expect_error(ErrorCode::StoreUnavailable).await;
    assert!(refusal.contains("not known whether"), "{refusal}");
    assert!(
        redis.command(&["PING"]).starts_with("+PONG"),
        "Redis is back"
    );
    // So alice sends it again, and it is stored (and shown) once.
    alice
        .say_to(Some("lobby"), None, "slow", Some("slow-1"))
        .await;
    let echo = loop {
        if let msg @ ServerMsg::Message { .. } = alice.recv().await {
            break msg;
        }
    };
    alice.say("marker").await;
    let seen = chats(&mut bob, 2).await;
    let seen: Vec<(u64, &str)> = seen.iter().map(|(id, _, t)| (*id, t.as_str())).collect();
    assert_eq!(seen, [(id_of(&echo), "slow"), (id_of(&echo) + 1, "marker")]);
}

#[tokio::test]
async fn a_resume_longer_than_the_limit_replays_the_newest_and_says_gap() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = TestServer::with_config(sharing(&redis)).await;
    let b = TestServer::with_config(lanchat_server::Config {
        resume_limit: 3,
        ..sharing(&redis)
    })
    .await;
    let (mut alice, welcome, _) = TestClient::rejoin(a.addr(), "alice", None, None).await;
    let session = session_of(&welcome);
    let mut carol = a.join("carol").await;
    carol.join_room("dev").await;
    alice.join_room("dev").await;
    alice.say("seen").await;
    let (seen, _, _) = alice.recv_chat().await;
    drop(alice);
    // Six more, in two rooms, then a resume that may replay three.
    for round in 0..3 {
        carol.say(&format!("lobby {round}")).await;
        carol
            .say_to(Some("dev"), None, &format!("dev {round}"), None)
            .await;
    }
    let sent = chats(&mut carol, 7).await;
    let (_, welcome, replay) =
        TestClient::rejoin(b.addr(), "alice", Some(seen), Some(session)).await;
    assert!(
        matches!(
            welcome,
            ServerMsg::Welcome {
                gap: Some(true),
                ..
            }
        ),
        "{welcome:?}"
    );
    let replayed: Vec<u64> = replay.iter().map(id_of).collect();
    let newest: Vec<u64> = sent[4..].iter().map(|(id, _, _)| *id).collect();
    assert_eq!(replayed, newest, "the newest three of both rooms");
}

/// Says hello as `nick` on `server` until it is welcome (a nickname being
/// freed among the servers), within `within`; returns the client.
async fn join_when_free(server: &TestServer, nick: &str, within: Duration) -> TestClient {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mut client = TestClient::connect_raw(server.addr()).await;
        client.hello(nick).await;
        client.expect_greeting().await;
        let answer = client.recv().await;
        if matches!(answer, ServerMsg::Welcome { .. }) {
            client.nick = nick.to_owned();
            client.history = client.read_history().await;
            return client;
        }
        let taken = matches!(
            answer,
            ServerMsg::Error {
                code: ErrorCode::NickTaken,
                ..
            }
        );
        assert!(taken, "{nick}: {answer:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "{nick} was not freed within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_nickname_in_use_on_one_server_is_taken_on_the_other_until_it_leaves() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let alice = a.join("alice").await;
    let mut impostor = TestClient::connect_raw(b.addr()).await;
    impostor.hello("ALICE").await;
    impostor.expect_greeting().await;
    let refusal = impostor.expect_error(ErrorCode::NickTaken).await;
    assert!(refusal.contains("another server"), "{refusal}");
    drop(alice);
    // Freed as soon as A sees her go.
    join_when_free(&b, "alice", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_session_takes_its_nickname_back_from_a_ghost_on_the_other_server() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let (mut ghost, welcome, _) = TestClient::rejoin(a.addr(), "alice", None, None).await;
    let session = session_of(&welcome);
    // Her connection to A is still open (as after a network change A has
    // not noticed yet) when she comes back through B.
    let (_alice, welcome, _) =
        TestClient::rejoin(b.addr(), "alice", None, Some(session.clone())).await;
    assert_eq!(session_of(&welcome), session);
    ghost.expect_closed().await;
    // Nobody else can take it from her.
    let mut impostor = TestClient::connect_raw(a.addr()).await;
    impostor.hello("alice").await;
    impostor.expect_greeting().await;
    impostor.expect_error(ErrorCode::NickTaken).await;
}

#[tokio::test]
async fn the_nicknames_of_a_server_that_stopped_without_a_word_are_freed_within_the_lease() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let _alice = a.join("alice").await;
    // A stops serving without releasing anything, as if killed: its lease
    // (10 s) runs out, and B frees its nicknames at its next renewal.
    drop(a);
    join_when_free(&b, "alice", Duration::from_secs(25)).await;
}

/// Whether a hello as `nick` on `server` is refused as taken.
async fn taken_on(server: &TestServer, nick: &str) -> bool {
    let mut client = TestClient::connect_raw(server.addr()).await;
    client.hello(nick).await;
    client.expect_greeting().await;
    matches!(
        client.recv().await,
        ServerMsg::Error {
            code: ErrorCode::NickTaken,
            ..
        }
    )
}

#[tokio::test]
async fn a_nickname_recorded_for_a_server_none_of_whose_connections_holds_it_is_freed() {
    let Some((redis, a, b)) = two_servers().await else {
        return;
    };
    let _alice = a.join("alice").await;
    let record = redis.command(&["HGET", "lanchat:online", "alice"]);
    let name = record
        .lines()
        .nth(1)
        .and_then(|held| held.split(' ').next());
    let name = name.expect("alice's record names A").to_owned();
    // As if Redis had taken a claim of "ghost" through A whose answer was
    // lost: the connection was refused, and nobody on A holds it.
    let value = format!("{name} - - 0 ghost -");
    for words in [
        ["HSET", "lanchat:online", "ghost", &value].as_slice(),
        &["SADD", &format!("lanchat:online:{name}"), "ghost"],
    ] {
        assert!(!redis.command(words).starts_with('-'), "{words:?}");
    }
    assert!(taken_on(&b, "ghost").await, "held for A");
    // A frees it once it has seen it unheld at two renewals (every 2.5 s).
    join_when_free(&b, "ghost", Duration::from_secs(15)).await;
    assert!(
        taken_on(&b, "alice").await,
        "alice, whom A holds, stays A's"
    );
}

/// One client's burst: `count` messages, each sent until it is echoed
/// (retried with the same `client_id` after `store_unavailable`, as a
/// client does); returns the (id, text) of each echo, and counts refusals.
async fn burst(
    mut client: TestClient,
    name: String,
    count: usize,
    echoed: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
) -> Vec<(u64, String)> {
    let mut stored: Vec<(u64, String)> = Vec::new();
    for i in 0..count {
        let text = format!("{name}-{i}");
        'sending: loop {
            client.say_to(Some("lobby"), None, &text, Some(&text)).await;
            loop {
                match client.recv().await {
                    ServerMsg::Message {
                        id,
                        client_id: Some(confirmed),
                        ..
                    } => {
                        if confirmed == text {
                            stored.push((id, text.clone()));
                            echoed.fetch_add(1, Ordering::SeqCst);
                            break 'sending;
                        }
                        // A message refused as uncertain was stored after
                        // all: its echo comes too, besides the answer to
                        // its retry, and names the same id.
                        let first = stored.iter().find(|(_, t)| *t == confirmed);
                        assert_eq!(first.map(|(id, _)| *id), Some(id), "{confirmed}");
                    }
                    ServerMsg::Error {
                        client_id: Some(refused_id),
                        ..
                    } if refused_id == text => break,
                    _ => {}
                }
            }
            refused.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stored
}

/// Waits until `condition` holds, failing the test after `within`.
async fn wait_until(what: &str, within: Duration, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn redis_killed_during_a_burst_loses_no_echoed_message_and_repeats_no_id() {
    let Some((mut redis, a, b)) = two_servers().await else {
        return;
    };
    let (echoed, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut senders = Vec::new();
    for (index, server) in [&a, &b, &a, &b].into_iter().enumerate() {
        let name = format!("sender{index}");
        let client = server.join(&name).await;
        let (echoed, refused) = (Arc::clone(&echoed), Arc::clone(&refused));
        senders.push(tokio::spawn(burst(client, name, 40, echoed, refused)));
    }
    wait_until("some messages stored", Duration::from_secs(10), || {
        echoed.load(Ordering::SeqCst) >= 20
    })
    .await;
    redis.kill();
    wait_until("some messages refused", Duration::from_secs(10), || {
        refused.load(Ordering::SeqCst) >= 4
    })
    .await;
    redis.restart();
    let mut stored = Vec::new();
    for sender in senders {
        stored.extend(
            tokio::time::timeout(Duration::from_secs(30), sender)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(stored.len(), 160);
    // What Redis keeps, read back through a server: every echoed message,
    // once, with the id its sender was told, ids one increasing sequence.
    let (_, _, replay) = TestClient::rejoin(a.addr(), "reader", Some(0), None).await;
    let kept: Vec<(u64, String)> = replay
        .iter()
        .map(|m| (id_of(m), text_of(m).to_owned()))
        .collect();
    let ids: Vec<u64> = kept.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids,
        (1..=160).collect::<Vec<u64>>(),
        "no id repeated or skipped"
    );
    stored.sort();
    assert_eq!(kept, stored, "every echoed message kept, and only those");
}

#[tokio::test]
async fn a_server_that_fell_behind_the_trimmed_log_cuts_its_clients_who_resume_with_a_gap() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = TestServer::with_config(sharing(&redis)).await;
    let (mut alice, welcome, _) = TestClient::rejoin(a.addr(), "alice", None, None).await;
    let session = session_of(&welcome);
    alice.say("one").await;
    let (seen, _, _) = alice.recv_chat().await;
    // As if retention had trimmed ids 2 to 4 before this server read them:
    // the next entry it reads is id 5.
    let history = redis.command(&["GET", "lanchat:history_id"]);
    let history = history.lines().nth(1).expect("the history's name");
    let body = r#"{"ts":1,"from":"bob","room":"lobby","text":"after the gap"}"#;
    for words in [
        vec!["SET", "lanchat:next_id", "5"],
        vec!["SET", "lanchat:pruned_through", "4"],
        vec![
            "XADD",
            "lanchat:log",
            "5-0",
            "t",
            "1",
            "m",
            body,
            "o",
            "",
            "h",
            history,
        ],
    ] {
        assert!(!redis.command(&words).starts_with('-'), "{words:?}");
    }
    let lines = alice.expect_closed().await;
    assert!(
        lines
            .iter()
            .any(|line| line.contains("fell behind the shared log")),
        "told why: {lines:?}"
    );
    assert!(
        !lines.iter().any(|line| line.contains("after the gap")),
        "not shown what follows the gap: {lines:?}"
    );
    // Back with her last id, she is told that some of it is gone.
    let mut alice = TestClient::connect_raw(a.addr()).await;
    alice
        .send(&lanchat_shared::ClientMsg::Hello {
            nick: "alice".into(),
            since: Some(seen),
            session: Some(session),
            history_id: None,
            password: None,
        })
        .await;
    alice.expect_greeting().await;
    let mut told = matches!(
        alice.recv().await,
        ServerMsg::Welcome {
            gap: Some(true),
            ..
        }
    );
    loop {
        match alice.recv().await {
            ServerMsg::HistoryEnd {} => break,
            ServerMsg::Info { text } => told |= text.contains("removed by retention"),
            _ => {}
        }
    }
    assert!(told, "told of the gap");
}

#[tokio::test]
async fn a_ban_and_a_private_room_made_through_one_server_hold_on_the_other() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let bob_key = key();
    let mut alice = a.join_with_key("alice", &key()).await;
    alice.join_room("dev").await;
    let mut bob = b.join_with_key("bob", &bob_key).await;
    bob.join_room("dev").await;
    // Alice founded #dev through A and bans bob's key from it there.
    alice.say(&format!("/ban {}", bob_key.fingerprint)).await;
    loop {
        match bob.recv().await {
            ServerMsg::Leave { nick, room, reason } if nick == "bob" => {
                assert_eq!(room.as_deref(), Some("dev"));
                assert!(reason.contains("banned by alice"), "{reason}");
                break;
            }
            _ => {}
        }
    }
    bob.send(&lanchat_shared::ClientMsg::JoinRoom {
        room: "dev".into(),
        key: None,
    })
    .await;
    let refusal = loop {
        if let ServerMsg::Error { code, .. } = bob.recv().await {
            break code;
        }
    };
    assert_eq!(refusal, ErrorCode::Banned, "kept out of #dev on B too");
    // And #dev made private through A is private on B.
    alice.say("/private on").await;
    let mut carol = b.join_with_key("carol", &key()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        carol
            .send(&lanchat_shared::ClientMsg::JoinRoom {
                room: "dev".into(),
                key: None,
            })
            .await;
        let answer = loop {
            match carol.recv().await {
                ServerMsg::Error { code, .. } => break Some(code),
                ServerMsg::HistoryEnd {} => break None,
                _ => {}
            }
        };
        if answer == Some(ErrorCode::InviteOnly) {
            break;
        }
        // Not private yet on B: out again, and ask once more.
        assert!(tokio::time::Instant::now() < deadline, "#dev private on B");
        carol
            .send(&lanchat_shared::ClientMsg::PartRoom { room: "dev".into() })
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn retention_does_not_trim_the_log_past_what_a_live_server_has_read() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = TestServer::with_config(lanchat_server::Config {
        retention: lanchat_server::Retention {
            max_messages: Some(3),
            max_days: None,
        },
        ..sharing(&redis)
    })
    .await;
    // Another server, alive (its lease held), whose reader is at id 2.
    for words in [
        ["SADD", "lanchat:servers", "lagging"].as_slice(),
        &["SET", "lanchat:lease:lagging", "1", "EX", "60"],
        &["SET", "lanchat:reader:lagging", "2", "EX", "60"],
    ] {
        assert!(!redis.command(words).starts_with('-'), "{words:?}");
    }
    let mut alice = a.join("alice").await;
    // Retention runs every thousand appends.
    for i in 0..1001 {
        alice.say(&format!("m{i}")).await;
    }
    chats(&mut alice, 1001).await;
    wait_until("retention to run", Duration::from_secs(10), || {
        !redis
            .command(&["GET", "lanchat:pruned_through"])
            .starts_with("$-1")
    })
    .await;
    let first = redis.command(&["XRANGE", "lanchat:log", "-", "+", "COUNT", "1"]);
    assert!(
        first.contains("\r\n3-0\r\n"),
        "the log keeps what the lagging reader has not read: {first:?}"
    );
}

#[tokio::test]
async fn a_direct_message_reaches_its_recipient_on_the_other_server_and_nobody_else() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let bob_key = key();
    let mut alice = a.join_with_key("alice", &key()).await;
    let mut bob = b.join_with_key("Bob", &bob_key).await;
    let mut carol = b.join("carol").await;
    alice.expect_join("carol").await;
    alice.say_to(None, Some("bob"), "for bob alone", None).await;
    let (id, from, text) = bob.recv_chat().await;
    assert_eq!((from.as_str(), text.as_str()), ("alice", "for bob alone"));
    let echo = alice.recv().await;
    assert!(
        matches!(&echo, ServerMsg::Message { to: Some(to), .. } if to == "Bob"),
        "addressed as its holder spells it: {echo:?}"
    );
    // Carol, beside bob on B, sees nothing of it.
    carol.expect_alive().await;
    // And it is bob's history on any server, being his key's.
    drop(bob);
    let bob = a.join_with_key("Bob", &bob_key).await;
    let history: Vec<u64> = bob.history.iter().map(id_of).collect();
    assert_eq!(history, [id]);
    // Nobody by that name anywhere: refused.
    alice.say_to(None, Some("nobody"), "hello?", None).await;
    let refusal = loop {
        if let ServerMsg::Error { code, .. } = alice.recv().await {
            break code;
        }
    };
    assert_eq!(refusal, ErrorCode::NoSuchUser);
}

#[tokio::test]
async fn a_server_whose_lease_ran_out_cuts_its_clients_who_claim_their_nicknames_again() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = TestServer::with_config(sharing(&redis)).await;
    let mut alice = a.join("alice").await;
    // As if A had stalled for longer than its lease and been reaped.
    let servers = redis.command(&["SMEMBERS", "lanchat:servers"]);
    let name = servers.lines().nth(2).expect("A's name").to_owned();
    for words in [
        ["DEL", &format!("lanchat:lease:{name}")].as_slice(),
        &["SREM", "lanchat:servers", &name],
        &["HDEL", "lanchat:online", "alice"],
    ] {
        assert!(!redis.command(words).starts_with('-'), "{words:?}");
    }
    let lines = alice.expect_closed().await;
    assert!(
        lines.iter().any(|line| line.contains("lost its hold")),
        "told why: {lines:?}"
    );
    // Back, she holds "alice" among the servers again.
    let _alice = join_when_free(&a, "alice", Duration::from_secs(5)).await;
    let b = TestServer::with_config(sharing(&redis)).await;
    let mut impostor = TestClient::connect_raw(b.addr()).await;
    impostor.hello("alice").await;
    impostor.expect_greeting().await;
    impostor.expect_error(ErrorCode::NickTaken).await;
}

#[tokio::test]
async fn a_nickname_taken_again_on_the_same_server_stays_taken_on_the_other() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    for round in 0..10 {
        let first = join_when_free(&a, "alice", Duration::from_secs(5)).await;
        drop(first);
        // Someone else takes it on A the moment it is free there, while
        // the first connection's release may still be on its way.
        let _second = join_when_free(&a, "alice", Duration::from_secs(5)).await;
        let mut impostor = TestClient::connect_raw(b.addr()).await;
        impostor.hello("alice").await;
        impostor.expect_greeting().await;
        let answer = impostor.recv().await;
        assert!(
            matches!(
                answer,
                ServerMsg::Error {
                    code: ErrorCode::NickTaken,
                    ..
                }
            ),
            "round {round}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn renaming_to_a_nickname_ones_other_connection_holds_elsewhere_is_refused() {
    let Some((_redis, a, b)) = two_servers().await else {
        return;
    };
    let alice_key = key();
    let mut on_b = b.join_with_key("alice", &alice_key).await;
    let mut on_a = a.join_with_key("alice2", &alice_key).await;
    on_b.expect_join("alice2").await;
    on_a.say("/nick alice").await;
    let refusal = loop {
        if let ServerMsg::Error { code, .. } = on_a.recv().await {
            break code;
        }
    };
    assert_eq!(refusal, ErrorCode::NickTaken, "as on a server alone");
    on_b.expect_alive().await;
}
