//! `/ban`, `/unban`, `/bans`: keeping someone out of a room (operators) or
//! of the server (admins), for a while or for good. The rules of who may
//! are `moderation`'s; what a ban is and how it matches is `crate::bans`.

use lanchat_shared::{ErrorCode, Fingerprint, RoomName, ServerMsg};
use tracing::info;

use super::moderation::{Authority, Present, announce, present_in};
use super::{Context, Member, Next, echo, moderation};
use crate::bans::{Ban, BanTarget, Network, parse_duration};
use crate::dialect::{Answer, ListedBan};
use crate::hub::{Hub, Presence};
use crate::request::{BanRequest, Moderation};

/// Reads what follows `/ban`: `[-s] TARGET [DURATION] [REASON]`.
pub(crate) fn read_ban(words: &str) -> Option<BanRequest> {
    let (server, rest) = server_flag(words);
    let mut parts = rest.splitn(2, char::is_whitespace);
    let target = parts.next().filter(|t| !t.is_empty())?.to_owned();
    let rest = parts.next().unwrap_or_default().trim();
    let (duration_secs, reason) = match rest.split_once(char::is_whitespace) {
        Some((first, more)) if parse_duration(first).is_some() => {
            (parse_duration(first), Some(more.trim()))
        }
        None if parse_duration(rest).is_some() => (parse_duration(rest), None),
        _ => (None, Some(rest)),
    };
    let reason = reason.filter(|r| !r.is_empty()).map(str::to_owned);
    Some(BanRequest {
        target,
        server,
        duration_secs,
        reason,
    })
}

/// Reads what follows `/mute`: `NICK [DURATION]`; `None` if anything else
/// follows, or the duration is not one.
pub(crate) fn read_mute(words: &str) -> Option<Moderation> {
    let mut parts = words.split_whitespace();
    let nick = parts.next()?.to_owned();
    let duration_secs = match parts.next() {
        Some(duration) => Some(parse_duration(duration)?),
        None => None,
    };
    parts.next().is_none().then_some(Moderation::Mute {
        nick,
        duration_secs,
    })
}

/// Takes a leading `-s` off `words`: true if it was there.
pub(crate) fn server_flag(words: &str) -> (bool, &str) {
    let words = words.trim();
    match words.strip_prefix("-s") {
        Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
            (true, rest.trim())
        }
        _ => (false, words),
    }
}

/// Places a ban asked for by `member` (of authority `mine` in `room`).
pub(crate) async fn ban(
    ctx: &mut Context<'_>,
    member: &Member,
    (room, mine): (&RoomName, Authority),
    request: BanRequest,
) -> Next {
    if request.server && mine != Authority::Admin {
        return ctx.refuse(
            ErrorCode::NoPermission,
            "Only admins ban from the whole server.",
        );
    }
    let (target, holder) = match resolve(ctx, &request.target) {
        Ok(resolved) => resolved,
        Err(next) => return next,
    };
    if mine != Authority::Admin && targets_an_admin(ctx, &target) {
        let message = "That is an admin of this server; operators cannot act against admins.";
        return ctx.refuse(ErrorCode::NoPermission, message);
    }
    if target.matches(member.party.identity(), ctx.peer) {
        let message = "That ban would keep you out too; ban the person by nickname or key instead.";
        return ctx.refuse(ErrorCode::BadRequest, message);
    }
    let now = ctx.shared.clock.now_millis();
    let ban = Ban {
        room: (!request.server).then(|| room.to_string()),
        target,
        until_ms: request
            .duration_secs
            .map(|secs| now.saturating_add(secs.saturating_mul(1000))),
        reason: request.reason.as_deref().and_then(echo),
        by: member.membership.nick(),
        at_ms: now,
    };
    if let Err(full) = ctx.shared.bans.add(ban.clone(), now) {
        return ctx.refuse(ErrorCode::BadRequest, full);
    }
    let kept = ban.clone();
    if let Err(error) = ctx
        .shared
        .store
        .run(move |store, _| store.add_ban(&kept))
        .await
    {
        ctx.shared.bans.remove(ban.room.as_deref(), &ban.target);
        return ctx.refuse(ErrorCode::StoreUnavailable, error.explained());
    }
    info!(room = ban.room, target = %ban.target, by = ban.by, until_ms = ban.until_ms, "ban");
    enforce(ctx, &ban);
    // The room is told who, never an address: `/bans` shows those to
    // operators alone.
    let who = match (&holder, &ban.target) {
        (Some(nick), BanTarget::Identity(key)) => format!("{nick} ({key})"),
        (Some(nick), _) => format!("{nick} (a guest, by address)"),
        (None, BanTarget::Identity(key)) => key.to_string(),
        (None, _) => "an address".to_owned(),
    };
    let told = ban.describe_as(&who, now);
    let place = ban
        .room
        .as_deref()
        .map_or_else(RoomName::lobby, |_| room.clone());
    announce(ctx, &place, format!("{told}.")).await;
    Next::Read
}

