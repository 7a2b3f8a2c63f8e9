//! Questions a client may ask: who is here, which rooms there are, which
//! commands there are.

use std::collections::HashMap;

use lanchat_shared::command::{self, Scope};
use lanchat_shared::{ErrorCode, ServerMsg, sanitize_text};

use super::moderation::{self, Authority};
use super::{Context, LeaveReason, Member, Next};
use crate::dialect::{Answer, ListedRoom, Person};
use crate::request::Listing;

/// `/who` (and IRC's `WHO` and `NAMES`): everyone in `room`, or in the
/// current room, with who of them are away and who keep order there.
pub(crate) async fn who(
    ctx: &mut Context<'_>,
    member: &Member,
    room: Option<&str>,
    listing: Listing,
) -> Next {
    let room = room.unwrap_or(member.current_room.as_str()).to_owned();
    let people = people_in(ctx, &room).await;
    ctx.answer(&Answer::People {
        room,
        people,
        listing,
    })
}

/// Everyone in `room`, sorted ignoring case, each with whether they keep
/// order there and their away message.
pub(crate) async fn people_in(ctx: &Context<'_>, room: &str) -> Vec<Person> {
    let moderators = moderators_in(ctx, room).await;
    let mut away: HashMap<String, String> = ctx.shared.hub.away_in(room).into_iter().collect();
    ctx.shared
        .hub
        .users(room)
        .into_iter()
        .map(|nick| Person {
            operator: moderators.contains(&nick),
            away: away.remove(&nick),
            nick,
        })
        .collect()
}

/// Those in `room` who may keep order there: its operators and the
/// server's admins. None if the room's record cannot be read (the list
/// above it is still right).
async fn moderators_in(ctx: &Context<'_>, room: &str) -> Vec<String> {
    let record = moderation::record_or_empty(ctx, room).await;
    let mut nicks = ctx.shared.hub.in_room_matching(room, |presence| {
        moderation::authority(ctx, presence.identity.as_ref(), &record) != Authority::Member
    });
    nicks.sort_by_key(|nick| nick.to_ascii_lowercase());
    nicks
}

/// `/whois NICK`: who is behind a nickname — key or guest, encrypted or
/// not, since when, and the rooms the asker shares with it.
pub(crate) fn whois(ctx: &mut Context<'_>, member: &Member, nick: &str) -> Next {
    let mine = member.membership.view().rooms();
    let Some((nick, presence, rooms)) = ctx.shared.hub.whois(nick, &mine) else {
        let who = super::echo(nick).unwrap_or_default();
        return ctx.refuse(
            ErrorCode::NoSuchUser,
            format!("Nobody called {who} is here."),
        );
    };
    let who = match (&presence.identity, presence.owns_nick) {
        (Some(key), true) => format!("key {key}, which owns this nickname"),
        (Some(key), false) => format!("key {key} (not the nickname's owner)"),
        (None, _) => "a guest (no key: anyone could use this nickname)".to_owned(),
    };
    let how = if presence.encrypted {
        "encrypted (TLS)"
    } else {
        "NOT encrypted (plain TCP)"
    };
    let since = lanchat_shared::clock::clock_time(presence.connected_at);
    let shared = if rooms.is_empty() {
        "none".to_owned()
    } else {
        rooms
            .iter()
            .map(|r| format!("#{r}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!(
        "{nick}: {who}\n{nick}: {how}, connected at {since}\n{nick}: rooms you share: {shared}"
    );
    if let Some(message) = &presence.away {
        text.push_str(&format!("\n{nick}: away: {message}"));
    }
    ctx.reply(ServerMsg::Whois {
        nick,
        identity: presence.identity.map(|key| key.to_string()),
        owned: presence.owns_nick,
        encrypted: presence.encrypted,
        connected_at: presence.connected_at,
        rooms,
        away: presence.away,
        text,
    })
}

/// Longest away message, in characters.
const MAX_AWAY_CHARS: usize = 200;

/// `/away [MESSAGE]` (`text`) or `/back` (`None`). The client hears it
/// as everyone sharing a room with it does, by the `away` event.
pub(crate) fn away(member: &Member, text: Option<&str>) -> Next {
    let text = text.map(|text| {
        let clean = sanitize_text(text);
        clean
            .trim()
            .chars()
            .take(MAX_AWAY_CHARS)
            .collect::<String>()
    });
    match member.membership.set_away(text) {
        Ok(()) => Next::Read,
        Err(_reclaimed) => Next::End(LeaveReason::Reclaimed),
    }
}

/// `/rooms` (IRC's `LIST`): the rooms the client may see, with head
/// counts, its own marked, and topics.
pub(crate) async fn rooms(ctx: &mut Context<'_>, member: &Member) -> Next {
    let rooms = listed_rooms(ctx, member).await;
    ctx.answer(&Answer::Rooms(rooms))
}

/// `ISON` (IRC): which of `nicks` are here now, as they spell them.
pub(crate) fn online(ctx: &mut Context<'_>, nicks: &[String]) -> Next {
    let here = nicks
        .iter()
        .filter_map(|nick| ctx.shared.hub.online(nick).map(|(spelled, _)| spelled))
        .collect();
    ctx.answer(&Answer::Online(here))
}

/// The rooms `member` may see: every room someone is in, but a private
/// one only to those in it.
pub(crate) async fn listed_rooms(ctx: &mut Context<'_>, member: &Member) -> Vec<ListedRoom> {
    let mine = member.membership.view().rooms();
    let visible: Vec<(String, usize)> = ctx
        .shared
        .hub
        .rooms()
        .into_iter()
        .filter(|(name, _)| mine.contains(name) || !ctx.shared.privacy.is_private(name))
        .collect();
    let names: Vec<String> = visible.iter().map(|(name, _)| name.clone()).collect();
    // Without the store the list still answers, only without topics.
    let mut topics: HashMap<String, String> = ctx
        .shared
        .store
        .run(move |store, _| store.topics(&names))
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(
                error = error.explained(),
                "the rooms' topics could not be read"
            );
            Vec::new()
        })
        .into_iter()
        .collect();
    visible
        .into_iter()
        .map(|(name, people)| ListedRoom {
            topic: topics.remove(&name),
            mine: mine.contains(&name),
            name,
            people,
        })
        .collect()
}

/// `/help`: the commands the server carries out.
pub(crate) fn help(ctx: &mut Context<'_>) -> Next {
    ctx.reply(ServerMsg::info(help_text()))
}

fn help_text() -> String {
    let mut text = "Commands:".to_owned();
    for line in command::help_lines(Scope::Server) {
        text.push('\n');
        text.push_str(&line);
    }
    text
}
