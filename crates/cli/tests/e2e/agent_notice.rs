//! Issue 13, SRS side of parts 2 and 6: the agent is told
//! (`GET /api/v2/me/recording` follows RWS's commands and the desktop's PCI
//! pause within one poll; refused to anyone but the logged-in desktop) and
//! the upload bandwidth cap (`--upload-rate`: the upload rate RWS measures
//! holds the cap, the spool absorbs the rest, the recording completes).
//!
//! Real `screenrec rws` and `screenrec srs` processes; the cap test records
//! a real Xvfb display kept busy with noise.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixture::{Response, Rws, Srs, assert_envelope, basic, http, metric};
use crate::util::{Xvfb, bin, decodes_cleanly, duration, tempdir, wait_for};

/// The desktop's recording poll (srs-client's `recordingPollMs` default):
/// a change must be visible at `GET /api/v2/me/recording` within it. The
/// property is the poll itself; half of it (1 s, the former bound) left a
/// command's way RWS → SRS too little time on a loaded 2-core CI machine.
const ONE_POLL: Duration = Duration::from_millis(2000);

/// One voice event on DN 1001.
fn voice(rws: &Rws, id: &str, kind: &str, call: &str) {
    rws.call_event(id, kind, call, "1001");
}

fn recording_of(rws: &Rws, call: &str) -> Option<Value> {
    rws.recording_as(("admin", "adminpw"), call)
        .map(|r| r["screenRecordings"][0].clone())
}

fn wait_rws_state(rws: &Rws, call: &str, states: &[&str], limit: Duration) -> Value {
    wait_for(&format!("recording of {call} in {states:?}"), limit, || {
        recording_of(rws, call).filter(|r| states.contains(&r["state"].as_str().unwrap_or("")))
    })
}

fn notice(srs: &Srs, headers: &[(String, String)]) -> Response {
    http(
        "GET",
        &format!("{}/api/v2/me/recording", srs.url),
        headers,
        None,
    )
}

/// Polls the notice until it says `state` (at most `limit`); returns it.
fn notice_becomes(srs: &Srs, auth: &(String, String), state: &str, limit: Duration) -> Value {
    wait_for(&format!("notice {state}"), limit, || {
        let r = notice(srs, std::slice::from_ref(auth));
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        (v["state"] == state).then_some(v)
    })
}

fn parse_time(s: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("'since' = {s:?} is not RFC 3339: {e}"))
}

/// A refusal in the envelope ([`assert_envelope`]) that does not leak the
/// recording state.
fn assert_refused(r: &Response, status: u16, what: &str) {
    assert_envelope(r, status, what);
    let v = r.json();
    assert!(v.get("state").is_none(), "{what}: the state leaked: {v}");
}

/// A login with CSRF: (cookie header, CSRF token).
fn login_csrf(srs: &Srs, user: &str, pass: &str) -> ((String, String), String) {
    let r = http(
        "GET",
        &format!("{}/api/v2/me", srs.url),
        &[basic(user, pass), ("X-Support-CSRFP".into(), "true".into())],
        None,
    );
    assert_eq!(r.status, 200, "login {user}: {}", r.text);
    let csrf = r.header("x-csrf-token").expect("a CSRF token").to_string();
    (r.cookie(), csrf)
}

fn desktop_pause(srs: &Srs, cookie: &(String, String), csrf: &str, op: &str) {
    let r = http(
        "POST",
        &format!("{}/api/v2/me/recording", srs.url),
        &[
            cookie.clone(),
            ("X-CSRF-Token".into(), csrf.into()),
            ("Content-Type".into(), "application/json".into()),
        ],
        Some(json!({ "operationName": op }).to_string().into_bytes()),
    );
    assert_eq!(r.status, 200, "{op}: {}", r.text);
}

