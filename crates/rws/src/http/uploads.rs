//! tus 1.0 under `/api/v2/srs/uploads` and `PUT
//! /api/v2/srs/recordings/{id}/end`: the HTTP side (tus headers, status
//! codes, the `Tus-Resumable` check). Appending, finishing and storing are
//! [`crate::uploads`]'s.

use crate::Rws;
use crate::agent_input;
use crate::error::ApiError;
use crate::recording::RecordingState;
use crate::recording::rules;
use crate::recordings;
use crate::store;
use crate::uploads::{
    EXTENSIONS, MAX_MARKS, MAX_SIZE, TUS_VERSION, check_version, create_inner, offset_headers,
    patch_inner, recording_of, tus_error, tus_headers, upload_of,
};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use proto::upload::RecordingEnd;

/// `OPTIONS /api/v2/srs/uploads`: what this server supports.
pub async fn options() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut resp);
    let h = resp.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-extension", HeaderValue::from_static(EXTENSIONS));
    h.insert(
        "tus-checksum-algorithm",
        HeaderValue::from_static("sha1,sha256"),
    );
    if let Ok(v) = HeaderValue::from_str(&MAX_SIZE.to_string()) {
        h.insert("tus-max-size", v);
    }
    resp
}

/// `POST /api/v2/srs/uploads`: creates the upload of one media file.
pub async fn create(State(rws): State<Rws>, headers: HeaderMap) -> Response {
    create_inner(&rws, &headers).await.unwrap_or_else(tus_error)
}

/// `HEAD /api/v2/srs/uploads/{id}`: the offset to resume from.
pub async fn head(State(rws): State<Rws>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    async {
        let rec = recording_of(&rws, &headers).await?;
        check_version(&headers)?;
        let up = upload_of(&rws, &rec, &id).await?;
        let mut resp = StatusCode::OK.into_response();
        tus_headers(&mut resp);
        offset_headers(&mut resp, &up);
        Ok::<_, ApiError>(resp)
    }
    .await
    .unwrap_or_else(tus_error)
}

/// `PATCH /api/v2/srs/uploads/{id}`: appends bytes at `Upload-Offset`.
pub async fn patch(
    State(rws): State<Rws>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Response {
    patch_inner(&rws, &headers, &id, body)
        .await
        .unwrap_or_else(tus_error)
}

/// `DELETE /api/v2/srs/uploads/{id}` (termination).
pub async fn terminate(
    State(rws): State<Rws>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    async {
        let rec = recording_of(&rws, &headers).await?;
        check_version(&headers)?;
        let up = upload_of(&rws, &rec, &id).await?;
        // Until the recording is final its uploads may be withdrawn, as
        // tus termination allows; after that they are the recording.
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
            .delete_staging(&id)
            .await
            .map_err(ApiError::Internal)?;
        store::media::delete(&rws.db, &id).await?;
        tracing::info!(recording = %rec.id, media = %id, "upload terminated");
        let mut resp = StatusCode::NO_CONTENT.into_response();
        tus_headers(&mut resp);
        Ok(resp)
    }
    .await
    .unwrap_or_else(tus_error)
}

/// `PUT /api/v2/srs/recordings/{id}/end`: SRS has uploaded every media
/// file of the recording; RWS finishes it.
pub async fn end(
    State(rws): State<Rws>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Ended>, ApiError> {
    agent_input::uuid("recording", &id)?;
    let rec = recording_of(&rws, &headers).await?;
    if rec.id != id {
        return Err(ApiError::Forbidden(format!(
            "this upload token is for recording {}, not {id}",
            rec.id
        )));
    }
    let end: RecordingEnd = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!(
            "request body: {e} (expected {{\"reason\", \"interrupted\", \"stopped_at\", \"media_files\", \"marks\"}})"
        ))
    })?;
    // A replayed end (its answer was lost, or a rogue agent's replay)
    // changes nothing once the recording is final: no marks are added.
    if rec.state.is_final() || rec.end_reported {
        return Ok(Json(Ended {
            id: rec.id,
            state: rec.state.as_str(),
        }));
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
    for (mid, _, _) in &open {
        crate::uploads::store(&rws, mid).await?;
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
    recordings::transition(&rws, &rec.id, RecordingState::Finalizing, Some(&reason)).await?;
    recordings::try_finish(&rws, &rec.id).await?;
    let state = recordings::get(&rws.db, &rec.id)
        .await?
        .map(|r| r.state.as_str())
        .unwrap_or_default();
    Ok(Json(Ended { id: rec.id, state }))
}

/// The timeline marks an end report may carry: pause spans, masked spans,
/// and the gap of an SRS restart (`crate::restart`).
const MARK_KINDS: [&str; 6] = ["paused", "resumed", "masked", "unmasked", "gap", "gap_end"];

/// `PUT /api/v2/srs/recordings/{id}/end`: the recording's state after the
/// report.
#[derive(Debug, serde::Serialize)]
pub struct Ended {
    id: String,
    state: &'static str,
}

#[cfg(test)]
mod json_order_tests {
    use super::*;
    use crate::http::assert_json_order;

    #[test]
    fn fields_are_in_json_name_order() {
        assert_json_order(&Ended {
            id: "r".into(),
            state: "completed",
        });
    }
}
