//! The SQLite implementation of [`Store`]: one file in WAL mode, one schema
//! with numbered migrations (`PRAGMA user_version`).
//!
//! Schema (after migration 4):
//! - `messages(id INTEGER PRIMARY KEY AUTOINCREMENT, ts, sender, sender_key,
//!   room, recipient, recipient_key, text, action, client_id)`: `room` is set
//!   for room messages, `recipient` for direct ones; `action` is the
//!   message's kind (0 text, 1 a `/me` action, 2 a notice: a column that
//!   once said only whether it was an action). AUTOINCREMENT keeps ids
//!   from ever being reused, even after retention empties the table.
//!   Indexes: `(room, id)` for room messages, `(sender_key, id)` and
//!   `(recipient_key, id)` for direct messages only (migration 2), and a
//!   unique `(sender_key, client_id)` for idempotent sends.
//! - `sessions(token PRIMARY KEY, nick, rooms, last_seen)`, indexed by
//!   `last_seen` (migration 3): kept 30 days, at most 100,000.
//! - `meta(key PRIMARY KEY, value)`: `pruned_through`, the highest id
//!   retention has removed, to tell a resuming client about a gap; and
//!   `history_id` (migration 4), a random number made with the database,
//!   which names this history so that a client resuming with ids of another
//!   (a database replaced or deleted) can be told.
//!
//! `synchronous = NORMAL` with WAL: a committed message survives the
//! process being killed (the OS has it); only a power cut can lose the last
//! moments, which is the usual trade for a chat server.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lanchat_shared::Fingerprint;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter};

use super::checkpoint::{CheckpointLimits, Checkpointer};
use super::{
    Appended, Ban, BanTarget, Claimed, DbLocation, History, Kept, MAX_ROOM_OPERATORS, MessageKind,
    NewMessage, NickClaim, NickKey, OperatorChange, Privacy, RecentQuery, ResumeStart, Retention,
    RoomRecord, SessionRecord, SessionToken, SinceQuery, Store, StoreError, StoredMessage, Target,
    Topic,
};

/// The schema version this code writes.
const SCHEMA_VERSION: i64 = 8;

