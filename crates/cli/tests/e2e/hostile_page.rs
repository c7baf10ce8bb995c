//! Adversarial suite, SRS on the agent PC (threat model rules 5, 6, 8, 9):
//! a web page that DNS-rebinds its name to 127.0.0.1, a login naming a
//! rogue RWS, a rogue RWS sending hostile ids and URLs, a local user
//! reading the spool, and the logs.
//!
//! Real `screenrec srs` and `screenrec rws` processes. The one stand-in is
//! the rogue RWS itself ([`Rogue`]): the threat *is* a server that is not
//! ours, so the test plays it — a few lines of HTTP and a WebSocket that
//! send SRS what a hostile RWS would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::fixture::{DIRECTORY, Response, Rws, Srs, basic, http};
use crate::util::{now, tempdir, wait_for};

/// The password of `agent1` in these tests: long and distinctive, so that
/// finding it in a log or in ciphertext cannot be a coincidence.
const SECRET: &str = "Hostile-Secret-Pass-9f27c4e1";

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

fn with_host(host: &str, mut headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers.push(("Host".into(), host.into()));
    headers
}

fn json_body() -> (String, String) {
    ("Content-Type".into(), "application/json".into())
}

/// A 403 in the GWS envelope whose message says why.
fn assert_refused_host(r: &Response, what: &str) {
    assert_eq!(r.status, 403, "{what}: {}", r.text);
    assert_eq!(r.code(), 3, "{what}: {}", r.text);
    let msg = r.json()["statusMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("Host") && msg.contains("evil.example"),
        "{what}: the message names the refused Host: {msg}"
    );
}

/// Rule 5: a page on `evil.example` rebound to 127.0.0.1 is same-origin and
/// sends no `Origin`; only its `Host` gives it away. Every request naming
/// it — login (GET and POST), logout, ping, pre-flight, health, metrics —
/// is refused before authentication, and the agent's session is untouched.
#[test]
fn rule5_rebinding_host_is_refused_before_auth_and_changes_nothing() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let srs = Srs::start(dir.path(), "srs", &["--server", &rws.url]);
    let port = port_of(&srs.url);
    assert_eq!(srs.login("agent1", "pw1").status, 200);
    let before = rws.wait_sessions("agent1's session", |s| {
        s.len() == 1 && s[0]["state"] == "connected"
    });
    let evil = format!("evil.example:{port}");
    let me = format!("{}/api/v2/me", srs.url);

    // Log the agent's SRS into another account (the attack of finding 8).
    let r = http(
        "GET",
        &me,
        &with_host(&evil, vec![basic("agent2", "pw2")]),
        None,
    );
    assert_refused_host(&r, "GET /api/v2/me");
    let r = http(
        "POST",
        &me,
        &with_host(&evil, vec![basic("agent2", "pw2"), json_body()]),
        Some(
            json!([{"name": "place", "value": "Place_1002"}])
                .to_string()
                .into_bytes(),
        ),
    );
    assert_refused_host(&r, "POST /api/v2/me (login)");
    // End the agent's session (no credentials: refused for the Host first).
    let r = http(
        "POST",
        &me,
        &with_host(&evil, vec![json_body()]),
        Some(br#"{"operationName": "EndContactCenterSession"}"#.to_vec()),
    );
    assert_refused_host(&r, "POST /api/v2/me (logout)");
    let ping = format!("{}/ping", srs.url);
    let r = http(
        "GET",
        &ping,
        &with_host(&evil, vec![basic("agent1", "pw1")]),
        None,
    );
    assert_refused_host(&r, "GET /ping");
    let r = http("OPTIONS", &me, &with_host(&evil, vec![]), None);
    assert_refused_host(&r, "OPTIONS /api/v2/me");
    for path in ["/healthz", "/metrics", "/api/v2/me/recording"] {
        let r = http(
            "GET",
            &format!("{}{path}", srs.url),
            &with_host(&evil, vec![]),
            None,
        );
        assert_refused_host(&r, path);
    }
    // No port, the wrong port, a look-alike: refused too.
    for host in ["evil.example", "127.0.0.1:1", "localhost.evil.example:80"] {
        let r = http(
            "GET",
            &ping,
            &with_host(host, vec![basic("agent1", "pw1")]),
            None,
        );
        assert_eq!(r.status, 403, "Host {host}: {}", r.text);
        assert_eq!(r.code(), 3, "Host {host}");
    }

    // Raw requests a browser would not send but a script might: no Host at
    // all (HTTP/1.0), or a loopback Host followed by a second, foreign one.
    for head in [
        "GET /healthz HTTP/1.0\r\n\r\n".to_string(),
        format!(
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: {evil}\r\nConnection: close\r\n\r\n"
        ),
    ] {
        let status = raw_status(port, &head);
        assert!(
            status.contains(" 403 ") || status.contains(" 400 "),
            "{head:?} → {status}"
        );
    }

    // Nothing changed: the same session of agent1, still live.
    let after = rws.sessions();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["session_id"], before[0]["session_id"]);
    assert_eq!(after[0]["user"], "agent1");
    // The loopback names with SRS's port are served (what desktops use).
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        format!("[::1]:{port}"),
    ] {
        let r = http(
            "GET",
            &ping,
            &with_host(&host, vec![basic("agent1", "pw1")]),
            None,
        );
        assert_eq!(r.status, 200, "Host {host}: {}", r.text);
    }
}

