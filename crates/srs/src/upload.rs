//! The uploader: streams every spooled recording to RWS with tus 1.0 while
//! it is recorded, and finishes it after it stopped.
//!
//! For each stream file it creates an upload (`POST`, deferred length, the
//! monitor and start time as metadata), then appends whole segments as the
//! segment index shows them (`PATCH` with `Upload-Checksum: sha256` and
//! the segments' sizes in `screenrec-segments`). When the recording has
//! stopped and every byte is acknowledged, it sets each upload's final
//! length, reports the end (`PUT /api/v2/srs/recordings/{id}/end`) and
//! only then deletes the folder. Offsets come from RWS (`HEAD`) after any
//! error or restart, so nothing is sent twice and nothing is skipped.
//! RWS being down only delays all this: the spool keeps every byte.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use proto::upload::{RecordingEnd, SEGMENT_HASHES_HEADER, SEGMENTS_HEADER, meta};
use sha2::{Digest, Sha256};

use crate::Srs;
use crate::recording;
use crate::spool::{self, Manifest, RecDir, SpoolState, StreamMeta};

/// Largest PATCH body we send.
const MAX_PATCH: u64 = 8 << 20;

#[derive(Debug)]
enum UploadError {
    /// RWS no longer accepts this recording (finished or unknown): drop it.
    Gone(String),
    /// Try again later.
    Retry(String),
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadError::Gone(m) => write!(f, "gone: {m}"),
            UploadError::Retry(m) => write!(f, "{m}"),
        }
    }
}

fn retry(e: impl std::fmt::Display) -> UploadError {
    UploadError::Retry(e.to_string())
}

/// A failed request, with its cause (refused connection, untrusted certificate…).
fn net(e: reqwest::Error) -> UploadError {
    UploadError::Retry(crate::error::with_causes(&e))
}

/// Starts the uploader task: a pass over the spool at start, then one each
/// time the spool's writer says a segment is durable (or a recording
/// stopped). Only a failed pass arms a timer, the retry backoff; an idle
/// uploader does not poll.
pub fn spawn(srs: Srs) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // upload URL → offset RWS acknowledged (learnt with HEAD after a restart).
        let mut offsets: HashMap<String, u64> = HashMap::new();
        let mut failures = 0u32;
        loop {
            let ok = pass(&srs, &mut offsets).await;
            failures = if ok { 0 } else { failures.saturating_add(1) };
            if failures == 0 {
                srs.inner.upload_wake.notified().await;
            } else {
                tokio::select! {
                    () = srs.inner.upload_wake.notified() => {}
                    () = tokio::time::sleep(crate::link::backoff(failures.min(4))) => {}
                }
            }
        }
    })
}

/// One pass over the spool; false when something must be retried.
async fn pass(srs: &Srs, offsets: &mut HashMap<String, u64>) -> bool {
    let dirs = spool::recording_dirs(&srs.config().spool);
    let mut all_ok = true;
    for dir in dirs {
        let Some(m) = dir.load_manifest() else {
            continue;
        };
        match upload_recording(srs, &dir, &m, offsets).await {
            Ok(()) => {}
            Err(UploadError::Gone(why)) => {
                tracing::error!(recording = %m.recording_id, why = %proto::logsafe::escape(&why), "RWS refuses this recording's upload: removing it from the spool");
                remove_dir(srs, &dir);
            }
            Err(UploadError::Retry(why)) => {
                tracing::debug!(recording = %m.recording_id, why = %proto::logsafe::escape(&why), "upload will be retried");
                srs.set_last_error(Some(format!("upload: {why}")));
                // Ask RWS for the offsets again rather than trust ours.
                offsets.clear();
                all_ok = false;
            }
        }
    }
    // After the pass: what was sent and what was removed count.
    refresh_backlog(srs, offsets);
    srs.inner.upload_passes.fetch_add(1, Ordering::Relaxed);
    if all_ok && srs.last_error().is_some_and(|e| e.starts_with("upload:")) {
        srs.set_last_error(None);
    }
    all_ok
}

/// Recomputes the backlog of the whole spool (`/metrics`, heartbeat).
fn refresh_backlog(srs: &Srs, offsets: &HashMap<String, u64>) {
    let backlog = spool::recording_dirs(&srs.config().spool)
        .iter()
        .map(|d| unacknowledged(d, offsets))
        .sum();
    srs.inner.metrics.backlog.store(backlog, Ordering::Relaxed);
}

/// Sets the pacer to this recording's cap (the lower of `--upload-rate`
/// and RWS's); returns it in bytes/s.
fn set_pace(srs: &Srs, m: &Manifest) -> Option<u64> {
    let kbit = crate::pace::lower(srs.config().upload_rate_kbit, m.upload_rate_kbit);
    let rate = crate::pace::bytes_per_second(kbit);
    srs.inner
        .pacer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .set_rate(rate, std::time::Instant::now());
    rate
}

