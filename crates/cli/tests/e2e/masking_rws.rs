//! Masking rules from the directory, end to end: `[[mask]]` rules imported
//! by a real RWS, sent with `start` to a real SRS recording a real Xvfb
//! display with real xterms; the stored recording is downloaded and every
//! frame decoded by ffmpeg, pixels counted; the timeline, the database, the
//! logs and the API answers are searched for the window's title.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::fixture::{Rws, Srs, basic, http};
use crate::masking::{GREEN, H, MAGENTA, MASK, W, YELLOW, count, display, presence, xterm};
use crate::util::{Proc, Xvfb, bin, decode_frames, files_containing, tempdir, wait_for};

/// A token only the masked windows' titles carry (the rule's regex does not
/// contain it), searched for in everything RWS and SRS keep or say.
const SECRET: &str = "4111-QQ7";

/// Billing agents mask payment windows; every agent masks the vault
/// (whole screen).
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
username = "sup"
password = "suppw"
roles = ["supervisor"]

[[group]]
name = "billing"
supervisors = ["sup"]
agents = ["agent1"]

[[group]]
name = "sales"
supervisors = ["sup"]
agents = ["agent2"]

[[mask]]
name = "payments"
title = "(?i)card payment"
group = "billing"

[[mask]]
name = "vault"
title = "^Vault "
action = "pause"
"#;

/// Lets the recorder see the current state for several frames. This paces
/// the scenario; it synchronises nothing (each state is checked in the
/// decoded frames afterwards).
fn hold() {
    std::thread::sleep(Duration::from_millis(1200));
}

fn start_rws(dir: &Path) -> Rws {
    std::fs::write(dir.join("directory.toml"), DIRECTORY).unwrap();
    // SQLite + filesystem on every backend: the tests grep every file RWS
    // and SRS wrote (the database included) for the window title.
    let pinned = crate::fixture::sqlite_fs(dir, "rws");
    let pinned: Vec<&str> = pinned.iter().map(String::as_str).collect();
    Rws::start_with(dir, "rws", &pinned)
}

fn start_srs(dir: &Path, rws: &Rws, x: &Xvfb, user: &str, pass: &str) -> Srs {
    let srs = Srs::start(
        dir,
        "srs",
        &["--server", rws.url.as_str(), "--display", &x.display],
    );
    let r = srs.login(user, pass);
    assert_eq!(r.status, 200, "login {user}: {}", r.text);
    srs
}

fn voice(rws: &Rws, id: &str, kind: &str, call: &str, dn: &str) {
    rws.call_event(id, kind, call, dn);
}

fn resource(rws: &Rws, call: &str) -> Option<(Value, String)> {
    let r = http(
        "GET",
        &format!("{}/api/v2/recordings/{call}", rws.url),
        &[basic("sup", "suppw")],
        None,
    );
    (r.status == 200).then(|| (r.json(), r.text))
}

fn wait_state(rws: &Rws, call: &str, states: &[&str], limit: Duration) -> (Value, String) {
    wait_for(&format!("recording of {call} in {states:?}"), limit, || {
        let (v, text) = resource(rws, call)?;
        let s = v["screenRecordings"][0]["state"].as_str()?.to_string();
        states.contains(&s.as_str()).then_some((v, text))
    })
}

/// Records one call while `scenario` plays on the display; returns the
/// decoded frames, the recording resource and its raw JSON text.
fn record_call(
    dir: &Path,
    x: &Xvfb,
    user: &str,
    pass: &str,
    dn: &str,
    scenario: impl FnOnce(&Srs) -> Vec<Proc>,
) -> (Vec<Vec<u8>>, Value, String) {
    let rws = start_rws(dir);
    let srs = start_srs(dir, &rws, x, user, pass);
    voice(&rws, "e1", "call.established", "call-m", dn);
    voice(&rws, "e2", "recording.started", "call-m", dn);
    wait_state(&rws, "call-m", &["recording"], Duration::from_secs(20));
    hold();
    // The windows stay open until the call has ended.
    let windows = scenario(&srs);
    voice(&rws, "e3", "call.released", "call-m", dn);
    let (r, text) = wait_state(
        &rws,
        "call-m",
        &["completed", "partial", "failed"],
        Duration::from_secs(30),
    );
    drop(windows);
    assert_eq!(r["screenRecordings"][0]["state"], "completed", "{text}");
    let media = &r["mediaFiles"][0];
    let got = http(
        "GET",
        &format!("{}{}", rws.url, media["mediaUri"].as_str().unwrap()),
        &[basic("sup", "suppw")],
        None,
    );
    assert_eq!(got.status, 200, "{}", got.text);
    let file = dir.join("downloaded.mp4");
    std::fs::write(&file, &got.bytes).unwrap();
    let frames = decode_frames(&file, W, H);
    // Frames are taken on change (damage), so few but one per state.
    assert!(frames.len() >= 4, "{} frames", frames.len());
    // Searches below read the logs and the database as they are on disk.
    drop(srs);
    drop(rws);
    (frames, r, text)
}

