//! IRC clients in lanchat's rooms: a raw IRC client registers, joins,
//! talks with JSON and plain-text clients in the same room, and gets the
//! numerics IRC clients rely on, over real sockets on the IRC port.

#![allow(clippy::panic)] // A test fails by panicking.

use lanchat_server::Config;
use lanchat_shared::keyfile::{KeyFile, ephemeral};
use lanchat_shared::{ClientMsg, ServerMsg};
use lanchat_tests::redis::RedisServer;
use lanchat_tests::{TestClient, TestServer, relaxed_config, sharing};

/// A raw IRC connection: lines out, lines in, each within 512 bytes.
struct Irc {
    client: TestClient,
}

impl Irc {
    async fn connect(server: &TestServer) -> Irc {
        let mut client = TestClient::connect_raw(server.irc_addr()).await;
        client.nick = "irc".into();
        Irc { client }
    }

    async fn connect_tls(server: &TestServer, key: &KeyFile) -> Irc {
        let (mut client, _) = TestClient::connect_tls_raw(server.irc_addr(), Some(key)).await;
        client.nick = "irc+tls".into();
        Irc { client }
    }

    async fn send(&mut self, line: &str) {
        self.client.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// The next line, checked to be a whole IRC line of at most 512 bytes.
    async fn recv(&mut self) -> String {
        let line = self.client.recv_line().await;
        assert!(line.len() < 512, "{} bytes: {line}", line.len() + 1);
        line.strip_suffix('\r')
            .unwrap_or_else(|| panic!("no CRLF: {line:?}"))
            .to_owned()
    }

    /// Reads until a line whose command (or numeric) is `command`.
    async fn until(&mut self, command: &str) -> String {
        loop {
            let line = self.recv().await;
            if command_of(&line) == command {
                return line;
            }
        }
    }

    /// Registers as `nick` without capabilities; returns every line up to
    /// the end of the lobby's names.
    async fn register(&mut self, nick: &str) -> Vec<String> {
        self.send(&format!("NICK {nick}")).await;
        self.send(&format!("USER {nick} 0 * :Test User")).await;
        self.lines_until("366").await
    }

    /// Registers asking for `caps` first.
    async fn register_with(&mut self, nick: &str, caps: &str) -> Vec<String> {
        self.send("CAP LS 302").await;
        self.until("CAP").await;
        self.send(&format!("CAP REQ :{caps}")).await;
        assert!(self.until("CAP").await.contains(" ACK "));
        self.send(&format!("NICK {nick}")).await;
        self.send(&format!("USER {nick} 0 * :Test User")).await;
        self.send("CAP END").await;
        self.lines_until("366").await
    }

    async fn lines_until(&mut self, command: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.recv().await;
            let done = command_of(&line) == command;
            lines.push(line);
            if done {
                return lines;
            }
        }
    }
}

/// The command or numeric of a line, after its tags and source.
fn command_of(line: &str) -> &str {
    let mut words = line.split(' ').skip_while(|w| w.starts_with('@'));
    let first = words.next().unwrap_or_default();
    if first.starts_with(':') {
        words.next().unwrap_or_default()
    } else {
        first
    }
}

/// The last parameter of a line (after ` :`).
fn trailing(line: &str) -> &str {
    let body = line.split_once(' ').map_or(line, |(_, rest)| rest);
    body.split_once(" :").map_or("", |(_, text)| text)
}

async fn irc_server() -> TestServer {
    TestServer::with_irc(relaxed_config()).await
}

#[tokio::test]
async fn registration_with_capabilities_answers_in_modern_irc_order_and_joins_the_lobby() {
    let server = irc_server().await;
    let mut irc = Irc::connect(&server).await;
    // Before registering: PING is answered, JOIN is 451, not a bad line.
    irc.send("PING :early").await;
    assert_eq!(
        irc.until("PONG").await,
        ":lanchat.lan PONG lanchat.lan :early"
    );
    irc.send("JOIN :").await;
    assert!(irc.until("451").await.starts_with(":lanchat.lan 451 *"));
    irc.send("CAP LS 302").await;
    assert_eq!(
        irc.until("CAP").await,
        ":lanchat.lan CAP * LS :away-notify batch draft/chathistory echo-message message-tags sasl=EXTERNAL server-time"
    );
    irc.send("CAP REQ :server-time bogus").await;
    assert!(
        irc.until("CAP").await.contains(" NAK :server-time bogus"),
        "all or nothing"
    );
    irc.send("NICK carol").await;
    irc.send("USER carol 0 * :Carol").await;
    // Nothing until CAP END.
    irc.send("CAP REQ :server-time message-tags").await;
    assert_eq!(
        irc.until("CAP").await,
        ":lanchat.lan CAP * ACK :server-time message-tags"
    );
    irc.send("CAP END").await;
    let lines = irc.lines_until("366").await;
    let commands: Vec<&str> = lines.iter().map(|l| command_of(l)).collect();
    let isupport = commands.iter().filter(|c| **c == "005").count();
    let mut expected = vec!["001", "002", "003", "004"];
    expected.extend(std::iter::repeat_n("005", isupport));
    expected.extend(["422", "JOIN", "353", "366"]);
    assert_eq!(commands, expected);
    assert!(lines[0].starts_with(":lanchat.lan 001 carol :Welcome"));
    let tokens = lines
        .iter()
        .filter(|l| command_of(l) == "005")
        .cloned()
        .collect::<String>();
    for token in [
        "CASEMAPPING=ascii",
        "CHANTYPES=#",
        "NICKLEN=",
        "CHANNELLEN=",
        "CHANLIMIT=#:",
        "PREFIX=(o)@",
        "CHANMODES=",
        "NETWORK=lanchat",
        "TARGMAX=",
        "UTF8ONLY",
    ] {
        assert!(tokens.contains(token), "{token} in {tokens}");
    }
    let join = lines.iter().find(|l| command_of(l) == "JOIN").unwrap();
    assert_eq!(join, ":carol!carol@lanchat JOIN #lobby");
    let names = lines.iter().find(|l| command_of(l) == "353").unwrap();
    assert_eq!(names, ":lanchat.lan 353 carol = #lobby :carol");
    // After registering, PING still works, and so does the second JOIN
    // of the lobby clients send: no error, no second replay.
    irc.send("JOIN #lobby").await;
    irc.send("PING :later").await;
    assert_eq!(irc.recv().await, ":lanchat.lan PONG lanchat.lan :later");
}

