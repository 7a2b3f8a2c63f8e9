//! Keeping order in a room: topics, kicks, and who may do them.
//!
//! Roles belong to identities, never to nicknames or guests:
//! - **Admins** (`--admin FINGERPRINT`, and the person hosting a room in
//!   their client) may do everything in every room.
//! - **Operators** of a room: the identity that founded it (entered it
//!   first, when the server had never seen it), and those an operator
//!   names with `/op`. Kept in the database with the room's topic.
//!
//! An operator cannot act against an admin, and nobody but an admin can
//! take the role from a room's last operator. What an action changes is
//! told to the room as a line from `server`, stored in its history like
//! any message, and logged with who did it.

use lanchat_shared::command::Command;
use lanchat_shared::{ErrorCode, Fingerprint, RoomName, ServerMsg, sanitize_text};
use tracing::info;

use super::{Context, Member, Next, banning, echo, privacy};
use crate::domain::{NewMessage, Target};
use crate::hub::Presence;
use crate::request::Moderation;
use crate::store::{MAX_ROOM_OPERATORS as MAX_OPERATORS, OperatorChange, RoomRecord, Topic};

/// The name the server's own lines in a room are from; reserved, so no
/// client can use it.
const SERVER_NICK: &str = "server";
/// Longest topic, in characters.
const MAX_TOPIC_CHARS: usize = 300;

/// What someone may do in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Authority {
    /// May speak, read the topic.
    Member,
    /// May moderate the room.
    Operator,
    /// May moderate every room, and cannot be acted against by operators.
    Admin,
}

/// Carries out `action` in `room` (the current room by default).
pub(crate) async fn moderate(
    ctx: &mut Context<'_>,
    member: &Member,
    room: Option<&str>,
    action: Moderation,
) -> Next {
    let room = match room.map(RoomName::parse) {
        None => member.current_room.clone(),
        Some(Ok(room)) => room,
        Some(Err(error)) => return ctx.refuse(ErrorCode::RoomInvalid, error.to_string()),
    };
    if !member.membership.view().in_room(room.as_str()) {
        let message = format!("You are not in #{room}; /join {room} first.");
        return ctx.refuse(ErrorCode::NotInRoom, message);
    }
    let record = match load(ctx, &room).await {
        Ok(record) => record,
        Err(next) => return next,
    };
    let mine = authority(ctx, member.party.identity(), &record);
    match action {
        Moderation::Topic(None) => show_topic(ctx, &room, record.topic.as_ref()),
        _ if mine == Authority::Member => refuse_member(ctx, &room),
        Moderation::Topic(Some(text)) => set_topic(ctx, member, &room, &text).await,
        Moderation::Kick { nick, reason } => {
            kick(ctx, member, (&room, &record), &nick, reason.as_deref()).await
        }
        Moderation::Operator { nick, give } => {
            let request = RoleChange { nick, give, mine };
            change_role(ctx, member, (&room, &record), request).await
        }
        Moderation::Ban(request) => banning::ban(ctx, member, (&room, mine), request).await,
        Moderation::Unban { target, server } => {
            banning::unban(ctx, member, (&room, mine), (&target, server)).await
        }
        Moderation::Bans { server } => banning::list(ctx, (&room, mine), server),
        Moderation::Mute {
            nick,
            duration_secs,
        } => banning::mute(ctx, member, (&room, mine), (&nick, duration_secs)).await,
        Moderation::Unmute { nick } => banning::unmute(ctx, member, &room, &nick).await,
        Moderation::Private(on) => privacy::set_private(ctx, member, (&room, &record), on).await,
        Moderation::Key(key) => privacy::set_key(ctx, member, (&room, &record), key).await,
        Moderation::Invite { nick } => privacy::invite(ctx, member, &room, &nick).await,
    }
}

