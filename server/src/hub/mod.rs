//! The hub: who is connected, who is in which room, and the one broadcast
//! fan-out of everything that happens.
//!
//! Every event (message, join, leave, nick change) is published while
//! holding one lock, so every subscriber receives events in the same order,
//! and messages (published by the store thread after their commit, in id
//! order) appear in strictly increasing id order. Each event is serialised
//! to JSON once; every JSON client's writer shares those bytes.
//!
//! The fan-out is a `tokio::sync::broadcast` ring of `queue_len` events.
//! Publishing never waits for a subscriber: a client that stops reading
//! cannot slow anybody down, and the memory it can pin is the ring itself.
//! Each event names its audience (a room, the two people of a direct
//! message, the rooms of someone renamed); each writer checks it against
//! its client's [`MemberView`] and skips what is not for it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use bytes::Bytes;
use lanchat_shared::{Fingerprint, Nick, RoomName, ServerMsg};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::domain::{ConnectionId, NickKey, SessionToken, ShownTo, StoredMessage, Target};
use crate::store::{PresenceChange, PresenceSource, Publish, SharedPresence};

mod remote;

use remote::{RemoteMember, Whose};

/// What every subscriber receives from the ring: one event, or every
/// message of one commit. Publishing a commit's messages together wakes
/// each writer once per commit instead of once per message, which is most
/// of the cost of fan-out under load.
#[derive(Debug)]
pub(crate) struct HubEvent {
    /// The items, in order.
    pub(crate) items: Vec<EventItem>,
}

/// One thing that happened.
#[derive(Debug)]
pub(crate) struct EventItem {
    /// The event itself, for encodings other than JSON.
    pub(crate) msg: ServerMsg,
    /// `msg` as one JSON line, made once for every JSON client.
    pub(crate) json: Bytes,
    /// For a message: the connection that sent it, which is always shown
    /// it (its echo), with `own_json`.
    pub(crate) origin: Option<ConnectionId>,
    /// For a message with a `client_id`: the JSON line with it, which only
    /// the sender is shown (`msg` and `json` are without it).
    pub(crate) own_json: Option<Bytes>,
    /// Who may see it.
    pub(crate) audience: Audience,
    /// Lines of `msg` in a dialect whose clients share them (IRC's for a
    /// room message), made by the first writer that needs one.
    pub(crate) shared_lines: SharedLines,
}

/// Lines of one event rendered once for every client that would render
/// them alike: a dialect picks the slot by what its rendering depends on
/// (IRC: whether `server-time` and `message-tags` are on), the first
/// writer fills it, the others copy it. Without it every IRC writer would
/// build every message line itself, which at a hundred clients is most of
/// the server's work.
#[derive(Debug, Default)]
pub(crate) struct SharedLines([OnceLock<Bytes>; SharedLines::SLOTS]);

impl SharedLines {
    /// The slots there are.
    pub(crate) const SLOTS: usize = 4;

    /// The line in `slot` (taken modulo [`SharedLines::SLOTS`]), made by
    /// `render` if no writer made it yet.
    pub(crate) fn get_or_render(&self, slot: usize, render: impl FnOnce() -> Bytes) -> &Bytes {
        self.0[slot % Self::SLOTS].get_or_init(render)
    }
}

/// Who an event is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Audience {
    /// Members of this room.
    Room(String),
    /// Members of this room but one: a join is news to everyone but the
    /// joiner.
    RoomExcept { room: String, except: NickKey },
    /// The two people of a direct message.
    Direct { from: NickKey, to: NickKey },
    /// Someone renamed: members of any of their rooms, and they themselves
    /// (by their new nickname), so a rename is confirmed even to someone in
    /// no room.
    Renamed { rooms: Vec<String>, new: NickKey },
    /// One member alone (an invitation).
    Member(NickKey),
}

/// What a connection's writer needs to filter events: its client's current
/// nickname and rooms. Changed by the hub under its lock.
#[derive(Debug)]
pub(crate) struct MemberView {
    /// The connection this view belongs to: its own messages are its
    /// whatever its rooms and nickname.
    connection: ConnectionId,
    state: Mutex<ViewState>,
}

#[derive(Debug, Clone)]
struct ViewState {
    nick_key: NickKey,
    rooms: HashSet<String>,
}

