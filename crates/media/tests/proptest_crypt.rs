//! Property tests (issue 10, rule 3): the age readers on random, truncated
//! and mutated ciphertext with a real identity, and with hostile segment
//! indexes (sizes as a client could declare them): every read gives the
//! plaintext or an error, never a panic, and no allocation is sized by a
//! number from the input (a bounded allocator checks it).

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

mod alloc_bound;

use std::io::{Cursor, Read, Seek, SeekFrom};

use media::crypt::{DecryptingReader, IndexEntry, SegmentIndex, decrypt_segment, encrypt_segment};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: alloc_bound::Bounded = alloc_bound::Bounded;

/// A media file as SRS writes it: each segment its own age stream.
fn encrypted(segments: &[Vec<u8>], identity: &age::x25519::Identity) -> (Vec<u8>, SegmentIndex) {
    let recipient = identity.to_public();
    let mut file = Vec::new();
    let mut index = SegmentIndex::default();
    for s in segments {
        let c = encrypt_segment(s, std::slice::from_ref(&recipient)).unwrap();
        index.push(c.len() as u64, s.len() as u64);
        file.extend_from_slice(&c);
    }
    (file, index)
}

/// Reads everything, then a few seeks; returns what the first read gave.
fn drain(
    cipher: Vec<u8>,
    identity: &age::x25519::Identity,
    index: SegmentIndex,
    seeks: &[u64],
) -> std::io::Result<Vec<u8>> {
    let mut r = DecryptingReader::new(Cursor::new(cipher), identity.clone(), index);
    let mut all = Vec::new();
    let first = r.read_to_end(&mut all).map(|_| all);
    for &s in seeks {
        if r.seek(SeekFrom::Start(s)).is_ok() {
            let mut buf = [0u8; 100];
            let _ = r.read(&mut buf);
        }
    }
    let _ = r.seek(SeekFrom::End(-1));
    let _ = r.seek(SeekFrom::Current(i64::MIN));
    first
}

fn segments() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 1..4)
}

/// Sizes as a client could declare them.
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..5000,
        Just(u64::MAX),
        (u64::MAX / 2)..=u64::MAX,
        any::<u64>()
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn age_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2000), magic in any::<bool>()) {
        let identity = age::x25519::Identity::generate();
        let mut cipher = if magic { b"age-encryption.org/v1\n".to_vec() } else { Vec::new() };
        cipher.extend_from_slice(&bytes);
        prop_assert!(decrypt_segment(&cipher, &identity).is_err());
        let index = SegmentIndex::scan(&cipher, &identity);
        prop_assert!(index.entries.is_empty());
        let _ = drain(cipher, &identity, index, &[0, 7]);
        prop_assert!(alloc_bound::largest() <= alloc_bound::LIMIT);
    }

    #[test]
    fn age_truncated_and_flipped(
        segs in segments(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        seeks in prop::collection::vec(0u64..10_000, 0..4),
    ) {
        let identity = age::x25519::Identity::generate();
        let (mut cipher, index) = encrypted(&segs, &identity);
        let plain: Vec<u8> = segs.concat();
        let intact = cipher.clone();
        cipher.truncate(cut.index(cipher.len() + 1));
        for (at, b) in &flips {
            if !cipher.is_empty() {
                let i = at.index(cipher.len());
                cipher[i] = *b;
            }
        }
        // The rebuilt index never claims more than the file holds.
        let scanned = SegmentIndex::scan(&cipher, &identity);
        prop_assert!(scanned.entries.len() <= segs.len());
        for e in &scanned.entries {
            prop_assert!(e.cipher_offset + e.cipher_len <= cipher.len() as u64);
        }
        // A read decrypts only the segments that hold plaintext: damage
        // confined to segments without any (an empty segment) is damage no
        // read needs, and may go unseen; damage to any other segment may not.
        let seen = (0..intact.len())
            .filter(|&i| cipher.get(i) != Some(&intact[i]))
            .any(|i| {
                index.entries.iter().any(|e| {
                    e.plain_len > 0 && (e.cipher_offset..e.cipher_offset + e.cipher_len).contains(&(i as u64))
                })
            });
        match drain(cipher.clone(), &identity, index, &seeks) {
            Ok(got) => prop_assert!(!seen && got == plain, "damaged input read as plaintext"),
            Err(_) => prop_assert!(cipher != intact),
        }
        let _ = drain(cipher, &identity, scanned, &seeks);
        prop_assert!(alloc_bound::largest() <= alloc_bound::LIMIT);
    }

    #[test]
    fn age_reader_with_hostile_index(
        segs in segments(),
        entries in prop::collection::vec((size(), size(), size(), size()), 1..5),
        seeks in prop::collection::vec(any::<u64>(), 0..4),
    ) {
        let identity = age::x25519::Identity::generate();
        let (cipher, _) = encrypted(&segs, &identity);
        let index = SegmentIndex {
            entries: entries
                .iter()
                .map(|&(cipher_offset, cipher_len, plain_offset, plain_len)| IndexEntry {
                    cipher_offset,
                    cipher_len,
                    plain_offset,
                    plain_len,
                    end_ms: None,
                    plain_sha256: None,
                    cipher_sha256: None,
                })
                .collect(),
        };
        let _ = drain(cipher, &identity, index, &seeks);
        prop_assert!(alloc_bound::largest() <= alloc_bound::LIMIT);
    }

    #[test]
    fn age_index_pushed_with_client_sizes(sizes in prop::collection::vec((size(), size()), 1..5)) {
        let identity = age::x25519::Identity::generate();
        let mut index = SegmentIndex::default();
        for (c, p) in sizes {
            index.push(c, p);
        }
        let _ = index.plain_len();
        let _ = drain(vec![0; 100], &identity, index, &[0, u64::MAX]);
        prop_assert!(alloc_bound::largest() <= alloc_bound::LIMIT);
    }

    #[test]
    fn segment_index_json_lines(text in "\\PC{0,300}") {
        let _ = SegmentIndex::from_json_lines(&text);
    }
}

/// Found by `age_reader_with_hostile_index`: an index entry claiming
/// 2^63 - 1 ciphertext bytes made the reader allocate that much (abort).
#[test]
fn an_index_claiming_a_huge_segment_is_an_error_not_an_allocation() {
    let identity = age::x25519::Identity::generate();
    let (cipher, _) = encrypted(&[b"hello".to_vec()], &identity);
    let index = SegmentIndex {
        entries: vec![IndexEntry {
            cipher_offset: 0,
            cipher_len: i64::MAX as u64,
            plain_offset: 0,
            plain_len: 5,
            end_ms: None,
            plain_sha256: None,
            cipher_sha256: None,
        }],
    };
    let err = drain(cipher, &identity, index, &[]).unwrap_err();
    assert!(err.to_string().contains("index says"), "{err}");
    assert!(alloc_bound::largest() <= alloc_bound::LIMIT);
}

/// Found by `age_index_pushed_with_client_sizes`: sizes whose sum passes
/// `u64::MAX` overflowed (a panic in debug builds, a wrapped offset in
/// release).
#[test]
fn pushed_sizes_that_overflow_saturate() {
    let mut index = SegmentIndex::default();
    index.push(u64::MAX, u64::MAX);
    let e = index.push(1, 1);
    assert_eq!((e.cipher_offset, e.plain_offset), (u64::MAX, u64::MAX));
    assert_eq!(index.plain_len(), u64::MAX);
}
