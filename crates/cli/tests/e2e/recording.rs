//! Issue 5 end to end: telephony/chat events posted to a real RWS drive
//! real SRS processes recording a real Xvfb display (or the synthetic
//! source); the media is checked with ffprobe/ffmpeg after it went through
//! encryption, tus upload, storage and decrypting playback.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::fixture::{INTEGRATION_TOKEN, Rws, Srs, basic, http};
use crate::util::{
    Painter, Xvfb, decode_frames, duration, frame_times, near, now, rgb, sse, tempdir, wait_for,
};

/// Directory of these tests: voice, non-voice and blended agents.
const DIRECTORY: &str = r#"
recording_when = "always"

[[switch]]
name = "SIP_Switch"

[[place]]
name = "Place_1001"
devices = [{ dn = "1001", switch = "SIP_Switch" }]

[[place]]
name = "Place_1002"
devices = [{ dn = "1002", switch = "SIP_Switch" }]

[[place]]
name = "Place_1003"
devices = [{ dn = "1003", switch = "SIP_Switch" }]

[[place]]
name = "Place_3001"
devices = [{ dn = "3001", switch = "SIP_Switch" }]

[[place]]
name = "Place_3002"
devices = [{ dn = "3002", switch = "SIP_Switch" }]

[[user]]
username = "agent1"
password = "pw1"
roles = ["agent"]
default_place = "Place_1001"

[[user]]
username = "agent2"
password = "pw2"
roles = ["agent"]
default_place = "Place_1002"

[[user]]
username = "quiet"
password = "pwq"
roles = ["agent"]
default_place = "Place_1003"
recording_when = "off"

[[user]]
username = "chat1"
password = "pwc1"
roles = ["agent"]
channel = "nonvoice"
default_place = "Place_3001"
recording_when = "media=chat, queue~Sales*"

[[user]]
username = "blend1"
password = "pwb1"
roles = ["agent"]
channel = "blended"
default_place = "Place_3002"

[[user]]
username = "sup"
password = "suppw"
roles = ["supervisor"]

[[user]]
username = "admin"
password = "adminpw"
roles = ["admin"]
"#;

fn start_rws(dir: &Path, extra: &[&str]) -> Rws {
    std::fs::write(dir.join("directory.toml"), DIRECTORY).unwrap();
    Rws::start_with(dir, "rws", extra)
}

/// An SRS logged in as `user`, pointed at `rws`, recording `source`.
fn start_srs(dir: &Path, name: &str, rws: &Rws, user: &str, pass: &str, extra: &[&str]) -> Srs {
    let mut args = vec!["--server", rws.url.as_str()];
    args.extend_from_slice(extra);
    let srs = Srs::start(dir, name, &args);
    let r = srs.login(user, pass);
    assert_eq!(r.status, 200, "login {user}: {}", r.text);
    srs
}

fn post_events(rws: &Rws, events: Value) -> Value {
    let r = rws.post_events(&events);
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

/// One voice event now.
fn voice(rws: &Rws, id: &str, kind: &str, call: &str, dn: &str) {
    post_events(
        rws,
        json!({"id": id, "type": kind, "call_id": call, "dn": dn, "switch": "SIP_Switch", "timestamp": now()}),
    );
}

fn resource(rws: &Rws, call: &str) -> Option<Value> {
    rws.recording_as(("sup", "suppw"), call)
}

/// Waits until every screen recording of `call` is in a final state (and
/// at least `n` exist).
fn wait_final(rws: &Rws, call: &str, n: usize, limit: Duration) -> Value {
    wait_for(&format!("{n} final recording(s) of {call}"), limit, || {
        let r = resource(rws, call)?;
        let recs = r["screenRecordings"].as_array()?;
        let done = recs.len() >= n
            && recs.iter().all(|x| {
                ["completed", "partial", "failed"].contains(&x["state"].as_str().unwrap_or(""))
            });
        done.then_some(r)
    })
}

fn wait_state(rws: &Rws, call: &str, state: &str) -> Value {
    wait_for(
        &format!("a recording of {call} in state {state}"),
        Duration::from_secs(20),
        || {
            let r = resource(rws, call)?;
            r["screenRecordings"]
                .as_array()?
                .iter()
                .any(|x| x["state"] == state)
                .then_some(r)
        },
    )
}

fn rec_of<'a>(r: &'a Value, agent: &str) -> Vec<&'a Value> {
    r["screenRecordings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["agentId"] == agent)
        .collect()
}

fn media_of<'a>(r: &'a Value, recording_id: &str) -> Vec<&'a Value> {
    r["mediaFiles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["parameters"]["recordingId"] == recording_id)
        .collect()
}

fn secs_between(a: &str, b: &str) -> f64 {
    let p = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    };
    (p(b) - p(a)).as_seconds_f64()
}

const RED: u32 = 0xd02020;
const GREEN: u32 = 0x20c040;
const BLUE: u32 = 0x2040d0;

/// A tiny webhook receiver: every POST body, as JSON.
fn webhook_sink() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    webhook_sink_refusing(0)
}