const MIGRATION_1: &str = "
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL,
    sender TEXT NOT NULL,
    sender_key TEXT NOT NULL,
    room TEXT,
    recipient TEXT,
    recipient_key TEXT,
    text TEXT NOT NULL,
    action INTEGER NOT NULL DEFAULT 0,
    client_id TEXT
);
CREATE INDEX messages_by_room ON messages(room, id) WHERE room IS NOT NULL;
CREATE INDEX messages_by_sender ON messages(sender_key, id);
CREATE INDEX messages_by_recipient ON messages(recipient_key, id) WHERE recipient_key IS NOT NULL;
CREATE UNIQUE INDEX messages_by_client_id ON messages(sender_key, client_id) WHERE client_id IS NOT NULL;
CREATE TABLE sessions (
    token TEXT PRIMARY KEY,
    nick TEXT NOT NULL,
    rooms TEXT NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// Migration 2 narrows the sender index to direct messages, the only query
/// that reads it. Over every message it cost a page write per distinct
/// sender in each commit (the senders' entries lie on different b-tree
/// leaves), which with 100 busy senders was most of the WAL's traffic.
const MIGRATION_2: &str = "
DROP INDEX messages_by_sender;
CREATE INDEX messages_direct_by_sender ON messages(sender_key, id) WHERE room IS NULL;
";

/// Migration 3 indexes sessions by when they were last used, so that
/// forgetting old ones and keeping at most [`MAX_SESSIONS`] walk the index
/// instead of scanning the table.
const MIGRATION_3: &str = "
CREATE INDEX sessions_by_last_seen ON sessions(last_seen);
";

/// Migration 4 names the history with a random 63-bit number (SQLite's
/// `random()` is seeded from the operating system's randomness; this needs
/// to be unlikely to repeat, not secret).
const MIGRATION_4: &str = "
INSERT OR IGNORE INTO meta (key, value) VALUES ('history_id', random() & 9223372036854775807);
";

/// Migration 5 stores who a message is from and to by identity, not only
/// by nickname, and what its `client_id` is unique within; and who owns
/// which nickname. Direct messages are read by identity from now on, so
/// those stored before (without identities) are never served again to
/// anyone: nobody can prove to be their party. Retention removes them in
/// time. Sessions remember the identity that made them.
const MIGRATION_5: &str = "
ALTER TABLE messages ADD COLUMN sender_id TEXT;
ALTER TABLE messages ADD COLUMN recipient_id TEXT;
ALTER TABLE messages ADD COLUMN retry_scope TEXT;
DROP INDEX messages_by_client_id;
DROP INDEX messages_direct_by_sender;
DROP INDEX messages_by_recipient;
CREATE UNIQUE INDEX messages_by_retry_scope ON messages(retry_scope, client_id)
    WHERE client_id IS NOT NULL AND retry_scope IS NOT NULL;
CREATE INDEX messages_direct_by_sender_id ON messages(sender_id, id) WHERE room IS NULL;
CREATE INDEX messages_direct_by_recipient_id ON messages(recipient_id, id) WHERE room IS NULL;
ALTER TABLE sessions ADD COLUMN identity TEXT;
CREATE TABLE owners (
    nick_key TEXT PRIMARY KEY,
    nick TEXT NOT NULL,
    identity TEXT NOT NULL,
    last_used INTEGER NOT NULL
);
CREATE INDEX owners_by_identity ON owners(identity);
CREATE INDEX owners_by_last_used ON owners(last_used);
";

/// Migration 6 keeps order in rooms: each room recorded when first
/// entered, its topic, and its operators (identities).
const MIGRATION_6: &str = "
CREATE TABLE rooms (
    name TEXT PRIMARY KEY,
    topic TEXT,
    topic_by TEXT,
    topic_at INTEGER
);
CREATE TABLE room_operators (
    room TEXT NOT NULL,
    identity TEXT NOT NULL,
    PRIMARY KEY (room, identity)
);
";

/// Migration 7 keeps bans: of a room, or of the server (`room` empty), on
/// an identity or a network, until a time or for good (`until_ms` null).
const MIGRATION_7: &str = "
CREATE TABLE bans (
    room TEXT NOT NULL,
    target TEXT NOT NULL,
    until_ms INTEGER,
    reason TEXT,
    by TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (room, target)
);
";

/// Migration 8: private rooms and their keys.
const MIGRATION_8: &str = "
ALTER TABLE rooms ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN room_key TEXT;
";

/// Rooms recorded at most. Anyone may make rooms, so without a cap they
/// could fill the disk; past it a new room has no founder (only admins
/// moderate it) and nothing is recorded.
const MAX_ROOMS: i64 = 100_000;

/// Nicknames owned at most, server-wide. New keys cost nothing, so without
/// a cap many addresses could fill the disk with claims; at about a hundred
/// bytes each this is ten megabytes.
const MAX_OWNERS: i64 = 100_000;

const COLUMNS: &str = "id, ts, sender, room, recipient, text, action, client_id, sender_id, recipient_id, retry_scope";

/// The newest direct messages to or from identity `?1` up to id `?2`, at
/// most `?3`. `room IS NULL` is repeated in both branches so that each can
/// use its partial index (SQLite plans the branches of an OR one by one).
const DIRECT_TAIL: &str = "FROM messages WHERE id <= ?2 AND id > ?4
    AND ((room IS NULL AND sender_id = ?1) OR (room IS NULL AND recipient_id = ?1))
    ORDER BY id DESC LIMIT ?3";

/// [`DIRECT_TAIL`] of one conversation: only the messages between identity
/// `?1` and nickname (key) `?5`, either way.
const CONVERSATION_TAIL: &str = "FROM messages WHERE id <= ?2 AND id > ?4
    AND ((room IS NULL AND sender_id = ?1 AND recipient_key = ?5)
      OR (room IS NULL AND recipient_id = ?1 AND sender_key = ?5))
    ORDER BY id DESC LIMIT ?3";

/// Sessions unused for this long (since their connection last ended, or
/// they last changed) are forgotten at the next retention pass.
const SESSION_DAYS: u64 = 30;

/// Sessions kept at most, the most recently used; each is about a hundred
/// bytes, so however many clients come and go, sessions take at most a few
/// megabytes.
const MAX_SESSIONS: u64 = 100_000;

/// A message database in SQLite.
#[derive(Debug)]
pub struct SqliteStore {
    // Held for its `Drop`. Declared, so dropped, before `db`: the checkpoint
    // thread's connection
    // must close first, leaving the final checkpoint to `db`.
    _checkpointer: Option<Checkpointer>,
    db: Connection,
    /// The file the database was opened as, checked before every append:
    /// SQLite keeps writing into a file that was deleted (its inode lives
    /// on while open), so without this the server would acknowledge
    /// messages that are gone at the next start.
    file: Option<OnDisk>,
}

/// Which file a database is: its path, and the device and inode it had
/// when opened.
#[derive(Debug)]
struct OnDisk {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl OnDisk {
    /// `None` if `path` cannot be looked at (a `file:` URI, say): such a
    /// database is not watched.
    fn of(path: &Path) -> Option<OnDisk> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(OnDisk {
            path: path.to_owned(),
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }

    /// An error if the path no longer names the file that was opened.
    fn check(&self) -> Result<(), StoreError> {
        let same = std::fs::metadata(&self.path)
            .is_ok_and(|now| now.dev() == self.device && now.ino() == self.inode);
        if same {
            return Ok(());
        }
        Err(StoreError::new(
            "the database file was deleted or replaced while the server ran; nothing can be stored until the server is restarted",
        ))
    }
}

fn failed(doing: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |error| StoreError::caused_by(doing, error)
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database. Every failure
    /// — an unwritable directory, a file that is not a database, one locked
    /// by another process, one from a newer lanchat — is a clear error.
    pub fn open(location: &DbLocation) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(location, CheckpointLimits::default())
    }

    /// A second connection to a database file that [`SqliteStore::open`]
    /// has opened, for history reads alone: in WAL mode a reader never
    /// waits for the writer, nor the writer for it. `None` for a database
    /// in memory, which only its one connection can see.
    pub fn open_reader(location: &DbLocation) -> Result<Option<SqliteStore>, StoreError> {
        let DbLocation::File(path) = location else {
            return Ok(None);
        };
        // rusqlite's default flags, but read-only: the same path rules
        // (URIs included) as the writer's connection.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let db = Connection::open_with_flags(path, flags)
            .map_err(failed("cannot open the database for reading"))?;
        db.busy_timeout(Duration::from_secs(2))
            .map_err(failed("cannot configure the database"))?;
        Ok(Some(SqliteStore {
            _checkpointer: None,
            db,
            file: None,
        }))
    }

    fn open_with(
        location: &DbLocation,
        limits: CheckpointLimits,
    ) -> Result<SqliteStore, StoreError> {
        let mut db = match location {
            DbLocation::Memory => Connection::open_in_memory(),
            DbLocation::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::caused_by(format!("cannot create {}", dir.display()), e)
                    })?;
                }
                Connection::open(path)
            }
        }
        .map_err(failed("cannot open the database"))?;
        db.busy_timeout(Duration::from_secs(2))
            .map_err(failed("cannot configure the database"))?;
        // journal_mode answers with a row; a file that is not a database fails here.
        let _mode: String = db
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(failed("cannot use the database"))?;
        db.pragma_update(None, "synchronous", "NORMAL")
            .map_err(failed("cannot configure the database"))?;
        let checkpointer = match location {
            DbLocation::Memory => None,
            DbLocation::File(path) => {
                // When the log starts over, its file shrinks back to this.
                db.pragma_update(None, "journal_size_limit", 4 * 1024 * 1024)
                    .map_err(failed("cannot configure the database"))?;
                Some(Checkpointer::start(&mut db, path, limits)?)
            }
        };
        let file = match location {
            DbLocation::Memory => None,
            DbLocation::File(path) => OnDisk::of(path),
        };
        let mut store = SqliteStore {
            _checkpointer: checkpointer,
            db,
            file,
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .db
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(failed("cannot read the schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::new(format!(
                "the database has schema version {version}, newer than this lanchat understands ({SCHEMA_VERSION})"
            )));
        }
        for (to_version, migration) in [
            (1, MIGRATION_1),
            (2, MIGRATION_2),
            (3, MIGRATION_3),
            (4, MIGRATION_4),
            (5, MIGRATION_5),
            (6, MIGRATION_6),
            (7, MIGRATION_7),
            (8, MIGRATION_8),
        ] {
            if version >= to_version {
                continue;
            }
            let tx = self.db.transaction().map_err(failed("cannot migrate"))?;
            tx.execute_batch(migration)
                .map_err(failed("cannot migrate the schema"))?;
            tx.pragma_update(None, "user_version", to_version)
                .map_err(failed("cannot migrate"))?;
            tx.commit().map_err(failed("cannot migrate"))?;
        }
        Ok(())
    }

    /// The highest id retention has removed (0 if none).
    pub fn pruned_through(&self) -> Result<u64, StoreError> {
        let value: Option<i64> = self
            .db
            .query_row(
                "SELECT value FROM meta WHERE key = 'pruned_through'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(failed("cannot read history"))?;
        Ok(value.map_or(0, to_u64))
    }
}

/// The rows a resume (or a page of history) of `query` reads, after
/// `after` and up to `query.up_to`, in its rooms or its direct messages
/// (all of them, or one conversation's), with the values of their
/// placeholders in order. Shaped for SQLite's planner: one room is read
/// from its index in id order, so a page stops at its limit; direct
/// messages alone are a flat OR with an index for each side (MULTI-INDEX
/// OR), reading only that identity's; anything wider is a walk by id,
/// which also stops once it has found its limit.
fn resume_rows(query: &SinceQuery, after: u64) -> (String, Vec<rusqlite::types::Value>) {
    let mut values: Vec<rusqlite::types::Value> =
        vec![to_i64(after).into(), to_i64(query.up_to).into()];
    values.extend(query.rooms.iter().map(|r| r.clone().into()));
    let direct = query.direct_of.as_ref().map(|identity| {
        let identity = identity.to_string();
        match &query.direct_with {
            None => {
                values.extend([identity.clone().into(), identity.into()]);
                ("sender_id = ?", "recipient_id = ?")
            }
            Some(peer) => {
                let peer = peer.as_str().to_owned();
                values.extend([identity.clone().into(), peer.clone().into()]);
                values.extend([identity.into(), peer.into()]);
                (
                    "sender_id = ? AND recipient_key = ?",
                    "recipient_id = ? AND sender_key = ?",
                )
            }
        }
    });
    let rows = match (query.rooms.len(), direct) {
        (0, None) => "0".to_owned(),
        (1, None) => "room = ?".to_owned(),
        (0, Some((sent, received))) => {
            format!("(room IS NULL AND {sent}) OR (room IS NULL AND {received})")
        }
        (rooms, direct) => {
            let placeholders = vec!["?"; rooms].join(", ");
            match direct {
                None => format!("+room IN ({placeholders})"),
                Some((sent, received)) => format!(
                    "+room IN ({placeholders}) OR (room IS NULL AND (({sent}) OR ({received})))"
                ),
            }
        }
    };
    (
        format!("FROM messages WHERE id > ? AND id <= ? AND ({rows})"),
        values,
    )
}

