//! The Redis implementation of [`Store`]: the shared state of several
//! servers that serve the same rooms (`--redis`).
//!
//! Keys, all under `lanchat:`:
//! - `next_id`: the last id given out. One counter for every server, raised
//!   in the same script that appends ([`scripts`]), so ids are one strictly
//!   increasing sequence for the whole deployment, without gaps.
//! - `log`: a stream of every message, entry id `<id>-0`, fields `t` (time),
//!   `m` (the message as JSON, [`Body`]), `o` (the server and connection
//!   that sent it) and `h` (the history it belongs to). Every server reads it ([`log`]) and publishes what it
//!   reads, its own messages included, so all clients see one order.
//! - `room:<room>` and `dm:<fingerprint>`: the same entries per room and per
//!   identity's direct messages, so that history reads one short stream
//!   instead of filtering the log; `streams` names them all for retention.
//! - `retry:<scope> <client_id>`: the id a retry finds (kept a week).
//! - `pruned_through`, `history_id`; `session:<token>` and the `sessions`
//!   index; `owner:<nick key>`, `owners`, `owned:<identity>`; `rooms`,
//!   `roominfo:<room>`, `ops:<room>`, `private`; `bans` ([`records`]).
//!
//! Durability is Redis's: an append is acknowledged once Redis has
//! executed it, so with `appendonly yes` and `appendfsync always` an echo
//! means "on Redis's disk"; with `everysec`, a Redis crash can lose the last
//! second of acknowledged messages. [`RedisStore::open`] logs a warning for
//! anything weaker than `always`.

mod log;
mod migrate;
mod presence;
mod records;
mod scripts;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lanchat_shared::Fingerprint;
use redis::streams::StreamRangeReply;
use redis::{Connection, RedisError, RedisResult};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::{
    Appended, Ban, BanTarget, Claimed, Elsewhere, History, Kept, Lease, MessageKind, NewMessage,
    NickClaim, NickKey, Online, OnlineClaim, OperatorChange, PresenceChange, Privacy, RecentQuery,
    ResumeStart, Retention, RoomRecord, SessionRecord, SessionToken, SinceQuery, Store, StoreError,
    StoredMessage, Target, Topic,
};
use crate::domain::ConnectionId;
pub use log::{LogReader, spawn_log_reader};
pub use migrate::Migrated;
use scripts::Scripts;

/// Most entries one read asks a stream for: the server's own limits
/// (history, resume) are far below it; a setting above it is cut here
/// rather than sent to Redis as a number it refuses.
const MAX_READ: usize = 100_000;

/// How long a server's hold on its nicknames lasts unless renewed: a
/// server that stopped without saying so (killed, its cable pulled) has
/// its nicknames freed by another server within this and one renewal.
const LEASE: Duration = Duration::from_secs(10);
/// How often a server renews its lease (and looks for servers whose lease
/// ran out): four times a lease, so a slow Redis or a busy store thread
/// does not let a live server's lease run out.
pub const LEASE_RENEWAL: Duration = Duration::from_millis(2500);

/// Longest wait to connect to Redis: it is on the LAN or the same box.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for one reply. A Redis that takes longer is treated as
/// gone, so the store thread (and every sender waiting on it) is never
/// stuck behind it; the message is refused, not lost.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection to Redis, made again after it broke.
struct Link {
    client: redis::Client,
    connection: Option<Connection>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("connected", &self.connection.is_some())
            .finish()
    }
}

impl Link {
    fn open(url: &str) -> Result<Link, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|error| StoreError::caused_by("the Redis URL cannot be used", error))?;
        Ok(Link {
            client,
            connection: None,
        })
    }

    /// Runs `query` on the connection, connecting first if there is none.
    /// A connection that failed is dropped, so the next call tries anew.
    fn run<T>(
        &mut self,
        doing: &str,
        query: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let outcome = self.connected().and_then(query);
        outcome.map_err(|error| {
            if broken(&error) {
                self.connection = None;
            }
            StoreError::caused_by(format!("{doing}: Redis"), error)
        })
    }

    /// Runs `query`, a read, and once more on a new connection if the one
    /// it had turned out to be broken: after Redis came back, the first
    /// read on each old connection fails, and a read can safely be asked
    /// twice (a write cannot: Redis may have run it).
    fn read<T>(
        &mut self,
        doing: &str,
        query: impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let had_connection = self.connection.is_some();
        match self.run(doing, &query) {
            Err(_) if had_connection && self.connection.is_none() => self.run(doing, query),
            outcome => outcome,
        }
    }

    fn connected(&mut self) -> RedisResult<&mut Connection> {
        if self.connection.is_none() {
            let connection = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
            connection.set_read_timeout(Some(REPLY_TIMEOUT))?;
            connection.set_write_timeout(Some(REPLY_TIMEOUT))?;
            self.connection = Some(connection);
        }
        self.connection
            .as_mut()
            .ok_or_else(|| RedisError::from(std::io::Error::other("not connected")))
    }
}

