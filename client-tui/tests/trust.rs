//! Trusting servers like ssh, end to end: the real `lanchat` binary in a
//! pseudo-terminal asks about a server's key on first contact, remembers
//! it, joins silently after, and refuses a server whose key changed, at
//! start and on a reconnect, without sending it anything.

#![allow(clippy::panic)] // A test fails by panicking.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use lanchat_shared::{Fingerprint, ServerMsg};
use lanchat_tests::{TestClient, TestServer, read_until, relaxed_config};
use support::Tui;

/// The key `server` presents, as a TLS handshake reads it.
async fn key_of(server: &TestServer) -> Fingerprint {
    TestClient::connect_tls_raw(server.addr(), None).await.1
}

/// `lanchat` run with `args` outside a terminal (`--forget`,
/// `--fingerprint` need none), with `env`.
fn lanchat(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lanchat"));
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("lanchat runs");
    assert!(output.status.success(), "{output:?}");
    output
}

/// What `/who` says `client` has for company in the lobby, failing if
/// anyone joined meanwhile: a client refused before its hello must never
/// have been in, not even for a moment.
async fn who_is_here(client: &mut TestClient) -> String {
    client.say("/who").await;
    loop {
        match client.recv().await {
            ServerMsg::Info { text } if text.starts_with("Here in #lobby") => return text,
            ServerMsg::Join { nick, .. } => panic!("{nick} joined"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_servers_key_is_shown_and_asked_about_once_then_remembered() {
    let server = TestServer::start().await;
    let key = key_of(&server).await;
    let (data, config) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let env = [
        ("XDG_DATA_HOME", data.path()),
        ("XDG_CONFIG_HOME", config.path()),
    ];
    let address = server.addr().to_string();
    let args = ["--server", &address, "--nick", "tester"];
    let known_servers = data.path().join("lanchat").join("known_servers");

    // Declined: nothing joined, nothing remembered.
    let mut tui = Tui::spawn(&args, &env);
    tui.wait_for_text("Trust this key and join? [y/N]").await;
    assert!(
        tui.contents().contains(&key.to_string()),
        "{}",
        tui.contents()
    );
    assert!(!tui.alternate_screen(), "asked before full screen");
    tui.type_keys("n\r");
    assert!(!tui.wait_exit().await, "declining exits with failure");
    tui.wait_for_text("not trusted").await;
    assert!(!known_servers.exists());

    // Accepted: joined over TLS with this user's identity, key pinned.
    let identity = lanchat(&["--fingerprint"], &env);
    let identity = String::from_utf8(identity.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let mut watcher = server.join("watcher").await;
    let mut tui = Tui::spawn(&args, &env);
    tui.wait_for_text("Trust this key and join? [y/N]").await;
    tui.type_keys("y\r");
    tui.wait_for_text("online · TLS verified").await;
    let pinned = std::fs::read_to_string(&known_servers).unwrap();
    assert_eq!(pinned, format!("{address} {key}\n"));
    watcher.say("/whois tester").await;
    let whois = loop {
        if let ServerMsg::Whois { text, .. } = watcher.recv().await {
            break text;
        }
    };
    assert!(whois.contains(&identity), "{whois} vs {identity}");
    assert!(whois.contains("owns this nickname"), "{whois}");
    tui.type_keys("/info\r");
    tui.wait_for_text("(in known_servers)").await;
    let screen = tui.contents();
    assert!(screen.contains(&key.to_string()), "{screen}");
    assert!(screen.contains(&identity), "{screen}");
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);

    // Met before: joined without a question.
    let mut again = Tui::spawn(&args, &env);
    again.wait_for_text("online · TLS verified").await;
    assert!(!again.has_written(b"Trust this key"), "asked only once");
    again.type_keys("/quit\r");
    assert!(again.wait_exit().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_key_at_start_is_refused_until_forgotten_on_purpose() {
    let first = TestServer::start().await;
    let old_key = key_of(&first).await;
    let port = first.addr().port();
    let data = tempfile::tempdir().unwrap();
    let env = [("XDG_DATA_HOME", data.path())];
    let address = first.addr().to_string();
    let args = ["--server", &address, "--nick", "tester"];
    let mut tui = Tui::spawn(&[&["--trust-new"], &args[..]].concat(), &env);
    tui.wait_for_text("online · TLS verified").await;
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);
    first.shutdown().await;

    // Another key on the same address: someone in between, say.
    let second = TestServer::on_port(port, relaxed_config()).await;
    let new_key = key_of(&second).await;
    assert_ne!(new_key, old_key);
    let mut watcher = second.join("watcher").await;
    let mut tui = Tui::spawn(&[&["--trust-new"], &args[..]].concat(), &env);
    assert!(!tui.wait_exit().await, "refused: exits with failure");
    tui.wait_for_text("presented a different key").await;
    let screen = tui.contents();
    for expected in [
        old_key.to_string(),
        new_key.to_string(),
        format!("lanchat --forget {address}"),
    ] {
        assert!(screen.contains(&expected), "{expected} in:\n{screen}");
    }
    assert!(!tui.alternate_screen(), "refused before full screen");
    assert_eq!(
        who_is_here(&mut watcher).await,
        "Here in #lobby (1): watcher",
        "nothing was sent to the other key, --trust-new or not"
    );

    // Forgotten on purpose: the next join asks about the new key.
    let forgot = lanchat(&["--forget", &address], &env);
    assert!(String::from_utf8_lossy(&forgot.stdout).contains("Forgot"));
    let mut tui = Tui::spawn(&args, &env);
    tui.wait_for_text("Trust this key and join?").await;
    assert!(tui.contents().contains(&new_key.to_string()));
    tui.type_keys("y\r");
    tui.wait_for_text("online · TLS verified").await;
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_changes_while_running_is_refused_on_the_reconnect() {
    let first = TestServer::start().await;
    let old_key = key_of(&first).await;
    let port = first.addr().port();
    let address = first.addr().to_string();
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    tui.wait_for_text("online · TLS verified").await;
    first.shutdown().await;

    let second = TestServer::on_port(port, relaxed_config()).await;
    let new_key = key_of(&second).await;
    let mut watcher = second.join("watcher").await;
    tui.wait_for_text("server key changed").await;
    tui.wait_for_text("presented a different key").await;
    let screen = tui.contents();
    assert!(screen.contains(&old_key.to_string()), "{screen}");
    assert!(screen.contains(&new_key.to_string()), "{screen}");
    tui.type_keys("still there?\r");
    tui.wait_for_text("Not sent").await;
    assert_eq!(
        who_is_here(&mut watcher).await,
        "Here in #lobby (1): watcher",
        "no hello, no message"
    );
    tui.type_keys("\x03");
    assert!(tui.wait_exit().await);
}

#[cfg(feature = "host")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_hosted_here_is_trusted_without_asking() {
    let args = [
        "--host", "--port", "0", "--db", ":memory:", "--nick", "host",
    ];
    let mut tui = Tui::spawn(&args, &[]);
    tui.wait_for_text("online · TLS verified").await;
    tui.wait_for_text("SHA256:").await;
    assert!(!tui.has_written(b"Trust this key"));
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);
}

/// Issue 11's "done when": two people in the full-screen client, each with
/// an identity, a guest on plain TCP (as `nc` is) and a guest over
/// `openssl s_client`, in one room; the guests are marked, and cannot take
/// a verified user's nickname.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_verified_users_an_nc_guest_and_an_openssl_guest_share_a_room() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let address = server.addr().to_string();
    let mut alice = Tui::start(&["--server", &address, "--nick", "alice"]);
    alice.wait_for_text("online · TLS verified").await;
    let mut bob = Tui::start(&["--server", &address, "--nick", "bob"]);
    bob.wait_for_text("online · TLS verified").await;

    let mut carol = TestClient::connect_raw(server.addr()).await;
    carol.send_line("carol").await;
    let mut openssl = tokio::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &address])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl runs");
    let mut dave_types = openssl.stdin.take().expect("piped stdin");
    let mut dave_reads =
        tokio::io::BufReader::new(openssl.stdout.take().expect("piped stdout")).lines();
    dave_types.write_all(b"dave\n").await.unwrap();
    read_until(&mut dave_reads, "Welcome, dave!").await;

    alice.wait_for_text("~dave joined").await;
    alice.type_keys("hello everyone\r");
    bob.wait_for_text("<alice> hello everyone").await;
    read_until(&mut dave_reads, "<alice> hello everyone").await;
    loop {
        if carol.recv_line().await.contains("<alice> hello everyone") {
            break;
        }
    }
    carol.send_line("hi from nc").await;
    dave_types.write_all(b"hi over openssl\n").await.unwrap();
    for tui in [&alice, &bob] {
        tui.wait_for_text("<~carol> hi from nc").await;
        tui.wait_for_text("<~dave> hi over openssl").await;
    }
    bob.type_keys("hi all\r");
    alice.wait_for_text("<bob> hi all").await;

    // Gone, alice still owns her nickname: a guest cannot take it.
    alice.type_keys("/quit\r");
    assert!(alice.wait_exit().await);
    bob.wait_for_text("alice left").await;
    carol.send_line("/nick Alice").await;
    loop {
        let line = carol.recv_line().await;
        if line.contains("(nick_owned)") {
            break;
        }
    }
    bob.type_keys("/quit\r");
    assert!(bob.wait_exit().await);
}
