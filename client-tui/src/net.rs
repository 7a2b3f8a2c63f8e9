//! The connection task: dial (see [`crate::dial`]), hello, relay lines both
//! ways, and when the connection drops, dial again with backoff — until the
//! app goes away, or until trying again cannot help (the server's key
//! changed, the password is wrong, the server does not allow us).
//!
//! It talks to the app only through channels ([`NetEvent`] out,
//! [`NetCommand`] in), so the user interface never waits on the network.

use std::time::Duration;

use futures_util::StreamExt;
use lanchat_shared::{ClientMsg, ErrorCode, Frame, LineCodec, ServerMsg};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::FramedRead;

use crate::dial::{DialError, Reader, Security, Writer, dial};
use crate::event::{NetCommand, NetEvent, Stop};

/// Longest server line the client reads. A real server's lines are far
/// shorter (8 KiB of text escaped as JSON at worst); a longer one is skipped.
const MAX_SERVER_LINE: usize = 64 * 1024;
/// How long dialling or a write may take before the connection counts as lost.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(10);
/// After this much silence from the server, ask it for a `pong`.
const PING_AFTER: Duration = Duration::from_secs(15);
/// After this much silence, the server is presumed gone.
const DEAD_AFTER: Duration = Duration::from_secs(45);
/// Reconnect delays double from the first to the last.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(30);

/// Delay before reconnect attempt `attempt` (1-based): 1 s doubling to 30 s,
/// each with ±20% jitter so clients that lost one server do not all come
/// back in the same millisecond.
pub fn retry_delay(attempt: u32) -> Duration {
    let doubled = FIRST_RETRY.saturating_mul(1 << attempt.saturating_sub(1).min(5));
    doubled.min(LAST_RETRY).mul_f64(0.8 + fastrand::f64() * 0.4)
}

/// What a reconnect presents so the server can resume: the session token
/// (nickname and rooms back, a ghost connection closed) and the last
/// message id seen (everything after it replayed, nothing twice).
#[derive(Debug, Default)]
struct Resume {
    /// The token from the last welcome, to reclaim the nickname and rooms.
    session: Option<String>,
    /// The newest message id seen, so the server replays only what came
    /// after it.
    last_id: Option<u64>,
    /// The history `last_id` counts in, from the last welcome.
    history_id: Option<String>,
}

impl Resume {
    /// Takes a welcome's history id. Ids seen in another history (the
    /// server's database was replaced) mean nothing in this one: the server
    /// has just sent its recent tail, and counting starts again from that.
    fn welcomed_into(&mut self, history_id: Option<String>) {
        if history_id != self.history_id {
            self.last_id = None;
            self.history_id = history_id;
        }
    }

    fn saw(&mut self, msg: &ServerMsg) {
        if let ServerMsg::Message { id, .. } = msg {
            self.last_id = Some(self.last_id.map_or(*id, |last| last.max(*id)));
        }
    }
}

/// The server to join and how: where, protected how, with which
/// password (`--password`), if any. Its `Debug` leaves the password out.
#[derive(Clone)]
pub struct Endpoint {
    /// `host:port` to dial.
    pub address: String,
    /// TLS with a verified key, or plain TCP.
    pub security: Security,
    /// The server's shared secret, sent in every hello.
    pub password: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("address", &self.address)
            .field("security", &self.security)
            .field("password", &self.password.as_ref().map(|_| "(given)"))
            .finish()
    }
}

/// Runs the connection until the app drops its command sender.
pub async fn run(
    endpoint: Endpoint,
    mut nick: String,
    events: mpsc::Sender<NetEvent>,
    mut commands: mpsc::Receiver<NetCommand>,
) {
    let mut attempt = 1;
    let mut resume = Resume::default();
    loop {
        if events.send(NetEvent::Connecting { attempt }).await.is_err() {
            return;
        }
        let outcome = match dial(&endpoint.address, &endpoint.security, NETWORK_TIMEOUT).await {
            Ok(link) => {
                let session = Session {
                    nick: &mut nick,
                    resume: &mut resume,
                    password: endpoint.password.as_deref(),
                    joined: false,
                };
                converse(session, link, &events, &mut commands).await
            }
            Err(DialError::Failed(reason)) => Outcome::Lost(reason),
            Err(DialError::KeyChanged { pinned, presented }) => {
                Outcome::Stopped(Stop::KeyChanged { pinned, presented })
            }
        };
        let reason = match outcome {
            Outcome::AppGone => return,
            Outcome::Stopped(stop) => return stay_stopped(stop, &events, &mut commands).await,
            Outcome::Lost(reason) => reason,
            Outcome::LostAfterJoining(reason) => {
                attempt = 1;
                reason
            }
        };
        let retry_in = retry_delay(attempt);
        if events
            .send(NetEvent::Disconnected { reason, retry_in })
            .await
            .is_err()
        {
            return;
        }
        // Wait out the delay; commands meanwhile (there should be none: the
        // app holds messages while offline) are dropped, except that the
        // app going away ends the task.
        let wake = Instant::now() + retry_in;
        loop {
            tokio::select! {
                () = sleep_until(wake) => break,
                command = commands.recv() => match command {
                    None | Some(NetCommand::GiveUp) => return,
                    Some(_) => {}
                },
            }
        }
        attempt += 1;
    }
}

