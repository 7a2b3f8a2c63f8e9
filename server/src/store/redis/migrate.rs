//! `--migrate-from`: a server's SQLite history copied into an empty Redis
//! with the ids it has, so that clients resume across the move as across
//! a restart (the history keeps its name, `history_id`, too).

use super::{Link, RedisStore, append_args};
use crate::store::{SqliteStore, Store, StoreError};

/// Messages copied per script call: a few hundred kilobytes, so Redis is
/// never held for long by one call.
const PAGE: usize = 500;

/// What a migration copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Messages, with their ids.
    pub messages: u64,
    /// The last id the database gave out; Redis gives out the next.
    pub last_id: u64,
    /// Owned nicknames.
    pub owners: u64,
    /// Rooms recorded (operators, topics, privacy).
    pub rooms: u64,
    /// Bans in force.
    pub bans: u64,
    /// Sessions.
    pub sessions: u64,
}

impl RedisStore {
    /// Copies everything `sqlite` keeps into this Redis, which must hold no
    /// messages yet (a second migration, or one into a Redis in use, would
    /// mix two histories under one set of ids).
    pub fn copy_from(
        &mut self,
        sqlite: &mut SqliteStore,
        now_ms: u64,
    ) -> Result<Migrated, StoreError> {
        let counter = self.last_id()?;
        if counter > 0 {
            return Err(StoreError::new(format!(
                "Redis already holds messages (lanchat:next_id is {counter}); migrate into an empty Redis"
            )));
        }
        let (history_id, pruned) = (sqlite.history_id()?, sqlite.pruned_through()?);
        let mut migrated = Migrated {
            messages: self.copy_messages(sqlite, &history_id)?,
            last_id: sqlite.last_id()?,
            ..Migrated::default()
        };
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg("lanchat:next_id")
            .arg(migrated.last_id)
            .ignore()
            .cmd("SET")
            .arg("lanchat:pruned_through")
            .arg(pruned)
            .ignore()
            .cmd("SET")
            .arg("lanchat:history_id")
            .arg(&history_id)
            .ignore();
        self.link
            .run("cannot copy the history", |c| pipe.query::<()>(c))?;
        self.history = history_id;
        migrated.owners = copy_owners(&mut self.link, sqlite)?;
        migrated.rooms = self.copy_rooms(sqlite)?;
        for ban in sqlite.load_bans(now_ms)? {
            self.add_ban(&ban)?;
            migrated.bans += 1;
        }
        for (session, last_seen) in sqlite.sessions()? {
            self.save_session(&session, last_seen)?;
            migrated.sessions += 1;
        }
        Ok(migrated)
    }

    fn copy_messages(&mut self, sqlite: &SqliteStore, history: &str) -> Result<u64, StoreError> {
        let (mut after, mut copied) = (0, 0);
        loop {
            let page = sqlite.messages_after(after, PAGE)?;
            let Some(last) = page.last() else {
                return Ok(copied);
            };
            after = last.id;
            let mut invocation = self.scripts.import.prepare_invoke();
            invocation.arg(history);
            for stored in &page {
                invocation.arg(stored.id);
                for arg in append_args(&self.server, &stored.message)? {
                    invocation.arg(arg);
                }
            }
            self.link
                .run("cannot copy messages", |c| invocation.invoke::<u64>(c))?;
            copied += page.len() as u64;
        }
    }

    fn copy_rooms(&mut self, sqlite: &mut SqliteStore) -> Result<u64, StoreError> {
        let names = sqlite.room_names()?;
        for name in &names {
            let record = sqlite.room(name)?;
            self.found_room(name, record.operators.first())?;
            for operator in record.operators.iter().skip(1) {
                self.set_operator(name, operator, crate::store::OperatorChange::Give)?;
            }
            if let Some(topic) = &record.topic {
                self.set_topic(name, topic)?;
            }
            self.set_privacy(name, &record.privacy)?;
        }
        Ok(names.len() as u64)
    }
}

fn copy_owners(link: &mut Link, sqlite: &SqliteStore) -> Result<u64, StoreError> {
    let owners = sqlite.owners()?;
    for chunk in owners.chunks(PAGE) {
        let mut pipe = redis::pipe();
        for (nick, identity, last_used) in chunk {
            let key = crate::domain::NickKey::of(nick);
            pipe.cmd("HSET")
                .arg(format!("lanchat:owner:{}", key.as_str()))
                .arg("identity")
                .arg(identity.as_str())
                .arg("nick")
                .arg(nick)
                .arg("last_used")
                .arg(last_used)
                .ignore()
                .cmd("ZADD")
                .arg("lanchat:owners")
                .arg(last_used)
                .arg(key.as_str())
                .ignore()
                .cmd("SADD")
                .arg(format!("lanchat:owned:{identity}"))
                .arg(key.as_str())
                .ignore();
        }
        link.run("cannot copy who owns which nickname", |c| {
            pipe.query::<()>(c)
        })?;
    }
    Ok(owners.len() as u64)
}
