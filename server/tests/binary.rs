//! The real `lanchat-server` binary, as an operator runs it: signals,
//! flags, and memory measured from outside the process.

#![allow(clippy::panic)] // A test fails by panicking.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, Command};

const TIMEOUT: Duration = Duration::from_secs(15);

/// The binary listening on 127.0.0.1 with an OS-assigned port.
struct RunningServer {
    child: Child,
    port: u16,
}

impl RunningServer {
    async fn start() -> RunningServer {
        RunningServer::start_with_env(&[]).await
    }

    /// Starts the server with extra flags after the usual ones.
    async fn start_with_args(args: &[&str]) -> RunningServer {
        RunningServer::launch(args, &[]).await
    }

    /// Starts the server with extra environment variables, the way the
    /// systemd unit configures it.
    async fn start_with_env(vars: &[(&str, &str)]) -> RunningServer {
        RunningServer::launch(&[], vars).await
    }

    async fn launch(args: &[&str], vars: &[(&str, &str)]) -> RunningServer {
        let command = Command::new(env!("CARGO_BIN_EXE_lanchat-server"));
        RunningServer::launch_as(command, args, vars).await.0
    }

    /// Starts the server with at most `open_files` open files (soft and
    /// hard limit, as `ulimit -n` sets them); returns it with what it
    /// logged before it listened.
    async fn start_with_open_files(open_files: u32, args: &[&str]) -> (RunningServer, String) {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            &format!("ulimit -n {open_files} && exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_lanchat-server"),
        ]);
        RunningServer::launch_as(command, args, &[]).await
    }

    async fn launch_as(
        mut command: Command,
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> (RunningServer, String) {
        let mut child = command
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(args)
            .env("RUST_LOG", "info")
            // Tests that do not test persistence keep nothing on disk.
            .env("LANCHAT_DB", ":memory:")
            .envs(vars.iter().copied())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start lanchat-server");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut early_log = String::new();
        let port = tokio::time::timeout(TIMEOUT, async {
            while let Some(line) = lines.next_line().await.expect("read log") {
                if let Some((_, addr)) = line.split_once("listening addr=") {
                    let port = addr.trim().rsplit(':').next().expect("addr has a port");
                    return port.parse::<u16>().expect("numeric port");
                }
                early_log.push_str(&line);
                early_log.push('\n');
            }
            panic!("the server exited before logging its address");
        })
        .await
        .expect("the server logs its address");
        // Keep draining the log so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        (RunningServer { child, port }, early_log)
    }

    /// Connects and reads the greeting line.
    async fn greet(&self) -> (BufReader<OwnedReadHalf>, OwnedWriteHalf, String) {
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let (read, writer) = stream.into_split();
        let mut reader = BufReader::new(read);
        let greeting = read_line(&mut reader).await;
        assert!(greeting.contains("\"greeting\""), "{greeting}");
        (reader, writer, greeting)
    }

    /// Connects, reads the greeting and joins as `nick`.
    async fn join(&self, nick: &str) -> (BufReader<OwnedReadHalf>, OwnedWriteHalf) {
        let (mut reader, mut writer, _) = self.greet().await;
        let hello = format!("{{\"type\":\"hello\",\"nick\":\"{nick}\"}}\n");
        writer.write_all(hello.as_bytes()).await.expect("hello");
        assert!(read_line(&mut reader).await.contains("\"welcome\""));
        while !read_line(&mut reader).await.contains("\"history_end\"") {}
        (reader, writer)
    }

    /// Peak resident memory of the server process, in KiB, from /proc.
    fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("VmHWM line");
        let kib = line.split_whitespace().nth(1).expect("a number");
        kib.parse().expect("KiB")
    }
}

async fn read_line(reader: &mut (impl tokio::io::AsyncBufRead + Unpin)) -> String {
    let mut line = String::new();
    tokio::time::timeout(TIMEOUT, reader.read_line(&mut line))
        .await
        .expect("a line within the time-out")
        .expect("read");
    line
}

