//! The app lane while the call runs (issue 13 part 3): a real SRS on Xvfb
//! sends each active-window change to a real RWS over its control channel,
//! so the recording resource and `?app=` show it before the call ends; the
//! end report does not add it again; a change sent before `kill -9` of SRS
//! stays; a change made while RWS is down arrives when SRS reconnects.
//! On every `SCREENREC_TEST_BACKEND` (the state is the database's).
//! The hostile side (someone else's recording, bounds, flood, after the
//! end) is in `hostile_agent.rs`, next to the other rule 1 attacks.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::app_lane::{
    SECRET, USERS, app_marks, apps, event, search, start_recording, start_srs, state, wait_final,
    xterm,
};
use crate::fixture::{Rws, Srs};
use crate::util::{Xvfb, tempdir, wait_for};

/// RWS with the app lane's directory, SRS recording `x`, agent1 logged in
/// and call-app recording.
fn recording(dir: &Path, x: &Xvfb, extra: &[&str]) -> (Rws, Srs) {
    // The fixture's session list reads as admin.
    let admin = "\n[[user]]\nusername = \"admin\"\npassword = \"adminpw\"\nroles = [\"admin\"]\n";
    std::fs::write(dir.join("directory.toml"), format!("{USERS}{admin}")).unwrap();
    let rws = Rws::start(dir, "rws");
    let srs = start_recording(dir, &rws, x, extra);
    (rws, srs)
}

/// Waits (while the call runs) until the lane has `n` changes; returns the
/// resource.
fn wait_lane(rws: &Rws, n: usize) -> Value {
    wait_for(
        &format!("{n} app changes on the timeline during the call"),
        Duration::from_secs(15),
        || {
            let (v, _) = state(rws)?;
            (apps(&v).len() >= n).then_some(v)
        },
    )
}

/// The app marks as (time, class, title).
fn lane(v: &Value) -> Vec<(String, String, Value)> {
    app_marks(v)
        .map(|m| {
            (
                m["time"].as_str().unwrap().to_string(),
                m["class"].as_str().unwrap().to_string(),
                m["title"].clone(),
            )
        })
        .collect()
}

#[test]
fn app_changes_reach_rws_during_the_call_and_the_end_report_adds_none_again() {
    let tmp = tempdir();
    let dir = tmp.path();
    let x = Xvfb::start(dir, 640, 480);
    let (rws, srs) = recording(dir, &x, &[]);
    let (_a, _) = xterm(&x, dir, "CrmLive", "Customer 7", "40x10+10+10");
    // The first change is on RWS before the second window even opens.
    let v = wait_lane(&rws, 1);
    assert_eq!(v["screenRecordings"][0]["state"], "recording", "{v}");
    assert_eq!(search(&rws, "crmlive*"), ["call-app"]);
    let (_b, _) = xterm(
        &x,
        dir,
        "PayLive",
        &format!("Card payment {SECRET}"),
        "40x10+300+10",
    );
    let v = wait_lane(&rws, 2);
    let live = lane(&v);
    assert_eq!(
        live.iter()
            .map(|(_, c, t)| (c.as_str(), t.clone()))
            .collect::<Vec<_>>(),
        [
            ("CrmLive", json!("Customer 7")),
            // Masked: the rule's name, never the title.
            ("PayLive", json!("payments"))
        ],
        "{v}"
    );
    // Found by `app=` while the call is still in progress.
    assert_eq!(search(&rws, "*LIVE"), ["call-app"]);
    let (v, text) = state(&rws).unwrap();
    assert_eq!(v["screenRecordings"][0]["state"], "recording", "{text}");
    assert!(!text.contains(SECRET), "{text}");

    event(&rws, "e3", "call.released");
    let (v, text) = wait_final(&rws);
    assert_eq!(v["screenRecordings"][0]["state"], "completed", "{text}");
    // Exactly one mark per change: the end report carried both again, and
    // they are the same marks (same times) as the ones seen live.
    assert_eq!(lane(&v), live, "{text}");
    assert!(!text.contains(SECRET), "{text}");
    drop(srs);
    for log in ["rws.log", "srs.log"] {
        let out = std::fs::read_to_string(dir.join(log)).unwrap();
        assert!(!out.contains(SECRET), "the masked title is in {log}");
    }
}

#[test]
fn app_changes_sent_before_srs_is_killed_stay_and_are_not_doubled_by_its_recovery() {
    let tmp = tempdir();
    let dir = tmp.path();
    let x = Xvfb::start(dir, 640, 480);
    // The call ends while SRS is down: the next SRS uploads what the old
    // one spooled after a short grace (nobody continues the recording).
    let (rws, mut srs) = recording(dir, &x, &["--resume-grace", "1"]);
    let (_a, _) = xterm(&x, dir, "LedgerK9", "Ledger", "40x10+10+10");
    wait_lane(&rws, 1);
    let (_b, _) = xterm(&x, dir, "MailerK9", "Inbox", "40x10+300+10");
    let sent = lane(&wait_lane(&rws, 2));
    srs.proc.kill9();
    // RWS sees the channel close (SRS is gone), and the call ends.
    rws.wait_sessions("agent1's session dropped", |s| {
        !s.iter()
            .any(|x| x["user"] == "agent1" && x["state"] == "connected")
    });
    event(&rws, "e3", "call.released");
    let (v, text) = state(&rws).unwrap();
    assert_eq!(lane(&v), sent, "{text}");
    assert_eq!(search(&rws, "mailerk9"), ["call-app"]);

    // A new SRS logs in, recovers the spool, uploads it with its end
    // report (whose app lane holds both changes again).
    let srs = start_srs(dir, &rws, &x, &["--resume-grace", "1"]);
    assert_eq!(srs.login("agent1", "pw1").status, 200);
    let (v, text) = wait_final(&rws);
    assert_eq!(v["screenRecordings"][0]["state"], "partial", "{text}");
    assert_eq!(lane(&v), sent, "{text}");
}

#[test]
fn app_changes_made_while_rws_is_down_arrive_once_srs_reconnects() {
    let tmp = tempdir();
    let dir = tmp.path();
    let x = Xvfb::start(dir, 640, 480);
    let (mut rws, _srs) = recording(dir, &x, &[]);
    let (_a, _) = xterm(&x, dir, "BeforeDown", "one", "40x10+10+10");
    wait_lane(&rws, 1);
    rws.kill();
    let (_b, _) = xterm(&x, dir, "WhileDown", "two", "40x10+300+10");
    // SRS took the change (it is in the spooled manifest) while no RWS
    // was there to hear it.
    let spool = dir.join("srs-spool");
    wait_for(
        "the change kept by SRS while RWS is down",
        Duration::from_secs(10),
        || (!crate::util::files_containing(&spool, b"WhileDown").is_empty()).then_some(()),
    );
    rws.start_again("rws");
    // The outbox held the frame; it leaves when the channel is back.
    let v = wait_lane(&rws, 2);
    let live = lane(&v);
    assert_eq!(
        live.iter().map(|(_, c, _)| c.as_str()).collect::<Vec<_>>(),
        ["BeforeDown", "WhileDown"],
        "{v}"
    );
    assert_eq!(v["screenRecordings"][0]["state"], "recording", "{v}");
    event(&rws, "e3", "call.released");
    let (v, text) = wait_final(&rws);
    assert_eq!(v["screenRecordings"][0]["state"], "completed", "{text}");
    assert_eq!(lane(&v), live, "{text}");
}
