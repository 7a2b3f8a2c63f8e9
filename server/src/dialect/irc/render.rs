//! What the server says, as IRC lines: events as the commands IRC clients
//! know (`PRIVMSG`, `JOIN`, `PART`, `QUIT`, `KICK`, `NICK`, `TOPIC`,
//! `MODE`), replies and refusals as numerics. Every line is at most 512
//! bytes with its CRLF (tags aside, as IRCv3 counts): long text is split
//! by [`split_message`], long lists over several lines.

use lanchat_shared::clock::utc_time;
use lanchat_shared::irc::ctcp::ACTION_FRAME_LEN;
use lanchat_shared::irc::message::{CRLF, MAX_BODY_LEN};
use lanchat_shared::irc::{
    Message, SerializeError, render_action, split_message, split_text, text_budget,
};
use lanchat_shared::room_name::{LOBBY, MAX_ROOM_LEN};
use lanchat_shared::{ErrorCode, ServerMsg};

use super::commands::MAX_TARGETS;
use super::{Irc, State, channel, irc_nick};
use crate::dialect::{Answer, ListedBan, ListedRoom, Person};
use crate::domain::ShownTo;
use crate::hub::PARTED;
use crate::request::Listing;

/// ISUPPORT tokens, after `CHANLIMIT` (which depends on the settings).
/// `CHANMODES`: `b` lists, `k` takes a key, `i` `n` `t` are flags.
const ISUPPORT: [&str; 8] = [
    "CASEMAPPING=ascii",
    "CHANTYPES=#",
    "NICKLEN=17",
    "PREFIX=(o)@",
    "CHANMODES=b,k,,int",
    "NETWORK=lanchat",
    "UTF8ONLY",
    "AWAYLEN=200",
];

/// Nicknames per `353` line, well within 512 bytes (17 characters and a
/// prefix each).
const NAMES_PER_LINE: usize = 20;

impl Irc {
    /// One line, with its CRLF. A message that cannot be written (which
    /// only a mistake in this file could make) is left out, not sent cut.
    pub(super) fn line(&self, message: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        self.push(message, &mut out);
        out
    }

    fn push(&self, message: &Message, out: &mut Vec<u8>) {
        match fitting_line(message) {
            Ok(line) => {
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(CRLF.as_bytes());
            }
            Err(error) => tracing::warn!(%error, command = message.command, "IRC line not sent"),
        }
    }

    /// A numeric reply to the client: `:server NNN me params...`. A
    /// parameter before the last that a client gave and that cannot be
    /// one (empty, or with a space: `NICK :a b`) is shown as `*`, so the
    /// reply is still sent.
    pub(super) fn numeric(&self, state: &State, numeric: &str, params: &[&str]) -> Vec<u8> {
        let mut message = Message::new(numeric)
            .with_source(&self.server)
            .with_param(state.target());
        let last = params.len().saturating_sub(1);
        for (index, param) in params.iter().enumerate() {
            let unfit = param.is_empty() || param.contains(' ') || param.starts_with(':');
            message = message.with_param(if index < last && unfit { "*" } else { param });
        }
        self.line(&message)
    }

