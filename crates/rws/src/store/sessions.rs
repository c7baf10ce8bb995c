//! SRS sessions as persisted across restarts (`srs_sessions`: who, where,
//! the command sequence), and what opening a session or dispatching a
//! recording reads about an agent's place, devices and recording rule.

use super::Pool;

/// A persisted SRS session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Session id.
    pub id: String,
    /// Agent.
    pub username: String,
    /// Place.
    pub place: String,
    /// Devices, JSON array of `{dn, switch}`.
    pub devices: String,
    /// Hash of its bearer token.
    pub token_hash: String,
    /// A standby session.
    pub standby: bool,
    /// SRS's version.
    pub srs_version: String,
    /// The agent PC's name.
    pub hostname: Option<String>,
    /// Opened, RFC 3339.
    pub opened_at: String,
    /// Next command sequence number.
    pub next_seq: i64,
}

/// Persists a new session, deleting the ones it `replaced` (one transaction).
pub async fn insert_replacing(
    db: &Pool,
    s: &SessionRow,
    replaced: &[String],
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    for id in replaced {
        delete_in(&mut tx, id).await?;
    }
    sqlx::query(
        "INSERT INTO srs_sessions(id, username, place, devices, token_hash, standby, srs_version, hostname, opened_at, next_seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&s.id)
    .bind(&s.username)
    .bind(&s.place)
    .bind(&s.devices)
    .bind(&s.token_hash)
    .bind(i64::from(s.standby))
    .bind(&s.srs_version)
    .bind(&s.hostname)
    .bind(&s.opened_at)
    .bind(s.next_seq)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Notes a session's next command sequence number.
pub async fn set_next_seq(db: &Pool, id: &str, next_seq: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE srs_sessions SET next_seq = $1 WHERE id = $2")
        .bind(next_seq)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Forgets a session, with its queued commands and which node held it
/// (`store::cluster`).
pub async fn delete(db: &Pool, id: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    delete_in(&mut tx, id).await?;
    tx.commit().await
}

async fn delete_in(tx: &mut super::Tx<'_>, id: &str) -> Result<(), sqlx::Error> {
    for sql in [
        "DELETE FROM srs_commands WHERE session_id = $1",
        "DELETE FROM srs_session_owners WHERE session_id = $1",
        "DELETE FROM srs_sessions WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Every persisted session.
pub async fn all(db: &Pool) -> Result<Vec<SessionRow>, sqlx::Error> {
    type R = (
        String,
        String,
        String,
        String,
        String,
        i64,
        String,
        Option<String>,
        String,
        i64,
    );
    let rows: Vec<R> = sqlx::query_as(
        "SELECT id, username, place, devices, token_hash, standby, srs_version, hostname, opened_at, next_seq FROM srs_sessions",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                username,
                place,
                devices,
                token_hash,
                standby,
                srs_version,
                hostname,
                opened_at,
                next_seq,
            )| SessionRow {
                id,
                username,
                place,
                devices,
                token_hash,
                standby: standby != 0,
                srs_version,
                hostname,
                opened_at,
                next_seq,
            },
        )
        .collect())
}

/// Whether a place exists.
pub async fn place_exists(db: &Pool, place: &str) -> Result<bool, sqlx::Error> {
    let found: Option<String> = sqlx::query_scalar("SELECT name FROM places WHERE name = $1")
        .bind(place)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

/// A place's devices, (dn, switch), in the order they were added.
pub async fn devices_of_place(
    db: &Pool,
    place: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    // `rowid` is the order of insertion: SQLite's implicit column; the
    // PostgreSQL schema gives `devices` a `rowid` column for the same text.
    sqlx::query_as("SELECT dn, switch FROM devices WHERE place = $1 ORDER BY rowid")
        .bind(place)
        .fetch_all(db)
        .await
}

/// The place a device belongs to, if it is known.
pub async fn place_of_device(
    db: &Pool,
    dn: &str,
    switch: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT place FROM devices WHERE dn = $1 AND switch = $2")
        .bind(dn)
        .bind(switch)
        .fetch_optional(db)
        .await
}

/// An agent's channel and own recording rule (`None`: the default), if
/// the agent exists.
pub async fn channel_and_rule(
    db: &Pool,
    username: &str,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT channel, recording_when FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(db)
        .await
}
