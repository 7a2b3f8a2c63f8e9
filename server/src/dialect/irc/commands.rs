//! A registered client's commands, read into the session's requests.
//!
//! Text from `PRIVMSG` and `NOTICE` is a message whatever it starts with
//! (an IRC client runs its own `/` commands); CTCP is read first, then
//! IRC formatting is stripped, and the session sanitises what is left.
//! Commands lanchat has no counterpart for are `421`, which is an answer,
//! not a bad line.

use lanchat_shared::irc::{
    Message, MessageText, from_irc_channel, from_irc_nick, strip_formatting,
};
use lanchat_shared::{RoomName, irc::to_irc_channel};

use super::{About, Irc, State, channel, irc_nick};
use crate::request::{BanRequest, HistoryRange, Listing, Moderation, Request, Say, SayKind};

/// Targets one `PRIVMSG` may name, as `TARGMAX` says; more are left out.
pub(super) const MAX_TARGETS: usize = 4;

/// Nicknames one `ISON` asks about; more are left out (a 510-byte line
/// holds about 250 of the shortest anyway).
const MAX_ISON: usize = 64;

impl Irc {
    /// The request a registered client's `message` asks for.
    pub(super) fn command(&self, state: &mut State, message: &Message) -> Request {
        if let Some(request) = self.channel_command(state, message) {
            return request;
        }
        match (message.command.as_str(), message.param(0)) {
            ("PRIVMSG" | "NOTICE", None) => self.answer(state, "411", &["No recipient given"]),
            ("PRIVMSG" | "NOTICE", Some(targets)) => {
                let notice = message.command == "NOTICE";
                self.privmsg(state, targets, message.param(1).unwrap_or_default(), notice)
            }
            ("NICK", Some(nick)) => match from_irc_nick(nick) {
                Ok(nick) => Request::Nick {
                    nick: nick.as_str().to_owned(),
                },
                Err(error) => {
                    let reason = format!("Erroneous nickname: {error}");
                    self.answer(state, "432", &[nick, &reason])
                }
            },
            // `WHOIS server nick` names a server first.
            ("WHOIS", Some(_)) => Request::Whois {
                nick: lanchat_nick(message.params.last().map_or("", String::as_str)),
            },
            ("LIST", _) => Request::Rooms,
            ("CHATHISTORY", _) => self.chathistory(state, &message.params),
            ("ISON", Some(_)) => Request::Online(ison_nicks(message)),
            ("AWAY", text) => Request::Away(text.filter(|t| !t.is_empty()).map(str::to_owned)),
            ("USER" | "PASS" | "AUTHENTICATE", _) => {
                self.answer(state, "462", &["You may not reregister"])
            }
            ("NICK" | "WHOIS" | "ISON", None) => self.needs_more(state, &message.command),
            (command, _) => self.answer(state, "421", &[command, "Unknown command"]),
        }
    }

    /// `CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN TARGET ... N`: a
    /// page of a room's history (`#room`), or of the direct messages
    /// exchanged with someone (`nick`), by lanchat's ids (`msgid=ID`;
    /// `LATEST` takes `*` too). Timestamps and `TARGETS` are refused with
    /// `FAIL`.
    fn chathistory(&self, state: &mut State, params: &[String]) -> Request {
        let param = |index: usize| params.get(index).map(String::as_str);
        let subcommand = param(0).unwrap_or_default().to_ascii_uppercase();
        let references = params.get(2..).unwrap_or_default();
        let Some((range, used)) = history_range(&subcommand, references) else {
            let why = "the subcommands are LATEST, BEFORE, AFTER, AROUND and BETWEEN, with msgid= references (lanchat's ids)";
            return self.fail(("INVALID_PARAMS", &subcommand), &[why]);
        };
        let target = param(1).unwrap_or_default();
        let (room, with, asked) = match (target.starts_with('#'), from_irc_channel(target)) {
            (true, Ok(room)) => (Some(room.as_str().to_owned()), None, to_irc_channel(&room)),
            (false, _) if !target.is_empty() && target != "*" => {
                (None, Some(lanchat_nick(target)), target.to_owned())
            }
            _ => {
                let why = "the target is a #channel or a nickname";
                return self.fail(("INVALID_TARGET", &subcommand), &[target, why]);
            }
        };
        let Some(Ok(limit)) = param(2 + used).map(str::parse::<usize>) else {
            let why = "the last parameter is how many messages, a number";
            return self.fail(("INVALID_PARAMS", &subcommand), &[why]);
        };
        state.history_asked = Some(asked);
        Request::History {
            range,
            room,
            with,
            limit: Some(limit),
        }
    }

