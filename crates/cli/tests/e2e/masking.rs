//! Window masking in `screenrec record`: real xterms on Xvfb, a real
//! recorder, ffmpeg decoding every frame, pixels counted.
//!
//! Each scenario holds every window state for a moment (`hold`) so that the
//! recorder, at 10 fps, sees it in several frames; the assertions then check
//! from the decoded frames that each state really was recorded (a colour
//! appears, disappears, appears again), so a state the recorder missed fails
//! the test rather than passing it silently.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::{Proc, Xvfb, decode_frames, tempdir, wait_for};

pub(crate) const W: u32 = 640;
pub(crate) const H: u32 = 480;
pub(crate) const GREEN: [u8; 3] = [0x00, 0xff, 0x00];
pub(crate) const MAGENTA: [u8; 3] = [0xff, 0x00, 0xff];
pub(crate) const YELLOW: [u8; 3] = [0xff, 0xff, 0x00];
/// capture::mask::MASK_RGB.
pub(crate) const MASK: [u8; 3] = [0x60, 0x60, 0x60];
/// The desktop behind the windows.
const ROOT: [u8; 3] = [0x00, 0x00, 0x80];

/// Pixels of an RGB24 frame within H.264 tolerance of `c`.
pub(crate) fn count(frame: &[u8], c: [u8; 3]) -> usize {
    frame
        .chunks_exact(3)
        .filter(|p| p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 24))
        .count()
}