/// Tells the app that dialling stopped, and why, then waits for it to go
/// away: nothing is sent to that server again.
async fn stay_stopped(
    stop: Stop,
    events: &mpsc::Sender<NetEvent>,
    commands: &mut mpsc::Receiver<NetCommand>,
) {
    if events.send(NetEvent::Stopped(stop)).await.is_ok() {
        while commands.recv().await.is_some() {}
    }
}

enum Outcome {
    /// The app dropped its end: stop.
    AppGone,
    /// Trying again cannot help: stop dialling and say why.
    Stopped(Stop),
    /// The connection ended before a welcome.
    Lost(String),
    /// The connection ended after a welcome (so backoff starts over).
    LostAfterJoining(String),
}

/// What one line from the server means for the session.
enum Heard {
    /// News for the app.
    News(NetEvent),
    /// Nothing the app needs: the greeting, or a line this version does
    /// not use.
    Nothing,
    /// The server refused the hello for a reason a new nickname cannot
    /// fix: this connection is over.
    Refused(String),
    /// The server refused the hello for a reason no retry changes.
    Stopped(Stop),
}

/// One connection's state, from the hello to its end.
struct Session<'a> {
    /// The nickname asked for, then the spelling the server granted; kept
    /// across connections so a reconnect asks for the same one.
    nick: &'a mut String,
    /// What the next hello presents to resume, updated as messages arrive.
    resume: &'a mut Resume,
    /// The server's shared secret, if the user gave one.
    password: Option<&'a str>,
    /// Whether the welcome came: a loss after it starts the backoff over.
    joined: bool,
}

impl Session<'_> {
    /// The end of this connection, for `reason`.
    fn lost(&self, reason: String) -> Outcome {
        if self.joined {
            Outcome::LostAfterJoining(reason)
        } else {
            Outcome::Lost(reason)
        }
    }

    /// Reads one line from the server.
    fn hear(&mut self, line: &[u8]) -> Heard {
        // A line that is not a message this version understands is skipped:
        // the protocol promises forward compatibility.
        let Ok(msg) = ServerMsg::parse(line) else {
            return Heard::Nothing;
        };
        match msg {
            ServerMsg::Welcome {
                nick: granted,
                users,
                rooms,
                session,
                gap,
                history_id,
                owners,
                owned,
                away,
            } if !self.joined => {
                self.joined = true;
                self.nick.clone_from(&granted);
                self.resume.session = session;
                self.resume.welcomed_into(history_id);
                Heard::News(NetEvent::Connected {
                    nick: granted,
                    users,
                    owners,
                    owned: owned == Some(true),
                    away,
                    rooms,
                    gap: gap == Some(true),
                })
            }
            ServerMsg::Error {
                code: ErrorCode::NickTaken | ErrorCode::NickInvalid | ErrorCode::NickOwned,
                message,
                ..
            } if !self.joined => Heard::News(NetEvent::NickRejected { message }),
            ServerMsg::Error {
                code:
                    code @ (ErrorCode::BadPassword
                    | ErrorCode::NotAllowed
                    | ErrorCode::TlsRequired
                    | ErrorCode::Banned),
                message,
                ..
            } if !self.joined => Heard::Stopped(Stop::Refused { code, message }),
            ServerMsg::Greeting { text, .. } => match server_name(&text) {
                Some(name) => Heard::News(NetEvent::Greeted { name }),
                None => Heard::Nothing,
            },
            other if self.joined => {
                self.resume.saw(&other);
                self.follow_rename(&other);
                Heard::News(NetEvent::Server(other))
            }
            ServerMsg::Error { message, .. } => Heard::Refused(message),
            _ => Heard::Nothing,
        }
    }

    /// Our own `/nick` granted: the next hello asks for the new nickname,
    /// whose session the token now belongs to; asking for the old one
    /// would lose the session, and with it the rooms.
    fn follow_rename(&mut self, msg: &ServerMsg) {
        if let ServerMsg::Nick { old, new, .. } = msg
            && old.eq_ignore_ascii_case(self.nick)
        {
            self.nick.clone_from(new);
        }
    }

    /// The message to write for a command from the app; `None` for one
    /// that ends the connection task instead.
    fn outgoing(&mut self, command: NetCommand) -> Option<ClientMsg> {
        let msg = match command {
            NetCommand::Hello(wanted) => {
                self.nick.clone_from(&wanted);
                // The session belongs to the refused nickname.
                self.hello(None)
            }
            NetCommand::Send(msg) => msg,
            NetCommand::GiveUp => return None,
        };
        Some(msg)
    }
}

