//! Telephony and chat events (`events`): idempotent intake by the sender's
//! id, and the timelines dispatch and the interaction API read, in event
//! time, ties in arrival order.

use super::Pool;

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The sender's id (intake is idempotent by it).
    pub id: String,
    /// Type, e.g. `call.started`.
    pub kind: String,
    /// Call.
    pub call_id: Option<String>,
    /// Interaction (chat, email, …).
    pub interaction_id: Option<String>,
    /// DN.
    pub dn: Option<String>,
    /// Switch.
    pub switch: Option<String>,
    /// Event time, RFC 3339.
    pub ts: String,
    /// The event as received, JSON.
    pub body: String,
}

/// Stores a batch (one transaction); returns how many were new (the rest
/// were already there).
pub async fn insert_all(
    db: &Pool,
    events: &[NewEvent],
    received_at: &str,
) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let mut accepted = 0u64;
    for e in events {
        let done = sqlx::query(
            "INSERT INTO events(id, type, call_id, interaction_id, dn, switch, ts, body, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&e.id)
        .bind(&e.kind)
        .bind(&e.call_id)
        .bind(&e.interaction_id)
        .bind(&e.dn)
        .bind(&e.switch)
        .bind(&e.ts)
        .bind(&e.body)
        .bind(received_at)
        .execute(&mut *tx)
        .await?;
        accepted += done.rows_affected();
    }
    tx.commit().await?;
    Ok(accepted)
}

// `rowid` orders events with the same time by arrival: SQLite's implicit
// column; the PostgreSQL schema gives `events` a `rowid` column for the
// same SQL text.

/// The bodies of a call's events.
pub async fn bodies_of_call(db: &Pool, call_id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT body FROM events WHERE call_id = $1 ORDER BY ts, rowid")
        .bind(call_id)
        .fetch_all(db)
        .await
}

/// The bodies of the events of a call or interaction.
pub async fn bodies_of(db: &Pool, id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT body FROM events WHERE call_id = $1 OR interaction_id = $1 ORDER BY ts, rowid",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// An event as dispatch reads it: (type, dn, switch, ts, body).
pub type EventRow = (String, Option<String>, Option<String>, String, String);

/// A call's events.
pub async fn of_call(db: &Pool, call_id: &str) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT type, dn, switch, ts, body FROM events WHERE call_id = $1 ORDER BY ts, rowid",
    )
    .bind(call_id)
    .fetch_all(db)
    .await
}

/// An interaction's events.
pub async fn of_interaction(db: &Pool, id: &str) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT type, dn, switch, ts, body FROM events WHERE interaction_id = $1 ORDER BY ts, rowid",
    )
    .bind(id)
    .fetch_all(db)
    .await
}
