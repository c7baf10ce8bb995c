//! The manifest of one recording: its metadata, every media file with the
//! SHA-256 of each segment's plaintext and ciphertext, and the hash of its
//! event timeline. RWS writes it once, when the recording reaches a final
//! state; its canonical bytes ([`Manifest::to_bytes`]) are what is signed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A recording's manifest (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`crate::FORMAT`].
    pub format: String,
    /// When RWS wrote it (RFC 3339).
    pub created_at: String,
    /// The id of the signing key ([`crate::signing::key_id`]).
    pub key_id: String,
    /// The recording's metadata as RWS knows it (id, call, agent, DN,
    /// state, times, pause marks, …): an object, kept as written.
    pub recording: Value,
    /// The media files, one per monitor stream.
    pub media_files: Vec<MediaEntry>,
    /// The event timeline.
    pub events: EventsDigest,
}

/// One media file of the recording, as it is in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaEntry {
    /// Its path in the bundle (`media/…mp4`).
    pub file: String,
    /// RWS's media id.
    pub media_id: String,
    /// Stream number (one per monitor).
    pub stream: u64,
    /// Plaintext size in bytes: the sum of the segments' `plain_len`.
    pub size: u64,
    /// The segments in file order; they tile the plaintext from 0.
    pub segments: Vec<SegmentEntry>,
}

/// One segment (one encrypted fMP4 fragment) of a media file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// Position in the file (0, 1, …).
    pub seq: u64,
    /// Where its plaintext starts in the MP4.
    pub plain_offset: u64,
    /// Its plaintext length.
    pub plain_len: u64,
    /// SHA-256 of the plaintext bytes (hex).
    pub plain_sha256: String,
    /// Who computed `plain_sha256`: `"srs"` (on the agent PC as it wrote the
    /// segment) or `"rws"` (at completion, for clients that did not send it).
    pub plain_sha256_by: String,
    /// Where its age stream starts in the stored (encrypted) file.
    pub cipher_offset: u64,
    /// The age stream's length.
    pub cipher_len: u64,
    /// SHA-256 of the age stream as RWS received and checked it (hex).
    pub cipher_sha256: String,
    /// Media time at the segment's end, ms.
    pub end_ms: u64,
}

/// The event timeline's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsDigest {
    /// Its path in the bundle.
    pub file: String,
    /// How many events it holds.
    pub count: u64,
    /// SHA-256 of its canonical bytes (hex).
    pub sha256: String,
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
#[error("manifest.json: {0}")]
pub struct ManifestError(pub String);

impl Manifest {
    /// The canonical bytes: what `manifest.json` holds and what is signed.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ManifestError> {
        crate::canonical::of(self).map_err(|e| ManifestError(e.to_string()))
    }

    /// Parses `manifest.json`; the format must be [`crate::FORMAT`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError(e.to_string()))?;
        if m.format != crate::FORMAT {
            return Err(ManifestError(format!(
                "format '{}' is not {}",
                m.format,
                crate::FORMAT
            )));
        }
        Ok(m)
    }
}

/// The canonical bytes of an event timeline (`events.json`): a JSON array
/// of the events as received, each in canonical form.
pub fn events_bytes(events: &[Value]) -> Vec<u8> {
    crate::canonical::to_vec(&Value::Array(events.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn sample() -> Manifest {
        Manifest {
            format: crate::FORMAT.into(),
            created_at: "2026-11-30T10:00:00.000Z".into(),
            key_id: "k".into(),
            recording: json!({"id": "r1", "call_id": "c1", "agent": "alice", "marks": []}),
            media_files: vec![MediaEntry {
                file: "media/stream-0.mp4".into(),
                media_id: "m".into(),
                stream: 0,
                size: 10,
                segments: vec![SegmentEntry {
                    seq: 0,
                    plain_offset: 0,
                    plain_len: 10,
                    plain_sha256: crate::sha256_hex(b"0123456789"),
                    plain_sha256_by: "srs".into(),
                    cipher_offset: 0,
                    cipher_len: 200,
                    cipher_sha256: crate::sha256_hex(b"x"),
                    end_ms: 1000,
                }],
            }],
            events: EventsDigest {
                file: "events.json".into(),
                count: 0,
                sha256: crate::sha256_hex(b"[]"),
            },
        }
    }

    #[test]
    fn canonical_bytes_are_sorted_compact_and_stable() {
        let m = sample();
        let bytes = m.to_bytes().unwrap_or_default();
        let text = String::from_utf8(bytes.clone()).unwrap_or_default();
        assert!(text.starts_with(r#"{"created_at":"2026-11-30T10:00:00.000Z","events":{"count":0,"file":"events.json","#), "{text}");
        assert!(!text.contains(' ') && !text.contains('\n'), "{text}");
        // Parse and write again: the same bytes (what verify relies on).
        let back = Manifest::from_bytes(&bytes).map_err(|e| e.to_string());
        assert_eq!(back.as_ref().ok(), Some(&m));
        assert_eq!(back.ok().and_then(|b| b.to_bytes().ok()), Some(bytes));
    }

    #[test]
    fn an_unknown_format_is_refused() {
        let mut m = sample();
        m.format = "other/9".into();
        let bytes = m.to_bytes().unwrap_or_default();
        let err = Manifest::from_bytes(&bytes).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("other/9")));
    }

    #[test]
    fn events_bytes_do_not_depend_on_key_order() {
        let a = events_bytes(&[json!({"b": 1, "a": 2})]);
        let b = events_bytes(&[json!({"a": 2, "b": 1})]);
        assert_eq!(a, b);
        assert_eq!(a, br#"[{"a":2,"b":1}]"#.to_vec());
    }
}
