//! How grouped commits pay off: many senders appending at once through the
//! store thread, on a real SQLite file, counting transactions.

#![allow(clippy::unwrap_used, clippy::panic)] // A benchmark, not network-facing code.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use lanchat_server::domain::{Clock, MessageKind, NickKey, SessionToken};
use lanchat_server::store::{
    self, Appended, Ban, BanTarget, Claimed, DbLocation, History, Kept, NewMessage, NickClaim,
    OperatorChange, Privacy, RecentQuery, ResumeStart, Retention, RoomRecord, SessionRecord,
    SinceQuery, SqliteStore, Store, StoreError, Target, Topic,
};
use lanchat_shared::Fingerprint;

/// Delegates to SQLite and counts `append` calls: one call, one transaction.
struct Counting {
    inner: SqliteStore,
    transactions: Arc<AtomicU64>,
}

impl Store for Counting {
    fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Appended>, StoreError> {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.inner.append(batch)
    }
    fn recent(&mut self, query: &RecentQuery, kept: Kept) -> Result<History, StoreError> {
        self.inner.recent(query, kept)
    }
    fn since(&mut self, query: &SinceQuery, kept: Kept) -> Result<History, StoreError> {
        self.inner.since(query, kept)
    }
    fn resume_start(&mut self, query: &SinceQuery, kept: Kept) -> Result<ResumeStart, StoreError> {
        self.inner.resume_start(query, kept)
    }
    fn last_id(&mut self) -> Result<u64, StoreError> {
        self.inner.last_id()
    }
    fn history_id(&mut self) -> Result<String, StoreError> {
        self.inner.history_id()
    }
    fn save_session(&mut self, session: &SessionRecord, now_ms: u64) -> Result<(), StoreError> {
        self.inner.save_session(session, now_ms)
    }
    fn load_session(&mut self, token: &SessionToken) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.load_session(token)
    }
    fn prune(&mut self, retention: Retention, now_ms: u64) -> Result<u64, StoreError> {
        self.inner.prune(retention, now_ms)
    }
    fn owner_of(
        &mut self,
        nick: &NickKey,
        unused_ms: u64,
        now_ms: u64,
    ) -> Result<Option<Fingerprint>, StoreError> {
        self.inner.owner_of(nick, unused_ms, now_ms)
    }
    fn claim_nick(
        &mut self,
        claim: &NickClaim,
        may_add: &mut dyn FnMut() -> bool,
        now_ms: u64,
    ) -> Result<Claimed, StoreError> {
        self.inner.claim_nick(claim, may_add, now_ms)
    }
    fn release_nick(
        &mut self,
        nick: &NickKey,
        by: Option<&Fingerprint>,
    ) -> Result<bool, StoreError> {
        self.inner.release_nick(nick, by)
    }
    fn room(&mut self, room: &str) -> Result<RoomRecord, StoreError> {
        self.inner.room(room)
    }
    fn found_room(
        &mut self,
        room: &str,
        founder: Option<&Fingerprint>,
    ) -> Result<bool, StoreError> {
        self.inner.found_room(room, founder)
    }
    fn set_operator(
        &mut self,
        room: &str,
        identity: &Fingerprint,
        change: OperatorChange,
    ) -> Result<bool, StoreError> {
        self.inner.set_operator(room, identity, change)
    }
    fn set_topic(&mut self, room: &str, topic: &Topic) -> Result<(), StoreError> {
        self.inner.set_topic(room, topic)
    }
    fn set_privacy(&mut self, room: &str, privacy: &Privacy) -> Result<(), StoreError> {
        self.inner.set_privacy(room, privacy)
    }
    fn private_rooms(&mut self) -> Result<Vec<String>, StoreError> {
        self.inner.private_rooms()
    }
    fn topics(&mut self, rooms: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.topics(rooms)
    }
    fn load_bans(&mut self, now_ms: u64) -> Result<Vec<Ban>, StoreError> {
        self.inner.load_bans(now_ms)
    }
    fn add_ban(&mut self, ban: &Ban) -> Result<(), StoreError> {
        self.inner.add_ban(ban)
    }
    fn remove_ban(&mut self, room: Option<&str>, target: &BanTarget) -> Result<(), StoreError> {
        self.inner.remove_ban(room, target)
    }
}

fn message(sender: usize, n: usize) -> NewMessage {
    NewMessage {
        ts: 1_795_000_000_000,
        from: format!("user{sender}"),
        target: Target::Room("lobby".into()),
        text: format!(
            "message {n} from sender {sender}, about a hundred bytes of text to look like chat ....."
        ),
        kind: MessageKind::Text,
        client_id: Some(format!("{sender}-{n}")),
        sender_identity: None,
        recipient_identity: None,
        retry_scope: Some(format!("guest:{sender}")),
        origin: None,
    }
}

/// `senders` tasks each store `each` messages, every one waiting for its
/// commit before the next (as a careful client waits for its echo).
async fn run(senders: usize, each: usize) -> (f64, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&DbLocation::File(dir.path().join("bench.db"))).unwrap();
    let transactions = Arc::new(AtomicU64::new(0));
    let counting = Counting {
        inner: sqlite,
        transactions: Arc::clone(&transactions),
    };
    let published = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&published);
    let retention = Retention {
        max_messages: None,
        max_days: None,
    };
    let (handle, thread) = store::spawn(
        Box::new(counting),
        Box::new(move |stored: &[store::StoredMessage]| {
            seen.fetch_add(stored.len() as u64, Ordering::Relaxed);
        }),
        retention,
        Clock::system(),
    )
    .unwrap();
    let start = Instant::now();
    let tasks: Vec<_> = (0..senders)
        .map(|sender| {
            let handle = handle.clone();
            tokio::spawn(async move {
                for n in 0..each {
                    handle.append_and_wait(message(sender, n)).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(handle);
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(published.load(Ordering::Relaxed), (senders * each) as u64);
    (
        seconds,
        transactions.load(Ordering::Relaxed),
        (senders * each) as u64,
    )
}

#[tokio::main]
async fn main() {
    println!("lanchat store benchmark (SQLite file, WAL, synchronous=NORMAL, one store thread)");
    println!(
        "{:>8} {:>10} {:>10} {:>14} {:>14} {:>16}",
        "senders", "messages", "seconds", "messages/s", "transactions", "messages/commit"
    );
    for (senders, each) in [(1, 2000), (10, 1000), (100, 200), (1000, 20)] {
        let (seconds, transactions, messages) = run(senders, each).await;
        println!(
            "{senders:>8} {messages:>10} {seconds:>10.3} {:>14.0} {transactions:>14} {:>16.1}",
            messages as f64 / seconds,
            messages as f64 / transactions as f64
        );
    }
}
