//! Screen recordings: their state machine, links to interactions, pause
//! marks, and the read path (`GET /api/v2/recordings/{call_id}` in the GIR
//! shape, `GET /api/v2/recordings/{call_id}/play/{mediaId}` with Range).
//!
//! The states and the rules that move a recording between them are in
//! [`crate::recording`]; this module reads the facts those rules need from
//! the database and applies their decisions (every change is a lifecycle
//! event, [`crate::lifecycle`]).

use std::time::Duration;

use crate::store::Pool;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use media::crypt::{IndexEntry, decrypt_segment};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::Rws;
use crate::error::ApiError;
use crate::lifecycle::LifecycleEvent;
use crate::recording::rules::{self, Decision, Finish, FinishFacts, MediaTally};
use crate::recording::{RecordingState, Timestamp};

/// A recording row.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Id.
    pub id: String,
    /// Agent.
    pub username: String,
    /// The agent's DN (voice).
    pub dn: Option<String>,
    /// SRS session that records it.
    pub session_id: Option<String>,
    /// First interaction (voice call or chat) it is mapped to.
    pub interaction_id: String,
    /// `voice`, `chat`, …
    pub media: String,
    /// State.
    pub state: RecordingState,
    /// Why (failed, partial, stop reason).
    pub reason: Option<String>,
    /// Created.
    pub requested_at: String,
    /// SRS acknowledged `start`.
    pub started_at: Option<String>,
    /// Stopped.
    pub stopped_at: Option<String>,
    /// Maximum duration.
    pub max_duration_s: i64,
    /// Whether RWS last commanded pause.
    pub paused_cmd: bool,
    /// Set once RWS sent `stop`.
    pub stop_reason: Option<String>,
    /// SRS reported the recording fully uploaded.
    pub end_reported: bool,
    /// SRS did not stop cleanly.
    pub interrupted: bool,
    /// Media files SRS reported.
    pub media_expected: Option<i64>,
    /// Last upload or state activity.
    pub last_activity: String,
    /// On legal hold: no delete, no purge.
    pub legal_hold: bool,
    /// Why it is held.
    pub hold_reason: Option<String>,
    /// Caller number (from the call's events).
    pub ani: Option<String>,
    /// Dialed number.
    pub dnis: Option<String>,
}

/// Now, RFC 3339.
pub fn now() -> String {
    Timestamp::now().to_string()
}

/// RFC 3339 in UTC with exactly three fraction digits (`2026-01-05T10:00:00.000Z`),
/// the one form every stored time has ([`Timestamp`] says why).
pub fn rfc3339(t: OffsetDateTime) -> String {
    Timestamp::from(t).to_string()
}

/// Parses RFC 3339 (any offset; the instant is in UTC).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    s.parse::<Timestamp>().ok().map(Timestamp::as_offset)
}

pub use crate::store::recordings::{
    active_for, by_upload_token, finished, get, labels_of, of_agent_between, of_call, open_links,
    unfinished, unlink,
};

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
    crate::store::recordings::insert(
        &rws.db,
        &crate::store::recordings::NewRow {
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
        },
    )
    .await?;
    let rec = get(&rws.db, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    emit(rws, &rec);
    Ok((rec, token))
}

fn emit(rws: &Rws, rec: &Rec) {
    rws.lifecycle.emit(LifecycleEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        kind: "recording.state",
        recording_id: rec.id.clone(),
        call_id: rec.interaction_id.clone(),
        agent: rec.username.clone(),
        state: rec.state,
        reason: rec.reason.clone(),
        at: now(),
    });
}

/// Moves a recording to `to` if the state machine allows it from its
/// current state ([`RecordingState::can_move_to`]); emits the change.
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
    let now = now();
    let reason = reason.map(str::to_string).or(rec.reason.clone());
    let done =
        crate::store::recordings::set_state(&rws.db, id, rec.state, to, reason.as_deref(), &now)
            .await?;
    if !done {
        // Another task moved it meanwhile: decide again from its new state.
        return Box::pin(transition(rws, id, to, reason.as_deref())).await;
    }
    if let Some(rec) = get(&rws.db, id).await? {
        emit(rws, &rec);
    }
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

