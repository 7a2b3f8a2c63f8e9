//! History that survives: restarts, resumes, retries and ghosts, over a
//! real SQLite file.

#![allow(clippy::panic)] // A test fails by panicking.

use lanchat_server::Config;
use lanchat_server::{DbLocation, Retention, Server};
use lanchat_shared::{ClientMsg, ErrorCode, ServerMsg};
use lanchat_tests::{TestClient, TestServer, id_of, on_disk, relaxed_config, session_of, text_of};

#[tokio::test]
async fn messages_sent_before_a_graceful_restart_are_history_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(on_disk(&dir)).await;
    let port = server.addr().port();
    let mut alice = server.join("alice").await;
    let mut sent = Vec::new();
    for text in ["one", "two", "three"] {
        alice.say(text).await;
        sent.push(alice.recv_chat().await);
    }
    server.shutdown().await;

    let server = TestServer::on_port(port, on_disk(&dir)).await;
    let bob = server.join("bob").await;
    let replayed: Vec<(u64, String, String)> = bob
        .history
        .iter()
        .map(|m| match m {
            ServerMsg::Message { id, from, text, .. } => (*id, from.clone(), text.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(replayed, sent, "same ids, same order");
    // Ids keep increasing across the restart.
    let mut bob = bob;
    bob.say("after").await;
    assert!(bob.recv_chat().await.0 > sent[2].0);
}

#[tokio::test]
async fn a_resume_replays_exactly_what_was_missed_once() {
    let server = TestServer::start().await;
    let (mut alice, welcome, _) = TestClient::rejoin(server.addr(), "alice", None, None).await;
    let session = session_of(&welcome);
    let mut bob = server.join("bob").await;
    alice.recv().await; // bob's join
    bob.say("seen by alice").await;
    let last_seen = alice.recv_chat().await.0;
    alice.say("/quit").await;
    alice.expect_closed().await;
    bob.recv_chat().await;

    let mut missed = Vec::new();
    for i in 0..4 {
        bob.say(&format!("missed {i}")).await;
        missed.push(bob.recv_chat().await);
    }
    let (mut alice, welcome, replay) =
        TestClient::rejoin(server.addr(), "alice", Some(last_seen), Some(session)).await;
    assert!(
        matches!(welcome, ServerMsg::Welcome { gap: None, .. }),
        "{welcome:?}"
    );
    let replayed: Vec<(u64, &str)> = replay.iter().map(|m| (id_of(m), text_of(m))).collect();
    let expected: Vec<(u64, &str)> = missed
        .iter()
        .map(|(id, _, text)| (*id, text.as_str()))
        .collect();
    assert_eq!(replayed, expected);
    // Live traffic continues after the replay, nothing twice.
    bob.say("live again").await;
    assert_eq!(alice.recv_chat().await.2, "live again");
}

#[tokio::test]
async fn a_retried_client_id_is_stored_once_and_answered_with_the_same_id() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    alice.say_to(None, None, "exactly once", Some("c-1")).await;
    let first = alice.recv().await;
    assert!(
        matches!(&first, ServerMsg::Message { client_id: Some(c), .. } if c == "c-1"),
        "{first:?}"
    );
    assert_eq!(bob.recv_chat().await.2, "exactly once");

    alice.say_to(None, None, "exactly once", Some("c-1")).await;
    let retry = alice.recv().await;
    assert_eq!(
        id_of(&retry),
        id_of(&first),
        "the same message, the same id"
    );
    bob.expect_alive().await; // and bob saw no second copy

    let newcomer = TestClient::join(server.addr(), "carol").await;
    assert_eq!(
        newcomer.history.len(),
        1,
        "stored once: {:?}",
        newcomer.history
    );
}

#[tokio::test]
async fn a_session_token_reclaims_a_ghost_and_its_rooms() {
    let server = TestServer::start().await;
    let (mut ghost, welcome, _) = TestClient::rejoin(server.addr(), "alice", None, None).await;
    let session = session_of(&welcome);
    ghost.join_room("dev").await;
    let mut bob = server.join("bob").await;
    ghost.recv().await; // bob's join

    // Without the token the nickname is still taken.
    let mut impostor = TestClient::connect(server.addr()).await;
    impostor.hello("alice").await;
    impostor.expect_error(ErrorCode::NickTaken).await;
    // With it, the new connection takes over at once; the ghost is closed.
    let (mut alice, welcome, _) =
        TestClient::rejoin(server.addr(), "alice", None, Some(session.clone())).await;
    match &welcome {
        ServerMsg::Welcome {
            rooms,
            session: again,
            ..
        } => {
            assert_eq!(rooms, &vec!["dev".to_owned(), "lobby".to_owned()]);
            assert_eq!(again.as_ref(), Some(&session));
        }
        other => panic!("{other:?}"),
    }
    ghost.expect_closed().await;
    // Nobody saw alice leave and come back.
    bob.expect_alive().await;
    bob.say("still there, alice?").await;
    assert_eq!(alice.recv_chat().await.2, "still there, alice?");
    alice.say_to(Some("dev"), None, "back in #dev", None).await;
    assert_eq!(alice.recv_chat().await.2, "back in #dev");
}

#[tokio::test]
async fn a_bad_since_is_a_clear_error_or_a_gap() {
    let server = TestServer::start().await;
    let mut client = TestClient::connect(server.addr()).await;
    for bad in [
        r#"{"type":"hello","nick":"x","since":-1}"#,
        r#"{"type":"hello","nick":"x","since":"abc"}"#,
        r#"{"type":"hello","nick":"x","since":1.5}"#,
    ] {
        client.send_line(bad).await;
        let message = client.expect_error(ErrorCode::BadRequest).await;
        assert!(
            message.contains("since") || message.contains("invalid"),
            "{message}"
        );
    }
    client
        .send(&ClientMsg::Hello {
            nick: "x".into(),
            since: Some(u64::MAX),
            session: None,
            history_id: None,
            password: None,
        })
        .await;
    // An id this server never gave out comes from another history.
    assert!(matches!(
        client.recv().await,
        ServerMsg::Welcome {
            gap: Some(true),
            ..
        }
    ));
    assert!(
        client.read_history().await.is_empty(),
        "nothing to replay yet"
    );
    // A made-up session token is ignored, not an error.
    let (_, welcome, _) =
        TestClient::rejoin(server.addr(), "y", None, Some("not-a-session".into())).await;
    assert_ne!(session_of(&welcome), "not-a-session");
}

#[tokio::test]
async fn a_resume_past_what_retention_kept_says_gap() {
    let dir = tempfile::tempdir().unwrap();
    let small = || Config {
        retention: Retention {
            max_messages: Some(3),
            max_days: None,
        },
        ..on_disk(&dir)
    };
    let server = TestServer::with_config(small()).await;
    let port = server.addr().port();
    let mut alice = server.join("alice").await;
    for i in 0..10 {
        alice.say(&format!("m{i}")).await;
        alice.recv_chat().await;
    }
    server.shutdown().await;
    // Retention runs at start: only the newest three remain.
    let server = TestServer::on_port(port, small()).await;
    let (_, welcome, replay) = TestClient::rejoin(server.addr(), "bob", Some(0), None).await;
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
    assert_eq!(
        replay.iter().map(text_of).collect::<Vec<_>>(),
        vec!["m7", "m8", "m9"]
    );
}

#[tokio::test]
async fn a_running_server_serves_nothing_past_the_retention_limit() {
    let server = TestServer::with_config(Config {
        retention: Retention {
            max_messages: Some(5),
            max_days: None,
        },
        ..relaxed_config()
    })
    .await;
    let mut alice = server.join("alice").await;
    for i in 0..20 {
        alice.say(&format!("m{i}")).await;
        alice.recv_chat().await;
    }
    // No restart and far fewer than a thousand appends: retention has not
    // deleted anything yet, and still only the newest five are served.
    let newest: Vec<String> = (15..20).map(|i| format!("m{i}")).collect();
    let bob = server.join("bob").await;
    assert_eq!(bob.history.iter().map(text_of).collect::<Vec<_>>(), newest);
    let (_, welcome, replay) = TestClient::rejoin(server.addr(), "carol", Some(0), None).await;
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
    assert_eq!(replay.iter().map(text_of).collect::<Vec<_>>(), newest);
}

#[tokio::test]
async fn a_damaged_database_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    std::fs::write(
        &path,
        b"this is not a database, just some text that is long enough",
    )
    .unwrap();
    let config = Config {
        db: DbLocation::File(path),
        ..relaxed_config()
    };
    let error = explained(&Server::open(config).unwrap_err());
    assert!(error.contains("message database"), "{error}");
    assert!(error.contains("not a database"), "{error}");
}

