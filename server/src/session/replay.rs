//! History as a client is shown it: on arrival (the recent tail, or
//! everything since the id it saw), or on joining a room. One function
//! renders every replay, so they all end the same way.

use bytes::Bytes;
use lanchat_shared::{ErrorCode, RoomName, ServerMsg};

use super::{Context, Member, Next};
use crate::dialect::Dialect;
use crate::domain::{NickKey, ShownTo};
use crate::store::{History, RecentQuery, SinceQuery, StoreError};
use crate::writer::Outgoing;

/// Messages read and sent per piece of a resume. A message is at most
/// about 8 KiB on the wire, so a piece is at most about 256 KiB, and a
/// connection holds at most three (one being built, one queued, one being
/// written) however much history it asked for.
const RESUME_PIECE: usize = 32;

/// Sends an arriving client its welcome (made by `welcome` from whether it
/// misses something) and its replay, then `history_end`: everything after
/// `since` (a resume, up to the resume limit), streamed in pieces as the
/// client reads them, or else the recent tail of each of its rooms and of
/// its direct messages; nothing newer than `up_to`.
pub(crate) async fn on_arrival(
    ctx: &mut Context<'_>,
    arrival: Arrival<'_>,
    welcome: impl FnOnce(bool) -> ServerMsg,
) -> Next {
    let rooms = arrival.rooms.iter().map(RoomName::to_string).collect();
    let Some(after) = arrival.since else {
        let query = RecentQuery {
            rooms,
            direct_of: Some(arrival.reader.clone()),
            up_to: arrival.up_to,
            per_room: ctx.shared.config.history_len,
        };
        let history = ctx.shared.store.recent(query).await;
        let opening = welcome(has_gap(&history));
        let replay = render(ctx.dialect(), arrival.reader, Some(&opening), &history);
        return ctx.send(Outgoing::Line(replay));
    };
    let query = SinceQuery {
        rooms,
        reader: arrival.reader.clone(),
        after,
        up_to: arrival.up_to,
        limit: ctx.shared.config.resume_limit,
    };
    resume(ctx, query, welcome).await
}

/// Who arrives, in which rooms, and from where their replay starts.
#[derive(Debug)]
pub(crate) struct Arrival<'a> {
    /// Whose replay it is.
    pub(crate) reader: &'a NickKey,
    /// The rooms it is in.
    pub(crate) rooms: &'a [RoomName],
    /// The last id it saw, for a resume.
    pub(crate) since: Option<u64>,
    /// The last id published when it joined: newer ones arrive live.
    pub(crate) up_to: u64,
}

/// A resume, streamed: where it starts (and whether that is a gap), the
/// welcome, then pieces of [`RESUME_PIECE`] messages, each sent once the
/// client has read nearly everything before it, then `history_end`.
async fn resume(
    ctx: &mut Context<'_>,
    query: SinceQuery,
    welcome: impl FnOnce(bool) -> ServerMsg,
) -> Next {
    let dialect = ctx.dialect();
    let mut piece = Vec::new();
    let mut cursor = match ctx.shared.store.resume_start(query.clone()).await {
        Ok(start) => {
            dialect.render(&welcome(start.gap), &mut piece);
            start.after
        }
        Err(error) => {
            dialect.render(&welcome(true), &mut piece);
            render_error(dialect, &error, &mut piece);
            dialect.render(&ServerMsg::HistoryEnd {}, &mut piece);
            return ctx.send(Outgoing::Line(piece.into()));
        }
    };
    loop {
        let page = SinceQuery {
            after: cursor,
            limit: RESUME_PIECE,
            ..query.clone()
        };
        let read = ctx.shared.store.since(page).await;
        let done = match &read {
            Ok(history) => history.messages.len() < RESUME_PIECE,
            Err(_) => true,
        };
        match read {
            Ok(history) => {
                if history.gap {
                    // Retention moved while the replay was streaming: the
                    // welcome said no gap, so say it now.
                    let notice =
                        "Some of the history being replayed was removed by retention meanwhile.";
                    dialect.render(&ServerMsg::info(notice), &mut piece);
                }
                for message in &history.messages {
                    let shown_to = ShownTo::reader(&query.reader, &message.message);
                    dialect.render(&message.to_server_msg(shown_to), &mut piece);
                    cursor = message.id;
                }
            }
            Err(error) => render_error(dialect, &error, &mut piece),
        }
        if done {
            break;
        }
        let full = Outgoing::Line(std::mem::take(&mut piece).into());
        if let end @ Next::End(_) = ctx.send_when_read(full).await {
            return end;
        }
    }
    dialect.render(&ServerMsg::HistoryEnd {}, &mut piece);
    ctx.send_when_read(Outgoing::Line(piece.into())).await
}

fn render_error(dialect: &dyn Dialect, error: &StoreError, out: &mut Vec<u8>) {
    let message = format!("History is unavailable right now: {}", error.explained());
    dialect.render(&ServerMsg::error(ErrorCode::StoreUnavailable, message), out);
}