#[tokio::test]
async fn sigterm_tells_clients_and_exits_zero() {
    let mut server = RunningServer::start().await;
    let (mut reader, _writer) = server.join("alice").await;

    let pid = server.child.id().expect("running").to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("run kill");
    assert!(kill.success());

    let notice = read_line(&mut reader).await;
    assert!(
        notice.contains("\"info\"") && notice.contains("shutting down"),
        "{notice}"
    );
    assert_eq!(
        read_line(&mut reader).await,
        "",
        "then the connection closes"
    );
    let status = tokio::time::timeout(TIMEOUT, server.child.wait())
        .await
        .expect("exits within the time-out")
        .expect("wait");
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn a_50_mib_line_without_newline_costs_the_server_no_memory_to_speak_of() {
    let server = RunningServer::start().await;
    let (mut reader, mut writer) = server.join("flood").await;
    let before = server.peak_rss_kib();

    let chunk = vec![b'x'; 64 * 1024];
    tokio::time::timeout(TIMEOUT, async {
        for _ in 0..(50 * 1024 * 1024 / chunk.len()) {
            writer
                .write_all(&chunk)
                .await
                .expect("the server keeps reading");
        }
        let after = b"\n{\"type\":\"say\",\"text\":\"still here\"}\n";
        writer.write_all(after).await.expect("write");
    })
    .await
    .expect("50 MiB sent within the time-out");

    let error = read_line(&mut reader).await;
    assert!(error.contains("line_too_long"), "{error}");
    let echo = read_line(&mut reader).await;
    assert!(echo.contains("still here"), "{echo}");
    let after = server.peak_rss_kib();
    eprintln!("peak RSS before {before} KiB, after {after} KiB");
    // Buffering the line would have cost 50 MiB; allow a little growth for
    // the allocator and the runtime.
    assert!(
        after < before + 8 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
}

#[tokio::test]
async fn help_lists_every_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_lanchat-server"))
        .arg("--help")
        .output()
        .await
        .expect("run --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--bind",
        "--port",
        "--name",
        "--max-connections",
        "--max-connections-per-ip",
        "--max-line-bytes",
        "--max-text-chars",
        "--rate",
        "--burst",
        "--max-bad-lines",
        "--bad-line-window",
        "--hello-timeout",
        "--write-timeout",
        "--queue-len",
        "--keepalive",
        "--shutdown-grace",
    ] {
        assert!(help.contains(flag), "--help mentions {flag}");
    }
}

#[tokio::test]
async fn a_bad_flag_is_a_clear_error_not_a_crash() {
    let output = Command::new(env!("CARGO_BIN_EXE_lanchat-server"))
        .args(["--max-line-bytes", "100000"])
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--max-line-bytes"));
}

#[tokio::test]
async fn settings_can_come_from_the_environment() {
    let server = RunningServer::start_with_env(&[
        ("LANCHAT_NAME", "attic"),
        ("LANCHAT_MAX_CONNECTIONS_PER_IP", "1"),
    ])
    .await;
    let (_reader, _writer, greeting) = server.greet().await;
    assert!(greeting.contains("Welcome to attic"), "{greeting}");
    let stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    let mut second = BufReader::new(stream.into_split().0);
    let refusal = read_line(&mut second).await;
    assert!(refusal.contains("too_many_connections"), "{refusal}");
}

#[tokio::test]
async fn after_kill_9_every_echoed_message_is_in_the_history_in_order() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("history.db");
    let db = db.to_str().expect("a UTF-8 path");
    let flags = [
        "--db",
        db,
        "--rate",
        "100000",
        "--burst",
        "100000",
        "--history",
        "5000",
    ];
    let mut server = RunningServer::start_with_args(&flags).await;
    let (mut reader, mut writer) = server.join("sender").await;

    // Send a burst without waiting, read echoes as they come, and kill the
    // server partway through.
    let burst: String = (0..2000)
        .map(|i| format!("{{\"type\":\"say\",\"text\":\"burst {i}\"}}\n"))
        .collect();
    let sending = tokio::spawn(async move {
        let _ = writer.write_all(burst.as_bytes()).await;
        writer
    });
    let mut echoed: Vec<(u64, String)> = Vec::new();
    while echoed.len() < 300 {
        let line = read_line(&mut reader).await;
        let msg: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        if msg["type"] == "message" {
            echoed.push((
                msg["id"].as_u64().expect("id"),
                msg["text"].as_str().expect("text").to_owned(),
            ));
        }
    }
    server.child.start_kill().expect("SIGKILL");
    let _ = server.child.wait().await;
    // Echoes already in flight when the server died were committed too.
    loop {
        let mut line = String::new();
        match tokio::time::timeout(TIMEOUT, reader.read_line(&mut line)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {
                if let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line)
                    && msg["type"] == "message"
                {
                    echoed.push((
                        msg["id"].as_u64().expect("id"),
                        msg["text"].as_str().expect("text").to_owned(),
                    ));
                }
            }
            Err(_) => panic!("the dead server's socket never closed"),
        }
    }
    drop(sending);

    let server = RunningServer::start_with_args(&flags).await;
    let stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    let (read, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read);
    read_line(&mut reader).await;
    writer
        .write_all(b"{\"type\":\"hello\",\"nick\":\"auditor\",\"since\":0}\n")
        .await
        .expect("hello");
    let mut stored: Vec<(u64, String)> = Vec::new();
    loop {
        let line = read_line(&mut reader).await;
        let msg: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        match msg["type"].as_str() {
            Some("history_end") => break,
            Some("message") => stored.push((
                msg["id"].as_u64().expect("id"),
                msg["text"].as_str().expect("text").to_owned(),
            )),
            _ => {}
        }
    }
    assert!(
        stored.len() >= echoed.len(),
        "{} stored, {} echoed",
        stored.len(),
        echoed.len()
    );
    assert_eq!(
        &stored[..echoed.len()],
        &echoed[..],
        "every echoed message, in order, with its id"
    );
}