/// idle → recording (RWS start) → paused (RWS pause, with its reason) →
/// recording → paused (desktop PCI pause; an RWS resume does not lift it) →
/// recording → idle (call released), each visible within one poll, with
/// `since` moving at each change and only then.
#[test]
fn agent_notice_follows_rws_and_the_desktop_within_one_poll() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let srs = Srs::start_synthetic(dir.path(), "srs", &rws.url);
    let (cookie, csrf) = login_csrf(&srs, "agent1", "pw1");

    // Idle at login, with a `since` and nothing else.
    let idle = notice(&srs, std::slice::from_ref(&cookie));
    assert_eq!(idle.status, 200, "{}", idle.text);
    let idle = idle.json();
    assert_eq!(idle["statusCode"], 0);
    assert_eq!(idle["state"], "idle");
    let idle_since = parse_time(idle["since"].as_str().unwrap());
    assert!(idle.get("recordingId").is_none(), "{idle}");
    // Basic credentials of the login work as well as the cookie.
    assert_eq!(
        notice(&srs, &[basic("agent1", "pw1")]).json()["state"],
        "idle"
    );

    // RWS starts: SRS acknowledged before RWS says `recording`, so the very
    // next poll already tells the agent.
    let posted = time::OffsetDateTime::now_utc();
    voice(&rws, "n1", "recording.started", "call-notice");
    let rec = wait_rws_state(&rws, "call-notice", &["recording"], Duration::from_secs(20));
    let v = notice(&srs, std::slice::from_ref(&cookie)).json();
    assert_eq!(v["state"], "recording", "{v}");
    assert_eq!(v["interactionId"], "call-notice", "{v}");
    let rec_id = v["recordingId"].as_str().expect("recordingId").to_string();
    assert!(uuid::Uuid::try_parse(&rec_id).is_ok(), "{rec_id}");
    assert!(
        rec.to_string().contains(&rec_id),
        "RWS knows {rec_id}: {rec}"
    );
    let rec_since = parse_time(v["since"].as_str().unwrap());
    assert!(
        rec_since > idle_since && rec_since >= posted - Duration::from_millis(5),
        "{rec_since} vs idle {idle_since}, posted {posted}"
    );
    // Nothing changed: `since` stays.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        notice(&srs, std::slice::from_ref(&cookie)).json()["since"],
        v["since"]
    );
    // No secret in the body: only the documented fields.
    let keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    for k in &keys {
        assert!(
            [
                "statusCode",
                "state",
                "since",
                "reason",
                "recordingId",
                "interactionId"
            ]
            .contains(&k.as_str()),
            "unexpected field {k} in {v}"
        );
    }

    // RWS pauses and resumes.
    voice(&rws, "n2", "recording.paused", "call-notice");
    let p = notice_becomes(&srs, &cookie, "paused", ONE_POLL);
    assert!(p["reason"].as_str().is_some_and(|r| !r.is_empty()), "{p}");
    assert_ne!(p["reason"], "desktop");
    assert!(parse_time(p["since"].as_str().unwrap()) > rec_since);
    voice(&rws, "n3", "recording.resumed", "call-notice");
    let r2 = notice_becomes(&srs, &cookie, "recording", ONE_POLL);
    assert!(r2.get("reason").is_none(), "{r2}");

    // The desktop's PCI pause: applied before the POST answers.
    desktop_pause(&srs, &cookie, &csrf, "PauseScreenRecording");
    let d = notice(&srs, std::slice::from_ref(&cookie)).json();
    assert_eq!(
        (d["state"].as_str(), d["reason"].as_str()),
        (Some("paused"), Some("desktop")),
        "{d}"
    );
    // An RWS pause and resume meanwhile do not lift the desktop's pause.
    voice(&rws, "n4", "recording.paused", "call-notice");
    voice(&rws, "n5", "recording.resumed", "call-notice");
    std::thread::sleep(ONE_POLL);
    let still = notice(&srs, std::slice::from_ref(&cookie)).json();
    assert_eq!(still["state"], "paused", "{still}");
    desktop_pause(&srs, &cookie, &csrf, "ResumeScreenRecording");
    assert_eq!(
        notice(&srs, std::slice::from_ref(&cookie)).json()["state"],
        "recording"
    );

    // Released: idle within one poll of RWS finishing it.
    voice(&rws, "n6", "call.released", "call-notice");
    let done = wait_rws_state(
        &rws,
        "call-notice",
        &["completed", "partial", "failed"],
        Duration::from_secs(20),
    );
    assert_eq!(done["state"], "completed", "{done}");
    let end = notice_becomes(&srs, &cookie, "idle", ONE_POLL);
    assert!(end.get("recordingId").is_none(), "{end}");

    // Logged out: the notice is no longer served.
    let r = http(
        "POST",
        &format!("{}/api/v2/me", srs.url),
        &[
            cookie.clone(),
            ("X-CSRF-Token".into(), csrf.clone()),
            ("Content-Type".into(), "application/json".into()),
        ],
        Some(br#"{"operationName": "EndContactCenterSession"}"#.to_vec()),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_refused(&notice(&srs, &[cookie]), 401, "after logout");
}

/// Hostile callers: nobody logged in, no or wrong credentials, a forged
/// cookie, the previous user's cookie after another agent logged in, a
/// page on an origin not on the allow-list, a rebinding `Host`, a wrong
/// method, and a flood (all answered, SRS keeps serving the desktop).
#[test]
fn agent_notice_is_refused_to_strangers_old_sessions_and_foreign_pages() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let srs = Srs::start_synthetic(dir.path(), "srs", &rws.url);
    assert_refused(&notice(&srs, &[]), 401, "anonymous, nobody logged in");
    assert_refused(
        &notice(&srs, &[basic("agent1", "pw1")]),
        401,
        "credentials but no login",
    );

    let (cookie1, _) = login_csrf(&srs, "agent1", "pw1");
    assert_eq!(notice(&srs, std::slice::from_ref(&cookie1)).status, 200);
    assert_refused(&notice(&srs, &[]), 401, "anonymous");
    assert_refused(
        &notice(&srs, &[basic("agent1", "wrong")]),
        401,
        "wrong password",
    );
    assert_refused(
        &notice(&srs, &[basic("agent2", "pw2")]),
        401,
        "another agent's credentials (not logged in here)",
    );
    assert_refused(
        &notice(
            &srs,
            &[("Cookie".into(), format!("SRSSESSION={}", "0".repeat(64)))],
        ),
        401,
        "forged cookie",
    );
    assert_refused(
        &notice(&srs, &[("Authorization".into(), "Basic !!!".into())]),
        400,
        "malformed Basic credentials",
    );

    // A page on an origin not on the allow-list: refused before the handler
    // (no state in the body, no CORS grant); an allowed origin gets one.
    let evil = notice(
        &srs,
        &[
            cookie1.clone(),
            ("Origin".into(), "https://evil.example".into()),
        ],
    );
    assert_refused(&evil, 403, "foreign origin");
    assert!(evil.header("access-control-allow-origin").is_none());
    let good = notice(
        &srs,
        &[
            cookie1.clone(),
            ("Origin".into(), "http://desk.test:8000".into()),
        ],
    );
    assert_eq!(good.status, 200, "{}", good.text);
    assert_eq!(
        good.header("access-control-allow-origin"),
        Some("http://desk.test:8000")
    );
    // DNS rebinding: a foreign Host is refused whatever the credentials.
    let rebind = notice(
        &srs,
        &[cookie1.clone(), ("Host".into(), "evil.example:80".into())],
    );
    assert_eq!(rebind.status, 403, "{}", rebind.text);
    assert!(!rebind.text.contains("\"state\""), "{}", rebind.text);
    // Wrong method: the GWS envelope.
    let put = http(
        "PUT",
        &format!("{}/api/v2/me/recording", srs.url),
        std::slice::from_ref(&cookie1),
        Some(b"{}".to_vec()),
    );
    assert_refused(&put, 405, "PUT");

    // Another agent logs in on this PC: the first agent's cookie is dead.
    let (cookie2, _) = login_csrf(&srs, "agent2", "pw2");
    assert_refused(
        &notice(&srs, std::slice::from_ref(&cookie1)),
        401,
        "the previous agent's cookie",
    );
    assert_eq!(notice(&srs, std::slice::from_ref(&cookie2)).status, 200);

    // A flood from 8 threads: every answer is a well-formed 200 or a 4xx
    // envelope (never a 5xx), and SRS still serves the desktop after it.
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let url = srs.url.clone();
            let c = cookie2.clone();
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                for n in 0..60 {
                    let headers = if (i + n) % 3 == 0 {
                        vec![basic("agent2", "nope")]
                    } else {
                        vec![c.clone()]
                    };
                    let r = http("GET", &format!("{url}/api/v2/me/recording"), &headers, None);
                    statuses.push(r.status);
                }
                statuses
            })
        })
        .collect();
    let statuses: Vec<u16> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(statuses.len(), 480);
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "flood statuses: {statuses:?}"
    );
    assert!(statuses.iter().filter(|s| **s == 200).count() >= 300);
    eprintln!("flood: 480 requests in {:?}", started.elapsed());
    assert_eq!(srs.ping(std::slice::from_ref(&cookie2)).status, 200);
    assert_eq!(notice(&srs, &[cookie2]).json()["state"], "idle");
}