#[tokio::test]
async fn registration_without_capabilities_refuses_taken_and_unsayable_nicknames() {
    let server = irc_server().await;
    let _alice = server.join("alice").await;
    let mut irc = Irc::connect(&server).await;
    irc.send("NICK alice").await;
    irc.send("USER alice 0 * :Alice").await;
    assert!(
        irc.until("433")
            .await
            .starts_with(":lanchat.lan 433 * alice :")
    );
    irc.send("NICK a[b").await;
    assert!(
        irc.until("432")
            .await
            .starts_with(":lanchat.lan 432 * a[b :")
    );
    // `|` is how IRC spells lanchat's `.`.
    irc.send("NICK ann|b").await;
    let lines = irc.lines_until("366").await;
    assert!(lines[0].starts_with(":lanchat.lan 001 ann|b "), "{lines:?}");
    let mut alice = server.join("alice2").await;
    alice.say("/who").await;
    loop {
        if let ServerMsg::Info { text } = alice.recv().await {
            assert!(text.contains("ann.b"), "{text}");
            break;
        }
    }
}

#[tokio::test]
async fn irc_json_and_plain_text_clients_talk_in_one_room_with_its_history() {
    let server = irc_server().await;
    let mut alice = server.join("alice").await;
    alice.join_room("dev").await;
    alice
        .say_to(Some("dev"), None, "before carol came", None)
        .await;
    alice.recv_chat().await;

    let mut carol = Irc::connect(&server).await;
    carol
        .register_with("carol", "server-time message-tags")
        .await;
    carol.send("JOIN #dev").await;
    assert_eq!(carol.recv().await, ":carol!carol@lanchat JOIN #dev");
    let names = carol.recv().await;
    assert_eq!(names, ":lanchat.lan 353 carol = #dev :alice carol");
    assert_eq!(command_of(&carol.recv().await), "366");
    // The history, with its original time and its id.
    let replayed = carol.until("PRIVMSG").await;
    assert!(replayed.starts_with("@time=20"), "{replayed}");
    assert!(
        replayed.contains(";msgid=") || replayed.contains("@msgid="),
        "{replayed}"
    );
    assert!(
        replayed.ends_with(":alice!alice@lanchat PRIVMSG #dev :before carol came"),
        "{replayed}"
    );

    // Both ways, with an action, formatting stripped, and a leading `/`
    // that is words, not a command.
    alice.say_to(Some("dev"), None, "hi carol", None).await;
    assert!(
        carol
            .until("PRIVMSG")
            .await
            .ends_with(":alice!alice@lanchat PRIVMSG #dev :hi carol")
    );
    carol.send("PRIVMSG #dev :\x0304red\x03 and \x02bold").await;
    carol.send("PRIVMSG #dev :\x01ACTION waves\x01").await;
    carol.send("PRIVMSG #dev :/nick mallory").await;
    let mut said = Vec::new();
    while said.len() < 4 {
        if let ServerMsg::Message {
            from, text, action, ..
        } = alice.recv().await
        {
            said.push((from, text, action));
        }
    }
    assert_eq!(
        said[1..],
        [
            ("carol".into(), "red and bold".into(), None),
            ("carol".into(), "waves".into(), Some(true)),
            ("carol".into(), "/nick mallory".into(), None),
        ]
    );

    // A plain-text client in the same room sees the IRC user's words.
    let mut nc = TestClient::connect_raw(server.addr()).await;
    nc.recv_line().await;
    nc.send_line("netcat").await;
    nc.send_line("/join dev").await;
    loop {
        if nc.recv_line().await.contains("You are in #dev") {
            break;
        }
    }
    carol.send("PRIVMSG #dev :hello nc").await;
    loop {
        if nc.recv_line().await.ends_with("<carol> hello nc") {
            break;
        }
    }
    nc.send_line("hello irc").await;
    assert!(
        carol
            .until("PRIVMSG")
            .await
            .ends_with(":netcat!netcat@lanchat PRIVMSG #dev :hello irc")
    );
}

#[tokio::test]
async fn direct_messages_cross_dialects_and_echo_only_with_echo_message() {
    let server = irc_server().await;
    let mut alice = server.join("alice").await;
    let mut carol = Irc::connect(&server).await;
    carol.register("carol").await;
    alice.say("/msg carol psst").await;
    assert_eq!(
        carol.until("PRIVMSG").await,
        ":alice!alice@lanchat PRIVMSG carol :psst"
    );
    carol.send("PRIVMSG alice :back at you").await;
    loop {
        if let ServerMsg::Message { from, to, text, .. } = alice.recv().await
            && from == "carol"
        {
            assert_eq!(
                (to.as_deref(), text.as_str()),
                (Some("alice"), "back at you")
            );
            break;
        }
    }
    // Without echo-message carol never sees her own line; the next line
    // she gets is alice's.
    carol.send("PRIVMSG #lobby :mine").await;
    alice.say("theirs").await;
    assert!(carol.until("PRIVMSG").await.ends_with(":theirs"));

    let mut dave = Irc::connect(&server).await;
    dave.register_with("dave", "echo-message").await;
    dave.send("PRIVMSG #lobby :echoed").await;
    // After the lobby's history, which has the lines above.
    loop {
        let line = dave.until("PRIVMSG").await;
        if line.ends_with(":echoed") {
            assert_eq!(line, ":dave!dave@lanchat PRIVMSG #lobby :echoed");
            break;
        }
    }
    dave.send("PRIVMSG nobody :hello?").await;
    assert!(
        dave.until("401")
            .await
            .starts_with(":lanchat.lan 401 dave nobody :")
    );
}

