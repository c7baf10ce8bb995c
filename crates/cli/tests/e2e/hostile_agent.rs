//! The rogue agent (threat model: valid agent credentials, their own
//! "SRS"): a small hostile SRS client that opens sessions with its own
//! credentials, speaks the control channel and tus, and sends whatever it
//! likes to a real RWS. Each test is named after the rule the attack would
//! break; real SRS processes stand in for honest agents where it matters.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::fixture::{Response, Rws, Srs, basic, get_as, http};
use crate::util::{now, tempdir, wait_for};

const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// What the hostile client read from its control channel.
#[derive(Debug)]
enum Recv {
    Frame(Value),
    Closed,
    Timeout,
}

/// A hostile SRS: one session opened with its own credentials, and its
/// control channel (heartbeats sent every second, so RWS keeps it).
pub(crate) struct Hostile {
    rt: tokio::runtime::Runtime,
    pub(crate) session_id: String,
    token: String,
    control_url: String,
    recipients: Vec<String>,
    out: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    inbox: Option<std_mpsc::Receiver<Option<Value>>>,
    /// The `last_error` every background heartbeat carries (a heartbeat
    /// reports SRS's current figures, so each one replaces the last).
    last_error: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

/// `POST /api/v2/srs/sessions` as `user`, with `place` (None: default).
fn open_session(rws: &Rws, user: &str, pass: &str, place: Option<&str>) -> Response {
    open_session_with(rws, user, pass, place, false)
}

/// Same, optionally as a standby session (the failover copy).
fn open_session_with(
    rws: &Rws,
    user: &str,
    pass: &str,
    place: Option<&str>,
    standby: bool,
) -> Response {
    let mut body = json!({"srs_version": "hostile-0.0", "standby": standby});
    if let Some(p) = place {
        body["place"] = json!(p);
    }
    http(
        "POST",
        &format!("{}/api/v2/srs/sessions", rws.url),
        &[
            basic(user, pass),
            ("Content-Type".into(), "application/json".into()),
        ],
        Some(body.to_string().into_bytes()),
    )
}

impl Hostile {
    /// Opens a session (asserting 201) and connects its control channel.
    pub(crate) fn login(rws: &Rws, user: &str, pass: &str, place: Option<&str>) -> Hostile {
        Self::login_with(rws, user, pass, place, false)
    }

    fn login_with(
        rws: &Rws,
        user: &str,
        pass: &str,
        place: Option<&str>,
        standby: bool,
    ) -> Hostile {
        let r = open_session_with(rws, user, pass, place, standby);
        assert_eq!(r.status, 201, "session for {user}: {}", r.text);
        let v = r.json();
        let mut h = Hostile {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
            session_id: v["session_id"].as_str().unwrap().to_string(),
            token: v["token"].as_str().unwrap().to_string(),
            control_url: v["control_url"].as_str().unwrap().to_string(),
            recipients: v["recipients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect(),
            out: None,
            inbox: None,
            last_error: Default::default(),
        };
        h.connect(0, true);
        h
    }

    /// (Re)connects the control channel, sending `hello` with `last_seq`.
    fn connect(&mut self, last_seq: u64, heartbeats: bool) {
        let mut req = self.control_url.as_str().into_client_request().unwrap();
        req.headers_mut().insert(
            "Authorization",
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        let hello = json!({"type": "hello", "session_id": self.session_id, "version": "hostile-0.0",
            "monitors": [], "state": "idle", "last_seq": last_seq});
        let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let (in_tx, in_rx) = std_mpsc::channel::<Option<Value>>();
        let last_error = self.last_error.clone();
        self.rt.spawn(async move {
            let Ok((ws, _)) = tokio_tungstenite::connect_async(req).await else {
                let _ = in_tx.send(None);
                return;
            };
            let (mut sink, mut stream) = ws.split();
            if sink
                .send(Message::Text(hello.to_string().into()))
                .await
                .is_err()
            {
                let _ = in_tx.send(None);
                return;
            }
            let mut beat = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    frame = stream.next() => match frame {
                        Some(Ok(Message::Text(t))) => {
                            let _ = in_tx.send(serde_json::from_str(&t).ok());
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                            let _ = in_tx.send(None);
                            return;
                        }
                        Some(Ok(_)) => {}
                    },
                    out = out_rx.recv() => match out {
                        Some(text) => {
                            if sink.send(Message::Text(text.into())).await.is_err() {
                                let _ = in_tx.send(None);
                                return;
                            }
                        }
                        None => {
                            let _ = sink.send(Message::Close(None)).await;
                            return;
                        }
                    },
                    _ = beat.tick(), if heartbeats => {
                        let e = last_error.lock().unwrap().clone();
                        let beat = json!({"type": "heartbeat", "last_error": e});
                        let _ = sink.send(Message::Text(beat.to_string().into())).await;
                    }
                }
            }
        });
        self.out = Some(out_tx);
        self.inbox = Some(in_rx);
    }

    /// Closes the control channel (the session stays until it goes stale).
    fn disconnect(&mut self) {
        self.out = None;
        self.inbox = None;
    }

    /// Sends a heartbeat with `last_error`, and keeps it in later ones.
    fn heartbeat_error(&self, last_error: &str) {
        *self.last_error.lock().unwrap() = Some(last_error.to_string());
        self.send(json!({"type": "heartbeat", "last_error": last_error}));
    }

    pub(crate) fn send(&self, frame: Value) {
        self.send_text(frame.to_string());
    }

    fn send_text(&self, text: String) {
        let _ = self.out.as_ref().unwrap().send(text);
    }

    /// The next frame that is not a heartbeat, within `limit`.
    fn recv(&self, limit: Duration) -> Recv {
        let deadline = Instant::now() + limit;
        let inbox = self.inbox.as_ref().unwrap();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match inbox.recv_timeout(left) {
                Ok(Some(v)) if v["type"] == "heartbeat" => continue,
                Ok(Some(v)) => return Recv::Frame(v),
                Ok(None) | Err(std_mpsc::RecvTimeoutError::Disconnected) => return Recv::Closed,
                Err(std_mpsc::RecvTimeoutError::Timeout) => return Recv::Timeout,
            }
        }
    }