#[tokio::test]
async fn an_unusable_database_location_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, b"a file where a directory should be").unwrap();
    let config = Config {
        db: DbLocation::File(blocker.join("history.db")),
        ..relaxed_config()
    };
    let text = explained(&Server::open(config).unwrap_err());
    assert!(
        text.contains("message database") && text.contains("not-a-directory"),
        "{text}"
    );
}

/// An error and its causes, as `anyhow` prints them with `{:#}`.
fn explained(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

#[tokio::test]
async fn a_client_id_is_shown_to_its_sender_alone_live_and_in_history() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    alice.say_to(None, None, "counted?", Some("secret-7")).await;
    let client_id = |msg: &ServerMsg| match msg {
        ServerMsg::Message { client_id, .. } => client_id.clone(),
        other => panic!("expected a message, got {other:?}"),
    };
    assert_eq!(client_id(&alice.recv().await), Some("secret-7".into()));
    assert_eq!(client_id(&bob.recv().await), None, "live, to someone else");
    let carol = server.join("carol").await;
    assert_eq!(
        client_id(&carol.history[0]),
        None,
        "in someone else's history"
    );
    let (_, _, replay) = TestClient::rejoin(server.addr(), "alicia", Some(0), None).await;
    assert!(replay.iter().all(|m| client_id(m).is_none()), "{replay:?}");
}