impl MemberView {
    fn new(connection: ConnectionId, nick_key: NickKey, rooms: &[RoomName]) -> MemberView {
        MemberView {
            connection,
            state: Mutex::new(ViewState {
                nick_key,
                rooms: rooms.iter().map(|r| r.to_string()).collect(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ViewState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `take` for each item of `event` meant for this client, in
    /// order, with whether the client sent it, looking at the view once for
    /// the whole event.
    pub(crate) fn for_each_wanted(
        &self,
        event: &HubEvent,
        mut take: impl FnMut(&EventItem, ShownTo),
    ) {
        let view = self.lock();
        for item in &event.items {
            let wanted = match &item.audience {
                Audience::Room(room) => view.rooms.contains(room),
                Audience::RoomExcept { room, except } => {
                    view.rooms.contains(room) && *except != view.nick_key
                }
                Audience::Direct { from, to } => *from == view.nick_key || *to == view.nick_key,
                Audience::Renamed { rooms, new } => {
                    *new == view.nick_key || rooms.iter().any(|r| view.rooms.contains(r))
                }
                Audience::Member(member) => *member == view.nick_key,
            };
            let own = item.origin == Some(self.connection);
            if own {
                take(item, ShownTo::Sender);
            } else if wanted {
                take(item, ShownTo::Others);
            }
        }
    }

    /// True if the client is in `room`.
    pub(crate) fn in_room(&self, room: &str) -> bool {
        self.lock().rooms.contains(room)
    }

    /// The client's rooms, sorted.
    pub(crate) fn rooms(&self) -> Vec<String> {
        let mut rooms: Vec<String> = self.lock().rooms.iter().cloned().collect();
        rooms.sort();
        rooms
    }
}

/// The reason of a `leave` from a room its member left by itself.
pub(crate) const PARTED: &str = "parted";

/// The shared state of the chat.
#[derive(Debug)]
pub(crate) struct Hub {
    state: Mutex<HubState>,
    events: broadcast::Sender<Arc<HubEvent>>,
    /// Where changes of who is where go instead of the ring, for a server
    /// sharing Redis (see [`Hub::share_through`]).
    sink: OnceLock<PresenceSink>,
    /// Set when what is known of the other servers' members may have
    /// missed changes: the log reader reads them anew.
    presence_stale: AtomicBool,
}

/// What hands changes of who is where to the store.
struct PresenceSink(Box<dyn Fn(PresenceChange) + Send + Sync>);

impl std::fmt::Debug for PresenceSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PresenceSink")
    }
}

#[derive(Debug)]
struct HubState {
    /// Connected members by nickname.
    members: HashMap<NickKey, Member>,
    /// Room name to the nicknames in it. A room exists while someone is
    /// in it, except the lobby, which always exists.
    rooms: BTreeMap<String, BTreeSet<NickKey>>,
    /// The id of the last message published; history up to it is in the
    /// store, everything after it will come through the ring.
    last_published: u64,
    /// Tells memberships apart when a session moves to a new connection.
    next_connection: u64,
    /// What waits for a message to be published (see
    /// [`Hub::when_published`]), by its id.
    waiting: BTreeMap<u64, Vec<AfterPublished>>,
    /// How many are waiting.
    waiting_count: usize,
    /// The members of the other servers of a group, as the shared log
    /// last told them.
    remote: HashMap<NickKey, RemoteMember>,
}

/// Something to do once a message is published.
struct AfterPublished(Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for AfterPublished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterPublished")
    }
}

/// Most things that may wait for publication at once. Each is an append
/// that Redis took and the log reader has not read back yet, so in
/// practice a few hundred; past this bound they run at once, out of order
/// rather than held without end.
const MAX_WAITING: usize = 100_000;

#[derive(Debug)]
struct Member {
    nick: Nick,
    view: Arc<MemberView>,
    connection: ConnectionId,
    session: SessionToken,
    /// Who the connection proved to be, and whether that identity owns the
    /// nickname.
    presence: Presence,
    /// Cancelled to close this connection when its session is reclaimed.
    kick: CancellationToken,
    /// While away, the connections already told so by a direct message
    /// (each once), at most [`AWAY_TOLD`].
    away_told: HashSet<ConnectionId>,
    /// Set once another server took its nickname over (a connection of
    /// the same session or owner there): it leaves without a word, and
    /// what that server tells of the nickname is for this one's clients.
    taken_over: bool,
}

/// Senders an away member's notice is remembered for; past it nobody more
/// is told, so a flood of senders costs nothing.
const AWAY_TOLD: usize = 256;

impl Member {
    /// True if a connection joining with `session` and `presence` takes
    /// this member's place (it is its ghost): the same session, presented
    /// by the identity that made it, or the identity that owns the nickname.
    fn yields_to(&self, session: &SessionToken, presence: &Presence) -> bool {
        let same_session = self.session == *session && self.presence.identity == presence.identity;
        let same_owner = presence.owner().is_some() && self.presence.owner() == presence.owner();
        same_session || same_owner
    }
}

/// Who arrives in a room (or under a new nickname), as the others are told:
/// the nickname, and whether its identity owns it, so clients can tell
/// verified owners from guests.
#[derive(Clone, Copy)]
struct Arrival<'a> {
    nick: &'a Nick,
    owns_nick: bool,
}

/// Who a member is, beyond its nickname.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Presence {
    /// The identity its connection proved (TLS client key); `None` for a
    /// guest.
    pub(crate) identity: Option<Fingerprint>,
    /// True if that identity owns the nickname it uses (a verified owner).
    pub(crate) owns_nick: bool,
    /// True if the connection is TLS.
    pub(crate) encrypted: bool,
    /// When the connection was made, in Unix milliseconds.
    pub(crate) connected_at: u64,
    /// Where it comes from: what a ban on a guest keeps out.
    pub(crate) address: IpAddr,
    /// Its away message, while away.
    pub(crate) away: Option<String>,
}

impl Default for Presence {
    fn default() -> Presence {
        Presence {
            identity: None,
            owns_nick: false,
            encrypted: false,
            connected_at: 0,
            address: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            away: None,
        }
    }
}

impl Presence {
    /// The identity, if it owns the nickname: the one that may take the
    /// nickname back from a connection of its own.
    fn owner(&self) -> Option<&Fingerprint> {
        self.identity.as_ref().filter(|_| self.owns_nick)
    }
}

/// A client's place in the hub. While it exists the nickname is taken;
/// dropping it frees the nickname and tells the rooms, so a nickname can
/// never outlive its connection — unless the session moved to a newer
/// connection, which then owns it.
#[derive(Debug)]
pub(crate) struct Membership {
    hub: Arc<Hub>,
    view: Arc<MemberView>,
    connection: ConnectionId,
    leave_reason: String,
}

/// What a successful join hands the new member.
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) membership: Membership,
    /// Everyone in the lobby, sorted ignoring case.
    pub(crate) users: Vec<String>,
    /// Those of `users` who own their nickname.
    pub(crate) owners: Vec<String>,
    /// Those of `users` who are away.
    pub(crate) away: Vec<String>,
    /// Events after this join.
    pub(crate) events: broadcast::Receiver<Arc<HubEvent>>,
    /// Messages up to this id are history; later ones arrive as events.
    pub(crate) up_to: u64,
    /// The session token (new, or the one presented).
    pub(crate) session: SessionToken,
    /// Cancelled if a later connection reclaims this session.
    pub(crate) kicked: CancellationToken,
}

