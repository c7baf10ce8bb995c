//! Signed evidence: each recording's manifest, written and signed once when
//! it reaches a final state ([`seal`]), and the export bundle streamed from
//! it ([`bundle`]): the decrypted MP4 per media file, `events.json`,
//! `manifest.json`, `manifest.sig` and the public key, in a zip that
//! `screenrec verify` checks offline. The formats are the `evidence`
//! crate's; the endpoints are [`crate::http::evidence`]; the auditor's view
//! is `docs/compliance.md`.
//!
//! The chain of hashes: SRS hashes each segment's plaintext as it writes it
//! (before encryption) and its ciphertext; RWS checks the ciphertext hash
//! on upload ([`crate::segments::hashes`]), puts both in the manifest and
//! signs it. A segment whose plaintext hash the client did not send (old
//! spools, plain tus clients) is decrypted and hashed here, and the manifest
//! says so (`plain_sha256_by: "rws"`). The export re-checks every segment
//! it decrypts against the manifest and aborts the download on a mismatch,
//! so RWS never hands out a bundle that would not verify.

use bytes::Bytes;
use evidence::{EventsDigest, Manifest, MediaEntry, SegmentEntry, names};
use media::crypt::IndexEntry;
use media::segment_index::Sha256;
use serde_json::{Value, json};

use crate::Rws;
use crate::error::ApiError;
use crate::recording::Rec;
use crate::recordings::{Source, read_cipher, staged_or_stored};
use crate::store::evidence::{self as store, StoredManifest};

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("{what}: {e}"))
}

/// The bundle path of a media file.
fn media_file(stream: i64) -> String {
    format!("{}stream-{stream}.mp4", names::MEDIA_DIR)
}

/// The recording's metadata as the manifest records it: what identifies
/// the recording and what happened to it, not what may change later
/// (labels, legal hold).
async fn recording_metadata(rws: &Rws, rec: &Rec) -> Result<Value, ApiError> {
    let marks = crate::store::recordings::marks_of(&rws.db, &rec.id).await?;
    let marks: Vec<Value> = marks
        .into_iter()
        .map(|(time, kind, reason)| json!({"time": time, "type": kind, "reason": reason}))
        .collect();
    Ok(json!({
        "id": rec.id,
        "call_id": rec.interaction_id,
        "agent": rec.username,
        "dn": rec.dn,
        "media": rec.media,
        "state": rec.state.to_string(),
        "reason": rec.reason,
        "interrupted": rec.interrupted,
        "requested_at": rec.requested_at,
        "started_at": rec.started_at,
        "stopped_at": rec.stopped_at,
        "caller_phone_number": rec.ani,
        "dialed_phone_number": rec.dnis,
        "marks": marks,
    }))
}

/// The tenant identity that opens `first` of `src`.
async fn identity_for(
    rws: &Rws,
    src: &Source,
    first: &IndexEntry,
) -> Result<age::x25519::Identity, ApiError> {
    let cipher = read_cipher(rws, src, first)
        .await
        .map_err(|e| internal("reading a segment", e))?;
    let identities = crate::keys::all_identities(&rws.db, &rws.master)
        .await
        .map_err(|e| internal("tenant keys", e))?;
    identities
        .into_iter()
        .find(|id| media::crypt::decrypt_segment(&cipher, id).is_ok())
        .ok_or_else(|| ApiError::Internal("no tenant key opens the media".into()))
}

