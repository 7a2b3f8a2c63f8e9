//! One client connection: the read loop and the dispatch of each request
//! to the session core ([`crate::session`]).
//!
//! This task reads and interprets; [`crate::writer`] writes. They share a
//! bounded queue (reader to writer) and an `abort` token that either side
//! cancels when it fails, so neither can outlive the other or block it.
//! Messages go to the store, which publishes them once committed; the
//! reader never waits for a commit. Whatever ends a connection, the
//! client's membership is dropped here, after the writer has finished,
//! which frees the nickname and tells the rooms exactly once.

use std::net::IpAddr;
use std::sync::Arc;

use lanchat_shared::protocol::line_as_text;
use lanchat_shared::{ClientMsg, ErrorCode, Frame, LineCodec, ServerMsg};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::dialect::{Dialect, Irc};
use crate::line_reader::LineReader;
use crate::listener::Port;
use crate::request::{Hello, Request, Stage};
use crate::session::password::{self, Gate};
use crate::session::{
    self, Context, LeaveReason, Next, Phase, REPLY_QUEUE_LEN, echo, hello, moderation, queries,
    replay, rooms, say,
};
use crate::state::Shared;
use crate::transport::{self, Security, Transport};
use crate::writer::{self, Outgoing, WriterContext, WriterEnd};

/// Serves one accepted connection to its end. Never panics and never
/// returns an error: whatever goes wrong is this client's problem alone.
pub(crate) async fn serve(stream: TcpStream, peer: IpAddr, shared: Arc<Shared>, port: Port) {
    // The hello deadline counts from the accept: waiting for a first byte
    // and a TLS handshake are part of the time a client has.
    let hello_deadline = Instant::now() + shared.config.hello_timeout;
    let Transport {
        source,
        sink,
        security,
    } = match transport::open(stream, &shared, port).await {
        Ok(transport) => transport,
        Err(why) => {
            debug!(%why, "closed before it could carry lines");
            return;
        }
    };
    let abort = CancellationToken::new();
    let (outgoing, writer) = start_writer(sink, &shared, &abort);
    let config = &shared.config;
    let mut connection = Connection {
        ctx: Context::new(
            &shared,
            outgoing,
            abort,
            peer,
            dialect_of(port, &shared, &security),
            security,
        ),
        phase: Phase::Greeting {
            deadline: hello_deadline,
            awaiting_password: None,
            wrong_passwords: 0,
            password_given: false,
        },
        registration_lines: 0,
    };
    let lines = LineReader::new(source, LineCodec::new(config.max_line_bytes));
    // IRC clients speak first; everyone else is greeted.
    let greeted = match port {
        Port::Main => {
            let greeting = session::hello::greeting(&config.server_name, &shared.tls.fingerprint);
            connection.ctx.reply(greeting)
        }
        Port::Irc => Next::Read,
    };
    let reader_reason = match greeted {
        Next::Read => connection.read_lines(lines).await,
        Next::End(reason) => Some(reason),
    };

    // Let the writer finish what is queued before the rooms hear we left.
    let Connection { ctx, phase, .. } = connection;
    drop(ctx);
    let writer_end = writer.await.unwrap_or(WriterEnd::Lost);
    leave(&shared, phase, leave_reason(reader_reason, writer_end));
}

/// Starts the connection's writing half; what the reader queues for it goes
/// into the sender returned.
fn start_writer(
    sink: transport::Sink,
    shared: &Shared,
    abort: &CancellationToken,
) -> (mpsc::Sender<Outgoing>, JoinHandle<WriterEnd>) {
    let (outgoing, queue) = mpsc::channel(REPLY_QUEUE_LEN);
    let context = WriterContext {
        abort: abort.clone(),
        shutdown: shared.shutdown.clone(),
        write_timeout: shared.config.write_timeout,
    };
    (outgoing, tokio::spawn(writer::run(sink, queue, context)))
}

/// Why a connection ended, from how its two halves did: a reclaimed
/// session and a slow consumer say more than whatever the other half saw.
fn leave_reason(reader: Option<LeaveReason>, writer: WriterEnd) -> LeaveReason {
    match (reader, writer) {
        (Some(LeaveReason::Reclaimed), _) => LeaveReason::Reclaimed,
        (_, WriterEnd::SlowConsumer) => LeaveReason::SlowConsumer,
        (Some(reason), _) => reason,
        (None, WriterEnd::Shutdown) => LeaveReason::Shutdown,
        (None, _) => LeaveReason::Lost,
    }
}

