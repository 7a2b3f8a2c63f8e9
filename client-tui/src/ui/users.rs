//! The user list (F2).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};

use super::nick_colour_in;
use crate::app::App;

pub(super) fn draw(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let lines: Vec<Line<'_>> = app
        .users()
        .iter()
        .map(|nick| {
            let mut style = Style::new().fg(nick_colour_in(app, nick));
            if nick.eq_ignore_ascii_case(app.nick()) {
                style = style.add_modifier(Modifier::BOLD);
            }
            // Operators as IRC marks them; away dimmed and said, since a
            // colour alone says nothing to someone who cannot tell it apart.
            let role = if app.is_operator_here(nick) { "@" } else { "" };
            let shown = format!("{role}{}", app.shown_nick(nick));
            if app.is_away(nick) {
                let shown = format!("{shown} (away)");
                return Line::styled(shown, style.add_modifier(Modifier::DIM));
            }
            Line::styled(shown, style)
        })
        .collect();
    let block = Block::new()
        .borders(Borders::LEFT)
        .title(format!(" People ({}) ", app.users().len()));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
