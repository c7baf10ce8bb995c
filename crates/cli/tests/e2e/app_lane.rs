//! The app lane, end to end: a real RWS sends `start` (with the directory's
//! `app_titles`) to a real SRS recording a real Xvfb display; real xterms
//! with their own `WM_CLASS` (`-class`) and title (`-T`) become active by
//! mapping on top (no window manager), by input focus (`xdotool
//! windowfocus`) and by `_NET_ACTIVE_WINDOW` on the root (what an EWMH
//! window manager sets, here with `xprop`). The recording's timeline must
//! list the class changes in order, `app=` must find it, and a masked
//! window's title must appear nowhere: not in the API, the database, the
//! spool or any log.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fixture::{Rws, Srs, basic, http};
use crate::util::{Proc, Xvfb, files_containing, now, tempdir, wait_for};

/// Only the masked window's title carries it (the rule's regex does not).
pub(crate) const SECRET: &str = "4111-QQ7";

pub(crate) const USERS: &str = r#"
recording_when = "always"

[[switch]]
name = "SIP_Switch"

[[place]]
name = "Place_1001"
devices = [{ dn = "1001", switch = "SIP_Switch" }]

[[user]]
username = "agent1"
password = "pw1"
roles = ["agent"]
default_place = "Place_1001"

[[user]]
username = "sup"
password = "suppw"
roles = ["supervisor"]

[[group]]
name = "billing"
supervisors = ["sup"]
agents = ["agent1"]

[[mask]]
name = "payments"
title = "(?i)card payment"
"#;

/// Lets the recorder see a window active for longer than the debounce
/// (500 ms). This paces the scenario; it synchronises nothing: what the
/// recorder saw is checked in the stored timeline afterwards.
pub(crate) fn hold() {
    std::thread::sleep(Duration::from_millis(1500));
}

/// An xterm with its own class and title; (process, window id).
pub(crate) fn xterm(
    x: &Xvfb,
    dir: &Path,
    class: &str,
    title: &str,
    geometry: &str,
) -> (Proc, String) {
    let mut cmd = Command::new("xterm");
    cmd.args(["-class", class, "-T", title, "-geometry", geometry])
        .args(["-e", "sleep", "600"])
        .env("DISPLAY", &x.display);
    let p = Proc::spawn(&format!("xterm-{class}"), dir, cmd);
    let id = wait_for(
        &format!("xterm of class {class} mapped"),
        Duration::from_secs(10),
        || {
            let out = Command::new("xdotool")
                .args(["search", "--onlyvisible", "--class", &format!("^{class}$")])
                .env("DISPLAY", &x.display)
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .map(str::to_string)
        },
    );
    (p, id)
}

/// What an EWMH window manager does when a window becomes active.
fn set_net_active(x: &Xvfb, id: &str) {
    let st = Command::new("xprop")
        .args(["-root", "-f", "_NET_ACTIVE_WINDOW", "32c"])
        .args(["-set", "_NET_ACTIVE_WINDOW", id])
        .env("DISPLAY", &x.display)
        .status()
        .unwrap();
    assert!(st.success());
}

fn focus(x: &Xvfb, id: &str) {
    let st = Command::new("xdotool")
        .args(["windowfocus", id])
        .env("DISPLAY", &x.display)
        .status()
        .unwrap();
    assert!(st.success());
}

