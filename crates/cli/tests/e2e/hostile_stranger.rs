//! The stranger of the threat model: no credentials, only RWS's port.
//! Password bursts while RWS's memory is measured, guessing another user's
//! password, slow headers and bodies, connection floods (rule 4: work
//! before authentication is bounded).
//!
//! Clients bind distinct loopback source addresses (127.0.0.0/8 all reaches
//! RWS on 127.0.0.1) so RWS sees different client addresses, as it would
//! for a stranger and an agent on two PCs.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::fixture::{Response, Rws, basic, metric, send};
use crate::util::{tempdir, wait_for};

/// One request from source address `from` (a 127.x.y.z address).
fn http_from(
    from: &str,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<Vec<u8>>,
) -> Response {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(send(client_from(from), method, url, headers, body))
}

fn client_from(from: &str) -> reqwest::Client {
    let ip: IpAddr = from.parse().unwrap();
    reqwest::Client::builder()
        .local_address(ip)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// `POST /api/v2/auth/login` (the console's form) from `from`.
fn console_login(rws: &Rws, from: &str, user: &str, pass: &str) -> Response {
    rws.console_login_via(user, pass, |method, url, headers, body| {
        http_from(from, method, url, headers, body)
    })
}

/// `GET /api/v2/srs/sessions` with Basic credentials from `from`.
fn basic_get(rws: &Rws, from: &str, user: &str, pass: &str) -> Response {
    http_from(
        from,
        "GET",
        &format!("{}/api/v2/srs/sessions", rws.url),
        &[basic(user, pass)],
        None,
    )
}

/// A refusal to retry later: 429 or 503 with `Retry-After` and the envelope.
fn assert_retry_later(r: &Response, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    let after: u64 = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", r.headers))
        .parse()
        .unwrap();
    assert!(after >= 1, "Retry-After {after}");
    assert!(!r.json()["statusMessage"].as_str().unwrap().is_empty());
}

/// `VmRSS`/`VmHWM` of a process, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{field} in {status}"))
}

/// 256 wrong Basic passwords at once, from 256 addresses (a botnet, so the
/// per-address throttle does not help): argon2 runs only in the small pool,
/// RWS's memory stays bounded, and an honest API client whose credentials
/// were verified a moment ago is answered at once.
#[test]
fn rule4_a_burst_of_wrong_basic_passwords_is_hashed_in_a_bounded_pool() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let pid = rws.proc.child.id();
    let sessions = format!("{}/api/v2/srs/sessions", rws.url);
    let honest = || {
        let t = Instant::now();
        let r = http_from(
            "127.0.0.3",
            "GET",
            &sessions,
            &[basic("admin", "adminpw")],
            None,
        );
        (r, t.elapsed())
    };
    assert_eq!(honest().0.status, 200);
    let before = memory_kib(pid, "VmRSS:");

    let burst = std::thread::spawn({
        let url = format!("{}/api/v2/recordings", rws.url);
        move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let requests = (0..256u32).map(|i| {
                    let from = format!("127.0.{}.{}", 1 + i / 200, 1 + i % 200);
                    let user = ["agent1", "agent2", "admin", "sup"][i as usize % 4];
                    let auth = basic(user, &format!("guess-{i}"));
                    let url = url.clone();
                    async move { send(client_from(&from), "GET", &url, &[auth], None).await }
                });
                futures_util::future::join_all(requests).await
            })
        }
    });
    // Honest requests while the burst is under way.
    // A login nobody verified yet, in the middle of the burst: answered at
    // once, in (200) or told when to come back (503 + Retry-After).
    wait_for("the burst under way", Duration::from_secs(20), || {
        rws.proc.output().contains("login failed").then_some(())
    });
    let during_start = Instant::now();
    let during = console_login(&rws, "127.0.0.4", "agent2", "pw2");
    let during_took = during_start.elapsed();
    let mut slowest = Duration::ZERO;
    loop {
        let (r, took) = honest();
        assert_eq!(r.status, 200, "{}", r.text);
        slowest = slowest.max(took);
        if burst.is_finished() {
            break;
        }
    }
    let answers = burst.join().unwrap();
    let fresh_start = Instant::now();
    let fresh = console_login(&rws, "127.0.0.4", "sup", "suppw");
    let fresh_took = fresh_start.elapsed();
    let peak = memory_kib(pid, "VmHWM:");
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for a in &answers {
        *statuses.entry(a.status).or_default() += 1;
        if a.status == 503 {
            assert_retry_later(a, 503);
        }
    }
    eprintln!(
        "burst of {}: answers {statuses:?}; RSS before {} MiB, peak {} MiB (+{} MiB); \
         slowest honest cached request {slowest:?}; fresh login during the burst {} in \
         {during_took:?}, after it {fresh_took:?}",
        answers.len(),
        before / 1024,
        peak / 1024,
        peak.saturating_sub(before) / 1024,
        during.status
    );
    assert!(
        statuses.keys().all(|s| [401, 429, 503].contains(s)),
        "only refusals: {statuses:?}"
    );
    assert!(
        peak.saturating_sub(before) <= 300 * 1024,
        "RWS grew from {before} KiB to {peak} KiB during the burst"
    );
    assert!(
        slowest <= Duration::from_secs(3),
        "honest request took {slowest:?}"
    );
    assert!(during_took <= Duration::from_secs(3), "{during_took:?}");
    match during.status {
        200 => {}
        503 => assert_retry_later(&during, 503),
        other => panic!("a fresh login during the burst: {other} {}", during.text),
    }
    assert_eq!(fresh.status, 200, "{}", fresh.text);
}

