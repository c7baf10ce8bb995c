//! Recordings and what hangs off them: their links to interactions, pause
//! marks, labels (read), the stop/pause commands RWS sent, what SRS
//! reported at the end, and the figures finishing, the orphan sweep and the
//! metrics look at. Returns [`Rec`]; the rules that decide a state live
//! with the callers.

use super::{Db, Pool, Row};
use crate::recording::Rec;
use crate::recording::RecordingState;
use sqlx::Row as _;

/// `SELECT <the columns of Rec> FROM recordings` followed by `$rest`.
macro_rules! select_rec {
    ($rest:literal) => {
        concat!(
            "SELECT id, username, dn, session_id, interaction_id, media, state, reason, requested_at, started_at, stopped_at, max_duration_s, paused_cmd, stop_reason, end_reported, interrupted, media_expected, last_activity, legal_hold, hold_reason, ani, dnis FROM recordings ",
            $rest
        )
    };
}
pub(crate) use select_rec;

/// A recording from a row of [`select_rec!`]. Flags are integers 0/1 in
/// both engines, read as `i64` (`!= 0`).
pub(crate) fn rec_of(row: &Row) -> Result<Rec, sqlx::Error> {
    Ok(Rec {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        dn: row.try_get("dn")?,
        session_id: row.try_get("session_id")?,
        interaction_id: row.try_get("interaction_id")?,
        media: row.try_get("media")?,
        state: row.try_get("state")?,
        reason: row.try_get("reason")?,
        requested_at: row.try_get("requested_at")?,
        started_at: row.try_get("started_at")?,
        stopped_at: row.try_get("stopped_at")?,
        max_duration_s: row.try_get("max_duration_s")?,
        paused_cmd: row.try_get::<i64, _>("paused_cmd")? != 0,
        stop_reason: row.try_get("stop_reason")?,
        end_reported: row.try_get::<i64, _>("end_reported")? != 0,
        interrupted: row.try_get::<i64, _>("interrupted")? != 0,
        media_expected: row.try_get("media_expected")?,
        last_activity: row.try_get("last_activity")?,
        legal_hold: row.try_get::<i64, _>("legal_hold")? != 0,
        hold_reason: row.try_get("hold_reason")?,
        ani: row.try_get("ani")?,
        dnis: row.try_get("dnis")?,
    })
}

type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

async fn one(db: &Pool, q: Query<'_>) -> Result<Option<Rec>, sqlx::Error> {
    q.fetch_optional(db).await?.as_ref().map(rec_of).transpose()
}

async fn all(db: &Pool, q: Query<'_>) -> Result<Vec<Rec>, sqlx::Error> {
    q.fetch_all(db).await?.iter().map(rec_of).collect()
}

/// One recording.
pub async fn get(db: &Pool, id: &str) -> Result<Option<Rec>, sqlx::Error> {
    one(db, sqlx::query(select_rec!("WHERE id = $1")).bind(id)).await
}

/// The agent's recording that is still recording, if any.
pub async fn active_for(db: &Pool, username: &str) -> Result<Option<Rec>, sqlx::Error> {
    let q = sqlx::query(select_rec!(
        "WHERE username = $1 AND state IN ('requested','recording','paused') ORDER BY requested_at DESC LIMIT 1"
    ));
    one(db, q.bind(username)).await
}

/// Every recording not yet final.
pub async fn unfinished(db: &Pool) -> Result<Vec<Rec>, sqlx::Error> {
    let q = sqlx::query(select_rec!(
        "WHERE state NOT IN ('completed','partial','failed')"
    ));
    all(db, q).await
}

/// Final recordings (retention looks at them).
pub async fn finished(db: &Pool) -> Result<Vec<Rec>, sqlx::Error> {
    let q = sqlx::query(select_rec!(
        "WHERE state IN ('completed','partial','failed')"
    ));
    all(db, q).await
}

/// The recording whose upload token hashes to `hash`.
pub async fn by_upload_token(db: &Pool, hash: &str) -> Result<Option<Rec>, sqlx::Error> {
    let q = sqlx::query(select_rec!("WHERE upload_token_hash = $1"));
    one(db, q.bind(hash)).await
}

/// An agent's recordings requested within `[from, to]`.
pub async fn of_agent_between(
    db: &Pool,
    agent: &str,
    from: &str,
    to: &str,
) -> Result<Vec<Rec>, sqlx::Error> {
    let q = sqlx::query(select_rec!(
        "WHERE username = $1 AND requested_at >= $2 AND requested_at <= $3"
    ));
    all(db, q.bind(agent).bind(from).bind(to)).await
}

