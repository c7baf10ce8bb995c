-- Supervisor groups, labels, legal hold, retention rules and the audit log.
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
    id        INTEGER PRIMARY KEY,
    keep_days INTEGER NOT NULL,
    grp       TEXT,                              -- applies to agents of this group
    label     TEXT,                              -- applies to recordings with this label
    state     TEXT                               -- applies to recordings in this final state
);
ALTER TABLE recordings ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE recordings ADD COLUMN hold_reason TEXT;
ALTER TABLE recordings ADD COLUMN ani TEXT;      -- caller number, from the call's events
ALTER TABLE recordings ADD COLUMN dnis TEXT;     -- dialed number
CREATE TABLE recording_labels (
    recording_id TEXT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    PRIMARY KEY (recording_id, label)
);
CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    username TEXT NOT NULL,                      -- who ('retention' for the scheduler)
    action   TEXT NOT NULL,                      -- playback download delete hold release purge label unlabel
    target   TEXT NOT NULL,                      -- recording / media / call id
    detail   TEXT NOT NULL DEFAULT '',
    remote   TEXT                                -- client address
);
CREATE INDEX audit_at ON audit(at);
CREATE INDEX recordings_requested ON recordings(requested_at);
