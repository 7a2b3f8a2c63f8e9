//! The client's state and the one function that changes it.
//!
//! [`App::update`] takes an [`Event`] and the moment it happened ([`Now`],
//! read from the clocks by the run loop) and returns [`Effect`]s for the run
//! loop to carry out (send, ring the bell, quit). It never touches the
//! terminal, the network or a clock, so every behaviour here is tested
//! without them. `App`'s fields are private, so nothing else can change it;
//! drawing reads `&App` through its accessors.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Local};
use lanchat_shared::clock::clock_time;
use lanchat_shared::command::{self, Command, CommandSpec, Scope};
use lanchat_shared::limits::MAX_TEXT_CHARS;
use lanchat_shared::{
    ClientMsg, DEFAULT_RATE, ErrorCode, Nick, RoomName, ServerMsg, TokenBucket, sanitize_text,
};
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;
use tokio::time::Instant;

use crate::buffers::{BufferName, Buffers, Direction};
use crate::event::{Event, NetEvent};
use crate::input::{Edit, Input};
use crate::layout::areas;
use crate::scrollback::{Entry, EntryKind, Scrollback};

/// Rows moved by one turn of the mouse wheel.
const WHEEL_ROWS: usize = 3;
/// Message ids remembered to drop a line shown twice (a replay overlapping
/// what was already on screen, or the answer to a resend).
const SEEN_IDS: usize = 200_000;

/// The keys part of `/help`, written by hand: keys are not commands, so
/// the shared table does not know them.
const KEYS_HELP: &str = "Keys: Enter send · Up/Down history · Tab complete a nickname · \
PageUp/PageDown scroll half a page · Shift-Up/Down scroll a line · mouse wheel scrolls · \
Ctrl-End (or End on an empty line) back to live · Alt-1..9 show buffer 1-9 · \
Ctrl-N/Ctrl-P next/previous buffer · F2 user list · Ctrl-A/E start/end · \
Ctrl-W/U/K delete word/to start/to end · Ctrl-Left/Right move by word · \
Ctrl-C clear the line, or quit on an empty one · Ctrl-D quit on an empty line";

/// What the run loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a message to the server.
    Send(ClientMsg),
    /// Try this nickname (after the server refused the last one).
    Hello(String),
    /// Ring the terminal bell.
    Bell,
    /// Leave: restore the terminal and exit.
    Quit,
}

/// The state of the connection, as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Dialling; `attempt` counts tries since the last success.
    Connecting {
        /// Tries so far.
        attempt: u32,
    },
    /// In the room.
    Online,
    /// Lost; the next try is at `retry_at`.
    Offline {
        /// When the connection task dials again.
        retry_at: Instant,
    },
}

/// A question the input line is asking instead of taking a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// The server refused the nickname: the next line is a new one.
    ChooseNick,
    /// A multi-line paste: send these lines as separate messages?
    ConfirmPaste(Vec<String>),
}

/// When an event is handled. The run loop reads both clocks and passes
/// them in; `update` never reads a clock, so what it does depends on its
/// arguments alone and a test can choose the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// The monotonic clock, for pacing, timers and the reconnect countdown.
    pub instant: Instant,
    /// The wall clock in local time, for the `HH:MM` on the client's own
    /// notices.
    pub wall: DateTime<Local>,
}

/// What the client is told when it starts, from the command line; none of
/// it changes by itself afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppOptions {
    /// `host:port` of the server, shown in the status bar.
    pub server: String,
    /// The nickname to ask for first.
    pub nick: String,
    /// Whether a mention rings the terminal bell (`--no-bell` turns it
    /// off, for people who find bells rude).
    pub bell_on_mention: bool,
}