/// Gives up on recordings whose SRS went silent for `orphan_after`
/// ([`rules::is_orphaned`]): what was uploaded is kept (`partial`), or the
/// recording is `failed` ([`rules::orphan`]).
pub async fn sweep_orphans(rws: &Rws) -> Result<(), sqlx::Error> {
    let now = Timestamp::now();
    for rec in unfinished(&rws.db).await? {
        let idle = match rec.last_activity.parse::<Timestamp>() {
            Ok(last) => rules::is_orphaned(last, now, rws.config.orphan_after),
            Err(e) => {
                // Never written by RWS; such a row is left alone, as before.
                tracing::warn!(recording = %rec.id, error = %e, "last activity unreadable; not swept");
                false
            }
        };
        if !idle {
            continue;
        }
        crate::uploads::store_all(rws, &rec.id).await;
        // Only playable bytes (a segment index) make a partial recording.
        let bytes = crate::store::recordings::playable_bytes(&rws.db, &rec.id).await?;
        let decision = rules::orphan(bytes, rws.config.orphan_after);
        apply(rws, &rec.id, rec.state, &decision).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Read path

fn offset_ms(from: &str, to: &str) -> Option<i64> {
    let (a, b) = (parse_time(from)?, parse_time(to)?);
    Some((b - a).whole_milliseconds() as i64)
}

/// `GET /api/v2/recordings/{call_id}` (admin, supervisor): the call's
/// screen recordings in the GIR recording-resource shape.
pub async fn resource(
    State(rws): State<Rws>,
    headers: HeaderMap,
    Path(call_id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let (_, vis) = crate::compliance::viewer(&rws, &headers).await?;
    let recs: Vec<Rec> = of_call(&rws.db, &call_id)
        .await?
        .into_iter()
        .filter(|r| vis.sees(&r.username))
        .collect();
    if recs.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no screen recording for '{call_id}'"
        )));
    }
    let mut media_files = Vec::new();
    let mut screen = Vec::new();
    let mut start: Option<String> = None;
    let mut stop: Option<String> = None;
    for rec in &recs {
        let rec_start = rec.started_at.clone().unwrap_or(rec.requested_at.clone());
        if start.as_ref().is_none_or(|s| rec_start < *s) {
            start = Some(rec_start.clone());
        }
        if let Some(s) = &rec.stopped_at
            && stop.as_ref().is_none_or(|t| s > t)
        {
            stop = Some(s.clone());
        }
        let media = crate::store::media::of_recording(&rws.db, &rec.id).await?;
        for m in media {
            let monitor: Value = serde_json::from_str(&m.monitor).unwrap_or(Value::Null);
            let size = crate::store::media::plain_size(&rws.db, &m.id).await?;
            let stop_time = parse_time(&m.started_at)
                .map(|t| rfc3339(t + Duration::from_millis(m.end_ms.max(0) as u64)))
                .unwrap_or_default();
            media_files.push(json!({
                "mediaId": m.id,
                "mediaUri": format!("/api/v2/recordings/{call_id}/play/{}", m.id),
                "type": "video/mp4",
                "startTime": m.started_at,
                "stopTime": stop_time,
                "duration": m.end_ms.to_string(),
                "size": size.to_string(),
                "parameters": {
                    "agentId": rec.username,
                    "connId": rec.interaction_id,
                    "recordingId": rec.id,
                    "stream": m.stream.to_string(),
                    "monitor": monitor.get("name").cloned().unwrap_or(Value::Null),
                    "monitorGeometry": monitor,
                    "state": rec.state,
                    "stored": m.object_path.is_some(),
                    "uploadedBytes": m.upload_offset.to_string(),
                    "uploadComplete": m.upload_length == Some(m.upload_offset),
                },
            }));
        }
        let links = crate::store::recordings::links_of(&rws.db, &rec.id).await?;
        let interactions: Vec<Value> = links
            .iter()
            .map(|l| {
                let (iid, media, dn, s, e) = (&l.interaction_id, &l.media, &l.dn, &l.start_at, &l.end_at);
                json!({
                    "id": iid, "media": media, "dn": dn,
                    "startTime": s, "stopTime": e,
                    "startOffset": offset_ms(&rec_start, s).map(|o| o.max(0).to_string()),
                    "stopOffset": e.as_deref().and_then(|e| offset_ms(&rec_start, e)).map(|o| o.max(0).to_string()),
                })
            })
            .collect();
        let marks = crate::store::recordings::marks_of(&rws.db, &rec.id).await?;
        let marks: Vec<Value> = marks
            .iter()
            .map(|(at, kind, reason)| {
                json!({"time": at, "offset": offset_ms(&rec_start, at).map(|o| o.max(0).to_string()), "type": kind, "reason": reason})
            })
            .collect();
        let labels = labels_of(&rws.db, &rec.id).await?;
        screen.push(json!({
            "labels": labels,
            "legalHold": rec.legal_hold,
            "holdReason": rec.hold_reason,
            "callerPhoneNumber": rec.ani,
            "dialedPhoneNumber": rec.dnis,
            "id": rec.id,
            "agentId": rec.username,
            "dn": rec.dn,
            "connId": rec.interaction_id,
            "media": rec.media,
            "state": rec.state,
            "reason": rec.reason,
            "startTime": rec_start,
            "stopTime": rec.stopped_at,
            "interactions": interactions,
            "marks": marks,
        }));
    }
    Ok(axum::Json(json!({
        "id": call_id,
        "startTime": start,
        "stopTime": stop,
        "mediaFiles": media_files,
        "screenRecordings": screen,
    })))
}

