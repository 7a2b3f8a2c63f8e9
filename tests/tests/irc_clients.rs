//! The real IRC clients the gateway is for: irssi (in a pseudo-terminal)
//! and weechat-headless connect to the IRC port twice each, plainly and
//! over TLS (the server's key or certificate pinned, a client certificate
//! presented), join `#lobby`, finish their channel sync, show the history
//! with its original time and chat with a JSON client and a plain-text
//! (`nc`) one, direct messages included. hexchat (in a virtual X display)
//! does the same, over TLS without a pin, which it cannot make.
//!
//! The clients write what they show to log files, which the tests poll
//! until a line appears or a deadline passes. Without the programs a test
//! is skipped, except in CI (`CI` set), which installs them (`.ci/run`).

#![allow(clippy::panic)] // A test fails by panicking.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lanchat_server::{Config, TlsKeys};
use lanchat_shared::keyfile::{KeyFile, load_or_create};
use lanchat_shared::{ClientMsg, ServerMsg, fingerprint::certificate_hex};
use lanchat_tests::pty::Terminal;
use lanchat_tests::{TestClient, TestServer, on_disk};
use portable_pty::CommandBuilder;

/// How long a client may take to show something: connecting, registering
/// and syncing take about two seconds; CI machines are slow.
const DEADLINE: Duration = Duration::from_secs(20);

/// A lobby message stored long before the test: 2021-03-04 05:06:07 UTC.
const OLD_TS_MS: i64 = 1_614_834_367_000;
const OLD_TIME: &str = "2021-03-04 05:06:07";
const OLD_TEXT: &str = "said long ago";

/// Whether `program` is on the PATH. In CI a missing one fails the test;
/// elsewhere the test is skipped with a reason.
fn installed(program: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is not installed; CI installs it (apt-get install {package}, see .ci/run)"
        );
        eprintln!("skipped: {program} is not installed (apt-get install {package})");
    }
    found
}

/// A server with an IRC port and an old message in the lobby's history,
/// its TLS key in a file the test can pin, a client identity for the IRC
/// clients' TLS connections, and a JSON and a plain-text client in the
/// lobby.
struct Scene {
    dir: tempfile::TempDir,
    server: TestServer,
    /// The server's key and certificate.
    server_key: KeyFile,
    /// The IRC clients' identity, key and certificate in one PEM.
    identity: PathBuf,
    identity_key: KeyFile,
    json: TestClient,
    nc: TestClient,
}

impl Scene {
    async fn start() -> Scene {
        let dir = tempfile::tempdir().expect("temporary directory");
        let server_pem = dir.path().join("server.pem");
        let (server_key, _) = load_or_create(&server_pem).expect("server key");
        let config = Config {
            tls_keys: TlsKeys::Files {
                cert: server_pem.clone(),
                key: server_pem,
            },
            ..on_disk(&dir)
        };
        // A first start makes the database; the old message goes in while
        // the server is down, so the second start serves it as history.
        TestServer::with_irc(config.clone()).await.shutdown().await;
        let db = rusqlite::Connection::open(dir.path().join("history.db")).expect("database");
        db.execute(
            "INSERT INTO messages (ts, sender, sender_key, room, text)
             VALUES (?1, 'olduser', 'olduser', 'lobby', ?2)",
            rusqlite::params![OLD_TS_MS, OLD_TEXT],
        )
        .expect("an old message");
        drop(db);
        let server = TestServer::with_irc(config).await;
        let json = server.join("tui").await;
        assert_eq!(json.history.len(), 1, "{:?}", json.history);
        let nc = plain_join(&server, "ncuser").await;
        let identity = dir.path().join("identity.pem");
        let (identity_key, _) = load_or_create(&identity).expect("client identity");
        Scene {
            dir,
            server,
            server_key,
            identity,
            identity_key,
            json,
            nc,
        }
    }

    fn irc_port(&self) -> u16 {
        self.server.irc_addr().port()
    }

    /// The server certificate's SHA-256, as weechat pins it.
    fn certificate_hex(&self) -> String {
        certificate_hex(&self.server_key.chain[0])
    }

