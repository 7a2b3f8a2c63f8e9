//! Where messages live: the [`Store`] seam and the thread that owns it.
//!
//! The rest of the server never touches the database. It talks to a
//! [`StoreHandle`], which sends requests to one store thread. That thread
//! owns the [`Store`] (SQLite today; a shared log such as Redis Streams
//! could implement the same trait), groups every append waiting at that
//! moment into one transaction, and only after the commit publishes the
//! messages (in id order) and answers the senders. So an echo always means
//! "committed", and thousands of messages a second cost a few commits.

mod checkpoint;
mod sqlite;

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use lanchat_shared::ServerMsg;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

pub use sqlite::SqliteStore;

/// Appends taken into one transaction at most. A commit's messages are
/// published as one event in the hub's ring, so this also bounds what one
/// ring slot holds (the ring keeps at most `queue_len` times this many).
const MAX_BATCH: usize = 256;
/// The shortest time between the starts of two commits while messages keep
/// coming. A commit costs far more than a row (W2: about 4,300 commits a
/// second of 3 messages each without it, 1,300 of 10 with it), and on a busy core
/// every commit also means a thread switch. At 500 µs W2's p99 fell from
/// 12.9 to 6.3 ms (medians of 3); 1 ms was no better. Pacing applies only
/// while the last commit held more than one message — that is, while
/// several clients are talking at once: a message after a quiet spell, or
/// from a lone client waiting for each echo, is committed at once.
const MIN_COMMIT_INTERVAL: Duration = Duration::from_micros(500);
/// Requests waiting for the store thread; senders wait when it is full,
/// which slows the senders, never the readers of the room.
const QUEUE_LEN: usize = 4096;

/// Where the database is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbLocation {
    /// Nothing is kept across restarts (`--db :memory:`).
    Memory,
    /// A SQLite file, created if missing.
    File(PathBuf),
}

impl DbLocation {
    /// `:memory:` means memory; anything else is a file path.
    pub fn parse(spec: &str) -> DbLocation {
        if spec == ":memory:" {
            DbLocation::Memory
        } else {
            DbLocation::File(PathBuf::from(spec))
        }
    }

    /// The default file: `$XDG_DATA_HOME/lanchat/history.db`, falling back
    /// to `~/.local/share/lanchat/history.db`, or memory if neither exists.
    pub fn default_file() -> DbLocation {
        let data_home = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share"))
            });
        match data_home {
            Some(dir) => DbLocation::File(dir.join("lanchat").join("history.db")),
            None => DbLocation::Memory,
        }
    }
}

/// How much history is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many messages (the newest).
    pub max_messages: Option<u64>,
    /// Drop messages older than this many days.
    pub max_days: Option<u64>,
}

/// Who a message is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Everyone in this room.
    Room(String),
    /// Only the sender and this nickname.
    Direct(String),
}

/// A message to store, as the connection hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    /// Server time in Unix milliseconds.
    pub ts: u64,
    /// The sender's nickname.
    pub from: String,
    /// Room or recipient.
    pub target: Target,
    /// Sanitised text.
    pub text: String,
    /// A `/me` action.
    pub action: bool,
    /// The sender's idempotency key, if it gave one.
    pub client_id: Option<String>,
}

/// A message as stored: what was sent, and the id the store gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Strictly increasing across the whole server, never reused.
    pub id: u64,
    /// The message as it was handed to the store.
    pub message: NewMessage,
}

impl StoredMessage {
    /// The `message` event clients receive.
    pub fn to_server_msg(&self) -> ServerMsg {
        let message = &self.message;
        let (room, to) = match &message.target {
            Target::Room(room) => (Some(room.clone()), None),
            Target::Direct(to) => (None, Some(to.clone())),
        };
        ServerMsg::Message {
            id: self.id,
            ts: message.ts,
            from: message.from.clone(),
            text: message.text.clone(),
            room,
            to,
            action: message.action.then_some(true),
            client_id: message.client_id.clone(),
        }
    }
}

