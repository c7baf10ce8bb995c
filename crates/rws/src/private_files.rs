//! RWS's files are private to its own user, whatever the umask
//! (threat model, rule 8): the data dir and the media dir 0700; the
//! database (with its `-wal` and `-shm`) and the master key 0600. Modes are
//! set at creation and tightened again at every start, so an install made
//! by an older version (or copied with lax modes) is fixed too.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Mode of the directories.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the database and key files.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with mode 0700, or sets 0700 on it.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
}

/// Sets mode 0600 on each of `files` in `dir` that exists.
pub fn private_files(dir: &Path, files: &[&str]) -> std::io::Result<()> {
    for name in files {
        let path = dir.join(name);
        match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(FILE_MODE)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

/// The database files (SQLite gives `-wal`/`-shm` the database's mode).
pub const DATABASE_FILES: &[&str] = &["screenrec.db", "screenrec.db-wal", "screenrec.db-shm"];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_set_whatever_they_were() {
        let tmp = std::env::temp_dir().join(format!("rws-private-{}", std::process::id()));
        let dir = tmp.join("a/b");
        private_dir(&dir).unwrap();
        std::fs::write(dir.join("screenrec.db"), b"x").unwrap();
        std::fs::set_permissions(
            dir.join("screenrec.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        private_files(&dir, DATABASE_FILES).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("screenrec.db")), 0o600);
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
