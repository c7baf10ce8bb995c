//! Key custody: exporting the tenant's private keys for disaster recovery
//! and legal discovery, and importing them into a data dir (a new RWS, or
//! one whose master key was lost).
//!
//! The export is an age file (to a passphrase, or to X25519 recipients)
//! whose plaintext is an ordinary **age identity file**: comment lines
//! carrying each key's id, creation time, active flag and recipient, then
//! the `AGE-SECRET-KEY-1…` line. So the decrypted export works directly as
//! `age -d -i keys.txt segment.age` without screenrec, and `keys import`
//! reads it back with its metadata.
//!
//! The tenant's Ed25519 signing keys ([`crate::signing`]) travel in the
//! same file as `# screenrec-signing-key:` comment lines (age ignores
//! them; [`render_signing`] / [`parse_signing`]), so one export restores
//! both the keys that open recordings and the ones that sign their
//! evidence manifests.
//!
//! Import is idempotent: a key whose recipient is already present is kept
//! as it is (existing keys are never replaced or deactivated). When a
//! present key no longer decrypts with the current master key (the master
//! key was lost and a new one made), import refuses unless `rewrap` is set,
//! which re-encrypts the imported identities with the current master key:
//! refusing by default means a mistyped `SCREENREC_MASTER_KEY` cannot
//! silently re-wrap keys under the wrong master key.

use std::io::{Read, Write};
use std::path::Path;

use crate::store::Pool;
use age::secrecy::{ExposeSecret, SecretString};

use crate::keys::{self, KeyError, MasterKey};
use crate::store::keys as store;

/// First line of the export's plaintext.
pub const HEADER: &str = "# screenrec tenant keys: an age identity file. KEEP SECRET.";
/// Prefix of the comment line that describes the key on the next line.
pub const KEY_LINE: &str = "# screenrec-key:";
/// Largest export file `import` reads (a tenant has a handful of keys of
/// ~200 bytes each; this bounds memory on a wrong file).
pub const MAX_EXPORT_BYTES: u64 = 4 * 1024 * 1024;
/// Largest scrypt work factor (log2 N) accepted on import: age's default
/// target is ~18; 22 bounds CPU and memory on a hostile file.
const MAX_SCRYPT_LOG_N: u8 = 22;

/// Key custody errors.
#[derive(Debug, thiserror::Error)]
pub enum CustodyError {
    /// Key storage.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The database.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// The export cannot be made or read.
    #[error("{0}")]
    Invalid(String),
    /// The passphrase does not open the file.
    #[error("{file}: wrong passphrase (the file does not decrypt with it)")]
    WrongPassphrase {
        /// The export file.
        file: String,
    },
    /// None of the identities opens the file.
    #[error("{file}: none of the given identities decrypts it (wrong --identity file?)")]
    WrongIdentity {
        /// The export file.
        file: String,
    },
    /// A present key does not decrypt with the current master key.
    #[error(
        "tenant key {id} in this data dir does not decrypt with the current master key; if the master key was lost, pass --rewrap to re-encrypt the imported keys with the current one (check {} first)",
        keys::MASTER_KEY_ENV
    )]
    NeedsRewrap {
        /// The key id.
        id: String,
    },
}

/// One exported key.
#[derive(Debug, Clone)]
pub struct ExportedKey {
    /// Key id (kept on import when free).
    pub id: Option<String>,
    /// When it was made.
    pub created_at: Option<String>,
    /// Was it the active key.
    pub active: bool,
    /// Its public recipient.
    pub recipient: String,
    /// The private identity (`AGE-SECRET-KEY-1…`).
    pub secret: SecretString,
}

/// How the export is encrypted.
pub enum Protection {
    /// To a passphrase (age scrypt).
    Passphrase(SecretString),
    /// To age X25519 recipients.
    Recipients(Vec<age::x25519::Recipient>),
}

