//! What the screen looks like, as insta snapshots of a `TestBackend`.
//! Every screen is reached the way the client reaches it, by feeding events
//! through `App::update`; messages carry fixed server times and the wall
//! clock is fixed at noon, so the snapshots do not depend on the clock or
//! the time zone.

use std::time::Duration;

use chrono::{DateTime, Local, TimeZone};
use lanchat_shared::{ErrorCode, ServerMsg};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::time::Instant;

use crate::app::{App, AppOptions, Now};
use crate::event::{Event, NetEvent};

/// A client on a test screen, changed only through `App::update`.
struct Screen {
    app: App,
    /// One moment for the whole test, so a countdown reads whole seconds.
    now: Now,
    /// The last message id used: the client shows each id only once.
    next_id: u64,
}

/// How a real client is protected by default: TLS, the server's key
/// pinned.
fn verified() -> crate::dial::Protection {
    crate::dial::Protection::Encrypted {
        server_key: lanchat_shared::Fingerprint::of_public_key(b"the server's key"),
        trusted: crate::dial::Trusted::Pinned,
        identity: lanchat_shared::Fingerprint::of_public_key(b"alice's key"),
    }
}

/// `hour:minute` on a fixed day, local time.
fn local(hour: u32, minute: u32) -> DateTime<Local> {
    Local
        .with_ymd_and_hms(2025, 6, 2, hour, minute, 0)
        .single()
        .expect("a time that exists once")
}

/// A server timestamp (Unix milliseconds) for 12:`minute` local time.
fn at_noon_and(minute: u32) -> u64 {
    local(12, minute).timestamp_millis() as u64
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

impl Screen {
    /// A client of 192.168.1.20:7878 as alice, not yet connected.
    fn starting(width: u16, height: u16) -> Screen {
        let now = Now {
            instant: Instant::now(),
            wall: local(12, 0),
        };
        let options = AppOptions {
            server: "192.168.1.20:7878".into(),
            nick: "alice".into(),
            bell_on_mention: true,
            read_marks: Default::default(),
            mouse: crate::app::Mouse::Captured,
            highlights: Vec::new(),
            colours: true,
            notify: true,
            hosting: false,
            protection: verified(),
            auto_away: None,
        };
        let app = App::new(options, (width, height), now);
        Screen {
            app,
            now,
            next_id: 0,
        }
    }

    /// Welcomed into the lobby with `users`; the welcome notice is shown.
    fn welcomed(width: u16, height: u16, users: &[&str]) -> Screen {
        let mut screen = Screen::starting(width, height);
        screen.net(NetEvent::Connected {
            nick: "alice".into(),
            users: users.iter().map(|&u| u.into()).collect(),
            owners: users.iter().map(|&u| u.into()).collect(),
            owned: true,
            away: vec![],
            rooms: vec!["lobby".into()],
            gap: false,
        });
        screen.server(ServerMsg::HistoryEnd {});
        screen
    }

    /// Online with alice, bob and carol, the welcome notice cleared away
    /// with `/clear` as a user would.
    fn online(width: u16, height: u16) -> Screen {
        let mut screen = Screen::welcomed(width, height, &["alice", "bob", "carol"]);
        screen.type_line("/clear");
        screen
    }

    fn event(&mut self, event: Event) {
        self.app.update(event, self.now);
    }

    fn net(&mut self, news: NetEvent) {
        self.event(Event::Net(news));
    }

    fn server(&mut self, msg: ServerMsg) {
        self.net(NetEvent::Server(msg));
    }

    /// Enters `line` in the input line and presses Enter.
    fn type_line(&mut self, line: &str) {
        self.event(Event::Paste(line.into()));
        self.event(key(KeyCode::Enter));
    }

    /// An id not used yet.
    fn take_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A lobby message at 12:`minute`.
    fn chat(&mut self, minute: u32, from: &str, text: &str) {
        let id = self.take_id();
        self.server(ServerMsg::chat(id, at_noon_and(minute), from, text));
    }

    fn render(&self) -> String {
        let (width, height) = self.app.size();
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| super::draw(&self.app, frame))
            .unwrap();
        terminal.backend().to_string()
    }
}

/// A lively lobby: the welcome, chat, dave arriving, a `/who` answer and a
/// refusal from the server.
fn busy(width: u16, height: u16) -> Screen {
    let mut screen = Screen::welcomed(width, height, &["alice", "bob", "carol"]);
    screen.chat(1, "bob", "morning all");
    screen.chat(
        1,
        "carol",
        "has anyone seen the build break on the release branch? it fails in the linker step",
    );
    screen.chat(2, "alice", "looking at it now");
    screen.server(ServerMsg::Join {
        nick: "dave".into(),
        room: None,
        owned: None,
    });
    screen.server(ServerMsg::info("Here now (4): alice, bob, carol, dave"));
    screen.server(ServerMsg::error(
        ErrorCode::RateLimited,
        "You are sending too fast; that line was not delivered.",
    ));
    screen.chat(3, "dave", "hi!");
    screen
}

