//! Evidence storage: the tenant's Ed25519 signing keys (`signing_keys`,
//! seeds only as sealed with the master key by [`crate::signing`]) and the
//! signed manifests of recordings (`evidence_manifests`).

use super::Pool;

/// A signing key as stored (its seed sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningRow {
    /// Key id (16 hex of SHA-256 of the public key).
    pub id: String,
    /// The raw public key, base64.
    pub public_key: String,
    /// The seed (hex), encrypted with the master key.
    pub sealed: Vec<u8>,
    /// The 12-byte nonce of that encryption.
    pub nonce: Vec<u8>,
    /// When it was made.
    pub created_at: String,
    /// The key new manifests are signed with.
    pub active: bool,
}

type RawSigning = (String, String, Vec<u8>, Vec<u8>, String, i64);

fn row((id, public_key, sealed, nonce, created_at, active): RawSigning) -> SigningRow {
    SigningRow {
        id,
        public_key,
        sealed,
        nonce,
        created_at,
        active: active != 0,
    }
}

/// Every signing key, oldest first.
pub async fn signing_keys(db: &Pool) -> Result<Vec<SigningRow>, sqlx::Error> {
    let rows: Vec<RawSigning> = sqlx::query_as(
        "SELECT id, public_key, sealed_seed, nonce, created_at, active FROM signing_keys
             ORDER BY created_at, id",
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(row).collect())
}

/// The active signing key, if any.
pub async fn active_signing_key(db: &Pool) -> Result<Option<SigningRow>, sqlx::Error> {
    let r: Option<RawSigning> = sqlx::query_as(
        "SELECT id, public_key, sealed_seed, nonce, created_at, active FROM signing_keys
         WHERE active = 1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(row))
}

/// The signing key `id`, if present.
pub async fn signing_key(db: &Pool, id: &str) -> Result<Option<SigningRow>, sqlx::Error> {
    let r: Option<RawSigning> = sqlx::query_as(
        "SELECT id, public_key, sealed_seed, nonce, created_at, active FROM signing_keys
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(r.map(row))
}

/// Adds a signing key (nothing when its id is present: the id is derived
/// from the key, so the same key). When `active`, it becomes the only
/// active one. Returns whether it was added.
pub async fn add_signing_key(db: &Pool, k: &SigningRow) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    if k.active {
        sqlx::query("UPDATE signing_keys SET active = 0 WHERE active = 1")
            .execute(&mut *tx)
            .await?;
    }
    let done = sqlx::query(
        "INSERT INTO signing_keys(id, public_key, sealed_seed, nonce, created_at, active)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&k.id)
    .bind(&k.public_key)
    .bind(&k.sealed)
    .bind(&k.nonce)
    .bind(&k.created_at)
    .bind(i64::from(k.active))
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 && k.active {
        // Present already: make it the active one again.
        sqlx::query("UPDATE signing_keys SET active = 1 WHERE id = $1")
            .bind(&k.id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// Replaces the sealed seed of signing key `id` (re-encrypted with a new
/// master key on `keys import --rewrap`).
pub async fn reseal_signing_key(
    db: &Pool,
    id: &str,
    sealed: &[u8],
    nonce: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE signing_keys SET sealed_seed = $1, nonce = $2 WHERE id = $3")
        .bind(sealed)
        .bind(nonce)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A recording's signed manifest as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    /// The recording.
    pub recording_id: String,
    /// `manifest.json` (canonical bytes, as text).
    pub manifest: String,
    /// `manifest.sig` (base64).
    pub signature: String,
    /// The signing key's id.
    pub key_id: String,
    /// `events.json` (canonical bytes, as text).
    pub events: String,
    /// When it was written.
    pub created_at: String,
}

/// The manifest of a recording, if written.
pub async fn manifest(
    db: &Pool,
    recording_id: &str,
) -> Result<Option<StoredManifest>, sqlx::Error> {
    let r: Option<(String, String, String, String, String, String)> = sqlx::query_as(
        "SELECT recording_id, manifest, signature, key_id, events, created_at
         FROM evidence_manifests WHERE recording_id = $1",
    )
    .bind(recording_id)
    .fetch_optional(db)
    .await?;
    Ok(r.map(
        |(recording_id, manifest, signature, key_id, events, created_at)| StoredManifest {
            recording_id,
            manifest,
            signature,
            key_id,
            events,
            created_at,
        },
    ))
}

/// Stores a manifest once: a second writer (another node, a retry) keeps
/// the first. Returns whether this one was stored.
pub async fn insert_manifest(db: &Pool, m: &StoredManifest) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO evidence_manifests(recording_id, manifest, signature, key_id, events, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (recording_id) DO NOTHING",
    )
    .bind(&m.recording_id)
    .bind(&m.manifest)
    .bind(&m.signature)
    .bind(&m.key_id)
    .bind(&m.events)
    .bind(&m.created_at)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Up to `limit` final recordings (completed, partial, failed) that have
/// no manifest, with ids after `after`, in id order: the sealing sweep
/// ([`crate::evidence::sweep`]) pages through them by id, so a recording
/// that cannot be sealed does not hold back the ones behind it.
pub async fn unsealed(db: &Pool, after: &str, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT r.id FROM recordings r
         WHERE r.state IN ('completed','partial','failed') AND r.id > $1
           AND NOT EXISTS (SELECT 1 FROM evidence_manifests m WHERE m.recording_id = r.id)
         ORDER BY r.id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}
