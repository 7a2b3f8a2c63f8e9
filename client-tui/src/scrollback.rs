//! The scrollback: what was said, capped in memory, and where the view is.
//!
//! The view is anchored to an entry, not to a row count from the bottom, so
//! new messages arriving while the user reads history do not move what they
//! are reading, and evicting the oldest entries costs nothing. Only entries
//! that are on screen (or being scrolled past) are ever wrapped, so
//! 100,000 entries cost no more per frame than 100.

use std::collections::VecDeque;

use crate::wrap::{display_width, wrap};

/// Entries kept; older ones are dropped. About 100 bytes each in practice.
pub const SCROLLBACK_CAPACITY: usize = 100_000;
/// The id of the first entry of a new scrollback: entries are counted from
/// here so that older history can be put before them (ids count down from
/// it) without renumbering what the view is anchored to.
const FIRST_ID: u64 = 1 << 40;

/// One line of the conversation, as it will be shown. Every string in it
/// has been sanitised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Local `HH:MM`.
    pub time: String,
    /// What kind of line this is, which decides its prefix and style.
    pub kind: EntryKind,
    /// The text after the prefix.
    pub text: String,
}

/// The kinds of line in the scrollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// Something somebody said.
    Chat {
        /// The sender.
        from: String,
        /// Said by this user.
        own: bool,
        /// Mentions this user's nickname.
        mention: bool,
        /// The sender was a guest (see [`crate::people::People::is_guest`])
        /// when it arrived: shown as `<~nick>`.
        guest: bool,
    },
    /// A line this user typed that the server has not echoed yet: dimmed,
    /// never stored in a scrollback, drawn below it until the echo comes.
    Pending {
        /// This user's nickname.
        from: String,
    },
    /// Somebody arrived or left, or the connection changed: dimmed.
    Presence,
    /// A reply or notice from the server or the client itself.
    Info,
    /// Something went wrong.
    Error,
    /// A new day began: the text is its date.
    Day,
}

impl Entry {
    /// The text before the message: `[12:04] <alice> `, `[12:04] * `, …
    pub fn prefix(&self) -> String {
        match &self.kind {
            EntryKind::Chat {
                from, guest: true, ..
            } => format!("[{}] <~{from}> ", self.time),
            EntryKind::Chat { from, .. } | EntryKind::Pending { from } => {
                format!("[{}] <{from}> ", self.time)
            }
            EntryKind::Presence => format!("[{}] * ", self.time),
            EntryKind::Info => format!("[{}] -- ", self.time),
            EntryKind::Error => format!("[{}] !! ", self.time),
            EntryKind::Day => "── ".to_owned(),
        }
    }

    /// The entry wrapped to `width` columns, with continuation rows indented
    /// under the start of the text (or by two columns when the prefix is
    /// wider than half the screen).
    pub fn layout(&self, width: usize) -> EntryLayout<'_> {
        let prefix_width = display_width(&self.prefix());
        let width = width.max(1);
        let indent = if prefix_width * 2 <= width {
            prefix_width
        } else {
            2.min(width - 1)
        };
        let first = width.saturating_sub(prefix_width).max(1);
        EntryLayout {
            indent,
            rows: wrap(&self.text, first, width - indent),
        }
    }
}

impl<'a> EntryLayout<'a> {
    /// The rows of `entry`, top to bottom, as [`Scrollback::visible`]
    /// gives them.
    pub fn visible_rows(entry: &'a Entry, width: usize) -> Vec<VisibleRow<'a>> {
        let layout = entry.layout(width);
        let indent = layout.indent;
        let rows = layout.rows.into_iter().enumerate();
        rows.map(|(row, text)| VisibleRow::Text {
            entry,
            row,
            text,
            indent: if row == 0 { 0 } else { indent },
        })
        .collect()
    }
}

/// An entry split into screen rows.
#[derive(Debug)]
pub struct EntryLayout<'a> {
    /// Columns of indent on every row after the first.
    pub indent: usize,
    /// The text of each row (the first row follows the prefix).
    pub rows: Vec<&'a str>,
}

