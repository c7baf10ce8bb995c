-- The directory (imported from the directory TOML file) and SRS sessions.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE switches (
    name TEXT PRIMARY KEY
);
CREATE TABLE places (
    name TEXT PRIMARY KEY
);
CREATE TABLE devices (
    dn     TEXT NOT NULL,
    switch TEXT NOT NULL REFERENCES switches(name),
    place  TEXT NOT NULL REFERENCES places(name) ON DELETE CASCADE,
    PRIMARY KEY (dn, switch)
);
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    first_name     TEXT NOT NULL DEFAULT '',
    last_name      TEXT NOT NULL DEFAULT '',
    roles          TEXT NOT NULL,            -- comma-separated: agent,supervisor,admin,integration
    default_place  TEXT REFERENCES places(name),
    recording_when TEXT
);
-- Live SRS sessions; heartbeats are kept in memory only (no write per heartbeat).
CREATE TABLE srs_sessions (
    id          TEXT PRIMARY KEY,
    username    TEXT NOT NULL,
    place       TEXT NOT NULL,
    devices     TEXT NOT NULL,               -- JSON array of {dn, switch}
    token_hash  TEXT NOT NULL UNIQUE,        -- hex SHA-256 of the bearer token
    standby     INTEGER NOT NULL DEFAULT 0,
    srs_version TEXT NOT NULL,
    hostname    TEXT,
    opened_at   TEXT NOT NULL,
    next_seq    INTEGER NOT NULL DEFAULT 1
);
