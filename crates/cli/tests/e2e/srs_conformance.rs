//! The SRS loopback API contract (`srs-local-api.md`), one test per rule,
//! over real `screenrec rws` and `screenrec srs` processes.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::json;

use crate::fixture::{Rws, Srs, basic, http};
use crate::util::{tempdir, wait_for};

fn pair(extra: &[&str]) -> (tempfile::TempDir, Rws, Srs) {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let mut args = vec!["--server", &rws.url];
    args.extend_from_slice(extra);
    let srs = Srs::start(dir.path(), "srs", &args);
    (dir, rws, srs)
}

fn origin(o: &str) -> (String, String) {
    ("Origin".into(), o.into())
}

#[test]
fn login_get_with_basic_credentials_returns_the_user_and_opens_the_rws_session() {
    let (_d, rws, srs) = pair(&[]);
    let r = srs.login("agent1", "pw1");
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["statusCode"], 0);
    assert_eq!(v["user"]["userName"], "agent1");
    assert_eq!(v["user"]["firstName"], "Ada");
    assert_eq!(v["user"]["roles"], json!(["ROLE_AGENT"]));
    let set_cookie = r.header("set-cookie").unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("Path=/"),
        "{set_cookie}"
    );
    let s = rws.wait_sessions("the session connected", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    assert_eq!(s[0]["user"], "agent1");
    assert_eq!(s[0]["place"], "Place_1001", "default place");
    assert_eq!(
        s[0]["devices"],
        json!([{"dn": "1001", "switch": "SIP_Switch"}])
    );
}

#[test]
fn login_without_credentials_is_401_statuscode_20() {
    let (_d, _rws, srs) = pair(&[]);
    let r = http("GET", &format!("{}/api/v2/me", srs.url), &[], None);
    assert_eq!((r.status, r.code()), (401, 20));
}

#[test]
fn login_with_a_wrong_password_is_401_statuscode_20_from_rws() {
    let (_d, rws, srs) = pair(&[]);
    let r = srs.login("agent1", "nope");
    assert_eq!((r.status, r.code()), (401, 20), "{}", r.text);
    assert!(rws.sessions().is_empty());
}