/// Whether `error` leaves the connection unusable (rather than being a
/// reply, such as a script's refusal).
fn broken(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_unrecoverable_error()
}

/// A message as the log keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct Body {
    ts: u64,
    from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    text: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    action: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    notice: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sender_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recipient_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_scope: Option<String>,
}

impl Body {
    fn of(message: &NewMessage) -> Body {
        let (room, to) = match &message.target {
            Target::Room(room) => (Some(room.clone()), None),
            Target::Direct(to) => (None, Some(to.clone())),
        };
        Body {
            ts: message.ts,
            from: message.from.clone(),
            room,
            to,
            text: message.text.clone(),
            action: message.kind == MessageKind::Action,
            notice: message.kind == MessageKind::Notice,
            client_id: message.client_id.clone(),
            sender_id: message.sender_identity.as_ref().map(Fingerprint::to_string),
            recipient_id: message
                .recipient_identity
                .as_ref()
                .map(Fingerprint::to_string),
            retry_scope: message.retry_scope.clone(),
        }
    }

    /// The message with `id`, shown as sent from `origin`.
    fn into_stored(self, id: u64, origin: Option<ConnectionId>) -> StoredMessage {
        let identity = |text: Option<String>| text.and_then(|t| Fingerprint::parse(&t).ok());
        StoredMessage {
            id,
            message: NewMessage {
                ts: self.ts,
                from: self.from,
                target: match (self.room, self.to) {
                    (Some(room), _) => Target::Room(room),
                    (None, to) => Target::Direct(to.unwrap_or_default()),
                },
                text: self.text,
                kind: match (self.action, self.notice) {
                    (true, _) => MessageKind::Action,
                    (false, true) => MessageKind::Notice,
                    (false, false) => MessageKind::Text,
                },
                client_id: self.client_id,
                sender_identity: identity(self.sender_id),
                recipient_identity: identity(self.recipient_id),
                retry_scope: self.retry_scope,
                origin,
            },
        }
    }

    fn decode(id: u64, json: &str) -> Option<StoredMessage> {
        let body: Body = serde_json::from_str(json).ok()?;
        Some(body.into_stored(id, None))
    }
}

/// The id of a stream entry `<id>-0`.
fn entry_id(entry: &str) -> Option<u64> {
    entry.split_once('-')?.0.parse().ok()
}

/// The messages of stream entries; an entry this version cannot read (or
/// that was not written by lanchat) is skipped.
fn messages_of(reply: StreamRangeReply) -> impl Iterator<Item = StoredMessage> {
    reply.ids.into_iter().filter_map(|entry| {
        let id = entry_id(&entry.id)?;
        let json: String = entry.get("m")?;
        Body::decode(id, &json)
    })
}

/// Sixteen random hex digits, to name `what` (unlikely to repeat, not
/// secret).
fn random_name(what: &str) -> Result<String, StoreError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|error| StoreError::new(format!("cannot name {what}: {error}")))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// A server's name in the log, so that its log reader knows which
/// messages its own connections sent (they are shown their echo).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerName(String);

impl ServerName {
    /// A new random name, for one run of a server.
    pub fn random() -> Result<ServerName, StoreError> {
        random_name("this server").map(ServerName)
    }

    fn origin(&self, connection: Option<ConnectionId>) -> String {
        connection.map_or_else(String::new, |c| format!("{}:{}", self.0, c.0))
    }

