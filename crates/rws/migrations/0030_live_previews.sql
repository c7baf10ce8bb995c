-- On-demand live previews (`live_view = "always"`, docs/live-view.md) as
-- shared state, so that the console's request, SRS's control channel and
-- SRS's segment PUTs may each reach a different RWS node (issue 12: no
-- sticky sessions). A preview is its row; each viewer, on whichever node,
-- is a row of `live_preview_viewers` (its node's lease says it is alive);
-- the segments are rows of `live_preview_segments`, per monitor the init
-- segment and the newest few fragments, age-encrypted to the tenant as SRS
-- sent them. Every row goes when the preview ends (the last viewer leaves,
-- its cap, a call starts, or the sweep after a node died); nothing of a
-- preview outlives it, and search and retention never read these tables.
CREATE TABLE live_previews (
    id         TEXT NOT NULL PRIMARY KEY,     -- a UUID
    agent      TEXT NOT NULL UNIQUE,          -- one preview per agent
    session_id TEXT NOT NULL,                 -- the SRS session capturing
    token_hash TEXT NOT NULL,                 -- SHA-256 of the upload token
    started_at TEXT NOT NULL,                 -- RFC 3339, fixed width
    ends_at    TEXT NOT NULL,                 -- started_at + the 10-minute cap
    last_at    TEXT NOT NULL                  -- the last change (written to lock the row)
);
CREATE TABLE live_preview_viewers (
    viewer     TEXT NOT NULL PRIMARY KEY,     -- a UUID per open stream
    preview_id TEXT NOT NULL,
    node       TEXT NOT NULL,                 -- the RWS node streaming to it
    since      TEXT NOT NULL
);
CREATE INDEX live_preview_viewers_preview ON live_preview_viewers(preview_id);
CREATE TABLE live_preview_segments (
    preview_id TEXT    NOT NULL,
    stream     INTEGER NOT NULL,              -- the monitor
    seq        INTEGER NOT NULL,              -- 0: the init segment
    size       INTEGER NOT NULL,              -- LENGTH(body), read without the body
    body       BLOB    NOT NULL,              -- age ciphertext, as SRS sent it
    PRIMARY KEY (preview_id, stream, seq)
);
