//! Where messages live: the [`Store`] seam and the thread that owns it.
//!
//! The rest of the server never touches the database. It talks to a
//! [`StoreHandle`], which sends requests to one store thread
//! ([`thread`]). That thread owns the [`Store`] (SQLite today; a shared
//! or Redis, shared by several servers: [`redis`]), groups every
//! append waiting at that moment into one transaction, and only after the
//! commit publishes the messages (in id order) and completes each append.
//! So an echo always means "committed", and thousands of messages a second
//! cost a few commits.

mod checkpoint;
mod redis;
mod sqlite;
mod thread;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

pub use crate::bans::{Ban, BanTarget};
pub use crate::config::{DbLocation, Retention};
pub use crate::domain::{
    ConnectionId, MessageKind, NewMessage, NickKey, SessionToken, StoredMessage, Target,
};
use lanchat_shared::Fingerprint;
pub use redis::{LEASE_RENEWAL, LogReader, Migrated, RedisStore, ServerName, spawn_log_reader};
pub use sqlite::SqliteStore;
pub use thread::{Publish, SharedChange, spawn, spawn_history_reader};

/// Requests waiting for the store thread; senders wait when it is full,
/// which slows the senders, never the readers of the room.
const QUEUE_LEN: usize = 4096;

/// The outcome of an append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored now; it has been published.
    New(StoredMessage),
    /// The same sender already stored this `client_id`: here is that message.
    Duplicate(StoredMessage),
}

/// The newest messages of some rooms, and of one person's direct
/// messages: what a client is shown when it arrives or joins a room.
#[derive(Clone, Debug)]
pub struct RecentQuery {
    /// The rooms, each with its own tail.
    pub rooms: Vec<String>,
    /// Whose direct messages to add (their own tail): an identity's; a
    /// guest has no direct-message history.
    pub direct_of: Option<Fingerprint>,
    /// Of those, only the ones exchanged with this nickname: one
    /// conversation. `None`: all of them.
    pub direct_with: Option<NickKey>,
    /// Nothing at or before this id (0: as far back as retention keeps).
    pub after: u64,
    /// Nothing newer than this id: the client receives newer messages live.
    pub up_to: u64,
    /// Messages per room (and of direct messages).
    pub per_room: usize,
}

/// Everything after an id a client has seen, in its rooms and its direct
/// messages: what a reconnecting client is replayed.
#[derive(Clone, Debug)]
pub struct SinceQuery {
    /// The rooms the client is in.
    pub rooms: Vec<String>,
    /// Whose direct messages belong in the replay: an identity's; a guest
    /// has no direct-message history.
    pub direct_of: Option<Fingerprint>,
    /// Of those, only the ones exchanged with this nickname: one
    /// conversation. `None`: all of them.
    pub direct_with: Option<NickKey>,
    /// The last id the client saw.
    pub after: u64,
    /// Nothing newer than this id: the client receives newer messages live.
    pub up_to: u64,
    /// Most messages one replay holds; beyond that it is a gap.
    pub limit: usize,
}

/// What retention keeps at the moment of a query. History queries return
/// nothing outside it, so a message past a limit is never served, even
/// before the next pass of retention deletes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kept {
    /// Only the newest this many messages.
    pub newest: Option<u64>,
    /// Only messages stamped at or after this time (Unix milliseconds).
    pub not_before_ms: Option<u64>,
}

impl Kept {
    /// What `retention` keeps at `now_ms`.
    pub fn at(retention: Retention, now_ms: u64) -> Kept {
        Kept {
            newest: retention.max_messages,
            not_before_ms: retention
                .max_days
                .map(|days| now_ms.saturating_sub(days.saturating_mul(86_400_000))),
        }
    }
}

/// Where a resume starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResumeStart {
    /// Replay what comes after this id.
    pub after: u64,
    /// True if the client misses something it asked for.
    pub gap: bool,
}

/// A replay, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// The messages, in id order.
    pub messages: Vec<StoredMessage>,
    /// True if some of what was asked for is no longer stored (or was
    /// more than one request may replay).
    pub gap: bool,
}

/// A session: what a reconnecting client gets back with its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The secret token.
    pub token: SessionToken,
    /// The nickname it holds.
    pub nick: String,
    /// The rooms it is in.
    pub rooms: Vec<String>,
    /// The identity that made it: only that identity may take it back (a
    /// guest's session is taken back by its token alone).
    pub identity: Option<Fingerprint>,
}

