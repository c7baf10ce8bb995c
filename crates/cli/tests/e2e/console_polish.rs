//! Issue 14 (parts 2 and 4), the RWS side of the console's rough edges:
//! `GET /api/v2/me` says who the caller is and what they may do (and only
//! ever about the caller), `/` leads to the console, the favicon is served
//! as SVG, and the search takes several states at once (the failures view
//! in one query).

use std::time::Duration;

use serde_json::{Value, json};

use crate::fixture::{DIRECTORY, Rws, Srs, basic, http};
use crate::util::{now, tempdir, wait_for};

/// The test directory, with `agents_see_own` and two groups.
fn directory(agents_see_own: bool) -> String {
    format!(
        "agents_see_own = {agents_see_own}\n{DIRECTORY}\n
[[user]]
username = \"sup2\"
password = \"sup2pw\"
roles = [\"supervisor\"]

[[group]]
name = \"north\"
supervisors = [\"sup\"]
agents = [\"agent1\"]

[[group]]
name = \"south\"
supervisors = [\"sup2\"]
agents = [\"agent2\"]
"
    )
}

fn start(dir: &std::path::Path, agents_see_own: bool) -> Rws {
    std::fs::write(dir.join("directory.toml"), directory(agents_see_own)).unwrap();
    Rws::start(dir, "rws")
}

fn me(rws: &Rws, headers: &[(String, String)]) -> crate::fixture::Response {
    http("GET", &format!("{}/api/v2/me", rws.url), headers, None)
}

#[test]
fn me_answers_each_role_about_itself_only() {
    let dir = tempdir();
    let rws = start(dir.path(), true);

    // Anonymous, a wrong password, a junk cookie: 401 in the GWS envelope.
    for headers in [
        vec![],
        vec![basic("agent1", "wrong")],
        vec![("Cookie".to_string(), "RWSSESSION=forged".to_string())],
    ] {
        let r = me(&rws, &headers);
        assert_eq!(r.status, 401, "{headers:?}: {}", r.text);
        // GWS code 20: authentication.
        assert_eq!(r.code(), 20, "{}", r.text);
        assert!(
            r.json()["statusMessage"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            r.text
        );
    }

    // Basic and the console cookie both work, and each user gets themself.
    let cases = [
        (
            "agent1",
            "pw1",
            "agent",
            vec![("north", "agent")],
            true,
            false,
        ),
        (
            "sup",
            "suppw",
            "supervisor",
            vec![("north", "supervisor")],
            false,
            true,
        ),
        (
            "sup2",
            "sup2pw",
            "supervisor",
            vec![("south", "supervisor")],
            false,
            true,
        ),
        ("admin", "adminpw", "admin", vec![], false, true),
    ];
    for (user, pass, role, groups, own_only, live) in cases {
        for headers in [
            vec![basic(user, pass)],
            vec![rws.console_cookie(user, pass)],
        ] {
            // A parameter naming someone else changes nothing.
            let r = http(
                "GET",
                &format!("{}/api/v2/me?user=admin&username=agent2", rws.url),
                &headers,
                None,
            );
            assert_eq!(r.status, 200, "{user}: {}", r.text);
            let v = r.json();
            assert_eq!(v["user"]["userName"], user, "{v:#}");
            assert_eq!(v["roles"], json!([role]), "{v:#}");
            let want: Vec<Value> = groups
                .iter()
                .map(|(g, r)| json!({"group": g, "role": r}))
                .collect();
            assert_eq!(v["groups"], json!(want), "{user}: {v:#}");
            assert_eq!(v["settings"]["agents_see_own"], true);
            assert_eq!(v["settings"]["supervisors_may_download"], true);
            assert_eq!(v["may"]["search"], true, "{user}");
            assert_eq!(v["may"]["ownRecordingsOnly"], own_only, "{user}");
            assert_eq!(v["may"]["live"], live, "{user}");
            assert_eq!(v["may"]["failures"], live, "{user}");
            assert_eq!(v["may"]["download"], role != "agent", "{user}");
            assert_eq!(v["may"]["audit"], role == "admin", "{user}");
        }
    }

    // A cross-origin page cannot read it (no CORS grant), and it only reads.
    let r = http(
        "GET",
        &format!("{}/api/v2/me", rws.url),
        &[
            basic("sup", "suppw"),
            ("Origin".into(), "https://evil.example".into()),
        ],
        None,
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        None,
        "{:?}",
        r.headers
    );
    let r = http(
        "POST",
        &format!("{}/api/v2/me", rws.url),
        &[basic("sup", "suppw")],
        Some(b"{}".to_vec()),
    );
    assert_eq!(r.status, 405, "{}", r.text);
    assert!(r.code() > 0, "an error envelope: {}", r.text);
}

#[test]
fn me_tells_an_agent_without_agents_see_own_that_there_is_nothing_to_search() {
    let dir = tempdir();
    let rws = start(dir.path(), false);
    let v = me(&rws, &[basic("agent1", "pw1")]).json();
    assert_eq!(v["user"]["userName"], "agent1");
    assert_eq!(v["settings"]["agents_see_own"], false);
    assert_eq!(v["may"]["search"], false, "{v:#}");
    assert_eq!(v["may"]["live"], false, "{v:#}");
    // And the search itself agrees.
    let r = http(
        "GET",
        &format!("{}/api/v2/recordings?agent=agent1", rws.url),
        &[basic("agent1", "pw1")],
        None,
    );
    assert_eq!(r.status, 403, "{}", r.text);
}

#[test]
fn root_redirects_to_the_console_and_the_favicon_is_svg() {
    let dir = tempdir();
    let rws = start(dir.path(), false);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, location) = rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = client.get(format!("{}/", rws.url)).send().await.unwrap();
        (
            r.status().as_u16(),
            r.headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string()),
        )
    });
    assert_eq!(status, 307);
    assert_eq!(location.as_deref(), Some("/console/"));
    // Followed, it is the console page.
    let page = http("GET", &format!("{}/", rws.url), &[], None);
    assert_eq!(page.status, 200);
    assert!(page.text.contains("screenrec console"), "{}", page.text);
    assert!(
        page.text.contains("/favicon.svg"),
        "the page links its icon"
    );
    for path in ["/favicon.svg", "/favicon.ico"] {
        let r = http("GET", &format!("{}{path}", rws.url), &[], None);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("image/svg+xml"), "{path}");
        assert!(r.text.starts_with("<svg"), "{path}: {}", r.text);
    }
}

fn recording_state(rws: &Rws, call: &str) -> Option<String> {
    let r = http(
        "GET",
        &format!("{}/api/v2/recordings/{call}", rws.url),
        &[basic("admin", "adminpw")],
        None,
    );
    (r.status == 200).then(|| {
        r.json()["screenRecordings"][0]["state"]
            .as_str()
            .unwrap()
            .to_string()
    })
}

fn search_ids(rws: &Rws, query: &str) -> Vec<String> {
    let r = http(
        "GET",
        &format!("{}/api/v2/recordings?{query}", rws.url),
        &[basic("admin", "adminpw")],
        None,
    );
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    let mut ids: Vec<String> = r.json()["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["callId"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn search_takes_several_states_in_one_query() {
    let dir = tempdir();
    let rws = start(dir.path(), false);
    let _srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    let event = |id: &str, ty: &str, call: &str, dn: &str| {
        let r = rws.post_events(&json!({"id": id, "type": ty, "call_id": call, "dn": dn, "switch": "SIP_Switch", "timestamp": now(), "ani": "+3311", "dnis": "800"}));
        assert_eq!(r.status, 200, "{}", r.text);
    };
    // One call recorded to the end; one on a DN nobody is logged in at.
    event("s-1", "recording.started", "ok-1", "1001");
    wait_for("ok-1 recording", Duration::from_secs(10), || {
        (recording_state(&rws, "ok-1").as_deref() == Some("recording")).then_some(())
    });
    event("r-1", "call.released", "ok-1", "1001");
    wait_for("ok-1 completed", Duration::from_secs(15), || {
        (recording_state(&rws, "ok-1").as_deref() == Some("completed")).then_some(())
    });
    event("s-2", "recording.started", "lost-1", "1002");
    let lost = wait_for("lost-1 exists", Duration::from_secs(10), || {
        recording_state(&rws, "lost-1")
    });
    assert_ne!(lost, "completed");

    assert_eq!(
        search_ids(&rws, &format!("state=completed,{lost}")),
        ["lost-1", "ok-1"]
    );
    assert_eq!(search_ids(&rws, &format!("state={lost}")), ["lost-1"]);
    assert_eq!(search_ids(&rws, "state=completed,completed"), ["ok-1"]);
    assert_eq!(
        search_ids(
            &rws,
            "state=partial,failed,requested,finalizing&agent=agent1"
        ),
        Vec::<String>::new()
    );

    // Bad lists: a 400 that names the bad state.
    for (q, needle) in [
        ("state=completed,bogus", "'bogus'"),
        ("state=completed,", "''"),
        ("state=,", "''"),
    ] {
        let r = http(
            "GET",
            &format!("{}/api/v2/recordings?{q}", rws.url),
            &[basic("admin", "adminpw")],
            None,
        );
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        // GWS code 10: validation.
        assert_eq!(r.code(), 10, "{}", r.text);
        let m = r.json()["statusMessage"].as_str().unwrap().to_string();
        assert!(m.contains(needle) && m.contains("comma"), "{q}: {m}");
    }
}

/// A flood of guesses through `/api/v2/me` meets the login throttle like
/// any other route: a 429 envelope with `Retry-After`, never a 200.
#[test]
fn me_guessing_is_throttled() {
    let dir = tempdir();
    std::fs::write(dir.path().join("directory.toml"), directory(false)).unwrap();
    let rws = Rws::start_with(dir.path(), "rws", &["--auth-free-failures", "3"]);
    let mut refused = None;
    for i in 0..12 {
        let r = me(&rws, &[basic("sup", &format!("guess{i}"))]);
        assert!([401, 429].contains(&r.status), "{}: {}", r.status, r.text);
        if r.status == 429 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("guesses on /api/v2/me are throttled");
    assert!(r.code() > 0, "{}", r.text);
    let after: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(after >= 1, "Retry-After {after}");
}
