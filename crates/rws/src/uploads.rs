//! Media upload: tus 1.0 (core, creation, creation-defer-length,
//! termination, checksum) under `/api/v2/srs/uploads`, one upload per media
//! file, authorised by the recording's upload token (`Authorization: Bearer`),
//! and `PUT /api/v2/srs/recordings/{id}/end` when SRS has uploaded all.
//! The HTTP side is [`crate::http::uploads`]: it turns the tus headers into
//! typed requests ([`CreateRequest`], [`AppendRequest`]) and renders the
//! answers; this module never sees a header. It checks, appends, stores
//! and finishes ([`end`]), and closes the uploads of recordings whose SRS
//! went silent ([`sweep_orphans`]).
//!
//! Each PATCH body is written as its own part in the media store
//! ([`crate::storage::staging`]: durable, on no node's local disk) before
//! the offset moves in the database, so an RWS crash never acknowledges
//! bytes it does not have, and any RWS with the same database and store
//! can take the upload on; a PATCH that fails half-way is dropped whole
//! (the offset stays, its part is an orphan the re-sent PATCH replaces),
//! which keeps uploads aligned with segments. A complete upload's parts are
//! composed into its media object and deleted. Staging files of an RWS from
//! before (`<data-dir>/uploads/<media>`) are moved into the store at start
//! ([`adopt_local_staging`]). Written by us rather than taken from `tus-axum`
//! (brand new, process-local locking only): the protocol is small, and
//! conformance is checked with the independent `tus-js-client`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::StatusCode;
use media::crypt::SegmentIndex;
use proto::upload::{RecordingEnd, meta};
use sha1::Digest as _;

use crate::Rws;
use crate::agent_input;
use crate::auth;
use crate::error::ApiError;
use crate::recording::Timestamp;
use crate::recording::rules;
use crate::recording::{Rec, RecordingState};
use crate::recordings::{self, apply, unfinished};
use crate::segments;
use crate::store;

/// Largest PATCH body.
pub const MAX_PATCH: usize = 64 << 20;
/// Largest media file.
pub const MAX_SIZE: u64 = 64 << 30;
/// Most bytes one SRS session may have in uploads that are not finished
/// (declared lengths, or what arrived of deferred-length ones).
pub const SESSION_OPEN_BYTES: u64 = MAX_SIZE;
/// Most unfinished uploads one SRS session may have (a recording has one
/// per monitor).
pub const SESSION_OPEN_UPLOADS: i64 = 64;
/// Most pause/resume marks one end report may carry.
pub(crate) const MAX_MARKS: usize = 10_000;

/// One lock per upload so that two PATCHes never interleave, and the gate
/// of the PATCHes' database writes ([`UploadLocks::bookkeeping`]).
pub struct UploadLocks(
    Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    tokio::sync::Semaphore,
);

/// How many PATCHes write their bookkeeping (offset, segments, activity)
/// at once. Measured by `scripts/bench-rws.sh` (SQLite, 500 recordings
/// uploading, 50 calls/s): with every PATCH writing at once, the event
/// POSTs' writes queued behind hundreds of them (p99 56 s, POSTs timing
/// out); the writes are serialised by the database anyway (one SQLite
/// writer; each commit an fsync), so a small gate costs ingest little and
/// leaves the control plane a turn.
const BOOKKEEPING_WRITERS: usize = 2;

impl Default for UploadLocks {
    fn default() -> Self {
        UploadLocks(
            Mutex::default(),
            tokio::sync::Semaphore::new(BOOKKEEPING_WRITERS),
        )
    }
}

impl UploadLocks {
    /// A turn to write a PATCH's bookkeeping (FIFO). `None` never happens:
    /// the semaphore is never closed.
    async fn bookkeeping(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.1.acquire().await.ok()
    }

    fn get(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, l| Arc::strong_count(l) > 1);
        map.entry(id.to_string()).or_default().clone()
    }
}

