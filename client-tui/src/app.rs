//! The client's state and the one function that changes it.
//!
//! [`App::update`] takes an [`Event`] and the moment it happened ([`Now`],
//! read from the clocks by the run loop) and returns [`Effect`]s for the run
//! loop to carry out (send, ring the bell, quit). It never touches the
//! terminal, the network or a clock, so every behaviour here is tested
//! without them. `App`'s fields are private, so nothing else can change it;
//! drawing reads `&App` through its accessors.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Datelike, Local, NaiveDate, TimeZone, Timelike};
use lanchat_shared::clock::clock_time;
use lanchat_shared::command::{self, Command, CommandSpec, Scope};
use lanchat_shared::limits::MAX_TEXT_CHARS;
use lanchat_shared::room_name::LOBBY;
use lanchat_shared::{
    ClientMsg, DEFAULT_RATE, Nick, RoomName, ServerMsg, TokenBucket, sanitize_text,
};
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;
use tokio::time::Instant;

use crate::buffers::{Activity, Arrival, BufferName, Buffers, Direction, Older};
use crate::dial::Protection;
use crate::event::{Event, Focus, NetEvent, Stop};
use crate::input::{Edit, Input};
use crate::layout::areas;
use crate::people::People;
use crate::scrollback::{Entry, EntryKind, Scrollback};

/// Rows moved by one turn of the mouse wheel.
const WHEEL_ROWS: usize = 3;
/// How long a sent message may wait for its echo before the status bar
/// says the server is not answering: a live server echoes within
/// milliseconds, and the connection task only gives up after 45 s.
pub const NOT_ANSWERING_AFTER: Duration = Duration::from_secs(5);
/// Characters of a message a desktop notification shows: a preview, not
/// the message.
const NOTIFICATION_CHARS: usize = 200;
/// How long after a server shut down the client keeps dialling it: a
/// server restarted on purpose is back well within this; one that is not
/// was most likely a room hosted in someone's client, which left with its
/// host.
pub const ROOM_GONE_AFTER: Duration = Duration::from_secs(60);
/// Month names as a date on a message shows them (`Jun 2 09:15`).
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// How the server begins the notice it sends everyone when it shuts down.
const SHUTDOWN_NOTICE: &str = "The server is shutting down";
/// Most lines `/lastlog` lists: a search for "the" in a long scrollback
/// must not bury the conversation.
const LASTLOG_LINES: usize = 50;
/// Message ids remembered to drop a line shown twice (a replay overlapping
/// what was already on screen, or the answer to a resend).
const SEEN_IDS: usize = 200_000;

/// The keys part of `/help`, written by hand: keys are not commands, so
/// the shared table does not know them.
const KEYS_HELP: &str = "Keys: Enter send · Up/Down history · \
Tab complete a nickname, a command or a room · \
PageUp/PageDown scroll half a page (past the top: older history) · \
Shift-Up/Down scroll a line · mouse wheel scrolls · \
Ctrl-End (or End on an empty line) back to live · Alt-1..9 show buffer 1-9 · \
Alt-A next buffer with activity · Ctrl-N/Ctrl-P next/previous buffer · \
F2 people here · Ctrl-L redraw · Ctrl-Z suspend · Alt-M mouse on/off (to select text) · \
Ctrl-A/E start/end · \
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
    /// Ask for a desktop notification (a highlight while the terminal is
    /// in the background).
    Notify {
        /// Who or where it is from: `bob in #dev`, `bob`.
        title: String,
        /// The message, sanitised and shortened.
        body: String,
    },
    /// Clear the terminal and draw everything again (Ctrl-L).
    Redraw,
    /// Give the terminal back and stop, as a shell job does (Ctrl-Z);
    /// full screen again once continued.
    Suspend,
    /// Turn mouse capture on or off (Alt-M, `--no-mouse`).
    Mouse(Mouse),
    /// Stop dialling the server: the room is over.
    GiveUp,
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
    /// The server shut down and did not come back: the room is over (its
    /// host left) and the client no longer dials.
    Ended,
    /// The client stopped dialling because trying again cannot help: the
    /// server's key changed, or it refused us (wrong password, not
    /// allowed).
    Stopped(Stop),
}

/// Whether the client takes the mouse (wheel scrolling) or leaves it to
/// the terminal (selecting text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mouse {
    /// Reports go to the client: the wheel scrolls.
    Captured,
    /// The terminal keeps the mouse: text can be selected.
    Free,
}

/// A question the input line is asking instead of taking a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// The server refused the nickname: the next line is a new one.
    ChooseNick,
    /// A multi-line paste: send these lines as separate messages?
    ConfirmPaste(Vec<String>),
    /// Quitting a room hosted here ends it for the others: quit anyway
    /// (with this reason)?
    ConfirmQuit(Option<String>),
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
    /// The newest message id read in each buffer on this server in an
    /// earlier run (see [`crate::marks`]), so history read then does not
    /// count or ring now.
    pub read_marks: HashMap<String, u64>,
    /// Whether the mouse starts captured (`--no-mouse` leaves it free).
    pub mouse: Mouse,
    /// Words besides the nickname that count as mentions (the settings
    /// file's `highlights`).
    pub highlights: Vec<String>,
    /// Whether a highlight while the terminal is in the background asks
    /// for a desktop notification (`--no-notify` turns it off).
    pub notify: bool,
    /// Whether nicknames are drawn in colours (the settings file's
    /// `colours`).
    pub colours: bool,
    /// Whether this process hosts the room, so quitting ends it for
    /// everyone and is confirmed while others are there.
    pub hosting: bool,
    /// How the connection is protected (TLS with a verified key, or plain).
    pub protection: Protection,
    /// After this long without a key press, mark the user away (the
    /// settings file's `auto_away`); `None`: never.
    pub auto_away: Option<Duration>,
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
    /// Who is in each room, for the user list, the head count and Tab
    /// completion of the room shown.
    people: People,
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
    /// Commands waiting for the pacing to allow them, oldest first; dropped
    /// with the connection (a welcome rejoins what needs rejoining).
    commands: VecDeque<ClientMsg>,
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
    /// The "Connected" notice, held until the history replayed after the
    /// welcome has arrived, so it is printed below that older history.
    welcome_notice: Option<String>,
    /// Who has the mouse now; Alt-M changes it.
    mouse: Mouse,
    /// Whether a welcome ever came, so a failure to connect at start is
    /// not called a disconnection.
    ever_connected: bool,
    /// Words besides the nickname that make a message a mention.
    highlights: Vec<String>,
    /// Whether nicknames are coloured; set once, from [`AppOptions`].
    colours: bool,
    /// Whether highlights become desktop notifications while unfocused.
    notify: bool,
    /// Whether this process hosts the room; set once, from [`AppOptions`].
    hosting: bool,
    /// How the connection is protected; set once, from [`AppOptions`].
    protection: Protection,
    /// Whether the server said, in its last welcome, that our identity
    /// owns the nickname.
    owns_nick: bool,
    /// When to mark the user away by itself; set once, from [`AppOptions`].
    auto_away: Option<Duration>,
    /// The last key press or paste, for `auto_away`.
    last_input: Instant,
    /// Whether the client marked the user away by itself, so the next key
    /// marks them back (an away the user set stays until `/back`).
    away_by_itself: bool,
    /// The server's name from its greeting, once known.
    server_name: Option<String>,
    /// Where the server's shutdown stands: announced, and since when it
    /// has been gone, until a welcome clears it.
    shutdown: Shutdown,
    /// The page of older history asked for, while it arrives: its messages
    /// go before the buffer's first line instead of after its last.
    older_page: Option<OlderPage>,
    /// Whether the terminal has the focus, as it last reported; a
    /// terminal that never reports it counts as focused, so it never gets
    /// notifications it would not show.
    focus: Focus,
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

