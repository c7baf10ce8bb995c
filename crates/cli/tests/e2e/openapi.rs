//! `/api/v2/openapi.json` describes every RWS route, and the real answers
//! of a running RWS (after a real recording) match its schemas.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fixture::{INTEGRATION_TOKEN, Rws, Srs, basic, http};
use crate::util::{tempdir, wait_for};

/// Validates `body` against the schema of `method path` → `status`.
fn check(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let errors = errors(doc, method, path, status, body);
    assert!(
        errors.is_empty(),
        "{method} {path} → {status}: {errors:#?}\n{body:#}"
    );
}

fn errors(doc: &Value, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
    let pointer = format!(
        "/paths/{}/{}/responses/{status}/content/application~1json/schema",
        path.replace('~', "~0").replace('/', "~1"),
        method.to_lowercase()
    );
    assert!(
        doc.pointer(&pointer).is_some(),
        "the document has no JSON schema for {method} {path} → {status}"
    );
    let mut root = doc.clone();
    // A URI fragment: braces percent-encoded.
    root["$ref"] = json!(format!(
        "#{}",
        pointer.replace('{', "%7B").replace('}', "%7D")
    ));
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    let validator = jsonschema::validator_for(&root).expect("the document compiles as JSON Schema");
    validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn openapi_covers_every_route_and_matches_real_answers() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let doc = http(
        "GET",
        &format!("{}/api/v2/openapi.json", rws.url),
        &[],
        None,
    )
    .json();
    assert_eq!(doc["openapi"], "3.1.0");

    // Every route the router declares is in the document.
    let source = include_str!("../../../rws/src/http/mod.rs");
    let routes: Vec<&str> = source
        .split(".route(")
        .skip(1)
        .filter_map(|r| r.trim_start().strip_prefix('"')?.split('"').next())
        .collect();
    assert!(routes.len() > 20, "{routes:?}");
    for r in &routes {
        assert!(
            doc["paths"].get(*r).is_some(),
            "route {r} is missing from openapi.json"
        );
    }

    // A real recording, then the answers of the read endpoints.
    let _srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    let post = |path: &str, headers: Vec<(String, String)>, body: Value| {
        let mut h = headers;
        h.push(("Content-Type".into(), "application/json".into()));
        http(
            "POST",
            &format!("{}{path}", rws.url),
            &h,
            Some(body.to_string().into_bytes()),
        )
    };
    let token = (
        "Authorization".to_string(),
        format!("Bearer {INTEGRATION_TOKEN}"),
    );
    let ts = || {
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let r = post(
        "/api/v2/events",
        vec![token.clone()],
        json!({"id": "o1", "type": "recording.started", "call_id": "oa", "dn": "1001", "switch": "SIP_Switch", "timestamp": ts(), "ani": "+3311"}),
    );
    check(&doc, "POST", "/api/v2/events", 200, &r.json());
    let bad = post("/api/v2/events", vec![token.clone()], json!({"id": "o2"}));
    check(&doc, "POST", "/api/v2/events", 400, &bad.json());
    // Screen on RWS before the pause (a call released before SRS's first
    // frame would end `failed`, not `completed`).
    rws.wait_screen(("admin", "adminpw"), "oa", 1000);
    post(
        "/api/v2/events",
        vec![token.clone()],
        json!({"id": "o3", "type": "recording.paused", "call_id": "oa", "dn": "1001", "switch": "SIP_Switch", "timestamp": ts()}),
    );
    std::thread::sleep(Duration::from_millis(500));
    post(
        "/api/v2/events",
        vec![token],
        json!({"id": "o4", "type": "call.released", "call_id": "oa", "dn": "1001", "switch": "SIP_Switch", "timestamp": ts()}),
    );
    let admin = basic("admin", "adminpw");
    wait_for("completed", Duration::from_secs(10), || {
        let r = http(
            "GET",
            &format!("{}/api/v2/recordings/oa", rws.url),
            std::slice::from_ref(&admin),
            None,
        );
        (r.status == 200 && r.json()["screenRecordings"][0]["state"] == "completed").then_some(())
    });
    let get = |path: &str| {
        http(
            "GET",
            &format!("{}{path}", rws.url),
            std::slice::from_ref(&admin),
            None,
        )
    };
    let answers = [
        ("/healthz", "/healthz", 200),
        ("/readyz", "/readyz", 200),
        ("/api/v2/srs/sessions", "/api/v2/srs/sessions", 200),
        ("/api/v2/srs/origins", "/api/v2/srs/origins", 200),
        ("/api/v2/keys/signing", "/api/v2/keys/signing", 200),
        (
            "/api/v2/interactions/{id}/events",
            "/api/v2/interactions/oa/events",
            200,
        ),
        ("/api/v2/recordings/{call_id}", "/api/v2/recordings/oa", 200),
        (
            "/api/v2/recordings/{call_id}",
            "/api/v2/recordings/nope",
            404,
        ),
        ("/api/v2/recordings", "/api/v2/recordings?agent=agent1", 200),
        ("/api/v2/recordings", "/api/v2/recordings?limit=9999", 400),
        ("/api/v2/audit", "/api/v2/audit", 200),
        ("/api/v2/me", "/api/v2/me", 200),
        (
            "/api/v2/recordings",
            "/api/v2/recordings?state=completed,failed&agent=agent1",
            200,
        ),
    ];
    for (template, url, status) in answers {
        let r = get(url);
        assert_eq!(r.status, status, "{url}: {}", r.text);
        check(&doc, "GET", template, status, &r.json());
    }
    let unauth = http(
        "GET",
        &format!("{}/api/v2/recordings/oa", rws.url),
        &[],
        None,
    );
    check(
        &doc,
        "GET",
        "/api/v2/recordings/{call_id}",
        401,
        &unauth.json(),
    );
    let forbidden = http(
        "GET",
        &format!("{}/api/v2/audit", rws.url),
        &[basic("sup", "suppw")],
        None,
    );
    check(&doc, "GET", "/api/v2/audit", 403, &forbidden.json());
    let put = |path: &str, body: Option<Value>| {
        http(
            "PUT",
            &format!("{}{path}", rws.url),
            &[
                admin.clone(),
                ("Content-Type".into(), "application/json".into()),
            ],
            body.map(|b| b.to_string().into_bytes()),
        )
    };
    let label = put("/api/v2/recordings/oa/labels/qa", None);
    check(
        &doc,
        "PUT",
        "/api/v2/recordings/{call_id}/labels/{label}",
        200,
        &label.json(),
    );
    let hold = put(
        "/api/v2/recordings/oa/hold",
        Some(json!({"hold": true, "reason": "test"})),
    );
    check(
        &doc,
        "PUT",
        "/api/v2/recordings/{call_id}/hold",
        200,
        &hold.json(),
    );
    let held = http(
        "DELETE",
        &format!("{}/api/v2/recordings/oa", rws.url),
        std::slice::from_ref(&admin),
        None,
    );
    check(
        &doc,
        "DELETE",
        "/api/v2/recordings/{call_id}",
        409,
        &held.json(),
    );
    let run = post("/api/v2/retention/run", vec![admin.clone()], json!({}));
    check(&doc, "POST", "/api/v2/retention/run", 200, &run.json());
    let login = post(
        "/api/v2/auth/login",
        vec![],
        json!({"username": "sup", "password": "suppw"}),
    );
    check(&doc, "POST", "/api/v2/auth/login", 200, &login.json());
    let opened = post(
        "/api/v2/srs/sessions",
        vec![basic("agent2", "pw2")],
        json!({"srs_version": "test"}),
    );
    check(&doc, "POST", "/api/v2/srs/sessions", 201, &opened.json());
    // The search answer with pages, and a recording with pauses and labels.
    let page = get("/api/v2/recordings?agent=agent1&limit=1");
    check(&doc, "GET", "/api/v2/recordings", 200, &page.json());
    assert!(
        !page.json()["recordings"][0]["labels"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