/// Why a hub operation was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Someone else holds the nickname.
    NickTaken,
    /// The member is not in that room.
    NotInRoom,
    /// The member is in as many rooms as allowed.
    TooManyRooms,
    /// A newer connection reclaimed this member's session: this
    /// membership speaks for nobody any more, and its connection is
    /// being closed.
    Reclaimed,
}

/// What joining a room did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RoomEntry {
    /// The member entered the room; its others were told.
    Entered,
    /// The member was in the room already; nothing changed.
    AlreadyThere,
}

impl Hub {
    pub(crate) fn new(queue_len: usize) -> Arc<Hub> {
        let (events, _) = broadcast::channel(queue_len.max(1));
        let mut rooms = BTreeMap::new();
        rooms.insert(RoomName::lobby().to_string(), BTreeSet::new());
        Arc::new(Hub {
            state: Mutex::new(HubState {
                members: HashMap::new(),
                rooms,
                last_published: 0,
                next_connection: 0,
                waiting: BTreeMap::new(),
                waiting_count: 0,
                remote: HashMap::new(),
            }),
            events,
            sink: OnceLock::new(),
            presence_stale: AtomicBool::new(false),
        })
    }

    /// Asks for who is where on the other servers to be read anew: this
    /// server may have missed changes (it fell behind the log, or its
    /// lease ran out and it may have been reaped).
    pub(crate) fn mark_presence_stale(&self) {
        self.presence_stale.store(true, Ordering::Release);
    }

    /// True once after [`Hub::mark_presence_stale`].
    pub(crate) fn take_presence_stale(&self) -> bool {
        self.presence_stale.swap(false, Ordering::AcqRel)
    }

    /// Replaces what is known of the other servers' members with
    /// `members`, read anew. Nobody is told: whoever could have missed
    /// something was put out and reconnects.
    pub(crate) fn replace_remote(&self, members: &[SharedPresence]) {
        let remote = members
            .iter()
            .filter_map(|m| Some((NickKey::of(&m.nick), RemoteMember::read(&m.member)?)))
            .collect();
        self.lock().remote = remote;
    }

    /// From now on, changes of who is where go to `sink` (the store, which
    /// appends them to the shared log) instead of straight into the ring:
    /// a server sharing Redis publishes them as its log reader reads them
    /// back (see [`Hub::apply_shared`]), in one order with the messages.
    pub(crate) fn share_through(&self, sink: impl Fn(PresenceChange) + Send + Sync + 'static) {
        let _ = self.sink.set(PresenceSink(Box::new(sink)));
    }

    /// Starts where the store left off, so ids seen before a restart count.
    pub(crate) fn set_last_published(&self, id: u64) {
        self.lock().last_published = id;
    }

    /// [`Hub::join_taking_over`] from no other server (the hub's tests).
    #[cfg(test)]
    pub(crate) fn join(
        self: &Arc<Hub>,
        nick: Nick,
        rooms: &[RoomName],
        session: SessionToken,
        presence: Presence,
    ) -> Result<Joined, Refusal> {
        self.join_taking_over(nick, rooms, (session, presence), false)
    }

    /// Joins `nick` to `rooms` under `session` (a new token, or one the
    /// client presented). If the nickname is held by a connection of the
    /// same session, or of the identity that owns the nickname, that
    /// connection is closed and this one takes its place without anyone
    /// seeing a leave and a join (a ghost reclaimed). So it does if the
    /// nickname was taken over from such a connection on another server of
    /// the group (`from_elsewhere`), which that server closes.
    pub(crate) fn join_taking_over(
        self: &Arc<Hub>,
        nick: Nick,
        rooms: &[RoomName],
        (session, presence): (SessionToken, Presence),
        from_elsewhere: bool,
    ) -> Result<Joined, Refusal> {
        let mut state = self.lock();
        let key = NickKey::from(&nick);
        let reclaimed = match state.members.get(&key) {
            Some(held) if held.yields_to(&session, &presence) => state.members.remove(&key),
            Some(_) => return Err(Refusal::NickTaken),
            None => None,
        };
        if let Some(ghost) = &reclaimed {
            ghost.kick.cancel();
        }
        state.next_connection += 1;
        let connection = ConnectionId(state.next_connection);
        let view = Arc::new(MemberView::new(connection, key.clone(), rooms));
        let kick = CancellationToken::new();
        let arrival = Arrival {
            nick: &nick,
            owns_nick: presence.owns_nick,
        };
        let ghost = match &reclaimed {
            Some(member) => Some(Ghost::of(member)),
            None if from_elsewhere => state.remote.get(&key).map(Ghost::elsewhere),
            None => None,
        };
        let events = arrive_locked(&mut state, (&key, arrival), rooms, ghost.as_ref());
        state.members.insert(
            key.clone(),
            Member {
                nick,
                view: Arc::clone(&view),
                connection,
                session: session.clone(),
                presence,
                kick: kick.clone(),
                away_told: HashSet::new(),
                taken_over: false,
            },
        );
        let arrived = Whose::Member {
            key: &key,
            was: None,
            arrived: true,
        };
        self.tell_locked(&state, &arrived, events);
        // Subscribing under the lock, after publishing, means the newcomer
        // sees neither its own joins nor a gap before the next event.
        let events = self.events.subscribe();
        let users = room_users(&state, RoomName::lobby().as_str());
        let owners = room_owners(&state, RoomName::lobby().as_str());
        let away = room_away(&state, RoomName::lobby().as_str());
        let up_to = state.last_published;
        drop(state);
        Ok(Joined {
            membership: Membership {
                hub: Arc::clone(self),
                view,
                connection,
                leave_reason: "connection closed".to_owned(),
            },
            users,
            owners,
            away,
            events,
            up_to,
            session,
            kicked: kick,
        })
    }

