//! The real `lanchat` binary in a pseudo-terminal against a real server:
//! what a person sees and types. The screen is read through a VT100
//! emulator; every wait polls it against a deadline.

#![allow(clippy::panic)] // A test fails by panicking.

mod support;

use std::path::Path;
use std::time::Duration;

use lanchat_tests::{TestClient, TestServer, relaxed_config};
use support::{TIMEOUT, Tui};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_through_the_real_terminal_client_and_quit_cleanly() {
    let server = TestServer::start().await;
    let mut other = server.join("other").await;
    let address = server.addr().to_string();
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);

    tui.wait_for_text("Connected to").await;
    assert!(tui.alternate_screen(), "full screen while running");
    assert_eq!(
        other.recv().await,
        lanchat_shared::ServerMsg::Join {
            nick: "tester".into(),
            room: Some("lobby".into()),
            // The client presents its identity, which owns the nickname.
            owned: Some(true),
        }
    );

    other.say("hello from the other side").await;
    // A plain-TCP test client is a guest: marked as one.
    tui.wait_for_text("<~other> hello from the other side")
        .await;

    tui.type_keys("typed in the tui, 你好\r");
    loop {
        let (_, from, text) = other.recv_chat().await;
        if from == "tester" {
            assert_eq!(text, "typed in the tui, 你好");
            break;
        }
    }
    tui.wait_for_text("<tester> typed in the tui").await;

    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await, "lanchat exits with success");
    assert_eq!(other.expect_leave("tester").await, "quit");
    tui.wait_for_state("the alternate screen to be left", |parser| {
        !parser.screen().alternate_screen()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_comes_back_by_itself_when_the_server_restarts() {
    // The same key after the restart, or the client would refuse it.
    let keys = tempfile::tempdir().expect("a directory for the server's key");
    let first = TestServer::with_config(keeping_its_key(keys.path())).await;
    let port = first.addr().port();
    let address = first.addr().to_string();
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    tui.wait_for_text("Connected to").await;

    first.shutdown().await;
    tui.wait_for_text("offline").await;
    // Typed while offline: kept and sent once the server is back.
    tui.type_keys("said while the server was down\r");
    tui.wait_for_text("1 unsent").await;

    let second = TestServer::on_port(port, keeping_its_key(keys.path())).await;
    let mut other = TestClient::join(second.addr(), "other").await;
    tui.wait_for("a second connection", |screen| {
        screen.matches("Connected to").count() >= 2
    })
    .await;
    let (_, from, text) = other.recv_chat().await;
    assert_eq!(
        (from.as_str(), text.as_str()),
        ("tester", "said while the server was down")
    );

    other.say("welcome back").await;
    tui.wait_for_text("<~other> welcome back").await;
    tui.type_keys("\x03"); // Ctrl-C on an empty line quits.
    assert!(tui.wait_exit().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_nickname_is_replaced_inside_the_ui() {
    let server = TestServer::start().await;
    let _tester = server.join("tester").await;
    let address = server.addr().to_string();
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    tui.wait_for_text("nickname>").await;
    tui.type_keys("tester2\r");
    tui.wait_for_text("Connected to").await;
    tui.wait_for_text("tester2>").await;
    tui.type_keys("over\r");
    assert!(tui.wait_exit().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_server_flag_the_client_finds_one_on_the_lan() {
    let server = TestServer::start().await;
    let mut other = server.join("other").await;
    let port = server.addr().port().to_string();
    // Probing loopback only: tests never broadcast.
    let mut tui = Tui::start(&["--port", &port, "--probe", "127.0.0.1", "--nick", "finder"]);
    tui.wait_for_text("Connected to").await;
    assert_eq!(
        other.recv().await,
        lanchat_shared::ServerMsg::Join {
            nick: "finder".into(),
            room: Some("lobby".into()),
            // The client presents its identity, which owns the nickname.
            owned: Some(true),
        }
    );
    tui.type_keys("\x04"); // Ctrl-D on an empty line quits.
    assert!(tui.wait_exit().await);
}

/// A server with its history in memory and its TLS key in `dir`, so a
/// restart presents the same key.
fn keeping_its_key(dir: &Path) -> lanchat_server::Config {
    let file = dir.join("server-identity.pem");
    lanchat_shared::keyfile::load_or_create(&file).expect("a key file");
    lanchat_server::Config {
        tls_keys: lanchat_server::TlsKeys::Files {
            cert: file.clone(),
            key: file,
        },
        ..relaxed_config()
    }
}

/// A server keeping its history (and sessions) in `dir`, so a restart
/// brings them back.
fn on_disk_in(dir: &Path) -> lanchat_server::Config {
    lanchat_server::Config {
        db: lanchat_server::DbLocation::File(dir.join("history.db")),
        ..relaxed_config()
    }
}

/// Waits until `client` is told of a message saying `text`: who said it,
/// and in which room. Anything else meanwhile is skipped; `recv` fails the
/// test on its own time-out.
async fn heard(client: &mut TestClient, text: &str) -> (String, Option<String>) {
    loop {
        if let lanchat_shared::ServerMsg::Message {
            text: said,
            from,
            room,
            ..
        } = client.recv().await
            && said == text
        {
            return (from, room);
        }
    }
}

/// A port nothing listens on (UDP or TCP) at the moment of asking.
fn unused_port() -> u16 {
    udp_on_a_free_tcp_port()
        .local_addr()
        .expect("address")
        .port()
}

/// A UDP socket on 0.0.0.0 whose port number nothing uses for TCP either
/// at the moment of asking. TCP and UDP ports are numbered apart, so a
/// port the system picks for one may be in use for the other by another
/// test running at the same time; a room hosted on it would then fail.
fn udp_on_a_free_tcp_port() -> std::net::UdpSocket {
    loop {
        let tcp = std::net::TcpListener::bind("0.0.0.0:0").expect("bind TCP");
        let port = tcp.local_addr().expect("address").port();
        if let Ok(udp) = std::net::UdpSocket::bind(("0.0.0.0", port)) {
            return udp;
        }
    }
}

#[cfg(feature = "host")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_nobody_answers_declining_to_host_ends_with_a_way_forward() {
    let port = unused_port().to_string();
    let mut tui = Tui::start(&[
        "--port",
        &port,
        "--probe",
        "127.0.0.1",
        "--discovery-ms",
        "200",
    ]);
    tui.wait_for_text("No lanchat server answered").await;
    tui.type_keys("n\r");
    assert!(!tui.wait_exit().await, "exits with failure");
    tui.wait_for_text("--server HOST:PORT").await;
    assert!(!tui.alternate_screen(), "never went full screen");
}

#[cfg(feature = "host")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_nobody_answers_the_user_can_host_and_others_join() {
    let port = unused_port();
    let mut tui = Tui::start(&[
        "--port",
        &port.to_string(),
        "--probe",
        "127.0.0.1",
        "--discovery-ms",
        "200",
        "--nick",
        "host",
    ]);
    tui.wait_for_text("Host a room here").await;
    tui.type_keys("\r"); // Enter means yes.
    tui.wait_for_text("You are hosting this room").await;
    tui.wait_for_text("Connected to").await;
    let mut guest = TestClient::join(([127, 0, 0, 1], port).into(), "guest").await;
    tui.wait_for_text("~guest joined").await;
    guest.say("nice room").await;
    tui.wait_for_text("<~guest> nice room").await;

    // The guest would lose the room: the host is asked first.
    tui.type_keys("/quit\r");
    tui.wait_for_text("You host this room: quitting ends it for the 1 other(s) here. Quit? [y/n]")
        .await;
    tui.type_keys("y");
    assert!(tui.wait_exit().await);
    // The hosted room closes with its host, gracefully.
    let rest = guest.expect_closed().await;
    assert!(
        rest.iter().any(|line| line.contains("shutting down")),
        "{rest:?}"
    );
}

/// Starts lanchat with `args` where no data directory can be made: HOME is
/// a regular file and XDG_DATA_HOME is below it. The directory returned
/// holds that file; keep it until lanchat is done.
#[cfg(feature = "host")]
fn start_without_a_data_directory(args: &[&str]) -> (Tui, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write a file");
    let below = file.join("data");
    let tui = Tui::start_with_env(args, &[("XDG_DATA_HOME", &below), ("HOME", &file)]);
    (tui, dir)
}

#[cfg(feature = "host")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosting_with_an_unusable_data_directory_says_so_and_stops() {
    let (mut tui, _dir) = start_without_a_data_directory(&["--host", "--port", "0"]);
    assert!(!tui.wait_exit().await, "exits by itself, with failure");
    tui.wait_for_text("could not open the room's history").await;
    let screen = tui.contents();
    assert!(screen.contains("message database"), "{screen}");
    assert!(screen.contains("--db"), "the hint names --db: {screen}");
    assert!(!screen.contains("refused"), "never dialled: {screen}");
    assert!(!tui.alternate_screen(), "never went full screen");
}

#[cfg(feature = "host")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosting_with_a_database_in_memory_needs_no_data_directory() {
    let args = [
        "--host", "--port", "0", "--db", ":memory:", "--nick", "host",
    ];
    let (mut tui, _dir) = start_without_a_data_directory(&args);
    tui.wait_for_text("You are hosting this room").await;
    tui.wait_for_text("Connected to").await;
    tui.type_keys("kept nowhere\r");
    tui.wait_for_text("<host> kept nowhere").await;
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);
}

#[cfg(feature = "host")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosted_servers_warnings_appear_in_the_scrollback() {
    // Something else holds the UDP port, so the hosted room cannot offer
    // LAN discovery: the server warns and carries on.
    let udp = udp_on_a_free_tcp_port();
    let port = udp.local_addr().expect("address").port().to_string();
    let mut tui = Tui::start(&["--host", "--port", &port, "--db", ":memory:"]);
    tui.wait_for_text("Connected to").await;
    tui.wait_for_text("Hosted room warning: LAN discovery is off")
        .await;
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);
}

