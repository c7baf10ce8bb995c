//! The SQL of the durable webhook outbox (`webhook_outbox`, migration
//! 0026; the rules are [`crate::webhooks`]): one row per (event, webhook
//! URL), written when a recording changes state, read by the delivery job
//! when due, marked done once delivered or given up, pruned later.

use super::Pool;

/// A due delivery: `(event_id, url, body JSON, attempts so far)`.
pub type DueRow = (String, String, String, i64);

/// Writes one row per URL for an event (a repeated event id changes
/// nothing: the event is already queued). RWS queues its events with the
/// state change, in one transaction ([`super::lifecycle::announce_in`]);
/// this stand-alone form serves the outbox's own tests.
pub async fn enqueue(
    db: &Pool,
    event_id: &str,
    urls: &[String],
    body: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    for url in urls {
        sqlx::query(
            "INSERT INTO webhook_outbox(event_id, url, body, created_at, next_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (event_id, url) DO NOTHING",
        )
        .bind(event_id)
        .bind(url)
        .bind(body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Up to `limit` undone rows due at `now`, oldest first (events reach a
/// receiver in the order they happened, retries aside).
pub async fn due(db: &Pool, now: &str, limit: i64) -> Result<Vec<DueRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, url, body, attempts FROM webhook_outbox \
         WHERE done_at IS NULL AND next_at <= $1 ORDER BY created_at, event_id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Marks a row done (`outcome` is `delivered` or `gave up`).
pub async fn done(
    db: &Pool,
    event_id: &str,
    url: &str,
    attempts: i64,
    outcome: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_outbox SET done_at = $1, outcome = $2, attempts = $3 \
         WHERE event_id = $4 AND url = $5",
    )
    .bind(now)
    .bind(outcome)
    .bind(attempts)
    .bind(event_id)
    .bind(url)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a failed attempt: the row is due again at `next_at`.
pub async fn retry_at(
    db: &Pool,
    event_id: &str,
    url: &str,
    attempts: i64,
    next_at: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_outbox SET attempts = $1, next_at = $2 \
         WHERE event_id = $3 AND url = $4 AND done_at IS NULL",
    )
    .bind(attempts)
    .bind(next_at)
    .bind(event_id)
    .bind(url)
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets rows done before `before`.
pub async fn prune(db: &Pool, before: &str) -> Result<u64, sqlx::Error> {
    let gone = sqlx::query("DELETE FROM webhook_outbox WHERE done_at IS NOT NULL AND done_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(gone.rows_affected())
}
