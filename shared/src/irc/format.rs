//! IRC's in-band text formatting (mIRC bold, colours and the rest), removed
//! so that lanchat's clients see the words and not the codes.
//!
//! The codes are those of Modern IRC's formatting document. Most are a
//! single control character; the two colour codes take the digits after
//! them, which must go too or `\x0304red` would arrive as `04red`.

/// Toggles bold.
const BOLD: char = '\x02';
/// Sets or resets colours by mIRC number: `\x03[fg[,bg]]`.
const COLOUR: char = '\x03';
/// Sets or resets colours by RGB: `\x04[RRGGBB[,RRGGBB]]`.
const HEX_COLOUR: char = '\x04';
/// Resets all formatting.
const RESET: char = '\x0f';
/// Toggles monospace.
const MONOSPACE: char = '\x11';
/// Swaps foreground and background.
const REVERSE: char = '\x16';
/// Toggles italics.
const ITALICS: char = '\x1d';
/// Toggles strikethrough.
const STRIKETHROUGH: char = '\x1e';
/// Toggles underline.
const UNDERLINE: char = '\x1f';

/// Every formatting code, for the tests' checks.
#[cfg(test)]
const CODES: [char; 9] = [
    BOLD,
    COLOUR,
    HEX_COLOUR,
    RESET,
    MONOSPACE,
    REVERSE,
    ITALICS,
    STRIKETHROUGH,
    UNDERLINE,
];

/// How many digits of which kind one colour of a colour code has.
struct ColourDigits {
    /// Fewer than this and there is no colour, only the code.
    min: usize,
    /// More than this and the rest is text.
    max: usize,
    /// Which bytes count as digits.
    is_digit: fn(&u8) -> bool,
}

/// `\x03`'s colours: one or two decimal digits (`4` or `04`).
const MIRC_DIGITS: ColourDigits = ColourDigits {
    min: 1,
    max: 2,
    is_digit: u8::is_ascii_digit,
};

/// `\x04`'s colours: exactly six hex digits.
const HEX_DIGITS: ColourDigits = ColourDigits {
    min: 6,
    max: 6,
    is_digit: u8::is_ascii_hexdigit,
};

/// Returns `text` without IRC formatting codes and the colour numbers that
/// belong to them.
///
/// A colour code takes a foreground colour and then, only if a background
/// colour follows, a comma and that colour: `\x034,5text` is `text`, but in
/// `\x0312,text` the comma is text. A code without a foreground colour is a
/// bare reset, so `\x03,05x` leaves `,05x`, as Modern IRC's examples show.
/// Everything else, other control characters included, is left for
/// [`sanitize_text`](crate::sanitize_text), which runs after this.
pub fn strip_formatting(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(is_formatting_code) {
        let (plain, from_code) = rest.split_at(at);
        out.push_str(plain);
        let mut chars = from_code.chars();
        let code = chars.next();
        let after_code = chars.as_str();
        rest = match code {
            Some(COLOUR) => skip_colours(after_code, &MIRC_DIGITS),
            Some(HEX_COLOUR) => skip_colours(after_code, &HEX_DIGITS),
            _ => after_code,
        };
    }
    out.push_str(rest);
    out
}

/// True for the characters that start a formatting code.
fn is_formatting_code(c: char) -> bool {
    matches!(
        c,
        BOLD | COLOUR
            | HEX_COLOUR
            | RESET
            | MONOSPACE
            | REVERSE
            | ITALICS
            | STRIKETHROUGH
            | UNDERLINE
    )
}

/// What follows a colour code's `fg[,bg]`, or `after_code` itself when no
/// foreground colour follows the code.
fn skip_colours<'a>(after_code: &'a str, digits: &ColourDigits) -> &'a str {
    let foreground = colour_len(after_code, digits);
    if foreground == 0 {
        return after_code;
    }
    let after_foreground = &after_code[foreground..];
    if let Some(after_comma) = after_foreground.strip_prefix(',') {
        let background = colour_len(after_comma, digits);
        if background > 0 {
            return &after_comma[background..];
        }
    }
    after_foreground
}

/// Bytes of the colour at the start of `text`, or 0 if there is none. The
/// digits are ASCII, so the length is always a char boundary.
fn colour_len(text: &str, digits: &ColourDigits) -> usize {
    let len = text
        .as_bytes()
        .iter()
        .take(digits.max)
        .take_while(|b| (digits.is_digit)(b))
        .count();
    if len < digits.min { 0 } else { len }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn toggles_and_reset_are_removed() {
        assert_eq!(
            strip_formatting("\x02bold\x02 \x1ditalic\x1d \x1funder\x1f \x1estrike\x1e"),
            "bold italic under strike"
        );
        assert_eq!(strip_formatting("\x11mono\x16rev\x0fplain"), "monorevplain");
    }

    #[test]
    fn colour_codes_take_their_digits_and_only_theirs() {
        assert_eq!(strip_formatting("\x0304red"), "red");
        assert_eq!(strip_formatting("\x034,5text"), "text");
        assert_eq!(strip_formatting("\x0312,text"), ",text");
        assert_eq!(strip_formatting("\x03,05x"), ",05x");
        assert_eq!(strip_formatting("\x03reset"), "reset");
        assert_eq!(strip_formatting("\x03123"), "3", "at most two digits");
        assert_eq!(strip_formatting("\x0312,345"), "5");
        assert_eq!(strip_formatting("\x0312,"), ",");
        assert_eq!(strip_formatting("end\x03"), "end");
        assert_eq!(
            strip_formatting("I love \x033IRC! \x03It is the \x037best protocol ever!"),
            "I love IRC! It is the best protocol ever!"
        );
        assert_eq!(
            strip_formatting(
                "Rules: Don't spam 5\x0313,8,6\x03,7,8, and especially not \x029\x02\x1d!"
            ),
            "Rules: Don't spam 5,6,7,8, and especially not 9!"
        );
    }

    #[test]
    fn hex_colour_codes_take_six_hex_digits() {
        assert_eq!(strip_formatting("\x04FF0000red"), "red");
        assert_eq!(strip_formatting("\x04ff0000,00FF00x"), "x");
        assert_eq!(strip_formatting("\x04FF0000,00FFx"), ",00FFx");
        assert_eq!(strip_formatting("\x04FF00 short"), "FF00 short");
        assert_eq!(strip_formatting("\x04ABCDEFGH"), "GH");
    }

    #[test]
    fn other_text_is_untouched() {
        for text in ["hello", "", "你好 👩‍👩‍👧", "a\x01b\x1bc", "12,34"] {
            assert_eq!(strip_formatting(text), text);
        }
    }

    proptest! {
        #[test]
        fn no_formatting_code_survives(text in "([\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f,0-9a-fA-F]|\\PC){0,200}") {
            let stripped = strip_formatting(&text);
            prop_assert!(!stripped.contains(CODES), "{:?}", stripped);
            prop_assert!(stripped.len() <= text.len());
        }

        #[test]
        fn arbitrary_text_loses_only_codes_and_colours(text in any::<String>()) {
            let stripped = strip_formatting(&text);
            prop_assert!(!stripped.contains(CODES));
            if !text.contains(CODES) {
                prop_assert_eq!(stripped, text);
            }
        }
    }
}