/// A connection's last word: a member's session is saved, its leave told
/// and its nickname given back.
fn leave(shared: &Shared, phase: Phase, reason: LeaveReason) {
    match phase {
        Phase::Joined(mut member) => {
            let nick = member.membership.nick();
            info!(%nick, reason = reason.describe(), "left");
            // A stored session counts as used until now, not until it last
            // changed; a reclaimed one belongs to the newer connection.
            if member.stored && reason != LeaveReason::Reclaimed {
                shared.store.save_session(member.record());
            }
            member.membership.set_leave_reason(reason.describe());
            let connection = member.membership.connection();
            drop(member);
            session::online::release(shared, &nick, connection);
        }
        Phase::Greeting { .. } => debug!(reason = reason.describe(), "closed before joining"),
    }
}

/// The dialect a port decides; `None`: the first line will.
fn dialect_of(port: Port, shared: &Shared, security: &Security) -> Option<Arc<dyn Dialect>> {
    match port {
        Port::Main => None,
        Port::Irc => Some(Arc::new(Irc::new(&shared.config, security.identity()))),
    }
}

/// Lines a client of a pacing dialect may send before it is in without
/// taking turns of the rate: irssi sends about a dozen on connect.
const FREE_REGISTRATION_LINES: usize = 32;

/// The reading half's state.
struct Connection<'a> {
    ctx: Context<'a>,
    phase: Phase,
    /// Lines read before joining, for [`FREE_REGISTRATION_LINES`].
    registration_lines: usize,
}