    /// `msg` as IRC lines, told as a reply or as an event (what came
    /// through the hub's ring), and, for a message, to its sender or not
    /// if that is known.
    pub(super) fn render_msg(
        &self,
        state: &mut State,
        msg: &ServerMsg,
        (told, shown_to): (Told, Option<ShownTo>),
        out: &mut Vec<u8>,
    ) {
        // One departure's leaves are published together, under the hub's
        // lock: anything else in between means the next QUIT is news.
        let same_departure = matches!(msg, ServerMsg::Leave { nick, .. }
            if state.last_quit.as_deref() == Some(irc_nick(nick).as_str()));
        if !same_departure {
            state.last_quit = None;
        }
        match msg {
            ServerMsg::Welcome { nick, users, .. } => self.welcome(state, nick, users, out),
            ServerMsg::Message { .. } => self.chat(state, msg, (told, shown_to), out),
            ServerMsg::HistoryEnd {} => self.history_end(state, out),
            ServerMsg::Join { nick, room, .. } => self.join(state, nick, room.as_deref(), out),
            ServerMsg::Leave { nick, reason, room } => {
                self.leave(state, nick, room.as_deref().unwrap_or(LOBBY), reason, out);
            }
            ServerMsg::Nick { old, new, .. } => self.renamed(state, old, new, out),
            ServerMsg::Topic { room, text, by } => {
                self.topic(state, room, text, by.as_deref(), told, out)
            }
            ServerMsg::Role {
                room,
                nick,
                operator,
            } => self.role(room, nick, *operator, out),
            ServerMsg::Whois { .. } => self.whois(state, msg, out),
            ServerMsg::Info { text } => self.notice(state, text, out),
            ServerMsg::Error { code, message, .. } => self.refusal(state, *code, message, out),
            ServerMsg::Away { nick, text } => self.away(state, nick, text.as_deref(), out),
            ServerMsg::Greeting { .. } | ServerMsg::Pong {} | ServerMsg::Unknown => {}
        }
    }

    /// A message, to a channel or a person; a reply's (history) in a
    /// batch if the client asked for batches.
    fn chat(
        &self,
        state: &mut State,
        msg: &ServerMsg,
        (told, shown_to): (Told, Option<ShownTo>),
        out: &mut Vec<u8>,
    ) {
        let ServerMsg::Message {
            id,
            ts,
            from,
            text,
            room,
            to,
            action,
            notice,
            ..
        } = msg
        else {
            return;
        };
        // Whether the client sent it: under its nickname now, or, where
        // the session says so, under an earlier one (a message stored
        // before senders were recorded says nothing, hence the nickname).
        let sent = shown_to == Some(ShownTo::Sender) || irc_nick(from) == state.target();
        let target = match (room, to) {
            (_, Some(to)) if sent => irc_nick(to),
            (_, Some(_)) => state.target().to_owned(),
            (Some(room), None) => channel(room),
            (None, None) => channel(LOBBY),
        };
        // A direct message's batch is its conversation's: named after the
        // other person, whichever way it went.
        let conversation = match to {
            Some(_) if !sent => irc_nick(from),
            _ => target.clone(),
        };
        let batch = (told == Told::AsReply && state.caps.batch)
            .then(|| self.in_batch(state, &conversation, out));
        let said = Said {
            id: *id,
            ts: *ts,
            from,
            target: &target,
            text,
            action: *action == Some(true),
            notice: *notice == Some(true),
            batch,
        };
        self.message(state, &said, out);
    }

    /// `NICK`, following the client's own nickname when it is the one.
    fn renamed(&self, state: &mut State, old: &str, new: &str, out: &mut Vec<u8>) {
        let (old, new) = (irc_nick(old), irc_nick(new));
        let renamed = Message::new("NICK")
            .with_source(&prefix(&old))
            .with_param(&new);
        if state.me.as_deref() == Some(old.as_str()) {
            state.me = Some(new);
        }
        self.push(&renamed, out);
    }

    /// `MODE #room +o nick` (or `-o`) from the server.
    fn role(&self, room: &str, nick: &str, operator: bool, out: &mut Vec<u8>) {
        let sign = if operator { "+o" } else { "-o" };
        let mode = Message::new("MODE")
            .with_source(&self.server)
            .with_param(&channel(room))
            .with_param(sign)
            .with_param(&irc_nick(nick));
        self.push(&mode, out);
    }

    /// `306` or `305` for the client's own away. Others', to a client
    /// with `away-notify`, as IRCv3 gives them: `AWAY` from them, with the
    /// message, or without one when back; to others, nothing (IRC has no
    /// event for them).
    fn away(&self, state: &State, nick: &str, text: Option<&str>, out: &mut Vec<u8>) {
        let nick = irc_nick(nick);
        if state.me.as_deref() != Some(nick.as_str()) {
            if state.caps.away_notify {
                let mut away = Message::new("AWAY").with_source(&prefix(&nick));
                if let Some(text) = text {
                    away = away.with_param(text);
                }
                self.push(&away, out);
            }
            return;
        }
        let (numeric, words) = if text.is_some() {
            ("306", "You have been marked as being away")
        } else {
            ("305", "You are no longer marked as being away")
        };
        out.extend(self.numeric(state, numeric, &[words]));
    }

