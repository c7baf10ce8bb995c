//! `screenrec record` under Xvfb, judged by ffprobe/ffmpeg and the age CLI.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{
    Painter, Proc, Xvfb, decode_frames, decodes_cleanly, duration, ffprobe, frame_times, near, rgb,
    tempdir, wait_for,
};

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
/// The background of the paused picture (media::paused).
const PAUSED_BG: [u8; 3] = [0x30, 0x30, 0x30];

fn record(dir: &Path, display: &str, args: &[&str]) -> std::process::Output {
    Command::new(crate::util::bin())
        .arg("record")
        .args(["--display", display])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("screenrec record")
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "screenrec record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn record_one_monitor_is_valid_h264_of_the_right_size_duration_and_content() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 800, 600);
    let p = Painter::new(&x.display);
    p.rect(100, 50, 200, 100, 0xff0000);
    p.rect(500, 400, 100, 80, 0x00ff00);
    let started = Instant::now();
    let out = record(
        dir.path(),
        &x.display,
        &["--out", "one.mp4", "--duration", "4s", "--no-cursor"],
    );
    let wall = started.elapsed().as_secs_f64();
    ok(&out);
    let f = dir.path().join("one.mp4");
    let info = ffprobe(&f, "stream=codec_name,width,height");
    assert!(info.contains("codec_name=h264"), "{info}");
    assert!(
        info.contains("width=800") && info.contains("height=600"),
        "{info}"
    );
    let d = duration(&f);
    assert!(
        (d - 4.0).abs() <= 0.5 && d <= wall,
        "duration {d} s for a 4 s recording"
    );
    let times = frame_times(&f);
    assert!(
        times.len() >= 4,
        "a heartbeat frame at least every second: {times:?}"
    );
    assert!(
        times.windows(2).all(|w| w[1] > w[0]),
        "monotonic: {times:?}"
    );
    assert!(decodes_cleanly(&f));
    let frames = decode_frames(&f, 800, 600);
    let last = frames.last().expect("frames");
    assert!(
        near(rgb(last, 800, 150, 100), RED),
        "{:?}",
        rgb(last, 800, 150, 100)
    );
    assert!(
        near(rgb(last, 800, 550, 440), GREEN),
        "{:?}",
        rgb(last, 800, 550, 440)
    );
    assert!(
        !near(rgb(last, 800, 350, 100), RED),
        "red only inside its window"
    );
}

#[test]
fn record_draws_the_cursor_where_the_pointer_is_unless_told_not_to() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 640, 480);
    let p = Painter::new(&x.display);
    p.rect(0, 0, 640, 480, 0x808080);
    x.run("xdotool", &["mousemove", "300", "200"]);
    let marked = |frame: &[u8], cx: u32, cy: u32| {
        (cx - 10..cx + 14)
            .flat_map(|x| (cy - 10..cy + 14).map(move |y| (x, y)))
            .filter(|&(x, y)| !near(rgb(frame, 640, x, y), [0x80, 0x80, 0x80]))
            .count()
    };
    ok(&record(
        dir.path(),
        &x.display,
        &["--out", "c.mp4", "--duration", "2s"],
    ));
    let frames = decode_frames(&dir.path().join("c.mp4"), 640, 480);
    let last = frames.last().expect("frames");
    assert!(
        marked(last, 300, 200) > 10,
        "cursor pixels near the pointer"
    );
    assert_eq!(marked(last, 100, 100), 0, "and nowhere else");
    ok(&record(
        dir.path(),
        &x.display,
        &["--out", "n.mp4", "--duration", "2s", "--no-cursor"],
    ));
    let frames = decode_frames(&dir.path().join("n.mp4"), 640, 480);
    assert_eq!(marked(frames.last().expect("frames"), 300, 200), 0);
}

#[test]
fn record_blanking_shows_the_paused_frame_for_exactly_the_blanked_span() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 640, 480);
    let p = Painter::new(&x.display);
    p.rect(0, 0, 640, 480, 0xff0000);
    let out = record(
        dir.path(),
        &x.display,
        &[
            "--out",
            "b.mp4",
            "--duration",
            "5s",
            "--no-cursor",
            "--pause-at",
            "2s",
            "--pause-for",
            "1500ms",
        ],
    );
    ok(&out);
    let f = dir.path().join("b.mp4");
    let times = frame_times(&f);
    let frames = decode_frames(&f, 640, 480);
    assert_eq!(times.len(), frames.len());
    let paused: Vec<bool> = frames
        .iter()
        .map(|fr| near(rgb(fr, 640, 5, 5), PAUSED_BG))
        .collect();
    for ((t, fr), is_paused) in times.iter().zip(&frames).zip(&paused) {
        if *is_paused {
            assert!(
                !fr.chunks_exact(3).any(|p| near([p[0], p[1], p[2]], RED)),
                "no content at {t}"
            );
        } else {
            assert!(near(rgb(fr, 640, 5, 5), RED), "content at {t}");
        }
    }
    // The paused frames are exactly those between pause (2 s) and resume (3.5 s).
    let first = times
        .iter()
        .zip(&paused)
        .find(|(_, p)| **p)
        .map(|(t, _)| *t);
    let back = times
        .iter()
        .zip(&paused)
        .skip_while(|(_, p)| !**p)
        .find(|(_, p)| !**p)
        .map(|(t, _)| *t);
    let (first, back) = (
        first.expect("a paused frame"),
        back.expect("content after resume"),
    );
    assert!((first - 2.0).abs() < 0.3, "blanking starts at {first}");
    assert!((back - 3.5).abs() < 0.3, "content returns at {back}");
    assert!(
        times
            .iter()
            .zip(&paused)
            .all(|(t, p)| *p == (*t >= first && *t < back)),
        "one contiguous blanked span: {times:?} {paused:?}"
    );
}

