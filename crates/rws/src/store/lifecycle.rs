//! A recording's state change and everything that must not be lost with
//! it, as **one transaction**: the new state, its row in the event log
//! (`lifecycle_events`, whose `seq` is the SSE event id: [`since`]), its
//! webhook outbox rows (`webhook_outbox`, [`super::webhooks`]) and, in a
//! cluster, the NOTIFY
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

/// The transaction-scoped advisory lock the event-log writers take on
/// PostgreSQL, so that rows commit in `seq` order ("screenrec" + 1).
pub const EVENT_LOG_LOCK: i64 = 0x7363_7265_656e_7266;

/// What goes with a state change: the event, as the event log, the outbox
/// and the other nodes receive it.
#[derive(Debug, Clone, Copy)]
pub struct Announce<'a> {
    /// The event's id (the outbox key with each URL).
    pub event_id: &'a str,
    /// The agent whose recording it is (the event log's visibility key).
    pub agent: &'a str,
    /// PostgreSQL: serialise the event-log writers ([`EVENT_LOG_LOCK`]).
    /// SQLite serialises writers anyway.
    pub postgres: bool,
    /// The webhook URLs: one outbox row each (none: no rows).
    pub urls: &'a [String],
    /// The event as JSON (the webhook body).
    pub body: &'a str,
    /// `(channel, payload)` to NOTIFY (PostgreSQL only; `None` on SQLite);
    /// sent as `<seq> <payload>`.
    pub notify: Option<(&'a str, &'a str)>,
    /// Now (the outbox rows' creation and first due time).
    pub now: &'a str,
}

/// Writes the event-log row, the NOTIFY and the outbox rows of `a` inside
/// `tx`; returns the event's `seq`.
pub async fn announce_in(tx: &mut Tx<'_>, a: &Announce<'_>) -> Result<i64, sqlx::Error> {
    if a.postgres {
        // Held until commit: the next writer takes its seq after this one
        // committed, so readers see seqs appear in order.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(EVENT_LOG_LOCK)
            .execute(&mut **tx)
            .await?;
    }
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO lifecycle_events(event_id, agent, body, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING seq",
    )
    .bind(a.event_id)
    .bind(a.agent)
    .bind(a.body)
    .bind(a.now)
    .fetch_one(&mut **tx)
    .await?;
    if let Some((channel, payload)) = a.notify {
        // Queued in the transaction, sent by PostgreSQL at its commit.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(format!("{seq} {payload}"))
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
    Ok(seq)
}

/// Moves recording `id` from `from` to `to` (compare and set, as
/// [`super::recordings::set_state`]) and announces it, in one transaction.
/// Returns the event's `seq`, or `None`, with nothing written, when the
/// recording was not in `from`; an error rolls everything back.
pub async fn change_state(
    db: &Pool,
    id: &str,
    from: RecordingState,
    to: RecordingState,
    reason: Option<&str>,
    announce: &Announce<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = db.begin().await?;
    if !super::recordings::set_state_in(&mut tx, id, from, to, reason, announce.now).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    let seq = announce_in(&mut tx, announce).await?;
    tx.commit().await?;
    Ok(Some(seq))
}

/// Creates a recording ([`super::recordings::insert`]) and announces it,
/// in one transaction; returns the event's `seq`.
pub async fn create(
    db: &Pool,
    new: &super::recordings::NewRow<'_>,
    announce: &Announce<'_>,
) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    super::recordings::insert_in(&mut tx, new).await?;
    let seq = announce_in(&mut tx, announce).await?;
    tx.commit().await?;
    Ok(seq)
}

/// A logged event: `(seq, agent, body JSON)`.
pub type Logged = (i64, String, String);

/// Up to `limit` logged events after `after`, in `seq` order (an index
/// range on the primary key: a huge `after` reads nothing).
pub async fn since(db: &Pool, after: i64, limit: i64) -> Result<Vec<Logged>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, agent, body FROM lifecycle_events WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Logged events with `after < seq < before`, at most `limit` (the gap a
/// lost NOTIFY left in a live stream).
pub async fn between(
    db: &Pool,
    after: i64,
    before: i64,
    limit: i64,
) -> Result<Vec<Logged>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, agent, body FROM lifecycle_events WHERE seq > $1 AND seq < $2 \
         ORDER BY seq LIMIT $3",
    )
    .bind(after)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Forgets logged events written before `before`.
pub async fn prune(db: &Pool, before: &str) -> Result<u64, sqlx::Error> {
    let gone = sqlx::query("DELETE FROM lifecycle_events WHERE created_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(gone.rows_affected())
}
