//! Issue 13 part 4, "restarts keep the call": real RWS and SRS processes
//! recording an Xvfb display; SRS is stopped mid-call with SIGTERM (an
//! upgrade, a service restart) or killed with `kill -9`, then started
//! again on the same spool and the agent's desktop logs in again. The
//! recording must go on as the *same* recording (a new media file after
//! the restart), with the restart's span marked `gap` … `gap_end`:
//! `completed` after SIGTERM, `partial` after `kill -9`. The pixels prove
//! which media was recorded when: the screen is red before the restart and
//! green after it.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixture::{Rws, Srs, basic, http};
use crate::util::{
    Painter, Xvfb, decode_frames, decodes_cleanly, duration, now, rgb, tempdir, wait_for,
};

const RED: u32 = 0xdd2222;
const GREEN: u32 = 0x22bb33;

fn voice(rws: &Rws, id: &str, kind: &str, call: &str) {
    rws.call_event(id, kind, call, "1001");
}

fn resource(rws: &Rws, call: &str) -> Option<Value> {
    rws.recording_as(("admin", "adminpw"), call)
}

fn wait_rec(
    rws: &Rws,
    call: &str,
    what: &str,
    limit: Duration,
    ok: impl Fn(&str) -> bool,
) -> Value {
    wait_for(&format!("the recording of {call} {what}"), limit, || {
        let r = resource(rws, call)?;
        ok(r["screenRecordings"][0]["state"].as_str()?).then_some(r)
    })
}

/// SRS recording display `x` for agent1, pointed at `rws`, on the spool of
/// `name` (the same name is the same spool).
fn srs(dir: &Path, rws: &Rws, x: &Xvfb) -> Srs {
    Srs::start(dir, "srs", &["--server", &rws.url, "--display", &x.display])
}

/// What SRS tells the agent (`GET /api/v2/me/recording`).
fn notice_state(srs: &Srs) -> String {
    let r = http(
        "GET",
        &format!("{}/api/v2/me/recording", srs.url),
        &[basic("agent1", "pw1")],
        None,
    );
    r.json()["state"].as_str().unwrap_or("").to_string()
}

/// The new SRS's desktop logs in; returns once SRS records again, and how
/// long that took from the login.
fn login_until_recording(srs: &Srs) -> Duration {
    let t = Instant::now();
    let r = srs.login("agent1", "pw1");
    assert_eq!(r.status, 200, "login: {}", r.text);
    wait_for("SRS recording again", Duration::from_secs(10), || {
        (notice_state(srs) == "recording").then_some(())
    });
    t.elapsed()
}

fn secs(t: &str) -> f64 {
    let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{t}: {e}"));
    t.unix_timestamp_nanos() as f64 / 1e9
}

/// The marks of `kind` of the call's one recording.
fn marks<'a>(rec: &'a Value, kind: &str) -> Vec<&'a Value> {
    rec["marks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == kind)
        .collect()
}

