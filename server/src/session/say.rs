//! Chat text from a joined client: a command, leaving, or a message. A
//! message is checked here and handed to the store, which publishes it
//! once committed; the reader never waits for the commit.

use std::sync::Arc;

use lanchat_shared::command::{self, Command};
use lanchat_shared::{ErrorCode, Fingerprint, RoomName, ServerMsg, sanitize_text};
use tokio::sync::{mpsc, oneshot};

use super::{
    Context, LeaveReason, Member, Next, echo, moderation, nick, online, owners, queries, rooms,
};
use crate::dialect::{self, DefaultRoom, Dialect};
use crate::domain::{MessageKind, NewMessage, ShownTo, Target};
use crate::hub::Hub;
use crate::request::{Listing, Say, SayKind};
use crate::store::{Appended, Completion, StoreError};
use crate::writer::Outgoing;

/// Longest `client_id`; it is stored with the message.
const MAX_CLIENT_ID_LEN: usize = 64;

/// A message as the client asked for it, before it is checked.
#[derive(Debug)]
struct Post {
    text: String,
    /// The room named, if any.
    room: Option<String>,
    /// The person named, for a direct message.
    to: Option<String>,
    client_id: Option<String>,
    kind: MessageKind,
}

/// Carries out chat text: the command it is, or the message.
pub(crate) async fn say(ctx: &mut Context<'_>, member: &mut Member, say: Say) -> Next {
    let post = |text: &str, kind| Post {
        text: text.to_owned(),
        room: say.room.clone(),
        to: say.to.clone(),
        client_id: say.client_id.clone(),
        kind,
    };
    let command = match say.kind {
        SayKind::Typed => command::parse(&say.text),
        SayKind::Message | SayKind::Notice => Command::Text(&say.text),
        SayKind::Action => Command::Me(&say.text),
    };
    let text_kind = if say.kind == SayKind::Notice {
        MessageKind::Notice
    } else {
        MessageKind::Text
    };
    let post = match command {
        Command::Text(text) => post(text, text_kind),
        Command::Me(action) => post(action, MessageKind::Action),
        Command::Msg { to, text }
        | Command::Query {
            to,
            text: Some(text),
        } => Post {
            room: None,
            to: Some(to.to_owned()),
            ..post(text, MessageKind::Text)
        },
        other => return run_command(ctx, member, other, &say).await,
    };
    send(ctx, member, post).await
}

/// Every command but the ones that post a message.
async fn run_command(
    ctx: &mut Context<'_>,
    member: &mut Member,
    command: Command<'_>,
    say: &Say,
) -> Next {
    let (text, room) = (say.text.as_str(), say.room.as_deref());
    match command {
        Command::Quit(reason) => {
            ctx.settle().await;
            Next::End(LeaveReason::Quit(reason.and_then(echo)))
        }
        Command::Who => queries::who(ctx, member, room, Listing::Who).await,
        Command::Whois(nick) => queries::whois(ctx, member, nick),
        Command::Away(text) => queries::away(member, Some(text.unwrap_or("away"))),
        Command::Back => queries::away(member, None),
        Command::Rooms => queries::rooms(ctx, member).await,
        Command::Help => queries::help(ctx),
        Command::Join(words) => {
            let mut parts = words.split_whitespace();
            let room = parts.next().unwrap_or_default();
            rooms::join(ctx, member, room, parts.next()).await
        }
        Command::Part(room) => rooms::part(ctx, member, room).await,
        Command::Nick(new) => nick::rename(ctx, member, new).await,
        Command::Release(named) => owners::release(ctx, &member.membership.nick(), named).await,
        Command::Topic(_)
        | Command::Kick { .. }
        | Command::Op(_)
        | Command::Deop(_)
        | Command::Ban(_)
        | Command::Unban(_)
        | Command::Bans(_)
        | Command::Mute(_)
        | Command::Unmute(_)
        | Command::Private(_)
        | Command::Invite(_)
        | Command::Key(_) => match moderation::action_of(&command) {
            Some(Ok(action)) => moderation::moderate(ctx, member, room, action).await,
            Some(Err(name)) => usage(ctx, name),
            None => Next::Read,
        },
        // The server takes `/query` only as `/msg`, so that is its usage.
        Command::Query { text: None, .. } => msg_usage(ctx),
        Command::Usage(spec) if spec.name == "query" => msg_usage(ctx),
        Command::Usage(spec) => {
            ctx.refuse(ErrorCode::BadRequest, format!("Usage: {}", spec.usage()))
        }
        // The full-screen client's own commands mean nothing here.
        Command::Clear
        | Command::Close(_)
        | Command::Buffer(_)
        | Command::Lastlog(_)
        | Command::Info => unknown(ctx, typed_word(text)),
        Command::Unknown(word) => unknown(ctx, word),
        Command::Text(_) | Command::Me(_) | Command::Msg { .. } | Command::Query { .. } => {
            Next::Read
        }
    }
}

