//! Issue 14 part 1: live screen view, `GET /api/v2/live/{agent}?monitor=N`.
//!
//! Real `screenrec rws` and `screenrec srs` (synthetic screen) processes:
//! a supervisor of the agent's group watches during a call; the streamed
//! bytes are fMP4 (init, then fragments from a keyframe) that ffmpeg
//! decodes, each fragment arrives ≤ 4 s after the agent's screen showed
//! it (the fragment's media end against the stream's wall-clock start),
//! fragments are 1 s while watched, the agent is told (`watched`), and the
//! audit log has the view with its start and end. Hostile side: another
//! group's supervisor, the agent, anonymous, a bad or huge monitor number,
//! an unknown agent, no recording (409), and a flood of viewers (429).

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::fixture::{Rws, Srs, TWO_GROUPS, assert_envelope, basic, get_as, http, write_directory};
use crate::util::{decodes_cleanly, files_under, frame_times, tempdir, wait_for};

/// The latency target: the viewer sees the agent's screen at most this late.
const LATENCY: Duration = Duration::from_secs(4);

pub(crate) fn live_url(rws: &Rws, agent: &str, query: &str) -> String {
    format!("{}/api/v2/live/{agent}{query}", rws.url)
}

/// One fragment as the viewer got it.
struct Arrival {
    at: SystemTime,
    /// Media time at the fragment's end.
    end: Duration,
    start_keyframe: bool,
    len: usize,
}

/// What a viewer received.
struct Watched {
    status: u16,
    content_type: String,
    bytes: Vec<u8>,
    fragments: Vec<Arrival>,
    /// The server ended the stream (rather than the viewer leaving).
    ended_by_server: bool,
}

/// Top-level MP4 boxes complete in `buf` from `from`: (type, start, end).
fn boxes(buf: &[u8], mut from: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    while from + 8 <= buf.len() {
        let size = u32::from_be_bytes(buf[from..from + 4].try_into().unwrap()) as usize;
        assert!(size >= 8, "box of size {size} at {from}");
        if from + size > buf.len() {
            break;
        }
        out.push((
            buf[from + 4..from + 8].try_into().unwrap(),
            from,
            from + size,
        ));
        from += size;
    }
    out
}

/// Watches `agent` as `who` for at most `limit` (or until the server ends
/// the stream), noting when each fragment (moof + mdat) completed.
fn watch(rws: &Rws, who: (&str, &str), agent: &str, limit: Duration) -> Watched {
    let url = live_url(rws, agent, "?monitor=0");
    let auth = basic(who.0, who.1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let mut resp = client
            .get(&url)
            .header(auth.0, auth.1)
            .send()
            .await
            .expect("live request");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut w = Watched {
            status,
            content_type,
            bytes: Vec::new(),
            fragments: Vec::new(),
            ended_by_server: false,
        };
        if status != 200 {
            w.bytes = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            return w;
        }
        let deadline = tokio::time::Instant::now() + limit;
        let mut parsed = 0;
        let mut moof: Option<usize> = None;
        loop {
            let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
                Err(_) => break, // the viewer leaves
                Ok(Ok(Some(c))) => c,
                Ok(Ok(None)) => {
                    w.ended_by_server = true;
                    break;
                }
                Ok(Err(e)) => panic!("live stream failed: {e}"),
            };
            let at = SystemTime::now();
            w.bytes.extend_from_slice(&chunk);
            for (kind, start, end) in boxes(&w.bytes, parsed) {
                parsed = end;
                match &kind {
                    b"moof" => moof = Some(start),
                    b"mdat" => {
                        let from = moof.take().expect("an mdat after its moof");
                        let frag = &w.bytes[from..end];
                        w.fragments.push(Arrival {
                            at,
                            end: media::fmp4::fragment_end(frag).expect("a fragment"),
                            start_keyframe: media::fmp4::fragment_starts_with_keyframe(frag)
                                == Some(true),
                            len: frag.len(),
                        });
                    }
                    _ => {}
                }
            }
        }
        w
    })
}

fn parse_time(s: &str) -> SystemTime {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s:?}: {e}"));
    SystemTime::UNIX_EPOCH + Duration::from_nanos(t.unix_timestamp_nanos() as u64)
}