    /// `FAIL CHATHISTORY CODE SUBCOMMAND [CONTEXT...] :why`, IRCv3's
    /// standard reply.
    fn fail(&self, (code, subcommand): (&str, &str), rest: &[&str]) -> Request {
        let shown = if subcommand.is_empty() {
            "*"
        } else {
            subcommand
        };
        let mut failure = Message::new("FAIL")
            .with_source(&self.server)
            .with_param("CHATHISTORY")
            .with_param(code)
            .with_param(shown);
        for param in rest {
            failure = failure.with_param(param);
        }
        Request::Answer(self.line(&failure).into())
    }

    /// The commands about channels, or `None` for another command.
    fn channel_command(&self, state: &State, message: &Message) -> Option<Request> {
        // How many channels one line may name: as many as a client may
        // be in to enter or leave, one for the rest (`TARGMAX`).
        let (many, one) = (self.max_rooms, 1);
        Some(match (message.command.as_str(), message.param(0)) {
            ("JOIN", Some("0")) => Request::PartAll,
            ("JOIN", Some(list)) => self.join_request(state, list, message.param(1)),
            ("PART", Some(list)) => {
                self.for_each_channel(state, (list, many), |room| Request::PartRoom { room })
            }
            ("NAMES" | "WHO", Some(channel)) if channel.starts_with('#') => {
                let listing = match message.command.as_str() {
                    "NAMES" => Listing::Names,
                    _ => Listing::Who,
                };
                self.for_each_channel(state, (channel, one), |room| Request::People {
                    room: Some(room),
                    listing,
                })
            }
            ("WHO", mask) => self.answer(state, "315", &[mask.unwrap_or("*"), "End of WHO list"]),
            ("NAMES", None) => self.answer(state, "366", &["*", "End of /NAMES list"]),
            ("TOPIC", Some(channel)) => {
                self.for_each_channel(state, (channel, one), |room| Request::Moderate {
                    room: Some(room),
                    action: Moderation::Topic(message.param(1).map(strip_formatting)),
                })
            }
            ("MODE", Some(target)) => self.mode(state, target, &message.params[1..]),
            ("KICK", Some(channel)) => match message.param(1) {
                Some(nick) => {
                    self.for_each_channel(state, (channel, one), |room| Request::Moderate {
                        room: Some(room),
                        action: Moderation::Kick {
                            nick: lanchat_nick(nick),
                            reason: message.param(2).map(strip_formatting),
                        },
                    })
                }
                None => self.needs_more(state, "KICK"),
            },
            ("JOIN" | "PART" | "TOPIC" | "MODE" | "KICK", None) => {
                self.needs_more(state, &message.command)
            }
            _ => return None,
        })
    }

    /// `PRIVMSG #room,nick :text` (or `NOTICE`): one message for each
    /// target.
    fn privmsg(&self, state: &State, targets: &str, text: &str, notice: bool) -> Request {
        let (text, kind) = match MessageText::parse(text) {
            MessageText::Plain(text) if notice => (text, SayKind::Notice),
            MessageText::Plain(text) => (text, SayKind::Message),
            // CTCP in a NOTICE is a reply to a CTCP query (an ACTION in one
            // included), which nobody here asked.
            MessageText::Action(_) | MessageText::Ctcp { .. } if notice => {
                return Request::Answer(Default::default());
            }
            MessageText::Action(text) => (text, SayKind::Action),
            // Other CTCP (VERSION, PING...) asks the other client's
            // software, which lanchat's people do not run.
            MessageText::Ctcp { .. } => return Request::Answer(Default::default()),
        };
        let text = strip_formatting(text);
        if text.trim().is_empty() {
            return self.answer(state, "412", &["No text to send"]);
        }
        let says = targets
            .split(',')
            .filter(|target| !target.is_empty())
            .take(MAX_TARGETS)
            .map(|target| {
                let (room, to) = match target.strip_prefix('#') {
                    Some(_) => (Some(lanchat_room(target)), None),
                    None => (None, Some(lanchat_nick(target))),
                };
                Request::Say(Say {
                    text: text.clone(),
                    kind,
                    room,
                    to,
                    client_id: None,
                })
            })
            .collect();
        Request::Many(says)
    }

