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
            // Away: dimmed and said, since a colour alone says nothing to
            // someone who cannot tell it apart.
            if app.is_away(nick) {
                let shown = format!("{} (away)", app.shown_nick(nick));
                return Line::styled(shown, style.add_modifier(Modifier::DIM));
            }
            Line::styled(app.shown_nick(nick), style)
        })
        .collect();
    let block = Block::new()
        .borders(Borders::LEFT)
        .title(format!(" People ({}) ", app.users().len()));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
