//! Who is where, among several servers sharing one Redis: a client on one
//! server sees the others' members come, go, rename and step away, lists
//! them with its own, and sees joins, parts and messages of every room in
//! one order, the same on every server. Each test starts its own
//! `redis-server` (see `lanchat_tests::redis`) and lanchat servers in this
//! process, and drives real clients over TCP.

use std::collections::HashMap;
use std::time::Duration;

use lanchat_shared::ServerMsg;
use lanchat_tests::redis::RedisServer;
use lanchat_tests::{TestClient, TestServer, session_of, sharing};

/// The reason a member of a server found dead leaves for.
const SERVER_LOST: &str = "their server stopped answering";

/// Sends `command` and returns the text of the `info` that answers it,
/// skipping the events that come meanwhile.
async fn ask(client: &mut TestClient, command: &str) -> String {
    client.say(command).await;
    loop {
        if let ServerMsg::Info { text } = client.recv().await {
            return text;
        }
    }
}

/// Reads events until one `wanted` takes; returns it.
async fn until(client: &mut TestClient, wanted: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
    loop {
        let msg = client.recv().await;
        if wanted(&msg) {
            return msg;
        }
    }
}

#[tokio::test]
async fn comings_goings_renames_and_aways_on_one_server_are_seen_and_listed_on_the_other() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = TestServer::with_config(sharing(&redis)).await;
    let b = TestServer::with_config(sharing(&redis)).await;
    let mut bob = b.join("bob").await;
    let mut alice = a.join("alice").await;
    assert_eq!(bob.expect_join("alice").await.as_deref(), Some("lobby"));
    // B has read alice's arrival: a newcomer there is told of her.
    let (_dan, welcome, _) = TestClient::rejoin(b.addr(), "dan", None, None).await;
    let ServerMsg::Welcome { users, .. } = welcome else {
        panic!("expected a welcome, got {welcome:?}");
    };
    assert_eq!(users, ["alice", "bob", "dan"], "the lobby of both servers");
    assert_eq!(alice.expect_join("dan").await.as_deref(), Some("lobby"));

    bob.join_room("dev").await;
    alice.join_room("dev").await;
    assert_eq!(bob.expect_join("alice").await.as_deref(), Some("dev"));
    let who = ask(&mut alice, "/who").await;
    assert!(who.starts_with("Here in #dev (2): alice, bob"), "{who}");
    let rooms = ask(&mut bob, "/rooms").await;
    assert!(rooms.contains("#dev* (2)"), "{rooms}");

    bob.say("/away lunch").await;
    let away = until(&mut alice, |m| matches!(m, ServerMsg::Away { .. })).await;
    assert_eq!(
        away,
        ServerMsg::Away {
            nick: "bob".into(),
            text: Some("lunch".into())
        }
    );
    let who = ask(&mut alice, "/who").await;
    assert!(who.contains("Away: bob (lunch)"), "{who}");

    bob.say("/nick robert").await;
    let renamed = until(&mut alice, |m| matches!(m, ServerMsg::Nick { .. })).await;
    assert!(
        matches!(&renamed, ServerMsg::Nick { old, new, .. } if old == "bob" && new == "robert"),
        "{renamed:?}"
    );
    alice.say("/whois robert").await;
    let whois = until(&mut alice, |m| matches!(m, ServerMsg::Whois { .. })).await;
    assert!(
        matches!(&whois, ServerMsg::Whois { nick, .. } if nick == "robert"),
        "{whois:?}"
    );

    bob.say("/part dev").await;
    let parted = until(&mut alice, |m| matches!(m, ServerMsg::Leave { .. })).await;
    assert!(
        matches!(&parted, ServerMsg::Leave { nick, room: Some(room), reason } if nick == "robert" && room == "dev" && reason == "parted"),
        "{parted:?}"
    );
    drop(bob);
    assert_eq!(alice.expect_leave("robert").await, "connection closed");
    // `/who` lists the room one is in: the lobby, once out of #dev.
    let parted = ask(&mut alice, "/part dev").await;
    assert_eq!(parted, "You left #dev.");
    let who = ask(&mut alice, "/who").await;
    assert!(who.starts_with("Here in #lobby (2): alice, dan"), "{who}");
}