/// `(type, reason)` of the recording's timeline marks.
fn marks(r: &Value) -> Vec<(String, String)> {
    r["screenRecordings"][0]["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["type"].as_str().unwrap().to_string(),
                m["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn directory_mask_rule_keeps_the_window_out_of_the_stored_recording_and_names_the_rule_on_the_timeline()
 {
    let dir = tempdir();
    let x = display(dir.path());
    let title = format!("Card payment {SECRET}");
    let renamed = format!("CARD PAYMENT {SECRET} b");
    let (frames, r, text) = record_call(dir.path(), &x, "agent1", "pw1", "1001", |srs| {
        // Opens after the recording started; masked from its first frame.
        let (pa, a) = xterm(&x, dir.path(), "xterm-a", "#00ff00", &title, "30x8+40+40");
        // The agent is told, by the rule's name (never the title).
        let told = wait_for(
            "the agent notice says masked",
            Duration::from_secs(5),
            || {
                let v = http(
                    "GET",
                    &format!("{}/api/v2/me/recording", srs.url),
                    &[basic("agent1", "pw1")],
                    None,
                )
                .json();
                (v["state"] == "masked").then_some(v)
            },
        );
        assert_eq!(told["reason"], "payments", "{told}");
        assert!(!told.to_string().contains(SECRET), "{told}");
        // The control: an unmasked window of another colour.
        let (pc, _) = xterm(&x, dir.path(), "xterm-c", "#ff00ff", "Chat", "20x5+380+300");
        hold();
        x.run("xdotool", &["windowmove", &a, "200", "120"]);
        hold();
        // A harmless window renamed to match mid-call: visible, then masked.
        let (pb, b) = xterm(&x, dir.path(), "xterm-b", "#ffff00", "Notes", "20x5+20+300");
        hold();
        x.run("xdotool", &["set_window", "--name", &renamed, &b]);
        hold();
        vec![pa, pb, pc]
    });
    let green: Vec<usize> = frames.iter().map(|f| count(f, GREEN)).collect();
    assert!(
        green.iter().all(|&n| n < 50),
        "the masked window's colour reached the recording: {green:?}"
    );
    assert!(
        presence(&frames, MAGENTA, 2000).contains(&true),
        "the control window was recorded"
    );
    let yellow = presence(&frames, YELLOW, 2000);
    assert!(
        yellow.contains(&true) && yellow.last() == Some(&false),
        "renamed window: visible before the rename, masked after it: {yellow:?}"
    );
    assert!(
        presence(&frames, MASK, 5000).contains(&true),
        "the mask colour was painted"
    );
    let m = marks(&r);
    assert!(
        m.contains(&("masked".into(), "payments".into())),
        "a masked span named after the rule: {m:?}"
    );
    assert!(m.iter().all(|(_, reason)| reason != "vault"), "{m:?}");
    assert!(
        !text.contains(SECRET),
        "the title is in the API answer: {text}"
    );
    // The search does read the database and logs: the rule's name is there.
    let named = files_containing(dir.path(), b"payments");
    assert!(
        named.iter().any(|h| h.contains("screenrec.db"))
            && named.iter().any(|h| h.ends_with("srs.log")),
        "{named:?}"
    );
    let hits = files_containing(dir.path(), SECRET.as_bytes());
    assert!(
        hits.is_empty(),
        "the title was kept or logged by RWS/SRS: {hits:?}"
    );
}

#[test]
fn a_rule_of_another_group_does_not_apply_and_a_pause_rule_blanks_whole_frames() {
    let dir = tempdir();
    let x = display(dir.path());
    let title = format!("Card payment {SECRET}");
    let (frames, r, _) = record_call(dir.path(), &x, "agent2", "pw2", "1002", |_| {
        let (a, _) = xterm(&x, dir.path(), "xterm-a", "#00ff00", &title, "30x8+40+40");
        hold();
        let (v, _) = xterm(
            &x,
            dir.path(),
            "xterm-v",
            "#ffff00",
            "Vault 9",
            "10x3+500+400",
        );
        hold();
        drop(v);
        hold();
        vec![a]
    });
    // agent2 is in "sales": the billing rule is not theirs, so the green
    // window is recorded (the control of the first test).
    assert!(
        presence(&frames, GREEN, 2000).contains(&true),
        "the window is recorded for an agent outside the group"
    );
    let whole = W as usize * H as usize;
    let blank: Vec<bool> = frames
        .iter()
        .map(|f| count(f, MASK) * 100 >= whole * 99)
        .collect();
    assert!(blank.contains(&true), "the pause rule blanked whole frames");
    assert!(
        frames
            .iter()
            .zip(&blank)
            .all(|(f, b)| !b || count(f, YELLOW) == 0 && count(f, GREEN) == 0),
        "nothing shows through a paused frame"
    );
    assert_eq!(
        blank.last(),
        Some(&false),
        "the screen shows again after the vault closed"
    );
    let m = marks(&r);
    assert!(m.contains(&("masked".into(), "vault".into())), "{m:?}");
    assert!(m.contains(&("unmasked".into(), "vault".into())), "{m:?}");
    assert!(m.iter().all(|(_, reason)| reason != "payments"), "{m:?}");
}

fn import(dir: &Path, extra: &str) -> (bool, String) {
    let file = dir.join("directory.toml");
    std::fs::write(&file, format!("{DIRECTORY}\n{extra}")).unwrap();
    let out = Command::new(bin())
        .args(["rws", "import-directory"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn directory_import_refuses_bad_mask_rules_with_field_and_position() {
    let dir = tempdir();
    let (ok, out) = import(dir.path(), "");
    assert!(ok, "{out}");
    for (extra, want) in [
        (
            "[[mask]]\nname = \"broken\"\ntitle = \"Zahlung [a-\"\n",
            "mask #3 'broken': mask rule 'broken': title regex is invalid at character 9: unclosed character class",
        ),
        (
            "[[mask]]\nname = \"g\"\ntitle = \"x\"\ngroup = \"nobody\"\n",
            "mask #3 'g': group 'nobody' does not exist",
        ),
        (
            "[[mask]]\nname = \"vault\"\nclass = \"*keepass*\"\n",
            "mask #3 'vault': defined twice",
        ),
        (
            "[[mask]]\nname = \"a\"\ntitle = \"x\"\naction = \"stop\"\n",
            "mask action 'stop' is unknown: expected blank or pause",
        ),
        (
            "[[mask]]\nname = \"none\"\n",
            "mask rule 'none' needs a title or a class",
        ),
        (
            "[[mask]]\nname = \"big\"\ntitle = \"a{1000}{1000}\"\n",
            "too large once compiled",
        ),
    ] {
        let (ok, out) = import(dir.path(), extra);
        assert!(!ok, "accepted: {extra}");
        assert!(out.contains(want), "{extra}: want '{want}' in: {out}");
        assert!(!out.contains("panicked"), "{out}");
    }
    // Hostile sizes: a huge pattern, a flood of rules.
    let huge = format!(
        "[[mask]]\nname = \"huge\"\ntitle = \"{}\"\n",
        "a".repeat(100_000)
    );
    let (ok, out) = import(dir.path(), &huge);
    assert!(!ok && out.contains("longer than 1024 bytes"), "{out}");
    let flood: String = (0..5000)
        .map(|i| format!("[[mask]]\nname = \"r{i}\"\ntitle = \"t{i}\"\n"))
        .collect();
    let (ok, out) = import(dir.path(), &flood);
    assert!(
        !ok && out.contains("5002 mask rules (at most 256)"),
        "{out}"
    );
    // The file that was accepted first is still in force.
    let (ok, out) = import(dir.path(), "");
    assert!(ok && out.contains("0 added, 0 updated, 0 removed"), "{out}");
}
