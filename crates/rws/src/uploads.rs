//! Media upload: tus 1.0 (core, creation, creation-defer-length,
//! termination, checksum) under `/api/v2/srs/uploads`, one upload per media
//! file, authorised by the recording's upload token (`Authorization: Bearer`),
//! and `PUT /api/v2/srs/recordings/{id}/end` when SRS has uploaded all.
//! The HTTP side (the handlers) is [`crate::http::uploads`]; this module
//! checks, appends, stores and finishes, and closes the uploads of
//! recordings whose SRS went silent ([`sweep_orphans`]).
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
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use media::crypt::SegmentIndex;
use proto::upload::{SEGMENT_HASHES_HEADER, SEGMENTS_HEADER, meta};
use sha1::Digest as _;

use crate::Rws;
use crate::agent_input;
use crate::auth;
use crate::error::ApiError;
use crate::recording::Rec;
use crate::recording::Timestamp;
use crate::recording::rules;
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
pub(crate) const TUS_VERSION: &str = "1.0.0";
pub(crate) const EXTENSIONS: &str = "creation,creation-defer-length,termination,checksum";

/// One lock per upload so that two PATCHes never interleave.
#[derive(Default)]
pub struct UploadLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl UploadLocks {
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

pub(crate) fn tus_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
}

pub(crate) fn tus_error(e: ApiError) -> Response {
    let precondition =
        matches!(&e, ApiError::Status(s, _) if *s == StatusCode::PRECONDITION_FAILED);
    let mut resp = e.into_response();
    tus_headers(&mut resp);
    if precondition {
        resp.headers_mut()
            .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    }
    resp
}

pub(crate) fn check_version(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => Ok(()),
        Some(other) => Err(ApiError::Status(
            StatusCode::PRECONDITION_FAILED,
            format!("Tus-Resumable {other} is not supported (1.0.0)"),
        )),
        None => Err(ApiError::Status(
            StatusCode::PRECONDITION_FAILED,
            "Tus-Resumable: 1.0.0 header required".into(),
        )),
    }
}

/// A PATCH body of at most [`MAX_PATCH`] bytes, read once the request is
/// authenticated; never a buffer sized by the client's `Content-Length`.
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

pub(crate) async fn recording_of(rws: &Rws, headers: &HeaderMap) -> Result<Rec, ApiError> {
    let token = auth::bearer_token(headers).ok_or_else(|| {
        ApiError::Unauthenticated("Authorization: Bearer <upload token> required".into())
    })?;
    recordings::by_upload_token(&rws.db, &auth::token_hash(&token))
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("unknown upload token".into()))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Result<Option<u64>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| ApiError::invalid(format!("{name} must be a non-negative integer"))),
    }
}

fn parse_metadata(headers: &HeaderMap) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    let Some(v) = headers.get("upload-metadata") else {
        return Ok(out);
    };
    let s = v
        .to_str()
        .map_err(|_| ApiError::invalid("Upload-Metadata is not ASCII"))?;
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = match pair.split_once(' ') {
            Some((k, v)) => (k, v.trim()),
            None => (pair, ""),
        };
        let decoded = B64.decode(value).map_err(|_| {
            ApiError::invalid(format!("Upload-Metadata '{key}': value is not base64"))
        })?;
        let text = String::from_utf8(decoded).map_err(|_| {
            ApiError::invalid(format!("Upload-Metadata '{key}': value is not UTF-8"))
        })?;
        out.insert(key.to_string(), text);
    }
    Ok(out)
}

pub(crate) async fn create_inner(rws: &Rws, headers: &HeaderMap) -> Result<Response, ApiError> {
    let rec = recording_of(rws, headers).await?;
    check_version(headers)?;
    if rec.state.is_final() {
        return Err(ApiError::Status(
            StatusCode::GONE,
            format!("recording {} is already {}", rec.id, rec.state),
        ));
    }
    let length = header_u64(headers, "upload-length")?;
    let deferred = headers
        .get("upload-defer-length")
        .map(|v| v.as_bytes() == b"1");
    match (length, deferred) {
        (Some(_), Some(true)) => {
            return Err(ApiError::invalid(
                "send Upload-Length or Upload-Defer-Length: 1, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "Upload-Length or Upload-Defer-Length: 1 required",
            ));
        }
        (_, Some(false)) => return Err(ApiError::invalid("Upload-Defer-Length must be 1")),
        _ => {}
    }
    if length.is_some_and(|l| l > MAX_SIZE) {
        return Err(ApiError::Status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Upload-Length exceeds Tus-Max-Size {MAX_SIZE}"),
        ));
    }
    let md = parse_metadata(headers)?;
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
            check_session_quota(rws, &rec, length.unwrap_or(0), true).await?;
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
    let mut resp = StatusCode::CREATED.into_response();
    tus_headers(&mut resp);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v2/srs/uploads/{id}")) {
        resp.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(resp)
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

