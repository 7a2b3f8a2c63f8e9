//! TLS on the chat port: told apart from plain TCP by the first byte, the
//! server's key and its fingerprint, `--require-tls`, and handshakes that
//! go wrong — over real TLS connections (rustls on the client side).

#![allow(clippy::panic)] // A test fails by panicking.

use std::time::Duration;

use lanchat_server::{Config, KEY_FILE_NAME};
use lanchat_shared::keyfile;
use lanchat_shared::{ErrorCode, ServerMsg};
use lanchat_tests::{TIMEOUT, TestClient, TestServer, on_disk, read_until, relaxed_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_tls_client_and_a_plain_one_chat_in_one_room_on_one_port() {
    let server = TestServer::start().await;
    let (tls, presented) = TestClient::connect_tls_raw(server.addr(), None).await;
    let mut tls = tls.joined("alice").await;
    let mut plain = server.join("bob").await;
    assert!(matches!(tls.recv().await, ServerMsg::Join { nick, .. } if nick == "bob"));
    tls.say("over TLS").await;
    assert_eq!(plain.recv_chat().await.2, "over TLS");
    assert_eq!(tls.recv_chat().await.2, "over TLS", "the echo");
    plain.say("in the clear").await;
    assert_eq!(tls.recv_chat().await.2, "in the clear");

    // Both are greeted with the key the TLS handshake presented.
    let (mut again, _) = TestClient::connect_tls_raw(server.addr(), None).await;
    assert_eq!(again.expect_greeting().await, presented.to_string());
    let mut waits = TestClient::connect_raw(server.addr()).await;
    assert_eq!(waits.expect_greeting().await, presented.to_string());
}

#[tokio::test]
async fn a_tls_client_may_present_its_own_certificate() {
    let server = TestServer::start().await;
    let identity = keyfile::ephemeral().unwrap();
    let (client, _) = TestClient::connect_tls_raw(server.addr(), Some(&identity)).await;
    let mut carol = client.joined("carol").await;
    carol.say("signed in").await;
    assert_eq!(carol.recv_chat().await.2, "signed in");
}

/// The fingerprint of the certificate in `pem`, computed by the `openssl`
/// command line: nothing of lanchat's code is involved.
fn openssl_fingerprint(pem: &std::path::Path) -> String {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform DER \
         | openssl dgst -sha256 -binary | base64 | tr -d '=\\n'",
        pem.display()
    );
    let output = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("sh runs");
    assert!(output.status.success(), "{output:?}");
    format!(
        "SHA256:{}",
        String::from_utf8(output.stdout).expect("base64 is ASCII")
    )
}

#[tokio::test]
async fn the_key_is_kept_private_beside_the_database_and_its_fingerprint_is_openssls() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(on_disk(&dir)).await;
    let port = server.addr().port();
    let (_, presented) = TestClient::connect_tls_raw(server.addr(), None).await;
    let key_file = dir.path().join(KEY_FILE_NAME);
    assert_eq!(presented.to_string(), openssl_fingerprint(&key_file));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the private key is its owner's alone");
    server.shutdown().await;

    let server = TestServer::on_port(port, on_disk(&dir)).await;
    let (_, after_restart) = TestClient::connect_tls_raw(server.addr(), None).await;
    assert_eq!(after_restart, presented, "the same key across restarts");
}

