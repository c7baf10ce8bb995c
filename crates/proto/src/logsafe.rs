//! Log-safe text (threat model rule 9), shared by SRS and RWS: strings
//! someone typed or a peer sent — user names, places, ids, origins, frames —
//! are escaped before they reach a log line, so a CR/LF cannot forge a
//! second log line and an ANSI escape cannot rewrite the operator's terminal.

use std::fmt;

/// Displays a string with every control character (CR, LF, ESC, DEL, C1…)
/// written as `\n`, `\r`, `\t` or `\u{..}`, and a backslash doubled so that
/// an escape cannot be faked. Everything else is kept (accents, CJK).
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                c if c.is_control() => write!(f, "{}", c.escape_default())?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// [`Escaped`] as a `String`.
pub fn escape(s: &str) -> String {
    Escaped(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::{Escaped, escape};

    #[test]
    fn control_characters_are_escaped_and_text_kept() {
        assert_eq!(escape("agent1"), "agent1");
        assert_eq!(escape("Zoë 李"), "Zoë 李");
        assert_eq!(escape("a\r\nINFO forged"), "a\\r\\nINFO forged");
        assert_eq!(escape("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(escape("\u{9b}x\u{7f}"), "\\u{9b}x\\u{7f}");
        assert_eq!(escape("a\\nb"), "a\\\\nb");
        assert!(!escape("x\u{0}\u{1b}\r\n\t").chars().any(char::is_control));
        let s = Escaped("eve\n2026 INFO forged\r\x1b[31mred\u{85}é").to_string();
        assert_eq!(s, "eve\\n2026 INFO forged\\r\\u{1b}[31mred\\u{85}é");
    }
}