/// How an export is opened on import.
pub enum Opener {
    /// A passphrase.
    Passphrase(SecretString),
    /// Identities (from an age identity file).
    Identities(Vec<age::x25519::Identity>),
}

/// The master key of a data dir, without making one: export must not
/// invent a master key that cannot open the stored keys.
pub fn existing_master_key(data_dir: &Path) -> Result<MasterKey, CustodyError> {
    if std::env::var_os(keys::MASTER_KEY_ENV).is_none() && !data_dir.join("master.key").exists() {
        return Err(CustodyError::Invalid(format!(
            "no master key: set {} or restore {}",
            keys::MASTER_KEY_ENV,
            data_dir.join("master.key").display()
        )));
    }
    Ok(MasterKey::load(data_dir)?)
}

/// Every tenant key, decrypted, oldest first.
pub async fn collect(db: &Pool, master: &MasterKey) -> Result<Vec<ExportedKey>, CustodyError> {
    let mut out = Vec::new();
    for k in keys::list(db).await?.into_iter().rev() {
        let identity = keys::identity(db, master, &k.id).await?;
        out.push(ExportedKey {
            id: Some(k.id),
            created_at: Some(k.created_at),
            active: k.active,
            recipient: k.recipient,
            secret: identity.to_string(),
        });
    }
    Ok(out)
}

/// The plaintext of an export (an age identity file).
pub fn render(keys: &[ExportedKey], exported_at: &str) -> SecretString {
    let mut text = format!("{HEADER}\n# exported-at: {exported_at}\n");
    for k in keys {
        text.push_str(&format!(
            "{KEY_LINE} id={} created={} active={} recipient={}\n{}\n",
            k.id.as_deref().unwrap_or(""),
            k.created_at.as_deref().unwrap_or(""),
            k.active,
            k.recipient,
            k.secret.expose_secret()
        ));
    }
    SecretString::from(text)
}

/// Parses an export's plaintext (or any age identity file: keys without a
/// `# screenrec-key:` line get a new id on import).
pub fn parse(text: &str) -> Result<Vec<ExportedKey>, CustodyError> {
    /// What a `# screenrec-key:` line says about the key that follows.
    #[derive(Default)]
    struct Meta {
        id: Option<String>,
        created: Option<String>,
        active: bool,
        recipient: Option<String>,
    }
    let mut out = Vec::new();
    let mut meta: Option<Meta> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix(KEY_LINE) {
            let mut m = Meta::default();
            for field in rest.split_whitespace() {
                match field.split_once('=') {
                    Some(("id", v)) if !v.is_empty() => m.id = Some(v.to_string()),
                    Some(("created", v)) if !v.is_empty() => m.created = Some(v.to_string()),
                    Some(("active", v)) => m.active = v == "true",
                    Some(("recipient", v)) if !v.is_empty() => m.recipient = Some(v.to_string()),
                    _ => {}
                }
            }
            meta = Some(m);
        } else if line.is_empty() || line.starts_with('#') {
            continue;
        } else if line.starts_with("AGE-SECRET-KEY-") {
            let identity: age::x25519::Identity = line.parse().map_err(|_| {
                CustodyError::Invalid(format!("line {}: not a valid AGE-SECRET-KEY", n + 1))
            })?;
            let recipient = identity.to_public().to_string();
            let m = meta.take().unwrap_or_default();
            if let Some(claimed) = m.recipient
                && claimed != recipient
            {
                return Err(CustodyError::Invalid(format!(
                    "line {}: the key does not match its recipient {claimed} (damaged export?)",
                    n + 1
                )));
            }
            out.push(ExportedKey {
                id: m.id,
                created_at: m.created,
                active: m.active,
                recipient,
                secret: identity.to_string(),
            });
        } else {
            return Err(CustodyError::Invalid(format!(
                "line {}: neither a comment nor an AGE-SECRET-KEY (not a screenrec key export?)",
                n + 1
            )));
        }
    }
    if out.is_empty() {
        return Err(CustodyError::Invalid(
            "the file holds no AGE-SECRET-KEY".into(),
        ));
    }
    Ok(out)
}

