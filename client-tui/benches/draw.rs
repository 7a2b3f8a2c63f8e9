//! Draw time with a full scrollback, and the cost of a burst of incoming
//! messages. Prints a table; the numbers go in docs/BENCHMARKS.md.
//!
//! Drawing goes to ratatui's `TestBackend`, so this measures lanchat's own
//! work per frame (choosing, wrapping and styling the visible rows, laying
//! out the panes, filling the buffer), not the terminal emulator.

#![allow(clippy::unwrap_used)] // A benchmark, not network-facing code.

use std::hint::black_box;
use std::time::{Duration, Instant};

use lanchat_client::app::{App, AppOptions, Now};
use lanchat_client::event::{Event, NetEvent};
use lanchat_client::ui;
use lanchat_shared::ServerMsg;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const SCROLLBACK: usize = 100_000;
const BURST: usize = 10_000;
const WIDTH: u16 = 160;
const HEIGHT: u16 = 48;

/// How a real client is protected by default: TLS, the server's key
/// pinned.
fn verified() -> lanchat_client::dial::Protection {
    lanchat_client::dial::Protection::Encrypted {
        server_key: lanchat_shared::Fingerprint::of_public_key(b"the server's key"),
        trusted: lanchat_client::dial::Trusted::Pinned,
        identity: lanchat_shared::Fingerprint::of_public_key(b"alice's key"),
    }
}

fn message(id: u64) -> Event {
    let text = match id % 4 {
        0 => "short one".to_owned(),
        1 => "a longer message that will need to wrap on narrower terminals, with some more words to be sure".to_owned(),
        2 => "中文消息也需要按显示宽度换行，这一条足够长，可以测试宽字符的换行效果。".repeat(2),
        _ => format!("message number {id} 🎉"),
    };
    let from = ["alice", "bob", "carol", "dave"][(id % 4) as usize].to_owned();
    Event::Net(NetEvent::Server(ServerMsg::chat(
        id,
        1_795_000_000_000,
        from,
        text,
    )))
}

fn app_with(messages: usize) -> App {
    let now = Now::read();
    let options = AppOptions {
        server: "bench:7878".into(),
        nick: "alice".into(),
        bell_on_mention: true,
        read_marks: Default::default(),
        mouse: lanchat_client::app::Mouse::Captured,
        highlights: Vec::new(),
        colours: true,
        notify: true,
        hosting: false,
        protection: verified(),
        auto_away: None,
    };
    let mut app = App::new(options, (WIDTH, HEIGHT), now);
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
    for id in 0..messages as u64 {
        app.update(message(id), now);
    }
    app
}

fn time_draws(app: &App, terminal: &mut Terminal<TestBackend>, frames: u32) -> Duration {
    // Warm up once, then average.
    terminal.draw(|frame| ui::draw(app, frame)).unwrap();
    let start = Instant::now();
    for _ in 0..frames {
        terminal
            .draw(|frame| ui::draw(black_box(app), frame))
            .unwrap();
    }
    start.elapsed() / frames
}

fn main() {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap();

    let fill_start = Instant::now();
    let mut app = app_with(SCROLLBACK);
    let fill = fill_start.elapsed();

    let live = time_draws(&app, &mut terminal, 500);
    let now = Now::read();
    for _ in 0..2_000 {
        app.update(
            Event::Key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE)),
            now,
        );
    }
    let scrolled = time_draws(&app, &mut terminal, 500);
    let page_up_start = Instant::now();
    for _ in 0..1_000 {
        app.update(
            Event::Key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE)),
            now,
        );
    }
    let page_key = page_up_start.elapsed() / 1_000;

    // A burst arriving while the user watches: every message goes through
    // App::update, then one frame is drawn (the run loop coalesces).
    let mut app = app_with(SCROLLBACK);
    let burst_start = Instant::now();
    for id in 0..BURST as u64 {
        app.update(message(SCROLLBACK as u64 + id), now);
    }
    terminal.draw(|frame| ui::draw(&app, frame)).unwrap();
    let burst = burst_start.elapsed();

    println!("lanchat client draw benchmark ({WIDTH}x{HEIGHT} terminal, TestBackend)");
    println!("{:<58} {:>12}", "measure", "result");
    println!(
        "{:<58} {:>12.1?}",
        format!("fill scrollback with {SCROLLBACK} messages (App::update)"),
        fill
    );
    println!(
        "{:<58} {:>12.1?}",
        format!("one frame, live view, {SCROLLBACK} entries held"),
        live
    );
    println!("{:<58} {:>12.1?}", "one frame, scrolled far up", scrolled);
    println!(
        "{:<58} {:>12.1?}",
        "one PageDown while scrolled up", page_key
    );
    println!(
        "{:<58} {:>12.1?}",
        format!("burst of {BURST} messages applied + one frame"),
        burst
    );
    println!("{:<58} {:>12.1?}", "  per message", burst / BURST as u32);
    println!(
        "{:<58} {:>12}",
        "entries held after the burst (cap 100,000)",
        app.scrollback().len()
    );
}
