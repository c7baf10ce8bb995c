//! The `recordingWhen` grammar (ours; GIR does not publish its vocabulary):
//! `off` | `always` | `cond[,cond…]`, `cond` = `key op value` with `op` one of
//! `=`, `!=`, `~` (glob) and `key` one of `media`, `queue`, `direction`,
//! `data.<attached-data key>`; or `sample=N%` with N in 0..=100.
//! It is checked for syntax at directory import ([`check_recording_when`])
//! and evaluated for each non-voice interaction ([`matches`]).

use serde_json::Value;

/// Checks a `recordingWhen` value; on error returns the 1-based column and why.
pub fn check_recording_when(s: &str) -> Result<(), (usize, String)> {
    let t = s.trim();
    if t.is_empty() {
        return Err((1, "empty; use off, always or conditions".into()));
    }
    if t == "off" || t == "always" {
        return Ok(());
    }
    let mut col = 1;
    for part in s.split(',') {
        let lead = part.len() - part.trim_start().len();
        let cond = part.trim();
        let at = col + lead;
        check_condition(cond).map_err(|m| (at, m))?;
        col += part.len() + 1;
    }
    Ok(())
}

fn check_condition(cond: &str) -> Result<(), String> {
    if cond.is_empty() {
        return Err("empty condition".into());
    }
    let (key, op, value) = if let Some((k, v)) = cond.split_once("!=") {
        (k, "!=", v)
    } else if let Some((k, v)) = cond.split_once('=') {
        (k, "=", v)
    } else if let Some((k, v)) = cond.split_once('~') {
        (k, "~", v)
    } else {
        return Err(format!("'{cond}' is not 'key op value' (op is =, != or ~)"));
    };
    let (key, value) = (key.trim(), value.trim());
    if value.is_empty() {
        return Err(format!("'{cond}' has no value"));
    }
    match key {
        "sample" => {
            let n = value
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<u32>().ok())
                .filter(|n| *n <= 100)
                .ok_or_else(|| format!("sample wants N% with N in 0..=100, not '{value}'"))?;
            if op != "=" {
                return Err("sample only takes '='".into());
            }
            let _ = n;
            Ok(())
        }
        "media" | "queue" | "direction" => Ok(()),
        k if k.starts_with("data.") && k.len() > 5 => Ok(()),
        k => Err(format!(
            "unknown key '{k}' (media, queue, direction, data.<key>, sample)"
        )),
    }
}

/// Does a non-voice interaction (its `interaction.started` event) match the
/// rule? `sample=N%` keeps a deterministic N % of interactions (by a hash of
/// the interaction id), so re-evaluating the same interaction gives the
/// same answer. A rule that does not parse never matches.
pub fn matches(rule: &str, event: &Value, interaction_id: &str) -> bool {
    let rule = rule.trim();
    if rule == "off" || check_recording_when(rule).is_err() {
        return false;
    }
    if rule == "always" {
        return true;
    }
    rule.split(',').map(str::trim).all(|cond| {
        let (key, op, want) = if let Some((k, v)) = cond.split_once("!=") {
            (k.trim(), "!=", v.trim())
        } else if let Some((k, v)) = cond.split_once('=') {
            (k.trim(), "=", v.trim())
        } else if let Some((k, v)) = cond.split_once('~') {
            (k.trim(), "~", v.trim())
        } else {
            return false;
        };
        if key == "sample" {
            let n: u64 = want.trim_end_matches('%').trim().parse().unwrap_or(0);
            return bucket(interaction_id) < n;
        }
        let got = match key.strip_prefix("data.") {
            Some(k) => event.get("attached_data").and_then(|d| d.get(k)),
            None => event.get(key),
        };
        let got = match got {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        };
        match op {
            "=" => got == want,
            "!=" => got != want,
            _ => glob(want, &got),
        }
    })
}

/// 0..100 from a stable hash (FNV-1a) of the id.
fn bucket(id: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in id.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h % 100
}

/// `*` any run, `?` one character; case-sensitive.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    #[test]
    fn evaluation() {
        let chat = serde_json::json!({"media": "chat", "queue": "Sales_EU", "direction": "inbound",
            "attached_data": {"vip": "yes", "tier": 2}});
        assert!(matches("always", &chat, "i1"));
        assert!(!matches("off", &chat, "i1"));
        assert!(matches("media=chat", &chat, "i1"));
        assert!(!matches("media=email", &chat, "i1"));
        assert!(matches("media=chat, queue~Sales*", &chat, "i1"));
        assert!(!matches("media=chat, queue~Support*", &chat, "i1"));
        assert!(matches("data.vip=yes,data.tier=2", &chat, "i1"));
        assert!(matches("data.missing!=x", &chat, "i1"));
        assert!(matches("queue~Sales_??", &chat, "i1"));
        assert!(!matches("sample=0%", &chat, "i1"));
        assert!(matches("sample=100%", &chat, "i1"));
        let kept = (0..1000)
            .filter(|i| matches("sample=30%", &chat, &format!("chat-{i}")))
            .count();
        assert!((220..380).contains(&kept), "sample=30% kept {kept} of 1000");
        assert_eq!(
            matches("sample=50%", &chat, "chat-7"),
            matches("sample=50%", &chat, "chat-7")
        );
    }

    fn check(input: &str, want: Expect) {
        let got = match check_recording_when(input) {
            Ok(()) => "ok".to_string(),
            Err((col, msg)) => format!("col {col}: {msg}"),
        };
        want.assert_eq(&got);
    }

    #[test]
    fn grammar() {
        check("off", expect!["ok"]);
        check("always", expect!["ok"]);
        check("media=chat,queue~Sales*, sample=10%", expect!["ok"]);
        check("data.vip != yes", expect!["ok"]);
        check(
            "media=chat, colour=red",
            expect!["col 13: unknown key 'colour' (media, queue, direction, data.<key>, sample)"],
        );
        check(
            "media",
            expect!["col 1: 'media' is not 'key op value' (op is =, != or ~)"],
        );
        check(
            "sample=150%",
            expect!["col 1: sample wants N% with N in 0..=100, not '150%'"],
        );
        check("", expect!["col 1: empty; use off, always or conditions"]);
        check("media=chat,,queue=x", expect!["col 12: empty condition"]);
    }
}