/// The status line SRS answers to a hand-written request.
fn raw_status(port: u16, head: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line
}

/// A TCP listener that notes every connection and what arrived on it, and
/// answers 503: the rogue server a login (or an upload URL) names.
struct Tripwire {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Tripwire {
    fn start() -> Tripwire {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let head = read_head(&mut stream).unwrap_or_default();
                    log.lock().unwrap().push(head);
                    let _ = stream.write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                });
            }
        });
        Tripwire { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads an HTTP request head (up to the blank line).
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            break;
        }
        head.push_str(&line);
        if line == "\r\n" || line == "\n" {
            break;
        }
    }
    Some(head)
}

/// Rule 5: SRS sends the agent's credentials only to a configured RWS. A
/// login naming any other `server` or `peer_server` is refused with a
/// message, and nothing connects to the named host; the configured RWS,
/// named in any normalised spelling, keeps working; `--allowed-server`
/// adds a DR site; an SRS configured with no RWS refuses every login.
#[test]
fn rule5_login_naming_an_unconfigured_rws_is_refused_and_nothing_connects() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let rogue = Tripwire::start();
    let srs = Srs::start(dir.path(), "srs", &["--server", &rws.url]);

    for body in [
        json!([{"name": "server", "value": rogue.url}]),
        json!([{"name": "server", "value": rws.url}, {"name": "peer_server", "value": rogue.url}]),
        json!([{"name": "server", "value": format!("{}/", rogue.url)}]),
    ] {
        let r = srs.login_with("agent1", "pw1", body.clone(), &[]);
        assert_eq!(r.status, 403, "{body}: {}", r.text);
        assert_eq!(r.code(), 3, "{body}");
        let msg = r.json()["statusMessage"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            msg.contains(&rogue.url) && msg.contains("not an allowed RWS"),
            "the message names the refused server: {msg}"
        );
    }
    // SRS answered only after it would have talked to the rogue: had it
    // connected, the tripwire would already hold the request.
    assert_eq!(
        rogue.seen(),
        Vec::<String>::new(),
        "nothing reached the rogue RWS"
    );
    assert!(rws.sessions().is_empty(), "no session was opened anywhere");

    // The configured RWS, spelt differently, is the same server.
    let port = port_of(&rws.url);
    for spelling in [
        format!("{}/", rws.url),
        format!("HTTP://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}//"),
    ] {
        let r = srs.login_with(
            "agent1",
            "pw1",
            json!([{"name": "server", "value": spelling}]),
            &[],
        );
        assert_eq!(r.status, 200, "{spelling}: {}", r.text);
    }

    // A DR site given with --allowed-server (and no --server): the desktop
    // names it and logs in; a login naming nothing has no RWS to go to.
    let dr = Srs::start_debug(dir.path(), "srs-dr", &["--allowed-server", &rws.url]);
    let r = dr.login_with(
        "agent2",
        "pw2",
        json!([{"name": "server", "value": rws.url}]),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = dr.login("agent2", "pw2");
    assert_eq!((r.status, r.code()), (400, 1), "{}", r.text);

    // No RWS configured at all: the secure default refuses whatever is named.
    let bare = Srs::start_debug(dir.path(), "srs-bare", &[]);
    let r = bare.login_with(
        "agent1",
        "pw1",
        json!([{"name": "server", "value": rws.url}]),
        &[],
    );
    assert_eq!((r.status, r.code()), (403, 3), "{}", r.text);
    assert!(r.text.contains("allowed: none"), "{}", r.text);
    assert_eq!(rogue.seen(), Vec::<String>::new());
}

