//! Rooms, direct messages, actions and nickname changes.

#![allow(clippy::panic)] // A test fails by panicking.

use lanchat_server::Config;
use lanchat_shared::keyfile::ephemeral;
use lanchat_shared::{ErrorCode, ServerMsg};
use lanchat_tests::{TestClient, TestServer, id_of, relaxed_config, text_of};

#[tokio::test]
async fn members_of_a_room_only_receive_that_rooms_traffic() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    let mut bob = server.join("bob").await;
    let mut carol = server.join("carol").await;
    alice.join_room("dev").await;
    bob.join_room("dev").await;
    // Alice hears bob arrive in #dev.
    loop {
        match alice.recv().await {
            ServerMsg::Join { nick, room, .. }
                if nick == "bob" && room.as_deref() == Some("dev") =>
            {
                break;
            }
            ServerMsg::Join { .. } => {}
            other => panic!("alice got {other:?}"),
        }
    }
    alice.say_to(Some("dev"), None, "dev talk", None).await;
    for client in [&mut alice, &mut bob] {
        match client.recv().await {
            ServerMsg::Message {
                from, text, room, ..
            } => {
                assert_eq!(
                    (from.as_str(), text.as_str(), room.as_deref()),
                    ("alice", "dev talk", Some("dev"))
                );
            }
            other => panic!("expected the #dev message, got {other:?}"),
        }
    }
    // Carol, in the lobby only, sees nothing of #dev: the next thing she
    // receives is the answer to her own /who.
    carol.say("/who").await;
    loop {
        match carol.recv().await {
            ServerMsg::Info { text } => {
                assert!(text.contains("#lobby"), "{text}");
                break;
            }
            ServerMsg::Join { room, .. } => assert_eq!(room.as_deref(), Some("lobby")),
            other => panic!("carol must not see #dev traffic, got {other:?}"),
        }
    }
    // A room one is not in is refused, not silently dropped.
    carol.say_to(Some("dev"), None, "let me in", None).await;
    carol.expect_error(ErrorCode::NotInRoom).await;
    carol.say_to(Some("Not A Room"), None, "x", None).await;
    carol.expect_error(ErrorCode::RoomInvalid).await;
}