/// Encrypts an export's plaintext.
pub fn seal(plain: &SecretString, protection: &Protection) -> Result<Vec<u8>, CustodyError> {
    let bad = |e: &dyn std::fmt::Display| CustodyError::Invalid(format!("encrypting: {e}"));
    let encryptor = match protection {
        Protection::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
        Protection::Recipients(r) => {
            age::Encryptor::with_recipients(r.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| bad(&e))?
        }
    };
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).map_err(|e| bad(&e))?;
    w.write_all(plain.expose_secret().as_bytes())
        .map_err(|e| bad(&e))?;
    w.finish().map_err(|e| bad(&e))?;
    Ok(out)
}

/// Is this age file encrypted to a passphrase? (Decides what to ask for.)
pub fn is_passphrase_file(bytes: &[u8], file: &str) -> Result<bool, CustodyError> {
    age::Decryptor::new(bytes)
        .map(|d| d.is_scrypt())
        .map_err(|_| CustodyError::Invalid(format!("{file}: not an age-encrypted key export")))
}

/// Decrypts an export (bounded to [`MAX_EXPORT_BYTES`] of plaintext).
pub fn open(bytes: &[u8], opener: &Opener, file: &str) -> Result<SecretString, CustodyError> {
    let decryptor = age::Decryptor::new(bytes)
        .map_err(|_| CustodyError::Invalid(format!("{file}: not an age-encrypted key export")))?;
    let reader = match opener {
        Opener::Passphrase(p) => {
            if !decryptor.is_scrypt() {
                return Err(CustodyError::Invalid(format!(
                    "{file} is encrypted to age recipients, not a passphrase: pass --identity FILE"
                )));
            }
            let mut identity = age::scrypt::Identity::new(p.clone());
            identity.set_max_work_factor(MAX_SCRYPT_LOG_N);
            decryptor
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .map_err(|e| match e {
                    age::DecryptError::ExcessiveWork { required, .. } => {
                        CustodyError::Invalid(format!(
                            "{file}: scrypt work factor {required} is above {MAX_SCRYPT_LOG_N}"
                        ))
                    }
                    _ => CustodyError::WrongPassphrase {
                        file: file.to_string(),
                    },
                })?
        }
        Opener::Identities(ids) => {
            if decryptor.is_scrypt() {
                return Err(CustodyError::Invalid(format!(
                    "{file} is encrypted to a passphrase: pass --passphrase-file FILE or run on a terminal"
                )));
            }
            decryptor
                .decrypt(ids.iter().map(|i| i as &dyn age::Identity))
                .map_err(|_| CustodyError::WrongIdentity {
                    file: file.to_string(),
                })?
        }
    };
    let mut plain = Vec::new();
    reader
        .take(MAX_EXPORT_BYTES + 1)
        .read_to_end(&mut plain)
        .map_err(|e| CustodyError::Invalid(format!("{file}: damaged ({e})")))?;
    if plain.len() as u64 > MAX_EXPORT_BYTES {
        return Err(CustodyError::Invalid(format!(
            "{file}: larger than {MAX_EXPORT_BYTES} bytes, not a key export"
        )));
    }
    String::from_utf8(plain)
        .map(SecretString::from)
        .map_err(|_| CustodyError::Invalid(format!("{file}: not a text key export")))
}

/// Prefix of the comment line carrying one signing key.
pub const SIGNING_LINE: &str = "# screenrec-signing-key:";

/// The signing keys' lines of an export (appended to [`render`]'s text).
pub fn render_signing(keys: &[crate::signing::ExportedSigningKey]) -> String {
    keys.iter()
        .map(|k| {
            format!(
                "{SIGNING_LINE} id={} created={} active={} seed={}\n",
                k.key.public().key_id(),
                k.created_at,
                k.active,
                hex::encode(k.key.seed())
            )
        })
        .collect()
}