/// Where an RWS from before staging moved into the media store kept the
/// bytes of an upload in progress (read only by [`adopt_local_staging`]).
fn legacy_staging_path(data_dir: &std::path::Path, media_id: &str) -> PathBuf {
    data_dir.join("uploads").join(media_id)
}

/// At start: moves the staging files an older RWS left in
/// `<data-dir>/uploads` into the media store (the first `upload_offset`
/// bytes of each, as its part at offset 0), then removes them, so uploads
/// in progress across the upgrade resume and finish. A file whose upload
/// is gone or already stored is removed (the old RWS would have). Returns
/// how many were moved; an error stops RWS with the file named (a file
/// shorter than its committed offset is not silently dropped).
pub async fn adopt_local_staging(rws: &Rws) -> Result<u64, String> {
    let dir = rws.config.data_dir.join("uploads");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut moved = 0;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // object_store never wrote here; only the old RWS's media ids.
        if uuid::Uuid::parse_str(&name).is_err() {
            continue;
        }
        let path = legacy_staging_path(&rws.config.data_dir, &name);
        let row = store::media::get(&rws.db, &name)
            .await
            .map_err(|e| format!("media {name}: {e}"))?;
        if let Some(m) = row.filter(|m| m.object_path.is_none()) {
            let committed = m.upload_offset.max(0) as u64;
            rws.storage
                .adopt_file(&name, &path, committed)
                .await
                .map_err(|e| {
                    format!(
                        "moving the staging file {} into the media store: {e}",
                        path.display()
                    )
                })?;
            tracing::info!(media = %name, bytes = committed, store = %rws.storage.describe, "staging file of an earlier RWS moved into the media store");
            moved += 1;
        }
        std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(moved)
}

/// A PATCH body of at most [`MAX_PATCH`] bytes, read once the request is
/// authenticated and the offset checked; never a buffer sized by the
/// client's `Content-Length`.
async fn read_body(body: axum::body::Body) -> Result<Bytes, ApiError> {
    use futures_util::StreamExt;
    let too_large = || {
        ApiError::Status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a PATCH carries at most {MAX_PATCH} bytes"),
        )
    };
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid(format!("request body: {e}")))?;
        if buf.len() + chunk.len() > MAX_PATCH {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The recording an upload token (`Authorization: Bearer`, taken off the
/// request by the handler) is for; 401 without one or for an unknown one.
pub(crate) async fn recording_of(rws: &Rws, token: Option<&str>) -> Result<Rec, ApiError> {
    let token = token.ok_or_else(|| {
        ApiError::Unauthenticated("Authorization: Bearer <upload token> required".into())
    })?;
    recordings::by_upload_token(&rws.db, &auth::token_hash(token))
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("unknown upload token".into()))
}

/// A tus creation as the core takes it: the handler has read `Upload-Length`
/// / `Upload-Defer-Length` and decoded `Upload-Metadata`.
#[derive(Debug, Default)]
pub struct CreateRequest {
    /// The declared length; `None`: deferred (`Upload-Defer-Length: 1`).
    pub length: Option<u64>,
    /// `Upload-Metadata`, decoded (keys in [`proto::upload::meta`]).
    pub metadata: HashMap<String, String>,
}

/// Creates the upload of one media file of `rec` (or answers the existing
/// one of the same stream: SRS crashed before keeping the URL). Returns
/// the upload's id.
pub(crate) async fn create(rws: &Rws, rec: &Rec, req: &CreateRequest) -> Result<String, ApiError> {
    if rec.state.is_final() {
        return Err(ApiError::Status(
            StatusCode::GONE,
            format!("recording {} is already {}", rec.id, rec.state),
        ));
    }
    let length = req.length;
    if length.is_some_and(|l| l > MAX_SIZE) {
        return Err(ApiError::Status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Upload-Length exceeds Tus-Max-Size {MAX_SIZE}"),
        ));
    }
    let md = &req.metadata;
    if let Some(r) = md.get(meta::RECORDING_ID)
        && r != &rec.id
    {
        return Err(ApiError::Forbidden(format!(
            "this upload token is for recording {}, not {r}",
            rec.id
        )));
    }
    let stream: i64 = match md.get(meta::STREAM) {
        Some(s) => s
            .parse()
            .map_err(|_| ApiError::invalid("metadata 'stream' must be an integer"))?,
        None => store::media::next_stream(&rws.db, &rec.id).await?,
    };
    let monitor = match md.get(meta::MONITOR) {
        Some(m) => {
            serde_json::from_str::<proto::control::MonitorInfo>(m)
                .map_err(|e| ApiError::invalid(format!("metadata 'monitor': {e}")))?;
            m.clone()
        }
        None => "{}".to_string(),
    };
    let started_at = match md.get(meta::STARTED_AT) {
        Some(s) => recordings::parse_time(s)
            .map(recordings::rfc3339)
            .ok_or_else(|| ApiError::invalid("metadata 'started_at' must be RFC 3339"))?,
        None => recordings::now(),
    };
    // Creating the same stream twice (SRS crashed before keeping the URL)
    // answers the existing upload.
    let existing = store::media::id_of_stream(&rws.db, &rec.id, stream).await?;
    let id = match existing {
        Some(id) => id,
        None => {
            check_session_quota(rws, rec, length.unwrap_or(0), true).await?;
            let id = uuid::Uuid::new_v4().to_string();
            store::media::insert(
                &rws.db,
                &store::media::NewMedia {
                    id: &id,
                    recording_id: &rec.id,
                    stream,
                    monitor: &monitor,
                    started_at: &started_at,
                    upload_length: length.map(|l| l as i64),
                },
            )
            .await?;
            tracing::info!(recording = %rec.id, media = %id, stream, "upload created");
            id
        }
    };
    recordings::touch(&rws.db, &rec.id).await?;
    Ok(id)
}