/// A stranger guessing agent1's password from one address (over Basic and
/// the console form) is made to wait; agent1 at their own PC logs in at
/// once, and even from the stranger's address after a short back-off.
#[test]
fn rule4_a_strangers_wrong_passwords_do_not_lock_the_real_user_out() {
    let dir = tempdir();
    let rws = Rws::start_with(
        dir.path(),
        "rws",
        &["--auth-backoff-max", "2s", "--auth-user-backoff-max", "1s"],
    );
    let stranger = "127.0.0.2";
    let mut throttled = 0;
    for i in 0..30 {
        let r = if i % 2 == 0 {
            basic_get(&rws, stranger, "agent1", &format!("guess-{i}"))
        } else {
            console_login(&rws, stranger, "agent1", &format!("guess-{i}"))
        };
        match r.status {
            401 => {}
            429 => {
                assert_retry_later(&r, 429);
                throttled += 1;
            }
            other => panic!("guess {i}: {other} {}", r.text),
        }
    }
    assert!(throttled > 0, "the stranger was never made to wait");
    // agent1 at their own PC: in at once, on the console and (Basic) SRS session open.
    let agent = "127.0.0.5";
    assert_eq!(console_login(&rws, agent, "agent1", "pw1").status, 200);
    let open = http_from(
        agent,
        "POST",
        &format!("{}/api/v2/srs/sessions", rws.url),
        &[
            basic("agent1", "pw1"),
            ("Content-Type".into(), "application/json".into()),
        ],
        Some(br#"{"place": "Place_1001", "srs_version": "hostile-test"}"#.to_vec()),
    );
    assert_eq!(open.status, 201, "{}", open.text);
    // Even at the stranger's address the right password works again soon.
    let start = Instant::now();
    wait_for(
        "agent1 at the stranger's address",
        Duration::from_secs(10),
        || (console_login(&rws, stranger, "agent1", "pw1").status == 200).then_some(()),
    );
    assert!(
        start.elapsed() <= Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// HTTP Basic (any route, SRS session open included) and the console form
/// count failures in one throttle: five wrong Basic passwords make that
/// address wait on every way in, even with the right password.
#[test]
fn rule4_basic_auth_is_throttled_like_the_console() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let from = "127.0.0.6";
    for i in 0..5 {
        let r = basic_get(&rws, from, "sup", &format!("wrong-{i}"));
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = basic_get(&rws, from, "sup", "suppw");
    assert_retry_later(&r, 429);
    assert!(r.text.contains("too many failed logins"), "{}", r.text);
    assert_retry_later(&console_login(&rws, from, "sup", "suppw"), 429);
    let open = http_from(
        from,
        "POST",
        &format!("{}/api/v2/srs/sessions", rws.url),
        &[basic("sup", "suppw")],
        Some(b"{}".to_vec()),
    );
    assert_retry_later(&open, 429);
    // Another address, and another name from this one, are not held back.
    assert_eq!(basic_get(&rws, "127.0.0.7", "sup", "suppw").status, 200);
    assert_eq!(basic_get(&rws, from, "admin", "adminpw").status, 200);
    let metrics = rws.metrics();
    assert!(
        metrics.contains("screenrec_rws_logins_total{result=\"failed\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("screenrec_rws_logins_total{result=\"throttled\"} 3"),
        "{metrics}"
    );
}

/// Reads from `s` until the server answers or closes, up to `limit`:
/// `Some(text)` (empty when closed without an answer), `None` if still open.
fn answer_within(s: &mut TcpStream, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !got.is_empty() {
                    return Some(String::from_utf8_lossy(&got).into_owned());
                }
            }
            Err(_) => return Some(String::from_utf8_lossy(&got).into_owned()),
        }
    }
    None
}

fn addr(rws: &Rws) -> SocketAddr {
    rws.url.trim_start_matches("http://").parse().unwrap()
}

/// A body trickled a byte at a time is cut (408, connection closed) soon
/// after the body timeout; a body that streams steadily for longer than
/// the timeout is read whole.
#[test]
fn rule4_a_trickling_body_is_cut_after_the_body_timeout() {
    let dir = tempdir();
    let rws = Rws::start_with(dir.path(), "rws", &["--body-timeout", "2s"]);
    let mut s = TcpStream::connect(addr(&rws)).unwrap();
    s.write_all(
        b"POST /api/v2/auth/login HTTP/1.1\r\nHost: rws\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{",
    )
    .unwrap();
    let start = Instant::now();
    let mut answer = None;
    while start.elapsed() < Duration::from_secs(10) {
        if s.write_all(b" ").is_err() {
            answer = Some(String::new());
            break;
        }
        if let Some(a) = answer_within(&mut s, Duration::from_millis(200)) {
            answer = Some(a);
            break;
        }
    }
    let took = start.elapsed();
    let answer = answer.unwrap_or_else(|| panic!("a trickling body still open after {took:?}"));
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(
        took >= Duration::from_millis(1500),
        "cut too early: {took:?}"
    );

    // 24 KiB at ~6 KiB/s: four seconds, twice the timeout, never cut.
    let login = br#"{"username": "agent1", "password": "pw1"}"#;
    let mut body = login.to_vec();
    body.resize(24 * 1024, b' ');
    let mut s = TcpStream::connect(addr(&rws)).unwrap();
    write!(
        s,
        "POST /api/v2/auth/login HTTP/1.1\r\nHost: rws\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let start = Instant::now();
    for (i, chunk) in body.chunks(1024).enumerate() {
        // Paced by the clock, not by sleeps standing in for synchronisation.
        let due = start + Duration::from_millis(160 * i as u64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        s.write_all(chunk).unwrap();
    }
    let answer = answer_within(&mut s, Duration::from_secs(10)).unwrap_or_default();
    assert!(start.elapsed() >= Duration::from_secs(3));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Headers that never finish are cut after the header timeout.
#[test]
fn rule4_slow_headers_are_cut_after_the_header_timeout() {
    let dir = tempdir();
    let rws = Rws::start_with(dir.path(), "rws", &["--header-timeout", "2s"]);
    let mut s = TcpStream::connect(addr(&rws)).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: rws\r\nX-Slow: ")
        .unwrap();
    let start = Instant::now();
    let closed = answer_within(&mut s, Duration::from_secs(8));
    assert!(closed.is_some(), "still open after {:?}", start.elapsed());
    assert!(start.elapsed() >= Duration::from_millis(1500));
}

/// A connection that says nothing is closed after the idle timeout (here
/// shorter than the header timeout, so it is the idle timeout that acts);
/// a control channel that heartbeats outlives it many times over.
#[test]
fn rule4_idle_connections_are_closed_and_heartbeating_control_channels_are_not() {
    let dir = tempdir();
    let rws = Rws::start_with(
        dir.path(),
        "rws",
        &["--idle-timeout", "3s", "--header-timeout", "60s"],
    );
    let srs = crate::fixture::Srs::start_synthetic(dir.path(), "srs", &rws.url);
    assert_eq!(srs.login("agent1", "pw1").status, 200);
    let session = rws.wait_sessions("connected", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    let mut s = TcpStream::connect(addr(&rws)).unwrap();
    let start = Instant::now();
    let closed = answer_within(&mut s, Duration::from_secs(10));
    assert!(closed.is_some(), "still open after {:?}", start.elapsed());
    assert!(start.elapsed() >= Duration::from_millis(2500));
    // For three idle timeouts the control channel stays the same, connected one:
    // checked every half second, never lost and reconnected.
    let deadline = Instant::now() + Duration::from_secs(9);
    while Instant::now() < deadline {
        let now = rws.sessions();
        assert_eq!(now.len(), 1, "{now:?}");
        assert_eq!(now[0]["session_id"], session[0]["session_id"], "{now:?}");
        assert_eq!(now[0]["state"], "connected", "{now:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = srs.proc.output();
    assert!(!log.contains("control channel lost"), "{log}");
}

/// Past `--max-connections` a new connection is answered 503 at once; once
/// the flood goes, ordinary requests are served again.
#[test]
fn rule4_connections_over_the_cap_are_refused_and_service_resumes() {
    let dir = tempdir();
    let rws = Rws::start_with(dir.path(), "rws", &["--max-connections", "16"]);
    // 17 connections, each asking once. RWS takes up each accepted
    // connection on its own task, so which one finds the cap full is not
    // necessarily the last to connect: count the answers instead.
    let mut flood: Vec<TcpStream> = (0..17)
        .map(|_| TcpStream::connect(addr(&rws)).unwrap())
        .collect();
    let answers: Vec<String> = flood
        .iter_mut()
        .map(|s| {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: rws\r\n\r\n");
            answer_within(s, Duration::from_secs(5)).unwrap_or_default()
        })
        .collect();
    let full = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 503") && a.contains("too many connections"))
        .count();
    let served = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 200"))
        .count();
    assert!(
        full >= 1,
        "no connection was refused past the cap: {answers:#?}"
    );
    assert!(served <= 16, "{served} connections served with a cap of 16");
    drop(flood);
    let url = format!("{}/healthz", rws.url);
    wait_for("a request after the flood", Duration::from_secs(10), || {
        (crate::fixture::http("GET", &url, &[], None).status == 200).then_some(())
    });
    let metrics = rws.metrics();
    let refused = metric(&metrics, "screenrec_rws_connections_refused_total ");
    assert!(refused >= 1.0, "{metrics}");
}

/// A cached Basic credential is worth nothing once the password changes:
/// the directory re-imported by another process (`rws import-directory`)
/// while RWS runs ends it at once, well inside the cache's lifetime.
#[test]
fn rule4_a_cached_credential_ends_when_the_password_changes() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let from = "127.0.0.8";
    assert_eq!(basic_get(&rws, from, "admin", "adminpw").status, 200);
    assert_eq!(basic_get(&rws, from, "admin", "adminpw").status, 200);
    let changed = dir.path().join("changed.toml");
    std::fs::write(
        &changed,
        crate::fixture::DIRECTORY.replace("password = \"adminpw\"", "password = \"newpw\""),
    )
    .unwrap();
    let out = std::process::Command::new(crate::util::bin())
        .args(["rws", "import-directory"])
        .arg(&changed)
        .arg("--data-dir")
        .arg(dir.path().join("rws"))
        .envs(rws.database_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(basic_get(&rws, from, "admin", "adminpw").status, 401);
    assert_eq!(basic_get(&rws, from, "admin", "newpw").status, 200);
}

/// Rule 4 (work before authentication): a tus PATCH announcing a 60 MiB
/// body with a made-up upload token is refused (401) before RWS reads a byte
/// of the body, and a tus request without credentials is a 401 before any
/// protocol check (rule 10: authentication first), not a 412.
#[test]
fn rule4_a_strangers_upload_body_is_refused_before_it_is_read() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let id = "0b7e7c1e-6a55-4c43-9d8e-5b1f5cf0a001";
    let mut s = TcpStream::connect(addr(&rws)).unwrap();
    write!(
        s,
        "PATCH /api/v2/srs/uploads/{id} HTTP/1.1\r\nHost: rws\r\nTus-Resumable: 1.0.0\r\n\
         Authorization: Bearer made-up-token\r\nContent-Type: application/offset+octet-stream\r\n\
         Upload-Offset: 0\r\nContent-Length: {}\r\n\r\n",
        60 << 20
    )
    .unwrap();
    // Not one body byte is sent: the answer must not wait for them.
    let answer = answer_within(&mut s, Duration::from_secs(5))
        .expect("no answer while the 60 MiB body is outstanding");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("\"statusCode\""), "{answer}");

    for method in ["HEAD", "DELETE", "PATCH"] {
        let r = crate::fixture::http(
            method,
            &format!("{}/api/v2/srs/uploads/{id}", rws.url),
            &[],
            None,
        );
        assert_eq!(r.status, 401, "{method}: {}", r.text);
    }
    let r = crate::fixture::http(
        "POST",
        &format!("{}/api/v2/srs/uploads", rws.url),
        &[],
        None,
    );
    assert_eq!(r.status, 401, "POST: {}", r.text);
}