/// The signing keys of an export's plaintext (none in exports from before).
pub fn parse_signing(text: &str) -> Result<Vec<crate::signing::ExportedSigningKey>, CustodyError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.trim().strip_prefix(SIGNING_LINE) else {
            continue;
        };
        let (mut id, mut created, mut active, mut seed) = (None, None, false, None);
        for field in rest.split_whitespace() {
            match field.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("created", v)) if !v.is_empty() => created = Some(v.to_string()),
                Some(("active", v)) => active = v == "true",
                Some(("seed", v)) => seed = Some(v.to_string()),
                _ => {}
            }
        }
        let bad = |why: &str| CustodyError::Invalid(format!("line {}: signing key {why}", n + 1));
        let seed: [u8; 32] = seed
            .and_then(|s| hex::decode(s).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("without a 64-hex-digit seed"))?;
        let key = evidence::SigningKey::from_seed(&seed);
        if id.is_some_and(|id| id != key.public().key_id()) {
            return Err(bad("does not match its id (damaged export?)"));
        }
        out.push(crate::signing::ExportedSigningKey {
            created_at: created
                .filter(|c| crate::recording::parse_time(c).is_some())
                .unwrap_or_else(crate::recording::now),
            active,
            key,
        });
    }
    Ok(out)
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Keys added (ids).
    pub added: Vec<String>,
    /// Keys present whose stored copy was re-encrypted with the current master key.
    pub rewrapped: Vec<String>,
    /// Keys already present and readable (left as they were).
    pub present: Vec<String>,
    /// The key made active because the data dir had none.
    pub activated: Option<String>,
    /// Keys of the data dir that still do not decrypt with the master key.
    pub unreadable: Vec<String>,
}

