//! The `recordingWhen` grammar (ours; GIR does not publish its vocabulary):
//! `off` | `always` | `cond[,cond…]`, `cond` = `key op value` with `op` one of
//! `=`, `!=`, `~` (glob) and `key` one of `media`, `queue`, `direction`,
//! `data.<attached-data key>`; or `sample=N%` with N in 0..=100.
//! Here it is checked for syntax at directory import; evaluating it belongs
//! to the recording policy.

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

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

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
