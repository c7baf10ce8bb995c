//! `/metrics` on RWS and SRS: the independent `promtool check metrics`
//! accepts them, and the numbers follow what happened.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::fixture::{Rws, Srs, basic, http, metric};
use crate::util::{now, tempdir, wait_for};

fn promtool(text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_pass_promtool_and_count_what_happened() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    let post = |body: serde_json::Value| rws.post_events(&body);
    assert_eq!(post(json!({"id": "m1", "type": "recording.started", "call_id": "cm", "dn": "1001", "switch": "SIP_Switch", "timestamp": now()})).status, 200);
    assert_eq!(
        post(json!({"id": "bad", "type": "call.exploded"})).status,
        400
    );
    // SRS's metrics follow the recording: polled until they show it (a
    // loaded machine may take seconds to start it and spool the first
    // segment), not read after a fixed sleep.
    let srs_text = wait_for(
        "SRS's metrics: recording, 2 frames, spooled bytes",
        Duration::from_secs(20),
        || {
            let r = http("GET", &format!("{}/metrics", srs.url), &[], None);
            let recording = r.status == 200
                && metric(&r.text, "screenrec_srs_recording") == 1.0
                && metric(&r.text, "screenrec_srs_frames_total") >= 2.0
                && metric(&r.text, "screenrec_srs_spool_bytes") > 0.0;
            recording.then_some(r)
        },
    );
    assert_eq!(
        srs_text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    promtool(&srs_text.text);
    assert!(metric(&srs_text.text, "screenrec_srs_frames_total") >= 2.0);
    assert_eq!(metric(&srs_text.text, "screenrec_srs_recording"), 1.0);
    assert!(metric(&srs_text.text, "screenrec_srs_spool_bytes") > 0.0);
    assert!(metric(&srs_text.text, "screenrec_srs_process_cpu_seconds_total") > 0.0);

    // The live view: SRS's heartbeats carry what it records and its backlog.
    let live = rws.wait_sessions("the recording in the session list", |s| {
        s.first().is_some_and(|x| x["recording"].is_string())
    });
    assert!(live[0]["upload_backlog_bytes"].is_u64());
    assert!(live[0].get("last_error").is_none(), "{live:#?}");
    assert_eq!(post(json!({"id": "m2", "type": "call.released", "call_id": "cm", "dn": "1001", "switch": "SIP_Switch", "timestamp": now()})).status, 200);
    wait_for("completed", Duration::from_secs(10), || {
        let r = http(
            "GET",
            &format!("{}/api/v2/recordings/cm", rws.url),
            &[basic("admin", "adminpw")],
            None,
        );
        (r.status == 200 && r.json()["screenRecordings"][0]["state"] == "completed").then_some(())
    });
    let text = http("GET", &format!("{}/metrics", rws.url), &[], None).text;
    promtool(&text);
    assert_eq!(
        metric(&text, "screenrec_rws_recordings{state=\"completed\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "screenrec_rws_recordings{state=\"recording\"}"),
        0.0
    );
    assert_eq!(
        metric(&text, "screenrec_rws_srs_sessions{state=\"connected\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "screenrec_rws_events_total{result=\"accepted\"}"),
        2.0
    );
    assert_eq!(
        metric(&text, "screenrec_rws_events_total{result=\"rejected\"}"),
        1.0
    );
    assert!(metric(&text, "screenrec_rws_upload_bytes_total") > 0.0);
    assert!(text.contains("screenrec_rws_http_request_duration_seconds_count{method=\"PATCH\",route=\"/api/v2/srs/uploads/{id}\",status=\"204\"}"), "{text}");
    let after = http("GET", &format!("{}/metrics", srs.url), &[], None).text;
    assert_eq!(metric(&after, "screenrec_srs_recording"), 0.0);
    assert!(
        metric(&after, "screenrec_srs_frames_total")
            >= metric(&srs_text.text, "screenrec_srs_frames_total")
    );
}
