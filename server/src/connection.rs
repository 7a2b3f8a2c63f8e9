//! One client connection: the greeting, the hello, then lines until it ends.
//!
//! This task reads and interprets; [`crate::writer`] writes. They share a
//! bounded queue (reader to writer) and an `abort` token that either side
//! cancels when it fails, so neither can outlive the other or block it.
//! Messages go to the store, which publishes them once committed; the
//! reader never waits for a commit. Whatever ends a connection, the
//! client's [`Membership`] is dropped here, after the writer has finished,
//! which frees the nickname and tells the rooms exactly once.

use std::sync::Arc;

use lanchat_shared::command::{self, Command, Scope};
use lanchat_shared::protocol::line_as_text;
use lanchat_shared::{
    ClientMsg, ErrorCode, Frame, LineCodec, Nick, RoomName, ServerMsg, TokenBucket, sanitize_text,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::hub::{Membership, Refusal, unix_millis};
use crate::line_reader::LineReader;
use crate::render::Encoding;
use crate::store::{Appended, Done, HistoryQuery, NewMessage, SessionRecord, Target};
use crate::throttle::BadLineWindow;
use crate::writer::{self, Outgoing, WriterContext, WriterEnd};
use crate::{Config, Shared};

/// Replies queued for one client before it counts as not reading. Replies
/// are small and few per line read, so only a client that sends without
/// ever reading fills this; a history replay is sent as one item.
const REPLY_QUEUE_LEN: usize = 64;

/// Longest quit reason or echoed command word, in characters; these come
/// from the client and are shown to others, so they are bounded too.
const MAX_ECHO_CHARS: usize = 100;

/// Longest `client_id`; it is stored with the message.
const MAX_CLIENT_ID_LEN: usize = 64;

/// Why a client left, as the rooms are told in the `leave` event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LeaveReason {
    Quit(Option<String>),
    Closed,
    Lost,
    HelloTimeout,
    SlowConsumer,
    TooManyErrors,
    Shutdown,
    /// The session was reclaimed by a newer connection, which now holds
    /// the nickname: nobody is told anything.
    Reclaimed,
}

impl LeaveReason {
    fn describe(&self) -> String {
        match self {
            LeaveReason::Quit(None) => "quit".to_owned(),
            LeaveReason::Quit(Some(words)) => format!("quit: {words}"),
            LeaveReason::Closed => "connection closed".to_owned(),
            LeaveReason::Lost => "connection lost".to_owned(),
            LeaveReason::HelloTimeout => "no hello in time".to_owned(),
            LeaveReason::SlowConsumer => "too slow to keep up".to_owned(),
            LeaveReason::TooManyErrors => "too many bad requests".to_owned(),
            LeaveReason::Shutdown => "server shutting down".to_owned(),
            LeaveReason::Reclaimed => "reconnected".to_owned(),
        }
    }
}

/// Serves one accepted connection to its end. Never panics and never
/// returns an error: whatever goes wrong is this client's problem alone.
pub(crate) async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let (read_half, write_half) = stream.into_split();
    let (outgoing, queue) = mpsc::channel(REPLY_QUEUE_LEN);
    let abort = CancellationToken::new();
    let writer = tokio::spawn(writer::run(
        write_half,
        queue,
        WriterContext {
            abort: abort.clone(),
            shutdown: shared.shutdown.clone(),
            write_timeout: shared.config.write_timeout,
        },
    ));

    let now = Instant::now();
    let config = &shared.config;
    let mut session = Session {
        shared: &shared,
        outgoing,
        abort,
        kicked: CancellationToken::new(),
        encoding: None,
        member: None,
        current_room: RoomName::lobby(),
        session_token: String::new(),
        bucket: TokenBucket::new(config.rate, now.into_std()),
        bad_lines: BadLineWindow::new(config.max_bad_lines, config.bad_line_window),
    };
    let lines = LineReader::new(read_half, LineCodec::new(config.max_line_bytes));
    let reader_reason = match session.reply(greeting(config)) {
        Next::Read => session.read_lines(lines).await,
        Next::End(reason) => Some(reason),
    };

    // Let the writer finish what is queued before the rooms hear we left.
    let Session {
        member, outgoing, ..
    } = session;
    drop(outgoing);
    let writer_end = writer.await.unwrap_or(WriterEnd::Lost);
    let reason = match (reader_reason, writer_end) {
        (Some(LeaveReason::Reclaimed), _) => LeaveReason::Reclaimed,
        (_, WriterEnd::SlowConsumer) => LeaveReason::SlowConsumer,
        (Some(reason), _) => reason,
        (None, WriterEnd::Shutdown) => LeaveReason::Shutdown,
        (None, _) => LeaveReason::Lost,
    };
    match member {
        Some(mut member) => {
            info!(nick = %member.nick(), reason = reason.describe(), "left");
            member.set_leave_reason(reason.describe());
        }
        None => debug!(reason = reason.describe(), "closed before joining"),
    }
}