    /// 001–005 and 422 (no MOTD), in Modern IRC's order, then the lobby,
    /// which the session put the client in, as if it had joined it.
    fn welcome(&self, state: &mut State, nick: &str, users: &[String], out: &mut Vec<u8>) {
        let me = irc_nick(nick);
        state.me = Some(me.clone());
        let version = concat!("lanchat-", env!("CARGO_PKG_VERSION"));
        let welcome = format!("Welcome to lanchat, {me}");
        let host = format!("Your host is {}, running {version}", self.server);
        out.extend(self.numeric(state, "001", &[&welcome]));
        out.extend(self.numeric(state, "002", &[&host]));
        out.extend(self.numeric(
            state,
            "003",
            &["This server keeps its history in lanchat's store"],
        ));
        out.extend(self.numeric(state, "004", &[&self.server, version, "i", "bikot", "bko"]));
        let chanlimit = format!("CHANLIMIT=#:{}", self.max_rooms);
        let channellen = format!("CHANNELLEN={}", MAX_ROOM_LEN + 1);
        let chathistory = format!("CHATHISTORY={}", self.history_len);
        let targmax = format!(
            "TARGMAX=JOIN:{rooms},PART:{rooms},PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},NAMES:1,WHO:1,TOPIC:1,KICK:1,WHOIS:1",
            rooms = self.max_rooms
        );
        let mut tokens: Vec<&str> = vec![&chanlimit, &channellen, &chathistory, &targmax];
        tokens.push("MSGREFTYPES=msgid");
        tokens.extend(ISUPPORT);
        // At most 13 parameters after the nickname, as clients expect:
        // 12 tokens and the closing words.
        for chunk in tokens.chunks(12) {
            let mut params = chunk.to_vec();
            params.push("are supported by this server");
            out.extend(self.numeric(state, "005", &params));
        }
        out.extend(self.numeric(state, "422", &["MOTD File is missing"]));
        let people: Vec<Person> = users
            .iter()
            .map(|nick| Person {
                nick: nick.clone(),
                operator: false,
                away: None,
            })
            .collect();
        self.entered(state, LOBBY, &people, out);
    }

    /// What entering `room` shows: the client's `JOIN`, then `NAMES`.
    fn entered(&self, state: &State, room: &str, people: &[Person], out: &mut Vec<u8>) {
        let join = Message::new("JOIN")
            .with_source(&prefix(state.target()))
            .with_param(&channel(room));
        self.push(&join, out);
        self.names(state, room, people, out);
    }

    /// `353` lines (with `@` for who keeps order), then `366`.
    fn names(&self, state: &State, room: &str, people: &[Person], out: &mut Vec<u8>) {
        let channel = channel(room);
        for chunk in people.chunks(NAMES_PER_LINE) {
            let names: Vec<String> = chunk
                .iter()
                .map(|p| format!("{}{}", if p.operator { "@" } else { "" }, irc_nick(&p.nick)))
                .collect();
            out.extend(self.numeric(state, "353", &["=", &channel, &names.join(" ")]));
        }
        out.extend(self.numeric(state, "366", &[&channel, "End of /NAMES list"]));
    }

    /// `352` for each person (the client included, with `H` here or `G`
    /// gone, and `@`), then `315`.
    fn who(&self, state: &State, room: &str, people: &[Person], out: &mut Vec<u8>) {
        let channel = channel(room);
        for person in people {
            let nick = irc_nick(&person.nick);
            let flags = format!(
                "{}{}",
                if person.away.is_some() { "G" } else { "H" },
                if person.operator { "@" } else { "" }
            );
            let params = [
                &channel,
                &nick,
                "lanchat",
                &self.server,
                &nick,
                &flags,
                "0 lanchat",
            ];
            out.extend(self.numeric(state, "352", &params));
        }
        out.extend(self.numeric(state, "315", &[&channel, "End of WHO list"]));
    }

