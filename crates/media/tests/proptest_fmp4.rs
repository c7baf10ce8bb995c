//! Property tests (issue 10, rule 3): reading MP4 boxes of an uploaded
//! media file. RWS decrypts what SRS sent, and anything that reads its
//! boxes (a duration scan, a remux) parses client bytes. Our fragments and
//! init segment, truncated, byte-flipped or with box sizes replaced by
//! hostile values, and random bytes, are decoded with `mp4-atom` (the box
//! reader our muxer is built on): every decode gives boxes or an error,
//! never a panic, and no allocation is sized by a box's declared length.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

mod alloc_bound;

use std::time::Duration;

use media::fmp4::Fmp4Muxer;
use mp4_atom::{Any, DecodeMaybe};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: alloc_bound::Bounded = alloc_bound::Bounded;

/// Init segment and fragments from our muxer (a valid media file).
fn valid() -> Vec<u8> {
    let mut m = Fmp4Muxer::new(64, 48, Duration::from_millis(500));
    let mut out = m
        .init_segment(
            &[0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02],
            &[0x68, 0xce, 0x3c, 0x80],
        )
        .unwrap()
        .bytes;
    for ms in (0u64..2000).step_by(100) {
        let sample = vec![
            0,
            0,
            0,
            5,
            if ms % 1000 == 0 { 0x65 } else { 0x41 },
            1,
            2,
            3,
            4,
        ];
        if let Some(f) = m
            .push(sample, Duration::from_millis(ms), ms % 1000 == 0)
            .unwrap()
        {
            out.extend_from_slice(&f.bytes);
        }
    }
    if let Some(f) = m.finish(Duration::from_millis(2100)).unwrap() {
        out.extend_from_slice(&f.bytes);
    }
    out
}

/// The last whole fragment (moof + mdat) of a second of media, as RWS's
/// duration scan ([`media::fmp4::fragment_end`]) reads it (the first
/// fragment holds the first frame alone).
fn valid_fragment() -> Vec<u8> {
    let mut m = Fmp4Muxer::new(64, 48, Duration::from_millis(500));
    let mut frag = None;
    for ms in (0u64..1000).step_by(100) {
        let sample = vec![0, 0, 0, 5, if ms == 0 { 0x65 } else { 0x41 }, 1, 2, 3, 4];
        if let Some(f) = m.push(sample, Duration::from_millis(ms), ms == 0).unwrap() {
            frag = Some(f.bytes);
        }
    }
    frag.expect("a fragment within a second")
}

/// Decodes boxes until the end, an incomplete box or an error; returns how
/// many decoded.
fn boxes(bytes: &[u8]) -> usize {
    let mut buf = bytes;
    let mut n = 0;
    while !buf.is_empty() {
        match Any::decode_maybe(&mut buf) {
            Ok(Some(_)) => n += 1,
            Ok(None) | Err(_) => break,
        }
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mp4_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = boxes(&bytes);
        prop_assert!(alloc_bound::largest() <= alloc_bound::LIMIT);
    }

    #[test]
    fn mp4_truncated(cut in any::<prop::sample::Index>()) {
        let v = valid();
        let _ = boxes(&v[..cut.index(v.len() + 1)]);
        prop_assert!(alloc_bound::largest() <= alloc_bound::LIMIT);
    }

    #[test]
    fn mp4_byte_flipped(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut v = valid();
        for (at, b) in flips {
            let i = at.index(v.len());
            v[i] = b;
        }
        let _ = boxes(&v);
        prop_assert!(alloc_bound::largest() <= alloc_bound::LIMIT);
    }

    #[test]
    fn mp4_hostile_sizes_and_counts(
        at in any::<prop::sample::Index>(),
        word in prop_oneof![Just(u32::MAX), Just(0u32), Just(1u32), Just(8u32), Just(0x7fff_ffffu32), any::<u32>()],
    ) {
        // Overwrite one aligned 32-bit word: box sizes, entry counts and
        // sample sizes are all 32-bit big-endian fields.
        let mut v = valid();
        let i = at.index(v.len() - 4);
        v[i..i + 4].copy_from_slice(&word.to_be_bytes());
        let _ = boxes(&v);
        prop_assert!(alloc_bound::largest() <= alloc_bound::LIMIT);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// RWS times header-less uploads by reading each fragment's `tfdt` and
    /// sample durations: random, truncated, flipped or hostile-word bytes
    /// give a time or `None`, never a panic or a large allocation.
    #[test]
    fn fragment_end_on_hostile_fragments(
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        word in prop::option::of((any::<prop::sample::Index>(), prop_oneof![Just(u32::MAX), Just(0u32), any::<u32>()])),
        random in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut v = valid_fragment();
        for (at, b) in flips {
            let i = at.index(v.len());
            v[i] = b;
        }
        if let Some((at, w)) = word {
            let i = at.index(v.len() - 4);
            v[i..i + 4].copy_from_slice(&w.to_be_bytes());
        }
        let _ = media::fmp4::fragment_end(&v);
        let _ = media::fmp4::fragment_end(&v[..cut.index(v.len() + 1)]);
        let _ = media::fmp4::fragment_end(&random);
        prop_assert!(alloc_bound::largest() <= alloc_bound::LIMIT);
    }
}

#[test]
fn a_valid_fragment_is_timed() {
    let end = media::fmp4::fragment_end(&valid_fragment()).expect("timed");
    assert!(end >= Duration::from_millis(500), "{end:?}");
}

#[test]
fn the_valid_file_decodes() {
    let v = valid();
    assert!(boxes(&v) >= 4, "ftyp, moov, moof, mdat at least");
}