impl SessionRecord {
    /// The rooms of a session as both stores keep them: names joined by
    /// commas (a room name has none).
    fn rooms_from(list: &str) -> Vec<String> {
        list.split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Something went wrong in the database: what we were doing, in words for
/// people, and the underlying error as the source. Its `Display` is the
/// first alone, as is the custom for errors with a source;
/// [`StoreError::explained`] says both.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{doing}")]
pub struct StoreError {
    doing: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    /// The request may have been carried out all the same: it was sent,
    /// and no answer came (a Redis that went away or took too long).
    uncertain: bool,
}

impl StoreError {
    /// A failure while `doing` something, caused by `source`.
    pub fn caused_by(
        doing: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError {
            doing: doing.into(),
            source: Some(Arc::new(source)),
            uncertain: false,
        }
    }

    /// A failure with no underlying error, described in full by `what`.
    pub fn new(what: impl Into<String>) -> StoreError {
        StoreError {
            doing: what.into(),
            source: None,
            uncertain: false,
        }
    }

    /// The same failure, of a request that may have been carried out.
    pub fn uncertain(self) -> StoreError {
        StoreError {
            uncertain: true,
            ..self
        }
    }

    /// Whether the request may have been carried out despite the failure:
    /// a message refused so may be stored (and published) all the same.
    pub fn is_uncertain(&self) -> bool {
        self.uncertain
    }

    /// Whether the underlying error is an `E` for which `test` holds.
    pub fn caused_by_a<E: std::error::Error + 'static>(&self, test: impl Fn(&E) -> bool) -> bool {
        self.source
            .as_deref()
            .and_then(|source| source.downcast_ref::<E>())
            .is_some_and(test)
    }

    /// What failed and why, for people: "cannot store messages: disk I/O
    /// error".
    pub fn explained(&self) -> String {
        match &self.source {
            Some(source) => format!("{}: {source}", self.doing),
            None => self.doing.clone(),
        }
    }

    fn stopped() -> StoreError {
        StoreError::new("the message store has stopped")
    }
}

/// The seam between the server and its storage. Implementations are used
/// from one thread at a time and may block.
pub trait Store: Send + 'static {
    /// Stores `batch` in one transaction, assigning ids in order. A message
    /// whose (sender, `client_id`) is already stored is not stored again.
    fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Appended>, StoreError>;
    /// The newest messages of rooms (and of someone's direct messages),
    /// of those retention keeps.
    fn recent(&mut self, query: &RecentQuery, kept: Kept) -> Result<History, StoreError>;
    /// A page of what a client missed: the oldest `query.limit` messages
    /// after `query.after`, of what retention keeps; what it no longer
    /// keeps after `query.after` is a gap.
    fn since(&mut self, query: &SinceQuery, kept: Kept) -> Result<History, StoreError>;
    /// Where a resume of at most `query.limit` messages starts: after
    /// `query.after`, or later if more than that many follow it (a gap, as
    /// is what retention no longer keeps).
    fn resume_start(&mut self, query: &SinceQuery, kept: Kept) -> Result<ResumeStart, StoreError>;
    /// The highest id ever assigned (0 if none).
    fn last_id(&mut self) -> Result<u64, StoreError>;
    /// The name of this history: made with it, kept for as long as it is,
    /// so that a client resuming with another history's ids can be told.
    fn history_id(&mut self) -> Result<String, StoreError>;
    /// Creates or updates a session, used now (Unix milliseconds).
    fn save_session(&mut self, session: &SessionRecord, now_ms: u64) -> Result<(), StoreError>;
    /// Looks a session up by token.
    fn load_session(&mut self, token: &SessionToken) -> Result<Option<SessionRecord>, StoreError>;
    /// Applies the retention policy; returns how many messages were dropped.
    fn prune(&mut self, retention: Retention, now_ms: u64) -> Result<u64, StoreError>;
    /// Who owns `nick` now: an ownership unused for longer than
    /// `unused_ms` has lapsed and counts as none.
    fn owner_of(
        &mut self,
        nick: &NickKey,
        unused_ms: u64,
        now_ms: u64,
    ) -> Result<Option<Fingerprint>, StoreError>;
    /// Makes `claim.identity` the owner of the nickname if nobody owns it,
    /// the identity owns fewer than `claim.max_owned` and `may_add` agrees
    /// (asked only then: it spends a budget); an owner's own claim counts
    /// as using it now.
    fn claim_nick(
        &mut self,
        claim: &NickClaim,
        may_add: &mut dyn FnMut() -> bool,
        now_ms: u64,
    ) -> Result<Claimed, StoreError>;
    /// Gives `nick` up: `by` its owner, or by the server's operator
    /// (`None`) whoever owns it. False if there was nothing to give up.
    fn release_nick(
        &mut self,
        nick: &NickKey,
        by: Option<&Fingerprint>,
    ) -> Result<bool, StoreError>;
    /// What is kept of `room`: its operators and topic (nothing for a room
    /// never recorded).
    fn room(&mut self, room: &str) -> Result<RoomRecord, StoreError>;
    /// Records `room` if it is new, with `founder` (if an identity founded
    /// it) as its first operator; true if it was new. A room recorded
    /// before keeps what it has: founding happens once.
    fn found_room(&mut self, room: &str, founder: Option<&Fingerprint>)
    -> Result<bool, StoreError>;
    /// Makes `identity` an operator of `room`, or no longer one, as
    /// `change` says; true if that changed anything. Checked and done at
    /// once, so two operators taking each other's role at the same moment
    /// cannot leave the room with none.
    fn set_operator(
        &mut self,
        room: &str,
        identity: &Fingerprint,
        change: OperatorChange,
    ) -> Result<bool, StoreError>;
    /// Sets `room`'s topic.
    fn set_topic(&mut self, room: &str, topic: &Topic) -> Result<(), StoreError>;
    /// Makes `room` private, or open, and sets or clears its key.
    fn set_privacy(&mut self, room: &str, privacy: &Privacy) -> Result<(), StoreError>;
    /// The rooms that are private, for listing rooms without them.
    fn private_rooms(&mut self) -> Result<Vec<String>, StoreError>;
    /// The topics of those of `rooms` that have one, for listing rooms.
    fn topics(&mut self, rooms: &[String]) -> Result<Vec<(String, String)>, StoreError>;
    /// The bans in force at `now_ms`, rooms' and the server's; expired ones
    /// are deleted.
    fn load_bans(&mut self, now_ms: u64) -> Result<Vec<Ban>, StoreError>;
    /// Keeps `ban`, replacing one of the same place and target.
    fn add_ban(&mut self, ban: &Ban) -> Result<(), StoreError>;
    /// Lifts the ban of `target` from `room` (`None`: the server's).
    fn remove_ban(&mut self, room: Option<&str>, target: &BanTarget) -> Result<(), StoreError>;
    /// Marks `claim.nick` as in use by a connection of this server, unless
    /// a connection of another server holds it. A server alone shares its
    /// nicknames with nobody: its hub alone decides, so this says ours.
    fn claim_online(&mut self, claim: &OnlineClaim) -> Result<Online, StoreError> {
        let _ = claim;
        Ok(Online::Ours)
    }
    /// Who holds `nick` on another server of the group, if anyone does (a
    /// server alone has no other).
    fn online_elsewhere(&mut self, nick: &NickKey) -> Result<Option<Elsewhere>, StoreError> {
        let _ = nick;
        Ok(None)
    }
    /// Records that `connection` holds `claim.nick`, now that the hub
    /// took it: releases by older connections leave it alone.
    fn confirm_online(
        &mut self,
        claim: &OnlineClaim,
        connection: ConnectionId,
    ) -> Result<(), StoreError> {
        let _ = (claim, connection);
        Ok(())
    }
    /// Marks `nick` as no longer in use by `connection` of this server.
    fn release_online(
        &mut self,
        nick: &NickKey,
        connection: ConnectionId,
    ) -> Result<(), StoreError> {
        let _ = (nick, connection);
        Ok(())
    }
    /// Renews this server's lease on its nicknames, and frees those of
    /// servers whose lease ran out (they stopped without saying so).
    fn keep_lease(&mut self) -> Result<Lease, StoreError> {
        Ok(Lease::default())
    }
    /// Tells the other servers of the group a change of who is where made
    /// by this server's hub. A server alone has nobody to tell (its hub
    /// publishes such changes itself and never calls this).
    fn share_presence(&mut self, changes: Vec<PresenceChange>) -> Result<(), StoreError> {
        let _ = changes;
        Ok(())
    }
    /// Frees the nicknames the group's record gives this server that
    /// `held` (the nicknames its hub holds) has lacked at two calls in a
    /// row: their claim's or release's answer was lost, and nobody here
    /// holds them. Returns them. A server alone keeps no such record.
    fn reconcile_online(&mut self, held: &[NickKey]) -> Result<Vec<String>, StoreError> {
        let _ = held;
        Ok(Vec::new())
    }
    /// Tells every server of the group to put `nick` out of `room` for
    /// `reason` (a kick of someone connected to another server). A server
    /// alone has nobody to tell.
    fn tell_put_out(&mut self, nick: &str, room: &str, reason: &str) -> Result<(), StoreError> {
        let _ = (nick, room, reason);
        Ok(())
    }
}

