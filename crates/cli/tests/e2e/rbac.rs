//! The RBAC matrix: every RWS endpoint × anonymous, agent, supervisor,
//! admin — 401 without credentials, 403 for a role that may not, and
//! anything else (200, 404 for a missing resource, 400 for a bad body)
//! only when the role may.

use serde_json::json;

use crate::fixture::{Rws, basic, http};
use crate::util::tempdir;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Want {
    Ok,
    Unauth,
    Forbidden,
}
use Want::*;

#[test]
fn every_endpoint_checks_the_role() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let who: [(&str, Option<(&str, &str)>); 4] = [
        ("anonymous", None),
        ("agent", Some(("agent1", "pw1"))),
        ("supervisor", Some(("sup", "suppw"))),
        ("admin", Some(("admin", "adminpw"))),
    ];
    let hold = json!({"hold": true, "reason": "r"}).to_string();
    let agent_hold = json!({"agent": "agent1", "from": "2000-01-01T00:00:00Z", "to": "2001-01-01T00:00:00Z", "reason": "r"}).to_string();
    let bye = json!({"command": "bye"}).to_string();
    //            method  path                                         body          anon    agent      supervisor admin
    let matrix: Vec<(&str, &str, Option<&str>, [Want; 4])> = vec![
        (
            "GET",
            "/api/v2/srs/sessions",
            None,
            [Unauth, Forbidden, Ok, Ok],
        ),
        (
            "POST",
            "/api/v2/srs/sessions/nope/commands",
            Some(&bye),
            [Unauth, Forbidden, Forbidden, Ok],
        ),
        (
            "DELETE",
            "/api/v2/srs/sessions/nope",
            None,
            [Unauth, Forbidden, Forbidden, Ok],
        ),
        (
            "GET",
            "/api/v2/interactions/nope/events",
            None,
            [Unauth, Forbidden, Ok, Ok],
        ),
        (
            "GET",
            "/api/v2/recordings?agent=agent1",
            None,
            [Unauth, Forbidden, Ok, Ok],
        ),
        (
            "GET",
            "/api/v2/recordings/nope",
            None,
            [Unauth, Forbidden, Ok, Ok],
        ),
        (
            "GET",
            "/api/v2/recordings/nope/play/m",
            None,
            [Unauth, Forbidden, Ok, Ok],
        ),
        (
            "GET",
            "/api/v2/recordings/nope/download/m",
            None,
            [Unauth, Forbidden, Ok, Ok],
        ),
        (
            "PUT",
            "/api/v2/recordings/nope/labels/qa",
            None,
            [Unauth, Forbidden, Ok, Ok],
        ),
        (
            "DELETE",
            "/api/v2/recordings/nope/labels/qa",
            None,
            [Unauth, Forbidden, Ok, Ok],
        ),
        (
            "PUT",
            "/api/v2/recordings/nope/hold",
            Some(&hold),
            [Unauth, Forbidden, Forbidden, Ok],
        ),
        (
            "DELETE",
            "/api/v2/recordings/nope",
            None,
            [Unauth, Forbidden, Forbidden, Ok],
        ),
        (
            "POST",
            "/api/v2/holds",
            Some(&agent_hold),
            [Unauth, Forbidden, Forbidden, Ok],
        ),
        (
            "POST",
            "/api/v2/retention/run",
            None,
            [Unauth, Forbidden, Forbidden, Ok],
        ),
        (
            "GET",
            "/api/v2/audit",
            None,
            [Unauth, Forbidden, Forbidden, Ok],
        ),
        // Event intake takes the integration token, not user credentials.
        (
            "POST",
            "/api/v2/events",
            Some("[]"),
            [Unauth, Unauth, Unauth, Unauth],
        ),
        ("GET", "/api/v2/me", None, [Unauth, Ok, Ok, Ok]),
    ];
    let mut failures = Vec::new();
    for (method, path, body, wants) in &matrix {
        for ((role, creds), want) in who.iter().zip(wants) {
            let mut headers = Vec::new();
            if let Some((u, p)) = creds {
                headers.push(basic(u, p));
            }
            if body.is_some() {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            let r = http(
                method,
                &format!("{}{path}", rws.url),
                &headers,
                body.map(|b| b.as_bytes().to_vec()),
            );
            let got = match r.status {
                401 => Unauth,
                403 => Forbidden,
                0 | 500.. => {
                    failures.push(format!("{role} {method} {path}: {} {}", r.status, r.text));
                    continue;
                }
                _ => Ok,
            };
            if got != *want {
                failures.push(format!(
                    "{role} {method} {path}: want {want:?}, got {} {}",
                    r.status, r.text
                ));
            }
        }
    }
    // With the integration token, events are taken.
    let r = rws.post_events(&serde_json::json!([]));
    if r.status != 200 {
        failures.push(format!(
            "integration POST /api/v2/events: {} {}",
            r.status, r.text
        ));
    }
    // The server-sent events stream refuses before streaming.
    for (role, creds, want) in [
        ("anonymous", None, 401),
        ("agent", Some(("agent1", "pw1")), 403),
    ] {
        let headers: Vec<(String, String)> = creds.iter().map(|(u, p)| basic(u, p)).collect();
        let r = http(
            "GET",
            &format!("{}/api/v2/recordings/events", rws.url),
            &headers,
            None,
        );
        if r.status != want {
            failures.push(format!(
                "{role} GET /api/v2/recordings/events: want {want}, got {}",
                r.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