/// Everything the client knows. The fields are private: only
/// [`App::update`] changes them, and drawing reads them through the
/// accessors below.
#[derive(Debug)]
pub struct App {
    /// `host:port` of the server, so the status bar says where we are.
    server: String,
    /// The nickname in use once joined, or the one asked for before: the
    /// input line shows it, and mentions and our own echoes are matched
    /// against it.
    nick: String,
    /// Online, dialling or waiting to retry: whether messages go out now or
    /// wait in the outbox, and what the status bar says.
    connection: Connection,
    /// Who is in the lobby, sorted ignoring case, for the user list, the
    /// head count and Tab completion.
    users: Vec<String>,
    /// The conversations (rooms and direct messages), each with its own
    /// scrollback and unread counts, and which one is shown.
    buffers: Buffers,
    /// The line being typed, with its cursor and history.
    input: Input,
    /// Whether the user list is shown (F2); it takes width from the
    /// scrollback, so scrolling needs to know.
    show_users: bool,
    /// Whether a mention rings the bell; set once, from [`AppOptions`].
    bell_on_mention: bool,
    /// A question the input line is asking instead of taking a message;
    /// while there is one, Enter (or y/n) answers it.
    prompt: Option<Prompt>,
    /// The terminal's columns and rows, so paging and the layout need not
    /// ask the terminal.
    size: (u16, u16),
    /// When the last update happened: drawing reads the instant (the
    /// reconnect countdown) so it depends on nothing but `&App`, and
    /// notices are stamped with its wall time.
    now: Now,
    /// Messages typed but not yet sent, oldest first: held while offline,
    /// or waiting for the pacing to allow them.
    outbox: VecDeque<Pending>,
    /// Messages sent whose echo has not come back yet, oldest first: after
    /// a drop they go out again, and a refusal names the first of them.
    unconfirmed: VecDeque<Pending>,
    /// The server's own bucket at its default rate, so we never outpace
    /// a default server and have a line refused. It runs on the standard
    /// library's instants; ours are tokio's, converted at the edge.
    send_bucket: TokenBucket,
    /// Ids of messages already shown, so a replay overlapping the screen
    /// or the echo of a resend is not shown twice.
    seen: HashSet<u64>,
    /// The same ids, oldest first, so `seen` forgets the oldest beyond
    /// `SEEN_IDS` and stays bounded.
    seen_order: VecDeque<u64>,
}

/// A message from the server, taken apart once so `on_message` reads its
/// parts by name.
struct Said {
    /// The server's id for it, to show it once.
    id: u64,
    /// When the server accepted it, in Unix milliseconds.
    ts: u64,
    /// Who said it, as the server stamped it.
    from: String,
    /// What was said.
    text: String,
    /// The room it was said in, if not a direct message.
    room: Option<String>,
    /// The recipient of a direct message.
    to: Option<String>,
    /// Whether it is a `/me` action.
    action: bool,
    /// Our own `client_id` coming back, if it is our message.
    client_id: Option<String>,
}

/// A message on its way: typed, maybe sent, not yet echoed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    /// What to say, as typed.
    text: String,
    /// Where to say it: the buffer it was typed in.
    target: BufferName,
    /// Unique per message, so a resend after a reconnect is stored once.
    client_id: String,
}

/// A line typed in the input, as the client understands it: read by the
/// shared parser in `ClientCommand::parse`, carried out by `App::dispatch`.
/// The server's commands, and words nobody knows, go to the server as
/// typed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ClientCommand {
    /// `over` alone, `/quit [reason]` or `/exit [reason]`: leave.
    Quit(Option<String>),
    /// `/help`: the keys and commands.
    Help,
    /// `/clear`: empty the buffer being shown.
    Clear,
    /// `/join ROOM`: open a room and show it.
    Join(RoomName),
    /// `/part [ROOM]`, `/leave [ROOM]` or `/close [ROOM]`: close a buffer,
    /// leaving the room; `None` means the one being shown.
    Part(Option<String>),
    /// `/query NICK`, or `/msg NICK` without text: show direct messages.
    Query(String),
    /// `/msg NICK TEXT` or `/query NICK TEXT`: show direct messages and
    /// send one.
    Msg {
        /// Whom to write to.
        nick: String,
        /// What to say.
        text: String,
    },
    /// A command typed wrong: the notice that says how to use it.
    Mistake(String),
    /// The server's commands (`/me`, `/nick`, `/who`, `/rooms`) and any
    /// unknown `/word`, which the server answers: sent as typed.
    Server(String),
    /// Text to say, `//text` included (the server takes off one slash).
    Say(String),
}

impl Now {
    /// Reads both clocks: the run loop's view of the present.
    pub fn read() -> Now {
        Now {
            instant: Instant::now(),
            wall: Local::now(),
        }
    }
}

impl App {
    /// A client about to connect, as `options` say, on a terminal of `size`
    /// columns and rows.
    pub fn new(options: AppOptions, size: (u16, u16), now: Now) -> App {
        let AppOptions {
            server,
            nick,
            bell_on_mention,
        } = options;
        App {
            server,
            nick,
            connection: Connection::Connecting { attempt: 1 },
            users: Vec::new(),
            buffers: Buffers::default(),
            input: Input::default(),
            show_users: false,
            bell_on_mention,
            prompt: None,
            size,
            now,
            outbox: VecDeque::new(),
            unconfirmed: VecDeque::new(),
            send_bucket: TokenBucket::new(DEFAULT_RATE, now.instant.into_std()),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
        }
    }

