//! The SQLite implementation of [`Store`]: one file in WAL mode, one schema
//! with numbered migrations (`PRAGMA user_version`).
//!
//! Schema (migration 1):
//! - `messages(id INTEGER PRIMARY KEY AUTOINCREMENT, ts, sender, sender_key,
//!   room, recipient, recipient_key, text, action, client_id)`: `room` is set
//!   for room messages, `recipient` for direct ones. AUTOINCREMENT keeps ids
//!   from ever being reused, even after retention empties the table.
//!   Indexes: `(room, id)`, `(sender_key, id)`, `(recipient_key, id)`, and
//!   a unique `(sender_key, client_id)` for idempotent sends.
//! - `sessions(token PRIMARY KEY, nick, rooms, last_seen)`.
//! - `meta(key PRIMARY KEY, value)`: `pruned_through`, the highest id
//!   retention has removed, to tell a resuming client about a gap.
//!
//! `synchronous = NORMAL` with WAL: a committed message survives the
//! process being killed (the OS has it); only a power cut can lose the last
//! moments, which is the usual trade for a chat server.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::{
    Appended, DbLocation, History, HistoryQuery, NewMessage, Retention, SessionRecord, Store,
    StoreError, StoredMessage, Target,
};

/// The schema version this code writes.
const SCHEMA_VERSION: i64 = 1;

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

const COLUMNS: &str = "id, ts, sender, room, recipient, text, action, client_id";

/// Sessions unused for this long are forgotten at the next retention pass.
const SESSION_DAYS: u64 = 30;

/// A message database in SQLite.
#[derive(Debug)]
pub struct SqliteStore {
    db: Connection,
}

fn failed(doing: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |error| StoreError(format!("{doing}: {error}"))
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database. Every failure
    /// — an unwritable directory, a file that is not a database, one locked
    /// by another process, one from a newer lanchat — is a clear error.
    pub fn open(location: &DbLocation) -> Result<SqliteStore, StoreError> {
        let db = match location {
            DbLocation::Memory => Connection::open_in_memory(),
            DbLocation::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
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
        let mut store = SqliteStore { db };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .db
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(failed("cannot read the schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError(format!(
                "the database has schema version {version}, newer than this lanchat understands ({SCHEMA_VERSION})"
            )));
        }
        if version < 1 {
            let tx = self.db.transaction().map_err(failed("cannot migrate"))?;
            tx.execute_batch(MIGRATION_1)
                .map_err(failed("cannot create the schema"))?;
            tx.pragma_update(None, "user_version", 1)
                .map_err(failed("cannot migrate"))?;
            tx.commit().map_err(failed("cannot migrate"))?;
        }
        Ok(())
    }

    fn pruned_through(&self) -> Result<u64, StoreError> {
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
            action: row.get::<_, i64>(6)? != 0,
            client_id: row.get(7)?,
        },
    })
}

