//! History as a client is shown it: on arrival (the recent tail, or
//! everything since the id it saw), or on joining a room. One function
//! renders every replay, so they all end the same way.

use bytes::Bytes;
use lanchat_shared::fingerprint::Fingerprint;
use lanchat_shared::{ErrorCode, RoomName, ServerMsg};

use super::{Context, Member, Next};
use crate::dialect::Dialect;
use crate::domain::{NickKey, Party, ShownTo};
use crate::request::HistoryRange;
use crate::store::{History, RecentQuery, SinceQuery, StoreError};
use crate::writer::Outgoing;

/// Messages read and sent per piece of a resume. A message is at most
/// about 8 KiB on the wire, so a piece is at most about 256 KiB, and a
/// connection holds at most three (one being built, one queued, one being
/// written) however much history it asked for.
const RESUME_PIECE: usize = 32;

/// Sends an arriving client its welcome (made by `welcome` from whether it
/// misses something) and its replay, then `history_end`: everything after
/// the id it resumes from (up to the resume limit), streamed in pieces as
/// the client reads them, or else the recent tail of each of its rooms and
/// of its direct messages; nothing newer than `up_to`.
pub(crate) async fn on_arrival(
    ctx: &mut Context<'_>,
    arrival: Arrival<'_>,
    welcome: impl FnOnce(bool) -> ServerMsg,
) -> Next {
    let rooms = arrival.rooms.iter().map(RoomName::to_string).collect();
    let after = match arrival.from {
        ReplayFrom::After(after) => after,
        ReplayFrom::Tail | ReplayFrom::OtherHistory => {
            let query = RecentQuery {
                rooms,
                direct_of: arrival.reader.identity().cloned(),
                after: 0,
                up_to: arrival.up_to,
                per_room: ctx.shared.config.history_len,
                direct_with: None,
            };
            let history = ctx.shared.store.recent(query).await;
            let gap = has_gap(&history) || arrival.from == ReplayFrom::OtherHistory;
            let replay = render(ctx.dialect(), arrival.reader, Some(&welcome(gap)), &history);
            return ctx.send(Outgoing::Line(replay));
        }
    };
    let query = SinceQuery {
        rooms,
        direct_of: arrival.reader.identity().cloned(),
        after,
        up_to: arrival.up_to,
        limit: ctx.shared.config.resume_limit,
        direct_with: None,
    };
    resume(ctx, arrival.reader, query, welcome).await
}

/// Who arrives, in which rooms, and from where their replay starts.
#[derive(Debug)]
pub(crate) struct Arrival<'a> {
    /// Whose replay it is.
    pub(crate) reader: &'a Party,
    /// The rooms it is in.
    pub(crate) rooms: &'a [RoomName],
    /// Where its replay starts.
    pub(crate) from: ReplayFrom,
    /// The last id published when it joined: newer ones arrive live.
    pub(crate) up_to: u64,
}

/// Where an arriving client's replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplayFrom {
    /// The recent tail: the client did not say what it saw.
    Tail,
    /// After this id: a resume.
    After(u64),
    /// The recent tail, as a gap: the client's ids are from another
    /// history (the database was replaced, emptied or deleted since), so
    /// its `since` says nothing about what it missed here.
    OtherHistory,
}

impl ReplayFrom {
    /// Reads a hello's `since` and `history_id` against this server's
    /// history, `ours`, whose newest id is `up_to`. A `since` beyond
    /// `up_to` is from another history too: this one never had that id.
    pub(crate) fn of_hello(
        since: Option<u64>,
        their_history: Option<&str>,
        ours: &str,
        up_to: u64,
    ) -> ReplayFrom {
        let Some(since) = since else {
            return ReplayFrom::Tail;
        };
        let other = their_history.is_some_and(|theirs| theirs != ours);
        if other || since > up_to {
            ReplayFrom::OtherHistory
        } else {
            ReplayFrom::After(since)
        }
    }
}

