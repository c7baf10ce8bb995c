-- Screen recordings, their media files (one per monitor stream), the
-- interactions each is linked to, and pause/resume marks.
ALTER TABLE users ADD COLUMN channel TEXT NOT NULL DEFAULT 'voice';  -- voice | nonvoice | blended

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
    max_duration_s    INTEGER NOT NULL,
    upload_token_hash TEXT NOT NULL,
    paused_cmd        INTEGER NOT NULL DEFAULT 0, -- last pause/resume RWS commanded
    stop_reason       TEXT,                      -- set when RWS sent stop
    end_reported      INTEGER NOT NULL DEFAULT 0, -- SRS reported every media file uploaded
    interrupted       INTEGER NOT NULL DEFAULT 0, -- SRS did not stop cleanly (partial)
    media_expected    INTEGER,                   -- media files SRS reported
    last_activity     TEXT NOT NULL,
    updated_at        TEXT NOT NULL
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
    stream         INTEGER NOT NULL,
    monitor        TEXT NOT NULL,                -- JSON {name, x, y, width, height, primary}
    started_at     TEXT NOT NULL,
    upload_offset  INTEGER NOT NULL DEFAULT 0,
    upload_length  INTEGER,                      -- NULL while deferred
    end_ms         INTEGER NOT NULL DEFAULT 0,
    segment_index  TEXT NOT NULL DEFAULT '',     -- JSON lines {cipher_offset, cipher_len, plain_offset, plain_len, end_ms}
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
