-- Segments become rows: one per age stream of a media file, replacing the
-- JSON-lines `media_files.segment_index` column (kept, emptied, no longer
-- read). The primary key (media_id, seq) serves every lookup: playback and
-- the GIR resource read a media file's rows in seq order, a PATCH its last
-- row (seq DESC LIMIT 1). Rows of existing databases are converted by RWS at startup
-- (`store::media::convert_segment_index`), not here, so that a corrupt old
-- value is refused with a reason instead of being dropped.
CREATE TABLE segments (
    media_id      TEXT    NOT NULL REFERENCES media_files(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,              -- 0, 1, 2, … in upload order
    cipher_offset INTEGER NOT NULL,
    cipher_len    INTEGER NOT NULL,
    plain_offset  INTEGER NOT NULL,
    plain_len     INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL,
    PRIMARY KEY (media_id, seq)
);
