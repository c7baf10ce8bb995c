//! A recording's state change and everything that must not be lost with
//! it, as **one transaction**: the new state, its webhook outbox rows
//! (`webhook_outbox`, [`super::webhooks`]) and, in a cluster, the NOTIFY
//! that carries it to the other nodes' event streams (PostgreSQL sends a
//! NOTIFY at commit, and not at all on rollback). A node that dies
//! between the statements leaves either all of them or none: the state
//! never moves without its event being queued, and an event is never
//! queued for a state that did not happen.
//!
//! The rules (which changes are allowed, what the event says) are the
//! callers' ([`crate::recordings`], [`crate::lifecycle`]); this module only
//! writes what it is given.

use super::{Pool, Tx};
use crate::recording::RecordingState;

/// What goes with a state change: the event, as the outbox and the other
/// nodes receive it.
#[derive(Debug, Clone, Copy)]
pub struct Announce<'a> {
    /// The event's id (the outbox key with each URL).
    pub event_id: &'a str,
    /// The webhook URLs: one outbox row each (none: no rows).
    pub urls: &'a [String],
    /// The event as JSON (the webhook body).
    pub body: &'a str,
    /// `(channel, payload)` to NOTIFY (PostgreSQL only; `None` on SQLite).
    pub notify: Option<(&'a str, &'a str)>,
    /// Now (the outbox rows' creation and first due time).
    pub now: &'a str,
}

/// Writes the NOTIFY and the outbox rows of `a` inside `tx`.
pub async fn announce_in(tx: &mut Tx<'_>, a: &Announce<'_>) -> Result<(), sqlx::Error> {
    if let Some((channel, payload)) = a.notify {
        // Queued in the transaction, sent by PostgreSQL at its commit.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
    }
    for url in a.urls {
        sqlx::query(
            "INSERT INTO webhook_outbox(event_id, url, body, created_at, next_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (event_id, url) DO NOTHING",
        )
        .bind(a.event_id)
        .bind(url)
        .bind(a.body)
        .bind(a.now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Moves recording `id` from `from` to `to` (compare and set, as
/// [`super::recordings::set_state`]) and announces it, in one transaction.
/// Returns false, with nothing written, when the recording was not in
/// `from`; an error rolls everything back.
pub async fn change_state(
    db: &Pool,
    id: &str,
    from: RecordingState,
    to: RecordingState,
    reason: Option<&str>,
    announce: &Announce<'_>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    if !super::recordings::set_state_in(&mut tx, id, from, to, reason, announce.now).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    announce_in(&mut tx, announce).await?;
    tx.commit().await?;
    Ok(true)
}

/// Creates a recording ([`super::recordings::insert`]) and announces it,
/// in one transaction.
pub async fn create(
    db: &Pool,
    new: &super::recordings::NewRow<'_>,
    announce: &Announce<'_>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    super::recordings::insert_in(&mut tx, new).await?;
    announce_in(&mut tx, announce).await?;
    tx.commit().await
}