/// What a ban's target names: what is behind a nickname someone holds now
/// (their identity, or a guest's address), with that nickname, or else a
/// fingerprint or network as typed. The nickname comes first: a nickname
/// may look like an address (`10.0.0.7` is a valid one), and banning the
/// address it spells instead of its holder would hit someone else.
fn resolve(ctx: &mut Context<'_>, typed: &str) -> Result<(BanTarget, Option<String>), Next> {
    if let Some((nick, presence)) = ctx.shared.hub.online(typed) {
        return Ok((behind(&presence), Some(nick)));
    }
    match BanTarget::parse(typed) {
        Some(target) => Ok((target, None)),
        None => {
            let who = echo(typed).unwrap_or_default();
            let message = format!(
                "Nobody called {who} is here; ban a key (SHA256:...) or an address (10.0.0.7, 10.0.0.0/24) instead."
            );
            Err(ctx.refuse(ErrorCode::NoSuchUser, message))
        }
    }
}

/// What banning someone present bans: their identity, or the guests of a
/// guest's address (a guest has nothing else that stays the same).
fn behind(presence: &Presence) -> BanTarget {
    match &presence.identity {
        Some(key) => BanTarget::Identity(key.clone()),
        None => BanTarget::Guests(Network::of(presence.address)),
    }
}

fn targets_an_admin(ctx: &Context<'_>, target: &BanTarget) -> bool {
    match target {
        BanTarget::Identity(key) => ctx.shared.config.admins.contains(key),
        BanTarget::Network(_) | BanTarget::Guests(_) => false,
    }
}

/// Puts out those the ban now keeps out: of its room, or of the server.
fn enforce(ctx: &Context<'_>, ban: &Ban) {
    enforce_ban(&ctx.shared.hub, &ctx.shared.config.admins, ban);
}

/// Puts out of `hub` those `ban` keeps out, admins never: what a ban does
/// the moment it is placed, here or (with Redis) on another server.
pub(crate) fn enforce_ban(hub: &Hub, admins: &[Fingerprint], ban: &Ban) {
    // An address ban never puts an admin out: an admin is known by key.
    let banned = |presence: &Presence| {
        ban.target
            .matches(presence.identity.as_ref(), presence.address)
            && !presence
                .identity
                .as_ref()
                .is_some_and(|key| admins.contains(key))
    };
    let reason = match &ban.reason {
        Some(reason) => format!("banned by {}: {reason}", ban.by),
        None => format!("banned by {}", ban.by),
    };
    match &ban.room {
        Some(room) => {
            for nick in hub.in_room_matching(room, banned) {
                hub.put_out(&nick, room, &reason);
            }
        }
        None => {
            hub.put_out_of_server(banned, &reason);
        }
    }
}

/// Lifts a ban.
pub(crate) async fn unban(
    ctx: &mut Context<'_>,
    member: &Member,
    (room, mine): (&RoomName, Authority),
    (words, server): (&str, bool),
) -> Next {
    if server && mine != Authority::Admin {
        return ctx.refuse(
            ErrorCode::NoPermission,
            "Only admins lift the server's bans.",
        );
    }
    let Some(target) = BanTarget::parse(words.trim()) else {
        let message = "Lift a ban by the key or address /bans lists.";
        return ctx.refuse(ErrorCode::BadRequest, message);
    };
    let place = (!server).then(|| room.to_string());
    if !ctx.shared.bans.remove(place.as_deref(), &target) {
        return ctx.reply(ServerMsg::info(format!("{target} is not banned there.")));
    }
    let kept = (place.clone(), target.clone());
    let lifted = ctx
        .shared
        .store
        .run(move |store, _| store.remove_ban(kept.0.as_deref(), &kept.1))
        .await;
    if let Err(error) = lifted {
        return ctx.refuse(ErrorCode::StoreUnavailable, error.explained());
    }
    let by = member.membership.nick();
    info!(room = place, %target, by, "ban lifted");
    let told = place.map_or_else(RoomName::lobby, |_| room.clone());
    announce(ctx, &told, format!("{by} lifted the ban on {target}.")).await;
    Next::Read
}

/// `/bans [-s]`: the bans in force, for operators (they name keys and
/// addresses, which are not everyone's business).
pub(crate) fn list(
    ctx: &mut Context<'_>,
    (room, mine): (&RoomName, Authority),
    server: bool,
) -> Next {
    if server && mine != Authority::Admin {
        return ctx.refuse(
            ErrorCode::NoPermission,
            "Only admins list the server's bans.",
        );
    }
    let place = (!server).then(|| room.to_string());
    let bans = listed(ctx, place.as_deref());
    ctx.answer(&Answer::Bans { room: place, bans })
}