    /// The connection of ours that `origin` names, if it is ours.
    fn own_connection(&self, origin: &str) -> Option<ConnectionId> {
        let (server, connection) = origin.split_once(':')?;
        (server == self.0).then(|| connection.parse().ok().map(ConnectionId))?
    }
}

/// The store of a server in a group that shares one Redis.
#[derive(Debug)]
pub struct RedisStore {
    link: Link,
    url: String,
    scripts: Scripts,
    server: ServerName,
    /// The name of the history this server serves, read when it opened: a
    /// Redis that holds another (or none) lost what this server served.
    history: String,
    /// The highest id this server has seen given out, by its appends or in
    /// the log: shared with its other store connections and its log reader.
    seen: Arc<AtomicU64>,
    /// Since when this server has renewed its lease without a lapse, and
    /// when it last did: it frees others' nicknames only once its own lease
    /// has held for a whole lease, so after Redis was away (every lease ran
    /// out) the first server back does not free the nicknames of servers
    /// that are alive but have not renewed yet.
    lease: Option<(Instant, Instant)>,
    /// The servers without a lease at the last renewal: reaped at this
    /// one if they still have none.
    suspects: Vec<String>,
    /// Changes of who is where this server's hub made that Redis has not
    /// taken yet (it was away).
    unshared: presence::Unshared,
    /// Nicknames the group's record gave this server, but its hub did not
    /// hold, at the last reconciliation: freed at the next if still so.
    orphans: Vec<String>,
}

impl RedisStore {
    /// Connects to the Redis at `url` as server `server`, names the history
    /// if it has no name yet, and checks persistence.
    pub fn open(url: &str, server: ServerName) -> Result<RedisStore, StoreError> {
        let mut store = RedisStore {
            link: Link::open(url)?,
            url: url.to_owned(),
            scripts: Scripts::new(),
            server,
            history: String::new(),
            seen: Arc::new(AtomicU64::new(0)),
            lease: None,
            suspects: Vec::new(),
            unshared: presence::Unshared::default(),
            orphans: Vec::new(),
        };
        let name = random_name("the history")?;
        store.link.run("cannot name the history", |c| {
            redis::cmd("SET")
                .arg("lanchat:history_id")
                .arg(name)
                .arg("NX")
                .query::<()>(c)
        })?;
        store.history = store.history_id()?;
        store.warn_unless_durable();
        Ok(store)
    }

    /// Another connection to the same Redis for the same server (for the
    /// history thread).
    pub fn another(&self) -> Result<RedisStore, StoreError> {
        Ok(RedisStore {
            link: Link::open(&self.url)?,
            url: self.url.clone(),
            scripts: Scripts::new(),
            server: self.server.clone(),
            history: self.history.clone(),
            seen: Arc::clone(&self.seen),
            lease: None,
            suspects: Vec::new(),
            unshared: presence::Unshared::default(),
            orphans: Vec::new(),
        })
    }

    /// The reader of the shared log for this server, from after `after`.
    pub fn log_reader(&self, after: u64) -> Result<LogReader, StoreError> {
        Ok(LogReader::new(
            Link::open(&self.url)?,
            self.server.clone(),
            self.history.clone(),
            Arc::clone(&self.seen),
            after,
        ))
    }

    /// Says in the log if Redis would lose acknowledged messages in a
    /// crash. A Redis that does not let us ask (`CONFIG` renamed) is
    /// trusted.
    fn warn_unless_durable(&mut self) {
        let asked = self.link.run("cannot read Redis's settings", |c| {
            redis::cmd("CONFIG")
                .arg("GET")
                .arg("append*")
                .query::<Vec<String>>(c)
        });
        let Ok(settings) = asked else { return };
        let setting = |name: &str| {
            settings
                .chunks(2)
                .find(|pair| pair.first().map(String::as_str) == Some(name))
                .and_then(|pair| pair.get(1).cloned())
                .unwrap_or_default()
        };
        let (appendonly, appendfsync) = (setting("appendonly"), setting("appendfsync"));
        if appendonly != "yes" || appendfsync != "always" {
            warn!(
                %appendonly,
                %appendfsync,
                "Redis may lose acknowledged messages if it crashes; set appendonly yes and appendfsync always"
            );
        }
    }

    /// The connection, and what tells the other servers of a change made
    /// through it.
    fn link_and_told(&mut self) -> (&mut Link, records::Told<'_>) {
        let told = records::Told {
            history: &self.history,
        };
        (&mut self.link, told)
    }

