//! Before full-screen mode: deciding which server to join. `--server` says
//! so; `--host` hosts; otherwise the LAN is searched and the user asked, in
//! plain lines on the terminal, which makes the answers easy to read and the
//! prompts easy to script. A build without the `host` feature says, where
//! it would host, that it cannot and how to get one that can.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cli::{Args, with_default_port};
use crate::discovery::{Found, default_targets, discover};
#[cfg(feature = "host")]
pub use crate::host::Hosted;
#[cfg(feature = "host")]
use crate::host::{host, lan_addresses};

/// The server to join, and the room this process hosts, if it does.
#[derive(Debug)]
pub struct Choice {
    /// Address to dial.
    pub address: String,
    /// The in-process server, when hosting.
    pub hosted: Option<Hosted>,
    /// Lines to show in the scrollback at start.
    pub notices: Vec<String>,
    /// The key of the room hosted here, trusted without asking.
    pub own_key: Option<lanchat_shared::Fingerprint>,
    /// The hosted server's warnings, to show as they come.
    pub warnings: Option<mpsc::Receiver<String>>,
}

/// What a build without the `host` feature hosts: nothing. No value of
/// this type exists, so [`Choice::hosted`] is always `None` there, and the
/// code that stops a room is written once for both builds.
#[cfg(not(feature = "host"))]
#[derive(Debug)]
pub enum Hosted {}

#[cfg(not(feature = "host"))]
impl Hosted {
    /// Never called: there is no room to stop.
    pub async fn stop(self) {
        match self {}
    }
}

/// The way forward when no server can be found, said in every dead end.
#[cfg(feature = "host")]
const WAY_FORWARD: &str =
    "Join a server with `lanchat --server HOST:PORT`, or host one with `lanchat --host`.";
/// The way forward when no server can be found, in a build that cannot
/// host: the other way forward is a different build.
#[cfg(not(feature = "host"))]
const WAY_FORWARD: &str = "Join a server with `lanchat --server HOST:PORT`. This build of \
lanchat cannot host a room: it was built without the default `host` feature; build it with \
the default features (`cargo build --release -p lanchat`) to host one.";

/// Works out where to connect, hosting or asking as needed.
pub async fn choose(args: &Args, nick: &str) -> anyhow::Result<Choice> {
    if args.host {
        return start_hosting(args, nick).await;
    }
    if let Some(server) = &args.server {
        return Ok(Choice::joining(with_default_port(server)));
    }
    match search(args).await.as_slice() {
        [] => offer_to_host(args, nick).await,
        [only] => {
            eprintln!("Found {}. Joining…", describe(only));
            Ok(Choice::joining(only.address.to_string()))
        }
        several => pick(several).await,
    }
}

/// Looks for servers on the LAN (or at `--probe`), saying so; a search
/// that cannot run finds nothing.
async fn search(args: &Args) -> Vec<Found> {
    let targets: Vec<SocketAddr> = if args.probe.is_empty() {
        default_targets(args.port)
    } else {
        args.probe
            .iter()
            .map(|ip| SocketAddr::new(*ip, args.port))
            .collect()
    };
    eprintln!(
        "Looking for lanchat servers on the local network (port {})…",
        args.port
    );
    match discover(&targets, Duration::from_millis(args.discovery_ms)).await {
        Ok(found) => found,
        Err(problem) => {
            eprintln!("LAN discovery did not work: {problem}.");
            Vec::new()
        }
    }
}

/// Nobody answered: hosts a room here if the user says yes (Enter alone
/// means yes). A build that cannot host does not ask.
async fn offer_to_host(args: &Args, nick: &str) -> anyhow::Result<Choice> {
    if !cfg!(feature = "host") {
        anyhow::bail!("no lanchat server found. {WAY_FORWARD}");
    }
    let question = format!(
        "No lanchat server answered. Host a room here on port {} so others can join? [Y/n] ",
        args.port
    );
    match ask(&question).await? {
        Some(answer) if is_yes(&answer) => start_hosting(args, nick).await,
        _ => anyhow::bail!("no lanchat server found. {WAY_FORWARD}"),
    }
}

/// Several servers answered: the user picks one by number (Enter alone
/// means the first).
async fn pick(several: &[Found]) -> anyhow::Result<Choice> {
    for (number, server) in several.iter().enumerate() {
        eprintln!("  {}. {}", number + 1, describe(server));
    }
    let question = format!("Join which? [1-{}, Enter for 1] ", several.len());
    let Some(answer) = ask(&question).await? else {
        anyhow::bail!("several servers answered and none was chosen. {WAY_FORWARD}");
    };
    let index = if answer.is_empty() {
        1
    } else {
        answer.parse::<usize>().unwrap_or(0)
    };
    match several.get(index.wrapping_sub(1)) {
        Some(server) => Ok(Choice::joining(server.address.to_string())),
        None => anyhow::bail!("{answer:?} is not one of the servers listed. {WAY_FORWARD}"),
    }
}

/// An empty answer, `y` or `yes` (any case).
fn is_yes(answer: &str) -> bool {
    answer.is_empty() || answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes")
}

fn describe(server: &Found) -> String {
    let people = if server.users == 1 {
        "1 person".to_owned()
    } else {
        format!("{} people", server.users)
    };
    format!("{} at {} ({people})", server.name, server.address)
}

impl Choice {
    /// Joining a server somebody else runs.
    fn joining(address: String) -> Choice {
        Choice {
            address,
            hosted: None,
            notices: Vec::new(),
            own_key: None,
            warnings: None,
        }
    }
}

/// Hosts a room here (`--port`, `--db`) and joins it, with the notices
/// that say how others can join.
#[cfg(feature = "host")]
async fn start_hosting(args: &Args, nick: &str) -> anyhow::Result<Choice> {
    // The person hosting keeps order in their room: their identity is its
    // admin (none with --plain, which presents no identity).
    let admin = if args.plain {
        None
    } else {
        Some(crate::secure::identity(args)?.fingerprint)
    };
    let mut hosted = host(args.port, nick, args.db.as_deref(), admin).await?;
    let port = hosted.port;
    let addresses = lan_addresses(port);
    let own_key = hosted.fingerprint.clone();
    let mut notices = vec![format!(
        "You are hosting this room on port {port}; it closes when you quit. Its key: {own_key} \
         (others see it when they first join, and can compare)."
    )];
    if addresses.is_empty() {
        notices.push(format!(
            "Others on this machine join with: lanchat --server 127.0.0.1:{port}"
        ));
    } else {
        notices.push(format!(
            "Others join with plain `lanchat` on the same network, or: lanchat --server {}",
            addresses.join(" or ")
        ));
    }
    Ok(Choice {
        address: format!("127.0.0.1:{port}"),
        warnings: hosted.warnings.take(),
        hosted: Some(hosted),
        notices,
        own_key: Some(own_key),
    })
}

/// `--host` in a build that cannot host: says so, and how to get one.
#[cfg(not(feature = "host"))]
async fn start_hosting(_: &Args, _: &str) -> anyhow::Result<Choice> {
    anyhow::bail!(
        "this build of lanchat cannot host a room: it was built without the default `host` \
         feature. Build it with the default features (`cargo build --release -p lanchat`) to \
         host, or join a room hosted elsewhere with `lanchat --server HOST:PORT`."
    )
}

/// Asks a question on the terminal; `None` when nobody can answer (no
/// terminal on standard input, or end of input).
pub(crate) async fn ask(question: &str) -> anyhow::Result<Option<String>> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map(|read| (read > 0).then_some(line))
    })
    .await??;
    Ok(answer.map(|line| line.trim().to_owned()))
}