#[cfg(not(feature = "host"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_without_hosting_says_so_and_how_to_get_one() {
    let mut tui = Tui::start(&["--host", "--port", "0"]);
    assert!(!tui.wait_exit().await, "exits with failure");
    tui.wait_for_text("cannot host").await;
    tui.wait_for_text("default features").await;
    assert!(!tui.alternate_screen(), "never went full screen");

    let port = unused_port().to_string();
    let args = [
        "--port",
        &port,
        "--probe",
        "127.0.0.1",
        "--discovery-ms",
        "200",
    ];
    let mut tui = Tui::start(&args);
    assert!(
        !tui.wait_exit().await,
        "nothing to offer: exits with failure"
    );
    tui.wait_for_text("--server HOST:PORT").await;
    tui.wait_for_text("cannot host").await;
    assert!(!tui.contents().contains("[Y/n]"), "{}", tui.contents());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_restores_the_terminal_and_quits_cleanly() {
    let server = TestServer::start().await;
    let mut other = server.join("other").await;
    let address = server.addr().to_string();
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    tui.wait_for_text("Connected to").await;
    other.recv().await; // tester's join

    tui.signal("TERM");
    assert!(tui.wait_exit().await, "a signal is an ordinary quit");
    tui.wait_for_state("the alternate screen to be left", |parser| {
        !parser.screen().alternate_screen()
    })
    .await;
    assert_eq!(other.expect_leave("tester").await, "quit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_a_server_restart_no_line_is_lost_or_shown_twice() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let on_disk = || on_disk_in(dir.path());
    let first = TestServer::with_config(on_disk()).await;
    let port = first.addr().port();
    let address = first.addr().to_string();
    let mut other = first.join("other").await;
    other.say("said before the restart").await;
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    // The history replay on arrival shows it once.
    tui.wait_for_text("said before the restart").await;
    drop(other);
    first.shutdown().await;
    tui.wait_for_text("offline").await;

    let second = TestServer::on_port(port, on_disk()).await;
    tui.wait_for("a second connection", |screen| {
        screen.matches("Connected to").count() >= 2
    })
    .await;
    let mut other = TestClient::join(second.addr(), "other").await;
    other.say("said after the restart").await;
    tui.wait_for_text("said after the restart").await;
    let screen = tui.contents();
    assert_eq!(
        screen.matches("said before the restart").count(),
        1,
        "{screen}"
    );
    assert_eq!(
        screen.matches("said after the restart").count(),
        1,
        "{screen}"
    );
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_client_sees_the_conversation_once() {
    let server = TestServer::start().await;
    let address = server.addr().to_string();
    let mut other = server.join("other").await;
    // Both lives are one person, with one identity.
    let config = tempfile::tempdir().expect("temporary config directory");
    let env = [("XDG_CONFIG_HOME", config.path())];
    let args = ["--server", &address, "--nick", "tester"];
    let mut tui = Tui::start_with_env(&args, &env);
    tui.wait_for_text("Connected to").await;
    tui.type_keys("first life\r");
    tui.wait_for_text("<tester> first life").await;
    other.say("reply to the first life").await;
    tui.wait_for_text("reply to the first life").await;
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);

    let tui = Tui::start_with_env(&args, &env);
    tui.wait_for_text("reply to the first life").await;
    let screen = tui.contents();
    assert_eq!(screen.matches("<tester> first life").count(), 1, "{screen}");
    assert_eq!(
        screen.matches("reply to the first life").count(),
        1,
        "{screen}"
    );
}

/// Issue 12, problem 1: after `/nick` and a server restart the client comes
/// back under the new nickname, in its rooms, and can talk there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_keeps_the_new_nickname_and_the_rooms() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let on_disk = || on_disk_in(dir.path());
    let first = TestServer::with_config(on_disk()).await;
    let port = first.addr().port();
    let address = first.addr().to_string();
    let mut tui = Tui::start(&["--server", &address, "--nick", "ben"]);
    tui.wait_for_text("Connected to").await;
    tui.type_keys("/join dev\r");
    tui.wait_for_text("You are in #dev").await;
    tui.type_keys("/nick benny\r");
    tui.wait_for_text("ben is now known as benny").await;
    first.shutdown().await;
    tui.wait_for_text("offline").await;

    let second = TestServer::on_port(port, on_disk()).await;
    tui.wait_for_text("as benny").await;
    let mut other = TestClient::join(second.addr(), "other").await;
    other.join_room("dev").await;
    tui.type_keys("still in dev\r");
    let (from, room) = heard(&mut other, "still in dev").await;
    assert_eq!((from.as_str(), room.as_deref()), ("benny", Some("dev")));
    let screen = tui.contents();
    assert!(!screen.contains("You are not in #dev"), "{screen}");
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);
}