/// Parses a single `bytes=` range against `len`: `Ok(None)` for no header
/// and for one RFC 9110 §14.2 says to ignore (not `bytes`, malformed, last
/// before first, several ranges): the whole file is served then.
/// `Err(())` only for a valid range the media cannot satisfy (416).
fn parse_range(value: Option<&HeaderValue>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = value else { return Ok(None) };
    let Ok(s) = v.to_str() else { return Ok(None) };
    let Some(spec) = s.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // several ranges: serve the whole file (allowed by RFC 9110)
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    // Digits only; a number too big for u64 is still valid (and past any end).
    let number = |t: &str| -> Option<u64> {
        (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
            .then(|| t.parse().unwrap_or(u64::MAX))
    };
    let range = if a.is_empty() {
        let Some(n) = number(b) else { return Ok(None) };
        if n == 0 || len == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let Some(start) = number(a) else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            u64::MAX
        } else {
            match number(b) {
                Some(end) if end >= start => end,
                _ => return Ok(None),
            }
        };
        if start >= len {
            return Err(());
        }
        (start, end.min(len - 1))
    };
    Ok(Some(range))
}

/// Where a media file's ciphertext is: its object, or (still uploading)
/// its staged parts as they were when playback began.
#[derive(Clone)]
enum Source {
    Stored(String),
    Staged(std::sync::Arc<crate::storage::staging::Parts>),
}

