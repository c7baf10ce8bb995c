//! Media files (one per recorded monitor, uploaded with tus) and their
//! segments: one row per age stream, in upload order, which playback and
//! the GIR resource read as a [`SegmentIndex`].
//!
//! Segments used to be a JSON-lines column, `media_files.segment_index`;
//! [`convert_segment_index`] moves an old database's values into rows
//! once, at startup, and empties the column.

use media::crypt::{IndexEntry, SegmentIndex};
use media::segment_index::Sha256;
use sqlx::Row as _;

use super::{Pool, Row, Tx};

/// A media file's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRow {
    /// The media id.
    pub id: String,
    /// Its recording.
    pub recording_id: String,
    /// Stream (monitor) number.
    pub stream: i64,
    /// Monitor geometry, JSON.
    pub monitor: String,
    /// When it began.
    pub started_at: String,
    /// Bytes uploaded.
    pub upload_offset: i64,
    /// Declared length (`None` while deferred).
    pub upload_length: Option<i64>,
    /// Media time at its end, ms.
    pub end_ms: i64,
    /// Storage key once stored.
    pub object_path: Option<String>,
}

/// `SELECT <the columns of MediaRow> FROM media_files` followed by `$rest`.
macro_rules! select_media {
    ($rest:literal) => {
        concat!(
            "SELECT id, recording_id, stream, monitor, started_at, upload_offset, upload_length, end_ms, object_path FROM media_files ",
            $rest
        )
    };
}

fn media_of_row(row: &Row) -> Result<MediaRow, sqlx::Error> {
    Ok(MediaRow {
        id: row.try_get("id")?,
        recording_id: row.try_get("recording_id")?,
        stream: row.try_get("stream")?,
        monitor: row.try_get("monitor")?,
        started_at: row.try_get("started_at")?,
        upload_offset: row.try_get("upload_offset")?,
        upload_length: row.try_get("upload_length")?,
        end_ms: row.try_get("end_ms")?,
        object_path: row.try_get("object_path")?,
    })
}

/// One media file.
pub async fn get(db: &Pool, id: &str) -> Result<Option<MediaRow>, sqlx::Error> {
    sqlx::query(select_media!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(media_of_row)
        .transpose()
}

/// A recording's media files, in stream order.
pub async fn of_recording(db: &Pool, recording_id: &str) -> Result<Vec<MediaRow>, sqlx::Error> {
    sqlx::query(select_media!("WHERE recording_id = $1 ORDER BY stream"))
        .bind(recording_id)
        .fetch_all(db)
        .await?
        .iter()
        .map(media_of_row)
        .collect()
}

/// The stream number after a recording's highest (0 for the first).
pub async fn next_stream(db: &Pool, recording_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(MAX(stream) + 1, 0) FROM media_files WHERE recording_id = $1",
    )
    .bind(recording_id)
    .fetch_one(db)
    .await
}

/// The media file of a recording's stream, if created.
pub async fn id_of_stream(
    db: &Pool,
    recording_id: &str,
    stream: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM media_files WHERE recording_id = $1 AND stream = $2")
        .bind(recording_id)
        .bind(stream)
        .fetch_optional(db)
        .await
}

/// A new media file (an upload just created).
pub struct NewMedia<'a> {
    /// The media id.
    pub id: &'a str,
    /// Its recording.
    pub recording_id: &'a str,
    /// Stream number.
    pub stream: i64,
    /// Monitor geometry, JSON.
    pub monitor: &'a str,
    /// When it began.
    pub started_at: &'a str,
    /// Declared length (`None`: deferred).
    pub upload_length: Option<i64>,
}

/// Creates a media file.
pub async fn insert(db: &Pool, m: &NewMedia<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO media_files(id, recording_id, stream, monitor, started_at, upload_length) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(m.id)
    .bind(m.recording_id)
    .bind(m.stream)
    .bind(m.monitor)
    .bind(m.started_at)
    .bind(m.upload_length)
    .execute(db)
    .await?;
    Ok(())
}

