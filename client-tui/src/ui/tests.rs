//! What the screen looks like, as insta snapshots of a `TestBackend`.
//! Entries are built with fixed times so the snapshots do not depend on the
//! clock or the time zone.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::{App, Connection, Now, Prompt};
use crate::event::Event;
use crate::scrollback::{Entry, EntryKind};

fn app(width: u16, height: u16) -> App {
    let mut app = App::new(
        "192.168.1.20:7878".into(),
        "alice".into(),
        (width, height),
        Now::read(),
    );
    app.connection = Connection::Online;
    app.users = vec!["alice".into(), "bob".into(), "carol".into()];
    app
}

fn chat(app: &mut App, time: &str, from: &str, text: &str) {
    let own = from == app.nick;
    let mention = !own && crate::app::mentions(text, &app.nick);
    app.buffers.active_mut().scrollback.push(Entry {
        time: time.into(),
        kind: EntryKind::Chat {
            from: from.into(),
            own,
            mention,
        },
        text: text.into(),
    });
}

fn line(app: &mut App, kind: EntryKind, text: &str) {
    app.buffers.active_mut().scrollback.push(Entry {
        time: "12:00".into(),
        kind,
        text: text.into(),
    });
}

fn render(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(app.size.0, app.size.1)).unwrap();
    terminal.draw(|frame| super::draw(app, frame)).unwrap();
    terminal.backend().to_string()
}

fn busy(app: &mut App) {
    line(
        app,
        EntryKind::Presence,
        "Connected to 192.168.1.20:7878 as alice. Here now (3): alice, bob, carol",
    );
    chat(app, "12:01", "bob", "morning all");
    chat(
        app,
        "12:01",
        "carol",
        "has anyone seen the build break on the release branch? it fails in the linker step",
    );
    chat(app, "12:02", "alice", "looking at it now");
    line(app, EntryKind::Presence, "dave joined");
    line(
        app,
        EntryKind::Info,
        "Here now (4): alice, bob, carol, dave",
    );
    line(
        app,
        EntryKind::Error,
        "You are sending too fast; that line was not delivered.",
    );
    chat(app, "12:03", "dave", "hi!");
}

#[test]
fn empty_room() {
    let mut app = app(60, 8);
    app.users = vec!["alice".into()];
    insta::assert_snapshot!(render(&app));
}

#[test]
fn busy_room() {
    let mut app = app(60, 14);
    busy(&mut app);
    app.update(Event::Paste("typing a reply".into()), Now::read());
    insta::assert_snapshot!(render(&app));
}

#[test]
fn scrolled_up_with_more_and_the_new_messages_marker() {
    let mut app = app(60, 8);
    busy(&mut app);
    app.update(
        Event::Key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE)),
        Now::read(),
    );
    chat(&mut app, "12:04", "bob", "new while scrolled up");
    chat(&mut app, "12:04", "carol", "and another");
    insta::assert_snapshot!(render(&app));
}

#[test]
fn a_mention_stands_out() {
    let mut app = app(60, 6);
    chat(&mut app, "12:05", "bob", "alice: can you review my change?");
    chat(&mut app, "12:05", "carol", "not a mention: malice");
    let screen = render(&app);
    insta::assert_snapshot!(screen);
}

#[test]
fn wide_characters_wrap_by_display_width() {
    let mut app = app(40, 8);
    chat(
        &mut app,
        "12:06",
        "bob",
        "你好，世界！这是一条很长的中文消息，用来测试换行是否正确。",
    );
    chat(
        &mut app,
        "12:06",
        "carol",
        "emoji 👩‍👩‍👧 family 🎉🎉🎉🎉🎉🎉🎉🎉 party",
    );
    app.update(Event::Paste("回复：好的".into()), Now::read());
    insta::assert_snapshot!(render(&app));
}

#[test]
fn a_tiny_terminal_still_draws() {
    let mut app = app(20, 5);
    busy(&mut app);
    insta::assert_snapshot!(render(&app));
}

#[test]
fn the_user_list() {
    let mut app = app(60, 8);
    busy(&mut app);
    app.update(
        Event::Key(KeyEvent::new(KeyCode::F(2), KeyModifiers::NONE)),
        Now::read(),
    );
    insta::assert_snapshot!(render(&app));
}

#[test]
fn prompts_replace_the_input_line() {
    let mut app = app(60, 5);
    app.prompt = Some(Prompt::ChooseNick);
    app.connection = Connection::Connecting { attempt: 1 };
    line(
        &mut app,
        EntryKind::Error,
        "The nickname alice is taken; try another.",
    );
    let nick = render(&app);
    app.prompt = Some(Prompt::ConfirmPaste(vec![
        "a".into(),
        "b".into(),
        "c".into(),
    ]));
    insta::assert_snapshot!(format!("{nick}\n{}", render(&app)));
}

#[test]
fn offline_with_a_countdown_and_unsent_messages() {
    let mut app = app(70, 5);
    let now = Now::read();
    app.update(
        Event::Net(crate::event::NetEvent::Disconnected {
            reason: "x".into(),
            retry_in: std::time::Duration::from_secs(8),
        }),
        now,
    );
    app.buffers.active_mut().scrollback.clear();
    app.update(Event::Paste("hello?".into()), now);
    app.update(
        Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        now,
    );
    app.buffers.active_mut().scrollback.clear();
    insta::assert_snapshot!(render(&app));
}

#[test]
fn buffers_are_listed_with_unread_and_mention_counts() {
    use crate::buffers::BufferName;
    let mut app = app(80, 6);
    chat(&mut app, "12:07", "bob", "in the lobby");
    let dev = app.buffers.open(BufferName::Room("dev".into()));
    let entry = |text: &str| Entry {
        time: "12:08".into(),
        kind: EntryKind::Chat {
            from: "carol".into(),
            own: false,
            mention: false,
        },
        text: text.into(),
    };
    app.buffers.push(dev, entry("one"), false);
    app.buffers.push(dev, entry("two"), false);
    let bob = app.buffers.open(BufferName::Direct("bob".into()));
    app.buffers.push(bob, entry("alice?"), true);
    insta::assert_snapshot!(render(&app));
}
