//! The harness of the end-to-end tests: the real `lanchat` binary in a
//! pseudo-terminal, its screen read through a VT100 emulator, every wait
//! polled against a deadline.

#![allow(dead_code)] // Each test binary uses some of it.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lanchat_tests::pty::Terminal;
use portable_pty::{Child, CommandBuilder, MasterPty};

pub const TIMEOUT: Duration = Duration::from_secs(15);

/// `lanchat` running in a pseudo-terminal.
pub struct Tui {
    pub screen: Arc<Mutex<vt100::Parser>>,
    /// Every byte lanchat wrote, for what the emulator does not keep
    /// (notifications).
    output: Arc<Mutex<Vec<u8>>>,
    keys: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    pub master: Box<dyn MasterPty + Send>,
    _data: tempfile::TempDir,
}

impl Tui {
    pub fn start(args: &[&str]) -> Tui {
        Tui::start_with_env(args, &[])
    }

    /// Starts lanchat with `args` and `--trust-new`: tests that are not
    /// about trusting a server's key trust it without being asked, as a
    /// script would.
    pub fn start_with_env(args: &[&str], env: &[(&str, &Path)]) -> Tui {
        Tui::spawn(&[&["--trust-new"], args].concat(), env)
    }

    /// Starts lanchat with `args`, its data, state and config directories
    /// in a fresh temporary one unless `env` sets `XDG_DATA_HOME`,
    /// `XDG_STATE_HOME`, `XDG_CONFIG_HOME` (or anything else) itself.
    pub fn spawn(args: &[&str], env: &[(&str, &Path)]) -> Tui {
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
        let Terminal {
            screen,
            output,
            keys,
            child,
            master,
        } = Terminal::spawn(command, (24, 80));
        Tui {
            screen,
            output,
            keys,
            child,
            master,
            _data: data,
        }
    }

    pub fn contents(&self) -> String {
        self.screen.lock().expect("screen lock").screen().contents()
    }

    pub fn alternate_screen(&self) -> bool {
        self.screen
            .lock()
            .expect("screen lock")
            .screen()
            .alternate_screen()
    }

    /// Waits until the screen satisfies `test`, or fails showing the screen.
    pub async fn wait_for(&self, what: &str, test: impl Fn(&str) -> bool) {
        self.wait_for_state(what, |parser| test(&parser.screen().contents()))
            .await;
    }

    /// Waits until the emulator's state satisfies `test`.
    pub async fn wait_for_state(&self, what: &str, test: impl Fn(&vt100::Parser) -> bool) {
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
    pub fn has_written(&self, bytes: &[u8]) -> bool {
        let written = self.output.lock().expect("output lock");
        written.windows(bytes.len()).any(|window| window == bytes)
    }

    /// Waits until lanchat has written `bytes`.
    pub async fn wait_for_output(&self, what: &str, bytes: &[u8]) {
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

    pub async fn wait_for_text(&self, text: &str) {
        self.wait_for(text, |screen| screen.contains(text)).await;
    }

    pub fn type_keys(&mut self, keys: &str) {
        self.keys.write_all(keys.as_bytes()).expect("type");
        self.keys.flush().expect("flush");
    }

    /// Sends the signal `name` (`TERM`, `INT`, …) to lanchat, as `kill`
    /// from another terminal would.
    pub fn signal(&self, name: &str) {
        let pid = self.child.process_id().expect("a pid").to_string();
        let kill = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("kill");
        assert!(kill.success());
    }

    /// Waits for the process to exit; returns whether it succeeded.
    pub async fn wait_exit(&mut self) -> bool {
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
