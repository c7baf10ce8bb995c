//! A recording uploaded as SRS does it: one tus upload with a deferred
//! length, one PATCH of an encrypted segment (with the segments header and
//! a checksum) every `segment_every`, the final length, the end report.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use proto::control::StopReason;
use proto::upload::{RecordingEnd, SEGMENTS_HEADER, meta};
use reqwest::StatusCode;
use sha2::Digest;
use tokio::sync::watch;

use super::Shared;
use super::request::{Retry, request};
use super::sessions::{monitor, now};

/// Uploads one recording as SRS does: one tus upload (deferred length), a
/// PATCH of one encrypted segment every `segment_every` with the segments
/// header, the final length once stopped, then the end report.
pub(super) async fn upload(
    s: &Shared,
    recording_id: &str,
    recipients: &[String],
    upload_url: &str,
    token: &str,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let recipients = recipients
        .iter()
        .map(|r| media::crypt::parse_recipient(r))
        .collect::<Result<Vec<_>, _>>()?;
    // One age stream, sent as every segment: each PATCH is still a complete
    // age stream RWS can open, and the load generator spends its CPU on
    // sending rather than encrypting.
    let plain = vec![0u8; s.segment_bytes];
    let cipher = Arc::new(media::crypt::encrypt_segment(&plain, &recipients)?);
    let checksum = B64.encode(sha2::Sha256::digest(cipher.as_slice()));
    let started_at = now();
    let md = [
        (meta::RECORDING_ID, recording_id.to_string()),
        (meta::STREAM, "0".to_string()),
        (meta::MONITOR, serde_json::to_string(&monitor())?),
        (meta::STARTED_AT, started_at),
        (meta::FILETYPE, "video/mp4+age".to_string()),
    ]
    .iter()
    .map(|(k, v)| format!("{k} {}", B64.encode(v)))
    .collect::<Vec<_>>()
    .join(",");
    // RWS may give the creation URL relative to itself, as SRS resolves it.
    let upload_url = url::Url::parse(&format!("{}/", s.url))?.join(upload_url)?;
    let r = request("create", StatusCode::CREATED, Retry::Never, || {
        s.http
            .post(upload_url.clone())
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Defer-Length", "1")
            .header("Upload-Metadata", &md)
    })
    .await?;
    let location = r
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .context("create: no Location")?;
    let url = upload_url.join(location)?.to_string();
    let mut offset = 0u64;
    let mut end_ms = 0u64;
    let mut tick = tokio::time::interval(s.segment_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        end_ms += s.segment_every.as_millis() as u64;
        let header = format!("{}:{}:{end_ms}", cipher.len(), plain.len());
        let what = format!("PATCH at {offset}");
        request(&what, StatusCode::NO_CONTENT, Retry::Never, || {
            s.http
                .patch(&url)
                .bearer_auth(token)
                .header("Tus-Resumable", "1.0.0")
                .header("Content-Type", "application/offset+octet-stream")
                .header("Upload-Offset", offset.to_string())
                .header("Upload-Checksum", format!("sha256 {checksum}"))
                .header(SEGMENTS_HEADER, &header)
                .body(cipher.as_slice().to_vec())
        })
        .await?;
        offset += cipher.len() as u64;
        s.upload_bytes
            .fetch_add(cipher.len() as u64, Ordering::Relaxed);
    }
    request("final PATCH", StatusCode::NO_CONTENT, Retry::Never, || {
        s.http
            .patch(&url)
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset.to_string())
            .header("Upload-Length", offset.to_string())
    })
    .await?;
    let end = RecordingEnd {
        reason: StopReason::CallReleased,
        interrupted: false,
        stopped_at: now(),
        media_files: 1,
        marks: Vec::new(),
        apps: Vec::new(),
    };
    let end_url = upload_url.join(&format!("/api/v2/srs/recordings/{recording_id}/end"))?;
    request("end", StatusCode::OK, Retry::Never, || {
        s.http.put(end_url.clone()).bearer_auth(token).json(&end)
    })
    .await?;
    s.recordings_ended.fetch_add(1, Ordering::Relaxed);
    Ok(())
}
