//! Issue 6 (first part): who sees which recordings (groups), search with
//! filters and cursor pages, labels, legal hold, delete, retention, audit —
//! against a real RWS with recordings made by real SRS processes.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fixture::{Rws, Srs, TWO_GROUPS, basic, get_as, http, write_directory};
use crate::util::{now, tempdir, wait_for};

/// Appended to [`TWO_GROUPS`]: `purge-me` recordings go at once, the rest
/// are kept ten years.
const RETENTION: &str = r#"
[[retention]]
keep_days = 0
label = "purge-me"

[[retention]]
keep_days = 3650
"#;

/// The directory these tests load.
fn directory() -> String {
    format!("{TWO_GROUPS}{RETENTION}")
}

fn start(dir: &Path) -> (Rws, Srs, Srs) {
    write_directory(dir, &directory());
    let rws = Rws::start(dir, "rws");
    let a = Srs::start_agent(dir, "srs-a", &rws.url, ("agent1", "pw1"));
    let b = Srs::start_agent(dir, "srs-b", &rws.url, ("agent2", "pw2"));
    (rws, a, b)
}

fn events(rws: &Rws, body: Value) {
    let r = rws.post_events(&body);
    assert_eq!(r.status, 200, "{}", r.text);
}

/// One short recorded call on `dn`, waited until completed.
fn call(rws: &Rws, id: &str, dn: &str, extra: Value) {
    let mut started = json!({"id": format!("{id}-s"), "type": "recording.started", "call_id": id, "dn": dn, "switch": "SIP_Switch", "timestamp": now()});
    if let (Value::Object(m), Value::Object(x)) = (&mut started, extra) {
        m.extend(x);
    }
    events(rws, started);
    wait_for(&format!("{id} recording"), Duration::from_secs(10), || {
        let r = get_as(
            rws,
            ("admin", "adminpw"),
            &format!("/api/v2/recordings/{id}"),
        );
        (r.status == 200 && r.json()["screenRecordings"][0]["state"] == "recording").then_some(())
    });
    // The call lasts until a second of its screen is on RWS (the tests
    // read its duration and play it), not a fixed time after `recording`.
    rws.wait_screen(("admin", "adminpw"), id, 1000);
    rws.call_event(&format!("{id}-r"), "call.released", id, dn);
    wait_for(&format!("{id} completed"), Duration::from_secs(10), || {
        let r = get_as(
            rws,
            ("admin", "adminpw"),
            &format!("/api/v2/recordings/{id}"),
        );
        (r.status == 200 && r.json()["screenRecordings"][0]["state"] == "completed").then_some(())
    });
}