/// A message's kind as the `action` column keeps it.
fn kind_code(kind: MessageKind) -> i64 {
    match kind {
        MessageKind::Text => 0,
        MessageKind::Action => 1,
        MessageKind::Notice => 2,
    }
}

/// The kind the `action` column says. A value this version does not know
/// (from a newer one) reads as text, the kind every client shows.
fn kind_of_code(code: i64) -> MessageKind {
    match code {
        1 => MessageKind::Action,
        2 => MessageKind::Notice,
        _ => MessageKind::Text,
    }
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn read_message(row: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    let room: Option<String> = row.get(3)?;
    let recipient: Option<String> = row.get(4)?;
    let target = match room {
        Some(room) => Target::Room(room),
        None => Target::Direct(recipient.unwrap_or_default()),
    };
    Ok(StoredMessage {
        id: to_u64(row.get(0)?),
        message: NewMessage {
            ts: to_u64(row.get(1)?),
            from: row.get(2)?,
            target,
            text: row.get(5)?,
            kind: kind_of_code(row.get(6)?),
            client_id: row.get(7)?,
            sender_identity: read_identity(row, 8)?,
            recipient_identity: read_identity(row, 9)?,
            retry_scope: row.get(10)?,
            origin: None,
        },
    })
}

/// An identity column: a fingerprint written by this code, or NULL. One
/// that does not parse (edited by hand) counts as none.
fn read_identity(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<Fingerprint>> {
    let text: Option<String> = row.get(column)?;
    Ok(text.and_then(|text| Fingerprint::parse(&text).ok()))
}

impl Store for SqliteStore {
    fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Appended>, StoreError> {
        if let Some(file) = &self.file {
            file.check()?;
        }
        let tx = self
            .db
            .transaction()
            .map_err(failed("cannot store messages"))?;
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let mut find = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM messages WHERE retry_scope = ?1 AND client_id = ?2"
                ))
                .map_err(failed("cannot store messages"))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO messages (ts, sender, sender_key, room, recipient, recipient_key, text, action, client_id,
                                           sender_id, recipient_id, retry_scope)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
                )
                .map_err(failed("cannot store messages"))?;
            for message in batch {
                let sender_key = message.sender_key();
                if let (Some(client_id), Some(scope)) = (&message.client_id, &message.retry_scope) {
                    let existing = find
                        .query_row(params![scope, client_id], read_message)
                        .optional()
                        .map_err(failed("cannot store messages"))?;
                    if let Some(existing) = existing {
                        outcomes.push(Appended::Duplicate(existing));
                        continue;
                    }
                }
                let (room, recipient) = match &message.target {
                    Target::Room(room) => (Some(room.as_str()), None),
                    Target::Direct(to) => (None, Some(to.as_str())),
                };
                let recipient_key = recipient.map(|to| NickKey::of(to).to_string());
                let id: i64 = insert
                    .query_row(
                        params![
                            to_i64(message.ts),
                            message.from,
                            sender_key.as_str(),
                            room,
                            recipient,
                            recipient_key,
                            message.text,
                            kind_code(message.kind),
                            message.client_id,
                            message.sender_identity.as_ref().map(Fingerprint::as_str),
                            message.recipient_identity.as_ref().map(Fingerprint::as_str),
                            message.retry_scope,
                        ],
                        |row| row.get(0),
                    )
                    .map_err(failed("cannot store messages"))?;
                outcomes.push(Appended::New(StoredMessage {
                    id: to_u64(id),
                    message: message.clone(),
                }));
            }
        }
        tx.commit().map_err(failed("cannot commit messages"))?;
        Ok(outcomes)
    }

    fn recent(&mut self, query: &RecentQuery, kept: Kept) -> Result<History, StoreError> {
        let up_to = to_i64(query.up_to);
        let tail = i64::try_from(query.per_room).unwrap_or(i64::MAX);
        let floor = self.threshold(kept)?.unwrap_or(0).max(to_i64(query.after));
        let read = failed("cannot read history");
        let mut messages = Vec::new();
        let mut by_room = self
            .db
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM messages WHERE room = ?1 AND id <= ?2 AND id > ?4
                 ORDER BY id DESC LIMIT ?3"
            ))
            .map_err(&read)?;
        for room in &query.rooms {
            let rows = by_room
                .query_map(params![room, up_to, tail, floor], read_message)
                .map_err(&read)?;
            for row in rows {
                messages.push(row.map_err(&read)?);
            }
        }
        if let Some(identity) = &query.direct_of {
            let (sql, with) = match &query.direct_with {
                Some(peer) => (CONVERSATION_TAIL, Some(peer.as_str())),
                None => (DIRECT_TAIL, None),
            };
            let mut direct = self
                .db
                .prepare_cached(&format!("SELECT {COLUMNS} {sql}"))
                .map_err(&read)?;
            let identity = identity.as_str();
            let rows = match with {
                Some(peer) => {
                    direct.query_map(params![identity, up_to, tail, floor, peer], read_message)
                }
                None => direct.query_map(params![identity, up_to, tail, floor], read_message),
            }
            .map_err(&read)?;
            for row in rows {
                messages.push(row.map_err(&read)?);
            }
        }
        messages.sort_by_key(|m| m.id);
        messages.dedup_by_key(|m| m.id);
        Ok(History {
            messages,
            gap: false,
        })
    }

    fn since(&mut self, query: &SinceQuery, kept: Kept) -> Result<History, StoreError> {
        let read = failed("cannot read history");
        // Whatever retention no longer keeps after `after` is a gap, whether
        // it is deleted already or not yet.
        let floor = to_u64(self.threshold(kept)?.unwrap_or(0));
        let gap = query.after < self.pruned_through()?.max(floor);
        let after = query.after.max(floor);
        let (rows, mut values) = resume_rows(query, after);
        let sql = format!("SELECT {COLUMNS} {rows} ORDER BY id LIMIT ?");
        values.push(i64::try_from(query.limit).unwrap_or(i64::MAX).into());
        let mut statement = self.db.prepare(&sql).map_err(&read)?;
        let rows = statement
            .query_map(params_from_iter(values), read_message)
            .map_err(&read)?;
        let mut messages = Vec::new();
        for row in rows {
            messages.push(row.map_err(&read)?);
        }
        Ok(History { messages, gap })
    }

    fn resume_start(&mut self, query: &SinceQuery, kept: Kept) -> Result<ResumeStart, StoreError> {
        let read = failed("cannot read history");
        let floor = to_u64(self.threshold(kept)?.unwrap_or(0));
        let gap = query.after < self.pruned_through()?.max(floor);
        let after = query.after.max(floor);
        // The id just before the newest `limit` messages, if there are more
        // than that: an index walk of `limit` steps, never a count of all.
        let (rows, mut values) = resume_rows(query, after);
        let sql = format!("SELECT id {rows} ORDER BY id DESC LIMIT 1 OFFSET ?");
        values.push(i64::try_from(query.limit).unwrap_or(i64::MAX).into());
        let beyond: Option<i64> = self
            .db
            .query_row(&sql, params_from_iter(values), |row| row.get(0))
            .optional()
            .map_err(&read)?;
        Ok(match beyond {
            Some(id) => ResumeStart {
                after: to_u64(id),
                gap: true,
            },
            None => ResumeStart { after, gap },
        })
    }

    fn last_id(&mut self) -> Result<u64, StoreError> {
        let id: Option<i64> = self
            .db
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(failed("cannot read the last id"))?;
        Ok(id.map_or(0, to_u64))
    }

    /// Made by migration 4 (see the module doc), as 16 hex digits.
    fn history_id(&mut self) -> Result<String, StoreError> {
        let value: i64 = self
            .db
            .query_row(
                "SELECT value FROM meta WHERE key = 'history_id'",
                [],
                |row| row.get(0),
            )
            .map_err(failed("cannot read the history's id"))?;
        Ok(format!("{value:016x}"))
    }

    fn save_session(&mut self, session: &SessionRecord, now_ms: u64) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO sessions (token, nick, rooms, last_seen, identity) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(token) DO UPDATE SET nick = ?2, rooms = ?3, last_seen = ?4, identity = ?5",
                params![
                    session.token.as_str(),
                    session.nick,
                    session.rooms.join(","),
                    to_i64(now_ms),
                    session.identity.as_ref().map(Fingerprint::as_str),
                ],
            )
            .map_err(failed("cannot save the session"))?;
        Ok(())
    }

    fn load_session(&mut self, token: &SessionToken) -> Result<Option<SessionRecord>, StoreError> {
        self.db
            .query_row(
                "SELECT nick, rooms, identity FROM sessions WHERE token = ?1",
                params![token.as_str()],
                |row| {
                    let rooms: String = row.get(1)?;
                    Ok(SessionRecord {
                        token: token.clone(),
                        nick: row.get(0)?,
                        rooms: SessionRecord::rooms_from(&rooms),
                        identity: read_identity(row, 2)?,
                    })
                },
            )
            .optional()
            .map_err(failed("cannot read the session"))
    }

    fn prune(&mut self, retention: Retention, now_ms: u64) -> Result<u64, StoreError> {
        let doing = failed("cannot apply retention");
        self.forget_sessions(now_ms)?;
        let Some(threshold) = self.threshold(Kept::at(retention, now_ms))? else {
            return Ok(0);
        };
        let tx = self.db.transaction().map_err(&doing)?;
        let deleted = tx
            .execute("DELETE FROM messages WHERE id <= ?1", params![threshold])
            .map_err(&doing)?;
        if deleted == 0 {
            // Nothing to remove: no commit, so no write to the WAL.
            return Ok(0);
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('pruned_through', ?1)
             ON CONFLICT(key) DO UPDATE SET value = MAX(value, ?1)",
            params![threshold],
        )
        .map_err(&doing)?;
        tx.commit().map_err(&doing)?;
        Ok(deleted as u64)
    }

    fn owner_of(
        &mut self,
        nick: &NickKey,
        unused_ms: u64,
        now_ms: u64,
    ) -> Result<Option<Fingerprint>, StoreError> {
        let cutoff = to_i64(now_ms.saturating_sub(unused_ms));
        let owner: Option<String> = self
            .db
            .query_row(
                "SELECT identity FROM owners WHERE nick_key = ?1 AND last_used >= ?2",
                params![nick.as_str(), cutoff],
                |row| row.get(0),
            )
            .optional()
            .map_err(failed("cannot read who owns the nickname"))?;
        Ok(owner.and_then(|owner| Fingerprint::parse(&owner).ok()))
    }

    fn claim_nick(
        &mut self,
        claim: &NickClaim,
        may_add: &mut dyn FnMut() -> bool,
        now_ms: u64,
    ) -> Result<Claimed, StoreError> {
        let doing = failed("cannot record who owns the nickname");
        let key = NickKey::of(&claim.nick);
        match self.owner_of(&key, claim.unused_ms, now_ms)? {
            Some(owner) if owner == claim.identity => {
                self.db
                    .execute(
                        "UPDATE owners SET last_used = ?2 WHERE nick_key = ?1",
                        params![key.as_str(), to_i64(now_ms)],
                    )
                    .map_err(&doing)?;
                return Ok(Claimed::Already);
            }
            Some(_) => return Ok(Claimed::Theirs),
            None => {}
        }
        self.lapse_owners(claim.unused_ms, now_ms)?;
        let (owned, total): (i64, i64) = self
            .db
            .query_row(
                "SELECT (SELECT COUNT(*) FROM owners WHERE identity = ?1), (SELECT COUNT(*) FROM owners)",
                params![claim.identity.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(&doing)?;
        if to_u64(owned) >= claim.max_owned as u64 || total >= MAX_OWNERS {
            return Ok(Claimed::AtLimit);
        }
        if !may_add() {
            return Ok(Claimed::NotNow);
        }
        self.db
            .execute(
                "INSERT OR REPLACE INTO owners (nick_key, nick, identity, last_used) VALUES (?1, ?2, ?3, ?4)",
                params![key.as_str(), claim.nick, claim.identity.as_str(), to_i64(now_ms)],
            )
            .map_err(&doing)?;
        Ok(Claimed::New)
    }

    fn release_nick(
        &mut self,
        nick: &NickKey,
        by: Option<&Fingerprint>,
    ) -> Result<bool, StoreError> {
        let released = match by {
            Some(owner) => self.db.execute(
                "DELETE FROM owners WHERE nick_key = ?1 AND identity = ?2",
                params![nick.as_str(), owner.as_str()],
            ),
            None => self.db.execute(
                "DELETE FROM owners WHERE nick_key = ?1",
                params![nick.as_str()],
            ),
        }
        .map_err(failed("cannot give the nickname up"))?;
        Ok(released > 0)
    }

    fn room(&mut self, room: &str) -> Result<RoomRecord, StoreError> {
        let doing = failed("cannot read the room's operators and topic");
        let topic = self
            .db
            .query_row(
                "SELECT topic, topic_by, topic_at FROM rooms WHERE name = ?1 AND topic IS NOT NULL",
                params![room],
                |row| {
                    Ok(Topic {
                        text: row.get(0)?,
                        by: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        at_ms: to_u64(row.get::<_, Option<i64>>(2)?.unwrap_or(0)),
                    })
                },
            )
            .optional()
            .map_err(&doing)?;
        let mut statement = self
            .db
            .prepare_cached("SELECT identity FROM room_operators WHERE room = ?1 ORDER BY rowid")
            .map_err(&doing)?;
        let operators = statement
            .query_map(params![room], |row| row.get::<_, String>(0))
            .map_err(&doing)?
            .filter_map(|identity| Fingerprint::parse(&identity.ok()?).ok())
            .collect();
        let privacy = self
            .db
            .query_row(
                "SELECT private, room_key FROM rooms WHERE name = ?1",
                params![room],
                |row| {
                    Ok(Privacy {
                        private: row.get::<_, i64>(0)? != 0,
                        key: row.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(&doing)?
            .unwrap_or_default();
        Ok(RoomRecord {
            operators,
            topic,
            privacy,
        })
    }

    fn found_room(
        &mut self,
        room: &str,
        founder: Option<&Fingerprint>,
    ) -> Result<bool, StoreError> {
        let doing = failed("cannot record the room");
        let tx = self.db.transaction().map_err(&doing)?;
        // Rooms are counted only for a new one: entering a known room,
        // the common case, is one lookup.
        let known = tx
            .query_row("SELECT 1 FROM rooms WHERE name = ?1", params![room], |_| {
                Ok(())
            })
            .optional()
            .map_err(&doing)?
            .is_some();
        if known {
            return Ok(false);
        }
        let rooms: i64 = tx
            .query_row("SELECT COUNT(*) FROM rooms", [], |row| row.get(0))
            .map_err(&doing)?;
        if rooms >= MAX_ROOMS {
            return Ok(false);
        }
        let new = tx
            .execute(
                "INSERT OR IGNORE INTO rooms (name) VALUES (?1)",
                params![room],
            )
            .map_err(&doing)?
            > 0;
        if let (true, Some(founder)) = (new, founder) {
            tx.execute(
                "INSERT OR IGNORE INTO room_operators (room, identity) VALUES (?1, ?2)",
                params![room, founder.as_str()],
            )
            .map_err(&doing)?;
        }
        tx.commit().map_err(&doing)?;
        Ok(new)
    }

    fn set_operator(
        &mut self,
        room: &str,
        identity: &Fingerprint,
        change: OperatorChange,
    ) -> Result<bool, StoreError> {
        // ?3 is the number of operators the room must have for the change
        // to happen: fewer than the most to give one more, more than one
        // to take one.
        let (sql, bound) = match change {
            OperatorChange::Give => (
                "INSERT OR IGNORE INTO room_operators (room, identity) SELECT ?1, ?2
                 WHERE (SELECT COUNT(*) FROM room_operators WHERE room = ?1) < ?3",
                MAX_ROOM_OPERATORS,
            ),
            OperatorChange::Take => (
                "DELETE FROM room_operators WHERE room = ?1 AND identity = ?2
                 AND (SELECT COUNT(*) FROM room_operators WHERE room = ?1) > ?3",
                1,
            ),
            OperatorChange::TakeEvenTheLast => (
                "DELETE FROM room_operators WHERE room = ?1 AND identity = ?2 AND ?3 >= 0",
                0,
            ),
        };
        let bound = i64::try_from(bound).unwrap_or(i64::MAX);
        let changed = self
            .db
            .execute(sql, params![room, identity.as_str(), bound])
            .map_err(failed("cannot change the room's operators"))?;
        Ok(changed > 0)
    }

    fn load_bans(&mut self, now_ms: u64) -> Result<Vec<Ban>, StoreError> {
        let doing = failed("cannot read the bans");
        let now = to_i64(now_ms);
        self.db
            .execute("DELETE FROM bans WHERE until_ms <= ?1", params![now])
            .map_err(&doing)?;
        let mut statement = self
            .db
            .prepare("SELECT room, target, until_ms, reason, by, at_ms FROM bans LIMIT ?1")
            .map_err(&doing)?;
        let limit = i64::try_from(crate::bans::MAX_BANS).unwrap_or(i64::MAX);
        let rows = statement
            .query_map(params![limit], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            })
            .map_err(&doing)?;
        let mut bans = Vec::new();
        for row in rows {
            let (room, target, until, reason, by, at) = row.map_err(&doing)?;
            // A target this version cannot read is skipped, not fatal.
            let Some(target) = BanTarget::parse(&target) else {
                continue;
            };
            bans.push(Ban {
                room: (!room.is_empty()).then_some(room),
                target,
                until_ms: until.map(to_u64),
                reason,
                by,
                at_ms: to_u64(at),
            });
        }
        Ok(bans)
    }

    fn add_ban(&mut self, ban: &Ban) -> Result<(), StoreError> {
        // Expired bans go as new ones come, so timed bans cannot pile up
        // rows while the server runs.
        self.db
            .execute(
                "DELETE FROM bans WHERE until_ms <= ?1",
                params![to_i64(ban.at_ms)],
            )
            .map_err(failed("cannot forget expired bans"))?;
        self.db
            .execute(
                "INSERT OR REPLACE INTO bans (room, target, until_ms, reason, by, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    ban.room.as_deref().unwrap_or_default(),
                    ban.target.to_string(),
                    ban.until_ms.map(to_i64),
                    ban.reason,
                    ban.by,
                    to_i64(ban.at_ms)
                ],
            )
            .map_err(failed("cannot keep the ban"))?;
        Ok(())
    }

    fn remove_ban(&mut self, room: Option<&str>, target: &BanTarget) -> Result<(), StoreError> {
        self.db
            .execute(
                "DELETE FROM bans WHERE room = ?1 AND target = ?2",
                params![room.unwrap_or_default(), target.to_string()],
            )
            .map_err(failed("cannot lift the ban"))?;
        Ok(())
    }

    fn set_privacy(&mut self, room: &str, privacy: &Privacy) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO rooms (name, private, room_key) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET private = ?2, room_key = ?3",
                params![room, i64::from(privacy.private), privacy.key],
            )
            .map_err(failed("cannot change who may enter the room"))?;
        Ok(())
    }

    fn private_rooms(&mut self) -> Result<Vec<String>, StoreError> {
        let doing = failed("cannot read which rooms are private");
        let mut statement = self
            .db
            .prepare("SELECT name FROM rooms WHERE private != 0")
            .map_err(&doing)?;
        let names = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(&doing)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&doing)?;
        Ok(names)
    }

    fn topics(&mut self, rooms: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        let doing = failed("cannot read the rooms' topics");
        let mut statement = self
            .db
            .prepare_cached("SELECT topic FROM rooms WHERE name = ?1 AND topic != ''")
            .map_err(&doing)?;
        let mut topics = Vec::new();
        // One lookup per room listed: the rooms someone is in, which the
        // hub bounds, rather than every room ever recorded.
        for room in rooms {
            let topic: Option<String> = statement
                .query_row(params![room], |row| row.get(0))
                .optional()
                .map_err(&doing)?;
            topics.extend(topic.map(|topic| (room.clone(), topic)));
        }
        Ok(topics)
    }

    fn set_topic(&mut self, room: &str, topic: &Topic) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO rooms (name, topic, topic_by, topic_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET topic = ?2, topic_by = ?3, topic_at = ?4",
                params![room, topic.text, topic.by, to_i64(topic.at_ms)],
            )
            .map_err(failed("cannot set the room's topic"))?;
        Ok(())
    }
}

