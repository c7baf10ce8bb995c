//! What compliance changes on recordings: legal hold, labels, and removal
//! (the rows; deleting the media objects is the caller's).

use super::Pool;

/// Places (`hold`) or releases a legal hold on recording `id`, with its
/// reason (`None` clears it).
pub async fn set_hold(
    db: &Pool,
    id: &str,
    hold: bool,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE recordings SET legal_hold = $1, hold_reason = $2 WHERE id = $3")
        .bind(i64::from(hold))
        .bind(reason)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Labels recording `id` (nothing when it already has the label).
pub async fn add_label(db: &Pool, id: &str, label: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO recording_labels(recording_id, label) VALUES ($1, $2)
         ON CONFLICT (recording_id, label) DO NOTHING",
    )
    .bind(id)
    .bind(label)
    .execute(db)
    .await?;
    Ok(())
}

/// Removes a label from recording `id` (nothing when it does not have it).
pub async fn remove_label(db: &Pool, id: &str, label: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recording_labels WHERE recording_id = $1 AND label = $2")
        .bind(id)
        .bind(label)
        .execute(db)
        .await?;
    Ok(())
}

/// A media file of a recording, as removal needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaObject {
    /// The media id (also names its staging file).
    pub id: String,
    /// Its storage key, once stored.
    pub object_path: Option<String>,
}

/// Recording `id`'s media files.
pub async fn media_objects(db: &Pool, id: &str) -> Result<Vec<MediaObject>, sqlx::Error> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT id, object_path FROM media_files WHERE recording_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, object_path)| MediaObject { id, object_path })
        .collect())
}

/// Removes recording `id`'s rows (media files, interactions, marks and
/// labels go with it).
pub async fn delete_recording(db: &Pool, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recordings WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn hold_labels_and_removal() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::open_db(dir.path()).await.unwrap();
        let t = "2026-01-01T00:00:00.000Z";
        sqlx::query(
            "INSERT INTO recordings(id, username, interaction_id, media, state, requested_at,
               max_duration_s, upload_token_hash, last_activity, updated_at)
             VALUES ('r1', 'a', 'call', 'voice', 'completed', $1, 60, 'h', $1, $1)",
        )
        .bind(t)
        .execute(&db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO media_files(id, recording_id, stream, monitor, started_at, object_path)
             VALUES ('m1', 'r1', 0, '{}', $1, 'k/m1'), ('m2', 'r1', 1, '{}', $1, NULL)",
        )
        .bind(t)
        .execute(&db)
        .await
        .unwrap();
        let hold = || async {
            sqlx::query_as::<_, (i64, Option<String>)>(
                "SELECT legal_hold, hold_reason FROM recordings WHERE id = 'r1'",
            )
            .fetch_one(&db)
            .await
            .unwrap()
        };
        set_hold(&db, "r1", true, Some("case 7")).await.unwrap();
        assert_eq!(hold().await, (1, Some("case 7".into())));
        set_hold(&db, "r1", false, None).await.unwrap();
        assert_eq!(hold().await, (0, None));

        add_label(&db, "r1", "x").await.unwrap();
        add_label(&db, "r1", "x").await.unwrap();
        add_label(&db, "r1", "y").await.unwrap();
        remove_label(&db, "r1", "y").await.unwrap();
        remove_label(&db, "r1", "never").await.unwrap();
        let labels: Vec<String> =
            sqlx::query_scalar("SELECT label FROM recording_labels WHERE recording_id = 'r1'")
                .fetch_all(&db)
                .await
                .unwrap();
        assert_eq!(labels, ["x"]);

        assert_eq!(
            media_objects(&db, "r1").await.unwrap(),
            [
                MediaObject {
                    id: "m1".into(),
                    object_path: Some("k/m1".into())
                },
                MediaObject {
                    id: "m2".into(),
                    object_path: None
                }
            ]
        );
        delete_recording(&db, "r1").await.unwrap();
        assert!(media_objects(&db, "r1").await.unwrap().is_empty());
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recording_labels")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(left, 0);
    }
}