/// The GIR resource's first media file of `call` (its `startTime` is SRS's
/// wall clock at media time zero).
pub(crate) fn media_start(rws: &Rws, call: &str) -> SystemTime {
    let v = wait_for("a media file", Duration::from_secs(20), || {
        let r = get_as(
            rws,
            ("admin", "adminpw"),
            &format!("/api/v2/recordings/{call}"),
        );
        let v = r.json();
        let m = v["mediaFiles"][0]["startTime"].clone();
        m.is_string().then_some(m)
    });
    parse_time(v.as_str().unwrap())
}

pub(crate) fn audit(rws: &Rws, action: &str) -> Vec<Value> {
    let r = get_as(
        rws,
        ("admin", "adminpw"),
        &format!("/api/v2/audit?action={action}"),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["entries"].as_array().cloned().unwrap_or_default()
}

fn notice(srs: &Srs) -> Value {
    let r = http(
        "GET",
        &format!("{}/api/v2/me/recording", srs.url),
        &[basic("agent1", "pw1")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

#[test]
fn live_view_streams_fmp4_within_the_latency_target_and_is_audited() {
    let dir = tempdir();
    write_directory(dir.path(), &format!("live_notice = true\n{TWO_GROUPS}"));
    let rws = Rws::start(dir.path(), "rws");
    let srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));

    // No recording yet: 409, saying why.
    let r = http(
        "GET",
        &live_url(&rws, "agent1", ""),
        &[basic("supa", "pwa")],
        None,
    );
    assert_envelope(&r, 409, "not recorded");
    assert!(r.text.contains("not being recorded"), "{}", r.text);

    rws.call_event("l1", "recording.started", "call-live", "1001");
    let started = media_start(&rws, "call-live");

    // Watch for 12 s as agent1's supervisor.
    let watching = std::thread::scope(|s| {
        let viewer = s.spawn(|| watch(&rws, ("supa", "pwa"), "agent1", Duration::from_secs(12)));
        // While watched, the agent is told (live_notice = true).
        let told = wait_for("notice watched", Duration::from_secs(8), || {
            let v = notice(&srs);
            (v["watched"] == true).then_some(v)
        });
        assert_eq!(told["state"], "recording", "{told}");
        viewer.join().unwrap()
    });
    assert_eq!(
        watching.status,
        200,
        "{}",
        String::from_utf8_lossy(&watching.bytes)
    );
    assert_eq!(watching.content_type, "video/mp4");
    assert!(!watching.ended_by_server, "the call still runs");
    let top: Vec<[u8; 4]> = boxes(&watching.bytes, 0).iter().map(|b| b.0).collect();
    assert_eq!(&top[..2], &[*b"ftyp", *b"moov"], "init segment first");
    let frags = &watching.fragments;
    assert!(frags.len() >= 8, "{} fragments in 12 s", frags.len());
    assert!(frags[0].start_keyframe, "the viewer starts at a keyframe");
    // The fragments that were already there when the viewer came (the
    // backlog from the last keyframe) arrive together at once; every one
    // after them arrives within the latency target of its end on the
    // agent's screen.
    let t0 = frags[0].at;
    let fresh: Vec<&Arrival> = frags
        .iter()
        .filter(|f| f.at.duration_since(t0).unwrap_or_default() > Duration::from_millis(500))
        .collect();
    assert!(
        fresh.len() >= 6,
        "{} fragments after the backlog",
        fresh.len()
    );
    // Two figures: from the fragment's end (its last frame's time is
    // known once the next frame comes: the fragment's cut), and from its
    // start (its first frame, the one that waited longest on the agent PC;
    // fragments are contiguous, so a fragment starts where the one before
    // it ended).
    let (mut worst, mut worst_first) = (Duration::ZERO, Duration::ZERO);
    for w in frags.windows(2) {
        let (prev, f) = (&w[0], &w[1]);
        if !fresh.iter().any(|x| std::ptr::eq(*x, f)) {
            continue;
        }
        let late = |media: Duration| f.at.duration_since(started + media).unwrap_or_default();
        worst = worst.max(late(f.end));
        worst_first = worst_first.max(late(prev.end));
    }
    eprintln!(
        "live view: {} fragments ({} after the backlog), worst lag after the cut {:.2} s, \
         of a fragment's first frame {:.2} s, sizes {:?}",
        frags.len(),
        fresh.len(),
        worst.as_secs_f64(),
        worst_first.as_secs_f64(),
        frags.iter().map(|f| f.len).collect::<Vec<_>>()
    );
    assert!(
        worst <= LATENCY,
        "a fragment arrived {worst:?} after its end"
    );
    assert!(
        worst_first <= LATENCY,
        "a fragment's first frame arrived {worst_first:?} after it was on the screen"
    );
    // Once SRS switched (within a second or two of the first viewer),
    // fragments are about 1 s (SRS's normal ones are 2 s).
    let settled: Vec<&&Arrival> = fresh
        .iter()
        .filter(|f| f.at.duration_since(t0).unwrap_or_default() > Duration::from_secs(3))
        .collect();
    let spans: Vec<f64> = settled
        .windows(2)
        .map(|w| (w[1].end.saturating_sub(w[0].end)).as_secs_f64())
        .collect();
    assert!(spans.len() >= 4, "{spans:?}");
    assert!(
        spans.iter().all(|s| *s <= 1.5),
        "fragment lengths while watched: {spans:?}"
    );
    // ffmpeg decodes what was streamed, and its frames move on in time.
    let file = dir.path().join("live.mp4");
    std::fs::write(&file, &watching.bytes).unwrap();
    assert!(decodes_cleanly(&file), "ffmpeg decodes the live stream");
    let times = frame_times(&file);
    assert!(times.len() >= 20, "{} frames", times.len());
    let span = times.last().unwrap() - times.first().unwrap();
    assert!(span >= 8.0, "the stream covers {span:.1} s of 12");

    // The viewer left: SRS is told (no longer `watched`), and the audit
    // log has the view with who, whom, from where, from and to.
    wait_for("notice not watched", Duration::from_secs(10), || {
        notice(&srs).get("watched").is_none().then_some(())
    });
    let start = audit(&rws, "live_view");
    let row = start
        .iter()
        .find(|e| e["user"] == "supa" && e["target"] == "agent1")
        .unwrap_or_else(|| panic!("no live_view row: {start:?}"));
    assert!(
        row["detail"].as_str().unwrap().contains("monitor 0"),
        "{row}"
    );
    assert_eq!(row["remote"], "127.0.0.1", "{row}");
    let end = wait_for("live_view_end", Duration::from_secs(10), || {
        audit(&rws, "live_view_end")
            .into_iter()
            .find(|e| e["user"] == "supa" && e["target"] == "agent1")
    });
    let detail = end["detail"].as_str().unwrap();
    assert!(
        detail.contains(" from ") && detail.contains(" to "),
        "{end}"
    );

    // A viewer during the end of the call: the stream ends by itself.
    let t = Instant::now();
    let ending = std::thread::scope(|s| {
        let viewer = s.spawn(|| {
            watch(
                &rws,
                ("admin", "adminpw"),
                "agent1",
                Duration::from_secs(40),
            )
        });
        std::thread::sleep(Duration::from_secs(3));
        rws.call_event("l2", "call.released", "call-live", "1001");
        viewer.join().unwrap()
    });
    assert_eq!(ending.status, 200);
    assert!(
        ending.ended_by_server,
        "the stream ends with the recording ({:?})",
        t.elapsed()
    );
    assert!(!ending.fragments.is_empty());
    // After the recording: 409 again.
    let r = http(
        "GET",
        &live_url(&rws, "agent1", ""),
        &[basic("supa", "pwa")],
        None,
    );
    assert_envelope(&r, 409, "after the call");
}

#[test]
fn hostile_live_view_is_refused_in_the_envelope() {
    let dir = tempdir();
    write_directory(dir.path(), TWO_GROUPS);
    let rws = Rws::start(dir.path(), "rws");
    let _srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    rws.call_event("h1", "recording.started", "call-hostile", "1001");
    media_start(&rws, "call-hostile");

    let get = |who: Option<(&str, &str)>, agent: &str, query: &str| {
        let headers: Vec<(String, String)> = who.map(|(u, p)| basic(u, p)).into_iter().collect();
        http("GET", &live_url(&rws, agent, query), &headers, None)
    };
    // The supervisor of another group, the agent themself, anonymous.
    let r = get(Some(("supb", "pwb")), "agent1", "");
    assert_envelope(&r, 403, "another group's supervisor");
    assert!(r.text.contains("do not supervise"), "{}", r.text);
    assert_envelope(
        &get(Some(("agent1", "pw1")), "agent1", ""),
        403,
        "the agent",
    );
    assert_envelope(
        &get(Some(("agent2", "pw2")), "agent1", ""),
        403,
        "another agent",
    );
    assert_eq!(get(None, "agent1", "").status, 401, "anonymous");
    // Bad monitors: not a number, huge, one the recording does not have.
    assert_envelope(
        &get(Some(("supa", "pwa")), "agent1", "?monitor=x"),
        400,
        "monitor=x",
    );
    assert_envelope(
        &get(Some(("supa", "pwa")), "agent1", "?monitor=99999999999"),
        400,
        "monitor=huge",
    );
    assert_envelope(
        &get(Some(("supa", "pwa")), "agent1", "?monitor=64"),
        400,
        "monitor=64",
    );
    assert_envelope(
        &get(Some(("supa", "pwa")), "agent1", "?monitor=1"),
        404,
        "monitor 1",
    );
    assert_envelope(
        &get(Some(("admin", "adminpw")), "nobody", ""),
        404,
        "unknown agent",
    );
    // supb may not even learn whether an agent exists outside their groups.
    assert_envelope(
        &get(Some(("supb", "pwb")), "nobody", ""),
        403,
        "unknown, other group",
    );
    // An agent not being recorded.
    assert_envelope(
        &get(Some(("supb", "pwb")), "agent2", ""),
        409,
        "agent2 idle",
    );
    // Refusals are not audited as views.
    let r = get_as(&rws, ("admin", "adminpw"), "/api/v2/audit?action=live_view");
    assert_eq!(
        r.json()["entries"].as_array().map(Vec::len),
        Some(0),
        "{}",
        r.text
    );

    // A flood: at most 8 viewers of one recording, the 9th gets 429; they
    // are counted down when they leave.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let url = live_url(&rws, "agent1", "");
        let (k, v) = basic("supa", "pwa");
        let mut open = Vec::new();
        for _ in 0..8 {
            let r = client.get(&url).header(&k, &v).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
            open.push(r);
        }
        let r = client.get(&url).header(&k, &v).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 429);
        let body: Value = r.json().await.unwrap();
        assert!(
            body["statusMessage"]
                .as_str()
                .unwrap()
                .contains("8 live viewers"),
            "{body}"
        );
        drop(open);
        // The server notices the viewers left at its next write (≤ 1 s of
        // fragments); a new viewer is then let in.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = client.get(&url).header(&k, &v).send().await.unwrap();
            if r.status().as_u16() == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "viewers were never counted down");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
}

