-- Tenant encryption keys (age X25519). Private keys only encrypted with the master key.
CREATE TABLE tenant_keys (
    id                 TEXT PRIMARY KEY,
    recipient          TEXT NOT NULL UNIQUE,     -- age1… (public)
    encrypted_identity BLOB NOT NULL,            -- ChaCha20-Poly1305(master key, the age identity)
    nonce              BLOB NOT NULL,
    created_at         TEXT NOT NULL,
    active             INTEGER NOT NULL DEFAULT 0
);