/// What an export of a database reads, for `--migrate-from`: everything
/// in pages or in full (owners, rooms and sessions are capped at 100,000
/// each, so a full read is bounded).
impl SqliteStore {
    /// Up to `count` messages after id `after`, oldest first.
    pub fn messages_after(
        &self,
        after: u64,
        count: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let read = failed("cannot read messages");
        let mut statement = self
            .db
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))
            .map_err(&read)?;
        let limit = i64::try_from(count).unwrap_or(i64::MAX);
        let rows = statement
            .query_map(params![to_i64(after), limit], read_message)
            .map_err(&read)?;
        rows.collect::<Result<_, _>>().map_err(&read)
    }

    /// Every ownership: nickname as spelled, owner, last used.
    pub fn owners(&self) -> Result<Vec<(String, Fingerprint, u64)>, StoreError> {
        let read = failed("cannot read who owns which nickname");
        let mut statement = self
            .db
            .prepare("SELECT nick, identity, last_used FROM owners")
            .map_err(&read)?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    to_u64(row.get(2)?),
                ))
            })
            .map_err(&read)?;
        let mut owners = Vec::new();
        for row in rows {
            let (nick, identity, last_used) = row.map_err(&read)?;
            if let Ok(identity) = Fingerprint::parse(&identity) {
                owners.push((nick, identity, last_used));
            }
        }
        Ok(owners)
    }

    /// The name of every room recorded.
    pub fn room_names(&self) -> Result<Vec<String>, StoreError> {
        let read = failed("cannot read the rooms");
        let mut statement = self.db.prepare("SELECT name FROM rooms").map_err(&read)?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(&read)?;
        rows.collect::<Result<_, _>>().map_err(&read)
    }

    /// Every session, with when it was last used.
    pub fn sessions(&self) -> Result<Vec<(SessionRecord, u64)>, StoreError> {
        let read = failed("cannot read the sessions");
        let mut statement = self
            .db
            .prepare("SELECT token, nick, rooms, identity, last_seen FROM sessions")
            .map_err(&read)?;
        let rows = statement
            .query_map([], |row| {
                let token: String = row.get(0)?;
                let rooms: String = row.get(2)?;
                Ok((
                    token,
                    row.get::<_, String>(1)?,
                    rooms,
                    read_identity(row, 3)?,
                    to_u64(row.get(4)?),
                ))
            })
            .map_err(&read)?;
        let mut sessions = Vec::new();
        for row in rows {
            let (token, nick, rooms, identity, last_seen) = row.map_err(&read)?;
            let Some(token) = SessionToken::presented(token) else {
                continue;
            };
            let rooms = SessionRecord::rooms_from(&rooms);
            let record = SessionRecord {
                token,
                nick,
                rooms,
                identity,
            };
            sessions.push((record, last_seen));
        }
        Ok(sessions)
    }
}