/// The frames as a run-length list of "colour `c` covers at least `min` pixels".
pub(crate) fn presence(frames: &[Vec<u8>], c: [u8; 3], min: usize) -> Vec<bool> {
    let mut out: Vec<bool> = Vec::new();
    for f in frames {
        let p = count(f, c) >= min;
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    out
}

/// Lets the recorder see the current state for several frames. This paces
/// the scenario; it synchronises nothing (each state is checked in the
/// decoded frames afterwards).
fn hold() {
    std::thread::sleep(Duration::from_millis(800));
}

/// A display with a flat dark-blue desktop.
pub(crate) fn display(dir: &Path) -> Xvfb {
    let x = Xvfb::start(dir, W, H);
    x.run("xsetroot", &["-solid", "#000080"]);
    x
}

/// Opens an xterm with a background colour and title and waits until it is
/// mapped; returns (the process, its window id).
pub(crate) fn xterm(
    x: &Xvfb,
    dir: &Path,
    name: &str,
    bg: &str,
    title: &str,
    geometry: &str,
) -> (Proc, String) {
    let mut cmd = Command::new("xterm");
    cmd.args(["-bg", bg, "-fg", bg, "-title", title, "-geometry", geometry])
        .args(["-e", "sleep", "600"])
        .env("DISPLAY", &x.display);
    let p = Proc::spawn(name, dir, cmd);
    let id = wait_for(
        &format!("xterm '{title}' mapped"),
        Duration::from_secs(10),
        || {
            let out = Command::new("xdotool")
                .args([
                    "search",
                    "--onlyvisible",
                    "--name",
                    &format!("^{}$", regex_escape(title)),
                ])
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

/// `s` with regex metacharacters escaped (xdotool's `--name` is a regex).
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_alphanumeric() || c == ' ' {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}

/// Outer geometry (x, y, width, height) of a window, from xwininfo.
fn geometry(x: &Xvfb, id: &str) -> (i32, i32, i32, i32) {
    let info = x.run("xwininfo", &["-id", id]);
    let field = |name: &str| -> i32 {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {info}"))
    };
    // xwininfo's absolute corner is the outer one (border included).
    let b = field("Border width:");
    (
        field("Absolute upper-left X:"),
        field("Absolute upper-left Y:"),
        field("Width:") + 2 * b,
        field("Height:") + 2 * b,
    )
}

/// Lowers a window to the bottom of the stack (this xdotool has no
/// `windowlower`): a ConfigureWindow with stack mode Below, as a WM would send.
fn lower(x: &Xvfb, id: &str) {
    use x11rb::protocol::xproto::{ConfigureWindowAux, ConnectionExt, StackMode};
    use x11rb::wrapper::ConnectionExt as _;
    let (conn, _) = x11rb::connect(Some(&x.display)).unwrap();
    let id: u32 = id.parse().unwrap();
    conn.configure_window(id, &ConfigureWindowAux::new().stack_mode(StackMode::BELOW))
        .unwrap();
    conn.sync().unwrap();
}

/// Starts `screenrec record` at 10 fps and waits until its file has content.
fn start_recording(x: &Xvfb, dir: &Path, out: &str, extra: &[&str]) -> Proc {
    let path = dir.join(out);
    let mut args = vec![
        "record",
        "--display",
        &x.display,
        "--out",
        out,
        "--fps",
        "10",
        "--no-cursor",
    ];
    args.extend_from_slice(extra);
    let mut cmd = Command::new(crate::util::bin());
    cmd.args(&args).current_dir(dir);
    let rec = Proc::spawn("record", dir, cmd);
    wait_for("the recording to start", Duration::from_secs(10), || {
        std::fs::metadata(&path)
            .ok()
            .filter(|m| m.len() > 0)
            .map(|_| ())
    });
    rec
}

fn stop_recording(mut rec: Proc) {
    let status = rec
        .terminate(Duration::from_secs(15))
        .expect("record stops on SIGTERM");
    assert!(status.success(), "{}", rec.output());
}

/// The mask log's lines as (event, rule, action) — never a title.
fn mask_log(dir: &Path, stem: &str) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(dir.join(format!("{stem}.masks.jsonl"))).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            assert!(v["at_ms"].is_u64(), "{l}");
            (s("event"), s("rule"), s("action"))
        })
        .collect()
}

#[test]
fn masking_keeps_a_titled_window_out_of_every_frame_while_it_opens_moves_resizes_and_restacks() {
    let dir = tempdir();
    let x = display(dir.path());
    let rec = start_recording(
        &x,
        dir.path(),
        "m.mp4",
        &[
            "--mask-title",
            "(?i)card (payment|number)",
            "--mask-name",
            "payments",
        ],
    );
    hold();
    // Opens (after the recording started): painted from its first frame on.
    let (_a, a) = xterm(
        &x,
        dir.path(),
        "xterm-a",
        "#00ff00",
        "Card payment",
        "30x8+40+40",
    );
    hold();
    // An unmasked window on top of it stays visible.
    let (_u, u) = xterm(&x, dir.path(), "xterm-u", "#ff00ff", "Chat", "20x5+120+90");
    let (_, _, uw, uh) = geometry(&x, &u);
    hold();
    x.run("xdotool", &["windowmove", &a, "100", "60"]);
    wait_for("A moved", Duration::from_secs(5), || {
        (geometry(&x, &a).0 == 100).then_some(())
    });
    hold();
    x.run("xdotool", &["windowsize", &a, "300", "220"]);
    wait_for("A resized", Duration::from_secs(5), || {
        (geometry(&x, &a).2 >= 300).then_some(())
    });
    let (ax, ay, aw, ah) = geometry(&x, &a);
    let (ux, uy, _, _) = geometry(&x, &u);
    assert!(
        ux > ax && uy > ay && ux + uw < ax + aw && uy + uh < ay + ah,
        "the chat window lies inside the payment window: {:?} {:?}",
        (ax, ay, aw, ah),
        (ux, uy, uw, uh)
    );
    hold();
    // Raised above the chat window: the chat window is hidden under the mask.
    x.run("xdotool", &["windowraise", &a]);
    hold();
    lower(&x, &a);
    hold();
    // A second window, unmasked until it is renamed to match.
    let (_r, r) = xterm(
        &x,
        dir.path(),
        "xterm-r",
        "#ffff00",
        "Notes",
        "20x5+420+300",
    );
    hold();
    x.run("xdotool", &["set_window", "--name", "Card number", &r]);
    wait_for("R renamed", Duration::from_secs(5), || {
        x.run("xprop", &["-id", &r, "WM_NAME"])
            .contains("Card number")
            .then_some(())
    });
    hold();
    stop_recording(rec);

    let frames = decode_frames(&dir.path().join("m.mp4"), W, H);
    assert!(
        frames.len() >= 8,
        "a frame per state at least: {}",
        frames.len()
    );
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(count(f, GREEN), 0, "masked green visible in frame {i}");
    }
    let u_area = (uw * uh) as usize;
    assert_eq!(
        presence(&frames, MAGENTA, u_area * 8 / 10),
        [false, true, false, true],
        "chat window: absent, visible on top of the masked one, hidden when it is raised, \
         visible again when it is lowered"
    );
    assert_eq!(
        presence(&frames, YELLOW, 1000),
        [false, true, false],
        "notes window: absent, visible, masked from its rename on"
    );
    let last = frames.last().unwrap();
    assert!(
        count(last, MASK) >= (aw * ah) as usize - u_area,
        "the masked windows are painted: {} pixels",
        count(last, MASK)
    );
    assert!(count(last, ROOT) > 50_000, "and the desktop is not");
    let log = mask_log(dir.path(), "m");
    assert_eq!(
        log.first()
            .map(|l| (l.0.as_str(), l.1.as_str(), l.2.as_str())),
        Some(("mask_started", "payments", "blank"))
    );
    assert_eq!(
        log.last().map(|l| (l.0.as_str(), l.1.as_str())),
        Some(("mask_ended", "payments"))
    );
    let text = std::fs::read_to_string(dir.path().join("m.masks.jsonl")).unwrap();
    assert!(!text.contains("Card"), "no title in the mask log: {text}");
}

