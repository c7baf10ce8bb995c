//! Property tests of the one segment-index type (issue 11): both encodings
//! (JSON lines, the `screenrec-segments` header) round-trip, garbage is
//! refused with an error (never a panic, never an empty index), and a read
//! plan covers exactly the bytes asked for.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

use media::segment_index::{
    AGE_MAGIC, IndexEntry, IndexError, MAX_SEGMENT, SegmentIndex, header, parse_header,
};
use proptest::prelude::*;

/// `(cipher_len, plain_len, end_ms)` as a writer produces them: an age
/// stream is always longer than its plaintext.
fn lens(max_cipher: u64) -> impl Strategy<Value = (u64, u64, Option<u64>)> {
    (1..=max_cipher).prop_flat_map(|c| (Just(c), 0..c, prop::option::of(0u64..1 << 40)))
}

fn index_of(lens: &[(u64, u64, Option<u64>)]) -> SegmentIndex {
    let mut ix = SegmentIndex::default();
    for &(c, p, end_ms) in lens {
        ix.push(c, p);
        ix.entries.last_mut().unwrap().end_ms = end_ms;
    }
    ix
}

/// A PATCH body whose segments are age-looking streams of these lengths.
fn body_of(lens: &[(u64, u64, Option<u64>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for &(c, _, _) in lens {
        let mut s = AGE_MAGIC.to_vec();
        s.resize(c as usize, b'.');
        body.extend_from_slice(&s);
    }
    body
}

proptest! {
    #[test]
    fn json_lines_round_trip(lens in prop::collection::vec(lens(MAX_SEGMENT), 0..40)) {
        let ix = index_of(&lens);
        let text = ix.to_json_lines();
        prop_assert_eq!(SegmentIndex::from_json_lines(&text), Ok(ix.clone()));
        // A crash mid-append leaves a prefix of the next line: dropped.
        let next = ix.entries.last().copied().unwrap_or(IndexEntry {
            cipher_offset: 0, cipher_len: 1, plain_offset: 0, plain_len: 0, end_ms: None,
            plain_sha256: None, cipher_sha256: None,
        }).json_line();
        for cut in 1..next.len() - 1 {
            let torn = format!("{text}{}", &next[..cut]);
            prop_assert_eq!(SegmentIndex::from_json_lines(&torn), Ok(ix.clone()));
        }
    }

    #[test]
    fn header_round_trip(lens in prop::collection::vec(lens(300).prop_filter(
        "an age stream holds at least its header",
        |(c, _, _)| *c >= AGE_MAGIC.len() as u64,
    ), 0..20)) {
        // Times the header can carry (a missing one travels as 0).
        let lens: Vec<_> = lens.into_iter().map(|(c, p, e)| (c, p, Some(e.unwrap_or(0) % 1_000_000))).collect();
        let ix = index_of(&lens);
        let body = body_of(&lens);
        let h = header(&ix.entries);
        prop_assert_eq!(parse_header(h.as_bytes(), &body), Ok(ix.entries.clone()));
    }

    #[test]
    fn a_garbage_line_is_an_error_naming_it(
        lens in prop::collection::vec(lens(1 << 20), 0..10),
        garbage in "[^\n]{1,80}",
        after in prop::collection::vec(lens(1 << 20), 0..3),
    ) {
        prop_assume!(serde_json::from_str::<IndexEntry>(&garbage).is_err());
        prop_assume!(!garbage.trim().is_empty());
        let ix = index_of(&lens);
        // The garbage line is complete (newline-terminated, or followed by
        // more lines): never a torn tail, so never dropped.
        let mut text = format!("{}{garbage}\n", ix.to_json_lines());
        text.push_str(&index_of(&after).to_json_lines());
        let got = SegmentIndex::from_json_lines(&text);
        prop_assert!(
            matches!(&got, Err(IndexError::Line { line, .. }) if *line == lens.len() + 1),
            "{got:?}"
        );
    }

    #[test]
    fn any_text_is_an_index_or_an_error(text in "\\PC{0,300}") {
        // Never a panic; an index that comes back is a valid one.
        if let Ok(ix) = SegmentIndex::from_json_lines(&text) {
            prop_assert_eq!(ix.validate(), Ok(()));
        }
    }

    #[test]
    fn a_shifted_entry_is_refused(
        lens in prop::collection::vec(lens(1 << 20), 2..10),
        which in any::<prop::sample::Index>(),
        shift in 1u64..1000,
        plain in any::<bool>(),
    ) {
        let mut ix = index_of(&lens);
        let k = which.index(ix.entries.len());
        if plain {
            ix.entries[k].plain_offset += shift;
        } else {
            ix.entries[k].cipher_offset += shift;
        }
        let got = SegmentIndex::from_json_lines(&ix.to_json_lines());
        prop_assert!(matches!(got, Err(IndexError::Entry { entry, .. }) if entry == k), "{got:?}");
    }

    #[test]
    fn any_header_is_entries_tiling_the_body_or_an_error(
        h in prop::collection::vec(any::<u8>(), 0..200),
        text in "[0-9:, ]{0,120}",
        body in prop::collection::vec(any::<u8>(), 0..300),
        age in any::<bool>(),
    ) {
        let body = if age { [AGE_MAGIC, &body].concat() } else { body };
        for header in [&h[..], text.as_bytes()] {
            if let Ok(entries) = parse_header(header, &body) {
                let ix = SegmentIndex { entries };
                prop_assert_eq!(ix.validate(), Ok(()));
                prop_assert_eq!(ix.cipher_len(), body.len() as u64);
            }
        }
    }

    #[test]
    fn a_plan_covers_exactly_the_range(
        lens in prop::collection::vec(lens(5000), 1..20),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let ix = index_of(&lens);
        let len = ix.plain_len();
        prop_assume!(len > 0);
        let (x, y) = (a.index(len as usize) as u64, b.index(len as usize) as u64);
        let (start, end) = (x.min(y), x.max(y));
        let plan = ix.plan(start..=end).unwrap();
        let total: u64 = plan.iter().map(|r| r.to - r.from).sum();
        prop_assert_eq!(total, end - start + 1);
        let first = plan.first().unwrap();
        prop_assert_eq!(first.entry.plain_offset + first.from, start);
        for r in &plan {
            prop_assert!(r.from < r.to && r.to <= r.entry.plain_len);
        }
        prop_assert_eq!(ix.plan(start..=len), Err(IndexError::NoSegment(len)));
    }
}
