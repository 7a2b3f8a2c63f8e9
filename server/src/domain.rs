//! What the chat is made of, apart from how it is stored or fanned out:
//! nickname keys, messages and their targets, session tokens and the
//! clock. The hub, the store and the session all use these types; this
//! module uses none of theirs, so none of them depends on another to
//! speak about a message.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use lanchat_shared::{Fingerprint, Nick, ServerMsg};

/// A nickname folded to lower case: how nicknames are compared everywhere
/// (who holds which, who may see a direct message, whose history is
/// whose). Nicknames are ASCII, so folding is `to_ascii_lowercase`; the
/// spelling people chose is kept apart, in a [`Nick`] or a `from` field.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NickKey(String);

impl NickKey {
    /// The key of any spelling, valid nickname or not (a `/msg` target as
    /// typed, a name read from the database).
    pub fn of(spelling: &str) -> NickKey {
        NickKey(spelling.to_ascii_lowercase())
    }

    /// The folded text, as the database stores it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&Nick> for NickKey {
    fn from(nick: &Nick) -> NickKey {
        NickKey::of(nick.as_str())
    }
}

impl fmt::Display for NickKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a message is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Everyone in this room.
    Room(String),
    /// Only the sender and this nickname (spelled as its holder spells it).
    Direct(String),
}

/// How a message is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// Something said: `<alice> hi`.
    Text,
    /// A `/me` action: `* alice waves`.
    Action,
    /// A notice (IRC's `NOTICE`): words no program answers by itself, so
    /// that two bots cannot answer each other for ever.
    Notice,
}

/// A message to store, as a session hands it over: checked, sanitised and
/// stamped with its sender and time, but without an id yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    /// Server time in Unix milliseconds.
    pub ts: u64,
    /// The sender's nickname.
    pub from: String,
    /// Room or recipient.
    pub target: Target,
    /// Sanitised text.
    pub text: String,
    /// Said, or done.
    pub kind: MessageKind,
    /// The sender's idempotency key, if it gave one.
    pub client_id: Option<String>,
    /// The sender's identity, if it proved one (over TLS, with a
    /// certificate): with `recipient_identity`, who may read a direct
    /// message in history.
    pub sender_identity: Option<Fingerprint>,
    /// The recipient's identity, for a direct message to someone who
    /// proved one.
    pub recipient_identity: Option<Fingerprint>,
    /// What a `client_id` is unique within: the sender's
    /// [`Party::retry_scope`]. `None` only for messages stored before
    /// identities, which no retry matches.
    pub retry_scope: Option<String>,
    /// The connection that sent it, while the server runs (not stored):
    /// that connection is shown the message, its echo, whatever rooms or
    /// nickname it has by the time the message is published.
    pub origin: Option<ConnectionId>,
}

/// One connection's place in the hub, told apart from every other for as
/// long as the server runs (a reclaimed session gets a new one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionId(pub u64);

impl NewMessage {
    /// A text from `from` to `target` that nobody proved (no identities,
    /// no `client_id`, no connection): the server's own lines, and tests.
    pub fn unproved(ts: u64, from: String, target: Target, text: String) -> NewMessage {
        NewMessage {
            ts,
            from,
            target,
            text,
            kind: MessageKind::Text,
            client_id: None,
            sender_identity: None,
            recipient_identity: None,
            retry_scope: None,
            origin: None,
        }
    }

    /// The sender's nickname, folded: whom the hub shows the message to.
    pub fn sender_key(&self) -> NickKey {
        NickKey::of(&self.from)
    }
}

/// A message as stored: what was sent, and the id the store gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Strictly increasing across the whole server, never reused.
    pub id: u64,
    /// The message as it was handed to the store.
    pub message: NewMessage,
}

/// Who a message is shown to: its `client_id` is the sender's business
/// alone (it lets the sender match the echo to what it sent, and would let
/// anyone else count what the sender sends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShownTo {
    /// The sender: with its `client_id`.
    Sender,
    /// Anyone else: without.
    Others,
}

impl ShownTo {
    /// How `message` is shown to `reader`: as to its sender only if the
    /// reader is the same party (identity, or guest session), never by
    /// nickname alone.
    pub fn reader(reader: &Party, message: &NewMessage) -> ShownTo {
        if message.retry_scope.as_deref() == Some(reader.retry_scope().as_str()) {
            ShownTo::Sender
        } else {
            ShownTo::Others
        }
    }
}

/// Who is behind a connection, as far as history and retries go: the
/// identity it proved (the fingerprint of its TLS client key), or for a
/// guest — plain TCP, or TLS without a certificate — its session, which
/// lasts only as long as its token is presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Party {
    /// Proved to hold this key.
    Identity(Fingerprint),
    /// A guest, known by its session token.
    Guest(SessionToken),
}

