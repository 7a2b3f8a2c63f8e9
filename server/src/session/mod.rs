//! The session core: what a connection can do once a dialect has read its
//! line into a [`Request`](crate::request::Request), one family of
//! requests per file.
//!
//! - [`hello`]: joining (nickname, session reclaim, subscription, replay).
//! - [`say`]: chat text — a command, or a message for the store.
//! - [`rooms`]: joining and leaving rooms.
//! - [`nick`]: changing nickname.
//! - [`queries`]: `/who`, `/rooms`, `/help`.
//! - [`replay`]: history as a client is shown it, for hello, join and resume.
//!
//! A connection is in one of two phases ([`Phase`]): greeting (a deadline,
//! no member) or joined ([`Member`]). Handlers that need a member take
//! one, so none can run before `hello`.

pub(crate) mod banning;
pub(crate) mod hello;
pub(crate) mod moderation;
pub(crate) mod nick;
pub(crate) mod online;
pub(crate) mod owners;
pub(crate) mod password;
pub(crate) mod privacy;
pub(crate) mod queries;
pub(crate) mod replay;
pub(crate) mod rooms;
pub(crate) mod say;

use lanchat_shared::{ErrorCode, RoomName, ServerMsg, TokenBucket, sanitize_text};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::dialect::{self, Answer, Dialect};
use crate::domain::SessionToken;
use crate::hub::Membership;
use crate::request::Stage;
use std::net::IpAddr;
use std::sync::Arc;

use crate::domain::Party;
use crate::request::Hello;
use crate::state::Shared;
use crate::store::SessionRecord;
use crate::throttle::BadLineWindow;
use crate::transport::Security;
use crate::writer::Outgoing;

/// Longest a client's part, rename or leave waits for its messages to be
/// published first. A commit takes milliseconds; a store so slow that this
/// runs out refuses or loses nothing, and the client is then told of the
/// message after the change, as it was before this wait existed.
const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Replies queued for one client before it counts as not reading. Replies
/// are small and few per line read, so only a client that sends without
/// ever reading fills this; a replay is sent in pieces as the client reads.
pub(crate) const REPLY_QUEUE_LEN: usize = 64;

/// Longest quit reason or echoed command word, in characters; these come
/// from the client and are shown to others, so they are bounded too.
const MAX_ECHO_CHARS: usize = 100;

/// Whether to keep reading after handling a line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Read the next line.
    Read,
    /// Close the connection, for this reason.
    End(LeaveReason),
}

/// Why a client left, as the rooms are told in the `leave` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LeaveReason {
    Quit(Option<String>),
    Closed,
    Lost,
    HelloTimeout,
    SlowConsumer,
    TooManyErrors,
    /// Wrong server passwords, too many (never joined, so nobody hears).
    BadPassword,
    /// A ban keeps the connection out of the server (never joined).
    Banned,
    Shutdown,
    /// The session was reclaimed by a newer connection, which now holds
    /// the nickname: nobody is told anything.
    Reclaimed,
    /// An IRC client answered nothing to the server's `PING`.
    PingTimeout,
}

impl LeaveReason {
    /// The reason in words, as the `leave` event carries it.
    pub(crate) fn describe(&self) -> String {
        match self {
            LeaveReason::Quit(None) => "quit".to_owned(),
            LeaveReason::Quit(Some(words)) => format!("quit: {words}"),
            LeaveReason::Closed => "connection closed".to_owned(),
            LeaveReason::Lost => "connection lost".to_owned(),
            LeaveReason::HelloTimeout => "no hello in time".to_owned(),
            LeaveReason::SlowConsumer => "too slow to keep up".to_owned(),
            LeaveReason::TooManyErrors => "too many bad requests".to_owned(),
            LeaveReason::BadPassword => "wrong password".to_owned(),
            LeaveReason::Banned => "banned".to_owned(),
            LeaveReason::Shutdown => "server shutting down".to_owned(),
            LeaveReason::PingTimeout => "ping timeout".to_owned(),
            LeaveReason::Reclaimed => "reconnected".to_owned(),
        }
    }
}

/// Where a connection is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Connected, no nickname yet.
    Greeting {
        /// When the connection is closed if no `hello` has succeeded.
        deadline: Instant,
        /// A plain-text client's hello, waiting for the password line.
        awaiting_password: Option<Hello>,
        /// Wrong passwords sent on this connection.
        wrong_passwords: u32,
        /// The right password was given: a hello refused for its nickname
        /// need not give it again.
        password_given: bool,
    },
    /// Joined.
    Joined(Member),
}

impl Phase {
    /// The stage a dialect reads the next line in.
    pub(crate) fn stage(&self) -> Stage {
        match self {
            Phase::Greeting {
                awaiting_password: Some(_),
                ..
            } => Stage::Password,
            Phase::Greeting { .. } => Stage::Greeting,
            Phase::Joined(_) => Stage::Joined,
        }
    }
}