/// `live_view = "always"`: watching agent1, who is not being recorded,
/// starts an on-demand preview. The stream is fMP4 that ffmpeg decodes,
/// 1 s fragments arriving within the latency target (an upper bound: the
/// capture started after the request, so a fragment's media end is on
/// the screen no earlier than request + end), the agent is told, the view
/// is audited; afterwards nothing is stored: no recording in search, no
/// media object, no staging on RWS, no new file in SRS's spool.
#[test]
fn live_always_previews_an_unrecorded_agent_and_stores_nothing() {
    let dir = tempdir();
    write_directory(
        dir.path(),
        &format!("live_view = \"always\"\nlive_notice = true\n{TWO_GROUPS}"),
    );
    let rws = Rws::start(dir.path(), "rws");
    let srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    let spool = dir.path().join("srs-spool");
    let spool_before = files_under(&spool);

    let asked = SystemTime::now();
    let watching = std::thread::scope(|s| {
        let viewer = s.spawn(|| watch(&rws, ("supa", "pwa"), "agent1", Duration::from_secs(10)));
        let told = wait_for("notice watched", Duration::from_secs(10), || {
            let v = notice(&srs);
            (v["watched"] == true).then_some(v)
        });
        assert_eq!(told["state"], "idle", "not recorded: {told}");
        viewer.join().unwrap()
    });
    assert_eq!(
        watching.status,
        200,
        "{}",
        String::from_utf8_lossy(&watching.bytes)
    );
    assert_eq!(watching.content_type, "video/mp4");
    let top: Vec<[u8; 4]> = boxes(&watching.bytes, 0).iter().map(|b| b.0).collect();
    assert_eq!(&top[..2], &[*b"ftyp", *b"moov"], "init segment first");
    let frags = &watching.fragments;
    assert!(frags.len() >= 5, "{} fragments in 10 s", frags.len());
    assert!(frags[0].start_keyframe, "the viewer starts at a keyframe");
    // Lag of a fragment's cut (its end) and of its first frame (where the
    // fragment before it ended), as in the recorded case.
    let (mut worst, mut worst_first) = (Duration::ZERO, Duration::ZERO);
    for w in frags.windows(2) {
        let late = |media: Duration| w[1].at.duration_since(asked + media).unwrap_or_default();
        worst = worst.max(late(w[1].end));
        worst_first = worst_first.max(late(w[0].end));
    }
    let spans: Vec<f64> = frags
        .windows(2)
        .map(|w| w[1].end.saturating_sub(w[0].end).as_secs_f64())
        .collect();
    eprintln!(
        "live preview: {} fragments, worst lag after the cut ≤ {:.2} s, of a fragment's \
         first frame ≤ {:.2} s, spans {spans:?}",
        frags.len(),
        worst.as_secs_f64(),
        worst_first.as_secs_f64()
    );
    assert!(
        worst <= LATENCY,
        "a fragment arrived {worst:?} after its end"
    );
    assert!(
        worst_first <= LATENCY,
        "a fragment's first frame arrived {worst_first:?} after it was on the screen"
    );
    assert!(
        spans.iter().all(|s| *s <= 1.5),
        "1 s fragments in a preview: {spans:?}"
    );
    let file = dir.path().join("preview.mp4");
    std::fs::write(&file, &watching.bytes).unwrap();
    assert!(decodes_cleanly(&file), "ffmpeg decodes the preview");
    let times = frame_times(&file);
    assert!(times.len() >= 10, "{} frames", times.len());

    // The viewer left: the preview ends, the agent is no longer told.
    wait_for("notice not watched", Duration::from_secs(10), || {
        notice(&srs).get("watched").is_none().then_some(())
    });
    let start = audit(&rws, "live_view");
    let row = start
        .iter()
        .find(|e| e["user"] == "supa" && e["target"] == "agent1")
        .unwrap_or_else(|| panic!("no live_view row: {start:?}"));
    let detail = row["detail"].as_str().unwrap();
    assert!(
        detail.contains("preview") && detail.contains("monitor 0"),
        "{row}"
    );
    assert_eq!(row["remote"], "127.0.0.1", "{row}");
    let end = wait_for("live_view_end", Duration::from_secs(10), || {
        audit(&rws, "live_view_end")
            .into_iter()
            .find(|e| e["user"] == "supa" && e["target"] == "agent1")
    });
    let detail = end["detail"].as_str().unwrap();
    assert!(
        detail.contains("preview") && detail.contains(" from ") && detail.contains(" to "),
        "{end}"
    );

    // Nothing stored.
    let r = get_as(
        &rws,
        ("admin", "adminpw"),
        "/api/v2/recordings?agent=agent1",
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(
        v["recordings"].as_array().map(Vec::len),
        Some(0),
        "no recording for a preview: {v}"
    );
    assert!(
        rws.media_objects().is_empty(),
        "no media object: {:?}",
        rws.media_objects()
    );
    assert!(
        files_under(&dir.path().join("rws").join("uploads")).is_empty(),
        "no staging on RWS"
    );
    assert_eq!(
        files_under(&spool),
        spool_before,
        "the preview left nothing in SRS's spool"
    );
}

/// `live_view = "always"`, hostile and racing: another group's supervisor
/// gets 403 and starts nothing; a segment PUT for an unknown preview is
/// 404 and with a wrong token 401; the loopback API cannot start a
/// preview; a call starting during a preview ends the preview's stream
/// and records normally (its media decodes), and search lists only it.
#[test]
fn live_always_hostile_and_a_call_during_a_preview_records_normally() {
    let dir = tempdir();
    write_directory(
        dir.path(),
        &format!("live_view = \"always\"\nlive_notice = true\n{TWO_GROUPS}"),
    );
    let rws = Rws::start(dir.path(), "rws");
    let srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));

    let r = http(
        "GET",
        &live_url(&rws, "agent1", ""),
        &[basic("supb", "pwb")],
        None,
    );
    assert_envelope(&r, 403, "another group's supervisor");
    assert!(audit(&rws, "live_view").is_empty(), "a refusal is no view");
    assert!(notice(&srs).get("watched").is_none(), "nothing started");
    // agent2 has no SRS: 409, saying so.
    let r = http(
        "GET",
        &live_url(&rws, "agent2", ""),
        &[basic("supb", "pwb")],
        None,
    );
    assert_envelope(&r, 409, "agent2 without SRS");
    // A page on the agent PC cannot ask SRS for a preview.
    for path in ["/api/v2/preview", "/api/v2/me/preview", "/api/v2/live"] {
        let r = http(
            "POST",
            &format!("{}{path}", srs.url),
            &[basic("agent1", "pw1")],
            Some("{}".into()),
        );
        assert!(
            r.status == 404 || r.status == 405,
            "{path}: {} {}",
            r.status,
            r.text
        );
    }
    // Segments for a preview that does not run.
    let put = |url: &str, token: &str| {
        http(
            "PUT",
            url,
            &[("Authorization".into(), format!("Bearer {token}"))],
            Some("age-encryption.org/v1\n".into()),
        )
    };
    let r = put(
        &format!(
            "{}/api/v2/srs/previews/00000000-0000-4000-8000-000000000000/0/0",
            rws.url
        ),
        "x",
    );
    assert_envelope(&r, 404, "unknown preview");

    // A preview runs; meanwhile a wrong token is refused and a call starts.
    let watching = std::thread::scope(|s| {
        let viewer = s.spawn(|| {
            watch(
                &rws,
                ("admin", "adminpw"),
                "agent1",
                Duration::from_secs(40),
            )
        });
        let row = wait_for("the preview's audit row", Duration::from_secs(20), || {
            audit(&rws, "live_view").into_iter().next()
        });
        let detail = row["detail"].as_str().unwrap().to_string();
        let id = detail
            .strip_prefix("preview ")
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("{detail}"))
            .to_string();
        let r = put(
            &format!("{}/api/v2/srs/previews/{id}/0/999", rws.url),
            "not-the-token",
        );
        assert_envelope(&r, 401, "wrong preview token");
        rws.call_event("p1", "recording.started", "call-during", "1001");
        viewer.join().unwrap()
    });
    assert_eq!(watching.status, 200);
    assert!(
        watching.ended_by_server,
        "the preview's stream ends when the call starts"
    );
    assert!(!watching.fragments.is_empty());
    // The call records normally.
    media_start(&rws, "call-during");
    std::thread::sleep(Duration::from_secs(3));
    rws.call_event("p2", "call.released", "call-during", "1001");
    let v = wait_for("the recording completes", Duration::from_secs(30), || {
        let r = get_as(&rws, ("admin", "adminpw"), "/api/v2/recordings/call-during");
        let v = r.json();
        let state = v["screenRecordings"][0]["state"].clone();
        (state == "completed" || state == "partial" || state == "failed").then_some(v)
    });
    assert_eq!(v["screenRecordings"][0]["state"], "completed", "{v}");
    assert!(
        !rws.media_objects().is_empty(),
        "the call's media is stored"
    );
    let r = get_as(
        &rws,
        ("admin", "adminpw"),
        "/api/v2/recordings?agent=agent1",
    );
    let calls: Vec<String> = r.json()["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["callId"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(calls, ["call-during"], "search lists the call only");
}