pub(crate) type Upload = store::media::MediaRow;

pub(crate) async fn upload_of(rws: &Rws, rec: &Rec, id: &str) -> Result<Upload, ApiError> {
    agent_input::uuid("upload", id)?;
    let up = store::media::get(&rws.db, id).await?;
    up.filter(|u| u.recording_id == rec.id)
        .ok_or_else(|| ApiError::NotFound(format!("no upload '{id}' for this token")))
}

pub(crate) fn offset_headers(resp: &mut Response, up: &Upload) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&up.upload_offset.to_string()) {
        h.insert("upload-offset", v);
    }
    match up.upload_length {
        Some(l) => {
            if let Ok(v) = HeaderValue::from_str(&l.to_string()) {
                h.insert("upload-length", v);
            }
        }
        None => {
            h.insert("upload-defer-length", HeaderValue::from_static("1"));
        }
    }
}

fn checksum_ok(headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let Some(v) = headers.get("upload-checksum") else {
        return Ok(());
    };
    let s = v
        .to_str()
        .map_err(|_| ApiError::invalid("Upload-Checksum is not ASCII"))?;
    let (algo, value) = s
        .trim()
        .split_once(' ')
        .ok_or_else(|| ApiError::invalid("Upload-Checksum must be '<algorithm> <base64>'"))?;
    let want = B64
        .decode(value.trim())
        .map_err(|_| ApiError::invalid("Upload-Checksum value is not base64"))?;
    let got: Vec<u8> = match algo {
        "sha1" => sha1::Sha1::digest(body).to_vec(),
        "sha256" => sha2::Sha256::digest(body).to_vec(),
        other => {
            return Err(ApiError::invalid(format!(
                "checksum algorithm '{other}' is not supported (sha1, sha256)"
            )));
        }
    };
    if got != want {
        return Err(ApiError::Status(
            StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
            "Checksum Mismatch: the body does not match Upload-Checksum; nothing was written"
                .into(),
        ));
    }
    Ok(())
}