/// A change of who is where that this server's hub made (a join, a part,
/// a rename, an away, a leave, or an event about a room alone, such as a
/// topic), for the servers it shares Redis with. Opaque to the store,
/// which keeps `member` for servers that start later and appends the
/// change to the shared log; `hub::remote` writes and reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PresenceChange {
    /// The nickname key whose presence changed; empty for an event about
    /// a room alone.
    pub nick: String,
    /// The key it had before, for a rename; else empty.
    pub was: String,
    /// True if the member has just arrived on this server (a hello): its
    /// record then replaces that of a ghost on another server.
    pub arrived: bool,
    /// The member as it is after the change; empty if it left the server.
    pub member: String,
    /// What its rooms are told.
    pub events: String,
}

/// A change of who is where, as a server's log reader reads it (or as
/// the record of who is where holds it when a server starts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedPresence {
    /// Who made it.
    pub source: PresenceSource,
    /// As in [`PresenceChange`].
    pub nick: String,
    /// As in [`PresenceChange`].
    pub was: String,
    /// As in [`PresenceChange`].
    pub member: String,
    /// As in [`PresenceChange`]; empty for a member of a server lost.
    pub events: String,
}

/// Who made a [`SharedPresence`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresenceSource {
    /// This server's hub, which changed its state already: only its events
    /// are left to publish.
    Ours,
    /// Another server's hub.
    Theirs,
    /// Nobody: the member's server stopped answering and was reaped, so
    /// the member is gone, once, for every server.
    Lost,
}

