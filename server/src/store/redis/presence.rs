//! Who is where among the servers of a group. Each server's hub hands
//! its changes (see `hub::remote`) to its store, which records each in
//! `lanchat:presence` and appends it to the shared log in one script; a
//! server that starts reads the record, then follows the log.

use std::collections::VecDeque;

use redis::RedisError;
use redis::streams::StreamRangeReply;
use tracing::{error, warn};

use super::{Link, RedisStore, StoreError};
use crate::domain::Clock;
use crate::store::{PresenceChange, PresenceSource, SharedPresence};

/// Changes kept while Redis cannot be reached, at most: past it new ones
/// are dropped (and logged), and the other servers' lists of who is where
/// stay wrong about those members until they connect again. A change
/// is made by a client's request or its leaving, so this is far more than
/// a server's clients make while Redis restarts.
pub(super) const MAX_UNSHARED: usize = 100_000;

/// Changes sent to Redis in one round trip, at most.
const PER_ROUND_TRIP: usize = 256;

/// Entries between messages deleted from the log in one pass (at each
/// renewal of the lease), at most: a bound on how long the pass holds
/// Redis, and still far more than servers write in one.
const TRIMMED_PER_PASS: usize = 10_000;

/// Changes not yet in Redis, oldest first, each with its number.
#[derive(Debug, Default)]
pub(super) struct Unshared {
    changes: VecDeque<(u64, PresenceChange)>,
    /// The number of the last change kept.
    numbered: u64,
    /// Whether changes were dropped since Redis last took some, so that a
    /// long outage is logged once rather than once a change.
    dropping: bool,
}

impl RedisStore {
    /// Keeps `changes` to share, then shares every change kept, in order.
    pub(super) fn share(&mut self, changes: Vec<PresenceChange>) -> Result<(), StoreError> {
        let unshared = &mut self.unshared;
        let room = MAX_UNSHARED.saturating_sub(unshared.changes.len());
        if changes.len() > room && !unshared.dropping {
            unshared.dropping = true;
            warn!(
                kept = MAX_UNSHARED,
                "too many changes of who is where wait for Redis; newer ones are dropped"
            );
        }
        for change in changes.into_iter().take(room) {
            unshared.numbered += 1;
            unshared.changes.push_back((unshared.numbered, change));
        }
        self.share_kept()
    }

    /// Shares the changes kept while Redis was away, in order; stops at a
    /// failure to reach Redis, keeping the rest for the next try. A change
    /// whose round trip failed after Redis ran it is sent again, and
    /// dropped there by its number. A change Redis refuses with an error
    /// (its records hold what this version cannot read) is dropped, and
    /// logged, so that it cannot hold back every message after it.
    pub(super) fn share_kept(&mut self) -> Result<(), StoreError> {
        while !self.unshared.changes.is_empty() {
            let count = self.unshared.changes.len().min(PER_ROUND_TRIP);
            match self.send(0..count) {
                Ok(()) => {}
                Err(error) if refused(&error) => self.send_one_by_one(count)?,
                Err(error) => return Err(error),
            }
            self.unshared.changes.drain(..count);
            self.unshared.dropping = false;
        }
        Ok(())
    }

    /// Sends the changes kept at `positions` in one round trip.
    fn send(&mut self, positions: std::ops::Range<usize>) -> Result<(), StoreError> {
        // Loaded first: a Redis that restarted has forgotten the script.
        let mut pipe = redis::pipe();
        pipe.load_script(&self.scripts.presence).ignore();
        for (number, change) in self.unshared.changes.range(positions) {
            pipe.add_command(self.presence_invocation(*number, change))
                .ignore();
        }
        self.link
            .run("cannot tell the other servers who is where", |c| {
                pipe.query::<()>(c)
            })
    }

    /// Sends the oldest `count` changes one at a time (those that went
    /// through in a round trip that failed are dropped by their numbers),
    /// dropping those Redis refuses.
    fn send_one_by_one(&mut self, count: usize) -> Result<(), StoreError> {
        for index in 0..count {
            match self.send(index..index + 1) {
                Ok(()) => {}
                Err(error) if refused(&error) => {
                    error!(
                        error = error.explained(),
                        "Redis refuses a change of who is where; dropped"
                    );
                }
                Err(error) => {
                    // The ones before went through: not sent again.
                    self.unshared.changes.drain(..index);
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// The script call that shares `change`, numbered `number` (the
    /// script loaded before it in the same round trip).
    fn presence_invocation(&self, number: u64, change: &PresenceChange) -> redis::Cmd {
        let mut call = redis::cmd("EVALSHA");
        call.arg(self.scripts.presence.get_hash())
            .arg(0)
            .arg(&self.history)
            .arg(Clock::system().now_millis())
            .arg(&self.server.0)
            .arg(&change.nick)
            .arg(&change.was)
            .arg(u8::from(change.arrived))
            .arg(&change.member)
            .arg(&change.events)
            .arg(number);
        call
    }
}

impl RedisStore {
    /// Deletes entries between messages that every live server has read
    /// (see `TRIM_EVENTS`); returns how many.
    pub(super) fn trim_events(&mut self) -> Result<u64, StoreError> {
        let mut invocation = self.scripts.trim_events.prepare_invoke();
        invocation.arg(TRIMMED_PER_PASS);
        self.link
            .run("cannot trim the shared log", |c| invocation.invoke(c))
    }
}

/// True if Redis answered with an error (it refuses what was sent), not
/// if it could not be reached.
fn refused(error: &StoreError) -> bool {
    error.caused_by_a::<RedisError>(|e| !super::broken(e))
}

/// Who is where on the other servers now, from the record, and the last
/// entry of the log then (`<id>-<n>`, none for an empty log): what a
/// server that starts knows of them, and the point after which the log
/// tells it more. Read in one transaction, so the two agree.
pub(super) fn now(
    link: &mut Link,
    server: &str,
) -> Result<(Vec<SharedPresence>, Option<Position>), StoreError> {
    let (record, last): (Vec<(String, String)>, StreamRangeReply) =
        link.read("cannot read who is where", |c| {
            redis::pipe()
                .atomic()
                .cmd("HGETALL")
                .arg("lanchat:presence")
                .cmd("XREVRANGE")
                .arg("lanchat:log")
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query(c)
        })?;
    let members = record.into_iter().filter_map(|(nick, held)| {
        let (holder, member) = held.split_once(' ')?;
        (holder != server).then(|| SharedPresence {
            source: PresenceSource::Theirs,
            nick,
            was: String::new(),
            member: member.to_owned(),
            events: String::new(),
        })
    });
    let last = last.ids.first().and_then(|entry| entry_position(&entry.id));
    Ok((members.collect(), last))
}

/// Where an entry stands in the log: `<id>-<n>` as numbers, in order.
pub(super) type Position = (u64, u64);

/// Where entry `<id>-<n>` stands in the log.
pub(super) fn entry_position(entry: &str) -> Option<Position> {
    let (id, n) = entry.split_once('-')?;
    Some((id.parse().ok()?, n.parse().ok()?))
}