/// Issue 12, problem 4: a direct message read in one run is history in the
/// next, not a new highlight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_read_before_a_restart_does_not_count_again() {
    let server = TestServer::start().await;
    let address = server.addr().to_string();
    let mut other = server.join("other").await;
    other.join_room("dev").await;
    let state = tempfile::tempdir().expect("temporary state directory");
    // The same person both times: the same identity (in the config
    // directory), or the nickname it owns would be refused to the second.
    let config = tempfile::tempdir().expect("temporary config directory");
    let env = [
        ("XDG_STATE_HOME", state.path()),
        ("XDG_CONFIG_HOME", config.path()),
    ];
    let args = ["--server", &address, "--nick", "tester"];
    let mut tui = Tui::start_with_env(&args, &env);
    tui.wait_for_text("Connected to").await;
    // A room's history: what every client is replayed.
    tui.type_keys("/join dev\r");
    tui.wait_for_text("[2:#dev]").await;
    tui.type_keys("\x1b1"); // back to the lobby
    tui.wait_for_text("[1:lobby]").await;
    other
        .say_to(Some("dev"), None, "psst, read this", None)
        .await;
    tui.wait_for_text("2:#dev(1)").await;
    tui.type_keys("\x1b2"); // Alt-2 shows the room: it is read.
    tui.wait_for_text("[2:#dev]").await;
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);

    let mut tui = Tui::start_with_env(&args, &env);
    tui.wait_for_text("2:#dev").await;
    tui.wait_for_text("Connected to").await;
    // The server answers in order: once this reply is shown, the replay of
    // #dev the client asked for on joining has arrived too.
    tui.type_keys("/rooms\r");
    tui.wait_for_text("(* = yours)").await;
    let screen = tui.contents();
    assert!(!screen.contains("2:#dev("), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_mouse_leaves_the_mouse_to_the_terminal_until_alt_m() {
    let server = TestServer::start().await;
    let address = server.addr().to_string();
    let mouse_on = |parser: &vt100::Parser| {
        parser.screen().mouse_protocol_mode() != vt100::MouseProtocolMode::None
    };
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester", "--no-mouse"]);
    tui.wait_for_text("Connected to").await;
    assert!(!mouse_on(&tui.screen.lock().expect("screen lock")));
    tui.type_keys("\x1bm"); // Alt-M
    tui.wait_for_state("mouse capture on", mouse_on).await;
    tui.type_keys("\x1bm");
    tui.wait_for_state("mouse capture off", |parser| !mouse_on(parser))
        .await;
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);

    let tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    tui.wait_for_state("mouse capture on by default", mouse_on)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_restores_the_terminal_and_quits_cleanly() {
    let server = TestServer::start().await;
    let address = server.addr().to_string();
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    tui.wait_for_text("Connected to").await;
    tui.signal("INT");
    assert!(tui.wait_exit().await, "an interrupt is an ordinary quit");
    tui.wait_for_state("the terminal restored", |parser| {
        let screen = parser.screen();
        !screen.alternate_screen() && screen.mouse_protocol_mode() == vt100::MouseProtocolMode::None
    })
    .await;
}

#[test]
fn without_a_terminal_it_says_it_needs_one() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lanchat"))
        .args(["--server", "127.0.0.1:9", "--nick", "tester"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run lanchat");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("needs a terminal"), "{said}");
    assert!(!said.contains("os error"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_client_rejoins_its_rooms() {
    let server = TestServer::start().await;
    let address = server.addr().to_string();
    let state = tempfile::tempdir().expect("temporary state directory");
    // The same person both times: the same identity (in the config
    // directory), or the nickname it owns would be refused to the second.
    let config = tempfile::tempdir().expect("temporary config directory");
    let env = [
        ("XDG_STATE_HOME", state.path()),
        ("XDG_CONFIG_HOME", config.path()),
    ];
    let args = ["--server", &address, "--nick", "tester"];
    let mut tui = Tui::start_with_env(&args, &env);
    tui.wait_for_text("Connected to").await;
    tui.type_keys("/join dev\r");
    tui.wait_for_text("You are in #dev").await;
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);

    let mut tui = Tui::start_with_env(&args, &env);
    tui.wait_for_text("Connected to").await;
    tui.wait_for_text("2:#dev").await;
    let mut other = server.join("other").await;
    other.join_room("dev").await;
    tui.type_keys("\x1b2back in dev\r");
    let (_, room) = heard(&mut other, "back in dev").await;
    assert_eq!(room.as_deref(), Some("dev"), "said in #dev, which it is in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_file_names_the_server_the_nickname_and_the_rooms() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().expect("temporary config directory");
    std::fs::create_dir_all(home.path().join("lanchat")).expect("config directory");
    let settings = format!(
        "nickname = \"configured\"\nserver = \"{}\"\nrooms = [\"dev\"]\n",
        server.addr()
    );
    std::fs::write(home.path().join("lanchat/config.toml"), settings).expect("settings");
    let mut tui = Tui::start_with_env(&[], &[("XDG_CONFIG_HOME", home.path())]);
    tui.wait_for_text("as configured").await;
    tui.wait_for_text("2:#dev").await;
    let mut other = server.join("other").await;
    other.join_room("dev").await;
    tui.type_keys("\x1b2in dev by config\r");
    let (from, _) = heard(&mut other, "in dev by config").await;
    assert_eq!(from, "configured");
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);

    std::fs::write(home.path().join("lanchat/config.toml"), "bell = \"loud\"\n").expect("settings");
    let mut tui = Tui::start_with_env(&[], &[("XDG_CONFIG_HOME", home.path())]);
    tui.wait_for_text("bell must be true or false").await;
    assert!(
        !tui.wait_exit().await,
        "a bad settings file stops the client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_in_the_background_asks_the_terminal_for_a_notification() {
    let server = TestServer::start().await;
    let address = server.addr().to_string();
    let mut other = server.join("other").await;
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    tui.wait_for_text("Connected to").await;
    tui.wait_for_output("focus reports turned on", b"\x1b[?1004h")
        .await;
    tui.type_keys("\x1b[O"); // The terminal reports that it lost the focus.
    // The focus report and the message race; the one that counts is a
    // message after the report, so keep writing until it is noticed.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    for attempt in 0.. {
        let text = format!("psst {attempt}");
        other.say_to(None, Some("tester"), &text, None).await;
        tui.wait_for_text(&format!("2:@other({}!)", attempt + 1))
            .await;
        let notification = format!("\x1b]777;notify;other;{text}\x07");
        if tui.has_written(notification.as_bytes()) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no notification");
    }
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);
}

/// The terminal's modes as `stty -a` prints them.
fn stty(tty: &Path) -> String {
    let output = std::process::Command::new("stty")
        .arg("-F")
        .arg(tty)
        .arg("-a")
        .output()
        .expect("run stty");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_l_repaints_and_after_a_stop_and_continue_the_terminal_is_raw_again() {
    let server = TestServer::start().await;
    let address = server.addr().to_string();
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    tui.wait_for_text("Connected to").await;
    // Ctrl-L clears and repaints, and the client carries on.
    tui.type_keys("\x0c");
    tui.type_keys("before the stop\r");
    tui.wait_for_text("<tester> before the stop").await;
    let tty = tui.master.tty_name().expect("the pty's name");
    assert!(stty(&tty).contains("-icanon"), "raw while running");
    tui.signal("STOP");
    // What a shell does when its job stops: its own modes back.
    let sane = std::process::Command::new("stty")
        .arg("-F")
        .arg(&tty)
        .arg("sane")
        .status()
        .expect("run stty");
    assert!(sane.success());
    assert!(!stty(&tty).contains("-icanon"));
    tui.signal("CONT");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !stty(&tty).contains("-icanon") {
        assert!(tokio::time::Instant::now() < deadline, "still not raw");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tui.type_keys("after the stop\r");
    tui.wait_for_text("<tester> after the stop").await;
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);
}

/// Issue 13: the person who founds a room keeps order in it from the
/// full-screen client, and a guest on plain TCP sees it happen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_founder_kicks_a_guest_from_the_terminal_client() {
    let server = TestServer::start().await;
    let address = server.addr().to_string();
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    tui.wait_for_text("Connected to").await;
    tui.type_keys("/join dev\r");
    tui.wait_for_text("You are in #dev").await;
    let mut guest = server.join("guest").await;
    guest.join_room("dev").await;
    tui.wait_for_text("~guest joined").await;
    tui.type_keys("/topic Keep it civil\r");
    tui.wait_for_text("Topic of #dev: Keep it civil (set by tester)")
        .await;
    tui.type_keys("/kick guest go and cool off\r");
    let reason = loop {
        if let lanchat_shared::ServerMsg::Leave { nick, reason, .. } = guest.recv().await
            && nick == "guest"
        {
            break reason;
        }
    };
    assert_eq!(reason, "kicked by tester: go and cool off");
    tui.wait_for_text("guest was kicked by tester: go and cool off.")
        .await;
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);
}

/// Reads IRC lines until one that ends with `end`.
async fn irc_line_ending(irc: &mut TestClient, end: &str) -> String {
    loop {
        let line = irc.recv_line().await;
        let line = line.trim_end_matches('\r');
        if line.ends_with(end) {
            return line.to_owned();
        }
    }
}

/// Issue 14's "done when", from the terminal's side: the terminal client,
/// an IRC client and an `nc` user in one room, and direct messages
/// between the terminal and IRC both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_client_chats_with_an_irc_client_and_an_nc_user() {
    let server = TestServer::with_irc(relaxed_config()).await;
    let mut irc = TestClient::connect_raw(server.irc_addr()).await;
    irc.send_raw(b"NICK carol\r\nUSER carol 0 * :Carol\r\n")
        .await;
    irc_line_ending(&mut irc, ":End of /NAMES list").await;
    let mut nc = TestClient::connect_raw(server.addr()).await;
    nc.recv_line().await;
    nc.send_line("netcat").await;
    let address = server.addr().to_string();
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    tui.wait_for_text("Connected to").await;

    irc.send_raw(b"PRIVMSG #lobby :hello from irc\r\n").await;
    tui.wait_for_text("<~carol> hello from irc").await;
    nc.send_line("hello from nc").await;
    tui.wait_for_text("<~netcat> hello from nc").await;
    irc_line_ending(&mut irc, "PRIVMSG #lobby :hello from nc").await;

    tui.type_keys("hi both\r");
    let line = irc_line_ending(&mut irc, ":hi both").await;
    assert_eq!(line, ":tester!tester@lanchat PRIVMSG #lobby :hi both");
    loop {
        if nc.recv_line().await.ends_with("<tester> hi both") {
            break;
        }
    }

    tui.type_keys("/msg carol psst\r");
    let line = irc_line_ending(&mut irc, ":psst").await;
    assert_eq!(line, ":tester!tester@lanchat PRIVMSG carol :psst");
    irc.send_raw(b"PRIVMSG tester :back at you\r\n").await;
    tui.type_keys("\x1b2"); // Alt-2: the conversation with carol.
    tui.wait_for_text("back at you").await;
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);
    irc_line_ending(&mut irc, ":tester!tester@lanchat QUIT :Quit").await;
}
