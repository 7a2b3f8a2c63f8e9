//! The store thread: the one owner of the [`Store`], which commits
//! messages in groups and publishes each group once it is committed.
//!
//! One pass of [`StoreThread::run`] reads top to bottom: take the next
//! request; if it is an append, wait out the pacing, take every append
//! already waiting into one batch, commit it, publish what is new, and
//! complete each append; now and then, apply retention.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::warn;

use super::{
    Appended, Ban, BanTarget, Completion, Kept, NewMessage, QUEUE_LEN, Request, Retention,
    SharedPresence, Store, StoreHandle, StoredMessage, WaitingPresence,
};
use crate::domain::{Clock, ConnectionId, NickKey};

/// Appends taken into one transaction at most. A commit's messages are
/// published as one event in the hub's ring, so this also bounds what one
/// ring slot holds (the ring keeps at most `queue_len` times this many).
const MAX_BATCH: usize = 256;
/// The shortest time between the starts of two commits while messages keep
/// coming. A commit costs far more than a row, and on a busy core every
/// commit also means a thread switch; docs/BENCHMARKS.md has the figures
/// that chose 500 µs. Pacing applies only while the last commit held more
/// than one message — that is, while several clients are talking at once:
/// a message after a quiet spell, or from a lone client waiting for each
/// echo, is committed at once.
const MIN_COMMIT_INTERVAL: Duration = Duration::from_micros(500);
/// Appends between retention passes.
const PRUNE_EVERY: u64 = 1000;

/// Where committed messages go: the hub, which fans them out.
pub trait Publish: Send {
    /// Takes the new messages of one commit, in id order.
    fn publish_committed(&mut self, committed: &[StoredMessage]);
    /// This server's `connection` under `nick` was taken over by another
    /// server (the same session or owner connected there): close it.
    fn taken_over(&mut self, nick: &NickKey, connection: ConnectionId) {
        let _ = (nick, connection);
    }
    /// Messages this server never read are gone from the shared log
    /// (trimmed while it was behind): its clients missed them live.
    fn fell_behind(&mut self) {}
    /// Another server (or this one) changed what every server keeps in
    /// memory: apply it here too.
    fn changed(&mut self, change: &SharedChange) {
        let _ = change;
    }
    /// A server of the group (this one too) changed who is where.
    fn presence(&mut self, change: &SharedPresence) {
        let _ = change;
    }
    /// True if what this server knows of who is where on the others may
    /// have missed changes (it fell behind the log, or its lease ran
    /// out), and should be read again.
    fn presence_stale(&mut self) -> bool {
        false
    }
    /// Who is where on the other servers, read again: replaces what was
    /// known.
    fn presence_again(&mut self, members: &[SharedPresence]) {
        let _ = members;
    }
    /// Who is where could not be read again now: ask again later.
    fn presence_again_later(&mut self) {}
}

/// A change to what each server keeps in memory (bans, which rooms are
/// private), told to every server through the shared log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SharedChange {
    /// A ban placed.
    Banned(Ban),
    /// The ban of `target` lifted from `room` (`None`: the server).
    Unbanned {
        /// Where.
        room: Option<String>,
        /// Whom.
        target: BanTarget,
    },
    /// `nick` put out of `room` (kicked), for `reason`: by the server it
    /// is connected to.
    PutOut {
        /// Whom.
        nick: String,
        /// From where.
        room: String,
        /// Why, as its rooms are told.
        reason: String,
    },
    /// `room` made private, or open.
    Privacy {
        /// Which room.
        room: String,
        /// Private now.
        private: bool,
    },
}

/// A closure publishes too (tests, benchmarks).
impl<F: FnMut(&[StoredMessage]) + Send> Publish for F {
    fn publish_committed(&mut self, committed: &[StoredMessage]) {
        self(committed);
    }
}

