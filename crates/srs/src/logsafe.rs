//! Log-safe text (threat model rule 9): strings someone typed or a server
//! sent — user names, places, ids, origins — are escaped before they reach
//! a log line, so a CR/LF cannot forge a second log line and an ANSI escape
//! cannot rewrite the operator's terminal.

/// `s` with every control character (CR, LF, ESC, DEL, C1…) written as
/// `\n`, `\r`, `\t` or `\u{..}`; a backslash is doubled so that the escape
/// cannot be faked. Everything else is kept as is (accents, CJK).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("agent1"), "agent1");
        assert_eq!(escape("Zoë 李"), "Zoë 李");
        assert_eq!(escape("a\r\nINFO forged"), "a\\r\\nINFO forged");
        assert_eq!(escape("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(escape("\u{9b}x\u{7f}"), "\\u{9b}x\\u{7f}");
        assert_eq!(escape("a\\nb"), "a\\\\nb");
        assert!(!escape("x\u{0}\u{1b}\r\n\t").chars().any(char::is_control));
    }
}