/// A connection's claim to a nickname among several servers.
#[derive(Clone, Debug)]
pub struct OnlineClaim {
    /// The nickname.
    pub nick: NickKey,
    /// The nickname as spelled, for direct messages from other servers.
    pub spelled: String,
    /// The session it joins under: a connection of another server under
    /// the same session is a ghost this one takes the nickname from.
    pub session: SessionToken,
    /// The claimant's identity (direct messages to it are kept for it).
    pub identity: Option<Fingerprint>,
    /// Whether that identity owns the nickname: an owner takes the
    /// nickname from a connection of its own on another server.
    pub owns: bool,
    /// Whether it may take the nickname from a connection of the same
    /// session or owner on another server: a hello may (that connection is
    /// its ghost), a rename may not (as on a server alone, where renaming
    /// to a nickname one's other connection holds is refused).
    pub may_take_over: bool,
}

/// What a renewal of a server's lease found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lease {
    /// This server's own lease had run out (Redis or this server stalled
    /// for longer than a lease), so its nicknames may have been freed.
    pub lapsed: bool,
    /// Servers found dead and reaped: their nicknames are free.
    pub reaped: Vec<String>,
}

/// Someone connected to another server of the group, for a direct message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elsewhere {
    /// The nickname as its holder spells it.
    pub spelled: String,
    /// The identity its connection proved, if any.
    pub identity: Option<Fingerprint>,
    /// The session it holds the nickname under.
    pub session: String,
}

/// Who has a nickname among several servers, after a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Online {
    /// This server: its hub decides between its own connections.
    Ours,
    /// This server now; the server named, whose connection of the same
    /// session or owner had it, is told to close that connection.
    TakenFrom(String),
    /// A connection of the server named.
    HeldBy(String),
}

/// Operators one room may have: enough for any team, and a bound on what
/// one operator can make the server store.
pub const MAX_ROOM_OPERATORS: usize = 64;

/// A change to a room's operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorChange {
    /// Give the role, unless the room has [`MAX_ROOM_OPERATORS`].
    Give,
    /// Take the role, unless it is the room's last operator's.
    Take,
    /// Take the role even from the last operator (an admin's doing).
    TakeEvenTheLast,
}

/// What the store keeps of a room for keeping order in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomRecord {
    /// The identities that may moderate it, oldest first.
    pub operators: Vec<Fingerprint>,
    /// Its topic, once someone set one.
    pub topic: Option<Topic>,
    /// Who may enter it.
    pub privacy: Privacy,
}