    /// `host:port` of the server.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The nickname in use, or the one asked for before joining.
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// The state of the connection.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Who is in the lobby, sorted ignoring case.
    pub fn users(&self) -> &[String] {
        &self.users
    }

    /// The conversations, and which one is shown.
    pub fn buffers(&self) -> &Buffers {
        &self.buffers
    }

    /// The line being typed.
    pub fn input(&self) -> &Input {
        &self.input
    }

    /// Whether the user list is shown.
    pub fn users_shown(&self) -> bool {
        self.show_users
    }

    /// The question the input line is asking, if any.
    pub fn prompt(&self) -> Option<&Prompt> {
        self.prompt.as_ref()
    }

    /// The terminal's size in columns and rows.
    pub fn size(&self) -> (u16, u16) {
        self.size
    }

    /// When the last update happened, on the monotonic clock.
    pub fn now(&self) -> Instant {
        self.now.instant
    }

    /// The conversation being shown.
    pub fn scrollback(&self) -> &Scrollback {
        &self.buffers.active().scrollback
    }

    fn scrollback_mut(&mut self) -> &mut Scrollback {
        &mut self.buffers.active_mut().scrollback
    }

    /// Messages typed but not sent yet.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// When the run loop should deliver a [`Event::Tick`]: the next paced
    /// send, or the next second of a reconnect countdown.
    pub fn next_tick(&self, now: Instant) -> Option<Instant> {
        match self.connection {
            Connection::Online if !self.outbox.is_empty() => self
                .send_bucket
                .next_token_at(now.into_std())
                .map(Instant::from_std),
            Connection::Offline { retry_at } if retry_at > now => {
                let left = retry_at - now;
                let fraction = left.as_nanos() % 1_000_000_000;
                Some(now + Duration::from_nanos(fraction as u64).max(Duration::from_millis(50)))
            }
            _ => None,
        }
    }