    /// Expects the JSON client to be told `from` said `text` (an action if
    /// `action`), to the lobby or, with `to`, directly.
    async fn json_hears(&mut self, from: &str, text: &str, to: Option<&str>, action: bool) {
        loop {
            match self.json.recv().await {
                ServerMsg::Message {
                    from: who,
                    text: said,
                    to: whom,
                    action: acted,
                    ..
                } => {
                    assert_eq!(
                        (
                            who.as_str(),
                            said.as_str(),
                            whom.as_deref(),
                            acted == Some(true)
                        ),
                        (from, text, to, action)
                    );
                    return;
                }
                ServerMsg::Join { .. } | ServerMsg::Leave { .. } | ServerMsg::Nick { .. } => {}
                other => panic!("tui: expected {from}'s message, got {other:?}"),
            }
        }
    }

    /// Expects everyone in `nicks` to leave, in any order, with `reason`.
    async fn json_sees_quit(&mut self, nicks: &[&str], reason: &str) {
        let mut left = Vec::new();
        while left.len() < nicks.len() {
            match self.json.recv().await {
                ServerMsg::Leave {
                    nick, reason: why, ..
                } if nicks.contains(&nick.as_str()) => {
                    assert_eq!(why, reason, "{nick}");
                    left.push(nick);
                }
                ServerMsg::Message { .. } | ServerMsg::Join { .. } | ServerMsg::Leave { .. } => {}
                other => panic!("tui: expected {nicks:?} to leave, got {other:?}"),
            }
        }
    }

    /// Expects the plain-text client to show a line ending with `ending`.
    async fn nc_hears(&mut self, ending: &str) {
        loop {
            let line = self.nc.recv_line().await;
            if line.ends_with(ending) {
                return;
            }
        }
    }

    /// Asks who `nick` is; expects a TLS connection owning the nickname
    /// with the IRC clients' identity, or a plain guest.
    async fn expect_identity(&mut self, nick: &str, tls: bool) {
        self.json
            .send(&ClientMsg::Whois { nick: nick.into() })
            .await;
        loop {
            match self.json.recv().await {
                ServerMsg::Whois {
                    identity,
                    owned,
                    encrypted,
                    ..
                } => {
                    let expected = tls.then(|| self.identity_key.fingerprint.as_str().to_owned());
                    assert_eq!((identity, owned, encrypted), (expected, tls, tls), "{nick}");
                    return;
                }
                ServerMsg::Join { .. } | ServerMsg::Message { .. } => {}
                other => panic!("tui: expected who {nick} is, got {other:?}"),
            }
        }
    }
}

/// Connects like `nc`: reads the greeting, types a nickname, reads the
/// welcome and its hint.
async fn plain_join(server: &TestServer, nick: &str) -> TestClient {
    let mut client = TestClient::connect_raw(server.addr()).await;
    client.recv_line().await;
    client.send_line(nick).await;
    let welcome = client.recv_line().await;
    assert!(
        welcome.starts_with(&format!("-- Welcome, {nick}!")),
        "{welcome}"
    );
    client.nick = nick.to_owned();
    client
}

/// Waits until the file at `path` has a line containing every one of
/// `parts`; returns that line. `what` shows on failure, with the file.
async fn wait_for_line(path: &Path, parts: &[&str], what: &str) -> String {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|line| parts.iter().all(|part| line.contains(part)))
        {
            return line.to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what} in {}:\n{text}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `child` has exited.
async fn wait_exit(child: &mut dyn FnMut() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !child() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// irssi in a pseudo-terminal, its screen kept for failure messages.
struct Irssi {
    screen: Arc<Mutex<vt100::Parser>>,
    keys: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Irssi {
    fn start(home: &Path) -> Irssi {
        let mut command = CommandBuilder::new("irssi");
        command.arg(format!("--home={}", home.display()));
        command.env("TERM", "xterm");
        // Log times are local times; the old message's is in UTC.
        command.env("TZ", "UTC");
        command.env("HOME", home);
        command.cwd(home);
        let Terminal {
            screen,
            keys,
            child,
            master,
            ..
        } = Terminal::spawn(command, (40, 120));
        Irssi {
            screen,
            keys,
            child,
            _master: master,
        }
    }

    /// Types `command` and Enter.
    fn command(&mut self, command: &str) {
        self.keys
            .write_all(format!("{command}\r").as_bytes())
            .expect("type");
        self.keys.flush().expect("flush");
    }

    fn screen(&self) -> String {
        self.screen.lock().expect("screen lock").screen().contents()
    }
}

impl Drop for Irssi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        if std::thread::panicking() {
            eprintln!("irssi's screen:\n{}", self.screen());
        }
    }
}