/// A webhook receiver that answers 503 to its first `refuse` requests (and
/// keeps only the bodies it accepted), to see deliveries retried.
fn webhook_sink_refusing(refuse: usize) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        let mut refused = 0;
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let read = reader.read_exact(&mut body).is_ok();
            if refused < refuse {
                refused += 1;
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            if read && let Ok(v) = serde_json::from_slice::<Value>(&body) {
                sink.lock().unwrap().push(v);
            }
            let _ = reader.get_mut().write_all(
                b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (url, got)
}

/// Basic call on a real display: recorded while the call's recording runs,
/// streamed and stored within seconds of the release, decrypts and plays,
/// lasts as long as the call, shows what the screen showed; lifecycle
/// events reach webhooks and SSE; agents cannot play; spool is ciphertext.
#[test]
fn basic_call_is_recorded_uploaded_and_playable() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 320, 240);
    let painter = Painter::new(&x.display);
    painter.rect(0, 0, 320, 240, RED);
    let (hook, hooked) = webhook_sink();
    let rws = start_rws(dir.path(), &["--webhook", &hook]);
    let srs = start_srs(
        dir.path(),
        "srs",
        &rws,
        "agent1",
        "pw1",
        &["--display", &x.display],
    );

    // Server-sent events, read in the background from the moment RWS
    // answered the subscription.
    let events = sse(&rws.url, ("sup", "suppw"));

    voice(&rws, "b1", "call.established", "call-basic", "1001");
    let started = Instant::now();
    voice(&rws, "b2", "recording.started", "call-basic", "1001");
    wait_state(&rws, "call-basic", "recording");
    std::thread::sleep(Duration::from_millis(2500));

    // While recording: the spool holds ciphertext only.
    let spool = dir.path().join("srs-spool").join("rec");
    let rec_dir = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .next()
        .expect("a spooled recording")
        .path();
    let media = std::fs::read(rec_dir.join("stream-0.age")).unwrap();
    assert!(
        media.starts_with(b"age-encryption.org/v1"),
        "spool file is an age stream"
    );
    assert!(
        !media.windows(4).any(|w| w == b"ftyp" || w == b"mdat"),
        "no MP4 box in clear"
    );

    painter.rect(0, 0, 320, 240, GREEN);
    std::thread::sleep(Duration::from_millis(2500));
    let released = Instant::now();
    voice(&rws, "b3", "call.released", "call-basic", "1001");
    let span = released.duration_since(started).as_secs_f64();
    let r = wait_final(&rws, "call-basic", 1, Duration::from_secs(10));
    let took = released.elapsed();
    assert!(
        took <= Duration::from_secs(3),
        "completed {took:?} after call.released"
    );

    let rec = rec_of(&r, "agent1")[0];
    assert_eq!(rec["state"], "completed", "{r:#}");
    assert_eq!(rec["reason"], "call_released");
    assert_eq!(rec["connId"], "call-basic");
    let files = media_of(&r, rec["id"].as_str().unwrap());
    assert_eq!(files.len(), 1, "one monitor, one media file: {r:#}");
    let m = files[0];
    assert_eq!(m["type"], "video/mp4");
    assert_eq!(m["parameters"]["agentId"], "agent1");
    assert!(
        m["duration"].as_str().unwrap().parse::<u64>().is_ok(),
        "numbers as strings"
    );
    let out = dir.path().join("basic.mp4");
    rws.play_h264(m, &out, (320, 240));
    let d = duration(&out);
    assert!(
        (d - span).abs() <= 1.0,
        "media {d:.2} s, call recording span {span:.2} s"
    );
    let frames = decode_frames(&out, 32, 24);
    assert!(
        near(rgb(&frames[0], 32, 4, 4), [0xd0, 0x20, 0x20]),
        "first frame red"
    );
    assert!(
        near(rgb(frames.last().unwrap(), 32, 4, 4), [0x20, 0xc0, 0x40]),
        "last frame green"
    );

    // Range requests decrypt only what they cover, byte-exact.
    let uri = format!("{}{}", rws.url, m["mediaUri"].as_str().unwrap());
    let whole = std::fs::read(&out).unwrap();
    let mut h = vec![basic("sup", "suppw")];
    let (a, b) = (whole.len() / 3, 2 * whole.len() / 3);
    assert!(whole.len() > 1000, "{} bytes", whole.len());
    h.push(("Range".into(), format!("bytes={a}-{b}")));
    let part = http("GET", &uri, &h, None);
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes {a}-{b}/{}", whole.len()).as_str())
    );
    assert_eq!(part.bytes, whole[a..=b]);
    h[1].1 = format!("bytes={}-", whole.len() + 10);
    assert_eq!(http("GET", &uri, &h, None).status, 416);

    // Only admin and supervisor play; no credentials, no play.
    assert_eq!(
        http("GET", &uri, &[basic("agent1", "pw1")], None).status,
        403
    );
    assert_eq!(http("GET", &uri, &[], None).status, 401);
    assert_eq!(
        http(
            "GET",
            &format!("{}/api/v2/recordings/call-basic", rws.url),
            &[basic("agent1", "pw1")],
            None
        )
        .status,
        403
    );
    // The spool is emptied once RWS confirmed.
    wait_for("spool emptied", Duration::from_secs(5), || {
        (std::fs::read_dir(&spool).unwrap().count() == 0).then_some(())
    });

    // Lifecycle: every state reached the webhook and the SSE stream.
    let states = ["requested", "recording", "finalizing", "completed"];
    let hooked = wait_for("webhook deliveries", Duration::from_secs(10), || {
        let got = hooked.lock().unwrap().clone();
        (got.len() >= states.len()).then_some(got)
    });
    let seen: Vec<&str> = hooked.iter().filter_map(|v| v["state"].as_str()).collect();
    assert_eq!(seen, states, "{hooked:#?}");
    assert!(
        hooked
            .iter()
            .all(|v| v["recording_id"] == rec["id"] && v["call_id"] == "call-basic")
    );
    let sse = events.text();
    for s in states {
        assert!(
            sse.contains(&format!("\"state\":\"{s}\"")),
            "SSE lacks {s}: {sse}"
        );
    }
    drop(srs);
}