/// What the recording's SRS session has in unfinished uploads:
/// (count, bytes declared or, for deferred lengths, received).
async fn session_open(rws: &Rws, rec: &Rec) -> Result<(i64, u64), ApiError> {
    let owner = rec.session_id.clone().unwrap_or_else(|| rec.id.clone());
    let (count, bytes) = store::media::open_of_session(&rws.db, &owner).await?;
    Ok((count, bytes.max(0) as u64))
}

/// Rule 3: a flood of creations (or of deferred-length bytes) cannot make
/// one session hold more than [`SESSION_OPEN_UPLOADS`] unfinished uploads
/// or [`SESSION_OPEN_BYTES`] in them.
async fn check_session_quota(
    rws: &Rws,
    rec: &Rec,
    more_bytes: u64,
    new_upload: bool,
) -> Result<(), ApiError> {
    let (count, bytes) = session_open(rws, rec).await?;
    if new_upload && count >= SESSION_OPEN_UPLOADS {
        return Err(ApiError::Status(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "this SRS session already has {count} unfinished uploads (at most {SESSION_OPEN_UPLOADS}); finish or terminate some first"
            ),
        ));
    }
    if bytes
        .checked_add(more_bytes)
        .is_none_or(|t| t > SESSION_OPEN_BYTES)
    {
        return Err(ApiError::Status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "this SRS session has {bytes} bytes in unfinished uploads; {more_bytes} more would pass its quota of {SESSION_OPEN_BYTES}"
            ),
        ));
    }
    Ok(())
}

/// An upload (one media file) as the store has it.
pub(crate) type Upload = store::media::MediaRow;

pub(crate) async fn upload_of(rws: &Rws, rec: &Rec, id: &str) -> Result<Upload, ApiError> {
    agent_input::uuid("upload", id)?;
    let up = store::media::get(&rws.db, id).await?;
    up.filter(|u| u.recording_id == rec.id)
        .ok_or_else(|| ApiError::NotFound(format!("no upload '{id}' for this token")))
}

