//! The one-line status bar. When the line is too narrow, the least useful
//! parts give way first: the server address, the head count, the quiet
//! buffers, the nickname. What the user needs to know and act on — the
//! connection state, the buffer shown, unsent messages, `MORE` — stays.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Connection};
use crate::buffers::Activity;
use crate::dial::Protection;
use crate::event::Stop;
use crate::wrap::display_width;

const SEPARATOR: &str = " │ ";

/// A piece of the bar.
struct Part {
    text: String,
    style: Style,
}

/// The buffers as the bar lists them: the shown one in brackets, others
/// with their unread count and a `!` for highlights. On a narrow screen
/// the quietest others give way first, counted in a `+N`.
struct BufferList {
    /// Index, text and activity of each buffer still listed.
    entries: Vec<(usize, String, Activity)>,
    /// The shown buffer's index: never left out.
    active: usize,
    /// How many were left out.
    hidden: usize,
}

pub(super) fn draw(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let bar = Style::new().bg(Color::Blue).fg(Color::White);
    let right = right_spans(app, bar);
    let right_width: usize = right.iter().map(|s| display_width(&s.content)).sum();
    let room = usize::from(area.width).saturating_sub(right_width);
    let left = left_parts(app, bar, room);
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

/// Where we are and who with, fitted into `room` columns. What gives way
/// first: the server address, the head count, the quiet buffers, the
/// nickname. The connection state and the shown buffer always stay.
fn left_parts(app: &App, bar: Style, room: usize) -> Vec<Part> {
    let plain = |text: String| Part { text, style: bar };
    let address = match app.server_name() {
        Some(name) => format!("{name} ({})", app.server()),
        None => app.server().to_owned(),
    };
    let mut server = Some(plain(address));
    let mut people = Some(plain(people_count(app.users().len())));
    let mut nick = Some(Part {
        text: app.nick().to_owned(),
        style: bar.add_modifier(Modifier::BOLD),
    });
    let mut buffers = BufferList::new(app);
    loop {
        let list = Part {
            text: buffers.text(),
            style: bar.fg(Color::LightCyan),
        };
        let parts: Vec<Part> = [
            server.as_ref().map(Part::copy),
            nick.as_ref().map(Part::copy),
            Some(connection_part(app, bar)),
            people.as_ref().map(Part::copy),
            Some(list),
        ]
        .into_iter()
        .flatten()
        .collect();
        if joined_width(&parts) <= room {
            return parts;
        }
        let shed = server.take().is_some()
            || people.take().is_some()
            || buffers.shorten()
            || nick.take().is_some();
        if !shed {
            return parts;
        }
    }
}

impl Part {
    fn copy(&self) -> Part {
        Part {
            text: self.text.clone(),
            style: self.style,
        }
    }
}

impl BufferList {
    fn new(app: &App) -> BufferList {
        let active = app.buffers().active_index();
        let entries = app
            .buffers()
            .all()
            .iter()
            .enumerate()
            .map(|(index, buffer)| {
                let label = format!("{}:{}", index + 1, buffer.name.label());
                let text = match (index == active, buffer.unread, buffer.highlights) {
                    (true, _, _) => format!("[{label}]"),
                    (false, 0, _) => label,
                    (false, unread, 0) => format!("{label}({unread})"),
                    (false, unread, _) => format!("{label}({unread}!)"),
                };
                (index, text, buffer.activity)
            })
            .collect();
        BufferList {
            entries,
            active,
            hidden: 0,
        }
    }

    fn text(&self) -> String {
        let mut text: Vec<&str> = self.entries.iter().map(|(_, t, _)| t.as_str()).collect();
        let more = format!("+{}", self.hidden);
        if self.hidden > 0 {
            text.push(&more);
        }
        text.join(" ")
    }

    /// Leaves out the quietest buffer but the shown one (the last of
    /// equals); false if only the shown one is left.
    fn shorten(&mut self) -> bool {
        let quietest = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, (index, _, _))| *index != self.active)
            .min_by_key(|(_, (index, _, activity))| (*activity, std::cmp::Reverse(*index)))
            .map(|(position, _)| position);
        let Some(position) = quietest else {
            return false;
        };
        self.entries.remove(position);
        self.hidden += 1;
        true
    }
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
            None => match app.protection() {
                // TLS with the key pinned or the room's own: encrypted,
                // and to the server trusted. Short enough that an 80-column
                // bar still names the server and counts the people.
                Protection::Encrypted { .. } => {
                    ("● online · TLS verified".to_owned(), Color::LightGreen)
                }
                Protection::Plain => ("● online · NOT encrypted".to_owned(), Color::Yellow),
            },
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
        Connection::Ended => ("✕ room ended".to_owned(), Color::LightRed),
        Connection::Stopped(Stop::KeyChanged { .. }) => {
            ("✕ server key changed".to_owned(), Color::LightRed)
        }
        Connection::Stopped(Stop::Refused { code, .. }) => {
            (format!("✕ refused: {}", code.as_str()), Color::LightRed)
        }
    };
    Part {
        text,
        style: bar.fg(colour),
    }
}

fn people_count(count: usize) -> String {
    match count {
        1 => "1 person".to_owned(),
        n => format!("{n} people"),
    }
}

fn joined_width(parts: &[Part]) -> usize {
    let separators = display_width(SEPARATOR) * parts.len().saturating_sub(1);
    1 + parts.iter().map(|p| display_width(&p.text)).sum::<usize>() + separators
}
