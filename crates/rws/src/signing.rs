//! The tenant's Ed25519 signing key, which signs every recording's evidence
//! manifest ([`crate::evidence`]). Made and kept like the age keys
//! ([`crate::keys`]): made on first start, the 32-byte seed stored only
//! sealed with the master key, carried by `screenrec rws keys export` /
//! `import` ([`crate::custody`]). Its public half is served at
//! `GET /api/v2/keys/signing` for auditors.

use age::secrecy::{ExposeSecret, SecretString};
use evidence::{PublicKey, SigningKey};

use crate::keys::{KeyError, MasterKey};
use crate::store::Pool;
use crate::store::evidence::{self as store, SigningRow};

/// A signing key as exported (`# screenrec-signing-key:` lines).
#[derive(Debug, Clone)]
pub struct ExportedSigningKey {
    /// When it was made.
    pub created_at: String,
    /// Was it the active key.
    pub active: bool,
    /// The key.
    pub key: SigningKey,
}

/// Makes the first signing key when there is none, and checks that the
/// master key opens the active one (at start, not at the first export).
pub async fn ensure(db: &Pool, master: &MasterKey) -> Result<PublicKey, KeyError> {
    match store::active_signing_key(db).await? {
        Some(row) => Ok(open(master, &row)?.public()),
        None => {
            let seed: [u8; 32] = rand::random();
            let key = SigningKey::from_seed(&seed);
            add(db, master, &key, &crate::recording::now(), true).await?;
            tracing::info!(key = %key.public().key_id(), "new signing key");
            Ok(key.public())
        }
    }
}

/// The active signing key, opened with the master key.
pub async fn active(db: &Pool, master: &MasterKey) -> Result<SigningKey, KeyError> {
    if store::active_signing_key(db).await?.is_none() {
        ensure(db, master).await?;
    }
    let row = store::active_signing_key(db)
        .await?
        .ok_or_else(|| KeyError::BadMasterKey("no active signing key".into()))?;
    open(master, &row)
}

/// The public half of the active signing key (none before the first start).
pub async fn active_public(db: &Pool) -> Result<Option<PublicKey>, KeyError> {
    Ok(store::active_signing_key(db)
        .await?
        .and_then(|row| PublicKey::parse(&row.public_key).ok()))
}

/// The public key `id` (an older manifest's), if the tenant has it.
pub async fn public(db: &Pool, id: &str) -> Result<Option<PublicKey>, KeyError> {
    Ok(store::signing_key(db, id)
        .await?
        .and_then(|row| PublicKey::parse(&row.public_key).ok()))
}

fn open(master: &MasterKey, row: &SigningRow) -> Result<SigningKey, KeyError> {
    let wrong = || KeyError::WrongMasterKey { id: row.id.clone() };
    let text = crate::keys::unwrap_text(master, &row.id, &row.sealed, &row.nonce)?;
    let seed: [u8; 32] = hex::decode(text.expose_secret().trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(wrong)?;
    let key = SigningKey::from_seed(&seed);
    if key.public().key_id() != row.id {
        return Err(wrong());
    }
    Ok(key)
}

async fn add(
    db: &Pool,
    master: &MasterKey,
    key: &SigningKey,
    created_at: &str,
    active: bool,
) -> Result<bool, KeyError> {
    let (sealed, nonce) = crate::keys::wrap(master, &SecretString::from(hex::encode(key.seed())))?;
    Ok(store::add_signing_key(
        db,
        &SigningRow {
            id: key.public().key_id(),
            public_key: key.public().to_b64(),
            sealed,
            nonce,
            created_at: created_at.to_string(),
            active,
        },
    )
    .await?)
}

/// Every signing key, opened, oldest first (for the key export).
pub async fn collect(db: &Pool, master: &MasterKey) -> Result<Vec<ExportedSigningKey>, KeyError> {
    let mut out = Vec::new();
    for row in store::signing_keys(db).await? {
        out.push(ExportedSigningKey {
            created_at: row.created_at.clone(),
            active: row.active,
            key: open(master, &row)?,
        });
    }
    Ok(out)
}

/// Imports signing keys (a key already present is kept as it is); the
/// exported active key becomes active when the data dir has none. Returns
/// the ids added.
pub async fn import(
    db: &Pool,
    master: &MasterKey,
    keys: &[ExportedSigningKey],
) -> Result<Vec<String>, KeyError> {
    let had_active = store::active_signing_key(db).await?.is_some();
    let mut added = Vec::new();
    for k in keys {
        if add(db, master, &k.key, &k.created_at, k.active && !had_active).await? {
            added.push(k.key.public().key_id());
        }
    }
    Ok(added)
}
