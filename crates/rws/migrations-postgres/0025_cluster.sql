-- Several RWS nodes on one PostgreSQL (the same shape as SQLite's 0025_cluster.sql,
-- where these tables stay empty: SQLite is the embedded single node).
-- `srs_commands` is the durable queue of commands to SRS: the node holding the SRS's control channel
-- delivers the rows and writes the acknowledgement back; NOTIFY only wakes
-- it. `cluster_nodes` is each node's lease (renewed every few seconds; a
-- node whose lease ran out is dead), `srs_session_owners` which node holds
-- which session's control channel.
CREATE TABLE srs_commands (
    session_id TEXT    NOT NULL,
    seq        BIGINT  NOT NULL,
    body       TEXT    NOT NULL,              -- the ToAgent frame, JSON
    created_at TEXT    NOT NULL,
    acked      BIGINT  NOT NULL DEFAULT 0,    -- 1 once SRS answered
    ok         BIGINT  NOT NULL DEFAULT 0,
    error      TEXT,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE cluster_nodes (
    node        TEXT NOT NULL PRIMARY KEY,
    lease_until TEXT NOT NULL,                -- RFC 3339, fixed width
    started_at  TEXT NOT NULL
);
CREATE TABLE srs_session_owners (
    session_id TEXT NOT NULL PRIMARY KEY,
    node       TEXT NOT NULL,
    since      TEXT NOT NULL
);
CREATE INDEX srs_session_owners_node ON srs_session_owners(node);
