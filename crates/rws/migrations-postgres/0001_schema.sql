-- The schema of SQLite's migrations 0001-0008 as one PostgreSQL migration
-- (a PostgreSQL database never had their older shapes): the same tables,
-- columns, constraints and indexes, with every integer BIGINT (RWS binds and
-- reads i64), blobs BYTEA, and identity columns where SQLite has INTEGER
-- PRIMARY KEY. Flags stay 0/1 integers (store/mod.rs: the two engines'
-- booleans differ). Times are fixed-width UTC text, compared as text.
-- Later changes are one migration in each folder, with the same number.

-- 0001: the directory (imported from the directory TOML file) and SRS sessions.
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
    -- SQLite's implicit rowid, made explicit: the order of insertion, which
    -- the store's `ORDER BY rowid` reads (a place's devices as listed).
    rowid  BIGINT GENERATED ALWAYS AS IDENTITY,
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
    recording_when TEXT,
    channel        TEXT NOT NULL DEFAULT 'voice'  -- (0004) voice | nonvoice | blended
);
-- Live SRS sessions; heartbeats are kept in memory only (no write per heartbeat).
CREATE TABLE srs_sessions (
    id          TEXT PRIMARY KEY,
    username    TEXT NOT NULL,
    place       TEXT NOT NULL,
    devices     TEXT NOT NULL,               -- JSON array of {dn, switch}
    token_hash  TEXT NOT NULL UNIQUE,        -- hex SHA-256 of the bearer token
    standby     BIGINT NOT NULL DEFAULT 0,
    srs_version TEXT NOT NULL,
    hostname    TEXT,
    opened_at   TEXT NOT NULL,
    next_seq    BIGINT NOT NULL DEFAULT 1
);

-- 0002: tenant encryption keys (age X25519). Private keys only encrypted with the master key.
CREATE TABLE tenant_keys (
    id                 TEXT PRIMARY KEY,
    recipient          TEXT NOT NULL UNIQUE,     -- age1… (public)
    encrypted_identity BYTEA NOT NULL,           -- ChaCha20-Poly1305(master key, the age identity)
    nonce              BYTEA NOT NULL,
    created_at         TEXT NOT NULL,
    active             BIGINT NOT NULL DEFAULT 0
);

-- 0003: telephony and chat events posted by integrations; the interaction timeline.
CREATE TABLE events (
    rowid          BIGINT GENERATED ALWAYS AS IDENTITY, -- SQLite's implicit rowid made explicit: arrival order for `ORDER BY ts, rowid`
    id             TEXT PRIMARY KEY,           -- the sender's event id: intake is idempotent by it
    type           TEXT NOT NULL,
    call_id        TEXT,
    interaction_id TEXT,
    dn             TEXT,
    switch         TEXT,
    ts             TEXT NOT NULL,              -- RFC 3339, UTC
    body           TEXT NOT NULL,              -- the event as received (JSON)
    received_at    TEXT NOT NULL
);
CREATE INDEX events_call ON events(call_id, ts);
CREATE INDEX events_interaction ON events(interaction_id, ts);