    /// Waits for the next command of `kind`, acknowledges it, returns it.
    pub(crate) fn expect(&self, kind: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Recv::Frame(v) => {
                    if let Some(seq) = v["seq"].as_u64() {
                        self.send(json!({"type": "ack", "seq": seq, "ok": true}));
                    }
                    if v["type"] == kind {
                        return v;
                    }
                }
                other => panic!("waiting for a '{kind}' command: {other:?}"),
            }
        }
    }

    /// Sends a heartbeat whose `last_error` is `marker` and waits until the
    /// session list shows it: every frame sent before it has been handled
    /// (RWS reads a channel's frames in order).
    fn sync(&self, rws: &Rws, marker: &str) {
        self.heartbeat_error(marker);
        rws.wait_sessions(&format!("heartbeat '{marker}' handled"), |s| {
            s.iter()
                .any(|x| x["session_id"] == self.session_id.as_str() && x["last_error"] == marker)
        });
    }

    /// Age-encrypts `plain` to the recipients RWS handed over.
    fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let r: Vec<_> = self
            .recipients
            .iter()
            .map(|r| media::crypt::parse_recipient(r).unwrap())
            .collect();
        media::crypt::encrypt_segment(plain, &r).unwrap()
    }
}

/// tus with an upload token.
fn tus(
    method: &str,
    url: &str,
    token: &str,
    extra: &[(&str, String)],
    body: Option<Vec<u8>>,
) -> Response {
    let mut headers = vec![
        ("Authorization".to_string(), format!("Bearer {token}")),
        ("Tus-Resumable".to_string(), "1.0.0".to_string()),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    http(method, url, &headers, body)
}

/// Creates an upload of stream `stream`; returns its absolute URL.
fn create_upload(rws: &Rws, token: &str, stream: u32, length: Option<u64>) -> Response {
    let md = format!(
        "stream {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            stream.to_string()
        )
    );
    let mut extra = vec![("Upload-Metadata", md)];
    match length {
        Some(l) => extra.push(("Upload-Length", l.to_string())),
        None => extra.push(("Upload-Defer-Length", "1".into())),
    }
    tus(
        "POST",
        &format!("{}/api/v2/srs/uploads", rws.url),
        token,
        &extra,
        None,
    )
}

fn upload_url(rws: &Rws, created: &Response) -> String {
    assert_eq!(created.status, 201, "{}", created.text);
    format!("{}{}", rws.url, created.header("location").unwrap())
}

fn patch(
    url: &str,
    token: &str,
    offset: u64,
    body: Vec<u8>,
    segments: Option<&str>,
    length: Option<u64>,
) -> Response {
    let mut extra = vec![
        ("Upload-Offset", offset.to_string()),
        (
            "Content-Type",
            "application/offset+octet-stream".to_string(),
        ),
    ];
    if let Some(s) = segments {
        extra.push(("screenrec-segments", s.to_string()));
    }
    if let Some(l) = length {
        extra.push(("Upload-Length", l.to_string()));
    }
    tus("PATCH", url, token, &extra, Some(body))
}

fn end(rws: &Rws, token: &str, recording_id: &str, body: Value) -> Response {
    http(
        "PUT",
        &format!("{}/api/v2/srs/recordings/{recording_id}/end", rws.url),
        &[
            ("Authorization".into(), format!("Bearer {token}")),
            ("Content-Type".into(), "application/json".into()),
        ],
        Some(body.to_string().into_bytes()),
    )
}

/// A call's recording starts on `dn` (`recording.started` opens the leg).
fn call_starts(rws: &Rws, call: &str, dn: &str) {
    rws.call_event(&format!("{call}-s"), "recording.started", call, dn);
}

fn call_released(rws: &Rws, call: &str, dn: &str) {
    rws.call_event(&format!("{call}-r"), "call.released", call, dn);
}

/// The call's recording resource, as the supervisor sees it.
fn resource(rws: &Rws, call: &str) -> Option<Value> {
    rws.recording_as(("admin", "adminpw"), call)
}

/// Waits until the call's first recording is in `state`.
fn wait_state(rws: &Rws, call: &str, state: &str) -> Value {
    wait_for(
        &format!("the recording of {call} {state}"),
        Duration::from_secs(20),
        || {
            let r = resource(rws, call)?;
            (r["screenRecordings"][0]["state"] == state).then_some(r)
        },
    )
}

fn healthy(rws: &Rws) -> bool {
    http("GET", &format!("{}/healthz", rws.url), &[], None).status == 200
}

/// Waits until RWS lists agent1's session as connected.
fn wait_agent1_connected(rws: &Rws) {
    rws.wait_sessions("agent1 connected", |s| {
        s.iter()
            .any(|x| x["user"] == "agent1" && x["state"] == "connected")
    });
}

/// A hostile agent1 whose call on 1001 has started: (client, start command).
fn recording_agent(rws: &Rws, call: &str) -> (Hostile, Value) {
    let h = Hostile::login(rws, "agent1", "pw1", None);
    wait_agent1_connected(rws);
    call_starts(rws, call, "1001");
    let start = h.expect("start");
    wait_state(rws, call, "recording");
    (h, start)
}