fn msg_usage(ctx: &mut Context<'_>) -> Next {
    usage(ctx, "msg")
}

/// `bad_request` with the usage of the command `name`.
fn usage(ctx: &mut Context<'_>, name: &str) -> Next {
    let usage = command::find(name).map_or_else(String::new, |spec| spec.usage());
    ctx.refuse(ErrorCode::BadRequest, format!("Usage: {usage}"))
}

/// The command word as the client typed it: `/CLEAR x` is `CLEAR`.
fn typed_word(text: &str) -> &str {
    let after_slash = text.strip_prefix('/').unwrap_or(text);
    after_slash.split_whitespace().next().unwrap_or_default()
}

fn unknown(ctx: &mut Context<'_>, word: &str) -> Next {
    let word = echo(word).unwrap_or_default();
    let message = format!(
        "Unknown command /{word}. /help lists commands; start with // to send a line beginning with /."
    );
    ctx.refuse(ErrorCode::UnknownCommand, message)
}

/// Checks a message and hands it to the store, which publishes it once
/// committed. Refusals are answered here; store failures and duplicate
/// `client_id`s are answered when the store is done.
async fn send(ctx: &mut Context<'_>, member: &Member, post: Post) -> Next {
    if post
        .client_id
        .as_ref()
        .is_some_and(|id| id.is_empty() || id.len() > MAX_CLIENT_ID_LEN)
    {
        let message = format!("A client_id has 1 to {MAX_CLIENT_ID_LEN} bytes.");
        return ctx.bad_line(ErrorCode::BadRequest, message);
    }
    let (target, recipient_identity) = match target(ctx, member, post.room, post.to).await {
        Ok(target) => target,
        Err(refusal) => return refuse(ctx, refusal, &post.client_id),
    };
    if let Some(refusal) = muted(ctx, member, &target) {
        return refuse(ctx, refusal, &post.client_id);
    }
    // A notice gets no away message back: two programs would otherwise
    // answer each other for ever.
    if post.kind != MessageKind::Notice
        && let end @ Next::End(_) = tell_if_away(ctx, member, &target)
    {
        return end;
    }
    let text = match checked_text(&post.text, ctx.shared.config.max_text_chars) {
        Ok(text) => text,
        Err(refusal) => return refuse(ctx, refusal, &post.client_id),
    };
    let message = NewMessage {
        ts: ctx.shared.clock.now_millis(),
        from: member.membership.nick(),
        target,
        text,
        kind: post.kind,
        client_id: post.client_id.clone(),
        sender_identity: member.party.identity().cloned(),
        recipient_identity,
        retry_scope: Some(member.party.retry_scope()),
        origin: Some(member.membership.connection()),
    };
    let (settled, settling) = oneshot::channel();
    let answer = AnswerSender {
        replies: ctx.replies(),
        dialect: ctx.shared_dialect(),
        client_id: post.client_id,
        hub: Arc::clone(&ctx.shared.hub),
        settled,
    };
    ctx.shared.store.append(message, Box::new(answer)).await;
    ctx.in_flight(settling);
    Next::Read
}

/// A direct message to someone away: the sender is told so, once while
/// they are away.
fn tell_if_away(ctx: &mut Context<'_>, member: &Member, target: &Target) -> Next {
    let Target::Direct(to) = target else {
        return Next::Read;
    };
    let from = member.membership.connection();
    match ctx.shared.hub.away_notice(to, from) {
        Some(message) => ctx.reply(ServerMsg::info(format!("{to} is away: {message}"))),
        None => Next::Read,
    }
}

/// The refusal of a message to a room an operator muted its sender in.
fn muted(ctx: &Context<'_>, member: &Member, target: &Target) -> Option<(ErrorCode, String)> {
    let Target::Room(room) = target else {
        return None;
    };
    let now = ctx.shared.clock.now_millis();
    let identity = member.party.identity();
    let mute = ctx
        .shared
        .mutes
        .keeping_out(Some(room), identity, ctx.peer, now)?;
    let until = match mute.until_ms {
        Some(until) => format!(
            " for {} more",
            crate::bans::spoken(until.saturating_sub(now) / 1000)
        ),
        None => String::new(),
    };
    let message = format!(
        "{} muted you in #{room}{until}: you can read it, not speak in it. Nothing was sent.",
        mute.by
    );
    Some((ErrorCode::Muted, message))
}

/// Refuses a message, naming its `client_id` so the client knows which of
/// its lines was not sent.
fn refuse(ctx: &mut Context<'_>, refusal: (ErrorCode, String), client_id: &Option<String>) -> Next {
    let (code, message) = refusal;
    ctx.reply(ServerMsg::refusal_of(code, message, client_id.clone()))
}