/// One media file's manifest entry, hashing (by decrypting) the segments
/// whose hashes the client did not send.
async fn media_entry(rws: &Rws, m: &crate::store::media::MediaRow) -> Result<MediaEntry, ApiError> {
    let index = crate::store::media::segments(&rws.db, &m.id).await?;
    let missing = index
        .entries
        .iter()
        .any(|e| e.plain_sha256.is_none() || e.cipher_sha256.is_none());
    let mut opened = None;
    if missing && let Some(first) = index.entries.first() {
        let src = staged_or_stored(rws, m).await?;
        let identity = identity_for(rws, &src, first).await?;
        opened = Some((src, identity));
    }
    let mut segments = Vec::with_capacity(index.entries.len());
    for (seq, e) in index.entries.iter().enumerate() {
        let (mut plain, mut cipher, mut by) = (e.plain_sha256, e.cipher_sha256, "srs");
        if (plain.is_none() || cipher.is_none())
            && let Some((src, identity)) = opened.as_ref()
        {
            let bytes = read_cipher(rws, src, e)
                .await
                .map_err(|err| internal("reading a segment", err))?;
            cipher.get_or_insert(Sha256::of(&bytes));
            if plain.is_none() {
                let p = media::crypt::decrypt_entry(seq, e, &bytes, identity)
                    .map_err(|err| internal(&format!("media {}", m.id), err))?;
                plain = Some(Sha256::of(&p));
                by = "rws";
            }
        }
        let (Some(plain), Some(cipher)) = (plain, cipher) else {
            return Err(ApiError::Internal(format!(
                "media {} segment {seq}: no hash",
                m.id
            )));
        };
        segments.push(SegmentEntry {
            seq: seq as u64,
            plain_offset: e.plain_offset,
            plain_len: e.plain_len,
            plain_sha256: plain.hex(),
            plain_sha256_by: by.into(),
            cipher_offset: e.cipher_offset,
            cipher_len: e.cipher_len,
            cipher_sha256: cipher.hex(),
            end_ms: e.end_ms.unwrap_or(0),
        });
    }
    Ok(MediaEntry {
        file: media_file(m.stream),
        media_id: m.id.clone(),
        stream: m.stream.max(0) as u64,
        size: index.plain_len(),
        segments,
    })
}

/// Writes and signs the manifest of recording `id` if it has none yet
/// (idempotent: the first one stored stays), and returns the stored one.
/// Refused (409) while the recording is not in a final state.
pub async fn seal(rws: &Rws, id: &str) -> Result<StoredManifest, ApiError> {
    if let Some(m) = store::manifest(&rws.db, id).await? {
        return Ok(m);
    }
    let rec = crate::store::recordings::get(&rws.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no recording '{id}'")))?;
    if !rec.state.is_final() {
        return Err(ApiError::Conflict(format!(
            "recording {id} is {}: its evidence is sealed when it is completed, partial or failed",
            rec.state
        )));
    }
    let key = crate::signing::active(&rws.db, &rws.master)
        .await
        .map_err(|e| internal("signing key", e))?;
    let mut media_files = Vec::new();
    for m in crate::store::media::of_recording(&rws.db, &rec.id).await? {
        media_files.push(media_entry(rws, &m).await?);
    }
    let events: Vec<Value> = crate::store::events::bodies_of(&rws.db, &rec.interaction_id)
        .await?
        .into_iter()
        // Bodies are stored as received JSON; anything else is kept as text.
        .map(|b| serde_json::from_str(&b).unwrap_or(Value::String(b)))
        .collect();
    let events_json = evidence::manifest::events_bytes(&events);
    let manifest = Manifest {
        format: evidence::FORMAT.into(),
        created_at: crate::recording::now(),
        key_id: key.public().key_id(),
        recording: recording_metadata(rws, &rec).await?,
        media_files,
        events: EventsDigest {
            file: names::EVENTS.into(),
            count: events.len() as u64,
            sha256: evidence::sha256_hex(&events_json),
        },
    };
    let bytes = manifest.to_bytes().map_err(|e| internal("manifest", e))?;
    let stored = StoredManifest {
        recording_id: rec.id.clone(),
        signature: key.sign_b64(&bytes),
        manifest: String::from_utf8(bytes).map_err(|e| internal("manifest", e))?,
        key_id: manifest.key_id.clone(),
        events: String::from_utf8(events_json).map_err(|e| internal("events", e))?,
        created_at: manifest.created_at.clone(),
    };
    if store::insert_manifest(&rws.db, &stored).await? {
        tracing::info!(recording = %rec.id, key = %stored.key_id, "evidence manifest signed");
    }
    store::manifest(&rws.db, id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("the manifest of {id} vanished")))
}

