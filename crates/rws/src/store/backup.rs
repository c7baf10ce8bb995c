//! The SQL of `screenrec rws backup`: a consistent copy of the embedded
//! SQLite database while RWS keeps writing to it.

use std::path::Path;

use super::Pool;

/// Writes a consistent snapshot of the database to `dest` (which must not
/// exist) with `VACUUM INTO`: one read transaction, so the copy is the
/// database as of one instant even while RWS writes; WAL content included.
/// SQLite only (PostgreSQL deployments use `pg_dump`).
pub async fn snapshot(db: &Pool, dest: &Path) -> Result<(), sqlx::Error> {
    let dest = dest
        .to_str()
        .ok_or_else(|| sqlx::Error::Protocol(format!("{}: not a UTF-8 path", dest.display())))?;
    sqlx::query("VACUUM INTO $1").bind(dest).execute(db).await?;
    Ok(())
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
}
