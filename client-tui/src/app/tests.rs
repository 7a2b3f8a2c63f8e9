//! `App::update` driven by events, as the run loop would, without a
//! terminal or a network.

use std::time::Duration;

use chrono::{DateTime, Local, TimeZone};
use lanchat_shared::{ClientMsg, ErrorCode, ServerMsg};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use tokio::time::Instant;

use super::*;
use crate::event::{Event, NetEvent};

/// How a real client is protected by default: TLS, the server's key
/// pinned.
fn verified() -> crate::dial::Protection {
    crate::dial::Protection::Encrypted {
        server_key: lanchat_shared::Fingerprint::of_public_key(b"the server's key"),
        trusted: crate::dial::Trusted::Pinned,
        identity: lanchat_shared::Fingerprint::of_public_key(b"alice's key"),
    }
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// The server's welcome as the connection task reports it: `nick` alone
/// in the lobby.
fn connected(nick: &str) -> NetEvent {
    NetEvent::Connected {
        nick: nick.into(),
        users: vec![nick.into()],
        owners: vec![nick.into()],
        owned: true,
        away: vec![],
        rooms: vec!["lobby".into()],
        gap: false,
    }
}

/// `hour:minute` on a fixed day, local time, so stamps do not depend on
/// when or where the tests run.
fn local(hour: u32, minute: u32) -> DateTime<Local> {
    Local
        .with_ymd_and_hms(2025, 6, 2, hour, minute, 0)
        .single()
        .expect("a time that exists once")
}

/// A fixed moment: the monotonic clock as it is, the wall clock at noon.
fn noon() -> Now {
    Now {
        instant: Instant::now(),
        wall: local(12, 0),
    }
}

/// `now` with its monotonic clock moved to `instant`.
fn at(now: Now, instant: Instant) -> Now {
    Now { instant, ..now }
}

/// How alice starts: the bell on, as without `--no-bell`.
fn alice() -> AppOptions {
    AppOptions {
        server: "server:7878".into(),
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
    }
}

fn online_app() -> (App, Now) {
    online_app_with(alice())
}

/// Alice, started with `options`, welcomed into the lobby with bob.
fn online_app_with(options: AppOptions) -> (App, Now) {
    let now = noon();
    let mut app = App::new(options, (80, 24), now);
    app.update(
        Event::Net(NetEvent::Connected {
            nick: "alice".into(),
            users: vec!["alice".into(), "bob".into()],
            owners: vec!["alice".into(), "bob".into()],
            owned: true,
            away: vec![],
            rooms: vec!["lobby".into()],
            gap: false,
        }),
        now,
    );
    app.update(Event::Net(NetEvent::Server(ServerMsg::HistoryEnd {})), now);
    (app, now)
}

fn type_text(app: &mut App, text: &str, now: Now) {
    for c in text.chars() {
        app.update(key(KeyCode::Char(c)), now);
    }
}

/// The texts of the says among `effects`, checking each carries a room
/// and a client id as the client always sends them.
fn said(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Send(ClientMsg::Say {
                text,
                room,
                to,
                client_id,
                notice: None,
            }) => {
                assert!(
                    room.is_some() || to.is_some(),
                    "a say names its room or person"
                );
                assert!(
                    client_id.is_some() || text.starts_with('/'),
                    "a message carries a client id"
                );
                Some(text.clone())
            }
            _ => None,
        })
        .collect()
}

/// What `/join ROOM` sends: the join, and the question who is there.
fn joining(room: &str) -> Vec<Effect> {
    vec![
        Effect::Send(ClientMsg::JoinRoom {
            room: room.into(),
            key: None,
        }),
        Effect::Send(ClientMsg::Say {
            text: "/who".into(),
            room: Some(room.into()),
            to: None,
            client_id: None,
            notice: None,
        }),
    ]
}

fn message(id: u64, from: &str, text: &str) -> Event {
    Event::Net(NetEvent::Server(ServerMsg::chat(id, 0, from, text)))
}

/// Every line of the buffer shown, one after another: a notice of
/// several lines is several entries.
fn all_text(app: &App) -> String {
    let texts: Vec<&str> = app
        .scrollback()
        .entries()
        .map(|e| e.text.as_str())
        .collect();
    texts.join("\n")
}

fn last_text(app: &App) -> String {
    match app.scrollback().visible(200, 1).first() {
        Some(crate::scrollback::VisibleRow::Text { text, .. }) => (*text).to_owned(),
        other => panic!("expected a text row, got {other:?}"),
    }
}

#[test]
fn enter_sends_the_typed_line_and_clears_the_input() {
    let (mut app, now) = online_app();
    type_text(&mut app, "hi bob", now);
    assert_eq!(said(&app.update(key(KeyCode::Enter), now)), vec!["hi bob"]);
    assert!(app.input().is_empty());
    assert_eq!(
        app.update(key(KeyCode::Enter), now),
        vec![],
        "an empty line sends nothing"
    );
}

#[test]
fn ctrl_c_clears_a_line_then_quits_and_ctrl_d_quits_only_when_empty() {
    let (mut app, now) = online_app();
    type_text(&mut app, "draft", now);
    assert_eq!(app.update(ctrl('d'), now), vec![]);
    assert_eq!(app.update(ctrl('c'), now), vec![]);
    assert!(app.input().is_empty());
    let quit = vec![Effect::Send(ClientMsg::Quit { reason: None }), Effect::Quit];
    assert_eq!(app.update(ctrl('c'), now), quit);
    assert_eq!(app.update(ctrl('d'), now), quit);
}

#[test]
fn over_and_quit_leave_cleanly_but_game_over_is_a_message() {
    let (mut app, now) = online_app();
    type_text(&mut app, "over", now);
    assert_eq!(
        app.update(key(KeyCode::Enter), now),
        vec![Effect::Send(ClientMsg::Quit { reason: None }), Effect::Quit]
    );
    type_text(&mut app, "/quit see you", now);
    assert_eq!(
        app.update(key(KeyCode::Enter), now),
        vec![
            Effect::Send(ClientMsg::Quit {
                reason: Some("see you".into())
            }),
            Effect::Quit
        ]
    );
    type_text(&mut app, "game over", now);
    assert_eq!(
        said(&app.update(key(KeyCode::Enter), now)),
        vec!["game over"]
    );
}

#[test]
fn help_and_clear_are_local_and_other_commands_go_to_the_server() {
    let (mut app, now) = online_app();
    type_text(&mut app, "/help", now);
    assert_eq!(app.update(key(KeyCode::Enter), now), vec![]);
    let shown = app.scrollback().visible_texts(400, 40);
    assert!(
        shown.iter().any(|l| l.contains("PageUp")) && shown.iter().any(|l| l.contains("/quit")),
        "{shown:?}"
    );
    type_text(&mut app, "/clear", now);
    app.update(key(KeyCode::Enter), now);
    assert!(app.scrollback().is_empty());
    type_text(&mut app, "/who", now);
    assert_eq!(said(&app.update(key(KeyCode::Enter), now)), vec!["/who"]);
}

