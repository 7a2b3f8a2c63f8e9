//! Cutting a long text into pieces that each fit one IRC line.
//!
//! A lanchat message may be 2,000 characters; an IRC line has 512 bytes, and
//! the sender's `:nick!user@host PRIVMSG #room :` takes part of them. The
//! pieces concatenate to exactly the original text: spaces stay where they
//! were (at the end of a piece), none is added, so the split loses nothing.

use crate::irc::message::{MAX_BODY_LEN, Message};

/// Smallest budget [`split_text`] accepts: the longest UTF-8 character, so
/// that every piece holds at least one character and the split always ends.
pub const MIN_SPLIT_BUDGET: usize = 4;

/// Why a text could not be split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The room left for text was smaller than [`MIN_SPLIT_BUDGET`], so
    /// some characters could not fit in a line at all.
    #[error("only {budget} bytes are left for text, and a character may need {MIN_SPLIT_BUDGET}")]
    BudgetTooSmall {
        /// The bytes that were left.
        budget: usize,
    },
}

/// Bytes of text that fit in one line made of `template` followed by the
/// text as its last parameter (a space, a `:` and the text), within
/// [`MAX_BODY_LEN`]; tags do not count, as IRCv3 says. The `:` is counted
/// whether or not the piece will need it, so the budget is never too high.
pub fn text_budget(template: &Message) -> usize {
    MAX_BODY_LEN.saturating_sub(template.body_len() + " :".len())
}

/// `template` once for each piece of `text`, the piece appended as its last
/// parameter, so that every line (CRLF included, tags not) has at most 512
/// bytes. An empty text gives no messages.
///
/// To split a `/me` action, split with [`split_text`] and a budget of
/// [`text_budget`] minus [`ACTION_FRAME_LEN`](crate::irc::ctcp::ACTION_FRAME_LEN)
/// and wrap each piece with [`render_action`](crate::irc::render_action).
pub fn split_message(template: &Message, text: &str) -> Result<Vec<Message>, SplitError> {
    let pieces = split_text(text, text_budget(template))?;
    Ok(pieces
        .into_iter()
        .map(|piece| template.clone().with_param(piece))
        .collect())
}

/// Splits `text` into pieces of at most `budget` bytes each, never inside a
/// character, whose concatenation is `text`.
///
/// A piece ends after a space when there is one in the last quarter of the
/// budget, so words stay whole; otherwise, before a space that would not
/// fit; otherwise as late as fits, stepping back (within that last quarter)
/// so as not to part a character from a combining mark, variation
/// selector, skin tone or zero-width joiner that belongs to it. No piece is
/// empty; a text of at most `budget` bytes is one piece, and an empty text
/// none.
pub fn split_text(text: &str, budget: usize) -> Result<Vec<&str>, SplitError> {
    if budget < MIN_SPLIT_BUDGET {
        return Err(SplitError::BudgetTooSmall { budget });
    }
    let mut pieces = Vec::with_capacity(text.len() / budget + 1);
    let mut rest = text;
    while !rest.is_empty() {
        let (piece, after) = rest.split_at(cut_point(rest, budget));
        pieces.push(piece);
        rest = after;
    }
    Ok(pieces)
}

/// Where the first piece of `rest` ends: a char boundary in `1..=budget`
/// (`budget` being at least [`MIN_SPLIT_BUDGET`], some character fits).
fn cut_point(rest: &str, budget: usize) -> usize {
    if rest.len() <= budget {
        return rest.len();
    }
    let hard = floor_char_boundary(rest, budget);
    let earliest = budget - budget / 4;
    at_a_space(rest, hard, earliest)
        .or_else(|| outside_a_cluster(rest, hard, earliest))
        .unwrap_or(hard)
}

/// The cut after the last space at or after `earliest` and before `hard`,
/// or at `hard` when a space follows it there.
fn at_a_space(rest: &str, hard: usize, earliest: usize) -> Option<usize> {
    let after_space = rest[..hard]
        .rfind(' ')
        .map(|space| space + 1)
        .filter(|&cut| cut >= earliest);
    after_space.or_else(|| rest[hard..].starts_with(' ').then_some(hard))
}