#[tokio::test]
async fn leaving_the_chat_is_one_quit_and_parting_a_room_is_a_part() {
    let server = irc_server().await;
    let mut dave = Irc::connect(&server).await;
    dave.register("dave").await;
    dave.send("JOIN #dev,#ops").await;
    dave.until("366").await;
    dave.until("366").await;
    let mut carol = Irc::connect(&server).await;
    carol.register("carol").await;
    carol.send("JOIN #dev,#ops").await;
    carol.until("366").await;
    carol.until("366").await;
    carol.send("PART #ops").await;
    assert_eq!(carol.until("PART").await, ":carol!carol@lanchat PART #ops");
    assert_eq!(dave.until("PART").await, ":carol!carol@lanchat PART #ops");
    carol.send("QUIT :bye now").await;
    let mut alice = server.join("alice").await;
    alice.say("after").await;
    let mut seen = Vec::new();
    loop {
        let line = dave.recv().await;
        if line.ends_with(":after") {
            break;
        }
        seen.push(line);
    }
    let quits: Vec<&String> = seen.iter().filter(|l| command_of(l) == "QUIT").collect();
    assert_eq!(
        quits,
        [":carol!carol@lanchat QUIT :Quit: bye now"],
        "{seen:?}"
    );
    assert!(!seen.iter().any(|l| command_of(l) == "PART"), "{seen:?}");
}

#[tokio::test]
async fn a_long_message_becomes_lines_within_512_bytes_that_join_back_exactly() {
    let server = irc_server().await;
    let mut alice = server.join("alice").await;
    let mut carol = Irc::connect(&server).await;
    carol.register("carol").await;
    let text: String = (0..2000)
        .map(|i| match i % 7 {
            0 => ' ',
            1 => 'é',
            2 => '日',
            _ => 'a',
        })
        .collect::<String>()
        .trim()
        .to_owned();
    alice.say(&text).await;
    let mut joined = String::new();
    while joined.chars().count() < text.chars().count() {
        let line = carol.until("PRIVMSG").await;
        joined.push_str(trailing(&line));
    }
    assert_eq!(joined, text);
}