    pub(super) fn render_people(&self, state: &State, answer: &Answer, out: &mut Vec<u8>) {
        match answer {
            Answer::Entered { room, people } => self.entered(state, room, people, out),
            Answer::People {
                room,
                people,
                listing: Listing::Names,
            } => self.names(state, room, people, out),
            Answer::People {
                room,
                people,
                listing: Listing::Who,
            } => self.who(state, room, people, out),
            Answer::Rooms(rooms) => self.list(state, rooms, out),
            Answer::Bans { room, bans } => {
                let channel = channel(room.as_deref().unwrap_or(LOBBY));
                self.ban_list(state, &channel, bans, out);
            }
            Answer::Online(nicks) => {
                let nicks: Vec<String> = nicks.iter().map(|nick| irc_nick(nick)).collect();
                out.extend(self.numeric(state, "303", &[&nicks.join(" ")]));
            }
        }
    }

    /// A `367` for each ban (whom as `/ban` takes it, who, when), `368`.
    fn ban_list(&self, state: &State, channel: &str, bans: &[ListedBan], out: &mut Vec<u8>) {
        for ban in bans {
            let at = (ban.at_ms / 1000).to_string();
            out.extend(self.numeric(
                state,
                "367",
                &[channel, &ban.target, &irc_nick(&ban.by), &at],
            ));
        }
        out.extend(self.numeric(state, "368", &[channel, "End of channel ban list"]));
    }

    /// `321`, a `322` for each room (head count, topic), `323`.
    fn list(&self, state: &State, rooms: &[ListedRoom], out: &mut Vec<u8>) {
        out.extend(self.numeric(state, "321", &["Channel", "Users  Name"]));
        for room in rooms {
            let channel = channel(&room.name);
            let count = room.people.to_string();
            let topic = cut(room.topic.as_deref().unwrap_or_default(), MAX_REASON_BYTES);
            out.extend(self.numeric(state, "322", &[&channel, &count, topic]));
        }
        out.extend(self.numeric(state, "323", &["End of /LIST"]));
    }

    /// A message: `PRIVMSG`, or a `NOTICE` for a notice and for the
    /// server's own lines, split into lines that fit, with its time and id
    /// as tags when the client asked for them.
    fn message(&self, state: &State, said: &Said<'_>, out: &mut Vec<u8>) {
        let (command, source) = match (said.from == "server", said.notice) {
            (true, _) => ("NOTICE", self.server.clone()),
            (false, true) => ("NOTICE", prefix(&irc_nick(said.from))),
            (false, false) => ("PRIVMSG", prefix(&irc_nick(said.from))),
        };
        let mut template = Message::new(command)
            .with_source(&source)
            .with_param(said.target);
        if state.caps.server_time {
            template = template.with_tag("time", Some(&utc_time(said.ts)));
        }
        if state.caps.message_tags {
            template = template.with_tag("msgid", Some(&said.id.to_string()));
        }
        if let Some(batch) = &said.batch {
            template = template.with_tag("batch", Some(batch));
        }
        // An action's CTCP frame takes room from each piece.
        let frame = if said.action { ACTION_FRAME_LEN } else { 0 };
        let budget = text_budget(&template).saturating_sub(frame);
        let Ok(pieces) = split_text(said.text, budget) else {
            return;
        };
        for piece in pieces {
            let text = if said.action {
                render_action(piece)
            } else {
                piece.to_owned()
            };
            self.push(&template.clone().with_param(&text), out);
        }
    }

    /// The reference of the `chathistory` batch for `target`, opened
    /// (and the one before it closed) if it is not the open one: a replay
    /// of several rooms is a batch for each.
    fn in_batch(&self, state: &mut State, target: &str, out: &mut Vec<u8>) -> String {
        if let Some((reference, open)) = &state.batch
            && open == target
        {
            return reference.clone();
        }
        self.end_batch(state, out);
        state.batches += 1;
        let reference = format!("history{}", state.batches);
        let start = Message::new("BATCH")
            .with_source(&self.server)
            .with_param(&format!("+{reference}"))
            .with_param("chathistory")
            .with_param(target);
        self.push(&start, out);
        state.batch = Some((reference.clone(), target.to_owned()));
        reference
    }