impl Session<'_> {
    /// A hello for the nickname wanted, resuming from what was seen, with
    /// the session token to reclaim (`None` after a refusal: the token
    /// belongs to the refused nickname).
    fn hello(&self, session: Option<String>) -> ClientMsg {
        ClientMsg::Hello {
            nick: self.nick.clone(),
            since: self.resume.last_id,
            session,
            history_id: self.resume.history_id.clone(),
            password: self.password.map(str::to_owned),
        }
    }
}

/// One connection: hello, then relay until it ends.
async fn converse(
    session: Session<'_>,
    (read, mut write): (Reader, Writer),
    events: &mpsc::Sender<NetEvent>,
    commands: &mut mpsc::Receiver<NetCommand>,
) -> Outcome {
    let lines = FramedRead::new(read, LineCodec::new(MAX_SERVER_LINE));
    let hello = session.hello(session.resume.session.clone());
    if let Err(reason) = send(&mut write, &hello).await {
        return Outcome::Lost(reason);
    }
    relay(session, lines, write, events, commands).await
}

/// Relays lines both ways until the connection or the app ends, pinging a
/// server that has gone quiet.
async fn relay(
    mut session: Session<'_>,
    mut lines: FramedRead<Reader, LineCodec>,
    mut write: Writer,
    events: &mpsc::Sender<NetEvent>,
    commands: &mut mpsc::Receiver<NetCommand>,
) -> Outcome {
    let mut last_heard = Instant::now();
    let mut pinged = false;
    loop {
        let quiet_until = last_heard + if pinged { DEAD_AFTER } else { PING_AFTER };
        tokio::select! {
            frame = lines.next() => {
                let line = match frame {
                    Some(Ok(Frame::Line(line))) => line,
                    Some(Ok(Frame::TooLong)) => continue,
                    Some(Err(error)) => return session.lost(format!("connection error: {error}")),
                    None => return session.lost("the server closed the connection".to_owned()),
                };
                last_heard = Instant::now();
                pinged = false;
                match session.hear(&line) {
                    Heard::News(news) => if events.send(news).await.is_err() {
                        return Outcome::AppGone;
                    },
                    Heard::Nothing => {}
                    Heard::Refused(message) => return Outcome::Lost(message),
                    Heard::Stopped(stop) => return Outcome::Stopped(stop),
                }
            }
            command = commands.recv() => {
                let Some(msg) = command.and_then(|command| session.outgoing(command)) else {
                    return Outcome::AppGone;
                };
                let quitting = matches!(msg, ClientMsg::Quit { .. });
                if let Err(reason) = send(&mut write, &msg).await {
                    return session.lost(reason);
                }
                if quitting {
                    let _ = write.shutdown().await;
                    return Outcome::AppGone;
                }
            }
            () = sleep_until(quiet_until) => {
                if pinged {
                    return session.lost("the server stopped answering".to_owned());
                }
                pinged = true;
                if let Err(reason) = send(&mut write, &ClientMsg::Ping {}).await {
                    return session.lost(reason);
                }
            }
        }
    }
}

/// The server's name in its greeting ("Welcome to NAME, a lanchat
/// server …"), if the greeting says it that way.
fn server_name(greeting: &str) -> Option<String> {
    let rest = greeting.strip_prefix("Welcome to ")?;
    let (name, _) = rest.split_once(", a lanchat server")?;
    let name = lanchat_shared::sanitize_text(name);
    (!name.is_empty()).then(|| name.chars().take(64).collect())
}