-- 0004: screen recordings, their media files (one per monitor stream), the
-- interactions each is linked to, and pause/resume marks.
CREATE TABLE recordings (
    id                TEXT PRIMARY KEY,
    username          TEXT NOT NULL,             -- '' when no agent could be found
    dn                TEXT,                      -- the agent's DN for voice recordings
    session_id        TEXT,
    interaction_id    TEXT NOT NULL,             -- the first voice call (or chat) it is mapped to
    media             TEXT NOT NULL,             -- voice | chat | email | …
    state             TEXT NOT NULL,             -- requested recording paused finalizing completed partial failed
    reason            TEXT,
    requested_at      TEXT NOT NULL,
    started_at        TEXT,
    stopped_at        TEXT,
    max_duration_s    BIGINT NOT NULL,
    upload_token_hash TEXT NOT NULL,
    paused_cmd        BIGINT NOT NULL DEFAULT 0, -- last pause/resume RWS commanded
    stop_reason       TEXT,                      -- set when RWS sent stop
    end_reported      BIGINT NOT NULL DEFAULT 0, -- SRS reported every media file uploaded
    interrupted       BIGINT NOT NULL DEFAULT 0, -- SRS did not stop cleanly (partial)
    media_expected    BIGINT,                    -- media files SRS reported
    last_activity     TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    legal_hold        BIGINT NOT NULL DEFAULT 0, -- (0006)
    hold_reason       TEXT,                      -- (0006)
    ani               TEXT,                      -- (0006) caller number, from the call's events
    dnis              TEXT                       -- (0006) dialed number
);
CREATE INDEX recordings_user_state ON recordings(username, state);
CREATE INDEX recordings_interaction ON recordings(interaction_id);

CREATE TABLE recording_interactions (
    recording_id   TEXT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    interaction_id TEXT NOT NULL,
    media          TEXT NOT NULL,
    dn             TEXT,
    start_at       TEXT NOT NULL,
    end_at         TEXT,
    PRIMARY KEY (recording_id, interaction_id)
);
CREATE INDEX recording_interactions_by_id ON recording_interactions(interaction_id);

CREATE TABLE media_files (
    id             TEXT PRIMARY KEY,             -- the mediaId
    recording_id   TEXT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    stream         BIGINT NOT NULL,
    monitor        TEXT NOT NULL,                -- JSON {name, x, y, width, height, primary}
    started_at     TEXT NOT NULL,
    upload_offset  BIGINT NOT NULL DEFAULT 0,
    upload_length  BIGINT,                       -- NULL while deferred
    end_ms         BIGINT NOT NULL DEFAULT 0,
    segment_index  TEXT NOT NULL DEFAULT '',     -- no longer read (segments are rows, 0009)
    object_path    TEXT,                         -- set once the media is in storage
    UNIQUE (recording_id, stream)
);

CREATE TABLE recording_marks (
    recording_id TEXT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    at           TEXT NOT NULL,
    kind         TEXT NOT NULL,                  -- paused | resumed
    reason       TEXT NOT NULL,
    PRIMARY KEY (recording_id, at, kind)
);

-- 0005 and 0007: browser sessions of the console (cookie RWSSESSION); the token only as a hash.
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    csrf       TEXT NOT NULL DEFAULT ''          -- (0007) the console's CSRF token
);

-- 0006: supervisor groups, labels, legal hold, retention rules and the audit log.
CREATE TABLE groups (
    name TEXT PRIMARY KEY
);
CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
    username   TEXT NOT NULL,
    role       TEXT NOT NULL,                   -- supervisor | agent
    PRIMARY KEY (group_name, username, role)
);
CREATE TABLE retention_rules (
    id        BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    keep_days BIGINT NOT NULL,
    grp       TEXT,                              -- applies to agents of this group
    label     TEXT,                              -- applies to recordings with this label
    state     TEXT                               -- applies to recordings in this final state
);
CREATE TABLE recording_labels (
    recording_id TEXT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    PRIMARY KEY (recording_id, label)
);
CREATE TABLE audit (
    -- SQLite's AUTOINCREMENT: a sequence, so ids only grow. BY DEFAULT (as
    -- for retention_rules) lets a copy of a SQLite database keep its ids.
    id       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at       TEXT NOT NULL,
    username TEXT NOT NULL,                      -- who ('retention' for the scheduler)
    action   TEXT NOT NULL,                      -- playback download delete hold release purge label unlabel
    target   TEXT NOT NULL,                      -- recording / media / call id
    detail   TEXT NOT NULL DEFAULT '',
    remote   TEXT                                -- client address
);
CREATE INDEX audit_at ON audit(at);
CREATE INDEX recordings_requested ON recordings(requested_at);

-- 0008 rewrote older, shorter times to the fixed width; a new database has none.