/// Imports keys into a data dir's database (see the module doc).
pub async fn import(
    db: &Pool,
    master: &MasterKey,
    imported: &[ExportedKey],
    rewrap: bool,
) -> Result<ImportReport, CustodyError> {
    let mut report = ImportReport::default();
    let mut tx = db.begin().await?;
    for k in imported {
        if let Some(id) = store::id_of_recipient(&mut tx, &k.recipient).await? {
            if keys::identity_in(&mut tx, master, &id).await.is_ok() {
                report.present.push(id);
                continue;
            }
            if !rewrap {
                return Err(CustodyError::NeedsRewrap { id });
            }
            let (encrypted, nonce) = keys::wrap(master, &k.secret)?;
            store::reseal(&mut tx, &id, &encrypted, &nonce).await?;
            report.rewrapped.push(id);
            continue;
        }
        let taken = match &k.id {
            Some(id) => store::id_taken(&mut tx, id).await?,
            None => true,
        };
        // Ids are UUIDs; anything else in a file gets a fresh one.
        let id = match &k.id {
            Some(id) if !taken && uuid::Uuid::parse_str(id).is_ok() => id.clone(),
            _ => uuid::Uuid::new_v4().to_string(),
        };
        let created_at = k
            .created_at
            .as_deref()
            .and_then(|c| crate::recording::parse_time(c).map(|_| c.to_string()))
            .unwrap_or_else(crate::recording::now);
        let (encrypted, nonce) = keys::wrap(master, &k.secret)?;
        let key = store::NewKey {
            id: &id,
            recipient: &k.recipient,
            sealed: &encrypted,
            nonce: &nonce,
            created_at: &created_at,
        };
        store::insert(&mut tx, &key, false).await?;
        report.added.push(id);
    }
    // A data dir without an active key (a new RWS) takes the exported
    // active key, so new recordings go on being encrypted to it; a data dir
    // with one keeps it.
    if !store::has_active(&mut tx).await? {
        let pick = imported
            .iter()
            .rev()
            .find(|k| k.active)
            .or(imported.last())
            .map(|k| k.recipient.clone());
        if let Some(recipient) = pick {
            report.activated = Some(store::activate_recipient(&mut tx, &recipient).await?);
        }
    }
    for id in store::ids_oldest_first(&mut tx).await? {
        if keys::identity_in(&mut tx, master, &id).await.is_err() {
            report.unreadable.push(id);
        }
    }
    tx.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    fn sample() -> Vec<ExportedKey> {
        (0..2)
            .map(|i| {
                let identity = age::x25519::Identity::generate();
                ExportedKey {
                    id: Some(uuid::Uuid::new_v4().to_string()),
                    created_at: Some(format!("2026-01-0{}T00:00:00.000Z", i + 1)),
                    active: i == 1,
                    recipient: identity.to_public().to_string(),
                    secret: identity.to_string(),
                }
            })
            .collect()
    }

    #[test]
    fn render_then_parse_keeps_every_key_and_its_metadata() {
        let keys = sample();
        let text = render(&keys, "2026-01-03T00:00:00.000Z");
        let back = parse(text.expose_secret()).unwrap();
        assert_eq!(back.len(), 2);
        for (a, b) in keys.iter().zip(&back) {
            assert_eq!(
                (&a.id, &a.created_at, a.active),
                (&b.id, &b.created_at, b.active)
            );
            assert_eq!(a.recipient, b.recipient);
            assert_eq!(a.secret.expose_secret(), b.secret.expose_secret());
        }
    }

    #[test]
    fn signing_keys_ride_along_and_age_still_reads_the_file() {
        let signing = vec![crate::signing::ExportedSigningKey {
            created_at: "2026-01-01T00:00:00.000Z".into(),
            active: true,
            key: evidence::SigningKey::from_seed(&[5; 32]),
        }];
        let text = format!(
            "{}{}",
            render(&sample(), "now").expose_secret(),
            render_signing(&signing)
        );
        // The age keys parse as before (the signing line is a comment)...
        assert_eq!(parse(&text).unwrap().len(), 2);
        // ...and the signing key comes back whole.
        let back = parse_signing(&text).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].key.seed(), [5; 32]);
        assert!(back[0].active);
        let damaged = text.replace("seed=05", "seed=06");
        assert!(parse_signing(&damaged).is_err());
    }

    #[test]
    fn sealed_to_a_passphrase_opens_only_with_it() {
        let text = render(&sample(), "now");
        let p = |s: &str| SecretString::from(s.to_string());
        let sealed = seal(&text, &Protection::Passphrase(p("correct horse"))).unwrap();
        assert!(is_passphrase_file(&sealed, "f").unwrap());
        let opened = open(&sealed, &Opener::Passphrase(p("correct horse")), "f").unwrap();
        assert_eq!(opened.expose_secret(), text.expose_secret());
        let wrong = open(&sealed, &Opener::Passphrase(p("wrong horse")), "f").unwrap_err();
        assert!(wrong.to_string().contains("wrong passphrase"), "{wrong}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// An export's plaintext, mutated, parses to keys or a line-numbered error.
        #[test]
        fn parse_mutated_exports(cut in 0usize..600, flip in 0usize..600, byte in 32u8..127) {
            let text = render(&sample(), "now");
            let mut bytes = text.expose_secret().as_bytes().to_vec();
            if flip < bytes.len() {
                bytes[flip] = byte;
            }
            bytes.truncate(cut);
            let _ = parse(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn open_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut file = b"age-encryption.org/v1\n".to_vec();
            file.extend_from_slice(&bytes);
            let p = SecretString::from("x".to_string());
            prop_assert!(open(&file, &Opener::Passphrase(p), "f").is_err());
            let ids = vec![age::x25519::Identity::generate()];
            prop_assert!(open(&file, &Opener::Identities(ids), "f").is_err());
        }
    }
}