/// What an SRS session (`owner`: the session id, or for a recording
/// without one its id) has in unfinished uploads: (count, bytes declared
/// or, for deferred lengths, received).
pub async fn open_of_session(db: &Pool, owner: &str) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(COALESCE(m.upload_length, m.upload_offset)), 0) AS BIGINT)
         FROM media_files m JOIN recordings r ON r.id = m.recording_id
         WHERE COALESCE(r.session_id, r.id) = $1 AND m.object_path IS NULL",
    )
    .bind(owner)
    .fetch_one(db)
    .await
}

/// A recording's media files not yet in storage: (id, length, offset).
pub async fn unstored(
    db: &Pool,
    recording_id: &str,
) -> Result<Vec<(String, Option<i64>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, upload_length, upload_offset FROM media_files WHERE recording_id = $1 AND object_path IS NULL",
    )
    .bind(recording_id)
    .fetch_all(db)
    .await
}

/// Ends an upload's length at what has arrived (an orphan's upload).
pub async fn close_at_offset(db: &Pool, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE media_files SET upload_length = upload_offset WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Notes where a media file is stored.
pub async fn set_object_path(db: &Pool, id: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE media_files SET object_path = $1 WHERE id = $2")
        .bind(key)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes a media file (and, by the foreign key, its segments).
pub async fn delete(db: &Pool, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM media_files WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Segment lengths as stored: `i64` (both engines' integer), from the
/// index's `u64`. Lengths are bounded far below `i64::MAX` by the upload
/// checks; a value past it is refused rather than wrapped.
fn int(v: u64, what: &str) -> Result<i64, sqlx::Error> {
    i64::try_from(v).map_err(|_| sqlx::Error::Protocol(format!("segment {what} {v} is too large")))
}

fn uint(v: i64, what: &str) -> Result<u64, sqlx::Error> {
    u64::try_from(v)
        .map_err(|_| sqlx::Error::Protocol(format!("stored segment {what} {v} is negative")))
}

async fn insert_segments(
    tx: &mut Tx<'_>,
    media_id: &str,
    first_seq: i64,
    entries: &[IndexEntry],
) -> Result<(), sqlx::Error> {
    for (seq, e) in (first_seq..).zip(entries) {
        sqlx::query(
            "INSERT INTO segments(media_id, seq, cipher_offset, cipher_len, plain_offset, plain_len, end_ms,
                                  plain_sha256, cipher_sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(media_id)
        .bind(seq)
        .bind(int(e.cipher_offset, "offset")?)
        .bind(int(e.cipher_len, "length")?)
        .bind(int(e.plain_offset, "offset")?)
        .bind(int(e.plain_len, "length")?)
        .bind(int(e.end_ms.unwrap_or(0), "end")?)
        .bind(e.plain_sha256.map(|h| h.hex()))
        .bind(e.cipher_sha256.map(|h| h.hex()))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A media file's segment index, in upload order (empty when it has none).
pub async fn segments(db: &Pool, media_id: &str) -> Result<SegmentIndex, sqlx::Error> {
    type SegmentRow = (i64, i64, i64, i64, i64, Option<String>, Option<String>);
    let rows: Vec<SegmentRow> = sqlx::query_as(
        "SELECT cipher_offset, cipher_len, plain_offset, plain_len, end_ms, plain_sha256, cipher_sha256
         FROM segments WHERE media_id = $1 ORDER BY seq",
    )
    .bind(media_id)
    .fetch_all(db)
    .await?;
    let hash = |h: Option<String>| h.as_deref().and_then(Sha256::from_hex);
    let entries = rows
        .into_iter()
        .map(|(co, cl, po, pl, end, ph, ch)| {
            Ok(IndexEntry {
                cipher_offset: uint(co, "offset")?,
                cipher_len: uint(cl, "length")?,
                plain_offset: uint(po, "offset")?,
                plain_len: uint(pl, "length")?,
                end_ms: Some(uint(end, "end")?),
                plain_sha256: hash(ph),
                cipher_sha256: hash(ch),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(SegmentIndex { entries })
}

/// A media file's last segment and its `seq`, if it has any.
pub async fn last_segment(
    db: &Pool,
    media_id: &str,
) -> Result<Option<(i64, IndexEntry)>, sqlx::Error> {
    let row: Option<(i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT seq, cipher_offset, cipher_len, plain_offset, plain_len, end_ms FROM segments
         WHERE media_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(media_id)
    .fetch_optional(db)
    .await?;
    row.map(seq_and_entry).transpose()
}

/// At most `limit` of a media file's segments whose `seq` is above `after`,
/// in order, with their `seq` (the live view's tail: what arrived since it
/// last looked).
pub async fn segments_after(
    db: &Pool,
    media_id: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, IndexEntry)>, sqlx::Error> {
    let rows: Vec<(i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT seq, cipher_offset, cipher_len, plain_offset, plain_len, end_ms FROM segments
         WHERE media_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(media_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(seq_and_entry).collect()
}

/// A `segments` row read without its hashes (seq, cipher offset and
/// length, plain offset and length, end) as its `seq` and index entry.
fn seq_and_entry(
    (seq, co, cl, po, pl, end): (i64, i64, i64, i64, i64, i64),
) -> Result<(i64, IndexEntry), sqlx::Error> {
    Ok((
        seq,
        IndexEntry {
            cipher_offset: uint(co, "offset")?,
            cipher_len: uint(cl, "length")?,
            plain_offset: uint(po, "offset")?,
            plain_len: uint(pl, "length")?,
            end_ms: Some(uint(end, "end")?),
            plain_sha256: None,
            cipher_sha256: None,
        },
    ))
}

/// The plaintext size of a media file: where its last segment ends.
pub async fn plain_size(db: &Pool, media_id: &str) -> Result<u64, sqlx::Error> {
    Ok(last_segment(db, media_id)
        .await?
        .map(|(_, e)| e.plain_end())
        .unwrap_or(0))
}

/// What a PATCH moved: the upload's new offset and length, the segments it
/// brought (after the existing ones) and the media's new end.
pub struct Append<'a> {
    /// New offset.
    pub upload_offset: i64,
    /// Length, once known.
    pub upload_length: Option<i64>,
    /// `seq` of the first new segment.
    pub first_seq: i64,
    /// New segments.
    pub segments: &'a [IndexEntry],
    /// New end, ms.
    pub end_ms: i64,
}

/// Records a PATCH: offset, length, end and new segments, and the
/// recording's `last_activity` set to `now`, in one transaction — a crash
/// never leaves segments past the offset, and a PATCH is one write
/// transaction, not two (on SQLite, one writer for every upload, that is
/// half the PATCH's turns at the write lock). The orphan and upload-lag
/// sweeps read `last_activity`; it moves exactly when a PATCH's bytes are
/// recorded.
pub async fn append(
    db: &Pool,
    id: &str,
    a: &Append<'_>,
    recording_id: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE media_files SET upload_offset = $1, upload_length = $2, end_ms = $3 WHERE id = $4",
    )
    .bind(a.upload_offset)
    .bind(a.upload_length)
    .bind(a.end_ms)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    insert_segments(&mut tx, id, a.first_seq, a.segments).await?;
    sqlx::query("UPDATE recordings SET last_activity = $1 WHERE id = $2")
        .bind(now)
        .bind(recording_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Sets the index of a media file that had none (built by scanning the
/// upload) and raises its end to `end_ms`.
pub async fn set_scanned_index(
    db: &Pool,
    id: &str,
    index: &SegmentIndex,
    end_ms: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM segments WHERE media_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    insert_segments(&mut tx, id, 0, &index.entries).await?;
    sqlx::query(
        "UPDATE media_files SET end_ms = CASE WHEN end_ms > $1 THEN end_ms ELSE $1 END WHERE id = $2",
    )
    .bind(end_ms)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Moves the segment indexes of a database written before segments were
/// rows (`media_files.segment_index`, JSON lines) into `segments`, and
/// empties the column; returns how many media files were converted.
/// Called once at startup, after the migrations (so a database holds one
/// form only); a database with nothing to convert costs one query.
///
/// A value that does not parse is an error naming the media file and the
/// reason (the caller refuses to start): its recording would otherwise
/// play as empty. A torn last line, which a crash while appending can
/// leave, is not corrupt and is dropped as the old reader did.
pub async fn convert_segment_index(db: &Pool) -> Result<u64, sqlx::Error> {
    let old: Vec<(String, String)> =
        sqlx::query_as("SELECT id, segment_index FROM media_files WHERE segment_index != ''")
            .fetch_all(db)
            .await?;
    let mut converted = 0;
    for (id, text) in old {
        let index = SegmentIndex::from_json_lines(&text).map_err(|e| {
            tracing::error!(media = %id, error = %e, "corrupt segment index in the database");
            sqlx::Error::Protocol(format!(
                "media file {id}: its segment index (media_files.segment_index) is corrupt: {e}"
            ))
        })?;
        let mut tx = db.begin().await?;
        // The rows are written and the column emptied in one transaction,
        // so a crash mid-way converts this file again on the next start;
        // the DELETE makes that repeat harmless.
        sqlx::query("DELETE FROM segments WHERE media_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        insert_segments(&mut tx, &id, 0, &index.entries).await?;
        sqlx::query("UPDATE media_files SET segment_index = '' WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        converted += 1;
    }
    if converted > 0 {
        tracing::info!(media_files = converted, "segment indexes moved into rows");
    }
    Ok(converted)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::recordings::tests::{db, recording};

    pub(crate) fn entry(co: u64, cl: u64, po: u64, pl: u64, end: u64) -> IndexEntry {
        IndexEntry {
            cipher_offset: co,
            cipher_len: cl,
            plain_offset: po,
            plain_len: pl,
            end_ms: Some(end),
            plain_sha256: None,
            cipher_sha256: None,
        }
    }

    const T0: &str = "2026-01-05T10:00:00.000Z";

    async fn with_media(db: &Pool) {
        recording(db, "r1", "alice", "call-1", T0).await;
        insert(
            db,
            &NewMedia {
                id: "m1",
                recording_id: "r1",
                stream: 0,
                monitor: "{}",
                started_at: T0,
                upload_length: None,
            },
        )
        .await
        .unwrap();
    }

    /// A PATCH's bookkeeping and the recording's `last_activity` (what the
    /// orphan and upload-lag sweeps read) are one transaction: the activity
    /// moves with every recorded PATCH, and not when the PATCH's write
    /// fails.
    #[tokio::test]
    async fn a_patch_moves_last_activity_only_when_it_is_recorded() {
        use crate::recording::RecordingState;
        use crate::store::recordings;
        const T1: &str = "2026-01-05T10:00:01.000Z";
        const T2: &str = "2026-01-05T10:00:02.000Z";
        let (_dir, db) = db().await;
        with_media(&db).await;
        recordings::set_state(
            &db,
            "r1",
            RecordingState::Requested,
            RecordingState::Recording,
            None,
            T0,
        )
        .await
        .unwrap();
        let seg = entry(0, 60, 0, 40, 1000);
        let patch = Append {
            upload_offset: 60,
            upload_length: None,
            first_seq: 0,
            segments: std::slice::from_ref(&seg),
            end_ms: 1000,
        };
        append(&db, "m1", &patch, "r1", T1).await.unwrap();
        let r = recordings::get(&db, "r1").await.unwrap().unwrap();
        assert_eq!(r.last_activity, T1, "a recorded PATCH is activity");
        assert_eq!(
            recordings::oldest_activity(&db).await.unwrap().as_deref(),
            Some(T1)
        );
        // The same segment again: the write fails, and the activity stays.
        assert!(append(&db, "m1", &patch, "r1", T2).await.is_err());
        let r = recordings::get(&db, "r1").await.unwrap().unwrap();
        assert_eq!(r.last_activity, T1, "a failed PATCH is no activity");
        let m = get(&db, "m1").await.unwrap().unwrap();
        assert_eq!(m.upload_offset, 60);
    }

    #[tokio::test]
    async fn patches_append_segments_in_order() {
        let (_dir, db) = db().await;
        with_media(&db).await;
        assert_eq!(last_segment(&db, "m1").await.unwrap(), None);
        assert_eq!(plain_size(&db, "m1").await.unwrap(), 0);
        let first = [entry(0, 100, 0, 80, 0), entry(100, 50, 80, 30, 2000)];
        append(
            &db,
            "m1",
            &Append {
                upload_offset: 150,
                upload_length: None,
                first_seq: 0,
                segments: &first,
                end_ms: 2000,
            },
            "r1",
            T0,
        )
        .await
        .unwrap();
        let (seq, last) = last_segment(&db, "m1").await.unwrap().unwrap();
        assert_eq!((seq, last), (1, first[1]));
        let second = [entry(150, 40, 110, 20, 4000)];
        append(
            &db,
            "m1",
            &Append {
                upload_offset: 190,
                upload_length: Some(190),
                first_seq: seq + 1,
                segments: &second,
                end_ms: 4000,
            },
            "r1",
            T0,
        )
        .await
        .unwrap();
        let index = segments(&db, "m1").await.unwrap();
        assert_eq!(index.entries, vec![first[0], first[1], second[0]]);
        assert_eq!(plain_size(&db, "m1").await.unwrap(), 130);
        let m = get(&db, "m1").await.unwrap().unwrap();
        assert_eq!(
            (m.upload_offset, m.upload_length, m.end_ms),
            (190, Some(190), 4000)
        );
        // A repeated seq (two writers) is refused whole: the offset stays.
        let err = append(
            &db,
            "m1",
            &Append {
                upload_offset: 999,
                upload_length: Some(999),
                first_seq: 2,
                segments: &second,
                end_ms: 9000,
            },
            "r1",
            T0,
        )
        .await;
        assert!(err.is_err());
        assert_eq!(get(&db, "m1").await.unwrap().unwrap().upload_offset, 190);
        // Deleting the media deletes its segments.
        delete(&db, "m1").await.unwrap();
        assert!(segments(&db, "m1").await.unwrap().entries.is_empty());
    }

    #[tokio::test]
    async fn a_scanned_index_replaces_and_only_raises_the_end() {
        let (_dir, db) = db().await;
        with_media(&db).await;
        let index = SegmentIndex {
            entries: vec![entry(0, 100, 0, 80, 500)],
        };
        append(
            &db,
            "m1",
            &Append {
                upload_offset: 100,
                upload_length: Some(100),
                first_seq: 0,
                segments: &[],
                end_ms: 3000,
            },
            "r1",
            T0,
        )
        .await
        .unwrap();
        set_scanned_index(&db, "m1", &index, 500).await.unwrap();
        assert_eq!(segments(&db, "m1").await.unwrap(), index);
        assert_eq!(get(&db, "m1").await.unwrap().unwrap().end_ms, 3000);
        set_scanned_index(&db, "m1", &index, 7000).await.unwrap();
        assert_eq!(get(&db, "m1").await.unwrap().unwrap().end_ms, 7000);
        assert_eq!(segments(&db, "m1").await.unwrap().entries.len(), 1);
    }

    async fn set_old_column(db: &Pool, text: &str) {
        sqlx::query("UPDATE media_files SET segment_index = $1 WHERE id = 'm1'")
            .bind(text)
            .execute(db)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_old_database_is_converted_when_opened() {
        let (dir, db) = db().await;
        with_media(&db).await;
        let old = [entry(0, 100, 0, 80, 0), entry(100, 50, 80, 30, 2000)];
        let mut text: String = old.iter().map(SegmentIndex::json_line).collect();
        // A torn last line (crash while appending) is not corruption.
        text.push_str("{\"cipher_offset\": 15");
        set_old_column(&db, &text).await;
        db.close().await;
        let db = crate::open_db(dir.path()).await.unwrap();
        assert_eq!(segments(&db, "m1").await.unwrap().entries, old.to_vec());
        let column: String =
            sqlx::query_scalar("SELECT segment_index FROM media_files WHERE id = 'm1'")
                .fetch_one(&db)
                .await
                .unwrap();
        assert_eq!(column, "", "the old column is emptied");
        // Converting again finds nothing to do and keeps the rows.
        assert_eq!(convert_segment_index(&db).await.unwrap(), 0);
        assert_eq!(segments(&db, "m1").await.unwrap().entries.len(), 2);
    }

    #[tokio::test]
    async fn a_corrupt_old_index_is_an_error_with_a_reason() {
        let (dir, db) = db().await;
        with_media(&db).await;
        let good = SegmentIndex::json_line(&entry(0, 100, 0, 80, 0));
        set_old_column(&db, &format!("{good}not json\n{good}")).await;
        db.close().await;
        let err = crate::open_db(dir.path()).await.unwrap_err().to_string();
        assert!(
            err.contains("media file m1") && err.contains("corrupt") && err.contains("line 2"),
            "{err}"
        );
    }
}