fn two_monitor_display(dir: &Path) -> Xvfb {
    let x = Xvfb::start(dir, 3840, 1080);
    x.run(
        "xrandr",
        &["--setmonitor", "LEFT", "1920/508x1080/286+0+0", "screen"],
    );
    x
}

#[test]
fn record_all_monitors_writes_one_file_each_with_layout_and_follows_hotplug() {
    let dir = tempdir();
    let x = two_monitor_display(dir.path());
    let p = Painter::new(&x.display);
    p.rect(100, 100, 300, 200, 0xff0000);
    p.rect(1920 + 100, 100, 300, 200, 0x00ff00);
    let mut rec = Proc::screenrec(
        "record",
        dir.path(),
        &[
            "record",
            "--display",
            &x.display,
            "--monitor",
            "all",
            "--out",
            &dir.path().join("m.mp4").to_string_lossy(),
            "--duration",
            "5s",
            "--no-cursor",
        ],
        &[],
    );
    let left = dir.path().join("m.LEFT.mp4");
    let right = dir.path().join("m.RIGHT.mp4");
    wait_for("the LEFT stream", Duration::from_secs(5), || {
        left.exists().then_some(())
    });
    // A monitor plugged in mid-recording gets its own stream.
    std::thread::sleep(Duration::from_millis(1500));
    x.run(
        "xrandr",
        &["--setmonitor", "RIGHT", "1920/508x1080/286+1920+0", "none"],
    );
    let status = wait_for("record to finish", Duration::from_secs(15), || rec.exited());
    assert!(status.success(), "{}", rec.output());
    for (f, colour) in [(&left, RED), (&right, GREEN)] {
        let info = ffprobe(f, "stream=codec_name,width,height");
        assert!(
            info.contains("h264") && info.contains("width=1920") && info.contains("height=1080"),
            "{info}"
        );
        assert!(decodes_cleanly(f));
        let frames = decode_frames(f, 1920, 1080);
        assert!(near(
            rgb(frames.last().expect("frames"), 1920, 200, 200),
            colour
        ));
    }
    let dl = duration(&left);
    let dr = duration(&right);
    assert!((dl - 5.0).abs() <= 0.5, "LEFT {dl}");
    assert!(
        dr > 1.0 && dr < dl - 1.0,
        "RIGHT started later: {dr} vs {dl}"
    );
    let layout: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.layout.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = layout["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["LEFT", "RIGHT"]);
    assert_eq!(layout["monitors"][1]["x"], 1920);
    assert_eq!(layout["monitors"][1]["width"], 1920);
}

#[test]
fn record_survives_kill_9_playing_all_but_the_last_fragment() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 1280, 720);
    let p = Painter::new(&x.display);
    p.rect(0, 0, 400, 300, 0x0000ff);
    let out = dir.path().join("k.mp4");
    let mut rec = Proc::screenrec(
        "record",
        dir.path(),
        &[
            "record",
            "--display",
            &x.display,
            "--out",
            &out.to_string_lossy(),
        ],
        &[],
    );
    wait_for("recording to start", Duration::from_secs(5), || {
        std::fs::metadata(&out)
            .ok()
            .filter(|m| m.len() > 0)
            .map(|_| ())
    });
    let n = 6.0;
    std::thread::sleep(Duration::from_secs_f64(n));
    rec.kill9();
    let d = duration(&out);
    assert!(d >= n - 2.5, "after kill -9 at {n} s the file plays {d} s");
    assert!(frame_times(&out).len() >= 4);
}

