//! Masking rules: which windows must never reach the recording.
//!
//! A [`MaskRule`] names a set of windows by title (a regular expression on
//! `_NET_WM_NAME`, else `WM_NAME`) and/or class (a glob on either half of
//! `WM_CLASS`); a window matches when every condition the rule gives holds.
//! Rules are built only through [`MaskRule::new`], which compiles and checks
//! them and says exactly what is wrong (rule name, which field, position), so
//! the same constructor serves `screenrec record` flags and, later, rules that
//! arrive from the directory through RWS.

use std::fmt;
use std::str::FromStr;

/// What happens while a matching window is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum MaskAction {
    /// Paint the window's visible area in the mask colour (the default).
    #[default]
    Blank,
    /// Paint every monitor whole while a matching window is mapped, visible or not.
    Pause,
}

impl FromStr for MaskAction {
    type Err = MaskRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "blank" => Ok(MaskAction::Blank),
            "pause" => Ok(MaskAction::Pause),
            other => Err(MaskRuleError::Action(other.chars().take(40).collect())),
        }
    }
}

impl fmt::Display for MaskAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MaskAction::Blank => "blank",
            MaskAction::Pause => "pause",
        })
    }
}

/// Why a rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskRuleError {
    /// The rule has no name (names are what the timeline shows).
    #[error("a mask rule needs a name (1 to {MAX_NAME} characters)")]
    Name,
    /// The rule gives neither a title nor a class, so it would match every window.
    #[error("mask rule '{0}' needs a title or a class (or both)")]
    NoCondition(String),
    /// The title is not a valid regular expression.
    #[error("mask rule '{rule}': title regex is invalid at character {position}: {message}")]
    Title {
        /// The rule's name.
        rule: String,
        /// 1-based character position of the problem in the pattern.
        position: usize,
        /// What is wrong.
        message: String,
    },
    /// The class glob is unusable.
    #[error("mask rule '{rule}': class glob {message}")]
    Class {
        /// The rule's name.
        rule: String,
        /// What is wrong.
        message: String,
    },
    /// An action other than `blank` or `pause`.
    #[error("mask action '{0}' is unknown: expected blank or pause")]
    Action(String),
}

/// Longest rule name (it is shown on the timeline).
pub const MAX_NAME: usize = 64;
/// Longest title pattern or class glob, in bytes.
pub const MAX_PATTERN: usize = 1024;
/// Compiled size limit of one pattern: a rule may not cost megabytes.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// A checked, compiled masking rule.
#[derive(Debug, Clone)]
pub struct MaskRule {
    name: String,
    title: Option<regex::Regex>,
    class: Option<ClassGlob>,
    action: MaskAction,
}

impl MaskRule {
    /// Compiles a rule; the error names the rule and what is wrong with it.
    pub fn new(
        name: &str,
        title: Option<&str>,
        class: Option<&str>,
        action: MaskAction,
    ) -> Result<MaskRule, MaskRuleError> {
        if name.trim().is_empty() || name.chars().count() > MAX_NAME {
            return Err(MaskRuleError::Name);
        }
        if title.is_none() && class.is_none() {
            return Err(MaskRuleError::NoCondition(name.to_string()));
        }
        let title = title.map(|t| compile_title(name, t)).transpose()?;
        let class = class.map(|c| ClassGlob::new(name, c)).transpose()?;
        Ok(MaskRule {
            name: name.to_string(),
            title,
            class,
            action,
        })
    }

    /// The rule's name (what the timeline shows; never a window title).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What happens while a matching window is mapped.
    pub fn action(&self) -> MaskAction {
        self.action
    }

    /// True when a window with this title and `WM_CLASS` halves matches.
    /// A rule with a class condition never matches a window without `WM_CLASS`.
    pub fn matches(&self, title: &str, instance: &str, class: &str) -> bool {
        self.title.as_ref().is_none_or(|r| r.is_match(title))
            && self
                .class
                .as_ref()
                .is_none_or(|g| g.matches(instance) || g.matches(class))
    }
}

fn compile_title(rule: &str, pattern: &str) -> Result<regex::Regex, MaskRuleError> {
    let refuse = |position: usize, message: String| MaskRuleError::Title {
        rule: rule.to_string(),
        position,
        message,
    };
    if pattern.len() > MAX_PATTERN {
        return Err(refuse(
            MAX_PATTERN + 1,
            format!("longer than {MAX_PATTERN} bytes"),
        ));
    }
    // regex-syntax reports where the problem is (regex's own error only
    // draws it); the position is turned into a character count for people.
    let at = |offset: usize| pattern[..offset.min(pattern.len())].chars().count() + 1;
    if let Err(e) = regex_syntax::ParserBuilder::new().build().parse(pattern) {
        return Err(match e {
            regex_syntax::Error::Parse(e) => {
                refuse(at(e.span().start.offset), e.kind().to_string())
            }
            regex_syntax::Error::Translate(e) => {
                refuse(at(e.span().start.offset), e.kind().to_string())
            }
            other => refuse(1, other.to_string()),
        });
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => refuse(1, "too large once compiled".into()),
            other => refuse(1, other.to_string()),
        })
}

