//! The console's sessions (`console_sessions`): the cookie token and the
//! CSRF token, kept only as the token's hash (see [`crate::auth`]).

use super::Pool;

/// A console session to open.
#[derive(Debug, Clone)]
pub struct NewConsoleSession<'a> {
    /// Hex SHA-256 of the cookie token.
    pub token_hash: &'a str,
    /// Who logged in.
    pub username: &'a str,
    /// When (fixed-width UTC text).
    pub created_at: &'a str,
    /// Until when (fixed-width UTC text).
    pub expires_at: &'a str,
    /// The session's CSRF token.
    pub csrf: &'a str,
}

/// Opens a console session, and drops the sessions that expired before it
/// was created (so the table does not grow with every login).
pub async fn open_console_session(db: &Pool, s: &NewConsoleSession<'_>) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1")
        .bind(s.created_at)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO console_sessions(token_hash, username, created_at, expires_at, csrf)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(s.token_hash)
    .bind(s.username)
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(s.csrf)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The user of the console session `token_hash`, unless it expired by `now`.
pub async fn console_session_user(
    db: &Pool,
    token_hash: &str,
    now: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT username FROM console_sessions WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db)
    .await
}

/// The CSRF token of the console session `token_hash` (expired or not).
pub async fn console_session_csrf(
    db: &Pool,
    token_hash: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT csrf FROM console_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(db)
        .await
}

/// Ends the console session `token_hash` (nothing when there is none).
pub async fn close_console_session(db: &Pool, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn a_session_lasts_until_it_expires_and_a_login_sweeps_expired_ones() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::open_db(dir.path()).await.unwrap();
        let open =
            |hash: &'static str, created: &'static str, expires: &'static str| NewConsoleSession {
                token_hash: hash,
                username: "u",
                created_at: created,
                expires_at: expires,
                csrf: "c-token",
            };
        open_console_session(
            &db,
            &open(
                "old",
                "2026-01-01T00:00:00.000Z",
                "2026-01-01T08:00:00.000Z",
            ),
        )
        .await
        .unwrap();
        let user = |hash, now| console_session_user(&db, hash, now);
        assert_eq!(
            user("old", "2026-01-01T07:59:59.999Z")
                .await
                .unwrap()
                .as_deref(),
            Some("u")
        );
        // Expiry is exclusive.
        assert_eq!(user("old", "2026-01-01T08:00:00.000Z").await.unwrap(), None);
        assert_eq!(
            console_session_csrf(&db, "old").await.unwrap().as_deref(),
            Some("c-token")
        );
        // A later login removes the expired session, CSRF token and all.
        open_console_session(
            &db,
            &open(
                "new",
                "2026-01-01T09:00:00.000Z",
                "2026-01-01T17:00:00.000Z",
            ),
        )
        .await
        .unwrap();
        assert_eq!(console_session_csrf(&db, "old").await.unwrap(), None);
        assert_eq!(
            user("new", "2026-01-01T09:00:00.000Z")
                .await
                .unwrap()
                .as_deref(),
            Some("u")
        );
        close_console_session(&db, "new").await.unwrap();
        assert_eq!(user("new", "2026-01-01T09:00:00.000Z").await.unwrap(), None);
        close_console_session(&db, "never").await.unwrap();
    }
}
