//! The room: who is here, message ids, and the one broadcast fan-out.
//!
//! Every event that everybody sees (message, join, leave) is stamped and
//! published while holding one lock, so ids are strictly increasing and
//! every subscriber receives events in exactly the same order. Each event is
//! serialised to JSON once, here; every JSON client's writer shares those
//! bytes.
//!
//! The fan-out is a `tokio::sync::broadcast` ring of `queue_len` events:
//! publishing never waits for a subscriber, so a client that stops reading
//! cannot slow anybody down, and the memory it can pin is the ring itself.
//! A subscriber that falls a whole ring behind learns it from `Lagged` and
//! is cut off as a slow consumer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lanchat_shared::{Nick, ServerMsg};
use tokio::sync::broadcast;

/// One event as every subscriber receives it.
#[derive(Debug)]
pub(crate) struct RoomEvent {
    /// The event itself, for encodings other than JSON.
    pub(crate) msg: ServerMsg,
    /// `msg` as one JSON line, made once for every JSON client.
    pub(crate) json: Bytes,
}

/// The shared state of the chat room.
#[derive(Debug)]
pub(crate) struct Room {
    state: Mutex<RoomState>,
    events: broadcast::Sender<Arc<RoomEvent>>,
}

#[derive(Debug)]
struct RoomState {
    /// Members by case-folded nickname, so uniqueness ignores case.
    members: HashMap<String, Nick>,
    /// The id the next message gets; ids start at 1 so a client can say
    /// "everything after 0".
    next_id: u64,
}

/// A client's place in the room. While it exists the nickname is taken;
/// dropping it frees the nickname and tells the others, so a nickname can
/// never outlive its connection, whatever path the connection ends by.
#[derive(Debug)]
pub(crate) struct Membership {
    room: Arc<Room>,
    nick: Nick,
    leave_reason: String,
}

/// What a successful join hands the new member.
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) membership: Membership,
    /// Everyone present, the new member included, sorted ignoring case.
    pub(crate) users: Vec<String>,
    /// Room events after the new member's own `join`.
    pub(crate) events: broadcast::Receiver<Arc<RoomEvent>>,
}

/// The nickname is in use (ignoring case).
#[derive(Debug)]
pub(crate) struct NickTaken;

impl Room {
    pub(crate) fn new(queue_len: usize) -> Arc<Room> {
        let (events, _) = broadcast::channel(queue_len.max(1));
        Arc::new(Room {
            state: Mutex::new(RoomState {
                members: HashMap::new(),
                next_id: 1,
            }),
            events,
        })
    }

    /// Adds `nick` to the room, announces it to the others and subscribes
    /// the newcomer to everything after its own `join`.
    pub(crate) fn join(self: &Arc<Room>, nick: Nick) -> Result<Joined, NickTaken> {
        let mut state = self.lock();
        let key = nick.folded();
        if state.members.contains_key(&key) {
            return Err(NickTaken);
        }
        state.members.insert(key, nick.clone());
        let users = sorted_nicks(&state);
        self.publish(ServerMsg::Join {
            nick: nick.to_string(),
        });
        // Subscribing under the lock, after publishing, means the newcomer
        // sees neither its own join nor a gap before the next event.
        let events = self.events.subscribe();
        drop(state);
        Ok(Joined {
            membership: Membership {
                room: Arc::clone(self),
                nick,
                leave_reason: "connection closed".to_owned(),
            },
            users,
            events,
        })
    }

    /// Everyone present, sorted ignoring case.
    pub(crate) fn users(&self) -> Vec<String> {
        sorted_nicks(&self.lock())
    }

    fn say(&self, from: &Nick, text: String) -> u64 {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        self.publish(ServerMsg::Message {
            id,
            ts: unix_millis(),
            from: from.to_string(),
            text,
        });
        id
    }

    fn leave(&self, nick: &Nick, reason: String) {
        let mut state = self.lock();
        if state.members.remove(&nick.folded()).is_some() {
            self.publish(ServerMsg::Leave {
                nick: nick.to_string(),
                reason,
            });
        }
    }

    /// Sends `msg` to every subscriber. Called with the state lock held, which
    /// is what makes the order the same for everybody.
    fn publish(&self, msg: ServerMsg) {
        let json = msg.to_line();
        // An error only means nobody is subscribed, which is fine.
        let _ = self.events.send(Arc::new(RoomEvent { msg, json }));
    }

    fn lock(&self) -> MutexGuard<'_, RoomState> {
        // No code panics while holding this lock, so a poisoned lock still
        // holds consistent state; carrying on beats taking the room down.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Membership {
    pub(crate) fn nick(&self) -> &Nick {
        &self.nick
    }

    /// Publishes `text` (already sanitised) from this member; returns its id.
    pub(crate) fn say(&self, text: String) -> u64 {
        self.room.say(&self.nick, text)
    }

    /// Sets the reason the others will see when this membership ends.
    pub(crate) fn set_leave_reason(&mut self, reason: String) {
        self.leave_reason = reason;
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let reason = std::mem::take(&mut self.leave_reason);
        self.room.leave(&self.nick, reason);
    }
}

fn sorted_nicks(state: &RoomState) -> Vec<String> {
    let mut nicks: Vec<String> = state.members.values().map(Nick::to_string).collect();
    nicks.sort_by_key(|n| n.to_ascii_lowercase());
    nicks
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(s: &str) -> Nick {
        Nick::parse(s).unwrap()
    }

    #[test]
    fn nicknames_are_unique_ignoring_case_and_freed_on_drop() {
        let room = Room::new(16);
        let alice = room.join(nick("Alice")).unwrap();
        assert!(room.join(nick("alice")).is_err());
        drop(alice);
        assert!(room.join(nick("alice")).is_ok());
    }

    #[test]
    fn members_see_others_join_say_and_leave_in_order() {
        let room = Room::new(16);
        let mut alice = room.join(nick("alice")).unwrap();
        let mut bob = room.join(nick("bob")).unwrap();
        assert_eq!(bob.users, vec!["alice", "bob"]);
        let first = bob.membership.say("one".into());
        let second = alice.membership.say("two".into());
        assert!(second > first);
        bob.membership.set_leave_reason("quit".into());
        drop(bob);

        let seen: Vec<ServerMsg> = std::iter::from_fn(|| alice.events.try_recv().ok())
            .map(|e| e.msg.clone())
            .collect();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert_eq!(seen[0], ServerMsg::Join { nick: "bob".into() });
        assert!(
            matches!(&seen[1], ServerMsg::Message { id, text, from, .. } if *id == first && text == "one" && from == "bob")
        );
        assert!(
            matches!(&seen[2], ServerMsg::Message { id, text, .. } if *id == second && text == "two")
        );
        assert_eq!(
            seen[3],
            ServerMsg::Leave {
                nick: "bob".into(),
                reason: "quit".into()
            }
        );
    }
}