/// The recent tail of one room, up to the last published message. Live
/// messages of the room may arrive while it is read; clients order by id.
pub(crate) async fn of_room(ctx: &Context<'_>, room: &RoomName) -> Result<History, StoreError> {
    let query = RecentQuery {
        rooms: vec![room.to_string()],
        direct_of: None,
        up_to: ctx.shared.hub.last_published(),
        per_room: ctx.shared.config.history_len,
    };
    ctx.shared.store.recent(query).await
}

/// Older history for `member`: the newest messages before `before` in
/// `room` (which it must be in, as for a `say`) or, without a room, in its
/// own direct messages; at most `--history` of them, of what retention
/// keeps, and nothing newer than what is published. Then `history_end`.
pub(crate) async fn older(
    ctx: &mut Context<'_>,
    member: &Member,
    before: u64,
    room: Option<String>,
) -> Next {
    let reader = NickKey::of(&member.membership.nick());
    let (rooms, direct_of) = match room.as_deref().map(RoomName::parse) {
        None => (Vec::new(), Some(reader.clone())),
        Some(Err(error)) => return ctx.refuse(ErrorCode::RoomInvalid, error.to_string()),
        Some(Ok(room)) if !member.membership.view().in_room(room.as_str()) => {
            let message = format!("You are not in #{room}; /join {room} first.");
            return ctx.refuse(ErrorCode::NotInRoom, message);
        }
        Some(Ok(room)) => (vec![room.to_string()], None),
    };
    let query = RecentQuery {
        rooms,
        direct_of,
        up_to: before
            .saturating_sub(1)
            .min(ctx.shared.hub.last_published()),
        per_room: ctx.shared.config.history_len,
    };
    let history = ctx.shared.store.recent(query).await;
    let replay = render(ctx.dialect(), &reader, None, &history);
    ctx.send(Outgoing::Line(replay))
}

/// True if the client is missing part of what it asked for.
pub(crate) fn has_gap(history: &Result<History, StoreError>) -> bool {
    history.as_ref().map_or(true, |history| history.gap)
}

/// One replay for `reader`, as the writer sends it: the opening message if
/// any (a welcome), the messages (with a `client_id` only on the reader's
/// own), an error if history could not be read, and `history_end`.
pub(crate) fn render(
    dialect: &dyn Dialect,
    reader: &NickKey,
    opening: Option<&ServerMsg>,
    history: &Result<History, StoreError>,
) -> Bytes {
    let mut out = Vec::new();
    if let Some(opening) = opening {
        dialect.render(opening, &mut out);
    }
    match history {
        Ok(history) => {
            for message in &history.messages {
                let shown_to = ShownTo::reader(reader, &message.message);
                dialect.render(&message.to_server_msg(shown_to), &mut out);
            }
        }
        Err(error) => render_error(dialect, error, &mut out),
    }
    dialect.render(&ServerMsg::HistoryEnd {}, &mut out);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::JSON;
    use crate::domain::{MessageKind, NewMessage, StoredMessage, Target};

    fn lines(bytes: &Bytes) -> Vec<ServerMsg> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| ServerMsg::parse(line).unwrap())
            .collect()
    }

    #[test]
    fn a_replay_is_opening_messages_then_history_end_with_client_ids_for_their_sender_only() {
        let stored = StoredMessage {
            id: 9,
            message: NewMessage {
                ts: 1,
                from: "bob".into(),
                target: Target::Room("lobby".into()),
                text: "hi".into(),
                kind: MessageKind::Text,
                client_id: Some("c1".into()),
                origin: None,
            },
        };
        let history = Ok(History {
            messages: vec![stored.clone()],
            gap: false,
        });
        let opening = ServerMsg::info("opening");
        let for_alice = lines(&render(
            &JSON,
            &NickKey::of("alice"),
            Some(&opening),
            &history,
        ));
        assert_eq!(
            for_alice,
            vec![
                opening,
                stored.to_server_msg(ShownTo::Others),
                ServerMsg::HistoryEnd {}
            ]
        );
        let for_bob = lines(&render(&JSON, &NickKey::of("Bob"), None, &history));
        assert!(matches!(
            &for_bob[0],
            ServerMsg::Message { client_id: Some(id), .. } if id == "c1"
        ));
        assert!(matches!(
            &for_alice[1],
            ServerMsg::Message {
                client_id: None,
                ..
            }
        ));
        assert!(!has_gap(&history));
    }

    #[test]
    fn unreadable_history_is_said_and_counts_as_a_gap() {
        let history = Err(StoreError::new("disk gone"));
        let replay = lines(&render(&JSON, &NickKey::of("alice"), None, &history));
        assert!(matches!(
            &replay[0],
            ServerMsg::Error { code: ErrorCode::StoreUnavailable, message, .. } if message.contains("disk gone")
        ));
        assert_eq!(replay[1], ServerMsg::HistoryEnd {});
        assert!(has_gap(&history));
    }
}