async fn send(write: &mut Writer, msg: &ClientMsg) -> Result<(), String> {
    match timeout(NETWORK_TIMEOUT, write.write_all(&msg.to_line())).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("write failed: {error}")),
        Err(_) => Err("the server is not reading".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn welcome(session: &str) -> ServerMsg {
        ServerMsg::Welcome {
            nick: "Alice".into(),
            users: vec!["Alice".into()],
            owners: vec![],
            away: vec![],
            rooms: vec!["lobby".into()],
            session: Some(session.into()),
            gap: None,
            history_id: Some("00aa".into()),
            owned: None,
        }
    }

    /// A connection that has not been welcomed yet.
    fn greeting<'a>(nick: &'a mut String, resume: &'a mut Resume) -> Session<'a> {
        Session {
            nick,
            resume,
            password: None,
            joined: false,
        }
    }

    #[test]
    fn before_the_welcome_only_a_nickname_refusal_reaches_the_app() {
        let (mut nick, mut resume) = ("alice".to_owned(), Resume::default());
        let mut session = greeting(&mut nick, &mut resume);
        let early = ServerMsg::chat(1, 0, "bob", "too early").to_line();
        assert!(matches!(session.hear(&early), Heard::Nothing));
        let taken = ServerMsg::error(ErrorCode::NickTaken, "taken").to_line();
        assert!(matches!(
            session.hear(&taken),
            Heard::News(NetEvent::NickRejected { .. })
        ));
        let full = ServerMsg::error(ErrorCode::ServerFull, "full").to_line();
        assert!(matches!(session.hear(&full), Heard::Refused(m) if m == "full"));
        assert!(matches!(session.hear(b"not json"), Heard::Nothing));
    }

    #[test]
    fn a_refusal_no_retry_can_fix_stops_dialling_and_an_owned_nickname_asks_for_another() {
        let (mut nick, mut resume) = ("alice".to_owned(), Resume::default());
        let mut session = greeting(&mut nick, &mut resume);
        for code in [
            ErrorCode::BadPassword,
            ErrorCode::NotAllowed,
            ErrorCode::TlsRequired,
            ErrorCode::Banned,
        ] {
            let line = ServerMsg::error(code, "no").to_line();
            assert!(
                matches!(session.hear(&line), Heard::Stopped(Stop::Refused { code: c, .. }) if c == code),
                "{code:?}"
            );
        }
        let owned = ServerMsg::error(ErrorCode::NickOwned, "theirs").to_line();
        assert!(matches!(
            session.hear(&owned),
            Heard::News(NetEvent::NickRejected { .. })
        ));
    }

    #[test]
    fn every_hello_carries_the_password() {
        let (mut nick, mut resume) = ("alice".to_owned(), Resume::default());
        let session = Session {
            password: Some("sesame"),
            ..greeting(&mut nick, &mut resume)
        };
        let ClientMsg::Hello { password, .. } = session.hello(None) else {
            panic!("a hello")
        };
        assert_eq!(password.as_deref(), Some("sesame"));
    }

    #[test]
    fn after_the_welcome_messages_are_relayed_and_remembered_for_resuming() {
        let (mut nick, mut resume) = ("alice".to_owned(), Resume::default());
        let mut session = greeting(&mut nick, &mut resume);
        assert!(matches!(
            session.hear(&welcome("token").to_line()),
            Heard::News(NetEvent::Connected { .. })
        ));
        for id in [7, 9, 8] {
            let line = ServerMsg::chat(id, 0, "bob", "hi").to_line();
            assert!(matches!(
                session.hear(&line),
                Heard::News(NetEvent::Server(_))
            ));
        }
        assert!(matches!(
            session.lost("gone".into()),
            Outcome::LostAfterJoining(_)
        ));
        assert_eq!(nick, "Alice", "the spelling granted");
        assert_eq!(
            (resume.session.as_deref(), resume.last_id),
            (Some("token"), Some(9))
        );
    }

    #[test]
    fn a_granted_rename_is_the_nickname_a_reconnect_asks_for() {
        let (mut nick, mut resume) = ("ben".to_owned(), Resume::default());
        let mut session = greeting(&mut nick, &mut resume);
        session.hear(&welcome("token").to_line());
        let someone_else = ServerMsg::Nick {
            old: "carol".into(),
            new: "caroline".into(),
            owned: None,
        };
        session.hear(&someone_else.to_line());
        assert_eq!(session.nick, "Alice");
        let ours = ServerMsg::Nick {
            old: "alice".into(),
            new: "benny".into(),
            owned: None,
        };
        session.hear(&ours.to_line());
        assert_eq!(nick, "benny", "the next hello asks for the new nickname");
    }

    #[test]
    fn the_greeting_names_the_server() {
        let greeting = "Welcome to carol's room, a lanchat server (protocol v1). Type a nickname…";
        assert_eq!(server_name(greeting).as_deref(), Some("carol's room"));
        assert_eq!(server_name("Hello there"), None);
        assert_eq!(
            server_name("Welcome to \u{1b}[31mevil, a lanchat server").as_deref(),
            Some("evil"),
            "sanitised"
        );
    }

    #[test]
    fn ids_seen_in_another_history_are_not_sent_as_a_resume_point() {
        let mut resume = Resume {
            session: None,
            last_id: Some(500),
            history_id: Some("old".into()),
        };
        resume.welcomed_into(Some("old".into()));
        assert_eq!(resume.last_id, Some(500), "same history: keep counting");
        resume.welcomed_into(Some("new".into()));
        assert_eq!(resume.last_id, None);
        resume.saw(&ServerMsg::chat(3, 0, "bob", "hi"));
        assert_eq!(
            (resume.last_id, resume.history_id.as_deref()),
            (Some(3), Some("new"))
        );
    }
}
