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
        Some(row) => match open(master, &row) {
            Ok(key) => Ok(key.public()),
            // The age keys open (keys::ensure ran first), this one does not:
            // the master key was replaced and the signing key not re-imported
            // (an export from before signing keys). Old manifests still verify
            // with its stored public half; new ones get a new key.
            Err(KeyError::WrongMasterKey { id }) => {
                tracing::warn!(old = %id, "the signing key does not open with this master key; making a new one (manifests signed with the old one still verify)");
                make(db, master).await
            }
            Err(e) => Err(e),
        },
        None => make(db, master).await,
    }
}

/// Makes a new active signing key.
async fn make(db: &Pool, master: &MasterKey) -> Result<PublicKey, KeyError> {
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_seed(&seed);
    add(db, master, &key, &crate::recording::now(), true).await?;
    tracing::info!(key = %key.public().key_id(), "new signing key");
    Ok(key.public())
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

/// Imports signing keys; the exported active key becomes active when the
/// data dir has none. A key already present is kept as it is, unless its
/// stored copy no longer opens with the master key: then, with `rewrap`,
/// it is re-encrypted with the current one (as `keys import --rewrap` does
/// for the age keys), and without, it is an error. Returns the ids added
/// and re-encrypted.
pub async fn import(
    db: &Pool,
    master: &MasterKey,
    keys: &[ExportedSigningKey],
    rewrap: bool,
) -> Result<(Vec<String>, Vec<String>), KeyError> {
    let had_active = store::active_signing_key(db).await?.is_some();
    let (mut added, mut rewrapped) = (Vec::new(), Vec::new());
    for k in keys {
        let id = k.key.public().key_id();
        if let Some(row) = store::signing_key(db, &id).await? {
            if open(master, &row).is_err() {
                if !rewrap {
                    return Err(KeyError::WrongMasterKey { id });
                }
                let (sealed, nonce) =
                    crate::keys::wrap(master, &SecretString::from(hex::encode(k.key.seed())))?;
                store::reseal_signing_key(db, &id, &sealed, &nonce).await?;
                rewrapped.push(id);
            }
            continue;
        }
        if add(db, master, &k.key, &k.created_at, k.active && !had_active).await? {
            added.push(id);
        }
    }
    Ok((added, rewrapped))
}