#[test]
fn masking_control_without_a_rule_the_colour_is_recorded_and_class_rules_match_by_glob() {
    let dir = tempdir();
    let x = display(dir.path());
    let (_a, a) = xterm(
        &x,
        dir.path(),
        "xterm-a",
        "#00ff00",
        "Card payment",
        "30x8+40+40",
    );
    let (_, _, aw, ah) = geometry(&x, &a);
    let inside = (aw * ah) as usize * 8 / 10;
    let run = |out: &str, extra: &[&str]| -> Vec<Vec<u8>> {
        let mut args = vec!["record", "--display", &x.display, "--out", out];
        args.extend_from_slice(&["--duration", "2s", "--no-cursor"]);
        args.extend_from_slice(extra);
        let res = Command::new(crate::util::bin())
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        decode_frames(&dir.path().join(out), W, H)
    };
    // Control: without a rule the green window is in every frame.
    for f in run("plain.mp4", &[]) {
        assert!(count(&f, GREEN) >= inside, "green recorded without a mask");
    }
    // A class glob (case-insensitive, on instance or class) masks it...
    for f in run("class.mp4", &["--mask-class", "*XTERM*"]) {
        assert_eq!(count(&f, GREEN), 0);
        assert!(count(&f, MASK) >= (aw * ah) as usize);
    }
    // ...and with a title too, both must hold.
    for f in run(
        "both.mp4",
        &["--mask-class", "xterm", "--mask-title", "^Inbox$"],
    ) {
        assert!(
            count(&f, GREEN) >= inside,
            "title does not match: not masked"
        );
    }
    for f in run(
        "both2.mp4",
        &["--mask-class", "xterm", "--mask-title", "^Card"],
    ) {
        assert_eq!(count(&f, GREEN), 0);
    }
}

