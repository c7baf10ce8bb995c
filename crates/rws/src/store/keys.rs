//! The tenant's encryption keys (`tenant_keys`): public recipients, and
//! private identities only as sealed with the master key (the sealing and
//! unsealing are [`crate::keys`]'s; this module never sees a private key in
//! clear).

use super::{Pool, Tx};

/// A tenant key as listed (without its sealed identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantKey {
    /// Key id.
    pub id: String,
    /// The public age recipient (`age1…`).
    pub recipient: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// The key new recordings are encrypted to.
    pub active: bool,
}

/// A key to add, its identity sealed with the master key.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    /// Key id.
    pub id: &'a str,
    /// The public age recipient.
    pub recipient: &'a str,
    /// The identity, encrypted with the master key.
    pub sealed: &'a [u8],
    /// The 12-byte nonce of that encryption.
    pub nonce: &'a [u8],
    /// When it was made (fixed-width UTC text).
    pub created_at: &'a str,
}

const INSERT: &str =
    "INSERT INTO tenant_keys(id, recipient, encrypted_identity, nonce, created_at, active)
     VALUES ($1, $2, $3, $4, $5, $6)";

const SEALED: &str = "SELECT encrypted_identity, nonce FROM tenant_keys WHERE id = $1";

/// Every key, newest first. Two keys made in the same millisecond: the
/// active one first, then by id (so the order is the same on every backend).
pub async fn list(db: &Pool) -> Result<Vec<TenantKey>, sqlx::Error> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT id, recipient, created_at, active FROM tenant_keys
         ORDER BY created_at DESC, active DESC, id DESC",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, recipient, created_at, active)| TenantKey {
            id,
            recipient,
            created_at,
            active: active != 0,
        })
        .collect())
}

/// Adds `key` as the only active key (the others stay, inactive).
pub async fn add_active(db: &Pool, key: &NewKey<'_>) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE tenant_keys SET active = 0")
        .execute(&mut *tx)
        .await?;
    insert(&mut tx, key, true).await?;
    tx.commit().await
}

/// Adds `key`, active or not.
pub async fn insert(tx: &mut Tx<'_>, key: &NewKey<'_>, active: bool) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT)
        .bind(key.id)
        .bind(key.recipient)
        .bind(key.sealed)
        .bind(key.nonce)
        .bind(key.created_at)
        .bind(i64::from(active))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Key `id`'s sealed identity and nonce.
pub async fn sealed(db: &Pool, id: &str) -> Result<(Vec<u8>, Vec<u8>), sqlx::Error> {
    sqlx::query_as(SEALED).bind(id).fetch_one(db).await
}

/// [`sealed`] inside a transaction.
pub async fn sealed_in(tx: &mut Tx<'_>, id: &str) -> Result<(Vec<u8>, Vec<u8>), sqlx::Error> {
    sqlx::query_as(SEALED).bind(id).fetch_one(&mut **tx).await
}