pub(crate) fn event(rws: &Rws, id: &str, kind: &str) {
    let r = rws.post_events(
        &json!({"id": id, "type": kind, "call_id": "call-app", "dn": "1001", "switch": "SIP_Switch", "timestamp": now()}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

pub(crate) fn get(rws: &Rws, path: &str) -> crate::fixture::Response {
    http(
        "GET",
        &format!("{}{path}", rws.url),
        &[basic("sup", "suppw")],
        None,
    )
}

pub(crate) fn state(rws: &Rws) -> Option<(Value, String)> {
    let r = get(rws, "/api/v2/recordings/call-app");
    (r.status == 200).then(|| (r.json(), r.text))
}

/// SRS recording `x` for `rws` (`extra`: more `screenrec srs` flags),
/// agent1 logged in, and call-app started: returns once RWS says the
/// recording is `recording`.
pub(crate) fn start_recording(dir: &Path, rws: &Rws, x: &Xvfb, extra: &[&str]) -> Srs {
    let srs = start_srs(dir, rws, x, extra);
    let r = srs.login("agent1", "pw1");
    assert_eq!(r.status, 200, "{}", r.text);
    event(rws, "e1", "call.established");
    event(rws, "e2", "recording.started");
    wait_for("recording", Duration::from_secs(20), || {
        let (v, _) = state(rws)?;
        (v["screenRecordings"][0]["state"] == "recording").then_some(())
    });
    srs
}

/// `screenrec srs` (log `srs.log`, spool `srs-spool`) on RWS, recording `x`.
pub(crate) fn start_srs(dir: &Path, rws: &Rws, x: &Xvfb, extra: &[&str]) -> Srs {
    let mut args = vec!["--server", rws.url.as_str(), "--display", &x.display];
    args.extend_from_slice(extra);
    Srs::start(dir, "srs", &args)
}

/// Waits until call-app's recording is final (completed, partial or
/// failed); returns the resource and its text.
pub(crate) fn wait_final(rws: &Rws) -> (Value, String) {
    wait_for("recording final", Duration::from_secs(40), || {
        let (v, t) = state(rws)?;
        let s = v["screenRecordings"][0]["state"].as_str()?.to_string();
        ["completed", "partial", "failed"]
            .contains(&s.as_str())
            .then_some((v, t))
    })
}

/// `?app=GLOB` as the supervisor (200 asserted): the call ids found.
pub(crate) fn search(rws: &Rws, glob: &str) -> Vec<String> {
    let r = get(rws, &format!("/api/v2/recordings?app={glob}"));
    assert_eq!(r.status, 200, "{glob}: {}", r.text);
    r.json()["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["callId"].as_str().unwrap().to_string())
        .collect()
}

/// Records call-app while `scenario` plays; returns the final resource,
/// its text, and the RWS (stopped: its files are complete on disk).
fn record(
    dir: &Path,
    directory: &str,
    scenario: impl FnOnce(&Xvfb) -> Vec<Proc>,
) -> (Value, String, Rws) {
    let x = Xvfb::start(dir, 640, 480);
    std::fs::write(dir.join("directory.toml"), directory).unwrap();
    // SQLite + files on every backend: the database file is grepped.
    let pinned = crate::fixture::sqlite_fs(dir, "rws");
    let pinned: Vec<&str> = pinned.iter().map(String::as_str).collect();
    let rws = Rws::start_with(dir, "rws", &pinned);
    let srs = start_recording(dir, &rws, &x, &[]);
    let windows = scenario(&x);
    event(&rws, "e3", "call.released");
    let (v, text) = wait_final(&rws);
    assert_eq!(v["screenRecordings"][0]["state"], "completed", "{text}");
    drop(windows);
    drop(srs);
    (v, text, rws)
}

/// The app marks of the first screen recording of `v`, in order.
pub(crate) fn app_marks(v: &Value) -> impl Iterator<Item = &Value> {
    v["screenRecordings"][0]["marks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "app")
}

/// The app marks: (class, title).
pub(crate) fn apps(v: &Value) -> Vec<(String, Value)> {
    app_marks(v)
        .map(|m| {
            assert_eq!(m["reason"], m["class"], "{m}");
            (m["class"].as_str().unwrap().to_string(), m["title"].clone())
        })
        .collect()
}

#[test]
fn app_lane_lists_class_changes_in_order_finds_them_and_never_shows_a_masked_title() {
    let tmp = tempdir();
    let dir = tmp.path();
    let (v, text, rws) = record(dir, USERS, |x| {
        // Mapped on top (no window manager, no focus): the top of the stack.
        let (a, a_id) = xterm(x, dir, "CrmDesk", "Customer 42", "40x10+10+10");
        hold();
        let (b, _) = xterm(
            x,
            dir,
            "PayTerm",
            &format!("Card payment {SECRET}"),
            "40x10+300+10",
        );
        hold();
        // The input focus wins over the stacking order.
        focus(x, &a_id);
        hold();
        let (c, c_id) = xterm(x, dir, "Editor", "notes.txt", "40x10+10+250");
        hold();
        // _NET_ACTIVE_WINDOW wins over the focus.
        set_net_active(x, &c_id);
        hold();
        // A flood: 30 switches, each shorter than the debounce, then A stays.
        for i in 0..30 {
            set_net_active(x, if i % 2 == 0 { &a_id } else { &c_id });
        }
        set_net_active(x, &a_id);
        hold();
        vec![a, b, c]
    });
    let lane = apps(&v);
    let classes: Vec<&str> = lane.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        &classes[..4],
        ["CrmDesk", "PayTerm", "CrmDesk", "Editor"],
        "{text}"
    );
    // The flood left at most a couple of marks (only a switch that outlived
    // the debounce on a slow machine), and the lane ends on A.
    assert!(classes.len() <= 7, "{classes:?}");
    assert_eq!(classes.last(), Some(&"CrmDesk"), "{classes:?}");
    assert_eq!(lane[0].1, json!("Customer 42"));
    // The masked window is on the lane by its rule's name, never its title.
    assert_eq!(lane[1].1, json!("payments"));
    assert_eq!(lane[3].1, json!("notes.txt"));
    // Marks come in time order.
    let times: Vec<&str> = v["screenRecordings"][0]["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["time"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // `app=` finds the recording by class glob, case-insensitively.
    assert_eq!(search(&rws, "crm*"), ["call-app"]);
    assert_eq!(search(&rws, "*TERM"), ["call-app"]);
    assert_eq!(search(&rws, "Ed?tor"), ["call-app"]);
    assert!(search(&rws, "outlook*").is_empty());
    assert!(search(&rws, "Crm").is_empty());
    let r = get(&rws, &format!("/api/v2/recordings?app={}", "x".repeat(65)));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("app"), "{}", r.text);

    // The masked title: not in the API, not in any file (DB, spool, logs).
    assert!(!text.contains(SECRET), "{text}");
    drop(rws);
    let hits = files_containing(dir, SECRET.as_bytes());
    assert!(hits.is_empty(), "the masked title is in {hits:?}");
    // The search does read the database: an unmasked title is found there.
    let control = files_containing(dir, b"Customer 42");
    assert!(
        control.iter().any(|p| p.contains("screenrec.db")),
        "{control:?}"
    );
}

#[test]
fn app_titles_false_keeps_classes_only() {
    let tmp = tempdir();
    let dir = tmp.path();
    let directory = format!("app_titles = false\n{USERS}");
    let (v, text, rws) = record(dir, &directory, |x| {
        let (a, _) = xterm(x, dir, "Ledger", "Quarterly figures QF-93", "40x10+10+10");
        hold();
        let (b, _) = xterm(x, dir, "Mailer", "Inbox QF-94", "40x10+300+10");
        hold();
        vec![a, b]
    });
    let lane = apps(&v);
    assert_eq!(
        lane,
        [
            ("Ledger".to_string(), Value::Null),
            ("Mailer".to_string(), Value::Null)
        ],
        "{text}"
    );
    drop(rws);
    for t in ["QF-93", "QF-94"] {
        assert!(!text.contains(t), "{text}");
        let hits = files_containing(dir, t.as_bytes());
        assert!(hits.is_empty(), "title {t} is in {hits:?}");
    }
}