/// A joined client: its place in the hub and what its session remembers.
#[derive(Debug)]
pub(crate) struct Member {
    /// Holds the nickname and the rooms; dropping it tells the rooms.
    pub(crate) membership: Membership,
    /// This session's token, for a later reclaim.
    pub(crate) token: SessionToken,
    /// Where plain-text lines (and `/me`, `/who`, `/part` without a room)
    /// go: the room joined last, the lobby at first.
    pub(crate) current_room: RoomName,
    /// Cancelled when a newer connection reclaims this session.
    pub(crate) reclaimed: CancellationToken,
    /// True once this session is in the store (see `Context::save_session`).
    pub(crate) stored: bool,
    /// Who this is for history and retries: an identity, or this guest
    /// session.
    pub(crate) party: Party,
}

impl Member {
    /// What a later reclaim gets back: the nickname and the rooms.
    pub(crate) fn record(&self) -> SessionRecord {
        SessionRecord {
            token: self.token.clone(),
            nick: self.membership.nick(),
            rooms: self.membership.view().rooms(),
            identity: self.party.identity().cloned(),
        }
    }
}

/// Everything a handler needs besides the member: the server, the way to
/// this client's writer, the dialect, and flood control.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    /// The running chat.
    pub(crate) shared: &'a Shared,
    /// Replies for this client only, to the writer.
    outgoing: mpsc::Sender<Outgoing>,
    /// Cancelled by the writer when it fails, or by us when the writer
    /// cannot keep up with our replies.
    abort: CancellationToken,
    /// How this client is spoken to: JSON (the greeting is JSON) until
    /// the first non-blank line chooses, unless the listener knew it.
    dialect: Arc<dyn Dialect>,
    /// Whether `dialect` is settled.
    dialect_chosen: bool,
    /// Lines per second.
    bucket: TokenBucket,
    /// Bad lines per window.
    bad_lines: BadLineWindow,
    /// Resolves once this client's last message handed to the store is
    /// done with (the store serves one client's requests in order, so all
    /// earlier ones are too).
    last_message: Option<oneshot::Receiver<()>>,
    /// Whether the connection is encrypted, and the client's identity.
    pub(crate) security: Security,
    /// The client's address, for budgets kept per address.
    pub(crate) peer: IpAddr,
    /// When the connection was made (Unix milliseconds), for `/whois`.
    pub(crate) connected_at: u64,
}