    /// Reacts to one event that happened at `now`. The only place state
    /// changes.
    pub fn update(&mut self, event: Event, now: Now) -> Vec<Effect> {
        self.now = now;
        let now = now.instant;
        let mut effects = Vec::new();
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                self.on_key(key, now, &mut effects)
            }
            Event::Key(_) => {}
            Event::Paste(text) => self.on_paste(text),
            Event::Mouse(mouse) => self.on_mouse(mouse),
            Event::Resize(columns, rows) => self.size = (columns, rows),
            Event::Net(news) => self.on_net(news, now, &mut effects),
            Event::Tick => self.flush_outbox(now, &mut effects),
            Event::Terminate => self.quit(None, &mut effects),
            Event::Notice(text) => self.notice(EntryKind::Info, sanitize_text(&text)),
        }
        effects
    }

    /// The scrollback pane's size in columns and rows.
    pub fn scrollback_size(&self) -> (usize, usize) {
        let screen = Rect::new(0, 0, self.size.0, self.size.1);
        let pane = areas(screen, self.show_users).scrollback;
        (usize::from(pane.width), usize::from(pane.height))
    }

    fn on_key(&mut self, key: KeyEvent, now: Instant, effects: &mut Vec<Effect>) {
        if let Some(Prompt::ConfirmPaste(_)) = &self.prompt {
            self.on_paste_answer(key, now, effects);
            return;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char('c') if ctrl => {
                if self.input.is_empty() {
                    self.quit(None, effects);
                } else {
                    self.input.clear();
                }
            }
            KeyCode::Char('d') if ctrl => {
                if self.input.is_empty() {
                    self.quit(None, effects);
                }
            }
            KeyCode::Char(digit @ '1'..='9') if alt => {
                let index = digit as usize - '1' as usize;
                self.buffers.show(index);
            }
            KeyCode::Char('n') if ctrl => self.buffers.cycle(Direction::Next),
            KeyCode::Char('p') if ctrl => self.buffers.cycle(Direction::Previous),
            KeyCode::Enter => self.submit(now, effects),
            KeyCode::Tab => self.input.complete(&self.users),
            KeyCode::F(2) => self.show_users = !self.show_users,
            _ => self.on_scroll_or_edit_key(key),
        }
    }

    /// Keys that move the view, then keys that edit the line.
    fn on_scroll_or_edit_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        let (width, height) = self.scrollback_size();
        let half_page = (height / 2).max(1);
        match key.code {
            KeyCode::PageUp => self.scrollback_mut().scroll_up(half_page, width, height),
            KeyCode::PageDown => self.scrollback_mut().scroll_down(half_page, width),
            KeyCode::Up if shift => self.scrollback_mut().scroll_up(1, width, height),
            KeyCode::Down if shift => self.scrollback_mut().scroll_down(1, width),
            KeyCode::End if ctrl => self.scrollback_mut().go_live(),
            KeyCode::End if self.input.is_empty() => self.scrollback_mut().go_live(),
            _ => {
                if let Some(edit) = edit_for(key) {
                    self.input.apply(edit);
                }
            }
        }
    }

    fn on_mouse(&mut self, mouse: MouseEvent) {
        let (width, height) = self.scrollback_size();
        match mouse.kind {
            MouseEventKind::ScrollUp => self.scrollback_mut().scroll_up(WHEEL_ROWS, width, height),
            MouseEventKind::ScrollDown => self.scrollback_mut().scroll_down(WHEEL_ROWS, width),
            _ => {}
        }
    }

    /// A paste of one line goes into the input; several lines ask first.
    fn on_paste(&mut self, text: String) {
        let lines: Vec<String> = text
            .lines()
            .map(str::trim_end)
            .filter(|line| !line.trim().is_empty())
            .map(str::to_owned)
            .collect();
        match lines.len() {
            0 => {}
            1 => self.input.apply(Edit::Insert(lines.concat())),
            _ => self.prompt = Some(Prompt::ConfirmPaste(lines)),
        }
    }

    fn on_paste_answer(&mut self, key: KeyEvent, now: Instant, effects: &mut Vec<Effect>) {
        let Some(Prompt::ConfirmPaste(lines)) = self.prompt.take() else {
            return;
        };
        match key.code {
            KeyCode::Enter | KeyCode::Char('y' | 'Y') => {
                let target = self.buffers.active().name.clone();
                for line in lines {
                    self.send_text(line, target.clone(), now, effects);
                }
            }
            KeyCode::Esc | KeyCode::Char('n' | 'N') => {
                // Keep the text: joined into the input line, to edit or send.
                self.input.apply(Edit::Insert(lines.join(" ")));
            }
            _ => self.prompt = Some(Prompt::ConfirmPaste(lines)),
        }
    }

    /// Enter: answers the nickname prompt, or acts on the typed line.
    fn submit(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        if self.prompt == Some(Prompt::ChooseNick) {
            return self.submit_nick(effects);
        }
        if let Some(line) = self.take_line() {
            self.dispatch(ClientCommand::parse(line), now, effects);
        }
    }

    /// The line is a new nickname: tried if valid, explained if not.
    fn submit_nick(&mut self, effects: &mut Vec<Effect>) {
        let wanted = self.input.text().trim().to_owned();
        match Nick::parse(&wanted) {
            Ok(_) => {
                self.input.clear();
                self.nick = wanted.clone();
                effects.push(Effect::Hello(wanted));
            }
            Err(error) => self.notice(EntryKind::Error, format!("{error}. Try another nickname.")),
        }
    }

    /// Takes the typed line out of the input, unless it is blank or too
    /// long; a line too long stays, to be shortened, with a notice why.
    fn take_line(&mut self) -> Option<String> {
        let line = self.input.text();
        if line.trim().is_empty() {
            return None;
        }
        let length = sanitize_text(line).chars().count();
        if length > MAX_TEXT_CHARS {
            let message =
                format!("That is {length} characters; messages are limited to {MAX_TEXT_CHARS}.");
            self.notice(EntryKind::Error, message);
            return None;
        }
        Some(self.input.take_line())
    }

    /// Carries out what the user typed, in the buffer being shown.
    fn dispatch(&mut self, command: ClientCommand, now: Instant, effects: &mut Vec<Effect>) {
        let here = self.buffers.active().name.clone();
        match command {
            ClientCommand::Quit(reason) => self.quit(reason, effects),
            ClientCommand::Help => self.notice(EntryKind::Info, help_text()),
            ClientCommand::Clear => self.scrollback_mut().clear(),
            ClientCommand::Join(room) => {
                self.show_buffer(BufferName::Room(room.to_string()));
                let room = room.to_string();
                self.send_command(ClientMsg::JoinRoom { room }, effects);
            }
            ClientCommand::Part(room) => self.part(room.map_or(here, BufferName::Room), effects),
            ClientCommand::Query(nick) => self.show_buffer(BufferName::Direct(nick)),
            ClientCommand::Msg { nick, text } => {
                let target = BufferName::Direct(nick);
                self.show_buffer(target.clone());
                self.send_text(text, target, now, effects);
            }
            ClientCommand::Mistake(explanation) => self.notice(EntryKind::Error, explanation),
            ClientCommand::Server(line) => {
                // The server's commands (/me, /nick, /who, /rooms, …) apply
                // to the buffer they are typed in.
                let (room, to) = route(&here);
                let msg = ClientMsg::Say {
                    text: line,
                    room,
                    to,
                    client_id: None,
                };
                self.send_command(msg, effects);
            }
            ClientCommand::Say(line) => self.say(line, here, now, effects),
        }
    }

    /// Opens the buffer for `name` if needed, and shows it.
    fn show_buffer(&mut self, name: BufferName) {
        let index = self.buffers.open(name);
        self.buffers.show(index);
    }

    /// Closes a buffer; a room is left on the server too.
    fn part(&mut self, target: BufferName, effects: &mut Vec<Effect>) {
        if let BufferName::Room(room) = &target {
            self.send_command(ClientMsg::PartRoom { room: room.clone() }, effects);
        }
        self.buffers.close(&target);
    }

    /// Plain text typed in buffer `here`: said there, and the view jumps
    /// back to the newest line to show it.
    fn say(&mut self, line: String, here: BufferName, now: Instant, effects: &mut Vec<Effect>) {
        self.scrollback_mut().clear_marker();
        self.scrollback_mut().go_live();
        self.send_text(line, here, now, effects);
    }

    /// Sends a command now, or says why it cannot go.
    fn send_command(&mut self, msg: ClientMsg, effects: &mut Vec<Effect>) {
        if self.connection == Connection::Online {
            effects.push(Effect::Send(msg));
        } else {
            self.notice(
                EntryKind::Error,
                "Not connected; commands need the server.".to_owned(),
            );
        }
    }

    /// Queues a message and sends what the pacing allows.
    fn send_text(
        &mut self,
        text: String,
        target: BufferName,
        now: Instant,
        effects: &mut Vec<Effect>,
    ) {
        let client_id = new_client_id();
        self.outbox.push_back(Pending {
            text,
            target,
            client_id,
        });
        if self.connection != Connection::Online {
            let waiting = self.outbox.len();
            self.notice(
                EntryKind::Info,
                format!(
                    "Not connected: {waiting} message(s) will be sent when the connection is back."
                ),
            );
        }
        self.flush_outbox(now, effects);
    }

    fn flush_outbox(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        if self.connection != Connection::Online {
            return;
        }
        // A token is taken only for a message that is waiting.
        while !self.outbox.is_empty() && self.send_bucket.try_take(now.into_std()) {
            let Some(pending) = self.outbox.pop_front() else {
                break;
            };
            let (room, to) = route(&pending.target);
            let msg = ClientMsg::Say {
                text: pending.text.clone(),
                room,
                to,
                client_id: Some(pending.client_id.clone()),
            };
            self.unconfirmed.push_back(pending);
            effects.push(Effect::Send(msg));
        }
    }

    fn quit(&mut self, reason: Option<String>, effects: &mut Vec<Effect>) {
        if self.connection == Connection::Online {
            effects.push(Effect::Send(ClientMsg::Quit { reason }));
        }
        effects.push(Effect::Quit);
    }

    fn on_net(&mut self, news: NetEvent, now: Instant, effects: &mut Vec<Effect>) {
        match news {
            NetEvent::Connecting { attempt } => {
                self.connection = Connection::Connecting { attempt }
            }
            NetEvent::Connected {
                nick,
                users,
                rooms,
                gap,
            } => {
                self.on_connected(&nick, &users, &rooms);
                if gap {
                    self.notice(
                        EntryKind::Error,
                        "Some messages from while you were away are no longer stored.".to_owned(),
                    );
                }
                self.flush_outbox(now, effects);
            }
            NetEvent::NickRejected { message } => self.on_nick_rejected(&message),
            NetEvent::Server(msg) => self.on_server(msg, effects),
            NetEvent::Disconnected { reason, retry_in } => {
                self.on_disconnected(&reason, retry_in, now)
            }
        }
    }

    /// Welcomed: online under the nickname granted, with the users and
    /// rooms the server lists.
    fn on_connected(&mut self, nick: &str, users: &[String], rooms: &[String]) {
        self.connection = Connection::Online;
        self.prompt = self.prompt.take().filter(|p| *p != Prompt::ChooseNick);
        self.nick = clean_nick(nick);
        self.users = users.iter().map(|u| clean_nick(u)).collect();
        sort_users(&mut self.users);
        for room in rooms.iter().filter_map(|r| RoomName::parse(r).ok()) {
            self.buffers.open(BufferName::Room(room.to_string()));
        }
        let here = self.users.join(", ");
        let text = format!(
            "Connected to {} as {}. Here now ({}): {here}",
            self.server,
            self.nick,
            self.users.len()
        );
        self.notice(EntryKind::Presence, text);
    }

    /// The server refused the nickname: the input line asks for another.
    fn on_nick_rejected(&mut self, message: &str) {
        self.prompt = Some(Prompt::ChooseNick);
        let text = format!(
            "{} Type another nickname and press Enter.",
            sanitize_text(message)
        );
        self.notice(EntryKind::Error, text);
    }

    /// The connection is gone; the connection task retries after
    /// `retry_in`.
    fn on_disconnected(&mut self, reason: &str, retry_in: Duration, now: Instant) {
        self.connection = Connection::Offline {
            retry_at: now + retry_in,
        };
        let seconds = retry_in.as_secs_f64().ceil();
        let text = format!(
            "Disconnected: {}. Reconnecting in {seconds} s.",
            sanitize_text(reason)
        );
        self.notice(EntryKind::Presence, text);
        // Sent but not echoed: the server may or may not have them. They go
        // out again, first, with the same client ids, so the server stores
        // each once whichever is the case.
        let resend = std::mem::take(&mut self.unconfirmed);
        if !resend.is_empty() {
            let count = resend.len();
            self.notice(
                EntryKind::Info,
                format!("{count} message(s) not yet confirmed will be sent again (never twice)."),
            );
        }
        for pending in resend.into_iter().rev() {
            self.outbox.push_front(pending);
        }
    }

    fn on_server(&mut self, msg: ServerMsg, effects: &mut Vec<Effect>) {
        match msg {
            ServerMsg::Message {
                id,
                ts,
                from,
                text,
                room,
                to,
                action,
                client_id,
            } => {
                let said = Said {
                    id,
                    ts,
                    from,
                    text,
                    room,
                    to,
                    action: action == Some(true),
                    client_id,
                };
                self.on_message(said, effects)
            }
            ServerMsg::Join { nick, room } => self.on_join(&nick, room.as_deref()),
            ServerMsg::Leave { nick, reason, room } => {
                self.on_leave(&nick, &reason, room.as_deref())
            }
            ServerMsg::Nick { old, new } => self.on_nick(&old, &new),
            ServerMsg::Info { text } | ServerMsg::Whois { text, .. } => self.on_info(&text),
            ServerMsg::Error { code, message } => self.on_error(code, &message),
            ServerMsg::HistoryEnd {}
            | ServerMsg::Greeting { .. }
            | ServerMsg::Welcome { .. }
            | ServerMsg::Pong {}
            | ServerMsg::Unknown => {}
        }
    }

    /// Something somebody said (maybe us): shown once, in its buffer,
    /// ringing the bell if it mentions us.
    fn on_message(&mut self, said: Said, effects: &mut Vec<Effect>) {
        let from = clean_nick(&said.from);
        let own = from.eq_ignore_ascii_case(&self.nick);
        if own {
            self.confirm(said.client_id.as_deref());
        }
        if !self.first_sight(said.id) {
            return;
        }
        let text = sanitize_text(&said.text);
        let mention = !own && mentions(&text, &self.nick);
        if mention && self.bell_on_mention {
            effects.push(Effect::Bell);
        }
        let buffer = match (said.to, said.room) {
            (Some(to), _) => BufferName::Direct(if own { clean_nick(&to) } else { from.clone() }),
            (None, Some(room)) => BufferName::Room(clean_nick(&room)),
            (None, None) => BufferName::lobby(),
        };
        let (kind, text) = if said.action {
            (EntryKind::Presence, format!("{from} {text}"))
        } else {
            (EntryKind::Chat { from, own, mention }, text)
        };
        let index = self.buffers.open(buffer);
        let entry = Entry {
            time: clock_time(said.ts),
            kind,
            text,
        };
        self.buffers.push(index, entry, mention);
    }

    /// Our own message came back: it is no longer in flight.
    fn confirm(&mut self, client_id: Option<&str>) {
        match client_id {
            Some(client_id) => {
                self.unconfirmed.retain(|p| p.client_id != client_id);
                self.outbox.retain(|p| p.client_id != client_id);
            }
            // A server that does not echo client ids answers in order: the
            // oldest message in flight is this one.
            None => {
                self.unconfirmed.pop_front();
            }
        }
    }

    /// Somebody arrived in a room (`None`: the lobby, whose people we list).
    fn on_join(&mut self, nick: &str, room: Option<&str>) {
        let nick = clean_nick(nick);
        let room = room_buffer(room);
        if room == BufferName::lobby() && !self.users.iter().any(|u| u.eq_ignore_ascii_case(&nick))
        {
            self.users.push(nick.clone());
            sort_users(&mut self.users);
        }
        self.notice_in(room, EntryKind::Presence, format!("{nick} joined"));
    }

    /// Somebody left a room (`None`: the lobby).
    fn on_leave(&mut self, nick: &str, reason: &str, room: Option<&str>) {
        let nick = clean_nick(nick);
        let room = room_buffer(room);
        if room == BufferName::lobby() {
            self.users.retain(|u| !u.eq_ignore_ascii_case(&nick));
        }
        let text = format!("{nick} left ({})", sanitize_text(reason));
        self.notice_in(room, EntryKind::Presence, text);
    }

    /// Somebody changed nickname, maybe us.
    fn on_nick(&mut self, old: &str, new: &str) {
        let (old, new) = (clean_nick(old), clean_nick(new));
        for user in &mut self.users {
            if user.eq_ignore_ascii_case(&old) {
                user.clone_from(&new);
            }
        }
        sort_users(&mut self.users);
        if self.nick.eq_ignore_ascii_case(&old) {
            self.nick.clone_from(&new);
        }
        self.notice(EntryKind::Presence, format!("{old} is now known as {new}"));
    }

    /// Words for us alone (command replies): one notice per line.
    fn on_info(&mut self, text: &str) {
        for line in text.lines() {
            self.notice(EntryKind::Info, sanitize_text(line));
        }
    }

    /// A refusal. One that refuses a text names the text, so nothing is
    /// lost without the user knowing.
    fn on_error(&mut self, code: ErrorCode, message: &str) {
        let refused_text = matches!(code, ErrorCode::RateLimited | ErrorCode::TextTooLong);
        let mut text = sanitize_text(message);
        if refused_text && let Some(unsent) = self.unconfirmed.pop_front() {
            text = format!("{text} Not sent: {}", unsent.text);
        }
        self.notice(EntryKind::Error, text);
    }

    /// Records a message id; false if it was shown already.
    fn first_sight(&mut self, id: u64) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.seen_order.push_back(id);
        if self.seen_order.len() > SEEN_IDS
            && let Some(oldest) = self.seen_order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        true
    }

    /// Adds a line of our own (or a server notice) to the buffer being
    /// shown, one entry per line of `text`.
    fn notice(&mut self, kind: EntryKind, text: String) {
        let here = self.buffers.active_index();
        self.push_lines(here, kind, text);
    }

    /// Adds lines to the buffer for `name` (opening it if needed).
    fn notice_in(&mut self, name: BufferName, kind: EntryKind, text: String) {
        let index = self.buffers.open(name);
        self.push_lines(index, kind, text);
    }

    fn push_lines(&mut self, index: usize, kind: EntryKind, text: String) {
        let time = self.now.wall.format("%H:%M").to_string();
        for line in text.lines() {
            self.buffers.push(
                index,
                Entry {
                    time: time.clone(),
                    kind: kind.clone(),
                    text: line.to_owned(),
                },
                false,
            );
        }
    }
}

