//! An independent client on lanchat's IRC port: the `irc` crate, a widely
//! used Rust IRC client library, registers, is put in the lobby, joins the
//! channel it is configured with, talks with a JSON client in a room and
//! directly, and quits, all through its own parser and its own state.

#![allow(clippy::panic)] // A test fails by panicking.

use futures_util::StreamExt;
use irc::client::prelude::{Client, Command, Config, Message, Response};
use lanchat_shared::ServerMsg;
use lanchat_tests::{TIMEOUT, TestClient, TestServer, relaxed_config};
use tokio::sync::mpsc;

/// The crate's client, with a task that drives its stream: the crate sends
/// queued lines only while its stream is polled, so one task polls it all
/// along and hands on each message, or the error that ended the stream.
struct CrateClient {
    client: Client,
    /// What the crate read, in order; closed when its stream has ended.
    incoming: mpsc::UnboundedReceiver<irc::error::Result<Message>>,
}

impl CrateClient {
    /// Connects as `nick` over plain TCP (built without a TLS feature, the
    /// crate has no `use_tls` to set), configured to join `channels`
    /// once registered, and identifies (`CAP END`, `NICK`, `USER`).
    async fn connect(server: &TestServer, nick: &str, channels: &[&str]) -> CrateClient {
        let config = Config {
            nickname: Some(nick.to_owned()),
            server: Some("127.0.0.1".to_owned()),
            port: Some(server.irc_addr().port()),
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            ..Config::default()
        };
        let mut client = tokio::time::timeout(TIMEOUT, Client::from_config(config))
            .await
            .expect("connect within the time-out")
            .expect("the crate connects");
        client.identify().expect("identify queued");
        let mut stream = client.stream().expect("the client's stream");
        let (to_test, incoming) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(read) = stream.next().await {
                let failed = read.is_err();
                // The test may have stopped listening; the stream is still
                // driven, for the crate's own sending.
                let _ = to_test.send(read);
                if failed {
                    break;
                }
            }
        });
        CrateClient { client, incoming }
    }

    /// The next message the crate parsed.
    async fn recv(&mut self) -> Message {
        match tokio::time::timeout(TIMEOUT, self.incoming.recv()).await {
            Ok(Some(Ok(msg))) => msg,
            Ok(Some(Err(e))) => panic!("the crate failed reading the server: {e}"),
            Ok(None) => panic!("the crate's stream ended while a message was expected"),
            Err(_) => panic!("the crate got no message within {TIMEOUT:?}"),
        }
    }

    /// Messages up to and including the first that `last` picks.
    async fn until(&mut self, last: impl Fn(&Message) -> bool) -> Vec<Message> {
        let mut seen = Vec::new();
        loop {
            let msg = self.recv().await;
            let done = last(&msg);
            seen.push(msg);
            if done {
                return seen;
            }
        }
    }

    /// The next `PRIVMSG`, as (sender's nickname, target, text).
    async fn privmsg(&mut self) -> (String, String, String) {
        loop {
            let msg = self.recv().await;
            if let Command::PRIVMSG(target, text) = &msg.command {
                let from = msg.source_nickname().expect("a PRIVMSG has a source");
                return (from.to_owned(), target.clone(), text.clone());
            }
        }
    }

    /// Waits until the server has closed the connection and the crate has
    /// read to its end without an error.
    async fn expect_closed(mut self) {
        let ended = tokio::time::timeout(TIMEOUT, async {
            while let Some(read) = self.incoming.recv().await {
                if let Err(e) = read {
                    panic!("the crate failed reading the server: {e}");
                }
            }
        });
        ended
            .await
            .expect("the server closes the connection within the time-out");
    }
}

/// Whether `msg` is `response` (a numeric) about `channel`.
fn is_numeric_for(msg: &Message, response: Response, channel: &str) -> bool {
    matches!(&msg.command, Command::Response(r, args)
        if *r == response && args.iter().any(|a| a == channel))
}

/// Whether `msg` is `nick` joining `channel`.
fn is_join(msg: &Message, nick: &str, channel: &str) -> bool {
    matches!(&msg.command, Command::JOIN(chan, ..) if chan == channel)
        && msg.source_nickname() == Some(nick)
}

/// The next chat message the JSON client gets from someone else,
/// skipping arrivals and the echoes of its own.
async fn next_message(client: &mut TestClient) -> ServerMsg {
    loop {
        match client.recv().await {
            ServerMsg::Message { from, .. } if from == client.nick => {}
            msg @ ServerMsg::Message { .. } => return msg,
            ServerMsg::Join { .. } => {}
            other => panic!("{}: expected a message, got {other:?}", client.nick),
        }
    }
}