    /// `JOIN #a,#b key,key`: each channel with its key, if any.
    fn join_request(&self, state: &State, channels: &str, keys: Option<&str>) -> Request {
        let mut keys = keys.unwrap_or_default().split(',');
        self.for_each_channel(state, (channels, self.max_rooms), |room| {
            Request::JoinRoom {
                room,
                key: keys.next().filter(|key| !key.is_empty()).map(str::to_owned),
            }
        })
    }

    /// `request` for each channel of a comma-separated list, in order, up
    /// to `most` of them (what `TARGMAX` says); a channel that is no room
    /// gets `403` in its place.
    fn for_each_channel(
        &self,
        state: &State,
        (channels, most): (&str, usize),
        mut request: impl FnMut(String) -> Request,
    ) -> Request {
        let requests = channels
            .split(',')
            .filter(|channel| !channel.is_empty())
            .take(most)
            .map(|channel| match from_irc_channel(channel) {
                Ok(room) => request(room.as_str().to_owned()),
                Err(error) => self.answer(state, "403", &[channel, &error.to_string()]),
            })
            .collect();
        Request::Many(requests)
    }

    /// `MODE`: a channel's modes and ban list as far as lanchat has them,
    /// the roles, privacy and key it maps onto, and the client's own
    /// modes.
    fn mode(&self, state: &State, target: &str, rest: &[String]) -> Request {
        let Some(channel) = target.strip_prefix('#').map(|_| target) else {
            return self.user_modes(state, target);
        };
        let room = match from_irc_channel(channel) {
            Ok(room) => room,
            Err(error) => return self.answer(state, "403", &[channel, &error.to_string()]),
        };
        let change = rest.first().map(String::as_str);
        let argument = rest.get(1).map(String::as_str);
        let action = match (change, argument) {
            (None, _) => return self.channel_modes(state, &room),
            (Some("b" | "+b"), None) => {
                return Request::BanList {
                    room: room.as_str().to_owned(),
                };
            }
            (Some("+o" | "-o"), Some(nick)) => Moderation::Operator {
                nick: lanchat_nick(nick),
                give: change == Some("+o"),
            },
            (Some("+b"), Some(mask)) => Moderation::Ban(BanRequest {
                target: ban_target(mask),
                server: false,
                duration_secs: None,
                reason: None,
            }),
            (Some("-b"), Some(mask)) => Moderation::Unban {
                target: ban_target(mask),
                server: false,
            },
            (Some("+i" | "-i"), _) => Moderation::Private(change == Some("+i")),
            (Some("+k"), Some(key)) => Moderation::Key(Some(key.to_owned())),
            (Some("-k"), _) => Moderation::Key(None),
            (Some("+o" | "-o" | "-b" | "+k"), None) => return self.needs_more(state, "MODE"),
            (Some(other), _) => {
                let letter = other.trim_start_matches(['+', '-']);
                let reason = "is not a mode lanchat has; see /help";
                return self.answer(state, "472", &[letter, reason]);
            }
        };
        Request::Moderate {
            room: Some(room.as_str().to_owned()),
            action,
        }
    }

    /// `MODE nick`: the client's own modes, of which lanchat has none to
    /// change (`221 +`); anyone else's are not the client's to ask.
    fn user_modes(&self, state: &State, nick: &str) -> Request {
        if !nick.eq_ignore_ascii_case(state.target()) {
            return self.answer(state, "502", &["Can't view or change modes of other users"]);
        }
        let mine = Message::new("221")
            .with_source(&self.server)
            .with_param(state.target())
            .with_param("+");
        Request::Answer(self.line(&mine).into())
    }

    /// `324` for `MODE #room`: `n` (only those in a room speak in it) and
    /// `t` (only operators set its topic) always hold in lanchat.
    fn channel_modes(&self, state: &State, room: &RoomName) -> Request {
        let channel = to_irc_channel(room);
        self.answer(state, "324", &[&channel, "+nt"])
    }