impl ClientCommand {
    /// What `line` asks for, read by the shared parser, so the client and
    /// the server agree on every command word, alias and argument.
    fn parse(line: String) -> ClientCommand {
        // A command still counts after a stray space: a ` /msg bob …`
        // must never go to the room as text. Text keeps its spaces.
        let typed = line.trim_start();
        match command::parse(typed) {
            Command::Quit(reason) => ClientCommand::Quit(reason.map(str::to_owned)),
            Command::Help => ClientCommand::Help,
            Command::Clear => ClientCommand::Clear,
            Command::Join(room) => match RoomName::parse(room) {
                Ok(room) => ClientCommand::Join(room),
                Err(error) => ClientCommand::Mistake(format!("{error}.")),
            },
            Command::Part(room) | Command::Close(room) => {
                ClientCommand::Part(room.map(|room| room.trim_start_matches('#').to_owned()))
            }
            Command::Msg { to, text } => ClientCommand::direct("msg", to, Some(text)),
            Command::Query { to, text } => ClientCommand::direct("query", to, text),
            // `/msg NICK` without text opens the conversation, as `/query`
            // does, rather than only saying how to use it.
            Command::Usage(spec) if spec.name == "msg" => {
                match line.split_whitespace().collect::<Vec<_>>()[..] {
                    [_, nick] => ClientCommand::direct("msg", nick, None),
                    _ => ClientCommand::usage(spec),
                }
            }
            Command::Usage(spec) => ClientCommand::usage(spec),
            // The server's own commands, and words it will call unknown,
            // go as typed; they apply to the buffer they are typed in.
            Command::Who
            | Command::Rooms
            | Command::Me(_)
            | Command::Nick(_)
            | Command::Release(_)
            | Command::Whois(_)
            | Command::Unknown(_) => ClientCommand::Server(typed.to_owned()),
            // As typed: the server takes one slash off `//text` itself.
            Command::Text(_) => ClientCommand::Say(line),
        }
    }

