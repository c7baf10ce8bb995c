//! Screen recordings: their state machine, links to interactions, pause
//! marks, and the playback read plan (where a media file's ciphertext is,
//! [`Source`], and one bounded segment read, [`read_cipher`]). The
//! endpoints that render them are [`crate::http::recordings`].
//!
//! The states and the rules that move a recording between them are in
//! [`crate::recording`]; this module reads the facts those rules need from
//! the database and applies their decisions (every change is a lifecycle
//! event, [`crate::lifecycle`]).

use crate::store::Pool;
use media::crypt::IndexEntry;

use crate::Rws;
use crate::error::ApiError;
use crate::lifecycle::LifecycleEvent;
use crate::recording::RecordingState;
use crate::recording::rules::{self, Decision, Finish, FinishFacts, MediaTally};

pub use crate::recording::{Rec, now, parse_time, rfc3339};

pub use crate::store::recordings::{
    active_for, by_upload_token, finished, get, labels_of, of_agent_between, of_call, open_links,
    unfinished, unlink,
};

/// Read by `/metrics`: recordings per state, the oldest unfinished activity.
pub use crate::store::recordings::{count_by_state, oldest_activity};

/// What a new recording is for.
pub struct NewRecording<'a> {
    /// Agent.
    pub username: &'a str,
    /// Agent's DN.
    pub dn: Option<&'a str>,
    /// SRS session.
    pub session_id: Option<&'a str>,
    /// The interaction it is mapped to.
    pub interaction_id: &'a str,
    /// Its media.
    pub media: &'a str,
    /// When the interaction (leg) began.
    pub at: &'a str,
}

/// Creates a recording in state `requested` (or `failed` with `failed`),
/// linked to its interaction; returns it and its upload token.
pub async fn create(
    rws: &Rws,
    new: &NewRecording<'_>,
    failed: Option<&str>,
) -> Result<(Rec, String), sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let token = crate::auth::new_token();
    let now = now();
    let state = if failed.is_some() {
        RecordingState::Failed
    } else {
        RecordingState::Requested
    };
    let token_hash = crate::auth::token_hash(&token);
    let row = crate::store::recordings::NewRow {
        id: &id,
        username: new.username,
        dn: new.dn,
        session_id: new.session_id,
        interaction_id: new.interaction_id,
        media: new.media,
        state,
        reason: failed,
        now: &now,
        max_duration_s: rws.config.max_recording_duration.as_secs() as i64,
        upload_token_hash: &token_hash,
        at: new.at,
    };
    let event = event_of(&id, new.interaction_id, new.username, state, failed);
    let out = crate::lifecycle::Outgoing::of(rws, &event);
    let seq = crate::store::lifecycle::create(&rws.db, &row, &out.announce(rws)).await?;
    out.published(rws, event, seq);
    let rec = get(&rws.db, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok((rec, token))
}

/// The lifecycle event of recording `id` (of `call`, by `agent`) entering
/// `state`.
fn event_of(
    id: &str,
    call: &str,
    agent: &str,
    state: RecordingState,
    reason: Option<&str>,
) -> LifecycleEvent {
    LifecycleEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        kind: "recording.state".into(),
        recording_id: id.to_string(),
        call_id: call.to_string(),
        agent: agent.to_string(),
        state,
        reason: reason.map(str::to_string),
        at: now(),
        seq: 0,
    }
}

/// Moves a recording to `to` if the state machine allows it from its
/// current state ([`RecordingState::can_move_to`]); the change and its
/// lifecycle event are one transaction ([`crate::store::lifecycle`]).
/// Returns whether it changed.
pub async fn transition(
    rws: &Rws,
    id: &str,
    to: RecordingState,
    reason: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let Some(rec) = get(&rws.db, id).await? else {
        return Ok(false);
    };
    if !rec.state.can_move_to(to) {
        return Ok(false);
    }
    let reason = reason.map(str::to_string).or(rec.reason.clone());
    // The change and its event (webhook outbox rows, NOTIFY) commit
    // together or not at all.
    let event = event_of(
        &rec.id,
        &rec.interaction_id,
        &rec.username,
        to,
        reason.as_deref(),
    );
    let out = crate::lifecycle::Outgoing::of(rws, &event);
    let done = crate::store::lifecycle::change_state(
        &rws.db,
        id,
        rec.state,
        to,
        reason.as_deref(),
        &out.announce(rws),
    )
    .await?;
    let Some(seq) = done else {
        // Another task moved it meanwhile: decide again from its new state.
        return Box::pin(transition(rws, id, to, reason.as_deref())).await;
    };
    out.published(rws, event, seq);
    Ok(true)
}

/// Links an interaction that overlaps the recording (from `at`).
pub use crate::store::recordings::link;

/// Records a pause or resume on the timeline (idempotent).
pub async fn mark(
    db: &Pool,
    id: &str,
    at: &str,
    kind: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    // Stored in the one fixed-width form so the timeline sorts by time.
    let at = parse_time(at)
        .map(rfc3339)
        .unwrap_or_else(|| at.to_string());
    crate::store::recordings::mark(db, id, &at, kind, reason).await
}