/// Who may enter a room: anyone, or (private) its operators, admins,
/// those invited and, if it has a key, whoever gives the key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Privacy {
    /// Invite-only and unlisted.
    pub private: bool,
    /// The key that lets anyone in, if set.
    pub key: Option<String>,
}

/// A room's topic and who set it when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    /// The topic, sanitised; empty for "no topic".
    pub text: String,
    /// The nickname of whoever set it.
    pub by: String,
    /// When, in Unix milliseconds.
    pub at_ms: u64,
}

/// A request to own a nickname.
#[derive(Clone, Debug)]
pub struct NickClaim {
    /// The nickname as spelled.
    pub nick: String,
    /// Who wants it.
    pub identity: Fingerprint,
    /// Most nicknames one identity may own.
    pub max_owned: usize,
    /// An ownership unused for longer than this (milliseconds) has lapsed.
    pub unused_ms: u64,
}

/// What a [`NickClaim`] came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// The identity owns the nickname now, from this claim.
    New,
    /// It owned it already.
    Already,
    /// Another identity owns it.
    Theirs,
    /// The identity owns as many nicknames as it may (or the server holds
    /// as many ownerships as it keeps); it gets none more.
    AtLimit,
    /// Nobody owns it, but new ownerships are not allowed right now (the
    /// address's budget is spent).
    NotNow,
}

/// What to do once an append is committed (or has failed). It runs on the
/// store thread, so it must be quick: typically a `try_send` to a writer,
/// never a wait.
pub trait Completion: Send {
    /// Takes the outcome of the append.
    fn complete(self: Box<Self>, outcome: Result<Appended, StoreError>);
}

/// Waiting for the outcome (the server's own lines, tests, benchmarks):
/// the completion sends it.
impl Completion for oneshot::Sender<Result<Appended, StoreError>> {
    fn complete(self: Box<Self>, outcome: Result<Appended, StoreError>) {
        let _ = self.send(outcome);
    }
}

/// Changes of who is where waiting to be shared, at most.
pub const MAX_WAITING_PRESENCE: usize = 100_000;

/// Changes of who is where that a hub made and the store thread has not
/// taken yet, oldest first.
#[derive(Debug, Default)]
pub struct WaitingPresence {
    changes: std::sync::Mutex<std::collections::VecDeque<PresenceChange>>,
    /// Whether changes were dropped since the queue last had room, so a
    /// long stall is logged once.
    dropping: std::sync::atomic::AtomicBool,
    /// Whether the store thread was nudged since it last emptied the
    /// queue: one nudge is enough for any number of changes.
    nudged: std::sync::atomic::AtomicBool,
}

impl WaitingPresence {
    /// Queues `change`; true if the store thread is to be nudged (it was
    /// not since it last emptied the queue, and the change was queued).
    fn push(&self, change: PresenceChange) -> bool {
        use std::sync::atomic::Ordering;
        let mut changes = self.lock();
        if changes.len() >= MAX_WAITING_PRESENCE {
            if !self.dropping.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    waiting = MAX_WAITING_PRESENCE,
                    "too many changes of who is where wait for the store; newer ones are dropped"
                );
            }
            return false;
        }
        self.dropping.store(false, Ordering::Relaxed);
        changes.push_back(change);
        !self.nudged.swap(true, Ordering::AcqRel)
    }

    /// Every change waiting, oldest first.
    fn take(&self) -> Vec<PresenceChange> {
        let mut changes = self.lock();
        self.nudged
            .store(false, std::sync::atomic::Ordering::Release);
        changes.drain(..).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<PresenceChange>> {
        self.changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What the store thread is asked to do.
enum Request {
    Append(NewMessage, Box<dyn Completion>),
    Recent(RecentQuery, oneshot::Sender<Result<History, StoreError>>),
    Since(SinceQuery, oneshot::Sender<Result<History, StoreError>>),
    ResumeStart(SinceQuery, oneshot::Sender<Result<ResumeStart, StoreError>>),
    SaveSession(SessionRecord),
    /// Apply retention now (the timer's request, so a quiet server prunes
    /// too).
    Prune,
    LoadSession(
        SessionToken,
        oneshot::Sender<Result<Option<SessionRecord>, StoreError>>,
    ),
    /// Anything else, run on the store thread with the time: see
    /// [`StoreHandle::run`].
    Job(Job),
    /// Tell the other servers of the changes of who is where waiting.
    SharePresence,
}

/// Work for the store thread that answers for itself.
type Job = Box<dyn FnOnce(&mut dyn Store, u64) + Send>;

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("store request")
    }
}