/// irssi's configuration: network `lan` plainly as `irssi`, `lans` over
/// TLS as `irssitls` with the server's key pinned and `identity`
/// presented, both joining `#lobby` by themselves; every channel and
/// query logged with full times, shown at the server's time, and no
/// flood pacing between commands (irssi's default queues them 2.2 s
/// apart).
fn irssi_config(port: u16, pinned_key: &str, identity: &Path, logs: &Path) -> String {
    format!(
        r##"servers = (
  {{ address = "127.0.0.1"; chatnet = "lan"; port = "{port}"; autoconnect = "yes"; }},
  {{ address = "127.0.0.1"; chatnet = "lans"; port = "{port}"; autoconnect = "yes";
    use_tls = "yes"; tls_verify = "no"; tls_pinned_pubkey = "{pinned_key}";
    tls_cert = "{identity}"; }}
);
chatnets = {{ lan = {{ type = "IRC"; nick = "irssi"; }}; lans = {{ type = "IRC"; nick = "irssitls"; }}; }};
channels = (
  {{ name = "#lobby"; chatnet = "lan"; autojoin = "yes"; }},
  {{ name = "#lobby"; chatnet = "lans"; autojoin = "yes"; }}
);
settings = {{
  core = {{ real_name = "Irssi Test"; user_name = "irssi"; nick = "irssi";
    settings_autosave = "no"; log_timestamp = "%Y-%m-%d %H:%M:%S "; }};
  "fe-common/core" = {{ autolog = "yes"; autolog_path = "{logs}/$tag/$0.log"; }};
  "fe-text" = {{ show_server_time = "yes"; }};
  "irc/core" = {{ cmd_queue_speed = "0"; cmds_max_at_once = "100"; }};
}};
"##,
        identity = identity.display(),
        logs = logs.display(),
    )
}

#[tokio::test]
async fn irssi_joins_syncs_shows_history_at_its_time_and_chats_plainly_and_over_tls() {
    if !installed("irssi", "irssi") {
        return;
    }
    let mut scene = Scene::start().await;
    let home = scene.dir.path().join("irssi");
    let logs = home.join("logs");
    std::fs::create_dir_all(&home).expect("irssi's home");
    let pinned = scene.server_key.fingerprint.colon_hex();
    let config = irssi_config(scene.irc_port(), &pinned, &scene.identity, &logs);
    std::fs::write(home.join("config"), config).expect("irssi's config");
    let mut irssi = Irssi::start(&home);

    for tag in ["lan", "lans"] {
        let lobby = logs.join(tag).join("#lobby.log");
        let old = format!("{OLD_TIME} < olduser> {OLD_TEXT}");
        wait_for_line(&lobby, &[&old], "the history at its own time").await;
        // irssi has sent MODE #lobby, WHO #lobby and MODE #lobby b, and
        // had the answers it waits for.
        wait_for_line(&lobby, &["Join to #lobby was synced"], "the sync").await;
    }
    scene.expect_identity("irssi", false).await;
    scene.expect_identity("irssitls", true).await;

    irssi.command("/msg -lan #lobby hello from irssi");
    scene
        .json_hears("irssi", "hello from irssi", None, false)
        .await;
    scene.nc_hears("<irssi> hello from irssi").await;
    irssi.command("/action -lans #lobby waves over TLS");
    scene
        .json_hears("irssitls", "waves over TLS", None, true)
        .await;
    scene.nc_hears("* irssitls waves over TLS").await;
    irssi.command("/msg -lan tui psst from irssi");
    scene
        .json_hears("irssi", "psst from irssi", Some("tui"), false)
        .await;

    scene.json.say("hello irssi").await;
    scene.nc.send_line("hello from nc").await;
    scene
        .json
        .say_to(None, Some("irssi"), "psst irssi", None)
        .await;
    scene.nc.send_line("/msg irssitls psst over TLS").await;
    let lan = logs.join("lan");
    wait_for_line(
        &lan.join("#lobby.log"),
        &["< tui> hello irssi"],
        "tui's line",
    )
    .await;
    wait_for_line(
        &lan.join("#lobby.log"),
        &["< ncuser> hello from nc"],
        "nc's line",
    )
    .await;
    wait_for_line(&lan.join("tui.log"), &["<tui> psst irssi"], "tui's DM").await;
    let tls_query = logs.join("lans").join("ncuser.log");
    wait_for_line(&tls_query, &["<ncuser> psst over TLS"], "nc's DM").await;

    irssi.command("/quit bye now");
    scene
        .json_sees_quit(&["irssi", "irssitls"], "quit: bye now")
        .await;
    let child = &mut irssi.child;
    wait_exit(&mut || matches!(child.try_wait(), Ok(Some(_))), "irssi").await;
}