impl<'a> Context<'a> {
    /// A new connection's context.
    pub(crate) fn new(
        shared: &'a Shared,
        outgoing: mpsc::Sender<Outgoing>,
        abort: CancellationToken,
        peer: IpAddr,
        dialect: Option<Arc<dyn Dialect>>,
        security: Security,
    ) -> Context<'a> {
        let config = &shared.config;
        Context {
            security,
            peer,
            connected_at: shared.clock.now_millis(),
            shared,
            outgoing,
            abort,
            dialect_chosen: dialect.is_some(),
            dialect: dialect.unwrap_or_else(dialect::json),
            bucket: TokenBucket::new(config.rate, std::time::Instant::now()),
            bad_lines: BadLineWindow::new(config.max_bad_lines, config.bad_line_window),
            last_message: None,
        }
    }

    /// Notes a message handed to the store; `settling` resolves when it is
    /// done with.
    pub(crate) fn in_flight(&mut self, settling: oneshot::Receiver<()>) {
        self.last_message = Some(settling);
    }

    /// Waits until this client's messages handed to the store are
    /// published (or refused), at most [`SETTLE_TIMEOUT`]. Called before
    /// anything that changes who sees them — leaving a room, a new
    /// nickname, leaving the chat — so that what was said first is
    /// published first, to the audience it was said to, the sender's echo
    /// included. The reader waits only for its own messages, and only
    /// then.
    pub(crate) async fn settle(&mut self) {
        if let Some(settling) = self.last_message.take() {
            let _ = tokio::time::timeout(SETTLE_TIMEOUT, settling).await;
        }
    }

    /// The token that stops this connection's reader (see `abort`).
    pub(crate) fn abort_token(&self) -> CancellationToken {
        self.abort.clone()
    }

    /// The dialect of this connection, choosing it by `line` if this is
    /// the first line.
    pub(crate) fn dialect_for(&mut self, line: &str) -> Arc<dyn Dialect> {
        if !self.dialect_chosen {
            self.dialect = dialect::for_first_line(line);
            self.dialect_chosen = true;
        }
        Arc::clone(&self.dialect)
    }

    /// The dialect replies are written in.
    pub(crate) fn dialect(&self) -> &dyn Dialect {
        &*self.dialect
    }

    /// The dialect, for what renders on another task (the writer, the
    /// store thread's answers).
    pub(crate) fn shared_dialect(&self) -> Arc<dyn Dialect> {
        Arc::clone(&self.dialect)
    }

    /// Takes a token for one line; false means the line is refused. The
    /// shared bucket runs on the standard clock, not tokio's, so a test
    /// that pauses tokio's time does not stop the refill.
    pub(crate) fn take_line_token(&mut self) -> bool {
        self.bucket.try_take(std::time::Instant::now())
    }

    /// Takes a token for one line, waiting for the bucket to refill if it
    /// must (at most one line's worth of the rate: the reader reads
    /// nothing meanwhile, so the client's excess waits in its socket).
    /// False if the rate gives no tokens at all.
    pub(crate) async fn wait_for_line_token(&mut self) -> bool {
        loop {
            let now = std::time::Instant::now();
            if self.bucket.try_take(now) {
                return true;
            }
            let Some(at) = self.bucket.next_token_at(now) else {
                return false;
            };
            tokio::time::sleep(at.saturating_duration_since(now)).await;
        }
    }

    /// Answers this client only.
    pub(crate) fn reply(&mut self, msg: ServerMsg) -> Next {
        let line = dialect::render_alone(self.dialect(), &msg);
        self.send(Outgoing::Line(line))
    }

    /// Answers with what the session found, in the dialect's words.
    pub(crate) fn answer(&mut self, answer: &Answer) -> Next {
        let mut line = Vec::new();
        self.dialect.render_answer(answer, &mut line);
        if line.is_empty() {
            return Next::Read;
        }
        self.send(Outgoing::Line(line.into()))
    }

    /// Answers with an error.
    pub(crate) fn refuse(&mut self, code: ErrorCode, message: impl Into<String>) -> Next {
        self.reply(ServerMsg::error(code, message))
    }

    /// Answers a malformed line and counts it; too many close the connection.
    pub(crate) fn bad_line(&mut self, code: ErrorCode, message: String) -> Next {
        if self.bad_lines.record(Instant::now()) {
            let message = "Too many bad requests; closing the connection.";
            let _ = self.refuse(ErrorCode::TooManyErrors, message);
            return Next::End(LeaveReason::TooManyErrors);
        }
        self.refuse(code, message)
    }

    /// Queues for the writer without ever waiting: a full queue means the
    /// client is not reading its replies, and waiting for it would let a
    /// non-reading client stall its own reader forever.
    pub(crate) fn send(&mut self, item: Outgoing) -> Next {
        match self.outgoing.try_send(item) {
            Ok(()) => Next::Read,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.abort.cancel();
                Next::End(LeaveReason::SlowConsumer)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Next::End(LeaveReason::Lost),
        }
    }

    /// Queues for the writer once it has taken everything queued before:
    /// a long replay is sent piece by piece as fast as the client reads,
    /// so it never holds more than three pieces (see `replay`). Waits as long as the writer
    /// does, which cuts a client that stops reading off after its write
    /// timeout.
    pub(crate) async fn send_when_read(&mut self, item: Outgoing) -> Next {
        match self.whole_queue().await.map(|mut permits| permits.next()) {
            Ok(Some(permit)) => {
                permit.send(item);
                Next::Read
            }
            Ok(None) => Next::End(LeaveReason::Lost),
            Err(next) => next,
        }
    }

    /// Waits until the writer has taken everything queued so far: between
    /// the parts of one line that asks many things (IRC's `JOIN #a,#b,...`),
    /// so their answers never fill the queue, however many there are. As
    /// long as the writer waits, which cuts a client that stops reading
    /// off after its write timeout.
    pub(crate) async fn until_written(&mut self) -> Next {
        match self.whole_queue().await {
            Ok(_) => Next::Read,
            Err(next) => next,
        }
    }

    /// Every slot of the queue to the writer, reserved once the writer has
    /// taken all it held; the end if the writer is gone first.
    async fn whole_queue(&mut self) -> Result<mpsc::PermitIterator<'_, Outgoing>, Next> {
        tokio::select! {
            permits = self.outgoing.reserve_many(REPLY_QUEUE_LEN) => {
                permits.map_err(|_| Next::End(LeaveReason::Lost))
            }
            () = self.abort.cancelled() => Err(Next::End(LeaveReason::Lost)),
        }
    }

    /// A second way to this client's writer, for answers that come later
    /// (from the store thread).
    pub(crate) fn replies(&self) -> mpsc::Sender<Outgoing> {
        self.outgoing.clone()
    }

    /// Remembers the member's nickname and rooms for a reclaim after the
    /// connection is gone (a ghost that is still connected is reclaimed
    /// from the hub). A session that holds nothing but the lobby is not
    /// worth a row until it has one: a fresh session gives the same, and a
    /// client that connects, says hello and leaves, over and over, must not
    /// grow the database. Servers sharing Redis store every session: the
    /// ghost a reclaim finds may be on another server, and a guest's
    /// session is what its retries are matched within (the store keeps at
    /// most 100,000 sessions either way).
    pub(crate) fn save_session(&self, member: &mut Member) {
        let record = member.record();
        let only_the_lobby = record.rooms == [RoomName::lobby().to_string()];
        let shared = self.shared.config.redis.is_some();
        if member.stored || !only_the_lobby || shared {
            member.stored = true;
            self.shared.store.save_session(record);
        }
    }
}

/// Client words that will be shown back (quit reasons, command names):
/// sanitised and shortened; `None` if nothing printable is left.
pub(crate) fn echo(words: &str) -> Option<String> {
    let clean: String = sanitize_text(words).chars().take(MAX_ECHO_CHARS).collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}
