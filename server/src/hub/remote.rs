//! Who is where on the other servers of a group, and how this hub tells
//! them of its own members.
//!
//! A server sharing Redis publishes no change of who is where (a join, a
//! part, a rename, an away, a leave, an event about a room such as a
//! topic) straight into its ring. Its hub hands the change to the store,
//! which appends it to the shared log; every server's log reader, this
//! server's too, publishes it from there. So joins and parts keep one
//! order with the messages for every client of every server, as on a
//! server alone. Each change carries its member as it is afterwards,
//! which the other servers keep as a [`RemoteMember`] for their lists
//! (`users`, `/who`, NAMES, `/list`, `/whois`), and which the store keeps
//! for servers that start later.

use std::collections::BTreeSet;

use lanchat_shared::{Fingerprint, ServerMsg};
use serde::{Deserialize, Serialize};

use super::{Audience, Member, Presence};
use crate::domain::NickKey;
use crate::store::PresenceChange;

/// A member of another server of the group, as the log last told it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RemoteMember {
    /// The nickname as spelled.
    pub(crate) nick: String,
    /// The identity its connection proved, if any (a fingerprint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) identity: Option<String>,
    /// Whether that identity owns the nickname.
    #[serde(default)]
    pub(crate) owned: bool,
    /// Whether its connection is TLS.
    #[serde(default)]
    pub(crate) encrypted: bool,
    /// When it connected, in Unix milliseconds.
    #[serde(default)]
    pub(crate) since: u64,
    /// Its away message, while away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) away: Option<String>,
    /// Its rooms.
    #[serde(default)]
    pub(crate) rooms: BTreeSet<String>,
}

impl RemoteMember {
    /// `member` as other servers keep it.
    pub(super) fn of(member: &Member) -> RemoteMember {
        RemoteMember {
            nick: member.nick.to_string(),
            identity: member.presence.identity.as_ref().map(ToString::to_string),
            owned: member.presence.owns_nick,
            encrypted: member.presence.encrypted,
            since: member.presence.connected_at,
            away: member.presence.away.clone(),
            rooms: member.view.rooms().into_iter().collect(),
        }
    }

    /// Who it is, as far as another server knows: not where it connects
    /// from, which only its own server needs (a ban on a guest's address
    /// is enforced there).
    pub(super) fn presence(&self) -> Presence {
        Presence {
            identity: self
                .identity
                .as_deref()
                .and_then(|f| Fingerprint::parse(f).ok()),
            owns_nick: self.owned,
            encrypted: self.encrypted,
            connected_at: self.since,
            away: self.away.clone(),
            ..Presence::default()
        }
    }

    /// Reads a member as [`PresenceChange::member`] holds it; `None` for
    /// one that left (or that cannot be read, which is logged).
    pub(super) fn read(json: &str) -> Option<RemoteMember> {
        if json.is_empty() {
            return None;
        }
        let member = serde_json::from_str(json);
        if member.is_err() {
            tracing::error!("a member in the shared log cannot be read; taken as gone");
        }
        member.ok()
    }
}

/// One event of a change, as the log carries it: its audience spelled in
/// rooms and nicknames, and the event.
#[derive(Serialize, Deserialize)]
struct SharedEvent {
    #[serde(default)]
    rooms: Vec<String>,
    /// One member of the room who is not told (the joiner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    except: Option<String>,
    /// One member who is told, in the rooms or not (the renamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    also: Option<String>,
    msg: ServerMsg,
}

impl SharedEvent {
    fn of(audience: &Audience, msg: &ServerMsg) -> SharedEvent {
        let key = |key: &NickKey| Some(key.to_string());
        let (rooms, except, also) = match audience {
            Audience::Room(room) => (vec![room.clone()], None, None),
            Audience::RoomExcept { room, except } => (vec![room.clone()], key(except), None),
            Audience::Renamed { rooms, new } => (rooms.clone(), None, key(new)),
            Audience::Member(member) => (Vec::new(), None, key(member)),
            Audience::Direct { to, .. } => (Vec::new(), None, key(to)),
        };
        SharedEvent {
            rooms,
            except,
            also,
            msg: msg.clone(),
        }
    }