/// A cheap, clonable way to reach the store thread (and the history
/// thread, if there is one).
#[derive(Clone, Debug)]
pub struct StoreHandle {
    requests: mpsc::Sender<Request>,
    /// Changes of who is where for the store thread to share.
    presence: Arc<WaitingPresence>,
    /// Where history reads go: the history thread's queue, or the store
    /// thread's when there is none (a database in memory).
    reads: mpsc::Sender<Request>,
}

impl StoreHandle {
    /// Queues a message for storing; `done` runs once it is committed (and
    /// published) or has failed. Waits only if the store's queue is full.
    /// Requests are handled in order, so one client's messages keep theirs.
    pub async fn append(&self, message: NewMessage, done: Box<dyn Completion>) {
        if let Err(mpsc::error::SendError(Request::Append(_, done))) =
            self.requests.send(Request::Append(message, done)).await
        {
            done.complete(Err(StoreError::stopped()));
        }
    }

    /// Stores a message and waits for the outcome (the server's own lines,
    /// tests, benchmarks).
    pub async fn append_and_wait(&self, message: NewMessage) -> Result<Appended, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.append(message, Box::new(reply)).await;
        answer.await.map_err(|_| StoreError::stopped())?
    }

    /// Reads the newest messages of rooms.
    pub async fn recent(&self, query: RecentQuery) -> Result<History, StoreError> {
        let (reply, answer) = oneshot::channel();
        ask(&self.reads, Request::Recent(query, reply), answer).await?
    }

    /// Reads a page of what a client missed.
    pub async fn since(&self, query: SinceQuery) -> Result<History, StoreError> {
        let (reply, answer) = oneshot::channel();
        ask(&self.reads, Request::Since(query, reply), answer).await?
    }

    /// Finds where a resume starts.
    pub async fn resume_start(&self, query: SinceQuery) -> Result<ResumeStart, StoreError> {
        let (reply, answer) = oneshot::channel();
        ask(&self.reads, Request::ResumeStart(query, reply), answer).await?
    }

    /// Looks a session up.
    pub async fn load_session(
        &self,
        token: SessionToken,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.ask(Request::LoadSession(token, reply), answer).await?
    }

    /// Runs `job` on the store thread, in order with appends, with the
    /// store and the time (Unix milliseconds), and waits for its answer.
    /// For requests that are rare and quick (nickname ownership, say), so
    /// each needs no message type of its own.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut dyn Store, u64) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |store, now_ms| {
            let _ = reply.send(job(store, now_ms));
        });
        self.ask(Request::Job(job), answer).await?
    }

    /// Asks for a retention pass; skipped if the store is busy, since the
    /// next append or the next tick will do.
    pub fn prune_soon(&self) {
        let _ = self.requests.try_send(Request::Prune);
    }

    /// Where a hub hands its changes of who is where, for the other
    /// servers of the group: a queue the store thread empties, in order,
    /// before every request it serves, so a member's join reaches the log
    /// before anything it says next; and a nudge in the store's queue, so
    /// that it does so even when nothing else is asked. It does not keep
    /// the store thread alive (a hub outlives its server's handles at
    /// shutdown), and never waits: the queue holds up to
    /// [`MAX_WAITING_PRESENCE`] changes, past which they are dropped (and
    /// logged).
    pub fn presence_outlet(&self) -> impl Fn(PresenceChange) + Send + Sync + 'static {
        let requests = self.requests.downgrade();
        let waiting = Arc::clone(&self.presence);
        move |change| {
            if waiting.push(change)
                && let Some(requests) = requests.upgrade()
            {
                // Full: the store thread has requests to serve, and
                // empties the queue before each.
                let _ = requests.try_send(Request::SharePresence);
            }
        }
    }

    /// Saves a session in the background; failures are logged.
    pub fn save_session(&self, session: SessionRecord) {
        let _ = self.requests.try_send(Request::SaveSession(session));
    }

    async fn ask<T>(
        &self,
        request: Request,
        answer: oneshot::Receiver<T>,
    ) -> Result<T, StoreError> {
        ask(&self.requests, request, answer).await
    }
}

/// Sends `request` to a thread's queue and waits for its answer.
async fn ask<T>(
    queue: &mpsc::Sender<Request>,
    request: Request,
    answer: oneshot::Receiver<T>,
) -> Result<T, StoreError> {
    queue
        .send(request)
        .await
        .map_err(|_| StoreError::stopped())?;
    answer.await.map_err(|_| StoreError::stopped())
}
