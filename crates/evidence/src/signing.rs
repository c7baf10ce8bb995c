//! The tenant's Ed25519 signing key: its public half in the forms an
//! auditor meets it (PEM SubjectPublicKeyInfo as `openssl pkey -pubin`
//! reads it, or the raw 32 bytes in base64), its key id, and signing and
//! checking a manifest.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, Verifier};

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the
/// 32 key bytes follow it.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Why a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a key in a form we read.
    #[error("{0}")]
    BadKey(String),
    /// Not a signature.
    #[error("manifest.sig is not a base64 Ed25519 signature (64 bytes)")]
    BadSignature,
    /// The signature does not hold.
    #[error("manifest.sig does not verify: manifest.json was changed or signed with another key")]
    Invalid,
}

/// A private signing key (32-byte seed). Its `Debug` is redacted.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// From its 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The seed (to store it sealed, or export it).
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The signature of `msg`, base64 (what `manifest.sig` holds).
    pub fn sign_b64(&self, msg: &[u8]) -> String {
        B64.encode(self.0.sign(msg).to_bytes())
    }
}

/// A public signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// The raw 32 bytes.
    pub fn bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The raw 32 bytes in base64.
    pub fn to_b64(&self) -> String {
        B64.encode(self.bytes())
    }

    /// PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo).
    pub fn to_pem(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.bytes());
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            B64.encode(der)
        )
    }

    /// The key id: the first 16 hex digits of SHA-256 of the raw key.
    pub fn key_id(&self) -> String {
        crate::sha256_hex(&self.bytes())[..16].to_string()
    }

    /// From PEM (SubjectPublicKeyInfo) or the raw key in base64.
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let text = text.trim();
        let bytes: Vec<u8> = if text.starts_with("-----BEGIN PUBLIC KEY-----") {
            let body: String = text
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::trim)
                .collect();
            let der = B64
                .decode(body)
                .map_err(|_| KeyError::BadKey("the PEM body is not base64".into()))?;
            der.strip_prefix(&SPKI_PREFIX[..])
                .ok_or_else(|| KeyError::BadKey("the PEM key is not an Ed25519 public key".into()))?
                .to_vec()
        } else {
            B64.decode(text).map_err(|_| {
                KeyError::BadKey("not a PEM public key nor a base64 Ed25519 key (32 bytes)".into())
            })?
        };
        let raw: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::BadKey("an Ed25519 public key is 32 bytes".into()))?;
        ed25519_dalek::VerifyingKey::from_bytes(&raw)
            .map(PublicKey)
            .map_err(|_| KeyError::BadKey("not a valid Ed25519 public key".into()))
    }

    /// Checks `sig_b64` (as in `manifest.sig`) over `msg`.
    pub fn verify(&self, msg: &[u8], sig_b64: &str) -> Result<(), KeyError> {
        let sig = B64
            .decode(sig_b64.trim())
            .map_err(|_| KeyError::BadSignature)?;
        let sig: [u8; 64] = sig.try_into().map_err(|_| KeyError::BadSignature)?;
        let sig = ed25519_dalek::Signature::from_bytes(&sig);
        self.0.verify(msg, &sig).map_err(|_| KeyError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed(&[n; 32])
    }

    #[test]
    fn sign_then_verify_and_a_changed_byte_fails() {
        let k = key(1);
        let sig = k.sign_b64(b"manifest");
        assert_eq!(k.public().verify(b"manifest", &sig), Ok(()));
        assert_eq!(k.public().verify(b"manifesT", &sig), Err(KeyError::Invalid));
        assert_eq!(
            key(2).public().verify(b"manifest", &sig),
            Err(KeyError::Invalid)
        );
        assert_eq!(
            k.public().verify(b"manifest", "!!"),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn pem_and_base64_round_trip() {
        let p = key(3).public();
        assert_eq!(PublicKey::parse(&p.to_pem()), Ok(p));
        assert_eq!(PublicKey::parse(&p.to_b64()), Ok(p));
        assert_eq!(p.key_id().len(), 16);
        assert_ne!(p.key_id(), key(4).public().key_id());
        assert!(
            PublicKey::parse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err()
        );
        assert!(PublicKey::parse("nope").is_err());
    }
}
