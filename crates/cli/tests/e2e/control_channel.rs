//! The control channel between real SRS and RWS processes: commands and
//! acknowledgements, reconnection, failover to the peer, timeouts.

use std::time::Duration;

use serde_json::json;

use crate::fixture::{Rws, Srs, basic, http};
use crate::util::{tempdir, wait_for};

fn admin() -> (String, String) {
    basic("admin", "adminpw")
}

#[test]
fn admin_command_is_acknowledged_by_the_srs_and_applied() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let srs = Srs::start(dir.path(), "srs", &["--server", &rws.url]);
    assert_eq!(srs.login("agent1", "pw1").status, 200);
    let s = rws.wait_sessions("connected", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    let id = s[0]["session_id"].as_str().unwrap().to_string();
    let url = format!("{}/api/v2/srs/sessions/{id}/commands", rws.url);
    let r = http(
        "POST",
        &url,
        &[admin()],
        Some(
            json!({"command": "config", "allowed_origins": ["https://new.desk.test"]})
                .to_string()
                .into_bytes(),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["ok"], true);
    let seq = r.json()["seq"].as_u64().unwrap();
    // Applied: the new origin passes SRS's CORS check.
    let pre = http(
        "OPTIONS",
        &format!("{}/ping", srs.url),
        &[("Origin".into(), "https://new.desk.test".into())],
        None,
    );
    assert_eq!(pre.status, 204);
    // The next command gets the next seq.
    let r = http(
        "POST",
        &url,
        &[admin()],
        Some(br#"{"command":"config"}"#.to_vec()),
    );
    assert_eq!(r.json()["seq"].as_u64().unwrap(), seq + 1);
    // Bad input, wrong role, unknown session.
    let r = http(
        "POST",
        &url,
        &[admin()],
        Some(br#"{"command":"dance"}"#.to_vec()),
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("dance"), "{}", r.text);
    let r = http(
        "POST",
        &url,
        &[basic("agent1", "pw1")],
        Some(br#"{"command":"config"}"#.to_vec()),
    );
    assert_eq!(r.status, 403);
    let r = http(
        "POST",
        &format!("{}/api/v2/srs/sessions/nope/commands", rws.url),
        &[admin()],
        Some(br#"{"command":"config"}"#.to_vec()),
    );
    assert_eq!(r.status, 404);
    // bye: acknowledged, the session ends on both sides.
    let r = http(
        "POST",
        &url,
        &[admin()],
        Some(br#"{"command":"bye"}"#.to_vec()),
    );
    assert_eq!(r.json()["ok"], true);
    rws.wait_sessions("session gone after bye", |s| s.is_empty());
    wait_for(
        "SRS refuses the ended session",
        Duration::from_secs(5),
        || (srs.ping(&[basic("agent1", "pw1")]).status == 401).then_some(()),
    );
}

#[test]
fn command_to_a_disconnected_srs_is_accepted_and_stays_queued() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let mut srs = Srs::start(dir.path(), "srs", &["--server", &rws.url]);
    srs.login("agent1", "pw1");
    let s = rws.wait_sessions("connected", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    let id = s[0]["session_id"].as_str().unwrap().to_string();
    srs.proc.kill9();
    rws.wait_sessions("disconnected", |s| {
        s.first().is_some_and(|x| x["state"] == "disconnected")
    });
    let r = http(
        "POST",
        &format!("{}/api/v2/srs/sessions/{id}/commands?timeout_s=1", rws.url),
        &[admin()],
        Some(br#"{"command":"config"}"#.to_vec()),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let v: serde_json::Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(v["queued"], true, "{v}");
    assert!(v["seq"].as_u64().is_some(), "{v}");
    assert!(
        v["statusMessage"]
            .as_str()
            .unwrap()
            .contains("did not acknowledge"),
        "{v}"
    );
    // And the silent SRS's session is dropped after the silence timeout (3 s).
    rws.wait_sessions("silent session dropped", |s| s.is_empty());
}

#[test]
fn rws_killed_and_restarted_the_srs_reconnects_and_the_session_is_listed_again() {
    let dir = tempdir();
    let mut rws = Rws::start(dir.path(), "rws");
    let srs = Srs::start(dir.path(), "srs", &["--server", &rws.url]);
    srs.login("agent1", "pw1");
    let before = rws.wait_sessions("connected", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    rws.restart("rws");
    let after = rws.wait_sessions("reconnected after restart", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    assert_eq!(after[0]["session_id"], before[0]["session_id"]);
    assert_eq!(srs.ping(&[basic("agent1", "pw1")]).status, 200);
    // Commands still flow, with a seq above anything used before.
    let id = after[0]["session_id"].as_str().unwrap();
    let r = http(
        "POST",
        &format!("{}/api/v2/srs/sessions/{id}/commands", rws.url),
        &[admin()],
        Some(br#"{"command":"config"}"#.to_vec()),
    );
    assert_eq!(r.json()["ok"], true, "{}", r.text);
}

#[test]
fn primary_rws_killed_the_session_moves_to_the_peer() {
    let dir = tempdir();
    let mut primary = Rws::start(dir.path(), "primary");
    let peer = Rws::start(dir.path(), "peer");
    // The desktop names both; SRS must be configured with them (rule 5).
    let srs = Srs::start(
        dir.path(),
        "srs",
        &[
            "--failover-after",
            "2",
            "--allowed-server",
            &primary.url,
            "--allowed-server",
            &peer.url,
        ],
    );
    let body = json!([{"name": "server", "value": primary.url}, {"name": "peer_server", "value": peer.url}]);
    assert_eq!(srs.login_with("agent1", "pw1", body, &[]).status, 200);
    primary.wait_sessions("live on the primary", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    assert!(
        peer.sessions().is_empty(),
        "the peer holds only a standby session"
    );
    let standby = http(
        "GET",
        &format!("{}/api/v2/srs/sessions?include=standby", peer.url),
        &[admin()],
        None,
    );
    assert_eq!(standby.json()["sessions"][0]["state"], "standby");
    primary.proc.kill9();
    let s = peer.wait_sessions("the session on the peer", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    assert_eq!(s[0]["user"], "agent1");
    assert_eq!(
        srs.ping(&[basic("agent1", "pw1")]).status,
        200,
        "the desktop noticed nothing"
    );
}

#[test]
fn a_second_session_for_the_same_user_replaces_the_first_which_is_told_bye() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let first = Srs::start(dir.path(), "srs1", &["--server", &rws.url]);
    let second = Srs::start(dir.path(), "srs2", &["--server", &rws.url]);
    first.login("agent1", "pw1");
    rws.wait_sessions("first connected", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    second.login("agent1", "pw1");
    let s = rws.wait_sessions("only the second", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    assert_eq!(s.len(), 1);
    wait_for("the first SRS got bye", Duration::from_secs(5), || {
        (first.ping(&[basic("agent1", "pw1")]).status == 401).then_some(())
    });
    assert_eq!(second.ping(&[basic("agent1", "pw1")]).status, 200);
    assert!(
        first.proc.output().contains("RWS said bye"),
        "{}",
        first.proc.output()
    );
}

#[test]
fn session_list_needs_admin_or_supervisor() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let url = format!("{}/api/v2/srs/sessions", rws.url);
    assert_eq!(http("GET", &url, &[], None).status, 401);
    assert_eq!(
        http("GET", &url, &[basic("agent1", "pw1")], None).status,
        403
    );
    assert_eq!(
        http("GET", &url, &[basic("sup", "suppw")], None).status,
        200
    );
    assert_eq!(
        http("GET", &url, &[basic("admin", "wrong")], None).status,
        401
    );
    let r = http(
        "GET",
        &format!("{url}?include=everything"),
        &[admin()],
        None,
    );
    assert_eq!(r.status, 400);
    // The control endpoint wants a known bearer token.
    let r = http(
        "GET",
        &format!("{}/api/v2/srs/control", rws.url),
        &[("Authorization".into(), "Bearer nope".into())],
        None,
    );
    assert_eq!(r.status, 401);
}