impl Store for SqliteStore {
    fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Appended>, StoreError> {
        let tx = self
            .db
            .transaction()
            .map_err(failed("cannot store messages"))?;
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let mut find = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM messages WHERE sender_key = ?1 AND client_id = ?2"
                ))
                .map_err(failed("cannot store messages"))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO messages (ts, sender, sender_key, room, recipient, recipient_key, text, action, client_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
                )
                .map_err(failed("cannot store messages"))?;
            for message in batch {
                let sender_key = message.from.to_ascii_lowercase();
                if let Some(client_id) = &message.client_id {
                    let existing = find
                        .query_row(params![sender_key, client_id], read_message)
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
                let recipient_key = recipient.map(str::to_ascii_lowercase);
                let id: i64 = insert
                    .query_row(
                        params![
                            to_i64(message.ts),
                            message.from,
                            sender_key,
                            room,
                            recipient,
                            recipient_key,
                            message.text,
                            i64::from(message.action),
                            message.client_id,
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

    fn history(&mut self, query: &HistoryQuery) -> Result<History, StoreError> {
        let up_to = to_i64(query.up_to);
        let mut messages = Vec::new();
        let mut gap = false;
        let read = failed("cannot read history");
        match query.after {
            None => {
                let tail = i64::try_from(query.tail).unwrap_or(i64::MAX);
                let mut by_room = self
                    .db
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM messages WHERE room = ?1 AND id <= ?2 ORDER BY id DESC LIMIT ?3"
                    ))
                    .map_err(&read)?;
                for room in &query.rooms {
                    let rows = by_room
                        .query_map(params![room, up_to, tail], read_message)
                        .map_err(&read)?;
                    for row in rows {
                        messages.push(row.map_err(&read)?);
                    }
                }
                if !query.include_direct {
                    messages.sort_by_key(|m| m.id);
                    return Ok(History { messages, gap });
                }
                let mut direct = self
                    .db
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM messages WHERE room IS NULL AND id <= ?2
                         AND (sender_key = ?1 OR recipient_key = ?1) ORDER BY id DESC LIMIT ?3"
                    ))
                    .map_err(&read)?;
                let rows = direct
                    .query_map(params![query.nick_key, up_to, tail], read_message)
                    .map_err(&read)?;
                for row in rows {
                    messages.push(row.map_err(&read)?);
                }
            }
            Some(after) => {
                gap = after < self.pruned_through()?;
                let placeholders = vec!["?"; query.rooms.len()].join(", ");
                let sql = format!(
                    "SELECT {COLUMNS} FROM messages WHERE id > ? AND id <= ?
                     AND (room IN ({placeholders}) OR (room IS NULL AND (sender_key = ? OR recipient_key = ?)))
                     ORDER BY id DESC LIMIT ?"
                );
                let limit = i64::try_from(query.resume_limit.saturating_add(1)).unwrap_or(i64::MAX);
                let mut values: Vec<rusqlite::types::Value> =
                    vec![to_i64(after).into(), up_to.into()];
                values.extend(query.rooms.iter().map(|r| r.clone().into()));
                values.push(query.nick_key.clone().into());
                values.push(query.nick_key.clone().into());
                values.push(limit.into());
                let mut statement = self.db.prepare(&sql).map_err(&read)?;
                let rows = statement
                    .query_map(params_from_iter(values), read_message)
                    .map_err(&read)?;
                for row in rows {
                    messages.push(row.map_err(&read)?);
                }
                if messages.len() > query.resume_limit {
                    messages.truncate(query.resume_limit);
                    gap = true;
                }
            }
        }
        messages.sort_by_key(|m| m.id);
        messages.dedup_by_key(|m| m.id);
        Ok(History { messages, gap })
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

    fn save_session(&mut self, session: &SessionRecord) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO sessions (token, nick, rooms, last_seen) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(token) DO UPDATE SET nick = ?2, rooms = ?3, last_seen = ?4",
                params![
                    session.token,
                    session.nick,
                    session.rooms.join(","),
                    to_i64(crate::hub::unix_millis())
                ],
            )
            .map_err(failed("cannot save the session"))?;
        Ok(())
    }

    fn load_session(&mut self, token: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.db
            .query_row(
                "SELECT nick, rooms FROM sessions WHERE token = ?1",
                params![token],
                |row| {
                    let rooms: String = row.get(1)?;
                    Ok(SessionRecord {
                        token: token.to_owned(),
                        nick: row.get(0)?,
                        rooms: rooms
                            .split(',')
                            .filter(|r| !r.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    })
                },
            )
            .optional()
            .map_err(failed("cannot read the session"))
    }

    fn prune(&mut self, retention: Retention, now_ms: u64) -> Result<u64, StoreError> {
        let doing = failed("cannot apply retention");
        let mut threshold: Option<i64> = None;
        if let Some(keep) = retention.max_messages {
            let id: Option<i64> = self
                .db
                .query_row(
                    "SELECT id FROM messages ORDER BY id DESC LIMIT 1 OFFSET ?1",
                    params![to_i64(keep)],
                    |row| row.get(0),
                )
                .optional()
                .map_err(&doing)?;
            threshold = threshold.max(id);
        }
        if let Some(days) = retention.max_days {
            let cutoff = to_i64(now_ms.saturating_sub(days.saturating_mul(86_400_000)));
            let id: Option<i64> = self
                .db
                .query_row(
                    "SELECT MAX(id) FROM messages WHERE ts < ?1",
                    params![cutoff],
                    |row| row.get(0),
                )
                .map_err(&doing)?;
            threshold = threshold.max(id);
        }
        let session_cutoff = to_i64(now_ms.saturating_sub(SESSION_DAYS * 86_400_000));
        self.db
            .execute(
                "DELETE FROM sessions WHERE last_seen < ?1",
                params![session_cutoff],
            )
            .map_err(&doing)?;
        let Some(threshold) = threshold else {
            return Ok(0);
        };
        let tx = self.db.transaction().map_err(&doing)?;
        let deleted = tx
            .execute("DELETE FROM messages WHERE id <= ?1", params![threshold])
            .map_err(&doing)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('pruned_through', ?1)
             ON CONFLICT(key) DO UPDATE SET value = MAX(value, ?1)",
            params![threshold],
        )
        .map_err(&doing)?;
        tx.commit().map_err(&doing)?;
        Ok(deleted as u64)
    }
}