fn greeting(config: &Config) -> ServerMsg {
    ServerMsg::Greeting {
        server: "lanchat".to_owned(),
        version: lanchat_shared::limits::PROTOCOL_VERSION,
        text: format!(
            "Welcome to {}, a lanchat server (protocol v1). Type a nickname and press Enter to chat in plain text, \
             or send {{\"type\":\"hello\",\"nick\":\"NAME\"}} as one line for JSON.",
            config.server_name
        ),
    }
}

/// Whether to keep reading after handling a line.
enum Next {
    Read,
    End(LeaveReason),
}

/// Where a `say` goes, before it is checked.
struct SayRequest {
    text: String,
    room: Option<String>,
    to: Option<String>,
    client_id: Option<String>,
}

/// The reading half's state.
struct Session<'a> {
    shared: &'a Shared,
    /// Replies for this client only, to the writer.
    outgoing: mpsc::Sender<Outgoing>,
    /// Cancelled by the writer when it fails, or by us when the writer
    /// cannot keep up with our replies.
    abort: CancellationToken,
    /// Cancelled when a newer connection reclaims this session.
    kicked: CancellationToken,
    /// Chosen by the first non-blank line: `{` means JSON, anything else
    /// plain text. A nickname can never start with `{`, so a JSON client
    /// with a typo gets a `bad_request` instead of a plain-text session.
    encoding: Option<Encoding>,
    /// Present once `hello` succeeded.
    member: Option<Membership>,
    /// Where plain-text lines (and `/me`, `/who`, `/part` without a room)
    /// go: the room joined last, the lobby at first.
    current_room: RoomName,
    /// This session's token, once joined.
    session_token: String,
    bucket: TokenBucket,
    bad_lines: BadLineWindow,
}

