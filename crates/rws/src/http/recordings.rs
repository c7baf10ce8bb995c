//! The read path: `GET /api/v2/recordings/{call_id}` (the GIR recording
//! resource) and `…/play|download/{mediaId}` (decrypting playback with
//! Range). The facts come from [`crate::call_view`] and
//! [`crate::playback`] (which maps a Range to a read plan); this module
//! shapes them into the GIR JSON and the HTTP answer.

use crate::Rws;
use crate::call_view::MediaView;
use crate::error::ApiError;
use crate::http::authz::Viewer;
use crate::playback::{PlayRequest, Served};
use crate::recording::{Rec, RecordingState, parse_time, rfc3339};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
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
    let views = crate::call_view::of_call(&rws, &call_id, &vis).await?;
    let mut media_files = Vec::new();
    let mut screen = Vec::new();
    let mut start: Option<String> = None;
    let mut stop: Option<String> = None;
    for view in views {
        let rec = view.rec;
        let rec_start = rec.started_at.clone().unwrap_or(rec.requested_at.clone());
        if start.as_ref().is_none_or(|s| rec_start < *s) {
            start = Some(rec_start.clone());
        }
        if let Some(s) = &rec.stopped_at
            && stop.as_ref().is_none_or(|t| s > t)
        {
            stop = Some(s.clone());
        }
        for MediaView {
            row: m,
            plain_size: size,
        } in view.media
        {
            let monitor: Value = serde_json::from_str(&m.monitor).unwrap_or(Value::Null);
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
        let interactions: Vec<InteractionLink> = view
            .links
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
        let marks: Vec<Mark> = view
            .marks
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
        screen.push(ScreenRecording {
            labels: view.labels,
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

/// Authenticates, hands the request (with the `Range` header's text) to
/// [`crate::playback::serve`] and renders its answer.
async fn serve_media(
    rws: Rws,
    headers: HeaderMap,
    remote: Option<std::net::SocketAddr>,
    call_id: String,
    media_id: String,
    attachment: bool,
) -> Result<Response, ApiError> {
    let (user, vis) = crate::compliance::viewer(&rws, &headers).await?;
    let req = PlayRequest {
        call_id: &call_id,
        media_id: &media_id,
        range: headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        download: attachment,
    };
    let playback = match crate::playback::serve(&rws, (&user, &vis), req, remote).await? {
        Served::Media(p) => p,
        Served::Unsatisfiable { len } => {
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
    let mut resp = Response::new(Body::from_stream(playback.body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(v) = HeaderValue::from_str(&playback.body_len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if attachment && let Some(v) = content_disposition(&call_id, &format!("{media_id}.mp4")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some((start, end)) = playback.range {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let len = playback.len;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

/// `Content-Disposition` of a download named after its call:
/// `attachment; filename="{call}-{rest}"`, where every character of the
/// call id (which comes from the telephony side) other than an ASCII
/// letter, digit or `-` becomes `_`, so it can neither end the quoted name
/// nor the header. `None` when `rest` itself is not a valid header value.
pub(crate) fn content_disposition(call_id: &str, rest: &str) -> Option<HeaderValue> {
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
    HeaderValue::from_str(&format!("attachment; filename=\"{safe}-{rest}\"")).ok()
}

/// One recording as the search lists it.
pub async fn summary(rws: &Rws, rec: &Rec) -> Result<RecordingSummary, ApiError> {
    let view = crate::call_view::summary(rws, rec).await?;
    let duration = view.media.iter().map(|m| m.row.end_ms).max().unwrap_or(0);
    let files: Vec<SummaryFile> = view
        .media
        .into_iter()
        .map(|MediaView { row: m, plain_size }| SummaryFile {
            media_uri: format!("/api/v2/recordings/{}/play/{}", rec.interaction_id, m.id),
            media_id: m.id,
            duration: m.end_ms.to_string(),
            size: plain_size.to_string(),
            monitor: serde_json::from_str(&m.monitor).unwrap_or(Value::Null),
            stored: m.object_path.is_some(),
        })
        .collect();
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
        labels: view.labels,
        has_pause: view.has_pause,
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

    /// A hostile call id (quotes, CR LF, a path, non-ASCII) cannot end the
    /// file name or the header; a plain one is kept as it is.
    #[test]
    fn attachment_names_are_safe() {
        let v = content_disposition("call-1", "m.mp4").unwrap_or_else(|| panic!("a header"));
        assert_eq!(v, "attachment; filename=\"call-1-m.mp4\"");
        let v = content_disposition("a\"b\r\nX-Evil: 1/../é", "e.zip")
            .unwrap_or_else(|| panic!("a header"));
        assert_eq!(v, "attachment; filename=\"a_b__X-Evil__1_____-e.zip\"");
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
