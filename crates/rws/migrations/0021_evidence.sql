-- Signed evidence export (issue 14 part 3).
-- Each segment's SHA-256 of its plaintext (computed by SRS as it wrote the
-- segment; NULL when the client did not send it) and of its ciphertext
-- (checked by RWS against the bytes it received; NULL for rows from before).
ALTER TABLE segments ADD COLUMN plain_sha256 TEXT;
ALTER TABLE segments ADD COLUMN cipher_sha256 TEXT;

-- The tenant's Ed25519 signing keys, sealed with the master key like the
-- age keys (tenant_keys). One is active: it signs new manifests.
CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,              -- key id: 16 hex of SHA-256(public key)
    public_key  TEXT NOT NULL,                 -- raw 32 bytes, base64
    sealed_seed BLOB NOT NULL,                 -- ChaCha20-Poly1305(master key, hex seed)
    nonce       BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    active      INTEGER NOT NULL DEFAULT 0
);

-- A recording's signed manifest, written once when it reaches a final state;
-- `events` is the canonical event timeline the manifest hashes, kept so an
-- export always carries exactly the events that were signed.
CREATE TABLE evidence_manifests (
    recording_id TEXT PRIMARY KEY REFERENCES recordings(id) ON DELETE CASCADE,
    manifest     TEXT NOT NULL,
    signature    TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    events       TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