#[tokio::test]
async fn beyond_the_open_file_limit_every_client_is_told_server_full() {
    // 128 open files leave room for 64 connections besides the server's
    // own; the default --max-connections (1024) does not fit, and before
    // the cap was fitted, clients past the limit got no answer at all.
    let (server, log) =
        RunningServer::start_with_open_files(128, &["--max-connections-per-ip", "1000"]).await;
    assert!(
        log.contains("open-file limit allows fewer connections"),
        "{log}"
    );
    let mut held = Vec::new();
    let (mut greeted, mut full) = (0, 0);
    for _ in 0..140 {
        let stream = TcpStream::connect(("127.0.0.1", server.port))
            .await
            .expect("connect");
        let (read, writer) = stream.into_split();
        let mut reader = BufReader::new(read);
        let line = read_line(&mut reader).await;
        if line.contains("\"greeting\"") {
            greeted += 1;
        } else {
            assert!(line.contains("\"server_full\""), "{line}");
            full += 1;
        }
        held.push((reader, writer));
    }
    assert_eq!((greeted, full), (64, 76));
}

#[tokio::test]
async fn resumes_that_are_never_read_pin_a_bounded_amount_of_memory() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("history.db");
    let server = RunningServer::start_with_env(&[
        ("LANCHAT_DB", db.to_str().expect("a UTF-8 path")),
        ("LANCHAT_RATE", "1000000"),
        ("LANCHAT_BURST", "1000000"),
        ("LANCHAT_MAX_CONNECTIONS_PER_IP", "100"),
    ])
    .await;
    // 1,500 messages of about 8 KB: 12 MB of history.
    let (mut reader, mut writer) = server.join("writer").await;
    let text = "é".repeat(2000);
    let count = 1500;
    let echoes = tokio::spawn(async move {
        for _ in 0..count {
            let line = read_line(&mut reader).await;
            assert!(
                line.contains("\"message\""),
                "{}",
                &line[..line.len().min(80)]
            );
        }
    });
    let say = format!("{{\"type\":\"say\",\"text\":\"{text}\"}}\n");
    for _ in 0..count {
        writer.write_all(say.as_bytes()).await.expect("say");
    }
    tokio::time::timeout(TIMEOUT * 4, echoes)
        .await
        .expect("every message stored in time")
        .expect("echoes read");
    let before = server.peak_rss_kib();
    // Twenty resumes of everything, none read past the welcome: before
    // replays were streamed, each built all 12 MB (twice) before sending.
    let mut stalled = Vec::new();
    for i in 0..20 {
        let (mut reader, mut writer, _) = server.greet().await;
        let hello = format!("{{\"type\":\"hello\",\"nick\":\"reader{i}\",\"since\":0}}\n");
        writer.write_all(hello.as_bytes()).await.expect("hello");
        assert!(read_line(&mut reader).await.contains("\"welcome\""));
        stalled.push((reader, writer));
    }
    let after = server.peak_rss_kib();
    eprintln!("peak RSS before {before} KiB, after {after} KiB");
    assert!(
        after < before + 48 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
}

