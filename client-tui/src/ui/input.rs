//! The input line, scrolled sideways so the cursor is always visible.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_segmentation::UnicodeSegmentation;

use crate::app::{App, Prompt};
use crate::wrap::display_width;

pub(super) fn draw(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let (label, label_style) = match app.prompt() {
        Some(Prompt::ChooseNick) => ("nickname> ".to_owned(), Style::new().fg(Color::Yellow)),
        Some(Prompt::ConfirmPaste(lines)) => {
            let question = format!(
                "Send {} pasted lines as {} messages? [y/n] ",
                lines.len(),
                lines.len()
            );
            let line = Line::styled(
                question,
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            );
            frame.render_widget(Paragraph::new(line), area);
            return;
        }
        Some(Prompt::ConfirmQuit(_)) => {
            let others = app.users().len().saturating_sub(1);
            let question = format!(
                "You host this room: quitting ends it for the {others} other(s) here. Quit? [y/n] "
            );
            let line = Line::styled(
                question,
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            );
            frame.render_widget(Paragraph::new(line), area);
            return;
        }
        None => (
            format!("{}> ", app.nick()),
            Style::new().fg(Color::DarkGray),
        ),
    };
    let label_width = display_width(&label);
    let room = usize::from(area.width)
        .saturating_sub(label_width + 1)
        .max(1);
    let text = app.input().text();
    let cursor = app.input().cursor_column();
    // Skip whole graphemes from the left until the cursor fits.
    let mut skipped_width = 0;
    let mut skipped_bytes = 0;
    for grapheme in text.graphemes(true) {
        if cursor - skipped_width <= room {
            break;
        }
        skipped_width += display_width(grapheme);
        skipped_bytes += grapheme.len();
    }
    let line = Line::from(vec![
        Span::styled(label, label_style),
        Span::raw(&text[skipped_bytes..]),
    ]);
    frame.render_widget(Paragraph::new(line), area);
    let column = area.x
        + (label_width + cursor - skipped_width).min(usize::from(area.width.saturating_sub(1)))
            as u16;
    frame.set_cursor_position(Position::new(column, area.y));
}
