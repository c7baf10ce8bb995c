//! Property tests (issue 10, rule 3): control-channel frames. Whatever text
//! a peer sends (random JSON-ish strings, valid frames truncated, spliced or
//! with fields swapped for hostile values), parsing gives a frame or an
//! error, never a panic; a frame that parses survives a round trip.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

use proptest::prelude::*;
use proto::control::{FromAgent, ToAgent};

/// Valid frames of both directions, as on the wire.
const VALID: &[&str] = &[
    r#"{"type":"hello","session_id":"s","version":"0.1.0","monitors":[{"name":"m","x":0,"y":0,"width":640,"height":480,"primary":true}],"state":"recording","active_recording":"r1","last_seq":3}"#,
    r#"{"type":"ack","seq":3,"ok":false,"error":"no such recording"}"#,
    r#"{"type":"status","recording_id":"r1","state":"paused","reason":"desktop","at":"2026-01-01T00:00:00Z","bytes_spooled":1024}"#,
    r#"{"type":"heartbeat","recording":"r1","upload_backlog_bytes":5,"last_error":"x"}"#,
    r#"{"type":"config","seq":1,"capture":{"fps":5,"quality":14,"keyframe_interval_s":30,"cursor":true},"allowed_origins":["https://a.example"]}"#,
    r#"{"type":"start","seq":2,"recording_id":"r1","interaction_id":"i1","max_duration_s":14400,"capture":{"fps":5,"quality":14,"keyframe_interval_s":30,"cursor":true},"recipients":["age1x"],"upload_url":"http://rws/api/v2/srs/uploads","upload_token":"t"}"#,
    r#"{"type":"stop","seq":3,"recording_id":"r1","reason":"call_released"}"#,
    r#"{"type":"pause","seq":4,"recording_id":"r1","reason":"pci"}"#,
    r#"{"type":"resume","seq":5,"recording_id":"r1","reason":"pci"}"#,
    r#"{"type":"bye","seq":6,"reason":"admin"}"#,
    r#"{"type":"heartbeat"}"#,
];

/// Parses as both directions; a parsed frame round-trips.
fn check(text: &str) -> Result<(), TestCaseError> {
    if let Ok(f) = serde_json::from_str::<FromAgent>(text) {
        let again: FromAgent = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        prop_assert_eq!(again, f);
    }
    if let Ok(f) = serde_json::from_str::<ToAgent>(text) {
        let again: ToAgent = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        prop_assert_eq!(again, f);
    }
    Ok(())
}

/// Hostile JSON values to put in place of a field's value.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        Just("null".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("\"\\u0000\\ud800\"".to_string()),
        Just("[".repeat(200)),
        Just(format!("\"{}\"", "A".repeat(10_000))),
        "\"[ -~]{0,30}\"",
    ]
}

/// Cuts at `at` bytes, rounded down to a character boundary.
fn cut(text: &str, at: usize) -> &str {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    &text[..at]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn control_random_text(text in "\\PC{0,200}") {
        check(&text)?;
    }

    #[test]
    fn control_jsonish_text(parts in prop::collection::vec(prop_oneof![
        Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"), Just("\"type\""),
        Just("\"hello\""), Just("\"status\""), Just("\"start\""), Just("\"seq\""), Just("1"),
        Just("null"), Just("true"), Just("\""), Just("\\"),
    ], 0..60)) {
        check(&parts.concat())?;
    }

    #[test]
    fn control_truncated_valid_frames(k in 0usize..VALID.len(), at in 0usize..400) {
        check(cut(VALID[k], at))?;
    }

    #[test]
    fn control_valid_frames_with_a_hostile_value(k in 0usize..VALID.len(), nth in 0usize..12, v in hostile()) {
        // Replace the value after the nth ':' up to the next ',' or '}'.
        let text = VALID[k];
        let Some((colon, _)) = text.match_indices(':').nth(nth) else { return Ok(()) };
        let rest = &text[colon + 1..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        check(&format!("{}:{v}{}", &text[..colon], &rest[end..]))?;
    }

    #[test]
    fn control_byte_flipped_frames(k in 0usize..VALID.len(), flips in prop::collection::vec((0usize..400, any::<u8>()), 1..6)) {
        let mut bytes = VALID[k].as_bytes().to_vec();
        for (at, b) in flips {
            let n = bytes.len();
            bytes[at % n] = b;
        }
        check(&String::from_utf8_lossy(&bytes))?;
    }
}

#[test]
fn the_valid_frames_parse() {
    for text in VALID {
        assert!(
            serde_json::from_str::<FromAgent>(text).is_ok()
                || serde_json::from_str::<ToAgent>(text).is_ok(),
            "{text}"
        );
    }
}
