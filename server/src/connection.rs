//! One client connection: the greeting, the hello, then lines until it ends.
//!
//! This task reads and interprets; [`crate::writer`] writes. They share a
//! bounded queue (reader to writer) and an `abort` token that either side
//! cancels when it fails, so neither can outlive the other or block it.
//! Whatever ends a connection, the client's [`Membership`] is dropped here,
//! after the writer has finished, which frees the nickname and tells the
//! others exactly once.

use std::sync::Arc;

use futures_util::StreamExt;
use lanchat_shared::protocol::line_as_text;
use lanchat_shared::{ClientMsg, ErrorCode, Frame, LineCodec, Nick, ServerMsg, sanitize_text};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::commands::{HELP, Said, classify};
use crate::render::Encoding;
use crate::room::Membership;
use crate::throttle::{BadLineWindow, TokenBucket};
use crate::writer::{self, Outgoing, WriterContext, WriterEnd};
use crate::{Config, Shared};

/// Replies queued for one client before it counts as not reading. Replies
/// are small and one per line read, so only a client that sends without
/// ever reading fills this.
const REPLY_QUEUE_LEN: usize = 64;

/// Longest quit reason or echoed command word, in characters; these come
/// from the client and are shown to others, so they are bounded too.
const MAX_ECHO_CHARS: usize = 100;

/// Why a client left, as the others are told in the `leave` event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LeaveReason {
    Quit(Option<String>),
    Closed,
    Lost,
    HelloTimeout,
    SlowConsumer,
    TooManyErrors,
    Shutdown,
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
        encoding: None,
        member: None,
        bucket: TokenBucket::new(config.rate_per_sec, config.rate_burst, now),
        bad_lines: BadLineWindow::new(config.max_bad_lines, config.bad_line_window),
    };
    let greeting = greeting(config);
    let lines = FramedRead::new(read_half, LineCodec::new(config.max_line_bytes));
    let reader_reason = match session.reply(greeting) {
        Next::Read => session.read_lines(lines).await,
        Next::End(reason) => Some(reason),
    };

    // Let the writer finish what is queued before the others hear we left.
    let Session {
        member, outgoing, ..
    } = session;
    drop(outgoing);
    let writer_end = writer.await.unwrap_or(WriterEnd::Lost);
    let reason = match (reader_reason, writer_end) {
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

/// The reading half's state.
struct Session<'a> {
    shared: &'a Shared,
    /// Replies for this client only, to the writer.
    outgoing: mpsc::Sender<Outgoing>,
    /// Cancelled by the writer when it fails, or by us when the writer
    /// cannot keep up with our replies.
    abort: CancellationToken,
    /// Chosen by the first non-blank line: `{` means JSON, anything else
    /// plain text. A nickname can never start with `{`, so a JSON client
    /// with a typo gets a `bad_request` instead of a plain-text session.
    encoding: Option<Encoding>,
    /// Present once `hello` succeeded.
    member: Option<Membership>,
    bucket: TokenBucket,
    bad_lines: BadLineWindow,
}