/// The call released, the agent told to stop, then its recording ended as
/// a clean `call_released` with `media_files` files and no marks (asserts
/// 200). `upload` is the recording's (token, recording id).
fn release_and_end(
    rws: &Rws,
    h: &Hostile,
    call: &str,
    dn: &str,
    upload: (&str, &str),
    media_files: u32,
) {
    call_released(rws, call, dn);
    h.expect("stop");
    let r = end(
        rws,
        upload.0,
        upload.1,
        json!({"reason": "call_released", "interrupted": false, "stopped_at": now(), "media_files": media_files, "marks": []}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap()
}

/// An error in the GWS envelope whose message mentions `needle`.
fn assert_refused(r: &Response, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    let v = r.json();
    assert!(v["statusCode"].is_u64(), "not the GWS envelope: {}", r.text);
    let msg = v["statusMessage"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "'{needle}' not in: {msg}");
}

#[test]
fn rule3_segment_sizes_that_wrap_or_exceed_the_upload_are_refused_and_rws_keeps_serving() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let (h, start) = recording_agent(&rws, "call-wrap");
    let token = str_of(&start, "upload_token");
    let url = upload_url(&rws, &create_upload(&rws, token, 0, None));

    let plain = vec![7u8; 300];
    let seg = h.seal(&plain);
    let n = seg.len() as u64;
    // Cipher sizes that sum to the body length only modulo 2^64.
    let wrap = format!("{}:1:1,{}:1:1", u64::MAX, n + 1);
    let r = patch(&url, token, 0, seg.clone(), Some(&wrap), None);
    assert_refused(&r, 400, "screenrec-segments");
    // A segment longer than the body, and a plaintext claimed at 2^62.
    let r = patch(
        &url,
        token,
        0,
        seg.clone(),
        Some(&format!("{}:1:1", n * 4)),
        None,
    );
    assert_refused(&r, 400, "screenrec-segments");
    let huge = format!("{n}:{}:1", 1u64 << 62);
    let r = patch(&url, token, 0, seg.clone(), Some(&huge), None);
    assert_refused(&r, 400, "plaintext");
    assert!(healthy(&rws));

    // The honest PATCH still works, and playing the staged media (what
    // aborted RWS when a wrapped size was stored) is harmless.
    let r = patch(
        &url,
        token,
        0,
        seg.clone(),
        Some(&format!("{n}:{}:1000", plain.len())),
        None,
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let res = resource(&rws, "call-wrap").unwrap();
    let play = http(
        "GET",
        &format!("{}{}", rws.url, str_of(&res["mediaFiles"][0], "mediaUri")),
        &[basic("admin", "adminpw")],
        None,
    );
    assert_eq!(play.status, 200, "{}", play.text);
    assert_eq!(play.bytes, plain);
    assert!(healthy(&rws), "RWS still serving after the play");
    drop(h);
}

#[test]
fn rule1_status_frames_for_someone_elses_recording_are_refused() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    // The victim: a real SRS as agent1.
    let _srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    wait_agent1_connected(&rws);
    let attacker = Hostile::login(&rws, "agent2", "pw2", None);
    call_starts(&rws, "call-victim", "1001");
    let r = wait_state(&rws, "call-victim", "recording");
    let victim = str_of(&r["screenRecordings"][0], "id").to_string();

    for state in ["paused", "failed", "stopped"] {
        attacker.send(
            json!({"type": "status", "recording_id": victim, "state": state,
            "reason": "forged", "at": now(), "bytes_spooled": 0}),
        );
    }
    // A forged ack for a seq of agent1's session changes nothing either.
    attacker.send(json!({"type": "ack", "seq": 1, "ok": false, "error": "forged"}));
    attacker.sync(&rws, "forged frames sent");
    let r = resource(&rws, "call-victim").unwrap();
    let rec = &r["screenRecordings"][0];
    assert_eq!(rec["state"], "recording", "{rec}");
    assert_eq!(rec["marks"].as_array().unwrap().len(), 0, "{rec}");

    // The victim's recording goes on and completes.
    call_released(&rws, "call-victim", "1001");
    let r = wait_state(&rws, "call-victim", "completed");
    assert_eq!(r["screenRecordings"][0]["agentId"], "agent1");
}

#[test]
fn rule2_a_place_held_by_a_live_session_is_refused_to_another_user() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let mut holder = Hostile::login(&rws, "agent1", "pw1", None);
    wait_agent1_connected(&rws);
    // agent2 claims agent1's place: 409 naming the holder.
    let r = open_session(&rws, "agent2", "pw2", Some("Place_1001"));
    assert_refused(&r, 409, "agent1");
    assert_eq!(
        rws.sessions()
            .iter()
            .filter(|s| s["place"] == "Place_1001")
            .count(),
        1
    );
    // agent2's own place is fine, and a call on 1001 is agent1's.
    let attacker = Hostile::login(&rws, "agent2", "pw2", None);
    call_starts(&rws, "call-held", "1001");
    let start = holder.expect("start");
    let r = wait_state(&rws, "call-held", "recording");
    assert_eq!(r["screenRecordings"][0]["agentId"], "agent1");
    assert_eq!(r["screenRecordings"][0]["id"], start["recording_id"]);
    assert!(matches!(
        attacker.recv(Duration::from_millis(200)),
        Recv::Timeout
    ));

    // A standby session claims nothing, and cannot go live on a held place
    // by connecting its control channel: RWS closes it.
    let sneaky = Hostile::login_with(&rws, "agent2", "pw2", Some("Place_1001"), true);
    match sneaky.recv(Duration::from_secs(5)) {
        Recv::Closed => {}
        other => panic!("a standby session went live on a held place: {other:?}"),
    }
    call_starts(&rws, "call-held-2", "1001");
    let r = wait_state(&rws, "call-held-2", "recording");
    // Linked to agent1's running recording (one recording per agent).
    assert_eq!(r["screenRecordings"][0]["id"], start["recording_id"]);

    // The same user may take the place over (re-login / hot seating); the
    // replaced session's token is refused from then on.
    let again = open_session(&rws, "agent1", "pw1", Some("Place_1001"));
    assert_eq!(again.status, 201, "{}", again.text);
    let old = http(
        "DELETE",
        &format!("{}/api/v2/srs/sessions/{}", rws.url, holder.session_id),
        &[("Authorization".into(), format!("Bearer {}", holder.token))],
        None,
    );
    assert_eq!(old.status, 401, "{}", old.text);
    // A holder gone silent past the timeout (3 s) is stale: the place frees.
    holder.disconnect();
    wait_for(
        "agent2 may claim the stale place",
        Duration::from_secs(15),
        || (open_session(&rws, "agent2", "pw2", Some("Place_1001")).status == 201).then_some(()),
    );
}