/// Paints noise into a square of the root window every 100 ms so the
/// recorder has far more than 200 kbit/s to send.
struct Noise {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Noise {
    fn start(display: &str, side: u16) -> Noise {
        use x11rb::connection::Connection;
        use x11rb::protocol::xproto::{ConnectionExt, CreateGCAux, ImageFormat};
        let (conn, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
        let root = conn.setup().roots[screen].root;
        let depth = conn.setup().roots[screen].root_depth;
        let gc = conn.generate_id().unwrap();
        conn.create_gc(gc, root, &CreateGCAux::new()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // xorshift: no seed needed, only entropy for the encoder.
            let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut data = vec![0u8; usize::from(side) * usize::from(side) * 4];
            while !flag.load(Ordering::Relaxed) {
                for px in data.chunks_mut(8) {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    px.copy_from_slice(&s.to_le_bytes());
                }
                conn.put_image(
                    ImageFormat::Z_PIXMAP,
                    root,
                    gc,
                    side,
                    side,
                    0,
                    0,
                    0,
                    depth,
                    &data,
                )
                .unwrap();
                conn.flush().unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Noise {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Noise {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Bytes per second between the first and last change of a sampled
/// counter: (t, value) pairs, only the points where it moved.
fn rate_between_changes(points: &[(f64, f64)]) -> (f64, f64) {
    let (t0, v0) = points[0];
    let (t1, v1) = points[points.len() - 1];
    ((v1 - v0) / (t1 - t0), t1 - t0)
}

/// `--upload-rate 200` on a busy screen: over ≥ 10 s, the bytes RWS
/// received (its `upload_bytes` counter) and the bytes SRS sent grow at
/// 200 kbit/s ± 10 % while the screen produces more; the backlog shows in
/// SRS's `/metrics` and in its heartbeat on RWS; after the call the spool
/// drains and the recording completes and plays.
#[test]
fn upload_rate_caps_the_measured_upload_and_the_recording_completes() {
    const CAP_BYTES: f64 = 200.0 * 1000.0 / 8.0;
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 320, 240);
    let noise = Noise::start(&x.display, 96);
    let rws = Rws::start(dir.path(), "rws");
    let srs = Srs::start(
        dir.path(),
        "srs",
        &[
            "--server",
            &rws.url,
            "--display",
            &x.display,
            "--upload-rate",
            "200",
        ],
    );
    let r = srs.login("agent1", "pw1");
    assert_eq!(r.status, 200, "{}", r.text);
    let srs_m = srs.metrics();
    assert_eq!(
        metric(&srs_m, "screenrec_srs_upload_rate_limit_bytes_per_second"),
        0.0,
        "the cap shows once an upload runs"
    );

    let call_started = Instant::now();
    voice(&rws, "u1", "recording.started", "call-cap");
    wait_rws_state(&rws, "call-cap", &["recording"], Duration::from_secs(20));

    // Sample both counters every 100 ms for 20 s; keep the change points
    // after the first 2 s (the first keyframe and PATCH are behind us).
    let t0 = Instant::now();
    let mut rws_points: Vec<(f64, f64)> = Vec::new();
    let mut srs_points: Vec<(f64, f64)> = Vec::new();
    let mut spool = Vec::new();
    let mut max_backlog = 0.0f64;
    while t0.elapsed() < Duration::from_secs(20) {
        let t = t0.elapsed().as_secs_f64();
        let rws_bytes = metric(&rws.metrics(), "screenrec_rws_upload_bytes_total");
        let s = srs.metrics();
        let sent = metric(&s, "screenrec_srs_upload_sent_bytes_total");
        max_backlog = max_backlog.max(metric(&s, "screenrec_srs_upload_backlog_bytes"));
        spool.push((t, metric(&s, "screenrec_srs_spool_bytes")));
        if t >= 2.0 {
            if rws_points.last().is_none_or(|p| p.1 != rws_bytes) {
                rws_points.push((t, rws_bytes));
            }
            if srs_points.last().is_none_or(|p| p.1 != sent) {
                srs_points.push((t, sent));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = srs.metrics();
    assert_eq!(
        metric(&s, "screenrec_srs_upload_rate_limit_bytes_per_second"),
        CAP_BYTES
    );
    let (rws_rate, rws_span) = rate_between_changes(&rws_points);
    let (srs_rate, srs_span) = rate_between_changes(&srs_points);
    let (ts0, sp0) = spool[0];
    let (ts1, sp1) = spool[spool.len() - 1];
    let produced = (sp1 - sp0) / (ts1 - ts0);
    eprintln!(
        "cap {CAP_BYTES} B/s: RWS received {rws_rate:.0} B/s over {rws_span:.1} s ({} PATCHes), \
         SRS sent {srs_rate:.0} B/s over {srs_span:.1} s, the screen produced {produced:.0} B/s, \
         largest backlog {max_backlog:.0} B",
        rws_points.len() - 1
    );
    assert!(rws_span >= 10.0, "RWS measured over {rws_span} s only");
    assert!(srs_span >= 10.0, "SRS measured over {srs_span} s only");
    assert!(
        produced > CAP_BYTES * 1.3,
        "the screen must produce well over the cap: {produced} B/s"
    );
    for (who, rate) in [("RWS received", rws_rate), ("SRS sent", srs_rate)] {
        assert!(
            (rate - CAP_BYTES).abs() <= CAP_BYTES * 0.10,
            "{who} {rate:.0} B/s, cap {CAP_BYTES} B/s"
        );
    }
    assert!(max_backlog > 50_000.0, "backlog {max_backlog}");
    // The heartbeat carries the backlog to RWS (the live view).
    let live = rws.wait_sessions("the backlog in the session list", |s| {
        s.first()
            .and_then(|x| x["upload_backlog_bytes"].as_u64())
            .is_some_and(|b| b > 0)
    });
    assert_eq!(live[0]["user"], "agent1");

    // The call ends; the spool drains at the cap; the recording completes.
    drop(noise);
    voice(&rws, "u2", "call.released", "call-cap");
    let call_len = call_started.elapsed().as_secs_f64();
    let done = wait_rws_state(
        &rws,
        "call-cap",
        &["completed", "partial", "failed"],
        Duration::from_secs(180),
    );
    assert_eq!(done["state"], "completed", "{done}");
    let after = srs.metrics();
    assert_eq!(metric(&after, "screenrec_srs_upload_backlog_bytes"), 0.0);
    let r = http(
        "GET",
        &format!("{}/api/v2/recordings/call-cap", rws.url),
        &[basic("sup", "suppw")],
        None,
    );
    let media = r.json()["mediaFiles"][0].clone();
    let file = dir.path().join("cap.mp4");
    let got = http(
        "GET",
        &format!("{}{}", rws.url, media["mediaUri"].as_str().unwrap()),
        &[basic("sup", "suppw")],
        None,
    );
    assert_eq!(got.status, 200, "{}", got.text);
    std::fs::write(&file, &got.bytes).unwrap();
    assert!(decodes_cleanly(&file), "the capped upload decodes");
    let d = duration(&file);
    assert!(
        (d - call_len).abs() < 3.0,
        "media {d:.1} s for a call of {call_len:.1} s"
    );
}

fn srs_cli(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(bin());
    cmd.args(["srs", "--listen", "127.0.0.1:0", "--spool"])
        .arg(dir.join("spool"))
        .args(args)
        .env_remove("SCREENREC_SRS_UPLOAD_RATE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run screenrec srs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `--upload-rate abc`, `-5`, `1.5`, too large, and a bad
/// `SCREENREC_SRS_UPLOAD_RATE` are CLI errors naming the flag; SRS does not
/// start.
#[test]
fn upload_rate_bad_values_are_cli_errors_naming_the_flag() {
    let dir = tempdir();
    for bad in ["abc", "-5", "1.5", "99999999999", ""] {
        let (ok, out) = srs_cli(dir.path(), &["--upload-rate", bad], &[]);
        assert!(!ok, "--upload-rate {bad:?} was accepted: {out}");
        assert!(out.contains("--upload-rate"), "{bad:?}: {out}");
        assert!(!out.contains("SRS listening"), "{bad:?}: {out}");
    }
    let (ok, out) = srs_cli(dir.path(), &[], &[("SCREENREC_SRS_UPLOAD_RATE", "fast")]);
    assert!(!ok, "env accepted: {out}");
    assert!(out.contains("--upload-rate"), "{out}");
}