    /// Publishes the messages of one commit, in id order, as one event.
    /// Called by the store thread after the commit.
    pub(crate) fn publish_messages(&self, stored: &[StoredMessage]) {
        let Some(newest) = stored.iter().map(|stored| stored.id).max() else {
            return;
        };
        // Serialised before taking the lock: nobody waits for JSON.
        let items = stored.iter().map(message_item).collect();
        let mut state = self.lock();
        state.last_published = state.last_published.max(newest);
        // Sent under the lock, like every event: one order for everybody.
        let _ = self.events.send(Arc::new(HubEvent { items }));
        let later = state.waiting.split_off(&(newest + 1));
        let due = std::mem::replace(&mut state.waiting, later);
        state.waiting_count -= due.values().map(Vec::len).sum::<usize>();
        drop(state);
        for then in due.into_values().flatten() {
            (then.0)();
        }
    }

    /// Closes `connection`, if it still holds `nick` here: a connection of
    /// the same session or owner took the nickname on another server, so
    /// this one is a ghost. Its rooms see it leave ("reconnected"). A newer
    /// holder of the nickname here is left alone.
    pub(crate) fn close_taken_over(&self, nick: &NickKey, connection: ConnectionId) {
        if let Some(member) = self.lock().members.get_mut(nick)
            && member.connection == connection
        {
            member.taken_over = true;
            member.kick.cancel();
        }
    }

    /// Runs `then` once the message with `id` has been published: at once
    /// if it has, as it always has on a server alone (its store thread
    /// publishes a commit before it completes the appends), else when the
    /// log reader publishes it (a server sharing Redis learns of its own
    /// messages by reading them back). So a sender's next step (a part, a
    /// rename, the answer to a retry) never overtakes its message.
    pub(crate) fn when_published(&self, id: u64, then: Box<dyn FnOnce() + Send>) {
        let mut state = self.lock();
        if state.last_published >= id || state.waiting_count >= MAX_WAITING {
            drop(state);
            then();
            return;
        }
        state.waiting_count += 1;
        state
            .waiting
            .entry(id)
            .or_default()
            .push(AfterPublished(then));
    }

    /// The rooms of the connection that holds `nick` under `session`, if
    /// one does: a ghost whose session a new connection may reclaim,
    /// whether or not the session was ever stored.
    pub(crate) fn live_session_rooms(
        &self,
        nick: &Nick,
        session: &SessionToken,
        identity: Option<&Fingerprint>,
    ) -> Option<Vec<String>> {
        let state = self.lock();
        let member = state.members.get(&NickKey::from(nick))?;
        let same = member.session == *session && member.presence.identity.as_ref() == identity;
        same.then(|| member.view.rooms())
    }

    /// The nicknames this server's connections hold.
    pub(crate) fn member_keys(&self) -> Vec<NickKey> {
        self.lock().members.keys().cloned().collect()
    }

    /// The id of the last published message.
    pub(crate) fn last_published(&self) -> u64 {
        self.lock().last_published
    }

    /// Everyone in `room`, sorted ignoring case.
    pub(crate) fn users(&self, room: &str) -> Vec<String> {
        room_users(&self.lock(), room)
    }

    /// Every room with its head count, on every server of a group.
    pub(crate) fn rooms(&self) -> Vec<(String, usize)> {
        let state = self.lock();
        let mut rooms: BTreeMap<String, usize> = state
            .rooms
            .iter()
            .map(|(name, members)| (name.clone(), members.len()))
            .collect();
        for member in remote_members(&state) {
            for room in &member.rooms {
                *rooms.entry(room.clone()).or_default() += 1;
            }
        }
        rooms.into_iter().collect()
    }

    /// Who holds `nick`, and the rooms of `rooms` it is in: what `/whois`
    /// tells.
    pub(crate) fn whois(
        &self,
        nick: &str,
        rooms: &[String],
    ) -> Option<(String, Presence, Vec<String>)> {
        let state = self.lock();
        let key = NickKey::of(nick);
        let (nick, presence, theirs) = match state.members.get(&key) {
            Some(member) => (
                member.nick.to_string(),
                member.presence.clone(),
                member.view.rooms(),
            ),
            None => {
                let member = state.remote.get(&key)?;
                let rooms = member.rooms.iter().cloned().collect();
                (member.nick.clone(), member.presence(), rooms)
            }
        };
        let shared = rooms
            .iter()
            .filter(|room| theirs.contains(room))
            .cloned()
            .collect();
        Some((nick, presence, shared))
    }

    /// Puts `nick` out of `room` (a kick): everyone there, and they, see
    /// them leave for `reason`. Their rooms no longer include it, so
    /// nothing more of it reaches them. `None` if they are not in it;
    /// otherwise their nickname as spelled.
    pub(crate) fn put_out(&self, nick: &str, room: &str, reason: &str) -> Option<String> {
        let mut state = self.lock();
        let key = NickKey::of(nick);
        let member = state.members.get(&key)?;
        if !member.view.lock().rooms.remove(room) {
            return None;
        }
        let spelled = member.nick.clone();
        vacate_locked(&mut state, &key, room);
        let leave = leave_message(spelled.as_str(), room, reason);
        // Told at once, here: the one put out may be about to be cut off,
        // and must hear why before the room does through the log.
        self.publish(Audience::Member(key.clone()), leave.clone());
        let others = Audience::RoomExcept {
            room: room.to_owned(),
            except: key.clone(),
        };
        let event = (others, leave);
        self.tell_locked(&state, &Whose::member(&key), vec![event]);
        Some(spelled.to_string())
    }

