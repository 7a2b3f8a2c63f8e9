//! The one-line status bar. When the line is too narrow, the least useful
//! parts give way first: the server address, then the head count. What the
//! user needs to act on — the connection state, unsent messages, `MORE` —
//! stays.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Connection};
use crate::wrap::display_width;

const SEPARATOR: &str = " │ ";

/// A piece of the bar; higher `keep` survives longer on a narrow screen.
struct Part {
    text: String,
    style: Style,
    keep: u8,
}

pub(super) fn draw(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let bar = Style::new().bg(Color::Blue).fg(Color::White);
    let mut left = left_parts(app, bar);
    let right = right_spans(app, bar);
    let right_width: usize = right.iter().map(|s| display_width(&s.content)).sum();
    let room = usize::from(area.width).saturating_sub(right_width);
    while left.len() > 1 && joined_width(&left) > room {
        if let Some(weakest) = (0..left.len()).min_by_key(|&i| left[i].keep) {
            left.remove(weakest);
        }
    }
    let mut spans = vec![Span::styled(" ", bar)];
    for (index, part) in left.into_iter().enumerate() {
        if index > 0 {
            spans.push(Span::styled(SEPARATOR, bar));
        }
        spans.push(Span::styled(part.text, part.style));
    }
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(right_width as u16)])
            .areas(area);
    frame.render_widget(Paragraph::new(Line::from(spans)).style(bar), left_area);
    frame.render_widget(Paragraph::new(Line::from(right)).style(bar), right_area);
}

/// Where we are and who with: dropped from the weakest when space is short.
fn left_parts(app: &App, bar: Style) -> Vec<Part> {
    let mut left = vec![
        Part {
            text: app.server().to_owned(),
            style: bar,
            keep: 1,
        },
        Part {
            text: app.nick().to_owned(),
            style: bar.add_modifier(Modifier::BOLD),
            keep: 3,
        },
        connection_part(app, bar),
        Part {
            text: people(app.users().len()),
            style: bar,
            keep: 2,
        },
    ];
    // With more than one conversation, list them: the shown one in
    // brackets, others with their unread count and a ! for mentions.
    if app.buffers().all().len() > 1 {
        left.push(Part {
            text: buffer_list(app),
            style: bar.fg(Color::LightCyan),
            keep: 5,
        });
    }
    left
}

/// What the user may need to act on: unsent messages, and `MORE` while
/// scrolled up. Always shown.
fn right_spans(app: &App, bar: Style) -> Vec<Span<'static>> {
    let mut right = Vec::new();
    if app.unsent_len() > 0 {
        right.push(Span::styled(
            format!(" {} unsent ", app.unsent_len()),
            bar.fg(Color::Yellow),
        ));
    }
    if !app.scrollback().is_live() {
        let more = format!(" -- MORE ({} new) -- ", app.scrollback().unread());
        right.push(Span::styled(
            more,
            bar.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    right
}

fn connection_part(app: &App, bar: Style) -> Part {
    let (text, colour) = match app.connection() {
        Connection::Online => match app.not_answering_since() {
            Some(since) => {
                let waited = app.now().saturating_duration_since(since).as_secs();
                let text = format!("◌ server not answering ({waited} s)");
                (text, Color::Yellow)
            }
            None => ("● online".to_owned(), Color::LightGreen),
        },
        Connection::Connecting { attempt: 1 } => ("○ connecting…".to_owned(), Color::Yellow),
        Connection::Connecting { attempt } => {
            (format!("○ connecting (try {attempt})…"), Color::Yellow)
        }
        Connection::Offline { retry_at } => {
            let left = retry_at
                .saturating_duration_since(app.now())
                .as_secs_f64()
                .ceil();
            (format!("✕ offline, retry in {left} s"), Color::LightRed)
        }
    };
    Part {
        text,
        style: bar.fg(colour),
        keep: 4,
    }
}

fn buffer_list(app: &App) -> String {
    let active = app.buffers().active_index();
    app.buffers()
        .all()
        .iter()
        .enumerate()
        .map(|(index, buffer)| {
            let label = format!("{}:{}", index + 1, buffer.name.label());
            match (index == active, buffer.unread, buffer.mentions) {
                (true, _, _) => format!("[{label}]"),
                (false, 0, _) => label,
                (false, unread, 0) => format!("{label}({unread})"),
                (false, unread, _) => format!("{label}({unread}!)"),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn people(count: usize) -> String {
    match count {
        1 => "1 person".to_owned(),
        n => format!("{n} people"),
    }
}

fn joined_width(parts: &[Part]) -> usize {
    let separators = display_width(SEPARATOR) * parts.len().saturating_sub(1);
    1 + parts.iter().map(|p| display_width(&p.text)).sum::<usize>() + separators
}