#[tokio::test]
async fn a_flood_from_an_irc_client_is_delayed_not_dropped() {
    let config = Config {
        rate: lanchat_shared::Rate {
            per_sec: 20.0,
            burst: 3,
        },
        ..relaxed_config()
    };
    let server = TestServer::with_irc(config).await;
    let mut alice = server.join("alice").await;
    let mut carol = Irc::connect(&server).await;
    carol.register("carol").await;
    let flood: String = (0..12)
        .map(|i| format!("PRIVMSG #lobby :line {i}\r\n"))
        .collect();
    carol.client.send_raw(flood.as_bytes()).await;
    let mut got = Vec::new();
    while got.len() < 12 {
        if let ServerMsg::Message { from, text, .. } = alice.recv().await
            && from == "carol"
        {
            got.push(text);
        }
    }
    let expected: Vec<String> = (0..12).map(|i| format!("line {i}")).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn channel_queries_answer_what_irssi_needs_to_sync_and_unknown_commands_are_421() {
    let server = irc_server().await;
    let mut carol = Irc::connect(&server).await;
    carol.register("carol").await;
    carol.send("MODE carol +i").await;
    assert_eq!(carol.until("221").await, ":lanchat.lan 221 carol :+");
    carol.send("JOIN #dev").await;
    carol.until("366").await;
    carol.send("MODE #dev").await;
    assert_eq!(carol.until("324").await, ":lanchat.lan 324 carol #dev :+nt");
    carol.send("WHO #dev").await;
    assert_eq!(
        carol.until("352").await,
        ":lanchat.lan 352 carol #dev carol lanchat lanchat.lan carol H :0 lanchat"
    );
    assert_eq!(
        carol.recv().await,
        ":lanchat.lan 315 carol #dev :End of WHO list"
    );
    carol.send("MODE #dev b").await;
    assert!(
        carol
            .until("368")
            .await
            .starts_with(":lanchat.lan 368 carol #dev :")
    );
    carol.send("NAMES #dev").await;
    assert_eq!(
        carol.until("353").await,
        ":lanchat.lan 353 carol = #dev :carol"
    );
    carol.send("LIST").await;
    let list = carol.lines_until("323").await;
    let rooms: Vec<&str> = list
        .iter()
        .filter(|l| command_of(l) == "322")
        .map(String::as_str)
        .collect();
    assert_eq!(
        rooms,
        [
            ":lanchat.lan 322 carol #dev 1 :",
            ":lanchat.lan 322 carol #lobby 1 :"
        ]
    );
    carol.send("ISON carol nobody").await;
    assert_eq!(carol.until("303").await, ":lanchat.lan 303 carol :carol");
    carol.send("TOPIC #dev").await;
    assert!(
        carol
            .until("331")
            .await
            .starts_with(":lanchat.lan 331 carol #dev :")
    );
    // Commands lanchat does not have are answered, however many: not bad
    // lines that would close the connection.
    for _ in 0..40 {
        carol.send("FROBNICATE now").await;
    }
    for _ in 0..40 {
        assert!(
            carol
                .until("421")
                .await
                .starts_with(":lanchat.lan 421 carol FROBNICATE :")
        );
    }
    carol.send("PING :alive").await;
    assert!(carol.until("PONG").await.ends_with("alive"));
}

#[tokio::test]
async fn a_client_certificate_on_the_irc_port_is_the_same_identity_as_lanchats_client() {
    let server = irc_server().await;
    let key = ephemeral().expect("a key");
    // alice's key owns her nickname from lanchat's own client...
    let alice = server.join_with_key("alice", &key).await;
    drop(alice);
    // ...so a guest on IRC cannot take it,
    let mut guest = Irc::connect(&server).await;
    guest.send("NICK alice").await;
    guest.send("USER alice 0 * :Alice").await;
    let refused = guest.until("433").await;
    assert!(
        refused.starts_with(":lanchat.lan 433 * alice :"),
        "{refused}"
    );
    // and the same key over TLS on the IRC port can.
    let mut irc = Irc::connect_tls(&server, &key).await;
    let lines = irc.register("alice").await;
    assert!(lines[0].starts_with(":lanchat.lan 001 alice "), "{lines:?}");
    let mut bob = server.join("bob").await;
    bob.send_line(r#"{"type":"whois","nick":"alice"}"#).await;
    loop {
        if let ServerMsg::Whois {
            identity,
            owned,
            encrypted,
            ..
        } = bob.recv().await
        {
            assert_eq!(identity, Some(key.fingerprint.to_string()));
            assert!(owned && encrypted);
            break;
        }
    }
    // And IRC's WHOIS shows the key.
    irc.send("WHOIS alice").await;
    let whois = irc.lines_until("318").await;
    // The user and host as in every prefix, `alice!alice@lanchat`.
    assert!(
        whois.contains(
            &":lanchat.lan 311 alice alice alice lanchat * :owns this nickname".to_owned()
        ),
        "{whois:?}"
    );
    let key_line = whois.iter().find(|l| command_of(l) == "276").expect("276");
    assert!(
        key_line.ends_with(&key.fingerprint.to_string()),
        "{key_line}"
    );
    assert!(whois.iter().any(|l| command_of(l) == "671"), "{whois:?}");
}

#[tokio::test]
async fn away_is_answered_in_numerics_and_others_see_it() {
    let server = irc_server().await;
    let mut carol = Irc::connect(&server).await;
    carol.register("carol").await;
    carol.send("AWAY :at lunch").await;
    assert!(
        carol
            .until("306")
            .await
            .starts_with(":lanchat.lan 306 carol :")
    );
    let mut alice = server.join("alice").await;
    alice.send_line(r#"{"type":"whois","nick":"carol"}"#).await;
    loop {
        if let ServerMsg::Whois { away, .. } = alice.recv().await {
            assert_eq!(away.as_deref(), Some("at lunch"));
            break;
        }
    }
    carol.send("AWAY").await;
    assert!(
        carol
            .until("305")
            .await
            .starts_with(":lanchat.lan 305 carol :")
    );
    // With away-notify, others' going away and coming back are told.
    let mut dave = Irc::connect(&server).await;
    dave.register_with("dave", "away-notify").await;
    alice.say("/away gone fishing").await;
    let away = dave.until("AWAY").await;
    assert!(away.starts_with(":alice!"), "{away}");
    assert_eq!(trailing(&away), "gone fishing");
    alice.say("/back").await;
    let back = dave.until("AWAY").await;
    assert!(
        back.starts_with(":alice!") && back.ends_with(" AWAY"),
        "{back}"
    );
    // Without it, nothing: carol sees no AWAY before the answer to a PING.
    carol.send("PING :after").await;
    let lines = carol.lines_until("PONG").await;
    assert!(
        lines.iter().all(|line| command_of(line) != "AWAY"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn an_irc_operator_keeps_order_with_topic_kick_and_ban_modes() {
    let server = irc_server().await;
    let key = ephemeral().expect("a key");
    let mut founder = Irc::connect_tls(&server, &key).await;
    founder.register("ops").await;
    founder.send("JOIN #ops").await;
    // The founder keeps order, and its own entry says so: in the channel
    // first, then the MODE about it.
    assert_eq!(founder.recv().await, ":ops!ops@lanchat JOIN #ops");
    assert_eq!(
        founder.until("353").await,
        ":lanchat.lan 353 ops = #ops :@ops"
    );
    let mut guest = Irc::connect(&server).await;
    guest.register("guest").await;
    guest.send("JOIN #ops").await;
    guest.until("366").await;

    guest.send("TOPIC #ops :mine now").await;
    assert!(
        guest
            .until("482")
            .await
            .starts_with(":lanchat.lan 482 guest #ops :")
    );
    founder.send("TOPIC #ops :Be kind").await;
    assert_eq!(
        guest.until("TOPIC").await,
        ":ops!ops@lanchat TOPIC #ops :Be kind"
    );

    founder.send("KICK #ops guest :calm down").await;
    assert_eq!(
        guest.until("KICK").await,
        ":ops!ops@lanchat KICK #ops guest :kicked by ops: calm down"
    );
    // Kicked, not banned: it may come back, and is told the topic.
    guest.send("JOIN #ops").await;
    assert_eq!(
        guest.until("332").await,
        ":lanchat.lan 332 guest #ops :Be kind"
    );

    let mut member = Irc::connect_tls(&server, &ephemeral().expect("a key")).await;
    member.register("member").await;
    member.send("JOIN #ops").await;
    member.until("366").await;
    founder.send("MODE #ops +b guest!*@*").await;
    assert!(
        guest
            .until("KICK")
            .await
            .contains(" KICK #ops guest :banned by ops")
    );
    guest.send("JOIN #ops").await;
    assert!(
        guest
            .until("474")
            .await
            .starts_with(":lanchat.lan 474 guest #ops :")
    );
    // The ban list: its entries for an operator, only its end for others.
    founder.send("MODE #ops b").await;
    let entry = founder.until("367").await;
    assert!(
        entry.starts_with(":lanchat.lan 367 ops #ops ~127.0.0.1 ops "),
        "{entry}"
    );
    assert!(
        founder
            .recv()
            .await
            .starts_with(":lanchat.lan 368 ops #ops :")
    );
    member.send("MODE #ops b").await;
    let seen = member.lines_until("368").await;
    assert!(!seen.iter().any(|l| command_of(l) == "367"), "{seen:?}");
    founder.send("MODE #ops -b ~127.0.0.1").await;
    while !founder.until("NOTICE").await.contains("lifted the ban") {}
    guest.send("JOIN #ops").await;
    assert_eq!(guest.until("JOIN").await, ":guest!guest@lanchat JOIN #ops");
}

#[tokio::test]
async fn a_channel_made_invite_only_and_given_a_key_refuses_with_473_then_475() {
    let server = irc_server().await;
    let mut founder = Irc::connect_tls(&server, &ephemeral().expect("a key")).await;
    founder.register("ops").await;
    founder.send("JOIN #priv").await;
    founder.until("366").await;
    founder.send("MODE #priv +i").await;
    while !founder.until("NOTICE").await.contains("private") {}
    let mut guest = Irc::connect(&server).await;
    guest.register("guest").await;
    guest.send("JOIN #priv").await;
    assert!(
        guest
            .until("473")
            .await
            .starts_with(":lanchat.lan 473 guest #priv :")
    );
    founder.send("MODE #priv +k sesame").await;
    while !founder.until("NOTICE").await.contains("key") {}
    // Without the key, or with another: 475, which IRC clients answer by
    // asking for the key.
    for join in ["JOIN #priv", "JOIN #priv wrong"] {
        guest.send(join).await;
        assert!(
            guest
                .until("475")
                .await
                .starts_with(":lanchat.lan 475 guest #priv :"),
            "{join}"
        );
    }
    guest.send("JOIN #priv sesame").await;
    assert_eq!(guest.until("JOIN").await, ":guest!guest@lanchat JOIN #priv");
}

#[tokio::test]
async fn a_tls_client_that_starts_its_handshake_late_is_told_apart_on_the_irc_port() {
    let server = irc_server().await;
    // Later than the main port waits before it takes a silent client for
    // plain and greets it (200 ms).
    let late = std::time::Duration::from_millis(700);
    let key = ephemeral().expect("a key");
    let client = TestClient::connect_tls_late(server.irc_addr(), Some(&key), late).await;
    let mut irc = Irc { client };
    irc.register("late").await;
    let mut alice = server.join("alice").await;
    alice
        .send(&ClientMsg::Whois {
            nick: "late".into(),
        })
        .await;
    loop {
        if let ServerMsg::Whois {
            identity,
            encrypted,
            ..
        } = alice.recv().await
        {
            assert_eq!(identity.as_deref(), Some(key.fingerprint.as_str()));
            assert!(encrypted);
            break;
        }
    }
}

#[tokio::test]
async fn history_comes_in_a_chathistory_batch_when_asked_for() {
    let server = irc_server().await;
    let mut alice = server.join("alice").await;
    alice.join_room("dev").await;
    for text in ["one", "two"] {
        alice.say_to(Some("dev"), None, text, None).await;
        alice.recv_chat().await;
    }
    let mut carol = Irc::connect(&server).await;
    carol.register_with("carol", "batch").await;
    carol.send("JOIN #dev").await;
    carol.until("366").await;
    let start = carol.recv().await;
    let (_, reference) = start
        .split_once(" BATCH +")
        .unwrap_or_else(|| panic!("a batch starts: {start}"));
    let reference = reference.split(' ').next().unwrap().to_owned();
    assert_eq!(
        start,
        format!(":lanchat.lan BATCH +{reference} chathistory #dev")
    );
    for text in ["one", "two"] {
        assert_eq!(
            carol.recv().await,
            format!("@batch={reference} :alice!alice@lanchat PRIVMSG #dev :{text}")
        );
    }
    assert_eq!(
        carol.recv().await,
        format!(":lanchat.lan BATCH -{reference}")
    );
    // Live messages are outside any batch.
    alice.say_to(Some("dev"), None, "live", None).await;
    assert_eq!(
        carol.until("PRIVMSG").await,
        ":alice!alice@lanchat PRIVMSG #dev :live"
    );
}

#[tokio::test]
async fn sasl_external_confirms_the_client_certificate_and_fails_without_one() {
    let server = irc_server().await;
    let key = ephemeral().expect("a key");
    let mut irc = Irc::connect_tls(&server, &key).await;
    irc.send("CAP LS").await;
    // Without 302, no values.
    assert!(irc.until("CAP").await.ends_with(" sasl server-time"));
    irc.send("CAP REQ :sasl").await;
    irc.until("CAP").await;
    irc.send("NICK alice").await;
    irc.send("USER alice 0 * :Alice").await;
    irc.send("AUTHENTICATE EXTERNAL").await;
    assert_eq!(irc.recv().await, "AUTHENTICATE +");
    irc.send("AUTHENTICATE +").await;
    let logged_in = irc.until("900").await;
    assert!(
        logged_in.contains(&format!(" {} :", key.fingerprint)),
        "{logged_in}"
    );
    assert!(irc.until("903").await.starts_with(":lanchat.lan 903 "));
    irc.send("CAP END").await;
    assert!(
        irc.until("001")
            .await
            .starts_with(":lanchat.lan 001 alice ")
    );

    let mut guest = Irc::connect(&server).await;
    guest.send("AUTHENTICATE PLAIN").await;
    assert!(guest.until("908").await.contains(" EXTERNAL :"));
    assert!(guest.until("904").await.starts_with(":lanchat.lan 904 * :"));
    guest.send("AUTHENTICATE EXTERNAL").await;
    assert!(guest.until("904").await.contains("no client certificate"));
}

#[tokio::test]
async fn an_irc_client_turned_away_at_the_door_is_told_in_irc() {
    let config = Config {
        require_tls: true,
        ..relaxed_config()
    };
    let server = TestServer::with_irc(config).await;
    let mut plain = Irc::connect(&server).await;
    plain.send("NICK carol").await;
    let refused = plain.recv().await;
    assert!(
        refused.starts_with("ERROR :This server takes encrypted connections only"),
        "{refused}"
    );
    assert!(plain.client.try_recv_line().await.is_none(), "and closed");
}

#[tokio::test]
async fn a_nickname_that_quit_and_came_back_quits_again_visibly() {
    let server = irc_server().await;
    let mut dave = Irc::connect(&server).await;
    dave.register("dave").await;
    let mut carol = Irc::connect(&server).await;
    carol.register("carol").await;
    carol.send("QUIT :first").await;
    assert_eq!(carol.until("ERROR").await, "ERROR :Closing link: quit");
    assert!(
        dave.until("QUIT")
            .await
            .starts_with(":carol!carol@lanchat QUIT ")
    );
    // Someone else takes the name, then leaves too: a second QUIT.
    let mut bob = Irc::connect(&server).await;
    bob.register("bob").await;
    bob.send("NICK carol").await;
    assert_eq!(dave.until("NICK").await, ":bob!bob@lanchat NICK carol");
    bob.send("QUIT :second").await;
    assert_eq!(
        dave.until("QUIT").await,
        ":carol!carol@lanchat QUIT :Quit: second"
    );
}

#[tokio::test]
async fn a_notice_is_delivered_but_answered_by_nothing() {
    let server = irc_server().await;
    let mut alice = server.join("alice").await;
    alice.say("/away lunch").await;
    let mut bot = Irc::connect(&server).await;
    bot.register("bot").await;
    bot.send("NOTICE alice :build finished").await;
    loop {
        if let ServerMsg::Message { from, text, .. } = alice.recv().await
            && from == "bot"
        {
            assert_eq!(text, "build finished");
            break;
        }
    }
    // A CTCP in a NOTICE, an ACTION included, is a reply nobody asked:
    // not delivered, and answered by nothing either.
    bot.send("NOTICE alice :\x01ACTION waves\x01").await;
    // Nothing came back to the bot for its NOTICEs: the next line it gets
    // answers its PING.
    bot.send("PING :next").await;
    assert_eq!(bot.recv().await, ":lanchat.lan PONG lanchat.lan :next");
    // A PRIVMSG to someone away gets the away message back.
    bot.send("PRIVMSG alice :are you there?").await;
    assert_eq!(
        bot.until("NOTICE").await,
        ":lanchat.lan NOTICE bot :alice is away: lunch"
    );
    // And alice was given the PRIVMSG after the first NOTICE, not the
    // ACTION.
    loop {
        if let ServerMsg::Message { from, text, .. } = alice.recv().await
            && from == "bot"
        {
            assert_eq!(text, "are you there?");
            break;
        }
    }
}

#[tokio::test]
async fn a_notice_stays_a_notice_in_every_dialect_and_in_history() {
    let server = irc_server().await;
    let mut carol = Irc::connect(&server).await;
    carol.register("carol").await;
    let mut alice = server.join("alice").await;
    while command_of(&carol.recv().await) != "JOIN" {}

    // An IRC bot's NOTICE: a JSON client is told it is one, an IRC
    // client receives a NOTICE, and a plain-text client reads `-bot-`.
    let mut nc = TestClient::connect_raw(server.addr()).await;
    nc.recv_line().await;
    nc.send_line("netcat").await;
    let mut bot = Irc::connect(&server).await;
    bot.register("bot").await;
    bot.send("NOTICE #lobby :build 7 passed").await;
    loop {
        if let ServerMsg::Message {
            from, text, notice, ..
        } = alice.recv().await
            && from == "bot"
        {
            assert_eq!((text.as_str(), notice), ("build 7 passed", Some(true)));
            break;
        }
    }
    assert!(
        carol
            .until("NOTICE")
            .await
            .ends_with(":bot!bot@lanchat NOTICE #lobby :build 7 passed")
    );
    while !nc.recv_line().await.ends_with("-bot- build 7 passed") {}

    // A JSON client's notice is words even when it starts with `/`, and
    // reaches IRC as a NOTICE; its sender is not told that carol is away.
    carol.send("AWAY :out").await;
    carol.until("306").await;
    alice
        .send(&ClientMsg::Say {
            text: "/quit is what you type".into(),
            room: None,
            to: Some("carol".into()),
            client_id: None,
            notice: Some(true),
        })
        .await;
    assert!(
        carol
            .until("NOTICE")
            .await
            .ends_with(":alice!alice@lanchat NOTICE carol :/quit is what you type")
    );
    // Its sender's echo says it was sent as a notice; nothing else came.
    loop {
        match alice.recv().await {
            ServerMsg::Message { text, notice, .. } => {
                assert_eq!(
                    (text.as_str(), notice),
                    ("/quit is what you type", Some(true))
                );
                break;
            }
            ServerMsg::Away { .. } => {}
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    alice.expect_alive().await;

    // History keeps the kind: a client arriving later is replayed a NOTICE.
    let mut dave = Irc::connect(&server).await;
    dave.register("dave").await;
    let replayed = loop {
        let line = dave.recv().await;
        if line.starts_with(":bot!") {
            break line;
        }
    };
    assert_eq!(replayed, ":bot!bot@lanchat NOTICE #lobby :build 7 passed");
}

#[tokio::test]
async fn many_channels_on_one_line_are_answered_in_full_and_at_the_rate() {
    let server = irc_server().await;
    let mut carol = Irc::connect(&server).await;
    carol.register("carol").await;
    // More channels than a client may be in, none of them joined: every
    // one within TARGMAX answered, the connection kept.
    let channels: Vec<String> = (0..40).map(|i| format!("#r{i}")).collect();
    carol.send(&format!("PART {}", channels.join(","))).await;
    for channel in &channels[..32] {
        let line = carol.until("442").await;
        assert!(
            line.starts_with(&format!(":lanchat.lan 442 carol {channel} :")),
            "{line}"
        );
    }
    carol.send("JOIN #a,#b,#c").await;
    for channel in ["#a", "#b", "#c"] {
        assert_eq!(
            carol.until("JOIN").await,
            format!(":carol!carol@lanchat JOIN {channel}")
        );
    }
    carol.send("JOIN 0").await;
    for channel in ["#a", "#b", "#c"] {
        assert_eq!(
            carol.until("PART").await,
            format!(":carol!carol@lanchat PART {channel}")
        );
    }
    carol.send("PRIVMSG #a :still here?").await;
    assert!(
        carol
            .until("404")
            .await
            .starts_with(":lanchat.lan 404 carol #a :")
    );
    carol.send("PING :alive").await;
    assert!(carol.until("PONG").await.ends_with(":alive"));
}

#[tokio::test]
async fn small_numerics_irc_clients_expect() {
    let server = irc_server().await;
    let mut carol = Irc::connect(&server).await;
    // A nickname with a space cannot be a parameter: shown as `*`.
    carol.send("NICK :a b").await;
    carol.send("USER carol 0 * :Carol").await;
    assert!(
        carol
            .until("432")
            .await
            .starts_with(":lanchat.lan 432 * * :")
    );
    carol.register("carol").await;
    carol.send("NICK carol2").await;
    assert_eq!(
        carol.until("NICK").await,
        ":carol!carol@lanchat NICK carol2"
    );
    carol.send("MODE somebody").await;
    assert!(
        carol
            .until("502")
            .await
            .starts_with(":lanchat.lan 502 carol2 :")
    );
    carol.send("MODE #lobby +o").await;
    assert!(
        carol
            .until("461")
            .await
            .starts_with(":lanchat.lan 461 carol2 MODE :")
    );
    carol.send("NAMES").await;
    assert!(
        carol
            .until("366")
            .await
            .starts_with(":lanchat.lan 366 carol2 * :")
    );
    // An away message of wide characters still fits a 512-byte line.
    let mut alice = server.join("alice").await;
    alice.say(&format!("/away {}", "日".repeat(200))).await;
    carol.send("WHOIS alice").await;
    let away = carol.until("301").await;
    assert!(away.len() < 512 && away.contains("日日日"), "{away}");
}

#[tokio::test]
async fn a_server_password_is_given_with_pass() {
    let config = Config {
        password: Some(lanchat_server::Secret::new("sesame")),
        ..relaxed_config()
    };
    let server = TestServer::with_irc(config).await;
    let mut wrong = Irc::connect(&server).await;
    wrong.send("NICK carol").await;
    wrong.send("USER carol 0 * :Carol").await;
    assert!(wrong.until("464").await.contains("PASS"));
    let mut right = Irc::connect(&server).await;
    right.send("PASS sesame").await;
    let lines = right.register("carol").await;
    assert!(lines[0].starts_with(":lanchat.lan 001 carol "), "{lines:?}");
}

#[tokio::test]
async fn one_message_reads_right_to_irc_clients_with_different_capabilities() {
    let server = irc_server().await;
    let mut tagged = Irc::connect(&server).await;
    tagged
        .register_with("tagged", "server-time message-tags")
        .await;
    let mut timed = Irc::connect(&server).await;
    timed.register_with("timed", "server-time").await;
    let mut plain = Irc::connect(&server).await;
    plain.register("plain").await;
    let mut alice = server.join("alice").await;
    alice.say("one line for all").await;
    let body = ":alice!alice@lanchat PRIVMSG #lobby :one line for all";
    let tagged_line = tagged.until("PRIVMSG").await;
    assert!(
        tagged_line.starts_with("@time=") && tagged_line.contains(";msgid="),
        "{tagged_line}"
    );
    let timed_line = timed.until("PRIVMSG").await;
    assert!(
        timed_line.starts_with("@time=") && !timed_line.contains("msgid"),
        "{timed_line}"
    );
    assert_eq!(plain.until("PRIVMSG").await, body);
    for line in [&tagged_line, &timed_line] {
        assert!(line.ends_with(body), "{line}");
    }
}

#[tokio::test]
async fn chathistory_pages_through_a_room_by_lanchat_ids() {
    pages_through_history(irc_server().await).await;
}

#[tokio::test]
async fn chathistory_pages_through_a_room_kept_in_redis_alike() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    pages_through_history(TestServer::with_irc(sharing(&redis)).await).await;
}

#[tokio::test]
async fn chathistory_pages_through_one_conversation_of_direct_messages() {
    pages_through_a_conversation(irc_server().await).await;
}

#[tokio::test]
async fn chathistory_pages_through_one_conversation_kept_in_redis_alike() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    pages_through_a_conversation(TestServer::with_irc(sharing(&redis)).await).await;
}

/// `CHATHISTORY` of a nickname: the direct messages with that person,
/// both ways, and none of another conversation.
async fn pages_through_a_conversation(server: TestServer) {
    let mut alice = server
        .join_with_key("alice", &ephemeral().expect("a key"))
        .await;
    let mut bob = server
        .join_with_key("bob", &ephemeral().expect("a key"))
        .await;
    let mut carol = Irc::connect_tls(&server, &ephemeral().expect("a key")).await;
    carol
        .register_with("carol", "batch message-tags draft/chathistory echo-message")
        .await;
    let mut ids = Vec::new();
    alice.say_to(None, Some("carol"), "d1", None).await;
    ids.push(alice.recv_chat().await.0);
    carol.until("PRIVMSG").await;
    carol.send("PRIVMSG alice :d2").await;
    ids.push(alice.recv_chat().await.0);
    carol.until("PRIVMSG").await;
    bob.say_to(None, Some("carol"), "x1", None).await;
    bob.recv_chat().await;
    carol.until("PRIVMSG").await;
    alice.say_to(None, Some("carol"), "d3", None).await;
    ids.push(alice.recv_chat().await.0);
    carol.until("PRIVMSG").await;
    // A note to oneself is a conversation of its own (its echo says it is
    // stored).
    carol.send("PRIVMSG carol :note to self").await;
    carol.until("PRIVMSG").await;

    // One batch named after the other person, whoever sent each message.
    carol.send("CHATHISTORY LATEST alice * 10").await;
    let page = carol.lines_until("BATCH").await;
    let opened = page.last().cloned().unwrap_or_default();
    assert!(opened.ends_with(" chathistory alice"), "{opened}");
    let lines = carol.lines_until("BATCH").await;
    let said: Vec<_> = lines
        .iter()
        .filter(|l| command_of(l) == "PRIVMSG")
        .collect();
    assert_eq!(said.len(), 3, "{lines:?}");
    assert!(
        said[0].ends_with(":alice!alice@lanchat PRIVMSG carol :d1"),
        "{said:?}"
    );
    assert!(
        said[1].ends_with(":carol!carol@lanchat PRIVMSG alice :d2"),
        "{said:?}"
    );
    assert!(
        said[2].ends_with(":alice!alice@lanchat PRIVMSG carol :d3"),
        "{said:?}"
    );

    let before_d3 = format!("BEFORE alice msgid={} 1", ids[2]);
    assert_eq!(page_of(&mut carol, &before_d3).await, ["d2"]);
    let after_d1 = format!("AFTER alice msgid={} 10", ids[0]);
    assert_eq!(page_of(&mut carol, &after_d1).await, ["d2", "d3"]);
    assert_eq!(page_of(&mut carol, "LATEST bob * 10").await, ["x1"]);
    assert_eq!(
        page_of(&mut carol, "LATEST carol * 10").await,
        ["note to self"]
    );
    // Renamed, carol's own message is still hers, to alice, in alice's
    // batch, under the name she sent it with.
    carol.send("NICK carol2").await;
    carol.until("NICK").await;
    carol.send("CHATHISTORY LATEST alice * 10").await;
    let opened = carol.until("BATCH").await;
    assert!(opened.ends_with(" chathistory alice"), "{opened}");
    let lines = carol.lines_until("BATCH").await;
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(":carol!carol@lanchat PRIVMSG alice :d2")),
        "{lines:?}"
    );
    assert!(page_of(&mut carol, "LATEST dave * 10").await.is_empty());
    // A guest keeps no direct-message history: an empty page.
    let mut guest = Irc::connect(&server).await;
    guest
        .register_with("guest", "batch draft/chathistory")
        .await;
    assert!(page_of(&mut guest, "LATEST alice * 10").await.is_empty());
}

/// Every `CHATHISTORY` subcommand against five messages in `#dev`.
async fn pages_through_history(server: TestServer) {
    let mut alice = server.join("alice").await;
    alice.join_room("dev").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        alice
            .say_to(Some("dev"), None, &format!("m{i}"), None)
            .await;
        ids.push(alice.recv_chat().await.0);
    }
    let mut carol = Irc::connect(&server).await;
    carol
        .register_with("carol", "batch message-tags draft/chathistory")
        .await;
    carol.send("JOIN #dev").await;
    carol.until("366").await;
    carol.until("BATCH").await;
    carol.until("BATCH").await;
    // The two before m3, in a batch, oldest first.
    carol
        .send(&format!("CHATHISTORY BEFORE #dev msgid={} 2", ids[3]))
        .await;
    let page = carol.lines_until("BATCH").await;
    let start = page.last().cloned().unwrap_or_default();
    assert!(
        start.contains(" BATCH +") && start.ends_with(" chathistory #dev"),
        "{start}"
    );
    let texts: Vec<String> = carol
        .lines_until("BATCH")
        .await
        .iter()
        .filter(|l| command_of(l) == "PRIVMSG")
        .map(|l| trailing(l).to_owned())
        .collect();
    assert_eq!(texts, ["m1", "m2"]);
    // Before the first: an empty batch, which says there is nothing more.
    assert!(
        page_of(&mut carol, &format!("BEFORE #dev msgid={} 10", ids[0]))
            .await
            .is_empty()
    );
    // Every other subcommand, each page oldest first.
    let (m, id) = (|i: usize| format!("m{i}"), |i: usize| ids[i]);
    let pages = [
        (format!("AFTER #dev msgid={} 2", id(1)), vec![m(2), m(3)]),
        (format!("LATEST #dev msgid={} 10", id(2)), vec![m(3), m(4)]),
        // The newest after it, not the oldest.
        (format!("LATEST #dev msgid={} 2", id(0)), vec![m(3), m(4)]),
        ("LATEST #dev * 2".to_owned(), vec![m(3), m(4)]),
        // The message itself and one before it, then one after.
        (
            format!("AROUND #dev msgid={} 3", id(2)),
            vec![m(1), m(2), m(3)],
        ),
        // Counted from the first reference, which neither end includes.
        (
            format!("BETWEEN #dev msgid={} msgid={} 2", id(0), id(4)),
            vec![m(1), m(2)],
        ),
        (
            format!("BETWEEN #dev msgid={} msgid={} 2", id(4), id(0)),
            vec![m(2), m(3)],
        ),
        (
            format!("BETWEEN #dev msgid={} msgid={} 10", id(0), id(4)),
            vec![m(1), m(2), m(3)],
        ),
        (format!("AFTER #dev msgid={} 10", id(4)), vec![]),
        ("LATEST #dev * 0".to_owned(), vec![]),
    ];
    for (asked, expected) in pages {
        assert_eq!(page_of(&mut carol, &asked).await, expected, "{asked}");
    }
    // What lanchat cannot answer is a FAIL, not silence.
    carol
        .send("CHATHISTORY AFTER #dev timestamp=2026-12-01T00:00:00.000Z 10")
        .await;
    assert!(
        carol
            .until("FAIL")
            .await
            .contains(" CHATHISTORY INVALID_PARAMS AFTER :")
    );
    carol.send("CHATHISTORY LATEST #dev *").await;
    assert!(
        carol
            .until("FAIL")
            .await
            .contains(" CHATHISTORY INVALID_PARAMS LATEST :")
    );
    carol.send("CHATHISTORY TARGETS * * 10").await;
    assert!(
        carol
            .until("FAIL")
            .await
            .contains(" CHATHISTORY INVALID_PARAMS TARGETS :")
    );
    carol.send("CHATHISTORY LATEST * * 10").await;
    assert!(
        carol
            .until("FAIL")
            .await
            .contains(" CHATHISTORY INVALID_TARGET LATEST * :")
    );
}

#[tokio::test]
async fn chathistory_on_a_server_that_replays_nothing_is_an_empty_page() {
    let config = Config {
        history_len: 0,
        ..relaxed_config()
    };
    let server = TestServer::with_irc(config).await;
    let mut alice = server.join("alice").await;
    alice.say("not replayed").await;
    alice.recv_chat().await;
    let mut carol = Irc::connect(&server).await;
    carol
        .register_with("carol", "batch draft/chathistory")
        .await;
    for asked in ["LATEST #lobby * 10", "AROUND #lobby msgid=1 10"] {
        assert!(page_of(&mut carol, asked).await.is_empty(), "{asked}");
    }
    carol.send("PING :alive").await;
    assert_eq!(
        carol.until("PONG").await,
        ":lanchat.lan PONG lanchat.lan :alive"
    );
}

/// The texts of the batch that answers `CHATHISTORY asked`.
async fn page_of(client: &mut Irc, asked: &str) -> Vec<String> {
    client.send(&format!("CHATHISTORY {asked}")).await;
    let opened = client.until("BATCH").await;
    assert!(opened.contains(" chathistory "), "{opened}");
    client
        .lines_until("BATCH")
        .await
        .iter()
        .filter(|line| command_of(line) == "PRIVMSG")
        .map(|line| trailing(line).to_owned())
        .collect()
}

#[tokio::test]
async fn a_silent_irc_client_is_pinged_and_one_that_does_not_answer_is_closed() {
    let config = Config {
        irc_ping_after: std::time::Duration::from_secs(1),
        ..relaxed_config()
    };
    let server = TestServer::with_irc(config).await;
    let mut alice = server.join("alice").await;
    let mut awake = Irc::connect(&server).await;
    awake.register("awake").await;
    let mut asleep = Irc::connect(&server).await;
    asleep.register("asleep").await;
    // The one that answers stays.
    assert_eq!(awake.until("PING").await, "PING :lanchat.lan");
    awake.send("PONG lanchat.lan").await;
    // The one that does not is gone, and the room is told why.
    assert_eq!(asleep.until("PING").await, "PING :lanchat.lan");
    assert_eq!(alice.expect_leave("asleep").await, "ping timeout");
    assert!(asleep.client.try_recv_line().await.is_none(), "closed");
    awake.send("PING :still").await;
    assert!(awake.until("PONG").await.ends_with(":still"));
}