    /// Puts everyone for whom `banned` holds out of every room, for
    /// `reason`, and closes their connections; returns their nicknames.
    pub(crate) fn put_out_of_server(
        &self,
        banned: impl Fn(&Presence) -> bool,
        reason: &str,
    ) -> Vec<String> {
        let targets: Vec<(String, Vec<String>, CancellationToken)> = {
            let state = self.lock();
            state
                .members
                .values()
                .filter(|member| banned(&member.presence))
                .map(|member| {
                    (
                        member.nick.to_string(),
                        member.view.rooms(),
                        member.kick.clone(),
                    )
                })
                .collect()
        };
        for (nick, rooms, kick) in &targets {
            for room in rooms {
                self.put_out(nick, room, reason);
            }
            kick.cancel();
        }
        targets.into_iter().map(|(nick, _, _)| nick).collect()
    }

    /// Everyone in `room`, on every server of a group, for whom `banned`
    /// holds. Of another server's members only the identity, ownership and
    /// away message are known here.
    pub(crate) fn in_room_matching(
        &self,
        room: &str,
        banned: impl Fn(&Presence) -> bool,
    ) -> Vec<String> {
        room_nicks(&self.lock(), room, banned)
    }

    /// The away message of `to`, for a direct message from `from`: once
    /// per sender while `to` is away.
    pub(crate) fn away_notice(&self, to: &str, from: ConnectionId) -> Option<String> {
        let mut state = self.lock();
        let member = state.members.get_mut(&NickKey::of(to))?;
        let text = member.presence.away.clone()?;
        let first = member.away_told.len() < AWAY_TOLD && member.away_told.insert(from);
        first.then_some(text)
    }

    /// Those in `room` who are away, with their messages, sorted.
    pub(crate) fn away_in(&self, room: &str) -> Vec<(String, String)> {
        pick_in_room(&self.lock(), room, |presence| presence.away.clone())
    }

    /// The nickname as spelled by whoever holds it now, and who that is,
    /// if anyone holds it.
    pub(crate) fn online(&self, nick: &str) -> Option<(String, Presence)> {
        self.lock()
            .members
            .get(&NickKey::of(nick))
            .map(|m| (m.nick.to_string(), m.presence.clone()))
    }

    /// Sends `msg` to `nick` alone (not stored: an invitation).
    pub(crate) fn tell_member(&self, nick: &str, msg: ServerMsg) {
        self.publish(Audience::Member(NickKey::of(nick)), msg);
    }

    /// The connection that holds `nick` now, if any.
    pub(crate) fn connection_of(&self, nick: &str) -> Option<ConnectionId> {
        let state = self.lock();
        state.members.get(&NickKey::of(nick)).map(|m| m.connection)
    }

    /// Sends `msg` to everyone in `room` (not stored: a `topic` event),
    /// on every server of a group.
    pub(crate) fn tell_room(&self, room: &str, msg: ServerMsg) {
        let event = (Audience::Room(room.to_owned()), msg);
        self.tell_locked(&self.lock(), &Whose::Room, vec![event]);
    }

    /// Applies a change of who is where read from the shared log (or, at
    /// start, from the record of who is where) and publishes its events.
    /// This server's own changes are in its state already. Another
    /// server's update what this one knows of its members. An event about
    /// a nickname one of this server's connections holds is not published:
    /// that connection's own events tell its rooms of it (it took the
    /// nickname over from a ghost, or this server, its lease lapsed, is
    /// cutting its clients).
    pub(crate) fn apply_shared(&self, change: &SharedPresence) {
        let mut events = remote::events(&change.events);
        let mut state = self.lock();
        if change.source == PresenceSource::Ours {
            // Once this server's own change is read back, whatever the log
            // said before of the same nicknames on other servers is over
            // (a member taken over from one, say).
            state.remote.remove(&NickKey::of(&change.nick));
            state.remote.remove(&NickKey::of(&change.was));
        } else if !change.nick.is_empty() {
            let key = NickKey::of(&change.nick);
            if !change.was.is_empty() {
                state.remote.remove(&NickKey::of(&change.was));
            }
            let before = match RemoteMember::read(&change.member) {
                Some(member) => state.remote.insert(key.clone(), member),
                None => state.remote.remove(&key),
            };
            if change.source == PresenceSource::Lost {
                events = before
                    .map(|member| lost_events(&member))
                    .unwrap_or_default();
            }
            if state.members.get(&key).is_some_and(|m| !m.taken_over) {
                events.clear();
            }
        }
        for (audience, msg) in events {
            self.publish(audience, msg);
        }
    }

    /// Tells of a change of who is where: into the ring on a server alone;
    /// to the store, for every server of a group (this one included, when
    /// its log reader reads the change back), with `whose` as it is now.
    fn tell_locked(&self, state: &HubState, whose: &Whose<'_>, events: Vec<(Audience, ServerMsg)>) {
        let Some(sink) = self.sink.get() else {
            for (audience, msg) in events {
                self.publish(audience, msg);
            }
            return;
        };
        let member = match whose {
            Whose::Member { key, .. } => state.members.get(*key),
            Whose::Room if events.is_empty() => return,
            Whose::Room => None,
        };
        (sink.0)(remote::change(whose, member, &events));
    }