fn ids(v: &Value) -> Vec<String> {
    v["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["callId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn groups_decide_who_sees_what_and_search_filters_and_pages() {
    let dir = tempdir();
    let (rws, _a, _b) = start(dir.path());
    let t0 = now();
    call(
        &rws,
        "a-1",
        "1001",
        json!({"ani": "+33123456789", "dnis": "800"}),
    );
    call(&rws, "a-2", "1001", json!({}));
    call(&rws, "a-3", "1001", json!({}));
    call(&rws, "b-1", "1002", json!({}));
    let range = format!("from={}&to={}", t0, now()).replace('+', "%2B");

    // Supervisors see their groups' agents; admins everybody; agents nobody.
    let s = get_as(
        &rws,
        ("supa", "pwa"),
        &format!("/api/v2/recordings?{range}"),
    );
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(ids(&s.json()), ["a-3", "a-2", "a-1"]);
    assert_eq!(
        ids(&get_as(
            &rws,
            ("supb", "pwb"),
            &format!("/api/v2/recordings?{range}")
        )
        .json()),
        ["b-1"]
    );
    assert_eq!(
        ids(&get_as(
            &rws,
            ("admin", "adminpw"),
            &format!("/api/v2/recordings?{range}")
        )
        .json())
        .len(),
        4
    );
    assert_eq!(
        get_as(&rws, ("supa", "pwa"), "/api/v2/recordings/b-1").status,
        404
    );
    let b1 = get_as(&rws, ("admin", "adminpw"), "/api/v2/recordings/b-1").json();
    let uri = b1["mediaFiles"][0]["mediaUri"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        get_as(&rws, ("supa", "pwa"), &uri).status,
        404,
        "no playback of another group's agent"
    );
    assert_eq!(get_as(&rws, ("supb", "pwb"), &uri).status, 200);
    assert_eq!(
        get_as(&rws, ("supa", "pwa"), "/api/v2/interactions/b-1/events").status,
        404,
        "nor the call events of another group's agent"
    );
    let ev = get_as(&rws, ("supb", "pwb"), "/api/v2/interactions/b-1/events");
    assert_eq!(ev.status, 200, "{}", ev.text);
    assert_eq!(ev.json()["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        get_as(
            &rws,
            ("agent1", "pw1"),
            &format!("/api/v2/recordings?{range}")
        )
        .status,
        403
    );
    assert_eq!(
        get_as(&rws, ("agent1", "pw1"), "/api/v2/recordings/a-1").status,
        403
    );

    // Filters.
    let admin = ("admin", "adminpw");
    let q = |p: &str| get_as(&rws, admin, &format!("/api/v2/recordings?{p}"));
    assert_eq!(ids(&q("agent=agent2").json()), ["b-1"]);
    assert_eq!(
        ids(&q("group=team_a&sort=startTime").json()),
        ["a-1", "a-2", "a-3"]
    );
    assert_eq!(ids(&q("call_id=a-2").json()), ["a-2"]);
    assert_eq!(ids(&q("caller=%2B33*").json()), ["a-1"]);
    assert_eq!(ids(&q("dialed=800").json()), ["a-1"]);
    assert_eq!(ids(&q("caller=%2B44*").json()).len(), 0);
    assert_eq!(ids(&q("state=completed&agent=agent1").json()).len(), 3);
    assert_eq!(ids(&q("has_pause=true&agent=agent1").json()).len(), 0);
    assert_eq!(
        ids(&q("min_duration=0&max_duration=60&agent=agent1").json()).len(),
        3
    );
    assert_eq!(ids(&q("min_duration=60&agent=agent1").json()).len(), 0);
    let one = &q("call_id=a-1").json()["recordings"][0];
    assert_eq!(one["callerPhoneNumber"], "+33123456789");
    assert!(one["duration"].as_str().unwrap().parse::<u64>().unwrap() >= 500);

    // Labels, within what the supervisor sees.
    let put = |who: (&str, &str), path: &str| {
        http(
            "PUT",
            &format!("{}{path}", rws.url),
            &[basic(who.0, who.1)],
            None,
        )
    };
    assert_eq!(
        put(("supa", "pwa"), "/api/v2/recordings/a-2/labels/qa").status,
        200
    );
    assert_eq!(
        put(("supb", "pwb"), "/api/v2/recordings/a-2/labels/qa").status,
        404
    );
    assert_eq!(
        put(("supa", "pwa"), "/api/v2/recordings/a-2/labels/bad%20label").status,
        400
    );
    assert_eq!(ids(&q("label=qa").json()), ["a-2"]);
    assert_eq!(
        q("call_id=a-2").json()["recordings"][0]["labels"],
        json!(["qa"])
    );

    // Pages: stable under new arrivals, next and prev links.
    let page1 = q("agent=agent1&limit=2").json();
    assert_eq!(ids(&page1), ["a-3", "a-2"]);
    assert!(page1["prev"].is_null());
    let next = page1["next"].as_str().expect("a next link").to_string();
    call(&rws, "a-4", "1001", json!({}));
    let page2 = get_as(&rws, admin, &next).json();
    assert_eq!(
        ids(&page2),
        ["a-1"],
        "a recording that arrived meanwhile does not shift the pages"
    );
    assert!(page2["next"].is_null());
    let back = get_as(&rws, admin, page2["prev"].as_str().expect("a prev link")).json();
    assert_eq!(ids(&back), ["a-3", "a-2"]);

    // Bad input: 400 naming the parameter.
    for (p, word) in [
        ("", "time range"),
        ("limit=500&agent=agent1", "'limit'"),
        ("limit=0&agent=agent1", "'limit'"),
        ("state=lost", "'state'"),
        ("from=yesterday&to=today", "'from'"),
        (&format!("{range}&has_pause=maybe"), "'has_pause'"),
        ("min_duration=-3&agent=agent1", "'min_duration'"),
        ("sort=size&agent=agent1", "'sort'"),
        ("cursor=abc&agent=agent1", "'cursor'"),
        ("colour=red&agent=agent1", "colour"),
    ] {
        let r = q(p);
        assert_eq!(r.status, 400, "{p}: {}", r.text);
        assert!(r.text.contains(word), "{p}: {}", r.text);
    }
}

#[test]
fn legal_hold_blocks_delete_and_purge_and_everything_is_audited() {
    let dir = tempdir();
    let (rws, _a, _b) = start(dir.path());
    call(&rws, "h-1", "1001", json!({}));
    call(&rws, "h-2", "1002", json!({}));
    let admin = ("admin", "adminpw");
    let req = |m: &str, path: &str, body: Option<Value>| {
        let mut h = vec![basic(admin.0, admin.1)];
        if body.is_some() {
            h.push(("Content-Type".into(), "application/json".into()));
        }
        http(
            m,
            &format!("{}{path}", rws.url),
            &h,
            body.map(|b| b.to_string().into_bytes()),
        )
    };
    // Playback and download are audited.
    let h1 = get_as(&rws, admin, "/api/v2/recordings/h-1").json();
    let media = h1["mediaFiles"][0]["mediaId"].as_str().unwrap().to_string();
    let uri = h1["mediaFiles"][0]["mediaUri"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(get_as(&rws, ("supa", "pwa"), &uri).status, 200);
    assert_eq!(
        get_as(&rws, ("supa", "pwa"), &uri).status,
        200,
        "a second request of the same viewing"
    );
    let dl = get_as(&rws, ("supa", "pwa"), &uri.replace("/play/", "/download/"));
    assert_eq!(dl.status, 200);
    assert!(
        dl.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    assert!(
        dl.bytes.windows(4).any(|w| w == b"ftyp"),
        "the download is the decrypted MP4"
    );

    // Both recordings are marked for purging; h-1 is on legal hold.
    for c in ["h-1", "h-2"] {
        assert_eq!(
            req(
                "PUT",
                &format!("/api/v2/recordings/{c}/labels/purge-me"),
                None
            )
            .status,
            200
        );
    }
    assert_eq!(
        req(
            "PUT",
            "/api/v2/recordings/h-1/hold",
            Some(json!({"hold": true}))
        )
        .status,
        400,
        "a hold needs a reason"
    );
    assert_eq!(
        req(
            "PUT",
            "/api/v2/recordings/h-1/hold",
            Some(json!({"hold": true, "reason": "case 42"}))
        )
        .status,
        200
    );
    assert_eq!(
        http(
            "PUT",
            &format!("{}/api/v2/recordings/h-1/hold", rws.url),
            &[
                basic("supa", "pwa"),
                ("Content-Type".into(), "application/json".into())
            ],
            Some(b"{\"hold\":false}".to_vec())
        )
        .status,
        403
    );
    let run = req("POST", "/api/v2/retention/run", None);
    assert_eq!(run.status, 200, "{}", run.text);
    assert_eq!(run.json(), json!({"purged": 1, "held": 1}));
    assert_eq!(
        get_as(&rws, admin, "/api/v2/recordings/h-2").status,
        404,
        "h-2 purged"
    );
    let objects = rws.media_objects();
    assert_eq!(
        objects.len(),
        1,
        "only h-1's media object is left: {objects:?}"
    );
    assert_eq!(
        req("DELETE", "/api/v2/recordings/h-1", None).status,
        409,
        "held: no delete"
    );
    assert_eq!(
        get_as(&rws, admin, "/api/v2/recordings/h-1").json()["screenRecordings"][0]["legalHold"],
        true
    );
    assert_eq!(
        req(
            "PUT",
            "/api/v2/recordings/h-1/hold",
            Some(json!({"hold": false}))
        )
        .status,
        200
    );
    assert_eq!(
        http(
            "DELETE",
            &format!("{}/api/v2/recordings/h-1", rws.url),
            &[basic("supa", "pwa")],
            None
        )
        .status,
        403
    );
    assert_eq!(req("DELETE", "/api/v2/recordings/h-1", None).status, 200);
    assert_eq!(get_as(&rws, admin, "/api/v2/recordings/h-1").status, 404);
    assert!(rws.media_objects().is_empty(), "media removed");

    // Agent-wide hold covers recordings in the range.
    call(&rws, "h-3", "1002", json!({}));
    let r = req(
        "POST",
        "/api/v2/holds",
        Some(
            json!({"agent": "agent2", "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "reason": "litigation"}),
        ),
    );
    assert_eq!(r.json()["recordings"], 1, "{}", r.text);
    assert_eq!(
        req(
            "POST",
            "/api/v2/holds",
            Some(json!({"agent": "agent2", "from": "x", "to": "y", "reason": "r"}))
        )
        .status,
        400
    );

    // The audit trail survives the purge and the delete.
    assert_eq!(get_as(&rws, ("supa", "pwa"), "/api/v2/audit").status, 403);
    let log = get_as(&rws, admin, "/api/v2/audit?limit=1000").json();
    let entries = log["entries"].as_array().unwrap();
    let has = |user: &str, action: &str, target: Option<&str>| {
        entries.iter().any(|e| {
            e["user"] == user && e["action"] == action && target.is_none_or(|t| e["target"] == t)
        })
    };
    let playbacks = entries
        .iter()
        .filter(|e| e["action"] == "playback" && e["target"] == media.as_str())
        .count();
    assert_eq!(playbacks, 1, "one viewing, one playback entry");
    assert!(has("supa", "download", Some(&media)));
    assert!(has("admin", "hold", None) && has("admin", "release", None));
    assert!(has("retention", "purge", None));
    assert!(has("admin", "delete", None));
    assert!(has("admin", "label", None));
    assert!(
        entries
            .iter()
            .all(|e| e["user"] == "retention" || e["remote"] == "127.0.0.1"),
        "{entries:#?}"
    );
    assert_eq!(
        get_as(&rws, admin, "/api/v2/audit?action=download").json()["entries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(get_as(&rws, admin, "/api/v2/audit?from=nope").status, 400);
}

/// The console session: cookie login, CSRF on changes, logout, lock-out
/// after repeated failures.
#[test]
fn console_session_is_csrf_protected_and_locks_out_guessers() {
    let dir = tempdir();
    write_directory(dir.path(), &directory());
    let rws = Rws::start(dir.path(), "rws");
    let _srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    call(&rws, "k-1", "1001", json!({}));
    let login = |user: &str, pass: &str| rws.console_login(user, pass);
    let ok = login("supa", "pwa");
    assert_eq!(ok.status, 200, "{}", ok.text);
    let set = ok.header("set-cookie").unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = (
        "Cookie".to_string(),
        set.split(';').next().unwrap().to_string(),
    );
    let csrf = ok.json()["csrfToken"].as_str().unwrap().to_string();
    // Reading with the cookie works; changing needs the token.
    assert_eq!(
        http(
            "GET",
            &format!("{}/api/v2/recordings/k-1", rws.url),
            std::slice::from_ref(&cookie),
            None
        )
        .status,
        200
    );
    let label = format!("{}/api/v2/recordings/k-1/labels/seen", rws.url);
    assert_eq!(
        http("PUT", &label, std::slice::from_ref(&cookie), None).status,
        403
    );
    assert_eq!(
        http(
            "PUT",
            &label,
            &[cookie.clone(), ("X-CSRF-Token".into(), "forged".into())],
            None
        )
        .status,
        403
    );
    assert_eq!(
        http(
            "PUT",
            &label,
            &[cookie.clone(), ("X-CSRF-Token".into(), csrf.clone())],
            None
        )
        .status,
        200
    );
    // The console gets its 401 without the browser's Basic challenge.
    let anon = http(
        "GET",
        &format!("{}/api/v2/recordings/k-1", rws.url),
        &[("X-Screenrec-Console".into(), "1".into())],
        None,
    );
    assert_eq!(anon.status, 401);
    assert!(anon.header("www-authenticate").is_none());
    // Logout ends the session.
    assert_eq!(
        http(
            "POST",
            &format!("{}/api/v2/auth/logout", rws.url),
            std::slice::from_ref(&cookie),
            None
        )
        .status,
        200
    );
    assert_eq!(
        http(
            "GET",
            &format!("{}/api/v2/recordings/k-1", rws.url),
            std::slice::from_ref(&cookie),
            None
        )
        .status,
        401
    );
    // Five wrong passwords make this address wait for the name, even with
    // the right one (hostile_stranger.rs: other addresses are not held back).
    for _ in 0..5 {
        assert_eq!(login("supb", "wrong").status, 401);
    }
    let locked = login("supb", "pwb");
    assert_eq!(locked.status, 429, "{}", locked.text);
    assert!(
        locked.text.contains("too many failed logins"),
        "{}",
        locked.text
    );
    assert_eq!(
        login("supa", "pwa").status,
        200,
        "other users are not affected"
    );
    assert_eq!(login("supa", "pwa").status, 200);
    assert_eq!(
        http(
            "POST",
            &format!("{}/api/v2/auth/login", rws.url),
            &[],
            Some(b"{}".to_vec())
        )
        .status,
        400
    );
}