impl SqliteStore {
    fn lapse_owners(&self, unused_ms: u64, now_ms: u64) -> Result<(), StoreError> {
        let cutoff = to_i64(now_ms.saturating_sub(unused_ms));
        self.db
            .execute("DELETE FROM owners WHERE last_used < ?1", params![cutoff])
            .map_err(failed("cannot forget unused nicknames"))?;
        Ok(())
    }

    /// Forgets sessions unused for [`SESSION_DAYS`], and the least recently
    /// used beyond [`MAX_SESSIONS`].
    fn forget_sessions(&self, now_ms: u64) -> Result<(), StoreError> {
        let doing = failed("cannot forget old sessions");
        let cutoff = to_i64(now_ms.saturating_sub(SESSION_DAYS * 86_400_000));
        self.db
            .execute("DELETE FROM sessions WHERE last_seen < ?1", params![cutoff])
            .map_err(&doing)?;
        self.db
            .execute(
                "DELETE FROM sessions WHERE last_seen <
                 (SELECT last_seen FROM sessions ORDER BY last_seen DESC LIMIT 1 OFFSET ?1)",
                params![to_i64(MAX_SESSIONS - 1)],
            )
            .map_err(&doing)?;
        Ok(())
    }

    /// The highest id that retention does not keep, if any: the stricter of
    /// the count and the age limit. Both are found by walking the rowid
    /// b-tree from one end, never by scanning the table: this runs for
    /// every history query and every thousand appends, and an `ORDER BY id
    /// DESC LIMIT 1 OFFSET keep` over a large table was a tenth of the
    /// server's CPU under load. The walk for the age limit passes only
    /// messages older than it, which retention deletes at its next pass.
    fn threshold(&self, kept: Kept) -> Result<Option<i64>, StoreError> {
        let doing = failed("cannot apply retention");
        let newest: Option<i64> = self
            .db
            .query_row("SELECT MAX(id) FROM messages", [], |row| row.get(0))
            .map_err(&doing)?;
        let Some(newest) = newest else {
            return Ok(None);
        };
        let mut threshold: Option<i64> = None;
        if let Some(keep) = kept.newest {
            // Ids are assigned without gaps (AUTOINCREMENT, one writer, and
            // a failed transaction rolls its ids back), so everything at or
            // below `newest - keep` is exactly what falls outside the newest
            // `keep`. Were there ever a gap, fewer would be kept, never more.
            let id = Some(newest.saturating_sub(to_i64(keep))).filter(|&id| id > 0);
            threshold = threshold.max(id);
        }
        if let Some(cutoff) = kept.not_before_ms {
            // Timestamps grow with ids (the server stamps both), so the
            // first message young enough to keep ends the walk; everything
            // before it goes. If there is none, everything goes.
            let cutoff = to_i64(cutoff);
            let first_kept: Option<i64> = self
                .db
                .query_row(
                    "SELECT id FROM messages WHERE ts >= ?1 ORDER BY id LIMIT 1",
                    params![cutoff],
                    |row| row.get(0),
                )
                .optional()
                .map_err(&doing)?;
            let id = match first_kept {
                Some(first_kept) => Some(first_kept - 1).filter(|&id| id > 0),
                None => Some(newest),
            };
            threshold = threshold.max(id);
        }
        Ok(threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Party;

    const DAY_MS: u64 = 86_400_000;

    fn alice() -> Party {
        Party::Identity(Fingerprint::of_public_key(b"alice's key"))
    }

    #[test]
    fn a_rooms_last_operator_stays_unless_an_admin_takes_the_role() {
        let mut store = SqliteStore::open(&DbLocation::Memory).unwrap();
        let (alice, bob) = (
            Fingerprint::of_public_key(b"alice"),
            Fingerprint::of_public_key(b"bob"),
        );
        assert!(store.found_room("dev", Some(&alice)).unwrap());
        assert!(
            !store.found_room("dev", Some(&bob)).unwrap(),
            "founded once"
        );
        assert!(
            !store
                .set_operator("dev", &alice, OperatorChange::Take)
                .unwrap()
        );
        assert!(
            store
                .set_operator("dev", &bob, OperatorChange::Give)
                .unwrap()
        );
        assert!(
            store
                .set_operator("dev", &alice, OperatorChange::Take)
                .unwrap()
        );
        assert!(
            !store
                .set_operator("dev", &bob, OperatorChange::Take)
                .unwrap()
        );
        let admin = OperatorChange::TakeEvenTheLast;
        assert!(store.set_operator("dev", &bob, admin).unwrap());
        assert_eq!(store.room("dev").unwrap().operators, []);
    }

    fn store_with(timestamps: &[u64]) -> SqliteStore {
        let mut store = SqliteStore::open(&DbLocation::Memory).unwrap();
        let batch: Vec<NewMessage> = timestamps
            .iter()
            .map(|&ts| {
                let lobby = Target::Room("lobby".into());
                NewMessage::unproved(ts, "alice".into(), lobby, format!("at {ts}"))
            })
            .collect();
        store.append(&batch).unwrap();
        store
    }

    /// How SQLite plans reading the rows of `query`: its plan's lines.
    fn plan_of(store: &SqliteStore, query: &SinceQuery) -> Vec<String> {
        let (rows, values) = resume_rows(query, 0);
        let sql = format!("EXPLAIN QUERY PLAN SELECT id {rows} ORDER BY id LIMIT 5");
        let mut statement = store.db.prepare(&sql).unwrap();
        let lines = statement
            .query_map(params_from_iter(values), |row| row.get::<_, String>(3))
            .unwrap();
        lines.map(Result::unwrap).collect()
    }

    #[test]
    fn a_page_of_one_room_or_of_direct_messages_is_read_from_their_indexes() {
        let store = SqliteStore::open(&DbLocation::Memory).unwrap();
        let query =
            |rooms: &[&str], direct_of: Option<Party>, direct_with: Option<&str>| SinceQuery {
                rooms: rooms.iter().map(|room| (*room).to_owned()).collect(),
                direct_of: direct_of.and_then(|party| party.identity().cloned()),
                direct_with: direct_with.map(NickKey::of),
                after: 0,
                up_to: u64::MAX,
                limit: 5,
            };
        let one_room = plan_of(&store, &query(&["dev"], None, None));
        assert!(
            one_room
                .iter()
                .any(|line| line.contains("messages_by_room")),
            "{one_room:?}"
        );
        // Without the rooms, each side of the direct messages has its index:
        // not a walk through every message, whoever's.
        for direct in [
            query(&[], Some(alice()), None),
            query(&[], Some(alice()), Some("bob")),
        ] {
            let plan = plan_of(&store, &direct);
            assert!(plan.iter().any(|line| line == "MULTI-INDEX OR"), "{plan:?}");
            assert!(
                !plan.iter().any(|line| line.contains("PRIMARY KEY")),
                "{plan:?}"
            );
        }
        // Wider reads walk by id, which stops at the limit.
        let resume = plan_of(&store, &query(&["dev", "lobby"], Some(alice()), None));
        assert!(
            resume.iter().any(|line| line.contains("PRIMARY KEY")),
            "{resume:?}"
        );
    }

    #[test]
    fn every_kind_of_message_is_read_back_as_it_was_stored() {
        let mut store = SqliteStore::open(&DbLocation::Memory).unwrap();
        let kinds = [MessageKind::Text, MessageKind::Action, MessageKind::Notice];
        let batch: Vec<NewMessage> = kinds
            .iter()
            .map(|&kind| NewMessage {
                kind,
                ..NewMessage::unproved(1, "bot".into(), Target::Room("lobby".into()), "hi".into())
            })
            .collect();
        store.append(&batch).unwrap();
        let query = SinceQuery {
            rooms: vec!["lobby".into()],
            direct_of: alice().identity().cloned(),
            after: 0,
            up_to: u64::MAX,
            limit: 10,
            direct_with: None,
        };
        let read = store.since(&query, Kept::default()).unwrap().messages;
        let read: Vec<_> = read.iter().map(|stored| stored.message.kind).collect();
        assert_eq!(read, kinds);
        // A kind from a newer version reads as text, which every client shows.
        assert_eq!(kind_of_code(9), MessageKind::Text);
    }

    fn ids(store: &mut SqliteStore) -> Vec<u64> {
        let query = SinceQuery {
            rooms: vec!["lobby".into()],
            direct_of: alice().identity().cloned(),
            after: 0,
            up_to: u64::MAX,
            limit: 1000,
            direct_with: None,
        };
        let history = store.since(&query, Kept::default()).unwrap();
        history.messages.iter().map(|m| m.id).collect()
    }

    fn query_plan(store: &SqliteStore, sql: &str) -> String {
        let mut plan = store
            .db
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let details = plan
            .query_map(params!["alice", 10, 50, 0], |row| row.get::<_, String>(3))
            .unwrap();
        details.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn direct_history_reads_the_direct_message_indexes() {
        let store = store_with(&[1]);
        let plan = query_plan(&store, &format!("SELECT {COLUMNS} {DIRECT_TAIL}"));
        assert!(
            plan.contains("messages_direct_by_sender_id")
                && plan.contains("messages_direct_by_recipient_id"),
            "{plan}"
        );
    }

    #[test]
    fn a_version_1_database_is_migrated_and_keeps_its_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let db = Connection::open(&path).unwrap();
            db.execute_batch(MIGRATION_1).unwrap();
            db.execute(
                "INSERT INTO messages (ts, sender, sender_key, room, text) VALUES (1, 'Al', 'al', 'lobby', 'old')",
                [],
            )
            .unwrap();
            db.pragma_update(None, "user_version", 1).unwrap();
        }
        let mut store = SqliteStore::open(&DbLocation::File(path)).unwrap();
        let version: i64 = store
            .db
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let indexes: Vec<String> = store
            .db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'messages_%' ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            indexes,
            [
                "messages_by_retry_scope",
                "messages_by_room",
                "messages_direct_by_recipient_id",
                "messages_direct_by_sender_id"
            ]
        );
        assert_eq!(ids(&mut store), vec![1]);
        assert_eq!(store.last_id().unwrap(), 1);
    }

