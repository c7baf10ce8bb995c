//! The spool: where SRS keeps every recording until RWS has confirmed it,
//! one private folder per recording. This module owns the layout (paths and
//! file names), the typed [`Manifest`], the per-stream files and the wake-up
//! that tells the uploader a segment has been written.
//!
//! ```text
//! <spool>/rec/<recording id>/recording.json   manifest (0600; holds the upload token)
//!                            stream-<n>.json  monitor and start time of stream n
//!                            stream-<n>.age   concatenated age streams, one per fMP4 segment
//!                            stream-<n>.age.idx  segment index (JSON lines, media::segment_index)
//!                            stream-<n>.url   the tus upload URL, once created
//! ```
//!
//! Compatibility: the files are those earlier versions wrote (the manifest's
//! `state` is the same lower-case string, now an enum), so a spool left by
//! the previous version still uploads after an upgrade.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use media::segment_index::{IndexError, SegmentIndex};
use proto::control::{MonitorInfo, StopReason};
use proto::upload::Mark;
use serde::{Deserialize, Serialize};

/// Where a spooled recording is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpoolState {
    /// The recorder is (or was, until a crash) writing it.
    Recording,
    /// The last fragment is written; what remains is the upload.
    Stopped,
    /// SRS stopped mid-recording (SIGTERM for a restart, or a crash found
    /// at start): its segments upload, but the recording is not ended — a
    /// `start` with `resume` from RWS continues it in new streams, or it is
    /// closed after the resume grace (`crate::recording::finish_suspended`).
    /// (An SRS older than this state skips such a folder.)
    Suspended,
}

/// The manifest of a spooled recording (`recording.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Recording id.
    pub recording_id: String,
    /// The interaction it was started for.
    pub interaction_id: String,
    /// RWS base URL the uploads go to.
    pub server: String,
    /// tus creation URL (absolute).
    pub upload_url: String,
    /// Bearer token for this recording's uploads only.
    pub upload_token: String,
    /// Start (RFC 3339).
    pub started_at: String,
    /// Recording or stopped.
    pub state: SpoolState,
    /// Why it stopped.
    pub reason: Option<StopReason>,
    /// SRS did not stop it cleanly.
    #[serde(default)]
    pub interrupted: bool,
    /// When it stopped.
    pub stopped_at: Option<String>,
    /// Pauses and resumes.
    #[serde(default)]
    pub marks: Vec<Mark>,
    /// Active-window changes (the app lane).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<proto::upload::AppMark>,
    /// Upload cap RWS sent with `start` (kbit/s), kept for uploads after a
    /// restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_rate_kbit: Option<u32>,
    /// While `suspended`: when the recording stopped (the end of its last
    /// fragment on disk), the start of the gap a resume marks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_from: Option<String>,
    /// The agent logged in when it started: only a session of the same
    /// agent continues it after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// Per-stream metadata file (`stream-<n>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamMeta {
    /// Stream number.
    pub stream: usize,
    /// The monitor.
    pub monitor: MonitorInfo,
    /// Wall-clock time of media time zero (RFC 3339).
    pub started_at: String,
}

/// Tells the uploader that the spool has new work (a segment written, a
/// recording stopped). A permit is kept when nobody waits, so a wake during
/// an upload pass is not lost.
pub type Wake = Arc<tokio::sync::Notify>;

/// `<spool>/rec`.
pub fn rec_root(spool: &Path) -> PathBuf {
    spool.join("rec")
}

/// The recording folders of the spool, sorted (oldest id first is not
/// implied; sorted only so passes are deterministic).
pub fn recording_dirs(spool: &Path) -> Vec<RecDir> {
    let Ok(rd) = std::fs::read_dir(rec_root(spool)) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter().map(RecDir).collect()
}

/// One recording's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecDir(pub PathBuf);

impl RecDir {
    /// The folder of `recording_id` in `spool`.
    pub fn of(spool: &Path, recording_id: &str) -> Self {
        RecDir(rec_root(spool).join(recording_id))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `recording.json`.
    pub fn manifest_path(&self) -> PathBuf {
        self.0.join("recording.json")
    }

    /// `stream-<n>.json`.
    pub fn stream_meta_path(&self, n: usize) -> PathBuf {
        self.0.join(format!("stream-{n}.json"))
    }

    /// `stream-<n>.age`.
    pub fn media_path(&self, n: usize) -> PathBuf {
        self.0.join(format!("stream-{n}.age"))
    }

    /// `stream-<n>.age.idx` (as [`media::sink::EncryptedFileSink::index_path`]).
    pub fn index_path(&self, n: usize) -> PathBuf {
        media::sink::EncryptedFileSink::index_path(&self.media_path(n))
    }

    /// `stream-<n>.url`.
    pub fn url_path(&self, n: usize) -> PathBuf {
        self.0.join(format!("stream-{n}.url"))
    }

    /// Reads the manifest; `None` when there is none or it does not parse
    /// (a folder being created, or not ours).
    pub fn load_manifest(&self) -> Option<Manifest> {
        serde_json::from_slice(&std::fs::read(self.manifest_path()).ok()?).ok()
    }

    /// Writes the manifest atomically, private.
    pub fn save_manifest(&self, m: &Manifest) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(m).map_err(std::io::Error::other)?;
        write_private(&self.manifest_path(), &json)
    }