/// Every screen recording mapped or linked to a call, oldest first.
pub async fn of_call(db: &Pool, call_id: &str) -> Result<Vec<Rec>, sqlx::Error> {
    let q = sqlx::query(select_rec!(
        "WHERE interaction_id = $1
           OR id IN (SELECT recording_id FROM recording_interactions WHERE interaction_id = $1)
         ORDER BY requested_at"
    ));
    all(db, q.bind(call_id)).await
}

/// A new recording's row.
pub struct NewRow<'a> {
    /// Id.
    pub id: &'a str,
    /// Agent.
    pub username: &'a str,
    /// The agent's DN.
    pub dn: Option<&'a str>,
    /// SRS session.
    pub session_id: Option<&'a str>,
    /// The interaction it is mapped to.
    pub interaction_id: &'a str,
    /// Its media.
    pub media: &'a str,
    /// `requested` or `failed`.
    pub state: RecordingState,
    /// Why it failed.
    pub reason: Option<&'a str>,
    /// Now.
    pub now: &'a str,
    /// Maximum duration, seconds.
    pub max_duration_s: i64,
    /// Hash of its upload token.
    pub upload_token_hash: &'a str,
    /// When the interaction (leg) began.
    pub at: &'a str,
}

/// Creates a recording and its link to its interaction (one transaction).
pub async fn insert(db: &Pool, new: &NewRow<'_>) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    insert_in(&mut tx, new).await?;
    tx.commit().await
}