/// The moderation a chat command asks for: `None` for a command that is
/// not one, `Err` with the command's name for one used wrongly (its usage
/// is the answer). The commands whose words need more reading than the
/// shared parser gives (`/ban`, `/mute`) are read by `banning`.
pub(crate) fn action_of(command: &Command<'_>) -> Option<Result<Moderation, &'static str>> {
    let action = match *command {
        Command::Topic(text) => Moderation::Topic(text.map(str::to_owned)),
        Command::Kick { nick, reason } => Moderation::Kick {
            nick: nick.to_owned(),
            reason: reason.map(str::to_owned),
        },
        Command::Op(nick) | Command::Deop(nick) => Moderation::Operator {
            nick: nick.to_owned(),
            give: matches!(command, Command::Op(_)),
        },
        Command::Ban(words) => {
            return Some(banning::read_ban(words).map(Moderation::Ban).ok_or("ban"));
        }
        Command::Unban(words) => {
            let (server, target) = banning::server_flag(words);
            let target = target.to_owned();
            Moderation::Unban { target, server }
        }
        Command::Bans(words) => Moderation::Bans {
            server: banning::server_flag(words).0,
        },
        Command::Mute(words) => return Some(banning::read_mute(words).ok_or("mute")),
        Command::Unmute(nick) => Moderation::Unmute {
            nick: nick.to_owned(),
        },
        Command::Private(on) => Moderation::Private(on),
        Command::Invite(nick) => Moderation::Invite {
            nick: nick.to_owned(),
        },
        Command::Key(key) => Moderation::Key(key.map(str::to_owned)),
        _ => return None,
    };
    Some(Ok(action))
}

/// What the store keeps of `room`, or the refusal already sent.
pub(super) async fn load(ctx: &mut Context<'_>, room: &RoomName) -> Result<RoomRecord, Next> {
    let name = room.to_string();
    match ctx
        .shared
        .store
        .run(move |store, _| store.room(&name))
        .await
    {
        Ok(record) => Ok(record),
        Err(error) => Err(ctx.refuse(ErrorCode::StoreUnavailable, error.explained())),
    }
}

/// What the store keeps of `room`, or, if it cannot be read, an empty
/// record: then only the admins are known to keep order there, which is
/// right for what only shows roles (`/who`, `role` events) and answers
/// anyway.
pub(super) async fn record_or_empty(ctx: &Context<'_>, room: &str) -> RoomRecord {
    let name = room.to_owned();
    ctx.shared
        .store
        .run(move |store, _| store.room(&name))
        .await
        .unwrap_or_default()
}

pub(super) fn authority(
    ctx: &Context<'_>,
    identity: Option<&Fingerprint>,
    record: &RoomRecord,
) -> Authority {
    match identity {
        None => Authority::Member,
        Some(key) if ctx.shared.config.admins.contains(key) => Authority::Admin,
        Some(key) if record.operators.contains(key) => Authority::Operator,
        Some(_) => Authority::Member,
    }
}

fn refuse_member(ctx: &mut Context<'_>, room: &RoomName) -> Next {
    let message = format!(
        "Only operators of #{room} (and the server's admins) may do that; /whois shows who is who."
    );
    ctx.refuse(ErrorCode::NoPermission, message)
}

fn show_topic(ctx: &mut Context<'_>, room: &RoomName, topic: Option<&Topic>) -> Next {
    ctx.reply(topic_message(room.as_str(), topic))
}

/// The `topic` event for `room`: what joiners and askers are told.
pub(crate) fn topic_message(room: &str, topic: Option<&Topic>) -> ServerMsg {
    ServerMsg::Topic {
        room: room.to_owned(),
        text: topic.map(|t| t.text.clone()).unwrap_or_default(),
        by: topic.map(|t| t.by.clone()).filter(|by| !by.is_empty()),
    }
}

async fn set_topic(ctx: &mut Context<'_>, member: &Member, room: &RoomName, text: &str) -> Next {
    let text = sanitize_text(text).trim().to_owned();
    if text.chars().count() > MAX_TOPIC_CHARS {
        let message = format!("A topic has at most {MAX_TOPIC_CHARS} characters.");
        return ctx.refuse(ErrorCode::TextTooLong, message);
    }
    let by = member.membership.nick();
    let topic = Topic {
        text,
        by: by.clone(),
        at_ms: ctx.shared.clock.now_millis(),
    };
    let (name, kept) = (room.to_string(), topic.clone());
    let stored = ctx
        .shared
        .store
        .run(move |store, _| store.set_topic(&name, &kept))
        .await;
    if let Err(error) = stored {
        return ctx.refuse(ErrorCode::StoreUnavailable, error.explained());
    }
    info!(%room, by, topic = topic.text, "topic set");
    let line = if topic.text.is_empty() {
        format!("{by} cleared the topic.")
    } else {
        format!("{by} set the topic: {}", topic.text)
    };
    announce(ctx, room, line).await;
    ctx.shared
        .hub
        .tell_room(room.as_str(), topic_message(room.as_str(), Some(&topic)));
    Next::Read
}

async fn kick(
    ctx: &mut Context<'_>,
    member: &Member,
    (room, record): (&RoomName, &RoomRecord),
    nick: &str,
    reason: Option<&str>,
) -> Next {
    // Someone on another server of a group is put out by that server.
    let target = match present_anywhere_in(ctx, room, nick) {
        Ok(target) => target,
        Err(next) => return next,
    };
    let mine = authority(ctx, member.party.identity(), record);
    let theirs = authority(ctx, target.presence.identity.as_ref(), record);
    if theirs == Authority::Admin && mine != Authority::Admin {
        return refuse_against_admin(ctx, &target.nick);
    }
    let by = member.membership.nick();
    let reason = reason.and_then(echo);
    let said = match &reason {
        Some(reason) => format!("kicked by {by}: {reason}"),
        None => format!("kicked by {by}"),
    };
    let here = ctx.shared.hub.put_out(&target.nick, room.as_str(), &said);
    if here.is_none() {
        if ctx.shared.config.redis.is_none() {
            return refuse_absent(ctx, room, nick);
        }
        let (nick, room_name, said) = (target.nick.clone(), room.to_string(), said.clone());
        let told = ctx
            .shared
            .store
            .run(move |store, _| store.tell_put_out(&nick, &room_name, &said))
            .await;
        if let Err(error) = told {
            return ctx.refuse(ErrorCode::StoreUnavailable, error.explained());
        }
    }
    info!(%room, by, kicked = target.nick, reason, "kick");
    announce(ctx, room, format!("{} was {said}.", target.nick)).await;
    Next::Read
}

/// Someone in the room, as the hub knows them.
pub(super) struct Present {
    /// The nickname as they spell it.
    pub(super) nick: String,
    /// Who they are: identity and address.
    pub(super) presence: Presence,
}

/// `nick` if they are in `room`, or the refusal already sent.
pub(super) fn present_in(
    ctx: &mut Context<'_>,
    room: &RoomName,
    nick: &str,
) -> Result<Present, Next> {
    let here = ctx
        .shared
        .hub
        .online(nick)
        .filter(|(spelled, _)| ctx.shared.hub.users(room.as_str()).contains(spelled));
    match here {
        Some((nick, presence)) => Ok(Present { nick, presence }),
        None if anywhere_in(ctx, room, nick).is_some() => {
            let message = format!(
                "{nick} is connected to another server of this chat: only a kick, or a ban by key, reaches them there."
            );
            Err(ctx.refuse(ErrorCode::NoSuchUser, message))
        }
        None => Err(refuse_absent(ctx, room, nick)),
    }
}

/// `nick` if they are in `room` on any server of a group, where their
/// identity is all that counts (for a role), or the refusal already sent.
fn present_anywhere_in(
    ctx: &mut Context<'_>,
    room: &RoomName,
    nick: &str,
) -> Result<Present, Next> {
    anywhere_in(ctx, room, nick).ok_or_else(|| refuse_absent(ctx, room, nick))
}

fn anywhere_in(ctx: &Context<'_>, room: &RoomName, nick: &str) -> Option<Present> {
    let (nick, presence, shared) = ctx.shared.hub.whois(nick, &[room.to_string()])?;
    (!shared.is_empty()).then_some(Present { nick, presence })
}

fn refuse_absent(ctx: &mut Context<'_>, room: &RoomName, nick: &str) -> Next {
    let who = echo(nick).unwrap_or_default();
    ctx.refuse(
        ErrorCode::NoSuchUser,
        format!("Nobody called {who} is in #{room}."),
    )
}

fn refuse_against_admin(ctx: &mut Context<'_>, nick: &str) -> Next {
    let message =
        format!("{nick} is an admin of this server; operators cannot act against admins.");
    ctx.refuse(ErrorCode::NoPermission, message)
}

/// `/op NICK` (`give`) or `/deop NICK`, asked by someone of authority `mine`.
struct RoleChange {
    nick: String,
    give: bool,
    mine: Authority,
}

async fn change_role(
    ctx: &mut Context<'_>,
    member: &Member,
    (room, record): (&RoomName, &RoomRecord),
    request: RoleChange,
) -> Next {
    let target = match present_anywhere_in(ctx, room, &request.nick) {
        Ok(target) => target,
        Err(next) => return next,
    };
    let Some(identity) = target.presence.identity.clone() else {
        let message = format!(
            "{} is a guest (no key), and guests cannot be operators.",
            target.nick
        );
        return ctx.refuse(ErrorCode::NoPermission, message);
    };
    let theirs = authority(ctx, Some(&identity), record);
    if theirs == Authority::Admin && request.mine != Authority::Admin {
        return refuse_against_admin(ctx, &target.nick);
    }
    if let Err(message) = allowed_change(record, &identity, &request) {
        return ctx.refuse(ErrorCode::NoPermission, message);
    }
    let (name, give) = (room.to_string(), request.give);
    let change = match (give, request.mine) {
        (true, _) => OperatorChange::Give,
        (false, Authority::Admin) => OperatorChange::TakeEvenTheLast,
        (false, _) => OperatorChange::Take,
    };
    let changed = ctx
        .shared
        .store
        .run({
            let identity = identity.clone();
            move |store, _| store.set_operator(&name, &identity, change)
        })
        .await;
    let by = member.membership.nick();
    match changed {
        Err(error) => ctx.refuse(ErrorCode::StoreUnavailable, error.explained()),
        Ok(false) => {
            let why = if give {
                format!("is already an operator of #{room}, or the room has the most it may")
            } else {
                format!("is not an operator of #{room}, or is its last")
            };
            ctx.reply(ServerMsg::info(format!("{} {why}.", target.nick)))
        }
        Ok(true) => {
            info!(%room, by, nick = target.nick, give, "operator role changed");
            let line = if give {
                format!("{by} made {} an operator of #{room}.", target.nick)
            } else {
                format!(
                    "{by} took the operator role of #{room} from {}.",
                    target.nick
                )
            };
            announce(ctx, room, line).await;
            let operator = give || theirs == Authority::Admin;
            tell_role(ctx, room, &identity, operator);
            Next::Read
        }
    }
}

/// Tells `room` that whoever of its people is `identity` keeps order
/// there now (`operator`), or no longer does, so clients can mark them.
fn tell_role(ctx: &Context<'_>, room: &RoomName, identity: &Fingerprint, operator: bool) {
    let hub = &ctx.shared.hub;
    let theirs = |presence: &Presence| presence.identity.as_ref() == Some(identity);
    for nick in hub.in_room_matching(room.as_str(), theirs) {
        let role = ServerMsg::Role {
            room: room.to_string(),
            nick,
            operator,
        };
        hub.tell_room(room.as_str(), role);
    }
}

/// Tells `room` that `member`, who just entered it, keeps order there,
/// if they do (an operator of it, or an admin).
pub(crate) async fn tell_role_on_entry(ctx: &Context<'_>, member: &Member, room: &RoomName) {
    let Some(identity) = member.party.identity() else {
        return;
    };
    // An operator is not told without the store; `/who` says it once the
    // store is back.
    let record = record_or_empty(ctx, room.as_str()).await;
    if authority(ctx, Some(identity), &record) != Authority::Member {
        let role = ServerMsg::Role {
            room: room.to_string(),
            nick: member.membership.nick(),
            operator: true,
        };
        ctx.shared.hub.tell_room(room.as_str(), role);
    }
}

/// Whether the role change keeps the room in order: never past
/// [`MAX_OPERATORS`], and never the last operator's role taken except by
/// an admin.
fn allowed_change(
    record: &RoomRecord,
    identity: &Fingerprint,
    request: &RoleChange,
) -> Result<(), String> {
    let is_operator = record.operators.contains(identity);
    if request.give && !is_operator && record.operators.len() >= MAX_OPERATORS {
        return Err(format!("A room has at most {MAX_OPERATORS} operators."));
    }
    let last = is_operator && record.operators.len() == 1;
    if !request.give && last && request.mine != Authority::Admin {
        return Err(format!(
            "{} is the room's last operator; only an admin can take that role.",
            request.nick
        ));
    }
    Ok(())
}

/// Tells `room` what changed, in a line from the server stored in its
/// history like any message. A line that cannot be stored is still done:
/// the action stands, and the server's log has it.
pub(super) async fn announce(ctx: &mut Context<'_>, room: &RoomName, text: String) {
    let line = NewMessage::unproved(
        ctx.shared.clock.now_millis(),
        SERVER_NICK.to_owned(),
        Target::Room(room.to_string()),
        text,
    );
    if let Err(error) = ctx.shared.store.append_and_wait(line).await {
        tracing::warn!(%room, error = error.explained(), "a moderation line could not be stored");
    }
}

/// Tells someone who just entered `room` its topic, if it has one.
pub(crate) async fn tell_topic(ctx: &mut Context<'_>, room: &RoomName) -> Next {
    match load(ctx, room).await {
        Ok(RoomRecord {
            topic: Some(topic), ..
        }) if !topic.text.is_empty() => ctx.reply(topic_message(room.as_str(), Some(&topic))),
        Ok(_) => Next::Read,
        Err(next) => next,
    }
}

/// Records `room` as founded by `identity` the first time anyone enters
/// it, so its founder is its first operator. The lobby has no founder:
/// only admins keep order there. A room a guest founds has none either.
pub(crate) async fn note_entry(ctx: &Context<'_>, room: &RoomName, identity: Option<Fingerprint>) {
    if *room == RoomName::lobby() {
        return;
    }
    let name = room.to_string();
    let founded = ctx
        .shared
        .store
        .run(move |store, _| store.found_room(&name, identity.as_ref()))
        .await;
    if let Err(error) = founded {
        tracing::warn!(%room, error = error.explained(), "a new room could not be recorded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Privacy;

    fn key(name: &[u8]) -> Fingerprint {
        Fingerprint::of_public_key(name)
    }

    fn change(nick: &str, give: bool, mine: Authority) -> RoleChange {
        RoleChange {
            nick: nick.into(),
            give,
            mine,
        }
    }

    #[test]
    fn only_an_admin_takes_the_last_operators_role() {
        let alice = key(b"alice");
        let record = RoomRecord {
            operators: vec![alice.clone()],
            topic: None,
            privacy: Privacy::default(),
        };
        let own = change("alice", false, Authority::Operator);
        assert!(allowed_change(&record, &alice, &own).is_err());
        let admin = change("alice", false, Authority::Admin);
        assert!(allowed_change(&record, &alice, &admin).is_ok());
        let two = RoomRecord {
            operators: vec![alice.clone(), key(b"bob")],
            topic: None,
            privacy: Privacy::default(),
        };
        assert!(allowed_change(&two, &alice, &own).is_ok());
    }

    #[test]
    fn a_room_has_a_bounded_number_of_operators() {
        let record = RoomRecord {
            operators: (0..MAX_OPERATORS)
                .map(|n| key(n.to_string().as_bytes()))
                .collect(),
            topic: None,
            privacy: Privacy::default(),
        };
        let newcomer = key(b"newcomer");
        let request = change("newcomer", true, Authority::Admin);
        assert!(allowed_change(&record, &newcomer, &request).is_err());
        let existing = record.operators[0].clone();
        assert!(allowed_change(&record, &existing, &request).is_ok());
    }
}