    /// The first six arguments of `CLAIM_ONLINE` and `CONFIRM_ONLINE`: the
    /// nickname, this server, and who holds it as `lanchat:online` records
    /// holders.
    fn holder_args(&self, invocation: &mut redis::ScriptInvocation<'_>, claim: &OnlineClaim) {
        invocation
            .arg(claim.nick.as_str())
            .arg(&self.server.0)
            .arg(claim.session.as_str())
            .arg(claim.identity.as_ref().map_or("-", Fingerprint::as_str))
            .arg(if claim.owns { "1" } else { "0" })
            .arg(&claim.spelled);
    }

    fn floor(&mut self, kept: Kept) -> Result<(u64, u64), StoreError> {
        let limit = |value: Option<u64>| value.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
        let invocation = {
            let mut invocation = self.scripts.floor.prepare_invoke();
            invocation
                .arg(limit(kept.newest))
                .arg(limit(kept.not_before_ms));
            invocation
        };
        let (floor, pruned, _counter): (u64, u64, u64) = self
            .link
            .read("cannot read history", |c| invocation.invoke(c))?;
        Ok((floor, pruned))
    }

    /// The entries of `streams` in (`after`, `up_to`], newest first if
    /// `newest_first`, at most `count` of each.
    /// Up to `count` messages a stream of what `reading` names, between
    /// `after` (not included) and `up_to`, merged in id order, newest first
    /// if `newest_first`.
    fn read(
        &mut self,
        reading: &Reading<'_>,
        (after, up_to): (u64, u64),
        count: usize,
        newest_first: bool,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let (Some(identity), Some(peer)) = (reading.direct_of, reading.direct_with) else {
            let streams = streams_of(reading.rooms, reading.direct_of);
            return self.ranges(&streams, after, up_to, count, newest_first);
        };
        let mut messages = self.ranges(
            &streams_of(reading.rooms, None),
            after,
            up_to,
            count,
            newest_first,
        )?;
        messages.extend(self.conversation(identity, peer, (after, up_to), count, newest_first)?);
        messages.sort_by_key(|m| m.id);
        if newest_first {
            messages.reverse();
        }
        Ok(messages)
    }

    /// Up to `count` of `identity`'s direct messages exchanged with `peer`,
    /// between `after` (not included) and `up_to`, looking through at
    /// most [`CONVERSATION_SCAN`] of its direct messages from the end the
    /// page is counted from.
    fn conversation(
        &mut self,
        identity: &Fingerprint,
        peer: &NickKey,
        (mut after, mut up_to): (u64, u64),
        count: usize,
        newest_first: bool,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let stream = [format!("lanchat:dm:{identity}")];
        let (mut found, mut scanned) = (Vec::new(), 0);
        while found.len() < count && scanned < CONVERSATION_SCAN && after < up_to {
            let page = self.ranges(&stream, after, up_to, SCAN_PAGE, newest_first)?;
            let (Some(last), whole) = (page.last(), page.len() == SCAN_PAGE) else {
                break;
            };
            // The next page starts past this one's last entry.
            if newest_first {
                up_to = last.id.saturating_sub(1);
            } else {
                after = last.id;
            }
            scanned += page.len();
            found.extend(
                page.into_iter()
                    .filter(|m| exchanged_with(m, identity, peer)),
            );
            if !whole {
                break;
            }
        }
        found.truncate(count);
        Ok(found)
    }

    fn ranges(
        &mut self,
        streams: &[String],
        after: u64,
        up_to: u64,
        count: usize,
        newest_first: bool,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        // An empty pipeline is no query Redis can answer.
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for stream in streams {
            let (after, up_to) = (format!("({after}"), format!("{up_to}"));
            if newest_first {
                pipe.cmd("XREVRANGE").arg(stream).arg(up_to).arg(after);
            } else {
                pipe.cmd("XRANGE").arg(stream).arg(after).arg(up_to);
            }
            pipe.arg("COUNT").arg(count.min(MAX_READ));
        }
        let replies: Vec<StreamRangeReply> =
            self.link.read("cannot read history", |c| pipe.query(c))?;
        let mut messages: Vec<StoredMessage> = replies.into_iter().flat_map(messages_of).collect();
        messages.sort_by_key(|m| m.id);
        messages.dedup_by_key(|m| m.id);
        if newest_first {
            messages.reverse();
        }
        Ok(messages)
    }
}