/// A rogue RWS (configured as `--server`: a compromised or spoofed site):
/// answers the session open and speaks the control channel. Every command
/// frame it sends and every ack SRS returns is recorded.
struct Rogue {
    url: String,
    token: String,
    acks: mpsc::Receiver<Value>,
}

/// The session-open answer: a hostile user name, a control URL on itself.
fn open_answer(port: u16, token: &str, recipient: &str) -> Value {
    json!({
        "session_id": "7f0c7a4e-2f51-4b1e-9a53-2d6f3c1b9e10",
        "token": token,
        "control_url": format!("ws://127.0.0.1:{port}/api/v2/srs/control"),
        "user": {"id": "u1", "userName": "agent1\r\nINFO forged: admin logged in \u{1b}[31mRED", "roles": ["ROLE_AGENT"]},
        "place": "Place\r\nX",
        "devices": [{"dn": "1001", "switch": "SIP_Switch"}],
        "recording_when": "always",
        "allowed_origins": [],
        "capture": {"fps": 5, "quality": 30, "keyframe_interval_s": 2, "cursor": false},
        "recipients": [recipient],
        "heartbeat_interval_s": 1,
        "silence_timeout_s": 600,
    })
}

/// What the rogue RWS changes in its answers beside the hostile user name.
#[derive(Clone, Default)]
struct Twist {
    /// `session_id` of the session-open answer.
    session_id: Option<String>,
    /// `control_url` of the session-open answer.
    control_url: Option<String>,
    /// tus creation answers 201 with this `Location`.
    tus_location: Option<String>,
}

impl Rogue {
    /// Starts it; `commands` are sent, in order, once the control channel is up.
    fn start(commands: Vec<Value>, recipient: String) -> Rogue {
        Self::start_twisted(commands, recipient, Twist::default())
    }

    /// Same, with `twist` applied to its answers.
    fn start_twisted(commands: Vec<Value>, recipient: String, twist: Twist) -> Rogue {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let token = "rogue-session-token-51e0d2c9a7".to_string();
        let (tx, acks) = mpsc::channel();
        let tok = token.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let tx = tx.clone();
                let commands = commands.clone();
                let mut answer = open_answer(port, &tok, &recipient);
                if let Some(id) = &twist.session_id {
                    answer["session_id"] = json!(id);
                }
                if let Some(u) = &twist.control_url {
                    answer["control_url"] = json!(u);
                }
                let location = twist.tus_location.clone();
                std::thread::spawn(move || {
                    serve_rogue(stream, &answer, &commands, &tx, location.as_deref())
                });
            }
        });
        Rogue {
            url: format!("http://127.0.0.1:{port}"),
            token,
            acks,
        }
    }

    /// The ack of command `seq`.
    fn ack(&self, seq: u64) -> Value {
        wait_for(&format!("ack {seq}"), Duration::from_secs(20), || {
            self.acks
                .recv_timeout(Duration::from_millis(50))
                .ok()
                .filter(|a| a["seq"] == seq)
        })
    }
}