/// The outcome of an append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored now; it has been published.
    New(StoredMessage),
    /// The same sender already stored this `client_id`: here is that message.
    Duplicate(StoredMessage),
}

/// What to replay to a client.
#[derive(Clone, Debug)]
pub struct HistoryQuery {
    /// Rooms the client is in.
    pub rooms: Vec<String>,
    /// The client's case-folded nickname, for its direct messages.
    pub nick_key: String,
    /// `Some(n)`: everything after id `n` (a resume). `None`: the last
    /// `tail` messages of each room and of the direct messages.
    pub after: Option<u64>,
    /// Nothing newer than this id: the client receives newer messages live.
    pub up_to: u64,
    /// Messages per room (and for direct messages) on arrival.
    pub tail: usize,
    /// Most messages a resume replays; beyond that it is a gap.
    pub resume_limit: usize,
    /// Include the client's direct messages (not when joining one room).
    pub include_direct: bool,
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
    pub token: String,
    /// The nickname it holds.
    pub nick: String,
    /// The rooms it is in.
    pub rooms: Vec<String>,
}

/// Something went wrong in the database. The message is for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// The seam between the server and its storage. Implementations are used
/// from one thread at a time and may block.
pub trait Store: Send + 'static {
    /// Stores `batch` in one transaction, assigning ids in order. A message
    /// whose (sender, `client_id`) is already stored is not stored again.
    fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Appended>, StoreError>;
    /// Reads what a client should be replayed.
    fn history(&mut self, query: &HistoryQuery) -> Result<History, StoreError>;
    /// The highest id ever assigned (0 if none).
    fn last_id(&mut self) -> Result<u64, StoreError>;
    /// Creates or updates a session.
    fn save_session(&mut self, session: &SessionRecord) -> Result<(), StoreError>;
    /// Looks a session up by token.
    fn load_session(&mut self, token: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Applies the retention policy; returns how many messages were dropped.
    fn prune(&mut self, retention: Retention, now_ms: u64) -> Result<u64, StoreError>;
}

/// Called by the store thread after each commit with that commit's new
/// messages, in id order.
pub type Publish = Box<dyn FnMut(&[StoredMessage]) + Send>;

/// What to do once an append is committed (or has failed). Runs on the
/// store thread, so it must be quick: typically a `try_send` to a writer.
pub type Done = Box<dyn FnOnce(Result<Appended, StoreError>) + Send>;

enum Request {
    Append(NewMessage, Done),
    History(HistoryQuery, oneshot::Sender<Result<History, StoreError>>),
    SaveSession(SessionRecord),
    LoadSession(
        String,
        oneshot::Sender<Result<Option<SessionRecord>, StoreError>>,
    ),
}

/// A cheap, clonable way to reach the store thread.
#[derive(Clone, Debug)]
pub struct StoreHandle {
    requests: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("store request")
    }
}

/// Appends between retention passes.
const PRUNE_EVERY: u64 = 1000;