/// The latest cut at or before `hard`, and not before `earliest`, that does
/// not separate a character from what extends it.
fn outside_a_cluster(rest: &str, hard: usize, earliest: usize) -> Option<usize> {
    let mut cut = hard;
    while cut > 0 && cut >= earliest {
        if !joins_across(rest, cut) {
            return Some(cut);
        }
        cut = floor_char_boundary(rest, cut - 1);
    }
    None
}

/// True when the characters either side of `at` belong to one visible
/// character: the next extends the previous, or the previous is a
/// zero-width joiner. A cheap stand-in for Unicode grapheme clusters, which
/// would need a dependency for what is only a preference here.
fn joins_across(text: &str, at: usize) -> bool {
    let next_extends = text[at..].chars().next().is_some_and(extends_previous);
    let after_joiner = text[..at].ends_with('\u{200d}');
    next_extends || after_joiner
}

/// True for the characters that attach to the one before them.
fn extends_previous(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036f}'      // combining diacritical marks
        | '\u{1ab0}'..='\u{1aff}'    // their extension
        | '\u{1dc0}'..='\u{1dff}'    // their supplement
        | '\u{200d}'                 // zero-width joiner
        | '\u{20d0}'..='\u{20ff}'    // combining marks for symbols, keycaps
        | '\u{fe00}'..='\u{fe0f}'    // variation selectors (emoji style)
        | '\u{fe20}'..='\u{fe2f}'    // combining half marks
        | '\u{1f3fb}'..='\u{1f3ff}'  // skin tone modifiers
        | '\u{e0020}'..='\u{e007f}'  // tags of subdivision flags
        | '\u{e0100}'..='\u{e01ef}') // variation selectors supplement
}

