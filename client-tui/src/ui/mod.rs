//! Drawing: a pure function of `&App`. Nothing here can change state, so
//! what is on screen is always what the state says.

mod input;
mod scrollback;
mod status;
mod users;

use ratatui::Frame;
use ratatui::style::Color;

use crate::app::App;
use crate::layout::areas;

/// Draws the whole screen.
pub fn draw(app: &App, frame: &mut Frame<'_>) {
    let areas = areas(frame.area(), app.users_shown());
    scrollback::draw(app, frame, areas.scrollback);
    if let Some(area) = areas.users {
        users::draw(app, frame, area);
    }
    status::draw(app, frame, areas.status);
    input::draw(app, frame, areas.input);
}

/// Colours a nickname can get: readable on dark and light backgrounds.
const NICK_COLOURS: [Color; 10] = [
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::LightRed,
    Color::LightGreen,
    Color::LightBlue,
    Color::LightMagenta,
];

/// The colour `app` draws `nick` in: its own, or the terminal's default
/// when the settings turn colours off.
pub fn nick_colour_in(app: &App, nick: &str) -> Color {
    if app.colours() {
        nick_colour(nick)
    } else {
        Color::Reset
    }
}

/// The same nickname always gets the same colour (FNV-1a of its lower-case
/// form), on every client and every run.
pub fn nick_colour(nick: &str) -> Color {
    let hash = nick
        .bytes()
        .map(|b| b.to_ascii_lowercase())
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    NICK_COLOURS[(hash % NICK_COLOURS.len() as u64) as usize]
}

#[cfg(test)]
mod tests;
