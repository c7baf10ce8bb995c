-- The durable webhook outbox (issue 12 part 3). A recording's state change
-- writes one row per configured webhook URL; the delivery job (the
-- singleton job of a cluster, the only node on SQLite) POSTs due rows,
-- retries with back-off (`next_at`, `attempts`) and marks them done; done
-- rows are pruned after a day. A node dying mid-delivery leaves the row
-- undone, so whoever runs the job next delivers it again (at-least-once;
-- receivers de-duplicate by the event id).
CREATE TABLE webhook_outbox (
    event_id   TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    body       TEXT    NOT NULL,              -- the event, JSON, as POSTed
    created_at TEXT    NOT NULL,              -- RFC 3339, fixed width
    next_at    TEXT    NOT NULL,              -- due from then (back-off)
    attempts   BIGINT  NOT NULL DEFAULT 0,
    done_at    TEXT,                          -- delivered or given up
    outcome    TEXT,                          -- 'delivered' or 'gave up'
    PRIMARY KEY (event_id, url)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(done_at, next_at);