#[tokio::test]
async fn a_server_that_starts_later_knows_who_is_on_the_others() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = TestServer::with_config(sharing(&redis)).await;
    let mut alice = a.join("alice").await;
    alice.join_room("dev").await;
    alice.say("/away at the desk").await;
    until(&mut alice, |m| matches!(m, ServerMsg::Away { .. })).await;

    let b = TestServer::with_config(sharing(&redis)).await;
    let (mut bob, welcome, _) = TestClient::rejoin(b.addr(), "bob", None, None).await;
    let ServerMsg::Welcome { users, away, .. } = welcome else {
        panic!("expected a welcome, got {welcome:?}");
    };
    assert_eq!(users, ["alice", "bob"]);
    assert_eq!(away, ["alice"]);
    let rooms = ask(&mut bob, "/rooms").await;
    assert!(rooms.contains("#dev (1)"), "{rooms}");
    bob.join_room("dev").await;
    let who = ask(&mut bob, "/who").await;
    assert!(who.starts_with("Here in #dev (2): alice, bob"), "{who}");
}

/// Reads events until `marker` is said; returns the leaves seen on the
/// way, as (nick, room, reason).
async fn leaves_before(client: &mut TestClient, marker: &str) -> Vec<(String, String, String)> {
    let seen = everything_until(client, &[marker.to_owned()]).await;
    seen.into_iter()
        .filter_map(|msg| match msg {
            ServerMsg::Leave { nick, reason, room } => {
                Some((nick, room.unwrap_or_default(), reason))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_members_of_a_server_that_stopped_without_a_word_leave_once_for_everyone() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = TestServer::with_config(sharing(&redis)).await;
    let b = TestServer::with_config(sharing(&redis)).await;
    let c = TestServer::with_config(sharing(&redis)).await;
    let mut bob = b.join("bob").await;
    let mut cara = c.join("cara").await;
    bob.join_room("dev").await;
    cara.join_room("dev").await;
    let mut alice = a.join("alice").await;
    alice.join_room("dev").await;
    let _dan = a.join("dan").await;
    for watcher in [&mut bob, &mut cara] {
        watcher.expect_join("dan").await;
    }
    // A stops serving without a word, as if killed: its lease (10 s) runs
    // out, and B and C, each renewing every 2.5 s, may both find it dead;
    // one of them reaps it, once.
    drop(a);
    let mut seen_by_bob = bob.leaves_until("dan", Duration::from_secs(25)).await;
    bob.say("after").await;
    seen_by_bob.extend(leaves_before(&mut bob, "after").await);
    let seen_by_cara = leaves_before(&mut cara, "after").await;
    for (watcher, mut leaves) in [(&bob, seen_by_bob), (&cara, seen_by_cara)] {
        leaves.sort();
        let expected: Vec<(String, String, String)> =
            [("alice", "dev"), ("alice", "lobby"), ("dan", "lobby")]
                .into_iter()
                .map(|(nick, room)| (nick.into(), room.into(), SERVER_LOST.into()))
                .collect();
        assert_eq!(
            leaves, expected,
            "{}: one leave a member and room",
            watcher.nick
        );
    }
    let who = ask(&mut cara, "/who").await;
    assert!(who.starts_with("Here in #dev (2): bob, cara"), "{who}");
}

/// A small deterministic generator, so that a failing case can be run
/// again from its seed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from((self.0 >> 33) % n as u64).unwrap_or(0)
    }
}

/// What a watcher saw of a room, in order: messages, joins and leaves.
fn of_room(seen: &[ServerMsg], wanted: &str) -> Vec<String> {
    seen.iter()
        .filter_map(|msg| match msg {
            ServerMsg::Message {
                room: Some(room),
                id,
                from,
                text,
                ..
            } if room == wanted => Some(format!("{id} {from}: {text}")),
            ServerMsg::Join {
                nick,
                room: Some(room),
                ..
            } if room == wanted => Some(format!("{nick} joined")),
            ServerMsg::Leave {
                nick,
                room: Some(room),
                ..
            } if room == wanted => Some(format!("{nick} left")),
            _ => None,
        })
        .collect()
}

/// Reads everything until each of `markers` was said; returns it all.
async fn everything_until(client: &mut TestClient, markers: &[String]) -> Vec<ServerMsg> {
    let mut seen = Vec::new();
    let mut left: Vec<&String> = markers.iter().collect();
    while !left.is_empty() {
        let msg = client.recv().await;
        if let ServerMsg::Message { text, .. } = &msg {
            left.retain(|marker| *marker != text);
        }
        seen.push(msg);
    }
    seen
}

/// The ids of the messages among `seen`, as `of_room` spells them.
fn ids_of(seen: &[String]) -> Vec<u64> {
    seen.iter()
        .filter_map(|line| line.split_once(' ')?.0.parse().ok())
        .collect()
}

#[tokio::test]
async fn interleaved_says_joins_and_parts_on_two_servers_keep_one_order_in_every_room() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let servers = [
        TestServer::with_config(sharing(&redis)).await,
        TestServer::with_config(sharing(&redis)).await,
    ];
    let rooms = ["dev", "ops"];
    let mut watchers = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let mut watcher = server.join(&format!("watch{i}")).await;
        for room in rooms {
            watcher.join_room(room).await;
        }
        watchers.push(watcher);
    }
    let mut actors = Vec::new();
    for i in 0..4 {
        actors.push(servers[i % 2].join(&format!("p{i}")).await);
    }
    for seed in [1_u64, 7, 42] {
        let mut random = Lcg(seed);
        // Which rooms each actor is in, as its requests will have left it:
        // one connection's requests are handled in order.
        let mut inside: HashMap<usize, Vec<&str>> = HashMap::new();
        for step in 0..40 {
            let who = random.below(actors.len());
            let room = rooms[random.below(rooms.len())];
            let theirs = inside.entry(who).or_default();
            let actor = &mut actors[who];
            match (theirs.contains(&room), random.below(3)) {
                (true, 0) => {
                    actor.say(&format!("/part {room}")).await;
                    theirs.retain(|r| *r != room);
                }
                (true, _) => {
                    let text = format!("{seed}-{step} from p{who}");
                    actor.say_to(Some(room), None, &text, None).await;
                }
                (false, _) => {
                    actor.say(&format!("/join {room}")).await;
                    theirs.push(room);
                }
            }
        }
        let markers: Vec<String> = (0..actors.len())
            .map(|i| format!("{seed} done p{i}"))
            .collect();
        for (actor, marker) in actors.iter_mut().zip(&markers) {
            actor.say_to(Some("lobby"), None, marker, None).await;
        }
        let mut seen = Vec::new();
        for watcher in &mut watchers {
            seen.push(everything_until(watcher, &markers).await);
        }
        for actor in &mut actors {
            everything_until(actor, &markers).await;
        }
        for room in rooms {
            // A watcher is not told of its own join; the other is.
            let of_actors = |seen: &[ServerMsg]| -> Vec<String> {
                let lines = of_room(seen, room).into_iter();
                lines.filter(|line| !line.starts_with("watch")).collect()
            };
            let first = of_actors(&seen[0]);
            assert_eq!(first, of_actors(&seen[1]), "seed {seed}, #{room}");
            let ids = ids_of(&first);
            assert!(
                ids.windows(2).all(|pair| pair[0] < pair[1]),
                "seed {seed}, #{room}: {first:?}"
            );
        }
    }
}

