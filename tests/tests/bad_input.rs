//! Whatever a client sends, it gets a clear error, its connection keeps
//! working where the protocol says so, and nobody else notices.

#![allow(clippy::panic)] // A test fails by panicking.

use std::time::Duration;

use lanchat_server::Config;
use lanchat_shared::{ErrorCode, ServerMsg};
use lanchat_tests::{TestClient, TestServer, relaxed_config};

/// Each bad line, the error it must get, and a word the message must use.
const BAD_LINES: &[(&[u8], ErrorCode, &str)] = &[
    (
        b"{\"type\":\"say\",\"text\":\"\xff\xfe\"}\n",
        ErrorCode::BadRequest,
        "UTF-8",
    ),
    (
        b"{\"type\":\"say\",\0\"text\":\"x\"}\n",
        ErrorCode::BadRequest,
        "NUL",
    ),
    (
        b"{\"type\":\"say\",\"text\":\n",
        ErrorCode::BadRequest,
        "JSON",
    ),
    (b"{not json at all\n", ErrorCode::BadRequest, "JSON"),
    (b"{\"nick\":\"alice\"}\n", ErrorCode::BadRequest, "type"),
    (
        b"{\"type\":\"exec\",\"cmd\":\"rm -rf /\"}\n",
        ErrorCode::BadRequest,
        "exec",
    ),
    (b"{\"type\":\"say\"}\n", ErrorCode::BadRequest, "text"),
    (
        b"{\"type\":\"say\",\"text\":[1,2]}\n",
        ErrorCode::BadRequest,
        "invalid type",
    ),
    (
        b"{\"type\":\"hello\",\"nick\":\"again\"}\n",
        ErrorCode::BadRequest,
        "already",
    ),
];

#[tokio::test]
async fn an_array_is_not_a_message_even_one_shaped_like_a_say() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    // serde alone reads this as a `say` to the lobby.
    alice.send_raw(b"[\"say\",\"hi\"]\n").await;
    let message = alice.expect_error(ErrorCode::BadRequest).await;
    assert!(message.contains("object"), "{message}");
    alice.expect_alive().await;
    // Nothing was said: the next message bob sees is alice's next one.
    alice.say("said once").await;
    assert_eq!(bob.recv_chat().await.2, "said once");
}

#[tokio::test]
async fn every_kind_of_bad_line_gets_a_bad_request_and_the_connection_survives() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    for (line, code, word) in BAD_LINES {
        alice.send_raw(line).await;
        let message = alice.expect_error(*code).await;
        assert!(
            message.contains(word),
            "error for {line:?} names the problem: {message}"
        );
        alice.expect_alive().await;
    }
    // Still a full member: what alice says reaches bob, who saw nothing else.
    alice.say("still here").await;
    assert_eq!(bob.recv_chat().await, alice.recv_chat().await);
}

#[tokio::test]
async fn json_that_is_not_an_object_is_refused_after_json_mode_began() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    for line in ["[1,2,3]", "\"hello\"", "42", "null"] {
        alice.send_line(line).await;
        let message = alice.expect_error(ErrorCode::BadRequest).await;
        assert!(message.contains("object"), "{message}");
    }
    alice.expect_alive().await;
}

#[tokio::test]
async fn say_before_hello_is_refused_and_hello_still_works() {
    let server = TestServer::start().await;
    let mut client = TestClient::connect(server.addr()).await;
    client.say("me first").await;
    let message = client.expect_error(ErrorCode::BadRequest).await;
    assert!(message.contains("hello"), "{message}");
    client.hello("patient").await;
    assert!(matches!(client.recv().await, ServerMsg::Welcome { .. }));
}

#[tokio::test]
async fn a_nesting_bomb_is_a_bad_request() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    let depth = 4000;
    let bomb = format!(
        r#"{{"type":"say","text":{}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    alice.send_line(&bomb).await;
    alice.expect_error(ErrorCode::BadRequest).await;
    alice.expect_alive().await;
}

#[tokio::test]
async fn an_overlong_line_is_refused_skipped_and_the_next_line_works() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    // A say line of exactly `len` bytes before its "\n": 2,000 characters of
    // text padded with trailing spaces, which sanitising trims.
    let say_of_length = |len: usize| {
        let padding = len - r#"{"type":"say","text":""}"#.len() - 2000;
        format!(
            r#"{{"type":"say","text":"{}{}"}}"#,
            "z".repeat(2000),
            " ".repeat(padding)
        )
    };
    alice.send_line(&say_of_length(8193)).await;
    let message = alice.expect_error(ErrorCode::LineTooLong).await;
    assert!(message.contains("8192"), "{message}");
    // The limit is inclusive and does not count the line ending.
    alice
        .send_raw(format!("{}\r\n", say_of_length(8192)).as_bytes())
        .await;
    assert_eq!(bob.recv_chat().await.2, "z".repeat(2000));
    assert_eq!(alice.recv_chat().await.2, "z".repeat(2000));
    alice.say(&"x".repeat(100_000)).await;
    alice.expect_error(ErrorCode::LineTooLong).await;
    alice.say("after").await;
    assert_eq!(bob.recv_chat().await.2, "after");
}

#[tokio::test]
async fn a_text_over_two_thousand_characters_is_refused_but_the_connection_stays() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    // 2,001 two-byte characters: within the line limit, over the text limit.
    alice.say(&"é".repeat(2001)).await;
    let message = alice.expect_error(ErrorCode::TextTooLong).await;
    assert!(message.contains("2000"), "{message}");
    // Exactly 2,000 is fine, and counted after sanitising: the escape
    // sequences do not count.
    let fits = format!("\u{1b}[1m{}\u{1b}[0m", "é".repeat(2000));
    alice.say(&fits).await;
    assert_eq!(bob.recv_chat().await.2.chars().count(), 2000);
}