    #[test]
    fn a_database_from_a_newer_lanchat_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("future.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let error = SqliteStore::open(&DbLocation::File(path)).unwrap_err();
        assert!(
            error.to_string().contains("newer than this lanchat"),
            "{error}"
        );
    }

    fn recent_ids(store: &mut SqliteStore, kept: Kept) -> Vec<u64> {
        let query = RecentQuery {
            rooms: vec!["lobby".into()],
            direct_of: alice().identity().cloned(),
            up_to: u64::MAX,
            per_room: 50,
            after: 0,
            direct_with: None,
        };
        let history = store.recent(&query, kept).unwrap();
        history.messages.iter().map(|m| m.id).collect()
    }

    fn since_ids(store: &mut SqliteStore, after: u64, kept: Kept) -> (Vec<u64>, bool) {
        let query = SinceQuery {
            rooms: vec!["lobby".into()],
            direct_of: alice().identity().cloned(),
            after,
            up_to: u64::MAX,
            limit: 1000,
            direct_with: None,
        };
        let history = store.since(&query, kept).unwrap();
        (history.messages.iter().map(|m| m.id).collect(), history.gap)
    }

    #[test]
    fn history_serves_nothing_retention_does_not_keep_even_before_pruning() {
        // Five messages ten days old, five of today; nothing pruned yet.
        let now = 10 * DAY_MS;
        let mut store = store_with(&[0, 0, 0, 0, 0, now, now, now, now, now]);
        let one_day = Kept::at(
            Retention {
                max_messages: None,
                max_days: Some(1),
            },
            now,
        );
        assert_eq!(recent_ids(&mut store, one_day), vec![6, 7, 8, 9, 10]);
        assert_eq!(
            since_ids(&mut store, 0, one_day),
            (vec![6, 7, 8, 9, 10], true)
        );
        assert_eq!(since_ids(&mut store, 7, one_day), (vec![8, 9, 10], false));
        let newest_three = Kept::at(
            Retention {
                max_messages: Some(3),
                max_days: None,
            },
            now,
        );
        assert_eq!(recent_ids(&mut store, newest_three), vec![8, 9, 10]);
        assert_eq!(
            since_ids(&mut store, 2, newest_three),
            (vec![8, 9, 10], true)
        );
        assert_eq!(recent_ids(&mut store, Kept::default()).len(), 10);
    }