/// (from, room, to, text, action) of a `message`, to compare in one go.
fn parts(msg: &ServerMsg) -> (&str, Option<&str>, Option<&str>, &str, Option<bool>) {
    match msg {
        ServerMsg::Message {
            from,
            room,
            to,
            text,
            action,
            ..
        } => (from, room.as_deref(), to.as_deref(), text, *action),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn the_irc_crate_registers_joins_talks_both_ways_and_quits() {
    let server = TestServer::with_irc(relaxed_config()).await;
    let mut alice = server.join("alice").await;
    alice.join_room("dev").await;

    let mut carol = CrateClient::connect(&server, "carol", &["#dev"]).await;
    // Registration: the welcome comes first, and the crate learns its
    // nickname from it.
    let first = carol.recv().await;
    match &first.command {
        Command::Response(Response::RPL_WELCOME, args) => {
            assert_eq!(args.first().map(String::as_str), Some("carol"), "{first}");
        }
        _ => panic!("expected RPL_WELCOME first, got {first}"),
    }
    // Then the lobby, which the server joins every client to, and #dev,
    // which the crate joins itself after the end of the MOTD; #dev's names
    // include alice, who was there first.
    let registration = carol
        .until(|m| is_numeric_for(m, Response::RPL_ENDOFNAMES, "#dev"))
        .await;
    let lines: Vec<String> = registration.iter().map(Message::to_string).collect();
    let lobby = registration
        .iter()
        .position(|m| is_join(m, "carol", "#lobby"))
        .unwrap_or_else(|| panic!("carol is put in #lobby: {lines:?}"));
    let dev = registration
        .iter()
        .position(|m| is_join(m, "carol", "#dev"))
        .unwrap_or_else(|| panic!("carol joins #dev: {lines:?}"));
    assert!(lobby < dev, "{lines:?}");
    let names = registration[dev..]
        .iter()
        .find_map(|m| match &m.command {
            Command::Response(Response::RPL_NAMREPLY, args)
                if args.get(2).is_some_and(|c| c == "#dev") =>
            {
                args.last().cloned()
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("the names of #dev: {lines:?}"));
    let mut names: Vec<&str> = names.split(' ').collect();
    names.sort_unstable();
    assert_eq!(names, ["alice", "carol"], "{lines:?}");
    // The crate's own view of the channels agrees.
    let mut channels = carol.client.list_channels().expect("channel-lists is on");
    channels.sort_unstable();
    assert_eq!(channels, ["#dev", "#lobby"]);
    let mut users: Vec<String> = carol
        .client
        .list_users("#dev")
        .expect("the crate tracks #dev")
        .iter()
        .map(|u| u.get_nickname().to_owned())
        .collect();
    users.sort_unstable();
    assert_eq!(users, ["alice", "carol"]);
    // alice sees carol arrive in both rooms.
    let mut arrivals = Vec::new();
    while arrivals.len() < 2 {
        match alice.recv().await {
            ServerMsg::Join { nick, room, .. } => arrivals.push((nick, room)),
            other => panic!("expected carol's arrivals, got {other:?}"),
        }
    }
    assert_eq!(
        arrivals,
        [
            ("carol".to_owned(), Some("lobby".to_owned())),
            ("carol".to_owned(), Some("dev".to_owned())),
        ]
    );

    // In #dev, both ways.
    alice.say_to(Some("dev"), None, "hi carol", None).await;
    assert_eq!(
        carol.privmsg().await,
        ("alice".into(), "#dev".into(), "hi carol".into())
    );
    carol
        .client
        .send_privmsg("#dev", "hello alice")
        .expect("queued");
    let said = next_message(&mut alice).await;
    assert_eq!(
        parts(&said),
        ("carol", Some("dev"), None, "hello alice", None)
    );

    // Directly, both ways.
    alice.say_to(None, Some("carol"), "psst", None).await;
    assert_eq!(
        carol.privmsg().await,
        ("alice".into(), "carol".into(), "psst".into())
    );
    carol
        .client
        .send_privmsg("alice", "back at you")
        .expect("queued");
    let said = next_message(&mut alice).await;
    assert_eq!(
        parts(&said),
        ("carol", None, Some("alice"), "back at you", None)
    );

    // A CTCP ACTION is a lanchat action.
    carol.client.send_action("#dev", "waves").expect("queued");
    let said = next_message(&mut alice).await;
    assert_eq!(
        parts(&said),
        ("carol", Some("dev"), None, "waves", Some(true))
    );

    // Quitting closes the connection, and alice sees carol leave.
    carol.client.send_quit("bye now").expect("queued");
    assert_eq!(alice.expect_leave("carol").await, "quit: bye now");
    carol.expect_closed().await;
}