fn serve_rogue(
    stream: TcpStream,
    answer: &Value,
    commands: &[Value],
    acks: &mpsc::Sender<Value>,
    tus_location: Option<&str>,
) {
    let mut peek = [0u8; 64];
    let n = stream.peek(&mut peek).unwrap_or(0);
    if peek[..n].starts_with(b"GET /api/v2/srs/control") {
        let Ok(mut ws) = tokio_tungstenite::tungstenite::accept(stream) else {
            return;
        };
        for c in commands {
            if ws
                .send(tokio_tungstenite::tungstenite::Message::Text(
                    c.to_string().into(),
                ))
                .is_err()
            {
                return;
            }
        }
        while let Ok(m) = ws.read() {
            if let Ok(text) = m.to_text()
                && let Ok(v) = serde_json::from_str::<Value>(text)
                && v["type"] == "ack"
            {
                let _ = acks.send(v);
            }
        }
        return;
    }
    let mut stream = stream;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let head = read_head(&mut stream).unwrap_or_default();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    // The head was read through a BufReader that may hold body bytes; the
    // body is small JSON we do not need, so drain what is left and ignore it.
    let mut body = vec![0u8; length.min(64 * 1024)];
    let _ = stream.read(&mut body);
    let first = head.lines().next().unwrap_or_default().to_string();
    let mut extra = String::new();
    let (status, text) = if first.starts_with("POST /api/v2/srs/sessions") {
        ("200 OK", answer.to_string())
    } else if let Some(location) = tus_location
        && first.starts_with("POST /api/v2/srs/uploads")
    {
        extra = format!("Location: {location}\r\nTus-Resumable: 1.0.0\r\n");
        ("201 Created", String::new())
    } else if first.starts_with("GET /api/v2/srs/origins") {
        ("200 OK", json!({"allowed_origins": []}).to_string())
    } else if first.starts_with("DELETE ") {
        ("204 No Content", String::new())
    } else {
        // tus and the rest: "try later", so the spool keeps every file.
        ("503 Service Unavailable", String::new())
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn start_frame(seq: u64, id: &str, recipients: &[&str], upload_url: &str, token: &str) -> Value {
    json!({
        "type": "start", "seq": seq, "recording_id": id, "interaction_id": "call\r\nforged",
        "max_duration_s": 600,
        "capture": {"fps": 5, "quality": 30, "keyframe_interval_s": 2, "cursor": false},
        "recipients": recipients, "upload_url": upload_url, "upload_token": token,
    })
}

fn stop_frame(seq: u64, id: &str) -> Value {
    json!({"type": "stop", "seq": seq, "recording_id": id, "reason": "call_released"})
}

/// Every file and folder under `root`.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Rule 8: the spool folder and every folder in it 0700, every file 0600
/// (whatever the umask of the service).
fn assert_spool_private(spool: &Path) {
    assert_eq!(mode(spool), 0o700, "{}", spool.display());
    let all = walk(spool);
    assert!(
        all.iter()
            .any(|p| p.extension().is_some_and(|e| e == "age")),
        "{all:?}"
    );
    for p in all {
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&p), want, "mode of {}", p.display());
    }
}

/// Waits until a spooled recording has encrypted media on disk; returns its folder.
fn wait_spooled(spool: &Path) -> PathBuf {
    wait_for(
        "encrypted media in the spool",
        Duration::from_secs(30),
        || {
            std::fs::read_dir(spool.join("rec"))
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|d| std::fs::metadata(d.join("stream-0.age.idx")).is_ok_and(|m| m.len() > 0))
        },
    )
}

/// No byte sequence of `needles` in `hay`.
fn assert_absent(what: &str, hay: &[u8], needles: &[(&str, &str)]) {
    for (name, needle) in needles {
        assert!(
            !hay.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{name} found in {what}"
        );
    }
}

const UPLOAD_TOKEN: &str = "rogue-upload-token-8c1f2b";
const GOOD_ID: &str = "2d2a0b7e-9f2a-4e3b-acbd-4e5f6a7b8c9d";

/// A rogue RWS sending `commands`, an SRS (debug log, synthetic screen)
/// configured with it, and agent1 logged in with [`SECRET`].
/// The rogue's commands for most tests: one well-formed start of
/// [`GOOD_ID`] to `key`, uploading to the real path.
fn one_good_start(key: &str) -> Vec<Value> {
    vec![start_frame(
        1,
        GOOD_ID,
        &[key],
        "/api/v2/srs/uploads",
        UPLOAD_TOKEN,
    )]
}

fn rogue_session(dir: &Path, commands: impl FnOnce(&str) -> Vec<Value>) -> (Rogue, Srs) {
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    let rogue = Rogue::start(commands(&recipient), recipient.clone());
    let srs = Srs::start_debug(
        dir,
        "srs",
        &["--server", &rogue.url, "--source", "synthetic:160x120"],
    );
    let r = srs.login("agent1", SECRET);
    assert_eq!(r.status, 200, "{}", r.text);
    (rogue, srs)
}