/// What a history query reads: rooms, and someone's direct messages (or
/// one conversation of them).
struct Reading<'a> {
    rooms: &'a [String],
    direct_of: Option<&'a Fingerprint>,
    direct_with: Option<&'a NickKey>,
}

/// Entries of an identity's direct-message stream looked through, at most,
/// for one page of one conversation: the stream holds all of that
/// identity's conversations, and a page of one is found by filtering them,
/// so a conversation that is a small part of them may show a short page.
const CONVERSATION_SCAN: usize = 5_000;

/// Entries read at a time while looking for a conversation's page.
const SCAN_PAGE: usize = 500;

/// Whether `message` went between `identity` and `peer`, either way: sent
/// by the identity to the nickname, or by the nickname to the identity
/// (as SQLite's `CONVERSATION_TAIL` reads it; matching either name alone
/// would take all of one's messages for one's own nickname).
fn exchanged_with(message: &StoredMessage, identity: &Fingerprint, peer: &NickKey) -> bool {
    let message = &message.message;
    let Target::Direct(to) = &message.target else {
        return false;
    };
    (message.sender_identity.as_ref() == Some(identity) && NickKey::of(to) == *peer)
        || (message.recipient_identity.as_ref() == Some(identity)
            && NickKey::of(&message.from) == *peer)
}

/// The streams a reader of `rooms` and of `identity`'s direct messages
/// reads.
fn streams_of(rooms: &[String], identity: Option<&Fingerprint>) -> Vec<String> {
    let mut streams: Vec<String> = rooms.iter().map(|r| format!("lanchat:room:{r}")).collect();
    streams.extend(identity.map(|i| format!("lanchat:dm:{i}")));
    streams
}

/// One message's arguments to the append script.
fn append_args(server: &ServerName, message: &NewMessage) -> Result<[String; 7], StoreError> {
    let body = serde_json::to_string(&Body::of(message))
        .map_err(|error| StoreError::caused_by("cannot store messages", error))?;
    let room = match &message.target {
        Target::Room(room) => room.clone(),
        Target::Direct(_) => String::new(),
    };
    let party = |identity: &Option<Fingerprint>| {
        identity
            .as_ref()
            .map_or_else(String::new, Fingerprint::to_string)
    };
    let retry = match (&message.retry_scope, &message.client_id) {
        (Some(scope), Some(client_id)) => format!("{scope} {client_id}"),
        _ => String::new(),
    };
    Ok([
        message.ts.to_string(),
        body,
        server.origin(message.origin),
        room,
        party(&message.sender_identity),
        party(&message.recipient_identity),
        retry,
    ])
}