impl Session<'_> {
    /// Reads until the client leaves or something ends the connection.
    /// Returns `None` when the writer aborted; it knows why.
    async fn read_lines(
        &mut self,
        mut lines: FramedRead<OwnedReadHalf, LineCodec>,
    ) -> Option<LeaveReason> {
        let hello_deadline = Instant::now() + self.shared.config.hello_timeout;
        loop {
            let frame = tokio::select! {
                biased;
                () = self.abort.cancelled() => return None,
                () = self.shared.shutdown.cancelled() => return Some(LeaveReason::Shutdown),
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
                Some(Ok(frame)) => self.on_frame(frame),
            };
            if let Next::End(reason) = next {
                return Some(reason);
            }
        }
    }

    fn on_frame(&mut self, frame: Frame) -> Next {
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
        if !self.bucket.try_take(Instant::now()) {
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
                Ok(msg) => self.on_message(msg),
                Err(error) => self.bad_line(ErrorCode::BadRequest, error.to_string()),
            },
            Encoding::PlainText if self.member.is_some() => self.on_text(text),
            Encoding::PlainText => match classify(text) {
                // Before a nickname, only "/quit" is a command: "over" is a
                // legal nickname.
                Said::Quit(_) if text.trim_start().starts_with('/') => {
                    Next::End(LeaveReason::Quit(None))
                }
                _ => self.hello(text.trim()),
            },
        }
    }

    fn on_message(&mut self, msg: ClientMsg) -> Next {
        match msg {
            ClientMsg::Hello { nick } => match &self.member {
                Some(member) => {
                    let message = format!("You already joined as {}.", member.nick());
                    self.bad_line(ErrorCode::BadRequest, message)
                }
                None => self.hello(&nick),
            },
            ClientMsg::Say { .. } if self.member.is_none() => {
                let message = "Send {\"type\":\"hello\",\"nick\":\"NAME\"} before anything else.";
                self.bad_line(ErrorCode::BadRequest, message.to_owned())
            }
            ClientMsg::Say { text } => self.on_text(&text),
            ClientMsg::Quit { reason } => {
                Next::End(LeaveReason::Quit(reason.as_deref().and_then(echo)))
            }
            ClientMsg::Ping {} => self.reply(ServerMsg::Pong {}),
        }
    }

    fn hello(&mut self, candidate: &str) -> Next {
        let nick = match Nick::parse(candidate) {
            Ok(nick) => nick,
            Err(error) => {
                let message = format!("{error}; try another nickname.");
                return self.reply(ServerMsg::error(ErrorCode::NickInvalid, message));
            }
        };
        let joined = match self.shared.room.join(nick.clone()) {
            Ok(joined) => joined,
            Err(_taken) => {
                let message = format!("The nickname {nick} is taken; try another.");
                return self.reply(ServerMsg::error(ErrorCode::NickTaken, message));
            }
        };
        info!(%nick, "joined");
        self.member = Some(joined.membership);
        let encoding = self.encoding.unwrap_or(Encoding::Json);
        let welcome = ServerMsg::Welcome {
            nick: nick.to_string(),
            users: joined.users,
        };
        // The welcome goes first, then room events: the writer takes both
        // from one queue, in order.
        match self.reply(welcome) {
            Next::Read => self.send(Outgoing::Subscribe(joined.events, encoding)),
            end => end,
        }
    }

    /// Chat text from a joined client: a command, leaving, or a message.
    fn on_text(&mut self, text: &str) -> Next {
        let Some(member) = &self.member else {
            return Next::Read;
        };
        match classify(text) {
            Said::Quit(reason) => Next::End(LeaveReason::Quit(reason.and_then(echo))),
            Said::Who => {
                let users = self.shared.room.users();
                let text = format!("Here now ({}): {}", users.len(), users.join(", "));
                self.reply(ServerMsg::info(text))
            }
            Said::Help => self.reply(ServerMsg::info(HELP)),
            Said::Unknown(word) => {
                let word = echo(word).unwrap_or_default();
                let message = format!(
                    "Unknown command /{word}. /help lists commands; start with // to send a line beginning with /."
                );
                self.reply(ServerMsg::error(ErrorCode::UnknownCommand, message))
            }
            Said::Text(text) => {
                let clean = sanitize_text(text);
                let length = clean.chars().count();
                let max = self.shared.config.max_text_chars;
                if clean.trim().is_empty() {
                    let message = "The message is empty once control characters are removed; nothing was sent.";
                    return self.reply(ServerMsg::error(ErrorCode::BadRequest, message));
                }
                if length > max {
                    let message = format!(
                        "Messages are limited to {max} characters; yours had {length}. Nothing was sent."
                    );
                    return self.reply(ServerMsg::error(ErrorCode::TextTooLong, message));
                }
                member.say(clean);
                Next::Read
            }
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

/// Client words that will be shown back (quit reasons, command names):
/// sanitised and shortened; `None` if nothing printable is left.
fn echo(words: &str) -> Option<String> {
    let clean: String = sanitize_text(words).chars().take(MAX_ECHO_CHARS).collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}