/// Rule 6 (and 5): a rogue RWS's commands never become paths or send the
/// upload token elsewhere. `start` with `recording_id = "../../evil"`, an
/// upload URL on another host, or a recipient that is not an age key is
/// refused in its ack with the reason, creates nothing and leaves SRS
/// running; a well-formed `start` from the same RWS still records.
#[test]
fn rule6_a_rogue_rws_start_with_a_path_id_foreign_upload_url_or_bad_recipient_is_refused() {
    let dir = tempdir();
    let steal = Tripwire::start();
    let evil = "../../evil";
    let a = "0b0e8f5c-7d0e-4c1f-8a9b-2c3d4e5f6a7b";
    let b = "1c1f9a6d-8e1f-4d2a-9bac-3d4e5f6a7b8c";
    let steal_url = format!("{}/steal", steal.url);
    let (rogue, mut srs) = rogue_session(dir.path(), |key| {
        vec![
            start_frame(1, evil, &[key], "/api/v2/srs/uploads", UPLOAD_TOKEN),
            stop_frame(2, evil),
            start_frame(3, a, &[key], &steal_url, UPLOAD_TOKEN),
            stop_frame(4, a),
            start_frame(
                5,
                b,
                &["not-an-age-key", key],
                "/api/v2/srs/uploads",
                UPLOAD_TOKEN,
            ),
            stop_frame(6, b),
            start_frame(7, GOOD_ID, &[key], "/api/v2/srs/uploads", UPLOAD_TOKEN),
        ]
    });
    let refused = |seq: u64, says: &str| {
        let ack = rogue.ack(seq);
        assert_eq!(ack["ok"], false, "start {seq} must be refused: {ack}");
        let error = ack["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "start {seq}: {error}");
    };
    refused(1, "not a UUID");
    refused(3, "not on the RWS holding the session");
    refused(5, "not an age X25519 recipient");
    assert_eq!(rogue.ack(7)["ok"], true, "a well-formed start records");

    // Nothing outside the spool, no folder for a refused id, SRS alive.
    let spool = dir.path().join("srs-spool");
    let recorded = wait_spooled(&spool);
    assert_eq!(recorded.file_name().unwrap().to_string_lossy(), GOOD_ID);
    assert!(
        !dir.path().join("evil").exists(),
        "../../evil escaped the spool"
    );
    assert!(!spool.join("evil").exists());
    let folders: Vec<String> = std::fs::read_dir(spool.join("rec"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders, vec![GOOD_ID.to_string()]);
    assert!(srs.proc.exited().is_none(), "SRS keeps running");
    assert_eq!(
        http("GET", &format!("{}/healthz", srs.url), &[], None).status,
        200
    );
    assert_eq!(
        steal.seen(),
        Vec::<String>::new(),
        "the upload token went nowhere else"
    );
}

/// Rule 9: what someone typed (a user name, a place, an interaction id)
/// reaches SRS's log escaped — a CR/LF cannot forge a log line, an ANSI
/// sequence cannot repaint the operator's terminal.
#[test]
fn rule9_user_names_places_and_ids_are_logged_escaped() {
    let dir = tempdir();
    let (rogue, srs) = rogue_session(dir.path(), one_good_start);
    assert_eq!(rogue.ack(1)["ok"], true);
    let log = wait_for("the start logged", Duration::from_secs(10), || {
        let log = srs.proc.output();
        log.contains("recording started").then_some(log)
    });
    assert!(log.contains("agent logged in"), "{log}");
    for raw in RAW {
        assert!(!log.contains(raw), "raw {raw:?} in the log:\n{log}");
    }
    for escaped in [
        r"agent1\r\nINFO forged",
        r"\u{1b}[31mRED",
        r"Place\r\nX",
        r"call\r\nforged",
    ] {
        assert!(
            log.contains(escaped),
            "{escaped} (escaped) in the log:\n{log}"
        );
    }
}

/// Control characters as the rogue sends them (never to be logged raw).
const RAW: [&str; 5] = [
    "\r\nINFO forged",
    "\nINFO forged",
    "\u{1b}[31mRED",
    "Place\r\nX",
    "call\r\nforged",
];

/// The agent's password, its Basic credentials and the RWS session token
/// are written nowhere by SRS: no log line (at `SCREENREC_LOG=debug`, every
/// crate) and no spool file, during a recording. (The upload token is kept
/// in the 0600 manifest by design, to resume uploads; it is never logged.)
#[test]
fn rule8_the_password_and_session_token_are_in_no_srs_log_or_spool_file() {
    let dir = tempdir();
    let (rogue, srs) = rogue_session(dir.path(), one_good_start);
    assert_eq!(rogue.ack(1)["ok"], true);
    let spool = dir.path().join("srs-spool");
    wait_spooled(&spool);
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("agent1:{SECRET}"));
    let secrets = [
        ("the password", SECRET),
        ("the Basic credentials", creds.as_str()),
        ("the session token", rogue.token.as_str()),
    ];
    let files: Vec<PathBuf> = walk(&spool).into_iter().filter(|p| p.is_file()).collect();
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        assert_absent(
            &f.display().to_string(),
            &std::fs::read(&f).unwrap(),
            &secrets,
        );
    }
    let log = srs.proc.output();
    assert!(log.contains("DEBUG"), "the log is at debug level");
    assert_absent("SRS's log", log.as_bytes(), &secrets);
    assert_absent(
        "SRS's log",
        log.as_bytes(),
        &[("the upload token", UPLOAD_TOKEN)],
    );
}