/// A resume, streamed: where it starts (and whether that is a gap), the
/// welcome, then pieces of [`RESUME_PIECE`] messages, each sent once the
/// client has read nearly everything before it, then `history_end`.
async fn resume(
    ctx: &mut Context<'_>,
    reader: &Party,
    query: SinceQuery,
    welcome: impl FnOnce(bool) -> ServerMsg,
) -> Next {
    let dialect = ctx.shared_dialect();
    let mut piece = Vec::new();
    let mut cursor = match ctx.shared.store.resume_start(query.clone()).await {
        Ok(start) => {
            dialect.render(&welcome(start.gap), &mut piece);
            start.after
        }
        Err(error) => {
            dialect.render(&welcome(true), &mut piece);
            render_error(&*dialect, &error, &mut piece);
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
                    let shown_to = ShownTo::reader(reader, &message.message);
                    dialect.render_history(&message.to_server_msg(shown_to), shown_to, &mut piece);
                    cursor = message.id;
                }
            }
            Err(error) => render_error(&*dialect, &error, &mut piece),
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
        after: 0,
        up_to: ctx.shared.hub.last_published(),
        per_room: ctx.shared.config.history_len,
        direct_with: None,
    };
    ctx.shared.store.recent(query).await
}

/// A page of history for `member`, as `range` says: in `room` (which it
/// must be in, as for a `say`) or, without a room, in its own direct
/// messages (those exchanged `with` someone, if named); at most
/// `--history` messages (or `limit`, if fewer), of what retention keeps,
/// and nothing newer than what is published. Then `history_end`.
pub(crate) async fn page(
    ctx: &mut Context<'_>,
    member: &Member,
    (range, limit): (HistoryRange, Option<usize>),
    (room, with): (Option<String>, Option<String>),
) -> Next {
    // Direct messages are read by identity: a guest has no history of them.
    let (rooms, direct_of) = match room.as_deref().map(RoomName::parse) {
        None => (Vec::new(), member.party.identity().cloned()),
        Some(Err(error)) => return ctx.refuse(ErrorCode::RoomInvalid, error.to_string()),
        Some(Ok(room)) if !member.membership.view().in_room(room.as_str()) => {
            let message = format!("You are not in #{room}; /join {room} first.");
            return ctx.refuse(ErrorCode::NotInRoom, message);
        }
        Some(Ok(room)) => (vec![room.to_string()], None),
    };
    let history_len = ctx.shared.config.history_len;
    let limit = limit.map_or(history_len, |limit| limit.min(history_len));
    let place = Place {
        rooms,
        direct_of,
        direct_with: with.as_deref().map(NickKey::of),
        published: ctx.shared.hub.last_published(),
    };
    let history = match range {
        HistoryRange::Newest { after, before } => {
            read(ctx, &place, (End::Newest, after, before), limit).await
        }
        HistoryRange::Oldest { after, before } => {
            read(ctx, &place, (End::Oldest, after, before), limit).await
        }
        HistoryRange::Around(id) => {
            // The message itself counts among the half before it.
            let before_it = limit.div_ceil(2);
            let around = id.saturating_add(1);
            let earlier = read(ctx, &place, (End::Newest, 0, around), before_it).await;
            let later = read(ctx, &place, (End::Oldest, id, u64::MAX), limit - before_it).await;
            earlier.and_then(|mut history| {
                history.messages.extend(later?.messages);
                Ok(history)
            })
        }
    };
    let replay = render(ctx.dialect(), &member.party, None, &history);
    ctx.send(Outgoing::Line(replay))
}

/// Where a page of history is read: some rooms, or someone's direct
/// messages, up to the last message published.
struct Place {
    rooms: Vec<String>,
    direct_of: Option<Fingerprint>,
    direct_with: Option<NickKey>,
    published: u64,
}

