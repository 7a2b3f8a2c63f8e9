//! Keeping order in rooms (issue 13, first part): who may set topics,
//! kick, and give or take the operator role; what everyone sees; what
//! survives a restart — over real TLS connections with identities.

#![allow(clippy::panic)] // A test fails by panicking.

use lanchat_server::Config;
use lanchat_shared::keyfile::{KeyFile, ephemeral};
use lanchat_shared::{ErrorCode, ServerMsg};
use lanchat_tests::{TestClient, TestServer, on_disk, relaxed_config};

fn key() -> KeyFile {
    ephemeral().expect("a new key")
}

/// Reads until a message from the server itself (a moderation line)
/// arrives in `room`, and returns its text.
async fn server_line(client: &mut TestClient, room: &str) -> String {
    loop {
        if let ServerMsg::Message {
            from,
            text,
            room: Some(said_in),
            ..
        } = client.recv().await
            && from == "server"
            && said_in == room
        {
            return text;
        }
    }
}

/// Reads until an error, skipping everything else.
async fn refusal(client: &mut TestClient) -> ErrorCode {
    loop {
        if let ServerMsg::Error { code, .. } = client.recv().await {
            return code;
        }
    }
}

/// Reads until `nick`'s leave from `room`, and returns its reason.
async fn left(client: &mut TestClient, nick: &str, room: &str) -> String {
    loop {
        if let ServerMsg::Leave {
            nick: who,
            reason,
            room: Some(from),
        } = client.recv().await
            && who == nick
            && from == room
        {
            return reason;
        }
    }
}

#[tokio::test]
async fn the_founder_of_a_room_keeps_order_in_it_and_a_member_cannot() {
    let server = TestServer::start().await;
    let alice_key = key();
    let mut alice = server.join_with_key("alice", &alice_key).await;
    alice.join_room("dev").await;
    let mut bob = server.join_with_key("bob", &key()).await;
    bob.join_room("dev").await;
    let mut guest = server.join("guest").await;
    guest.join_room("dev").await;

    // A member (with a key, or a guest) may not.
    for (client, name) in [(&mut bob, "bob"), (&mut guest, "guest")] {
        client.say("/kick alice").await;
        assert_eq!(refusal(client).await, ErrorCode::NoPermission, "{name}");
        client.say("/topic mine now").await;
        assert_eq!(refusal(client).await, ErrorCode::NoPermission, "{name}");
    }

    // The founder may: everyone sees it, the kicked included.
    alice.say("/kick guest spamming").await;
    assert_eq!(
        left(&mut bob, "guest", "dev").await,
        "kicked by alice: spamming"
    );
    assert_eq!(
        left(&mut guest, "guest", "dev").await,
        "kicked by alice: spamming"
    );
    assert_eq!(
        server_line(&mut bob, "dev").await,
        "guest was kicked by alice: spamming."
    );
    // Out of the room: nothing more of it reaches the guest.
    guest.say("/who dev").await;
    bob.say("still here").await;
    let who = loop {
        match guest.recv().await {
            ServerMsg::Message { text, .. } if text == "still here" => {
                panic!("a kicked guest still hears the room")
            }
            ServerMsg::Info { text } | ServerMsg::Error { message: text, .. } => break text,
            _ => {}
        }
    };
    assert!(!who.contains("guest,") && !who.ends_with("guest"), "{who}");

    // Kicked, not banned: the guest may come back.
    guest.join_room("dev").await;
    loop {
        if let ServerMsg::Join { nick, room, .. } = alice.recv().await
            && nick == "guest"
            && room.as_deref() == Some("dev")
        {
            break;
        }
    }
}

#[tokio::test]
async fn operators_name_operators_guests_cannot_be_and_the_last_one_stays() {
    let server = TestServer::start().await;
    let mut alice = server.join_with_key("alice", &key()).await;
    alice.join_room("dev").await;
    let mut bob = server.join_with_key("bob", &key()).await;
    bob.join_room("dev").await;
    let mut guest = server.join("guest").await;
    guest.join_room("dev").await;

    alice.say("/op guest").await;
    assert_eq!(refusal(&mut alice).await, ErrorCode::NoPermission);
    alice.say("/deop alice").await;
    assert_eq!(
        refusal(&mut alice).await,
        ErrorCode::NoPermission,
        "the last operator keeps the role"
    );
    alice.say("/op bob").await;
    assert_eq!(
        server_line(&mut bob, "dev").await,
        "alice made bob an operator of #dev."
    );
    // Now bob may, even against the founder, and alice may step down.
    bob.say("/topic Release on Friday").await;
    let topic = loop {
        if let ServerMsg::Topic { text, by, .. } = alice.recv().await {
            break (text, by);
        }
    };
    assert_eq!(topic, ("Release on Friday".into(), Some("bob".into())));
    alice.say("/deop alice").await;
    loop {
        let line = server_line(&mut bob, "dev").await;
        if line.contains("operator role") {
            assert_eq!(line, "alice took the operator role of #dev from alice.");
            break;
        }
    }
    alice.say("/topic back to me").await;
    assert_eq!(refusal(&mut alice).await, ErrorCode::NoPermission);
}