/// Rule 8 with the real RWS: during a real recording the spool is
/// private (folders 0700, files 0600), and neither the password nor the
/// Basic credentials appear in SRS's debug log or in any spool file.
#[test]
fn rule8_spool_is_private_and_holds_no_credentials_during_a_real_recording() {
    let dir = tempdir();
    std::fs::write(
        dir.path().join("directory.toml"),
        DIRECTORY.replace("password = \"pw1\"", &format!("password = \"{SECRET}\"")),
    )
    .unwrap();
    let rws = Rws::start(dir.path(), "rws");
    let srs = Srs::start_debug(
        dir.path(),
        "srs",
        &["--server", &rws.url, "--source", "synthetic:160x120"],
    );
    let r = srs.login("agent1", SECRET);
    assert_eq!(r.status, 200, "{}", r.text);
    let call = json!({"id": "h1", "type": "recording.started", "call_id": "call-h", "dn": "1001", "switch": "SIP_Switch", "timestamp": now()});
    assert_eq!(rws.post_events(&call).status, 200);

    let spool = dir.path().join("srs-spool");
    let recorded = wait_spooled(&spool);
    assert!(recorded.join("recording.json").exists());
    assert_spool_private(&spool);

    let creds = base64::engine::general_purpose::STANDARD.encode(format!("agent1:{SECRET}"));
    let secrets = [
        ("the password", SECRET),
        ("the Basic credentials", creds.as_str()),
    ];
    for f in walk(&spool).into_iter().filter(|p| p.is_file()) {
        // A file may vanish once uploaded: read what is still there.
        if let Ok(bytes) = std::fs::read(&f) {
            assert_absent(&f.display().to_string(), &bytes, &secrets);
        }
    }
    assert_absent("SRS's log", srs.proc.output().as_bytes(), &secrets);
}

/// Rule 5: the session token travels only to an allowed RWS. A session-open
/// answer whose control channel is on another host, or whose session id is
/// not a UUID (it goes into URLs), fails the login with 502 naming the
/// problem, and the other host never hears from SRS.
#[test]
fn rule5_a_control_channel_off_the_allowed_rws_or_a_bad_session_id_fails_the_login() {
    let dir = tempdir();
    let trip = Tripwire::start();
    let key = age::x25519::Identity::generate().to_public().to_string();
    let off_host = Rogue::start_twisted(
        Vec::new(),
        key.clone(),
        Twist {
            control_url: Some(format!(
                "ws://127.0.0.1:{}/api/v2/srs/control",
                port_of(&trip.url)
            )),
            ..Twist::default()
        },
    );
    let srs = Srs::start_debug(dir.path(), "srs", &["--server", &off_host.url]);
    let r = srs.login("agent1", SECRET);
    assert_eq!((r.status, r.code()), (502, 4), "{}", r.text);
    assert!(
        r.text.contains("control channel URL") && r.text.contains("not on an allowed RWS"),
        "{}",
        r.text
    );

    let bad_id = Rogue::start_twisted(
        Vec::new(),
        key,
        Twist {
            session_id: Some("../../api/v2/users/admin".into()),
            ..Twist::default()
        },
    );
    let srs2 = Srs::start_debug(dir.path(), "srs2", &["--server", &bad_id.url]);
    let r = srs2.login("agent1", SECRET);
    assert_eq!((r.status, r.code()), (502, 4), "{}", r.text);
    assert!(r.text.contains("is not a UUID"), "{}", r.text);
    // Both refusals came before any link was started.
    assert_eq!(
        trip.seen(),
        Vec::<String>::new(),
        "the session token went nowhere else"
    );
    assert_eq!(
        http(
            "GET",
            &format!("{}/ping", srs.url),
            &[basic("agent1", SECRET)],
            None
        )
        .status,
        401
    );
}