    fn needs_more(&self, state: &State, command: &str) -> Request {
        self.answer(state, "461", &[command, "Not enough parameters"])
    }

    /// A numeric answered by the dialect itself.
    pub(super) fn answer(&self, state: &State, numeric: &str, params: &[&str]) -> Request {
        Request::Answer(self.numeric(state, numeric, params).into())
    }
}

/// The page a `CHATHISTORY` subcommand asks for, from its message
/// references (what follows the target), and how many of them it took;
/// `None` for another subcommand or a reference that is not `msgid=ID`.
fn history_range(subcommand: &str, references: &[String]) -> Option<(HistoryRange, usize)> {
    let msgid =
        |at: usize| -> Option<u64> { references.get(at)?.strip_prefix("msgid=")?.parse().ok() };
    let latest = |after| HistoryRange::Newest {
        after,
        before: u64::MAX,
    };
    Some(match subcommand {
        "LATEST" if references.first().is_some_and(|first| first == "*") => (latest(0), 1),
        "LATEST" => (latest(msgid(0)?), 1),
        "BEFORE" => (HistoryRange::before(msgid(0)?), 1),
        "AFTER" => {
            let after = msgid(0)?;
            let range = HistoryRange::Oldest {
                after,
                before: u64::MAX,
            };
            (range, 1)
        }
        "AROUND" => (HistoryRange::Around(msgid(0)?), 1),
        // Counted from the first reference towards the second, whichever
        // is older.
        "BETWEEN" => match (msgid(0)?, msgid(1)?) {
            (from, to) if from <= to => (
                HistoryRange::Oldest {
                    after: from,
                    before: to,
                },
                2,
            ),
            (from, to) => (
                HistoryRange::Newest {
                    after: to,
                    before: from,
                },
                2,
            ),
        },
        _ => return None,
    })
}

/// The nicknames `ISON` asks about, as several parameters or as one, at
/// most [`MAX_ISON`].
fn ison_nicks(message: &Message) -> Vec<String> {
    message
        .params
        .iter()
        .flat_map(|param| param.split_ascii_whitespace())
        .take(MAX_ISON)
        .map(lanchat_nick)
        .collect()
}

/// The lanchat nickname an IRC client names; one IRC cannot map is passed
/// on as typed, for the session to find nobody by it.
fn lanchat_nick(irc: &str) -> String {
    from_irc_nick(irc).map_or_else(|_| irc.to_owned(), |nick| nick.as_str().to_owned())
}

/// What a ban mask names for lanchat: the nickname of `nick!*@*` (whose
/// holder's key, or a guest's address, is banned, as `/ban NICK` does),
/// or, for anything else, the mask as typed — a key (`SHA256:...`) or an
/// address or network (`10.0.0.0/24`), as `/ban` takes them. Masks with
/// wildcards in the nickname match nothing lanchat keeps.
fn ban_target(mask: &str) -> String {
    match mask.split_once('!') {
        Some((nick, _)) => lanchat_nick(nick),
        None => mask.to_owned(),
    }
}

/// The room a `#channel` names, as the session's requests take it
/// (checked there).
fn lanchat_room(channel: &str) -> String {
    from_irc_channel(channel).map_or_else(
        |_| channel.trim_start_matches('#').to_owned(),
        |room| room.as_str().to_owned(),
    )
}

/// What `request` is about, as error numerics name it.
pub(super) fn about(request: &Request) -> About {
    let (channel, nick) = match request {
        Request::JoinRoom { room, .. } | Request::PartRoom { room } => (Some(channel(room)), None),
        Request::Say(say) => (
            say.room.as_deref().map(channel),
            say.to.as_deref().map(irc_nick),
        ),
        Request::Moderate { room, action } => {
            let nick = match action {
                Moderation::Kick { nick, .. } | Moderation::Operator { nick, .. } => {
                    Some(irc_nick(nick))
                }
                _ => None,
            };
            (room.as_deref().map(channel), nick)
        }
        Request::People { room, .. } | Request::History { room, .. } => {
            (room.as_deref().map(channel), None)
        }
        Request::Whois { nick } | Request::Nick { nick } => (None, Some(irc_nick(nick))),
        _ => (None, None),
    };
    About {
        channel,
        nick,
        speaking: matches!(request, Request::Say(_)),
    }
}
