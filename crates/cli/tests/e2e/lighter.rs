//! The lighter recorder (issue 13 part 5): the first frame is on disk one
//! tick after the start, and a still screen gets its heartbeat frames with a
//! continuous timeline. Judged by ffprobe/ffmpeg.

use std::time::Duration;

use crate::util::{
    Painter, Proc, Xvfb, decode_frames, decodes_cleanly, duration, frame_times, near, rgb, tempdir,
    wait_for,
};

const BLUE: [u8; 3] = [0, 0, 255];

/// The first fragment holds the first frame alone, written when the second
/// frame (forced at the next tick) arrives: a recorder killed as soon as a
/// fragment is on disk leaves a file that plays exactly that one frame
/// (before, the first fragment spanned ~2 s of frames).
#[test]
fn lighter_first_fragment_is_the_first_frame_alone_and_plays_after_kill_9() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 640, 480);
    let p = Painter::new(&x.display);
    p.rect(0, 0, 320, 240, 0x0000ff);
    let out = dir.path().join("first.mp4");
    let mut rec = Proc::screenrec(
        "record",
        dir.path(),
        &[
            "record",
            "--display",
            &x.display,
            "--fps",
            "5",
            "--no-cursor",
            "--out",
            &out.to_string_lossy(),
        ],
        &[],
    );
    wait_for(
        "the first fragment on disk",
        Duration::from_secs(10),
        || {
            let bytes = std::fs::read(&out).ok()?;
            bytes.windows(4).any(|w| w == b"moof").then_some(())
        },
    );
    rec.kill9();
    let times = frame_times(&out);
    assert_eq!(times.len(), 1, "frames in the first fragment: {times:?}");
    let d = duration(&out);
    // One tick at 5 fps (200 ms), give or take the scheduling of a busy machine.
    assert!(d > 0.05 && d < 1.0, "first fragment lasts {d} s");
    assert!(decodes_cleanly(&out));
    let frames = decode_frames(&out, 64, 48);
    assert_eq!(frames.len(), 1);
    assert!(near(rgb(&frames[0], 64, 10, 10), BLUE));
    assert!(
        rec.output().contains("first fragment on disk"),
        "{}",
        rec.output()
    );
}

/// Nothing changes: after the first two frames, one heartbeat frame a
/// second and no more, no gap in the timeline longer than the heartbeat plus
/// a tick, the file lasts the whole recording, and every frame shows the
/// same picture.
#[test]
fn lighter_still_screen_gets_heartbeats_only_with_a_continuous_timeline() {
    let dir = tempdir();
    let x = Xvfb::start(dir.path(), 640, 480);
    let p = Painter::new(&x.display);
    p.rect(0, 0, 320, 240, 0x0000ff);
    let out = dir.path().join("still.mp4");
    let rec = std::process::Command::new(crate::util::bin())
        .args([
            "record",
            "--display",
            &x.display,
            "--fps",
            "5",
            "--no-cursor",
        ])
        .args(["--duration", "9s", "--out"])
        .arg(&out)
        .output()
        .expect("screenrec record");
    assert!(
        rec.status.success(),
        "{}",
        String::from_utf8_lossy(&rec.stderr)
    );
    let times = frame_times(&out);
    // Frames at ~0, 0.2, 1.2, 2.2, … 8.2 s: ~10 (not 45 at 5 fps).
    assert!(
        (8..=12).contains(&times.len()),
        "frames of a still 9 s recording: {times:?}"
    );
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] <= 1.3, "gap in the timeline: {times:?}");
    }
    let d = duration(&out);
    assert!((d - 9.0).abs() < 0.8, "still recording lasts {d} s");
    assert!(decodes_cleanly(&out));
    let frames = decode_frames(&out, 64, 48);
    assert_eq!(frames.len(), times.len());
    for f in &frames {
        assert!(near(rgb(f, 64, 10, 10), BLUE));
        assert!(!near(rgb(f, 64, 50, 40), BLUE));
    }
}
