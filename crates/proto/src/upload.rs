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
    /// The app lane: active-window changes in order (absent from older SRS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppMark>,
}

/// Most app changes one recording reports (SRS stops adding at this many;
/// RWS refuses an end report with more). With the longest class and title
/// they fit RWS's 4 MiB limit on the end report.
pub const MAX_APP_MARKS: usize = 1000;
/// Longest `WM_CLASS` kept, in characters.
pub const MAX_APP_CLASS_CHARS: usize = 128;
/// Longest window title kept, in characters.
pub const MAX_APP_TITLE_CHARS: usize = 256;

/// The agent switched to another window: the timeline's app lane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppMark {
    /// When it became active (RFC 3339).
    pub at: String,
    /// Its `WM_CLASS` (class half).
    pub class: String,
    /// Its title; a masked window's is the masking rule's name; `None` when
    /// the directory sets `app_titles = false`.
    #[serde(default)]
    pub title: Option<String>,
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