    /// `/msg` or `/query` (`name`) to `nick`: the conversation with `nick`,
    /// and `text` said there if there is any.
    fn direct(name: &str, nick: &str, text: Option<&str>) -> ClientCommand {
        if Nick::parse(nick).is_err() {
            return ClientCommand::usage_of(name);
        }
        match text {
            Some(text) => ClientCommand::Msg {
                nick: nick.to_owned(),
                text: text.to_owned(),
            },
            None => ClientCommand::Query(nick.to_owned()),
        }
    }

    /// How to use a command typed wrongly, from the shared table.
    fn usage(spec: &CommandSpec) -> ClientCommand {
        ClientCommand::Mistake(format!("Usage: {}", spec.usage()))
    }

    /// How to use the command called `name`.
    fn usage_of(name: &str) -> ClientCommand {
        match command::find(name) {
            Some(spec) => ClientCommand::usage(spec),
            // Only names from the table are asked for, so this is not
            // reached; it still says something true if it ever is.
            None => ClientCommand::Mistake(format!("/{name} is not a command.")),
        }
    }
}

/// The `/help` text: the keys, then every command in the shared table (the
/// client's own and the server's), one per line, so a command added to
/// the table is listed here too.
pub fn help_text() -> String {
    let mut text = format!("{KEYS_HELP}\nCommands:");
    for line in command::help_lines(Scope::Client) {
        text.push('\n');
        text.push_str(&line);
    }
    text
}