pub(crate) async fn patch_inner(
    rws: &Rws,
    headers: &HeaderMap,
    id: &str,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    // The upload token is checked before a byte of the body is read (up to
    // MAX_PATCH): a stranger's body costs RWS nothing (threat model, rule 4).
    let rec = recording_of(rws, headers).await?;
    check_version(headers)?;
    let lock = rws.upload_locks.get(id);
    let _guard = lock.lock().await;
    let up = upload_of(rws, &rec, id).await?;
    if headers
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes() != b"application/offset+octet-stream")
    {
        return Err(ApiError::Status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/offset+octet-stream".into(),
        ));
    }
    let offset = header_u64(headers, "upload-offset")?
        .ok_or_else(|| ApiError::invalid("Upload-Offset header required"))?;
    if offset != up.upload_offset as u64 {
        return Err(ApiError::Conflict(format!(
            "Upload-Offset {offset} does not match the upload's offset {}",
            up.upload_offset
        )));
    }
    let body = read_body(body).await?;
    if up.object_path.is_some()
        && body.is_empty()
        && header_u64(headers, "upload-length")? == up.upload_length.map(|l| l as u64)
    {
        // A repeated final PATCH (its answer was lost): nothing to do.
        let mut resp = StatusCode::NO_CONTENT.into_response();
        tus_headers(&mut resp);
        offset_headers(&mut resp, &up);
        return Ok(resp);
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
    let new_len = header_u64(headers, "upload-length")?;
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
    let length = match (up.upload_length, new_len) {
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
    checksum_ok(headers, &body)?;
    if up.upload_length.is_none() {
        // Deferred length: the bytes count against the session's quota as
        // they arrive.
        check_session_quota(rws, &rec, body.len() as u64, false).await?;
    }
    let segments = match headers.get(HeaderName::from_static(SEGMENTS_HEADER)) {
        Some(h) => {
            let mut segs = segments::parse(h.as_bytes(), &body)?;
            let hashes = headers.get(HeaderName::from_static(SEGMENT_HASHES_HEADER));
            segments::hashes(hashes.map(|v| v.as_bytes()), &body, &mut segs)?;
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
    )
    .await?;
    recordings::touch(&rws.db, &rec.id).await?;
    rws.metrics.upload_bytes.inc_by(body.len() as u64);
    if length == Some(end) {
        store(rws, id).await?;
        recordings::try_finish(rws, &rec.id).await?;
    }
    let up = upload_of(rws, &rec, id).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut resp);
    offset_headers(&mut resp, &up);
    Ok(resp)
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

/// Property tests (issue 10, rule 3): the tus and segment headers a client
/// sends, random or mutated, give a value or a 4xx, never a panic.
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

#[cfg(test)]
mod proptests {
    #![allow(clippy::unwrap_used)]

    use axum::http::{HeaderMap, HeaderName, HeaderValue};
    use proptest::prelude::*;

    use super::{checksum_ok, header_u64, parse_metadata};
    use crate::segments;

    fn headers(name: &str, value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(value) {
            h.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), v);
        }
        h
    }

    /// Header bytes: any visible byte (HeaderValue refuses controls).
    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop_oneof![32u8..127, 128u8..=255, Just(b'\t')], 0..200)
    }

    /// Segment triples, some near u64::MAX so sums overflow.
    fn triples() -> impl Strategy<Value = String> {
        let n = prop_oneof![0u64..100_000, (u64::MAX - 1000)..=u64::MAX, any::<u64>()];
        prop::collection::vec((n.clone(), n.clone(), n), 0..8).prop_map(|v| {
            v.iter()
                .map(|(c, p, e)| format!("{c}:{p}:{e}"))
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    fn is_client_error(e: crate::error::ApiError) -> bool {
        axum::response::IntoResponse::into_response(e)
            .status()
            .is_client_error()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn upload_offset_and_length_parse_or_are_refused(v in value()) {
            for name in ["upload-offset", "upload-length"] {
                match header_u64(&headers(name, &v), name) {
                    Ok(Some(n)) => prop_assert_eq!(
                        Some(n),
                        std::str::from_utf8(&v).ok().and_then(|s| s.trim().parse().ok())
                    ),
                    Ok(None) => prop_assert!(HeaderValue::from_bytes(&v).is_err()),
                    Err(e) => prop_assert!(is_client_error(e)),
                }
            }
        }

        #[test]
        fn upload_metadata_parses_or_is_refused(v in value()) {
            match parse_metadata(&headers("upload-metadata", &v)) {
                // Never more entries than the header has pairs.
                Ok(m) => prop_assert!(m.len() <= v.iter().filter(|b| **b == b',').count() + 1),
                Err(e) => prop_assert!(is_client_error(e)),
            }
        }

        #[test]
        fn upload_metadata_mutations_of_a_valid_header(
            cut in 0usize..80,
            flip in 0usize..80,
            byte in 32u8..127,
        ) {
            let mut v = b"recording_id MTIzNA==,stream MA==,filetype dmlkZW8vbXA0K2FnZQ==".to_vec();
            if flip < v.len() {
                v[flip] = byte;
            }
            v.truncate(cut.max(1));
            if let Err(e) = parse_metadata(&headers("upload-metadata", &v)) {
                prop_assert!(is_client_error(e));
            }
        }

        #[test]
        fn upload_checksum_matches_or_is_refused(
            v in value(),
            body in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            if let Err(e) = checksum_ok(&headers("upload-checksum", &v), &body) {
                prop_assert!(is_client_error(e));
            }
        }

        #[test]
        fn segments_header_is_bounded_by_the_body(s in triples(), body_len in 0usize..100_000) {
            let body = vec![0u8; body_len];
            match segments::parse(s.as_bytes(), &body) {
                Ok(segs) => {
                    let sum = segs.iter().try_fold(0u64, |a, g| a.checked_add(g.cipher_len));
                    prop_assert_eq!(sum, Some(body_len as u64));
                }
                Err(e) => prop_assert!(is_client_error(e)),
            }
        }

        #[test]
        fn segments_header_random_bytes(v in value(), body_len in 0usize..1000) {
            if let Err(e) = segments::parse(&v, &vec![0u8; body_len]) {
                prop_assert!(is_client_error(e));
            }
        }
    }

    /// Found by `segments_header_is_bounded_by_the_body`: two cipher lengths
    /// whose sum wraps to the body length (a panic in debug builds, accepted
    /// in release).
    #[test]
    fn segments_whose_sizes_wrap_are_refused() {
        let h = format!("{}:1:1,2:1:2", u64::MAX);
        assert!(segments::parse(h.as_bytes(), &[0u8]).is_err());
    }
}
