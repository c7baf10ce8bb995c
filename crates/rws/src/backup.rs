//! `screenrec rws backup`: a copy of a single-node RWS (the embedded SQLite
//! database, the media, the master key) taken while RWS runs, laid out as
//! a data dir so that restoring is copying it back.
//!
//! Order matters for consistency: the database snapshot is taken first
//! (`VACUUM INTO`, one instant), then the staged parts of uploads in
//! progress (`media/staging/`, objects of the media store), then the rest
//! of the media. A part is written before the offset that counts it is
//! committed, and a media object before its parts are deleted, so every
//! byte the snapshot refers to is in the copy (as parts, or as the media
//! object of an upload that finished meanwhile); objects written after the
//! snapshot are extra and harmless: a part past the snapshot's offset is
//! replaced by the next PATCH (tus resumes from the offset in the
//! database). `uploads/` is copied too: the staging files of an RWS from
//! before staging moved into the store, which it moves there at start.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::private_files::{FILE_MODE, private_dir};
use crate::store::Pool;

/// What a backup copied.
#[derive(Debug, Default)]
pub struct Report {
    /// Bytes of the database snapshot.
    pub database_bytes: u64,
    /// Media files copied, and their bytes.
    pub media_files: u64,
    /// Bytes of the media files.
    pub media_bytes: u64,
    /// Uploads in progress whose staged bytes were copied (parts in the
    /// media store, or staging files of an earlier RWS).
    pub staging_files: u64,
    /// Whether `master.key` was copied (false: the key comes from
    /// `SCREENREC_MASTER_KEY` and must be kept apart).
    pub master_key: bool,
}

/// Why a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// `--out` exists and is not empty.
    #[error("--out {0}: exists and is not empty; give a new directory for each backup")]
    OutNotEmpty(PathBuf),
    /// The data dir has no database.
    #[error("{0}: no such database file; is this RWS's data dir (or --database)?")]
    NoDatabase(PathBuf),
    /// The snapshot failed.
    #[error("database snapshot into {path}: {source}")]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What SQLite said.
        source: sqlx::Error,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that `out` is new or empty and creates it (0700).
pub fn prepare_out(out: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::OutNotEmpty(out.to_path_buf()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(out)(e)),
    }
    private_dir(out).map_err(io(out))
}

/// Backs up the data dir `data_dir` (whose database is open as `db`) into
/// `out` (see [`prepare_out`]); `media` is the local media folder, `None`
/// when media lives in an object store that is backed up on its own.
pub async fn run(
    db: &Pool,
    data_dir: &Path,
    media: Option<&Path>,
    out: &Path,
) -> Result<Report, BackupError> {
    let mut report = Report::default();
    let snapshot = out.join("screenrec.db");
    crate::store::backup::snapshot(db, &snapshot)
        .await
        .map_err(|source| BackupError::Snapshot {
            path: snapshot.clone(),
            source,
        })?;
    set_private(&snapshot)?;
    report.database_bytes = std::fs::metadata(&snapshot).map_err(io(&snapshot))?.len();
    let (legacy, _) = copy_tree(&data_dir.join("uploads"), &out.join("uploads"))?;
    report.staging_files = legacy;
    if let Some(media) = media {
        let staging = crate::storage::staging::STAGING;
        // Parts first: see the module doc.
        copy_tree(&media.join(staging), &out.join("media").join(staging))?;
        report.staging_files += std::fs::read_dir(out.join("media").join(staging))
            .map(|rd| rd.count() as u64)
            .unwrap_or(0);
        let (files, bytes) = copy_tree_except(media, &out.join("media"), staging)?;
        report.media_files = files;
        report.media_bytes = bytes;
    }
    let key = data_dir.join("master.key");
    if key.exists() {
        let dest = out.join("master.key");
        std::fs::copy(&key, &dest).map_err(io(&key))?;
        set_private(&dest)?;
        report.master_key = true;
    }
    Ok(report)
}

/// Mode 0600, whatever the source's mode and the umask.
fn set_private(path: &Path) -> Result<(), BackupError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE)).map_err(io(path))
}

/// Copies the files under `from` (missing: nothing) to `to`: directories
/// 0700, files 0600. Skips `object_store`'s half-written files (their
/// names hold a `#`), which become real objects only by a rename.
/// Returns (files, bytes).
fn copy_tree(from: &Path, to: &Path) -> Result<(u64, u64), BackupError> {
    copy_tree_except(from, to, "")
}