/// One row on screen.
#[derive(Debug)]
pub enum VisibleRow<'a> {
    /// Row `row` of `entry`'s layout.
    Text {
        /// The entry this row belongs to.
        entry: &'a Entry,
        /// Which row of the entry's layout.
        row: usize,
        /// That row's text.
        text: &'a str,
        /// Columns of indent (0 on the first row, which has the prefix).
        indent: usize,
    },
    /// The "new messages" separator.
    Marker,
}

/// Where the bottom of the view is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// Following new messages.
    Live,
    /// Reading history: the bottom row shown is row `rows - 1 - hidden` of
    /// entry `bottom`.
    Anchored { bottom: u64, hidden: usize },
}

/// The conversation and the view onto it.
#[derive(Debug)]
pub struct Scrollback {
    entries: VecDeque<Entry>,
    /// Id of `entries[0]`; ids keep counting as old entries are dropped.
    first_id: u64,
    capacity: usize,
    view: View,
    unread: usize,
    /// Id of the first entry that arrived while the user was scrolled up.
    marker: Option<u64>,
}

impl Default for Scrollback {
    fn default() -> Self {
        Scrollback::with_capacity(SCROLLBACK_CAPACITY)
    }
}

impl Scrollback {
    /// A scrollback keeping at most `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Scrollback {
        Scrollback {
            entries: VecDeque::new(),
            first_id: FIRST_ID,
            capacity: capacity.max(1),
            view: View::Live,
            unread: 0,
            marker: None,
        }
    }

    /// Adds an entry at the bottom. While scrolled up the view stays put
    /// and the entry counts as unread.
    pub fn push(&mut self, entry: Entry) {
        let id = self.first_id + self.entries.len() as u64;
        self.entries.push_back(entry);
        if let View::Anchored { .. } = self.view {
            self.unread += 1;
            self.marker.get_or_insert(id);
        }
        if self.entries.len() > self.capacity {
            self.entries.pop_front();
            self.first_id += 1;
            if let View::Anchored { bottom, hidden } = &mut self.view
                && *bottom < self.first_id
            {
                *bottom = self.first_id;
                *hidden = 0;
            }
        }
    }

    /// Adds an entry the user has not seen (it arrived in a buffer that is
    /// not shown): the "new messages" marker goes before the first such.
    pub fn push_unseen(&mut self, entry: Entry) {
        let id = self.first_id + self.entries.len() as u64;
        self.marker.get_or_insert(id);
        self.push(entry);
    }

    /// Puts `older` (oldest first) before everything held: history fetched
    /// by scrolling past the top. What the view shows does not move; a full
    /// scrollback takes only what fits.
    pub fn prepend(&mut self, older: Vec<Entry>) {
        for entry in older.into_iter().rev() {
            if self.entries.len() >= self.capacity || self.first_id == 0 {
                break;
            }
            self.entries.push_front(entry);
            self.first_id -= 1;
        }
    }

    /// True when the oldest row is on screen in a `width` x `height` view:
    /// scrolling up can go no further.
    pub fn at_top(&self, width: usize, height: usize) -> bool {
        match self.anchor() {
            Some((bottom, hidden)) => {
                self.rows_from_top(bottom, hidden, width, height + 1) <= height
            }
            None => true,
        }
    }

    /// The entries held, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing has been said yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries that arrived while scrolled up and not yet scrolled to.
    pub fn unread(&self) -> usize {
        self.unread
    }

    /// True when following new messages.
    pub fn is_live(&self) -> bool {
        self.view == View::Live
    }

    /// Forgets everything (`/clear`).
    pub fn clear(&mut self) {
        self.first_id += self.entries.len() as u64;
        self.entries.clear();
        self.view = View::Live;
        self.unread = 0;
        self.marker = None;
    }

    /// Removes the "new messages" marker: the user has caught up.
    pub fn clear_marker(&mut self) {
        self.marker = None;
    }

    /// Goes back to following new messages.
    pub fn go_live(&mut self) {
        self.view = View::Live;
        self.unread = 0;
    }

    /// Scrolls towards older entries by `rows`, stopping when the oldest row
    /// reaches the top of a `height`-row view.
    pub fn scroll_up(&mut self, rows: usize, width: usize, height: usize) {
        let Some((mut bottom, mut hidden)) = self.anchor() else {
            return;
        };
        for _ in 0..rows {
            if self.rows_from_top(bottom, hidden, width, height + 1) <= height {
                break;
            }
            hidden += 1;
            if hidden >= self.rows_of(bottom, width) {
                if bottom == self.first_id {
                    break;
                }
                bottom -= 1;
                hidden = 0;
            }
        }
        self.view = View::Anchored { bottom, hidden };
    }

    /// Scrolls towards newer entries by `rows`; reaching the bottom goes live.
    pub fn scroll_down(&mut self, rows: usize, width: usize) {
        let View::Anchored {
            mut bottom,
            mut hidden,
        } = self.view
        else {
            return;
        };
        let last = self.last_id();
        for _ in 0..rows {
            if hidden > 0 {
                hidden -= 1;
            } else if Some(bottom) < last {
                bottom += 1;
                hidden = self.rows_of(bottom, width).saturating_sub(1);
            } else {
                break;
            }
        }
        if Some(bottom) >= last && hidden == 0 {
            self.go_live();
        } else {
            self.view = View::Anchored { bottom, hidden };
            self.unread = self.unread.min(last.map_or(0, |l| (l - bottom) as usize));
        }
    }

    /// The rows to draw in a `width` x `height` pane, top to bottom. Only
    /// the entries on screen are wrapped.
    pub fn visible(&self, width: usize, height: usize) -> Vec<VisibleRow<'_>> {
        let mut rows = Vec::with_capacity(height);
        let Some((bottom, hidden)) = self.anchor() else {
            return rows;
        };
        let mut id = bottom;
        let mut skip = hidden;
        'entries: loop {
            let entry = &self.entries[(id - self.first_id) as usize];
            let layout = entry.layout(width);
            let shown = layout.rows.len().saturating_sub(skip);
            for (row, text) in layout.rows.iter().enumerate().take(shown).rev() {
                if rows.len() == height {
                    break 'entries;
                }
                let indent = if row == 0 { 0 } else { layout.indent };
                rows.push(VisibleRow::Text {
                    entry,
                    row,
                    text,
                    indent,
                });
            }
            if self.marker == Some(id) && rows.len() < height {
                rows.push(VisibleRow::Marker);
            }
            if id == self.first_id || rows.len() == height {
                break;
            }
            id -= 1;
            skip = 0;
        }
        rows.reverse();
        rows
    }

    /// The texts of the rows [`Scrollback::visible`] gives, markers left
    /// out: what a test reads off the screen.
    #[cfg(test)]
    pub fn visible_texts(&self, width: usize, height: usize) -> Vec<String> {
        let rows = self.visible(width, height);
        let text = |row: &VisibleRow<'_>| match row {
            VisibleRow::Text { text, .. } => Some((*text).to_owned()),
            VisibleRow::Marker => None,
        };
        rows.iter().filter_map(text).collect()
    }

    fn last_id(&self) -> Option<u64> {
        (!self.entries.is_empty()).then(|| self.first_id + self.entries.len() as u64 - 1)
    }

    /// The bottom of the view as (entry id, hidden rows), or `None` when empty.
    fn anchor(&self) -> Option<(u64, usize)> {
        match self.view {
            View::Anchored { bottom, hidden } => Some((bottom, hidden)),
            View::Live => self.last_id().map(|last| (last, 0)),
        }
    }

    fn rows_of(&self, id: u64, width: usize) -> usize {
        let entry = &self.entries[(id - self.first_id) as usize];
        entry.layout(width).rows.len() + usize::from(self.marker == Some(id))
    }

    /// Rows from the top of the scrollback down to the given bottom, counting
    /// no further than `enough`.
    fn rows_from_top(&self, bottom: u64, hidden: usize, width: usize, enough: usize) -> usize {
        let mut total = self.rows_of(bottom, width).saturating_sub(hidden);
        let mut id = bottom;
        while total < enough && id > self.first_id {
            id -= 1;
            total += self.rows_of(id, width);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(text: &str) -> Entry {
        Entry {
            time: "12:00".into(),
            kind: EntryKind::Chat {
                from: "bob".into(),
                own: false,
                mention: false,
                guest: false,
            },
            text: text.into(),
        }
    }

    fn texts(rows: &[VisibleRow<'_>]) -> Vec<String> {
        rows.iter()
            .map(|r| match r {
                VisibleRow::Text { text, .. } => (*text).to_owned(),
                VisibleRow::Marker => "--marker--".to_owned(),
            })
            .collect()
    }

    fn filled(n: usize) -> Scrollback {
        let mut sb = Scrollback::default();
        for i in 0..n {
            sb.push(chat(&format!("m{i}")));
        }
        sb
    }

    #[test]
    fn live_view_shows_the_newest_rows() {
        let sb = filled(10);
        assert_eq!(texts(&sb.visible(40, 3)), vec!["m7", "m8", "m9"]);
    }

    #[test]
    fn long_entries_wrap_with_a_hanging_indent() {
        let mut sb = Scrollback::default();
        sb.push(chat("one two three four five six"));
        // "[12:00] <bob> " is 14 columns; 28 leaves 14 for text.
        let rows = sb.visible(28, 10);
        assert_eq!(texts(&rows), vec!["one two three", "four five six"]);
        assert!(matches!(rows[1], VisibleRow::Text { indent: 14, .. }));
        // On a narrow screen the indent shrinks to two columns.
        let narrow = sb.visible(20, 10);
        assert_eq!(texts(&narrow), vec!["one", "two three four", "five six"]);
        assert!(matches!(narrow[1], VisibleRow::Text { indent: 2, .. }));
    }

    #[test]
    fn scrolling_up_holds_the_view_while_messages_arrive_and_counts_them() {
        let mut sb = filled(10);
        sb.scroll_up(2, 40, 3);
        assert_eq!(texts(&sb.visible(40, 3)), vec!["m5", "m6", "m7"]);
        sb.push(chat("new1"));
        sb.push(chat("new2"));
        assert_eq!(
            texts(&sb.visible(40, 3)),
            vec!["m5", "m6", "m7"],
            "the view did not move"
        );
        assert_eq!(sb.unread(), 2);
        sb.scroll_down(2, 40);
        assert_eq!(texts(&sb.visible(40, 3)), vec!["m7", "m8", "m9"]);
        assert!(!sb.is_live());
        sb.scroll_down(10, 40);
        assert!(sb.is_live());
        assert_eq!(sb.unread(), 0);
        assert_eq!(
            texts(&sb.visible(40, 3)),
            vec!["--marker--", "new1", "new2"]
        );
    }

    #[test]
    fn scrolling_stops_at_the_top() {
        let mut sb = filled(5);
        sb.scroll_up(100, 40, 3);
        assert_eq!(texts(&sb.visible(40, 3)), vec!["m0", "m1", "m2"]);
        let mut short = filled(2);
        short.scroll_up(5, 40, 3);
        assert_eq!(texts(&short.visible(40, 3)), vec!["m0", "m1"]);
    }

    #[test]
    fn scrolling_moves_by_rows_within_a_wrapped_entry() {
        let mut sb = Scrollback::default();
        sb.push(chat("first"));
        sb.push(chat("aaaa bbbb cccc dddd eeee ffff"));
        assert_eq!(
            texts(&sb.visible(28, 2)),
            vec!["aaaa bbbb cccc", "dddd eeee ffff"]
        );
        sb.scroll_up(1, 28, 2);
        assert_eq!(texts(&sb.visible(28, 2)), vec!["first", "aaaa bbbb cccc"]);
    }

    #[test]
    fn memory_is_capped_and_an_evicted_anchor_moves_to_the_oldest() {
        let mut sb = Scrollback::with_capacity(5);
        for i in 0..5 {
            sb.push(chat(&format!("m{i}")));
        }
        sb.scroll_up(10, 40, 2);
        for i in 5..20 {
            sb.push(chat(&format!("m{i}")));
        }
        assert_eq!(sb.len(), 5);
        assert_eq!(texts(&sb.visible(40, 2)), vec!["m15"]);
    }

    #[test]
    fn a_hundred_thousand_entries_cost_only_the_visible_rows() {
        let sb = filled(SCROLLBACK_CAPACITY);
        assert_eq!(sb.visible(80, 40).len(), 40);
    }
}
