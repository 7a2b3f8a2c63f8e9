//! The one-line status bar.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Connection};

pub(super) fn draw(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let bar = Style::new().bg(Color::Blue).fg(Color::White);
    let (state, state_style) = match &app.connection {
        Connection::Online => ("● online".to_owned(), bar.fg(Color::LightGreen)),
        Connection::Connecting { attempt: 1 } => {
            ("○ connecting…".to_owned(), bar.fg(Color::Yellow))
        }
        Connection::Connecting { attempt } => (
            format!("○ connecting (try {attempt})…"),
            bar.fg(Color::Yellow),
        ),
        Connection::Offline { retry_at } => {
            let left = retry_at
                .saturating_duration_since(app.now)
                .as_secs_f64()
                .ceil();
            (
                format!("✕ offline, retry in {left} s"),
                bar.fg(Color::LightRed),
            )
        }
    };
    let people = match app.users.len() {
        1 => "1 person".to_owned(),
        n => format!("{n} people"),
    };
    let mut spans = vec![
        Span::styled(format!(" {} ", app.server), bar),
        Span::styled("│ ", bar),
        Span::styled(app.nick.clone(), bar.add_modifier(Modifier::BOLD)),
        Span::styled(" │ ", bar),
        Span::styled(state, state_style),
        Span::styled(format!(" │ {people}"), bar),
    ];
    if app.outbox_len() > 0 {
        spans.push(Span::styled(
            format!(" │ {} unsent", app.outbox_len()),
            bar.fg(Color::Yellow),
        ));
    }
    if !app.scrollback.is_live() {
        let more = format!("  -- MORE ({} new) --", app.scrollback.unread());
        spans.push(Span::styled(
            more,
            bar.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(bar), area);
}
