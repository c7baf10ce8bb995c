//! Event intake on a real RWS: the integration token, validation naming the
//! field, idempotence by id, out-of-order arrival, the timeline read back.

use serde_json::json;

use crate::fixture::{INTEGRATION_TOKEN, Rws, basic, http};
use crate::util::tempdir;

fn post(rws: &Rws, token: Option<&str>, body: serde_json::Value) -> crate::fixture::Response {
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    if let Some(t) = token {
        headers.push(("Authorization".into(), format!("Bearer {t}")));
    }
    http(
        "POST",
        &format!("{}/api/v2/events", rws.url),
        &headers,
        Some(body.to_string().into_bytes()),
    )
}

fn voice(id: &str, kind: &str, ts: &str) -> serde_json::Value {
    json!({"id": id, "type": kind, "call_id": "c-100", "dn": "1001", "switch": "SIP_Switch", "timestamp": ts})
}

#[test]
fn events_need_the_integration_token() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let e = voice("evt-1", "recording.started", "2026-01-05T10:00:00Z");
    for token in [None, Some("wrong"), Some("test-integration-token-012")] {
        let r = post(&rws, token, e.clone());
        assert_eq!((r.status, r.code()), (401, 20), "{token:?}: {}", r.text);
    }
    // An agent's or admin's Basic credentials are not the integration token.
    let r = http(
        "POST",
        &format!("{}/api/v2/events", rws.url),
        &[basic("admin", "adminpw")],
        Some(e.to_string().into_bytes()),
    );
    assert_eq!(r.status, 401);
    assert_eq!(post(&rws, Some(INTEGRATION_TOKEN), e).status, 200);
}

#[test]
fn events_are_idempotent_by_id_and_read_back_in_timestamp_order() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    // Out of order, and one duplicate inside the batch.
    let batch = json!([
        voice("e3", "call.released", "2026-01-05T10:05:00Z"),
        voice("e1", "call.established", "2026-01-05T10:00:00+01:00"),
        voice("e2", "recording.started", "2026-01-05T09:00:01Z"),
        voice("e2", "recording.started", "2026-01-05T09:00:01Z"),
    ]);
    let r = post(&rws, Some(INTEGRATION_TOKEN), batch);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"accepted": 3, "duplicates": 1}));
    // The same event again changes nothing.
    let r = post(
        &rws,
        Some(INTEGRATION_TOKEN),
        voice("e1", "call.established", "2026-01-05T10:00:00+01:00"),
    );
    assert_eq!(r.json(), json!({"accepted": 0, "duplicates": 1}));
    let t = http(
        "GET",
        &format!("{}/api/v2/interactions/c-100/events", rws.url),
        &[basic("sup", "suppw")],
        None,
    );
    assert_eq!(t.status, 200, "{}", t.text);
    let ids: Vec<String> = t.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        ["e1", "e2", "e3"],
        "09:00 UTC (10:00+01:00), 09:00:01, 10:05"
    );
    // Non-voice events live on their interaction.
    let chat = json!({"id": "i1", "type": "interaction.started", "interaction_id": "chat-7", "media": "chat",
                      "queue": "Sales", "agent": "agent1", "attached_data": {"vip": "yes"}, "timestamp": "2026-01-05T11:00:00Z"});
    assert_eq!(
        post(&rws, Some(INTEGRATION_TOKEN), chat).json()["accepted"],
        1
    );
    let t = http(
        "GET",
        &format!("{}/api/v2/interactions/chat-7/events", rws.url),
        &[basic("admin", "adminpw")],
        None,
    );
    assert_eq!(t.json()["events"][0]["attached_data"]["vip"], "yes");
    assert_eq!(
        http(
            "GET",
            &format!("{}/api/v2/interactions/chat-7/events", rws.url),
            &[basic("agent1", "pw1")],
            None
        )
        .status,
        403
    );
    assert_eq!(
        http(
            "GET",
            &format!("{}/api/v2/interactions/none/events", rws.url),
            &[basic("admin", "adminpw")],
            None
        )
        .status,
        404
    );
}

#[test]
fn a_bad_event_is_a_400_naming_the_field_and_stores_nothing_of_its_batch() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let cases = [
        (
            json!({"type": "call.released", "call_id": "c", "dn": "1", "switch": "S", "timestamp": "2026-01-05T10:00:00Z"}),
            "'id' is required",
        ),
        (
            voice("x", "call.exploded", "2026-01-05T10:00:00Z"),
            "'type' 'call.exploded' is unknown",
        ),
        (
            voice("x", "call.released", "yesterday"),
            "'timestamp' must be RFC 3339",
        ),
        (
            json!({"id": "x", "type": "call.released", "dn": "1", "switch": "S", "timestamp": "2026-01-05T10:00:00Z"}),
            "'call_id' is required",
        ),
        (
            json!({"id": "x", "type": "call.released", "call_id": "c", "timestamp": "2026-01-05T10:00:00Z"}),
            "'dn' and 'switch' are required",
        ),
        (
            json!({"id": "x", "type": "interaction.started", "timestamp": "2026-01-05T10:00:00Z"}),
            "'interaction_id' is required",
        ),
        (
            json!({"id": 5, "type": "call.released"}),
            "'id' must be a non-empty string",
        ),
        (
            json!({"id": "x", "type": "interaction.started", "interaction_id": "i", "attached_data": [1], "timestamp": "2026-01-05T10:00:00Z"}),
            "'attached_data' must be an object",
        ),
        (json!("hello"), "must be a JSON object"),
    ];
    for (body, want) in cases {
        let r = post(&rws, Some(INTEGRATION_TOKEN), body.clone());
        assert_eq!((r.status, r.code()), (400, 10), "{body}: {}", r.text);
        assert!(r.text.contains(want), "{body}: {} lacks {want}", r.text);
    }
    let batch = json!([
        voice("ok-1", "call.established", "2026-01-05T10:00:00Z"),
        voice("bad", "call.released", "nope")
    ]);
    let r = post(&rws, Some(INTEGRATION_TOKEN), batch);
    assert_eq!(r.status, 400);
    assert!(r.text.contains("event 1: 'timestamp'"), "{}", r.text);
    let t = http(
        "GET",
        &format!("{}/api/v2/interactions/c-100/events", rws.url),
        &[basic("admin", "adminpw")],
        None,
    );
    assert_eq!(t.status, 404, "nothing of the rejected batch was stored");
    let r = http(
        "POST",
        &format!("{}/api/v2/events", rws.url),
        &[(
            "Authorization".into(),
            format!("Bearer {INTEGRATION_TOKEN}"),
        )],
        Some(b"{not json".to_vec()),
    );
    assert_eq!((r.status, r.code()), (400, 10));
}
