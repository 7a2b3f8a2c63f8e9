//! Everything that can happen to the client, as one closed enum. The run
//! loop turns terminal input, network news, timers and signals into these,
//! and [`crate::app::App::update`] is the only place that reacts to them.

use std::time::Duration;

use lanchat_shared::{ClientMsg, ErrorCode, Fingerprint, ServerMsg};
use ratatui::crossterm::event::{KeyEvent, MouseEvent};

/// Something the app must react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A key press.
    Key(KeyEvent),
    /// Text pasted with bracketed paste.
    Paste(String),
    /// The mouse; only the wheel is used.
    Mouse(MouseEvent),
    /// The terminal now has this many columns and rows.
    Resize(u16, u16),
    /// The terminal window gained or lost the focus (where the terminal
    /// reports it), which decides whether a highlight becomes a desktop
    /// notification.
    Focus(Focus),
    /// News from the connection task.
    Net(NetEvent),
    /// A timer the app asked for came due (paced sends, reconnect countdown).
    Tick,
    /// SIGTERM, SIGHUP or SIGINT: leave cleanly.
    Terminate,
    /// A line from the client itself for the scrollback (e.g. where a
    /// hosted room can be reached).
    Notice(String),
}

/// Whether the terminal has the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The user is looking at it.
    Gained,
    /// Another window has the focus.
    Lost,
}

/// What the connection task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// The server's greeting named it (`alice's room` for a room hosted
    /// in alice's client).
    Greeted {
        /// The name, as the greeting says it.
        name: String,
    },
    /// Dialling the server; `attempt` counts from 1 since the last success.
    Connecting {
        /// How many tries so far.
        attempt: u32,
    },
    /// Joined: the server granted `nick`; `users` are present. History
    /// follows as ordinary messages.
    Connected {
        /// The nickname in use.
        nick: String,
        /// Who is in the lobby.
        users: Vec<String>,
        /// Those of `users` whose identity owns their nickname; the others
        /// are guests or use a nickname nobody owns.
        owners: Vec<String>,
        /// Whether our identity owns the nickname granted.
        owned: bool,
        /// Those of `users` who are away.
        away: Vec<String>,
        /// The rooms this session is in.
        rooms: Vec<String>,
        /// True if the server could not replay everything since the last
        /// message this client saw.
        gap: bool,
    },
    /// The nickname was refused; the user must pick another.
    NickRejected {
        /// The server's explanation.
        message: String,
    },
    /// A message from the server after joining.
    Server(ServerMsg),
    /// The connection task stopped dialling for good: trying again cannot
    /// help.
    Stopped(Stop),
    /// The connection is gone; the task retries after `retry_in`.
    Disconnected {
        /// Why, for people.
        reason: String,
        /// When the next attempt starts.
        retry_in: Duration,
    },
}

/// Why the connection task stopped dialling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The server presented another key than the one trusted: someone may
    /// be between us and it. Nothing was sent to it.
    KeyChanged {
        /// The key trusted.
        pinned: Fingerprint,
        /// The key presented.
        presented: Fingerprint,
    },
    /// The server refused us for a reason the next try would meet again:
    /// `bad_password`, `not_allowed`, `tls_required`, `banned`.
    Refused {
        /// Which reason.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
}

/// What the app asks the connection task to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetCommand {
    /// Try joining under this nickname (after a rejection).
    Hello(String),
    /// Send this message now.
    Send(ClientMsg),
    /// Stop dialling: the room is gone (its host left).
    GiveUp,
}
