//! Text from the database or from messages, made safe for a terminal: a stored `type` or error
//! message with an escape sequence must not recolour or move the terminal, and one with a
//! newline must not forge table rows. JSON output keeps the text as it is.

use std::borrow::Cow;

/// `text` with control characters (C0, DEL, C1) and bidirectional overrides shown as escapes:
/// `\n`, `\r`, `\t`, `\x1b`, `\u{202e}`. Everything else, backslashes included, is unchanged.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x100 && needs_escape(c) => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(printable("user_created é \\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(
            printable("a\x1b[31mred\x1b[0m\nforged\trow\r\u{7f}\u{85}\u{202e}"),
            "a\\x1b[31mred\\x1b[0m\\nforged\\trow\\r\\x7f\\x85\\u{202e}"
        );
        assert_eq!(printable("\0"), "\\x00");
    }
}
