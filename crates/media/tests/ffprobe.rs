//! The files media writes, judged by independent tools: ffprobe/ffmpeg
//! decode them, the age CLI decrypts them.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use media::convert::I420Frame;
use media::crypt::{DecryptingReader, SegmentIndex};
use media::encoder::{EncoderSettings, H264Encoder};
use media::fmp4::{Fmp4Muxer, Segment};
use media::paused::paused_frame;
use media::sink::{EncryptedFileSink, PlainFileSink, SegmentSink};

const W: u32 = 320;
const H: u32 = 240;

/// Grey background with a red 40x40 square whose x moves with `i`.
fn frame(i: u32) -> Vec<u8> {
    let mut f = vec![0u8; (W * H * 4) as usize];
    for (p, px) in f.chunks_exact_mut(4).enumerate() {
        let (x, y) = (p as u32 % W, p as u32 / W);
        let sx = 20 + (i * 10) % 200;
        let in_square = (sx..sx + 40).contains(&x) && (100..140).contains(&y);
        px.copy_from_slice(if in_square {
            &[0, 0, 255, 255]
        } else {
            &[128, 128, 128, 255]
        });
    }
    f
}

/// Encodes frames at the given capture times (ms); frames in `paused` (by
/// index) are the paused frame. Returns the segments.
fn encode(times_ms: &[u64], paused: std::ops::Range<usize>, end_ms: u64) -> Vec<Segment> {
    let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
    let mut pic = I420Frame::new(W, H).unwrap();
    let mut mux = Fmp4Muxer::new(W, H, Duration::from_secs(2));
    let mut out = Vec::new();
    for (i, &t) in times_ms.iter().enumerate() {
        let bgra = if paused.contains(&i) {
            paused_frame(W, H)
        } else {
            frame(i as u32)
        };
        pic.convert_rows(&bgra, (W * 4) as usize, W, H, 0..H)
            .unwrap();
        let e = enc
            .encode(&pic, i == 0 || i == paused.end, t)
            .unwrap()
            .unwrap();
        if out.is_empty() {
            let (sps, pps) = enc.parameter_sets().unwrap();
            out.push(mux.init_segment(sps, pps).unwrap());
        }
        if let Some(s) = mux
            .push(e.sample, Duration::from_millis(t), e.keyframe)
            .unwrap()
        {
            out.push(s);
        }
    }
    out.extend(mux.finish(Duration::from_millis(end_ms)).unwrap());
    out
}

fn write(path: &Path, segments: &[Segment]) {
    let mut sink = PlainFileSink::create(path).unwrap();
    for s in segments {
        sink.write_segment(s).unwrap();
    }
}

fn ffprobe(path: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe runs (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn frame_times(path: &Path) -> Vec<f64> {
    ffprobe(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
        ],
    )
    .lines()
    .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
    .collect()
}

/// Decodes frame `n` to RGB24.
fn decode_frame(path: &Path, n: usize) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-vf",
            &format!("select=eq(n\\,{n})"),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), (W * H * 3) as usize);
    out.stdout
}

fn rgb_at(rgb: &[u8], x: u32, y: u32) -> [u8; 3] {
    let i = ((y * W + x) * 3) as usize;
    [rgb[i], rgb[i + 1], rgb[i + 2]]
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 12)
}

#[test]
fn variable_frame_rate_file_is_valid_h264_with_exact_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfr.mp4");
    let times = [0u64, 200, 400, 1400, 1600, 2600, 3600, 3800, 4000, 5000];
    write(&path, &encode(&times, 0..0, 5200));

    let stream = ffprobe(
        &path,
        &[
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "default=nw=1",
        ],
    );
    assert!(
        stream.contains("codec_name=h264")
            && stream.contains("width=320")
            && stream.contains("height=240"),
        "{stream}"
    );
    let got = frame_times(&path);
    let want: Vec<f64> = times.iter().map(|&t| t as f64 / 1000.0).collect();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 0.002, "pts {g} != {w}");
    }
    let dur: f64 = ffprobe(
        &path,
        &["-show_entries", "format=duration", "-of", "csv=p=0"],
    )
    .trim()
    .parse()
    .unwrap();
    assert!((dur - 5.2).abs() < 0.05, "duration {dur}");
    let errors = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        errors.status.success() && errors.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&errors.stderr)
    );
}

#[test]
fn pixels_survive_encoding_and_paused_span_is_blank() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pixels.mp4");
    let times: Vec<u64> = (0..12).map(|i| i * 200).collect();
    write(&path, &encode(&times, 5..8, 2400));
    // Frame 3: red square at x = 20 + 30 .. +40, y 100..140; grey elsewhere.
    let f3 = decode_frame(&path, 3);
    assert!(
        close(rgb_at(&f3, 70, 120), [255, 0, 0]),
        "{:?}",
        rgb_at(&f3, 70, 120)
    );
    assert!(
        close(rgb_at(&f3, 10, 10), [128, 128, 128]),
        "{:?}",
        rgb_at(&f3, 10, 10)
    );
    // Frames 5..8 are the paused frame: background colour in the corner, no red anywhere.
    for n in 5..8 {
        let f = decode_frame(&path, n);
        assert!(
            close(rgb_at(&f, 5, 5), [0x30, 0x30, 0x30]),
            "frame {n}: {:?}",
            rgb_at(&f, 5, 5)
        );
        assert!(
            !f.chunks_exact(3)
                .any(|p| p[0] > 200 && p[1] < 60 && p[2] < 60),
            "frame {n} shows content"
        );
    }
    // And the picture comes back after resume.
    let f9 = decode_frame(&path, 9);
    assert!(
        f9.chunks_exact(3)
            .any(|p| p[0] > 200 && p[1] < 60 && p[2] < 60)
    );
}

