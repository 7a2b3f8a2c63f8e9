//! The log reader: the thread that follows the shared log and publishes
//! every message in it, in id order, to this server's hub.
//!
//! A server does not publish its own appends: it publishes what it reads
//! here, as every other server does, so a client on any server sees the
//! messages of all servers in one order, the order of their ids. The
//! reader blocks on a connection of its own (`XREAD BLOCK`), so neither
//! appends nor history reads wait behind it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use redis::streams::StreamReadReply;
use tracing::{error, info, warn};

use super::{Body, LEASE, Link, ServerName, StoreError, entry_id};
use super::{presence, records};
use crate::store::{
    BanTarget, ConnectionId, NickKey, PresenceSource, Publish, SharedChange, SharedPresence,
    StoredMessage,
};

/// Entries read at once: one commit's worth, published as one hub event.
const BATCH: usize = 256;
/// How long one read blocks when there is nothing new; bounds how long the
/// thread takes to notice that it should stop.
const BLOCK_MS: u64 = 500;
/// Time between attempts to reach a Redis that went away.
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// Where a server's reading of the shared log stands.
#[derive(Debug)]
pub struct LogReader {
    link: Link,
    server: ServerName,
    /// The history this server serves: an entry of another (Redis was
    /// emptied or replaced while the server ran) is never published.
    history: String,
    seen: Arc<AtomicU64>,
    /// The last message id published.
    after: u64,
    /// The last entry read (`<id>-<n>`): a message is `<id>-0`, what
    /// happens between messages `<id>` and `<id + 1>` (a nickname taken
    /// over) is `<id>-1`, `<id>-2`, ...
    last_entry: String,
    /// The last entry of the log when who is where was read: changes up
    /// to it are known already, and telling them again would show members
    /// as they were before, for a moment.
    presence_known_through: Option<presence::Position>,
}

impl LogReader {
    pub(super) fn new(
        link: Link,
        server: ServerName,
        history: String,
        seen: Arc<AtomicU64>,
        after: u64,
    ) -> LogReader {
        seen.fetch_max(after, Ordering::AcqRel);
        LogReader {
            link,
            server,
            history,
            seen,
            after,
            last_entry: format!("{after}-0"),
            presence_known_through: None,
        }
    }

    /// Who is where on the other servers now: read before the first read
    /// of the log, which goes on from the last message; the changes it
    /// meets that this reading knows already are skipped.
    pub fn presence_now(&mut self) -> Result<Vec<SharedPresence>, StoreError> {
        let (members, through) = presence::now(&mut self.link, &self.server.0)?;
        self.presence_known_through = through;
        Ok(members)
    }

    /// Who is where on the other servers now, read again while the
    /// server runs. The changes the reader has yet to read are not
    /// skipped: their events are news to clients connected meanwhile, and
    /// each sets its member as it was then, so the last one read leaves
    /// the member as the log last told it.
    fn presence_again(&mut self) -> Result<Vec<SharedPresence>, StoreError> {
        presence::now(&mut self.link, &self.server.0).map(|(members, _)| members)
    }

    /// The next entries after the last read, waiting up to [`BLOCK_MS`]
    /// for some: the messages, and the nicknames of this server's
    /// connections that other servers took over.
    fn read(&mut self) -> Result<Read, StoreError> {
        let after = self.last_entry.clone();
        // Where this server stands, for a lease: retention does not trim
        // the log past what a live server has read, nor drop the entries
        // between messages that it has not.
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(format!("lanchat:reader:{}", self.server.0))
            .arg(&after)
            .arg("PX")
            .arg(u64::try_from(LEASE.as_millis()).unwrap_or(u64::MAX))
            .ignore()
            .cmd("XREAD")
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg("lanchat:log")
            .arg(after);
        let (reply,): (Option<StreamReadReply>,) = self
            .link
            .run("cannot read the shared log", |c| pipe.query(c))?;

        let entries = reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|key| key.ids);
        let mut read = Read::default();
        for entry in entries {
            self.last_entry.clone_from(&entry.id);
            let history: Option<String> = entry.get("h");
            if history.as_deref() != Some(self.history.as_str()) {
                error!(
                    entry = entry.id,
                    "the shared log holds another history than the one this server serves (Redis was emptied or replaced); not published, restart the server"
                );
                continue;
            }
            if !entry.id.ends_with("-0") {
                self.read_change(&entry, &mut read);
                continue;
            }
            let Some(id) = entry_id(&entry.id) else {
                continue;
            };
            if id != self.after + 1 {
                // Ids have no gaps, so a jump means retention trimmed what
                // this server had not read yet.
                warn!(
                    from = self.after + 1,
                    to = id.saturating_sub(1),
                    "the shared log was trimmed past what this server had read; its clients are told to reconnect"
                );
                read.steps.push(Step::FellBehind);
            }
            self.after = id;
            let origin: Option<String> = entry.get("o");
            let origin = origin.and_then(|origin| self.server.own_connection(&origin));
            let json: Option<String> = entry.get("m");
            let body = json.and_then(|json| serde_json::from_str::<Body>(&json).ok());
            match body {
                Some(body) => read.message(body.into_stored(id, origin)),
                None => error!(id, "a message in the shared log cannot be read; skipped"),
            }
        }
        self.seen.fetch_max(self.after, Ordering::AcqRel);
        Ok(read)
    }
}