/// [`copy_tree`] without `from`'s top-level entry `skip` (if not empty).
fn copy_tree_except(from: &Path, to: &Path, skip: &str) -> Result<(u64, u64), BackupError> {
    let entries = match std::fs::read_dir(from) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(io(from)(e)),
    };
    private_dir(to).map_err(io(to))?;
    let (mut files, mut bytes) = (0, 0);
    for entry in entries {
        let entry = entry.map_err(io(from))?;
        let path = entry.path();
        let name = entry.file_name();
        let kind = entry.file_type().map_err(io(&path))?;
        if !skip.is_empty() && name == skip {
            continue;
        }
        if kind.is_dir() {
            let (f, b) = copy_tree(&path, &to.join(&name))?;
            files += f;
            bytes += b;
        } else if kind.is_file() && !name.to_string_lossy().contains('#') {
            let dest = to.join(&name);
            match std::fs::copy(&path, &dest) {
                Ok(n) => {
                    set_private(&dest)?;
                    files += 1;
                    bytes += n;
                }
                // Removed since it was listed (an upload finished, a
                // recording deleted): the snapshot does not need it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
    }
    Ok((files, bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn out_must_be_new_or_empty() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("b");
        prepare_out(&out).unwrap();
        assert_eq!(mode(&out), 0o700);
        prepare_out(&out).unwrap();
        std::fs::write(out.join("x"), "x").unwrap();
        let e = prepare_out(&out).unwrap_err();
        assert!(e.to_string().contains("not empty"), "{e}");
    }

    #[test]
    fn copy_tree_copies_private_and_skips_half_written_objects() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("media");
        std::fs::create_dir_all(from.join("a/b")).unwrap();
        std::fs::write(from.join("a/b/one"), "12345").unwrap();
        std::fs::write(from.join("two"), "67").unwrap();
        std::fs::write(from.join("two#3"), "half").unwrap();
        std::fs::set_permissions(from.join("two"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let to = dir.path().join("copy");
        assert_eq!(copy_tree(&from, &to).unwrap(), (2, 7));
        assert_eq!(std::fs::read(to.join("a/b/one")).unwrap(), b"12345");
        assert!(!to.join("two#3").exists());
        assert_eq!(mode(&to.join("two")), 0o600);
        assert_eq!(mode(&to.join("a/b")), 0o700);
        assert_eq!(copy_tree(&dir.path().join("none"), &to).unwrap(), (0, 0));
    }

    #[tokio::test]
    async fn run_copies_database_media_staging_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let db = crate::open_db(&data).await.unwrap();
        std::fs::write(data.join("master.key"), "k").unwrap();
        std::fs::create_dir_all(data.join("media/rec")).unwrap();
        std::fs::write(data.join("media/rec/m1"), "media").unwrap();
        // An upload in progress: two staged parts in the store …
        std::fs::create_dir_all(data.join("media/staging/u2")).unwrap();
        std::fs::write(data.join("media/staging/u2/00000000000000000000"), "ab").unwrap();
        std::fs::write(data.join("media/staging/u2/00000000000000000002"), "c").unwrap();
        // … and a staging file of an earlier RWS.
        std::fs::create_dir_all(data.join("uploads")).unwrap();
        std::fs::write(data.join("uploads/u1"), "up").unwrap();
        let out = dir.path().join("out");
        prepare_out(&out).unwrap();
        let report = run(&db, &data, Some(&data.join("media")), &out)
            .await
            .unwrap();
        assert!(report.master_key);
        assert!(report.database_bytes > 0);
        assert_eq!((report.media_files, report.media_bytes), (1, 5));
        assert_eq!(report.staging_files, 2);
        assert_eq!(
            std::fs::read(out.join("media/staging/u2/00000000000000000002")).unwrap(),
            b"c"
        );
        assert_eq!(std::fs::read(out.join("uploads/u1")).unwrap(), b"up");
        assert_eq!(mode(&out.join("screenrec.db")), 0o600);
        assert_eq!(mode(&out.join("master.key")), 0o600);
        assert_eq!(std::fs::read(out.join("media/rec/m1")).unwrap(), b"media");
        // The snapshot is a database RWS opens (its migrations are recorded).
        crate::open_db(&out).await.unwrap();
    }
}