#[test]
fn msg_and_query_open_direct_messages_and_say_how_to_use_them() {
    let (mut app, now) = online_app();
    let enter = |app: &mut App, line: &str| {
        type_text(app, line, now);
        app.update(key(KeyCode::Enter), now)
    };
    match enter(&mut app, "/msg bob   hello there").as_slice() {
        [
            Effect::Send(ClientMsg::Say {
                text,
                room: None,
                to: Some(to),
                client_id: Some(_),
                notice: None,
            }),
        ] => assert_eq!((text.as_str(), to.as_str()), ("hello there", "bob")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        app.buffers().active().name.label(),
        "lobby",
        "/msg opens the conversation without showing it"
    );
    assert_eq!(
        enter(&mut app, "/QUERY carol"),
        vec![],
        "opened, nothing sent"
    );
    assert_eq!(app.buffers().active().name.label(), "@carol");
    assert_eq!(enter(&mut app, "/msg dave"), vec![], "no text: like /query");
    assert_eq!(app.buffers().active().name.label(), "@dave");
    assert_eq!(enter(&mut app, "/msg"), vec![]);
    assert_eq!(last_text(&app), "Usage: /msg NICK TEXT");
    assert!(app.input().is_empty(), "a mistake is not kept in the input");
    assert_eq!(enter(&mut app, "/query bad!nick"), vec![]);
    assert_eq!(last_text(&app), "Usage: /query NICK [TEXT]");
    // /close in a direct buffer closes it and tells the server nothing.
    assert_eq!(enter(&mut app, "/close"), vec![]);
    let labels: Vec<String> = app.buffers().all().iter().map(|b| b.name.label()).collect();
    assert_eq!(labels, vec!["lobby", "@bob", "@carol"]);
}

#[test]
fn query_with_text_opens_the_conversation_and_sends_the_text() {
    let (mut app, now) = online_app();
    type_text(&mut app, "/query bob  are you there? ", now);
    match app.update(key(KeyCode::Enter), now).as_slice() {
        [
            Effect::Send(ClientMsg::Say {
                text,
                room: None,
                to: Some(to),
                client_id: Some(_),
                notice: None,
            }),
        ] => assert_eq!((text.as_str(), to.as_str()), ("are you there?", "bob")),
        other => panic!("{other:?}"),
    }
    assert_eq!(app.buffers().active().name.label(), "@bob");
}

#[test]
fn leave_closes_the_buffer_and_parts_the_room_as_part_does() {
    let (mut app, now) = online_app();
    let enter = |app: &mut App, line: &str| {
        type_text(app, line, now);
        app.update(key(KeyCode::Enter), now)
    };
    enter(&mut app, "/join dev");
    enter(&mut app, "/join ops");
    assert_eq!(
        enter(&mut app, "/LEAVE"),
        vec![Effect::Send(ClientMsg::PartRoom { room: "ops".into() })]
    );
    // Later, once the pacing has a token again (the joins took four).
    let later = at(now, now.instant + Duration::from_secs(5));
    type_text(&mut app, "/leave #dev", later);
    assert_eq!(
        app.update(key(KeyCode::Enter), later),
        vec![Effect::Send(ClientMsg::PartRoom { room: "dev".into() })]
    );
    let labels: Vec<String> = app.buffers().all().iter().map(|b| b.name.label()).collect();
    assert_eq!(labels, vec!["lobby"]);
}

#[test]
fn a_server_command_used_wrongly_is_explained_here_from_the_shared_table() {
    let (mut app, now) = online_app();
    let enter = |app: &mut App, line: &str| {
        type_text(app, line, now);
        app.update(key(KeyCode::Enter), now)
    };
    for (line, usage) in [
        ("/me", "Usage: /me ACTION"),
        ("/nick two words", "Usage: /nick NEWNAME"),
        ("/join", "Usage: /join ROOM [KEY]"),
        ("/msg bad!nick hello", "Usage: /msg NICK TEXT"),
    ] {
        assert_eq!(enter(&mut app, line), vec![], "{line}: nothing sent");
        assert_eq!(last_text(&app), usage, "{line}");
    }
    // A word nobody knows goes to the server, which answers unknown_command.
    assert_eq!(
        said(&enter(&mut app, "/frobnicate now")),
        vec!["/frobnicate now"]
    );
    // A stray space before a command does not make it text: a direct
    // message must never go to the room.
    assert_eq!(said(&enter(&mut app, " /who")), vec!["/who"]);
    match enter(&mut app, "  /msg bob secret").as_slice() {
        [Effect::Send(ClientMsg::Say { text, to, room, .. })] => {
            assert_eq!((text.as_str(), to.as_deref()), ("secret", Some("bob")));
            assert_eq!(room, &None, "not to the room");
        }
        other => panic!("{other:?}"),
    }
    // Text keeps its spaces.
    assert_eq!(said(&enter(&mut app, "  indented")), vec!["  indented"]);
}

#[test]
fn the_help_lists_every_command_in_the_shared_table() {
    let help = help_text();
    assert!(help.starts_with("Keys: Enter send"), "{help}");
    for spec in lanchat_shared::command::COMMANDS {
        assert!(
            help.lines()
                .any(|line| line.starts_with(&spec.usage()) && line.ends_with(spec.help)),
            "/{} is missing from the help:\n{help}",
            spec.name
        );
    }
}

#[test]
fn join_and_part_name_rooms_and_a_bad_name_is_explained() {
    let (mut app, now) = online_app();
    let enter = |app: &mut App, line: &str| {
        type_text(app, line, now);
        app.update(key(KeyCode::Enter), now)
    };
    assert_eq!(enter(&mut app, "/join Not A Room"), vec![]);
    assert!(
        last_text(&app).starts_with("A room name has 1 to"),
        "{}",
        last_text(&app)
    );
    assert_eq!(enter(&mut app, "/join dev"), joining("dev"));
    app.update(ctrl('n'), now);
    assert_eq!(app.buffers().active().name.label(), "lobby");
    assert_eq!(
        enter(&mut app, "/part #dev"),
        vec![Effect::Send(ClientMsg::PartRoom { room: "dev".into() })],
        "a room named from another buffer"
    );
    assert_eq!(app.buffers().all().len(), 1);
}

#[test]
fn server_commands_go_as_typed_and_a_double_slash_is_text() {
    let (mut app, now) = online_app();
    let enter = |app: &mut App, line: &str| {
        type_text(app, line, now);
        app.update(key(KeyCode::Enter), now)
    };
    assert_eq!(
        enter(&mut app, "/me waves "),
        vec![Effect::Send(ClientMsg::Say {
            text: "/me waves ".into(),
            room: Some("lobby".into()),
            to: None,
            client_id: None,
            notice: None,
        })]
    );
    match enter(&mut app, "//etc/hosts is a file").as_slice() {
        [
            Effect::Send(ClientMsg::Say {
                text,
                client_id: Some(_),
                ..
            }),
        ] => assert_eq!(text, "//etc/hosts is a file"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        enter(&mut app, "/EXIT bye now"),
        vec![
            Effect::Send(ClientMsg::Quit {
                reason: Some("bye now".into())
            }),
            Effect::Quit
        ]
    );
    app.update(
        Event::Net(NetEvent::Disconnected {
            reason: "gone".into(),
            retry_in: Duration::from_secs(1),
        }),
        now,
    );
    assert_eq!(enter(&mut app, "/who"), vec![]);
    assert_eq!(last_text(&app), "Not connected; commands need the server.");
}

#[test]
fn a_text_over_the_limit_is_refused_and_kept_in_the_input() {
    let (mut app, now) = online_app();
    app.update(Event::Paste("x".repeat(2001)), now);
    assert_eq!(app.update(key(KeyCode::Enter), now), vec![]);
    assert_eq!(app.input().text().len(), 2001, "nothing lost");
    assert!(last_text(&app).contains("2000"));
}

#[test]
fn a_multi_line_paste_asks_before_sending_several_messages() {
    // Lines end in LF, CR LF, or CR alone (what tmux and many terminals
    // paste).
    for paste in ["one\ntwo\n\nthree\n", "one\rtwo\r\n\rthree\r"] {
        let (mut app, now) = online_app();
        app.update(Event::Paste(paste.into()), now);
        let lines = vec!["one".into(), "two".into(), "three".into()];
        assert_eq!(
            app.prompt(),
            Some(&Prompt::ConfirmPaste(lines)),
            "{paste:?}"
        );
    }
    let (mut app, now) = online_app();
    app.update(Event::Paste("one\ntwo\n\nthree\n".into()), now);
    assert_eq!(
        said(&app.update(key(KeyCode::Char('y')), now)),
        vec!["one", "two", "three"]
    );
    assert_eq!(app.prompt(), None);

    app.update(Event::Paste("a\nb".into()), now);
    assert_eq!(app.update(key(KeyCode::Esc), now), vec![]);
    assert_eq!(
        app.input().text(),
        "a b",
        "declined: kept in the input as one line"
    );

    let (mut app, now) = online_app();
    app.update(Event::Paste("single line".into()), now);
    assert_eq!(app.input().text(), "single line");
    assert_eq!(app.prompt(), None);
}

#[test]
fn sending_is_paced_to_the_servers_default_rate() {
    let (mut app, now) = online_app();
    app.update(
        Event::Paste((0..8).map(|i| format!("m{i}\n")).collect()),
        now,
    );
    let sent = app.update(key(KeyCode::Char('y')), now);
    assert_eq!(sent.len(), 5, "the burst");
    assert_eq!(app.outbox_len(), 3);
    let next = app
        .next_tick(now.instant)
        .expect("a tick is due for the rest");
    assert!(next > now.instant && next <= now.instant + Duration::from_millis(500));
    assert_eq!(said(&app.update(Event::Tick, at(now, next))), vec!["m5"]);
    assert_eq!(
        said(&app.update(Event::Tick, at(now, next + Duration::from_secs(10)))),
        vec!["m6", "m7"]
    );
    assert_eq!(
        app.next_tick(next),
        Some(now.instant + NOT_ANSWERING_AFTER),
        "all sent: only the wait for their echoes is left"
    );
}

#[test]
fn messages_typed_offline_are_sent_on_reconnect() {
    let (mut app, now) = online_app();
    app.update(
        Event::Net(NetEvent::Disconnected {
            reason: "gone".into(),
            retry_in: Duration::from_secs(1),
        }),
        now,
    );
    assert!(matches!(app.connection(), Connection::Offline { .. }));
    type_text(&mut app, "still here", now);
    assert_eq!(app.update(key(KeyCode::Enter), now), vec![]);
    assert_eq!(app.outbox_len(), 1);
    let back = Event::Net(connected("alice"));
    assert_eq!(said(&app.update(back, now)), vec!["still here"]);
    assert_eq!(app.outbox_len(), 0);
}

#[test]
fn unconfirmed_messages_are_sent_again_with_the_same_client_id_after_a_drop() {
    let (mut app, now) = online_app();
    type_text(&mut app, "first", now);
    let first = app.update(key(KeyCode::Enter), now);
    type_text(&mut app, "second", now);
    let second = app.update(key(KeyCode::Enter), now);
    let client_id = |effects: &[Effect]| match effects {
        [
            Effect::Send(ClientMsg::Say {
                client_id: Some(id),
                ..
            }),
        ] => id.clone(),
        other => panic!("{other:?}"),
    };
    let (first_id, second_id) = (client_id(&first), client_id(&second));
    assert_ne!(first_id, second_id);
    // Random, not a prefix and a counter: nothing in them counts messages.
    for id in [&first_id, &second_id] {
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    }
    assert_ne!(first_id[..16], second_id[..16], "no shared prefix");
    let echo = ServerMsg::Message {
        id: 1,
        ts: 0,
        from: "alice".into(),
        text: "first".into(),
        room: Some("lobby".into()),
        to: None,
        action: None,
        client_id: Some(first_id),
        notice: None,
    };
    app.update(Event::Net(NetEvent::Server(echo)), now);
    app.update(
        Event::Net(NetEvent::Disconnected {
            reason: "reset".into(),
            retry_in: Duration::from_secs(1),
        }),
        now,
    );
    assert_eq!(
        last_text(&app),
        "1 message(s) not yet confirmed will be sent again (never twice)."
    );
    assert_eq!(app.outbox_len(), 1);
    let back = Event::Net(connected("alice"));
    let resent = app.update(back, now);
    assert_eq!(
        client_id(&resent),
        second_id,
        "the same id, so the server stores it once"
    );
}

#[test]
fn a_message_already_shown_is_not_shown_again() {
    let (mut app, now) = online_app();
    app.update(message(7, "bob", "once"), now);
    app.update(message(7, "bob", "once"), now);
    let rows = app.scrollback().visible(80, 10);
    let count = rows
        .iter()
        .filter(
            |r| matches!(r, crate::scrollback::VisibleRow::Text { text, .. } if *text == "once"),
        )
        .count();
    assert_eq!(count, 1);
}

#[test]
fn rooms_and_direct_messages_get_their_own_buffers_with_unread_counts() {
    let (mut app, now) = online_app();
    let in_room = |id, room: &str, text: &str| {
        Event::Net(NetEvent::Server(ServerMsg::Message {
            id,
            ts: 0,
            from: "bob".into(),
            text: text.into(),
            room: Some(room.into()),
            to: None,
            action: None,
            client_id: None,
            notice: None,
        }))
    };
    app.update(in_room(1, "dev", "in dev"), now);
    app.update(in_room(2, "dev", "alice: look"), now);
    let direct = ServerMsg::Message {
        id: 3,
        ts: 0,
        from: "bob".into(),
        text: "psst".into(),
        room: None,
        to: Some("alice".into()),
        action: None,
        client_id: None,
        notice: None,
    };
    app.update(Event::Net(NetEvent::Server(direct)), now);
    let labels: Vec<String> = app.buffers().all().iter().map(|b| b.name.label()).collect();
    assert_eq!(labels, vec!["lobby", "#dev", "@bob"]);
    assert_eq!(
        (
            app.buffers().all()[1].unread,
            app.buffers().all()[1].highlights
        ),
        (2, 1)
    );
    assert_eq!(
        (
            app.buffers().all()[2].unread,
            app.buffers().all()[2].highlights
        ),
        (1, 1),
        "a direct message is a highlight"
    );

    // Alt-2 shows #dev; what is typed there goes to #dev.
    app.update(
        Event::Key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::ALT)),
        now,
    );
    assert_eq!(app.buffers().active().name.label(), "#dev");
    assert_eq!(app.buffers().active().unread, 0);
    type_text(&mut app, "reply", now);
    match app.update(key(KeyCode::Enter), now).as_slice() {
        [Effect::Send(ClientMsg::Say { room, to: None, .. })] => {
            assert_eq!(room.as_deref(), Some("dev"))
        }
        other => panic!("{other:?}"),
    }
    // Ctrl-N moves on to @bob; a reply there is a direct message.
    app.update(ctrl('n'), now);
    type_text(&mut app, "hi bob", now);
    match app.update(key(KeyCode::Enter), now).as_slice() {
        [Effect::Send(ClientMsg::Say { to, room: None, .. })] => {
            assert_eq!(to.as_deref(), Some("bob"))
        }
        other => panic!("{other:?}"),
    }
    // /join opens and shows a buffer; /part closes it.
    type_text(&mut app, "/join ops", now);
    assert_eq!(app.update(key(KeyCode::Enter), now), joining("ops"));
    assert_eq!(app.buffers().active().name.label(), "#ops");
    type_text(&mut app, "/part", now);
    assert_eq!(
        app.update(key(KeyCode::Enter), now),
        vec![Effect::Send(ClientMsg::PartRoom { room: "ops".into() })]
    );
    assert_eq!(app.buffers().all().len(), 3);
}