    /// The end of a replay: its batch closed, or, for a `CHATHISTORY`
    /// that found nothing, an empty batch, which is how IRCv3 says so.
    fn history_end(&self, state: &mut State, out: &mut Vec<u8>) {
        let asked = state.history_asked.take();
        if let (Some(channel), None, true) = (asked, &state.batch, state.caps.batch) {
            self.in_batch(state, &channel, out);
        }
        self.end_batch(state, out);
    }

    /// Closes the open `chathistory` batch, if any.
    fn end_batch(&self, state: &mut State, out: &mut Vec<u8>) {
        if let Some((reference, _)) = state.batch.take() {
            let end = Message::new("BATCH")
                .with_source(&self.server)
                .with_param(&format!("-{reference}"));
            self.push(&end, out);
        }
    }

    fn join(&self, state: &mut State, nick: &str, room: Option<&str>, out: &mut Vec<u8>) {
        let nick = irc_nick(nick);
        // The client's own entry was shown when it entered.
        if state.me.as_deref() == Some(nick.as_str()) {
            return;
        }
        let join = Message::new("JOIN")
            .with_source(&prefix(&nick))
            .with_param(&channel(room.unwrap_or(LOBBY)));
        self.push(&join, out);
    }

    /// A leave: a `PART`, a `KICK` (kicked or banned out of the room), or,
    /// for leaving the chat, one `QUIT` however many rooms it is told in.
    fn leave(&self, state: &mut State, nick: &str, room: &str, reason: &str, out: &mut Vec<u8>) {
        let nick = irc_nick(nick);
        let channel = channel(room);
        let message = if reason == PARTED {
            Message::new("PART")
                .with_source(&prefix(&nick))
                .with_param(&channel)
        } else if let Some(by) = put_out_by(reason) {
            Message::new("KICK")
                .with_source(&prefix(&irc_nick(by)))
                .with_param(&channel)
                .with_param(&nick)
                .with_param(reason)
        } else {
            if state.last_quit.as_deref() == Some(nick.as_str()) {
                return;
            }
            state.last_quit = Some(nick.clone());
            Message::new("QUIT")
                .with_source(&prefix(&nick))
                .with_param(&quit_reason(reason))
        };
        self.push(&message, out);
    }

    /// A topic: told as it changes (`TOPIC`), or as a reply (`332`, or
    /// `331` for none).
    fn topic(
        &self,
        state: &State,
        room: &str,
        text: &str,
        by: Option<&str>,
        told: Told,
        out: &mut Vec<u8>,
    ) {
        let channel = channel(room);
        if told == Told::AsEvent {
            let source = by.map_or_else(|| self.server.clone(), |by| prefix(&irc_nick(by)));
            let topic = Message::new("TOPIC")
                .with_source(&source)
                .with_param(&channel)
                .with_param(text);
            self.push(&topic, out);
        } else if text.is_empty() {
            out.extend(self.numeric(state, "331", &[&channel, "No topic is set"]));
        } else {
            out.extend(self.numeric(state, "332", &[&channel, text]));
        }
    }

    /// `311`, `312`, `319`, `301`, `671` (TLS), `276` (the key), `318`.
    fn whois(&self, state: &State, msg: &ServerMsg, out: &mut Vec<u8>) {
        let ServerMsg::Whois {
            nick,
            identity,
            owned,
            encrypted,
            rooms,
            away,
            ..
        } = msg
        else {
            return;
        };
        let nick = irc_nick(nick);
        let nick = nick.as_str();
        let who = if *owned {
            "owns this nickname"
        } else if identity.is_some() {
            "has a key, does not own this nickname"
        } else {
            "guest"
        };
        // `<nick> <user> <host> * :<real name>`, the user and host as in
        // every prefix (`nick!nick@lanchat`).
        out.extend(self.numeric(state, "311", &[nick, nick, "lanchat", "*", who]));
        out.extend(self.numeric(state, "312", &[nick, &self.server, "lanchat"]));
        let channels: Vec<String> = rooms.iter().map(|room| channel(room)).collect();
        for some in channels.chunks(CHANNELS_PER_LINE) {
            out.extend(self.numeric(state, "319", &[nick, &some.join(" ")]));
        }
        if let Some(away) = away {
            out.extend(self.numeric(state, "301", &[nick, away]));
        }
        if *encrypted {
            out.extend(self.numeric(state, "671", &[nick, "is using a secure connection"]));
        }
        if let Some(key) = identity {
            let words = format!("has client certificate fingerprint {key}");
            out.extend(self.numeric(state, "276", &[nick, &words]));
        }
        out.extend(self.numeric(state, "318", &[nick, "End of /WHOIS list"]));
    }