#[tokio::test]
async fn a_pinned_handshake_takes_the_pinned_key_and_names_any_other() {
    let server = TestServer::start().await;
    let (_, key) = TestClient::connect_tls_raw(server.addr(), None).await;
    let identity = keyfile::ephemeral().unwrap();
    let dial = || TcpStream::connect(server.addr());
    let pinned = lanchat_shared::tls::handshake_pinned(
        dial().await.unwrap(),
        Some(&identity),
        &key,
        TIMEOUT,
    )
    .await;
    assert!(pinned.is_ok(), "{:?}", pinned.err());

    let someone_else = keyfile::ephemeral().unwrap().fingerprint;
    let refused = lanchat_shared::tls::handshake_pinned(
        dial().await.unwrap(),
        Some(&identity),
        &someone_else,
        TIMEOUT,
    )
    .await;
    match refused {
        Err(lanchat_shared::tls::TlsError::KeyChanged { presented }) => assert_eq!(presented, key),
        other => panic!("expected KeyChanged, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn given_certificate_and_key_files_are_used_instead() {
    let dir = tempfile::tempdir().unwrap();
    let made = dir.path().join("elsewhere.pem");
    let (keys, _) = keyfile::load_or_create(&made).unwrap();
    let config = Config {
        tls_keys: lanchat_server::TlsKeys::Files {
            cert: made.clone(),
            key: made,
        },
        ..on_disk(&dir)
    };
    let server = TestServer::with_config(config).await;
    let (_, presented) = TestClient::connect_tls_raw(server.addr(), None).await;
    assert_eq!(presented, keys.fingerprint);
    assert!(!dir.path().join(KEY_FILE_NAME).exists(), "no key made");
}

#[tokio::test]
async fn with_require_tls_a_plain_client_is_told_how_to_connect_and_closed() {
    let config = Config {
        require_tls: true,
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let mut plain = TestClient::connect_raw(server.addr()).await;
    plain.send_line("alice").await;
    let message = plain.expect_error(ErrorCode::TlsRequired).await;
    assert!(message.contains("openssl s_client"), "{message}");
    assert!(message.contains(&server.addr().to_string()), "{message}");
    assert!(
        plain.expect_closed().await.is_empty(),
        "nothing after the line"
    );

    let (tls, _) = TestClient::connect_tls_raw(server.addr(), None).await;
    let mut alice = tls.joined("alice").await;
    alice.say("still served").await;
    assert_eq!(alice.recv_chat().await.2, "still served");
}

#[tokio::test]
async fn garbage_after_a_tls_record_byte_is_told_and_closed_and_disturbs_nobody() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    let mut garbage = TcpStream::connect(server.addr()).await.unwrap();
    garbage
        .write_all(b"\x16 is not how a nickname starts\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(TIMEOUT, garbage.read_to_end(&mut answer))
        .await
        .expect("closed within the time-out")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.contains("bad_request") && answer.contains("0x16"),
        "{answer}"
    );
    alice.say("unbothered").await;
    assert_eq!(bob.recv_chat().await.2, "unbothered");
}

#[tokio::test]
async fn a_stalled_handshake_holds_its_slot_only_until_the_handshake_deadline() {
    let config = Config {
        max_connections: 1,
        tls_handshake_timeout: Duration::from_secs(1),
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    // The first bytes of a TLS record header, then silence.
    let mut stalled = TcpStream::connect(server.addr()).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    // It counts against the cap while the handshake is pending...
    let mut second = TestClient::connect_raw(server.addr()).await;
    second.expect_error(ErrorCode::ServerFull).await;
    // ...and is closed at the deadline, freeing the slot.
    let mut rest = Vec::new();
    tokio::time::timeout(TIMEOUT, stalled.read_to_end(&mut rest))
        .await
        .expect("the stalled handshake is closed")
        .ok();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let mut client = TestClient::connect_raw(server.addr()).await;
        client.hello("patient").await;
        match client.recv().await {
            ServerMsg::Greeting { .. } => break,
            // The slot is given back as the stalled task ends: try again.
            ServerMsg::Error {
                code: ErrorCode::ServerFull,
                ..
            } if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("expected to be served, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn openssl_s_client_gets_a_plain_text_session_over_tls() {
    use tokio::io::AsyncBufReadExt;
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    let mut openssl = tokio::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(server.addr().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl runs");
    let mut input = openssl.stdin.take().expect("piped stdin");
    let output = openssl.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::BufReader::new(output).lines();
    // Over TLS the server speaks first once the handshake is done.
    read_until(&mut lines, r#""type":"greeting""#).await;
    input.write_all(b"dave\n").await.unwrap();
    read_until(&mut lines, "Welcome, dave!").await;
    assert!(matches!(alice.recv().await, ServerMsg::Join { nick, .. } if nick == "dave"));
    alice.say("hello, encrypted dave").await;
    assert_eq!(
        alice.recv_chat().await.2,
        "hello, encrypted dave",
        "the echo"
    );
    let line = read_until(&mut lines, "hello, encrypted dave").await;
    assert!(line.contains("alice"), "{line}");
    input.write_all(b"hi alice\n").await.unwrap();
    assert_eq!(alice.recv_chat().await.2, "hi alice");
}
