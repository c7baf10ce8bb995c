//! Signed evidence exports, the part both sides share: RWS writes a
//! recording's [`Manifest`] and signs it with the tenant's Ed25519 key when
//! the recording reaches a final state, and streams an export bundle (a zip
//! made with [`zip::ZipWriter`]); `screenrec verify` checks a bundle offline
//! with [`verify::verify_bundle`], without RWS and without the age keys.
//!
//! What is signed is the exact bytes of `manifest.json`, written in the
//! [canonical form](canonical) so that the same manifest always gives the
//! same bytes (and an auditor can re-derive them). The layout of a bundle
//! and the checks are described in `docs/compliance.md`.

pub mod canonical;
pub mod manifest;
pub mod signing;
pub mod verify;
pub mod zip;

pub use manifest::{EventsDigest, Manifest, MediaEntry, SegmentEntry};
pub use signing::{KeyError, PublicKey, SigningKey};
pub use verify::{Mismatch, Verified, verify_bundle};

/// File names inside a bundle.
pub mod names {
    /// The manifest (canonical JSON, the signed bytes).
    pub const MANIFEST: &str = "manifest.json";
    /// Its Ed25519 signature, base64, one line.
    pub const SIGNATURE: &str = "manifest.sig";
    /// The event timeline (canonical JSON array of the events as received).
    pub const EVENTS: &str = "events.json";
    /// The tenant's public signing key (PEM, SubjectPublicKeyInfo).
    pub const PUBLIC_KEY: &str = "signing-key.pem";
    /// Folder of the decrypted media files.
    pub const MEDIA_DIR: &str = "media/";
}

/// The manifest format this crate writes and reads.
pub const FORMAT: &str = "screenrec-evidence/1";

/// SHA-256 of `bytes`, 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
