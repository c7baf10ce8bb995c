//! The SQL of on-demand live previews ([`crate::preview`]): the registry
//! (`live_previews`), the viewers on every node (`live_preview_viewers`)
//! and the segments (`live_preview_segments`), one set of statements for
//! both backends.
//!
//! Every change to one preview (a viewer joining or leaving, a segment
//! landing, the end) runs in a transaction that first writes the preview's
//! row (`UPDATE … SET last_at`): PostgreSQL then holds that row's lock to
//! the commit, and SQLite has one writer anyway, so these changes take
//! turns per preview whichever node makes them, and the counts read
//! inside (viewers, bytes held) are the truth when the transaction ends.

use super::{Pool, Tx};

/// A preview as registered.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PreviewRow {
    /// Its id (a UUID).
    pub id: String,
    /// Whose screen.
    pub agent: String,
    /// The SRS session capturing it.
    pub session_id: String,
    /// SHA-256 (hex) of the upload token.
    pub token_hash: String,
    /// When it started (RFC 3339, fixed width).
    pub started_at: String,
    /// When its cap ends it (RFC 3339, fixed width).
    pub ends_at: String,
}

/// A segment held, without its bytes: `(stream, seq, size)`.
pub type Held = (i64, i64, i64);

/// The columns of [`PreviewRow`] (a macro: sqlx takes only static SQL).
macro_rules! columns {
    () => {
        "id, agent, session_id, token_hash, started_at, ends_at"
    };
}

/// Writes the preview's row to lock it for the rest of `tx`; its row when
/// it exists.
async fn lock(tx: &mut Tx<'_>, id: &str, now: &str) -> Result<Option<PreviewRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE live_previews SET last_at = $1 WHERE id = $2 RETURNING ",
        columns!()
    ))
    .bind(now)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// The preview with this id.
pub async fn by_id(db: &Pool, id: &str) -> Result<Option<PreviewRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM live_previews WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// How many previews run (every node).
pub async fn count(db: &Pool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM live_previews")
        .fetch_one(db)
        .await
}

/// How many previews started before `id` (by start time, then id): a
/// preview whose rank is the cap or more is one too many, whichever nodes
/// made them at the same moment.
pub async fn rank(db: &Pool, id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM live_previews p, \
         (SELECT started_at, id FROM live_previews WHERE id = $1) me \
         WHERE p.started_at < me.started_at OR (p.started_at = me.started_at AND p.id < me.id)",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// What [`join`] found.
#[derive(Debug)]
pub enum Join {
    /// Counted as a viewer of this preview.
    Joined(PreviewRow),
    /// The preview has `max` viewers already.
    Full,
    /// The agent has no preview running.
    NoPreview,
}

/// Counts viewer `viewer` (streamed by `node`) of `agent`'s running
/// preview, unless it has `max` viewers already.
pub async fn join(
    db: &Pool,
    agent: &str,
    viewer: &str,
    node: &str,
    max: i64,
    now: &str,
) -> Result<Join, sqlx::Error> {
    let mut tx = db.begin().await?;
    let row: Option<PreviewRow> = sqlx::query_as(concat!(
        "UPDATE live_previews SET last_at = $1 WHERE agent = $2 RETURNING ",
        columns!()
    ))
    .bind(now)
    .bind(agent)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Join::NoPreview);
    };
    let viewers: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM live_preview_viewers WHERE preview_id = $1")
            .bind(&row.id)
            .fetch_one(&mut *tx)
            .await?;
    if viewers >= max {
        return Ok(Join::Full);
    }
    add_viewer(&mut tx, &row.id, viewer, node, now).await?;
    tx.commit().await?;
    Ok(Join::Joined(row))
}

async fn add_viewer(
    tx: &mut Tx<'_>,
    preview: &str,
    viewer: &str,
    node: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO live_preview_viewers(viewer, preview_id, node, since) VALUES ($1, $2, $3, $4)",
    )
    .bind(viewer)
    .bind(preview)
    .bind(node)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Registers a new preview with its first viewer; false when the agent