/// Connects over TLS as `identity` and reads the first line the server
/// sends: the greeting, or the reason it will not talk.
async fn first_line_over_tls(port: u16, identity: &lanchat_shared::keyfile::KeyFile) -> String {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let config = lanchat_shared::tls::client_config(Some(identity)).expect("an identity");
    let (stream, _) = lanchat_shared::tls::handshake(stream, config, TIMEOUT)
        .await
        .expect("handshake");
    read_line(&mut BufReader::new(stream)).await
}

#[tokio::test]
async fn sighup_rereads_the_allow_list_for_new_connections() {
    use lanchat_shared::keyfile::ephemeral;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let allow = dir.path().join("allow");
    let (alice, bob) = (ephemeral().expect("a key"), ephemeral().expect("a key"));
    std::fs::write(&allow, format!("{} alice\n", alice.fingerprint)).expect("write");
    let allow_flag = allow.to_str().expect("a UTF-8 path");
    let server = RunningServer::start_with_args(&["--allow", allow_flag]).await;
    assert!(
        first_line_over_tls(server.port, &alice)
            .await
            .contains("greeting")
    );
    let refused = first_line_over_tls(server.port, &bob).await;
    assert!(refused.contains("not_allowed"), "{refused}");

    std::fs::write(&allow, format!("{}\n", bob.fingerprint)).expect("write");
    let pid = server.child.id().expect("running").to_string();
    let status = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .await
        .expect("kill");
    assert!(status.success());
    // The reload happens in the server's own time: ask until it has.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !first_line_over_tls(server.port, &bob)
        .await
        .contains("greeting")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob is never admitted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = first_line_over_tls(server.port, &alice).await;
    assert!(refused.contains("not_allowed"), "{refused}");
}

#[tokio::test]
async fn after_kill_9_of_one_server_its_nicknames_are_free_on_the_other_within_the_lease() {
    let Some(redis) = lanchat_tests::redis::RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let mut a = RunningServer::start_with_args(&["--redis", &url]).await;
    let b = RunningServer::start_with_args(&["--redis", &url]).await;
    let mut bob = lanchat_tests::TestClient::join(([127, 0, 0, 1], b.port).into(), "bob").await;
    let _alice = a.join("alice").await;
    bob.expect_join("alice").await;
    assert!(hello(&b, "alice").await.contains("nick_taken"), "held on A");
    // No goodbye from A: its lease (10 s) runs out, and B frees its
    // nicknames at its next renewal (every 2.5 s), and tells its clients
    // that alice left, once.
    a.child.kill().await.expect("kill -9");
    let leaves = bob.leaves_until("alice", Duration::from_secs(25)).await;
    let lost = (
        "alice".into(),
        "lobby".into(),
        "their server stopped answering".into(),
    );
    assert_eq!(leaves, [lost]);
    let freed = tokio::time::timeout(Duration::from_secs(25), async {
        loop {
            if hello(&b, "alice").await.contains("\"welcome\"") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "alice free on B within 25 s of A's death");
}

/// Says hello as `nick` on a new connection; returns the answer's line.
async fn hello(server: &RunningServer, nick: &str) -> String {
    let (mut reader, mut writer, _) = server.greet().await;
    let hello = format!("{{\"type\":\"hello\",\"nick\":\"{nick}\"}}\n");
    writer.write_all(hello.as_bytes()).await.expect("hello");
    read_line(&mut reader).await
}