    fn publish(&self, audience: Audience, msg: ServerMsg) {
        let json = msg.to_line();
        // An error only means nobody is subscribed, which is fine.
        let items = vec![EventItem {
            msg,
            json,
            origin: None,
            own_json: None,
            audience,
            shared_lines: SharedLines::default(),
        }];
        let _ = self.events.send(Arc::new(HubEvent { items }));
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // No code panics while holding this lock, so a poisoned lock still
        // holds consistent state; carrying on beats taking the chat down.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Membership {
    /// The member's current nickname.
    pub(crate) fn nick(&self) -> String {
        let key = self.view.lock().nick_key.clone();
        self.hub
            .lock()
            .members
            .get(&key)
            .map_or_else(|| key.to_string(), |m| m.nick.to_string())
    }

    /// This membership's connection, to mark its messages with.
    pub(crate) fn connection(&self) -> ConnectionId {
        self.connection
    }

    /// The view the writer filters with.
    pub(crate) fn view(&self) -> Arc<MemberView> {
        Arc::clone(&self.view)
    }

    /// Joins a room.
    pub(crate) fn join_room(
        &self,
        room: &RoomName,
        max_rooms: usize,
    ) -> Result<RoomEntry, Refusal> {
        let mut state = self.hub.lock();
        let key = self.view.lock().nick_key.clone();
        let nick = self.owned_nick(&state, &key)?;
        if self.view.in_room(room.as_str()) {
            return Ok(RoomEntry::AlreadyThere);
        }
        if self.view.lock().rooms.len() >= max_rooms {
            return Err(Refusal::TooManyRooms);
        }
        // The joiner is told by the answer to its request, the others by
        // the join event.
        let owns_nick = state
            .members
            .get(&key)
            .is_some_and(|member| member.presence.owns_nick);
        let arrival = Arrival {
            nick: &nick,
            owns_nick,
        };
        let event = enter_room_locked(&mut state, &key, arrival, room.as_str());
        self.view.lock().rooms.insert(room.to_string());
        let events = event.into_iter().collect();
        self.hub.tell_locked(&state, &Whose::member(&key), events);
        Ok(RoomEntry::Entered)
    }

    /// Leaves a room.
    pub(crate) fn part_room(&self, room: &RoomName) -> Result<(), Refusal> {
        let mut state = self.hub.lock();
        let key = self.view.lock().nick_key.clone();
        let nick = self.owned_nick(&state, &key)?;
        if !self.view.lock().rooms.remove(room.as_str()) {
            return Err(Refusal::NotInRoom);
        }
        let event = leave_room_locked(&mut state, &key, nick.as_str(), room.as_str(), PARTED);
        self.hub
            .tell_locked(&state, &Whose::member(&key), vec![event]);
        Ok(())
    }

    /// Takes a new nickname (`owns_new`: whether this member's identity
    /// owns it); everyone sharing a room hears of it.
    pub(crate) fn rename(&self, new: Nick, owns_new: bool) -> Result<String, Refusal> {
        let mut state = self.hub.lock();
        let old_key = self.view.lock().nick_key.clone();
        let new_key = NickKey::from(&new);
        self.owned_nick(&state, &old_key)?;
        if new_key != old_key && state.members.contains_key(&new_key) {
            return Err(Refusal::NickTaken);
        }
        let Some(mut member) = state.members.remove(&old_key) else {
            return Err(Refusal::Reclaimed);
        };
        let old = std::mem::replace(&mut member.nick, new.clone());
        member.presence.owns_nick = owns_new;
        let rooms = self.view.rooms();
        for room in &rooms {
            if let Some(members) = state.rooms.get_mut(room) {
                members.remove(&old_key);
                members.insert(new_key.clone());
            }
        }
        self.view.lock().nick_key = new_key.clone();
        state.members.insert(new_key.clone(), member);
        let renamed = Arrival {
            nick: &new,
            owns_nick: owns_new,
        };
        let event = rename_event(rooms, old.as_str(), renamed);
        let whose = Whose::Member {
            key: &new_key,
            was: (old_key != new_key).then_some(&old_key),
            arrived: false,
        };
        self.hub.tell_locked(&state, &whose, vec![event]);
        Ok(old.to_string())
    }

    /// The nickname, if this membership still holds its entry in the hub:
    /// a newer connection may have reclaimed the session.
    fn owned_nick(&self, state: &HubState, key: &NickKey) -> Result<Nick, Refusal> {
        state
            .members
            .get(key)
            .filter(|m| m.connection == self.connection)
            .map(|m| m.nick.clone())
            .ok_or(Refusal::Reclaimed)
    }

    /// Sets the reason the rooms will see when this membership ends.
    pub(crate) fn set_leave_reason(&mut self, reason: String) {
        self.leave_reason = reason;
    }

    /// Marks the member away with `text`, or (`None`) back; everyone
    /// sharing a room with it, and it, are told. Err if the membership no
    /// longer holds its entry.
    pub(crate) fn set_away(&self, text: Option<String>) -> Result<(), Refusal> {
        let mut state = self.hub.lock();
        let key = self.view.lock().nick_key.clone();
        let nick = self.owned_nick(&state, &key)?;
        if let Some(member) = state.members.get_mut(&key) {
            member.presence.away.clone_from(&text);
            member.away_told.clear();
        }
        let audience = Audience::Renamed {
            rooms: self.view.rooms(),
            new: key.clone(),
        };
        let away = ServerMsg::Away {
            nick: nick.to_string(),
            text,
        };
        self.hub
            .tell_locked(&state, &Whose::member(&key), vec![(audience, away)]);
        Ok(())
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        let key = self.view.lock().nick_key.clone();
        // A session reclaimed by a newer connection belongs to it now.
        let owned = state
            .members
            .get(&key)
            .is_some_and(|m| m.connection == self.connection);
        if !owned {
            return;
        }
        let Some(member) = state.members.remove(&key) else {
            return;
        };
        let mut events: Vec<_> = self
            .view
            .rooms()
            .iter()
            .map(|room| {
                leave_room_locked(
                    &mut state,
                    &key,
                    member.nick.as_str(),
                    room,
                    &self.leave_reason,
                )
            })
            .collect();
        // Its place was taken on another server, whose arrival tells the
        // rooms what changed; if this leaving reaches the log first, it
        // only says the member is gone from here.
        if member.taken_over {
            events.clear();
        }
        self.hub.tell_locked(&state, &Whose::member(&key), events);
    }
}

/// The connection a newcomer takes the place of (of the same session or
/// owner), here or on another server of the group: its nickname as
/// spelled, and its rooms.
struct Ghost {
    nick: String,
    rooms: Vec<String>,
}

impl Ghost {
    fn of(member: &Member) -> Ghost {
        Ghost {
            nick: member.nick.to_string(),
            rooms: member.view.rooms(),
        }
    }