#[test]
fn rule1_a_replayed_end_changes_nothing_on_a_final_recording() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let (h, start) = recording_agent(&rws, "call-end");
    let token = str_of(&start, "upload_token");
    let rec = str_of(&start, "recording_id");
    let url = upload_url(&rws, &create_upload(&rws, token, 0, None));
    let plain = vec![1u8; 100];
    let seg = h.seal(&plain);
    let n = seg.len() as u64;
    let r = patch(&url, token, 0, seg, Some(&format!("{n}:100:1000")), Some(n));
    assert_eq!(r.status, 204, "{}", r.text);
    call_released(&rws, "call-end", "1001");
    h.expect("stop");
    let body = json!({"reason": "call_released", "interrupted": false, "stopped_at": now(),
        "media_files": 1, "marks": [{"at": now(), "kind": "paused", "reason": "desktop"}]});
    let r = end(&rws, token, rec, body.clone());
    assert_eq!(r.status, 200, "{}", r.text);
    let before = wait_state(&rws, "call-end", "completed");
    assert_eq!(
        before["screenRecordings"][0]["marks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The replay (and one with more marks) is an idempotent no-op.
    let mut more = body.clone();
    more["marks"] = json!([{"at": now(), "kind": "resumed", "reason": "forged"}]);
    for b in [body, more] {
        let r = end(&rws, token, rec, b);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["state"], "completed");
    }
    let after = resource(&rws, "call-end").unwrap();
    assert_eq!(
        after["screenRecordings"][0]["marks"],
        before["screenRecordings"][0]["marks"]
    );
}

#[test]
fn rule1_garbage_media_is_refused_or_fails_never_completed() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let (h, start) = recording_agent(&rws, "call-junk");
    let token = str_of(&start, "upload_token");
    let rec = str_of(&start, "recording_id");
    let url = upload_url(&rws, &create_upload(&rws, token, 0, None));
    // Not an age stream at all, described as a segment.
    let r = patch(&url, token, 0, vec![0u8; 4096], Some("4096:10:1000"), None);
    assert_refused(&r, 400, "not an age stream");
    // An age header no tenant key opens, described as a segment.
    let mut fake = AGE_MAGIC.to_vec();
    fake.resize(4096, b'x');
    let r = patch(&url, token, 0, fake.clone(), Some("4096:10:1000"), None);
    assert_refused(&r, 422, "key");
    // Without a header RWS cannot tell yet: the bytes are taken, and the
    // recording ends failed (with a reason), not completed.
    let r = patch(&url, token, 0, fake, None, Some(4096));
    assert_eq!(r.status, 204, "{}", r.text);
    release_and_end(&rws, &h, "call-junk", "1001", (token, rec), 1);
    let r = wait_for("the junk recording final", Duration::from_secs(10), || {
        let r = resource(&rws, "call-junk")?;
        let s = r["screenRecordings"][0]["state"].as_str()?.to_string();
        ["completed", "failed", "partial"]
            .contains(&s.as_str())
            .then_some(r)
    });
    let rec = &r["screenRecordings"][0];
    assert_eq!(rec["state"], "failed", "{rec}");
    assert!(
        rec["reason"].as_str().unwrap().contains("playable"),
        "{rec}"
    );
}

#[test]
fn rule3_control_frames_and_kept_strings_are_bounded() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let h = Hostile::login(&rws, "agent1", "pw1", None);
    // A 10 KiB last_error is kept cut to a few hundred bytes.
    h.heartbeat_error(&"e".repeat(10 << 10));
    let s = rws.wait_sessions("the long last_error kept", |s| {
        s.iter().any(|x| x["last_error"].as_str().is_some())
    });
    let kept = s[0]["last_error"].as_str().unwrap();
    assert!(kept.len() <= 512, "kept {} bytes", kept.len());
    // An 8 MiB frame is not read at all: RWS closes the channel.
    h.send(json!({"type": "heartbeat", "last_error": "x".repeat(8 << 20)}));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match h.recv(deadline.saturating_duration_since(Instant::now())) {
            Recv::Closed => break,
            Recv::Frame(_) => continue,
            Recv::Timeout => panic!("RWS kept the channel open after an 8 MiB frame"),
        }
    }
    let s = rws.sessions();
    assert!(
        s.iter()
            .all(|x| x["last_error"].as_str().is_none_or(|e| e.len() <= 512)),
        "no 8 MiB string kept"
    );
    assert!(healthy(&rws));
}

#[test]
fn rule3_hello_last_seq_near_u64_max_is_refused_and_seqs_stay_sane() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let mut h = Hostile::login(&rws, "agent1", "pw1", None);
    // The login's channel is up before it is dropped: a hello still in
    // flight would otherwise take the session over from the reconnection
    // below (the latest hello wins) and leave it with no channel.
    wait_agent1_connected(&rws);
    h.disconnect();
    // u64::MAX - 1 would make the next seq u64::MAX and the one after wrap.
    h.connect(u64::MAX - 1, true);
    match h.recv(Duration::from_secs(5)) {
        Recv::Closed => {}
        Recv::Frame(f) => panic!("RWS accepted the hello and sent {f}"),
        Recv::Timeout => panic!("RWS kept a channel whose hello.last_seq is u64::MAX - 1"),
    }
    // An honest hello works; commands get small seqs.
    h.connect(0, true);
    rws.wait_sessions("agent1 connected", |s| {
        s.iter().any(|x| x["state"] == "connected")
    });
    call_starts(&rws, "call-seq", "1001");
    let start = h.expect("start");
    assert!(start["seq"].as_u64().unwrap() < 1 << 53, "{start}");
    wait_state(&rws, "call-seq", "recording");
}

