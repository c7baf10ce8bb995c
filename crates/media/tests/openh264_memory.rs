//! What an OpenH264 encoder keeps resident, with the vendored patch
//! (`vendor/openh264-sys2/README.md`): its large buffers are fresh pages that
//! become resident only when written. A 1080p encoder that encoded one still
//! picture (a second monitor where nothing moves: after its first IDR the
//! recorder sends hand-made repeat frames, see `media::skip`) touches only a
//! part of them.
//!
//! Measured (this test's figures, `RssAnon` growth): unpatched 0.9.9 from
//! crates.io 46 MB, patched 21 MB. The bound sits between the two, so the
//! test fails if the patch is lost (e.g. an `openh264-sys2` update without it).
//! It is a file of its own: one test in one process, so no other test's
//! allocations count.

#![allow(clippy::unwrap_used, missing_docs)]

use media::convert::I420Frame;
use media::encoder::{EncoderSettings, H264Encoder};

const W: u32 = 1920;
const H: u32 = 1080;

/// Resident anonymous memory of this process, in bytes.
fn rss_anon() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[test]
fn a_1080p_encoder_after_one_still_picture_keeps_under_30_mb_resident() {
    // A desktop-like picture: a light background with dark text-like rows.
    let mut bgra = vec![236u8; (W * H * 4) as usize];
    for (p, px) in bgra.chunks_exact_mut(4).enumerate() {
        let (x, y) = (p as u32 % W, p as u32 / W);
        if y % 16 < 12 && (x * 7 + y * 3) % 11 < 4 && x < 1500 {
            px.copy_from_slice(&[40, 40, 40, 255]);
        }
    }
    let mut pic = I420Frame::new(W, H).unwrap();
    pic.convert_rows(&bgra, (W * 4) as usize, W, H, 0..H)
        .unwrap();
    drop(bgra);

    let before = rss_anon();
    let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
    let first = enc.encode(&pic, true, 0).unwrap().unwrap();
    assert!(first.keyframe);
    // The heartbeats of a still screen: repeat frames, no encode.
    for _ in 0..5 {
        assert!(enc.repeat_frame().is_some());
    }
    let grown = rss_anon().saturating_sub(before);
    println!("resident growth: {:.1} MB", grown as f64 / 1e6);
    assert!(
        grown < 30_000_000,
        "a 1080p encoder that encoded one still picture grew resident memory by {:.1} MB \
         (patched OpenH264: 21 MB; unpatched: 46 MB)",
        grown as f64 / 1e6
    );
}
