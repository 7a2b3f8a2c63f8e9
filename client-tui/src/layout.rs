//! Where each pane goes. Shared by drawing and by scrolling (which needs the
//! scrollback pane's size), so the two never disagree.

use ratatui::layout::{Constraint, Layout, Rect};

/// Width of the user list when it is shown.
const USER_LIST_WIDTH: u16 = 20;

/// The screen split into panes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The conversation.
    pub scrollback: Rect,
    /// The user list, if shown and if there is room for it.
    pub users: Option<Rect>,
    /// The one-line status bar.
    pub status: Rect,
    /// The one-line input.
    pub input: Rect,
}

/// Splits `screen`: scrollback on top (with the user list on its right),
/// then the status bar, then the input line.
pub fn areas(screen: Rect, show_users: bool) -> Areas {
    let [main, status, input] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(screen);
    let room_for_users = main.width >= USER_LIST_WIDTH * 2;
    let (scrollback, users) = if show_users && room_for_users {
        let [left, right] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(USER_LIST_WIDTH)])
                .areas(main);
        (left, Some(right))
    } else {
        (main, None)
    };
    Areas {
        scrollback,
        users,
        status,
        input,
    }
}