/// The bans of `room` (`None`: the server) in force now, as lists show
/// them.
fn listed(ctx: &Context<'_>, room: Option<&str>) -> Vec<ListedBan> {
    let now = ctx.shared.clock.now_millis();
    ctx.shared
        .bans
        .of(room, now)
        .iter()
        .map(|ban| ListedBan {
            target: ban.target.to_string(),
            by: ban.by.clone(),
            at_ms: ban.at_ms,
            described: ban.describe(now),
        })
        .collect()
}

/// IRC's `MODE #room b`, which IRC clients ask on every join: the room's
/// bans for those who keep order there, an empty list for everyone else
/// (who may not see them, and whose client only wants the list's end).
pub(crate) async fn ban_list(ctx: &mut Context<'_>, member: &Member, room: &str) -> Next {
    let Ok(room) = RoomName::parse(room) else {
        return ctx.answer(&Answer::Bans {
            room: Some(room.to_owned()),
            bans: Vec::new(),
        });
    };
    let record = match moderation::load(ctx, &room).await {
        Ok(record) => record,
        Err(next) => return next,
    };
    let mine = moderation::authority(ctx, member.party.identity(), &record);
    let bans = if mine == Authority::Member {
        Vec::new()
    } else {
        listed(ctx, Some(room.as_str()))
    };
    let room = Some(room.to_string());
    ctx.answer(&Answer::Bans { room, bans })
}

/// `/mute NICK [TIME]`: someone in the room may read it, not speak.
pub(crate) async fn mute(
    ctx: &mut Context<'_>,
    member: &Member,
    (room, mine): (&RoomName, Authority),
    (nick, duration_secs): (&str, Option<u64>),
) -> Next {
    let Present { nick, presence } = match present_in(ctx, room, nick) {
        Ok(present) => present,
        Err(next) => return next,
    };
    let target = behind(&presence);
    if mine != Authority::Admin && targets_an_admin(ctx, &target) {
        let message = format!("{nick} is an admin of this server; operators cannot mute admins.");
        return ctx.refuse(ErrorCode::NoPermission, message);
    }
    let now = ctx.shared.clock.now_millis();
    let until_ms = duration_secs.map(|secs| now.saturating_add(secs.saturating_mul(1000)));
    let by = member.membership.nick();
    let mute = Ban {
        room: Some(room.to_string()),
        target,
        until_ms,
        reason: None,
        by: by.clone(),
        at_ms: now,
    };
    if let Err(full) = ctx.shared.mutes.add(mute, now) {
        return ctx.refuse(ErrorCode::BadRequest, full);
    }
    let how_long = match duration_secs {
        Some(secs) => format!(" for {}", crate::bans::spoken(secs)),
        None => String::new(),
    };
    info!(%room, by, muted = nick, duration_secs, "mute");
    announce(
        ctx,
        room,
        format!("{by} muted {nick} in #{room}{how_long}."),
    )
    .await;
    Next::Read
}

/// `/unmute NICK`.
pub(crate) async fn unmute(
    ctx: &mut Context<'_>,
    member: &Member,
    room: &RoomName,
    nick: &str,
) -> Next {
    let Present { nick, presence } = match present_in(ctx, room, nick) {
        Ok(present) => present,
        Err(next) => return next,
    };
    if !ctx
        .shared
        .mutes
        .remove(Some(room.as_str()), &behind(&presence))
    {
        return ctx.reply(ServerMsg::info(format!("{nick} is not muted in #{room}.")));
    }
    let by = member.membership.nick();
    info!(%room, by, unmuted = nick, "unmute");
    announce(
        ctx,
        room,
        format!("{by} let {nick} speak again in #{room}."),
    )
    .await;
    Next::Read
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_is_read_as_target_duration_and_reason() {
        let read = |words| read_ban(words).unwrap();
        let ban = read("bob 2h spamming the room");
        assert_eq!(
            (ban.target.as_str(), ban.server, ban.duration_secs),
            ("bob", false, Some(7200))
        );
        assert_eq!(ban.reason.as_deref(), Some("spamming the room"));
        let ban = read("-s 10.0.0.0/24");
        assert!(ban.server && ban.duration_secs.is_none() && ban.reason.is_none());
        let ban = read("bob 30m");
        assert_eq!((ban.duration_secs, ban.reason), (Some(1800), None));
        let ban = read("bob for reasons");
        assert_eq!(
            (ban.duration_secs, ban.reason.as_deref()),
            (None, Some("for reasons"))
        );
        assert_eq!(read("-sbob").target, "-sbob", "-s is a word of its own");
        assert_eq!(read_ban("  "), None);
    }
}
