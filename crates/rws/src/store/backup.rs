//! The SQL of `screenrec rws backup`: a consistent copy of the embedded
//! SQLite database while RWS keeps writing to it.

use std::path::Path;

use super::Pool;

/// Writes a consistent snapshot of the database to `dest` (which must not
/// exist) with `VACUUM INTO`: one read transaction, so the copy is the
/// database as of one instant even while RWS writes; WAL content included.
/// SQLite only (PostgreSQL deployments use `pg_dump`).
///
/// The copy then loses the rows of on-demand live previews running at that
/// instant ([`super::previews`]): a preview must not outlive itself, and it
/// is worth nothing later (RWS clears them at start anyway). The copy is
/// vacuumed again only when there was such a row, so its segments' bytes
/// are not left in free pages.
pub async fn snapshot(db: &Pool, dest: &Path) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let path = dest
        .to_str()
        .ok_or_else(|| sqlx::Error::Protocol(format!("{}: not a UTF-8 path", dest.display())))?;
    sqlx::query("VACUUM INTO $1").bind(path).execute(db).await?;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dest)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Delete);
    let mut copy = sqlx::SqliteConnection::connect_with(&options).await?;
    let previews: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM live_previews) + (SELECT COUNT(*) FROM live_preview_segments) \
         + (SELECT COUNT(*) FROM live_preview_viewers)",
    )
    .fetch_one(&mut copy)
    .await?;
    if previews > 0 {
        for sql in [
            "DELETE FROM live_preview_segments",
            "DELETE FROM live_preview_viewers",
            "DELETE FROM live_previews",
            "VACUUM",
        ] {
            sqlx::query(sql).execute(&mut copy).await?;
        }
    }
    copy.close().await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[tokio::test]
    async fn snapshot_holds_the_rows_and_refuses_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::open_db(&dir.path().join("data")).await.unwrap();
        sqlx::query("CREATE TABLE t (x BIGINT)")
            .execute(&db)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t (x) VALUES (42)")
            .execute(&db)
            .await
            .unwrap();
        let copy_dir = dir.path().join("copy");
        std::fs::create_dir(&copy_dir).unwrap();
        let dest = copy_dir.join("screenrec.db");
        super::snapshot(&db, &dest).await.unwrap();
        let copy = crate::open_db(&copy_dir).await.unwrap();
        let x: i64 = sqlx::query_scalar("SELECT x FROM t")
            .fetch_one(&copy)
            .await
            .unwrap();
        assert_eq!(x, 42);
        // SQLite will not overwrite: a backup never clobbers an older one.
        assert!(super::snapshot(&db, &dest).await.is_err());
    }

    #[tokio::test]
    async fn snapshot_leaves_out_running_live_previews() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::open_db(&dir.path().join("data")).await.unwrap();
        let t = "2026-01-05T10:00:00.000Z";
        let row = crate::store::previews::PreviewRow {
            id: "p1".into(),
            agent: "agent1".into(),
            session_id: "s1".into(),
            token_hash: "h".into(),
            started_at: t.into(),
            ends_at: "2026-01-05T10:10:00.000Z".into(),
        };
        assert!(
            crate::store::previews::create(&db, &row, "v1", "local")
                .await
                .unwrap()
        );
        let secret = b"age-encryption.org/v1\nPREVIEW-CIPHERTEXT-MARKER";
        let put =
            crate::store::previews::put(
                &db,
                "p1",
                0,
                0,
                secret,
                t,
                |_| Ok::<_, String>(Vec::new()),
            )
            .await
            .unwrap();
        assert!(matches!(put, crate::store::previews::Put::Stored));
        let copy_dir = dir.path().join("copy");
        std::fs::create_dir(&copy_dir).unwrap();
        let dest = copy_dir.join("screenrec.db");
        super::snapshot(&db, &dest).await.unwrap();
        let bytes = std::fs::read(&dest).unwrap();
        assert!(
            !bytes
                .windows(b"PREVIEW-CIPHERTEXT-MARKER".len())
                .any(|w| w == b"PREVIEW-CIPHERTEXT-MARKER"),
            "a preview's bytes are not in the backup, not even in free pages"
        );
        let names: Vec<String> = std::fs::read_dir(&copy_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["screenrec.db"], "no journal left beside the copy");
        let copy = crate::open_db(&copy_dir).await.unwrap();
        assert_eq!(crate::store::previews::count(&copy).await.unwrap(), 0);
        // The source still has it (RWS runs on).
        assert_eq!(crate::store::previews::count(&db).await.unwrap(), 1);
    }
}