#[test]
fn empty_room() {
    let mut screen = Screen::welcomed(60, 8, &["alice"]);
    screen.type_line("/clear");
    insta::assert_snapshot!(screen.render());
}

#[test]
fn busy_room() {
    let mut screen = busy(60, 14);
    screen.event(Event::Paste("typing a reply".into()));
    insta::assert_snapshot!(screen.render());
}

#[test]
fn scrolled_up_with_more_and_the_new_messages_marker() {
    let mut screen = busy(60, 8);
    screen.event(key(KeyCode::PageUp));
    screen.chat(4, "bob", "new while scrolled up");
    screen.chat(4, "carol", "and another");
    insta::assert_snapshot!(screen.render());
}

#[test]
fn a_mention_stands_out() {
    let mut screen = Screen::online(60, 6);
    screen.chat(5, "bob", "alice: can you review my change?");
    screen.chat(5, "carol", "not a mention: malice");
    let screen = screen.render();
    insta::assert_snapshot!(screen);
}

#[test]
fn wide_characters_wrap_by_display_width() {
    let mut screen = Screen::online(40, 8);
    screen.chat(
        6,
        "bob",
        "你好，世界！这是一条很长的中文消息，用来测试换行是否正确。",
    );
    screen.chat(6, "carol", "emoji 👩‍👩‍👧 family 🎉🎉🎉🎉🎉🎉🎉🎉 party");
    screen.event(Event::Paste("回复：好的".into()));
    insta::assert_snapshot!(screen.render());
}

#[test]
fn a_tiny_terminal_still_draws() {
    let screen = busy(20, 5);
    insta::assert_snapshot!(screen.render());
}

#[test]
fn the_user_list() {
    let mut screen = busy(60, 8);
    screen.event(key(KeyCode::F(2)));
    insta::assert_snapshot!(screen.render());
}

#[test]
fn prompts_replace_the_input_line() {
    // Back from a drop, the nickname has been taken meanwhile.
    let mut screen = Screen::welcomed(60, 5, &["alice", "bob", "carol"]);
    screen.net(NetEvent::Disconnected {
        reason: "connection reset".into(),
        retry_in: Duration::from_secs(1),
    });
    screen.net(NetEvent::Connecting { attempt: 1 });
    screen.type_line("/clear");
    screen.net(NetEvent::NickRejected {
        message: "The nickname alice is taken; try another.".into(),
    });
    let nick = screen.render();
    screen.event(Event::Paste("a\nb\nc".into()));
    insta::assert_snapshot!(format!("{nick}\n{}", screen.render()));
}

#[test]
fn offline_with_a_countdown_and_unsent_messages() {
    let mut screen = Screen::online(70, 5);
    screen.net(NetEvent::Disconnected {
        reason: "x".into(),
        retry_in: Duration::from_secs(8),
    });
    screen.type_line("hello?");
    screen.type_line("/clear");
    insta::assert_snapshot!(screen.render());
}

#[test]
fn buffers_are_listed_with_unread_and_mention_counts() {
    let mut screen = Screen::online(80, 6);
    screen.chat(7, "bob", "in the lobby");
    let mut elsewhere = |from: &str, text: &str, room: Option<&str>, to: Option<&str>| {
        let id = screen.take_id();
        screen.server(ServerMsg::Message {
            id,
            ts: at_noon_and(8),
            from: from.into(),
            text: text.into(),
            room: room.map(str::to_owned),
            to: to.map(str::to_owned),
            action: None,
            client_id: None,
            notice: None,
        });
    };
    elsewhere("carol", "one", Some("dev"), None);
    elsewhere("carol", "two", Some("dev"), None);
    elsewhere("bob", "alice?", None, Some("alice"));
    insta::assert_snapshot!(screen.render());
}

#[test]
fn a_line_waiting_for_its_echo_and_a_server_not_answering() {
    let mut screen = Screen::online(70, 5);
    screen.chat(1, "bob", "hi");
    screen.type_line("anyone there?");
    screen.now.instant += Duration::from_secs(7);
    screen.event(Event::Tick);
    insta::assert_snapshot!(screen.render());
}

#[test]
fn with_many_buffers_the_bar_keeps_the_connection_and_the_buffer_shown() {
    let mut screen = Screen::online(80, 4);
    for room in 1..=12 {
        screen.type_line(&format!("/join room{room}"));
    }
    screen.event(Event::Key(KeyEvent::new(
        KeyCode::Char('5'),
        KeyModifiers::ALT,
    )));
    let id = screen.take_id();
    screen.server(ServerMsg::Message {
        id,
        ts: at_noon_and(3),
        from: "bob".into(),
        text: "alice: here?".into(),
        room: Some("room11".into()),
        to: None,
        action: None,
        client_id: None,
        notice: None,
    });
    screen.net(NetEvent::Disconnected {
        reason: "reset".into(),
        retry_in: Duration::from_secs(5),
    });
    insta::assert_snapshot!(screen.render());
}
