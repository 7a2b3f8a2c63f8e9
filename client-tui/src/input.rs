//! The input line: readline-style editing by grapheme, history, and Tab
//! completion (of whatever the app offers for the word: nicknames,
//! commands, rooms). Pure state, tested without a terminal.

use unicode_segmentation::UnicodeSegmentation;

use crate::wrap::display_width;

/// Most lines kept in the Up/Down history.
const MAX_HISTORY: usize = 500;

/// The text being typed and everything needed to edit it.
#[derive(Debug, Default)]
pub struct Input {
    text: String,
    /// Cursor position as a byte offset, always on a grapheme boundary.
    cursor: usize,
    history: Vec<String>,
    /// Position while browsing history, and the line that was being typed
    /// before browsing began (restored by going past the newest entry).
    browsing: Option<(usize, String)>,
    /// Active Tab completion: where the completed word starts, the
    /// candidates, and which one is shown.
    completion: Option<Completion>,
}

#[derive(Debug)]
struct Completion {
    word_start: usize,
    candidates: Vec<String>,
    shown: usize,
}

/// An editing operation, already decoded from a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Insert text at the cursor.
    Insert(String),
    /// Delete the grapheme before the cursor (Backspace).
    DeleteBack,
    /// Delete the grapheme under the cursor (Delete).
    DeleteForward,
    /// Delete the word before the cursor (Ctrl-W).
    DeleteWordBack,
    /// Delete from the start of the line to the cursor (Ctrl-U).
    DeleteToStart,
    /// Delete from the cursor to the end of the line (Ctrl-K).
    DeleteToEnd,
    /// Move one grapheme left.
    Left,
    /// Move one grapheme right.
    Right,
    /// Move to the start of the previous word (Ctrl-Left).
    WordLeft,
    /// Move past the end of the next word (Ctrl-Right).
    WordRight,
    /// Move to the start (Home, Ctrl-A).
    Home,
    /// Move to the end (End, Ctrl-E).
    End,
    /// Older history entry (Up).
    HistoryBack,
    /// Newer history entry (Down).
    HistoryForward,
}

impl Input {
    /// The text as typed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True when nothing is typed.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Display columns before the cursor, for placing the terminal cursor.
    pub fn cursor_column(&self) -> usize {
        display_width(&self.text[..self.cursor])
    }

    /// Applies one edit. Any edit but a completion ends a completion cycle.
    pub fn apply(&mut self, edit: Edit) {
        self.completion = None;
        if !matches!(edit, Edit::HistoryBack | Edit::HistoryForward) {
            self.browsing = None;
        }
        match edit {
            Edit::Insert(text) => {
                self.text.insert_str(self.cursor, &text);
                self.cursor += text.len();
            }
            Edit::DeleteBack => {
                let start = self.previous_boundary(self.cursor);
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            Edit::DeleteForward => {
                let end = self.next_boundary(self.cursor);
                self.text.replace_range(self.cursor..end, "");
            }
            Edit::DeleteWordBack => {
                let start = self.word_start_before(self.cursor);
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            Edit::DeleteToStart => {
                self.text.replace_range(..self.cursor, "");
                self.cursor = 0;
            }
            Edit::DeleteToEnd => self.text.truncate(self.cursor),
            Edit::Left => self.cursor = self.previous_boundary(self.cursor),
            Edit::Right => self.cursor = self.next_boundary(self.cursor),
            Edit::WordLeft => self.cursor = self.word_start_before(self.cursor),
            Edit::WordRight => self.cursor = self.word_end_after(self.cursor),
            Edit::Home => self.cursor = 0,
            Edit::End => self.cursor = self.text.len(),
            Edit::HistoryBack => self.history_back(),
            Edit::HistoryForward => self.history_forward(),
        }
    }

    /// Takes the typed line (for sending), remembering it in the history.
    pub fn take_line(&mut self) -> String {
        let line = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.browsing = None;
        self.completion = None;
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            if self.history.len() == MAX_HISTORY {
                self.history.remove(0);
            }
            self.history.push(line.clone());
        }
        line
    }

    /// Clears the line without keeping it (Ctrl-C).
    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
        self.browsing = None;
        self.completion = None;
    }

    /// Tab: completes the word before the cursor with the first of
    /// `candidates(word, at_line_start)` (each a whole replacement, its
    /// trailing `: ` or space included), or shows the next one if the last
    /// key was Tab too. Nothing happens for an empty word or no candidate.
    pub fn complete(&mut self, candidates: impl FnOnce(&str, bool) -> Vec<String>) {
        let completion = match self.completion.take() {
            Some(mut active) => {
                active.shown = (active.shown + 1) % active.candidates.len();
                active
            }
            None => {
                let word_start = self.text[..self.cursor]
                    .rfind(char::is_whitespace)
                    .map_or(0, |i| i + 1);
                let word = &self.text[word_start..self.cursor];
                if word.is_empty() {
                    return;
                }
                let mut candidates = candidates(word, word_start == 0);
                if candidates.is_empty() {
                    return;
                }
                candidates.sort_by_key(|n| n.to_lowercase());
                candidates.dedup();
                Completion {
                    word_start,
                    candidates,
                    shown: 0,
                }
            }
        };
        let replacement = &completion.candidates[completion.shown];
        // Replace from the word start to the cursor (which sits after the
        // previous completion, if any).
        self.text
            .replace_range(completion.word_start..self.cursor, replacement);
        self.cursor = completion.word_start + replacement.len();
        self.completion = Some(completion);
    }