/// Starts the store thread. It runs until every handle is dropped, then
/// finishes what was asked of it; join the returned thread to wait.
pub fn spawn(
    store: Box<dyn Store>,
    publisher: Box<dyn Publish>,
    retention: Retention,
    clock: Clock,
) -> std::io::Result<(StoreHandle, thread::JoinHandle<()>)> {
    let (requests, inbox) = mpsc::channel::<Request>(QUEUE_LEN);
    let presence = Arc::new(WaitingPresence::default());
    let store_thread = StoreThread {
        presence: Arc::clone(&presence),
        store,
        publisher,
        inbox,
        retention,
        clock,
        held_back: None,
        last_commit: None,
        since_prune: 0,
    };
    let join = thread::Builder::new()
        .name("lanchat-store".into())
        .spawn(move || store_thread.run())?;
    let reads = requests.clone();
    let handle = StoreHandle {
        requests,
        presence,
        reads,
    };
    Ok((handle, join))
}

/// Starts a thread of its own for history reads, with `reader` (a second
/// connection to the same database), and sends `handle`'s reads there from
/// now on: a resume storm then waits in its own queue, and nobody's message
/// waits behind it. Reads are answered in the order asked, one at a time,
/// so every client gets its turn. The thread ends with the last handle.
pub fn spawn_history_reader(
    handle: &mut StoreHandle,
    mut reader: Box<dyn Store>,
    retention: Retention,
    clock: Clock,
) -> std::io::Result<thread::JoinHandle<()>> {
    let (reads, mut inbox) = mpsc::channel::<Request>(QUEUE_LEN);
    let join = thread::Builder::new()
        .name("lanchat-history".into())
        .spawn(move || {
            while let Some(request) = inbox.blocking_recv() {
                let kept = Kept::at(retention, clock.now_millis());
                match request {
                    Request::Recent(query, reply) => {
                        let _ = reply.send(reader.recent(&query, kept));
                    }
                    Request::Since(query, reply) => {
                        let _ = reply.send(reader.since(&query, kept));
                    }
                    Request::ResumeStart(query, reply) => {
                        let _ = reply.send(reader.resume_start(&query, kept));
                    }
                    // Only reads are sent here.
                    _ => {}
                }
            }
        })?;
    handle.reads = reads;
    Ok(join)
}

/// The store thread's state.
struct StoreThread {
    store: Box<dyn Store>,
    /// Changes of who is where to share before each request.
    presence: Arc<WaitingPresence>,
    publisher: Box<dyn Publish>,
    inbox: mpsc::Receiver<Request>,
    retention: Retention,
    clock: Clock,
    /// A request that was not an append, met while gathering a batch; it
    /// is served next, so requests keep their order.
    held_back: Option<Request>,
    /// When the last commit started, and how many messages it held.
    last_commit: Option<(Instant, usize)>,
    /// Appends since retention was last applied.
    since_prune: u64,
}

/// One group commit: the messages and, in the same order, who to tell.
struct Batch {
    messages: Vec<NewMessage>,
    completions: Vec<Box<dyn Completion>>,
}

impl StoreThread {
    fn run(mut self) {
        self.prune();
        while let Some(request) = self.next_request() {
            self.share_presence();
            match request {
                Request::Append(message, done) => {
                    self.wait_for_pacing();
                    self.last_commit = Some((Instant::now(), 1));
                    let batch = self.take_batch(message, done);
                    self.commit(batch);
                }
                other => self.serve(other),
            }
        }
        // The last leaves of a server that shuts down.
        self.share_presence();
    }

    fn next_request(&mut self) -> Option<Request> {
        self.held_back.take().or_else(|| self.inbox.blocking_recv())
    }

    fn wait_for_pacing(&self) {
        let delay = pacing_delay(self.last_commit, Instant::now());
        if !delay.is_zero() {
            thread::sleep(delay);
        }
    }