/// Downloads media file `m` and returns its frames (64x48).
fn frames_of(rws: &Rws, m: &Value, to: &Path) -> Vec<Vec<u8>> {
    let r = http(
        "GET",
        &format!("{}{}", rws.url, m["mediaUri"].as_str().unwrap()),
        &[basic("admin", "adminpw")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    std::fs::write(to, &r.bytes).unwrap();
    assert!(decodes_cleanly(to), "{} decodes cleanly", to.display());
    decode_frames(to, 64, 48)
}

fn count(frames: &[Vec<u8>], colour: u32) -> usize {
    let want = [(colour >> 16) as u8, (colour >> 8) as u8, colour as u8];
    frames
        .iter()
        // Away from the centre, where the pointer is drawn.
        .filter(|f| {
            [(8, 8), (56, 40)]
                .iter()
                .all(|&(x, y)| crate::util::near(rgb(f, 64, x, y), want))
        })
        .count()
}

/// The two media files of a continued recording: before the restart only
/// red, after it (after its first frame) only green; both stored.
fn check_media(dir: &Path, rws: &Rws, r: &Value) -> (f64, f64) {
    let media = r["mediaFiles"].as_array().unwrap();
    assert_eq!(
        media.len(),
        2,
        "one media file before and one after the restart: {r:#}"
    );
    let mut media: Vec<&Value> = media.iter().collect();
    media.sort_by(|a, b| {
        secs(a["startTime"].as_str().unwrap()).total_cmp(&secs(b["startTime"].as_str().unwrap()))
    });
    let before = frames_of(rws, media[0], &dir.join("before.mp4"));
    let after = frames_of(rws, media[1], &dir.join("after.mp4"));
    // Frames are encoded on change (plus a heartbeat): a still screen
    // gives few of them, but every one must show the screen of its time.
    eprintln!(
        "frames: {} before the restart, {} after",
        before.len(),
        after.len()
    );
    assert!(!before.is_empty() && !after.is_empty());
    assert_eq!(
        count(&before, RED),
        before.len(),
        "every frame before the restart is the red screen (first: {:?})",
        rgb(&before[0], 64, 8, 8)
    );
    assert_eq!(
        count(&after, GREEN),
        after.len(),
        "every frame after the restart is the green screen"
    );
    (
        duration(&dir.join("before.mp4")),
        duration(&dir.join("after.mp4")),
    )
}

/// A call recorded on the red screen: Xvfb, RWS, an SRS for agent1 logged
/// in, the call's recording running. Fields drop in order (SRS first, the
/// temp dir last).
struct Call {
    srs: Srs,
    rws: Rws,
    painter: Painter,
    x: Xvfb,
    call: &'static str,
    rec_id: String,
    dir: tempfile::TempDir,
}

/// Starts everything and `call`'s recording (event id `{ev}1`); returns
/// once RWS says it is recording.
fn call_recording(call: &'static str, ev: &str) -> Call {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 320, 240);
    let painter = Painter::new(&x.display);
    painter.rect(0, 0, 320, 240, RED);
    let rws = Rws::start(dir.path(), "rws");
    let srs = srs(dir.path(), &rws, &x);
    assert_eq!(srs.login("agent1", "pw1").status, 200);
    voice(&rws, &format!("{ev}1"), "recording.started", call);
    let r = wait_rec(&rws, call, "recording", Duration::from_secs(20), |s| {
        s == "recording"
    });
    let rec_id = r["screenRecordings"][0]["id"].as_str().unwrap().to_string();
    Call {
        srs,
        rws,
        painter,
        x,
        call,
        rec_id,
        dir,
    }
}

impl Call {
    /// The screen turns green and a new SRS starts on the same spool (the
    /// old one is gone); its desktop logs in and SRS must record again
    /// within 2 s of the login. Returns how long the new process took to
    /// start and the login to recording.
    fn restart_on_green(&mut self) -> (Duration, Duration) {
        self.painter.rect(0, 0, 320, 240, GREEN);
        let spawned = Instant::now();
        self.srs = srs(self.dir.path(), &self.rws, &self.x);
        let start_time = spawned.elapsed();
        let took = login_until_recording(&self.srs);
        assert!(
            took <= Duration::from_secs(2),
            "recording again {took:?} after the login"
        );
        (start_time, took)
    }

    /// Lets the continued recording run 3 s, releases the call (event id
    /// `{ev}2`) and waits for its final state. Asserts that it is still
    /// the one recording (same id), ended `state`, with exactly one `gap`
    /// (of `gap_reason`) and one `gap_end`; returns the GIR resource and
    /// the gap's start and end (Unix seconds).
    fn release_and_check(&self, ev: &str, state: &str, gap_reason: &str) -> (Value, f64, f64) {
        std::thread::sleep(Duration::from_secs(3));
        voice(&self.rws, &format!("{ev}2"), "call.released", self.call);
        let r = wait_rec(
            &self.rws,
            self.call,
            "final",
            Duration::from_secs(20),
            |s| ["completed", "partial", "failed"].contains(&s),
        );
        let recs = r["screenRecordings"].as_array().unwrap();
        assert_eq!(recs.len(), 1, "the same recording: {r:#}");
        let rec = &recs[0];
        assert_eq!(rec["id"], self.rec_id.as_str());
        assert_eq!(rec["state"], state, "{r:#}");
        let gap = marks(rec, "gap");
        let end = marks(rec, "gap_end");
        assert_eq!((gap.len(), end.len()), (1, 1), "exactly one gap: {rec:#}");
        assert_eq!(gap[0]["reason"], gap_reason);
        let (from, to) = (
            secs(gap[0]["time"].as_str().unwrap()),
            secs(end[0]["time"].as_str().unwrap()),
        );
        (r, from, to)
    }

    /// [`check_media`] of the final resource `r`: red before, green after,
    /// each at least 2 s long.
    fn check_media(&self, r: &Value) {
        let (before, after) = check_media(self.dir.path(), &self.rws, r);
        assert!(
            before >= 2.0 && after >= 2.0,
            "{before:.2} s before, {after:.2} s after"
        );
    }
}

#[test]
fn sigterm_mid_call_continues_the_same_recording_completed_with_one_gap() {
    let mut c = call_recording("call-term", "t");
    std::thread::sleep(Duration::from_secs(3));

    let term = Instant::now();
    let term_at = secs(&now());
    let exit = c
        .srs
        .proc
        .terminate(Duration::from_secs(10))
        .expect("SRS exits after SIGTERM");
    assert!(exit.success(), "SRS exits 0 after SIGTERM: {exit}");
    let stopped = term.elapsed();
    assert!(
        stopped <= Duration::from_secs(8),
        "bounded stop: {stopped:?}"
    );
    // Told `restarting`, RWS keeps the call's recording going, with the
    // gap's start on its timeline.
    let r = resource(&c.rws, "call-term").unwrap();
    let rec = &r["screenRecordings"][0];
    assert_eq!(rec["state"], "recording", "{rec:#}");
    assert_eq!(marks(rec, "gap").len(), 1, "{rec:#}");
    // What was recorded is uploaded before the exit.
    assert_eq!(r["mediaFiles"].as_array().unwrap().len(), 1, "{r:#}");

    let spawned = term.elapsed();
    let (start_time, took) = c.restart_on_green();
    let restart_span = term.elapsed();
    let (r, from, to) = c.release_and_check("t", "completed", "srs_restarted");
    let span = to - from;
    eprintln!(
        "SIGTERM restart: gap {span:.2} s; SRS start {start_time:?}, login to recording {took:?}, SIGTERM to recording {restart_span:?}"
    );
    assert!(
        from >= term_at - 1.5,
        "the gap starts at the SIGTERM ({from} vs {term_at})"
    );
    assert!(
        span > 0.0 && span <= 2.0 + start_time.as_secs_f64() + spawned.as_secs_f64(),
        "gap {span:.2} s: at most 2 s plus the stop and start of SRS"
    );
    c.check_media(&r);
}

#[test]
fn kill9_mid_call_continues_the_same_recording_partial_with_the_lost_span_marked() {
    let mut c = call_recording("call-k9", "k");
    std::thread::sleep(Duration::from_secs(4));
    let killed = Instant::now();
    let killed_at = secs(&now());
    c.srs.proc.kill9();

    c.restart_on_green();
    let back = killed.elapsed();
    let (r, from, to) = c.release_and_check("k", "partial", "srs_interrupted");
    assert_eq!(r["screenRecordings"][0]["reason"], "srs_restarted", "{r:#}");
    eprintln!(
        "kill -9 restart: gap {:.2} s (from {:.2} s before the kill), killed to recording {back:?}",
        to - from,
        killed_at - from
    );
    // The lost span: from the last fragment on disk (at most a fragment
    // and a bit before the kill) to the new recorder's start.
    assert!(
        from <= killed_at && from >= killed_at - 3.0,
        "gap from {from} (killed {killed_at})"
    );
    assert!(
        to - from <= back.as_secs_f64() + 3.0,
        "gap {:.2} s",
        to - from
    );
    // The segments spooled before the kill were uploaded after the restart.
    c.check_media(&r);
}
