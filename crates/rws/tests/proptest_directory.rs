//! Property tests (issue 10, rule 3): the directory TOML parser, on random
//! text and on mutated (truncated, spliced, byte-flipped) valid files,
//! returns a directory or an error naming a line of the file, never a panic.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

use proptest::prelude::*;

/// The repository's example directory: a valid file to mutate.
const VALID: &str = include_str!("../../../examples/directory.toml");

fn check(text: &str) -> Result<(), TestCaseError> {
    match rws::directory::parse("d.toml", text) {
        Ok(d) => {
            // Parsing a text never yields more users than it has lines.
            prop_assert!(d.users.len() <= text.lines().count());
        }
        Err(e) => {
            prop_assert!(
                e.line >= 1 && e.line <= text.lines().count().max(1) + 1,
                "{e}"
            );
            prop_assert!(!e.message.is_empty());
        }
    }
    Ok(())
}

/// Cuts at `at` bytes, rounded down to a character boundary.
fn cut(text: &str, at: usize) -> &str {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    &text[..at]
}

/// Fragments that are meaningful in a directory file.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n[[user]]\n".to_string()),
        Just("\n[[place]]\n".to_string()),
        Just("\n[[group]]\n".to_string()),
        Just("\n[[retention]]\n".to_string()),
        Just("username = \"x\"\n".to_string()),
        Just("password = \"\"\n".to_string()),
        Just("roles = [\"agent\", \"admin\", \"nope\"]\n".to_string()),
        Just("keep_days = -1\n".to_string()),
        Just("keep_days = 99999999999999999999\n".to_string()),
        Just("recording_when = \"sample=101%\"\n".to_string()),
        Just("devices = [{ dn = \"\", switch = \"\" }]\n".to_string()),
        Just("\"\u{e9}\u{1F600}\"".to_string()),
        Just("= = =".to_string()),
        Just("\0".to_string()),
        "[ -~]{0,20}".prop_map(|s| s),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn directory_random_text(text in "\\PC{0,400}") {
        check(&text)?;
    }

    #[test]
    fn directory_truncated(at in 0usize..4000) {
        check(cut(VALID, at))?;
    }

    #[test]
    fn directory_spliced(at in 0usize..4000, tokens in prop::collection::vec(token(), 1..6)) {
        let head = cut(VALID, at);
        let tail = &VALID[head.len()..];
        check(&format!("{head}{}{tail}", tokens.concat()))?;
    }

    #[test]
    fn directory_byte_flipped(flips in prop::collection::vec((0usize..4000, 0u8..128), 1..8)) {
        let mut bytes = VALID.as_bytes().to_vec();
        for (at, b) in flips {
            let n = bytes.len();
            bytes[at % n] = b;
        }
        check(&String::from_utf8_lossy(&bytes))?;
    }
}

#[test]
fn the_example_is_valid() {
    rws::directory::parse("examples/directory.toml", VALID).unwrap();
}