/// recording.paused/resumed blank the frames exactly over the paused span
/// and the timeline says so; the desktop can pause too (PCI), with CSRF.
#[test]
fn pause_blanks_frames_over_the_paused_span() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 320, 240);
    let painter = Painter::new(&x.display);
    painter.rect(0, 0, 320, 240, BLUE);
    let rws = start_rws(dir.path(), &[]);
    let srs = Srs::start(
        dir.path(),
        "srs",
        &["--server", &rws.url, "--display", &x.display],
    );
    let login = http(
        "GET",
        &format!("{}/api/v2/me", srs.url),
        &[
            basic("agent1", "pw1"),
            ("X-Support-CSRFP".into(), "true".into()),
        ],
        None,
    );
    assert_eq!(login.status, 200, "{}", login.text);
    let csrf = login
        .header("x-csrf-token")
        .expect("a CSRF token")
        .to_string();
    let cookie = login.cookie();

    voice(&rws, "p1", "recording.started", "call-pause", "1001");
    wait_state(&rws, "call-pause", "recording");
    std::thread::sleep(Duration::from_millis(2000));
    voice(&rws, "p2", "recording.paused", "call-pause", "1001");
    wait_state(&rws, "call-pause", "paused");
    std::thread::sleep(Duration::from_millis(2000));
    voice(&rws, "p3", "recording.resumed", "call-pause", "1001");
    wait_state(&rws, "call-pause", "recording");
    std::thread::sleep(Duration::from_millis(1500));

    // Desktop pause: refused without the CSRF token, applied with it.
    let url = format!("{}/api/v2/me/recording", srs.url);
    let body = json!({"operationName": "PauseScreenRecording"})
        .to_string()
        .into_bytes();
    let no_token = http(
        "POST",
        &url,
        &[
            cookie.clone(),
            ("Content-Type".into(), "application/json".into()),
        ],
        Some(body.clone()),
    );
    assert_eq!(no_token.status, 403, "{}", no_token.text);
    let with = |b: Vec<u8>| {
        http(
            "POST",
            &url,
            &[
                cookie.clone(),
                ("X-CSRF-Token".into(), csrf.clone()),
                ("Content-Type".into(), "application/json".into()),
            ],
            Some(b),
        )
    };
    let bad = with(json!({"operationName": "Dance"}).to_string().into_bytes());
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("PauseScreenRecording"), "{}", bad.text);
    let ok = with(body);
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json()["recording"], true);
    wait_state(&rws, "call-pause", "paused");
    std::thread::sleep(Duration::from_millis(1500));
    let ok = with(
        json!({"operationName": "ResumeScreenRecording"})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
    wait_state(&rws, "call-pause", "recording");
    std::thread::sleep(Duration::from_millis(1000));
    voice(&rws, "p4", "recording.stopped", "call-pause", "1001");
    let r = wait_final(&rws, "call-pause", 1, Duration::from_secs(10));
    let rec = rec_of(&r, "agent1")[0];
    assert_eq!(rec["state"], "completed", "{r:#}");
    assert_eq!(rec["reason"], "recording_stopped");
    let marks = rec["marks"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = marks
        .iter()
        .map(|m| (m["type"].as_str().unwrap(), m["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("paused", "recording_paused"),
            ("resumed", "recording_resumed"),
            ("paused", "desktop"),
            ("resumed", "desktop")
        ],
        "{marks:#?}"
    );
    let m = media_of(&r, rec["id"].as_str().unwrap())[0];
    let out = dir.path().join("pause.mp4");
    rws.play_media(m, &out);
    let start = m["startTime"].as_str().unwrap();
    let spans: Vec<(f64, f64)> = marks
        .chunks(2)
        .map(|p| {
            (
                secs_between(start, p[0]["time"].as_str().unwrap()),
                secs_between(start, p[1]["time"].as_str().unwrap()),
            )
        })
        .collect();
    let times = frame_times(&out);
    let frames = decode_frames(&out, 32, 24);
    assert_eq!(times.len(), frames.len());
    let blue = [0x20, 0x40, 0xd0];
    let mut checked = (0, 0);
    for (t, f) in times.iter().zip(&frames) {
        let is_blue = near(rgb(f, 32, 4, 4), blue);
        let inside = spans.iter().any(|(a, b)| *t > a + 0.3 && *t < b - 0.3);
        let outside = spans.iter().all(|(a, b)| *t < a - 0.3 || *t > b + 0.3);
        if inside {
            assert!(
                !is_blue,
                "frame at {t:.2} s is inside a pause {spans:?} but shows the screen"
            );
            checked.0 += 1;
        } else if outside {
            assert!(
                is_blue,
                "frame at {t:.2} s is outside the pauses {spans:?} but blanked"
            );
            checked.1 += 1;
        }
    }
    assert!(
        checked.0 >= 2 && checked.1 >= 3,
        "frames checked inside/outside pauses: {checked:?}"
    );
    drop(srs);
}

/// Two monitors: one media file each, with its geometry and its content.
#[test]
fn two_monitors_give_two_media_files() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 640, 240);
    x.run(
        "xrandr",
        &["--setmonitor", "LEFT", "320/85x240/64+0+0", "screen"],
    );
    x.run(
        "xrandr",
        &["--setmonitor", "RIGHT", "320/85x240/64+320+0", "none"],
    );
    let painter = Painter::new(&x.display);
    painter.rect(0, 0, 320, 240, RED);
    painter.rect(320, 0, 320, 240, GREEN);
    let rws = start_rws(dir.path(), &[]);
    let _srs = start_srs(
        dir.path(),
        "srs",
        &rws,
        "agent1",
        "pw1",
        &["--display", &x.display],
    );
    voice(&rws, "m1", "recording.started", "call-2mon", "1001");
    wait_state(&rws, "call-2mon", "recording");
    std::thread::sleep(Duration::from_millis(3000));
    voice(&rws, "m2", "call.released", "call-2mon", "1001");
    let r = wait_final(&rws, "call-2mon", 1, Duration::from_secs(10));
    assert_eq!(r["screenRecordings"][0]["state"], "completed", "{r:#}");
    let files = r["mediaFiles"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{r:#}");
    for (m, (x0, colour)) in files
        .iter()
        .zip([(0, [0xd0, 0x20, 0x20]), (320, [0x20, 0xc0, 0x40])])
    {
        let g = &m["parameters"]["monitorGeometry"];
        assert_eq!(
            (g["x"].as_i64(), g["width"].as_i64(), g["height"].as_i64()),
            (Some(x0), Some(320), Some(240)),
            "{m:#}"
        );
        let out = dir.path().join(format!("mon-{x0}.mp4"));
        rws.play_media(m, &out);
        let frames = decode_frames(&out, 32, 24);
        assert!(
            near(rgb(&frames[frames.len() / 2], 32, 4, 4), colour),
            "monitor at x={x0}"
        );
    }
}

const SYNTH: &[&str] = &["--source", "synthetic:320x240"];

/// Consultation and conference with two agents: one recording per agent,
/// mapped to the first call it recorded, every overlapping call linked with
/// its offsets; single-step transfer ends A's recording and starts B's.
#[test]
fn consultation_conference_and_transfer_map_recordings_to_calls() {
    let dir = tempdir();
    let rws = start_rws(dir.path(), &[]);
    let _a = start_srs(dir.path(), "srs-a", &rws, "agent1", "pw1", SYNTH);
    let _b = start_srs(dir.path(), "srs-b", &rws, "agent2", "pw2", SYNTH);

    // A takes call c1 (recorded), consults B on c2, then conferences B in.
    voice(&rws, "k1", "call.established", "c1", "1001");
    voice(&rws, "k2", "recording.started", "c1", "1001");
    wait_state(&rws, "c1", "recording");
    std::thread::sleep(Duration::from_millis(1000));
    voice(&rws, "k3", "call.established", "c2", "1001");
    voice(&rws, "k4", "call.established", "c2", "1002");
    voice(&rws, "k5", "recording.started", "c2", "1001");
    wait_for(
        "B recorded for the consultation",
        Duration::from_secs(10),
        || {
            let r = resource(&rws, "c2")?;
            (rec_of(&r, "agent2").first()?["state"] == "recording").then_some(())
        },
    );
    std::thread::sleep(Duration::from_millis(1000));
    voice(&rws, "k6", "call.conferenced", "c1", "1002");
    voice(&rws, "k7", "call.released", "c2", "1001");
    voice(&rws, "k8", "call.released", "c2", "1002");
    std::thread::sleep(Duration::from_millis(1000));
    voice(&rws, "k9", "call.released", "c1", "1002");
    voice(&rws, "k10", "call.released", "c1", "1001");
    let r1 = wait_final(&rws, "c1", 2, Duration::from_secs(15));
    let r2 = resource(&rws, "c2").unwrap();
    let a = rec_of(&r1, "agent1");
    let b = rec_of(&r1, "agent2");
    assert_eq!(
        (a.len(), b.len()),
        (1, 1),
        "one recording per agent: {r1:#}"
    );
    let (a, b) = (a[0], b[0]);
    assert_eq!(
        a["connId"], "c1",
        "A's recording is mapped to its first call"
    );
    assert_eq!(
        b["connId"], "c2",
        "B's recording is mapped to the consultation"
    );
    for rec in [a, b] {
        assert_eq!(rec["state"], "completed", "{rec:#}");
        let ids: Vec<&str> = rec["interactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"c1") && ids.contains(&"c2"), "{rec:#}");
        for i in rec["interactions"].as_array().unwrap() {
            let s: i64 = i["startOffset"].as_str().unwrap().parse().unwrap();
            let e: i64 = i["stopOffset"].as_str().unwrap().parse().unwrap();
            assert!(e >= s, "{i:#}");
        }
    }
    let c2_in_a = a["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "c2")
        .unwrap();
    assert!(
        c2_in_a["startOffset"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            >= 500,
        "c2 began after c1: {a:#}"
    );
    // Both recordings are found from either call.
    assert_eq!(rec_of(&r2, "agent1").len(), 1);
    assert_eq!(rec_of(&r2, "agent2").len(), 1);
    assert_eq!(r1["mediaFiles"].as_array().unwrap().len(), 2);

    // Single-step transfer A → B of call t1.
    voice(&rws, "t1", "call.established", "t1", "1001");
    voice(&rws, "t2", "recording.started", "t1", "1001");
    wait_state(&rws, "t1", "recording");
    std::thread::sleep(Duration::from_millis(1500));
    voice(&rws, "t3", "call.transferred", "t1", "1001");
    voice(&rws, "t4", "call.established", "t1", "1002");
    let r = wait_for(
        "A's recording ended, B's started",
        Duration::from_secs(10),
        || {
            let r = resource(&rws, "t1")?;
            let a = rec_of(&r, "agent1");
            let b = rec_of(&r, "agent2");
            (a.first()?["state"] == "completed" && b.first()?["state"] == "recording").then_some(r)
        },
    );
    assert_eq!(rec_of(&r, "agent1")[0]["reason"], "call_released");
    std::thread::sleep(Duration::from_millis(1500));
    voice(&rws, "t5", "call.released", "t1", "1002");
    let r = wait_final(&rws, "t1", 2, Duration::from_secs(10));
    for agent in ["agent1", "agent2"] {
        let recs = rec_of(&r, agent);
        assert_eq!(recs.len(), 1, "{r:#}");
        assert_eq!(recs[0]["state"], "completed");
        let m = media_of(&r, recs[0]["id"].as_str().unwrap());
        let d: f64 = m[0]["duration"].as_str().unwrap().parse::<f64>().unwrap() / 1000.0;
        assert!((1.0..4.0).contains(&d), "{agent}: {d} s");
    }
}

fn interaction(
    rws: &Rws,
    id: &str,
    kind: &str,
    interaction: &str,
    agent: &str,
    media: &str,
    queue: &str,
) {
    post_events(
        rws,
        json!({"id": id, "type": kind, "interaction_id": interaction, "agent": agent,
               "media": media, "queue": queue, "timestamp": now()}),
    );
}

/// Non-voice: the agent's recordingWhen decides; `off` never records; a
/// blended agent's chat is not recorded but their call is.
#[test]
fn non_voice_rules_decide_what_is_recorded() {
    let dir = tempdir();
    let rws = start_rws(dir.path(), &[]);
    let _c = start_srs(dir.path(), "srs-c", &rws, "chat1", "pwc1", SYNTH);
    let _b = start_srs(dir.path(), "srs-b", &rws, "blend1", "pwb1", SYNTH);
    let _q = start_srs(dir.path(), "srs-q", &rws, "quiet", "pwq", SYNTH);

    // chat1: media=chat, queue~Sales* → true for this one…
    interaction(
        &rws,
        "n1",
        "interaction.started",
        "chat-sales",
        "chat1",
        "chat",
        "Sales_EU",
    );
    wait_state(&rws, "chat-sales", "recording");
    std::thread::sleep(Duration::from_millis(1500));
    interaction(
        &rws,
        "n2",
        "interaction.ended",
        "chat-sales",
        "chat1",
        "chat",
        "Sales_EU",
    );
    let r = wait_final(&rws, "chat-sales", 1, Duration::from_secs(10));
    assert_eq!(r["screenRecordings"][0]["state"], "completed", "{r:#}");
    assert_eq!(r["screenRecordings"][0]["media"], "chat");
    // …false for these (queue, media).
    interaction(
        &rws,
        "n3",
        "interaction.started",
        "chat-support",
        "chat1",
        "chat",
        "Support",
    );
    interaction(
        &rws,
        "n4",
        "interaction.started",
        "mail-sales",
        "chat1",
        "email",
        "Sales_EU",
    );
    // blended: chat not recorded; quiet (off): call not recorded.
    interaction(
        &rws,
        "n5",
        "interaction.started",
        "chat-blend",
        "blend1",
        "chat",
        "Sales_EU",
    );
    voice(&rws, "n6", "recording.started", "call-quiet", "1003");
    // blended: the call is recorded.
    voice(&rws, "n7", "recording.started", "call-blend", "3002");
    wait_state(&rws, "call-blend", "recording");
    std::thread::sleep(Duration::from_millis(1000));
    for id in ["chat-support", "mail-sales", "chat-blend", "call-quiet"] {
        assert!(resource(&rws, id).is_none(), "{id} must not be recorded");
    }
    voice(&rws, "n8", "call.released", "call-blend", "3002");
    let r = wait_final(&rws, "call-blend", 1, Duration::from_secs(10));
    assert_eq!(r["screenRecordings"][0]["state"], "completed");
}

/// Duplicated and out-of-order events make one recording, not two.
#[test]
fn duplicate_and_out_of_order_events_make_one_recording() {
    let dir = tempdir();
    let rws = start_rws(dir.path(), &[]);
    let _s = start_srs(dir.path(), "srs", &rws, "agent1", "pw1", SYNTH);
    let t0 = time::OffsetDateTime::now_utc();
    let ts = |s: i64| {
        (t0 + time::Duration::milliseconds(s))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let ev = |id: &str, kind: &str, at: i64| json!({"id": id, "type": kind, "call_id": "call-dup", "dn": "1001", "switch": "SIP_Switch", "timestamp": ts(at)});
    // Recording started arrives before the establishment it follows, twice.
    post_events(
        &rws,
        json!([
            ev("d2", "recording.started", 100),
            ev("d1", "call.established", 0)
        ]),
    );
    post_events(
        &rws,
        json!([
            ev("d2", "recording.started", 100),
            ev("d1", "call.established", 0)
        ]),
    );
    // The same start under another id (a re-sent event) changes nothing either.
    post_events(&rws, json!([ev("d2-again", "recording.started", 100)]));
    wait_state(&rws, "call-dup", "recording");
    std::thread::sleep(Duration::from_millis(2000));
    let end = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    let _ = end;
    post_events(
        &rws,
        json!([
            ev("d3", "call.released", 2500),
            ev("d3", "call.released", 2500)
        ]),
    );
    let r = wait_final(&rws, "call-dup", 1, Duration::from_secs(10));
    post_events(&rws, json!([ev("d2-late", "recording.started", 200)]));
    std::thread::sleep(Duration::from_millis(500));
    let r2 = resource(&rws, "call-dup").unwrap();
    assert_eq!(r["screenRecordings"].as_array().unwrap().len(), 1, "{r:#}");
    assert_eq!(
        r2["screenRecordings"].as_array().unwrap().len(),
        1,
        "{r2:#}"
    );
    assert_eq!(r2["screenRecordings"][0]["state"], "completed");
}

/// kill -9 of SRS mid-call, then restart without a new login (the call
/// ended meanwhile): after `--resume-grace` nobody continued it, and the
/// recording arrives as `partial` (reason srs_restarted) missing at most
/// 2.5 s. (Continued after a login: `e2e/restart.rs`.)
#[test]
fn srs_killed_mid_call_gives_a_partial_recording() {
    let dir = tempdir();
    let rws = start_rws(dir.path(), &[]);
    let mut srs = start_srs(dir.path(), "srs", &rws, "agent1", "pw1", SYNTH);
    voice(&rws, "k1", "recording.started", "call-kill", "1001");
    wait_state(&rws, "call-kill", "recording");
    std::thread::sleep(Duration::from_millis(4500));
    let killed_at = time::OffsetDateTime::now_utc();
    srs.proc.kill9();
    voice(&rws, "k2", "call.released", "call-kill", "1001");
    std::thread::sleep(Duration::from_millis(1000));
    let _srs2 = Srs::start(
        dir.path(),
        "srs",
        &[
            "--server",
            &rws.url,
            "--source",
            "synthetic:320x240",
            "--resume-grace",
            "3",
        ],
    );
    let r = wait_final(&rws, "call-kill", 1, Duration::from_secs(20));
    let rec = &r["screenRecordings"][0];
    assert_eq!(rec["state"], "partial", "{r:#}");
    assert_eq!(rec["reason"], "srs_restarted");
    let m = &r["mediaFiles"][0];
    let out = dir.path().join("kill.mp4");
    rws.play_media(m, &out);
    let recorded_until = secs_between(
        m["startTime"].as_str().unwrap(),
        &killed_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    );
    let missing = recorded_until - duration(&out);
    assert!(
        missing <= 2.5,
        "{missing:.2} s missing (media {:.2} s)",
        duration(&out)
    );
    assert!(duration(&out) >= 2.0);
}

/// An SRS that dies for good mid-call: after `--orphan-after` of silence RWS
/// stores what arrived as `partial`, saying why, and it plays. The webhook
/// refuses its first two deliveries; they are retried and every state
/// arrives.
#[test]
fn srs_gone_for_good_ends_partial_after_the_orphan_timeout_and_webhooks_retry() {
    let dir = tempdir();
    let (hook, hooked) = webhook_sink_refusing(2);
    let rws = start_rws(dir.path(), &["--orphan-after", "10s", "--webhook", &hook]);
    let mut srs = start_srs(dir.path(), "srs", &rws, "agent1", "pw1", SYNTH);
    voice(&rws, "o1", "recording.started", "call-orphan", "1001");
    wait_state(&rws, "call-orphan", "recording");
    std::thread::sleep(Duration::from_millis(3500));
    srs.proc.kill9();
    voice(&rws, "o2", "call.released", "call-orphan", "1001");
    // 10 s of silence, then the sweep (every 30 s) gives up.
    let r = wait_final(&rws, "call-orphan", 1, Duration::from_secs(60));
    let rec = &r["screenRecordings"][0];
    assert_eq!(rec["state"], "partial", "{r:#}");
    assert!(
        rec["reason"].as_str().unwrap_or("").contains("silent"),
        "{r:#}"
    );
    let out = dir.path().join("orphan.mp4");
    rws.play_media(&r["mediaFiles"][0], &out);
    assert!(duration(&out) >= 1.0, "{} s kept", duration(&out));

    let states = ["requested", "recording", "finalizing", "partial"];
    let got = wait_for(
        "retried webhook deliveries",
        Duration::from_secs(15),
        || {
            let got = hooked.lock().unwrap().clone();
            let seen: Vec<String> = got
                .iter()
                .filter_map(|v| v["state"].as_str().map(str::to_string))
                .collect();
            states
                .iter()
                .all(|s| seen.iter().any(|x| x == s))
                .then_some(got)
        },
    );
    assert!(
        got.iter().all(|v| v["call_id"] == "call-orphan"),
        "{got:#?}"
    );
}

/// The desktop's polling: `/ping` every 2 s while the guard lives.
struct Pinger(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Pinger {
    fn start(srs: &Srs, user: &str, pass: &str) -> Pinger {
        let run = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = run.clone();
        let url = format!("{}/ping", srs.url);
        let auth = basic(user, pass);
        std::thread::spawn(move || {
            while flag.load(std::sync::atomic::Ordering::Relaxed) {
                http("GET", &url, std::slice::from_ref(&auth), None);
                std::thread::sleep(Duration::from_secs(2));
            }
        });
        Pinger(run)
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// RWS stopped for 60 s mid-call, then started again: the whole recording
/// arrives (the spool kept it), `completed`.
#[test]
fn rws_down_for_a_minute_loses_nothing() {
    let dir = tempdir();
    let mut rws = start_rws(dir.path(), &[]);
    let srs = start_srs(dir.path(), "srs", &rws, "agent1", "pw1", SYNTH);
    let _desktop = Pinger::start(&srs, "agent1", "pw1");
    voice(&rws, "r1", "recording.started", "call-down", "1001");
    let started = Instant::now();
    wait_state(&rws, "call-down", "recording");
    std::thread::sleep(Duration::from_millis(3000));
    rws.kill();
    std::thread::sleep(Duration::from_secs(60));
    rws.start_again("rws");
    rws.wait_sessions("SRS back on its session", |s| {
        s.iter().any(|x| x["state"] == "connected")
    });
    std::thread::sleep(Duration::from_millis(1000));
    let released = Instant::now();
    voice(&rws, "r2", "call.released", "call-down", "1001");
    let span = released.duration_since(started).as_secs_f64();
    let r = wait_final(&rws, "call-down", 1, Duration::from_secs(20));
    assert_eq!(r["screenRecordings"][0]["state"], "completed", "{r:#}");
    let out = dir.path().join("down.mp4");
    rws.play_media(&r["mediaFiles"][0], &out);
    let d = duration(&out);
    assert!(
        (d - span).abs() <= 1.5,
        "media {d:.1} s for a {span:.1} s call"
    );
}

/// The spool quota stops the recording cleanly with its reason; what was
/// recorded is uploaded (`partial`, reason spool_full).
#[test]
fn spool_quota_stops_the_recording_with_its_reason() {
    let dir = tempdir();
    let rws = start_rws(dir.path(), &[]);
    let _srs = start_srs(
        dir.path(),
        "srs",
        &rws,
        "agent1",
        "pw1",
        &["--source", "synthetic:1280x720", "--spool-quota", "64KiB"],
    );
    voice(&rws, "q1", "recording.started", "call-quota", "1001");
    let r = wait_final(&rws, "call-quota", 1, Duration::from_secs(60));
    let rec = &r["screenRecordings"][0];
    assert_eq!(rec["state"], "partial", "{r:#}");
    assert_eq!(rec["reason"], "spool_full");
    let out = dir.path().join("quota.mp4");
    rws.play_media(&r["mediaFiles"][0], &out);
    assert!(duration(&out) > 0.5);
}

/// Logout and ping timeout mid-call stop the recording with that reason;
/// what was recorded is complete.
#[test]
fn logout_and_ping_timeout_stop_with_their_reason() {
    let dir = tempdir();
    let rws = start_rws(dir.path(), &[]);
    let a = start_srs(dir.path(), "srs-a", &rws, "agent1", "pw1", SYNTH);
    let mut extra = SYNTH.to_vec();
    extra.extend(["--ping-timeout", "4"]);
    let _b = start_srs(dir.path(), "srs-b", &rws, "agent2", "pw2", &extra);
    voice(&rws, "l1", "recording.started", "call-logout", "1001");
    voice(&rws, "l2", "recording.started", "call-ping", "1002");
    wait_state(&rws, "call-logout", "recording");
    std::thread::sleep(Duration::from_millis(2500));
    let logout = http(
        "POST",
        &format!("{}/api/v2/me", a.url),
        &[
            basic("agent1", "pw1"),
            ("Content-Type".into(), "application/json".into()),
        ],
        Some(b"{\"operationName\": \"EndContactCenterSession\"}".to_vec()),
    );
    assert_eq!(logout.status, 200, "{}", logout.text);
    let r = wait_final(&rws, "call-logout", 1, Duration::from_secs(10));
    assert_eq!(r["screenRecordings"][0]["state"], "completed", "{r:#}");
    assert_eq!(r["screenRecordings"][0]["reason"], "logout");
    let d: f64 = r["mediaFiles"][0]["duration"]
        .as_str()
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 1000.0;
    assert!(d >= 2.0, "{d}");
    // agent2's desktop never pings: after 4 s the recording stops.
    let r = wait_final(&rws, "call-ping", 1, Duration::from_secs(15));
    assert_eq!(r["screenRecordings"][0]["state"], "completed", "{r:#}");
    assert_eq!(r["screenRecordings"][0]["reason"], "ping_timeout");
}

/// The maximum duration stops a recording that runs too long.
#[test]
fn max_duration_stops_a_long_recording() {
    let dir = tempdir();
    let rws = start_rws(dir.path(), &["--max-recording-duration", "3s"]);
    let _s = start_srs(dir.path(), "srs", &rws, "agent1", "pw1", SYNTH);
    voice(&rws, "x1", "recording.started", "call-long", "1001");
    let r = wait_final(&rws, "call-long", 1, Duration::from_secs(20));
    let rec = &r["screenRecordings"][0];
    assert_eq!(rec["state"], "completed", "{r:#}");
    assert_eq!(rec["reason"], "max_duration");
    let d: f64 = r["mediaFiles"][0]["duration"]
        .as_str()
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 1000.0;
    assert!((2.0..5.0).contains(&d), "{d} s for a 3 s maximum");
}

/// `screenrec sim` plays its scenarios against a real RWS: a single-step
/// transfer gives A's and B's recordings, a chat is recorded for a
/// non-voice agent; bad flags name themselves.
#[test]
fn sim_plays_scenarios_that_become_recordings() {
    let dir = tempdir();
    let rws = start_rws(dir.path(), &[]);
    let _a = start_srs(dir.path(), "srs-a", &rws, "agent1", "pw1", SYNTH);
    let _b = start_srs(dir.path(), "srs-b", &rws, "agent2", "pw2", SYNTH);
    let _c = start_srs(dir.path(), "srs-c", &rws, "chat1", "pwc1", SYNTH);
    let sim = |args: &[&str]| {
        std::process::Command::new(crate::util::bin())
            .args(["sim", "--rws", &rws.url, "--token", INTEGRATION_TOKEN])
            .args(args)
            .output()
            .unwrap()
    };
    let out = sim(&["--scenario", "transfer", "--id", "sim-t", "--length", "4s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("call.transferred") && printed.contains("done: sim-t"),
        "{printed}"
    );
    let r = wait_final(&rws, "sim-t", 2, Duration::from_secs(15));
    assert_eq!(rec_of(&r, "agent1")[0]["state"], "completed", "{r:#}");
    assert_eq!(rec_of(&r, "agent2")[0]["state"], "completed", "{r:#}");
    let out = sim(&[
        "--scenario",
        "chat",
        "--agent",
        "chat1",
        "--queue",
        "Sales_US",
        "--id",
        "sim-c",
        "--length",
        "3s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = wait_final(&rws, "sim-c", 1, Duration::from_secs(15));
    assert_eq!(r["screenRecordings"][0]["media"], "chat");
    let bad = sim(&["--scenario", "dance"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--scenario"));
    let short = sim(&["--length", "1s"]);
    assert!(String::from_utf8_lossy(&short.stderr).contains("--length"));
}

/// RWS over HTTPS (`--tls-cert`/`--tls-key`) with a private certificate: an
/// SRS that trusts it through `--rws-ca` logs in, records and uploads over
/// TLS (control channel `wss://`, tus `https://`); an SRS that does not is
/// refused with a message about the certificate; unreadable certificate
/// files stop RWS naming the flags.
#[test]
fn rws_over_https_with_a_private_certificate() {
    let dir = tempdir();
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = dir.path().join("rws-cert.pem");
    let key = dir.path().join("rws-key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());

    let bad = std::process::Command::new(crate::util::bin())
        .args(["rws", "--data-dir"])
        .arg(dir.path().join("bad"))
        .args(["--tls-cert", "/nonexistent.pem", "--tls-key", &key])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("--tls-cert /nonexistent.pem"), "{said}");

    // An --rws-ca that is missing, or holds no certificate, stops SRS naming the flag.
    let no_cert = dir.path().join("empty.pem");
    std::fs::write(&no_cert, "not a certificate\n").unwrap();
    for ca in [std::path::Path::new("/nonexistent.pem"), no_cert.as_path()] {
        let out = std::process::Command::new(crate::util::bin())
            .args(["srs", "--listen", "127.0.0.1:0", "--spool"])
            .arg(dir.path().join("bad-spool"))
            .arg("--rws-ca")
            .arg(ca)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains(&format!("--rws-ca {}", ca.display())),
            "{said}"
        );
    }

    let rws = start_rws(dir.path(), &["--tls-cert", &cert, "--tls-key", &key]);
    assert!(rws.url.starts_with("https://"));

    let untrusting = Srs::start(dir.path(), "srs-untrusting", &["--server", &rws.url]);
    let r = untrusting.login("agent1", "pw1");
    assert_ne!(r.status, 200, "{}", r.text);
    assert!(r.text.to_lowercase().contains("certificate"), "{}", r.text);
    drop(untrusting);

    let mut extra = SYNTH.to_vec();
    extra.extend(["--rws-ca", &cert]);
    let _srs = start_srs(dir.path(), "srs", &rws, "agent1", "pw1", &extra);
    voice(&rws, "t1", "recording.started", "call-tls", "1001");
    wait_state(&rws, "call-tls", "recording");
    std::thread::sleep(Duration::from_millis(2000));
    voice(&rws, "t2", "call.released", "call-tls", "1001");
    let r = wait_final(&rws, "call-tls", 1, Duration::from_secs(15));
    assert_eq!(r["screenRecordings"][0]["state"], "completed", "{r:#}");
    let out = dir.path().join("tls.mp4");
    rws.play_media(&r["mediaFiles"][0], &out);
    assert!(duration(&out) >= 1.0);
}