    fn elsewhere(member: &RemoteMember) -> Ghost {
        Ghost {
            nick: member.nick.clone(),
            rooms: member.rooms.iter().cloned().collect(),
        }
    }

    fn was_in(&self, room: &RoomName) -> bool {
        self.rooms.iter().any(|r| r == room.as_str())
    }
}

/// Puts `key` in `rooms` and returns what they are told of its arrival: a
/// join in each but those its `ghost` (whose place it takes) was in
/// already, and what changed from the ghost.
fn arrive_locked(
    state: &mut HubState,
    (key, arrival): (&NickKey, Arrival<'_>),
    rooms: &[RoomName],
    ghost: Option<&Ghost>,
) -> Vec<(Audience, ServerMsg)> {
    let mut events = Vec::new();
    for room in rooms {
        let entered = enter_room_locked(state, key, arrival, room.as_str());
        if !ghost.is_some_and(|ghost| ghost.was_in(room)) {
            events.extend(entered);
        }
    }
    if let Some(ghost) = ghost {
        events.extend(replace_ghost(state, key, ghost, arrival, rooms));
    }
    events
}

/// Tells the rooms what changed when `key` took over a ghost's session
/// with `rooms`: the ghost leaves rooms the session no longer lists, and
/// the same person under another spelling (`casea` back as `CASEA`) is a
/// rename, as any rename is.
fn replace_ghost(
    state: &mut HubState,
    key: &NickKey,
    ghost: &Ghost,
    newcomer: Arrival<'_>,
    rooms: &[RoomName],
) -> Vec<(Audience, ServerMsg)> {
    let mut events = Vec::new();
    for room in &ghost.rooms {
        if !rooms.iter().any(|r| r.as_str() == room) {
            events.push(leave_room_locked(state, key, &ghost.nick, room, PARTED));
        }
    }
    if ghost.nick != newcomer.nick.as_str() {
        let rooms = rooms.iter().map(RoomName::to_string).collect();
        events.push(rename_event(rooms, &ghost.nick, newcomer));
    }
    events
}

/// What everyone sharing a room with the renamed, and the renamed, is told.
fn rename_event(rooms: Vec<String>, old: &str, new: Arrival<'_>) -> (Audience, ServerMsg) {
    let audience = Audience::Renamed {
        rooms,
        new: NickKey::from(new.nick),
    };
    let nick = ServerMsg::Nick {
        old: old.to_string(),
        new: new.nick.to_string(),
        owned: new.owns_nick.then_some(true),
    };
    (audience, nick)
}

/// Puts `key` in `room` and, if it was not there already, returns what the
/// room's other members are told. The twin of `leave_room_locked`.
fn enter_room_locked(
    state: &mut HubState,
    key: &NickKey,
    arrival: Arrival<'_>,
    room: &str,
) -> Option<(Audience, ServerMsg)> {
    let entered = state
        .rooms
        .entry(room.to_owned())
        .or_default()
        .insert(key.clone());
    let audience = Audience::RoomExcept {
        room: room.to_owned(),
        except: key.clone(),
    };
    let join = ServerMsg::Join {
        nick: arrival.nick.to_string(),
        room: Some(room.to_owned()),
        owned: arrival.owns_nick.then_some(true),
    };
    entered.then_some((audience, join))
}

/// Takes `key` out of `room` and returns what the room is told. Not the
/// one who left, who knows: with Redis, the event comes back through the
/// log, by when the member may be in the room again.
fn leave_room_locked(
    state: &mut HubState,
    key: &NickKey,
    nick: &str,
    room: &str,
    reason: &str,
) -> (Audience, ServerMsg) {
    vacate_locked(state, key, room);
    let audience = Audience::RoomExcept {
        room: room.to_owned(),
        except: key.clone(),
    };
    (audience, leave_message(nick, room, reason))
}

/// The reason a member of a server that stopped answering leaves for.
pub(crate) const SERVER_LOST: &str = "their server stopped answering";

/// What the rooms of `member`, of a server that stopped answering, are
/// told: it left each.
fn lost_events(member: &RemoteMember) -> Vec<(Audience, ServerMsg)> {
    member
        .rooms
        .iter()
        .map(|room| {
            let leave = leave_message(&member.nick, room, SERVER_LOST);
            (Audience::Room(room.clone()), leave)
        })
        .collect()
}

/// A committed message as the ring carries it.
fn message_item(stored: &StoredMessage) -> EventItem {
    let audience = match &stored.message.target {
        Target::Room(room) => Audience::Room(room.clone()),
        Target::Direct(to) => Audience::Direct {
            from: stored.message.sender_key(),
            to: NickKey::of(to),
        },
    };
    let msg = stored.to_server_msg(ShownTo::Others);
    let own_json = (stored.message.client_id.is_some())
        .then(|| stored.to_server_msg(ShownTo::Sender).to_line());
    EventItem {
        json: msg.to_line(),
        msg,
        origin: stored.message.origin,
        own_json,
        audience,
        shared_lines: SharedLines::default(),
    }
}

/// Those in `room` whose identity owns their nickname, sorted ignoring case.
/// Takes `key` out of `room`'s members, forgetting the room once empty
/// (the lobby always stays).
fn vacate_locked(state: &mut HubState, key: &NickKey, room: &str) {
    if let Some(members) = state.rooms.get_mut(room) {
        members.remove(key);
        if members.is_empty() && room != RoomName::lobby().as_str() {
            state.rooms.remove(room);
        }
    }
}

/// The `leave` event of `nick` from `room`, for `reason`.
fn leave_message(nick: &str, room: &str, reason: &str) -> ServerMsg {
    ServerMsg::Leave {
        nick: nick.to_string(),
        reason: reason.to_owned(),
        room: Some(room.to_owned()),
    }
}

fn room_owners(state: &HubState, room: &str) -> Vec<String> {
    room_nicks(state, room, |presence| presence.owner().is_some())
}

/// Those in `room` who are away.
fn room_away(state: &HubState, room: &str) -> Vec<String> {
    room_nicks(state, room, |presence| presence.away.is_some())
}

/// Everyone in `room`, sorted ignoring case.
fn room_users(state: &HubState, room: &str) -> Vec<String> {
    room_nicks(state, room, |_| true)
}

/// Those in `room` for whom `wanted` holds, sorted ignoring case.
fn room_nicks(state: &HubState, room: &str, wanted: impl Fn(&Presence) -> bool) -> Vec<String> {
    pick_in_room(state, room, |presence| wanted(presence).then_some(()))
        .into_iter()
        .map(|(nick, ())| nick)
        .collect()
}

/// Those in `room`, of this server and of the others of a group, for whom
/// `pick` finds something, with it, sorted by nickname ignoring case.
fn pick_in_room<T>(
    state: &HubState,
    room: &str,
    pick: impl Fn(&Presence) -> Option<T>,
) -> Vec<(String, T)> {
    let here = state
        .rooms
        .get(room)
        .into_iter()
        .flatten()
        .filter_map(|key| state.members.get(key))
        .filter_map(|member| Some((member.nick.to_string(), pick(&member.presence)?)));
    let elsewhere = remote_in_room(state, room)
        .filter_map(|member| Some((member.nick.clone(), pick(&member.presence())?)));
    let mut people: Vec<(String, T)> = here.chain(elsewhere).collect();
    people.sort_by_key(|(nick, _)| nick.to_ascii_lowercase());
    people
}

/// The members of other servers in `room`; a nickname one of this server's
/// connections holds is counted as this server's.
fn remote_in_room<'a>(
    state: &'a HubState,
    room: &'a str,
) -> impl Iterator<Item = &'a RemoteMember> {
    remote_members(state).filter(move |member| member.rooms.contains(room))
}

