//! Adversarial suite, RWS's web side (issue 10; threat model rules 3, 7, 8,
//! 9, 10): what a supervisor reads on every channel, what a web page can
//! make a console session do, what a user name can do to the logs, who can
//! read RWS's files, the security headers, and what every bad request gets
//! back. Real RWS and SRS processes; each test is named after the rule it
//! would break.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fixture::{
    INTEGRATION_TOKEN, Response, Rws, Srs, TWO_GROUPS, basic, get_as, http, write_directory,
};
use crate::util::{Proc, Sse, free_port, now, sse, tempdir, wait_for};

/// RWS with the two-group directory.
fn start_rws(dir: &Path) -> Rws {
    write_directory(dir, TWO_GROUPS);
    Rws::start(dir, "rws")
}

fn state_of(rws: &Rws, call: &str) -> Option<String> {
    rws.recording_as(("admin", "adminpw"), call)?["screenRecordings"][0]["state"]
        .as_str()
        .map(str::to_string)
}

/// One short recorded call on `dn`, waited until completed.
fn recorded_call(rws: &Rws, call: &str, dn: &str) {
    let event = |suffix: &str, kind: &str| {
        rws.call_event(&format!("{call}-{suffix}"), kind, call, dn);
    };
    event("s", "recording.started");
    wait_for(
        &format!("{call} recording"),
        Duration::from_secs(15),
        || (state_of(rws, call).as_deref() == Some("recording")).then_some(()),
    );
    // Media arrives once SRS has encoded a segment: wait for uploaded bytes.
    wait_for(&format!("{call} media"), Duration::from_secs(15), || {
        let r = get_as(
            rws,
            ("admin", "adminpw"),
            &format!("/api/v2/recordings/{call}"),
        );
        let up = r.json()["mediaFiles"][0]["parameters"]["uploadedBytes"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        (up > 0).then_some(())
    });
    event("r", "call.released");
    wait_for(
        &format!("{call} completed"),
        Duration::from_secs(15),
        || (state_of(rws, call).as_deref() == Some("completed")).then_some(()),
    );
}

/// `call_id`s of the SSE `recording` events in `text`.
fn sse_calls(sse: &Sse) -> Vec<(String, String)> {
    sse.data()
        .into_iter()
        .map(|v| {
            (
                v["call_id"].as_str().unwrap_or("").to_string(),
                v["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Rule 7: the server-sent events stream applies the REST visibility: a
/// supervisor of group A sees their agent's recording and never the
/// recording of an agent of group B (its call id, agent or states).
#[test]
fn rule7_sse_shows_a_supervisor_only_their_groups_recordings() {
    let dir = tempdir();
    let rws = start_rws(dir.path());
    let _a = Srs::start_agent(dir.path(), "srs-a", &rws.url, ("agent1", "pw1"));
    let _b = Srs::start_agent(dir.path(), "srs-b", &rws.url, ("agent2", "pw2"));
    let supa = sse(&rws.url, ("supa", "pwa"));
    let admin = sse(&rws.url, ("admin", "adminpw"));

    // Group B's call first: by the time A's is seen completed, B's events
    // were broadcast before it on the same channel.
    recorded_call(&rws, "call-b", "1002");
    recorded_call(&rws, "call-a", "1001");
    wait_for(
        "supa sees call-a completed",
        Duration::from_secs(15),
        || {
            sse_calls(&supa)
                .contains(&("call-a".into(), "completed".into()))
                .then_some(())
        },
    );
    wait_for(
        "admin sees call-a completed",
        Duration::from_secs(15),
        || {
            sse_calls(&admin)
                .contains(&("call-a".into(), "completed".into()))
                .then_some(())
        },
    );
    let seen_by_a = supa.text();
    assert!(
        !seen_by_a.contains("call-b") && !seen_by_a.contains("agent2"),
        "supervisor of team_a was sent team_b's recording:\n{seen_by_a}"
    );
    let admin_calls = sse_calls(&admin);
    assert!(
        admin_calls.contains(&("call-b".into(), "completed".into())),
        "the admin sees every recording: {admin_calls:?}"
    );
}

/// Rule 9 (a web page acting through the console session): a junk
/// `Authorization: Bearer` does not authenticate a console request, the
/// cookie does, so the CSRF token is still required: 403, nothing changed.
#[test]
fn rule9_csrf_is_required_when_a_junk_bearer_rides_with_the_console_cookie() {
    let dir = tempdir();
    let rws = start_rws(dir.path());
    let _a = Srs::start_agent(dir.path(), "srs-a", &rws.url, ("agent1", "pw1"));
    recorded_call(&rws, "call-csrf", "1001");
    let login = rws.console_login("admin", "adminpw");
    assert_eq!(login.status, 200, "{}", login.text);
    let cookie = login.cookie();
    let csrf = login.json()["csrfToken"].as_str().unwrap().to_string();
    let label = format!("{}/api/v2/recordings/call-csrf/labels/forged", rws.url);

    for junk in ["Bearer x", "Negotiate abc", "Bearer"] {
        let r = http(
            "PUT",
            &label,
            &[cookie.clone(), ("Authorization".into(), junk.into())],
            None,
        );
        assert_eq!(r.status, 403, "{junk}: {}", r.text);
        assert_eq!(r.code(), 3, "{junk}: {}", r.text);
    }
    let rec = get_as(&rws, ("admin", "adminpw"), "/api/v2/recordings/call-csrf").json();
    assert_eq!(
        rec["screenRecordings"][0]["labels"],
        json!([]),
        "no label was added"
    );
    // With the token the same console session may change it.
    let r = http(
        "PUT",
        &label,
        &[cookie, ("X-CSRF-Token".into(), csrf)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Rule 9 (logs): a user name with CR/LF and ANSI sequences typed at the
/// console login is logged escaped (one "login failed" line for every way
/// in): no forged log line, no ESC byte.
#[test]
fn rule9_user_names_typed_at_login_cannot_forge_log_lines_or_colours() {
    let dir = tempdir();
    let rws = start_rws(dir.path());
    let forged = "FORGED-LINE rws: console login user=admin";
    let name = format!("eve\n{forged}\r\n\x1b[31mred\x1b[0m");
    let r = rws.console_login(&name, "wrong");
    assert_eq!(r.status, 401, "{}", r.text);
    let log = wait_for("the failed login logged", Duration::from_secs(10), || {
        let out = rws.proc.output();
        out.contains("login failed").then_some(out)
    });
    assert!(!log.contains('\x1b'), "an ESC byte reached the log:\n{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("FORGED-LINE")),
        "a user name started a log line:\n{log}"
    );
    assert!(
        log.contains("eve\\nFORGED-LINE"),
        "the name is logged, escaped:\n{log}"
    );
}

/// Mode bits of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Rule 8: with a umask of 022 the data dir and media dir are 0700 and the
/// database (with -wal, -shm) and master key 0600; a data dir left 0755
/// with a 0644 database by an older version is tightened at start.
#[test]
fn rule8_rws_files_are_private_whatever_the_umask() {
    // SAFETY: umask only changes this process's default file mode; 022 is
    // the usual default, so tests running alongside see nothing unusual.
    #[allow(unsafe_code)]
    unsafe {
        libc::umask(0o022);
    }
    let dir = tempdir();
    // SQLite + filesystem on every backend: the subject is their files.
    write_directory(dir.path(), TWO_GROUPS);
    let pinned = crate::fixture::sqlite_fs(dir.path(), "rws");
    let pinned: Vec<&str> = pinned.iter().map(String::as_str).collect();
    let mut rws = Rws::start_with(dir.path(), "rws", &pinned);
    // A write, so SQLite has its -wal and -shm files.
    let r = rws.post_events(&json!({"id": "e1", "type": "call.established", "call_id": "c1", "dn": "1001", "switch": "SIP_Switch", "timestamp": now()}));
    assert_eq!(r.status, 200, "{}", r.text);
    let data = dir.path().join("rws");
    let check = |data: &Path| {
        assert_eq!(mode(data), 0o700, "data dir");
        assert_eq!(mode(&data.join("media")), 0o700, "media dir");
        for f in [
            "screenrec.db",
            "screenrec.db-wal",
            "screenrec.db-shm",
            "master.key",
        ] {
            let p = data.join(f);
            if f.ends_with("-wal") || f.ends_with("-shm") {
                assert!(p.exists(), "{f} exists while RWS runs");
            }
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    };
    check(&data);

    // Lax modes from elsewhere are fixed at the next start.
    rws.kill();
    use std::os::unix::fs::PermissionsExt;
    let lax = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    lax(&data, 0o755).unwrap();
    lax(&data.join("media"), 0o755).unwrap();
    lax(&data.join("screenrec.db"), 0o644).unwrap();
    lax(&data.join("master.key"), 0o644).unwrap();
    rws.start_again("rws");
    check(&data);
}

/// A self-signed certificate for 127.0.0.1 (cert, key paths).
fn certificate(dir: &Path) -> (String, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = dir.join("rws-cert.pem");
    let key = dir.join("rws-key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    )
}

fn assert_security_headers(r: &Response, what: &str) {
    let csp = r
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy ({:?})", r.headers));
    for directive in [
        "frame-ancestors 'none'",
        "script-src 'self'",
        "object-src 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: CSP {csp} lacks {directive}"
        );
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert!(r.header("referrer-policy").is_some(), "{what}");
}

/// Rule 9: pages, scripts, styles and API answers carry CSP (no framing),
/// X-Frame-Options, nosniff and Referrer-Policy; over HTTPS also HSTS and
/// the console cookie is `Secure`. The web files have no inline script or
/// style the CSP would block.
#[test]
fn rule9_html_and_api_answers_carry_security_headers_and_https_adds_hsts_and_secure() {
    let dir = tempdir();
    let rws = start_rws(dir.path());
    let paths = [
        "/console/",
        "/desktop/",
        "/recordings/",
        "/srs-client.js",
        "/console/console.css",
        "/api/v2/recordings",
        "/healthz",
        "/no-such-page",
    ];
    for path in paths {
        let r = http("GET", &format!("{}{path}", rws.url), &[], None);
        assert_ne!(r.status, 0, "{path}: {}", r.text);
        assert_security_headers(&r, path);
        assert!(
            r.header("strict-transport-security").is_none(),
            "{path}: no HSTS over plain HTTP"
        );
        if path.ends_with('/') {
            let html = r.text.to_lowercase();
            assert!(
                !html.contains("<style")
                    && !html.contains(" style=")
                    && !html.contains(" onclick="),
                "{path}: inline style or handler the CSP blocks"
            );
            for script in html.split("<script").skip(1) {
                assert!(script.contains("src="), "{path}: inline script");
            }
        }
    }
    let cookie = rws.console_login("admin", "adminpw");
    assert_eq!(cookie.status, 200, "{}", cookie.text);
    assert!(!cookie.header("set-cookie").unwrap().contains("Secure"));

    let (cert, key) = certificate(dir.path());
    let tls_dir = dir.path().join("tls");
    std::fs::create_dir_all(&tls_dir).unwrap();
    write_directory(&tls_dir, TWO_GROUPS);
    let rws = Rws::start_with(
        &tls_dir,
        "rws-tls",
        &["--tls-cert", &cert, "--tls-key", &key],
    );
    assert!(rws.url.starts_with("https://"));
    for path in ["/console/", "/api/v2/recordings"] {
        let r = http("GET", &format!("{}{path}", rws.url), &[], None);
        assert_security_headers(&r, path);
        let hsts = r.header("strict-transport-security").unwrap_or("");
        assert!(hsts.contains("max-age="), "{path}: HSTS {hsts:?}");
    }
    let login = rws.console_login("admin", "adminpw");
    assert_eq!(login.status, 200, "{}", login.text);
    let set = login.header("set-cookie").unwrap();
    assert!(set.contains("; Secure"), "console cookie over HTTPS: {set}");
    let logout = http(
        "POST",
        &format!("{}/api/v2/auth/logout", rws.url),
        &[login.cookie()],
        None,
    );
    assert!(
        logout.header("set-cookie").unwrap().contains("; Secure"),
        "{:?}",
        logout.headers
    );
}

/// Rule 8 (what a local user can read): the integration token comes from a
/// file, not the command line that `ps` shows every local user; events
/// with it are taken, without it refused.
#[test]
fn rule8_integration_token_is_read_from_a_file_not_the_command_line() {
    let dir = tempdir();
    write_directory(dir.path(), TWO_GROUPS);
    let token_file = dir.path().join("integration.token");
    let token = "file-token-0123456789abcdef";
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let port = free_port();
    let data = dir.path().join("rws");
    let args = [
        "rws",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
        &data.to_string_lossy(),
        "--directory",
        &dir.path().join("directory.toml").to_string_lossy(),
        "--integration-token-file",
        &token_file.to_string_lossy(),
    ]
    .map(|s| s.to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let proc = Proc::screenrec("rws", dir.path(), &refs, &[]);
    let url = format!("http://127.0.0.1:{port}");
    wait_for("RWS /healthz", Duration::from_secs(20), || {
        (http("GET", &format!("{url}/healthz"), &[], None).status == 200).then_some(())
    });
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", proc.child.id())).unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(token),
        "the token is not on the command line"
    );
    let post = |bearer: &str| {
        http(
            "POST",
            &format!("{url}/api/v2/events"),
            &[
                ("Authorization".into(), format!("Bearer {bearer}")),
                ("Content-Type".into(), "application/json".into()),
            ],
            Some(
                json!({"id": "t1", "type": "call.established", "call_id": "c1", "dn": "1001", "switch": "SIP_Switch", "timestamp": now()})
                    .to_string()
                    .into_bytes(),
            ),
        )
    };
    let ok = post(token);
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(post(INTEGRATION_TOKEN).status, 401);

    // The token given twice (flag and file) is refused at start, naming both.
    let out = std::process::Command::new(crate::util::bin())
        .args(["rws", "--data-dir"])
        .arg(dir.path().join("twice"))
        .args(["--integration-token", INTEGRATION_TOKEN])
        .arg("--integration-token-file")
        .arg(&token_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("--integration-token-file"), "{said}");
}

/// A request of the rejection table.
struct Bad {
    method: &'static str,
    path: &'static str,
    body: Option<Vec<u8>>,
    /// What the administrator gets when not a 4xx other than 401.
    admin: Option<u16>,
}

fn bad(method: &'static str, path: &'static str) -> Bad {
    Bad {
        method,
        path,
        body: None,
        admin: None,
    }
}

fn is_envelope(r: &Response) -> bool {
    r.header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
        && serde_json::from_str::<Value>(&r.text).is_ok_and(|v| {
            v["statusCode"].is_i64()
                && v["statusMessage"]
                    .as_str()
                    .is_some_and(|m| !m.trim().is_empty())
        })
}

/// Rule 10: a table of routes with input axum's extractors reject (query
/// types, path encoding, JSON bodies, WebSocket upgrade, body size):
/// anonymous → 401, wrong password → 401, authenticated → a 4xx naming the
/// problem; every answer is the JSON envelope.
#[test]
fn rule10_every_rejection_is_the_gws_envelope_and_authentication_comes_first() {
    let dir = tempdir();
    let rws = start_rws(dir.path());
    let big = vec![b'{'; 300 * 1024];
    let table = [
        bad("GET", "/api/v2/srs/sessions?include=standby&include=x"),
        bad("GET", "/api/v2/srs/sessions?include=%FF"),
        bad(
            "POST",
            "/api/v2/srs/sessions/some-id/commands?timeout_s=null",
        ),
        bad("POST", "/api/v2/srs/sessions/some-id/commands?timeout_s=-1"),
        bad("GET", "/api/v2/recordings/%FF"),
        bad("GET", "/api/v2/recordings/%FF/play/x"),
        bad("GET", "/api/v2/recordings/x/download/%FF"),
        bad("DELETE", "/api/v2/recordings/%FF"),
        bad("PUT", "/api/v2/recordings/%FF/hold"),
        bad("PUT", "/api/v2/recordings/x/labels/%FF"),
        bad("PUT", "/api/v2/recordings/x/labels/not%20a%20label"),
        bad("GET", "/api/v2/interactions/%FF/events"),
        bad("GET", "/api/v2/recordings?limit=abc"),
        bad("GET", "/api/v2/audit?limit=-5"),
        // The control channel takes only an SRS session token.
        Bad {
            admin: Some(401),
            ..bad("GET", "/api/v2/srs/control")
        },
        bad("DELETE", "/api/v2/srs/sessions/%FF"),
        Bad {
            method: "POST",
            path: "/api/v2/holds",
            body: Some(big.clone()),
            admin: None,
        },
        Bad {
            method: "PUT",
            path: "/api/v2/recordings/x/hold",
            body: Some(big),
            admin: None,
        },
    ];
    let mut failures = Vec::new();
    let send = |b: &Bad, creds: &[(String, String)]| {
        let mut headers = creds.to_vec();
        headers.push(("Content-Type".into(), "application/json".into()));
        http(
            b.method,
            &format!("{}{}", rws.url, b.path),
            &headers,
            b.body.clone(),
        )
    };
    for b in &table {
        for (who, creds, want) in [
            ("anonymous", vec![], Some(401)),
            ("wrong password", vec![basic("admin", "nope")], Some(401)),
            ("admin", vec![basic("admin", "adminpw")], b.admin),
        ] {
            let r = send(b, &creds);
            let status_ok = match want {
                Some(w) => r.status == w,
                None => (400..500).contains(&r.status) && r.status != 401,
            };
            if !status_ok || !is_envelope(&r) {
                failures.push(format!(
                    "{who} {} {}: {} {:?} {}",
                    b.method,
                    b.path,
                    r.status,
                    r.header("content-type"),
                    r.text.chars().take(200).collect::<String>()
                ));
            }
        }
    }
    // The admin's answer names what is wrong.
    let r = send(
        &bad(
            "POST",
            "/api/v2/srs/sessions/some-id/commands?timeout_s=null",
        ),
        &[basic("admin", "adminpw")],
    );
    if !r.text.contains("timeout_s") {
        failures.push(format!(
            "timeout_s=null: message does not name it: {}",
            r.text
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Rule 10 / OpenAPI: tus `HEAD` and `DELETE` without `Tus-Resumable`
/// answer 412 (checked with a real upload token in
/// `hostile_agent::rule1_a_session_uses_only_its_own_uploads`), and the
/// document says so; with a made-up token authentication comes first: 401.
#[test]
fn rule10_tus_head_and_delete_412_are_documented() {
    let dir = tempdir();
    let rws = start_rws(dir.path());
    let doc = http(
        "GET",
        &format!("{}/api/v2/openapi.json", rws.url),
        &[],
        None,
    )
    .json();
    for method in ["HEAD", "DELETE"] {
        let r = http(
            method,
            &format!(
                "{}/api/v2/srs/uploads/00000000-0000-0000-0000-000000000000",
                rws.url
            ),
            &[("Authorization".into(), "Bearer not-a-token".into())],
            None,
        );
        assert_eq!(r.status, 401, "{method}: {}", r.text);
        let documented =
            &doc["paths"]["/api/v2/srs/uploads/{id}"][method.to_lowercase()]["responses"]["412"];
        assert!(
            documented.is_object(),
            "{method} 412 is not in openapi.json"
        );
    }
}

/// Rule 3 (numbers from clients): an invalid `Range` is ignored (RFC 9110
/// §14.2: 200 with the whole media); a valid one past the end is 416; a
/// valid one inside is 206.
#[test]
fn rule3_an_invalid_range_is_ignored_and_an_unsatisfiable_one_refused() {
    let dir = tempdir();
    let rws = start_rws(dir.path());
    let _a = Srs::start_agent(dir.path(), "srs-a", &rws.url, ("agent1", "pw1"));
    recorded_call(&rws, "call-range", "1001");
    let rec = get_as(&rws, ("admin", "adminpw"), "/api/v2/recordings/call-range").json();
    let uri = format!(
        "{}{}",
        rws.url,
        rec["mediaFiles"][0]["mediaUri"].as_str().unwrap()
    );
    let play = |range: Option<&str>| {
        let mut headers = vec![basic("admin", "adminpw")];
        if let Some(r) = range {
            headers.push(("Range".into(), r.into()));
        }
        http("GET", &uri, &headers, None)
    };
    let whole = play(None);
    assert_eq!(whole.status, 200, "{}", whole.text);
    assert!(!whole.bytes.is_empty());
    for invalid in [
        "bytes=5-2",
        "items=0-1",
        "bytes=abc",
        "bytes=-",
        "bytes 0-1",
    ] {
        let r = play(Some(invalid));
        assert_eq!(r.status, 200, "Range: {invalid}: {}", r.text);
        assert_eq!(r.bytes.len(), whole.bytes.len(), "Range: {invalid}");
    }
    let r = play(Some("bytes=0-9"));
    assert_eq!(r.status, 206);
    assert_eq!(r.bytes, whole.bytes[..10]);
    for unsatisfiable in [
        "bytes=999999999-",
        "bytes=-0",
        "bytes=99999999999999999999999-",
    ] {
        let r = play(Some(unsatisfiable));
        assert_eq!(r.status, 416, "Range: {unsatisfiable}: {}", r.text);
        assert!(is_envelope(&r), "{}", r.text);
    }
}