    /// Words for the client, one `NOTICE` a line.
    fn notice(&self, state: &State, text: &str, out: &mut Vec<u8>) {
        let template = Message::new("NOTICE")
            .with_source(&self.server)
            .with_param(state.target());
        for line in text.lines().filter(|line| !line.is_empty()) {
            let Ok(pieces) = split_message(&template, line) else {
                continue;
            };
            for piece in pieces {
                self.push(&piece, out);
            }
        }
    }

    /// A refusal as the numeric IRC clients know for it, naming what it
    /// is about; one with none is a `NOTICE`, and one that ends the
    /// connection is `ERROR`.
    fn refusal(&self, state: &State, code: ErrorCode, message: &str, out: &mut Vec<u8>) {
        let channel = state.about.channel.as_deref().unwrap_or("*");
        let nick = state.about.nick.as_deref().unwrap_or("*");
        let wanted = state.wanted_nick.as_deref().unwrap_or("*");
        let (numeric, about): (&str, Option<&str>) = match code {
            ErrorCode::NickTaken | ErrorCode::NickOwned => {
                ("433", Some(if state.me.is_some() { nick } else { wanted }))
            }
            ErrorCode::NickInvalid => ("432", Some(if state.me.is_some() { nick } else { wanted })),
            ErrorCode::LineTooLong | ErrorCode::TextTooLong => ("417", None),
            ErrorCode::RoomInvalid => ("403", Some(channel)),
            ErrorCode::NotInRoom if state.about.speaking => ("404", Some(channel)),
            ErrorCode::NotInRoom => ("442", Some(channel)),
            ErrorCode::TooManyRooms => ("405", Some(channel)),
            ErrorCode::NoSuchUser => ("401", Some(nick)),
            ErrorCode::BadPassword => ("464", None),
            ErrorCode::NoPermission => ("482", Some(channel)),
            ErrorCode::Banned if state.about.channel.is_some() => ("474", Some(channel)),
            ErrorCode::Banned => ("465", None),
            ErrorCode::Muted => ("404", Some(channel)),
            ErrorCode::InviteOnly => ("473", Some(channel)),
            ErrorCode::BadKey => ("475", Some(channel)),
            ErrorCode::HelloTimeout
            | ErrorCode::TooManyErrors
            | ErrorCode::ServerFull
            | ErrorCode::TooManyConnections
            | ErrorCode::SlowConsumer
            | ErrorCode::NotAllowed
            | ErrorCode::TlsRequired => {
                let error = Message::new("ERROR").with_param(message);
                return self.push(&error, out);
            }
            _ => return self.notice(state, message, out),
        };
        let mut params: Vec<&str> = about.into_iter().collect();
        params.push(cut(message, MAX_REASON_BYTES));
        out.extend(self.numeric(state, numeric, &params));
        // An owned nickname is 433 like a taken one; the notice says why.
        if code == ErrorCode::NickOwned {
            self.notice(state, message, out);
        }
    }
}

/// The longest reason a numeric carries: with the source, the numeric,
/// two nicknames and a channel it stays well within 512 bytes.
const MAX_REASON_BYTES: usize = 300;

/// Channels per `319` line: 8 of at most 33 bytes, well within 512.
const CHANNELS_PER_LINE: usize = 8;

