//! Property tests (issue 10, rule 3): `recordingWhen` (directory and GIR
//! configuration) on random and mutated rules: checking and matching never
//! panic, a rule that fails the check never matches, an error's column lies
//! inside the rule.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

use proptest::prelude::*;
use rws::policy::{check_recording_when, matches};
use serde_json::json;

fn condition() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("media"),
        Just("queue"),
        Just("direction"),
        Just("data.vip"),
        Just("data."),
        Just("sample"),
        Just("nope"),
        Just(""),
    ];
    let op = prop_oneof![Just("="), Just("!="), Just("~"), Just("=="), Just("")];
    let value = prop_oneof![
        Just("chat".to_string()),
        Just("*".to_string()),
        Just("?*?*?*?*?*?*?*?*".to_string()),
        Just("50%".to_string()),
        Just("100%".to_string()),
        Just("101%".to_string()),
        Just("18446744073709551616%".to_string()),
        Just("%".to_string()),
        "\\PC{0,12}",
    ];
    (key, op, value, " {0,2}").prop_map(|(k, o, v, pad)| format!("{pad}{k}{pad}{o}{pad}{v}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn recording_when_random_text(rule in "\\PC{0,80}", id in "\\PC{0,20}") {
        let event = json!({"media": "chat", "queue": "q1", "attached_data": {"vip": "yes"}});
        let checked = check_recording_when(&rule);
        if let Err((col, why)) = &checked {
            prop_assert!(*col >= 1 && *col <= rule.len() + 1, "column {col} of {rule:?}");
            prop_assert!(!why.is_empty());
            prop_assert!(!matches(&rule, &event, &id), "a refused rule never matches");
        }
    }

    #[test]
    fn recording_when_conditions(
        conds in prop::collection::vec(condition(), 1..5),
        text in "\\PC{0,40}",
        id in "[a-z0-9-]{0,36}",
    ) {
        let rule = conds.join(",");
        let event = json!({"media": text, "queue": null, "direction": 3, "attached_data": {"vip": text}});
        if let Err((col, _)) = check_recording_when(&rule) {
            prop_assert!(col >= 1 && col <= rule.len() + 1, "column {col} of {rule:?}");
            prop_assert!(!matches(&rule, &event, &id));
        } else {
            let _ = matches(&rule, &event, &id);
        }
    }
}