/// The largest char boundary of `text` at or below `index`. (The standard
/// library's `floor_char_boundary` is newer than our minimum Rust.)
fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irc::ctcp::{ACTION_FRAME_LEN, MessageText, render_action};
    use crate::irc::message::{CRLF, MAX_LINE_LEN, Sender};
    use proptest::prelude::*;

    fn split(text: &str, budget: usize) -> Vec<&str> {
        split_text(text, budget).unwrap()
    }

    /// Sends each message through the wire (serialise, check it fits in
    /// 512 bytes, parse) and joins the texts that arrive.
    fn text_on_the_wire(lines: &[Message]) -> String {
        let mut rebuilt = String::new();
        for line in lines {
            let wire = line.to_line().unwrap();
            assert!(wire.len() + CRLF.len() <= MAX_LINE_LEN, "{}", wire.len());
            rebuilt.push_str(&Message::parse(&wire, Sender::Client).unwrap().params[1]);
        }
        rebuilt
    }

    #[test]
    fn a_text_that_fits_is_one_piece_and_an_empty_one_none() {
        assert_eq!(split("hello world", 11), ["hello world"]);
        assert_eq!(split("hello world", 400), ["hello world"]);
        assert_eq!(split("", 400), Vec::<&str>::new());
    }

    #[test]
    fn pieces_end_after_a_space_in_the_last_quarter() {
        assert_eq!(split("aaaa bbbb cccc", 10), ["aaaa bbbb ", "cccc"]);
        assert_eq!(split("one two  three", 8), ["one two ", " three"]);
        assert_eq!(
            split("abcdefgh ijk", 8),
            ["abcdefgh", " ijk"],
            "a space that would not fit"
        );
    }

    #[test]
    fn a_space_too_early_gives_way_to_a_hard_split() {
        assert_eq!(split("a bcdefghijklmnop", 8), ["a bcdefg", "hijklmno", "p"]);
    }

    #[test]
    fn multi_byte_characters_are_never_cut() {
        assert_eq!(split("ééééé", 5), ["éé", "éé", "é"]);
        assert_eq!(split("你好世界", 4), ["你", "好", "世", "界"]);
        assert_eq!(split("👍👍", 7), ["👍", "👍"]);
    }

    #[test]
    fn combining_marks_and_joiners_stay_with_their_character() {
        // e + combining acute: cutting at 8 would leave the accent alone.
        assert_eq!(split("abcdefge\u{301}xyz", 8), ["abcdefg", "e\u{301}xyz"]);
        // A joined family: a cut at 31 (after the joiner) or 28 (before it)
        // would part it, so the piece ends before the family at 24.
        let family = "👩\u{200d}👧";
        let words = "a".repeat(24);
        let text = format!("{words}{family}");
        assert_eq!(split(&text, 32), [words.as_str(), family]);
    }

    #[test]
    fn a_cluster_longer_than_a_line_is_still_split() {
        let zalgo = format!("a{}", "\u{301}".repeat(100));
        let pieces = split(&zalgo, 20);
        assert_eq!(pieces.concat(), zalgo);
        assert!(pieces.iter().all(|p| p.len() <= 20 && !p.is_empty()));
    }

    #[test]
    fn a_budget_too_small_for_any_character_is_refused() {
        for budget in 0..MIN_SPLIT_BUDGET {
            assert_eq!(
                split_text("abc", budget),
                Err(SplitError::BudgetTooSmall { budget })
            );
        }
        assert_eq!(split("abc", 4), ["abc"]);
    }

    #[test]
    fn a_long_privmsg_becomes_lines_of_at_most_512_bytes() {
        let template = Message::new("PRIVMSG")
            .with_source("alice!alice@lanchat")
            .with_param("#dev");
        let text = "word ".repeat(400);
        let lines = split_message(&template, &text).unwrap();
        assert_eq!(lines.len(), 5);
        assert_eq!(text_on_the_wire(&lines), text);
    }

    #[test]
    fn a_template_that_fills_the_line_is_refused() {
        let template = Message::new("PRIVMSG")
            .with_source(&"x".repeat(500))
            .with_param("#dev");
        assert_eq!(
            split_message(&template, "hi"),
            Err(SplitError::BudgetTooSmall { budget: 0 })
        );
    }

    #[test]
    fn an_action_split_with_its_frame_fits_too() {
        let template = Message::new("PRIVMSG")
            .with_source("bob!bob@lanchat")
            .with_param("#dev");
        let text = "waves ".repeat(200);
        let budget = text_budget(&template) - ACTION_FRAME_LEN;
        let pieces = split_text(&text, budget).unwrap();
        let lines: Vec<Message> = pieces
            .iter()
            .map(|piece| template.clone().with_param(&render_action(piece)))
            .collect();
        let actions: Vec<MessageText> = lines
            .iter()
            .map(|line| MessageText::parse(&line.params[1]))
            .collect();
        let expected: Vec<MessageText> = pieces.iter().map(|p| MessageText::Action(p)).collect();
        assert_eq!(actions, expected);
        text_on_the_wire(&lines);
    }

    /// Text with what makes splitting hard: runs of spaces, multi-byte
    /// characters, combining marks, joiners and arbitrary Unicode.
    fn awkward_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            3 => Just(" ".to_owned()),
            3 => "[a-z]{1,8}",
            1 => Just("é".to_owned()),
            1 => Just("你好".to_owned()),
            1 => Just("👩\u{200d}👩\u{200d}👧".to_owned()),
            1 => Just("e\u{301}\u{302}".to_owned()),
            1 => Just("👍\u{1f3fd}".to_owned()),
            2 => any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..400).prop_map(|pieces| {
            let text = pieces.concat();
            text.chars().take(2000).collect()
        })
    }

    proptest! {
        #[test]
        fn pieces_fit_are_whole_and_give_back_the_text(text in awkward_text(), budget in 4usize..600) {
            let pieces = split_text(&text, budget).unwrap();
            prop_assert_eq!(pieces.concat(), text.clone());
            for piece in &pieces {
                prop_assert!(!piece.is_empty());
                prop_assert!(piece.len() <= budget);
            }
            if text.len() <= budget {
                prop_assert_eq!(pieces.len(), usize::from(!text.is_empty()));
            }
        }

        #[test]
        fn every_line_fits_in_512_bytes(
            text in awkward_text(),
            source in "[a-z]{1,16}![a-z]{1,10}@[a-z.]{1,60}",
            target in "#[a-z]{1,32}",
        ) {
            let template = Message::new("PRIVMSG").with_source(&source).with_param(&target);
            let lines = split_message(&template, &text).unwrap();
            let rebuilt = text_on_the_wire(&lines);
            // The builder drops what no line can carry; the sanitiser has
            // already removed those from any text the server sends.
            let sendable: String = text.chars().filter(|c| !matches!(c, '\0' | '\r' | '\n')).collect();
            prop_assert_eq!(rebuilt, sendable);
        }
    }
}