#[test]
fn record_encrypted_output_is_ciphertext_that_decrypts_to_a_playable_mp4() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 640, 480);
    let p = Painter::new(&x.display);
    p.rect(10, 10, 200, 100, 0xff0000);
    let key = dir.path().join("key.txt");
    let keygen = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen");
    assert!(keygen.status.success());
    let recipient = String::from_utf8_lossy(&keygen.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("Public key: ").map(str::to_string))
        .expect("age-keygen prints the public key");
    ok(&record(
        dir.path(),
        &x.display,
        &[
            "--out",
            "e.mp4",
            "--duration",
            "5s",
            "--encrypt-to",
            &recipient,
        ],
    ));
    let cipher_path = dir.path().join("e.mp4.age");
    let cipher = std::fs::read(&cipher_path).unwrap();
    assert!(!dir.path().join("e.mp4").exists(), "no plaintext file");
    assert!(
        !cipher.windows(4).any(|w| w == b"moof" || w == b"ftyp"),
        "no MP4 boxes in the clear"
    );
    let index = media::crypt::SegmentIndex::from_json_lines(
        &std::fs::read_to_string(dir.path().join("e.mp4.age.idx")).unwrap(),
    )
    .unwrap();
    assert!(
        index.entries.len() >= 3,
        "init + fragments: {}",
        index.entries.len()
    );
    // The age CLI decrypts every segment on its own; together they are the MP4.
    let mut plain = Vec::new();
    for e in &index.entries {
        let seg = dir.path().join("seg.age");
        std::fs::write(
            &seg,
            &cipher[e.cipher_offset as usize..(e.cipher_offset + e.cipher_len) as usize],
        )
        .unwrap();
        let out = Command::new("age")
            .args(["-d", "-i"])
            .arg(&key)
            .arg(&seg)
            .output()
            .expect("age");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        plain.extend(out.stdout);
    }
    // Our seeking reader gives the same bytes.
    let identity = media::crypt::read_identity_file(&key).unwrap();
    let mut reader = media::crypt::DecryptingReader::new(
        std::fs::File::open(&cipher_path).unwrap(),
        identity,
        index,
    );
    let mut ours = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut ours).unwrap();
    assert!(ours == plain, "reader and age CLI agree byte for byte");
    let mp4 = dir.path().join("decrypted.mp4");
    std::fs::write(&mp4, &plain).unwrap();
    assert!(ffprobe(&mp4, "stream=codec_name").contains("h264"));
    assert!(decodes_cleanly(&mp4));
    assert!((duration(&mp4) - 5.0).abs() <= 0.5);
    let frames = decode_frames(&mp4, 640, 480);
    assert!(near(rgb(frames.last().unwrap(), 640, 100, 50), RED));
}

#[test]
fn record_disk_full_stops_cleanly_and_keeps_a_playable_file() {
    let dir = tempdir();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=20k", "tmpfs"])
        .arg(&mnt)
        .status()
        .expect("mount");
    assert!(
        st.success(),
        "mounting a small tmpfs needs root (tests run as root here)"
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mnt);
    let x = Xvfb::start(dir.path(), 640, 480);
    let out = mnt.join("full.mp4");
    // The synthetic source changes every frame, so the 20 KiB fill up within seconds.
    let started = Instant::now();
    let res = Command::new(crate::util::bin())
        .args(["record", "--display", &x.display, "--out"])
        .arg(&out)
        .args(["--duration", "60s", "--source", "synthetic:1920x1080"])
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "stopped when the disk filled up, not at the end"
    );
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("playable up to"), "{err}");
    let d = duration(&out);
    assert!(d > 0.5, "what was recorded plays: {d} s");
    assert!(decodes_cleanly(&out), "no torn fragment at the end");
}

#[test]
fn record_errors_name_the_problem() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 640, 480);
    let out = record(
        dir.path(),
        &x.display,
        &["--out", "x.mp4", "--monitor", "3", "--duration", "1s"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--monitor 3") && err.contains("1 monitor"),
        "{err}"
    );

    let out = record(dir.path(), ":4242", &["--out", "x.mp4", "--duration", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":4242") && err.contains("unavailable"),
        "{err}"
    );

    let out = record(
        dir.path(),
        &x.display,
        &["--out", "/nonexistent/x.mp4", "--duration", "1s"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out /nonexistent/x.mp4"));

    let out = record(
        dir.path(),
        &x.display,
        &["--out", "x.mp4", "--quality", "99"],
    );
    assert_eq!(out.status.code(), Some(2), "clap rejects it");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--quality"));

    let out = record(
        dir.path(),
        &x.display,
        &[
            "--out",
            "x.mp4",
            "--encrypt-to",
            "not-a-key",
            "--duration",
            "1s",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--encrypt-to"));
}

#[test]
fn record_list_monitors_shows_randr_monitors() {
    let dir = tempdir();
    let x = two_monitor_display(dir.path());
    x.run(
        "xrandr",
        &["--setmonitor", "RIGHT", "1920/508x1080/286+1920+0", "none"],
    );
    let out = record(dir.path(), &x.display, &["--list-monitors"]);
    ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("LEFT") && text.contains("RIGHT") && text.contains("+1920+0"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3, "header + 2 monitors: {text}");
}
