//! Media upload from SRS to RWS: tus 1.0 (core, creation,
//! creation-defer-length, termination, checksum) under
//! `/api/v2/srs/uploads`, one upload per media file (one per monitor
//! stream), plus the end-of-recording report.
//!
//! The bodies are the encrypted spool files as they are: concatenated age
//! streams, one per fMP4 segment. Two headers of ours ride along on each
//! `PATCH` so that RWS learns the segment index without decrypting; a plain
//! tus client that sends neither still works (RWS then scans the file).

use serde::{Deserialize, Serialize};

use crate::control::StopReason;

/// `PATCH` header: the segments in this body, `cipher_len:plain_len:end_ms`
/// comma-separated (`end_ms` = media time at the end of the segment).
/// Written and parsed (with its limits) by `media::segment_index`.
pub const SEGMENTS_HEADER: &str = "screenrec-segments";

/// `PATCH` header beside [`SEGMENTS_HEADER`]: per segment the SHA-256 of its
/// plaintext (taken by SRS as it wrote it) and of its age stream,
/// `plain_hex:cipher_hex` comma-separated. Optional; written and parsed by
/// `media::segment_index`. RWS checks the ciphertext hashes against the body.
pub const SEGMENT_HASHES_HEADER: &str = "screenrec-segment-hashes";

/// `Upload-Metadata` keys SRS sets on creation.
pub mod meta {
    /// The recording.
    pub const RECORDING_ID: &str = "recording_id";
    /// Stream number within the recording (0-based).
    pub const STREAM: &str = "stream";
    /// The monitor, as JSON [`crate::control::MonitorInfo`].
    pub const MONITOR: &str = "monitor";
    /// Wall-clock time of media time zero (RFC 3339 with milliseconds).
    pub const STARTED_AT: &str = "started_at";
    /// The upload's content type (`video/mp4+age`).
    pub const FILETYPE: &str = "filetype";
}

/// Body of `PUT /api/v2/srs/recordings/{id}/end` (authorised by the
/// recording's upload token): every media file of the recording has been
/// uploaded in full (their final `Upload-Length` is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingEnd {
    /// Why the recording stopped.
    pub reason: StopReason,
    /// True when SRS did not stop cleanly (it crashed or was killed and the
    /// spool was recovered after a restart): the last moments may be missing.
    pub interrupted: bool,
    /// When it stopped (RFC 3339, SRS clock; for an interrupted recording,
    /// the end of the last fragment on disk).
    pub stopped_at: String,
    /// How many media files the recording has.
    pub media_files: u32,
    /// Timeline marks, as `(at RFC 3339, kind, reason)`: `paused`/`resumed`
    /// (reason: why) and `masked`/`unmasked` (reason: the masking rule's name).
    #[serde(default)]
    pub marks: Vec<Mark>,
}

/// A pause or resume on the recording's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// When (RFC 3339).
    pub at: String,
    /// `paused` or `resumed`.
    pub kind: String,
    /// Why (`recording_paused`, `desktop`, …).
    pub reason: String,
}