/// Reads one segment's ciphertext. The index came from a client's header
/// (checked on upload, but an old database may hold anything): the read is
/// bounded by [`crate::segments::MAX_SEGMENT`] and, for staged media, by
/// the bytes staged — never a buffer sized by an unchecked number.
async fn read_cipher(rws: &Rws, src: &Source, e: &IndexEntry) -> Result<Vec<u8>, String> {
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

/// `GET /api/v2/recordings/{call_id}/play/{mediaId}` (admin, supervisor):
/// the decrypted MP4, with HTTP Range (one range; several get the whole file).
pub async fn play(
    State(rws): State<Rws>,
    headers: HeaderMap,
    remote: crate::compliance::Remote,
    Path((call_id, media_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    serve_media(rws, headers, remote.0, call_id, media_id, false).await
}

/// `GET /api/v2/recordings/{call_id}/download/{mediaId}`: the decrypted MP4
/// as an attachment; every download is audited.
pub async fn download(
    State(rws): State<Rws>,
    headers: HeaderMap,
    remote: crate::compliance::Remote,
    Path((call_id, media_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    serve_media(rws, headers, remote.0, call_id, media_id, true).await
}

/// Where to read `m` from. For media still uploading, the parts up to the
/// offset committed *after* the segment index was read, so every segment
/// the index has is in them; if the upload was stored meanwhile, the object.
async fn staged_or_stored(
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

async fn serve_media(
    rws: Rws,
    headers: HeaderMap,
    remote: Option<std::net::SocketAddr>,
    call_id: String,
    media_id: String,
    attachment: bool,
) -> Result<Response, ApiError> {
    let (user, vis) = crate::compliance::viewer(&rws, &headers).await?;
    if attachment && !crate::compliance::may_download(&rws.db, &user).await? {
        return Err(ApiError::Forbidden(
            "downloading needs the admin role (supervisors_may_download is off)".into(),
        ));
    }
    let recs: Vec<Rec> = of_call(&rws.db, &call_id)
        .await?
        .into_iter()
        .filter(|r| vis.sees(&r.username))
        .collect();
    let m = crate::store::media::get(&rws.db, &media_id).await?;
    let Some(m) = m.filter(|m| recs.iter().any(|r| r.id == m.recording_id)) else {
        return Err(ApiError::NotFound(format!(
            "no media '{media_id}' in the recordings of '{call_id}'"
        )));
    };
    let index = crate::store::media::segments(&rws.db, &m.id).await?;
    let len = index.plain_len();
    let src = staged_or_stored(&rws, &m).await?;
    let range = match parse_range(headers.get(header::RANGE), len) {
        Ok(r) => r,
        Err(()) => {
            let mut resp = ApiError::Status(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("Range not satisfiable: the media has {len} bytes"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(resp);
        }
    };
    let identities = crate::keys::all_identities(&rws.db, &rws.master)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // The key this file was encrypted to: the one that opens its first segment.
    let identity = match index.entries.first() {
        None => None,
        Some(first) => {
            let cipher = read_cipher(&rws, &src, first).await.map_err(|e| {
                ApiError::Status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("media {media_id} cannot be read: {e}"),
                )
            })?;
            identities
                .into_iter()
                .find(|id| decrypt_segment(&cipher, id).is_ok())
        }
    };
    if identity.is_none() && !index.entries.is_empty() {
        return Err(ApiError::Internal(format!(
            "no tenant key opens media {media_id}"
        )));
    }
    if attachment {
        crate::compliance::audit(
            &rws.db,
            &user.username,
            "download",
            &media_id,
            &format!("call {call_id}"),
            remote,
        )
        .await?;
    } else {
        crate::compliance::audit_playback(&rws.db, &user.username, &media_id, &call_id, remote)
            .await?;
    }
    let (start, end) = range.unwrap_or((0, len.saturating_sub(1)));
    let body_len = if len == 0 { 0 } else { end - start + 1 };
    // The read plan (which segments, which slice of each) and the decrypt
    // step are media's, shared with `DecryptingReader`; this only fetches
    // each segment's ciphertext (bounded) as the body is streamed.
    let plan = if len == 0 {
        Vec::new()
    } else {
        index.plan(start..=end).map_err(|e| {
            ApiError::Internal(format!("the segment index of media {media_id}: {e}"))
        })?
    };
    let state = (rws.clone(), src, identity, plan.into_iter());
    let stream = futures_util::stream::unfold(state, |(rws, src, identity, mut plan)| async move {
        let step = plan.next()?;
        let identity_ref = identity.as_ref()?;
        let chunk = match read_cipher(&rws, &src, &step.entry).await {
            Ok(cipher) => step.cut(&cipher, identity_ref).map(bytes::Bytes::from),
            Err(err) => Err(std::io::Error::other(err)),
        };
        Some((chunk, (rws, src, identity, plan)))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(v) = HeaderValue::from_str(&body_len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if attachment {
        let safe: String = call_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if let Ok(v) =
            HeaderValue::from_str(&format!("attachment; filename=\"{safe}-{media_id}.mp4\""))
        {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

/// One recording as the search lists it.
pub async fn summary(rws: &Rws, rec: &Rec) -> Result<Value, ApiError> {
    let media = crate::store::media::of_recording(&rws.db, &rec.id).await?;
    let labels = labels_of(&rws.db, &rec.id).await?;
    let paused = crate::store::recordings::pause_count(&rws.db, &rec.id).await?;
    let mut files: Vec<Value> = Vec::with_capacity(media.len());
    for m in &media {
        let size = crate::store::media::plain_size(&rws.db, &m.id).await?;
        let monitor: Value = serde_json::from_str(&m.monitor).unwrap_or(Value::Null);
        files.push(json!({
                "mediaId": m.id,
                "mediaUri": format!("/api/v2/recordings/{}/play/{}", rec.interaction_id, m.id),
                "duration": m.end_ms.to_string(),
                "size": size.to_string(),
                "monitor": monitor,
                "stored": m.object_path.is_some(),
        }));
    }
    let duration = media.iter().map(|m| m.end_ms).max().unwrap_or(0);
    Ok(json!({
        "id": rec.id,
        "callId": rec.interaction_id,
        "agentId": rec.username,
        "dn": rec.dn,
        "media": rec.media,
        "state": rec.state,
        "reason": rec.reason,
        "startTime": rec.started_at.clone().unwrap_or(rec.requested_at.clone()),
        "stopTime": rec.stopped_at,
        "duration": duration.to_string(),
        "callerPhoneNumber": rec.ani,
        "dialedPhoneNumber": rec.dnis,
        "labels": labels,
        "hasPause": paused > 0,
        "legalHold": rec.legal_hold,
        "mediaFiles": files,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let h = |s: &str| HeaderValue::from_str(s).ok();
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(parse_range(h("bytes=0-9").as_ref(), 100), Ok(Some((0, 9))));
        assert_eq!(
            parse_range(h("bytes=90-").as_ref(), 100),
            Ok(Some((90, 99)))
        );
        assert_eq!(
            parse_range(h("bytes=-10").as_ref(), 100),
            Ok(Some((90, 99)))
        );
        assert_eq!(
            parse_range(h("bytes=95-200").as_ref(), 100),
            Ok(Some((95, 99)))
        );
        assert_eq!(parse_range(h("bytes=100-").as_ref(), 100), Err(()));
        assert_eq!(parse_range(h("bytes=-0").as_ref(), 100), Err(()));
        assert_eq!(
            parse_range(h("bytes=99999999999999999999999-").as_ref(), 100),
            Err(())
        );
        assert_eq!(
            parse_range(h("bytes=0-99999999999999999999999").as_ref(), 100),
            Ok(Some((0, 99)))
        );
        assert_eq!(parse_range(h("bytes=0-1,5-6").as_ref(), 100), Ok(None));
        // Invalid: ignored (RFC 9110 §14.2), the whole file is served.
        for bad in [
            "bytes=5-2",
            "items=0-1",
            "bytes=abc",
            "bytes=a-b",
            "bytes=-",
            "bytes=1-+2",
            "bytes=--1",
            "bytes 0-1",
        ] {
            assert_eq!(parse_range(h(bad).as_ref(), 100), Ok(None), "{bad}");
        }
    }

    #[test]
    fn stored_times_have_one_width_so_text_order_is_time_order() {
        let t = |s: &str| rfc3339(parse_time(s).expect("test time parses"));
        assert_eq!(t("2026-01-05T10:00:00Z"), "2026-01-05T10:00:00.000Z");
        assert_eq!(t("2026-01-05T10:00:00.1Z"), "2026-01-05T10:00:00.100Z");
        assert_eq!(
            t("2026-01-05T11:00:00.123456+01:00"),
            "2026-01-05T10:00:00.123Z"
        );
        let times = [
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:00:00.05Z",
            "2026-01-05T10:00:00.1Z",
            "2026-01-05T10:00:00.11Z",
            "2026-01-05T10:00:01Z",
        ];
        let mut text: Vec<String> = times.iter().map(|s| t(s)).collect();
        let by_time = text.clone();
        text.sort();
        assert_eq!(text, by_time);
    }
}

/// Property tests (issue 10, rule 3): any `Range` header gives no range, a
/// range inside the file, or a refusal; never a panic.
#[cfg(test)]
mod proptests {
    #![allow(clippy::unwrap_used)]

    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::parse_range;

    fn check(value: &[u8], len: u64) -> Result<(), TestCaseError> {
        let Ok(v) = HeaderValue::from_bytes(value) else {
            return Ok(());
        };
        if let Ok(Some((a, b))) = parse_range(Some(&v), len) {
            prop_assert!(a <= b && b < len, "{a}-{b} outside 0..{len}");
        }
        Ok(())
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            (0u64..2000).prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            Just(u64::MAX.to_string()),
            Just("18446744073709551616".to_string()),
            Just("-1".to_string()),
            Just(" 7 ".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn range_random_bytes(
            value in prop::collection::vec(any::<u8>(), 0..64),
            len in prop_oneof![Just(0u64), 0u64..5000, any::<u64>()],
        ) {
            check(&value, len)?;
        }

        #[test]
        fn range_bytes_spec(
            a in number(),
            b in number(),
            sep in prop_oneof![Just("-"), Just("--"), Just(""), Just(",")],
            len in prop_oneof![Just(0u64), 0u64..5000, Just(u64::MAX)],
        ) {
            check(format!("bytes={a}{sep}{b}").as_bytes(), len)?;
        }
    }
}