#[tokio::test]
async fn an_admin_keeps_order_everywhere_and_operators_cannot_act_against_one() {
    let admin_key = key();
    let config = Config {
        admins: vec![admin_key.fingerprint.clone()],
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let mut alice = server.join_with_key("alice", &key()).await;
    alice.join_room("dev").await;
    let mut admin = server.join_with_key("root", &admin_key).await;
    admin.join_room("dev").await;

    alice.say("/kick root").await;
    assert_eq!(refusal(&mut alice).await, ErrorCode::NoPermission);
    // The admin may act in a room it did not found, and in the lobby,
    // which nobody founds.
    admin.say("/topic Admins only").await;
    admin
        .send_line(r#"{"type":"topic","room":"lobby","text":"Lobby rules"}"#)
        .await;
    loop {
        if let ServerMsg::Topic { room, text, .. } = alice.recv().await
            && room == "lobby"
        {
            assert_eq!(text, "Lobby rules");
            break;
        }
    }
    // Even the last operator's role, which nobody else may take.
    admin.say("/deop alice").await;
    loop {
        if let ServerMsg::Message { from, text, .. } = alice.recv().await
            && from == "server"
            && text.contains("took the operator role")
        {
            break;
        }
    }
}

#[tokio::test]
async fn roles_and_topics_survive_a_restart_and_joiners_are_told_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let alice_key = key();
    let server = TestServer::with_config(on_disk(&dir)).await;
    let port = server.addr().port();
    let mut alice = server.join_with_key("alice", &alice_key).await;
    alice.join_room("dev").await;
    alice.say("/topic Kept across restarts").await;
    server_line(&mut alice, "dev").await;
    server.shutdown().await;

    let server = TestServer::on_port(port, on_disk(&dir)).await;
    let mut carol = server.join("carol").await;
    let told = carol.join_room("dev").await;
    // After the history and the confirmation: the topic.
    assert_eq!(
        carol.recv().await,
        ServerMsg::Topic {
            room: "dev".into(),
            text: "Kept across restarts".into(),
            by: Some("alice".into()),
        }
    );
    assert!(
        told.iter().any(|msg| matches!(
            msg,
            ServerMsg::Message { from, text, .. } if from == "server" && text.contains("set the topic")
        )),
        "the moderation line is in the history: {told:?}"
    );
    let mut alice = server.join_with_key("alice", &alice_key).await;
    alice.join_room("dev").await;
    alice.say("/kick carol").await;
    assert_eq!(left(&mut carol, "carol", "dev").await, "kicked by alice");
}

#[tokio::test]
async fn the_json_requests_do_what_the_commands_do() {
    let server = TestServer::start().await;
    let mut alice = server.join_with_key("alice", &key()).await;
    alice.join_room("dev").await;
    let mut bob = server.join_with_key("bob", &key()).await;
    bob.join_room("dev").await;
    alice
        .send_line(r#"{"type":"topic","room":"dev","text":"Set in JSON"}"#)
        .await;
    bob.send_line(r#"{"type":"topic","room":"dev"}"#).await;
    loop {
        if let ServerMsg::Topic { text, .. } = bob.recv().await
            && text == "Set in JSON"
        {
            break;
        }
    }
    alice
        .send_line(r#"{"type":"op","room":"dev","nick":"bob"}"#)
        .await;
    server_line(&mut bob, "dev").await;
    bob.send_line(r#"{"type":"kick","room":"dev","nick":"alice","reason":"testing"}"#)
        .await;
    assert_eq!(
        left(&mut alice, "alice", "dev").await,
        "kicked by bob: testing"
    );
    bob.send_line(r#"{"type":"deop","room":"dev","nick":"nobody"}"#)
        .await;
    assert_eq!(refusal(&mut bob).await, ErrorCode::NoSuchUser);
}
