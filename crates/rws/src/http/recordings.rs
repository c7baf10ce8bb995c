//! The read path: `GET /api/v2/recordings/{call_id}` (the GIR recording
//! resource) and `…/play|download/{mediaId}` (decrypting playback with
//! Range). The recording rules are [`crate::recording`]'s, their
//! application [`crate::recordings`]'.

use crate::Rws;
use crate::error::ApiError;
use crate::http::authz::Viewer;
use crate::recording::{Rec, RecordingState, parse_time, rfc3339};
use crate::recordings::{read_cipher, staged_or_stored};
use crate::store::recordings::{labels_of, of_call};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use media::crypt::decrypt_segment;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

fn offset_ms(from: &str, to: &str) -> Option<i64> {
    let (a, b) = (parse_time(from)?, parse_time(to)?);
    Some((b - a).whole_milliseconds() as i64)
}

// The JSON bodies below are `Serialize` structs. Their fields are declared
// in the byte order of their JSON names: that is the order `json!` (a
// sorted map) wrote them in before, so the bytes on the wire did not change
// (`tests::fields_are_in_json_name_order` keeps it so).

/// `GET /api/v2/recordings/{call_id}`: a call's screen recordings in the
/// GIR recording-resource shape.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecordings {
    id: String,
    media_files: Vec<MediaFile>,
    screen_recordings: Vec<ScreenRecording>,
    start_time: Option<String>,
    stop_time: Option<String>,
}

/// One media file of a call (GIR `mediaFiles[]`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFile {
    duration: String,
    media_id: String,
    media_uri: String,
    parameters: MediaParameters,
    size: String,
    start_time: String,
    stop_time: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `mediaFiles[].parameters`: screenrec's own facts about a media file.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaParameters {
    agent_id: String,
    conn_id: String,
    monitor: Value,
    monitor_geometry: Value,
    recording_id: String,
    state: RecordingState,
    stored: bool,
    stream: String,
    upload_complete: bool,
    uploaded_bytes: String,
}

/// One screen recording of a call (`screenRecordings[]`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScreenRecording {
    agent_id: String,
    caller_phone_number: Option<String>,
    conn_id: String,
    dialed_phone_number: Option<String>,
    dn: Option<String>,
    hold_reason: Option<String>,
    id: String,
    interactions: Vec<InteractionLink>,
    labels: Vec<String>,
    legal_hold: bool,
    marks: Vec<Mark>,
    media: String,
    reason: Option<String>,
    start_time: String,
    state: RecordingState,
    stop_time: Option<String>,
}

/// An interaction a screen recording overlaps, with offsets into it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InteractionLink {
    dn: Option<String>,
    id: String,
    media: String,
    start_offset: Option<String>,
    start_time: String,
    stop_offset: Option<String>,
    stop_time: Option<String>,
}

/// A mark on a recording's timeline: a pause or resume, a masked span's
/// start or end, or (`type` `app`) the agent switching to another window:
/// then `class` (also the `reason`) and `title` (`null` when the directory
/// keeps no titles; a masked window's is the masking rule's name).
#[derive(Debug, Serialize)]
pub struct Mark {
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<String>,
    offset: Option<String>,
    reason: String,
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<Option<String>>,
    #[serde(rename = "type")]
    kind: String,
}

/// One recording as the search lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingSummary {
    agent_id: String,
    call_id: String,
    caller_phone_number: Option<String>,
    dialed_phone_number: Option<String>,
    dn: Option<String>,
    duration: String,
    has_pause: bool,
    id: String,
    labels: Vec<String>,
    legal_hold: bool,
    media: String,
    media_files: Vec<SummaryFile>,
    reason: Option<String>,
    start_time: String,
    state: RecordingState,
    stop_time: Option<String>,
}

/// A media file in a search result.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryFile {
    duration: String,
    media_id: String,
    media_uri: String,
    monitor: Value,
    size: String,
    stored: bool,
}

