//! The conversation pane.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::nick_colour_in;
use crate::app::App;
use crate::scrollback::{Entry, EntryKind, EntryLayout, VisibleRow};
use crate::wrap::display_width;

pub(super) fn draw(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let (width, height) = (usize::from(area.width), usize::from(area.height));
    let pending = pending_entries(app);
    // Lines not echoed yet sit below the conversation while it is followed
    // live, so what was typed is on screen at once, visibly not sent.
    let mut pending_rows: Vec<VisibleRow<'_>> = pending
        .iter()
        .flat_map(|entry| EntryLayout::visible_rows(entry, width))
        .collect();
    pending_rows.drain(..pending_rows.len().saturating_sub(height));
    let rows = app.scrollback().visible(width, height - pending_rows.len());
    // Bottom-aligned, like a terminal: a short conversation sits just above
    // the status bar.
    let padding = height.saturating_sub(rows.len() + pending_rows.len());
    let mut lines: Vec<Line<'_>> = vec![Line::default(); padding];
    lines.extend(
        rows.iter()
            .chain(&pending_rows)
            .map(|row| render_row(app, row, width)),
    );
    frame.render_widget(Paragraph::new(lines), area);
}

/// This buffer's unconfirmed lines as entries to draw, when the view is
/// live (scrolled up, the user reads history and the bar counts them).
fn pending_entries(app: &App) -> Vec<Entry> {
    if !app.scrollback().is_live() {
        return Vec::new();
    }
    let from = app.nick().to_owned();
    let entry = |text: &str| Entry {
        time: "--:--".to_owned(),
        kind: EntryKind::Pending { from: from.clone() },
        text: text.to_owned(),
    };
    app.pending_here().into_iter().map(entry).collect()
}

/// A rule across the pane with `label` in its middle.
fn rule(label: &str, width: usize) -> String {
    let side = width.saturating_sub(display_width(label)) / 2;
    let rest = width.saturating_sub(side + display_width(label));
    format!("{}{label}{}", "─".repeat(side), "─".repeat(rest))
}

/// The day-change line: the date, centred on a rule.
fn day_line(date: &str, width: usize) -> Line<'static> {
    Line::styled(
        rule(&format!(" {date} "), width),
        Style::new().fg(Color::DarkGray),
    )
}

fn render_row<'a>(app: &App, row: &VisibleRow<'a>, width: usize) -> Line<'a> {
    match row {
        VisibleRow::Marker => {
            Line::styled(rule(" new messages ", width), Style::new().fg(Color::Red))
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
            if entry.kind == EntryKind::Day {
                return day_line(text, width);
            }
            let mut spans = vec![Span::styled(
                format!("[{}] ", entry.time),
                Style::new().fg(Color::DarkGray),
            )];
            match &entry.kind {
                EntryKind::Chat {
                    from, own, guest, ..
                } => {
                    let mut nick = Style::new().fg(nick_colour_in(app, from));
                    if *own {
                        nick = nick.add_modifier(Modifier::BOLD);
                    }
                    spans.push(Span::raw("<"));
                    if *guest {
                        spans.push(Span::styled("~", Style::new().fg(Color::DarkGray)));
                    }
                    spans.push(Span::styled(from.clone(), nick));
                    spans.push(Span::raw("> "));
                }
                EntryKind::Pending { from } => {
                    spans.push(Span::styled(format!("<{from}> "), body));
                }
                EntryKind::Presence => spans.push(Span::styled("* ", body)),
                EntryKind::Info => spans.push(Span::styled("-- ", body)),
                EntryKind::Error => spans.push(Span::styled("!! ", body)),
                EntryKind::Day => {}
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
        EntryKind::Pending { .. } | EntryKind::Presence => {
            Style::new().fg(Color::DarkGray).add_modifier(Modifier::DIM)
        }
        EntryKind::Info => Style::new().fg(Color::Cyan),
        EntryKind::Error => Style::new().fg(Color::LightRed),
        EntryKind::Day => Style::new().fg(Color::DarkGray),
    }
}
