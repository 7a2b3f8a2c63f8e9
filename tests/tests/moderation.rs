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

/// Reads until a `role` event about `nick` in `room`, and returns
/// whether they keep order there now.
async fn role_of(client: &mut TestClient, nick: &str, room: &str) -> bool {
    loop {
        if let ServerMsg::Role {
            room: told,
            nick: who,
            operator,
        } = client.recv().await
            && told == room
            && who == nick
        {
            return operator;
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
    // Out of the room: nothing more of it reaches the guest. Events reach
    // every client in one order, so a line of the room's that the guest
    // still got would come before its own later lobby line.
    bob.send_line(r#"{"type":"say","text":"still here","room":"dev"}"#)
        .await;
    loop {
        if let ServerMsg::Message { text, .. } = alice.recv().await
            && text == "still here"
        {
            break;
        }
    }
    guest.say("in the lobby").await;
    loop {
        match guest.recv().await {
            ServerMsg::Message { text, .. } if text == "still here" => {
                panic!("a kicked guest still hears the room")
            }
            ServerMsg::Message { text, .. } if text == "in the lobby" => break,
            _ => {}
        }
    }

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
    // Everyone's client can mark the new operator at once.
    assert!(role_of(&mut guest, "bob", "dev").await);
    // `/who` says who keeps order, on a line of its own.
    guest.say("/who dev").await;
    let who = loop {
        if let ServerMsg::Info { text } = guest.recv().await
            && text.starts_with("Here in #dev")
        {
            break text;
        }
    };
    assert_eq!(
        who,
        "Here in #dev (3): alice, bob, guest\nOperators: alice, bob"
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
    assert!(!role_of(&mut guest, "alice", "dev").await);
    alice.say("/topic back to me").await;
    assert_eq!(refusal(&mut alice).await, ErrorCode::NoPermission);
}

/// A server with `admin` for its admin, and alice, who founded `#dev`.
async fn with_admin_and_founder(admin: &KeyFile) -> (TestServer, TestClient) {
    let config = Config {
        admins: vec![admin.fingerprint.clone()],
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let mut alice = server.join_with_key("alice", &key()).await;
    alice.join_room("dev").await;
    (server, alice)
}

#[tokio::test]
async fn an_admin_keeps_order_everywhere_and_operators_cannot_act_against_one() {
    let admin_key = key();
    let (server, mut alice) = with_admin_and_founder(&admin_key).await;
    let mut admin = server.join_with_key("root", &admin_key).await;
    admin.join_room("dev").await;
    // An admin keeps order wherever it goes, and the room is told so.
    assert!(role_of(&mut alice, "root", "dev").await);

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
async fn roles_and_topics_survive_a_restart_and_joiners_and_listers_are_told_the_topic() {
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
    // `/rooms` lists it with its topic.
    assert_eq!(
        rooms_listed(&mut carol).await,
        "Rooms (* = yours):\n#dev* (1) - Kept across restarts\n#lobby* (1)"
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
    // Set (the room's line says so), then asked: the answer is the topic.
    assert_eq!(
        server_line(&mut bob, "dev").await,
        "alice set the topic: Set in JSON"
    );
    bob.send_line(r#"{"type":"topic","room":"dev"}"#).await;
    let mut answers = 0;
    while answers < 2 {
        if let ServerMsg::Topic { text, .. } = bob.recv().await {
            assert_eq!(text, "Set in JSON");
            answers += 1;
        }
    }
    alice
        .send_line(r#"{"type":"op","room":"dev","nick":"bob"}"#)
        .await;
    assert_eq!(
        server_line(&mut bob, "dev").await,
        "alice made bob an operator of #dev."
    );
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

/// Sends a `hello` for `nick` on a fresh connection (TLS with `identity`,
/// or plain) and returns the client and the answer.
async fn try_hello(
    server: &TestServer,
    nick: &str,
    identity: Option<&KeyFile>,
) -> (TestClient, ServerMsg) {
    let mut client = match identity {
        Some(identity) => {
            TestClient::connect_tls_raw(server.addr(), Some(identity))
                .await
                .0
        }
        None => TestClient::connect_raw(server.addr()).await,
    };
    client.hello(nick).await;
    client.expect_greeting().await;
    let answer = client.recv().await;
    (client, answer)
}

/// Sends `join_room` and returns the first error it gets, if any, before
/// the join is confirmed.
async fn try_join(client: &mut TestClient, room: &str) -> Option<ErrorCode> {
    let line = format!(r#"{{"type":"join_room","room":"{room}"}}"#);
    join_answer(client, &line).await
}

/// Sends the join request `line` and returns the first error, if any,
/// before the join is confirmed.
async fn join_answer(client: &mut TestClient, line: &str) -> Option<ErrorCode> {
    client.send_line(line).await;
    loop {
        match client.recv().await {
            ServerMsg::Error { code, .. } => return Some(code),
            ServerMsg::Info { text } if text.starts_with("You are in") => return None,
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_room_ban_keeps_an_identity_out_under_any_nickname_and_a_guest_by_address() {
    let server = TestServer::start().await;
    let mut alice = server.join_with_key("alice", &key()).await;
    alice.join_room("dev").await;
    let mallory_key = key();
    let mut mallory = server.join_with_key("mallory", &mallory_key).await;
    mallory.join_room("dev").await;

    alice.say("/ban mallory 1h spamming").await;
    assert_eq!(
        left(&mut mallory, "mallory", "dev").await,
        "banned by alice: spamming"
    );
    let line = server_line(&mut alice, "dev").await;
    assert!(
        line.starts_with(&format!(
            "mallory ({}) is banned from #dev for 1 h more",
            mallory_key.fingerprint
        )) && line.ends_with("(by alice): spamming."),
        "{line}"
    );
    // Not back in, under this nickname or another.
    assert_eq!(try_join(&mut mallory, "dev").await, Some(ErrorCode::Banned));
    drop(mallory);
    let (mut renamed, welcome) = try_hello(&server, "notmallory", Some(&mallory_key)).await;
    assert!(matches!(welcome, ServerMsg::Welcome { .. }), "{welcome:?}");
    assert_eq!(try_join(&mut renamed, "dev").await, Some(ErrorCode::Banned));
    // Other rooms are open to it.
    assert_eq!(try_join(&mut renamed, "ops").await, None);

    // A guest is banned by address: every guest from there is out, and
    // people with keys from there (mallory's new nickname) are not.
    let mut guest = server.join("guest").await;
    guest.join_room("dev").await;
    alice.say("/ban guest").await;
    left(&mut guest, "guest", "dev").await;
    let mut another = server.join("another").await;
    assert_eq!(try_join(&mut another, "dev").await, Some(ErrorCode::Banned));

    // Lifted: back in.
    alice
        .say(&format!("/unban {}", mallory_key.fingerprint))
        .await;
    loop {
        if server_line(&mut alice, "dev")
            .await
            .contains("lifted the ban")
        {
            break;
        }
    }
    assert_eq!(try_join(&mut renamed, "dev").await, None);
    alice.say("/bans").await;
    let listed = loop {
        if let ServerMsg::Info { text } = alice.recv().await
            && text.starts_with("Bans of #dev")
        {
            break text;
        }
    };
    assert!(listed.starts_with("Bans of #dev (1):"), "{listed}");
    assert!(listed.contains("~127.0.0.1 is banned"), "{listed}");
}

#[tokio::test]
async fn a_server_ban_closes_and_keeps_out_and_timed_bans_end() {
    let admin_key = key();
    let config = Config {
        admins: vec![admin_key.fingerprint.clone()],
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let mut admin = server.join_with_key("root", &admin_key).await;
    let mut alice = server.join_with_key("alice", &key()).await;
    let mallory_key = key();
    let mut mallory = server.join_with_key("mallory", &mallory_key).await;

    // Operators may not ban from the server; the admin may.
    alice.join_room("dev").await;
    alice.say("/ban -s mallory").await;
    assert_eq!(refusal(&mut alice).await, ErrorCode::NoPermission);
    admin.say("/ban -s mallory 1h flooding").await;
    mallory.expect_closed().await;
    assert_eq!(
        left(&mut alice, "mallory", "lobby").await,
        "banned by root: flooding"
    );
    let (_, answer) = try_hello(&server, "someone", Some(&mallory_key)).await;
    assert!(
        matches!(&answer, ServerMsg::Error { code: ErrorCode::Banned, message, .. } if message.contains("flooding")),
        "{answer:?}"
    );
    // Lifted by an admin: back in.
    admin
        .say(&format!("/unban -s {}", mallory_key.fingerprint))
        .await;
    while !server_line(&mut admin, "lobby").await.contains("lifted") {}
    let (_, answer) = try_hello(&server, "someone", Some(&mallory_key)).await;
    assert!(matches!(answer, ServerMsg::Welcome { .. }), "{answer:?}");

    // A timed ban ends by itself.
    let eve_key = key();
    admin
        .say(&format!("/ban -s {} 1s a short one", eve_key.fingerprint))
        .await;
    while !server_line(&mut admin, "lobby")
        .await
        .contains("a short one")
    {}
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, answer) = try_hello(&server, "eve", Some(&eve_key)).await;
        if matches!(answer, ServerMsg::Welcome { .. }) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still banned: {answer:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn bans_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(on_disk(&dir)).await;
    let port = server.addr().port();
    let mut alice = server.join_with_key("alice", &key()).await;
    alice.join_room("dev").await;
    let mallory_key = key();
    alice
        .say(&format!("/ban {} for good", mallory_key.fingerprint))
        .await;
    server_line(&mut alice, "dev").await;
    server.shutdown().await;

    let server = TestServer::on_port(port, on_disk(&dir)).await;
    let mut mallory = server.join_with_key("mallory", &mallory_key).await;
    assert_eq!(try_join(&mut mallory, "dev").await, Some(ErrorCode::Banned));
}

#[tokio::test]
async fn a_muted_member_reads_but_cannot_speak_until_unmuted_or_the_time_is_up() {
    let server = TestServer::start().await;
    let mut alice = server.join_with_key("alice", &key()).await;
    alice.join_room("dev").await;
    let mut bob = server.join_with_key("bob", &key()).await;
    bob.join_room("dev").await;

    bob.say("/mute alice").await;
    assert_eq!(refusal(&mut bob).await, ErrorCode::NoPermission);
    alice.say("/mute bob").await;
    assert_eq!(
        server_line(&mut bob, "dev").await,
        "alice muted bob in #dev."
    );
    let in_dev = |text: &str| format!(r#"{{"type":"say","text":"{text}","room":"dev"}}"#);
    bob.send_line(&in_dev("may I?")).await;
    assert_eq!(refusal(&mut bob).await, ErrorCode::Muted);
    // Still reading; still free to speak elsewhere.
    alice.send_line(&in_dev("you can still read this")).await;
    loop {
        if let ServerMsg::Message { text, .. } = bob.recv().await
            && text == "you can still read this"
        {
            break;
        }
    }
    bob.send_line(r#"{"type":"say","text":"in the lobby","room":"lobby"}"#)
        .await;
    assert_eq!(bob.recv_chat().await.2, "in the lobby");

    alice.say("/unmute bob").await;
    server_line(&mut bob, "dev").await;
    bob.send_line(&in_dev("thanks")).await;
    assert_eq!(bob.recv_chat().await.2, "thanks");

    // A timed mute ends by itself.
    alice
        .send_line(r#"{"type":"mute","nick":"bob","room":"dev","duration_secs":1}"#)
        .await;
    server_line(&mut bob, "dev").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        bob.send_line(&in_dev("back?")).await;
        match bob.recv().await {
            ServerMsg::Message { text, .. } if text == "back?" => break,
            ServerMsg::Error {
                code: ErrorCode::Muted,
                ..
            } => {}
            other => panic!("expected the echo or muted, got {other:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "still muted");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// [`try_join`] giving a private room's `key`.
async fn try_join_with(client: &mut TestClient, room: &str, key: &str) -> Option<ErrorCode> {
    let line = format!(r#"{{"type":"join_room","room":"{room}","key":"{key}"}}"#);
    join_answer(client, &line).await
}

/// What `/rooms` lists for `client`.
async fn rooms_listed(client: &mut TestClient) -> String {
    client.say("/rooms").await;
    loop {
        if let ServerMsg::Info { text } = client.recv().await
            && text.starts_with("Rooms")
        {
            return text;
        }
    }
}

#[tokio::test]
async fn a_private_room_lets_in_only_the_invited_and_those_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(on_disk(&dir)).await;
    let port = server.addr().port();
    let mut alice = server.join_with_key("alice", &key()).await;
    alice.join_room("secret").await;
    alice.say("/private on").await;
    assert!(server_line(&mut alice, "secret").await.contains("private"));
    let bob_key = key();
    let mut bob = server.join_with_key("bob", &bob_key).await;
    assert_eq!(
        try_join(&mut bob, "secret").await,
        Some(ErrorCode::InviteOnly)
    );
    let listed = rooms_listed(&mut bob).await;
    assert!(!listed.contains("secret"), "unlisted: {listed}");
    assert!(rooms_listed(&mut alice).await.contains("#secret*"));

    // An invitation: told, and good once.
    alice.say("/invite bob").await;
    assert_eq!(
        info_starting(&mut bob, "alice invited you").await,
        "alice invited you into #secret: /join secret"
    );
    assert_eq!(try_join(&mut bob, "secret").await, None);
    bob.say("/part secret").await;
    assert_eq!(
        try_join(&mut bob, "secret").await,
        Some(ErrorCode::InviteOnly)
    );

    // A key: whoever has it, guests included; nobody without it.
    alice.say("/key sesame").await;
    while !server_line(&mut alice, "secret")
        .await
        .contains("set a key")
    {}
    let mut guest = server.join("guest").await;
    // A room with a key says a key is what is missing.
    assert_eq!(
        try_join_with(&mut guest, "secret", "wrong").await,
        Some(ErrorCode::BadKey)
    );
    assert_eq!(
        try_join(&mut guest, "secret").await,
        Some(ErrorCode::BadKey)
    );
    assert_eq!(try_join_with(&mut guest, "secret", "sesame").await, None);
    server.shutdown().await;

    // Private, and its key, across a restart.
    let server = TestServer::on_port(port, on_disk(&dir)).await;
    let mut bob = server.join_with_key("bob", &bob_key).await;
    assert_eq!(try_join(&mut bob, "secret").await, Some(ErrorCode::BadKey));
    assert_eq!(try_join_with(&mut bob, "secret", "sesame").await, None);
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

/// Reads plain-text lines until one that contains `part`.
async fn plain_line_with(client: &mut TestClient, part: &str) -> String {
    loop {
        let line = client.recv_line().await;
        if line.contains(part) {
            return line;
        }
    }
}

/// Joins in plain text as `nick`, over TLS with `identity` (as
/// `openssl s_client -cert` would) or over plain TCP (as `nc` would),
/// then enters `room`.
async fn plain_in_room(
    server: &TestServer,
    nick: &str,
    identity: Option<&KeyFile>,
    room: &str,
) -> TestClient {
    let mut client = match identity {
        Some(key) => {
            TestClient::connect_tls_raw(server.addr(), Some(key))
                .await
                .0
        }
        None => TestClient::connect_raw(server.addr()).await,
    };
    client.recv_line().await;
    client.send_line(nick).await;
    plain_line_with(&mut client, "Welcome").await;
    client.send_line(&format!("/join {room}")).await;
    plain_line_with(&mut client, &format!("You are in #{room}")).await;
    client
}

#[tokio::test]
async fn an_admin_in_plain_text_and_an_operator_keep_a_room_of_nc_guests_in_order() {
    let admin_key = key();
    let (server, mut alice) = with_admin_and_founder(&admin_key).await;
    let mut root = plain_in_room(&server, "root", Some(&admin_key), "dev").await;
    let mut loud = plain_in_room(&server, "loud", None, "dev").await;
    let mut rude = plain_in_room(&server, "rude", None, "dev").await;

    // A guest has no say.
    rude.send_line("/kick alice").await;
    assert!(
        plain_line_with(&mut rude, "!! ")
            .await
            .ends_with("(no_permission)")
    );

    // The room's founder mutes one guest: it reads, but cannot speak.
    alice.say("/mute loud 10m").await;
    plain_line_with(&mut loud, "<server> alice muted loud in #dev").await;
    loud.send_line("LOUD NOISES").await;
    assert!(plain_line_with(&mut loud, "!! ").await.ends_with("(muted)"));

    // The admin, typing in plain text, kicks the other: out, but it may
    // come back.
    root.send_line("/kick rude flooding").await;
    assert_eq!(
        plain_line_with(&mut rude, "* rude left").await,
        "* rude left #dev (kicked by root: flooding)"
    );
    rude.send_line("/join dev").await;
    plain_line_with(&mut rude, "You are in #dev").await;

    // Banned by nickname, a guest's address is banned: both guests go,
    // and neither gets back in; the verified member stays.
    root.send_line("/ban rude 1h spam").await;
    for guest in [&mut rude, &mut loud] {
        plain_line_with(guest, "left #dev (banned by root: spam)").await;
        guest.send_line("/join dev").await;
        assert!(plain_line_with(guest, "!! ").await.ends_with("(banned)"));
    }
    while !server_line(&mut alice, "dev")
        .await
        .contains("rude (a guest, by address)")
    {}
    alice.say("/who dev").await;
    assert!(
        info_starting(&mut alice, "Here in #dev")
            .await
            .starts_with("Here in #dev (2): alice, root"),
    );

    // Lifted, they may come back.
    root.send_line("/unban ~127.0.0.1").await;
    plain_line_with(&mut root, "lifted the ban").await;
    rude.send_line("/join dev").await;
    plain_line_with(&mut rude, "You are in #dev").await;
}