/// How many entries the shared log holds.
fn log_length(redis: &RedisServer) -> u64 {
    let reply = redis.command(&["XLEN", "lanchat:log"]);
    let count = reply.trim().trim_start_matches(':').parse();
    assert!(count.is_ok(), "XLEN answered {reply:?}");
    count.unwrap_or_default()
}

/// How many entries the shared log was ever given, trimmed ones included
/// (`XINFO STREAM`'s `entries-added`, Redis 7).
fn log_entries_added(redis: &RedisServer) -> u64 {
    let reply = redis.command(&["XINFO", "STREAM", "lanchat:log"]);
    let count = reply
        .split_once("entries-added\r\n:")
        .and_then(|(_, rest)| rest.split("\r\n").next())
        .map(str::parse);
    assert!(
        matches!(count, Some(Ok(_))),
        "XINFO STREAM answered {reply:?}"
    );
    count.and_then(Result::ok).unwrap_or_default()
}

#[tokio::test]
async fn comings_and_goings_every_server_has_read_leave_the_log() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = TestServer::with_config(sharing(&redis)).await;
    let b = TestServer::with_config(sharing(&redis)).await;
    let mut alice = a.join("alice").await;
    let _carol = b.join("carol").await;
    for _ in 0..5 {
        let bob = b.join("bob").await;
        drop(bob);
        alice.expect_leave("bob").await;
    }
    // Counted as added rather than held: a lease renewal may have trimmed
    // some already.
    assert!(
        log_entries_added(&redis) >= 12,
        "each coming and going is in the log"
    );
    // No message was said: once both readers have read them, and a lease
    // renewal (every 2.5 s) has passed, the log is empty again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while log_length(&redis) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the log still holds {} entries",
            log_length(&redis)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Messages stay, for retention; a server that starts now still knows
    // who is where, from the records.
    alice.say("still here").await;
    let (id, _, _) = alice.recv_chat().await;
    assert_eq!(id, 1);
    let c = TestServer::with_config(sharing(&redis)).await;
    let (_dan, welcome, _) = TestClient::rejoin(c.addr(), "dan", None, None).await;
    let ServerMsg::Welcome { users, .. } = welcome else {
        panic!("expected a welcome, got {welcome:?}");
    };
    assert_eq!(users, ["alice", "carol", "dan"]);
    assert!(log_length(&redis) >= 1, "the message stays");
}