    /// The streams, in order, up to the first missing `stream-<n>.json`
    /// (one that does not parse is skipped).
    pub fn streams(&self) -> Vec<(usize, StreamMeta)> {
        let mut out = Vec::new();
        for n in 0.. {
            let Ok(bytes) = std::fs::read(self.stream_meta_path(n)) else {
                break;
            };
            if let Ok(meta) = serde_json::from_slice::<StreamMeta>(&bytes) {
                out.push((n, meta));
            }
        }
        out
    }

    /// Writes `stream-<n>.json`.
    pub fn save_stream_meta(&self, meta: &StreamMeta) -> std::io::Result<()> {
        let json = serde_json::to_vec(meta).map_err(std::io::Error::other)?;
        write_private(&self.stream_meta_path(meta.stream), &json)
    }

    /// Stream `n`'s segment index. No index file yet is an empty index (the
    /// stream's sink was not created); a corrupt one is an error naming the
    /// line or entry.
    pub fn index(&self, n: usize) -> Result<SegmentIndex, SpoolError> {
        let path = self.index_path(n);
        match std::fs::read_to_string(&path) {
            Ok(text) => SegmentIndex::from_json_lines(&text)
                .map_err(|e| SpoolError::Index(path.display().to_string(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SegmentIndex::default()),
            Err(e) => Err(SpoolError::Io(path.display().to_string(), e.to_string())),
        }
    }

    /// The tus upload URL of stream `n`, once created.
    pub fn upload_url(&self, n: usize) -> Option<String> {
        std::fs::read_to_string(self.url_path(n))
            .ok()
            .map(|u| u.trim().to_string())
    }
}

/// Why a spool file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A segment index that does not parse.
    #[error("{0}: {1}")]
    Index(String, IndexError),
    /// A file that cannot be read.
    #[error("{0}: {1}")]
    Io(String, String),
}

/// Creates `dir` (and missing parents) and makes it mode 0700 whatever the
/// umask: the spool holds upload tokens and media (rule 8).
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    // An existing folder keeps its mode with `create`: set it.
    set_private(dir, 0o700)
}

/// Sets `path`'s mode (0600 files, 0700 folders) on Unix.
pub(crate) fn set_private(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Writes a file atomically (temp + rename), mode 0600, synced.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).write(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Bytes used by the spool's recordings.
pub(crate) fn usage(spool: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        rd.flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
    walk(&rec_root(spool))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A manifest as SRS 0.x wrote it (state as a string, no rate cap).
    const OLD_MANIFEST: &str = r#"{
  "recording_id": "0b7c3f8e-1d2a-4c5b-9e8f-7a6b5c4d3e2f",
  "interaction_id": "call-1",
  "server": "https://rws.example:8443/",
  "upload_url": "https://rws.example:8443/api/v2/srs/uploads",
  "upload_token": "tok",
  "started_at": "2026-11-29T10:00:00.000Z",
  "state": "recording",
  "reason": null,
  "stopped_at": null
}"#;

    #[test]
    fn an_old_manifest_loads_and_saves_the_same_state_string() {
        let m: Manifest = serde_json::from_str(OLD_MANIFEST).unwrap();
        assert_eq!(m.state, SpoolState::Recording);
        assert!(!m.interrupted && m.marks.is_empty() && m.upload_rate_kbit.is_none());
        let mut m = m;
        m.state = SpoolState::Stopped;
        m.reason = Some(StopReason::SrsRestarted);
        let v: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(v["state"], "stopped");
        assert_eq!(v["reason"], "srs_restarted");
    }

    #[test]
    fn an_unknown_state_is_refused_not_guessed() {
        let text = OLD_MANIFEST.replace("\"recording\"", "\"uploading\"");
        assert!(serde_json::from_str::<Manifest>(&text).is_err());
    }

    #[test]
    fn a_corrupt_index_file_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let rec = RecDir(dir.path().to_path_buf());
        assert_eq!(
            rec.index(0).ok(),
            Some(SegmentIndex::default()),
            "no file yet"
        );
        let mut ix = SegmentIndex::default();
        ix.push(100, 10);
        let text = format!("{}not json\n", ix.to_json_lines());
        std::fs::write(rec.index_path(0), text).unwrap();
        let err = rec.index(0).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("stream-0.age.idx: line 2:"), "{err}");
    }
}