    #[test]
    fn sessions_are_forgotten_after_a_month_and_beyond_the_cap() {
        let mut store = SqliteStore::open(&DbLocation::Memory).unwrap();
        let now = 40 * DAY_MS;
        let tx = store.db.transaction().unwrap();
        {
            let mut insert = tx
                .prepare("INSERT INTO sessions (token, nick, rooms, last_seen) VALUES (?1, 'n', 'lobby', ?2)")
                .unwrap();
            insert
                .execute(params!["a-month-ago", to_i64(DAY_MS)])
                .unwrap();
            for i in 0..MAX_SESSIONS + 5 {
                insert
                    .execute(params![format!("t{i}"), to_i64(now - 100_000 + i)])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        let keep_all = Retention {
            max_messages: None,
            max_days: None,
        };
        store.prune(keep_all, now).unwrap();
        let count: i64 = store
            .db
            .query_row("SELECT COUNT(*) FROM sessions", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, to_i64(MAX_SESSIONS));
        let token = |t: &str| SessionToken::presented(t.to_owned()).unwrap();
        assert!(store.load_session(&token("a-month-ago")).unwrap().is_none());
        assert!(
            store.load_session(&token("t4")).unwrap().is_none(),
            "least recent"
        );
        assert!(store.load_session(&token("t5")).unwrap().is_some());
    }

    #[test]
    fn retention_by_count_keeps_exactly_the_newest() {
        let mut store = store_with(&[1; 10]);
        let keep_four = Retention {
            max_messages: Some(4),
            max_days: None,
        };
        assert_eq!(store.prune(keep_four, 2).unwrap(), 6);
        assert_eq!(ids(&mut store), vec![7, 8, 9, 10]);
        assert_eq!(
            store.prune(keep_four, 2).unwrap(),
            0,
            "nothing more to drop"
        );
        assert_eq!(ids(&mut store), vec![7, 8, 9, 10]);
        assert_eq!(store.pruned_through().unwrap(), 6);
    }

    #[test]
    fn retention_by_count_leaves_a_smaller_table_alone() {
        let mut store = store_with(&[1; 3]);
        let keep_four = Retention {
            max_messages: Some(4),
            max_days: None,
        };
        assert_eq!(store.prune(keep_four, 2).unwrap(), 0);
        assert_eq!(ids(&mut store), vec![1, 2, 3]);
        assert_eq!(store.pruned_through().unwrap(), 0);
    }

    #[test]
    fn retention_by_age_drops_what_is_older_than_the_cutoff() {
        let now = 10 * DAY_MS;
        let mut store = store_with(&[DAY_MS, 2 * DAY_MS, 8 * DAY_MS + 1, 9 * DAY_MS, now]);
        let two_days = Retention {
            max_messages: None,
            max_days: Some(2),
        };
        assert_eq!(store.prune(two_days, now).unwrap(), 2);
        assert_eq!(ids(&mut store), vec![3, 4, 5]);
        // Much later, everything has aged out.
        assert_eq!(store.prune(two_days, now + 5 * DAY_MS).unwrap(), 3);
        assert_eq!(ids(&mut store), Vec::<u64>::new());
        assert_eq!(store.pruned_through().unwrap(), 5);
    }

    #[test]
    fn the_stricter_of_count_and_age_wins() {
        let now = 10 * DAY_MS;
        let mut store = store_with(&[DAY_MS, 9 * DAY_MS, 9 * DAY_MS, 9 * DAY_MS, now]);
        let both = Retention {
            max_messages: Some(2),
            max_days: Some(2),
        };
        assert_eq!(store.prune(both, now).unwrap(), 3);
        assert_eq!(ids(&mut store), vec![4, 5]);
    }
}

#[cfg(test)]
mod checkpoint_tests {
    use std::ffi::c_int;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use super::*;

    /// Commits `count` messages one transaction at a time, as the store
    /// thread does under light load: every commit adds pages to the log.
    fn commit_one_by_one(store: &mut SqliteStore, count: usize) {
        for i in 0..count {
            let message = NewMessage {
                ts: 1,
                from: format!("sender{}", i % 50),
                target: Target::Room("lobby".into()),
                text: "x".repeat(200),
                kind: MessageKind::Text,
                client_id: Some(format!("c{i}")),
                sender_identity: None,
                recipient_identity: None,
                retry_scope: None,
                origin: None,
            };
            store.append(&[message]).unwrap();
        }
    }

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    fn wal_of(path: &Path) -> PathBuf {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        PathBuf::from(wal)
    }

    #[test]
    fn the_background_thread_copies_the_log_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let limits = CheckpointLimits {
            background_pages: 10,
            writer_pages: c_int::MAX,
        };
        let mut store = SqliteStore::open_with(&DbLocation::File(path.clone()), limits).unwrap();
        let empty = file_len(&path);
        commit_one_by_one(&mut store, 200);
        // Only a checkpoint writes the messages into the database file;
        // until then they are in the log alone.
        let deadline = Instant::now() + Duration::from_secs(20);
        while file_len(&path) <= empty {
            assert!(
                Instant::now() < deadline,
                "no checkpoint within 20 s ({empty} bytes)"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn the_writer_bounds_the_log_when_the_background_does_not_keep_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        // The background thread is never asked: only the writer's own
        // checkpoints keep the log from growing.
        let limits = CheckpointLimits {
            background_pages: c_int::MAX,
            writer_pages: 100,
        };
        let mut store = SqliteStore::open_with(&DbLocation::File(path.clone()), limits).unwrap();
        commit_one_by_one(&mut store, 1000);
        let page_size: i64 = store
            .db
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .unwrap();
        let page_size = page_size as u64;
        // A commit here adds a handful of pages; without the writer's
        // checkpoints the log would hold several thousand.
        let bound = (100 + 50) * (page_size + 24) + 32;
        let wal = file_len(&wal_of(&path));
        assert!(wal > 0 && wal <= bound, "log of {wal} bytes, bound {bound}");
    }

    #[test]
    fn closing_the_store_leaves_everything_in_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let mut store = SqliteStore::open(&DbLocation::File(path.clone())).unwrap();
        commit_one_by_one(&mut store, 20);
        drop(store);
        assert!(
            !wal_of(&path).exists(),
            "the last connection to close checkpoints and removes the log"
        );
        let mut reopened = SqliteStore::open(&DbLocation::File(path)).unwrap();
        assert_eq!(reopened.last_id().unwrap(), 20);
    }
}