/// Starts the store thread. It runs until every handle is dropped, then
/// finishes what was asked of it; join the returned thread to wait.
pub fn spawn(
    mut store: Box<dyn Store>,
    mut publish: Publish,
    retention: Retention,
) -> std::io::Result<(StoreHandle, thread::JoinHandle<()>)> {
    let (requests, mut inbox) = mpsc::channel::<Request>(QUEUE_LEN);
    let thread = thread::Builder::new().name("lanchat-store".into());
    let worker = move || {
        let mut since_prune = 0_u64;
        let prune = |store: &mut Box<dyn Store>| {
            if let Err(error) = store.prune(retention, crate::hub::unix_millis()) {
                warn!(%error, "could not apply the retention policy");
            }
        };
        prune(&mut store);
        let mut pending: Option<Request> = None;
        // When the last commit started, and how many messages it held.
        let mut last_commit: Option<(Instant, usize)> = None;
        loop {
            let Some(first) = pending.take().or_else(|| inbox.blocking_recv()) else {
                return;
            };
            let Request::Append(message, reply) = first else {
                serve_other(&mut store, first);
                continue;
            };
            let delay = pacing_delay(last_commit, Instant::now());
            if !delay.is_zero() {
                thread::sleep(delay);
            }
            let started = Instant::now();
            // Group commit: take every append already waiting.
            let mut batch = vec![message];
            let mut replies = vec![reply];
            while batch.len() < MAX_BATCH {
                match inbox.try_recv() {
                    Ok(Request::Append(message, reply)) => {
                        batch.push(message);
                        replies.push(reply);
                    }
                    Ok(other) => {
                        pending = Some(other);
                        break;
                    }
                    Err(_) => break,
                }
            }
            last_commit = Some((started, batch.len()));
            match store.append(&batch) {
                Ok(outcomes) => {
                    let new: Vec<StoredMessage> = outcomes
                        .iter()
                        .filter_map(|outcome| match outcome {
                            Appended::New(stored) => Some(stored.clone()),
                            Appended::Duplicate(_) => None,
                        })
                        .collect();
                    publish(&new);
                    for (outcome, reply) in outcomes.into_iter().zip(replies) {
                        reply(Ok(outcome));
                    }
                }
                Err(error) => {
                    warn!(%error, count = batch.len(), "messages could not be stored; refusing them");
                    for reply in replies {
                        reply(Err(error.clone()));
                    }
                }
            }
            since_prune += batch.len() as u64;
            if since_prune >= PRUNE_EVERY {
                since_prune = 0;
                prune(&mut store);
            }
        }
    };
    let join = thread.spawn(worker)?;
    Ok((StoreHandle { requests }, join))
}

/// How long to let messages gather before the next commit: what is left of
/// [`MIN_COMMIT_INTERVAL`] when the last commit (started at the instant
/// given, with that many messages) held several, nothing otherwise.
fn pacing_delay(last_commit: Option<(Instant, usize)>, now: Instant) -> Duration {
    match last_commit {
        Some((started, size)) if size > 1 => {
            MIN_COMMIT_INTERVAL.saturating_sub(now.saturating_duration_since(started))
        }
        _ => Duration::ZERO,
    }
}

fn serve_other(store: &mut Box<dyn Store>, request: Request) {
    match request {
        Request::Append(..) => {}
        Request::History(query, reply) => {
            let _ = reply.send(store.history(&query));
        }
        Request::SaveSession(session) => {
            if let Err(error) = store.save_session(&session) {
                warn!(%error, "could not save a session");
            }
        }
        Request::LoadSession(token, reply) => {
            let _ = reply.send(store.load_session(&token));
        }
    }
}

impl StoreHandle {
    /// Queues a message for storing; `done` runs once it is committed (and
    /// published) or has failed. Waits only if the store's queue is full.
    /// Requests are handled in order, so one client's messages keep theirs.
    pub async fn append(&self, message: NewMessage, done: Done) {
        if let Err(mpsc::error::SendError(Request::Append(_, done))) =
            self.requests.send(Request::Append(message, done)).await
        {
            done(Err(StoreError("the message store has stopped".to_owned())));
        }
    }

    /// Stores a message and waits for the outcome.
    pub async fn append_and_wait(&self, message: NewMessage) -> Result<Appended, StoreError> {
        let (reply, answer) = oneshot::channel();
        let done: Done = Box::new(move |outcome| {
            let _ = reply.send(outcome);
        });
        self.append(message, done).await;
        answer
            .await
            .map_err(|_| StoreError("the message store has stopped".to_owned()))?
    }

