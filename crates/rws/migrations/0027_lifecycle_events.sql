-- The recent recording state changes, for resumable event streams (issue
-- 12): each change is written here in the transaction that makes it, and
-- `seq` is the SSE event id. A client reconnecting with `Last-Event-ID`
-- gets what it missed (`seq` greater than it), and a node that lost a
-- NOTIFY fills the gap from here. Rows are pruned after an hour.
CREATE TABLE lifecycle_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL,
    agent      TEXT NOT NULL,                 -- whose recording (visibility)
    body       TEXT NOT NULL,                 -- the event, JSON (as webhooks get it)
    created_at TEXT NOT NULL                  -- RFC 3339, fixed width (pruning)
);
CREATE INDEX lifecycle_events_created ON lifecycle_events(created_at);