impl Store for RedisStore {
    fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Appended>, StoreError> {
        // Comings and goings kept while Redis was away go first: a member's
        // join must reach the log before what it says next.
        self.share_kept()?;
        let mut invocation = self.scripts.append.prepare_invoke();
        invocation
            .arg(self.seen.load(Ordering::Acquire))
            .arg(&self.history);
        for message in batch {
            for arg in append_args(&self.server, message)? {
                invocation.arg(arg);
            }
        }
        let replies: Vec<(u64, String)> = self
            .link
            .run("cannot store messages", |c| invocation.invoke(c))
            .map_err(|error| {
                // Sent, and no answer: Redis may have run the append.
                let unanswered = |e: &RedisError| e.is_timeout() || e.is_connection_dropped();
                if error.caused_by_a(unanswered) {
                    error.uncertain()
                } else {
                    error
                }
            })?;
        if replies.len() != batch.len() {
            return Err(StoreError::new(
                "cannot store messages: Redis answered for a different number of messages",
            ));
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        for (message, (id, old)) in batch.iter().zip(replies) {
            self.seen.fetch_max(id, Ordering::AcqRel);
            let outcome = if old.is_empty() {
                Appended::New(StoredMessage {
                    id,
                    message: message.clone(),
                })
            } else {
                // The original as stored; were it unreadable, the retry as
                // sent (the same text, by the same sender) with its id,
                // rather than failing the whole batch Redis took.
                let stored = Body::decode(id, &old).unwrap_or_else(|| StoredMessage {
                    id,
                    message: message.clone(),
                });
                Appended::Duplicate(stored)
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    fn recent(&mut self, query: &RecentQuery, kept: Kept) -> Result<History, StoreError> {
        let (floor, _) = self.floor(kept)?;
        let after = floor.max(query.after);
        let reading = Reading {
            rooms: &query.rooms,
            direct_of: query.direct_of.as_ref(),
            direct_with: query.direct_with.as_ref(),
        };
        let mut messages = self.read(&reading, (after, query.up_to), query.per_room, true)?;
        messages.reverse();
        Ok(History {
            messages,
            gap: false,
        })
    }

    fn since(&mut self, query: &SinceQuery, kept: Kept) -> Result<History, StoreError> {
        let (floor, pruned) = self.floor(kept)?;
        let gap = query.after < pruned.max(floor);
        let after = query.after.max(floor);
        let reading = Reading {
            rooms: &query.rooms,
            direct_of: query.direct_of.as_ref(),
            direct_with: query.direct_with.as_ref(),
        };
        let mut messages = self.read(&reading, (after, query.up_to), query.limit, false)?;
        messages.truncate(query.limit);
        Ok(History { messages, gap })
    }

    fn resume_start(&mut self, query: &SinceQuery, kept: Kept) -> Result<ResumeStart, StoreError> {
        let (floor, pruned) = self.floor(kept)?;
        let gap = query.after < pruned.max(floor);
        let after = query.after.max(floor);
        let mut invocation = self.scripts.resume_start.prepare_invoke();
        for stream in streams_of(&query.rooms, query.direct_of.as_ref()) {
            invocation.key(stream);
        }
        invocation
            .arg(after)
            .arg(query.up_to)
            .arg(query.limit.min(MAX_READ));
        // The id just before the newest `limit`, if more than that follow.
        let beyond: u64 = self
            .link
            .read("cannot read history", |c| invocation.invoke(c))?;
        Ok(if beyond > 0 {
            ResumeStart {
                after: beyond,
                gap: true,
            }
        } else {
            ResumeStart { after, gap }
        })
    }

    fn last_id(&mut self) -> Result<u64, StoreError> {
        let id: Option<u64> = self.link.read("cannot read the last id", |c| {
            redis::cmd("GET").arg("lanchat:next_id").query(c)
        })?;
        Ok(id.unwrap_or(0))
    }

    fn history_id(&mut self) -> Result<String, StoreError> {
        let name: Option<String> = self.link.read("cannot read the history's id", |c| {
            redis::cmd("GET").arg("lanchat:history_id").query(c)
        })?;
        name.ok_or_else(|| StoreError::new("the history in Redis has no id (lanchat:history_id)"))
    }

    fn save_session(&mut self, session: &SessionRecord, now_ms: u64) -> Result<(), StoreError> {
        records::save_session(&mut self.link, session, now_ms)
    }

    fn load_session(&mut self, token: &SessionToken) -> Result<Option<SessionRecord>, StoreError> {
        records::load_session(&mut self.link, token)
    }

    fn prune(&mut self, retention: Retention, now_ms: u64) -> Result<u64, StoreError> {
        records::forget_sessions(&mut self.link, now_ms)?;
        let (floor, pruned) = self.floor(Kept::at(retention, now_ms))?;
        if floor <= pruned {
            return Ok(0);
        }
        let invocation = {
            let mut invocation = self.scripts.trim_log.prepare_invoke();
            invocation.arg(floor);
            invocation
        };
        let removed: u64 = self
            .link
            .run("cannot apply retention", |c| invocation.invoke(c))?;
        records::trim_streams(&mut self.link, &self.scripts, floor)?;
        Ok(removed)
    }

    fn owner_of(
        &mut self,
        nick: &NickKey,
        unused_ms: u64,
        now_ms: u64,
    ) -> Result<Option<Fingerprint>, StoreError> {
        records::owner_of(&mut self.link, nick, now_ms.saturating_sub(unused_ms))
    }

    fn claim_nick(
        &mut self,
        claim: &NickClaim,
        may_add: &mut dyn FnMut() -> bool,
        now_ms: u64,
    ) -> Result<Claimed, StoreError> {
        records::claim_nick(&mut self.link, &self.scripts, claim, may_add, now_ms)
    }

    fn release_nick(
        &mut self,
        nick: &NickKey,
        by: Option<&Fingerprint>,
    ) -> Result<bool, StoreError> {
        records::release_nick(&mut self.link, &self.scripts, nick, by)
    }

    fn room(&mut self, room: &str) -> Result<RoomRecord, StoreError> {
        records::room(&mut self.link, room)
    }

    fn found_room(
        &mut self,
        room: &str,
        founder: Option<&Fingerprint>,
    ) -> Result<bool, StoreError> {
        records::found_room(&mut self.link, &self.scripts, room, founder)
    }

    fn set_operator(
        &mut self,
        room: &str,
        identity: &Fingerprint,
        change: OperatorChange,
    ) -> Result<bool, StoreError> {
        records::set_operator(&mut self.link, &self.scripts, room, identity, change)
    }

    fn set_topic(&mut self, room: &str, topic: &Topic) -> Result<(), StoreError> {
        records::set_topic(&mut self.link, room, topic)
    }

    fn set_privacy(&mut self, room: &str, privacy: &Privacy) -> Result<(), StoreError> {
        let (link, told) = self.link_and_told();
        records::set_privacy(link, &told, room, privacy)
    }

    fn private_rooms(&mut self) -> Result<Vec<String>, StoreError> {
        records::private_rooms(&mut self.link)
    }

    fn topics(&mut self, rooms: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        records::topics(&mut self.link, rooms)
    }

    fn load_bans(&mut self, now_ms: u64) -> Result<Vec<Ban>, StoreError> {
        records::load_bans(&mut self.link, now_ms)
    }

    fn add_ban(&mut self, ban: &Ban) -> Result<(), StoreError> {
        let (link, told) = self.link_and_told();
        records::add_ban(link, &told, ban)
    }

    fn remove_ban(&mut self, room: Option<&str>, target: &BanTarget) -> Result<(), StoreError> {
        let (link, told) = self.link_and_told();
        records::remove_ban(link, &told, room, target)
    }

    fn reconcile_online(&mut self, held: &[NickKey]) -> Result<Vec<String>, StoreError> {
        let list = format!("lanchat:online:{}", self.server.0);
        let listed: Vec<String> = self.link.read("cannot read this server's nicknames", |c| {
            redis::cmd("SMEMBERS").arg(&list).query(c)
        })?;
        let held: std::collections::HashSet<&str> = held.iter().map(NickKey::as_str).collect();
        let (freed, suspects): (Vec<String>, Vec<String>) = listed
            .into_iter()
            .filter(|key| !held.contains(key.as_str()))
            .partition(|key| self.orphans.contains(key));
        self.orphans = suspects;
        if freed.is_empty() {
            return Ok(freed);
        }
        let mut invocation = self.scripts.release_orphans.prepare_invoke();
        invocation.arg(&self.server.0);
        for key in &freed {
            invocation.arg(key);
        }
        self.link
            .run("cannot free this server's unheld nicknames", |c| {
                invocation.invoke::<u64>(c)
            })?;
        Ok(freed)
    }

    fn tell_put_out(&mut self, nick: &str, room: &str, reason: &str) -> Result<(), StoreError> {
        let (link, told) = self.link_and_told();
        records::tell_put_out(link, &told, nick, room, reason)
    }

    fn claim_online(&mut self, claim: &OnlineClaim) -> Result<Online, StoreError> {
        let mut invocation = self.scripts.claim_online.prepare_invoke();
        self.holder_args(&mut invocation, claim);
        invocation
            .arg(&self.history)
            .arg(crate::domain::Clock::system().now_millis())
            .arg(if claim.may_take_over { "1" } else { "0" });
        let (answer, server): (String, String) = self
            .link
            .run("cannot claim the nickname", |c| invocation.invoke(c))?;
        Ok(match answer.as_str() {
            "taken" => Online::TakenFrom(server),
            "held" => Online::HeldBy(server),
            _ => Online::Ours,
        })
    }

    fn online_elsewhere(&mut self, nick: &NickKey) -> Result<Option<Elsewhere>, StoreError> {
        let doing = "cannot look for the nickname on the other servers";
        let held: Option<String> = self.link.read(doing, |c| {
            redis::cmd("HGET")
                .arg("lanchat:online")
                .arg(nick.as_str())
                .query(c)
        })?;
        let Some(held) = held else { return Ok(None) };
        let fields: Vec<&str> = held.split(' ').collect();
        let [server, session, identity, _owns, spelled, _connection] = fields[..] else {
            return Ok(None);
        };
        if server == self.server.0 {
            return Ok(None);
        }
        let lease = format!("lanchat:lease:{server}");
        let alive: bool = self
            .link
            .read(doing, |c| redis::cmd("EXISTS").arg(&lease).query(c))?;
        Ok(alive.then(|| Elsewhere {
            spelled: spelled.to_owned(),
            identity: Fingerprint::parse(identity).ok(),
            session: session.to_owned(),
        }))
    }

    fn confirm_online(
        &mut self,
        claim: &OnlineClaim,
        connection: ConnectionId,
    ) -> Result<(), StoreError> {
        let mut invocation = self.scripts.confirm_online.prepare_invoke();
        self.holder_args(&mut invocation, claim);
        invocation.arg(self.server.origin(Some(connection)));
        let recorded: u64 = self.link.run("cannot record who holds the nickname", |c| {
            invocation.invoke(c)
        })?;
        if recorded == 0 {
            warn!(
                nick = claim.spelled,
                "another server took the nickname while it was joined here"
            );
        }
        Ok(())
    }

    fn release_online(
        &mut self,
        nick: &NickKey,
        connection: ConnectionId,
    ) -> Result<(), StoreError> {
        let mut invocation = self.scripts.release_online.prepare_invoke();
        invocation
            .arg(nick.as_str())
            .arg(&self.server.0)
            .arg(self.server.origin(Some(connection)));
        self.link
            .run("cannot free the nickname", |c| invocation.invoke::<u64>(c))?;
        Ok(())
    }

    fn share_presence(&mut self, changes: Vec<PresenceChange>) -> Result<(), StoreError> {
        self.share(changes)
    }

    fn keep_lease(&mut self) -> Result<Lease, StoreError> {
        let now = Instant::now();
        let held_since = match self.lease {
            Some((since, last)) if now.duration_since(last) < LEASE => since,
            _ => now,
        };
        // A server whose own lease has not held for a whole lease (it just
        // started, or Redis was away and every lease ran out) reaps
        // nobody: the others may not have renewed yet.
        let may_reap = now.duration_since(held_since) >= LEASE;
        let suspects: &[String] = if may_reap { &self.suspects } else { &[] };
        let mut invocation = self.scripts.keep_lease.prepare_invoke();
        invocation
            .arg(&self.server.0)
            .arg(u64::try_from(LEASE.as_millis()).unwrap_or(u64::MAX))
            .arg(&self.history)
            .arg(crate::domain::Clock::system().now_millis())
            .arg(suspects.len());
        for suspect in suspects {
            invocation.arg(suspect);
        }
        let (lapsed, reaped, missing): (u64, Vec<String>, Vec<String>) = self
            .link
            .run("cannot renew this server's lease", |c| invocation.invoke(c))?;
        // The first renewal finds no lease of its own: that is no lapse.
        let lapsed = lapsed == 1 && self.lease.is_some();
        self.lease = Some((held_since, now));
        self.suspects = missing;
        // Now that this server is one of the group again (if it had been
        // reaped), changes kept while Redis was away go out, even if nobody
        // comes or goes then, and what every server has read of the
        // entries between messages goes. Failures wait for the next time.
        let _ = self.share_kept();
        if let Err(error) = self.trim_events() {
            warn!(error = error.explained(), "could not trim the shared log");
        }
        Ok(Lease { lapsed, reaped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_message_comes_back_from_the_log_as_it_was_written() {
        for kind in [MessageKind::Text, MessageKind::Action, MessageKind::Notice] {
            let message = NewMessage {
                kind,
                ..NewMessage::unproved(1, "bot".into(), Target::Room("dev".into()), "hi".into())
            };
            let json = serde_json::to_string(&Body::of(&message)).unwrap();
            let read = Body::decode(7, &json).unwrap();
            assert_eq!((read.id, read.message), (7, message));
        }
    }
}