#[tokio::test]
async fn escape_sequences_and_bidi_controls_never_reach_other_clients() {
    let server = TestServer::start().await;
    let mut mallory = server.join("mallory").await;
    let mut alice = server.join("alice").await;
    let mut plain = TestClient::connect(server.addr()).await;
    plain.send_line("plainbob").await;
    plain.recv_line().await;
    plain.recv_line().await;

    let nasty =
        "\u{1b}[2J\u{1b}]0;owned\u{7}hi\u{202e}dlrow\u{2066}\u{0}\u{7f}\u{9b}31m\ttab\r\nnext";
    mallory.say(nasty).await;
    let (_, _, text) = alice.recv_chat().await;
    assert_eq!(text, "hidlrow    tab next");
    let line = loop {
        let line = plain.recv_line().await;
        if line.contains("<mallory>") {
            break line;
        }
    };
    assert!(line.ends_with("<mallory> hidlrow    tab next"), "{line:?}");
    assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
}

#[tokio::test]
async fn a_message_of_only_control_characters_is_refused() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    alice.say("\u{1b}[31m\u{7}").await;
    alice.expect_error(ErrorCode::BadRequest).await;
    alice.expect_alive().await;
}

/// A server allowing a burst of `burst` lines, with a refill too slow to
/// matter during a test, so counts are exact.
fn burst_only(burst: u32) -> Config {
    Config {
        rate: lanchat_shared::Rate {
            per_sec: 0.001,
            burst,
        },
        ..relaxed_config()
    }
}

#[tokio::test]
async fn flooding_is_refused_with_rate_limited_never_dropped_silently() {
    let server = TestServer::with_config(burst_only(5)).await;
    let (mut flooder, mut bob) = server.join_two("flooder", "bob").await;
    let burst: Vec<u8> = (0..20)
        .flat_map(|i| format!("{{\"type\":\"say\",\"text\":\"m{i}\"}}\n").into_bytes())
        .collect();
    flooder.send_raw(&burst).await;
    // Every line is answered: an echo while the burst lasts (the hello
    // spent one of its five tokens), an error for each line after it.
    let mut delivered = 0;
    let mut refused = 0;
    for _ in 0..20 {
        match flooder.recv().await {
            ServerMsg::Message { .. } => delivered += 1,
            ServerMsg::Error {
                code: ErrorCode::RateLimited,
                ..
            } => refused += 1,
            other => panic!("expected an echo or rate_limited, got {other:?}"),
        }
    }
    assert_eq!((delivered, refused), (4, 16));
    for i in 0..delivered {
        assert_eq!(bob.recv_chat().await.2, format!("m{i}"));
    }
}

#[tokio::test]
async fn repeated_garbage_closes_the_connection_with_a_final_error() {
    let server = TestServer::start().await;
    let (mut bob, mut junk) = server.join_two("bob", "junk").await;
    for i in 0..9 {
        junk.send_line(&format!("{{garbage {i}")).await;
        junk.expect_error(ErrorCode::BadRequest).await;
    }
    junk.send_line("{the tenth").await;
    junk.expect_error(ErrorCode::TooManyErrors).await;
    assert!(junk.expect_closed().await.is_empty());
    assert_eq!(bob.expect_leave("junk").await, "too many bad requests");
}

#[tokio::test]
async fn a_client_that_never_says_hello_is_closed_after_the_deadline() {
    let config = Config {
        hello_timeout: Duration::from_millis(300),
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    // Alice connects first, so her deadline has passed by the time the
    // silent client's has; a good hello ends the deadline for good.
    let mut alice = server.join("alice").await;
    let mut silent = TestClient::connect(server.addr()).await;
    silent.expect_error(ErrorCode::HelloTimeout).await;
    assert!(silent.expect_closed().await.is_empty());
    alice.expect_alive().await;
}

/// A client keeps its unconfirmed lines by `client_id`; a refusal that
/// names the id lets it drop exactly the line refused and say which.
#[tokio::test]
async fn a_refused_say_names_its_client_id() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    let refused = |msg: ServerMsg| match msg {
        ServerMsg::Error {
            code, client_id, ..
        } => (code, client_id),
        other => panic!("expected an error, got {other:?}"),
    };
    alice
        .send_line(r#"{"type":"say","text":"hi","room":"dev","client_id":"c-room"}"#)
        .await;
    assert_eq!(
        refused(alice.recv().await),
        (ErrorCode::NotInRoom, Some("c-room".to_owned()))
    );
    alice
        .send_line(r#"{"type":"say","text":"psst","to":"nobody","client_id":"c-dm"}"#)
        .await;
    assert_eq!(
        refused(alice.recv().await),
        (ErrorCode::NoSuchUser, Some("c-dm".to_owned()))
    );
    alice.send_line(r#"{"type":"say","text":"/nosuch"}"#).await;
    assert_eq!(
        refused(alice.recv().await),
        (ErrorCode::UnknownCommand, None),
        "a line without a client_id is refused without one"
    );
}

#[tokio::test]
async fn a_say_refused_as_too_fast_names_its_client_id() {
    let server = TestServer::with_config(burst_only(2)).await;
    let mut alice = server.join("alice").await;
    // The hello took one token, this say the other.
    alice.say("first").await;
    assert!(matches!(alice.recv().await, ServerMsg::Message { .. }));
    alice
        .send_line(r#"{"type":"say","text":"second","client_id":"c-fast"}"#)
        .await;
    match alice.recv().await {
        ServerMsg::Error {
            code: ErrorCode::RateLimited,
            client_id,
            ..
        } => assert_eq!(client_id.as_deref(), Some("c-fast")),
        other => panic!("expected rate_limited, got {other:?}"),
    }
}