/// Where a message goes: a person online (with the identity that person
/// proved, which alone may read it in history besides the sender), or a
/// room the sender is in.
async fn target(
    ctx: &Context<'_>,
    member: &Member,
    room: Option<String>,
    to: Option<String>,
) -> Result<(Target, Option<Fingerprint>), (ErrorCode, String)> {
    if let Some(to) = to {
        if let Some((spelled, presence)) = ctx.shared.hub.online(&to) {
            return Ok((Target::Direct(spelled), presence.identity));
        }
        return match online::elsewhere(ctx.shared, &to).await {
            Some(there) => Ok((Target::Direct(there.spelled), there.identity)),
            None => {
                let who = echo(&to).unwrap_or_default();
                Err((
                    ErrorCode::NoSuchUser,
                    format!("Nobody called {who} is here."),
                ))
            }
        };
    }
    let room = match room.as_deref().map(RoomName::parse) {
        None => match ctx.dialect().unaddressed_text_goes_to() {
            DefaultRoom::Lobby => RoomName::lobby(),
            DefaultRoom::Current => member.current_room.clone(),
        },
        Some(Ok(room)) => room,
        Some(Err(error)) => return Err((ErrorCode::RoomInvalid, error.to_string())),
    };
    if !member.membership.view().in_room(room.as_str()) {
        let message = format!("You are not in #{room}; /join {room} first.");
        return Err((ErrorCode::NotInRoom, message));
    }
    Ok((Target::Room(room.to_string()), None))
}

/// The text as it will be stored: sanitised, not empty, not too long.
fn checked_text(text: &str, max_chars: usize) -> Result<String, (ErrorCode, String)> {
    let clean = sanitize_text(text);
    if clean.trim().is_empty() {
        let message = "The message is empty once control characters are removed; nothing was sent.";
        return Err((ErrorCode::BadRequest, message.to_owned()));
    }
    let length = clean.chars().count();
    if length > max_chars {
        let message = format!(
            "Messages are limited to {max_chars} characters; yours had {length}. Nothing was sent."
        );
        return Err((ErrorCode::TextTooLong, message));
    }
    Ok(clean)
}

/// Tells the sender what only it needs to hear once its append is done: a
/// new message needs nothing (everyone, the sender included, gets it
/// published: that is the echo), a duplicate `client_id` gets the original
/// again, a failure gets `store_unavailable`.
/// It also tells the session that the append is done (see
/// `Context::settle`), by being dropped.
struct AnswerSender {
    replies: mpsc::Sender<Outgoing>,
    dialect: Arc<dyn Dialect>,
    /// The message's `client_id`, named in a refusal.
    client_id: Option<String>,
    /// Where to wait for the message (or a retry's original) to be
    /// published before the append counts as done.
    hub: Arc<Hub>,
    /// Dropped once the append is done: published, refused or answered.
    settled: oneshot::Sender<()>,
}

impl Completion for AnswerSender {
    /// Runs on the store thread: renders and `try_send`s, never waits. A
    /// new message is done once published; a retry is answered once its
    /// original is, so the answer cannot come before the echo it repeats.
    fn complete(self: Box<Self>, outcome: Result<Appended, StoreError>) {
        let answer = match outcome {
            Ok(Appended::New(stored)) => {
                let settled = self.settled;
                self.hub
                    .when_published(stored.id, Box::new(move || drop(settled)));
                return;
            }
            Ok(Appended::Duplicate(original)) => {
                let id = original.id;
                let line =
                    dialect::render_alone(&*self.dialect, &original.to_server_msg(ShownTo::Sender));
                let (replies, settled) = (self.replies, self.settled);
                self.hub.when_published(
                    id,
                    Box::new(move || {
                        let _ = replies.try_send(Outgoing::Line(line));
                        drop(settled);
                    }),
                );
                return;
            }
            Err(error) if error.is_uncertain() => {
                let message = format!(
                    "It is not known whether the message was stored ({}); send it again with the same client_id to be sure: it is stored at most once.",
                    error.explained()
                );
                ServerMsg::refusal_of(ErrorCode::StoreUnavailable, message, self.client_id)
            }
            Err(error) => {
                let message = format!(
                    "The message could not be stored, so it was not sent: {}",
                    error.explained()
                );
                ServerMsg::refusal_of(ErrorCode::StoreUnavailable, message, self.client_id)
            }
        };
        let line = dialect::render_alone(&*self.dialect, &answer);
        let _ = self.replies.try_send(Outgoing::Line(line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_sanitised_and_bounded() {
        assert_eq!(checked_text("hi\u{1b}[2J", 10), Ok("hi".to_owned()));
        let (code, _) = checked_text("\u{7}\u{1b}", 10).unwrap_err();
        assert_eq!(code, ErrorCode::BadRequest);
        let (code, message) = checked_text("abcdef", 5).unwrap_err();
        assert_eq!(code, ErrorCode::TextTooLong);
        assert!(message.contains("yours had 6"), "{message}");
    }
}