/// The body of a PATCH: at once when uncapped, else in chunks each sent
/// when the pacer allows.
fn paced_body(srs: &Srs, body: Vec<u8>) -> reqwest::Body {
    let rate = srs
        .inner
        .pacer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .rate();
    let Some(rate) = rate else {
        return reqwest::Body::from(body);
    };
    let chunk = crate::pace::chunk_size(rate);
    let data = std::sync::Arc::new(body);
    let srs = srs.clone();
    let stream = futures_util::stream::unfold(0usize, move |at| {
        let data = data.clone();
        let srs = srs.clone();
        async move {
            if at >= data.len() {
                return None;
            }
            let end = at.saturating_add(chunk).min(data.len());
            let wait = srs
                .inner
                .pacer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take((end - at) as u64, std::time::Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            srs.inner
                .metrics
                .uploaded
                .fetch_add((end - at) as u64, Ordering::Relaxed);
            Some((Ok::<_, std::io::Error>(data[at..end].to_vec()), end))
        }
    });
    reqwest::Body::wrap_stream(stream)
}

/// Spooled media bytes of a recording that RWS has not acknowledged (as far
/// as this process knows).
fn unacknowledged(dir: &RecDir, offsets: &HashMap<String, u64>) -> u64 {
    dir.streams()
        .iter()
        .map(|(n, _)| {
            let size = std::fs::metadata(dir.media_path(*n))
                .map(|m| m.len())
                .unwrap_or(0);
            let acked = dir
                .upload_url(*n)
                .and_then(|u| offsets.get(&u).copied())
                .unwrap_or(0);
            size.saturating_sub(acked)
        })
        .sum()
}

fn remove_dir(srs: &Srs, dir: &RecDir) {
    let _ = std::fs::remove_dir_all(dir.path());
    srs.inner
        .spool_used
        .store(spool::usage(&srs.config().spool), Ordering::Relaxed);
}

async fn upload_recording(
    srs: &Srs,
    dir: &RecDir,
    m: &Manifest,
    offsets: &mut HashMap<String, u64>,
) -> Result<(), UploadError> {
    let stopped = m.state == SpoolState::Stopped;
    let streams = dir.streams();
    let mut complete = true;
    for (n, meta_) in &streams {
        // A corrupt index is retried with its reason (in `last_error`, sent
        // to RWS with the heartbeats), never read as "no segments".
        let index = dir.index(*n).map_err(retry)?;
        let url = match dir.upload_url(*n) {
            Some(u) => u,
            None => {
                let u = create(srs, m, *n, meta_).await?;
                spool::write_private(&dir.url_path(*n), u.as_bytes()).map_err(retry)?;
                u
            }
        };
        let file = dir.media_path(*n);
        let (mut offset, final_len) = match offsets.get(&url) {
            Some(o) => (*o, None),
            None => head(srs, m, &url).await?,
        };
        offsets.insert(url.clone(), offset);
        let total = index.cipher_len();
        // Under a bandwidth cap, a PATCH holds about 4 s of traffic (still
        // at least one segment), so that an error costs little.
        let rate = set_pace(srs, m);
        let max_patch = rate.map_or(MAX_PATCH, |r| {
            r.saturating_mul(4).clamp(64 << 10, MAX_PATCH)
        });
        while offset < total {
            // Whole segments from `offset`, up to max_patch (at least one).
            let segs: Vec<_> = index
                .entries
                .iter()
                .filter(|e| e.cipher_offset >= offset)
                .scan(0u64, |size, e| {
                    *size += e.cipher_len;
                    (*size <= max_patch || *size == e.cipher_len).then_some(*e)
                })
                .collect();
            if segs.first().is_none_or(|e| e.cipher_offset != offset) {
                return Err(UploadError::Retry(format!(
                    "RWS offset {offset} is not on a segment boundary of {}",
                    file.display()
                )));
            }
            let end = segs
                .last()
                .map(|e| e.cipher_offset + e.cipher_len)
                .unwrap_or(offset);
            let body = read_range(&file, offset, end).map_err(retry)?;
            tracing::debug!(recording = %m.recording_id, stream = n, offset, end, "PATCH starting");
            offset = patch(srs, m, &url, offset, body, Some(&segs), None).await?;
            offsets.insert(url.clone(), offset);
            // A paced pass lasts long: keep the backlog figure current.
            refresh_backlog(srs, offsets);
        }
        if stopped {
            if final_len != Some(total) {
                patch(srs, m, &url, offset, Vec::new(), None, Some(total)).await?;
            }
        } else {
            complete = false;
        }
    }
    if !stopped || !complete {
        return Ok(());
    }
    let end = RecordingEnd {
        reason: m.reason.unwrap_or(proto::control::StopReason::Shutdown),
        interrupted: m.interrupted,
        stopped_at: m.stopped_at.clone().unwrap_or_else(recording::now_rfc3339),
        media_files: streams.len() as u32,
        marks: m.marks.clone(),
        apps: m.apps.clone(),
    };
    let url = format!(
        "{}/api/v2/srs/recordings/{}/end",
        m.server.trim_end_matches('/'),
        m.recording_id
    );
    let resp = srs
        .http()
        .put(&url)
        .bearer_auth(&m.upload_token)
        .json(&end)
        .send()
        .await
        .map_err(net)?;
    let status = resp.status();
    if status.is_success() {
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        tracing::info!(recording = %m.recording_id, state = %body["state"], "recording uploaded; spool folder removed");
        for (n, _) in &streams {
            if let Some(u) = dir.upload_url(*n) {
                offsets.remove(&u);
            }
        }
        remove_dir(srs, dir);
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::GONE {
        return Err(UploadError::Gone(format!("end: HTTP {status}: {text}")));
    }
    Err(UploadError::Retry(format!("end: HTTP {status}: {text}")))
}

fn read_range(file: &Path, from: u64, to: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(file)?;
    f.seek(SeekFrom::Start(from))?;
    let mut buf = vec![0u8; (to - from) as usize];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

fn classify(status: reqwest::StatusCode, what: &str, text: String) -> UploadError {
    match status.as_u16() {
        401 | 404 | 410 => UploadError::Gone(format!("{what}: HTTP {status}: {text}")),
        _ => UploadError::Retry(format!("{what}: HTTP {status}: {text}")),
    }
}

async fn create(srs: &Srs, m: &Manifest, n: usize, s: &StreamMeta) -> Result<String, UploadError> {
    let md = [
        (meta::RECORDING_ID, m.recording_id.clone()),
        (meta::STREAM, n.to_string()),
        (
            meta::MONITOR,
            serde_json::to_string(&s.monitor).unwrap_or_default(),
        ),
        (meta::STARTED_AT, s.started_at.clone()),
        (meta::FILETYPE, "video/mp4+age".into()),
    ]
    .iter()
    .map(|(k, v)| format!("{k} {}", B64.encode(v)))
    .collect::<Vec<_>>()
    .join(",");
    let resp = srs
        .http()
        .post(&m.upload_url)
        .bearer_auth(&m.upload_token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Defer-Length", "1")
        .header("Upload-Metadata", md)
        .send()
        .await
        .map_err(net)?;
    let status = resp.status();
    if status != reqwest::StatusCode::CREATED {
        return Err(classify(
            status,
            "create",
            resp.text().await.unwrap_or_default(),
        ));
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| UploadError::Retry("create: no Location".into()))?;
    let base = url::Url::parse(&m.upload_url).map_err(retry)?;
    let url = base.join(location).map_err(retry)?;
    // The upload token goes wherever Location points: only to this RWS.
    if !crate::servers::same_origin(&url, &base) {
        return Err(UploadError::Retry(format!(
            "create: RWS answered a Location on another host ({}): refused",
            proto::logsafe::escape(url.as_str())
        )));
    }
    tracing::info!(recording = %m.recording_id, stream = n, "upload created");
    Ok(url.to_string())
}

async fn head(srs: &Srs, m: &Manifest, url: &str) -> Result<(u64, Option<u64>), UploadError> {
    let resp = srs
        .http()
        .head(url)
        .bearer_auth(&m.upload_token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .map_err(net)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(classify(status, "head", String::new()));
    }
    let num = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<u64>().ok())
    };
    let offset =
        num("upload-offset").ok_or_else(|| UploadError::Retry("head: no Upload-Offset".into()))?;
    Ok((offset, num("upload-length")))
}

async fn patch(
    srs: &Srs,
    m: &Manifest,
    url: &str,
    offset: u64,
    body: Vec<u8>,
    segments: Option<&[media::crypt::IndexEntry]>,
    length: Option<u64>,
) -> Result<u64, UploadError> {
    let checksum = B64.encode(Sha256::digest(&body));
    let len = body.len() as u64;
    let mut req = srs
        .http()
        .patch(url)
        .bearer_auth(&m.upload_token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset.to_string())
        .header("Upload-Checksum", format!("sha256 {checksum}"));
    // A capped body takes len/rate to send: allow that on top of 60 s.
    let pacing = srs
        .inner
        .pacer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .rate()
        .map_or(0, |r| len / r.max(1));
    req = req.timeout(Duration::from_secs(60u64.saturating_add(pacing)));
    if let Some(segs) = segments {
        req = req.header(SEGMENTS_HEADER, media::segment_index::header(segs));
        // The hashes SRS took as it wrote each segment (spools from before
        // have none: then RWS records the plaintext hash as not provided).
        if let Some(h) = media::segment_index::hashes_header(segs) {
            req = req.header(SEGMENT_HASHES_HEADER, h);
        }
    }
    if let Some(l) = length {
        req = req.header("Upload-Length", l.to_string());
    }
    let counted = len;
    let capped = srs
        .inner
        .pacer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .rate()
        .is_some();
    if !capped {
        srs.inner
            .metrics
            .uploaded
            .fetch_add(counted, Ordering::Relaxed);
    }
    let resp = req.body(paced_body(srs, body)).send().await.map_err(net)?;
    let status = resp.status();
    if status == reqwest::StatusCode::NO_CONTENT {
        return Ok(offset + len);
    }
    let text = resp.text().await.unwrap_or_default();
    if status == reqwest::StatusCode::CONFLICT {
        // Our idea of the offset is stale: ask again next pass.
        return Err(UploadError::Retry(format!(
            "patch: offset conflict: {text}"
        )));
    }
    Err(classify(status, "patch", text))
}
