//! Joining: a nickname, maybe a session to reclaim, the subscription to
//! the room's events, and the replay that comes before them.

use lanchat_shared::{ErrorCode, Fingerprint, Nick, RoomName, ServerMsg};
use tracing::{info, warn};

use std::sync::Arc;

use tokio::sync::broadcast;

use super::replay::{self, Arrival, ReplayFrom};
use super::{Context, LeaveReason, Member, Next, moderation, online, owners};
use crate::bans::Ban;
use crate::domain::{NickKey, Party, SessionToken};
use crate::hub::{HubEvent, Presence};
use crate::request::Hello;
use crate::transport::Security;
use crate::writer::Outgoing;

/// The greeting every connection gets before it says anything.
pub(crate) fn greeting(server_name: &str, fingerprint: &Fingerprint) -> ServerMsg {
    ServerMsg::Greeting {
        fingerprint: Some(fingerprint.to_string()),
        server: "lanchat".to_owned(),
        version: lanchat_shared::limits::PROTOCOL_VERSION,
        text: format!(
            "Welcome to {server_name}, a lanchat server (protocol v1). Type a nickname and press Enter to chat in plain text, \
             or send {{\"type\":\"hello\",\"nick\":\"NAME\"}} as one line for JSON."
        ),
    }
}

/// Joins the client: the welcome, the replay and `history_end` are queued
/// and the writer subscribed, in that order. Returns the member and what
/// to do next (the queue may have been full), or, if the hello was
/// refused, what to do next after the refusal was answered.
pub(crate) async fn hello(ctx: &mut Context<'_>, hello: Hello) -> Result<(Member, Next), Next> {
    let nick = match Nick::parse(&hello.nick) {
        Ok(nick) => nick,
        Err(error) => {
            let message = format!("{error}; try another nickname.");
            return Err(ctx.refuse(ErrorCode::NickInvalid, message));
        }
    };
    refuse_if_banned(ctx)?;
    if let Some(since) = hello.since {
        catch_up_to(ctx, since).await;
    }
    let standing = owners::standing(ctx, &nick).await?;
    let (mut member, joined) = enter(ctx, &nick, hello.session, standing.owns).await?;
    // A server ban placed while this hello waited on the store did not
    // see this connection, which was not in the hub yet: look again.
    refuse_if_banned(ctx)?;
    info!(%nick, transport = %ctx.security, owner = standing.owns, "joined");
    let view = member.membership.view();
    let history_id = &ctx.shared.history_id;
    let arrival = Arrival {
        reader: &member.party,
        rooms: &joined.rooms,
        from: ReplayFrom::of_hello(
            hello.since,
            hello.history_id.as_deref(),
            history_id,
            joined.up_to,
        ),
        up_to: joined.up_to,
    };
    let welcome = |gap: bool| ServerMsg::Welcome {
        nick: nick.to_string(),
        users: joined.users,
        owners: joined.owners,
        away: joined.away,
        rooms: view.rooms(),
        session: Some(member.token.as_str().to_owned()),
        gap: gap.then_some(true),
        history_id: Some(history_id.clone()),
        owned: standing.owns.then_some(true),
    };
    // Welcome, history, history_end, then live events: the writer takes
    // them from one queue, in order, and the subscription was taken at
    // the same instant as `up_to`, so nothing is missed or doubled.
    if let end @ Next::End(_) = replay::on_arrival(ctx, arrival, welcome).await {
        return Ok((member, end));
    }
    ctx.save_session(&mut member);
    let subscribe = Outgoing::Subscribe {
        events: joined.events,
        dialect: ctx.shared_dialect(),
        view,
    };
    let mut next = ctx.send(subscribe);
    for room in &joined.rooms {
        moderation::tell_role_on_entry(ctx, &member, room).await;
    }
    // An owner reads it in the welcome; a notice says why one is not.
    if let (Next::Read, false, Some(notice)) = (&next, standing.owns, standing.notice) {
        next = ctx.reply(ServerMsg::info(notice));
    }
    Ok((member, next))
}

/// Refuses, and ends, a connection a server ban keeps out.
fn refuse_if_banned(ctx: &mut Context<'_>) -> Result<(), Next> {
    let Some(ban) = banned_from(ctx, None) else {
        return Ok(());
    };
    let now = ctx.shared.clock.now_millis();
    let _ = ctx.refuse(ErrorCode::Banned, format!("{}.", ban.describe(now)));
    Err(Next::End(LeaveReason::Banned))
}

/// The ban that keeps this connection out of `room` (`None`: the server),
/// if one does. Admins are never kept out: they are known by key, and an
/// address ban is not meant for them.
pub(crate) fn banned_from(ctx: &Context<'_>, room: Option<&RoomName>) -> Option<Ban> {
    let identity = ctx.security.identity();
    if identity.is_some_and(|key| ctx.shared.config.admins.contains(key)) {
        return None;
    }
    let now = ctx.shared.clock.now_millis();
    let room = room.map(RoomName::as_str);
    ctx.shared.bans.keeping_out(room, identity, ctx.peer, now)
}

/// What joining hands over besides the member.
struct Entered {
    rooms: Vec<RoomName>,
    users: Vec<String>,
    owners: Vec<String>,
    away: Vec<String>,
    events: broadcast::Receiver<Arc<HubEvent>>,
    up_to: u64,
}

