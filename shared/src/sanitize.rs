//! Making untrusted text safe to print on somebody else's terminal.
//!
//! Message text is cleaned, not refused: a stray escape sequence in a paste
//! should not cost a person their message. Nicknames, by contrast, are
//! validated ([`crate::Nick`]) because they identify people.

/// Returns `input` with nothing left that could drive a terminal:
///
/// - ESC sequences (CSI, OSC, DCS and the rest, in their 7-bit and C1 forms)
///   are removed whole, so `\x1b[31m` leaves no `[31m` behind;
/// - every other C0 and C1 control character and DEL is removed;
/// - line breaks (`\r\n`, `\r`, `\n`, U+0085, U+2028, U+2029) become one space,
///   so a message stays one line without gluing words together;
/// - a tab becomes four spaces;
/// - bidi embedding, override, isolate and mark characters (U+202A–U+202E,
///   U+2066–U+2069, U+200E, U+200F, U+061C) are removed, so text cannot run
///   backwards over the next person's line;
/// - trailing whitespace is removed.
///
/// The output is at most four times as long as the input (tabs), and
/// `sanitize_text(sanitize_text(s)) == sanitize_text(s)`.
pub fn sanitize_text(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push_str("    "),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push(' ');
            }
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => out.push(' '),
            '\u{1b}' => skip_escape_sequence(&mut chars),
            '\u{9b}' => skip_control_sequence(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_control_string(&mut chars),
            c if is_control(c) || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// True for C0 controls, DEL and C1 controls.
fn is_control(c: char) -> bool {
    c <= '\u{1f}' || ('\u{7f}'..='\u{9f}').contains(&c)
}

/// True for the characters that reorder text on the way to the screen.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Skips what follows an ESC, following ECMA-48's shapes.
fn skip_escape_sequence(chars: &mut Chars<'_>) {
    match chars.peek().copied() {
        Some('[') => {
            chars.next();
            skip_control_sequence(chars);
        }
        Some(']' | 'P' | 'X' | '^' | '_') => {
            chars.next();
            skip_control_string(chars);
        }
        Some(' '..='/') => {
            // nF: intermediates, then one final byte (e.g. ESC ( B).
            while chars.next_if(|c| (' '..='/').contains(c)).is_some() {}
            chars.next_if(|c| ('0'..='~').contains(c));
        }
        Some('0'..='~') => {
            // Fp, Fe, Fs: one final byte (e.g. ESC c, ESC 7).
            chars.next();
        }
        _ => {}
    }
}

/// Skips a CSI's parameter and intermediate bytes and its final byte.
fn skip_control_sequence(chars: &mut Chars<'_>) {
    while chars.next_if(|c| (' '..='?').contains(c)).is_some() {}
    chars.next_if(|c| ('@'..='~').contains(c));
}

/// Skips an OSC, DCS, SOS, PM or APC body up to its terminator (BEL, ESC \
/// or ST), or to the end of the text if it is never terminated.
fn skip_control_string(chars: &mut Chars<'_>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_is_untouched() {
        for s in [
            "hi",
            "你好，世界",
            "emoji 👩‍👩‍👧 ok",
            "a  b",
            "  leading kept",
            "über",
        ] {
            assert_eq!(sanitize_text(s), s);
        }
    }

    #[test]
    fn escape_sequences_are_removed_whole() {
        assert_eq!(sanitize_text("\x1b[31mred\x1b[0m"), "red");
        assert_eq!(sanitize_text("\x1b[2J\x1b[Hclear"), "clear");
        assert_eq!(sanitize_text("\x1b]0;pwned title\x07after"), "after");
        assert_eq!(
            sanitize_text("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"),
            "link"
        );
        assert_eq!(sanitize_text("\x1bPq#0;2;0;0;0\x1b\\img"), "img");
        assert_eq!(sanitize_text("\x1b(Bx\x1bcy\x1b7z"), "xyz");
        assert_eq!(sanitize_text("\u{9b}31mc1\u{9d}0;t\u{9c}!"), "c1!");
        assert_eq!(sanitize_text("dangling\x1b"), "dangling");
    }

    #[test]
    fn controls_are_removed_and_breaks_become_spaces() {
        assert_eq!(sanitize_text("a\0b\x07c\x08d\x7fe\u{85}f"), "abcde f");
        assert_eq!(
            sanitize_text("one\r\ntwo\nthree\rfour"),
            "one two three four"
        );
        assert_eq!(sanitize_text("col\tumn"), "col    umn");
        assert_eq!(sanitize_text("trailing  \t\n"), "trailing");
    }

    #[test]
    fn bidi_controls_are_removed() {
        assert_eq!(sanitize_text("abc\u{202e}fed\u{202c}"), "abcfed");
        assert_eq!(
            sanitize_text("\u{2066}x\u{2069}\u{200e}\u{200f}\u{61c}"),
            "x"
        );
    }

    fn is_forbidden(c: char) -> bool {
        is_control(c) || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}')
    }

    proptest! {
        #[test]
        fn nothing_that_drives_a_terminal_survives(s in any::<String>()) {
            let clean = sanitize_text(&s);
            prop_assert!(!clean.chars().any(is_forbidden), "{:?}", clean);
            prop_assert!(clean.len() <= s.len() * 4);
        }

        #[test]
        fn control_heavy_text_is_cleaned(s in "[\\x00-\\x1f\\x7f-\\x9f\\[\\]a-z0-9;\u{202e}\u{2066}]{0,64}") {
            let clean = sanitize_text(&s);
            prop_assert!(!clean.chars().any(is_forbidden), "{:?}", clean);
        }

        #[test]
        fn sanitising_twice_changes_nothing(s in any::<String>()) {
            let once = sanitize_text(&s);
            prop_assert_eq!(sanitize_text(&once), once.clone());
        }
    }
}