/// The joins and leaves of `nick` that `client` sees until it reads
/// `marker`, as (`joined` or the reason it left, room).
async fn comings_and_goings_of(
    client: &mut TestClient,
    nick: &str,
    marker: &str,
) -> Vec<(String, String)> {
    let seen = everything_until(client, &[marker.to_owned()]).await;
    seen.into_iter()
        .filter_map(|msg| match msg {
            ServerMsg::Join {
                nick: who, room, ..
            } if who == nick => Some(("joined".into(), room.unwrap_or_default())),
            ServerMsg::Leave {
                nick: who,
                room,
                reason,
            } if who == nick => Some((reason, room.unwrap_or_default())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_session_taken_over_from_another_server_comes_and_goes_once() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = TestServer::with_config(sharing(&redis)).await;
    let b = TestServer::with_config(sharing(&redis)).await;
    let (mut on_b, welcome, _) = TestClient::rejoin(b.addr(), "alice", None, None).await;
    let session = session_of(&welcome);
    on_b.join_room("dev").await;
    let mut carol = a.join("carol").await;
    carol.join_room("dev").await;
    on_b.expect_join("carol").await;
    on_b.say_to(Some("dev"), None, "before", None).await;
    // Once carol reads it, A has read everything alice did on B.
    assert_eq!(
        comings_and_goings_of(&mut carol, "alice", "before").await,
        []
    );

    // Alice comes back through A with her session: B's connection is her
    // ghost, and nobody sees her leave or join.
    let (mut on_a, _, _) = TestClient::rejoin(a.addr(), "alice", None, Some(session)).await;
    on_b.expect_closed().await;
    on_a.say_to(Some("dev"), None, "back", None).await;
    assert_eq!(comings_and_goings_of(&mut carol, "alice", "back").await, []);
    let who = ask(&mut carol, "/who").await;
    assert!(who.starts_with("Here in #dev (2): alice, carol"), "{who}");

    // When she leaves A, she leaves once, and is nowhere in the lists.
    drop(on_a);
    carol.expect_leave("alice").await;
    carol.say_to(Some("dev"), None, "after", None).await;
    let rest = comings_and_goings_of(&mut carol, "alice", "after").await;
    assert_eq!(
        rest.len(),
        1,
        "one leave from each of lobby and dev: {rest:?}"
    );
    let who = ask(&mut carol, "/who").await;
    assert!(who.starts_with("Here in #dev (1): carol"), "{who}");
    let rooms = ask(&mut carol, "/rooms").await;
    assert!(rooms.contains("#dev* (1)"), "{rooms}");
}

/// Two servers on `redis`, bob in #dev on one, then alice in #dev on the
/// other (the servers, alice, bob).
async fn alice_on_a_and_bob_on_b_in_dev(
    redis: &RedisServer,
) -> ([TestServer; 2], TestClient, TestClient) {
    let a = TestServer::with_config(sharing(redis)).await;
    let b = TestServer::with_config(sharing(redis)).await;
    let mut bob = b.join("bob").await;
    bob.join_room("dev").await;
    let mut alice = a.join("alice").await;
    alice.join_room("dev").await;
    ([a, b], alice, bob)
}

#[tokio::test]
async fn leaving_a_room_and_coming_straight_back_is_not_told_to_oneself() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (_servers, mut alice, mut bob) = alice_on_a_and_bob_on_b_in_dev(&redis).await;
    // What an IRC client's /cycle sends, at once: the part is read back
    // from the log after alice is in #dev again.
    alice.say("/part dev").await;
    alice
        .send(&lanchat_shared::ClientMsg::JoinRoom {
            room: "dev".into(),
            key: None,
        })
        .await;
    alice.say_to(Some("dev"), None, "still here", None).await;
    let own = comings_and_goings_of(&mut alice, "alice", "still here").await;
    assert_eq!(
        own,
        [],
        "alice is told of her part and join by their answers"
    );
    let seen = comings_and_goings_of(&mut bob, "alice", "still here").await;
    let expected: Vec<(String, String)> = [
        ("joined", "lobby"),
        ("joined", "dev"),
        ("parted", "dev"),
        ("joined", "dev"),
    ]
    .into_iter()
    .map(|(what, room)| (what.into(), room.into()))
    .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_part_whose_answer_redis_was_too_slow_to_give_is_told_once() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (_servers, mut alice, mut bob) = alice_on_a_and_bob_on_b_in_dev(&redis).await;
    bob.expect_join("alice").await;
    // Longer than the server waits for a reply (5 s): Redis runs the part
    // after the server gave up on it, and the server sends it again.
    redis.stall(6);
    let parted = ask(&mut alice, "/part dev").await;
    assert_eq!(parted, "You left #dev.");
    bob.expect_leave("alice").await;
    // The part is sent again before alice's next change, whose event bob
    // then sees after any second leave.
    alice.say("/away gone").await;
    let mut leaves = 0;
    loop {
        match bob.recv().await {
            ServerMsg::Away { nick, .. } if nick == "alice" => break,
            ServerMsg::Leave { nick, .. } if nick == "alice" => leaves += 1,
            _ => {}
        }
    }
    assert_eq!(leaves, 0, "no second leave");
}

#[tokio::test]
async fn a_join_while_redis_was_away_reaches_the_others_before_what_follows_it() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let a = TestServer::with_config(sharing(&redis)).await;
    let b = TestServer::with_config(sharing(&redis)).await;
    let mut bob = b.join("bob").await;
    bob.join_room("dev").await;
    let mut alice = a.join("alice").await;
    bob.expect_join("alice").await;
    redis.kill();
    alice.join_room("dev").await;
    redis.restart();
    // Sent until Redis takes it (a client resends what was refused).
    loop {
        alice.say_to(Some("dev"), None, "hi", Some("hi-1")).await;
        match alice.recv().await {
            ServerMsg::Message { .. } => break,
            ServerMsg::Error { .. } => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("expected the echo or a refusal, got {other:?}"),
        }
    }
    let seen = comings_and_goings_of(&mut bob, "alice", "hi").await;
    assert_eq!(seen, [("joined".to_owned(), "dev".to_owned())]);
}

#[tokio::test]
async fn a_change_of_who_is_where_that_redis_refuses_holds_back_no_message() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (_servers, mut alice, mut bob) = alice_on_a_and_bob_on_b_in_dev(&redis).await;
    bob.expect_join("alice").await;
    // The numbers of the changes made unreadable, as by another program
    // sharing the Redis: every change is refused there, before anything.
    for words in [
        ["DEL", "lanchat:presence_seq"].as_slice(),
        &["SET", "lanchat:presence_seq", "not a hash"],
    ] {
        assert!(!redis.command(words).starts_with('-'), "{words:?}");
    }
    assert_eq!(ask(&mut alice, "/part dev").await, "You left #dev.");
    alice.say_to(Some("lobby"), None, "still heard", None).await;
    let (_, from, text) = bob.recv_chat().await;
    assert_eq!((from.as_str(), text.as_str()), ("alice", "still heard"));
}
