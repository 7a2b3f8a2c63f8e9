//! History as a client is shown it: on arrival (the recent tail, or
//! everything since the id it saw), or on joining a room. One function
//! renders every replay, so they all end the same way.

use bytes::Bytes;
use lanchat_shared::{ErrorCode, RoomName, ServerMsg};

use super::Context;
use crate::dialect::Dialect;
use crate::domain::{NickKey, ShownTo};
use crate::store::{History, RecentQuery, SinceQuery, StoreError};

/// What an arriving client is replayed: everything after `since` (a
/// resume, up to the resume limit), or else the recent tail of each of its
/// rooms and of its direct messages; nothing newer than `up_to`.
pub(crate) async fn on_arrival(
    ctx: &Context<'_>,
    rooms: &[RoomName],
    reader: &NickKey,
    since: Option<u64>,
    up_to: u64,
) -> Result<History, StoreError> {
    let config = &ctx.shared.config;
    let rooms = rooms.iter().map(RoomName::to_string).collect();
    match since {
        Some(after) => {
            let query = SinceQuery {
                rooms,
                reader: reader.clone(),
                after,
                up_to,
                limit: config.resume_limit,
            };
            ctx.shared.store.since(query).await
        }
        None => {
            let query = RecentQuery {
                rooms,
                direct_of: Some(reader.clone()),
                up_to,
                per_room: config.history_len,
            };
            ctx.shared.store.recent(query).await
        }
    }
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
        Err(error) => {
            let message = format!("History is unavailable right now: {}", error.explained());
            dialect.render(
                &ServerMsg::error(ErrorCode::StoreUnavailable, message),
                &mut out,
            );
        }
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
            ServerMsg::Error { code: ErrorCode::StoreUnavailable, message } if message.contains("disk gone")
        ));
        assert_eq!(replay[1], ServerMsg::HistoryEnd {});
        assert!(has_gap(&history));
    }
}
