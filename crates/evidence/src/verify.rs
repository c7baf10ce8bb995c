//! Offline verification of an export bundle, in the order an auditor would
//! check it: the key, the signature over `manifest.json`, the event
//! timeline's hash, then every media file segment by segment. The first
//! thing that does not hold is returned as a [`Mismatch`] naming it (file,
//! segment, byte range); only a bundle where everything holds is
//! [`Verified`].

use std::io::{Read, Seek};
use std::path::Path;

use serde_json::Value;

use crate::manifest::{Manifest, events_bytes};
use crate::names;
use crate::signing::PublicKey;
use crate::zip::ZipReader;

/// Largest `manifest.json` read (a day of 2 s segments on 4 monitors is
/// well under this).
pub const MAX_MANIFEST: u64 = 64 << 20;
/// Largest `events.json` read.
pub const MAX_EVENTS: u64 = 256 << 20;
/// Largest segment hashed at once.
pub const MAX_SEGMENT: u64 = 64 << 20;

/// What a verified bundle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signing key's id.
    pub key_id: String,
    /// Whether the key was given by the auditor (`--key`) rather than
    /// taken from the bundle itself.
    pub key_given: bool,
    /// The recording's id, from the manifest.
    pub recording_id: String,
    /// Media files checked.
    pub media_files: usize,
    /// Segments checked.
    pub segments: usize,
    /// Events in the timeline.
    pub events: u64,
}

/// The first thing in a bundle that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// The bundle cannot be read as one.
    #[error("bundle: {0}")]
    Bundle(String),
    /// The key does not match.
    #[error("key: {0}")]
    Key(String),
    /// The signature does not hold.
    #[error("manifest.sig: {0}")]
    Signature(String),
    /// The event timeline differs from the signed one.
    #[error("events.json: {0}")]
    Events(String),
    /// A media file is missing or of another size.
    #[error("{file}: {reason}")]
    File {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A segment's bytes differ from the signed hash.
    #[error(
        "{file}: segment {seq} (bytes {start}-{end}) does not match its plaintext SHA-256 in the manifest"
    )]
    Segment {
        /// The file.
        file: String,
        /// The segment's number.
        seq: u64,
        /// Its first byte.
        start: u64,
        /// Its last byte (inclusive).
        end: u64,
    },
}

/// Verifies the bundle at `path`; `key` is the public key the auditor
/// trusts (from RWS's `GET /api/v2/keys/signing`, or the tenant's
/// published key). Without it the bundle's own `signing-key.pem` is used,
/// which proves the bundle is intact but not whose it is.
pub fn verify_bundle(path: &Path, key: Option<&PublicKey>) -> Result<Verified, Mismatch> {
    let file = std::fs::File::open(path)
        .map_err(|e| Mismatch::Bundle(format!("{}: {e}", path.display())))?;
    verify_reader(file, key)
}

