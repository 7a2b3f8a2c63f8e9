//! A real `redis-server` for the tests of servers that share one: started
//! in a temporary directory, listening on a Unix socket there (no port to
//! collide with), with the persistence lanchat documents (`appendonly yes`,
//! `appendfsync always`), and killed with the test.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Redis may take to start (or to load its log after a kill).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// One `redis-server` process, and the directory it keeps its data in.
#[derive(Debug)]
pub struct RedisServer {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one, or returns `None` with the reason printed if
    /// `redis-server` is not installed and this is not CI (`CI` set), where
    /// a missing one fails the test: `.ci/run` installs it.
    pub fn start() -> Option<RedisServer> {
        if !installed() {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server is not installed; CI installs it (apt-get install redis-server, see .ci/run)"
            );
            eprintln!("skipped: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        let mut redis = RedisServer {
            dir: tempfile::tempdir().expect("a directory for Redis"),
            child: None,
        };
        redis.run();
        Some(redis)
    }

    /// The URL lanchat is given (`--redis`).
    pub fn url(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// Kills Redis at once (SIGKILL), as a crash or a power cut of its
    /// process would, and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts Redis again on the same data, after [`RedisServer::kill`];
    /// returns once it has loaded its log and answers.
    pub fn restart(&mut self) {
        self.kill();
        self.run();
    }

    /// Runs one command (its words) and returns the raw reply, for tests
    /// that look at or break what Redis holds.
    pub fn command(&self, words: &[&str]) -> String {
        let mut stream = UnixStream::connect(self.socket()).expect("connect to Redis");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a read time-out");
        stream
            .write_all(request(words).as_bytes())
            .expect("send to Redis");
        let mut reply = vec![0u8; 64 * 1024];
        let read = stream.read(&mut reply).expect("a reply from Redis");
        String::from_utf8_lossy(&reply[..read]).into_owned()
    }

    /// Makes Redis stop answering anyone for `seconds` (`DEBUG SLEEP`),
    /// as a stalled disk or an overloaded machine would, without waiting.
    pub fn stall(&self, seconds: u64) {
        let mut stream = UnixStream::connect(self.socket()).expect("connect to Redis");
        let seconds = seconds.to_string();
        stream
            .write_all(request(&["DEBUG", "SLEEP", &seconds]).as_bytes())
            .expect("send to Redis");
        // Redis runs the command whether or not the reply is read.
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    fn run(&mut self) {
        let dir = self.dir.path();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(self.socket())
            .args(["--unixsocketperm", "700", "--dir"])
            .arg(dir)
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args([
                "--save",
                "",
                "--daemonize",
                "no",
                "--enable-debug-command",
                "local",
            ])
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer within {START_TIMEOUT:?}; see {}",
                dir.join("redis.log").display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether Redis answers `PING` (not `LOADING`, as it does while it
    /// reads its log).
    fn answers(&self) -> bool {
        let Ok(mut stream) = UnixStream::connect(self.socket()) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut reply = [0u8; 64];
        matches!(stream.read(&mut reply), Ok(read) if reply[..read].starts_with(b"+PONG"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `words` as one command in Redis's protocol (RESP).
fn request(words: &[&str]) -> String {
    let mut request = format!("*{}\r\n", words.len());
    for word in words {
        request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
    }
    request
}

fn installed() -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("redis-server").is_file())
    })
}