#[tokio::test]
async fn a_direct_message_reaches_exactly_the_two_people_live_and_in_history() {
    let server = TestServer::start().await;
    // History of direct messages follows identities: both have keys.
    let (alice_key, bob_key) = (ephemeral().unwrap(), ephemeral().unwrap());
    let mut alice = server.join_with_key("alice", &alice_key).await;
    let mut bob = server.join_with_key("bob", &bob_key).await;
    alice.recv().await; // bob's join
    let mut carol = server.join("carol").await;
    alice.recv().await; // carol's join
    bob.recv().await; // carol's join
    alice
        .say_to(None, Some("bob"), "just between us", None)
        .await;
    for client in [&mut alice, &mut bob] {
        match client.recv().await {
            ServerMsg::Message {
                from,
                to,
                room,
                text,
                ..
            } => {
                assert_eq!(
                    (from.as_str(), to.as_deref(), room, text.as_str()),
                    ("alice", Some("bob"), None, "just between us")
                );
            }
            other => panic!("expected the DM, got {other:?}"),
        }
    }
    carol.expect_alive().await;
    alice.say("/msg bob the command form works too").await;
    assert_eq!(text_of(&bob.recv().await), "the command form works too");
    assert_eq!(text_of(&alice.recv().await), "the command form works too");
    carol.expect_alive().await;

    // In history: bob sees his DMs when he comes back; a newcomer does not.
    let dave = server.join("dave").await;
    assert!(dave.history.is_empty(), "{:?}", dave.history);
    bob.say("/quit").await;
    bob.expect_closed().await;
    let bob_again = server.join_with_key("bob", &bob_key).await;
    let texts: Vec<&str> = bob_again.history.iter().map(text_of).collect();
    assert_eq!(texts, vec!["just between us", "the command form works too"]);
    carol.say("/quit").await;
    carol.expect_closed().await;
    let carol_again = TestClient::join(server.addr(), "carol").await;
    assert!(carol_again.history.is_empty(), "{:?}", carol_again.history);

    // Nobody by that name: a clear error.
    alice.say_to(None, Some("nobody"), "hello?", None).await;
    loop {
        match alice.recv().await {
            ServerMsg::Error { code, .. } => {
                assert_eq!(code, ErrorCode::NoSuchUser);
                break;
            }
            ServerMsg::Join { .. } | ServerMsg::Leave { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn me_is_an_action_and_nick_tells_everyone_who_shares_a_room() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    let mut loner = server.join("loner").await;
    alice.recv().await;
    bob.recv().await;
    loner.say("/part lobby").await;
    loner.recv().await; // "You left #lobby."
    loner.join_room("quiet").await;
    // Everyone in the lobby sees loner leave it.
    assert!(matches!(alice.recv().await, ServerMsg::Leave { .. }));
    assert!(matches!(bob.recv().await, ServerMsg::Leave { .. }));

    alice.say("/me waves").await;
    match bob.recv().await {
        ServerMsg::Message {
            from, text, action, ..
        } => {
            assert_eq!(
                (from.as_str(), text.as_str(), action),
                ("alice", "waves", Some(true))
            );
        }
        other => panic!("{other:?}"),
    }
    alice.recv().await;

    alice.say("/nick alicia").await;
    let renamed = ServerMsg::Nick {
        old: "alice".into(),
        new: "alicia".into(),
        owned: None,
    };
    assert_eq!(bob.recv().await, renamed);
    assert_eq!(alice.recv().await, renamed);
    loner.expect_alive().await;
    // The new name is taken now, and the old one is free.
    let mut taker = TestClient::connect(server.addr()).await;
    taker.hello("ALICIA").await;
    taker.expect_error(ErrorCode::NickTaken).await;
    taker.hello("alice").await;
    assert!(matches!(taker.recv().await, ServerMsg::Welcome { .. }));
    assert_eq!(
        bob.recv().await,
        ServerMsg::Join {
            nick: "alice".into(),
            room: Some("lobby".into()),
            owned: None,
        }
    );
    bob.say("/nick alicia").await;
    bob.expect_error(ErrorCode::NickTaken).await;
}

#[tokio::test]
async fn history_on_arrival_is_exactly_the_last_n_in_order() {
    let config = Config {
        history_len: 5,
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let mut alice = server.join("alice").await;
    for i in 0..8 {
        alice.say(&format!("m{i}")).await;
    }
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(alice.recv_chat().await.0);
    }
    let bob = server.join("bob").await;
    let texts: Vec<&str> = bob.history.iter().map(text_of).collect();
    assert_eq!(texts, vec!["m3", "m4", "m5", "m6", "m7"]);
    let replayed: Vec<u64> = bob.history.iter().map(id_of).collect();
    assert_eq!(replayed, ids[3..].to_vec(), "with their original ids");
}

#[tokio::test]
async fn joining_a_room_replays_its_recent_history() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    alice.join_room("dev").await;
    alice
        .say_to(Some("dev"), None, "before bob came", None)
        .await;
    alice.recv_chat().await;
    let mut bob = server.join("bob").await;
    let replay = bob.join_room("dev").await;
    assert_eq!(
        replay.iter().map(text_of).collect::<Vec<_>>(),
        vec!["before bob came"]
    );
    bob.say("/rooms").await;
    match bob.recv().await {
        ServerMsg::Info { text } => assert!(
            text.contains("#dev* (2)") && text.contains("#lobby* (2)"),
            "{text}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_commands_come_from_one_table_and_client_commands_are_not_the_servers() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    // `/query` with text is a direct message, as IRC users expect.
    alice.say("/query bob psst").await;
    for client in [&mut alice, &mut bob] {
        match client.recv().await {
            ServerMsg::Message { to, text, .. } => {
                assert_eq!((to.as_deref(), text.as_str()), (Some("bob"), "psst"));
            }
            other => panic!("expected the direct message, got {other:?}"),
        }
    }
    // The full-screen client's own commands mean nothing to the server.
    alice.say("/CLEAR").await;
    let message = alice.expect_error(ErrorCode::UnknownCommand).await;
    assert!(message.contains("/CLEAR"), "echoed as typed: {message}");
    // Here `/query` is `/msg`, and says so when used wrongly.
    alice.say("/query").await;
    let message = alice.expect_error(ErrorCode::BadRequest).await;
    assert_eq!(message, "Usage: /msg NICK TEXT");
    // `/help` lists what the server does, aligned as the table makes it.
    alice.say("/help").await;
    match alice.recv().await {
        ServerMsg::Info { text } => {
            assert!(text.starts_with("Commands:\n"), "{text}");
            assert!(
                text.contains("\n/join ROOM [KEY]     join (or create) a room"),
                "{text}"
            );
            assert!(!text.contains("/clear"), "{text}");
        }
        other => panic!("expected the help, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rename_is_confirmed_to_whoever_asked_even_in_no_room() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    alice
        .send(&lanchat_shared::ClientMsg::PartRoom {
            room: "lobby".into(),
        })
        .await;
    assert!(matches!(alice.recv().await, ServerMsg::Info { .. }));
    alice.say("/nick alicia").await;
    assert_eq!(
        alice.recv().await,
        ServerMsg::Nick {
            old: "alice".into(),
            new: "alicia".into(),
            owned: None,
        }
    );
}

#[tokio::test]
async fn a_session_reclaimed_under_another_spelling_is_a_rename_for_the_rooms() {
    let server = TestServer::start().await;
    let (_ghost, welcome, _) = TestClient::rejoin(server.addr(), "casea", None, None).await;
    let session = lanchat_tests::session_of(&welcome);
    let mut bob = server.join("bob").await;
    let (_back, welcome, _) = TestClient::rejoin(server.addr(), "CASEA", None, Some(session)).await;
    assert!(matches!(welcome, ServerMsg::Welcome { nick, .. } if nick == "CASEA"));
    assert_eq!(
        bob.recv().await,
        ServerMsg::Nick {
            old: "casea".into(),
            new: "CASEA".into(),
            owned: None,
        }
    );
    bob.say("/who").await;
    match bob.recv().await {
        ServerMsg::Info { text } => assert!(text.ends_with("bob, CASEA"), "{text}"),
        other => panic!("expected /who's answer, got {other:?}"),
    }
}

#[tokio::test]
async fn a_message_is_echoed_and_ordered_before_a_part_that_follows_it_at_once() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    alice.join_room("dev").await;
    bob.join_room("dev").await;
    alice.recv().await; // bob's join of #dev
    // Both lines in one write: the part is read before the say is stored.
    alice
        .send_raw(
            b"{\"type\":\"say\",\"text\":\"bye all\",\"room\":\"dev\",\"client_id\":\"c1\"}\n\
              {\"type\":\"part_room\",\"room\":\"dev\"}\n",
        )
        .await;
    // The echo (a room event) and the answer to the part (a reply) travel
    // apart, so only the events' order is fixed; both must come.
    let (first, second) = (alice.recv().await, alice.recv().await);
    let echo = [&first, &second]
        .into_iter()
        .find(|msg| matches!(msg, ServerMsg::Message { .. }))
        .unwrap_or_else(|| panic!("no echo: {first:?}, {second:?}"));
    assert!(matches!(
        echo,
        ServerMsg::Message { text, client_id: Some(id), .. } if text == "bye all" && id == "c1"
    ));
    assert!(
        [&first, &second]
            .iter()
            .any(|msg| matches!(msg, ServerMsg::Info { text } if text.contains("left #dev"))),
        "{first:?}, {second:?}"
    );
    assert_eq!(
        text_of(&bob.recv().await),
        "bye all",
        "bob: the message first"
    );
    assert_eq!(bob.expect_leave("alice").await, "parted");
}

#[tokio::test]
async fn a_direct_message_is_echoed_and_ordered_before_a_rename_that_follows_it_at_once() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    alice
        .send_raw(
            b"{\"type\":\"say\",\"text\":\"psst\",\"to\":\"bob\",\"client_id\":\"d1\"}\n\
              {\"type\":\"say\",\"text\":\"/nick alicia\"}\n",
        )
        .await;
    let renamed = ServerMsg::Nick {
        old: "alice".into(),
        new: "alicia".into(),
        owned: None,
    };
    for client in [&mut alice, &mut bob] {
        match client.recv().await {
            ServerMsg::Message { from, text, .. } => {
                assert_eq!((from.as_str(), text.as_str()), ("alice", "psst"));
            }
            other => panic!("the message first, under the old name; got {other:?}"),
        }
        assert_eq!(client.recv().await, renamed);
    }
}

/// Asks for the page of history before `before` (in `room`, or the direct
/// messages) and reads it: the texts, oldest first.
async fn older(client: &mut TestClient, before: u64, room: Option<&str>) -> Vec<String> {
    client
        .send(&lanchat_shared::ClientMsg::History {
            before,
            room: room.map(str::to_owned),
        })
        .await;
    let page = client.read_history().await;
    page.iter().map(|m| text_of(m).to_owned()).collect()
}

#[tokio::test]
async fn older_history_comes_a_capped_page_at_a_time_before_an_id() {
    let server = TestServer::with_config(Config {
        history_len: 2,
        ..relaxed_config()
    })
    .await;
    let mut alice = server.join("alice").await;
    let mut ids = Vec::new();
    for i in 1..=5 {
        alice.say(&format!("m{i}")).await;
        ids.push(alice.recv_chat().await.0);
    }
    assert_eq!(older(&mut alice, ids[3], Some("lobby")).await, ["m2", "m3"]);
    assert_eq!(older(&mut alice, ids[1], Some("lobby")).await, ["m1"]);
    assert!(
        older(&mut alice, ids[0], Some("lobby")).await.is_empty(),
        "the start: an empty page"
    );
    alice
        .send(&lanchat_shared::ClientMsg::History {
            before: ids[4],
            room: Some("dev".into()),
        })
        .await;
    alice.expect_error(ErrorCode::NotInRoom).await;
}

#[tokio::test]
async fn older_direct_messages_are_only_the_askers_own() {
    let server = TestServer::start().await;
    // Direct messages belong to identities; a guest asking gets none.
    let mut alice = server.join_with_key("alice", &ephemeral().unwrap()).await;
    let mut bob = server.join_with_key("bob", &ephemeral().unwrap()).await;
    let mut carol = server.join_with_key("carol", &ephemeral().unwrap()).await;
    let mut guest = server.join("dave").await;
    bob.say_to(None, Some("carol"), "for carol only", None)
        .await;
    let id = bob.recv_chat().await.0;
    carol.recv_chat().await;
    alice.say_to(None, Some("bob"), "for bob", None).await;
    alice.recv_chat().await;
    let after = id + 10;
    assert_eq!(older(&mut carol, after, None).await, ["for carol only"]);
    assert_eq!(older(&mut alice, after, None).await, ["for bob"]);
    assert!(older(&mut alice, after, Some("lobby")).await.is_empty());
    assert!(older(&mut guest, after, None).await.is_empty());
}

#[tokio::test]
async fn older_history_leaves_out_what_retention_no_longer_keeps() {
    let server = TestServer::with_config(Config {
        retention: lanchat_server::Retention {
            max_messages: Some(3),
            max_days: None,
        },
        ..relaxed_config()
    })
    .await;
    let mut alice = server.join("alice").await;
    for i in 1..=6 {
        alice.say(&format!("m{i}")).await;
        alice.recv_chat().await;
    }
    assert_eq!(
        older(&mut alice, u64::MAX, Some("lobby")).await,
        ["m4", "m5", "m6"]
    );
}