#[test]
fn login_with_configuration_hot_seat_place_and_devices() {
    let (_d, rws, srs) = pair(&[]);
    let body = json!([
        {"name": "server", "value": rws.url},
        {"name": "place", "value": "Place_Hot"},
        {"name": "devices", "value": [{"dn": "2001", "switch": "SIP_Switch"}, {"dn": "2002", "switch": "SIP_Switch"}]}
    ]);
    let r = srs.login_with("agent1", "pw1", body, &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    let s = rws.wait_sessions("hot-seat session", |s| s.len() == 1);
    assert_eq!(s[0]["place"], "Place_Hot");
    assert_eq!(s[0]["devices"].as_array().unwrap().len(), 2);
}

#[test]
fn login_place_with_one_dn_needs_no_devices() {
    let (_d, rws, srs) = pair(&[]);
    let r = srs.login_with(
        "agent1",
        "pw1",
        json!([{"name": "place", "value": "Place_1002"}]),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let s = rws.wait_sessions("session", |s| s.len() == 1);
    assert_eq!(
        s[0]["devices"],
        json!([{"dn": "1002", "switch": "SIP_Switch"}])
    );
}

#[test]
fn login_place_with_several_dns_requires_devices_400_statuscode_10() {
    let (_d, _rws, srs) = pair(&[]);
    let r = srs.login_with(
        "agent1",
        "pw1",
        json!([{"name": "place", "value": "Place_Hot"}]),
        &[],
    );
    assert_eq!((r.status, r.code()), (400, 10), "{}", r.text);
    assert!(
        r.text.contains("Place_Hot") && r.text.contains("devices"),
        "{}",
        r.text
    );
}

#[test]
fn login_unknown_place_or_device_is_400_statuscode_10_naming_it_and_keeps_the_previous_session() {
    let (_d, rws, srs) = pair(&[]);
    assert_eq!(srs.login("agent1", "pw1").status, 200);
    let before = rws.wait_sessions("first session", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    let r = srs.login_with(
        "agent1",
        "pw1",
        json!([{"name": "place", "value": "Nowhere"}]),
        &[],
    );
    assert_eq!((r.status, r.code()), (400, 10));
    assert!(r.text.contains("Nowhere"), "{}", r.text);
    let r = srs.login_with(
        "agent1",
        "pw1",
        json!([{"name": "place", "value": "Place_Hot"}, {"name": "devices", "value": [{"dn": "1001", "switch": "SIP_Switch"}]}]),
        &[],
    );
    assert_eq!((r.status, r.code()), (400, 10));
    assert!(
        r.text.contains("1001@SIP_Switch") && r.text.contains("Place_Hot"),
        "{}",
        r.text
    );
    let r = srs.login_with(
        "agent1",
        "pw1",
        json!([{"name": "place", "value": "Place_Hot"}, {"name": "devices", "value": [{"dn": "9999", "switch": "SIP_Switch"}]}]),
        &[],
    );
    assert!(r.text.contains("9999@SIP_Switch"), "{}", r.text);
    // Nothing of the previous session was lost.
    assert_eq!(srs.ping(&[basic("agent1", "pw1")]).status, 200);
    let after = rws.sessions();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["session_id"], before[0]["session_id"]);
}

#[test]
fn login_without_a_place_and_no_default_place_is_400_statuscode_10() {
    let (_d, _rws, srs) = pair(&[]);
    let r = srs.login("nodefault", "pw3");
    assert_eq!((r.status, r.code()), (400, 10), "{}", r.text);
    assert!(r.text.contains("place"), "{}", r.text);
}

#[test]
fn login_without_any_server_is_400_statuscode_1() {
    let dir = tempdir();
    let srs = Srs::start(dir.path(), "srs", &[]);
    let r = srs.login("agent1", "pw1");
    assert_eq!((r.status, r.code()), (400, 1), "{}", r.text);
}

#[test]
fn login_with_rws_unreachable_is_503_statuscode_4_naming_the_server() {
    let dir = tempdir();
    let dead = format!("http://127.0.0.1:{}", crate::util::free_port());
    let srs = Srs::start(dir.path(), "srs", &["--server", &dead]);
    let r = srs.login("agent1", "pw1");
    assert_eq!((r.status, r.code()), (503, 4), "{}", r.text);
    assert!(r.text.contains(&dead), "{}", r.text);
}

#[test]
fn login_with_server_unreachable_and_peer_server_given_logs_in_on_the_peer() {
    let dir = tempdir();
    let peer = Rws::start(dir.path(), "peer");
    let dead = format!("http://127.0.0.1:{}", crate::util::free_port());
    // The desktop may name only RWS SRS was configured with (rule 5).
    let srs = Srs::start(
        dir.path(),
        "srs",
        &["--allowed-server", &dead, "--allowed-server", &peer.url],
    );
    let body =
        json!([{"name": "server", "value": dead}, {"name": "peer_server", "value": peer.url}]);
    let r = srs.login_with("agent1", "pw1", body, &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    let s = peer.wait_sessions("the session on the peer", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    assert_eq!(s[0]["user"], "agent1");
}

#[test]
fn login_ignores_unknown_names_in_the_configuration() {
    let (_d, _rws, srs) = pair(&[]);
    let r = srs.login_with(
        "agent1",
        "pw1",
        json!([{"name": "colour", "value": "blue"}, {"name": "x", "value": 1}]),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn relogin_with_another_place_replaces_the_session() {
    let (_d, rws, srs) = pair(&[]);
    assert_eq!(srs.login("agent1", "pw1").status, 200);
    rws.wait_sessions("first", |s| s.len() == 1 && s[0]["state"] == "connected");
    let r = srs.login_with(
        "agent1",
        "pw1",
        json!([{"name": "place", "value": "Place_1002"}]),
        &[],
    );
    assert_eq!(r.status, 200);
    let s = rws.wait_sessions("one session at the new place", |s| {
        s.len() == 1 && s[0]["place"] == "Place_1002" && s[0]["state"] == "connected"
    });
    assert_eq!(s.len(), 1);
    assert_eq!(
        srs.ping(&[basic("agent1", "pw1")]).status,
        200,
        "the new session lives on"
    );
}

#[test]
fn login_of_another_user_ends_the_previous_users_session() {
    let (_d, rws, srs) = pair(&[]);
    assert_eq!(srs.login("agent1", "pw1").status, 200);
    rws.wait_sessions("agent1", |s| s.len() == 1);
    assert_eq!(srs.login("agent2", "pw2").status, 200);
    let s = rws.wait_sessions("only agent2", |s| s.len() == 1 && s[0]["user"] == "agent2");
    assert_eq!(s[0]["place"], "Place_1002");
    assert_eq!(srs.ping(&[basic("agent1", "pw1")]).status, 401);
}

#[test]
fn csrf_token_is_returned_only_when_asked_any_letter_case() {
    let (_d, _rws, srs) = pair(&[]);
    let r = srs.login("agent1", "pw1");
    assert!(r.header("x-csrf-token").is_none());
    let r = srs.login_with(
        "agent1",
        "pw1",
        json!([]),
        &[("x-support-csrfp".into(), "TRUE".into())],
    );
    let token = r.header("x-csrf-token").expect("token").to_string();
    assert_eq!(r.header("x-csrf-header"), Some("X-CSRF-Token"));
    assert!(token.len() >= 32, "≥ 128 bits: {token}");
    let again = srs.login_with(
        "agent1",
        "pw1",
        json!([]),
        &[("X-Support-CSRFP".into(), "true".into())],
    );
    assert_ne!(
        again.header("x-csrf-token").unwrap(),
        token,
        "new for each session"
    );
}

#[test]
fn logout_without_or_with_a_wrong_csrf_token_is_403_and_the_session_stays() {
    let (_d, rws, srs) = pair(&[]);
    let r = srs.login_with(
        "agent1",
        "pw1",
        json!([]),
        &[("X-Support-CSRFP".into(), "true".into())],
    );
    let token = r.header("x-csrf-token").unwrap().to_string();
    let logout = |extra: Vec<(String, String)>| {
        let mut h = vec![basic("agent1", "pw1")];
        h.extend(extra);
        http(
            "POST",
            &format!("{}/api/v2/me", srs.url),
            &h,
            Some(br#"{"operationName":"EndContactCenterSession"}"#.to_vec()),
        )
    };
    for bad in [
        vec![],
        vec![("X-CSRF-Token".to_string(), "wrong".to_string())],
    ] {
        let r = logout(bad);
        assert_eq!((r.status, r.code()), (403, 3));
        assert_eq!(r.json()["statusMessage"], "Missing or invalid Csrf token");
    }
    assert_eq!(
        srs.ping(&[basic("agent1", "pw1")]).status,
        200,
        "session unchanged"
    );
    rws.wait_sessions("still there", |s| s.len() == 1);
    let r = logout(vec![("X-CSRF-Token".into(), token)]);
    assert_eq!((r.status, r.code()), (200, 0));
    assert_eq!(srs.ping(&[basic("agent1", "pw1")]).status, 401);
    rws.wait_sessions("session ended on RWS", |s| s.is_empty());
}

#[test]
fn logout_with_the_session_cookie_alone() {
    let (_d, rws, srs) = pair(&[]);
    let r = srs.login("agent1", "pw1");
    let cookie = r.cookie();
    let r = http(
        "POST",
        &format!("{}/api/v2/me/", srs.url),
        std::slice::from_ref(&cookie),
        Some(br#"{"operationName":"EndContactCenterSession"}"#.to_vec()),
    );
    assert_eq!((r.status, r.code()), (200, 0), "{}", r.text);
    assert_eq!(srs.ping(&[cookie]).status, 401);
    rws.wait_sessions("ended", |s| s.is_empty());
}

#[test]
fn logout_with_an_unknown_operation_name_is_400_statuscode_1() {
    let (_d, _rws, srs) = pair(&[]);
    srs.login("agent1", "pw1");
    let r = http(
        "POST",
        &format!("{}/api/v2/me", srs.url),
        &[basic("agent1", "pw1")],
        Some(br#"{"operationName":"Dance"}"#.to_vec()),
    );
    assert_eq!((r.status, r.code()), (400, 1));
    assert!(r.text.contains("Dance"));
}

#[test]
fn ping_with_basic_or_cookie_is_200_and_without_credentials_401() {
    let (_d, _rws, srs) = pair(&[]);
    let r = srs.login("agent1", "pw1");
    assert_eq!(
        srs.ping(&[basic("agent1", "pw1")]).json(),
        json!({"statusCode": 0})
    );
    assert_eq!(srs.ping(&[r.cookie()]).status, 200);
    let r = srs.ping(&[]);
    assert_eq!((r.status, r.code()), (401, 20));
    assert_eq!(srs.ping(&[basic("agent1", "other")]).status, 401);
    assert_eq!(
        srs.ping(&[("Cookie".into(), "SRSSESSION=forged".into())])
            .status,
        401
    );
}

#[test]
fn ping_timeout_ends_the_rws_session_and_ping_is_401_until_a_new_login() {
    let (_d, rws, srs) = pair(&["--ping-timeout", "2"]);
    srs.login("agent1", "pw1");
    rws.wait_sessions("connected", |s| s.len() == 1);
    rws.wait_sessions("session ended after the ping timeout", |s| s.is_empty());
    let r = srs.ping(&[basic("agent1", "pw1")]);
    assert_eq!((r.status, r.code()), (401, 20));
    assert_eq!(srs.login("agent1", "pw1").status, 200);
    assert_eq!(srs.ping(&[basic("agent1", "pw1")]).status, 200);
    rws.wait_sessions("reconnected", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
}

#[test]
fn cors_headers_for_an_allowed_origin_on_success_and_on_errors() {
    let (_d, _rws, srs) = pair(&[]);
    let o = "http://desk.test:8000"; // from RWS's allowed_origins, known before any login
    let check = |r: &crate::fixture::Response| {
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some(o),
            "{:?}",
            r.headers
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert!(
            r.header("access-control-expose-headers")
                .unwrap()
                .contains("X-CSRF-Token")
        );
        assert!(r.header("vary").unwrap().contains("Origin"));
    };
    wait_for("origins from RWS", Duration::from_secs(10), || {
        (http(
            "OPTIONS",
            &format!("{}/api/v2/me", srs.url),
            &[origin(o)],
            None,
        )
        .status
            == 204)
            .then_some(())
    });
    let r = http("GET", &format!("{}/api/v2/me", srs.url), &[origin(o)], None);
    assert_eq!(r.status, 401);
    check(&r);
    let mut h = vec![basic("agent1", "pw1"), origin(o)];
    let r = http("GET", &format!("{}/api/v2/me", srs.url), &h, None);
    assert_eq!(r.status, 200);
    check(&r);
    h.push(("X-CSRF-Token".into(), "x".into()));
    let r = http("GET", &format!("{}/nope", srs.url), &h, None);
    assert_eq!(r.status, 404);
    check(&r);
}

#[test]
fn cors_preflight_lists_methods_and_headers() {
    let (_d, _rws, srs) = pair(&["--allowed-origin", "https://desk.local"]);
    let r = http(
        "OPTIONS",
        &format!("{}/ping", srs.url),
        &[
            origin("https://desk.local"),
            ("Access-Control-Request-Method".into(), "GET".into()),
        ],
        None,
    );
    assert!(r.status == 204 || r.status == 200);
    let allow = r.header("access-control-allow-headers").unwrap();
    for h in [
        "Authorization",
        "Content-Type",
        "X-Support-CSRFP",
        "X-CSRF-Token",
        "X-Requested-With",
    ] {
        assert!(allow.contains(h), "{h} in {allow}");
    }
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(r.header("access-control-max-age").is_some());
}

#[test]
fn cors_preflight_from_an_unlisted_origin_is_403_without_cors_headers() {
    let (_d, _rws, srs) = pair(&[]);
    let r = http(
        "OPTIONS",
        &format!("{}/api/v2/me", srs.url),
        &[origin("https://evil.test")],
        None,
    );
    assert_eq!(r.status, 403);
    assert!(
        r.headers.keys().all(|k| !k.starts_with("access-control-")),
        "{:?}",
        r.headers
    );
    let r = http(
        "GET",
        &format!("{}/api/v2/me", srs.url),
        &[origin("https://evil.test"), basic("agent1", "pw1")],
        None,
    );
    assert_eq!(r.status, 403, "no login from an unlisted origin");
    assert!(r.header("access-control-allow-origin").is_none());
}

#[test]
fn cors_wildcard_origins_match_subdomains_only() {
    let (_d, _rws, srs) = pair(&["--allowed-origin", "https://*.corp.test"]);
    let pre = |o: &str| http("OPTIONS", &format!("{}/ping", srs.url), &[origin(o)], None).status;
    assert_eq!(pre("https://desk.corp.test"), 204);
    assert_eq!(pre("https://corp.test"), 403);
    assert_eq!(pre("http://desk.corp.test"), 403);
    assert_eq!(pre("https://desk.corp.test.evil"), 403);
}

#[test]
fn cors_bare_star_is_refused_at_startup() {
    let dir = tempdir();
    let out = std::process::Command::new(crate::util::bin())
        .args(["srs", "--listen", "127.0.0.1:0", "--spool"])
        .arg(dir.path())
        .args(["--allowed-origin", "*"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--allowed-origin *") && err.contains("bare"),
        "{err}"
    );
}

#[test]
fn private_network_preflight_is_answered() {
    let (_d, _rws, srs) = pair(&["--allowed-origin", "https://desk.local"]);
    let r = http(
        "OPTIONS",
        &format!("{}/api/v2/me", srs.url),
        &[
            origin("https://desk.local"),
            (
                "Access-Control-Request-Private-Network".into(),
                "true".into(),
            ),
        ],
        None,
    );
    assert_eq!(
        r.header("access-control-allow-private-network"),
        Some("true")
    );
    let r = http(
        "OPTIONS",
        &format!("{}/api/v2/me", srs.url),
        &[origin("https://desk.local")],
        None,
    );
    assert!(r.header("access-control-allow-private-network").is_none());
}

#[test]
fn paths_match_with_and_without_a_trailing_slash() {
    let (_d, _rws, srs) = pair(&[]);
    assert_eq!(
        http(
            "GET",
            &format!("{}/api/v2/me/", srs.url),
            &[basic("agent1", "pw1")],
            None
        )
        .status,
        200
    );
    assert_eq!(srs.ping(&[basic("agent1", "pw1")]).status, 200);
    assert_eq!(
        http(
            "GET",
            &format!("{}/ping/", srs.url),
            &[basic("agent1", "pw1")],
            None
        )
        .status,
        200
    );
}

#[test]
fn malformed_bodies_and_headers_are_400_with_the_envelope() {
    let (_d, _rws, srs) = pair(&[]);
    let post = |h: Vec<(String, String)>, b: &[u8]| {
        http(
            "POST",
            &format!("{}/api/v2/me", srs.url),
            &h,
            Some(b.to_vec()),
        )
    };
    let r = post(vec![basic("agent1", "pw1")], b"{not json");
    assert_eq!((r.status, r.code()), (400, 10));
    assert!(r.json()["statusMessage"].as_str().unwrap().contains("JSON"));
    let r = post(vec![basic("agent1", "pw1")], b"42");
    assert_eq!((r.status, r.code()), (400, 10));
    let r = post(vec![basic("agent1", "pw1")], br#"[{"value": 1}]"#);
    assert_eq!((r.status, r.code()), (400, 10));
    let r = post(
        vec![basic("agent1", "pw1")],
        br#"[{"name": "server", "value": "not a url"}]"#,
    );
    assert_eq!((r.status, r.code()), (400, 10));
    assert!(r.text.contains("server"));
    let r = post(
        vec![basic("agent1", "pw1")],
        br#"[{"name": "devices", "value": "1001"}]"#,
    );
    assert_eq!((r.status, r.code()), (400, 10));
    let r = http(
        "GET",
        &format!("{}/api/v2/me", srs.url),
        &[("Authorization".into(), "Basic !!!".into())],
        None,
    );
    assert_eq!((r.status, r.code()), (400, 10));
    assert!(r.text.contains("Authorization"));
}

#[test]
fn unknown_method_is_405_and_unknown_path_404_with_the_envelope() {
    let (_d, _rws, srs) = pair(&[]);
    let r = http("DELETE", &format!("{}/api/v2/me", srs.url), &[], None);
    assert_eq!(r.status, 405);
    assert!(r.json()["statusMessage"].is_string());
    let r = http("PUT", &format!("{}/ping", srs.url), &[], None);
    assert_eq!(r.status, 405);
    let r = http("GET", &format!("{}/api/v2/other", srs.url), &[], None);
    assert_eq!((r.status, r.code()), (404, 6));
}

#[test]
fn bodies_over_64_kib_are_413() {
    let (_d, _rws, srs) = pair(&[]);
    let big = vec![b' '; 65 * 1024];
    let r = http(
        "POST",
        &format!("{}/api/v2/me", srs.url),
        &[basic("agent1", "pw1")],
        Some(big),
    );
    assert_eq!(r.status, 413);
    assert!(r.json()["statusMessage"].as_str().unwrap().contains("KiB"));
}

#[test]
fn srs_refuses_to_bind_a_non_loopback_address() {
    let dir = tempdir();
    let out = std::process::Command::new(crate::util::bin())
        .args(["srs", "--listen", "0.0.0.0:18086", "--spool"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--listen 0.0.0.0:18086") && err.contains("loopback"),
        "{err}"
    );
}

#[test]
fn https_with_a_self_signed_certificate_kept_across_restarts() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let mut srs = Srs::start_scheme(
        dir.path(),
        "srs",
        &["--server", &rws.url, "--tls-self-signed"],
        "https",
    );
    let r = srs.login("agent1", "pw1");
    assert_eq!(r.status, 200, "{}", r.text);
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.contains("Secure") && cookie.contains("SameSite=None"),
        "{cookie}"
    );
    let cert = dir.path().join("srs-spool/tls/srs-cert.pem");
    let pem = std::fs::read(&cert).unwrap();
    srs.proc.kill9();
    let srs = Srs::start_scheme(
        dir.path(),
        "srs",
        &["--server", &rws.url, "--tls-self-signed"],
        "https",
    );
    assert_eq!(
        std::fs::read(&cert).unwrap(),
        pem,
        "the same certificate is reused"
    );
    assert_eq!(srs.login("agent1", "pw1").status, 200);
    // Plain HTTP to the HTTPS port does not get through.
    assert_ne!(
        http("GET", &srs.url.replace("https", "http"), &[], None).status,
        200
    );
}

#[test]
fn slow_or_abandoned_connections_do_not_block_the_listener() {
    let (_d, _rws, srs) = pair(&[]);
    let addr = srs.url.trim_start_matches("http://").to_string();
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
        .unwrap(); // headers never finish
    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    half.write_all(b"POST /api/v2/me HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[")
        .unwrap();
    assert_eq!(
        srs.login("agent1", "pw1").status,
        200,
        "others are served meanwhile"
    );
    // The stalled connection is closed by the header timeout.
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 256];
    let n = stalled.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
}