    /// Reads a replay.
    pub async fn history(&self, query: HistoryQuery) -> Result<History, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.ask(Request::History(query, reply), answer).await?
    }

    /// Looks a session up.
    pub async fn load_session(&self, token: String) -> Result<Option<SessionRecord>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.ask(Request::LoadSession(token, reply), answer).await?
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
        let gone = || StoreError("the message store has stopped".to_owned());
        self.requests.send(request).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A store whose disk has gone away: every write fails.
    struct Broken;

    impl Store for Broken {
        fn append(&mut self, _: &[NewMessage]) -> Result<Vec<Appended>, StoreError> {
            Err(StoreError("disk I/O error".into()))
        }
        fn history(&mut self, _: &HistoryQuery) -> Result<History, StoreError> {
            Err(StoreError("disk I/O error".into()))
        }
        fn last_id(&mut self) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn save_session(&mut self, _: &SessionRecord) -> Result<(), StoreError> {
            Err(StoreError("disk I/O error".into()))
        }
        fn load_session(&mut self, _: &str) -> Result<Option<SessionRecord>, StoreError> {
            Ok(None)
        }
        fn prune(&mut self, _: Retention, _: u64) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    fn message(text: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            ts: 1,
            from: "alice".into(),
            target: Target::Room("lobby".into()),
            text: text.into(),
            action: false,
            client_id: client_id.map(str::to_owned),
        }
    }

    const KEEP_ALL: Retention = Retention {
        max_messages: None,
        max_days: None,
    };

    #[test]
    fn commits_are_paced_only_while_several_clients_talk() {
        let now = Instant::now();
        let micros = Duration::from_micros;
        assert_eq!(pacing_delay(None, now), Duration::ZERO, "first commit");
        assert_eq!(
            pacing_delay(Some((now, 1)), now),
            Duration::ZERO,
            "a lone message, as from one client waiting for each echo"
        );
        assert_eq!(pacing_delay(Some((now, 3)), now), MIN_COMMIT_INTERVAL);
        assert_eq!(
            pacing_delay(Some((now, 3)), now + micros(200)),
            MIN_COMMIT_INTERVAL - micros(200)
        );
        assert_eq!(
            pacing_delay(Some((now, 3)), now + Duration::from_secs(1)),
            Duration::ZERO,
            "after a quiet spell"
        );
    }

    #[tokio::test]
    async fn a_failing_store_refuses_messages_and_publishes_nothing() {
        let published = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&published);
        let publish: Publish = Box::new(move |stored| {
            count.fetch_add(stored.len(), Ordering::Relaxed);
        });
        let (store, thread) = spawn(Box::new(Broken), publish, KEEP_ALL).unwrap();
        let outcome = store.append_and_wait(message("lost?", None)).await;
        assert_eq!(outcome, Err(StoreError("disk I/O error".into())));
        assert_eq!(
            published.load(Ordering::Relaxed),
            0,
            "refused, never published"
        );
        drop(store);
        thread.join().unwrap();
    }

    #[tokio::test]
    async fn appends_are_published_in_id_order_and_duplicates_only_answered() {
        let sqlite = SqliteStore::open(&DbLocation::Memory).unwrap();
        let published = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&published);
        let publish: Publish =
            Box::new(move |stored| log.lock().unwrap().extend(stored.iter().map(|s| s.id)));
        let (store, thread) = spawn(Box::new(sqlite), publish, KEEP_ALL).unwrap();
        let senders: Vec<_> = (0..20)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .append_and_wait(message(&format!("m{i}"), Some(&format!("c{i}"))))
                        .await
                })
            })
            .collect();
        for sender in senders {
            assert!(matches!(sender.await.unwrap(), Ok(Appended::New(_))));
        }
        let again = store
            .append_and_wait(message("m3 again", Some("c3")))
            .await
            .unwrap();
        match again {
            Appended::Duplicate(original) => assert_eq!(original.message.text, "m3"),
            other => panic!("{other:?}"),
        }
        drop(store);
        thread.join().unwrap();
        let ids = published.lock().unwrap().clone();
        assert_eq!(
            ids,
            (1..=20).collect::<Vec<u64>>(),
            "each once, in id order"
        );
    }
}
