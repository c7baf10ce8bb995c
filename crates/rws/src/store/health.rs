//! The SQL of `/readyz`: is the database answering?

use super::Pool;

/// One trivial round trip to the database.
pub async fn ping(db: &Pool) -> Result<(), sqlx::Error> {
    let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(db).await?;
    if one != 1 {
        return Err(sqlx::Error::Protocol(format!("SELECT 1 returned {one}")));
    }
    Ok(())
}