/// The end of a range a page is counted from.
#[derive(Clone, Copy)]
enum End {
    Newest,
    Oldest,
}

/// The `limit` messages of `place` between `after` and `before` (neither
/// included) nearest `end`: the store's `recent` for the newest, its
/// `since` for the oldest.
async fn read(
    ctx: &Context<'_>,
    place: &Place,
    (end, after, before): (End, u64, u64),
    limit: usize,
) -> Result<History, StoreError> {
    // Asked for nothing (or a server that replays nothing): nothing to read.
    if limit == 0 {
        return Ok(History::default());
    }
    let up_to = before.saturating_sub(1).min(place.published);
    let (rooms, direct_of, direct_with) = (
        place.rooms.clone(),
        place.direct_of.clone(),
        place.direct_with.clone(),
    );
    match end {
        End::Newest => {
            let query = RecentQuery {
                rooms,
                direct_of,
                direct_with,
                after,
                up_to,
                per_room: limit,
            };
            ctx.shared.store.recent(query).await
        }
        End::Oldest => {
            let query = SinceQuery {
                rooms,
                direct_of,
                direct_with,
                after,
                up_to,
                limit,
            };
            ctx.shared.store.since(query).await
        }
    }
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
    reader: &Party,
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
                dialect.render_history(&message.to_server_msg(shown_to), shown_to, &mut out);
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

    fn guest() -> Party {
        Party::Guest(crate::domain::SessionToken::generate().unwrap())
    }

    fn lines(bytes: &Bytes) -> Vec<ServerMsg> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| ServerMsg::parse(line).unwrap())
            .collect()
    }

    #[test]
    fn a_replay_is_opening_messages_then_history_end_with_client_ids_for_their_sender_only() {
        let (bob, alice) = (guest(), guest());
        let stored = StoredMessage {
            id: 9,
            message: NewMessage {
                ts: 1,
                from: "bob".into(),
                target: Target::Room("lobby".into()),
                text: "hi".into(),
                kind: MessageKind::Text,
                client_id: Some("c1".into()),
                sender_identity: None,
                recipient_identity: None,
                retry_scope: Some(bob.retry_scope()),
                origin: None,
            },
        };
        let history = Ok(History {
            messages: vec![stored.clone()],
            gap: false,
        });
        let opening = ServerMsg::info("opening");
        let for_alice = lines(&render(&JSON, &alice, Some(&opening), &history));
        assert_eq!(
            for_alice,
            vec![
                opening,
                stored.to_server_msg(ShownTo::Others),
                ServerMsg::HistoryEnd {}
            ]
        );
        let for_bob = lines(&render(&JSON, &bob, None, &history));
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
    fn a_resume_counts_only_within_the_history_it_came_from() {
        let of = |since, theirs| ReplayFrom::of_hello(since, theirs, "00aa", 50);
        assert_eq!(of(None, None), ReplayFrom::Tail);
        assert_eq!(of(None, Some("ffff")), ReplayFrom::Tail);
        assert_eq!(of(Some(40), None), ReplayFrom::After(40));
        assert_eq!(of(Some(50), Some("00aa")), ReplayFrom::After(50));
        assert_eq!(of(Some(40), Some("ffff")), ReplayFrom::OtherHistory);
        assert_eq!(of(Some(51), None), ReplayFrom::OtherHistory);
        assert_eq!(of(Some(51), Some("00aa")), ReplayFrom::OtherHistory);
    }

    #[test]
    fn unreadable_history_is_said_and_counts_as_a_gap() {
        let history = Err(StoreError::new("disk gone"));
        let replay = lines(&render(&JSON, &guest(), None, &history));
        assert!(matches!(
            &replay[0],
            ServerMsg::Error { code: ErrorCode::StoreUnavailable, message, .. } if message.contains("disk gone")
        ));
        assert_eq!(replay[1], ServerMsg::HistoryEnd {});
        assert!(has_gap(&history));
    }
}