/// Seals every recording that reaches a final state, as the lifecycle
/// events announce it (runs for the life of the server). A failure is
/// logged, and so is a missed event (a lagging subscriber): the [`sweep`]
/// (or an export) makes a missing manifest then.
pub async fn sealer(rws: Rws) {
    let mut events = rws.lifecycle.subscribe();
    loop {
        match events.recv().await {
            Ok(e) if e.state.is_final() => {
                if let Err(err) = seal(&rws, &e.recording_id).await {
                    tracing::warn!(recording = %e.recording_id, error = %err, "evidence manifest not written yet");
                }
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "evidence sealer missed state changes; their exports seal them"
                );
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// How often the sealing sweep runs (after its pass at startup).
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
/// Recordings read per page by the sweep.
const SWEEP_PAGE: i64 = 100;

/// The sealing sweep: a final recording is sealed by the node that
/// finalised it ([`sealer`]); if that node died first (or its sealer
/// lagged, or signing failed), nothing else would seal it until someone
/// exports it. This seals every final recording without a manifest: once
/// at startup on every node, then every [`SWEEP_EVERY`] on the node running
/// the singleton jobs (on SQLite, the only node). Two nodes racing on one
/// recording both sign, and the manifest row is written once
/// ([`store::insert_manifest`]): the first stays, the other is dropped.
pub async fn sweep(rws: Rws) {
    seal_unsealed(&rws).await;
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        if crate::cluster::runs_singletons(&rws) {
            seal_unsealed(&rws).await;
        }
    }
}

/// One pass of the [`sweep`]; returns how many recordings it sealed.
pub async fn seal_unsealed(rws: &Rws) -> usize {
    let mut after = String::new();
    let mut sealed = 0;
    loop {
        let ids = match store::unsealed(&rws.db, &after, SWEEP_PAGE).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "sealing sweep: reading unsealed recordings");
                return sealed;
            }
        };
        for id in &ids {
            match seal(rws, id).await {
                Ok(_) => sealed += 1,
                Err(e) => {
                    tracing::warn!(recording = %id, error = %e, "sealing sweep: not sealed; tried again next pass")
                }
            }
        }
        match ids.last() {
            Some(last) if ids.len() as i64 == SWEEP_PAGE => after = last.clone(),
            _ => break,
        }
    }
    if sealed > 0 {
        tracing::info!(
            sealed,
            "sealing sweep: sealed final recordings that had no manifest"
        );
    }
    sealed
}