/// The members of other servers, but for nicknames held here.
fn remote_members(state: &HubState) -> impl Iterator<Item = &RemoteMember> {
    state
        .remote
        .iter()
        .filter(|(key, _)| !state.members.contains_key(*key))
        .map(|(_, member)| member)
}

/// The store thread publishes each commit straight into the hub (or, for
/// a server sharing Redis, the log reader what it reads).
impl Publish for Arc<Hub> {
    fn publish_committed(&mut self, committed: &[StoredMessage]) {
        self.publish_messages(committed);
    }

    fn taken_over(&mut self, nick: &NickKey, connection: ConnectionId) {
        self.close_taken_over(nick, connection);
    }

    /// Everyone here missed messages live: each is put out and closed, and
    /// a client resuming with its last id is replayed what is still kept
    /// and told of the gap, as after any reconnect.
    fn fell_behind(&mut self) {
        self.mark_presence_stale();
        self.put_out_of_server(
            |_| true,
            "this server fell behind the shared log; reconnect to catch up",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(name: &str) -> Nick {
        Nick::parse(name).unwrap()
    }

    fn token() -> SessionToken {
        SessionToken::generate().unwrap()
    }

    /// `alice` joined, then her session reclaimed by a newer connection.
    fn reclaimed_membership(hub: &Arc<Hub>) -> (Membership, Joined) {
        let session = token();
        let ghost = hub
            .join(
                nick("alice"),
                &[RoomName::lobby()],
                session.clone(),
                Presence::default(),
            )
            .unwrap();
        let newer = hub
            .join(
                nick("alice"),
                &[RoomName::lobby()],
                session,
                Presence::default(),
            )
            .unwrap();
        assert!(ghost.kicked.is_cancelled(), "the ghost is told to close");
        (ghost.membership, newer)
    }

    #[test]
    fn a_reclaimed_membership_is_told_so_not_that_a_nickname_is_taken() {
        let hub = Hub::new(16);
        let (ghost, _newer) = reclaimed_membership(&hub);
        assert_eq!(ghost.rename(nick("alicia"), false), Err(Refusal::Reclaimed));
        let dev = RoomName::parse("dev").unwrap();
        assert_eq!(ghost.join_room(&dev, 8), Err(Refusal::Reclaimed));
        assert_eq!(ghost.part_room(&RoomName::lobby()), Err(Refusal::Reclaimed));
        assert_eq!(hub.users("dev"), Vec::<String>::new(), "nothing changed");
    }

    #[test]
    fn joining_a_room_says_whether_it_was_entered() {
        let hub = Hub::new(16);
        let alice = hub
            .join(
                nick("alice"),
                &[RoomName::lobby()],
                token(),
                Presence::default(),
            )
            .unwrap();
        let dev = RoomName::parse("dev").unwrap();
        assert_eq!(alice.membership.join_room(&dev, 8), Ok(RoomEntry::Entered));
        assert_eq!(
            alice.membership.join_room(&dev, 8),
            Ok(RoomEntry::AlreadyThere)
        );
        let ops = RoomName::parse("ops").unwrap();
        assert_eq!(
            alice.membership.join_room(&ops, 2),
            Err(Refusal::TooManyRooms)
        );
    }

    #[test]
    fn a_taken_nickname_is_refused_whatever_its_case() {
        let hub = Hub::new(16);
        let _alice = hub
            .join(
                nick("alice"),
                &[RoomName::lobby()],
                token(),
                Presence::default(),
            )
            .unwrap();
        let bob = hub
            .join(
                nick("bob"),
                &[RoomName::lobby()],
                token(),
                Presence::default(),
            )
            .unwrap();
        assert!(matches!(
            hub.join(
                nick("ALICE"),
                &[RoomName::lobby()],
                token(),
                Presence::default()
            ),
            Err(Refusal::NickTaken)
        ));
        assert_eq!(
            bob.membership.rename(nick("Alice"), false),
            Err(Refusal::NickTaken)
        );
        assert_eq!(
            bob.membership.rename(nick("Bobby"), false),
            Ok("bob".to_owned())
        );
    }
}