/// Withdraws an upload (tus termination) while its recording is not final:
/// its media object or staged parts, and its row.
pub(crate) async fn terminate(rws: &Rws, rec: &Rec, id: &str) -> Result<(), ApiError> {
    let up = upload_of(rws, rec, id).await?;
    // Until the recording is final its uploads may be withdrawn, as tus
    // termination allows; after that they are the recording.
    if rec.state.is_final() {
        return Err(ApiError::Status(
            StatusCode::GONE,
            format!(
                "recording {} is {}: its uploads can no longer be terminated",
                rec.id, rec.state
            ),
        ));
    }
    if let Some(key) = &up.object_path {
        rws.storage.delete(key).await.map_err(ApiError::Internal)?;
    }
    rws.storage
        .delete_staging(id)
        .await
        .map_err(ApiError::Internal)?;
    store::media::delete(&rws.db, id).await?;
    tracing::info!(recording = %rec.id, media = %id, "upload terminated");
    Ok(())
}

/// The digest an `Upload-Checksum` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    /// `sha1`
    Sha1,
    /// `sha256`
    Sha256,
}

/// `Upload-Checksum`: the digest the client computed over the PATCH body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// Which digest.
    pub algorithm: ChecksumAlgorithm,
    /// Its value (decoded from base64).
    pub digest: Vec<u8>,
}

