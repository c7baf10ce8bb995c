-- Telephony and chat events posted by integrations; the interaction timeline.
CREATE TABLE events (
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