/// Replaces key `id`'s sealed identity (re-encrypted with another master key).
pub async fn reseal(
    tx: &mut Tx<'_>,
    id: &str,
    sealed: &[u8],
    nonce: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tenant_keys SET encrypted_identity = $1, nonce = $2 WHERE id = $3")
        .bind(sealed)
        .bind(nonce)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The id of the key with this recipient.
pub async fn id_of_recipient(
    tx: &mut Tx<'_>,
    recipient: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM tenant_keys WHERE recipient = $1")
        .bind(recipient)
        .fetch_optional(&mut **tx)
        .await
}

/// Is there a key with this id?
pub async fn id_taken(tx: &mut Tx<'_>, id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenant_keys WHERE id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(n > 0)
}

/// Is any key active?
pub async fn has_active(tx: &mut Tx<'_>) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenant_keys WHERE active = 1")
        .fetch_one(&mut **tx)
        .await?;
    Ok(n > 0)
}

/// Makes the key with this recipient active (the caller has checked that
/// none is); its id.
pub async fn activate_recipient(tx: &mut Tx<'_>, recipient: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("UPDATE tenant_keys SET active = 1 WHERE recipient = $1 RETURNING id")
        .bind(recipient)
        .fetch_one(&mut **tx)
        .await
}

/// Every key id, oldest first.
pub async fn ids_oldest_first(tx: &mut Tx<'_>) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM tenant_keys ORDER BY created_at, id")
        .fetch_all(&mut **tx)
        .await
}

/// Every key id, newest first.
pub async fn ids_newest_first(db: &Pool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM tenant_keys ORDER BY created_at DESC, id DESC")
        .fetch_all(db)
        .await
}

/// The active key's recipients.
pub async fn active_recipients(db: &Pool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT recipient FROM tenant_keys WHERE active = 1 ORDER BY id")
        .fetch_all(db)
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key<'a>(id: &'a str, recipient: &'a str, created_at: &'a str) -> NewKey<'a> {
        NewKey {
            id,
            recipient,
            sealed: b"sealed",
            nonce: b"nonce-12byte",
            created_at,
        }
    }

    #[tokio::test]
    async fn one_key_is_active_and_the_list_is_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::open_db(dir.path()).await.unwrap();
        add_active(&db, &key("k1", "age1a", "2026-01-01T00:00:00.000Z"))
            .await
            .unwrap();
        add_active(&db, &key("k2", "age1b", "2026-01-02T00:00:00.000Z"))
            .await
            .unwrap();
        let mut tx = db.begin().await.unwrap();
        // An inactive key made in the same millisecond as the active one.
        insert(
            &mut tx,
            &key("k0", "age1c", "2026-01-02T00:00:00.000Z"),
            false,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let listed: Vec<(String, bool)> = list(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|k| (k.id, k.active))
            .collect();
        assert_eq!(
            listed,
            [
                ("k2".to_string(), true),
                ("k0".to_string(), false),
                ("k1".to_string(), false)
            ]
        );
        assert_eq!(active_recipients(&db).await.unwrap(), ["age1b"]);
        assert_eq!(ids_newest_first(&db).await.unwrap(), ["k2", "k0", "k1"]);
        let (sealed_id, nonce) = sealed(&db, "k1").await.unwrap();
        assert_eq!(
            (sealed_id.as_slice(), nonce.as_slice()),
            (&b"sealed"[..], &b"nonce-12byte"[..])
        );
        assert!(matches!(
            sealed(&db, "nope").await,
            Err(sqlx::Error::RowNotFound)
        ));
    }

    #[tokio::test]
    async fn import_steps_find_reseal_and_activate() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::open_db(dir.path()).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        insert(
            &mut tx,
            &key("k1", "age1a", "2026-01-01T00:00:00.000Z"),
            false,
        )
        .await
        .unwrap();
        assert!(!has_active(&mut tx).await.unwrap());
        assert!(id_taken(&mut tx, "k1").await.unwrap());
        assert!(!id_taken(&mut tx, "k9").await.unwrap());
        assert_eq!(
            id_of_recipient(&mut tx, "age1a").await.unwrap().as_deref(),
            Some("k1")
        );
        assert_eq!(id_of_recipient(&mut tx, "age1z").await.unwrap(), None);
        reseal(&mut tx, "k1", b"other", b"nonce-other!")
            .await
            .unwrap();
        assert_eq!(
            sealed_in(&mut tx, "k1").await.unwrap(),
            (b"other".to_vec(), b"nonce-other!".to_vec())
        );
        assert_eq!(activate_recipient(&mut tx, "age1a").await.unwrap(), "k1");
        assert!(has_active(&mut tx).await.unwrap());
        assert!(matches!(
            activate_recipient(&mut tx, "age1z").await,
            Err(sqlx::Error::RowNotFound)
        ));
        insert(
            &mut tx,
            &key("k0", "age1b", "2025-12-31T00:00:00.000Z"),
            false,
        )
        .await
        .unwrap();
        assert_eq!(ids_oldest_first(&mut tx).await.unwrap(), ["k0", "k1"]);
        tx.commit().await.unwrap();
    }
}