#[test]
fn a_mention_rings_the_bell_and_is_marked_but_not_our_own_lines() {
    let (mut app, now) = online_app();
    assert_eq!(
        app.update(message(1, "bob", "hey Alice, look"), now),
        vec![Effect::Bell]
    );
    assert_eq!(
        app.update(message(2, "bob", "malice aforethought"), now),
        vec![]
    );
    assert_eq!(app.update(message(3, "alice", "alice here"), now), vec![]);

    let (mut quiet, now) = online_app_with(AppOptions {
        bell_on_mention: false,
        ..alice()
    });
    assert_eq!(
        quiet.update(message(4, "bob", "alice?"), now),
        vec![],
        "--no-bell"
    );
    match quiet.scrollback().visible(80, 1).first() {
        Some(crate::scrollback::VisibleRow::Text { entry, .. }) => assert!(
            matches!(entry.kind, EntryKind::Chat { mention: true, .. }),
            "still marked without the bell"
        ),
        other => panic!("{other:?}"),
    }
    assert!(mentions("@alice: hi", "alice"));
    assert!(!mentions("alice_b", "alice"));
}

#[test]
fn everything_from_the_network_is_sanitised_again() {
    let (mut app, now) = online_app();
    app.update(
        message(1, "b\u{1b}[31mob", "\u{1b}]0;owned\u{7}hi\u{202e}"),
        now,
    );
    match app.scrollback().visible(80, 1).first() {
        Some(crate::scrollback::VisibleRow::Text { entry, text, .. }) => {
            assert_eq!(*text, "hi");
            assert!(
                matches!(&entry.kind, crate::scrollback::EntryKind::Chat { from, .. } if from == "bob")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_refused_nickname_asks_for_another_in_the_input_line() {
    let now = noon();
    let mut app = App::new(alice(), (80, 24), now);
    app.update(
        Event::Net(NetEvent::NickRejected {
            message: "The nickname alice is taken; try another.".into(),
        }),
        now,
    );
    assert_eq!(app.prompt(), Some(&Prompt::ChooseNick));
    type_text(&mut app, "bad nick", now);
    assert_eq!(
        app.update(key(KeyCode::Enter), now),
        vec![],
        "checked locally first"
    );
    assert!(last_text(&app).starts_with("\"bad nick\""), "names it");
    assert!(app.input().is_empty(), "the refused text is gone");
    type_text(&mut app, "alice2", now);
    assert_eq!(
        app.update(key(KeyCode::Enter), now),
        vec![Effect::Hello("alice2".into())]
    );
    app.update(Event::Net(connected("alice2")), now);
    assert_eq!(app.prompt(), None);
    assert_eq!(app.nick(), "alice2");
}

#[test]
fn join_and_leave_keep_the_user_list_and_tab_completes_from_it() {
    let (mut app, now) = online_app();
    app.update(
        Event::Net(NetEvent::Server(ServerMsg::Join {
            nick: "carol".into(),
            room: None,
            owned: None,
        })),
        now,
    );
    assert_eq!(app.users(), ["alice", "bob", "carol"]);
    app.update(
        Event::Net(NetEvent::Server(ServerMsg::Leave {
            nick: "bob".into(),
            reason: "quit".into(),
            room: None,
        })),
        now,
    );
    assert_eq!(app.users(), ["alice", "carol"]);
    type_text(&mut app, "ca", now);
    app.update(key(KeyCode::Tab), now);
    assert_eq!(app.input().text(), "carol: ");
}

#[test]
fn scrolling_up_counts_unread_until_back_to_live() {
    let (mut app, now) = online_app();
    app.update(Event::Resize(40, 8), now);
    for i in 0..30 {
        app.update(message(i, "bob", &format!("line {i}")), now);
    }
    app.update(key(KeyCode::PageUp), now);
    assert!(!app.scrollback().is_live());
    app.update(message(99, "bob", "while away"), now);
    app.update(message(100, "bob", "and again"), now);
    assert_eq!(app.scrollback().unread(), 2);
    app.update(
        Event::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollUp,
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        }),
        now,
    );
    app.update(
        Event::Key(KeyEvent::new(KeyCode::End, KeyModifiers::CONTROL)),
        now,
    );
    assert!(app.scrollback().is_live());
    assert_eq!(app.scrollback().unread(), 0);
}

/// The client ids of the says among `effects`.
fn sent_ids(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Send(ClientMsg::Say {
                client_id: Some(id),
                ..
            }) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

/// Types `text` and presses Enter: the client id it was sent with.
fn send_line(app: &mut App, text: &str, now: Now) -> String {
    type_text(app, text, now);
    let ids = sent_ids(&app.update(key(KeyCode::Enter), now));
    assert_eq!(ids.len(), 1, "{text:?} is sent");
    ids[0].clone()
}

fn refusal(code: ErrorCode, message: &str, client_id: Option<&str>) -> Event {
    Event::Net(NetEvent::Server(ServerMsg::refusal_of(
        code,
        message,
        client_id.map(str::to_owned),
    )))
}

#[test]
fn server_refusals_are_shown_with_the_text_that_was_not_sent() {
    let (mut app, now) = online_app();
    send_line(&mut app, "still there hank?", now);
    let second = send_line(&mut app, "too fast", now);
    app.update(
        refusal(
            ErrorCode::RateLimited,
            "You are sending too fast.",
            Some(&second),
        ),
        now,
    );
    assert_eq!(
        last_text(&app),
        "You are sending too fast. Not sent: too fast",
        "the refusal names the line it refused, not the oldest"
    );
    assert_eq!(app.unsent_len(), 1, "only the refused line is gone");
    assert_eq!(app.pending_here(), ["still there hank?"]);
}

#[test]
fn a_refusal_without_a_client_id_takes_no_message_off_the_queue() {
    let (mut app, now) = online_app();
    send_line(&mut app, "still there hank?", now);
    for _ in 0..8 {
        type_text(&mut app, "/who", now);
        app.update(key(KeyCode::Enter), now);
    }
    app.update(
        refusal(ErrorCode::RateLimited, "You are sending too fast.", None),
        now,
    );
    assert_eq!(last_text(&app), "You are sending too fast.");
    assert_eq!(app.pending_here(), ["still there hank?"]);
}

#[test]
fn a_refused_message_is_not_sent_again_after_a_reconnect() {
    let (mut app, now) = online_app();
    let refused = send_line(&mut app, "nobody hears this", now);
    let kept = send_line(&mut app, "but this one", now);
    app.update(
        refusal(
            ErrorCode::NotInRoom,
            "You are not in #lobby.",
            Some(&refused),
        ),
        now,
    );
    assert!(last_text(&app).ends_with("Not sent: nobody hears this"));
    app.update(
        Event::Net(NetEvent::Disconnected {
            reason: "reset".into(),
            retry_in: Duration::from_secs(1),
        }),
        now,
    );
    let resent = app.update(Event::Net(connected("alice")), now);
    assert_eq!(
        sent_ids(&resent),
        vec![kept],
        "the refused one stays unsent"
    );
}

#[test]
fn a_typed_line_is_pending_until_echoed_and_a_silent_server_is_noticed() {
    let (mut app, now) = online_app();
    let id = send_line(&mut app, "anyone?", now);
    assert_eq!(app.pending_here(), ["anyone?"], "shown at once");
    assert_eq!(app.unsent_len(), 1);
    assert_eq!(app.not_answering_since(), None);
    let due = app
        .next_tick(now.instant)
        .expect("a tick to notice silence");
    assert_eq!(due, now.instant + NOT_ANSWERING_AFTER);
    app.update(Event::Tick, at(now, due));
    assert_eq!(app.not_answering_since(), Some(now.instant));
    let echo = ServerMsg::Message {
        id: 1,
        ts: 0,
        from: "alice".into(),
        text: "anyone?".into(),
        room: Some("lobby".into()),
        to: None,
        action: None,
        client_id: Some(id),
        notice: None,
    };
    app.update(Event::Net(NetEvent::Server(echo)), at(now, due));
    assert_eq!(app.pending_here(), Vec::<&str>::new());
    assert_eq!((app.unsent_len(), app.not_answering_since()), (0, None));
}

#[test]
fn notices_are_stamped_with_the_wall_time_passed_to_update() {
    let (mut app, now) = online_app();
    let stamp = |app: &App| match app.scrollback().visible(200, 1).first() {
        Some(crate::scrollback::VisibleRow::Text { entry, .. }) => entry.time.clone(),
        other => panic!("expected a text row, got {other:?}"),
    };
    app.update(
        Event::Notice("early".into()),
        Now {
            wall: local(3, 7),
            ..now
        },
    );
    assert_eq!(stamp(&app), "03:07");
    app.update(
        Event::Notice("late".into()),
        Now {
            wall: local(21, 59),
            ..now
        },
    );
    assert_eq!(stamp(&app), "21:59");
    // A message keeps the time the server gave it, whatever the clock says.
    let sent_at = local(8, 30).timestamp_millis() as u64;
    app.update(
        Event::Net(NetEvent::Server(ServerMsg::chat(1, sent_at, "bob", "hi"))),
        now,
    );
    assert_eq!(stamp(&app), "08:30");
}

fn direct(id: u64, from: &str, text: &str) -> Event {
    Event::Net(NetEvent::Server(ServerMsg::Message {
        id,
        ts: 0,
        from: from.into(),
        text: text.into(),
        room: None,
        to: Some("alice".into()),
        action: None,
        client_id: None,
        notice: None,
    }))
}

fn presence(event: ServerMsg) -> Event {
    Event::Net(NetEvent::Server(event))
}

/// The activity, unread count and highlight count of buffer `index`.
fn counts(app: &App, index: usize) -> (Activity, usize, usize) {
    let buffer = &app.buffers().all()[index];
    (buffer.activity, buffer.unread, buffer.highlights)
}

#[test]
fn a_direct_message_rings_the_bell_and_is_a_highlight() {
    let (mut app, now) = online_app();
    assert_eq!(
        app.update(direct(1, "carol", "psst"), now),
        vec![Effect::Bell]
    );
    assert_eq!(counts(&app, 1), (Activity::Highlight, 1, 1));
}

#[test]
fn history_read_in_an_earlier_run_neither_rings_nor_counts() {
    let read_marks = HashMap::from([("@carol".to_owned(), 3)]);
    let (mut app, now) = online_app_with(AppOptions {
        read_marks,
        ..alice()
    });
    for id in 1..=3 {
        assert_eq!(app.update(direct(id, "carol", "old"), now), vec![]);
    }
    assert_eq!(counts(&app, 1), (Activity::None, 0, 0));
    assert_eq!(
        app.update(direct(4, "carol", "new"), now),
        vec![Effect::Bell]
    );
    assert_eq!(counts(&app, 1), (Activity::Highlight, 1, 1));
    app.update(
        Event::Key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::ALT)),
        now,
    );
    assert_eq!(
        app.buffers().read_marks().get("@carol"),
        Some(&4),
        "kept for next time"
    );
}

#[test]
fn joins_parts_and_renames_are_low_activity_and_not_unread() {
    let (mut app, now) = online_app();
    app.update(message(1, "bob", "in the lobby"), now);
    type_text(&mut app, "/join dev", now);
    app.update(key(KeyCode::Enter), now);
    let join = |nick: &str, room: Option<&str>| {
        presence(ServerMsg::Join {
            nick: nick.into(),
            room: room.map(str::to_owned),
            owned: None,
        })
    };
    app.update(join("carol", None), now);
    app.update(
        presence(ServerMsg::Leave {
            nick: "carol".into(),
            reason: "quit".into(),
            room: None,
        }),
        now,
    );
    assert_eq!(counts(&app, 0), (Activity::Low, 0, 0), "no lobby(2)");
    app.update(message(2, "bob", "said"), now);
    assert_eq!(counts(&app, 0), (Activity::Message, 1, 0));
}

#[test]
fn a_conversation_follows_its_partner_to_a_new_nickname() {
    let (mut app, now) = online_app();
    app.update(direct(1, "bob", "hi"), now);
    app.update(
        presence(ServerMsg::Nick {
            old: "bob".into(),
            new: "robert".into(),
            owned: None,
        }),
        now,
    );
    let labels: Vec<String> = app.buffers().all().iter().map(|b| b.name.label()).collect();
    assert_eq!(labels, ["lobby", "@robert"]);
    app.update(
        Event::Key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::ALT)),
        now,
    );
    assert_eq!(
        said(&app.update(Event::Paste("still there?".into()), now)),
        Vec::<String>::new()
    );
    match app.update(key(KeyCode::Enter), now).as_slice() {
        [Effect::Send(ClientMsg::Say { to, .. })] => assert_eq!(to.as_deref(), Some("robert")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn msg_sends_without_moving_the_view_so_me_stays_public() {
    let (mut app, now) = online_app();
    type_text(&mut app, "/msg bob psst", now);
    let sent = app.update(key(KeyCode::Enter), now);
    assert!(
        matches!(sent.as_slice(), [Effect::Send(ClientMsg::Say { to: Some(to), .. })] if to == "bob")
    );
    assert_eq!(app.buffers().active().name.label(), "lobby");
    assert_eq!(last_text(&app), "To @bob (buffer 2): psst");
    type_text(&mut app, "/me waves", now);
    match app.update(key(KeyCode::Enter), now).as_slice() {
        [Effect::Send(ClientMsg::Say { room, to: None, .. })] => {
            assert_eq!(room.as_deref(), Some("lobby"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn alt_a_shows_the_next_buffer_with_activity_highlights_first() {
    let (mut app, now) = online_app();
    let in_room = |id, room: &str| {
        Event::Net(NetEvent::Server(ServerMsg::Message {
            id,
            ts: 0,
            from: "bob".into(),
            text: "hello".into(),
            room: Some(room.into()),
            to: None,
            action: None,
            client_id: None,
            notice: None,
        }))
    };
    app.update(in_room(1, "dev"), now);
    app.update(direct(2, "carol", "psst"), now);
    let alt_a = Event::Key(KeyEvent::new(KeyCode::Char('a'), KeyModifiers::ALT));
    app.update(alt_a.clone(), now);
    assert_eq!(app.buffers().active().name.label(), "@carol");
    app.update(alt_a.clone(), now);
    assert_eq!(app.buffers().active().name.label(), "#dev");
    app.update(alt_a, now);
    assert_eq!(app.buffers().active().name.label(), "#dev", "nothing left");
}

#[test]
fn a_message_from_another_day_shows_its_date() {
    let (mut app, now) = online_app();
    let stamp = |app: &App| match app.scrollback().visible(200, 1).first() {
        Some(crate::scrollback::VisibleRow::Text { entry, .. }) => entry.time.clone(),
        other => panic!("expected a text row, got {other:?}"),
    };
    let three_days_ago = (local(9, 15) - chrono::Duration::days(3)).timestamp_millis() as u64;
    app.update(
        Event::Net(NetEvent::Server(ServerMsg::chat(
            1,
            three_days_ago,
            "bob",
            "old",
        ))),
        now,
    );
    assert_eq!(stamp(&app), "May 30 09:15");
    let today = local(11, 0).timestamp_millis() as u64;
    app.update(
        Event::Net(NetEvent::Server(ServerMsg::chat(2, today, "bob", "new"))),
        now,
    );
    assert_eq!(stamp(&app), "11:00");
}

#[test]
fn the_connected_line_comes_after_the_history_replayed_with_the_welcome() {
    let now = noon();
    let mut app = App::new(alice(), (80, 24), now);
    app.update(Event::Net(connected("alice")), now);
    let earlier = local(11, 0).timestamp_millis() as u64;
    let history = ServerMsg::chat(1, earlier, "bob", "from before");
    app.update(Event::Net(NetEvent::Server(history)), now);
    app.update(Event::Net(NetEvent::Server(ServerMsg::HistoryEnd {})), now);
    let texts = app.scrollback().visible_texts(200, 2);
    assert_eq!(texts[0], "from before");
    assert!(
        texts[1].starts_with("Connected to server:7878 as alice"),
        "{texts:?}"
    );
}

#[test]
fn the_user_list_shows_the_people_of_the_room_shown() {
    let (mut app, now) = online_app();
    type_text(&mut app, "/join dev", now);
    assert_eq!(app.update(key(KeyCode::Enter), now), joining("dev"));
    let who = ServerMsg::info("Here in #dev (2): carol, alice");
    app.update(Event::Net(NetEvent::Server(who)), now);
    assert_eq!(app.users(), ["alice", "carol"]);
    assert!(
        app.scrollback().is_empty(),
        "the answer to the client's own question is not shown"
    );
    app.update(
        presence(ServerMsg::Join {
            nick: "dave".into(),
            room: Some("dev".into()),
            owned: None,
        }),
        now,
    );
    assert_eq!(app.users(), ["alice", "carol", "dave"]);
    app.update(ctrl('n'), now);
    assert_eq!(
        app.users(),
        ["alice", "bob"],
        "the lobby's people in the lobby"
    );
}

fn alt(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT))
}

/// Types `line` and presses Enter.
fn enter_line(app: &mut App, line: &str, now: Now) -> Vec<Effect> {
    type_text(app, line, now);
    app.update(key(KeyCode::Enter), now)
}

#[test]
fn buffer_n_shows_buffers_past_the_ninth() {
    let (mut app, now) = online_app();
    for room in 1..=11 {
        enter_line(&mut app, &format!("/join room{room}"), now);
    }
    enter_line(&mut app, "/buffer 12", now);
    assert_eq!(app.buffers().active().name.label(), "#room11");
    enter_line(&mut app, "/b 1", now);
    assert_eq!(app.buffers().active().name.label(), "lobby");
    enter_line(&mut app, "/b 13", now);
    assert_eq!(last_text(&app), "There is no buffer 13; there are 12.");
    enter_line(&mut app, "/b two", now);
    assert_eq!(last_text(&app), "Usage: /buffer N");
}

#[test]
fn lastlog_lists_the_lines_of_this_buffer_that_contain_the_text() {
    let (mut app, now) = online_app();
    let at_eleven = local(11, 0).timestamp_millis() as u64;
    let said = |id, from: &str, text: &str| {
        Event::Net(NetEvent::Server(ServerMsg::chat(id, at_eleven, from, text)))
    };
    app.update(said(1, "bob", "the Deploy is at noon"), now);
    app.update(said(2, "bob", "lunch?"), now);
    app.update(said(3, "carol", "deploy done"), now);
    assert_eq!(enter_line(&mut app, "/lastlog deploy", now), vec![]);
    assert_eq!(
        app.scrollback().visible_texts(200, 3),
        [
            "Lines with \"deploy\": 2",
            "[11:00] <bob> the Deploy is at noon",
            "[11:00] <carol> deploy done"
        ]
    );
}

#[test]
fn ctrl_l_redraws_and_alt_m_hands_the_mouse_over_and_back() {
    let (mut app, now) = online_app();
    assert_eq!(app.update(ctrl('l'), now), vec![Effect::Redraw]);
    assert_eq!(app.update(ctrl('z'), now), vec![Effect::Suspend]);
    assert_eq!(app.update(alt('m'), now), vec![Effect::Mouse(Mouse::Free)]);
    assert!(last_text(&app).starts_with("Mouse off"));
    assert_eq!(
        app.update(alt('m'), now),
        vec![Effect::Mouse(Mouse::Captured)]
    );
    let (mut free, now) = online_app_with(AppOptions {
        mouse: Mouse::Free,
        ..alice()
    });
    assert_eq!(
        free.update(alt('m'), now),
        vec![Effect::Mouse(Mouse::Captured)],
        "--no-mouse starts free"
    );
}

#[test]
fn tab_completes_commands_rooms_and_nicknames() {
    let (mut app, now) = online_app();
    enter_line(&mut app, "/join devops", now);
    let tab = |app: &mut App, typed: &str| {
        app.update(ctrl('u'), now);
        type_text(app, typed, now);
        app.update(key(KeyCode::Tab), now);
        app.input().text().to_owned()
    };
    assert_eq!(tab(&mut app, "/jo"), "/join ");
    assert_eq!(tab(&mut app, "/part dev"), "/part devops ");
    assert_eq!(tab(&mut app, "see #de"), "see #devops ");
    assert_eq!(tab(&mut app, "/b"), "/b ");
    app.update(ctrl('n'), now);
    assert_eq!(tab(&mut app, "b"), "bob: ");
    assert_eq!(tab(&mut app, "hi b"), "hi bob ");
}

#[test]
fn a_client_that_never_connected_is_not_told_it_was_disconnected() {
    let now = noon();
    let mut app = App::new(alice(), (80, 24), now);
    let refused = || {
        Event::Net(NetEvent::Disconnected {
            reason: "could not connect to server:7878: refused".into(),
            retry_in: Duration::from_secs(1),
        })
    };
    app.update(refused(), now);
    assert_eq!(
        last_text(&app),
        "Not connected yet: could not connect to server:7878: refused. Trying again in 1 s."
    );
    app.update(Event::Net(connected("alice")), now);
    app.update(refused(), now);
    assert!(last_text(&app).starts_with("Disconnected: "));
}

#[test]
fn words_from_the_settings_count_as_mentions() {
    let (mut app, now) = online_app_with(AppOptions {
        highlights: vec!["deploy".into()],
        ..alice()
    });
    assert_eq!(
        app.update(message(1, "bob", "the Deploy is broken"), now),
        vec![Effect::Bell]
    );
    assert_eq!(app.update(message(2, "bob", "redeployed"), now), vec![]);
}

#[test]
fn a_highlight_while_the_terminal_is_in_the_background_is_a_notification() {
    let (mut app, now) = online_app();
    assert_eq!(
        app.update(direct(1, "carol", "psst"), now),
        vec![Effect::Bell]
    );
    app.update(Event::Focus(Focus::Lost), now);
    assert_eq!(
        app.update(direct(2, "carol", "still there?"), now),
        vec![
            Effect::Bell,
            Effect::Notify {
                title: "carol".into(),
                body: "still there?".into()
            }
        ]
    );
    assert_eq!(
        app.update(message(3, "bob", "alice: look"), now),
        vec![
            Effect::Bell,
            Effect::Notify {
                title: "bob in lobby".into(),
                body: "alice: look".into()
            }
        ]
    );
    assert_eq!(app.update(message(4, "bob", "not for you"), now), vec![]);
    app.update(Event::Focus(Focus::Gained), now);
    assert_eq!(
        app.update(direct(5, "carol", "back?"), now),
        vec![Effect::Bell]
    );

    let (mut quiet, now) = online_app_with(AppOptions {
        notify: false,
        ..alice()
    });
    quiet.update(Event::Focus(Focus::Lost), now);
    assert_eq!(
        quiet.update(direct(1, "carol", "psst"), now),
        vec![Effect::Bell],
        "--no-notify"
    );
}

fn history_end() -> Event {
    Event::Net(NetEvent::Server(ServerMsg::HistoryEnd {}))
}

#[test]
fn scrolling_past_the_top_fetches_the_page_before_the_oldest_message() {
    let (mut app, now) = online_app();
    enter_line(&mut app, "/clear", now);
    let at_eleven = local(11, 0).timestamp_millis() as u64;
    let message = |id, from: &str, text: &str| {
        Event::Net(NetEvent::Server(ServerMsg::chat(id, at_eleven, from, text)))
    };
    let live = Event::Key(KeyEvent::new(KeyCode::End, KeyModifiers::CONTROL));
    for id in 10..=12 {
        app.update(message(id, "bob", &format!("m{id}")), now);
    }
    let asked = app.update(key(KeyCode::PageUp), now);
    assert_eq!(
        asked,
        vec![Effect::Send(ClientMsg::History {
            before: 10,
            room: Some("lobby".into())
        })]
    );
    assert_eq!(app.update(key(KeyCode::PageUp), now), vec![], "asked once");
    // The page, then something live meanwhile.
    app.update(message(8, "bob", "m8"), now);
    app.update(message(9, "carol", "m9"), now);
    app.update(message(13, "bob", "m13"), now);
    app.update(history_end(), now);
    app.update(live.clone(), now);
    let texts = app.scrollback().visible_texts(200, 10);
    assert_eq!(texts, ["m8", "m9", "m10", "m11", "m12", "m13"]);
    assert_eq!(
        app.update(key(KeyCode::PageUp), now),
        vec![Effect::Send(ClientMsg::History {
            before: 8,
            room: Some("lobby".into())
        })]
    );
    app.update(history_end(), now);
    app.update(live, now);
    let texts = app.scrollback().visible_texts(200, 10);
    assert_eq!(texts[0], "This is the oldest history the server keeps.");
    assert_eq!(
        app.update(key(KeyCode::PageUp), now),
        vec![],
        "no more to ask for"
    );
}

#[test]
fn a_page_of_older_direct_messages_goes_to_its_conversation_only() {
    let (mut app, now) = online_app();
    app.update(direct(20, "carol", "newer"), now);
    app.update(alt('2'), now);
    assert_eq!(
        app.update(key(KeyCode::PageUp), now),
        vec![Effect::Send(ClientMsg::History {
            before: 20,
            room: None
        })]
    );
    app.update(direct(5, "carol", "older"), now);
    app.update(direct(6, "dave", "for another buffer"), now);
    app.update(history_end(), now);
    assert_eq!(app.scrollback().visible_texts(200, 10), ["older", "newer"]);
    assert_eq!(app.buffers().all().len(), 2, "no buffer opened for dave's");
    assert_eq!(counts(&app, 1), (Activity::None, 0, 0));
}

#[test]
fn quitting_a_hosted_room_with_others_in_it_asks_first() {
    let (mut app, now) = online_app_with(AppOptions {
        hosting: true,
        ..alice()
    });
    assert_eq!(enter_line(&mut app, "/quit", now), vec![], "bob is here");
    assert_eq!(app.prompt(), Some(&Prompt::ConfirmQuit(None)));
    assert_eq!(app.update(key(KeyCode::Char('n')), now), vec![]);
    assert_eq!(app.prompt(), None);
    assert_eq!(last_text(&app), "Still hosting the room.");
    app.update(ctrl('c'), now);
    let quit = vec![Effect::Send(ClientMsg::Quit { reason: None }), Effect::Quit];
    assert_eq!(app.update(key(KeyCode::Char('y')), now), quit);
    assert_eq!(
        app.update(Event::Terminate, now),
        quit,
        "a signal is not asked about"
    );

    let (mut alone, now) = online_app_with(AppOptions {
        hosting: true,
        ..alice()
    });
    alone.update(
        presence(ServerMsg::Leave {
            nick: "bob".into(),
            reason: "quit".into(),
            room: None,
        }),
        now,
    );
    assert_eq!(
        enter_line(&mut alone, "over", now),
        quit,
        "nobody else to ask for"
    );
}

#[test]
fn a_room_whose_server_shut_down_and_stayed_away_is_over() {
    let (mut app, now) = online_app();
    app.update(
        Event::Net(NetEvent::Greeted {
            name: "carol's room".into(),
        }),
        now,
    );
    app.update(Event::Net(connected("alice")), now);
    app.update(history_end(), now);
    assert!(last_text(&app).starts_with("Connected to carol's room (server:7878) as alice"));
    let notice = ServerMsg::info("The server is shutting down. Goodbye!");
    app.update(Event::Net(NetEvent::Server(notice)), now);
    let dropped = |app: &mut App, after: Duration| {
        let event = Event::Net(NetEvent::Disconnected {
            reason: "the server closed the connection".into(),
            retry_in: Duration::from_secs(1),
        });
        app.update(event, at(now, now.instant + after))
    };
    assert_eq!(dropped(&mut app, Duration::ZERO), vec![]);
    assert_eq!(
        dropped(&mut app, Duration::from_secs(30)),
        vec![],
        "still trying"
    );
    assert_eq!(dropped(&mut app, ROOM_GONE_AFTER), vec![Effect::GiveUp]);
    assert_eq!(app.connection(), &Connection::Ended);
    let shown = app.scrollback().visible_texts(400, 2).join(" ");
    assert!(
        shown.contains("carol's room has ended") && shown.contains("lanchat --host"),
        "{shown}"
    );
    assert_eq!(enter_line(&mut app, "hello?", now), vec![]);
    assert_eq!(
        last_text(&app),
        "Not sent: the client no longer connects to this server (see above)."
    );
}

#[test]
fn a_server_that_comes_back_after_its_shutdown_is_not_given_up_on() {
    let (mut app, now) = online_app();
    let notice = ServerMsg::info("The server is shutting down. Goodbye!");
    app.update(Event::Net(NetEvent::Server(notice)), now);
    let dropped = Event::Net(NetEvent::Disconnected {
        reason: "closed".into(),
        retry_in: Duration::from_secs(1),
    });
    app.update(dropped.clone(), now);
    app.update(Event::Net(connected("alice")), now);
    let later = at(now, now.instant + ROOM_GONE_AFTER * 2);
    assert_eq!(app.update(dropped, later), vec![], "a plain drop now");
    assert!(matches!(app.connection(), Connection::Offline { .. }));
}

#[test]
fn rejoining_many_rooms_is_paced_like_messages() {
    let read_marks = (1..=6).map(|n| (format!("#room{n}"), 0)).collect();
    let now = noon();
    let mut app = App::new(
        AppOptions {
            read_marks,
            ..alice()
        },
        (80, 24),
        now,
    );
    let sent = app.update(Event::Net(connected("alice")), now);
    assert_eq!(sent.len(), 5, "the burst the server allows: {sent:?}");
    let mut all = sent;
    let mut instant = now.instant;
    while let Some(next) = app.next_tick(instant) {
        instant = next;
        all.extend(app.update(Event::Tick, at(now, instant)));
        if all.len() >= 12 {
            break;
        }
    }
    let joins = all
        .iter()
        .filter(|e| matches!(e, Effect::Send(ClientMsg::JoinRoom { .. })))
        .count();
    assert_eq!(joins, 6, "every room rejoined, none refused as too fast");
    assert!(
        instant >= now.instant + Duration::from_secs(3),
        "paced, not at once"
    );
}

#[test]
fn a_changed_server_key_stops_the_client_with_both_keys_and_the_way_out() {
    let (mut app, now) = online_app();
    let (pinned, presented) = (
        lanchat_shared::Fingerprint::of_public_key(b"before"),
        lanchat_shared::Fingerprint::of_public_key(b"after"),
    );
    let stop = crate::event::Stop::KeyChanged {
        pinned: pinned.clone(),
        presented: presented.clone(),
    };
    app.update(Event::Net(NetEvent::Stopped(stop.clone())), now);
    assert_eq!(app.connection(), &Connection::Stopped(stop));
    let warning = all_text(&app);
    for expected in [
        pinned.to_string(),
        presented.to_string(),
        "lanchat --forget server:7878".to_owned(),
    ] {
        assert!(warning.contains(&expected), "{expected} in {warning}");
    }
    assert_eq!(enter_line(&mut app, "hello?", now), vec![]);
    assert!(
        last_text(&app).starts_with("Not sent"),
        "{}",
        last_text(&app)
    );
}

#[test]
fn a_refusal_says_what_would_let_the_user_in() {
    let refused = |code, protection| {
        let (mut app, now) = online_app_with(AppOptions {
            protection,
            ..alice()
        });
        let stop = crate::event::Stop::Refused {
            code,
            message: "No.".into(),
        };
        app.update(Event::Net(NetEvent::Stopped(stop)), now);
        all_text(&app)
    };
    let identity = match verified() {
        crate::dial::Protection::Encrypted { identity, .. } => identity.to_string(),
        crate::dial::Protection::Plain => unreachable!(),
    };
    let not_allowed = refused(ErrorCode::NotAllowed, verified());
    assert!(not_allowed.contains(&identity), "{not_allowed}");
    let as_guest = refused(ErrorCode::NotAllowed, crate::dial::Protection::Plain);
    assert!(as_guest.contains("without --plain"), "{as_guest}");
    let password = refused(ErrorCode::BadPassword, verified());
    assert!(password.contains("--password"), "{password}");
}

#[test]
fn info_names_the_servers_key_the_users_identity_and_ownership() {
    let (mut app, now) = online_app();
    enter_line(&mut app, "/info", now);
    let info = all_text(&app);
    let crate::dial::Protection::Encrypted {
        server_key,
        identity,
        ..
    } = verified()
    else {
        unreachable!()
    };
    assert!(info.contains(&server_key.to_string()), "{info}");
    assert!(info.contains(&identity.to_string()), "{info}");
    assert!(info.contains("owns this nickname"), "{info}");

    let (mut plain, now) = online_app_with(AppOptions {
        protection: crate::dial::Protection::Plain,
        ..alice()
    });
    enter_line(&mut plain, "/info", now);
    let info = all_text(&plain);
    assert!(
        info.contains("not encrypted") && info.contains("guest"),
        "{info}"
    );
}

#[test]
fn the_servers_lines_topics_and_being_kicked_are_told_apart_from_chat() {
    let (mut app, now) = online_app();
    let from_the_server = ServerMsg::Message {
        id: 50,
        ts: 0,
        from: "server".into(),
        text: "carol was kicked by bob.".into(),
        room: Some("lobby".into()),
        to: None,
        action: None,
        client_id: None,
        notice: None,
    };
    app.update(Event::Net(NetEvent::Server(from_the_server)), now);
    let last = app.scrollback().entries().last().map(|e| e.kind.clone());
    assert_eq!(last, Some(EntryKind::Info));
    app.update(
        Event::Net(NetEvent::Server(ServerMsg::Topic {
            room: "lobby".into(),
            text: "Release on Friday".into(),
            by: Some("bob".into()),
        })),
        now,
    );
    assert_eq!(
        last_text(&app),
        "Topic of #lobby: Release on Friday (set by bob)"
    );
    app.update(
        Event::Net(NetEvent::Server(ServerMsg::Leave {
            nick: "alice".into(),
            reason: "kicked by bob: testing".into(),
            room: Some("lobby".into()),
        })),
        now,
    );
    assert!(
        all_text(&app).contains("You are no longer in #lobby (kicked by bob: testing)"),
        "{}",
        all_text(&app)
    );
}

#[test]
fn away_people_are_marked_and_an_idle_user_is_marked_away_and_back_by_itself() {
    let (mut app, now) = online_app_with(AppOptions {
        auto_away: Some(Duration::from_secs(600)),
        ..alice()
    });
    let away = |nick: &str, text: Option<&str>| {
        Event::Net(NetEvent::Server(ServerMsg::Away {
            nick: nick.into(),
            text: text.map(str::to_owned),
        }))
    };
    app.update(away("bob", Some("lunch")), now);
    assert!(app.is_away("bob"));
    assert!(all_text(&app).contains("bob is away: lunch"));
    app.update(away("bob", None), now);
    assert!(!app.is_away("bob"));

    // Idle for the time set: away, once.
    let later = at(now, now.instant + Duration::from_secs(600));
    assert_eq!(app.next_tick(now.instant), Some(later.instant));
    let effects = app.update(Event::Tick, later);
    assert_eq!(
        effects,
        vec![Effect::Send(ClientMsg::Away {
            text: Some("idle for 10 min".into())
        })]
    );
    app.update(away("alice", Some("idle for 10 min")), later);
    assert_eq!(app.update(Event::Tick, later), vec![]);
    // A key: back.
    let effects = app.update(key(KeyCode::Char('x')), later);
    assert!(
        effects.contains(&Effect::Send(ClientMsg::Away { text: None })),
        "{effects:?}"
    );

    // An away the user set stays until /back, keys or not.
    let (mut manual, now) = online_app_with(AppOptions {
        auto_away: Some(Duration::from_secs(600)),
        ..alice()
    });
    manual.update(away("alice", Some("meeting")), now);
    let effects = manual.update(key(KeyCode::Char('x')), now);
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Send(ClientMsg::Away { .. })))
    );
}

#[test]
fn a_role_event_marks_an_operator_of_the_room_shown_at_once() {
    let (mut app, now) = online_app_with(alice());
    let role = |operator: bool| {
        Event::Net(NetEvent::Server(ServerMsg::Role {
            room: "lobby".into(),
            nick: "bob".into(),
            operator,
        }))
    };
    app.update(role(true), now);
    assert!(app.is_operator_here("bob"));
    app.update(role(false), now);
    assert!(!app.is_operator_here("bob"));
}