/// [`verify_bundle`] on any seekable reader.
pub fn verify_reader<R: Read + Seek>(
    inner: R,
    key: Option<&PublicKey>,
) -> Result<Verified, Mismatch> {
    let bundle = |e: crate::zip::ZipError| Mismatch::Bundle(e.to_string());
    let mut zip = ZipReader::new(inner).map_err(bundle)?;
    let manifest_bytes = zip
        .read_small(names::MANIFEST, MAX_MANIFEST)
        .map_err(bundle)?;
    let sig = zip.read_small(names::SIGNATURE, 4096).map_err(bundle)?;
    let sig = String::from_utf8_lossy(&sig).into_owned();
    let pem = zip
        .read_small(names::PUBLIC_KEY, 16 << 10)
        .map_err(bundle)?;
    let bundled = PublicKey::parse(&String::from_utf8_lossy(&pem))
        .map_err(|e| Mismatch::Key(format!("{}: {e}", names::PUBLIC_KEY)))?;

    // 1. The key: the auditor's when given, and the bundle's must be it.
    if let Some(given) = key
        && *given != bundled
    {
        return Err(Mismatch::Key(format!(
            "{} in the bundle is key {}, not the key given with --key ({})",
            names::PUBLIC_KEY,
            bundled.key_id(),
            given.key_id()
        )));
    }
    let trusted = key.copied().unwrap_or(bundled);
    // The key id is read before the signature is checked only to name the
    // key in the message; nothing else of the manifest is believed yet.
    let claimed_id = serde_json::from_slice::<Value>(&manifest_bytes)
        .ok()
        .and_then(|v| v.get("key_id").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    if claimed_id != trusted.key_id() {
        return Err(Mismatch::Key(format!(
            "the manifest was signed with key {claimed_id}, {} is key {}",
            if key.is_some() {
                "the key given with --key"
            } else {
                names::PUBLIC_KEY
            },
            trusted.key_id()
        )));
    }

    // 2. The signature over the exact bytes of manifest.json.
    trusted
        .verify(&manifest_bytes, &sig)
        .map_err(|e| Mismatch::Signature(e.to_string()))?;
    let manifest =
        Manifest::from_bytes(&manifest_bytes).map_err(|e| Mismatch::Bundle(e.to_string()))?;

    // 3. Every file in the bundle is one the manifest covers.
    let covered: Vec<&str> = [
        names::MANIFEST,
        names::SIGNATURE,
        names::PUBLIC_KEY,
        manifest.events.file.as_str(),
    ]
    .into_iter()
    .chain(manifest.media_files.iter().map(|m| m.file.as_str()))
    .collect();
    if let Some(extra) = zip
        .entries()
        .iter()
        .find(|e| !covered.contains(&e.name.as_str()))
    {
        return Err(Mismatch::File {
            file: extra.name.clone(),
            reason: "is not covered by the manifest".into(),
        });
    }

    // 4. The event timeline.
    let events_raw = zip
        .read_small(&manifest.events.file, MAX_EVENTS)
        .map_err(|e| Mismatch::Events(e.to_string()))?;
    let events: Vec<Value> = serde_json::from_slice(&events_raw)
        .map_err(|e| Mismatch::Events(format!("not a JSON array of events ({e})")))?;
    let digest = crate::sha256_hex(&events_bytes(&events));
    if digest != manifest.events.sha256 || events.len() as u64 != manifest.events.count {
        return Err(Mismatch::Events(format!(
            "{} events with SHA-256 {digest}; the signed manifest has {} events with SHA-256 {}: an event was removed, added or changed",
            events.len(),
            manifest.events.count,
            manifest.events.sha256
        )));
    }

    // 5. Each media file, segment by segment.
    let mut segments = 0usize;
    for m in &manifest.media_files {
        let file_err = |reason: String| Mismatch::File {
            file: m.file.clone(),
            reason,
        };
        let entry = zip
            .entry(&m.file)
            .cloned()
            .ok_or_else(|| file_err("is missing from the bundle".into()))?;
        if entry.size != m.size {
            return Err(file_err(format!(
                "has {} bytes; the signed manifest says {}",
                entry.size, m.size
            )));
        }
        let mut at = 0u64;
        for s in &m.segments {
            if s.plain_offset != at || s.plain_len > MAX_SEGMENT {
                return Err(file_err(format!(
                    "the manifest's segment {} does not follow the previous one",
                    s.seq
                )));
            }
            let bytes = zip
                .read_range(&entry, s.plain_offset, s.plain_len)
                .map_err(|e| file_err(e.to_string()))?;
            if crate::sha256_hex(&bytes) != s.plain_sha256 {
                return Err(Mismatch::Segment {
                    file: m.file.clone(),
                    seq: s.seq,
                    start: s.plain_offset,
                    end: (s.plain_offset + s.plain_len).saturating_sub(1),
                });
            }
            at += s.plain_len;
            segments += 1;
        }
        if at != m.size {
            return Err(file_err(format!(
                "the segments cover {at} bytes of {}",
                m.size
            )));
        }
    }
    Ok(Verified {
        key_id: trusted.key_id(),
        key_given: key.is_some(),
        recording_id: manifest
            .recording
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        media_files: manifest.media_files.len(),
        segments,
        events: manifest.events.count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{EventsDigest, MediaEntry, SegmentEntry};
    use crate::signing::SigningKey;
    use crate::zip::ZipWriter;
    use serde_json::json;
    use std::io::Cursor;

    /// A bundle of one media file of two segments, built as RWS builds it.
    fn bundle(key: &SigningKey, media: &[u8], events: &[Value], pem: &str) -> Vec<u8> {
        let events_json = events_bytes(events);
        let cut = media.len() / 2;
        let seg = |seq: u64, from: usize, to: usize| SegmentEntry {
            seq,
            plain_offset: from as u64,
            plain_len: (to - from) as u64,
            plain_sha256: crate::sha256_hex(&media[from..to]),
            plain_sha256_by: "srs".into(),
            cipher_offset: 0,
            cipher_len: 1,
            cipher_sha256: crate::sha256_hex(b""),
            end_ms: 0,
        };
        let manifest = Manifest {
            format: crate::FORMAT.into(),
            created_at: "t".into(),
            key_id: key.public().key_id(),
            recording: json!({"id": "r1"}),
            media_files: vec![MediaEntry {
                file: "media/stream-0.mp4".into(),
                media_id: "m".into(),
                stream: 0,
                size: media.len() as u64,
                segments: vec![seg(0, 0, cut), seg(1, cut, media.len())],
            }],
            events: EventsDigest {
                file: names::EVENTS.into(),
                count: events.len() as u64,
                sha256: crate::sha256_hex(&events_bytes(events)),
            },
        };
        let mbytes = manifest.to_bytes().unwrap_or_default();
        let mut w = ZipWriter::new();
        let mut out = Vec::new();
        for (name, bytes) in [
            ("media/stream-0.mp4", media.to_vec()),
            (names::EVENTS, events_json),
            (names::MANIFEST, mbytes.clone()),
            (names::SIGNATURE, key.sign_b64(&mbytes).into_bytes()),
            (names::PUBLIC_KEY, pem.as_bytes().to_vec()),
        ] {
            out.extend(w.entry(name, &bytes).unwrap_or_default());
        }
        out.extend(w.finish().unwrap_or_default());
        out
    }

    fn events() -> Vec<Value> {
        vec![
            json!({"type": "call.started", "id": "e1"}),
            json!({"type": "call.ended", "id": "e2"}),
        ]
    }

    #[test]
    fn an_intact_bundle_verifies_and_each_change_is_named() {
        let key = SigningKey::from_seed(&[9; 32]);
        let media: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let good = bundle(&key, &media, &events(), &key.public().to_pem());
        let ok = verify_reader(Cursor::new(good.clone()), Some(&key.public()));
        assert_eq!(ok.map(|v| (v.segments, v.events)), Ok((2, 2)));

        // A flipped media byte: the segment and its byte range are named.
        let bad = bundle(&key, &media, &events(), &key.public().to_pem());
        let at = bad
            .windows(media.len())
            .position(|w| w == media.as_slice())
            .unwrap_or(0);
        let mut bad = bad;
        bad[at + 700] ^= 1;
        let err = verify_reader(Cursor::new(bad), None)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "media/stream-0.mp4: segment 1 (bytes 500-999) does not match its plaintext SHA-256 in the manifest"
            )
        );

        // Another key, in the bundle or given by the auditor.
        let other = SigningKey::from_seed(&[8; 32]);
        let swapped = bundle(&key, &media, &events(), &other.public().to_pem());
        let err = verify_reader(Cursor::new(swapped), None).err();
        assert!(matches!(err, Some(Mismatch::Key(_))), "{err:?}");
        let err = verify_reader(Cursor::new(good), Some(&other.public())).err();
        assert!(matches!(err, Some(Mismatch::Key(_))), "{err:?}");
    }

    #[test]
    fn a_deleted_event_is_named() {
        let key = SigningKey::from_seed(&[7; 32]);
        let good = bundle(&key, b"0123456789", &events(), &key.public().to_pem());
        // Rewrite events.json with one event fewer, same length (padding
        // with spaces keeps the zip's offsets; the hash is of the parsed
        // events, so the spaces do not matter, the missing event does).
        let text = events_bytes(&events());
        let one = events_bytes(&events()[..1]);
        let mut padded = one.clone();
        padded.resize(text.len(), b' ');
        let at = good
            .windows(text.len())
            .position(|w| w == text.as_slice())
            .unwrap_or(0);
        let mut bad = good.clone();
        bad[at..at + text.len()].copy_from_slice(&padded);
        let err = verify_reader(Cursor::new(bad), None).err();
        assert!(
            matches!(&err, Some(Mismatch::Events(m)) if m.contains("1 events") && m.contains("removed")),
            "{err:?}"
        );
    }
}
