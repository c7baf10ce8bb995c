//! The audit log (`audit`): who played, downloaded, deleted, held,
//! labelled or purged what, when and from where. Rows are only ever added.

use super::Pool;

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Sequence number (newer records have larger ones).
    pub id: i64,
    /// When (fixed-width UTC text).
    pub at: String,
    /// Who (`retention` for the scheduler).
    pub username: String,
    /// What (`playback`, `download`, `delete`, `hold`, …).
    pub action: String,
    /// On what (recording, media or call id).
    pub target: String,
    /// Free text.
    pub detail: String,
    /// The client's address, when known.
    pub remote: Option<String>,
}

/// A record to add.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    /// When (fixed-width UTC text).
    pub at: &'a str,
    /// Who.
    pub username: &'a str,
    /// What.
    pub action: &'a str,
    /// On what.
    pub target: &'a str,
    /// Free text.
    pub detail: &'a str,
    /// The client's address.
    pub remote: Option<&'a str>,
}

/// Which records [`list`] returns (each `None`: any).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter<'a> {
    /// By this user.
    pub username: Option<&'a str>,
    /// This action.
    pub action: Option<&'a str>,
    /// On this target.
    pub target: Option<&'a str>,
    /// At or after (fixed-width UTC text).
    pub from: Option<&'a str>,
    /// At or before (fixed-width UTC text).
    pub to: Option<&'a str>,
    /// At most this many.
    pub limit: i64,
}

/// Adds a record.
pub async fn insert(db: &Pool, e: &NewAuditEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit(at, username, action, target, detail, remote)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.at)
    .bind(e.username)
    .bind(e.action)
    .bind(e.target)
    .bind(e.detail)
    .bind(e.remote)
    .execute(db)
    .await?;
    Ok(())
}

/// Has `username` played `target` after `since`?
pub async fn played_since(
    db: &Pool,
    username: &str,
    target: &str,
    since: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit
         WHERE username = $1 AND action = 'playback' AND target = $2 AND at > $3",
    )
    .bind(username)
    .bind(target)
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok(n > 0)
}

/// The records that match `f`, newest first. (An absent filter is a NULL
/// parameter; the casts give PostgreSQL its type where it is first seen.)
pub async fn list(db: &Pool, f: &AuditFilter<'_>) -> Result<Vec<AuditEntry>, sqlx::Error> {
    type Row = (i64, String, String, String, String, String, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, at, username, action, target, detail, remote FROM audit
         WHERE (CAST($1 AS TEXT) IS NULL OR username = $1)
           AND (CAST($2 AS TEXT) IS NULL OR action = $2)
           AND (CAST($3 AS TEXT) IS NULL OR target = $3)
           AND (CAST($4 AS TEXT) IS NULL OR at >= $4)
           AND (CAST($5 AS TEXT) IS NULL OR at <= $5)
         ORDER BY id DESC LIMIT $6",
    )
    .bind(f.username)
    .bind(f.action)
    .bind(f.target)
    .bind(f.from)
    .bind(f.to)
    .bind(f.limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, at, username, action, target, detail, remote)| AuditEntry {
                id,
                at,
                username,
                action,
                target,
                detail,
                remote,
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn filters_combine_and_the_newest_come_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::open_db(dir.path()).await.unwrap();
        let add = |at: &'static str, username: &'static str, action: &'static str| {
            let db = db.clone();
            async move {
                let e = NewAuditEntry {
                    at,
                    username,
                    action,
                    target: "m1",
                    detail: "",
                    remote: Some("127.0.0.1"),
                };
                insert(&db, &e).await.unwrap();
            }
        };
        add("2026-01-01T10:00:00.000Z", "ann", "playback").await;
        add("2026-01-01T11:00:00.000Z", "bob", "playback").await;
        add("2026-01-01T12:00:00.000Z", "ann", "download").await;
        add("2026-01-01T13:00:00.000Z", "ann", "playback").await;
        let who = |f: AuditFilter<'static>| {
            let db = db.clone();
            async move {
                list(&db, &f)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| format!("{} {} {}", &e.at[11..13], e.username, e.action))
                    .collect::<Vec<_>>()
            }
        };
        let all = AuditFilter {
            limit: 100,
            ..Default::default()
        };
        assert_eq!(
            who(all.clone()).await,
            [
                "13 ann playback",
                "12 ann download",
                "11 bob playback",
                "10 ann playback"
            ]
        );
        assert_eq!(
            who(AuditFilter {
                username: Some("ann"),
                action: Some("playback"),
                ..all.clone()
            })
            .await,
            ["13 ann playback", "10 ann playback"]
        );
        assert_eq!(
            who(AuditFilter {
                from: Some("2026-01-01T11:00:00.000Z"),
                to: Some("2026-01-01T12:00:00.000Z"),
                ..all.clone()
            })
            .await,
            ["12 ann download", "11 bob playback"]
        );
        assert_eq!(
            who(AuditFilter {
                limit: 1,
                ..all.clone()
            })
            .await,
            ["13 ann playback"]
        );
        assert!(
            who(AuditFilter {
                target: Some("m2"),
                ..all
            })
            .await
            .is_empty()
        );
        // After: strictly later.
        assert!(
            played_since(&db, "ann", "m1", "2026-01-01T12:59:59.999Z")
                .await
                .unwrap()
        );
        assert!(
            !played_since(&db, "ann", "m1", "2026-01-01T13:00:00.000Z")
                .await
                .unwrap()
        );
        assert!(
            !played_since(&db, "bob", "m2", "2026-01-01T00:00:00.000Z")
                .await
                .unwrap()
        );
    }
}