#[test]
fn rule3_declared_lengths_and_upload_floods_are_bounded_per_session() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let (_h, start) = recording_agent(&rws, "call-flood");
    let token = str_of(&start, "upload_token");
    // Past Tus-Max-Size: refused.
    let r = create_upload(&rws, token, 0, Some((64 << 30) + 1));
    assert_refused(&r, 413, "Tus-Max-Size");
    // Two 40 GiB declarations pass the session's quota of 64 GiB.
    let r = create_upload(&rws, token, 1, Some(40 << 30));
    assert_eq!(r.status, 201, "{}", r.text);
    let r = create_upload(&rws, token, 2, Some(40 << 30));
    assert_refused(&r, 413, "quota");
    // A flood of deferred-length creations stops at 64 open uploads.
    let mut last = None;
    for stream in 3..80 {
        let r = create_upload(&rws, token, stream, None);
        if r.status != 201 {
            last = Some((stream, r));
            break;
        }
    }
    let (stream, r) = last.expect("the flood is stopped");
    assert_eq!(stream, 3 + 63, "64 open uploads, then refused");
    assert_refused(&r, 429, "unfinished uploads");
    assert!(healthy(&rws));
}

/// H.264 fMP4 of `ms` milliseconds (4 fps), as segments.
fn mp4_segments(ms: u64) -> Vec<Vec<u8>> {
    use media::convert::I420Frame;
    use media::encoder::{EncoderSettings, H264Encoder};
    use media::fmp4::Fmp4Muxer;
    let (w, h) = (64u32, 64u32);
    let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
    let mut pic = I420Frame::new(w, h).unwrap();
    let mut mux = Fmp4Muxer::new(w, h, Duration::from_secs(1));
    let mut out = Vec::new();
    for (i, t) in (0..ms).step_by(250).enumerate() {
        let bgra = vec![(i * 40 % 255) as u8; (w * h * 4) as usize];
        pic.convert_rows(&bgra, (w * 4) as usize, w, h, 0..h)
            .unwrap();
        let Some(e) = enc.encode(&pic, i == 0, t).unwrap() else {
            continue;
        };
        if out.is_empty() {
            let (sps, pps) = enc.parameter_sets().unwrap();
            out.push(mux.init_segment(sps, pps).unwrap().bytes);
        }
        if let Some(s) = mux
            .push(e.sample, Duration::from_millis(t), e.keyframe)
            .unwrap()
        {
            out.push(s.bytes);
        }
    }
    out.extend(
        mux.finish(Duration::from_millis(ms))
            .unwrap()
            .map(|s| s.bytes),
    );
    out
}

#[test]
fn upload_without_segments_header_is_listed_with_the_media_duration() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let (h, start) = recording_agent(&rws, "call-plain-tus");
    let token = str_of(&start, "upload_token");
    let rec = str_of(&start, "recording_id");
    let url = upload_url(&rws, &create_upload(&rws, token, 0, None));
    // A plain tus client: the encrypted segments, no segments header.
    let body: Vec<u8> = mp4_segments(3000).iter().flat_map(|s| h.seal(s)).collect();
    let n = body.len() as u64;
    let r = patch(&url, token, 0, body, None, Some(n));
    assert_eq!(r.status, 204, "{}", r.text);
    release_and_end(&rws, &h, "call-plain-tus", "1001", (token, rec), 1);
    let r = wait_state(&rws, "call-plain-tus", "completed");
    let duration: u64 = str_of(&r["mediaFiles"][0], "duration").parse().unwrap();
    assert_eq!(duration, 3000, "{}", r["mediaFiles"][0]);

    // Evidence: no client hashes came, so RWS hashed each segment itself
    // when it sealed the manifest, says so, and the bundle verifies.
    let bundle = get_as(
        &rws,
        ("admin", "adminpw"),
        "/api/v2/recordings/call-plain-tus/export",
    );
    assert_eq!(bundle.status, 200, "{}", bundle.text);
    let path = dir.path().join("plain-tus.zip");
    std::fs::write(&path, &bundle.bytes).unwrap();
    let mut zip = ::evidence::zip::ZipReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let manifest: Value =
        serde_json::from_slice(&zip.read_small("manifest.json", 1 << 20).unwrap()).unwrap();
    let segs = manifest["media_files"][0]["segments"].as_array().unwrap();
    assert!(segs.len() >= 2, "{segs:?}");
    assert!(
        segs.iter().all(|s| s["plain_sha256_by"] == "rws"),
        "{segs:?}"
    );
    assert!(
        ::evidence::verify_bundle(&path, None).is_ok(),
        "{:?}",
        ::evidence::verify_bundle(&path, None)
    );
}

#[test]
fn rule6_ids_from_the_network_are_uuids_or_refused() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let (_h, start) = recording_agent(&rws, "call-ids");
    let token = str_of(&start, "upload_token");
    for id in ["..%2F..%2Fscreenrec.db", "not-a-uuid", "..."] {
        let url = format!("{}/api/v2/srs/uploads/{id}", rws.url);
        assert_eq!(tus("HEAD", &url, token, &[], None).status, 400);
        let r = patch(&url, token, 0, b"x".to_vec(), None, None);
        assert_refused(&r, 400, "not a UUID");
        assert_refused(&tus("DELETE", &url, token, &[], None), 400, "not a UUID");
        let r = end(&rws, token, id, json!({}));
        assert_refused(&r, 400, "not a UUID");
    }
}