impl Party {
    /// The identity, for a party that has one.
    pub fn identity(&self) -> Option<&Fingerprint> {
        match self {
            Party::Identity(identity) => Some(identity),
            Party::Guest(_) => None,
        }
    }

    /// What `client_id`s are unique within: a retry is matched only to a
    /// message of the same identity, or of the same guest session — never
    /// to one of someone who merely had the same nickname.
    pub fn retry_scope(&self) -> String {
        match self {
            Party::Identity(identity) => format!("id:{identity}"),
            Party::Guest(session) => format!("guest:{}", session.as_str()),
        }
    }
}

impl StoredMessage {
    /// The `message` event as `shown_to` receives it.
    pub fn to_server_msg(&self, shown_to: ShownTo) -> ServerMsg {
        let message = &self.message;
        let (room, to) = match &message.target {
            Target::Room(room) => (Some(room.clone()), None),
            Target::Direct(to) => (None, Some(to.clone())),
        };
        ServerMsg::Message {
            id: self.id,
            ts: message.ts,
            from: message.from.clone(),
            text: message.text.clone(),
            room,
            to,
            action: (message.kind == MessageKind::Action).then_some(true),
            client_id: match shown_to {
                ShownTo::Sender => message.client_id.clone(),
                ShownTo::Others => None,
            },
            notice: (message.kind == MessageKind::Notice).then_some(true),
        }
    }
}

/// The secret that lets a reconnecting client take its nickname and rooms
/// back: 128 random bits as hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionToken(String);

/// The operating system could not give us random bytes.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct NoRandomness(getrandom::Error);

/// Longest token a client may present; ours are 32 characters.
const MAX_TOKEN_LEN: usize = 64;

impl SessionToken {
    /// A new token from the operating system's random source. There is no
    /// fallback: a guessable token would let anyone take over a session,
    /// so without randomness there is no token.
    pub fn generate() -> Result<SessionToken, NoRandomness> {
        SessionToken::from_source(getrandom::fill)
    }

    /// A new token from `fill`, which fills a buffer with random bytes.
    pub fn from_source(
        fill: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>,
    ) -> Result<SessionToken, NoRandomness> {
        let mut bytes = [0_u8; 16];
        fill(&mut bytes).map_err(NoRandomness)?;
        Ok(SessionToken(
            bytes.iter().map(|b| format!("{b:02x}")).collect(),
        ))
    }

    /// A token a client presented, if it is of a length we could have made.
    pub fn presented(token: String) -> Option<SessionToken> {
        (!token.is_empty() && token.len() <= MAX_TOKEN_LEN).then_some(SessionToken(token))
    }

    /// The token as sent and stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the server's timestamps come from. Passed in rather than read
/// where it is needed, so that what depends on time can be tested at a
/// time of the test's choosing.
#[derive(Clone, Copy)]
pub struct Clock {
    now_millis: fn() -> u64,
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock {
            now_millis: system_millis,
        }
    }

    /// Now, in Unix milliseconds.
    pub fn now_millis(&self) -> u64 {
        (self.now_millis)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

fn system_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_compare_ignoring_case() {
        let nick = Nick::parse("Alice").unwrap();
        assert_eq!(NickKey::from(&nick), NickKey::of("ALICE"));
        assert_eq!(NickKey::of("Bob").as_str(), "bob");
    }

    #[test]
    fn a_failing_random_source_gives_no_token_at_all() {
        let broken = |_: &mut [u8]| Err(getrandom::Error::UNSUPPORTED);
        assert!(SessionToken::from_source(broken).is_err());
        let token = SessionToken::generate().unwrap();
        assert_eq!(token.as_str().len(), 32);
        assert_ne!(token, SessionToken::generate().unwrap());
    }

    #[test]
    fn only_tokens_of_a_plausible_length_are_taken() {
        assert!(SessionToken::presented(String::new()).is_none());
        assert!(SessionToken::presented("x".repeat(65)).is_none());
        assert!(SessionToken::presented("ab12".into()).is_some());
    }

    #[test]
    fn an_action_is_marked_as_one_on_the_wire() {
        let stored = StoredMessage {
            id: 3,
            message: NewMessage {
                ts: 5,
                from: "alice".into(),
                target: Target::Direct("bob".into()),
                text: "waves".into(),
                kind: MessageKind::Action,
                client_id: None,
                sender_identity: None,
                recipient_identity: None,
                retry_scope: None,
                origin: None,
            },
        };
        match stored.to_server_msg(ShownTo::Sender) {
            ServerMsg::Message {
                action, to, room, ..
            } => {
                assert_eq!(action, Some(true));
                assert_eq!(to.as_deref(), Some("bob"));
                assert_eq!(room, None);
            }
            other => panic!("{other:?}"),
        }
    }
}
