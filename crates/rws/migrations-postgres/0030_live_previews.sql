-- On-demand live previews as shared state (the same shape as SQLite's
-- 0030_live_previews.sql; see there and `crates/rws/src/preview.rs`).
-- UNLOGGED: a preview lives seconds to minutes and is worth nothing after
-- a crash, so its rows (megabytes of segments a second) skip the WAL, are
-- never shipped to a replica, and PostgreSQL empties these tables after a
-- crash by itself.
CREATE UNLOGGED TABLE live_previews (
    id         TEXT NOT NULL PRIMARY KEY,     -- a UUID
    agent      TEXT NOT NULL UNIQUE,          -- one preview per agent
    session_id TEXT NOT NULL,                 -- the SRS session capturing
    token_hash TEXT NOT NULL,                 -- SHA-256 of the upload token
    started_at TEXT NOT NULL,                 -- RFC 3339, fixed width
    ends_at    TEXT NOT NULL,                 -- started_at + the 10-minute cap
    last_at    TEXT NOT NULL                  -- the last change (written to lock the row)
);
CREATE UNLOGGED TABLE live_preview_viewers (
    viewer     TEXT NOT NULL PRIMARY KEY,     -- a UUID per open stream
    preview_id TEXT NOT NULL,
    node       TEXT NOT NULL,                 -- the RWS node streaming to it
    since      TEXT NOT NULL
);
CREATE INDEX live_preview_viewers_preview ON live_preview_viewers(preview_id);
CREATE UNLOGGED TABLE live_preview_segments (
    preview_id TEXT    NOT NULL,
    stream     BIGINT  NOT NULL,              -- the monitor
    seq        BIGINT  NOT NULL,              -- 0: the init segment
    size       BIGINT  NOT NULL,              -- LENGTH(body), read without the body
    body       BYTEA   NOT NULL,              -- age ciphertext, as SRS sent it
    PRIMARY KEY (preview_id, stream, seq)
);