#[test]
fn truncated_file_plays_every_complete_fragment() {
    let dir = tempfile::tempdir().unwrap();
    let times: Vec<u64> = (0..40).map(|i| i * 200).collect();
    let segments = encode(&times, 0..0, 8000);
    assert!(segments.len() >= 4, "init + ≥3 fragments");
    let full: Vec<u8> = segments.iter().flat_map(|s| s.bytes.clone()).collect();
    // Cut in the middle of the third fragment, as a crash would.
    let keep: usize =
        segments[..3].iter().map(|s| s.bytes.len()).sum::<usize>() + segments[3].bytes.len() / 2;
    let path = dir.path().join("cut.mp4");
    std::fs::write(&path, &full[..keep]).unwrap();
    let times = frame_times(&path);
    let expected = (segments[1].samples + segments[2].samples) as usize;
    // ffmpeg may also salvage samples of the torn fragment; never fewer.
    assert!(
        times.len() >= expected,
        "{} frames, want ≥ {expected}",
        times.len()
    );
    assert!(times.len() < expected + segments[3].samples as usize);
}

#[test]
fn encrypted_file_round_trips_and_seeks_and_age_cli_decrypts_segments() {
    let dir = tempfile::tempdir().unwrap();
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public();
    let times: Vec<u64> = (0..30).map(|i| i * 200).collect();
    let segments = encode(&times, 0..0, 6000);
    let plain: Vec<u8> = segments.iter().flat_map(|s| s.bytes.clone()).collect();

    let path = dir.path().join("rec.mp4.age");
    let mut sink = EncryptedFileSink::create(&path, vec![recipient]).unwrap();
    for s in &segments {
        sink.write_segment(s).unwrap();
    }
    let cipher = std::fs::read(&path).unwrap();
    assert!(
        !cipher.windows(4).any(|w| w == b"moof"),
        "no plaintext boxes on disk"
    );
    let index = SegmentIndex::from_json_lines(
        &std::fs::read_to_string(EncryptedFileSink::index_path(&path)).unwrap(),
    )
    .unwrap();
    assert_eq!(index.entries.len(), segments.len());
    // The written index also carries each segment's media end time and
    // hashes, which a scan does not give; the offsets and sizes must agree,
    // and the hashes are those of the segment's plaintext and age stream.
    let mut without_times = index.clone();
    for (e, plain) in without_times.entries.iter_mut().zip(&segments) {
        assert!(e.end_ms.is_some(), "the sink records media time");
        e.end_ms = None;
        let c = &cipher[e.cipher_offset as usize..(e.cipher_offset + e.cipher_len) as usize];
        assert_eq!(e.cipher_sha256, Some(media::segment_index::Sha256::of(c)));
        let p = media::crypt::decrypt_segment(c, &identity).unwrap();
        assert_eq!(e.plain_sha256, Some(media::segment_index::Sha256::of(&p)));
        assert_eq!(p.len(), plain.bytes.len());
        e.plain_sha256 = None;
        e.cipher_sha256 = None;
    }
    assert_eq!(
        SegmentIndex::scan(&cipher, &identity),
        without_times,
        "index rebuilt from headers"
    );

    // Sequential read = the plaintext, byte for byte.
    let mut r = DecryptingReader::new(
        std::fs::File::open(&path).unwrap(),
        identity.clone(),
        index.clone(),
    );
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    assert!(all == plain, "decrypts to the identical MP4");

    // Seek reads equal sequential reads, at seeded pseudo-random ranges.
    let mut seed = 0x9e37_79b9_u64;
    for _ in 0..50 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let start = seed % plain.len() as u64;
        let len = (seed >> 33) % 100_000;
        r.seek(SeekFrom::Start(start)).unwrap();
        let mut buf = vec![0u8; len as usize];
        let n = read_full(&mut r, &mut buf);
        let end = (start + len).min(plain.len() as u64) as usize;
        assert_eq!(&buf[..n], &plain[start as usize..end]);
    }

    // The independent age CLI decrypts a segment (the init segment).
    let key = dir.path().join("key.txt");
    use age::secrecy::ExposeSecret;
    std::fs::write(&key, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    let first = index.entries[0];
    let seg_path = dir.path().join("seg0.age");
    std::fs::write(
        &seg_path,
        &cipher[first.cipher_offset as usize..(first.cipher_offset + first.cipher_len) as usize],
    )
    .unwrap();
    let out = Command::new("age")
        .args(["-d", "-i"])
        .arg(&key)
        .arg(&seg_path)
        .output()
        .expect("age CLI (apt-get install age)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == segments[0].bytes);

    // A truncated ciphertext still gives a playable prefix: complete segments are recovered.
    let cut = &cipher[..cipher.len() - 100];
    let recovered = SegmentIndex::scan(cut, &identity);
    assert_eq!(recovered.entries.len(), segments.len() - 1);
    let mut r = DecryptingReader::new(std::io::Cursor::new(cut.to_vec()), identity, recovered);
    let mut prefix = Vec::new();
    r.read_to_end(&mut prefix).unwrap();
    let prefix_path = dir.path().join("prefix.mp4");
    std::fs::write(&prefix_path, &prefix).unwrap();
    let frames = frame_times(&prefix_path).len();
    let expected: u32 = segments[..segments.len() - 1]
        .iter()
        .map(|s| s.samples)
        .sum();
    assert_eq!(frames, expected as usize);
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]).unwrap() {
            0 => break,
            k => n += k,
        }
    }
    n
}