/// [`insert`] inside the caller's transaction.
pub async fn insert_in(tx: &mut super::Tx<'_>, new: &NewRow<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO recordings(id, username, dn, session_id, interaction_id, media, state, reason, requested_at, max_duration_s, upload_token_hash, last_activity, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $9, $9)",
    )
    .bind(new.id)
    .bind(new.username)
    .bind(new.dn)
    .bind(new.session_id)
    .bind(new.interaction_id)
    .bind(new.media)
    .bind(new.state.as_str())
    .bind(new.reason)
    .bind(new.now)
    .bind(new.max_duration_s)
    .bind(new.upload_token_hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO recording_interactions(recording_id, interaction_id, media, dn, start_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new.id)
    .bind(new.interaction_id)
    .bind(new.media)
    .bind(new.dn)
    .bind(new.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets a recording's state if it is still `from` (compare and set), and
/// its start (entering `recording`/`paused`) or stop (entering a later
/// state) time the first time. Returns false when another task changed
/// the state first.
pub async fn set_state(
    db: &Pool,
    id: &str,
    from: RecordingState,
    to: RecordingState,
    reason: Option<&str>,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let done = set_state_in(&mut tx, id, from, to, reason, now).await?;
    tx.commit().await?;
    Ok(done)
}

/// [`set_state`] inside the caller's transaction.
pub async fn set_state_in(
    tx: &mut super::Tx<'_>,
    id: &str,
    from: RecordingState,
    to: RecordingState,
    reason: Option<&str>,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let starts = matches!(to, RecordingState::Recording | RecordingState::Paused);
    let stops = !to.is_active();
    let done = sqlx::query(
        "UPDATE recordings SET state = $1, reason = $2, updated_at = $3, last_activity = $3,
           started_at = CASE WHEN $6 = 1 AND started_at IS NULL THEN $3 ELSE started_at END,
           stopped_at = CASE WHEN $7 = 1 AND stopped_at IS NULL THEN $3 ELSE stopped_at END
         WHERE id = $4 AND state = $5",
    )
    .bind(to.as_str())
    .bind(reason)
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .bind(i64::from(starts))
    .bind(i64::from(stops))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Links an interaction that overlaps the recording (from `at`); a link
/// that exists is opened again.
pub async fn link(
    db: &Pool,
    id: &str,
    interaction_id: &str,
    media: &str,
    dn: Option<&str>,
    at: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO recording_interactions(recording_id, interaction_id, media, dn, start_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (recording_id, interaction_id) DO UPDATE SET end_at = NULL",
    )
    .bind(id)
    .bind(interaction_id)
    .bind(media)
    .bind(dn)
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

/// Closes an open link at `at`; returns how many links are still open.
pub async fn unlink(
    db: &Pool,
    id: &str,
    interaction_id: &str,
    at: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "UPDATE recording_interactions SET end_at = $1 WHERE recording_id = $2 AND interaction_id = $3 AND end_at IS NULL",
    )
    .bind(at)
    .bind(id)
    .bind(interaction_id)
    .execute(db)
    .await?;
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM recording_interactions WHERE recording_id = $1 AND end_at IS NULL",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// Interactions linked to a recording and still open.
pub async fn open_links(db: &Pool, id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT interaction_id FROM recording_interactions WHERE recording_id = $1 AND end_at IS NULL",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// One interaction linked to a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The interaction.
    pub interaction_id: String,
    /// Its media.
    pub media: String,
    /// The DN (voice).
    pub dn: Option<String>,
    /// Linked from.
    pub start_at: String,
    /// Until (open while `None`).
    pub end_at: Option<String>,
}

/// A recording's links, by start.
pub async fn links_of(db: &Pool, id: &str) -> Result<Vec<Link>, sqlx::Error> {
    type R = (String, String, Option<String>, String, Option<String>);
    let rows: Vec<R> = sqlx::query_as(
        "SELECT interaction_id, media, dn, start_at, end_at FROM recording_interactions WHERE recording_id = $1 ORDER BY start_at",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(interaction_id, media, dn, start_at, end_at)| Link {
            interaction_id,
            media,
            dn,
            start_at,
            end_at,
        })
        .collect())
}

/// The latest link of an interaction on the agent's `dn` (`None` matches a
/// link without one): (recording id, when it closed).
pub async fn leg_link(
    db: &Pool,
    interaction_id: &str,
    dn: Option<&str>,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    // `dn IS $2` is SQLite's null-safe equality; this form is both engines'.
    sqlx::query_as(
        "SELECT recording_id, end_at FROM recording_interactions
         WHERE interaction_id = $1 AND (dn = $2 OR (dn IS NULL AND CAST($2 AS TEXT) IS NULL))
         ORDER BY start_at DESC LIMIT 1",
    )
    .bind(interaction_id)
    .bind(dn)
    .fetch_optional(db)
    .await
}

/// Records a pause or resume on the timeline (idempotent).
pub async fn mark(
    db: &Pool,
    id: &str,
    at: &str,
    kind: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO recording_marks(recording_id, at, kind, reason) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(at)
    .bind(kind)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}

/// Records an active-window change on the app lane (idempotent by time):
/// a mark of kind `app`, the class as its reason, the title if kept; not
/// when the recording has `cap` app marks already. True when stored now.
/// (The count and the insert are one statement; two nodes inserting at the
/// same instant may pass the cap by one each, never by a flood.)
pub async fn mark_app(
    db: &Pool,
    id: &str,
    at: &str,
    class: &str,
    title: Option<&str>,
    cap: i64,
) -> Result<bool, sqlx::Error> {
    // `WHERE` on the SELECT also keeps SQLite from reading `ON CONFLICT`
    // as part of it.
    let done = sqlx::query(
        "INSERT INTO recording_marks(recording_id, at, kind, reason, title) \
         SELECT $1, $2, 'app', $3, $4 \
         WHERE (SELECT COUNT(*) FROM recording_marks WHERE recording_id = $1 AND kind = 'app') < $5 \
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(at)
    .bind(class)
    .bind(title)
    .bind(cap)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// How many app marks a recording has.
pub async fn app_marks(db: &Pool, id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM recording_marks WHERE recording_id = $1 AND kind = 'app'",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// A recording's marks by time with their titles (only `app` marks have
/// one): (at, kind, reason, title).
pub async fn timeline_of(
    db: &Pool,
    id: &str,
) -> Result<Vec<(String, String, String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at, kind, reason, title FROM recording_marks WHERE recording_id = $1 ORDER BY at, kind",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// A recording's marks by time: (at, kind, reason).
pub async fn marks_of(db: &Pool, id: &str) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at, kind, reason FROM recording_marks WHERE recording_id = $1 ORDER BY at",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// How many times a recording was paused.
pub async fn pause_count(db: &Pool, id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM recording_marks WHERE recording_id = $1 AND kind = 'paused'",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// A recording's labels, sorted.
pub async fn labels_of(db: &Pool, id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT label FROM recording_labels WHERE recording_id = $1 ORDER BY label")
        .bind(id)
        .fetch_all(db)
        .await
}

/// Notes upload or state activity at `now` (the orphan sweep looks at it).
pub async fn touch(db: &Pool, id: &str, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE recordings SET last_activity = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Keeps the first reason RWS gave for stopping a recording.
pub async fn set_stop_reason(db: &Pool, id: &str, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE recordings SET stop_reason = COALESCE(stop_reason, $1) WHERE id = $2")
        .bind(reason)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Notes whether RWS last commanded pause.
pub async fn set_paused_cmd(db: &Pool, id: &str, paused: bool) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE recordings SET paused_cmd = $1 WHERE id = $2")
        .bind(i64::from(paused))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Notes SRS's end report.
pub async fn set_end_reported(
    db: &Pool,
    id: &str,
    interrupted: bool,
    media_expected: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE recordings SET end_reported = 1, interrupted = $1, media_expected = $2, reason = $3 WHERE id = $4",
    )
    .bind(i64::from(interrupted))
    .bind(media_expected)
    .bind(reason)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Sets the caller and dialed numbers of a call's recordings where they
/// have none yet.
pub async fn set_numbers(
    db: &Pool,
    call_id: &str,
    ani: Option<&str>,
    dnis: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE recordings SET ani = COALESCE(ani, $1), dnis = COALESCE(dnis, $2)
         WHERE interaction_id = $3 OR id IN (SELECT recording_id FROM recording_interactions WHERE interaction_id = $3)",
    )
    .bind(ani)
    .bind(dnis)
    .bind(call_id)
    .execute(db)
    .await?;
    Ok(())
}

/// The agents whose recordings are mapped or linked to an interaction.
pub async fn agents_of_interaction(db: &Pool, id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT username FROM recordings WHERE interaction_id = $1
         UNION SELECT r.username FROM recordings r JOIN recording_interactions l
           ON l.recording_id = r.id WHERE l.interaction_id = $1",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// What finishing a recording looks at, over its media files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaTally {
    /// Media files.
    pub total: i64,
    /// Of them in storage.
    pub stored: i64,
    /// Bytes uploaded.
    pub bytes: i64,
    /// Media files with at least one segment.
    pub indexed: i64,
}

/// Counts a recording's media files, stored ones, bytes and indexed ones.
pub async fn media_tally(db: &Pool, id: &str) -> Result<MediaTally, sqlx::Error> {
    let (total, stored, bytes, indexed): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(object_path), CAST(COALESCE(SUM(upload_offset), 0) AS BIGINT),
                COUNT(CASE WHEN EXISTS (SELECT 1 FROM segments s WHERE s.media_id = m.id) THEN 1 END)
         FROM media_files m WHERE recording_id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await?;
    Ok(MediaTally {
        total,
        stored,
        bytes,
        indexed,
    })
}

/// Bytes uploaded in a recording's media files that have segments (the
/// playable ones).
pub async fn playable_bytes(db: &Pool, id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(upload_offset), 0) AS BIGINT) FROM media_files m
         WHERE recording_id = $1 AND EXISTS (SELECT 1 FROM segments s WHERE s.media_id = m.id)",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// How many recordings are in each state (states without any are absent).
pub async fn count_by_state(db: &Pool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT state, COUNT(*) FROM recordings GROUP BY state")
        .fetch_all(db)
        .await
}

/// The oldest activity of a recording that records or uploads.
pub async fn oldest_activity(db: &Pool) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MIN(last_activity) FROM recordings WHERE state IN ('recording','paused','finalizing')",
    )
    .fetch_one(db)
    .await
}

/// The SRS session that records it now (a restarted SRS continuing it).
pub async fn set_session(db: &Pool, id: &str, session_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE recordings SET session_id = $1 WHERE id = $2")
        .bind(session_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::recording::RecordingState;

    use super::*;

    /// A fresh database in a temp dir (kept alive by the returned guard).
    pub(crate) async fn db() -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::open_db(dir.path()).await.unwrap();
        (dir, db)
    }

    /// Creates recording `id` of `agent` on `call` in state `requested`.
    pub(crate) async fn recording(db: &Pool, id: &str, agent: &str, call: &str, at: &str) {
        insert(
            db,
            &NewRow {
                id,
                username: agent,
                dn: Some("7001"),
                session_id: None,
                interaction_id: call,
                media: "voice",
                state: RecordingState::Requested,
                reason: None,
                now: at,
                max_duration_s: 3600,
                upload_token_hash: &format!("hash-{id}"),
                at,
            },
        )
        .await
        .unwrap();
    }

    const T0: &str = "2026-01-05T10:00:00.000Z";
    const T1: &str = "2026-01-05T10:00:01.000Z";
    const T2: &str = "2026-01-05T10:00:02.000Z";

    #[tokio::test]
    async fn set_state_is_compare_and_set_and_stamps_start_and_stop_once() {
        let (_dir, db) = db().await;
        recording(&db, "r1", "alice", "call-1", T0).await;
        // From a state it is not in: refused, nothing changes.
        assert!(
            !set_state(
                &db,
                "r1",
                RecordingState::Recording,
                RecordingState::Paused,
                None,
                T1
            )
            .await
            .unwrap()
        );
        assert_eq!(
            get(&db, "r1").await.unwrap().unwrap().state,
            RecordingState::Requested
        );

        assert!(
            set_state(
                &db,
                "r1",
                RecordingState::Requested,
                RecordingState::Recording,
                None,
                T1
            )
            .await
            .unwrap()
        );
        let r = get(&db, "r1").await.unwrap().unwrap();
        assert_eq!(
            (r.state.as_str(), r.started_at.as_deref()),
            ("recording", Some(T1))
        );
        assert_eq!(r.stopped_at, None);
        assert_eq!(r.last_activity, T1);

        assert!(
            set_state(
                &db,
                "r1",
                RecordingState::Recording,
                RecordingState::Finalizing,
                Some("agent_logout"),
                T2
            )
            .await
            .unwrap()
        );
        assert!(
            set_state(
                &db,
                "r1",
                RecordingState::Finalizing,
                RecordingState::Completed,
                Some("agent_logout"),
                "2026-01-05T10:00:09.000Z"
            )
            .await
            .unwrap()
        );
        let r = get(&db, "r1").await.unwrap().unwrap();
        assert_eq!(r.started_at.as_deref(), Some(T1), "start is kept");
        assert_eq!(r.stopped_at.as_deref(), Some(T2), "stop is the first one");
        assert_eq!(r.reason.as_deref(), Some("agent_logout"));
        assert_eq!(finished(&db).await.unwrap().len(), 1);
        assert!(unfinished(&db).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn flags_are_integers_read_as_bools() {
        let (_dir, db) = db().await;
        recording(&db, "r1", "alice", "call-1", T0).await;
        let r = get(&db, "r1").await.unwrap().unwrap();
        assert!(!r.end_reported && !r.interrupted && !r.paused_cmd && !r.legal_hold);
        set_end_reported(&db, "r1", true, 2, "srs_restarted")
            .await
            .unwrap();
        set_paused_cmd(&db, "r1", true).await.unwrap();
        let r = get(&db, "r1").await.unwrap().unwrap();
        assert!(r.end_reported && r.interrupted && r.paused_cmd);
        assert_eq!(r.media_expected, Some(2));
        assert_eq!(r.reason.as_deref(), Some("srs_restarted"));
        set_paused_cmd(&db, "r1", false).await.unwrap();
        assert!(!get(&db, "r1").await.unwrap().unwrap().paused_cmd);
    }

    #[tokio::test]
    async fn links_reopen_and_count_and_match_a_missing_dn() {
        let (_dir, db) = db().await;
        recording(&db, "r1", "alice", "call-1", T0).await;
        link(&db, "r1", "chat-1", "chat", None, T1).await.unwrap();
        assert_eq!(open_links(&db, "r1").await.unwrap().len(), 2);
        assert_eq!(unlink(&db, "r1", "call-1", T2).await.unwrap(), 1);
        // Linking again opens it again.
        link(&db, "r1", "call-1", "voice", Some("7001"), T2)
            .await
            .unwrap();
        assert_eq!(open_links(&db, "r1").await.unwrap().len(), 2);
        // The DN is matched null-safely: `None` finds the link without one.
        assert_eq!(
            leg_link(&db, "chat-1", None).await.unwrap(),
            Some(("r1".into(), None))
        );
        assert_eq!(leg_link(&db, "chat-1", Some("7001")).await.unwrap(), None);
        assert_eq!(leg_link(&db, "call-1", None).await.unwrap(), None);
        assert_eq!(
            leg_link(&db, "call-1", Some("7001"))
                .await
                .unwrap()
                .map(|l| l.0),
            Some("r1".into())
        );
        let links = links_of(&db, "r1").await.unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].interaction_id, "call-1");
        // Both linked calls find the recording.
        assert_eq!(of_call(&db, "chat-1").await.unwrap().len(), 1);
        assert_eq!(
            agents_of_interaction(&db, "chat-1").await.unwrap(),
            vec!["alice".to_string()]
        );
    }

    #[tokio::test]
    async fn app_marks_are_idempotent_by_time_and_capped_per_recording() {
        let (_dir, db) = db().await;
        recording(&db, "r1", "alice", "call-1", T0).await;
        recording(&db, "r2", "bob", "call-2", T0).await;
        // The same change twice (live, then the end report): once.
        assert!(
            mark_app(&db, "r1", T1, "XTerm", Some("bash"), 3)
                .await
                .unwrap()
        );
        assert!(
            !mark_app(&db, "r1", T1, "XTerm", Some("bash"), 3)
                .await
                .unwrap()
        );
        assert!(mark_app(&db, "r1", T2, "Crm", None, 3).await.unwrap());
        assert_eq!(app_marks(&db, "r1").await.unwrap(), 2);
        // Other kinds do not count; the cap is per recording.
        mark(&db, "r1", T0, "paused", "desktop").await.unwrap();
        assert!(
            mark_app(&db, "r1", "2026-01-05T10:00:03.000Z", "C", None, 3)
                .await
                .unwrap()
        );
        assert!(
            !mark_app(&db, "r1", "2026-01-05T10:00:04.000Z", "D", None, 3)
                .await
                .unwrap()
        );
        assert_eq!(app_marks(&db, "r1").await.unwrap(), 3);
        assert!(mark_app(&db, "r2", T1, "XTerm", None, 3).await.unwrap());
        assert_eq!(app_marks(&db, "r2").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn marks_are_idempotent_and_numbers_only_fill_gaps() {
        let (_dir, db) = db().await;
        recording(&db, "r1", "alice", "call-1", T0).await;
        mark(&db, "r1", T1, "paused", "break").await.unwrap();
        mark(&db, "r1", T1, "paused", "break").await.unwrap();
        mark(&db, "r1", T2, "resumed", "").await.unwrap();
        assert_eq!(pause_count(&db, "r1").await.unwrap(), 1);
        assert_eq!(marks_of(&db, "r1").await.unwrap().len(), 2);
        set_numbers(&db, "call-1", Some("+331"), None)
            .await
            .unwrap();
        set_numbers(&db, "call-1", Some("+332"), Some("100"))
            .await
            .unwrap();
        let r = get(&db, "r1").await.unwrap().unwrap();
        assert_eq!(
            (r.ani.as_deref(), r.dnis.as_deref()),
            (Some("+331"), Some("100"))
        );
    }

    #[tokio::test]
    async fn tally_counts_only_media_with_segments_as_playable() {
        use crate::store::media;
        let (_dir, db) = db().await;
        recording(&db, "r1", "alice", "call-1", T0).await;
        assert_eq!(media_tally(&db, "r1").await.unwrap(), MediaTally::default());
        for (id, stream) in [("m0", 0), ("m1", 1)] {
            media::insert(
                &db,
                &media::NewMedia {
                    id,
                    recording_id: "r1",
                    stream,
                    monitor: "{}",
                    started_at: T0,
                    upload_length: Some(100),
                },
            )
            .await
            .unwrap();
        }
        let seg = media::tests::entry(0, 60, 0, 40, 1000);
        media::append(
            &db,
            "m0",
            &media::Append {
                upload_offset: 60,
                upload_length: Some(100),
                first_seq: 0,
                segments: &[seg],
                end_ms: 1000,
            },
            "r1",
            T0,
        )
        .await
        .unwrap();
        media::append(
            &db,
            "m1",
            &media::Append {
                upload_offset: 30,
                upload_length: Some(100),
                first_seq: 0,
                segments: &[],
                end_ms: 0,
            },
            "r1",
            T0,
        )
        .await
        .unwrap();
        media::set_object_path(&db, "m1", "k").await.unwrap();
        assert_eq!(
            media_tally(&db, "r1").await.unwrap(),
            MediaTally {
                total: 2,
                stored: 1,
                bytes: 90,
                indexed: 1
            }
        );
        assert_eq!(playable_bytes(&db, "r1").await.unwrap(), 60);
        assert_eq!(
            count_by_state(&db).await.unwrap(),
            vec![("requested".to_string(), 1)]
        );
        assert_eq!(
            oldest_activity(&db).await.unwrap(),
            None,
            "requested is not counted"
        );
    }
}