/// A shell-style glob on a `WM_CLASS` half: `*` is any run of characters,
/// `?` one character, everything else literal; whole-string and
/// case-insensitive (`*keepass*` matches `KeePassXC`). Compiled to a regex
/// rather than pulling in a glob crate: two wildcards are all rules need.
#[derive(Debug, Clone)]
pub struct ClassGlob(regex::Regex);

impl ClassGlob {
    fn new(rule: &str, glob: &str) -> Result<ClassGlob, MaskRuleError> {
        let refuse = |message: String| MaskRuleError::Class {
            rule: rule.to_string(),
            message,
        };
        if glob.is_empty() {
            return Err(refuse("is empty".into()));
        }
        if glob.len() > MAX_PATTERN {
            return Err(refuse(format!("is longer than {MAX_PATTERN} bytes")));
        }
        let mut re = String::from("(?is)^");
        for c in glob.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
            }
        }
        re.push('$');
        regex::RegexBuilder::new(&re)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(ClassGlob)
            .map_err(|e| refuse(format!("cannot be compiled: {e}")))
    }

    fn matches(&self, s: &str) -> bool {
        self.0.is_match(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    fn check(title: Option<&str>, class: Option<&str>, windows: &[(&str, &str, &str)], e: Expect) {
        let out = match MaskRule::new("r", title, class, MaskAction::Blank) {
            Err(err) => format!("error: {err}"),
            Ok(rule) => windows
                .iter()
                .map(|(t, i, c)| format!("{t}|{i}|{c} -> {}", rule.matches(t, i, c)))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        e.assert_eq(&out);
    }

    #[test]
    fn title_regex_matches_anywhere_unless_anchored() {
        check(
            Some("(?i)payment|card number"),
            None,
            &[
                ("Card payment", "xterm", "XTerm"),
                ("Enter CARD NUMBER", "", ""),
                ("Inbox", "xterm", "XTerm"),
            ],
            expect![[r#"
                Card payment|xterm|XTerm -> true
                Enter CARD NUMBER|| -> true
                Inbox|xterm|XTerm -> false"#]],
        );
    }

    #[test]
    fn class_glob_is_whole_string_case_insensitive_on_either_half() {
        check(
            None,
            Some("*keepass*"),
            &[
                ("db", "keepassxc", "KeePassXC"),
                ("db", "main", "KeePassXC"),
                ("db", "xterm", "XTerm"),
                ("db", "", ""),
            ],
            expect![[r#"
                db|keepassxc|KeePassXC -> true
                db|main|KeePassXC -> true
                db|xterm|XTerm -> false
                db|| -> false"#]],
        );
        check(
            None,
            Some("x?erm"),
            &[
                ("t", "xterm", "XTerm"),
                ("t", "xxterm", ""),
                ("t", "a.b", ""),
            ],
            expect![[r#"
                t|xterm|XTerm -> true
                t|xxterm| -> false
                t|a.b| -> false"#]],
        );
        check(
            None,
            Some("a.b"),
            &[("t", "a.b", ""), ("t", "axb", "")],
            expect![[r#"
                t|a.b| -> true
                t|axb| -> false"#]],
        );
    }

    #[test]
    fn every_given_condition_must_hold() {
        check(
            Some("Card"),
            Some("xterm"),
            &[
                ("Card", "xterm", "XTerm"),
                ("Card", "firefox", "Firefox"),
                ("Mail", "xterm", "XTerm"),
            ],
            expect![[r#"
                Card|xterm|XTerm -> true
                Card|firefox|Firefox -> false
                Mail|xterm|XTerm -> false"#]],
        );
    }

    #[test]
    fn bad_rules_say_what_is_wrong_and_where() {
        check(
            Some("ok (unclosed"),
            None,
            &[],
            expect!["error: mask rule 'r': title regex is invalid at character 4: unclosed group"],
        );
        check(
            Some("Zahlung [a-"),
            None,
            &[],
            expect![
                "error: mask rule 'r': title regex is invalid at character 9: unclosed character class"
            ],
        );
        check(
            Some("é\\p{Nope}"),
            None,
            &[],
            expect![
                "error: mask rule 'r': title regex is invalid at character 2: Unicode property not found"
            ],
        );
        check(
            Some("a{1000}{1000}"),
            None,
            &[],
            expect![
                "error: mask rule 'r': title regex is invalid at character 1: too large once compiled"
            ],
        );
        check(
            None,
            Some(""),
            &[],
            expect!["error: mask rule 'r': class glob is empty"],
        );
        check(
            None,
            None,
            &[],
            expect!["error: mask rule 'r' needs a title or a class (or both)"],
        );
        assert_eq!(
            MaskRule::new(" ", Some("x"), None, MaskAction::Blank)
                .err()
                .map(|e| e.to_string()),
            Some("a mask rule needs a name (1 to 64 characters)".into())
        );
        assert_eq!(
            "stop".parse::<MaskAction>().err().map(|e| e.to_string()),
            Some("mask action 'stop' is unknown: expected blank or pause".into())
        );
        assert_eq!("pause".parse::<MaskAction>().ok(), Some(MaskAction::Pause));
    }
}