/// weechat-headless, logging every buffer, read by the test and told
/// what to do through its FIFO.
struct Weechat {
    child: Child,
    fifo: PathBuf,
    logs: PathBuf,
}

impl Weechat {
    /// Starts weechat in `home` with `commands` (separated by `;`) run
    /// after its own setup.
    fn start(home: &Path, commands: &str) -> Weechat {
        let logs = home.join("logs");
        let fifo = home.join("fifo");
        // No pacing of commands (2 s by default); the option's name
        // changed in 4.0, and an unknown one is only a warning.
        let setup = format!(
            "/set logger.file.path {logs};/set logger.file.flush_delay 0;\
             /set fifo.file.path {fifo};/set irc.server_default.anti_flood_prio_high 0;\
             /set irc.server_default.anti_flood_prio_low 0;/set irc.server_default.anti_flood 0;\
             {commands}",
            logs = logs.display(),
            fifo = fifo.display(),
        );
        let child = Command::new("weechat-headless")
            .arg("--dir")
            .arg(home)
            .args(["--plugins", "irc,logger,fifo", "--run-command", &setup])
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start weechat-headless");
        Weechat { child, fifo, logs }
    }

    /// The log of `buffer` (`lan.#lobby`, `server.lan`, `lan.tui`).
    fn log(&self, buffer: &str) -> PathBuf {
        self.logs.join(format!("irc.{buffer}.weechatlog"))
    }

    /// Runs `line` in `buffer`, as typed there (`*` before text or a
    /// command).
    async fn type_in(&self, buffer: &str, line: &str) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !self.fifo.exists() {
            assert!(tokio::time::Instant::now() < deadline, "no weechat FIFO");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut fifo = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.fifo)
            .expect("open weechat's FIFO");
        fifo.write_all(format!("irc.{buffer} *{line}\n").as_bytes())
            .expect("write to weechat's FIFO");
    }
}

impl Drop for Weechat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// weechat's major version, which decides whether its TLS options are
/// spelled `ssl` (before 4.0) or `tls`.
fn weechat_major() -> u32 {
    let out = Command::new("weechat-headless")
        .arg("--version")
        .output()
        .expect("weechat-headless --version");
    let version = String::from_utf8_lossy(&out.stdout);
    version
        .trim()
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or_else(|| panic!("a weechat version, not {version:?}"))
}

#[tokio::test]
async fn weechat_joins_shows_history_at_its_time_and_chats_plainly_and_over_tls() {
    if !installed("weechat-headless", "weechat-headless") {
        return;
    }
    let mut scene = Scene::start().await;
    let home = scene.dir.path().join("weechat");
    std::fs::create_dir_all(&home).expect("weechat's home");
    let tls = if weechat_major() >= 4 { "tls" } else { "ssl" };
    let port = scene.irc_port();
    let commands = format!(
        "/server add lan 127.0.0.1/{port} -no{tls} -nicks=wee -autojoin=#lobby;\
         /server add lans 127.0.0.1/{port} -{tls} -{tls}_fingerprint={fingerprint} \
         -{tls}_cert={identity} -nicks=weetls -autojoin=#lobby;\
         /connect lan;/connect lans",
        fingerprint = scene.certificate_hex(),
        identity = scene.identity.display(),
    );
    let weechat = Weechat::start(&home, &commands);

    for network in ["lan", "lans"] {
        let lobby = weechat.log(&format!("{network}.#lobby"));
        let old = format!("{OLD_TIME}\tolduser\t{OLD_TEXT}");
        wait_for_line(&lobby, &[&old], "the history at its own time").await;
        // The nicklist came (NAMES).
        wait_for_line(&lobby, &["Channel #lobby: ", "nicks"], "the nicklist").await;
    }
    scene.expect_identity("wee", false).await;
    scene.expect_identity("weetls", true).await;

    weechat.type_in("lan.#lobby", "hello from weechat").await;
    scene
        .json_hears("wee", "hello from weechat", None, false)
        .await;
    scene.nc_hears("<wee> hello from weechat").await;
    weechat.type_in("lans.#lobby", "/me waves over TLS").await;
    scene
        .json_hears("weetls", "waves over TLS", None, true)
        .await;
    scene.nc_hears("* weetls waves over TLS").await;
    weechat
        .type_in("server.lan", "/msg tui psst from weechat")
        .await;
    scene
        .json_hears("wee", "psst from weechat", Some("tui"), false)
        .await;

    scene.json.say("hello weechat").await;
    scene.nc.send_line("hello from nc").await;
    scene.json.say_to(None, Some("wee"), "psst wee", None).await;
    scene.nc.send_line("/msg weetls psst over TLS").await;
    let lobby = weechat.log("lan.#lobby");
    wait_for_line(&lobby, &["\ttui\thello weechat"], "tui's line").await;
    wait_for_line(&lobby, &["\tncuser\thello from nc"], "nc's line").await;
    wait_for_line(&weechat.log("lan.tui"), &["\ttui\tpsst wee"], "tui's DM").await;
    let tls_query = weechat.log("lans.ncuser");
    wait_for_line(&tls_query, &["\tncuser\tpsst over TLS"], "nc's DM").await;

    weechat.type_in("server.lan", "/nick weenew").await;
    loop {
        match scene.json.recv().await {
            ServerMsg::Nick { old, new, .. } => {
                assert_eq!((old.as_str(), new.as_str()), ("wee", "weenew"));
                break;
            }
            ServerMsg::Message { .. } => {}
            other => panic!("tui: expected wee's new nickname, got {other:?}"),
        }
    }
    weechat.type_in("lan.#lobby", "/part").await;
    scene.json.expect_leave("weenew").await;
    weechat.type_in("server.lan", "/quit").await;
    scene.json.expect_leave("weetls").await;
    let mut weechat = weechat;
    let child = &mut weechat.child;
    wait_exit(&mut || matches!(child.try_wait(), Ok(Some(_))), "weechat").await;
}