#[test]
fn rule1_a_session_uses_only_its_own_uploads() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let (h1, s1) = recording_agent(&rws, "call-own-1");
    let h2 = Hostile::login(&rws, "agent2", "pw2", None);
    call_starts(&rws, "call-own-2", "1002");
    let s2 = h2.expect("start");
    let (t1, t2) = (str_of(&s1, "upload_token"), str_of(&s2, "upload_token"));
    let (r1, r2) = (str_of(&s1, "recording_id"), str_of(&s2, "recording_id"));
    let url1 = upload_url(&rws, &create_upload(&rws, t1, 0, None));
    // The owner without `Tus-Resumable`: 412 (tus), the upload stays.
    for method in ["HEAD", "DELETE"] {
        let r = http(
            method,
            &url1,
            &[("Authorization".into(), format!("Bearer {t1}"))],
            None,
        );
        assert_eq!(r.status, 412, "{method}: {}", r.text);
    }
    assert_eq!(tus("HEAD", &url1, t1, &[], None).status, 200);
    // agent2's token on agent1's upload and recording: refused.
    assert_eq!(tus("HEAD", &url1, t2, &[], None).status, 404);
    assert_eq!(patch(&url1, t2, 0, h2.seal(b"x"), None, None).status, 404);
    assert_eq!(tus("DELETE", &url1, t2, &[], None).status, 404);
    let r = end(
        &rws,
        t2,
        r1,
        json!({"reason": "admin", "interrupted": true, "stopped_at": now(), "media_files": 0, "marks": []}),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    // Creating an upload for agent1's recording with agent2's token.
    let md = format!(
        "recording_id {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, r1)
    );
    let r = tus(
        "POST",
        &format!("{}/api/v2/srs/uploads", rws.url),
        t2,
        &[("Upload-Metadata", md), ("Upload-Defer-Length", "1".into())],
        None,
    );
    assert_eq!(r.status, 403, "{}", r.text);
    // Once agent2's recording is final its token writes nothing more.
    release_and_end(&rws, &h2, "call-own-2", "1002", (t2, r2), 0);
    wait_state(&rws, "call-own-2", "failed");
    assert_eq!(create_upload(&rws, t2, 5, None).status, 410);
    drop(h1);
}

/// The app lane rides on the end report: agent2's token cannot put app
/// changes on agent1's recording; a flood of changes, an endless class or
/// title, or a bad time is a 400 that stores nothing; a valid lane is kept
/// in order with `title` null where none was sent.
#[test]
fn rule1_app_changes_land_only_on_the_senders_recording_and_are_bounded() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let (h1, s1) = recording_agent(&rws, "call-app-1");
    let h2 = Hostile::login(&rws, "agent2", "pw2", None);
    call_starts(&rws, "call-app-2", "1002");
    let s2 = h2.expect("start");
    let (t1, t2) = (str_of(&s1, "upload_token"), str_of(&s2, "upload_token"));
    let r1 = str_of(&s1, "recording_id");
    let app = |class: &str, title: Value| json!({"at": now(), "class": class, "title": title});
    let body = |apps: Vec<Value>| json!({"reason": "call_released", "interrupted": false, "stopped_at": now(), "media_files": 0, "marks": [], "apps": apps});
    // Someone else's recording: 403, nothing kept.
    let r = end(&rws, t2, r1, body(vec![app("EvilApp", json!("planted"))]));
    assert_eq!(r.status, 403, "{}", r.text);
    call_released(&rws, "call-app-1", "1001");
    h1.expect("stop");
    // A flood: one more than the bound.
    let flood: Vec<Value> = (0..1001)
        .map(|i| app(&format!("App{i}"), Value::Null))
        .collect();
    assert_refused(&end(&rws, t1, r1, body(flood)), 400, "at most 1000");
    for bad in [
        app(&"C".repeat(129), Value::Null),
        app("", Value::Null),
        app("Ok", json!("t".repeat(257))),
        json!({"at": "yesterday", "class": "Ok", "title": null}),
    ] {
        assert_refused(&end(&rws, t1, r1, body(vec![bad])), 400, "app change");
    }
    // The owner's own, valid lane.
    let lane = vec![
        json!({"at": "2026-01-05T10:00:01.000Z", "class": "Crm", "title": "Customer 42"}),
        json!({"at": "2026-01-05T10:00:03.000Z", "class": "XTerm"}),
    ];
    let r = end(&rws, t1, r1, body(lane));
    assert_eq!(r.status, 200, "{}", r.text);
    let res = resource(&rws, "call-app-1").unwrap();
    let marks = res["screenRecordings"][0]["marks"].as_array().unwrap();
    let apps: Vec<(Value, Value)> = marks
        .iter()
        .filter(|m| m["type"] == "app")
        .map(|m| (m["class"].clone(), m["title"].clone()))
        .collect();
    assert_eq!(
        apps,
        [
            (json!("Crm"), json!("Customer 42")),
            (json!("XTerm"), Value::Null)
        ],
        "{res}"
    );
    assert!(!res.to_string().contains("EvilApp") && !res.to_string().contains("App1000"));
    // `app=` on the backend under test (SQLite or PostgreSQL): a
    // case-insensitive glob on the class; `%`/`_` match themselves.
    for (glob, hits) in [
        ("crm", 1),
        ("X?ERM", 1),
        ("*term", 1),
        ("evil*", 0),
        ("%", 0),
    ] {
        let r = get_as(
            &rws,
            ("admin", "adminpw"),
            &format!("/api/v2/recordings?app={}", glob.replace('%', "%25")),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json()["recordings"].as_array().unwrap().len(),
            hits,
            "app={glob}: {}",
            r.text
        );
    }
    // A replayed end on the final recording adds nothing.
    let r = end(&rws, t1, r1, body(vec![app("Replayed", Value::Null)]));
    assert_eq!(r.status, 200, "{}", r.text);
    let res = resource(&rws, "call-app-1").unwrap();
    assert!(!res.to_string().contains("Replayed"), "{res}");
    drop(h2);
}