/// Rule 5: a tus `Location` on another host is not followed — the upload
/// token never leaves the RWS holding the session, and the media stays in
/// the spool for a later try.
#[test]
fn rule5_a_tus_location_on_another_host_is_not_followed() {
    let dir = tempdir();
    let trip = Tripwire::start();
    let key = age::x25519::Identity::generate().to_public().to_string();
    let rogue = Rogue::start_twisted(
        vec![start_frame(
            1,
            GOOD_ID,
            &[&key],
            "/api/v2/srs/uploads",
            UPLOAD_TOKEN,
        )],
        key.clone(),
        Twist {
            tus_location: Some(format!("{}/files/stolen", trip.url)),
            ..Twist::default()
        },
    );
    let srs = Srs::start_debug(
        dir.path(),
        "srs",
        &["--server", &rogue.url, "--source", "synthetic:160x120"],
    );
    assert_eq!(srs.login("agent1", SECRET).status, 200);
    assert_eq!(rogue.ack(1)["ok"], true);
    wait_for(
        "the foreign Location refused",
        Duration::from_secs(20),
        || {
            srs.proc
                .output()
                .contains("Location on another host")
                .then_some(())
        },
    );
    assert_eq!(
        trip.seen(),
        Vec::<String>::new(),
        "the upload token went nowhere else"
    );
    assert!(wait_spooled(&dir.path().join("srs-spool")).ends_with(GOOD_ID));
}

/// Masking rules in `start` (issue 13): a rule SRS cannot compile, an
/// unknown action or a flood of rules from a rogue RWS refuses the start
/// with the reason in the ack and creates no spool folder (never a
/// recording without the rule); so does a good rule on a source that cannot
/// see windows (the synthetic one); a start without rules still records.
#[test]
fn masking_rules_srs_cannot_compile_refuse_the_start_never_record_unmasked() {
    let dir = tempdir();
    let a = "0b0e8f5c-7d0e-4c1f-8a9b-2c3d4e5f6a7b";
    let b = "1c1f9a6d-8e1f-4d2a-9bac-3d4e5f6a7b8c";
    let c = "2d2fab7e-9f2a-4e3b-8cbd-4e5f6a7b8c9d";
    let with = |mut f: Value, masks: Value| {
        f["masks"] = masks;
        f
    };
    let flood: Vec<Value> = (0..5000)
        .map(|i| json!({"name": format!("r{i}"), "title": "x"}))
        .collect();
    let (rogue, mut srs) = rogue_session(dir.path(), |key| {
        let start = |seq, id| start_frame(seq, id, &[key], "/api/v2/srs/uploads", UPLOAD_TOKEN);
        vec![
            with(
                start(1, a),
                json!([{"name": "bad", "title": "ok (unclosed"}]),
            ),
            with(
                start(2, b),
                json!([{"name": "x", "class": "*k*", "action": "stop"}]),
            ),
            with(start(3, c), json!(flood)),
            // A good rule on a source that cannot see windows: refused too.
            with(
                start(4, GOOD_ID),
                json!([{"name": "payments", "title": "(?i)card"}]),
            ),
            start(5, GOOD_ID),
        ]
    });
    let refused = |seq: u64, says: &str| {
        let ack = rogue.ack(seq);
        assert_eq!(ack["ok"], false, "start {seq} must be refused: {ack}");
        let error = ack["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "start {seq}: {error}");
    };
    refused(
        1,
        "masking rule refused, not recording: mask rule 'bad': title regex is invalid at character 4: unclosed group",
    );
    refused(2, "mask action 'stop' is unknown");
    refused(3, "5000 masking rules (at most 256)");
    refused(4, "cannot mask windows");
    assert_eq!(rogue.ack(5)["ok"], true, "a start without rules records");
    let recorded = wait_spooled(&dir.path().join("srs-spool"));
    assert_eq!(recorded.file_name().unwrap().to_string_lossy(), GOOD_ID);
    let folders: Vec<String> = std::fs::read_dir(dir.path().join("srs-spool").join("rec"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders, vec![GOOD_ID.to_string()]);
    assert!(srs.proc.exited().is_none(), "SRS keeps running");
}