impl LogReader {
    /// What an entry between messages says: a nickname of this server's
    /// taken over, or a change every server applies.
    fn read_change(&self, entry: &redis::streams::StreamId, read: &mut Read) {
        let field = |name: &str| entry.get::<String>(name);
        match field("k").as_deref() {
            Some("reclaim") => {
                let ours = field("c").and_then(|c| self.server.own_connection(&c));
                if let (Some(nick), Some(connection)) = (field("n"), ours) {
                    read.steps
                        .push(Step::TakenOver(NickKey::of(&nick), connection));
                }
            }
            Some("ban") => {
                if let Some(ban) = field("b").and_then(|json| records::ban_from_json(&json)) {
                    read.steps.push(Step::Changed(SharedChange::Banned(ban)));
                }
            }
            Some("unban") => {
                let target = field("g").and_then(|target| BanTarget::parse(&target));
                if let (Some(room), Some(target)) = (field("r"), target) {
                    let room = (!room.is_empty()).then_some(room);
                    let change = SharedChange::Unbanned { room, target };
                    read.steps.push(Step::Changed(change));
                }
            }
            Some("putout") => {
                if let (Some(nick), Some(room), Some(reason)) = (field("n"), field("r"), field("w"))
                {
                    let change = SharedChange::PutOut { nick, room, reason };
                    read.steps.push(Step::Changed(change));
                }
            }
            Some("presence") => {
                let position = presence::entry_position(&entry.id);
                if position > self.presence_known_through {
                    read.steps.push(Step::Presence(self.presence(entry)));
                }
            }
            Some("privacy") => {
                if let (Some(room), Some(private)) = (field("r"), field("p")) {
                    let private = private == "1";
                    let change = SharedChange::Privacy { room, private };
                    read.steps.push(Step::Changed(change));
                }
            }
            _ => {}
        }
    }
}

impl LogReader {
    /// A change of who is where: a `presence` entry of no server is one
    /// that the reaper appended for a member of a server it found dead.
    fn presence(&self, entry: &redis::streams::StreamId) -> SharedPresence {
        let field = |name: &str| entry.get::<String>(name).unwrap_or_default();
        let origin = field("s");
        let source = if origin.is_empty() {
            PresenceSource::Lost
        } else if origin == self.server.0 {
            PresenceSource::Ours
        } else {
            PresenceSource::Theirs
        };
        SharedPresence {
            source,
            nick: field("n"),
            was: field("x"),
            member: field("p"),
            events: field("e"),
        }
    }
}

/// What one read of the log found, in the log's order: a ban between two
/// messages is applied before the second is published.
#[derive(Debug, Default)]
struct Read {
    steps: Vec<Step>,
}

/// One thing to do with what was read.
#[derive(Debug)]
enum Step {
    /// Publish these messages (those between two other steps, together).
    Messages(Vec<StoredMessage>),
    /// Close this server's connection whose nickname another server took.
    TakenOver(NickKey, ConnectionId),
    /// Apply a change every server keeps.
    Changed(SharedChange),
    /// Apply a change of who is where.
    Presence(SharedPresence),
    /// Ids were missing here: cut every client before going on.
    FellBehind,
}

impl Read {
    /// Adds a message to the messages being gathered.
    fn message(&mut self, message: StoredMessage) {
        match self.steps.last_mut() {
            Some(Step::Messages(messages)) => messages.push(message),
            _ => self.steps.push(Step::Messages(vec![message])),
        }
    }

    /// Does every step, in order.
    fn apply(&self, publisher: &mut dyn Publish) {
        for step in &self.steps {
            match step {
                Step::Messages(messages) => publisher.publish_committed(messages),
                Step::TakenOver(nick, connection) => publisher.taken_over(nick, *connection),
                Step::Changed(change) => publisher.changed(change),
                Step::Presence(change) => publisher.presence(change),
                Step::FellBehind => publisher.fell_behind(),
            }
        }
    }
}

/// Reads who is where on the other servers anew, for a publisher that
/// may have missed changes; if Redis cannot tell now, the publisher asks
/// again after the next read.
fn read_presence_again(reader: &mut LogReader, publisher: &mut dyn Publish) {
    match reader.presence_again() {
        Ok(members) => publisher.presence_again(&members),
        Err(failure) => {
            warn!(error = %failure.explained(), "cannot read who is where again; trying later");
            publisher.presence_again_later();
        }
    }
}

/// Starts the thread that reads the log and publishes to `publisher`
/// until `stop` is set. A Redis that goes away is tried again every
/// [`RETRY_AFTER`]; reading resumes after the last id published, so
/// nothing is missed or published twice.
pub fn spawn_log_reader(
    mut reader: LogReader,
    mut publisher: Box<dyn Publish>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("lanchat-log".into())
        .spawn(move || {
            let mut lost = false;
            while !stop.load(Ordering::Acquire) {
                match reader.read() {
                    Ok(read) => {
                        if lost {
                            info!(after = reader.after, "the shared log is back");
                            lost = false;
                        }
                        read.apply(publisher.as_mut());
                        if publisher.presence_stale() {
                            read_presence_again(&mut reader, publisher.as_mut());
                        }
                    }
                    Err(failure) => {
                        if !lost {
                            warn!(error = %failure.explained(), "the shared log cannot be read; trying again");
                            lost = true;
                        }
                        thread::sleep(RETRY_AFTER);
                    }
                }
            }
        })
}
