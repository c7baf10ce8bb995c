//! The tenant's encryption keys: age X25519 key pairs. Agents' SRS receive
//! only the public recipients and encrypt every segment before it touches
//! their disk; the private identities never leave RWS and are stored only
//! encrypted (ChaCha20-Poly1305) with the master key.
//!
//! The master key comes from `SCREENREC_MASTER_KEY` (64 hex characters), or
//! from `<data-dir>/master.key`, created with mode 0600 on first start with a
//! warning: a key kept next to the data it protects only protects against a
//! stolen database file. Rotation adds a new active key and keeps the old
//! ones, so old recordings stay playable.

use std::path::Path;

use crate::store::keys as store;
use crate::store::{Pool, Tx};
use age::secrecy::ExposeSecret;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// Environment variable holding the master key (64 hex characters).
pub const MASTER_KEY_ENV: &str = "SCREENREC_MASTER_KEY";

/// The master key (32 bytes). Its `Debug` is redacted.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Key management errors.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The master key is malformed.
    #[error("{0}")]
    BadMasterKey(String),
    /// A stored identity does not decrypt with this master key.
    #[error(
        "tenant key {id} does not decrypt with this master key (wrong {MASTER_KEY_ENV} or master.key?)"
    )]
    WrongMasterKey {
        /// The key id.
        id: String,
    },
    /// Reading or writing the key file.
    #[error("master key file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The database.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl MasterKey {
    /// From 64 hex characters.
    pub fn from_hex(s: &str) -> Result<MasterKey, KeyError> {
        let bytes = hex::decode(s.trim()).map_err(|_| {
            KeyError::BadMasterKey(format!(
                "{MASTER_KEY_ENV} must be 64 hex characters (32 bytes)"
            ))
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            KeyError::BadMasterKey(format!(
                "{MASTER_KEY_ENV} must be 64 hex characters (32 bytes)"
            ))
        })?;
        Ok(MasterKey(key))
    }

    /// `SCREENREC_MASTER_KEY`, else `<data_dir>/master.key` (created 0600 if missing).
    pub fn load(data_dir: &Path) -> Result<MasterKey, KeyError> {
        if let Ok(v) = std::env::var(MASTER_KEY_ENV) {
            return MasterKey::from_hex(&v);
        }
        let path = data_dir.join("master.key");
        let file_err = |source| KeyError::File {
            path: path.display().to_string(),
            source,
        };
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(file_err)?;
            return MasterKey::from_hex(&text);
        }
        let key: [u8; 32] = rand::random();
        write_private(&path, hex::encode(key).as_bytes()).map_err(file_err)?;
        tracing::warn!(
            file = %path.display(),
            "created a master key next to the data it protects; set {MASTER_KEY_ENV} (64 hex characters) for production"
        );
        Ok(MasterKey(key))
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.0))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// A tenant key as listed.
pub use crate::store::keys::TenantKey;

/// Every key, newest first.
pub async fn list(db: &Pool) -> Result<Vec<TenantKey>, KeyError> {
    Ok(store::list(db).await?)
}

/// Makes the first key when there is none, and checks that the master key
/// opens the active one (a wrong master key must stop RWS at start, not at
/// the first playback).
pub async fn ensure(db: &Pool, master: &MasterKey) -> Result<TenantKey, KeyError> {
    let keys = list(db).await?;
    match keys.into_iter().find(|k| k.active) {
        Some(k) => {
            identity(db, master, &k.id).await?;
            Ok(k)
        }
        None => rotate(db, master).await,
    }
}

/// Adds a new active key; the old ones stay for old recordings.
pub async fn rotate(db: &Pool, master: &MasterKey) -> Result<TenantKey, KeyError> {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let (encrypted, nonce) = wrap(master, &identity.to_string())?;
    let key = TenantKey {
        id: uuid::Uuid::new_v4().to_string(),
        recipient,
        created_at: crate::recording::now(),
        active: true,
    };
    store::add_active(
        db,
        &store::NewKey {
            id: &key.id,
            recipient: &key.recipient,
            sealed: &encrypted,
            nonce: &nonce,
            created_at: &key.created_at,
        },
    )
    .await?;
    tracing::info!(key = %key.id, recipient = %key.recipient, "new tenant key");
    Ok(key)
}

/// The private identity of key `id` (for decrypting recordings on playback).
pub async fn identity(
    db: &Pool,
    master: &MasterKey,
    id: &str,
) -> Result<age::x25519::Identity, KeyError> {
    let (encrypted, nonce) = store::sealed(db, id).await?;
    unwrap(master, id, &encrypted, &nonce)
}

/// [`identity`] inside a transaction (e.g. a key import's).
pub async fn identity_in(
    tx: &mut Tx<'_>,
    master: &MasterKey,
    id: &str,
) -> Result<age::x25519::Identity, KeyError> {
    let (encrypted, nonce) = store::sealed_in(tx, id).await?;
    unwrap(master, id, &encrypted, &nonce)
}

/// Decrypts a stored identity (the reverse of [`wrap`]).
fn unwrap(
    master: &MasterKey,
    id: &str,
    encrypted: &[u8],
    nonce: &[u8],
) -> Result<age::x25519::Identity, KeyError> {
    let wrong = || KeyError::WrongMasterKey { id: id.to_string() };
    let text = unwrap_text(master, id, encrypted, nonce)?;
    text.expose_secret()
        .parse::<age::x25519::Identity>()
        .map_err(|_| wrong())
}

/// Decrypts a secret sealed by [`wrap`] back to its text (also the
/// signing keys' seeds, [`crate::signing`]).
pub fn unwrap_text(
    master: &MasterKey,
    id: &str,
    encrypted: &[u8],
    nonce: &[u8],
) -> Result<age::secrecy::SecretString, KeyError> {
    let wrong = || KeyError::WrongMasterKey { id: id.to_string() };
    if nonce.len() != 12 {
        return Err(wrong());
    }
    let plain = master
        .cipher()
        .decrypt(Nonce::from_slice(nonce), encrypted)
        .map_err(|_| wrong())?;
    String::from_utf8(plain)
        .map(age::secrecy::SecretString::from)
        .map_err(|_| wrong())
}

/// Recipients SRS must encrypt to: the active key.
pub async fn active_recipients(db: &Pool) -> Result<Vec<String>, KeyError> {
    Ok(store::active_recipients(db).await?)
}

/// Every tenant identity, newest first (playback tries them in turn: old
/// recordings stay playable after a rotation).
pub async fn all_identities(
    db: &Pool,
    master: &MasterKey,
) -> Result<Vec<age::x25519::Identity>, KeyError> {
    let mut out = Vec::new();
    for id in store::ids_newest_first(db).await? {
        out.push(identity(db, master, &id).await?);
    }
    Ok(out)
}

/// Encrypts an identity (`AGE-SECRET-KEY-1…`) with the master key, as
/// stored: (ciphertext, 12-byte nonce).
pub fn wrap(
    master: &MasterKey,
    secret: &age::secrecy::SecretString,
) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
    let nonce: [u8; 12] = rand::random();
    let encrypted = master
        .cipher()
        .encrypt(Nonce::from_slice(&nonce), secret.expose_secret().as_bytes())
        .map_err(|_| KeyError::BadMasterKey("encryption failed".into()))?;
    Ok((encrypted, nonce.to_vec()))
}