/// `GET /api/v2/recordings/{call_id}` (admin, supervisor): the call's
/// screen recordings in the GIR recording-resource shape.
pub async fn resource(
    State(rws): State<Rws>,
    Path(call_id): Path<String>,
    Viewer {
        visibility: vis, ..
    }: Viewer,
) -> Result<axum::Json<CallRecordings>, ApiError> {
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
            media_files.push(MediaFile {
                media_uri: format!("/api/v2/recordings/{call_id}/play/{}", m.id),
                media_id: m.id,
                kind: "video/mp4",
                start_time: m.started_at,
                stop_time,
                duration: m.end_ms.to_string(),
                size: size.to_string(),
                parameters: MediaParameters {
                    agent_id: rec.username.clone(),
                    conn_id: rec.interaction_id.clone(),
                    recording_id: rec.id.clone(),
                    stream: m.stream.to_string(),
                    monitor: monitor.get("name").cloned().unwrap_or(Value::Null),
                    monitor_geometry: monitor,
                    state: rec.state,
                    stored: m.object_path.is_some(),
                    uploaded_bytes: m.upload_offset.to_string(),
                    upload_complete: m.upload_length == Some(m.upload_offset),
                },
            });
        }
        let links = crate::store::recordings::links_of(&rws.db, &rec.id).await?;
        let interactions: Vec<InteractionLink> = links
            .into_iter()
            .map(|l| InteractionLink {
                start_offset: offset_ms(&rec_start, &l.start_at).map(|o| o.max(0).to_string()),
                stop_offset: l
                    .end_at
                    .as_deref()
                    .and_then(|e| offset_ms(&rec_start, e))
                    .map(|o| o.max(0).to_string()),
                id: l.interaction_id,
                media: l.media,
                dn: l.dn,
                start_time: l.start_at,
                stop_time: l.end_at,
            })
            .collect();
        let marks = crate::store::recordings::timeline_of(&rws.db, &rec.id).await?;
        let marks: Vec<Mark> = marks
            .into_iter()
            .map(|(at, kind, reason, title)| {
                let app = kind == "app";
                Mark {
                    offset: offset_ms(&rec_start, &at).map(|o| o.max(0).to_string()),
                    time: at,
                    class: app.then(|| reason.clone()),
                    title: app.then_some(title),
                    kind,
                    reason,
                }
            })
            .collect();
        let labels = labels_of(&rws.db, &rec.id).await?;
        screen.push(ScreenRecording {
            labels,
            legal_hold: rec.legal_hold,
            hold_reason: rec.hold_reason.clone(),
            caller_phone_number: rec.ani.clone(),
            dialed_phone_number: rec.dnis.clone(),
            id: rec.id.clone(),
            agent_id: rec.username.clone(),
            dn: rec.dn.clone(),
            conn_id: rec.interaction_id.clone(),
            media: rec.media.clone(),
            state: rec.state,
            reason: rec.reason.clone(),
            start_time: rec_start,
            stop_time: rec.stopped_at.clone(),
            interactions,
            marks,
        });
    }
    Ok(axum::Json(CallRecordings {
        id: call_id,
        start_time: start,
        stop_time: stop,
        media_files,
        screen_recordings: screen,
    }))
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