/// How many sessions the database at `path` holds.
fn stored_sessions(path: &std::path::Path) -> i64 {
    let db = rusqlite::Connection::open(path).expect("open the database");
    db.query_row("SELECT COUNT(*) FROM sessions", [], |row| row.get(0))
        .expect("count the sessions")
}

#[tokio::test]
async fn saying_hello_and_leaving_over_and_over_does_not_grow_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(on_disk(&dir)).await;
    for i in 0..50 {
        let mut client = server.join(&format!("drive-by{i}")).await;
        client.send(&ClientMsg::Quit { reason: None }).await;
        client.expect_closed().await;
    }
    // A session worth reclaiming (it holds a room) is kept.
    let (mut alice, welcome, _) = TestClient::rejoin(server.addr(), "alice", None, None).await;
    let session = session_of(&welcome);
    alice.join_room("dev").await;
    server.shutdown().await;
    assert_eq!(stored_sessions(&dir.path().join("history.db")), 1);
    let server = TestServer::with_config(on_disk(&dir)).await;
    let (_, welcome, _) = TestClient::rejoin(server.addr(), "alice", None, Some(session)).await;
    match welcome {
        ServerMsg::Welcome { rooms, .. } => assert_eq!(rooms, vec!["dev", "lobby"]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_long_resume_comes_in_order_whole_or_as_its_newest_part_with_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let config = |resume_limit| Config {
        resume_limit,
        ..on_disk(&dir)
    };
    let server = TestServer::with_config(config(5000)).await;
    let port = server.addr().port();
    let mut alice = server.join("alice").await;
    let mut ids = Vec::new();
    for i in 0..100 {
        alice.say(&format!("m{i}")).await;
        ids.push(alice.recv_chat().await.0);
    }
    // Every piece boundary crossed (32 a piece), nothing doubled or lost.
    let (_, welcome, replay) = TestClient::rejoin(server.addr(), "bob", Some(0), None).await;
    assert!(
        matches!(welcome, ServerMsg::Welcome { gap: None, .. }),
        "{welcome:?}"
    );
    assert_eq!(replay.iter().map(id_of).collect::<Vec<_>>(), ids);
    server.shutdown().await;
    // More than the limit: the newest 70, and a gap.
    let server = TestServer::on_port(port, config(70)).await;
    let (_, welcome, replay) = TestClient::rejoin(server.addr(), "carol", Some(0), None).await;
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
    assert_eq!(replay.iter().map(id_of).collect::<Vec<_>>(), ids[30..]);
}

fn history_id_of(welcome: &ServerMsg) -> String {
    match welcome {
        ServerMsg::Welcome {
            history_id: Some(id),
            ..
        } => id.clone(),
        other => panic!("expected a welcome with a history id, got {other:?}"),
    }
}

fn remove_database(dir: &tempfile::TempDir) {
    for name in ["history.db", "history.db-wal", "history.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(name));
    }
}

async fn say_several(client: &mut TestClient, texts: &[&str]) -> Vec<u64> {
    let mut ids = Vec::new();
    for text in texts {
        client.say(text).await;
        ids.push(client.recv_chat().await.0);
    }
    ids
}

#[tokio::test]
async fn a_resume_with_ids_of_a_replaced_database_gets_the_recent_tail_and_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(on_disk(&dir)).await;
    let port = server.addr().port();
    let (mut alice, welcome, _) = TestClient::rejoin(server.addr(), "alice", None, None).await;
    let old_history = history_id_of(&welcome);
    let ids = say_several(&mut alice, &["a1", "a2", "a3", "a4", "a5"]).await;
    drop(alice);
    server.shutdown().await;
    remove_database(&dir);

    // The new database counts from 1 again, past the id alice saw.
    let server = TestServer::on_port(port, on_disk(&dir)).await;
    let mut bob = server.join("bob").await;
    let new_ids = say_several(&mut bob, &["b1", "b2", "b3", "b4", "b5"]).await;
    assert!(new_ids[4] > ids[2], "{new_ids:?} passes {ids:?}");
    let hello = ClientMsg::Hello {
        nick: "alice".into(),
        since: Some(ids[2]),
        session: None,
        history_id: Some(old_history.clone()),
        password: None,
    };
    let (_alice, welcome, replay) = TestClient::rejoin_with(server.addr(), hello).await;
    assert!(
        matches!(
            &welcome,
            ServerMsg::Welcome {
                gap: Some(true),
                ..
            }
        ),
        "{welcome:?}"
    );
    assert_ne!(history_id_of(&welcome), old_history);
    let texts: Vec<&str> = replay.iter().map(text_of).collect();
    assert_eq!(
        texts,
        ["b1", "b2", "b3", "b4", "b5"],
        "the tail, not ids > 3"
    );
}

#[tokio::test]
async fn the_history_id_stays_across_restarts_of_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(on_disk(&dir)).await;
    let port = server.addr().port();
    let (_, welcome, _) = TestClient::rejoin(server.addr(), "alice", None, None).await;
    server.shutdown().await;
    let server = TestServer::on_port(port, on_disk(&dir)).await;
    let (_, again, _) = TestClient::rejoin(server.addr(), "alice", None, None).await;
    assert_eq!(history_id_of(&welcome), history_id_of(&again));
}

#[tokio::test]
async fn a_database_deleted_while_running_refuses_messages_instead_of_losing_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(on_disk(&dir)).await;
    let mut alice = server.join("alice").await;
    say_several(&mut alice, &["kept"]).await;
    remove_database(&dir);
    alice.say("would be lost").await;
    let message = alice.expect_error(ErrorCode::StoreUnavailable).await;
    assert!(message.contains("deleted or replaced"), "{message}");
}
