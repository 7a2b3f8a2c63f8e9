//! Entering and leaving rooms.

use lanchat_shared::{ErrorCode, RoomName, ServerMsg};

use tracing::warn;

use super::{Context, LeaveReason, Member, Next, moderation, privacy, queries, replay};
use crate::dialect::{Answer, Entry};
use crate::hub::{PARTED, Refusal, RoomEntry};
use crate::store::History;
use crate::writer::Outgoing;

/// Enters `room` (creating it if needed) and makes it the current room.
/// A room entered anew is followed by its recent history and
/// `history_end`.
pub(crate) async fn join(
    ctx: &mut Context<'_>,
    member: &mut Member,
    room: &str,
    key: Option<&str>,
) -> Next {
    let room = match RoomName::parse(room) {
        Ok(room) => room,
        Err(error) => return ctx.refuse(ErrorCode::RoomInvalid, error.to_string()),
    };
    if !member.membership.view().in_room(room.as_str())
        && let Err(refused) = privacy::may_enter(ctx, member, &room, key).await
    {
        return refused;
    }
    if let Some(ban) = super::hello::banned_from(ctx, Some(&room)) {
        let now = ctx.shared.clock.now_millis();
        return ctx.refuse(ErrorCode::Banned, format!("{}.", ban.describe(now)));
    }
    let max_rooms = ctx.shared.config.max_rooms_per_client;
    let entered = match member.membership.join_room(&room, max_rooms) {
        Err(Refusal::TooManyRooms) => {
            let message = format!("You are in {max_rooms} rooms already; /part one first.");
            return ctx.refuse(ErrorCode::TooManyRooms, message);
        }
        Err(_reclaimed) => return Next::End(LeaveReason::Reclaimed),
        Ok(RoomEntry::AlreadyThere) => false,
        Ok(RoomEntry::Entered) => {
            if let end @ Next::End(_) = enter(ctx, member, &room).await {
                return end;
            }
            true
        }
    };
    member.current_room = room.clone();
    let confirmed = match ctx.dialect().entry() {
        Entry::Confirmed => ctx.reply(ServerMsg::info(format!(
            "You are in #{room}. Lines you type go there."
        ))),
        Entry::Announced => Next::Read,
    };
    match (entered, confirmed) {
        // The topic last, once the room is the client's.
        (true, Next::Read) => moderation::tell_topic(ctx, &room).await,
        (_, next) => next,
    }
}

/// A room just entered: recorded (with its founder) if it is new, and its
/// history replayed.
async fn enter(ctx: &mut Context<'_>, member: &mut Member, room: &RoomName) -> Next {
    ctx.save_session(member);
    moderation::note_entry(ctx, room, member.party.identity().cloned()).await;
    // Announced before the room hears of the entrant's role, so that an
    // IRC client is in the channel before a MODE about it.
    if ctx.dialect().entry() == Entry::Announced {
        let people = queries::people_in(ctx, room.as_str()).await;
        let room = room.to_string();
        if let end @ Next::End(_) = ctx.answer(&Answer::Entered { room, people }) {
            return end;
        }
    }
    moderation::tell_role_on_entry(ctx, member, room).await;
    // A room's history that cannot be read is left out, not reported: the
    // join itself succeeded (the protocol says so).
    let history = replay::of_room(ctx, room).await.or_else(|error| {
        warn!(error = error.explained(), %room, "a room's history could not be read");
        Ok(History::default())
    });
    let replay = replay::render(ctx.dialect(), &member.party, None, &history);
    ctx.send(Outgoing::Line(replay))
}

/// Leaves every room but the lobby.
pub(crate) async fn part_all(ctx: &mut Context<'_>, member: &mut Member) -> Next {
    for room in member.membership.view().rooms() {
        if room != RoomName::lobby().as_str()
            && let end @ Next::End(_) = part(ctx, member, Some(&room)).await
        {
            return end;
        }
    }
    Next::Read
}

/// Leaves `room`, or the current room if none is named.
pub(crate) async fn part(ctx: &mut Context<'_>, member: &mut Member, room: Option<&str>) -> Next {
    let room = match room.map(RoomName::parse) {
        None => member.current_room.clone(),
        Some(Ok(room)) => room,
        Some(Err(error)) => return ctx.refuse(ErrorCode::RoomInvalid, error.to_string()),
    };
    // What was said in the room before leaving it reaches the room, and
    // the sender's echo reaches the sender, before the leave.
    ctx.settle().await;
    match member.membership.part_room(&room) {
        Ok(()) => {}
        Err(Refusal::NotInRoom) => {
            return ctx.refuse(ErrorCode::NotInRoom, format!("You are not in #{room}."));
        }
        Err(_reclaimed) => return Next::End(LeaveReason::Reclaimed),
    }
    ctx.save_session(member);
    if member.current_room == room {
        member.current_room = RoomName::lobby();
    }
    match ctx.dialect().entry() {
        Entry::Confirmed => ctx.reply(ServerMsg::info(format!("You left #{room}."))),
        // As a leave of its own, which the room's event is not: the
        // client is no longer in the room it goes to.
        Entry::Announced => ctx.reply(ServerMsg::Leave {
            nick: member.membership.nick(),
            reason: PARTED.to_owned(),
            room: Some(room.to_string()),
        }),
    }
}