/// has one already (another node made it meanwhile: join that one).
pub async fn create(
    db: &Pool,
    p: &PreviewRow,
    viewer: &str,
    node: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let made = sqlx::query(
        "INSERT INTO live_previews(id, agent, session_id, token_hash, started_at, ends_at, last_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $5) ON CONFLICT (agent) DO NOTHING",
    )
    .bind(&p.id)
    .bind(&p.agent)
    .bind(&p.session_id)
    .bind(&p.token_hash)
    .bind(&p.started_at)
    .bind(&p.ends_at)
    .execute(&mut *tx)
    .await?;
    if made.rows_affected() == 0 {
        return Ok(false);
    }
    add_viewer(&mut tx, &p.id, viewer, node, &p.started_at).await?;
    tx.commit().await?;
    Ok(true)
}

/// Deletes the preview and everything of it, in `tx` (which holds its
/// row's lock or is about to take it with the first statement).
async fn remove(tx: &mut Tx<'_>, id: &str) -> Result<Option<String>, sqlx::Error> {
    let session: Option<String> =
        sqlx::query_scalar("DELETE FROM live_previews WHERE id = $1 RETURNING session_id")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    for sql in [
        "DELETE FROM live_preview_segments WHERE preview_id = $1",
        "DELETE FROM live_preview_viewers WHERE preview_id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut **tx).await?;
    }
    Ok(session)
}

/// Viewer `viewer` leaves preview `id`. When it was the last (on any node)
/// the preview ends: every row of it goes, and the answer is the session
/// to tell (`Some`); `None` otherwise.
pub async fn leave(
    db: &Pool,
    id: &str,
    viewer: &str,
    now: &str,
) -> Result<Option<String>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let locked = lock(&mut tx, id, now).await?;
    sqlx::query("DELETE FROM live_preview_viewers WHERE viewer = $1")
        .bind(viewer)
        .execute(&mut *tx)
        .await?;
    if locked.is_none() {
        tx.commit().await?;
        return Ok(None);
    }
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM live_preview_viewers WHERE preview_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    let ended = if left == 0 {
        remove(&mut tx, id).await?
    } else {
        None
    };
    tx.commit().await?;
    Ok(ended)
}

/// Ends preview `id` whatever its viewers: every row goes. The session to
/// tell when this call ended it (`None`: it was over already).
pub async fn end(db: &Pool, id: &str) -> Result<Option<String>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let session = remove(&mut tx, id).await?;
    tx.commit().await?;
    Ok(session)
}

/// Forgets the viewers streamed by nodes whose lease has run out at `now`
/// (the node died; PostgreSQL only, where `cluster_nodes` has rows).
pub async fn drop_dead_viewers(db: &Pool, now: &str) -> Result<u64, sqlx::Error> {
    let gone = sqlx::query(
        "DELETE FROM live_preview_viewers WHERE node NOT IN \
         (SELECT node FROM cluster_nodes WHERE lease_until >= $1)",
    )
    .bind(now)
    .execute(db)
    .await?;
    Ok(gone.rows_affected())
}

/// Removes segments and viewers whose preview is gone (none should be:
/// every change locks the preview's row first; this is the safety net).
pub async fn drop_orphans(db: &Pool) -> Result<(), sqlx::Error> {
    for sql in [
        "DELETE FROM live_preview_segments WHERE preview_id NOT IN (SELECT id FROM live_previews)",
        "DELETE FROM live_preview_viewers WHERE preview_id NOT IN (SELECT id FROM live_previews)",
    ] {
        sqlx::query(sql).execute(db).await?;
    }
    Ok(())
}

