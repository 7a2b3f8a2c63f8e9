//! Private rooms: `/private on` makes a room invite-only and unlisted;
//! then only its operators, the server's admins, those an operator
//! `/invite`s (once, each) and whoever joins with the room's `/key` may
//! enter. Who is private is kept in the database and, for `/rooms` and
//! every join, in memory; invitations are kept in memory only.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use lanchat_shared::{ErrorCode, RoomName, ServerMsg};
use tracing::info;

use super::moderation::{Authority, announce, authority, load};
use super::{Context, Member, Next};
use crate::domain::ConnectionId;
use crate::hub::Presence;
use crate::store::{Privacy, RoomRecord};

/// Invitations one room holds at most, and rooms holding any: they are
/// made by operators, and anyone with a key can found a room.
const INVITES_PER_ROOM: usize = 256;
const ROOMS_WITH_INVITES: usize = 1_000;
/// Longest room key, in bytes.
const MAX_KEY_BYTES: usize = 64;

/// Which rooms are private, and who is invited into which.
#[derive(Debug, Default)]
pub(crate) struct RoomPrivacy {
    private: Mutex<HashSet<String>>,
    invites: Mutex<HashMap<String, HashSet<String>>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RoomPrivacy {
    /// The private rooms, as the database had them at start.
    pub(crate) fn new(private: Vec<String>) -> RoomPrivacy {
        RoomPrivacy {
            private: Mutex::new(private.into_iter().collect()),
            invites: Mutex::default(),
        }
    }

    /// True if `room` is private.
    pub(crate) fn is_private(&self, room: &str) -> bool {
        locked(&self.private).contains(room)
    }

    /// Makes `room` private, or open (its invitations go).
    pub(crate) fn set(&self, room: &str, private: bool) {
        let mut rooms = locked(&self.private);
        if private {
            rooms.insert(room.to_owned());
        } else {
            rooms.remove(room);
            locked(&self.invites).remove(room);
        }
    }

    /// Invites `who` into `room`; false if no more invitations fit.
    fn invite(&self, room: &str, who: String) -> bool {
        let mut invites = locked(&self.invites);
        if !invites.contains_key(room) && invites.len() >= ROOMS_WITH_INVITES {
            return false;
        }
        let room_invites = invites.entry(room.to_owned()).or_default();
        room_invites.len() < INVITES_PER_ROOM && {
            room_invites.insert(who);
            true
        }
    }

    /// Uses `who`'s invitation into `room`, if there is one.
    fn take(&self, room: &str, who: &str) -> bool {
        locked(&self.invites)
            .get_mut(room)
            .is_some_and(|room_invites| room_invites.remove(who))
    }
}

/// Whom an invitation is for: an identity wherever it connects from, or
/// a guest's one connection.
fn invitee(identity: Option<&lanchat_shared::Fingerprint>, connection: ConnectionId) -> String {
    match identity {
        Some(key) => format!("key {key}"),
        None => format!("connection {}", connection.0),
    }
}

/// May `member` enter `room`, with `key` if given? `Err` is the refusal,
/// already sent.
pub(crate) async fn may_enter(
    ctx: &mut Context<'_>,
    member: &Member,
    room: &RoomName,
    key: Option<&str>,
) -> Result<(), Next> {
    if !ctx.shared.privacy.is_private(room.as_str()) {
        return Ok(());
    }
    let record = load(ctx, room).await?;
    let identity = member.party.identity();
    let who = invitee(identity, member.membership.connection());
    let has_key = match (key, &record.privacy.key) {
        (Some(given), Some(kept)) => super::password::same_secret(given, kept),
        _ => false,
    };
    if authority(ctx, identity, &record) != Authority::Member
        || has_key
        || ctx.shared.privacy.take(room.as_str(), &who)
    {
        return Ok(());
    }
    // A room with a key says so, since the key is what most who come
    // need (and IRC clients tell a wrong key from an invitation missing).
    let (code, how) = if record.privacy.key.is_some() {
        let how = format!("ask an operator to /invite you, or /join {room} KEY with its key");
        (ErrorCode::BadKey, how)
    } else {
        (
            ErrorCode::InviteOnly,
            "ask an operator to /invite you".to_owned(),
        )
    };
    let message = format!("#{room} is private: {how}.");
    Err(ctx.refuse(code, message))
}

/// `/private on|off`.
pub(crate) async fn set_private(
    ctx: &mut Context<'_>,
    member: &Member,
    (room, record): (&RoomName, &RoomRecord),
    private: bool,
) -> Next {
    let privacy = Privacy {
        private,
        key: record.privacy.key.clone(),
    };
    if let Err(next) = keep(ctx, room, privacy).await {
        return next;
    }
    ctx.shared.privacy.set(room.as_str(), private);
    let by = member.membership.nick();
    info!(%room, by, private, "privacy changed");
    let line = if private {
        format!("{by} made #{room} private: invited people only, and not listed.")
    } else {
        format!("{by} opened #{room} to everyone.")
    };
    announce(ctx, room, line).await;
    Next::Read
}

/// `/key SECRET` or `/key -` (`None`).
pub(crate) async fn set_key(
    ctx: &mut Context<'_>,
    member: &Member,
    (room, record): (&RoomName, &RoomRecord),
    key: Option<String>,
) -> Next {
    if key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > MAX_KEY_BYTES || k.contains(char::is_whitespace))
    {
        let message = format!("A room key is one word of at most {MAX_KEY_BYTES} bytes.");
        return ctx.refuse(ErrorCode::BadRequest, message);
    }
    let set = key.is_some();
    let privacy = Privacy {
        private: record.privacy.private,
        key,
    };
    if let Err(next) = keep(ctx, room, privacy).await {
        return next;
    }
    let by = member.membership.nick();
    info!(%room, by, set, "room key changed");
    let line = if set {
        format!("{by} set a key for #{room}.")
    } else {
        format!("{by} cleared the key of #{room}.")
    };
    announce(ctx, room, line).await;
    Next::Read
}

async fn keep(ctx: &mut Context<'_>, room: &RoomName, privacy: Privacy) -> Result<(), Next> {
    let name = room.to_string();
    let kept = ctx
        .shared
        .store
        .run(move |store, _| store.set_privacy(&name, &privacy))
        .await;
    kept.map_err(|error| ctx.refuse(ErrorCode::StoreUnavailable, error.explained()))
}

/// `/invite NICK`: someone online may enter the room once.
pub(crate) async fn invite(
    ctx: &mut Context<'_>,
    member: &Member,
    room: &RoomName,
    nick: &str,
) -> Next {
    let Some((nick, presence, connection)) = online(ctx, nick) else {
        let message = format!("Nobody called {nick} is here.");
        return ctx.refuse(ErrorCode::NoSuchUser, message);
    };
    let who = invitee(presence.identity.as_ref(), connection);
    if !ctx.shared.privacy.invite(room.as_str(), who) {
        return ctx.refuse(ErrorCode::BadRequest, "No more invitations fit; try later.");
    }
    let by = member.membership.nick();
    info!(%room, by, invited = nick, "invite");
    let told = format!("{by} invited you into #{room}: /join {room}");
    ctx.shared.hub.tell_member(&nick, ServerMsg::info(told));
    announce(ctx, room, format!("{by} invited {nick}.")).await;
    Next::Read
}

fn online(ctx: &Context<'_>, nick: &str) -> Option<(String, Presence, ConnectionId)> {
    let (nick, presence) = ctx.shared.hub.online(nick)?;
    let connection = ctx.shared.hub.connection_of(&nick)?;
    Some((nick, presence, connection))
}
