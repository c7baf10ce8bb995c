//! Anything a user typed is logged through [`Escaped`]: control characters
//! (CR, LF, ESC, …) are written as escapes, so a user name cannot forge a
//! log line or recolour an operator's terminal (threat model, rule 9).

use std::fmt;

/// Displays a string with its control characters escaped (`\n`, `\r`,
/// `\u{1b}`, …); everything else, including non-ASCII text, as is.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    #[test]
    fn control_characters_are_escaped_and_text_kept() {
        let s = Escaped("eve\n2026 INFO forged\r\x1b[31mred\u{85}é").to_string();
        assert_eq!(s, "eve\\n2026 INFO forged\\r\\u{1b}[31mred\\u{85}é");
        assert!(!s.chars().any(char::is_control));
    }
}
