//! The vendored OpenH264 patch (`vendor/openh264-sys2/README.md`) changes
//! where OpenH264's buffers live, never what it encodes.
//!
//! * The bitstream of a fixed sequence of 1080p screen pictures (text, typing,
//!   a scroll, a window moving, a still picture) hashes to the value recorded
//!   with the *unpatched* `openh264-sys2` 0.9.9 from crates.io: a patch or an
//!   update that changes one bit of the output fails here.
//! * Memory: see `openh264_memory.rs` (its own process, so other tests'
//!   allocations do not count).

#![allow(clippy::unwrap_used, missing_docs)]

use media::convert::I420Frame;
use media::encoder::{EncoderSettings, H264Encoder};
use sha2::{Digest, Sha256};

const W: u32 = 1920;
const H: u32 = 1080;

/// A deterministic "desktop": a light background, dark text-like glyphs in
/// lines, a dark title bar; `scroll` shifts the text up by that many rows,
/// `typed` adds glyphs at the end of the last line, `window_x` places a
/// 400×300 window.
fn desktop(scroll: u32, typed: u32, window_x: u32) -> Vec<u8> {
    let mut f = vec![0u8; (W * H * 4) as usize];
    let mut put = |x: u32, y: u32, bgra: [u8; 4]| {
        if x < W && y < H {
            let i = ((y * W + x) * 4) as usize;
            f[i..i + 4].copy_from_slice(&bgra);
        }
    };
    for y in 0..H {
        for x in 0..W {
            put(x, y, [236, 236, 236, 255]);
        }
    }
    // Text: 60 lines of 8x14 glyphs; each glyph a pattern from a small LCG.
    let mut seed: u32 = 12345;
    for line in 0..70u32 {
        let glyphs = if line == 40 {
            20 + typed
        } else {
            60 + line % 90
        };
        for g in 0..glyphs {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let bits = seed >> 8;
            for gy in 0..12u32 {
                for gx in 0..7u32 {
                    if bits >> ((gy * 7 + gx) % 24) & 1 == 1 {
                        let y = (line * 16 + gy + 40).checked_sub(scroll);
                        if let Some(y) = y.filter(|&y| y >= 40) {
                            put(20 + g * 8 + gx, y, [40, 40, 40, 255]);
                        }
                    }
                }
            }
        }
    }
    for y in 0..32 {
        for x in 0..W {
            put(x, y, [90, 60, 30, 255]);
        }
    }
    for y in 500..800 {
        for x in window_x..window_x + 400 {
            let edge = y == 500 || y == 799 || x == window_x || x == window_x + 399;
            put(
                x,
                y,
                if edge {
                    [0, 0, 0, 255]
                } else {
                    [250, 240, 200, 255]
                },
            );
        }
    }
    f
}

#[test]
fn the_patched_openh264_encodes_the_same_bits_as_the_published_one() {
    // (scroll, typed, window_x, force a keyframe)
    let script: &[(u32, u32, u32, bool)] = &[
        (0, 0, 900, true),
        (0, 1, 900, false),
        (0, 2, 900, false),
        (0, 3, 900, false),
        (16, 3, 900, false),
        (32, 3, 900, false),
        (32, 3, 940, false),
        (32, 3, 980, false),
        (32, 3, 980, false),
        (48, 4, 980, false),
        (48, 4, 980, true),
        (48, 5, 980, false),
    ];
    let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
    let mut pic = I420Frame::new(W, H).unwrap();
    let mut hash = Sha256::new();
    let mut samples = 0;
    for (i, &(scroll, typed, window_x, key)) in script.iter().enumerate() {
        let bgra = desktop(scroll, typed, window_x);
        pic.convert_rows(&bgra, (W * 4) as usize, W, H, 0..H)
            .unwrap();
        if let Some(e) = enc.encode(&pic, key, i as u64 * 200).unwrap() {
            hash.update((e.sample.len() as u64).to_be_bytes());
            hash.update(&e.sample);
            samples += 1;
        }
    }
    let (sps, pps) = enc.parameter_sets().unwrap();
    hash.update(sps);
    hash.update(pps);
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    println!("samples {samples} sha256 {hex}");
    assert_eq!(samples, script.len(), "every picture is encoded");
    assert_eq!(
        hex, EXPECTED,
        "the bitstream differs from the one the unpatched openh264-sys2 0.9.9 makes"
    );
}

/// Recorded with `[patch.crates-io]` removed from the workspace `Cargo.toml`
/// (the published crate, unpatched).
const EXPECTED: &str = "b3d2a6e2e8689b48a1426dd89ad2e6f53b98f2a1db529b76de8158ddbc201409";