    /// The audience again.
    fn audience(&self) -> Audience {
        match (&self.except, &self.also, self.rooms.as_slice()) {
            (Some(except), _, [room, ..]) => Audience::RoomExcept {
                room: room.clone(),
                except: NickKey::of(except),
            },
            (None, None, [room]) => Audience::Room(room.clone()),
            (_, also, rooms) => Audience::Renamed {
                rooms: rooms.to_vec(),
                new: NickKey::of(also.as_deref().unwrap_or_default()),
            },
        }
    }
}

/// Whose presence a change is about.
pub(super) enum Whose<'a> {
    /// Nobody's: an event about a room alone.
    Room,
    /// `key`'s, once `was` (a rename), arrived on this server or not.
    Member {
        key: &'a NickKey,
        was: Option<&'a NickKey>,
        arrived: bool,
    },
}

impl<'a> Whose<'a> {
    /// `key`'s, a member already here.
    pub(super) fn member(key: &'a NickKey) -> Whose<'a> {
        Whose::Member {
            key,
            was: None,
            arrived: false,
        }
    }
}

/// The change to hand the store: `member` is `whose` after it, `None` if
/// it left.
pub(super) fn change(
    whose: &Whose<'_>,
    member: Option<&Member>,
    events: &[(Audience, ServerMsg)],
) -> PresenceChange {
    let events: Vec<SharedEvent> = events
        .iter()
        .map(|(audience, msg)| SharedEvent::of(audience, msg))
        .collect();
    let member = member
        .map(RemoteMember::of)
        .and_then(|member| serde_json::to_string(&member).ok());
    let (nick, was, arrived) = match whose {
        Whose::Room => (String::new(), String::new(), false),
        Whose::Member { key, was, arrived } => (
            key.to_string(),
            was.map(ToString::to_string).unwrap_or_default(),
            *arrived,
        ),
    };
    PresenceChange {
        nick,
        was,
        arrived,
        member: member.unwrap_or_default(),
        events: serde_json::to_string(&events).unwrap_or_default(),
    }
}

/// The events of a change read from the log, with their audiences.
pub(super) fn events(json: &str) -> Vec<(Audience, ServerMsg)> {
    if json.is_empty() {
        return Vec::new();
    }
    let Ok(events) = serde_json::from_str::<Vec<SharedEvent>>(json) else {
        tracing::error!("events in the shared log cannot be read; skipped");
        return Vec::new();
    };
    events
        .into_iter()
        .map(|event| (event.audience(), event.msg))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(audience: Audience) -> Audience {
        let msg = ServerMsg::Away {
            nick: "ann".into(),
            text: None,
        };
        let json = serde_json::to_string(&[SharedEvent::of(&audience, &msg)]).unwrap_or_default();
        let read = events(&json);
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].1, msg);
        read.into_iter()
            .map(|(audience, _)| audience)
            .next()
            .unwrap_or(Audience::Member(NickKey::of("")))
    }

    #[test]
    fn audiences_come_back_from_the_log_as_they_went_in() {
        let room = Audience::Room("dev".into());
        assert_eq!(round_trip(room.clone()), room);
        let except = Audience::RoomExcept {
            room: "dev".into(),
            except: NickKey::of("Ann"),
        };
        assert_eq!(round_trip(except.clone()), except);
        let renamed = Audience::Renamed {
            rooms: vec!["dev".into(), "ops".into()],
            new: NickKey::of("ann"),
        };
        assert_eq!(round_trip(renamed.clone()), renamed);
    }

    #[test]
    fn a_member_reads_back_and_an_empty_or_broken_one_is_gone() {
        let member = RemoteMember {
            nick: "Ann".into(),
            owned: true,
            away: Some("lunch".into()),
            rooms: ["dev".to_owned(), "lobby".to_owned()].into(),
            ..RemoteMember::default()
        };
        let json = serde_json::to_string(&member).unwrap_or_default();
        assert_eq!(RemoteMember::read(&json), Some(member));
        assert_eq!(RemoteMember::read(""), None);
        assert_eq!(RemoteMember::read("{not json"), None);
    }
}