/// Previews with no viewer left, or past their cap at `now`: the sweep's
/// candidates (ended one by one with [`end_if_over`]).
pub async fn over(db: &Pool, now: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT p.id FROM live_previews p WHERE p.ends_at <= $1 OR NOT EXISTS \
         (SELECT 1 FROM live_preview_viewers v WHERE v.preview_id = p.id)",
    )
    .bind(now)
    .fetch_all(db)
    .await
}

/// Ends preview `id` if, under its lock, it has no viewer or is past its
/// cap at `now` (a viewer may have joined since [`over`] read it): the
/// session to tell when it ended.
pub async fn end_if_over(db: &Pool, id: &str, now: &str) -> Result<Option<String>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let Some(row) = lock(&mut tx, id, now).await? else {
        return Ok(None);
    };
    let viewers: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM live_preview_viewers WHERE preview_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    let ended = if viewers == 0 || row.ends_at.as_str() <= now {
        remove(&mut tx, id).await?
    } else {
        None
    };
    tx.commit().await?;
    Ok(ended)
}

/// Removes every preview (a single node starting: none can run).
pub async fn clear(db: &Pool) -> Result<(), sqlx::Error> {
    for sql in [
        "DELETE FROM live_preview_segments",
        "DELETE FROM live_preview_viewers",
        "DELETE FROM live_previews",
    ] {
        sqlx::query(sql).execute(db).await?;
    }
    Ok(())
}

/// The segments preview `id` holds, without their bytes, by stream and seq.
pub async fn held(db: &Pool, id: &str) -> Result<Vec<Held>, sqlx::Error> {
    sqlx::query_as(
        "SELECT stream, seq, size FROM live_preview_segments WHERE preview_id = $1 \
         ORDER BY stream, seq",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// What [`put`] did.
#[derive(Debug)]
pub enum Put<E> {
    /// Stored; the older segments the rule chose are gone.
    Stored,
    /// No such preview (ended).
    Gone,
    /// The preview is past its cap (`ends_at` ≤ now).
    Over,
    /// The rule refused it; nothing changed.
    Refused(E),
}

/// Stores segment `seq` of monitor `stream` of preview `id`, if `rule`,
/// given what the preview holds (under its lock), admits it; `rule` names
/// the older segments to drop with it (`(stream, seq)`).
#[allow(clippy::too_many_arguments)]
pub async fn put<E>(
    db: &Pool,
    id: &str,
    stream: i64,
    seq: i64,
    body: &[u8],
    now: &str,
    rule: impl FnOnce(&[Held]) -> Result<Vec<(i64, i64)>, E>,
) -> Result<Put<E>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let Some(row) = lock(&mut tx, id, now).await? else {
        return Ok(Put::Gone);
    };
    if row.ends_at.as_str() <= now {
        return Ok(Put::Over);
    }
    let held: Vec<Held> = sqlx::query_as(
        "SELECT stream, seq, size FROM live_preview_segments WHERE preview_id = $1 \
         ORDER BY stream, seq",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let evict = match rule(&held) {
        Ok(e) => e,
        Err(e) => return Ok(Put::Refused(e)),
    };
    for (s, q) in evict {
        sqlx::query(
            "DELETE FROM live_preview_segments WHERE preview_id = $1 AND stream = $2 AND seq = $3",
        )
        .bind(id)
        .bind(s)
        .bind(q)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO live_preview_segments(preview_id, stream, seq, size, body) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(stream)
    .bind(seq)
    .bind(body.len() as i64)
    .bind(body)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Put::Stored)
}

/// Monitor `stream`'s segments of preview `id` after `after` (`-1`: from
/// the init segment), oldest first, with their bytes.
pub async fn segments_after(
    db: &Pool,
    id: &str,
    stream: i64,
    after: i64,
) -> Result<Vec<(i64, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, body FROM live_preview_segments \
         WHERE preview_id = $1 AND stream = $2 AND seq > $3 ORDER BY seq",
    )
    .bind(id)
    .bind(stream)
    .bind(after)
    .fetch_all(db)
    .await
}