/// One step of streaming a bundle.
enum Step {
    /// Start media file `file` (index into `files`).
    Start(usize),
    /// One segment of media file `file`.
    Segment(usize, SegmentEntry),
    /// End the open entry.
    End,
    /// A whole small entry.
    Small(&'static str, Bytes),
    /// The central directory.
    Finish,
}

/// An export bundle ready to stream.
pub struct Bundle {
    /// The body (the zip, as produced).
    pub stream: futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>>,
    /// The manifest's key id (for the audit log).
    pub key_id: String,
}

/// Builds the export bundle of a final recording (sealing it first if its
/// manifest is missing). Nothing is buffered beyond one segment: media are
/// decrypted segment by segment as the body is sent.
pub async fn bundle(rws: &Rws, rec: &Rec) -> Result<Bundle, ApiError> {
    let sealed = seal(rws, &rec.id).await?;
    let manifest = Manifest::from_bytes(sealed.manifest.as_bytes())
        .map_err(|e| internal("stored manifest", e))?;
    let public = crate::signing::public(&rws.db, &sealed.key_id)
        .await
        .map_err(|e| internal("signing key", e))?
        .ok_or_else(|| {
            ApiError::Internal(format!("signing key {} is not in this RWS", sealed.key_id))
        })?;
    let rows = crate::store::media::of_recording(&rws.db, &rec.id).await?;
    let mut files: Vec<(String, Source, Option<age::x25519::Identity>)> = Vec::new();
    let mut steps = Vec::new();
    let mut total: u64 = 0;
    for (i, entry) in manifest.media_files.iter().enumerate() {
        let m = rows
            .iter()
            .find(|r| r.id == entry.media_id)
            .ok_or_else(|| ApiError::Internal(format!("media {} is gone", entry.media_id)))?;
        let src = staged_or_stored(rws, m).await?;
        let identity = match entry.segments.first() {
            Some(s) => Some(identity_for(rws, &src, &cipher_entry(s)).await?),
            None => None,
        };
        files.push((entry.file.clone(), src, identity));
        steps.push(Step::Start(i));
        steps.extend(entry.segments.iter().cloned().map(|s| Step::Segment(i, s)));
        steps.push(Step::End);
        total = total.saturating_add(entry.size).saturating_add(200);
    }
    for (name, bytes) in [
        (names::EVENTS, sealed.events.clone().into_bytes()),
        (names::MANIFEST, sealed.manifest.clone().into_bytes()),
        (
            names::SIGNATURE,
            format!("{}\n", sealed.signature).into_bytes(),
        ),
        (names::PUBLIC_KEY, public.to_pem().into_bytes()),
    ] {
        total = total.saturating_add(bytes.len() as u64 + 200);
        steps.push(Step::Small(name, Bytes::from(bytes)));
    }
    steps.push(Step::Finish);
    if total > evidence::zip::MAX_ZIP {
        return Err(ApiError::Status(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("the export would be {total} bytes; bundles are limited to 4 GiB"),
        ));
    }
    let state = (
        rws.clone(),
        std::sync::Arc::new(files),
        Some(evidence::zip::ZipWriter::new()),
        steps.into_iter(),
    );
    let stream =
        futures_util::stream::unfold(state, |(rws, files, mut zip, mut steps)| async move {
            let step = steps.next()?;
            let out = next_chunk(&rws, &files, &mut zip, step).await;
            // After an error the stream ends (the client sees a cut download).
            if out.is_err() {
                steps = Vec::new().into_iter();
            }
            Some((out, (rws, files, zip, steps)))
        });
    Ok(Bundle {
        stream: Box::pin(stream),
        key_id: sealed.key_id,
    })
}

/// The index entry of a manifest segment (to read its ciphertext).
fn cipher_entry(s: &SegmentEntry) -> IndexEntry {
    IndexEntry {
        cipher_offset: s.cipher_offset,
        cipher_len: s.cipher_len,
        plain_offset: s.plain_offset,
        plain_len: s.plain_len,
        end_ms: Some(s.end_ms),
        plain_sha256: None,
        cipher_sha256: None,
    }
}

type Files = [(String, Source, Option<age::x25519::Identity>)];

async fn next_chunk(
    rws: &Rws,
    files: &Files,
    zip: &mut Option<evidence::zip::ZipWriter>,
    step: Step,
) -> Result<Bytes, std::io::Error> {
    let io = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let w = zip.as_mut().ok_or_else(|| io(&"the bundle is finished"))?;
    match step {
        Step::Start(i) => {
            let name = files.get(i).map(|f| f.0.as_str()).unwrap_or_default();
            w.start(name).map(Bytes::from).map_err(|e| io(&e))
        }
        Step::Segment(i, s) => {
            let (file, src, identity) = files.get(i).ok_or_else(|| io(&"no such file"))?;
            let identity = identity.as_ref().ok_or_else(|| io(&"no key"))?;
            let e = cipher_entry(&s);
            let cipher = read_cipher(rws, src, &e).await.map_err(|e| io(&e))?;
            let plain = media::crypt::decrypt_entry(s.seq as usize, &e, &cipher, identity)?;
            if Sha256::of(&plain).hex() != s.plain_sha256 {
                tracing::error!(
                    file,
                    segment = s.seq,
                    "stored media differs from its signed manifest"
                );
                return Err(io(&format!(
                    "{file} segment {} differs from the signed manifest",
                    s.seq
                )));
            }
            w.data(&plain).map_err(|e| io(&e))?;
            Ok(Bytes::from(plain))
        }
        Step::End => w.end().map(Bytes::from).map_err(|e| io(&e)),
        Step::Small(name, bytes) => w.entry(name, &bytes).map(Bytes::from).map_err(|e| io(&e)),
        Step::Finish => {
            let w = zip.take().ok_or_else(|| io(&"the bundle is finished"))?;
            w.finish().map(Bytes::from).map_err(|e| io(&e))
        }
    }
}