impl Connection<'_> {
    /// Reads until the client leaves or something ends the connection.
    /// Returns `None` when the writer aborted; it knows why.
    async fn read_lines(&mut self, mut lines: LineReader) -> Option<LeaveReason> {
        // Made once, not per line: see the writer's loop.
        let abort = self.ctx.abort_token();
        let shutdown = self.ctx.shared.shutdown.clone();
        let aborted = abort.cancelled();
        let shutting_down = shutdown.cancelled();
        tokio::pin!(aborted, shutting_down);
        let mut silence = Silence::new(&self.ctx);
        loop {
            let (reclaimed, hello_deadline) = match &self.phase {
                Phase::Greeting { deadline, .. } => (None, Some(*deadline)),
                Phase::Joined(member) => (Some(member.reclaimed.clone()), None),
            };
            let frame = tokio::select! {
                biased;
                () = &mut aborted => return None,
                () = &mut shutting_down => return Some(LeaveReason::Shutdown),
                () = cancelled(reclaimed) => return Some(LeaveReason::Reclaimed),
                () = deadline(hello_deadline) => return Some(self.hello_timed_out()),
                () = deadline(silence.ends_at()) => match silence.ping(&mut self.ctx) {
                    Next::Read => continue,
                    Next::End(reason) => return Some(reason),
                },
                frame = lines.next() => frame,
            };
            silence.heard();
            let next = match frame {
                // A client may send its last lines and close its half at
                // once (a script, `nc -q`): they are still published, and
                // echoed, before it counts as gone.
                None => {
                    self.ctx.settle().await;
                    Next::End(LeaveReason::Closed)
                }
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

    fn hello_timed_out(&mut self) -> LeaveReason {
        let message = "No nickname was given in time; closing the connection.";
        let _ = self.ctx.refuse(ErrorCode::HelloTimeout, message);
        LeaveReason::HelloTimeout
    }

    /// A hello, through the password gate (if the server has a password
    /// and it was not given yet on this connection), then joining.
    async fn greet(&mut self, request: Hello) -> Next {
        let Phase::Greeting {
            awaiting_password,
            wrong_passwords,
            password_given,
            ..
        } = &mut self.phase
        else {
            return Next::Read;
        };
        let request = if *password_given {
            request
        } else {
            match password::check(&mut self.ctx, request, wrong_passwords) {
                Gate::Pass(request) => {
                    *password_given = request.password.is_some();
                    request
                }
                Gate::Answered(next, pending) => {
                    *awaiting_password = pending;
                    return next;
                }
            }
        };
        match hello::hello(&mut self.ctx, request).await {
            Ok((member, next)) => {
                self.phase = Phase::Joined(member);
                next
            }
            Err(next) => next,
        }
    }

    /// Checks a line as every dialect needs it (length, blank, rate,
    /// UTF-8), lets the connection's dialect read it, and carries it out.
    async fn on_frame(&mut self, frame: Frame) -> Next {
        let line = match frame {
            Frame::TooLong => {
                let max = self.ctx.shared.config.max_line_bytes;
                let message = format!("Lines are limited to {max} bytes; that one was discarded.");
                return self.ctx.bad_line(ErrorCode::LineTooLong, message);
            }
            Frame::Line(line) => line,
        };
        // Blank lines (an extra Enter in nc) mean nothing and cost nothing.
        if line.iter().all(u8::is_ascii_whitespace) {
            return Next::Read;
        }
        if self.ctx.dialect().paces_excess_lines() {
            return self.on_paced_line(&line).await;
        }
        if !self.ctx.take_line_token() {
            let message = "You are sending too fast; that line was not delivered. Wait a moment.";
            let client_id = ClientMsg::client_id_in(&line);
            let refusal = ServerMsg::refusal_of(ErrorCode::RateLimited, message, client_id);
            return self.ctx.reply(refusal);
        }
        let text = match line_as_text(&line) {
            Ok(text) => text,
            Err(error) => return self.ctx.bad_line(ErrorCode::BadRequest, error.to_string()),
        };
        let dialect = self.ctx.dialect_for(text);
        match dialect.parse(text, self.phase.stage()) {
            Ok(request) => self.dispatch(request).await,
            Err(bad) => self.ctx.bad_line(bad.code, bad.message),
        }
    }

    /// A line of a dialect that paces its clients (IRC): text that is not
    /// UTF-8 is read lossily, as IRC clients expect, and a line over the
    /// rate waits its turn instead of being refused. The first
    /// [`FREE_REGISTRATION_LINES`] of registering take no turn, so a
    /// client's dozen lines on connect go through at once; a hello does,
    /// since it asks the store.
    async fn on_paced_line(&mut self, line: &[u8]) -> Next {
        let text = String::from_utf8_lossy(line);
        let stage = self.phase.stage();
        let request = match self.ctx.dialect().parse(&text, stage) {
            Ok(request) => request,
            Err(bad) => return self.ctx.bad_line(bad.code, bad.message),
        };
        // Registering is free up to a point: a client's dozen lines on
        // connect go through at once, an endless stream of them does not.
        self.registration_lines += usize::from(stage != Stage::Joined);
        let costs = stage == Stage::Joined
            || matches!(request, Request::Hello(_))
            || self.registration_lines > FREE_REGISTRATION_LINES;
        if costs && !self.ctx.wait_for_line_token().await {
            let message = "You are sending too fast; that line was not delivered.";
            return self.ctx.refuse(ErrorCode::RateLimited, message);
        }
        self.dispatch(request).await
    }

    /// The table from request to handler. A request that needs a member
    /// is only dispatched in the joined phase.
    async fn dispatch(&mut self, request: Request) -> Next {
        self.ctx.dialect().dispatching(&request);
        let ctx = &mut self.ctx;
        match (&mut self.phase, request) {
            (_, Request::Many(requests)) => self.dispatch_all(requests).await,
            (_, Request::Answer(line)) if line.is_empty() => Next::Read,
            (_, Request::Answer(line)) => ctx.send(writer::Outgoing::Line(line)),
            (_, Request::Ping) => ctx.reply(lanchat_shared::ServerMsg::Pong {}),
            (Phase::Joined(member), Request::Nick { nick }) => {
                session::nick::rename(ctx, member, &nick).await
            }
            (Phase::Joined(member), Request::People { room, listing }) => {
                queries::who(ctx, member, room.as_deref(), listing).await
            }
            (Phase::Joined(member), Request::PartAll) => rooms::part_all(ctx, member).await,
            (Phase::Joined(member), Request::Rooms) => queries::rooms(ctx, member).await,
            (Phase::Joined(_), Request::Online(nicks)) => queries::online(ctx, &nicks),
            (Phase::Joined(member), Request::BanList { room }) => {
                session::banning::ban_list(ctx, member, &room).await
            }
            (Phase::Joined(member), Request::Whois { nick }) => queries::whois(ctx, member, &nick),
            (Phase::Joined(member), Request::Away(text)) => {
                let text = text.filter(|t| !t.trim().is_empty());
                queries::away(member, text.as_deref())
            }
            (Phase::Joined(member), Request::Moderate { room, action }) => {
                moderation::moderate(ctx, member, room.as_deref(), action).await
            }
            (_, Request::Quit { reason }) => {
                ctx.settle().await;
                Next::End(LeaveReason::Quit(reason.as_deref().and_then(echo)))
            }
            (Phase::Greeting { .. }, Request::Hello(request)) => self.greet(request).await,
            (
                Phase::Greeting {
                    awaiting_password, ..
                },
                Request::Password(line),
            ) => match awaiting_password.take() {
                Some(hello) => {
                    let hello = Hello {
                        password: Some(line),
                        ..hello
                    };
                    self.greet(hello).await
                }
                None => Next::Read,
            },
            (Phase::Greeting { .. }, _) => {
                let message = "Send {\"type\":\"hello\",\"nick\":\"NAME\"} before anything else.";
                ctx.bad_line(ErrorCode::BadRequest, message.to_owned())
            }
            (
                Phase::Joined(member),
                Request::History {
                    range,
                    room,
                    with,
                    limit,
                },
            ) => replay::page(ctx, member, (range, limit), (room, with)).await,
            (Phase::Joined(_), Request::Password(_)) => Next::Read,
            (Phase::Joined(member), Request::Hello(_)) => {
                let message = format!("You already joined as {}.", member.membership.nick());
                ctx.bad_line(ErrorCode::BadRequest, message)
            }
            (Phase::Joined(member), Request::Say(request)) => say::say(ctx, member, request).await,
            (Phase::Joined(member), Request::JoinRoom { room, key }) => {
                rooms::join(ctx, member, &room, key.as_deref()).await
            }
            (Phase::Joined(member), Request::PartRoom { room }) => {
                rooms::part(ctx, member, Some(&room)).await
            }
        }
    }
}

impl Connection<'_> {
    /// Carries out `requests` in order, up to the first that ends the
    /// connection. Each after the first takes a line's turn of the rate,
    /// as if it had come on a line of its own, and waits for the answers
    /// before it to be written: one line cannot ask more, or faster, than
    /// as many lines could.
    async fn dispatch_all(&mut self, requests: Vec<Request>) -> Next {
        for (index, request) in requests.into_iter().enumerate() {
            if index > 0 {
                if let end @ Next::End(_) = self.ctx.until_written().await {
                    return end;
                }
                if !self.ctx.wait_for_line_token().await {
                    return Next::Read;
                }
            }
            if let end @ Next::End(_) = Box::pin(self.dispatch(request)).await {
                return end;
            }
        }
        Next::Read
    }
}

/// How long a client that is asked whether it is still there (IRC's
/// `PING`) has been silent, and whether it was asked.
struct Silence {
    /// `None` for a dialect that does not ask.
    after: Option<std::time::Duration>,
    since: Instant,
    asked: bool,
}

impl Silence {
    fn new(ctx: &Context<'_>) -> Silence {
        let asks = ctx.dialect().keepalive_ping().is_some();
        Silence {
            after: asks.then_some(ctx.shared.config.irc_ping_after),
            since: Instant::now(),
            asked: false,
        }
    }

    /// When the silence runs out: time to ask, or, once asked, to give up.
    fn ends_at(&self) -> Option<Instant> {
        self.after.map(|after| self.since + after)
    }

    /// A line came: the client is there.
    fn heard(&mut self) {
        self.since = Instant::now();
        self.asked = false;
    }

    /// The silence ran out: asks the client, or, if it was asked already,
    /// ends the connection.
    fn ping(&mut self, ctx: &mut Context<'_>) -> Next {
        if self.asked {
            return Next::End(LeaveReason::PingTimeout);
        }
        self.asked = true;
        self.since = Instant::now();
        match ctx.dialect().keepalive_ping() {
            Some(ping) => ctx.send(writer::Outgoing::Line(ping)),
            None => Next::Read,
        }
    }
}

/// Resolves when `token` is cancelled; never without one.
async fn cancelled(token: Option<CancellationToken>) {
    match token {
        Some(token) => token.cancelled_owned().await,
        None => std::future::pending().await,
    }
}

/// Resolves at `at`; never without one.
async fn deadline(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