/// What a key does to the input line, if anything.
fn edit_for(key: KeyEvent) -> Option<Edit> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let edit = match key.code {
        KeyCode::Char('a') if ctrl => Edit::Home,
        KeyCode::Char('e') if ctrl => Edit::End,
        KeyCode::Char('w') if ctrl => Edit::DeleteWordBack,
        KeyCode::Char('u') if ctrl => Edit::DeleteToStart,
        KeyCode::Char('k') if ctrl => Edit::DeleteToEnd,
        KeyCode::Left if ctrl => Edit::WordLeft,
        KeyCode::Right if ctrl => Edit::WordRight,
        KeyCode::Char(c) if !ctrl && !alt => Edit::Insert(c.to_string()),
        KeyCode::Backspace => Edit::DeleteBack,
        KeyCode::Delete => Edit::DeleteForward,
        KeyCode::Left => Edit::Left,
        KeyCode::Right => Edit::Right,
        KeyCode::Home => Edit::Home,
        KeyCode::End => Edit::End,
        KeyCode::Up => Edit::HistoryBack,
        KeyCode::Down => Edit::HistoryForward,
        _ => return None,
    };
    Some(edit)
}

/// Where a message for `buffer` goes: a room, or a person.
fn route(buffer: &BufferName) -> (Option<String>, Option<String>) {
    match buffer {
        BufferName::Room(room) => (Some(room.clone()), None),
        BufferName::Direct(nick) => (None, Some(nick.clone())),
    }
}

/// A client id: 128 random bits as hex, new for every message, so an id
/// the server still remembers from an earlier run is never reused, and
/// the ids say nothing about how many messages were sent between them.
fn new_client_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// A nickname from the network, made safe to print even if a broken server
/// sent something a real one never would.
fn clean_nick(nick: &str) -> String {
    sanitize_text(nick)
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(32)
        .collect()
}

/// The buffer of a room named by the network (`None`: the lobby).
fn room_buffer(room: Option<&str>) -> BufferName {
    room.map_or_else(BufferName::lobby, |r| BufferName::Room(clean_nick(r)))
}

fn sort_users(users: &mut [String]) {
    users.sort_by_key(|u| u.to_ascii_lowercase());
}

/// True if `text` contains `nick` as a whole word, ignoring case.
pub fn mentions(text: &str, nick: &str) -> bool {
    if nick.is_empty() {
        return false;
    }
    let text = text.to_lowercase();
    let nick = nick.to_lowercase();
    let is_word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-');
    text.match_indices(&nick).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + nick.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[cfg(test)]
mod tests;