/// hexchat, a GTK program, in a virtual X display of its own (Xvfb). It
/// refuses to start as root without a click, so as root it runs as
/// `nobody`, whose files the test makes readable and writable.
struct Hexchat {
    // Fields drop in order: hexchat before its display.
    _child: Killed,
    _display: Killed,
    logs: PathBuf,
}

/// A process killed (and reaped) when this is dropped, a test's panic
/// included.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Hexchat {
    /// Starts Xvfb and hexchat with the configuration in `home`.
    fn start(home: &Path) -> Hexchat {
        let mut display = Killed(
            Command::new("Xvfb")
                .args([
                    "-displayfd",
                    "1",
                    "-screen",
                    "0",
                    "800x600x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start Xvfb"),
        );
        // Xvfb picks a free display and writes its number once it serves
        // (or exits, which ends the line empty).
        let mut number = String::new();
        let stdout = display.0.stdout.take().expect("Xvfb's output");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut number)
            .expect("Xvfb's display number");
        assert!(!number.trim().is_empty(), "Xvfb did not start");
        let mut command = if running_as_root() {
            let mut command = Command::new("setpriv");
            command.args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "hexchat",
            ]);
            command
        } else {
            Command::new("hexchat")
        };
        let child = command
            .arg(format!("--cfgdir={}", home.display()))
            .arg("--no-plugins")
            .env("DISPLAY", format!(":{}", number.trim()))
            .env("HOME", home)
            // Log times are local times; the old message's is in UTC.
            .env("TZ", "UTC")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hexchat");
        Hexchat {
            _child: Killed(child),
            _display: display,
            logs: home.join("logs"),
        }
    }
}

/// Whether this process runs as root: `/proc/self` belongs to whoever
/// the process runs as.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// Lets `nobody` read and write `path` and everything in it (a test's
/// configuration and a key made for the test alone), and reach it.
fn open_to_nobody(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walk(path) {
        let mode = if entry.is_dir() { 0o777 } else { 0o666 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode))
            .expect("open to nobody");
    }
}

/// `path` and everything below it.
fn walk(path: &Path) -> Vec<PathBuf> {
    let mut found = vec![path.to_owned()];
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            found.extend(walk(&entry.path()));
        }
    }
    found
}