    /// The first word of the line, if the cursor is past it: the command a
    /// completion is an argument of.
    pub fn first_word(&self) -> &str {
        self.text.split_whitespace().next().unwrap_or_default()
    }

    fn history_back(&mut self) {
        let index = match &self.browsing {
            Some((0, _)) => return,
            Some((i, _)) => i - 1,
            None if self.history.is_empty() => return,
            None => {
                self.browsing = Some((self.history.len(), self.text.clone()));
                self.history.len() - 1
            }
        };
        if let Some((position, _)) = &mut self.browsing {
            *position = index;
        }
        self.text = self.history[index].clone();
        self.cursor = self.text.len();
    }

    fn history_forward(&mut self) {
        let Some((index, draft)) = self.browsing.take() else {
            return;
        };
        if index + 1 >= self.history.len() {
            self.text = draft;
        } else {
            self.text = self.history[index + 1].clone();
            self.browsing = Some((index + 1, draft));
        }
        self.cursor = self.text.len();
    }

    fn previous_boundary(&self, from: usize) -> usize {
        self.text[..from]
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self, from: usize) -> usize {
        self.text[from..]
            .graphemes(true)
            .next()
            .map_or(from, |g| from + g.len())
    }

    /// Start of the word before `from`, skipping whitespace first (readline).
    fn word_start_before(&self, from: usize) -> usize {
        let before = self.text[..from].trim_end();
        before.rfind(char::is_whitespace).map_or(0, |i| i + 1)
    }

    /// End of the word after `from`, skipping whitespace first.
    fn word_end_after(&self, from: usize) -> usize {
        let after = &self.text[from..];
        let skipped = after.len() - after.trim_start().len();
        let word = &after[skipped..];
        from + skipped + word.find(char::is_whitespace).unwrap_or(word.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> Input {
        let mut input = Input::default();
        input.apply(Edit::Insert(text.to_owned()));
        input
    }

    #[test]
    fn editing_keys_work_by_grapheme() {
        let mut input = typed("héllo 世界");
        input.apply(Edit::DeleteBack);
        assert_eq!(input.text(), "héllo 世");
        input.apply(Edit::Home);
        input.apply(Edit::Right);
        input.apply(Edit::DeleteForward);
        assert_eq!(input.text(), "hllo 世");
        input.apply(Edit::End);
        input.apply(Edit::Left);
        input.apply(Edit::Insert("界".into()));
        assert_eq!(input.text(), "hllo 界世");
        assert_eq!(input.cursor_column(), 7, "CJK is two columns wide");
    }

    #[test]
    fn kill_keys_delete_words_and_line_parts() {
        let mut input = typed("one two  three");
        input.apply(Edit::DeleteWordBack);
        assert_eq!(input.text(), "one two  ");
        input.apply(Edit::DeleteWordBack);
        assert_eq!(input.text(), "one ");
        input.apply(Edit::Insert("x y".into()));
        input.apply(Edit::WordLeft);
        input.apply(Edit::DeleteToEnd);
        assert_eq!(input.text(), "one x ");
        input.apply(Edit::DeleteToStart);
        assert_eq!(input.text(), "");
    }

    #[test]
    fn word_motion_skips_spaces() {
        let mut input = typed("alpha beta gamma");
        input.apply(Edit::Home);
        input.apply(Edit::WordRight);
        input.apply(Edit::WordRight);
        assert_eq!(input.cursor_column(), "alpha beta".len());
        input.apply(Edit::WordLeft);
        assert_eq!(input.cursor_column(), "alpha ".len());
    }

    #[test]
    fn history_browses_and_restores_the_draft() {
        let mut input = Input::default();
        for line in ["first", "second"] {
            input.apply(Edit::Insert(line.into()));
            input.take_line();
        }
        input.apply(Edit::Insert("draft".into()));
        input.apply(Edit::HistoryBack);
        assert_eq!(input.text(), "second");
        input.apply(Edit::HistoryBack);
        assert_eq!(input.text(), "first");
        input.apply(Edit::HistoryBack);
        assert_eq!(input.text(), "first", "stops at the oldest");
        input.apply(Edit::HistoryForward);
        assert_eq!(input.text(), "second");
        input.apply(Edit::HistoryForward);
        assert_eq!(input.text(), "draft");
    }

    #[test]
    fn tab_completes_and_cycles_the_candidates_given() {
        let nicks = ["alice", "Alfred", "bob"];
        let complete = |input: &mut Input| {
            input.complete(|word, at_start| {
                let suffix = if at_start { ": " } else { " " };
                nicks
                    .iter()
                    .filter(|n| n.to_lowercase().starts_with(&word.to_lowercase()))
                    .map(|n| format!("{n}{suffix}"))
                    .collect()
            })
        };
        let mut input = typed("al");
        complete(&mut input);
        assert_eq!(input.text(), "Alfred: ", "candidates sorted ignoring case");
        complete(&mut input);
        assert_eq!(input.text(), "alice: ");
        complete(&mut input);
        assert_eq!(input.text(), "Alfred: ");

        let mut input = typed("hi B");
        complete(&mut input);
        assert_eq!(input.text(), "hi bob ");
        let mut input = typed("hi zed");
        complete(&mut input);
        assert_eq!(input.text(), "hi zed", "no candidate, no change");
    }

    #[test]
    fn backspace_removes_a_whole_flag_or_joined_emoji() {
        for emoji in ["🇫🇷", "👩‍👩‍👧", "👍🏽", "é"] {
            let mut input = typed(&format!("a{emoji}"));
            input.apply(Edit::DeleteBack);
            assert_eq!(input.text(), "a", "{emoji:?}");
        }
    }
}
