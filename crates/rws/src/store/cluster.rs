//! The SQL of several RWS nodes on one PostgreSQL ([`crate::cluster`]):
//! the durable command queue (`srs_commands`), node leases
//! (`cluster_nodes`), which node holds which control channel
//! (`srs_session_owners`), NOTIFY and the singleton-job advisory lock.
//!
//! Everything here runs on PostgreSQL only (the embedded SQLite node never
//! calls it), but the statements keep the portable dialect of
//! [`super`] except `pg_notify` and `pg_try_advisory_lock`, which are named
//! as such.

use super::Pool;

/// A queued command: `(session, seq, ToAgent JSON)`.
pub type CommandRow = (String, i64, String);

/// Takes the next command sequence number of a session (one atomic
/// statement, so two nodes never hand out the same `seq`); `None` when the
/// session does not exist.
pub async fn take_seq(db: &Pool, session: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE srs_sessions SET next_seq = next_seq + 1 WHERE id = $1 RETURNING next_seq - 1",
    )
    .bind(session)
    .fetch_optional(db)
    .await
}

/// Raises a session's next `seq` to at least `at_least` (SRS's `hello`
/// said which it applied last).
pub async fn raise_seq(db: &Pool, session: &str, at_least: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE srs_sessions SET next_seq = CASE WHEN next_seq > $1 THEN next_seq ELSE $1 END WHERE id = $2",
    )
    .bind(at_least)
    .bind(session)
    .execute(db)
    .await?;
    Ok(())
}

/// Queues a command.
pub async fn insert_command(
    db: &Pool,
    session: &str,
    seq: i64,
    body: &str,
    at: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO srs_commands(session_id, seq, body, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(session)
    .bind(seq)
    .bind(body)
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

/// The unacknowledged commands of one session, in `seq` order.
pub async fn pending_of(db: &Pool, session: &str) -> Result<Vec<CommandRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT session_id, seq, body FROM srs_commands WHERE session_id = $1 AND acked = 0 ORDER BY seq",
    )
    .bind(session)
    .fetch_all(db)
    .await
}

/// The unacknowledged commands of every session whose channel `node`
/// holds (one statement for the whole node: the poll fallback).
pub async fn pending_of_node(db: &Pool, node: &str) -> Result<Vec<CommandRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.session_id, c.seq, c.body FROM srs_commands c \
         JOIN srs_session_owners o ON o.session_id = c.session_id \
         WHERE o.node = $1 AND c.acked = 0 ORDER BY c.session_id, c.seq",
    )
    .bind(node)
    .fetch_all(db)
    .await
}

/// Records SRS's answer to a command.
pub async fn ack(
    db: &Pool,
    session: &str,
    seq: i64,
    ok: bool,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE srs_commands SET acked = 1, ok = $1, error = $2 WHERE session_id = $3 AND seq = $4",
    )
    .bind(i64::from(ok))
    .bind(error)
    .bind(session)
    .bind(seq)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks every command up to `seq` acknowledged (`ok`): SRS's `hello` says
/// it applied them (their acks were lost with the old channel).
pub async fn ack_up_to(db: &Pool, session: &str, seq: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE srs_commands SET acked = 1, ok = 1 WHERE session_id = $1 AND seq <= $2 AND acked = 0",
    )
    .bind(session)
    .bind(seq)
    .execute(db)
    .await?;
    Ok(())
}

/// A command's answer: `None` while unanswered, `Some(None)` when the
/// command is gone (its session ended), else `Some(Some((ok, error)))`.
pub async fn answer(
    db: &Pool,
    session: &str,
    seq: i64,
) -> Result<Option<Option<(bool, Option<String>)>>, sqlx::Error> {
    let row: Option<(i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT acked, ok, error FROM srs_commands WHERE session_id = $1 AND seq = $2",
    )
    .bind(session)
    .bind(seq)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        None => Some(None),
        Some((0, _, _)) => None,
        Some((_, ok, error)) => Some(Some((ok != 0, error))),
    })
}

/// Forgets the commands of sessions that no longer exist, and answered
/// commands older than `before` (they are history once their waiter read
/// the answer).
pub async fn prune_commands(db: &Pool, before: &str) -> Result<u64, sqlx::Error> {
    let gone = sqlx::query(
        "DELETE FROM srs_commands WHERE session_id NOT IN (SELECT id FROM srs_sessions) \
         OR (acked = 1 AND created_at < $1)",
    )
    .bind(before)
    .execute(db)
    .await?;
    Ok(gone.rows_affected())
}

/// Renews (or starts) `node`'s lease until `until`.
pub async fn renew_node(db: &Pool, node: &str, until: &str, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cluster_nodes(node, lease_until, started_at) VALUES ($1, $2, $3) \
         ON CONFLICT (node) DO UPDATE SET lease_until = excluded.lease_until",
    )
    .bind(node)
    .bind(until)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Removes a node that stops cleanly, with its sessions' ownership.
pub async fn leave(db: &Pool, node: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM srs_session_owners WHERE node = $1")
        .bind(node)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM cluster_nodes WHERE node = $1")
        .bind(node)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Forgets nodes whose lease ended before `before`, and the ownership
/// their sessions had (those sessions are unheld until SRS reconnects).
pub async fn forget_dead_nodes(db: &Pool, before: &str) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "DELETE FROM srs_session_owners WHERE node IN \
         (SELECT node FROM cluster_nodes WHERE lease_until < $1)",
    )
    .bind(before)
    .execute(&mut *tx)
    .await?;
    let gone = sqlx::query("DELETE FROM cluster_nodes WHERE lease_until < $1")
        .bind(before)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(gone.rows_affected())
}

/// `node` holds session `session`'s control channel from now on.
pub async fn take_session(
    db: &Pool,
    session: &str,
    node: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO srs_session_owners(session_id, node, since) VALUES ($1, $2, $3) \
         ON CONFLICT (session_id) DO UPDATE SET node = excluded.node, since = excluded.since",
    )
    .bind(session)
    .bind(node)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// `node` no longer holds `session` (unless another node took it since).
pub async fn release_session(db: &Pool, session: &str, node: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM srs_session_owners WHERE session_id = $1 AND node = $2")
        .bind(session)
        .bind(node)
        .execute(db)
        .await?;
    Ok(())
}

/// Sessions whose channel a node with a lease running at `now` holds:
/// `(session, node)`.
pub async fn held_sessions(db: &Pool, now: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.session_id, o.node FROM srs_session_owners o \
         JOIN cluster_nodes n ON n.node = o.node WHERE n.lease_until >= $1",
    )
    .bind(now)
    .fetch_all(db)
    .await
}

/// `NOTIFY channel, payload` (PostgreSQL only): wakes the listening nodes;
/// the rows stay the truth.
pub async fn notify(db: &Pool, channel: &str, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(db)
        .await?;
    Ok(())
}

/// Tries to take the advisory lock `key` on this very connection
/// (PostgreSQL only): held until released or the connection closes, which
/// is what moves a singleton job off a dead node.
pub async fn try_advisory_lock(
    conn: &mut sqlx::PgConnection,
    key: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(conn)
        .await
}

/// A round trip on the lock's connection: an error means the connection
/// (and with it the lock) is gone.
pub async fn ping(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(conn).await?;
    Ok(())
}
