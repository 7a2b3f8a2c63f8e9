//! Wrapping text by display width, so CJK and emoji (two columns each) wrap
//! where the terminal would put them.

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Display width of `text` in terminal columns.
pub fn display_width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Splits `text` into rows: the first row holds at most `first_width`
/// columns, every later row at most `rest_width` (the caller indents those
/// rows by the difference, which gives a hanging indent).
///
/// Rows break after whitespace where possible and between grapheme clusters
/// otherwise, so an emoji or a Chinese character is never cut in half. The
/// spaces at a break are dropped. A grapheme wider than a whole row is put
/// on a row of its own rather than looping forever.
pub fn wrap(text: &str, first_width: usize, rest_width: usize) -> Vec<&str> {
    let graphemes: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
    let byte_at = |i: usize| graphemes.get(i).map_or(text.len(), |(byte, _)| *byte);
    let is_space = |i: usize| graphemes[i].1.chars().all(char::is_whitespace);
    let mut rows = Vec::new();
    let mut limit = first_width.max(1);
    let mut start = 0;
    let mut width = 0;
    let mut last_space = None;
    let mut i = 0;
    while i < graphemes.len() {
        let grapheme_width = display_width(graphemes[i].1);
        if !is_space(i) && i > start && width + grapheme_width > limit {
            // Break after the last space in the row, or before this
            // grapheme if the row is one long word; then rescan from the
            // new row's start, whose width limit may be narrower.
            let (end, mut next) = match last_space {
                Some(space) if space > start => (space, space + 1),
                _ => (i, i),
            };
            rows.push(text[byte_at(start)..byte_at(end)].trim_end());
            while next < graphemes.len() && is_space(next) {
                next += 1;
            }
            start = next;
            i = next;
            width = 0;
            last_space = None;
            limit = rest_width.max(1);
            continue;
        }
        if is_space(i) {
            last_space = Some(i);
        }
        width += grapheme_width;
        i += 1;
    }
    if start < graphemes.len() || rows.is_empty() {
        rows.push(text[byte_at(start)..].trim_end());
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_one_row() {
        assert_eq!(wrap("hello", 10, 10), vec!["hello"]);
        assert_eq!(wrap("", 10, 10), vec![""]);
    }

    #[test]
    fn breaks_at_spaces_with_a_narrower_continuation() {
        assert_eq!(
            wrap("the quick brown fox", 10, 6),
            vec!["the quick", "brown", "fox"]
        );
    }

    #[test]
    fn long_words_break_hard() {
        assert_eq!(wrap("abcdefghij", 4, 4), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn cjk_counts_two_columns_and_is_never_split() {
        // Five ideographs are ten columns.
        assert_eq!(wrap("你好世界啊", 5, 5), vec!["你好", "世界", "啊"]);
        assert_eq!(wrap("ab你好", 3, 3), vec!["ab", "你", "好"]);
    }

    #[test]
    fn emoji_sequences_stay_whole() {
        let family = "👩‍👩‍👧";
        let three = format!("{family}{family}{family}");
        let rows = wrap(&three, 4, 4);
        assert_eq!(rows, vec![format!("{family}{family}"), family.to_owned()]);
    }

    #[test]
    fn a_grapheme_wider_than_the_row_gets_a_row_of_its_own() {
        assert_eq!(wrap("你好", 1, 1), vec!["你", "好"]);
    }

    proptest! {
        #[test]
        fn rows_fit_and_lose_only_break_spaces(text in "[a-z 你😀]{0,60}", first in 2usize..20, rest in 2usize..20) {
            let rows = wrap(&text, first, rest);
            for (i, row) in rows.iter().enumerate() {
                let limit = if i == 0 { first } else { rest };
                prop_assert!(display_width(row) <= limit, "{row:?} wider than {limit}");
            }
            let kept: String = rows.concat().chars().filter(|c| !c.is_whitespace()).collect();
            let original: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            prop_assert_eq!(kept, original);
        }
    }
}