/// Records an active-window change on the app lane (idempotent by time,
/// so a change that arrived live is not added again by the end report; at
/// most [`proto::upload::MAX_APP_MARKS`] per recording, live frames included).
pub async fn mark_app(
    db: &Pool,
    id: &str,
    at: &str,
    class: &str,
    title: Option<&str>,
) -> Result<(), sqlx::Error> {
    let at = parse_time(at)
        .map(rfc3339)
        .unwrap_or_else(|| at.to_string());
    let cap = i64::try_from(proto::upload::MAX_APP_MARKS).unwrap_or(i64::MAX);
    crate::store::recordings::mark_app(db, id, &at, class, title, cap).await?;
    Ok(())
}

/// Notes upload or state activity (the orphan sweep looks at it).
pub async fn touch(db: &Pool, id: &str) -> Result<(), sqlx::Error> {
    crate::store::recordings::touch(db, id, &now()).await
}

/// Applies a rule's decision to a recording now in state `from`, through
/// `finalizing` where the state machine requires it ([`Decision::steps`]).
/// Returns whether the state changed.
pub async fn apply(
    rws: &Rws,
    id: &str,
    from: RecordingState,
    decision: &Decision,
) -> Result<bool, sqlx::Error> {
    let mut changed = false;
    for step in decision.steps(from) {
        changed |= transition(rws, id, step.to, step.reason.as_deref()).await?;
    }
    Ok(changed)
}

/// Ends a recording that is `finalizing` once SRS reported its end and every
/// media file is in storage ([`rules::finish`]): `completed`, `partial`
/// (interrupted) or `failed` (no media at all).
pub async fn try_finish(rws: &Rws, id: &str) -> Result<(), sqlx::Error> {
    let Some(rec) = get(&rws.db, id).await? else {
        return Ok(());
    };
    let crate::store::recordings::MediaTally {
        total,
        stored,
        bytes,
        indexed,
    } = crate::store::recordings::media_tally(&rws.db, id).await?;
    let facts = FinishFacts {
        state: rec.state,
        end_reported: rec.end_reported,
        interrupted: rec.interrupted,
        media_expected: rec.media_expected,
        media: MediaTally {
            files: total,
            stored,
            bytes,
            indexed,
        },
        reason: rec.reason.as_deref(),
    };
    if let Finish::Done(decision) = rules::finish(&facts) {
        transition(rws, id, decision.to, decision.reason.as_deref()).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Read path

/// Where a media file's ciphertext is: its object, or (still uploading)
/// its staged parts as they were when playback began.
#[derive(Clone)]
pub(crate) enum Source {
    Stored(String),
    Staged(std::sync::Arc<crate::storage::staging::Parts>),
}

/// Reads one segment's ciphertext. The index came from a client's header
/// (checked on upload, but an old database may hold anything): the read is
/// bounded by [`crate::segments::MAX_SEGMENT`] and, for staged media, by
/// the bytes staged — never a buffer sized by an unchecked number.
pub(crate) async fn read_cipher(
    rws: &Rws,
    src: &Source,
    e: &IndexEntry,
) -> Result<Vec<u8>, String> {
    let too_big = || {
        format!(
            "segment at {} claims {} bytes (at most {})",
            e.cipher_offset,
            e.cipher_len,
            crate::segments::MAX_SEGMENT
        )
    };
    if e.cipher_len > crate::segments::MAX_SEGMENT {
        return Err(too_big());
    }
    let end = e
        .cipher_offset
        .checked_add(e.cipher_len)
        .ok_or_else(too_big)?;
    match src {
        Source::Stored(key) => rws
            .storage
            .get_range(key, e.cipher_offset..end)
            .await
            .map(|b| b.to_vec()),
        Source::Staged(parts) => parts.read(&rws.storage, e.cipher_offset..end).await,
    }
}

/// Where to read `m` from. For media still uploading, the parts up to the
/// offset committed *after* the segment index was read, so every segment
/// the index has is in them; if the upload was stored meanwhile, the object.
pub(crate) async fn staged_or_stored(
    rws: &Rws,
    m: &crate::store::media::MediaRow,
) -> Result<Source, ApiError> {
    if let Some(key) = &m.object_path {
        return Ok(Source::Stored(key.clone()));
    }
    let now = crate::store::media::get(&rws.db, &m.id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("media '{}' was removed", m.id)))?;
    if let Some(key) = now.object_path {
        return Ok(Source::Stored(key));
    }
    match rws
        .storage
        .parts(&m.id, now.upload_offset.max(0) as u64)
        .await
    {
        Ok(parts) => Ok(Source::Staged(std::sync::Arc::new(parts))),
        // Stored (and its parts removed) between the two reads.
        Err(e) => match crate::store::media::get(&rws.db, &m.id).await? {
            Some(crate::store::media::MediaRow {
                object_path: Some(key),
                ..
            }) => Ok(Source::Stored(key)),
            _ => Err(ApiError::Internal(format!(
                "the staged parts of media {}: {e}",
                m.id
            ))),
        },
    }
}