/// hexchat's configuration: network `lan` as `hexchat`, connecting by
/// itself, saying a line in the lobby and one to `tui` once registered,
/// joining `#lobby` (which it is in already), and `lans` as `hexchattls`
/// over TLS (its client certificate in `certs/lans.pem`), saying a line in
/// the lobby; every channel and query logged with full times. No server
/// list or join dialog at start.
fn hexchat_config(port: u16) -> (String, String) {
    let settings = "version = 2.16.1\n\
        irc_nick1 = hexchat\nirc_user_name = hexchat\nirc_real_name = Hexchat Test\n\
        gui_slist_skip = 1\ngui_join_dialog = 0\ngui_quit_dialog = 0\n\
        irc_logging = 1\nirc_logmask = %n/%c.log\nstamp_log_format = %Y-%m-%d %H:%M:%S \n\
        text_replay = 0\n"
        .to_owned();
    // Flags 8: connect at start (and not the global nickname settings);
    // 4 + 32: TLS, accepting a certificate nobody signed (hexchat cannot
    // pin one).
    let networks = format!(
        "v=2.16.1\n\nN=lan\nI=hexchat\ni=hexchat_\nE=UTF-8 (Unicode)\nF=8\nD=0\n\
         S=127.0.0.1/{port}\nC=MSG #lobby hello from hexchat\nC=MSG tui psst from hexchat\n\
         J=#lobby\n\n\
         N=lans\nI=hexchattls\ni=hexchattls_\nE=UTF-8 (Unicode)\nF=44\nD=0\n\
         S=127.0.0.1/{port}\nC=MSG #lobby hello over TLS\nJ=#lobby\n\n"
    );
    (settings, networks)
}

#[tokio::test]
async fn hexchat_joins_shows_history_at_its_time_and_chats_plainly_and_over_tls() {
    if !installed("hexchat", "hexchat") || !installed("Xvfb", "xvfb") {
        return;
    }
    let mut scene = Scene::start().await;
    // A home of its own in /tmp, whose parents anyone may pass through,
    // so that only it is opened to `nobody`, not the server's files.
    let home_dir = tempfile::Builder::new()
        .prefix("lanchat-hexchat")
        .tempdir_in("/tmp")
        .expect("hexchat's home");
    let home = home_dir.path();
    let (settings, networks) = hexchat_config(scene.irc_port());
    std::fs::write(home.join("hexchat.conf"), settings).expect("hexchat's settings");
    std::fs::write(home.join("servlist.conf"), networks).expect("hexchat's networks");
    std::fs::create_dir_all(home.join("certs")).expect("hexchat's certificates");
    std::fs::copy(&scene.identity, home.join("certs").join("lans.pem")).expect("its identity");
    if running_as_root() {
        open_to_nobody(home);
    }
    let hexchat = Hexchat::start(home);

    // The two connections come in either order.
    let mut heard = Vec::new();
    while heard.len() < 3 {
        match scene.json.recv().await {
            ServerMsg::Message { from, text, to, .. } => heard.push((from, text, to)),
            ServerMsg::Join { .. } => {}
            other => panic!("tui: expected hexchat's messages, got {other:?}"),
        }
    }
    heard.sort();
    let said = |from: &str, text: &str, to: Option<&str>| {
        (from.to_owned(), text.to_owned(), to.map(str::to_owned))
    };
    assert_eq!(
        heard,
        [
            said("hexchat", "hello from hexchat", None),
            said("hexchat", "psst from hexchat", Some("tui")),
            said("hexchattls", "hello over TLS", None),
        ]
    );
    scene.nc_hears("<hexchat> hello from hexchat").await;
    scene.expect_identity("hexchat", false).await;
    scene.expect_identity("hexchattls", true).await;
    let old = format!("{OLD_TIME} <olduser>\t{OLD_TEXT}");
    for network in ["lan", "lans"] {
        let lobby = hexchat.logs.join(network).join("#lobby.log");
        wait_for_line(&lobby, &[&old], "the history at its own time").await;
    }
    let lobby = hexchat.logs.join("lan").join("#lobby.log");

    scene.json.say("hello hexchat").await;
    scene.json.say("/me waves at hexchat").await;
    scene.nc.send_line("hello from nc").await;
    scene
        .json
        .say_to(None, Some("hexchat"), "psst hexchat", None)
        .await;
    wait_for_line(&lobby, &["<tui>\thello hexchat"], "tui's line").await;
    wait_for_line(&lobby, &["*\ttui waves at hexchat"], "tui's action").await;
    wait_for_line(&lobby, &["<ncuser>\thello from nc"], "nc's line").await;
    let query = hexchat.logs.join("lan").join("tui.log");
    wait_for_line(&query, &["<tui>\tpsst hexchat"], "tui's DM").await;
}