/// `GET /api/v2/recordings/{call_id}/play/{mediaId}` (admin, supervisor):
/// the decrypted MP4, with HTTP Range (one range; several get the whole file).
pub async fn play(
    State(rws): State<Rws>,
    headers: HeaderMap,
    remote: crate::http::authz::Remote,
    Path((call_id, media_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    serve_media(rws, headers, remote.0, call_id, media_id, false).await
}

/// `GET /api/v2/recordings/{call_id}/download/{mediaId}`: the decrypted MP4
/// as an attachment; every download is audited.
pub async fn download(
    State(rws): State<Rws>,
    headers: HeaderMap,
    remote: crate::http::authz::Remote,
    Path((call_id, media_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    serve_media(rws, headers, remote.0, call_id, media_id, true).await
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
pub async fn summary(rws: &Rws, rec: &Rec) -> Result<RecordingSummary, ApiError> {
    let media = crate::store::media::of_recording(&rws.db, &rec.id).await?;
    let labels = labels_of(&rws.db, &rec.id).await?;
    let paused = crate::store::recordings::pause_count(&rws.db, &rec.id).await?;
    let mut files: Vec<SummaryFile> = Vec::with_capacity(media.len());
    for m in &media {
        let size = crate::store::media::plain_size(&rws.db, &m.id).await?;
        let monitor: Value = serde_json::from_str(&m.monitor).unwrap_or(Value::Null);
        files.push(SummaryFile {
            media_id: m.id.clone(),
            media_uri: format!("/api/v2/recordings/{}/play/{}", rec.interaction_id, m.id),
            duration: m.end_ms.to_string(),
            size: size.to_string(),
            monitor,
            stored: m.object_path.is_some(),
        });
    }
    let duration = media.iter().map(|m| m.end_ms).max().unwrap_or(0);
    Ok(RecordingSummary {
        id: rec.id.clone(),
        call_id: rec.interaction_id.clone(),
        agent_id: rec.username.clone(),
        dn: rec.dn.clone(),
        media: rec.media.clone(),
        state: rec.state,
        reason: rec.reason.clone(),
        start_time: rec.started_at.clone().unwrap_or(rec.requested_at.clone()),
        stop_time: rec.stopped_at.clone(),
        duration: duration.to_string(),
        caller_phone_number: rec.ani.clone(),
        dialed_phone_number: rec.dnis.clone(),
        labels,
        has_pause: paused > 0,
        legal_hold: rec.legal_hold,
        media_files: files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{parse_time, rfc3339};

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    /// Every field filled (an absent field would hide a misplaced one).
    #[test]
    fn fields_are_in_json_name_order() {
        let s = |v: &str| v.to_string();
        let call = CallRecordings {
            id: s("call"),
            media_files: vec![MediaFile {
                duration: s("1"),
                media_id: s("m"),
                media_uri: s("/u"),
                parameters: MediaParameters {
                    agent_id: s("a"),
                    conn_id: s("c"),
                    monitor: Value::from("HDMI-1"),
                    monitor_geometry: serde_json::json!({"name": "HDMI-1", "width": 1}),
                    recording_id: s("r"),
                    state: RecordingState::Completed,
                    stored: true,
                    stream: s("0"),
                    upload_complete: true,
                    uploaded_bytes: s("9"),
                },
                size: s("9"),
                start_time: s("t0"),
                stop_time: s("t1"),
                kind: "video/mp4",
            }],
            screen_recordings: vec![ScreenRecording {
                agent_id: s("a"),
                caller_phone_number: some("1"),
                conn_id: s("c"),
                dialed_phone_number: some("2"),
                dn: some("dn"),
                hold_reason: some("why"),
                id: s("r"),
                interactions: vec![InteractionLink {
                    dn: some("dn"),
                    id: s("i"),
                    media: s("voice"),
                    start_offset: some("0"),
                    start_time: s("t0"),
                    stop_offset: some("5"),
                    stop_time: some("t1"),
                }],
                labels: vec![s("l")],
                legal_hold: true,
                marks: vec![Mark {
                    class: some("app"),
                    offset: some("1"),
                    reason: s("agent"),
                    time: s("t"),
                    title: Some(None),
                    kind: s("pause"),
                }],
                media: s("voice"),
                reason: some("x"),
                start_time: s("t0"),
                state: RecordingState::Partial,
                stop_time: some("t1"),
            }],
            start_time: some("t0"),
            stop_time: some("t1"),
        };
        crate::http::assert_json_order(&call);
        let summary = RecordingSummary {
            agent_id: s("a"),
            call_id: s("c"),
            caller_phone_number: some("1"),
            dialed_phone_number: some("2"),
            dn: some("dn"),
            duration: s("1"),
            has_pause: true,
            id: s("r"),
            labels: vec![s("l")],
            legal_hold: false,
            media: s("voice"),
            media_files: vec![SummaryFile {
                duration: s("1"),
                media_id: s("m"),
                media_uri: s("/u"),
                monitor: serde_json::json!({"name": "HDMI-1"}),
                size: s("9"),
                stored: true,
            }],
            reason: None,
            start_time: s("t0"),
            state: RecordingState::Recording,
            stop_time: None,
        };
        crate::http::assert_json_order(&summary);
    }

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