/// `message` as one line (without its CRLF) that fits 512 bytes with its
/// CRLF, tags aside: written once, and only if that came out too long (a
/// topic or an away message of many wide characters) written again with
/// its last parameter cut on a character boundary. Messages are split
/// before this (`split_text`), so only words that are better cut than sent
/// whole in several lines are cut.
fn fitting_line(message: &Message) -> Result<String, SerializeError> {
    let line = written(message)?;
    let excess = body(&line).len().saturating_sub(MAX_BODY_LEN);
    if excess == 0 {
        return Ok(line);
    }
    let mut cut_message = message.clone();
    if let Some(last) = cut_message.params.last_mut() {
        let keep = last.len().saturating_sub(excess);
        *last = cut(last, keep).to_owned();
    }
    written(&cut_message)
}

/// `message` written as servers write it: free text after ` :` whatever
/// it holds; names and modes with a `:` only when they must have one.
fn written(message: &Message) -> Result<String, SerializeError> {
    match message.command.as_str() {
        "JOIN" | "PART" | "NICK" | "MODE" | "BATCH" | "AUTHENTICATE" => message.to_line(),
        _ => message.to_text_line(),
    }
}

/// A line without its tags: what must fit in [`MAX_BODY_LEN`].
fn body(line: &str) -> &str {
    match line.strip_prefix('@') {
        Some(tagged) => tagged.split_once(' ').map_or("", |(_, body)| body),
        None => line,
    }
}

/// `text`, cut to at most `max` bytes on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// How a server message reached the dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Told {
    /// As a reply to this client (history included).
    AsReply,
    /// As an event published to a room or a person.
    AsEvent,
}

/// What a message's lines are made of.
struct Said<'a> {
    id: u64,
    ts: u64,
    from: &'a str,
    /// The channel, or the nickname for a direct message.
    target: &'a str,
    text: &'a str,
    action: bool,
    /// A notice, which IRC clients never answer by themselves.
    notice: bool,
    /// The batch it belongs to, if any.
    batch: Option<String>,
}

/// A leave's reason as IRC servers word a `QUIT`: the client's own words
/// as `Quit: words` (lanchat says `quit: words`), anything else (`connection
/// lost`) as it is.
fn quit_reason(reason: &str) -> String {
    match reason.strip_prefix("quit") {
        Some(words) if words.is_empty() || words.starts_with(": ") => format!("Quit{words}"),
        _ => reason.to_owned(),
    }
}

/// How someone appears as a source: `nick!nick@lanchat` (no address is
/// shown to others).
fn prefix(irc_nick: &str) -> String {
    format!("{irc_nick}!{irc_nick}@lanchat")
}

/// Who put someone out, if `reason` says they were (`kicked by alice`,
/// `banned by alice: spam`): the source of the `KICK`, as IRC clients
/// show it ("alice has kicked bob").
fn put_out_by(reason: &str) -> Option<&str> {
    let by = reason
        .strip_prefix("kicked by ")
        .or_else(|| reason.strip_prefix("banned by "))?;
    by.split(':').next().filter(|by| !by.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quit_reasons_are_worded_as_irc_servers_word_them() {
        assert_eq!(quit_reason("quit"), "Quit");
        assert_eq!(quit_reason("quit: bye now"), "Quit: bye now");
        assert_eq!(quit_reason("connection lost"), "connection lost");
        assert_eq!(quit_reason("quitting time"), "quitting time");
    }

    #[test]
    fn a_line_too_long_for_512_bytes_is_cut_on_a_character() {
        let long = Message::new("332")
            .with_source("lanchat.lan")
            .with_param("carol")
            .with_param("#dev")
            .with_param(&"日".repeat(300));
        let line = fitting_line(&long).expect("written");
        assert!(body(&line).len() <= MAX_BODY_LEN, "{} bytes", line.len());
        let (_, text) = line.split_once(" :").expect("the topic");
        assert!(
            !text.is_empty() && text.chars().all(|c| c == '日'),
            "{line}"
        );
        let short = Message::new("332").with_param("fits");
        assert_eq!(fitting_line(&short), written(&short));
        let tagged = Message::new("PRIVMSG")
            .with_tag("time", Some("x"))
            .with_param("#a")
            .with_param("hi");
        assert_eq!(body(&written(&tagged).expect("written")), "PRIVMSG #a :hi");
    }
}