/// Takes `nick` in the hub, under the session presented if it may be
/// reclaimed (else a new one), as its owner if `owns`.
async fn enter(
    ctx: &mut Context<'_>,
    nick: &Nick,
    presented: Option<String>,
    owns: bool,
) -> Result<(Member, Entered), Next> {
    let Some((token, mut rooms)) = session_for(ctx, nick, presented.clone()).await else {
        let message = "The server cannot make a session token right now; try again later.";
        return Err(ctx.refuse(ErrorCode::ServerError, message));
    };
    // A session does not take anyone back into a room that banned them.
    rooms.retain(|room| banned_from(ctx, Some(room)).is_none());
    let from_elsewhere = online::claim(ctx, nick, (&token, owns), true).await?;
    let identity = ctx.security.identity().cloned();
    let presence = Presence {
        identity: identity.clone(),
        owns_nick: owns,
        encrypted: !matches!(ctx.security, Security::Plain),
        connected_at: ctx.connected_at,
        address: ctx.peer,
        away: None,
    };
    let joined =
        ctx.shared
            .hub
            .join_taking_over(nick.clone(), &rooms, (token, presence), from_elsewhere);
    let joined = match joined {
        Ok(joined) => joined,
        // Taken here, by a connection of this server, which keeps the
        // nickname among the servers.
        Err(_taken) => {
            let message = format!("The nickname {nick} is taken; try another.");
            return Err(ctx.refuse(ErrorCode::NickTaken, message));
        }
    };
    online::confirm(
        ctx,
        nick,
        &joined.session,
        owns,
        joined.membership.connection(),
    );
    // A session taken back (the token presented was accepted) may have a
    // row already, which must follow what it holds from now on.
    let reclaimed_session = presented.as_deref() == Some(joined.session.as_str());
    let party = match identity {
        Some(identity) => Party::Identity(identity),
        None => Party::Guest(joined.session.clone()),
    };
    let member = Member {
        membership: joined.membership,
        token: joined.session,
        current_room: RoomName::lobby(),
        reclaimed: joined.kicked,
        stored: reclaimed_session,
        party,
    };
    let entered = Entered {
        rooms,
        users: joined.users,
        owners: joined.owners,
        away: joined.away,
        events: joined.events,
        up_to: joined.up_to,
    };
    Ok((member, entered))
}

/// The session to join under, and its rooms: a session of this nickname
/// that a connection still holds (a ghost) or that was stored brings back
/// its rooms (and reclaims the ghost's nickname); an unknown or foreign
/// token is ignored and a new session made. `None` if a new token cannot
/// be made.
async fn session_for(
    ctx: &Context<'_>,
    nick: &Nick,
    presented: Option<String>,
) -> Option<(SessionToken, Vec<RoomName>)> {
    if let Some(token) = presented.and_then(SessionToken::presented)
        && let Some(rooms) = known_session_rooms(ctx, nick, &token).await
    {
        let rooms = rooms
            .iter()
            .filter_map(|room| RoomName::parse(room).ok())
            .collect();
        return Some((token, rooms));
    }
    match SessionToken::generate() {
        Ok(token) => Some((token, vec![RoomName::lobby()])),
        Err(error) => {
            warn!(%error, "refusing a hello: no session token can be made");
            None
        }
    }
}

/// Longest a resume waits for this server to catch up with the shared log.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(1);

/// With a shared log, a client may resume here with an id that another
/// server published a moment ago and this server's log reader has not read
/// yet: wait for it (at most [`CATCH_UP`]) rather than take it for an id
/// of another history. Only for an id the shared counter gave out, so a
/// made-up one waits for nothing.
async fn catch_up_to(ctx: &Context<'_>, since: u64) {
    let hub = &ctx.shared.hub;
    if ctx.shared.config.redis.is_none() || since <= hub.last_published() {
        return;
    }
    let counter = ctx.shared.store.run(|store, _| store.last_id()).await;
    if !counter.is_ok_and(|counter| since <= counter) {
        return;
    }
    let (done, published) = tokio::sync::oneshot::channel();
    hub.when_published(
        since,
        Box::new(move || {
            let _ = done.send(());
        }),
    );
    let _ = tokio::time::timeout(CATCH_UP, published).await;
}

/// The rooms of `nick`'s session `token`: from the connection that still
/// holds it, else from the store (a session is stored once it holds more
/// than the lobby, see `Context::save_session`).
async fn known_session_rooms(
    ctx: &Context<'_>,
    nick: &Nick,
    token: &SessionToken,
) -> Option<Vec<String>> {
    let identity = ctx.security.identity();
    if let Some(rooms) = ctx.shared.hub.live_session_rooms(nick, token, identity) {
        return Some(rooms);
    }
    // A token reclaims a session only for the identity that made it (a
    // guest's, only for a guest).
    match ctx.shared.store.load_session(token.clone()).await.ok()? {
        Some(record) => {
            let same_nick = NickKey::of(&record.nick) == NickKey::from(nick);
            (same_nick && record.identity.as_ref() == identity).then_some(record.rooms)
        }
        // Servers sharing Redis: the session may be held by a connection
        // of another server that has not stored it yet (it joined a moment
        // ago); its nickname's record there names it.
        None => {
            let there = online::elsewhere(ctx.shared, nick.as_str()).await?;
            let same = there.session == token.as_str() && there.identity.as_ref() == identity;
            same.then(|| vec![RoomName::lobby().to_string()])
        }
    }
}
