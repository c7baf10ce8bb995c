-- Segments of a media file as rows (SQLite's 0009_segments.sql, same shape):
-- one per uploaded age stream, in upload order. media_files.segment_index
-- stays, empty, and is no longer read.
CREATE TABLE segments (
    media_id      TEXT   NOT NULL REFERENCES media_files(id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,              -- 0, 1, 2, … in upload order
    cipher_offset BIGINT NOT NULL,
    cipher_len    BIGINT NOT NULL,
    plain_offset  BIGINT NOT NULL,
    plain_len     BIGINT NOT NULL,
    end_ms        BIGINT NOT NULL,
    PRIMARY KEY (media_id, seq)
);
