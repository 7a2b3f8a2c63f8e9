//! Helpers for lanchat's integration tests, so each test reads like the
//! protocol document: start a [`TestServer`], connect [`TestClient`]s, say
//! things, expect things.
//!
//! Every server binds 127.0.0.1:0 and every wait has a time-out
//! ([`TIMEOUT`]), so tests run in parallel and a hang fails instead of
//! blocking CI. Helpers panic with a description of what was expected:
//! that is how a test fails.

#![allow(clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use lanchat_server::{Config, Server};
use lanchat_shared::{ClientMsg, ErrorCode, ServerMsg};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest any single expectation waits. Generous, because CI machines are
/// small and busy; a passing test never waits this long.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The session token and the id of a message, read from server messages.
pub fn session_of(welcome: &ServerMsg) -> String {
    match welcome {
        ServerMsg::Welcome {
            session: Some(token),
            ..
        } => token.clone(),
        other => panic!("expected a welcome with a session, got {other:?}"),
    }
}

/// The id of a `message`.
pub fn id_of(msg: &ServerMsg) -> u64 {
    match msg {
        ServerMsg::Message { id, .. } => *id,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The text of a `message`.
pub fn text_of(msg: &ServerMsg) -> &str {
    match msg {
        ServerMsg::Message { text, .. } => text,
        other => panic!("expected a message, got {other:?}"),
    }
}

pub mod pty;
pub mod redis;
pub mod tls;

async fn tcp_connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("connect within the time-out")
        .expect("connect")
}

/// Another descriptor for the same socket: socket options set through it
/// (linger, for a reset) apply to the connection.
fn second_handle(stream: &TcpStream) -> std::net::TcpStream {
    socket2::SockRef::from(stream)
        .try_clone()
        .expect("dup the socket")
        .into()
}

/// Settings for tests that are not about flood control: the rate limit is
/// out of the way and so are per-address caps (every test client is
/// 127.0.0.1).
pub fn relaxed_config() -> Config {
    Config {
        rate: lanchat_shared::Rate {
            per_sec: 1_000_000.0,
            burst: 1_000_000,
        },
        max_connections_per_ip: 10_000,
        max_connections: 10_000,
        ..Config::default()
    }
}

/// [`relaxed_config`] with history in `history.db` in `dir`.
pub fn on_disk(dir: &tempfile::TempDir) -> Config {
    Config {
        db: lanchat_server::DbLocation::File(dir.path().join("history.db")),
        ..relaxed_config()
    }
}

/// [`relaxed_config`] for a server that keeps everything in `redis`,
/// shared with any other server given the same.
pub fn sharing(redis: &redis::RedisServer) -> Config {
    Config {
        redis: Some(redis.url()),
        ..relaxed_config()
    }
}

/// A real server running in this process on an OS-assigned port.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    irc: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Starts a server with [`relaxed_config`].
    pub async fn start() -> TestServer {
        TestServer::with_config(relaxed_config()).await
    }

    /// Starts a server with `config`.
    pub async fn with_config(config: Config) -> TestServer {
        TestServer::on_port(0, config).await
    }

    /// Starts a server on 127.0.0.1:`port` (0 for any free port), e.g. to
    /// restart one where its clients expect it.
    pub async fn on_port(port: u16, config: Config) -> TestServer {
        TestServer::serving(port, config, false).await
    }

    /// Starts a server with `config` that serves IRC clients too, on a
    /// port of its own ([`TestServer::irc_addr`]).
    pub async fn with_irc(config: Config) -> TestServer {
        TestServer::serving(0, config, true).await
    }

    async fn serving(port: u16, config: Config, irc: bool) -> TestServer {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let mut server = Server::open(config).expect("server opened");
        let mut irc_addr = None;
        if irc {
            let irc = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1 for IRC");
            irc_addr = Some(irc.local_addr().expect("local address"));
            server = server.with_irc(irc);
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            irc: irc_addr,
            stop: Some(stop),
            task,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where IRC clients connect, for a server started by
    /// [`TestServer::with_irc`].
    pub fn irc_addr(&self) -> SocketAddr {
        self.irc.expect("a server started with_irc")
    }

    /// Starts a graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts down gracefully and waits until `run` has returned.
    pub async fn shutdown(mut self) {
        self.begin_shutdown();
        tokio::time::timeout(TIMEOUT, &mut self.task)
            .await
            .expect("server stops within the time-out")
            .expect("server task did not panic");
    }

    /// Connects and joins as `nick`, checking the welcome.
    pub async fn join(&self, nick: &str) -> TestClient {
        TestClient::join(self.addr, nick).await
    }

    /// Connects over TLS presenting `identity` and joins as `nick`,
    /// checking the welcome.
    pub async fn join_with_key(
        &self,
        nick: &str,
        identity: &lanchat_shared::keyfile::KeyFile,
    ) -> TestClient {
        let (client, _) = TestClient::connect_tls_raw(self.addr, Some(identity)).await;
        client.joined(nick).await
    }

    /// Joins two clients, the first of which has already read the second's
    /// `join`, so both start with nothing pending.
    pub async fn join_two(&self, first: &str, second: &str) -> (TestClient, TestClient) {
        let mut a = self.join(first).await;
        let b = self.join(second).await;
        assert_eq!(
            a.recv().await,
            ServerMsg::Join {
                nick: second.to_owned(),
                room: Some("lobby".to_owned()),
                owned: None,
            }
        );
        (a, b)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One client connection, plain or TLS, speaking whichever mode the test
/// chooses.
pub struct TestClient {
    reader: BufReader<Box<dyn AsyncRead + Send + Unpin>>,
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    /// A second handle on the TCP socket, for [`TestClient::reset`].
    socket: std::net::TcpStream,
    /// The nickname this client joined as, once it has.
    pub nick: String,
    /// The history replayed when it joined.
    pub history: Vec<ServerMsg>,
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("nick", &self.nick)
            .finish_non_exhaustive()
    }
}

impl TestClient {
    /// Connects and reads the greeting, checking it is the documented JSON.
    /// A plain client that says nothing is greeted only after the server has
    /// waited for a TLS handshake (200 ms), so tests that join send their
    /// hello first (see [`TestClient::join`]).
    pub async fn connect(addr: SocketAddr) -> TestClient {
        let mut client = TestClient::connect_raw(addr).await;
        client.expect_greeting().await;
        client
    }

    /// Reads the greeting, checking it is the documented JSON; returns the
    /// server key's fingerprint it carries.
    pub async fn expect_greeting(&mut self) -> String {
        match self.recv().await {
            ServerMsg::Greeting {
                server,
                version,
                text,
                fingerprint,
            } => {
                assert_eq!(server, "lanchat");
                assert_eq!(version, 1);
                assert!(
                    text.contains("nickname"),
                    "greeting explains itself: {text}"
                );
                fingerprint.expect("the greeting names the server's key")
            }
            other => panic!("expected a greeting, got {other:?}"),
        }
    }

    /// Connects over plain TCP without reading anything.
    pub async fn connect_raw(addr: SocketAddr) -> TestClient {
        let stream = tcp_connect(addr).await;
        let socket = second_handle(&stream);
        let (read, writer) = stream.into_split();
        TestClient::over(Box::new(read), Box::new(writer), socket)
    }

    /// Connects over TLS (presenting `identity` if given) without reading
    /// anything; also returns the fingerprint of the key the server
    /// presented in the handshake.
    pub async fn connect_tls_raw(
        addr: SocketAddr,
        identity: Option<&lanchat_shared::keyfile::KeyFile>,
    ) -> (TestClient, lanchat_shared::Fingerprint) {
        let stream = tcp_connect(addr).await;
        let socket = second_handle(&stream);
        let (stream, server_key) = tls::handshake(stream, identity).await;
        let (read, writer) = tokio::io::split(stream);
        let client = TestClient::over(Box::new(read), Box::new(writer), socket);
        (client, server_key)
    }

    /// [`TestClient::connect_tls_raw`] for a client that starts its
    /// handshake `late` after connecting, as one does that sets up TLS
    /// only then.
    pub async fn connect_tls_late(
        addr: SocketAddr,
        identity: Option<&lanchat_shared::keyfile::KeyFile>,
        late: std::time::Duration,
    ) -> TestClient {
        let stream = tcp_connect(addr).await;
        let socket = second_handle(&stream);
        tokio::time::sleep(late).await;
        let (stream, _) = tls::handshake(stream, identity).await;
        let (read, writer) = tokio::io::split(stream);
        TestClient::over(Box::new(read), Box::new(writer), socket)
    }

    fn over(
        read: Box<dyn AsyncRead + Send + Unpin>,
        writer: Box<dyn AsyncWrite + Send + Unpin>,
        socket: std::net::TcpStream,
    ) -> TestClient {
        TestClient {
            reader: BufReader::new(read),
            writer,
            socket,
            nick: String::new(),
            history: Vec::new(),
        }
    }

    /// Connects, says hello as `nick` and expects the welcome.
    pub async fn join(addr: SocketAddr, nick: &str) -> TestClient {
        TestClient::connect_raw(addr).await.joined(nick).await
    }

    /// Says hello as `nick` on a connection that has read nothing yet,
    /// expects the greeting and the welcome, and reads the replay.
    pub async fn joined(self, nick: &str) -> TestClient {
        let mut client = self;
        client.hello(nick).await;
        client.expect_greeting().await;
        match client.recv().await {
            ServerMsg::Welcome {
                nick: granted,
                users,
                ..
            } => {
                assert_eq!(granted, nick);
                assert!(users.contains(&granted), "{users:?} includes the newcomer");
            }
            other => panic!("expected a welcome for {nick}, got {other:?}"),
        }
        client.nick = nick.to_owned();
        client.history = client.read_history().await;
        client
    }

    /// Reads the replay that follows a welcome (or a room join), up to and
    /// including `history_end`; returns the messages.
    pub async fn read_history(&mut self) -> Vec<ServerMsg> {
        let mut history = Vec::new();
        loop {
            match self.recv().await {
                ServerMsg::HistoryEnd {} => return history,
                msg @ ServerMsg::Message { .. } => history.push(msg),
                other => panic!("{}: expected history, got {other:?}", self.nick),
            }
        }
    }

    /// Says hello with a resume point and a session token, expects the
    /// welcome and reads the replay; returns (welcome, replayed messages).
    pub async fn rejoin(
        addr: SocketAddr,
        nick: &str,
        since: Option<u64>,
        session: Option<String>,
    ) -> (TestClient, ServerMsg, Vec<ServerMsg>) {
        let hello = ClientMsg::Hello {
            nick: nick.to_owned(),
            since,
            session,
            history_id: None,
            password: None,
        };
        TestClient::rejoin_with(addr, hello).await
    }

    /// Sends `hello` (for `hello`'s nickname), expects the welcome and
    /// reads the replay; returns (welcome, replayed messages).
    pub async fn rejoin_with(
        addr: SocketAddr,
        hello: ClientMsg,
    ) -> (TestClient, ServerMsg, Vec<ServerMsg>) {
        let ClientMsg::Hello { nick, .. } = &hello else {
            panic!("rejoin_with needs a hello, not {hello:?}");
        };
        let nick = nick.clone();
        let mut client = TestClient::connect_raw(addr).await;
        client.send(&hello).await;
        client.expect_greeting().await;
        let welcome = client.recv().await;
        assert!(
            matches!(welcome, ServerMsg::Welcome { .. }),
            "expected a welcome, got {welcome:?}"
        );
        client.nick = nick;
        let history = client.read_history().await;
        (client, welcome, history)
    }

    /// Sends a say to a room, or to a person, with an optional client id.
    pub async fn say_to(
        &mut self,
        room: Option<&str>,
        to: Option<&str>,
        text: &str,
        client_id: Option<&str>,
    ) {
        let msg = ClientMsg::Say {
            text: text.to_owned(),
            room: room.map(str::to_owned),
            to: to.map(str::to_owned),
            client_id: client_id.map(str::to_owned),
            notice: None,
        };
        self.send(&msg).await;
    }

    /// Joins a room and reads its replay; returns the replayed messages.
    pub async fn join_room(&mut self, room: &str) -> Vec<ServerMsg> {
        self.send(&ClientMsg::JoinRoom {
            room: room.to_owned(),
            key: None,
        })
        .await;
        let mut history = Vec::new();
        loop {
            match self.recv().await {
                ServerMsg::HistoryEnd {} => break,
                msg @ ServerMsg::Message { .. } => history.push(msg),
                // Others coming and going meanwhile are not part of the
                // replay, nor is who keeps order (the joiner, if it does).
                ServerMsg::Join { .. } | ServerMsg::Leave { .. } | ServerMsg::Role { .. } => {}
                other => panic!(
                    "{}: expected the replay of #{room}, got {other:?}",
                    self.nick
                ),
            }
        }
        match self.recv().await {
            ServerMsg::Info { text } => assert!(text.contains(room), "{text}"),
            other => panic!(
                "{}: expected the join confirmation, got {other:?}",
                self.nick
            ),
        }
        history
    }

    /// Sends a hello for `nick`.
    pub async fn hello(&mut self, nick: &str) {
        self.send(&ClientMsg::Hello {
            nick: nick.to_owned(),
            since: None,
            session: None,
            history_id: None,
            password: None,
        })
        .await;
    }

    /// Sends a say.
    pub async fn say(&mut self, text: &str) {
        self.send(&ClientMsg::say(text)).await;
    }

    /// Sends one protocol message.
    pub async fn send(&mut self, msg: &ClientMsg) {
        self.send_raw(&msg.to_line()).await;
    }

    /// Sends `line` followed by `\n`.
    pub async fn send_line(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes()).await;
    }

    /// Sends bytes exactly as given.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        tokio::time::timeout(TIMEOUT, self.writer.write_all(bytes))
            .await
            .expect("write within the time-out")
            .expect("write");
    }

    /// Sends bytes, reporting a failed write (the server closed) instead of
    /// failing the test.
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await
    }

    /// Reads one line (without the `\n`), failing on a time-out or EOF.
    pub async fn recv_line(&mut self) -> String {
        match self.try_recv_line().await {
            Some(line) => line,
            None => panic!("{}: connection closed while a line was expected", self.nick),
        }
    }

    /// Reads one line, or `None` at EOF (or a reset).
    pub async fn try_recv_line(&mut self) -> Option<String> {
        let mut line = String::new();
        let read = tokio::time::timeout(TIMEOUT, self.reader.read_line(&mut line))
            .await
            .unwrap_or_else(|_| panic!("{}: no line within {TIMEOUT:?}", self.nick));
        match read {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                assert!(
                    line.ends_with('\n'),
                    "{}: unterminated line {line:?}",
                    self.nick
                );
                line.pop();
                Some(line)
            }
        }
    }

    /// Reads one JSON server message.
    pub async fn recv(&mut self) -> ServerMsg {
        let line = self.recv_line().await;
        ServerMsg::parse(line.as_bytes())
            .unwrap_or_else(|e| panic!("{}: not a server message ({e}): {line:?}", self.nick))
    }

    /// Reads messages until a `message` event; returns (id, from, text).
    /// Join and leave events on the way are skipped.
    pub async fn recv_chat(&mut self) -> (u64, String, String) {
        loop {
            match self.recv().await {
                ServerMsg::Message { id, from, text, .. } => return (id, from, text),
                ServerMsg::Join { .. } | ServerMsg::Leave { .. } => {}
                other => panic!("{}: expected a message, got {other:?}", self.nick),
            }
        }
    }

    /// Expects the next message to be an error with `code`; returns its text.
    pub async fn expect_error(&mut self, code: ErrorCode) -> String {
        match self.recv().await {
            ServerMsg::Error {
                code: got, message, ..
            } if got == code => {
                assert!(!message.is_empty(), "error messages are sentences");
                message
            }
            other => panic!(
                "{}: expected error {}, got {other:?}",
                self.nick,
                code.as_str()
            ),
        }
    }

    /// Proves the connection still works and nothing else was queued before
    /// this point: a ping must be answered by the very next line.
    pub async fn expect_alive(&mut self) {
        self.send(&ClientMsg::Ping {}).await;
        match self.recv().await {
            ServerMsg::Pong {} => {}
            other => panic!("{}: expected pong, got {other:?}", self.nick),
        }
    }

    /// Expects the server to close the connection, after any lines it still
    /// sends; returns those lines.
    pub async fn expect_closed(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        while let Some(line) = self.try_recv_line().await {
            rest.push(line);
        }
        rest
    }

    /// Reads raw bytes until EOF, at most `limit`.
    pub async fn read_to_end(&mut self, limit: usize) -> Vec<u8> {
        let mut all = Vec::new();
        let mut limited = (&mut self.reader).take(limit as u64);
        let _ = tokio::time::timeout(TIMEOUT, limited.read_to_end(&mut all))
            .await
            .expect("EOF within the time-out");
        all
    }

    /// Closes the connection with a TCP reset instead of a FIN, as a crashed
    /// peer or a pulled cable followed by a reboot would.
    pub fn reset(self) {
        socket2::SockRef::from(&self.socket)
            .set_linger(Some(Duration::ZERO))
            .expect("set SO_LINGER 0");
        // The socket closes, with a reset, when its last handle does.
        drop(self);
    }

    /// Half-closes the sending side: the server reads EOF.
    pub async fn close_write(&mut self) {
        let _ = self.writer.shutdown().await;
    }

    /// Waits for a `join` of `nick`, skipping messages, others' joins and
    /// leaves; returns the room.
    pub async fn expect_join(&mut self, nick: &str) -> Option<String> {
        loop {
            match self.recv().await {
                ServerMsg::Join {
                    nick: who, room, ..
                } if who == nick => return room,
                ServerMsg::Leave { .. } | ServerMsg::Join { .. } | ServerMsg::Message { .. } => {}
                other => panic!("{}: expected {nick} to join, got {other:?}", self.nick),
            }
        }
    }

    /// Pings the server until `nick` has left, within `within` (more than
    /// one line's time-out); returns the leaves seen meanwhile, as (nick,
    /// room, reason), in order.
    pub async fn leaves_until(
        &mut self,
        nick: &str,
        within: Duration,
    ) -> Vec<(String, String, String)> {
        let deadline = tokio::time::Instant::now() + within;
        let mut leaves = Vec::new();
        loop {
            self.send(&ClientMsg::Ping {}).await;
            loop {
                match self.recv().await {
                    ServerMsg::Pong {} => break,
                    ServerMsg::Leave { nick, reason, room } => {
                        leaves.push((nick, room.unwrap_or_default(), reason));
                    }
                    _ => {}
                }
            }
            if leaves.iter().any(|(who, _, _)| who == nick) {
                return leaves;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: {nick} did not leave within {within:?}",
                self.nick
            );
            // Below any server's rate limit (two lines a second).
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Waits for `leave` of `nick`, skipping messages and joins; returns the reason.
    pub async fn expect_leave(&mut self, nick: &str) -> String {
        loop {
            match self.recv().await {
                ServerMsg::Leave {
                    nick: who, reason, ..
                } if who == nick => return reason,
                ServerMsg::Leave { .. } | ServerMsg::Join { .. } | ServerMsg::Message { .. } => {}
                other => panic!("{}: expected {nick} to leave, got {other:?}", self.nick),
            }
        }
    }
}

/// Expects `msg` to be the given error code.
pub fn assert_error(msg: &ServerMsg, code: ErrorCode) {
    match msg {
        ServerMsg::Error { code: got, .. } if *got == code => {}
        other => panic!("expected error {}, got {other:?}", code.as_str()),
    }
}

/// Reads lines from a child process's output (`openssl s_client`, say)
/// until one contains `wanted`, within [`TIMEOUT`].
pub async fn read_until(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    wanted: &str,
) -> String {
    let found = tokio::time::timeout(TIMEOUT, async {
        while let Some(line) = lines.next_line().await.expect("readable output") {
            if line.contains(wanted) {
                return line;
            }
        }
        panic!("output ended before a line with {wanted:?}");
    });
    found
        .await
        .unwrap_or_else(|_| panic!("no line with {wanted:?} in time"))
}