/// What the client knows of the server shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    /// Nothing: a drop is just a drop.
    None,
    /// The server said it is shutting down.
    Announced,
    /// It shut down and has been unreachable since this moment.
    GoneSince(Instant),
}

/// A page of older history on its way into a buffer.
#[derive(Debug)]
struct OlderPage {
    /// The buffer scrolled past its top.
    buffer: BufferName,
    /// The id the page ends before: messages below it belong to the page.
    before: u64,
    /// What came so far, oldest first, and the smallest id.
    entries: Vec<Entry>,
    oldest: Option<u64>,
}

impl Said {
    /// The buffer this message belongs in: its room, or the conversation
    /// with the other person of a direct message.
    fn buffer(&self, from: &str, own: bool) -> BufferName {
        match (&self.to, &self.room) {
            (Some(to), _) if own => BufferName::Direct(clean_nick(to)),
            (Some(_), _) => BufferName::Direct(from.to_owned()),
            (None, Some(room)) => BufferName::Room(clean_nick(room)),
            (None, None) => BufferName::lobby(),
        }
    }
}

/// A message on its way: typed, maybe sent, not yet echoed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    /// What to say, as typed.
    text: String,
    /// Where to say it: the buffer it was typed in.
    target: BufferName,
    /// Unique per message, so a resend after a reconnect is stored once,
    /// and a refusal names exactly this message.
    client_id: String,
    /// When it went to the server (`None` while in the outbox), so a
    /// server that does not answer is noticed within seconds.
    sent_at: Option<Instant>,
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
    /// `/info`: the server, its key, and the user's identity.
    Info,
    /// `/buffer N` or `/b N`: show buffer N, counted from 1 as the status
    /// bar numbers them.
    Buffer(usize),
    /// `/lastlog TEXT`: list the lines of the buffer shown containing TEXT.
    Lastlog(String),
    /// `/join ROOM`: open a room and show it.
    Join(RoomName, Option<String>),
    /// `/part [ROOM]`, `/leave [ROOM]` or `/close [ROOM]`: close a buffer,
    /// leaving the room; `None` means the one being shown.
    Part(Option<String>),
    /// `/query NICK [TEXT]`, or `/msg NICK` without text: show direct
    /// messages, and say `TEXT` there if given.
    Query(String, Option<String>),
    /// `/msg NICK TEXT`: send one direct message, staying where we are.
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
            read_marks,
            mouse,
            highlights,
            colours,
            notify,
            hosting,
            protection,
            auto_away,
        } = options;
        App {
            server,
            nick,
            connection: Connection::Connecting { attempt: 1 },
            people: People::default(),
            buffers: Buffers::with_read_marks(read_marks),
            input: Input::default(),
            show_users: false,
            bell_on_mention,
            prompt: None,
            size,
            now,
            outbox: VecDeque::new(),
            commands: VecDeque::new(),
            unconfirmed: VecDeque::new(),
            send_bucket: TokenBucket::new(DEFAULT_RATE, now.instant.into_std()),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            welcome_notice: None,
            mouse,
            ever_connected: false,
            highlights,
            colours,
            notify,
            focus: Focus::Gained,
            older_page: None,
            hosting,
            protection,
            owns_nick: false,
            auto_away,
            last_input: now.instant,
            away_by_itself: false,
            server_name: None,
            shutdown: Shutdown::None,
        }
    }

    /// `host:port` of the server.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The server's name, from its greeting, once known.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The nickname in use, or the one asked for before joining.
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// The state of the connection.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// `nick` as shown: `~nick` for a guest or a nickname nobody owns.
    pub fn shown_nick(&self, nick: &str) -> String {
        self.people.shown(nick)
    }

    /// Whether `nick` is away.
    pub fn is_away(&self, nick: &str) -> bool {
        self.people.away(nick).is_some()
    }

    /// Whether `nick` keeps order in the room shown (operator or admin).
    pub fn is_operator_here(&self, nick: &str) -> bool {
        match &self.buffers.active().name {
            BufferName::Room(room) => self.people.is_operator(room, nick),
            BufferName::Direct(_) => false,
        }
    }

    /// How the connection is protected.
    pub fn protection(&self) -> &Protection {
        &self.protection
    }

    /// Who is in the room shown, sorted ignoring case; in a direct
    /// conversation, the lobby: everyone who can be written to.
    pub fn users(&self) -> &[String] {
        match &self.buffers.active().name {
            BufferName::Room(room) => self.people.of(room),
            BufferName::Direct(_) => self.people.of(LOBBY),
        }
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

    /// Who has the mouse now.
    pub fn mouse(&self) -> Mouse {
        self.mouse
    }

    /// Whether nicknames are drawn in colours.
    pub fn colours(&self) -> bool {
        self.colours
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

    /// Messages typed whose echo has not come back: waiting to be sent,
    /// or sent and not confirmed.
    pub fn unsent_len(&self) -> usize {
        self.outbox.len() + self.unconfirmed.len()
    }

    /// The texts typed in the buffer being shown that the server has not
    /// echoed yet, oldest first: drawn as pending lines below the
    /// conversation.
    pub fn pending_here(&self) -> Vec<&str> {
        let here = &self.buffers.active().name;
        self.unconfirmed
            .iter()
            .chain(&self.outbox)
            .filter(|pending| pending.target.same(here))
            .map(|pending| pending.text.as_str())
            .collect()
    }

    /// Since when the server has not answered a message sent to it, once
    /// that is longer than [`NOT_ANSWERING_AFTER`].
    pub fn not_answering_since(&self) -> Option<Instant> {
        let sent = self.oldest_sent()?;
        (self.now.instant >= sent + NOT_ANSWERING_AFTER).then_some(sent)
    }

    fn oldest_sent(&self) -> Option<Instant> {
        self.unconfirmed.iter().filter_map(|p| p.sent_at).min()
    }

    /// When the run loop should deliver a [`Event::Tick`]: the next paced
    /// send, the next second of a reconnect countdown, or the moment an
    /// unanswered message makes the server count as not answering.
    pub fn next_tick(&self, now: Instant) -> Option<Instant> {
        let overdue = self
            .oldest_sent()
            .map(|sent| sent + NOT_ANSWERING_AFTER)
            .filter(|&due| due > now);
        let timers = [self.connection_tick(now), overdue, self.auto_away_due()];
        timers.into_iter().flatten().min()
    }

    fn connection_tick(&self, now: Instant) -> Option<Instant> {
        match self.connection {
            Connection::Online if !self.outbox.is_empty() || !self.commands.is_empty() => self
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
        if matches!(&event, Event::Key(key) if key.kind != KeyEventKind::Release)
            || matches!(event, Event::Paste(_))
        {
            self.on_input(now, &mut effects);
        }
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                self.on_key(key, now, &mut effects)
            }
            Event::Key(_) => {}
            Event::Paste(text) => self.on_paste(text),
            Event::Mouse(mouse) => self.on_mouse(mouse, &mut effects),
            Event::Resize(columns, rows) => self.size = (columns, rows),
            Event::Focus(focus) => self.focus = focus,
            Event::Net(news) => self.on_net(news, now, &mut effects),
            Event::Tick => self.flush_outbox(now, &mut effects),
            // A signal is not asked about: whoever sent it meant it.
            Event::Terminate => self.quit_now(None, &mut effects),
            Event::Notice(text) => self.notice(EntryKind::Info, sanitize_text(&text)),
        }
        self.go_away_if_idle(now, &mut effects);
        effects
    }

    /// The user is at the keyboard: back, if the client had marked them
    /// away by itself.
    fn on_input(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        self.last_input = now;
        if self.away_by_itself && self.connection == Connection::Online {
            self.away_by_itself = false;
            effects.push(Effect::Send(ClientMsg::Away { text: None }));
        }
    }

    /// When the user counts as idle, if the client is to mark them away
    /// and has not yet.
    fn auto_away_due(&self) -> Option<Instant> {
        let after = self.auto_away?;
        let waiting = self.connection == Connection::Online
            && !self.away_by_itself
            && !self.is_away(&self.nick);
        waiting.then(|| self.last_input + after)
    }

    /// Marks the user away once they have been idle for `auto_away`.
    fn go_away_if_idle(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        let (Some(due), Some(after)) = (self.auto_away_due(), self.auto_away) else {
            return;
        };
        if now >= due {
            self.away_by_itself = true;
            let minutes = after.as_secs() / 60;
            let text = format!("idle for {minutes} min");
            effects.push(Effect::Send(ClientMsg::Away { text: Some(text) }));
        }
    }

    /// The rooms this client has a buffer for, for Tab completion.
    fn rooms(&self) -> Vec<String> {
        let names = self.buffers.all().iter().map(|buffer| &buffer.name);
        names
            .filter_map(|name| match name {
                BufferName::Room(room) => Some(room.clone()),
                BufferName::Direct(_) => None,
            })
            .collect()
    }

    /// The scrollback pane's size in columns and rows.
    pub fn scrollback_size(&self) -> (usize, usize) {
        let screen = Rect::new(0, 0, self.size.0, self.size.1);
        let pane = areas(screen, self.show_users).scrollback;
        (usize::from(pane.width), usize::from(pane.height))
    }

    fn on_key(&mut self, key: KeyEvent, now: Instant, effects: &mut Vec<Effect>) {
        match &self.prompt {
            Some(Prompt::ConfirmPaste(_)) => return self.on_paste_answer(key, now, effects),
            Some(Prompt::ConfirmQuit(_)) => return self.on_quit_answer(key, effects),
            _ => {}
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
            KeyCode::Char('l') if ctrl => effects.push(Effect::Redraw),
            KeyCode::Char('z') if ctrl => effects.push(Effect::Suspend),
            KeyCode::Char('m') if alt => self.toggle_mouse(effects),
            KeyCode::Char('a') if alt => {
                if let Some(index) = self.buffers.next_active() {
                    self.buffers.show(index);
                }
            }
            KeyCode::Char('n') if ctrl => self.buffers.cycle(Direction::Next),
            KeyCode::Char('p') if ctrl => self.buffers.cycle(Direction::Previous),
            KeyCode::Enter => self.submit(now, effects),
            KeyCode::Tab => {
                let (command, rooms) = (self.input.first_word().to_owned(), self.rooms());
                let nicks = self.users().to_vec();
                self.input.complete(|word, at_start| {
                    completions(word, at_start, &command, &rooms, &nicks)
                });
            }
            KeyCode::F(2) => self.show_users = !self.show_users,
            _ => self.on_scroll_or_edit_key(key, effects),
        }
    }

    /// Alt-M: gives the mouse to the terminal (to select text) or takes
    /// it back (to scroll with the wheel), and says which.
    fn toggle_mouse(&mut self, effects: &mut Vec<Effect>) {
        let (mouse, text) = match self.mouse {
            Mouse::Captured => (
                Mouse::Free,
                "Mouse off: select text with it; Alt-M to scroll with it again.",
            ),
            Mouse::Free => (
                Mouse::Captured,
                "Mouse on: the wheel scrolls; Alt-M to select text instead.",
            ),
        };
        self.mouse = mouse;
        effects.push(Effect::Mouse(mouse));
        self.notice(EntryKind::Info, text.to_owned());
    }

    /// Scrolls the buffer shown up by `rows`; at its top, asks the server
    /// for the page of history before its oldest message (once at a time,
    /// and not again once the server has said there is no more).
    fn scroll_up(&mut self, rows: usize, effects: &mut Vec<Effect>) {
        let (width, height) = self.scrollback_size();
        self.scrollback_mut().scroll_up(rows, width, height);
        let buffer = self.buffers.active();
        let wanted = buffer.older == Older::Maybe && self.older_page.is_none();
        let (Some(before), true) = (buffer.oldest_id, wanted) else {
            return;
        };
        if !buffer.scrollback.at_top(width, height) || self.connection != Connection::Online {
            return;
        }
        let name = buffer.name.clone();
        let room = match &name {
            BufferName::Room(room) => Some(room.clone()),
            BufferName::Direct(_) => None,
        };
        self.buffers.active_mut().older = Older::Asked;
        self.older_page = Some(OlderPage {
            buffer: name,
            before,
            entries: Vec::new(),
            oldest: None,
        });
        self.send_command(ClientMsg::History { before, room }, effects);
    }

    /// Keys that move the view, then keys that edit the line.
    fn on_scroll_or_edit_key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        let (width, height) = self.scrollback_size();
        let half_page = (height / 2).max(1);
        match key.code {
            KeyCode::PageUp => self.scroll_up(half_page, effects),
            KeyCode::PageDown => self.scrollback_mut().scroll_down(half_page, width),
            KeyCode::Up if shift => self.scroll_up(1, effects),
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

    fn on_mouse(&mut self, mouse: MouseEvent, effects: &mut Vec<Effect>) {
        let (width, _) = self.scrollback_size();
        match mouse.kind {
            MouseEventKind::ScrollUp => self.scroll_up(WHEEL_ROWS, effects),
            MouseEventKind::ScrollDown => self.scrollback_mut().scroll_down(WHEEL_ROWS, width),
            _ => {}
        }
    }

    /// A paste of one line goes into the input; several lines ask first.
    /// Lines may end in CR alone, as tmux and many terminals paste them.
    fn on_paste(&mut self, text: String) {
        let lines: Vec<String> = text
            .split(['\r', '\n'])
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
            Err(error) => {
                // The refused text goes, so the next try starts afresh;
                // the notice still shows what was refused.
                self.input.clear();
                let text = format!("{wanted:?}: {error}. Type another nickname.");
                self.notice(EntryKind::Error, text);
            }
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
            ClientCommand::Info => {
                let text = about::info(self);
                self.notice(EntryKind::Info, text);
            }
            ClientCommand::Buffer(number) => self.show_numbered(number),
            ClientCommand::Lastlog(text) => self.lastlog(&text),
            ClientCommand::Join(room, key) => {
                self.show_buffer(BufferName::Room(room.to_string()));
                self.join_room_with(room.to_string(), key, effects);
            }
            ClientCommand::Part(room) => self.part(room.map_or(here, BufferName::Room), effects),
            ClientCommand::Query(nick, text) => {
                let target = BufferName::Direct(nick);
                self.show_buffer(target.clone());
                if let Some(text) = text {
                    self.send_text(text, target, now, effects);
                }
            }
            // The view stays where it is, so the next line (a `/me`, say)
            // goes where the user was talking, not privately to `nick`.
            ClientCommand::Msg { nick, text } => {
                let target = BufferName::Direct(nick);
                let index = self.buffers.open(target.clone());
                let label = target.label();
                let notice = format!("To {label} (buffer {}): {text}", index + 1);
                self.notice(EntryKind::Info, notice);
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
                    notice: None,
                };
                self.send_command(msg, effects);
            }
            ClientCommand::Say(line) => self.say(line, here, now, effects),
        }
    }

    /// `/buffer N`: shows buffer `number` (from 1), or says there is none.
    fn show_numbered(&mut self, number: usize) {
        let count = self.buffers.all().len();
        if number <= count {
            self.buffers.show(number - 1);
        } else {
            let text = format!("There is no buffer {number}; there are {count}.");
            self.notice(EntryKind::Error, text);
        }
    }

    /// `/lastlog TEXT`: the lines of the buffer shown that contain `text`
    /// (ignoring case), newest last, at most [`LASTLOG_LINES`] of them.
    fn lastlog(&mut self, text: &str) {
        let wanted = text.to_lowercase();
        let found: Vec<String> = self
            .scrollback()
            .entries()
            .filter(|entry| entry.text.to_lowercase().contains(&wanted))
            .map(|entry| format!("{}{}", entry.prefix(), entry.text))
            .collect();
        let skipped = found.len().saturating_sub(LASTLOG_LINES);
        let mut report = format!("Lines with {text:?}: {}", found.len());
        if skipped > 0 {
            report.push_str(&format!(" (the newest {LASTLOG_LINES} below)"));
        }
        for line in &found[skipped..] {
            report.push('\n');
            report.push_str(line);
        }
        self.notice(EntryKind::Info, report);
    }

    /// Opens the buffer for `name` if needed, and shows it.
    fn show_buffer(&mut self, name: BufferName) {
        let index = self.buffers.open(name);
        self.buffers.show(index);
    }

    /// Joins `room` on the server and asks who is there, for the user
    /// list; the answer fills the list without being shown.
    fn join_room(&mut self, room: String, effects: &mut Vec<Effect>) {
        self.join_room_with(room, None, effects);
    }

    /// Joins `room`, giving `key` if it is private and has one.
    fn join_room_with(&mut self, room: String, key: Option<String>, effects: &mut Vec<Effect>) {
        let join = ClientMsg::JoinRoom {
            room: room.clone(),
            key,
        };
        self.send_command(join, effects);
        if self.connection == Connection::Online {
            self.people.asked_for(&room);
            let who = ClientMsg::Say {
                text: "/who".to_owned(),
                room: Some(room),
                to: None,
                client_id: None,
                notice: None,
            };
            self.send_command(who, effects);
        }
    }

    /// Closes a buffer; a room is left on the server too.
    fn part(&mut self, target: BufferName, effects: &mut Vec<Effect>) {
        if let BufferName::Room(room) = &target {
            self.send_command(ClientMsg::PartRoom { room: room.clone() }, effects);
            self.people.forget(room);
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

    /// Sends a command now, or says why it cannot go. It takes a token
    /// like any line (the server counts every line), so the messages
    /// after a burst of commands are paced instead of refused.
    fn send_command(&mut self, msg: ClientMsg, effects: &mut Vec<Effect>) {
        if self.connection == Connection::Online {
            // Paced like messages and ahead of them: rejoining a dozen
            // rooms at once must not be refused as too fast.
            self.commands.push_back(msg);
            self.flush_outbox(self.now.instant, effects);
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
        if matches!(self.connection, Connection::Ended | Connection::Stopped(_)) {
            let text = "Not sent: the client no longer connects to this server (see above).";
            return self.notice(EntryKind::Error, text.to_owned());
        }
        let client_id = new_client_id();
        self.outbox.push_back(Pending {
            text,
            target,
            client_id,
            sent_at: None,
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
        // A token is taken only for a line that is waiting; commands go
        // first, so a message to a room follows the join of that room.
        while !self.commands.is_empty() && self.send_bucket.try_take(now.into_std()) {
            if let Some(msg) = self.commands.pop_front() {
                effects.push(Effect::Send(msg));
            }
        }
        while self.commands.is_empty()
            && !self.outbox.is_empty()
            && self.send_bucket.try_take(now.into_std())
        {
            let Some(mut pending) = self.outbox.pop_front() else {
                break;
            };
            pending.sent_at = Some(now);
            let (room, to) = route(&pending.target);
            let msg = ClientMsg::Say {
                text: pending.text.clone(),
                room,
                to,
                client_id: Some(pending.client_id.clone()),
                notice: None,
            };
            self.unconfirmed.push_back(pending);
            effects.push(Effect::Send(msg));
        }
    }

    /// Leaves, unless this process hosts the room and others are in it:
    /// then the input line asks first, since they lose the room too.
    fn quit(&mut self, reason: Option<String>, effects: &mut Vec<Effect>) {
        if self.hosting && self.people.of(LOBBY).len() > 1 {
            self.prompt = Some(Prompt::ConfirmQuit(reason));
            return;
        }
        self.quit_now(reason, effects);
    }

    /// The answer to "quit anyway?": y or Enter quits, n or Esc stays.
    fn on_quit_answer(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) {
        let Some(Prompt::ConfirmQuit(reason)) = self.prompt.take() else {
            return;
        };
        match key.code {
            KeyCode::Enter | KeyCode::Char('y' | 'Y') => self.quit_now(reason, effects),
            KeyCode::Esc | KeyCode::Char('n' | 'N') => {
                self.notice(EntryKind::Info, "Still hosting the room.".to_owned());
            }
            _ => self.prompt = Some(Prompt::ConfirmQuit(reason)),
        }
    }

    /// Leaves: tells the server (if it can hear) and ends the client.
    fn quit_now(&mut self, reason: Option<String>, effects: &mut Vec<Effect>) {
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
                owners,
                owned,
                away,
                rooms,
                gap,
            } => {
                self.owns_nick = owned;
                self.on_connected(&nick, &users, &rooms);
                let clean =
                    |list: &[String]| list.iter().map(|u| clean_nick(u)).collect::<Vec<_>>();
                self.people.mark(&clean(&owners), &clean(&away));
                self.rejoin_missing_rooms(&rooms, effects);
                if gap {
                    self.notice(
                        EntryKind::Error,
                        "Some messages from while you were away are no longer stored.".to_owned(),
                    );
                }
                self.flush_outbox(now, effects);
            }
            NetEvent::NickRejected { message } => self.on_nick_rejected(&message),
            NetEvent::Greeted { name } => self.server_name = Some(sanitize_text(&name)),
            NetEvent::Server(msg) => self.on_server(msg, effects),
            NetEvent::Stopped(stop) => {
                let text = about::stopped(self, &stop);
                self.notice(EntryKind::Error, text);
                self.connection = Connection::Stopped(stop);
                self.commands.clear();
            }
            NetEvent::Disconnected { reason, retry_in } => {
                if self.room_is_gone(now) {
                    return self.end_room(effects);
                }
                self.on_disconnected(&reason, retry_in, now);
            }
        }
    }

    /// Welcomed: online under the nickname granted, with the users (and
    /// which of them own their nicknames) and rooms the server lists.
    fn on_connected(&mut self, nick: &str, users: &[String], rooms: &[String]) {
        self.connection = Connection::Online;
        self.ever_connected = true;
        self.shutdown = Shutdown::None;
        self.prompt = self.prompt.take().filter(|p| *p != Prompt::ChooseNick);
        self.nick = clean_nick(nick);
        self.people
            .welcome(users.iter().map(|u| clean_nick(u)).collect());
        for room in rooms.iter().filter_map(|r| RoomName::parse(r).ok()) {
            self.buffers.open(BufferName::Room(room.to_string()));
        }
        let lobby = self.people.of(LOBBY);
        let (here, count) = (lobby.join(", "), lobby.len());
        let place = match &self.server_name {
            Some(name) => format!("{name} ({})", self.server),
            None => self.server.clone(),
        };
        let text = format!(
            "Connected to {place} as {}. Here now ({count}): {here}",
            self.nick
        );
        self.welcome_notice = Some(text);
    }

    /// Rooms with a buffer here that the welcome did not list (the server
    /// lost the session, or a new one was made) are joined again, so the
    /// buffers the user sees are rooms they are in.
    fn rejoin_missing_rooms(&mut self, rooms: &[String], effects: &mut Vec<Effect>) {
        let missing: Vec<String> = self
            .buffers
            .all()
            .iter()
            .filter_map(|buffer| match &buffer.name {
                BufferName::Room(room) if !rooms.iter().any(|r| r == room) => Some(room.clone()),
                _ => None,
            })
            .collect();
        for room in missing {
            self.join_room(room, effects);
        }
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
    /// True once a server that announced its shutdown has stayed away for
    /// [`ROOM_GONE_AFTER`]; the first drop after the notice starts the
    /// clock and says what it means.
    fn room_is_gone(&mut self, now: Instant) -> bool {
        match self.shutdown {
            Shutdown::None => false,
            Shutdown::Announced => {
                self.shutdown = Shutdown::GoneSince(now);
                let wait = ROOM_GONE_AFTER.as_secs();
                let text = format!(
                    "The server shut down. If it does not come back within {wait} s, the room is over."
                );
                self.notice(EntryKind::Info, text);
                false
            }
            Shutdown::GoneSince(since) => now.saturating_duration_since(since) >= ROOM_GONE_AFTER,
        }
    }

    /// The room is over: no more dialling, and what to do now on screen.
    fn end_room(&mut self, effects: &mut Vec<Effect>) {
        self.connection = Connection::Ended;
        effects.push(Effect::GiveUp);
        let room = self
            .server_name
            .clone()
            .unwrap_or_else(|| self.server.clone());
        let text = format!(
            "{room} has ended: the server shut down and has not come back, so whoever hosted it \
             has most likely left. To carry on, one of you can host a new room with `lanchat --host` \
             (the others find it by starting lanchat). Ctrl-C quits."
        );
        self.notice(EntryKind::Error, text);
    }

    fn on_disconnected(&mut self, reason: &str, retry_in: Duration, now: Instant) {
        self.connection = Connection::Offline {
            retry_at: now + retry_in,
        };
        self.commands.clear();
        // A page asked for on the lost connection will not come: the next
        // scroll past the top asks again.
        if let Some(page) = self.older_page.take()
            && let Some(index) = self.buffers.find(&page.buffer)
        {
            self.buffers.set_older(index, Older::Maybe);
        }
        let seconds = retry_in.as_secs_f64().ceil();
        let reason = sanitize_text(reason);
        // Nothing can be disconnected that never connected.
        let text = if self.ever_connected {
            format!("Disconnected: {reason}. Reconnecting in {seconds} s.")
        } else {
            format!("Not connected yet: {reason}. Trying again in {seconds} s.")
        };
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
        for mut pending in resend.into_iter().rev() {
            pending.sent_at = None;
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
                // A notice is shown as any message: it only tells programs
                // not to answer it, and this client answers nothing itself.
                notice: _,
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
            ServerMsg::Join { nick, room, owned } => {
                self.on_join(&nick, room.as_deref(), owned == Some(true));
            }
            ServerMsg::Leave { nick, reason, room } => {
                self.on_leave(&nick, &reason, room.as_deref())
            }
            ServerMsg::Nick { old, new, owned } => self.on_nick(&old, &new, owned == Some(true)),
            ServerMsg::Info { text } | ServerMsg::Whois { text, .. } => self.on_info(&text),
            ServerMsg::Topic { room, text, by } => self.on_topic(&room, &text, by.as_deref()),
            ServerMsg::Away { nick, text } => self.on_away(&nick, text.as_deref()),
            ServerMsg::Role {
                room,
                nick,
                operator,
            } => self
                .people
                .set_operator(&room, &clean_nick(&nick), operator),
            ServerMsg::Error {
                message, client_id, ..
            } => self.on_error(&message, client_id.as_deref()),
            ServerMsg::HistoryEnd {} => self.on_history_end(),
            ServerMsg::Greeting { .. }
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
        let buffer = said.buffer(&from, own);
        let page = self.older_page.as_mut().filter(|p| said.id < p.before);
        // A direct message of a page that is for another buffer waits for
        // that buffer's own page (so it is not marked as seen either).
        if page.is_some_and(|page| !page.buffer.same(&buffer)) || !self.first_sight(said.id) {
            return;
        }
        let text = sanitize_text(&said.text);
        let (entry, activity, day) = self.entry_of(&said, &from, own, &text);
        if let Some(page) = self.older_page.as_mut().filter(|p| said.id < p.before) {
            page.entries.push(entry);
            page.oldest = Some(page.oldest.map_or(said.id, |o| o.min(said.id)));
            return;
        }
        let index = self.buffers.open(buffer);
        let id = Some(said.id);
        let arrival = Arrival {
            entry,
            activity,
            day,
            id,
        };
        let fresh = self.buffers.push(index, arrival);
        // What was read before (history replayed at every start) rings
        // no bell.
        if activity == Activity::Highlight && fresh {
            let buffer = self.buffers.all()[index].name.clone();
            self.call_attention(&from, &buffer, &text, effects);
        }
    }

    /// The line a message from `from` (us if `own`) saying `text` is shown
    /// as, how much it matters (mentions of our nickname or a highlight
    /// word, and direct messages, are highlights), and its local day.
    fn entry_of(
        &self,
        said: &Said,
        from: &str,
        own: bool,
        text: &str,
    ) -> (Entry, Activity, NaiveDate) {
        let mention = !own
            && std::iter::once(&self.nick)
                .chain(&self.highlights)
                .any(|word| mentions(text, word));
        let activity = match (own, mention || said.to.is_some()) {
            (true, _) => Activity::None,
            (false, true) => Activity::Highlight,
            (false, false) => Activity::Message,
        };
        // The server's own lines in a room (a kick, a topic, a new
        // operator) are told apart from chat: nobody else can be `server`.
        let from_server = from.eq_ignore_ascii_case("server") && said.room.is_some();
        let (kind, text) = if from_server && !said.action {
            (EntryKind::Info, text.to_owned())
        } else if said.action {
            (
                EntryKind::Presence,
                format!("{} {text}", self.people.shown(from)),
            )
        } else {
            let guest = self.people.is_guest(from);
            let from = from.to_owned();
            let kind = EntryKind::Chat {
                from,
                own,
                mention,
                guest,
            };
            (kind, text.to_owned())
        };
        let (time, day) = self.stamp(said.ts);
        (Entry { time, kind, text }, activity, day)
    }

    /// A fresh highlight: the bell, and a desktop notification if the
    /// terminal is in the background.
    fn call_attention(
        &self,
        from: &str,
        buffer: &BufferName,
        text: &str,
        effects: &mut Vec<Effect>,
    ) {
        if self.bell_on_mention {
            effects.push(Effect::Bell);
        }
        if self.notify && self.focus == Focus::Lost {
            let title = match buffer {
                BufferName::Room(_) => format!("{from} in {}", buffer.label()),
                BufferName::Direct(_) => from.to_owned(),
            };
            let body = text.chars().take(NOTIFICATION_CHARS).collect();
            effects.push(Effect::Notify { title, body });
        }
    }

    /// How a server time is shown, and its local day: `HH:MM` today, with
    /// the date before it on any other day, so old history does not read
    /// as today's.
    fn stamp(&self, ts: u64) -> (String, NaiveDate) {
        let today = self.now.wall.date_naive();
        let local = i64::try_from(ts)
            .ok()
            .and_then(|ms| Local.timestamp_millis_opt(ms).single());
        let Some(time) = local else {
            return (clock_time(ts), today);
        };
        // Written by hand rather than with a strftime pattern: this runs
        // for every message, and parsing a pattern each time cost more
        // than the rest of the message's handling.
        let day = time.date_naive();
        let clock = format!("{:02}:{:02}", time.hour(), time.minute());
        if day == today {
            return (clock, day);
        }
        let month = MONTHS[time.month0() as usize];
        (format!("{month} {} {clock}", time.day()), day)
    }

    /// A replay is complete: a page of older history goes before its
    /// buffer's first line (an empty one means the start was reached); the
    /// welcome's replay is followed by the "Connected" line.
    fn on_history_end(&mut self) {
        if let Some(page) = self.older_page.take() {
            let index = self.buffers.open(page.buffer);
            if page.entries.is_empty() {
                let text = "This is the oldest history the server keeps.".to_owned();
                let notice = self.entry_now(EntryKind::Info, text);
                self.buffers.prepend(index, vec![notice], None);
                self.buffers.set_older(index, Older::None);
            } else {
                self.buffers.prepend(index, page.entries, page.oldest);
                self.buffers.set_older(index, Older::Maybe);
            }
        } else if let Some(text) = self.welcome_notice.take() {
            self.notice(EntryKind::Presence, text);
        }
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
    fn on_join(&mut self, nick: &str, room: Option<&str>, owned: bool) {
        let nick = clean_nick(nick);
        let name = room.map_or_else(|| LOBBY.to_owned(), clean_nick);
        self.people.arrive(&name, &nick);
        self.people.set_owned(&nick, owned);
        let text = format!("{} joined", self.people.shown(&nick));
        self.presence_in(BufferName::Room(name), text);
    }

    /// Somebody left a room (`None`: the lobby); us, when an operator put
    /// us out of it.
    fn on_leave(&mut self, nick: &str, reason: &str, room: Option<&str>) {
        let nick = clean_nick(nick);
        let name = room.map_or_else(|| LOBBY.to_owned(), clean_nick);
        let reason = sanitize_text(reason);
        if nick.eq_ignore_ascii_case(&self.nick) {
            self.people.forget(&name);
            let text = format!("You are no longer in #{name} ({reason}). /join {name} to go back.");
            let index = self.buffers.open(BufferName::Room(name));
            return self.push_lines(index, EntryKind::Error, Activity::Highlight, text);
        }
        self.people.leave(&name, &nick);
        let text = format!("{nick} left ({reason})");
        self.presence_in(BufferName::Room(name), text);
    }

    /// A room's topic, on entering it or when it changes: a line in its
    /// buffer.
    fn on_topic(&mut self, room: &str, text: &str, by: Option<&str>) {
        let name = clean_nick(room);
        let text = sanitize_text(text);
        let line = match (text.is_empty(), by) {
            (true, _) => format!("#{name} has no topic."),
            (false, Some(by)) => format!("Topic of #{name}: {text} (set by {})", clean_nick(by)),
            (false, None) => format!("Topic of #{name}: {text}"),
        };
        let index = self.buffers.open(BufferName::Room(name));
        self.push_lines(index, EntryKind::Info, Activity::Low, line);
    }

    /// Somebody changed nickname, maybe us.
    fn on_nick(&mut self, old: &str, new: &str, owned: bool) {
        let (old, new) = (clean_nick(old), clean_nick(new));
        let shown_old = self.people.shown(&old);
        self.people.rename(&old, &new);
        self.people.set_owned(&new, owned);
        if self.nick.eq_ignore_ascii_case(&old) {
            self.nick.clone_from(&new);
        }
        // A conversation with someone follows them to their new name.
        let old_direct = BufferName::Direct(old.clone());
        self.buffers
            .rename(&old_direct, BufferName::Direct(new.clone()));
        let text = format!("{shown_old} is now known as {}", self.people.shown(&new));
        match self.buffers.find(&BufferName::Direct(new.clone())) {
            Some(index) if index != self.buffers.active_index() => {
                self.push_lines(index, EntryKind::Presence, Activity::Low, text.clone());
            }
            _ => {}
        }
        self.notice(EntryKind::Presence, text);
    }

    /// Words for us alone (command replies): one notice per line.
    fn on_info(&mut self, text: &str) {
        // The `Away:` line of a `/who` the client asked for itself is as
        // hidden as the list above it.
        let mut hiding = false;
        for line in text.lines() {
            let line = sanitize_text(line);
            if line.starts_with(SHUTDOWN_NOTICE) && self.shutdown == Shutdown::None {
                self.shutdown = Shutdown::Announced;
            }
            if self.people.read_who(&line, clean_nick) {
                hiding = true;
            } else if !((self.people.read_away_line(&line)
                || self.people.read_operators_line(&line))
                && hiding)
            {
                self.notice(EntryKind::Info, line);
            }
        }
    }

    /// Somebody went away, or came back: a quiet line in the lobby.
    fn on_away(&mut self, nick: &str, message: Option<&str>) {
        let nick = clean_nick(nick);
        let message = message.map(sanitize_text);
        self.people.set_away(&nick, message.as_deref());
        let own = nick.eq_ignore_ascii_case(&self.nick);
        let text = match (own, &message) {
            (true, Some(message)) => format!("You are marked away: {message}"),
            (true, None) => "You are back.".to_owned(),
            (false, Some(message)) => format!("{} is away: {message}", self.people.shown(&nick)),
            (false, None) => format!("{} is back", self.people.shown(&nick)),
        };
        self.presence_in(BufferName::lobby(), text);
    }

    /// A refusal. One that names a message's `client_id` takes exactly
    /// that message off the queues (it must never be sent again) and says
    /// which it was, so nothing is lost without the user knowing. One
    /// without a `client_id` refused a command, or came from a server
    /// that does not name messages: no message is guessed at.
    fn on_error(&mut self, message: &str, client_id: Option<&str>) {
        let mut text = sanitize_text(message);
        if let Some(unsent) = client_id.and_then(|id| self.take_pending(id)) {
            text = format!("{text} Not sent: {}", unsent.text);
        }
        self.notice(EntryKind::Error, text);
    }

    /// Takes the message with `client_id` off the queues, if it is on one.
    fn take_pending(&mut self, client_id: &str) -> Option<Pending> {
        let queues = [&mut self.unconfirmed, &mut self.outbox];
        queues.into_iter().find_map(|queue| {
            let index = queue.iter().position(|p| p.client_id == client_id)?;
            queue.remove(index)
        })
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

    /// A line of the client's own, stamped with the wall clock's time.
    fn entry_now(&self, kind: EntryKind, text: String) -> Entry {
        let time = self.now.wall.format("%H:%M").to_string();
        Entry { time, kind, text }
    }

    /// Adds a line of our own (or a server notice) to the buffer being
    /// shown, one entry per line of `text`.
    fn notice(&mut self, kind: EntryKind, text: String) {
        let here = self.buffers.active_index();
        self.push_notice(here, kind, text);
    }

    /// Somebody came or went in the buffer for `name` (opening it if
    /// needed): low activity, which does not count as unread.
    fn presence_in(&mut self, name: BufferName, text: String) {
        let index = self.buffers.open(name);
        self.push_lines(index, EntryKind::Presence, Activity::Low, text);
    }

    /// A notice of the client's own in the buffer being shown.
    fn push_notice(&mut self, index: usize, kind: EntryKind, text: String) {
        self.push_lines(index, kind, Activity::None, text);
    }

    fn push_lines(&mut self, index: usize, kind: EntryKind, activity: Activity, text: String) {
        let day = self.now.wall.date_naive();
        for line in text.lines() {
            let entry = self.entry_now(kind.clone(), line.to_owned());
            let arrival = Arrival {
                entry,
                activity,
                day,
                id: None,
            };
            self.buffers.push(index, arrival);
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
            Command::Info => ClientCommand::Info,
            Command::Buffer(number) => match number.parse::<usize>() {
                Ok(number) if number > 0 => ClientCommand::Buffer(number),
                _ => ClientCommand::usage_of("buffer"),
            },
            Command::Lastlog(text) => ClientCommand::Lastlog(text.to_owned()),
            Command::Join(words) => {
                let mut parts = words.split_whitespace();
                let (room, key) = (parts.next().unwrap_or_default(), parts.next());
                match RoomName::parse(room) {
                    Ok(room) => ClientCommand::Join(room, key.map(str::to_owned)),
                    Err(error) => ClientCommand::Mistake(sentence(&format!("{error}."))),
                }
            }
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
            | Command::Topic(_)
            | Command::Ban(_)
            | Command::Unban(_)
            | Command::Bans(_)
            | Command::Mute(_)
            | Command::Unmute(_)
            | Command::Away(_)
            | Command::Back
            | Command::Private(_)
            | Command::Invite(_)
            | Command::Key(_)
            | Command::Kick { .. }
            | Command::Op(_)
            | Command::Deop(_)
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
        match (name, text) {
            ("msg", Some(text)) => ClientCommand::Msg {
                nick: nick.to_owned(),
                text: text.to_owned(),
            },
            (_, text) => ClientCommand::Query(nick.to_owned(), text.map(str::to_owned)),
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

/// What Tab may put in place of `word`: a command name at the start of a
/// line (`/jo` → `/join `), a room after `#` or as the argument of a
/// command that takes one (`/join de` → `/join dev `), and otherwise a
/// nickname (`al` → `alice: ` at the start, `alice ` elsewhere).
fn completions(
    word: &str,
    at_start: bool,
    command: &str,
    rooms: &[String],
    nicks: &[String],
) -> Vec<String> {
    let lower = word.to_lowercase();
    let starting = |names: &mut dyn Iterator<Item = String>, suffix: &str| -> Vec<String> {
        names
            .filter(|name| name.to_lowercase().starts_with(&lower))
            .map(|name| format!("{name}{suffix}"))
            .collect()
    };
    let takes_room = matches!(command, "/join" | "/part" | "/leave" | "/close");
    if at_start && word.starts_with('/') {
        let mut names = command::COMMANDS
            .iter()
            .flat_map(|spec| std::iter::once(&spec.name).chain(spec.aliases))
            .map(|name| format!("/{name}"));
        starting(&mut names, " ")
    } else if word.starts_with('#') {
        starting(&mut rooms.iter().map(|room| format!("#{room}")), " ")
    } else if takes_room && !at_start {
        starting(&mut rooms.iter().cloned(), " ")
    } else {
        starting(
            &mut nicks.iter().cloned(),
            if at_start { ": " } else { " " },
        )
    }
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

/// `text` with a capital first letter: the shared crate's errors are
/// written to follow a colon, the client's notices are sentences.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
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

mod about;
#[cfg(test)]
mod tests;