impl Session<'_> {
    /// Reads until the client leaves or something ends the connection.
    /// Returns `None` when the writer aborted; it knows why.
    async fn read_lines(&mut self, mut lines: LineReader) -> Option<LeaveReason> {
        let hello_deadline = Instant::now() + self.shared.config.hello_timeout;
        // Made once, not per line: see the writer's loop.
        let abort = self.abort.clone();
        let shutdown = self.shared.shutdown.clone();
        let aborted = abort.cancelled();
        let shutting_down = shutdown.cancelled();
        tokio::pin!(aborted, shutting_down);
        loop {
            let kicked = self.kicked.clone();
            let frame = tokio::select! {
                biased;
                () = &mut aborted => return None,
                () = &mut shutting_down => return Some(LeaveReason::Shutdown),
                () = kicked.cancelled() => return Some(LeaveReason::Reclaimed),
                () = sleep_until(hello_deadline), if self.member.is_none() => {
                    let timeout = ServerMsg::error(
                        ErrorCode::HelloTimeout,
                        "No nickname was given in time; closing the connection.",
                    );
                    let _ = self.reply(timeout);
                    return Some(LeaveReason::HelloTimeout);
                }
                frame = lines.next() => frame,
            };
            let next = match frame {
                None => Next::End(LeaveReason::Closed),
                Some(Err(error)) => {
                    debug!(%error, "read failed");
                    Next::End(LeaveReason::Lost)
                }
                // Boxed: handling a line (a hello with its history, a
                // message for the store) is the largest state this future
                // has, about 1.4 KiB, and without the box every idle
                // connection would hold that space. One allocation per line
                // is small next to the line's read and parse.
                Some(Ok(frame)) => Box::pin(self.on_frame(frame)).await,
            };
            if let Next::End(reason) = next {
                return Some(reason);
            }
        }
    }

    async fn on_frame(&mut self, frame: Frame) -> Next {
        let line = match frame {
            Frame::TooLong => {
                let max = self.shared.config.max_line_bytes;
                let message = format!("Lines are limited to {max} bytes; that one was discarded.");
                return self.bad_line(ErrorCode::LineTooLong, message);
            }
            Frame::Line(line) => line,
        };
        // Blank lines (an extra Enter in nc) mean nothing and cost nothing.
        if line.iter().all(u8::is_ascii_whitespace) {
            return Next::Read;
        }
        if !self.bucket.try_take(std::time::Instant::now()) {
            let message = "You are sending too fast; that line was not delivered. Wait a moment.";
            return self.reply(ServerMsg::error(ErrorCode::RateLimited, message));
        }
        let text = match line_as_text(&line) {
            Ok(text) => text,
            Err(error) => return self.bad_line(ErrorCode::BadRequest, error.to_string()),
        };
        let encoding = *self
            .encoding
            .get_or_insert(if text.trim_start().starts_with('{') {
                Encoding::Json
            } else {
                Encoding::PlainText
            });
        match encoding {
            Encoding::Json => match ClientMsg::parse(&line) {
                Ok(msg) => self.on_message(msg).await,
                Err(error) => self.bad_line(ErrorCode::BadRequest, error.to_string()),
            },
            Encoding::PlainText if self.member.is_some() => {
                let say = SayRequest {
                    text: text.to_owned(),
                    room: None,
                    to: None,
                    client_id: None,
                };
                self.on_say(say).await
            }
            Encoding::PlainText => match command::parse(text) {
                // Before a nickname, only "/quit" is a command: "over" is a
                // legal nickname.
                Command::Quit(_) if text.trim_start().starts_with('/') => {
                    Next::End(LeaveReason::Quit(None))
                }
                _ => self.hello(text.trim(), None, None).await,
            },
        }
    }

    async fn on_message(&mut self, msg: ClientMsg) -> Next {
        if let ClientMsg::Hello {
            nick,
            since,
            session,
        } = msg
        {
            return match &self.member {
                Some(member) => {
                    let message = format!("You already joined as {}.", member.nick());
                    self.bad_line(ErrorCode::BadRequest, message)
                }
                None => self.hello(&nick, since, session).await,
            };
        }
        match msg {
            ClientMsg::Ping {} => self.reply(ServerMsg::Pong {}),
            ClientMsg::Quit { reason } => {
                Next::End(LeaveReason::Quit(reason.as_deref().and_then(echo)))
            }
            _ if self.member.is_none() => {
                let message = "Send {\"type\":\"hello\",\"nick\":\"NAME\"} before anything else.";
                self.bad_line(ErrorCode::BadRequest, message.to_owned())
            }
            ClientMsg::Say {
                text,
                room,
                to,
                client_id,
            } => {
                self.on_say(SayRequest {
                    text,
                    room,
                    to,
                    client_id,
                })
                .await
            }
            ClientMsg::JoinRoom { room } => self.join_room(&room).await,
            ClientMsg::PartRoom { room } => self.part_room(Some(&room)),
            ClientMsg::Hello { .. } => Next::Read,
        }
    }

    async fn hello(
        &mut self,
        candidate: &str,
        since: Option<u64>,
        session: Option<String>,
    ) -> Next {
        let nick = match Nick::parse(candidate) {
            Ok(nick) => nick,
            Err(error) => {
                let message = format!("{error}; try another nickname.");
                return self.reply(ServerMsg::error(ErrorCode::NickInvalid, message));
            }
        };
        // A known session brings back its rooms (and may reclaim a ghost
        // connection's nickname); an unknown or foreign token is ignored.
        let mut rooms = vec![RoomName::lobby()];
        let mut reclaim = None;
        if let Some(token) = session.filter(|t| t.len() <= 64)
            && let Ok(Some(record)) = self.shared.store.load_session(token.clone()).await
            && record.nick.eq_ignore_ascii_case(nick.as_str())
        {
            rooms = record
                .rooms
                .iter()
                .filter_map(|r| RoomName::parse(r).ok())
                .collect();
            reclaim = Some(token);
        }
        let joined = match self.shared.hub.join(nick.clone(), &rooms, reclaim) {
            Ok(joined) => joined,
            Err(_taken) => {
                let message = format!("The nickname {nick} is taken; try another.");
                return self.reply(ServerMsg::error(ErrorCode::NickTaken, message));
            }
        };
        info!(%nick, "joined");
        let config = &self.shared.config;
        let query = HistoryQuery {
            rooms: rooms.iter().map(RoomName::to_string).collect(),
            nick_key: nick.folded(),
            after: since,
            up_to: joined.up_to,
            tail: config.history_len,
            resume_limit: config.resume_limit,
            include_direct: true,
        };
        self.kicked = joined.kicked;
        self.session_token = joined.session.clone();
        let view = joined.membership.view();
        self.member = Some(joined.membership);
        let history = self.shared.store.history(query).await;
        let (messages, gap, trouble) = match history {
            Ok(history) => (history.messages, history.gap, None),
            Err(error) => (Vec::new(), true, Some(error)),
        };
        let encoding = self.encoding.unwrap_or(Encoding::Json);
        let welcome = ServerMsg::Welcome {
            nick: nick.to_string(),
            users: joined.users,
            rooms: view.rooms(),
            session: Some(joined.session),
            gap: gap.then_some(true),
        };
        // Welcome, history, history_end, then live events: the writer takes
        // them from one queue, in order, and the subscription was taken at
        // the same instant as `up_to`, so nothing is missed or doubled.
        let mut replay = encoding.encode(&welcome).to_vec();
        for message in &messages {
            replay.extend_from_slice(&encoding.encode(&message.to_server_msg()));
        }
        if let Some(error) = trouble {
            let message = format!("History is unavailable right now: {error}");
            replay.extend_from_slice(
                &encoding.encode(&ServerMsg::error(ErrorCode::StoreUnavailable, message)),
            );
        }
        replay.extend_from_slice(&encoding.encode(&ServerMsg::HistoryEnd {}));
        if let Next::End(reason) = self.send(Outgoing::Line(replay.into())) {
            return Next::End(reason);
        }
        self.save_session();
        self.send(Outgoing::Subscribe(joined.events, encoding, view))
    }

    /// Chat text from a joined client: a command, leaving, or a message.
    async fn on_say(&mut self, say: SayRequest) -> Next {
        match command::parse(&say.text) {
            Command::Quit(reason) => Next::End(LeaveReason::Quit(reason.and_then(echo))),
            Command::Who => {
                let room = say
                    .room
                    .as_deref()
                    .unwrap_or(self.current_room.as_str())
                    .to_owned();
                let users = self.shared.hub.users(&room);
                let text = format!("Here in #{room} ({}): {}", users.len(), users.join(", "));
                self.reply(ServerMsg::info(text))
            }
            Command::Help => self.reply(ServerMsg::info(help_text())),
            Command::Rooms => {
                let mine = self
                    .member
                    .as_ref()
                    .map(|m| m.view().rooms())
                    .unwrap_or_default();
                let list: Vec<String> = self
                    .shared
                    .hub
                    .rooms()
                    .into_iter()
                    .map(|(name, count)| {
                        let star = if mine.contains(&name) { "*" } else { "" };
                        format!("#{name}{star} ({count})")
                    })
                    .collect();
                self.reply(ServerMsg::info(format!(
                    "Rooms (* = yours): {}",
                    list.join(", ")
                )))
            }
            Command::Join(room) => self.join_room(room).await,
            Command::Part(room) => self.part_room(room),
            Command::Nick(new) => self.rename(new),
            Command::Usage(spec) => self.reply(ServerMsg::error(
                ErrorCode::BadRequest,
                format!("Usage: {}", spec.usage()),
            )),
            // The full-screen client's own commands mean nothing here.
            Command::Clear => self.unknown_command("clear"),
            Command::Close(_) => self.unknown_command("close"),
            Command::Query { text: None, .. } => self.reply(ServerMsg::error(
                ErrorCode::BadRequest,
                "Usage: /msg NICK TEXT",
            )),
            Command::Unknown(word) => self.unknown_command(word),
            Command::Msg { to, text }
            | Command::Query {
                to,
                text: Some(text),
            } => {
                let (to, text) = (to.to_owned(), text.to_owned());
                self.post(text, None, Some(to), say.client_id, false).await
            }
            Command::Me(action) => {
                let action = action.to_owned();
                self.post(action, say.room, say.to, say.client_id, true)
                    .await
            }
            Command::Text(text) => {
                let text = text.to_owned();
                self.post(text, say.room, say.to, say.client_id, false)
                    .await
            }
        }
    }

    fn unknown_command(&mut self, word: &str) -> Next {
        let word = echo(word).unwrap_or_default();
        let message = format!(
            "Unknown command /{word}. /help lists commands; start with // to send a line beginning with /."
        );
        self.reply(ServerMsg::error(ErrorCode::UnknownCommand, message))
    }

    /// Checks a message and hands it to the store, which publishes it once
    /// committed. Refusals are answered here; store failures and duplicate
    /// `client_id`s are answered when the store is done.
    async fn post(
        &mut self,
        text: String,
        room: Option<String>,
        to: Option<String>,
        client_id: Option<String>,
        action: bool,
    ) -> Next {
        let Some(member) = &self.member else {
            return Next::Read;
        };
        if client_id
            .as_ref()
            .is_some_and(|id| id.is_empty() || id.len() > MAX_CLIENT_ID_LEN)
        {
            let message = format!("A client_id has 1 to {MAX_CLIENT_ID_LEN} bytes.");
            return self.bad_line(ErrorCode::BadRequest, message);
        }
        let target = match (to, room) {
            (Some(to), _) => match self.shared.hub.online(&to) {
                Some(spelled) => Target::Direct(spelled),
                None => {
                    let who = echo(&to).unwrap_or_default();
                    return self.reply(ServerMsg::error(
                        ErrorCode::NoSuchUser,
                        format!("Nobody called {who} is here."),
                    ));
                }
            },
            (None, room) => {
                let room = match room.as_deref().map(RoomName::parse) {
                    None => self.default_room(),
                    Some(Ok(room)) => room,
                    Some(Err(error)) => {
                        return self
                            .reply(ServerMsg::error(ErrorCode::RoomInvalid, error.to_string()));
                    }
                };
                if !member.view().in_room(room.as_str()) {
                    let message = format!("You are not in #{room}; /join {room} first.");
                    return self.reply(ServerMsg::error(ErrorCode::NotInRoom, message));
                }
                Target::Room(room.to_string())
            }
        };
        let clean = sanitize_text(&text);
        let length = clean.chars().count();
        let max = self.shared.config.max_text_chars;
        if clean.trim().is_empty() {
            let message =
                "The message is empty once control characters are removed; nothing was sent.";
            return self.reply(ServerMsg::error(ErrorCode::BadRequest, message));
        }
        if length > max {
            let message = format!(
                "Messages are limited to {max} characters; yours had {length}. Nothing was sent."
            );
            return self.reply(ServerMsg::error(ErrorCode::TextTooLong, message));
        }
        let message = NewMessage {
            ts: unix_millis(),
            from: member.nick(),
            target,
            text: clean,
            action,
            client_id,
        };
        let replies = self.outgoing.clone();
        let encoding = self.encoding.unwrap_or(Encoding::Json);
        let done: Done = Box::new(move |outcome| {
            let answer = match outcome {
                // Published to everyone, the sender included: that is the echo.
                Ok(Appended::New(_)) => return,
                // Already stored: the sender gets the original again, nobody else.
                Ok(Appended::Duplicate(original)) => original.to_server_msg(),
                Err(error) => {
                    let message =
                        format!("The message could not be stored, so it was not sent: {error}");
                    ServerMsg::error(ErrorCode::StoreUnavailable, message)
                }
            };
            let _ = replies.try_send(Outgoing::Line(encoding.encode(&answer)));
        });
        self.shared.store.append(message, done).await;
        Next::Read
    }

    /// The room a message without one goes to: the lobby for JSON clients
    /// (the protocol's default), the room joined last in plain text.
    fn default_room(&self) -> RoomName {
        match self.encoding {
            Some(Encoding::PlainText) => self.current_room.clone(),
            _ => RoomName::lobby(),
        }
    }

    async fn join_room(&mut self, room: &str) -> Next {
        let Some(member) = &self.member else {
            return Next::Read;
        };
        let room = match RoomName::parse(room) {
            Ok(room) => room,
            Err(error) => {
                return self.reply(ServerMsg::error(ErrorCode::RoomInvalid, error.to_string()));
            }
        };
        let max_rooms = self.shared.config.max_rooms_per_client;
        match member.join_room(&room, max_rooms) {
            Err(_) => {
                let message = format!("You are in {max_rooms} rooms already; /part one first.");
                return self.reply(ServerMsg::error(ErrorCode::TooManyRooms, message));
            }
            Ok(false) => {}
            Ok(true) => {
                self.save_session();
                // The room's recent history, then history_end with the room.
                // Live messages of the room may arrive meanwhile; order by id.
                let query = HistoryQuery {
                    rooms: vec![room.to_string()],
                    nick_key: String::new(),
                    after: None,
                    up_to: self.shared.hub.last_published(),
                    tail: self.shared.config.history_len,
                    resume_limit: self.shared.config.resume_limit,
                    include_direct: false,
                };
                let encoding = self.encoding.unwrap_or(Encoding::Json);
                let mut replay = Vec::new();
                if let Ok(history) = self.shared.store.history(query).await {
                    for message in &history.messages {
                        replay.extend_from_slice(&encoding.encode(&message.to_server_msg()));
                    }
                }
                replay.extend_from_slice(&encoding.encode(&ServerMsg::HistoryEnd {}));
                if let Next::End(reason) = self.send(Outgoing::Line(replay.into())) {
                    return Next::End(reason);
                }
            }
        }
        self.current_room = room.clone();
        self.reply(ServerMsg::info(format!(
            "You are in #{room}. Lines you type go there."
        )))
    }

    fn part_room(&mut self, room: Option<&str>) -> Next {
        let Some(member) = &self.member else {
            return Next::Read;
        };
        let room = match room.map(RoomName::parse) {
            None => self.current_room.clone(),
            Some(Ok(room)) => room,
            Some(Err(error)) => {
                return self.reply(ServerMsg::error(ErrorCode::RoomInvalid, error.to_string()));
            }
        };
        if member.part_room(&room) == Err(Refusal::NotInRoom) {
            return self.reply(ServerMsg::error(
                ErrorCode::NotInRoom,
                format!("You are not in #{room}."),
            ));
        }
        self.save_session();
        if self.current_room == room {
            self.current_room = RoomName::lobby();
        }
        self.reply(ServerMsg::info(format!("You left #{room}.")))
    }

    fn rename(&mut self, wanted: &str) -> Next {
        let Some(member) = &self.member else {
            return Next::Read;
        };
        let new = match Nick::parse(wanted) {
            Ok(new) => new,
            Err(error) => {
                return self.reply(ServerMsg::error(
                    ErrorCode::NickInvalid,
                    format!("{error}."),
                ));
            }
        };
        match member.rename(new.clone()) {
            Ok(old) => {
                info!(%old, %new, "renamed");
                self.save_session();
                Next::Read
            }
            Err(_) => self.reply(ServerMsg::error(
                ErrorCode::NickTaken,
                format!("The nickname {new} is taken."),
            )),
        }
    }

    /// Remembers the session's nickname and rooms for a later reclaim.
    fn save_session(&self) {
        if let Some(member) = &self.member {
            self.shared.store.save_session(SessionRecord {
                token: self.session_token.clone(),
                nick: member.nick(),
                rooms: member.view().rooms(),
            });
        }
    }

    /// Answers a malformed line and counts it; too many close the connection.
    fn bad_line(&mut self, code: ErrorCode, message: String) -> Next {
        if self.bad_lines.record(Instant::now()) {
            let message = "Too many bad requests; closing the connection.";
            let _ = self.reply(ServerMsg::error(ErrorCode::TooManyErrors, message));
            return Next::End(LeaveReason::TooManyErrors);
        }
        self.reply(ServerMsg::error(code, message))
    }

    fn reply(&mut self, msg: ServerMsg) -> Next {
        let line = self.encoding.unwrap_or(Encoding::Json).encode(&msg);
        self.send(Outgoing::Line(line))
    }

    /// Queues for the writer without ever waiting: a full queue means the
    /// client is not reading its replies, and waiting for it would let a
    /// non-reading client stall its own reader forever.
    fn send(&mut self, item: Outgoing) -> Next {
        match self.outgoing.try_send(item) {
            Ok(()) => Next::Read,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.abort.cancel();
                Next::End(LeaveReason::SlowConsumer)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Next::End(LeaveReason::Lost),
        }
    }
}

/// The `/help` reply: the commands the server carries out.
fn help_text() -> String {
    let mut text = "Commands:".to_owned();
    for line in command::help_lines(Scope::Server) {
        text.push('\n');
        text.push_str(&line);
    }
    text
}

/// Client words that will be shown back (quit reasons, command names):
/// sanitised and shortened; `None` if nothing printable is left.
fn echo(words: &str) -> Option<String> {
    let clean: String = sanitize_text(words).chars().take(MAX_ECHO_CHARS).collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}