    /// The first append and every append already waiting, up to [`MAX_BATCH`].
    fn take_batch(&mut self, message: NewMessage, done: Box<dyn Completion>) -> Batch {
        let mut batch = Batch {
            messages: vec![message],
            completions: vec![done],
        };
        while batch.messages.len() < MAX_BATCH {
            match self.inbox.try_recv() {
                Ok(Request::Append(message, done)) => {
                    batch.messages.push(message);
                    batch.completions.push(done);
                }
                // The batch's commit shares what waits first.
                Ok(Request::SharePresence) => {}
                Ok(other) => {
                    self.held_back = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        batch
    }

    /// Hands the store the changes of who is where that wait, before the
    /// request at hand: they were made before it was asked.
    fn share_presence(&mut self) {
        let changes = self.presence.take();
        if changes.is_empty() {
            return;
        }
        if let Err(error) = self.store.share_presence(changes) {
            warn!(
                error = error.explained(),
                "could not tell the other servers who is where yet; told when the store is back"
            );
        }
    }

    /// Commits, then publishes what is new, then completes each append:
    /// so a sender hears of a duplicate or a failure only after everyone
    /// has the messages that did go through.
    fn commit(&mut self, batch: Batch) {
        // The commit started when its batch began to gather (set by the
        // caller); now it is known how many messages it holds.
        let started = self
            .last_commit
            .map_or_else(Instant::now, |(started, _)| started);
        self.last_commit = Some((started, batch.messages.len()));
        // Changes made while the batch gathered come before its messages.
        self.share_presence();
        match self.store.append(&batch.messages) {
            Ok(outcomes) => {
                let new: Vec<StoredMessage> = outcomes
                    .iter()
                    .filter_map(|outcome| match outcome {
                        Appended::New(stored) => Some(stored.clone()),
                        Appended::Duplicate(_) => None,
                    })
                    .collect();
                self.publisher.publish_committed(&new);
                for (outcome, done) in outcomes.into_iter().zip(batch.completions) {
                    done.complete(Ok(outcome));
                }
            }
            Err(error) => {
                let count = batch.messages.len();
                let explained = error.explained();
                warn!(
                    error = explained,
                    count, "messages could not be stored; refusing them"
                );
                for done in batch.completions {
                    done.complete(Err(error.clone()));
                }
            }
        }
        self.since_prune += batch.messages.len() as u64;
        if self.since_prune >= PRUNE_EVERY {
            self.since_prune = 0;
            self.prune();
        }
    }

    /// Everything but an append: reads answered at once, session saves.
    fn serve(&mut self, request: Request) {
        match request {
            Request::Append(message, done) => self.commit(Batch {
                messages: vec![message],
                completions: vec![done],
            }),
            Request::Recent(query, reply) => {
                let _ = reply.send(self.store.recent(&query, self.kept()));
            }
            Request::Since(query, reply) => {
                let _ = reply.send(self.store.since(&query, self.kept()));
            }
            Request::ResumeStart(query, reply) => {
                let _ = reply.send(self.store.resume_start(&query, self.kept()));
            }
            Request::Prune => self.prune(),
            Request::SaveSession(session) => {
                let now = self.clock.now_millis();
                if let Err(error) = self.store.save_session(&session, now) {
                    warn!(error = error.explained(), "could not save a session");
                }
            }
            Request::LoadSession(token, reply) => {
                let _ = reply.send(self.store.load_session(&token));
            }
            Request::Job(job) => job(self.store.as_mut(), self.clock.now_millis()),
            // Shared before every request (see `run`).
            Request::SharePresence => {}
        }
    }

    /// What retention keeps now.
    fn kept(&self) -> Kept {
        Kept::at(self.retention, self.clock.now_millis())
    }

    fn prune(&mut self) {
        if let Err(error) = self.store.prune(self.retention, self.clock.now_millis()) {
            warn!(
                error = error.explained(),
                "could not apply the retention policy"
            );
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::domain::{MessageKind, NickKey, SessionToken, Target};
    use crate::store::{
        Ban, BanTarget, Claimed, NickClaim, OperatorChange, Privacy, RoomRecord, Topic,
    };
    use crate::store::{
        DbLocation, History, Kept, RecentQuery, ResumeStart, SessionRecord, SinceQuery,
        SqliteStore, StoreError,
    };
    use lanchat_shared::Fingerprint;

    /// A store whose disk has gone away: every write and read fails. It
    /// can also count retention passes, or hold history reads until the
    /// test lets them go (then they find nothing).
    #[derive(Default)]
    struct Broken {
        prunes: Option<Arc<AtomicUsize>>,
        stuck_reads: Option<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>,
    }

    fn disk_error() -> StoreError {
        StoreError::caused_by(
            "cannot store messages",
            std::io::Error::other("disk I/O error"),
        )
    }

    impl Store for Broken {
        fn append(&mut self, _: &[NewMessage]) -> Result<Vec<Appended>, StoreError> {
            Err(disk_error())
        }
        fn recent(&mut self, _: &RecentQuery, _: Kept) -> Result<History, StoreError> {
            Err(disk_error())
        }
        fn since(&mut self, _: &SinceQuery, _: Kept) -> Result<History, StoreError> {
            let Some(stuck) = &self.stuck_reads else {
                return Err(disk_error());
            };
            let _ = stuck.lock().unwrap().recv();
            Ok(History::default())
        }
        fn resume_start(&mut self, _: &SinceQuery, _: Kept) -> Result<ResumeStart, StoreError> {
            Err(disk_error())
        }
        fn history_id(&mut self) -> Result<String, StoreError> {
            Err(disk_error())
        }
        fn owner_of(
            &mut self,
            _: &NickKey,
            _: u64,
            _: u64,
        ) -> Result<Option<Fingerprint>, StoreError> {
            Err(disk_error())
        }
        fn claim_nick(
            &mut self,
            _: &NickClaim,
            _: &mut dyn FnMut() -> bool,
            _: u64,
        ) -> Result<Claimed, StoreError> {
            Err(disk_error())
        }
        fn release_nick(
            &mut self,
            _: &NickKey,
            _: Option<&Fingerprint>,
        ) -> Result<bool, StoreError> {
            Err(disk_error())
        }
        fn room(&mut self, _: &str) -> Result<RoomRecord, StoreError> {
            Err(disk_error())
        }
        fn found_room(&mut self, _: &str, _: Option<&Fingerprint>) -> Result<bool, StoreError> {
            Err(disk_error())
        }
        fn set_operator(
            &mut self,
            _: &str,
            _: &Fingerprint,
            _: OperatorChange,
        ) -> Result<bool, StoreError> {
            Err(disk_error())
        }
        fn set_topic(&mut self, _: &str, _: &Topic) -> Result<(), StoreError> {
            Err(disk_error())
        }
        fn set_privacy(&mut self, _: &str, _: &Privacy) -> Result<(), StoreError> {
            Err(disk_error())
        }
        fn private_rooms(&mut self) -> Result<Vec<String>, StoreError> {
            Err(disk_error())
        }
        fn topics(&mut self, _: &[String]) -> Result<Vec<(String, String)>, StoreError> {
            Err(disk_error())
        }
        fn load_bans(&mut self, _: u64) -> Result<Vec<Ban>, StoreError> {
            Err(disk_error())
        }
        fn add_ban(&mut self, _: &Ban) -> Result<(), StoreError> {
            Err(disk_error())
        }
        fn remove_ban(&mut self, _: Option<&str>, _: &BanTarget) -> Result<(), StoreError> {
            Err(disk_error())
        }
        fn last_id(&mut self) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn save_session(&mut self, _: &SessionRecord, _: u64) -> Result<(), StoreError> {
            Err(disk_error())
        }
        fn load_session(&mut self, _: &SessionToken) -> Result<Option<SessionRecord>, StoreError> {
            Ok(None)
        }
        fn prune(&mut self, _: Retention, _: u64) -> Result<u64, StoreError> {
            if let Some(prunes) = &self.prunes {
                prunes.fetch_add(1, Ordering::Relaxed);
            }
            Ok(0)
        }
    }

    #[tokio::test]
    async fn retention_runs_at_start_and_when_asked_without_any_append() {
        let prunes = Arc::new(AtomicUsize::new(0));
        let store = Broken {
            prunes: Some(Arc::clone(&prunes)),
            ..Broken::default()
        };
        let (handle, thread) = spawn(
            Box::new(store),
            Box::new(|_: &[StoredMessage]| {}),
            KEEP_ALL,
            Clock::system(),
        )
        .unwrap();
        handle.prune_soon();
        // Requests are served in order: once this is answered, so is the prune.
        let _ = handle.load_session(SessionToken::generate().unwrap()).await;
        assert_eq!(prunes.load(Ordering::Relaxed), 2, "at start, and asked");
        drop(handle);
        thread.join().unwrap();
    }

    #[tokio::test]
    async fn a_history_read_in_progress_does_not_hold_up_messages() {
        let sqlite = SqliteStore::open(&DbLocation::Memory).unwrap();
        let (mut handle, thread) = spawn(
            Box::new(sqlite),
            Box::new(|_: &[StoredMessage]| {}),
            KEEP_ALL,
            Clock::system(),
        )
        .unwrap();
        let (release, stuck) = std::sync::mpsc::channel();
        let reader = Broken {
            stuck_reads: Some(std::sync::Mutex::new(stuck)),
            ..Broken::default()
        };
        let history =
            spawn_history_reader(&mut handle, Box::new(reader), KEEP_ALL, Clock::system()).unwrap();
        let query = SinceQuery {
            rooms: vec!["lobby".into()],
            direct_of: Some(Fingerprint::of_public_key(b"bob")),
            after: 0,
            up_to: u64::MAX,
            limit: 5000,
            direct_with: None,
        };
        let reading = tokio::spawn({
            let handle = handle.clone();
            async move { handle.since(query).await }
        });
        // The read is stuck; a message is stored and answered all the same.
        let stored = tokio::time::timeout(
            Duration::from_secs(10),
            handle.append_and_wait(message("while someone resumes", None)),
        )
        .await
        .expect("the message does not wait for the read");
        assert!(matches!(stored, Ok(Appended::New(_))));
        assert!(!reading.is_finished());
        release.send(()).unwrap();
        assert_eq!(reading.await.unwrap().unwrap(), History::default());
        drop(handle);
        thread.join().unwrap();
        history.join().unwrap();
    }

    fn message(text: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            ts: 1,
            from: "alice".into(),
            target: Target::Room("lobby".into()),
            text: text.into(),
            kind: MessageKind::Text,
            client_id: client_id.map(str::to_owned),
            sender_identity: None,
            recipient_identity: None,
            retry_scope: Some("guest:alice's session".into()),
            origin: None,
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
    async fn a_failing_store_refuses_messages_keeping_the_cause_and_publishes_nothing() {
        let published = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&published);
        let publish = move |stored: &[StoredMessage]| {
            count.fetch_add(stored.len(), Ordering::Relaxed);
        };
        let (store, thread) = spawn(
            Box::new(Broken::default()),
            Box::new(publish),
            KEEP_ALL,
            Clock::system(),
        )
        .unwrap();
        let error = store
            .append_and_wait(message("lost?", None))
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "cannot store messages");
        assert_eq!(error.explained(), "cannot store messages: disk I/O error");
        let cause = std::error::Error::source(&error).expect("the cause is kept");
        assert_eq!(cause.to_string(), "disk I/O error");
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
        let publish = move |stored: &[StoredMessage]| {
            log.lock().unwrap().extend(stored.iter().map(|s| s.id));
        };
        let (store, thread) = spawn(
            Box::new(sqlite),
            Box::new(publish),
            KEEP_ALL,
            Clock::system(),
        )
        .unwrap();
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
