//! The conversation pane.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::nick_colour;
use crate::app::App;
use crate::scrollback::{Entry, EntryKind, VisibleRow};

pub(super) fn draw(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let width = usize::from(area.width);
    let rows = app.scrollback().visible(width, usize::from(area.height));
    // Bottom-aligned, like a terminal: a short conversation sits just above
    // the status bar.
    let padding = usize::from(area.height).saturating_sub(rows.len());
    let mut lines: Vec<Line<'_>> = vec![Line::default(); padding];
    lines.extend(rows.iter().map(|row| render_row(row, width)));
    frame.render_widget(Paragraph::new(lines), area);
}

fn render_row<'a>(row: &VisibleRow<'a>, width: usize) -> Line<'a> {
    match row {
        VisibleRow::Marker => {
            let label = " new messages ";
            let side = width.saturating_sub(label.len()) / 2;
            let text = format!(
                "{}{label}{}",
                "─".repeat(side),
                "─".repeat(width.saturating_sub(side + label.len()))
            );
            Line::styled(text, Style::new().fg(Color::Red))
        }
        VisibleRow::Text {
            entry,
            row,
            text,
            indent,
        } => {
            let body = body_style(entry);
            if *row > 0 {
                return Line::from(vec![
                    Span::raw(" ".repeat(*indent)),
                    Span::styled(*text, body),
                ]);
            }
            let mut spans = vec![Span::styled(
                format!("[{}] ", entry.time),
                Style::new().fg(Color::DarkGray),
            )];
            match &entry.kind {
                EntryKind::Chat { from, own, .. } => {
                    let mut nick = Style::new().fg(nick_colour(from));
                    if *own {
                        nick = nick.add_modifier(Modifier::BOLD);
                    }
                    spans.push(Span::raw("<"));
                    spans.push(Span::styled(from.clone(), nick));
                    spans.push(Span::raw("> "));
                }
                EntryKind::Presence => spans.push(Span::styled("* ", body)),
                EntryKind::Info => spans.push(Span::styled("-- ", body)),
                EntryKind::Error => spans.push(Span::styled("!! ", body)),
            }
            spans.push(Span::styled(*text, body));
            Line::from(spans)
        }
    }
}

fn body_style(entry: &Entry) -> Style {
    match &entry.kind {
        EntryKind::Chat { mention: true, .. } => {
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
        }
        EntryKind::Chat { own: true, .. } => Style::new().add_modifier(Modifier::BOLD),
        EntryKind::Chat { .. } => Style::new(),
        EntryKind::Presence => Style::new().fg(Color::DarkGray).add_modifier(Modifier::DIM),
        EntryKind::Info => Style::new().fg(Color::Cyan),
        EntryKind::Error => Style::new().fg(Color::LightRed),
    }
}
