//! The real `lanchat` binary in a pseudo-terminal against a real server:
//! what a person sees and types. The screen is read through a VT100
//! emulator; every wait polls it against a deadline.

#![allow(clippy::panic)] // A test fails by panicking.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lanchat_tests::{TestClient, TestServer, relaxed_config};
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

const TIMEOUT: Duration = Duration::from_secs(15);

/// `lanchat` running in a pseudo-terminal.
struct Tui {
    screen: Arc<Mutex<vt100::Parser>>,
    /// Every byte lanchat wrote, for what the emulator does not keep
    /// (notifications).
    output: Arc<Mutex<Vec<u8>>>,
    keys: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    master: Box<dyn MasterPty + Send>,
    _data: tempfile::TempDir,
}

impl Tui {
    fn start(args: &[&str]) -> Tui {
        Tui::start_with_env(args, &[])
    }

    /// Starts lanchat with `args`, its data, state and config directories
    /// in a fresh temporary one unless `env` sets `XDG_DATA_HOME`,
    /// `XDG_STATE_HOME`, `XDG_CONFIG_HOME` (or anything else) itself.
    fn start_with_env(args: &[&str], env: &[(&str, &Path)]) -> Tui {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: 24,
                cols: 80,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut command = CommandBuilder::new(env!("CARGO_BIN_EXE_lanchat"));
        command.args(args);
        command.env("TERM", "xterm-256color");
        // Which notification sequence is written depends on these.
        for variable in ["TERM_PROGRAM", "WT_SESSION", "ConEmuPID"] {
            command.env_remove(variable);
        }
        // A hosted room writes its database under the data directory.
        let data = tempfile::tempdir().expect("temporary data directory");
        command.env("XDG_DATA_HOME", data.path());
        // Read marks, open rooms and settings stay inside the test too.
        command.env("XDG_STATE_HOME", data.path().join("state"));
        command.env("XDG_CONFIG_HOME", data.path().join("config"));
        for (name, value) in env {
            command.env(name, value);
        }
        // portable-pty starts in $HOME unless told otherwise, and a test may
        // point HOME at something that is not a directory.
        command.cwd(data.path());
        let child = pty.slave.spawn_command(command).expect("start lanchat");
        drop(pty.slave);
        let mut output = pty.master.try_clone_reader().expect("pty reader");
        let keys = pty.master.take_writer().expect("pty writer");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(24, 80, 0)));
        let feed = Arc::clone(&screen);
        let raw = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&raw);
        std::thread::spawn(move || {
            let mut buffer = [0_u8; 8192];
            while let Ok(read) = output.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                feed.lock().expect("screen lock").process(&buffer[..read]);
                record
                    .lock()
                    .expect("output lock")
                    .extend_from_slice(&buffer[..read]);
            }
        });
        Tui {
            screen,
            output: raw,
            keys,
            child,
            master: pty.master,
            _data: data,
        }
    }

    fn contents(&self) -> String {
        self.screen.lock().expect("screen lock").screen().contents()
    }

    fn alternate_screen(&self) -> bool {
        self.screen
            .lock()
            .expect("screen lock")
            .screen()
            .alternate_screen()
    }

    /// Waits until the screen satisfies `test`, or fails showing the screen.
    async fn wait_for(&self, what: &str, test: impl Fn(&str) -> bool) {
        self.wait_for_state(what, |parser| test(&parser.screen().contents()))
            .await;
    }

    /// Waits until the emulator's state satisfies `test`.
    async fn wait_for_state(&self, what: &str, test: impl Fn(&vt100::Parser) -> bool) {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if test(&self.screen.lock().expect("screen lock")) {
                return;
            }
            let screen = self.contents();
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen shows:\n{screen}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// True if lanchat has written `bytes`, anywhere in its output.
    fn has_written(&self, bytes: &[u8]) -> bool {
        let written = self.output.lock().expect("output lock");
        written.windows(bytes.len()).any(|window| window == bytes)
    }

    /// Waits until lanchat has written `bytes`.
    async fn wait_for_output(&self, what: &str, bytes: &[u8]) {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if self.has_written(bytes) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_for_text(&self, text: &str) {
        self.wait_for(text, |screen| screen.contains(text)).await;
    }

    fn type_keys(&mut self, keys: &str) {
        self.keys.write_all(keys.as_bytes()).expect("type");
        self.keys.flush().expect("flush");
    }

    /// Sends the signal `name` (`TERM`, `INT`, …) to lanchat, as `kill`
    /// from another terminal would.
    fn signal(&self, name: &str) {
        let pid = self.child.process_id().expect("a pid").to_string();
        let kill = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("kill");
        assert!(kill.success());
    }

    /// Waits for the process to exit; returns whether it succeeded.
    async fn wait_exit(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.success();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "lanchat did not exit"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

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
            room: Some("lobby".into())
        }
    );

    other.say("hello from the other side").await;
    tui.wait_for_text("<other> hello from the other side").await;

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
    let first = TestServer::start().await;
    let port = first.addr().port();
    let address = first.addr().to_string();
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    tui.wait_for_text("Connected to").await;

    first.shutdown().await;
    tui.wait_for_text("offline").await;
    // Typed while offline: kept and sent once the server is back.
    tui.type_keys("said while the server was down\r");
    tui.wait_for_text("1 unsent").await;

    let second = TestServer::on_port(port, relaxed_config()).await;
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
    tui.wait_for_text("<other> welcome back").await;
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
            room: Some("lobby".into())
        }
    );
    tui.type_keys("\x04"); // Ctrl-D on an empty line quits.
    assert!(tui.wait_exit().await);
}

/// A port nothing listens on (UDP or TCP) at the moment of asking.
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

fn unused_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("address").port()
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
    tui.wait_for_text("guest joined").await;
    guest.say("nice room").await;
    tui.wait_for_text("<guest> nice room").await;

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
    let udp = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind UDP");
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
    let mut tui = Tui::start(&["--server", &address, "--nick", "tester"]);
    tui.wait_for_text("Connected to").await;
    tui.type_keys("first life\r");
    tui.wait_for_text("<tester> first life").await;
    other.say("reply to the first life").await;
    tui.wait_for_text("reply to the first life").await;
    tui.type_keys("/quit\r");
    assert!(tui.wait_exit().await);

    let tui = Tui::start(&["--server", &address, "--nick", "tester"]);
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
    let env = [("XDG_STATE_HOME", state.path())];
    let args = ["--server", &address, "--nick", "tester"];
    let mut tui = Tui::start_with_env(&args, &env);
    tui.wait_for_text("Connected to").await;
    // A room's history, not direct messages: those are replayed only to
    // identities, and this client connects as a guest.
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
    let env = [("XDG_STATE_HOME", state.path())];
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