#[test]
fn masking_pause_action_blanks_whole_frames_while_the_window_is_mapped() {
    let dir = tempdir();
    let x = display(dir.path());
    let rec = start_recording(
        &x,
        dir.path(),
        "p.mp4",
        &["--mask-title", "^Secret$", "--mask-action", "pause"],
    );
    hold();
    let (_s, s) = xterm(&x, dir.path(), "xterm-s", "#00ff00", "Secret", "20x5+40+40");
    hold();
    // Hidden under another window it still pauses: mapped is what counts.
    let (_c, _) = xterm(&x, dir.path(), "xterm-c", "#ff00ff", "Cover", "60x20+0+0");
    hold();
    x.run("xdotool", &["windowunmap", &s]);
    hold();
    stop_recording(rec);

    let frames = decode_frames(&dir.path().join("p.mp4"), W, H);
    let whole = (W * H) as usize;
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(count(f, GREEN), 0, "frame {i}");
    }
    assert_eq!(
        presence(&frames, MASK, whole * 99 / 100),
        [false, true, false],
        "desktop, then whole painted frames while 'Secret' is mapped, then the desktop again"
    );
    assert!(
        presence(&frames, MAGENTA, 1000).ends_with(&[true]),
        "the cover window shows once the secret one is unmapped"
    );
    let log: Vec<(String, String)> = mask_log(dir.path(), "p")
        .into_iter()
        .map(|(e, _, a)| (e, a))
        .collect();
    assert_eq!(
        log,
        [
            ("mask_started".to_string(), "pause".to_string()),
            ("mask_ended".to_string(), String::new())
        ]
    );
}

#[test]
fn masking_flag_errors_name_the_flag_and_the_position() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 320, 240);
    let run = |args: &[&str]| {
        let out = Command::new(crate::util::bin())
            .args(["record", "--display", &x.display, "--out", "e.mp4"])
            .args(["--duration", "1s"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--mask-title", "ok", "--mask-title", "Card (number"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("--mask-title 'Card (number': invalid regex at character 6: unclosed group"),
        "{err}"
    );
    let (code, err) = run(&["--mask-class", "x", "--mask-action", "stop"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("--mask-action stop") && err.contains("blank or pause"),
        "{err}"
    );
    let (code, err) = run(&["--mask-action", "pause"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("--mask-action and --mask-name need --mask-title or --mask-class"),
        "{err}"
    );
    let (code, err) = run(&["--mask-title", "x", "--source", "synthetic"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--source x11"), "{err}");
    assert!(!dir.path().join("e.mp4").exists() || code != Some(0));
}

#[test]
fn masking_a_window_across_two_monitors_clips_it_into_each_monitors_file() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 1280, 480);
    x.run(
        "xrandr",
        &["--setmonitor", "LEFT", "640/169x480/127+0+0", "screen"],
    );
    x.run(
        "xrandr",
        &["--setmonitor", "RIGHT", "640/169x480/127+640+0", "none"],
    );
    x.run("xsetroot", &["-solid", "#000080"]);
    // Straddles the monitor edge at x = 640.
    let (_a, a) = xterm(
        &x,
        dir.path(),
        "xterm-a",
        "#00ff00",
        "Card payment",
        "40x10+500+100",
    );
    let (ax, _, aw, ah) = geometry(&x, &a);
    assert!(ax < 640 && ax + aw > 640, "{ax} {aw}");
    let out = Command::new(crate::util::bin())
        .args(["record", "--display", &x.display, "--monitor", "all"])
        .args(["--out", "two.mp4", "--duration", "2s", "--no-cursor"])
        .args(["--mask-title", "Card"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left = decode_frames(&dir.path().join("two.LEFT.mp4"), 640, 480);
    let right = decode_frames(&dir.path().join("two.RIGHT.mp4"), 640, 480);
    let on_left = ((640 - ax) * ah) as usize;
    let on_right = ((ax + aw - 640) * ah) as usize;
    for f in &left {
        assert_eq!(count(f, GREEN), 0);
        let grey = count(f, MASK);
        assert!(grey.abs_diff(on_left) < on_left / 20, "{grey} vs {on_left}");
    }
    for f in &right {
        assert_eq!(count(f, GREEN), 0);
        let grey = count(f, MASK);
        assert!(
            grey.abs_diff(on_right) < on_right / 20,
            "{grey} vs {on_right}"
        );
    }
    assert!(!left.is_empty() && !right.is_empty());
}