impl Checksum {
    /// 460 (tus "Checksum Mismatch") when `body` does not match.
    pub fn verify(&self, body: &[u8]) -> Result<(), ApiError> {
        let got: Vec<u8> = match self.algorithm {
            ChecksumAlgorithm::Sha1 => sha1::Sha1::digest(body).to_vec(),
            ChecksumAlgorithm::Sha256 => sha2::Sha256::digest(body).to_vec(),
        };
        if got != self.digest {
            return Err(ApiError::Status(
                StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
                "Checksum Mismatch: the body does not match Upload-Checksum; nothing was written"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// A tus PATCH as the core takes it: the handler turned its headers into
/// these typed fields; the body follows separately (read here, bounded by
/// [`MAX_PATCH`], only once the offset is known to match).
#[derive(Debug)]
pub struct AppendRequest {
    /// `Upload-Offset`: where the body goes.
    pub offset: u64,
    /// `Upload-Length`, when sent (declares a deferred length, or repeats
    /// the known one).
    pub length: Option<u64>,
    /// `Upload-Checksum`, when sent.
    pub checksum: Option<Checksum>,
    /// The `screenrec-segments` header (where each age stream of the body
    /// ends), checked against the body by [`segments::parse`] once it is
    /// read: its bounds are the body's.
    pub segments: Option<Vec<u8>>,
    /// The `screenrec-segment-hashes` header (SHA-256 of each segment's
    /// plaintext and ciphertext), checked by [`segments::hashes`].
    pub segment_hashes: Option<Vec<u8>>,
}

/// Appends a PATCH body to upload `id` of `rec` at `req.offset`: staged
/// durably, then the offset and the segment index move; a complete upload
/// is stored and may finish the recording. Returns the upload as it now is
/// (its offset and length answer the PATCH).
pub(crate) async fn append(
    rws: &Rws,
    rec: &Rec,
    id: &str,
    req: AppendRequest,
    body: axum::body::Body,
) -> Result<Upload, ApiError> {
    let lock = rws.upload_locks.get(id);
    let _guard = lock.lock().await;
    let up = upload_of(rws, rec, id).await?;
    let offset = req.offset;
    if offset != up.upload_offset as u64 {
        return Err(ApiError::Conflict(format!(
            "Upload-Offset {offset} does not match the upload's offset {}",
            up.upload_offset
        )));
    }
    let body = read_body(body).await?;
    if up.object_path.is_some()
        && body.is_empty()
        && req.length == up.upload_length.map(|l| l as u64)
    {
        // A repeated final PATCH (its answer was lost): nothing to do.
        return Ok(up);
    }
    if rec.state.is_final() || up.object_path.is_some() {
        return Err(ApiError::Status(
            StatusCode::GONE,
            format!(
                "recording {} is {}: the upload is closed",
                rec.id, rec.state
            ),
        ));
    }
    let end = offset
        .checked_add(body.len() as u64)
        .filter(|e| *e <= MAX_SIZE)
        .ok_or_else(|| {
            ApiError::Status(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "{offset} + {} bytes would exceed Tus-Max-Size {MAX_SIZE}",
                    body.len()
                ),
            )
        })?;
    let length = match (up.upload_length, req.length) {
        (Some(a), Some(b)) if a as u64 != b => {
            return Err(ApiError::invalid(format!(
                "Upload-Length is already {a}; it cannot change to {b}"
            )));
        }
        (Some(a), _) => Some(a as u64),
        (None, b) => b,
    };
    if let Some(l) = length
        && (end > l || l > MAX_SIZE)
    {
        return Err(ApiError::Status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{end} bytes would exceed the Upload-Length {l}"),
        ));
    }
    if let Some(c) = &req.checksum {
        c.verify(&body)?;
    }
    if up.upload_length.is_none() {
        // Deferred length: the bytes count against the session's quota as
        // they arrive.
        check_session_quota(rws, rec, body.len() as u64, false).await?;
    }
    let segments = match &req.segments {
        Some(h) => {
            let mut segs = segments::parse(h, &body)?;
            segments::hashes(req.segment_hashes.as_deref(), &body, &mut segs)?;
            Some(segs)
        }
        None => None,
    };
    if let Some(first) = segments.as_deref().and_then(<[_]>::first)
        && offset == 0
    {
        // The first segment of a media file must be an age stream a tenant
        // key opens: garbage is refused, not stored as a recording. (Bytes
        // sent without a segments header, by a plain tus client, are judged
        // when the upload is complete: no playable segment → `failed`.)
        first_segment_opens(rws, body.clone(), first).await?;
    }

    if !body.is_empty() {
        // Durable in the media store before the offset moves: a part left
        // by a crash here is an orphan at the committed offset, which the
        // re-sent PATCH overwrites.
        rws.storage
            .put_part(id, offset, body.clone())
            .await
            .map_err(|e| {
                tracing::error!(media = %id, offset, error = %e, "staging a PATCH");
                ApiError::Status(
                    StatusCode::INSUFFICIENT_STORAGE,
                    format!("cannot store the bytes: {e}"),
                )
            })?;
    }
    // Only the last segment matters here: the new ones follow it.
    let last = store::media::last_segment(&rws.db, id).await?;
    let first_seq = last.as_ref().map(|(seq, _)| seq + 1).unwrap_or(0);
    let mut index = SegmentIndex {
        entries: last.map(|(_, e)| e).into_iter().collect(),
    };
    let mut end_ms = up.end_ms as u64;
    if let Some(segs) = segments
        && index
            .entries
            .last()
            .is_none_or(|e| e.cipher_offset + e.cipher_len == offset)
    {
        for seg in segs {
            // Offsets stay below MAX_SIZE (the PATCH end is checked), so
            // the index's sums cannot wrap.
            index.push(seg.cipher_len, seg.plain_len);
            if let Some(last) = index.entries.last_mut() {
                last.end_ms = seg.end_ms;
                last.plain_sha256 = seg.plain_sha256;
                last.cipher_sha256 = seg.cipher_sha256;
            }
            end_ms = end_ms.max(seg.end_ms.unwrap_or(0));
        }
    }
    // The new segments: all of `index` but the stored last one.
    let added = index
        .entries
        .get(usize::from(first_seq > 0)..)
        .unwrap_or_default();
    let turn = rws.upload_locks.bookkeeping().await;
    // The recording's last activity in the same transaction (one write
    // transaction per PATCH).
    store::media::append(
        &rws.db,
        id,
        &store::media::Append {
            upload_offset: end as i64,
            upload_length: length.map(|l| l as i64),
            first_seq,
            segments: added,
            end_ms: end_ms as i64,
        },
        &rec.id,
        &recordings::now(),
    )
    .await?;
    drop(turn);
    rws.metrics.upload_bytes.inc_by(body.len() as u64);
    if length == Some(end) {
        store(rws, id).await?;
        recordings::try_finish(rws, &rec.id).await?;
    }
    upload_of(rws, rec, id).await
}

/// What SRS's end report leaves: the recording and its state.
#[derive(Debug)]
pub struct Ended {
    /// The recording.
    pub id: String,
    /// Its state after the report.
    pub state: RecordingState,
}

/// The timeline marks an end report may carry: pause spans, masked spans,
/// and the gap of an SRS restart (`crate::restart`).
const MARK_KINDS: [&str; 6] = ["paused", "resumed", "masked", "unmasked", "gap", "gap_end"];

/// SRS's end report (`PUT /api/v2/srs/recordings/{id}/end`) for `rec`:
/// checks the marks, refuses (409) while a media file is incomplete, keeps
/// the marks, stores the uploads and finishes the recording. A replayed
/// report changes nothing once the first was accepted.
pub(crate) async fn end(rws: &Rws, rec: Rec, end: &RecordingEnd) -> Result<Ended, ApiError> {
    // A replayed end (its answer was lost, or a rogue agent's replay)
    // changes nothing once the recording is final: no marks are added.
    if rec.state.is_final() || rec.end_reported {
        return Ok(Ended {
            id: rec.id,
            state: rec.state,
        });
    }
    if end.marks.len() > MAX_MARKS {
        return Err(ApiError::invalid(format!(
            "{} marks in one end report (at most {MAX_MARKS})",
            end.marks.len()
        )));
    }
    for m in &end.marks {
        if recordings::parse_time(&m.at).is_none() || !MARK_KINDS.contains(&m.kind.as_str()) {
            return Err(ApiError::invalid(format!(
                "mark at '{}' kind '{}': 'at' must be RFC 3339 and 'kind' one of {}",
                agent_input::bounded(&m.at, 64),
                agent_input::bounded(&m.kind, 32),
                MARK_KINDS.join(", ")
            )));
        }
    }
    check_apps(&end.apps)?;
    let open = store::media::unstored(&rws.db, &rec.id).await?;
    if let Some((mid, len, off)) = open.iter().find(|(_, l, o)| *l != Some(*o)) {
        return Err(ApiError::Conflict(format!(
            "media {mid} is not complete ({off} bytes of {})",
            len.map(|l| l.to_string())
                .unwrap_or_else(|| "an unknown length".into())
        )));
    }
    // Marks are kept only once the end is accepted, so an end refused with
    // 409 (media incomplete) and sent again does not add them twice.
    for m in &end.marks {
        let reason = agent_input::bounded(&m.reason, agent_input::MAX_KEPT);
        recordings::mark(&rws.db, &rec.id, &m.at, &m.kind, &reason).await?;
    }
    for a in &end.apps {
        recordings::mark_app(&rws.db, &rec.id, &a.at, &a.class, a.title.as_deref()).await?;
    }
    for (mid, _, _) in &open {
        store(rws, mid).await?;
    }
    let reason = rules::end_reason(
        end.interrupted,
        end.reason.as_str(),
        rec.stop_reason.as_deref(),
    );
    store::recordings::set_end_reported(
        &rws.db,
        &rec.id,
        end.interrupted,
        end.media_files as i64,
        &reason,
    )
    .await?;
    recordings::transition(rws, &rec.id, RecordingState::Finalizing, Some(&reason)).await?;
    recordings::try_finish(rws, &rec.id).await?;
    let state = recordings::get(&rws.db, &rec.id)
        .await?
        .map(|r| r.state)
        .unwrap_or(rec.state);
    Ok(Ended { id: rec.id, state })
}

/// Checks the app lane of an end report: how many, and each one's time,
/// class and title within bounds (a 400 saying which, never stored cut).
fn check_apps(apps: &[proto::upload::AppMark]) -> Result<(), ApiError> {
    use proto::upload::{MAX_APP_CLASS_CHARS, MAX_APP_MARKS, MAX_APP_TITLE_CHARS};
    if apps.len() > MAX_APP_MARKS {
        return Err(ApiError::invalid(format!(
            "{} app changes in one end report (at most {MAX_APP_MARKS})",
            apps.len()
        )));
    }
    for a in apps {
        let class_len = a.class.chars().count();
        let title_len = a.title.as_deref().map_or(0, |t| t.chars().count());
        if recordings::parse_time(&a.at).is_none()
            || class_len == 0
            || class_len > MAX_APP_CLASS_CHARS
            || title_len > MAX_APP_TITLE_CHARS
        {
            return Err(ApiError::invalid(format!(
                "app change at '{}' class '{}': 'at' must be RFC 3339, 'class' 1 to {MAX_APP_CLASS_CHARS} characters, 'title' at most {MAX_APP_TITLE_CHARS}",
                agent_input::bounded(&a.at, 64),
                agent_input::bounded(&a.class, 64)
            )));
        }
    }
    Ok(())
}

/// Refuses (422) a media file whose first segment is not an age stream
/// that a tenant key opens, or whose plaintext length is not the one the
/// segments header claims.
async fn first_segment_opens(
    rws: &Rws,
    body: Bytes,
    first: &segments::Segment,
) -> Result<(), ApiError> {
    let not_media = |why: String| {
        ApiError::Status(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the upload does not start with media: {why}"),
        )
    };
    let identities = crate::keys::all_identities(&rws.db, &rws.master)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // segments::parse checked cipher_len against the body (≤ 64 MiB).
    let len = first.cipher_len as usize;
    // Decrypting up to 64 MiB is CPU work: off the async threads.
    let plain_len = tokio::task::spawn_blocking(move || {
        let cipher = body.get(..len).unwrap_or_default();
        identities
            .iter()
            .find_map(|i| media::crypt::decrypt_segment(cipher, i).ok())
            .map(|p| p.len() as u64)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("checking the first segment: {e}")))?
    .ok_or_else(|| not_media("no tenant key opens its first segment".into()))?;
    if plain_len != first.plain_len {
        return Err(not_media(format!(
            "its first segment has {plain_len} plaintext bytes, the header says {}",
            first.plain_len
        )));
    }
    Ok(())
}

/// Where the bytes of a complete upload are when it is stored.
enum Complete {
    /// Its staged parts (the usual case).
    Staged(crate::storage::staging::Parts),
    /// Already in its media object (this key).
    Composed(String),
}

impl Complete {
    async fn read(&self, rws: &Rws, range: std::ops::Range<u64>) -> Result<Vec<u8>, String> {
        match self {
            Complete::Staged(parts) => parts.read(&rws.storage, range).await,
            Complete::Composed(key) => rws.storage.get_range(key, range).await.map(|b| b.to_vec()),
        }
    }
}

/// Largest upload RWS indexes by scanning (one sent without a segments
/// header): the scan holds the file in memory.
pub const MAX_SCAN: u64 = 256 << 20;

/// Builds the segment index of a staged upload that came without a
/// segments header: its age streams (as [`SegmentIndex::scan`] finds them
/// with the tenant key that opens most) and each fragment's end time read
/// from the fMP4 inside, so the media has a duration. Returns the index
/// and the media's end in ms; an empty index when the file
/// is larger than [`MAX_SCAN`] or no key opens it (the recording then
/// ends `failed`: nothing in it is playable).
async fn scan_index(
    rws: &Rws,
    id: &str,
    size: u64,
    bytes: &Complete,
) -> Result<(SegmentIndex, u64), ApiError> {
    if size > MAX_SCAN {
        tracing::warn!(media = %id, size, max = MAX_SCAN, "upload without segments header too large to index");
        return Ok((SegmentIndex::default(), 0));
    }
    let cipher = bytes
        .read(rws, 0..size)
        .await
        .map_err(|e| ApiError::Internal(format!("reading the media {id}: {e}")))?;
    let identities = crate::keys::all_identities(&rws.db, &rws.master)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let scan = move || {
        let Some((identity, mut index)) = identities
            .into_iter()
            .map(|i| {
                let ix = SegmentIndex::scan(&cipher, &i);
                (i, ix)
            })
            .max_by_key(|(_, ix)| ix.entries.len())
        else {
            return (SegmentIndex::default(), 0);
        };
        let mut end_ms = 0u64;
        for e in &mut index.entries {
            // Entries come from the scan, so they lie within `cipher`.
            let range = e.cipher_offset as usize..(e.cipher_offset + e.cipher_len) as usize;
            let end = cipher
                .get(range)
                .and_then(|c| media::crypt::decrypt_segment(c, &identity).ok())
                .and_then(|plain| media::fmp4::fragment_end(&plain))
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            if let Some(ms) = end {
                e.end_ms = Some(ms);
                end_ms = end_ms.max(ms);
            }
        }
        (index, end_ms.min(segments::MAX_END_MS))
    };
    tokio::task::spawn_blocking(scan)
        .await
        .map_err(|e| ApiError::Internal(format!("indexing an upload: {e}")))
}

/// Moves a complete upload into storage (building its segment index by
/// scanning when the client sent none).
pub(crate) async fn store(rws: &Rws, id: &str) -> Result<(), ApiError> {
    let Some(store::media::MediaRow {
        recording_id,
        upload_offset: size,
        object_path: None,
        ..
    }) = store::media::get(&rws.db, id).await?
    else {
        return Ok(());
    };
    let key = format!("recordings/{recording_id}/{id}.mp4.age");
    let committed = size.max(0) as u64;
    let bytes = match rws.storage.parts(id, committed).await {
        Ok(parts) => Complete::Staged(parts),
        // No parts, but the media object is there whole: composed before a
        // crash (or a backup copied) between composing and the row naming
        // it. Anything else is the database and the store disagreeing.
        Err(e) => match rws.storage.size(&key).await {
            Ok(Some(n)) if n == committed && committed > 0 => Complete::Composed(key.clone()),
            _ => return Err(ApiError::Internal(format!("storing media {id}: {e}"))),
        },
    };
    if size > 0 && store::media::last_segment(&rws.db, id).await?.is_none() {
        let (index, end_ms) = scan_index(rws, id, committed, &bytes).await?;
        store::media::set_scanned_index(&rws.db, id, &index, end_ms as i64).await?;
    }
    if let Complete::Staged(parts) = &bytes
        && size > 0
    {
        rws.storage
            .compose(&key, parts)
            .await
            .map_err(|e| ApiError::Internal(format!("storing media {id}: {e}")))?;
    }
    store::media::set_object_path(&rws.db, id, &key).await?;
    // The media object is complete and named: the parts are only a copy.
    // Left behind by a crash here, they are removed with the recording.
    if let Err(e) = rws.storage.delete_staging(id).await {
        tracing::warn!(media = %id, error = %e, "removing the staged parts of stored media");
    }
    tracing::info!(recording = %recording_id, media = %id, bytes = size, store = %rws.storage.describe, "media stored");
    Ok(())
}

/// Closes every upload of a recording with what has arrived (orphan sweep).
pub async fn store_all(rws: &Rws, recording_id: &str) {
    let ids: Vec<String> = store::media::unstored(&rws.db, recording_id)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    for id in ids {
        let _ = store::media::close_at_offset(&rws.db, &id).await;
        if let Err(e) = store(rws, &id).await {
            tracing::error!(media = %id, error = %e, "storing an orphaned upload");
        }
    }
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