/// Restarts (issue 13 part 4) under rules 1 and 2: `restarting` for
/// another agent's recording marks nothing; RWS sends `start` with
/// `resume` for a live recording only to a new session of the same agent
/// at a place holding the recording's DN — never to another agent's
/// session, nor to the same agent logged in at another place — and without
/// the upload token (only the spool that holds the recording can upload);
/// a flood of `restarting` frames adds at most 20 gap marks (rule 3).
#[test]
fn rule1_only_the_agents_own_restarted_session_at_its_place_continues_a_recording() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let (victim, start) = recording_agent(&rws, "call-resume");
    let rec_id = str_of(&start, "recording_id").to_string();
    let token = str_of(&start, "upload_token").to_string();
    assert!(
        start.get("resume").is_none(),
        "a first start is no resume: {start}"
    );

    // Another agent: a forged `restarting`, and its own idle hello got
    // nothing of agent1's.
    let attacker = Hostile::login(&rws, "agent2", "pw2", None);
    attacker.send(json!({"type": "restarting", "recording_id": rec_id, "at": now()}));
    // The owner's own `restarting` with a time that is not RFC 3339.
    victim.send(json!({"type": "restarting", "recording_id": rec_id, "at": "yesterday"}));
    victim.sync(&rws, "bad restarting sent");
    attacker.sync(&rws, "forged restarting sent");
    assert!(
        matches!(attacker.recv(Duration::from_secs(1)), Recv::Timeout),
        "agent2's session got a command"
    );
    let r = resource(&rws, "call-resume").unwrap();
    let rec = &r["screenRecordings"][0];
    assert_eq!(rec["state"], "recording", "{rec}");
    assert_eq!(rec["marks"].as_array().unwrap().len(), 0, "{rec}");
    // The owner's flood of `restarting` frames: at most 20 gap marks.
    for i in 0..30 {
        victim.send(json!({"type": "restarting", "recording_id": rec_id,
            "at": format!("2026-11-30T10:00:{i:02}.000Z")}));
    }
    victim.sync(&rws, "restarting flood sent");
    let r = resource(&rws, "call-resume").unwrap();
    let rec = &r["screenRecordings"][0];
    assert_eq!(rec["marks"].as_array().unwrap().len(), 20, "{rec}");
    assert_eq!(rec["state"], "recording", "{rec}");
    // agent2 leaves; agent1's SRS "restarts" at agent2's place (DN 1002).
    let gone = http(
        "DELETE",
        &format!("{}/api/v2/srs/sessions/{}", rws.url, attacker.session_id),
        &[("Authorization".into(), format!("Bearer {}", attacker.token))],
        None,
    );
    assert_eq!(gone.status, 204, "{}", gone.text);
    drop(victim);
    let elsewhere = Hostile::login(&rws, "agent1", "pw1", Some("Place_1002"));
    match elsewhere.recv(Duration::from_secs(3)) {
        Recv::Timeout => {}
        other => panic!("agent1 at another place was sent {other:?}"),
    }
    drop(elsewhere);

    // Back at its own place: the same recording is continued, without the
    // token; the call's stop then reaches this new session.
    let back = Hostile::login(&rws, "agent1", "pw1", None);
    let again = back.expect("start");
    assert_eq!(again["recording_id"], rec_id.as_str(), "{again}");
    assert_eq!(again["resume"], true, "{again}");
    assert_eq!(again["upload_token"], "", "{again}");
    let gap_at = now();
    call_released(&rws, "call-resume", "1001");
    back.expect("stop");
    // An unknown mark kind is refused, saying which are allowed.
    let bad = end(
        &rws,
        &token,
        &rec_id,
        json!({"reason": "call_released", "interrupted": false, "stopped_at": now(), "media_files": 0,
            "marks": [{"at": now(), "kind": "gapx", "reason": ""}]}),
    );
    assert_refused(&bad, 400, "gap, gap_end");
    let r = end(
        &rws,
        &token,
        &rec_id,
        json!({"reason": "call_released", "interrupted": false, "stopped_at": now(), "media_files": 0,
            "marks": [{"at": gap_at, "kind": "gap", "reason": "srs_restarted"},
                      {"at": now(), "kind": "gap_end", "reason": "srs_restarted"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = resource(&rws, "call-resume").unwrap();
    let kinds: Vec<&str> = r["screenRecordings"][0]["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    // The 20 of the flood, then the restart's span from the end report.
    assert_eq!(kinds.len(), 22, "{r}");
    assert_eq!(kinds[20..], ["gap", "gap_end"], "{r}");
}

/// Evidence (issue 14 part 3): a PATCH whose `screenrec-segment-hashes`
/// claims another ciphertext hash than the body's, or is malformed, is a
/// 400 and nothing is stored; the honest one is kept with its hashes, and
/// the plaintext hash the client sent is what the signed manifest carries.
#[test]
fn rule3_segment_hashes_that_do_not_match_the_body_are_refused() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let (h, start) = recording_agent(&rws, "call-hash");
    let token = str_of(&start, "upload_token");
    let recording_id = str_of(&start, "recording_id").to_string();
    let url = upload_url(&rws, &create_upload(&rws, token, 0, None));
    let plain = vec![9u8; 400];
    let seg = h.seal(&plain);
    let n = seg.len() as u64;
    let segments = format!("{n}:{}:1000", plain.len());
    let hex = |b: &[u8]| media::segment_index::Sha256::of(b).hex();
    let with_hashes = |hashes: &str| {
        let mut extra = vec![
            ("Upload-Offset", "0".to_string()),
            (
                "Content-Type",
                "application/offset+octet-stream".to_string(),
            ),
            ("screenrec-segments", segments.clone()),
            ("screenrec-segment-hashes", hashes.to_string()),
        ];
        extra.push(("Upload-Length", n.to_string()));
        tus("PATCH", &url, token, &extra, Some(seg.clone()))
    };
    // Another ciphertext's hash (a replay of another body's header).
    let r = with_hashes(&format!("{}:{}", hex(&plain), hex(b"another body")));
    assert_refused(&r, 400, "screenrec-segment-hashes: segment 0");
    // Malformed, too many, not hex, huge.
    for bad in [
        "zz".to_string(),
        format!(
            "{}:{},{}:{}",
            hex(&plain),
            hex(&seg),
            hex(&plain),
            hex(&seg)
        ),
        format!("{}:{}", "g".repeat(64), hex(&seg)),
        "a:b,".repeat(500),
    ] {
        let r = with_hashes(&bad);
        assert_refused(&r, 400, "screenrec-segment-hashes");
    }
    // Nothing was stored.
    let head = tus("HEAD", &url, token, &[], None);
    assert_eq!(head.header("upload-offset"), Some("0"), "{}", head.text);

    // The honest PATCH: kept, and its hashes reach the signed manifest.
    let r = with_hashes(&format!("{}:{}", hex(&plain), hex(&seg)));
    assert_eq!(r.status, 204, "{}", r.text);
    release_and_end(&rws, &h, "call-hash", "1001", (token, &recording_id), 1);
    wait_state(&rws, "call-hash", "completed");
    let bundle = get_as(
        &rws,
        ("admin", "adminpw"),
        "/api/v2/recordings/call-hash/export",
    );
    assert_eq!(bundle.status, 200, "{}", bundle.text);
    let path = dir.path().join("b.zip");
    std::fs::write(&path, &bundle.bytes).unwrap();
    let mut zip = ::evidence::zip::ZipReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let manifest: Value =
        serde_json::from_slice(&zip.read_small("manifest.json", 1 << 20).unwrap()).unwrap();
    let s = &manifest["media_files"][0]["segments"][0];
    assert_eq!(s["plain_sha256"], hex(&plain));
    assert_eq!(s["cipher_sha256"], hex(&seg));
    assert_eq!(s["plain_sha256_by"], "srs");
    assert_eq!(
        zip.read_small("media/stream-0.mp4", 1 << 20).unwrap(),
        plain,
        "the export holds the decrypted bytes"
    );
    drop(h);
}

/// RFC 3339 `ms` milliseconds from now (the app frames' `at`).
fn at_in(ms: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::milliseconds(ms))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The app lane of a call's first recording: (class, title).
fn app_lane(rws: &Rws, call: &str) -> Vec<(String, Value)> {
    resource(rws, call).unwrap()["screenRecordings"][0]["marks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "app")
        .map(|m| (m["class"].as_str().unwrap().to_string(), m["title"].clone()))
        .collect()
}

#[test]
fn rule1_live_app_frames_are_kept_only_for_ones_own_running_recording_within_bounds() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let agent = Hostile::login(&rws, "agent1", "pw1", None);
    wait_agent1_connected(&rws);
    let attacker = Hostile::login(&rws, "agent2", "pw2", None);
    call_starts(&rws, "call-apps", "1001");
    let start = agent.expect("start");
    wait_state(&rws, "call-apps", "recording");
    let rec = start["recording_id"].as_str().unwrap().to_string();
    let app = |class: &str, title: Option<&str>, at: String| json!({"type": "app", "recording_id": rec, "at": at, "class": class, "title": title});

    // Someone else's session speaking for agent1's recording: nothing kept.
    attacker.send(app("Forged", Some("forged"), at_in(0)));
    attacker.sync(&rws, "forged app sent");
    assert!(app_lane(&rws, "call-apps").is_empty());

    // The owner: one honest change, sent twice (a replay) — kept once.
    let honest = app("Crm", Some("Customer"), at_in(0));
    agent.send(honest.clone());
    agent.send(honest);
    // Out of bounds, each refused whole (never stored cut).
    agent.send(app("Huge", Some(&"t".repeat(10_000)), at_in(1)));
    agent.send(app(&"C".repeat(1000), None, at_in(2)));
    agent.send(app("", None, at_in(3)));
    agent.send(app("NoTime", None, "yesterday".into()));
    // Far outside the recording's span.
    agent.send(app("Past", None, "2001-01-01T00:00:00Z".into()));
    agent.send(app("Future", None, at_in(24 * 3600 * 1000)));
    // A recording that does not exist.
    agent.send(
        json!({"type": "app", "recording_id": "00000000-0000-4000-8000-000000000000",
            "at": at_in(0), "class": "Nowhere"}),
    );
    agent.sync(&rws, "shapes sent");
    assert_eq!(
        app_lane(&rws, "call-apps"),
        [("Crm".to_string(), json!("Customer"))]
    );

    // A flood: 5,000 changes at distinct times. The channel's budget keeps
    // a bounded few; RWS keeps serving everyone.
    for i in 0..5000 {
        agent.send(app(&format!("Flood{i}"), None, at_in(10 + i)));
    }
    agent.sync(&rws, "flood sent");
    let kept = app_lane(&rws, "call-apps").len();
    assert!((2..=100).contains(&kept), "{kept} app marks kept");
    assert!(healthy(&rws));
    let r = get_as(
        &rws,
        ("admin", "adminpw"),
        "/api/v2/recordings?agent=agent1",
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let log = rws.proc.output();
    let lines = log.matches("app changes over the budget dropped").count();
    assert!((1..=10).contains(&lines), "{lines} drop lines logged");

    // After the end: the recording is stopped, a change is refused.
    call_released(&rws, "call-apps", "1001");
    agent.expect("stop");
    agent.send(
        json!({"type": "status", "recording_id": rec, "state": "stopped",
        "reason": "call_released", "at": now(), "bytes_spooled": 0}),
    );
    wait_state(&rws, "call-apps", "finalizing");
    // (A fresh channel: the flood spent this one's budget.)
    let mut agent = agent;
    agent.disconnect();
    agent.connect(2, true);
    agent.send(app("TooLate", None, at_in(0)));
    agent.sync(&rws, "late app sent");
    assert_eq!(app_lane(&rws, "call-apps").len(), kept);
}
