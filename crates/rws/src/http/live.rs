//! `GET /api/v2/live/{agent}?monitor=N`: an agent's screen, live, as
//! fragmented MP4 (`video/mp4`, chunked) for Media Source Extensions. Who
//! may watch, the viewer caps, the audit and the stream itself are
//! [`crate::live`]'s.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::Rws;
use crate::error::ApiError;
use crate::http::authz::{Remote, Viewer};

/// The query: which monitor (stream number, from 0).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveQuery {
    /// Monitor number (default 0).
    #[serde(default)]
    monitor: u32,
}

/// `GET /api/v2/live/{agent}` (supervisor of the agent's groups, admin).
pub async fn watch(
    State(rws): State<Rws>,
    viewer: Viewer,
    remote: Remote,
    Path(agent): Path<String>,
    query: Result<Query<LiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    // Authorised first (the extractors above), then the query's mistakes
    // named: `monitor` must be a number from 0.
    let Query(q) = query.map_err(|e| {
        ApiError::invalid(format!(
            "{} (parameter: monitor, a number from 0 to {})",
            e.body_text(),
            crate::live::MAX_MONITOR
        ))
    })?;
    let view = crate::live::open(
        &rws,
        &viewer.user,
        &viewer.visibility,
        &agent,
        q.monitor,
        remote.0,
    )
    .await?;
    let mut resp = Response::new(Body::from_stream(view.stream()));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(resp)
}

/// `PUT /api/v2/srs/previews/{id}/{stream}/{seq}`: one encrypted segment of
/// an on-demand live preview, from the agent's SRS with the preview's
/// token ([`crate::preview`]), on any node. 404 when no such preview runs
/// (SRS then stops it), 401 without the right token, 410 once it is over.
pub async fn preview_segment(
    State(rws): State<Rws>,
    headers: axum::http::HeaderMap,
    Path((id, stream, seq)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<axum::http::StatusCode, ApiError> {
    let token = crate::auth::bearer_token(&headers).unwrap_or_default();
    let preview = crate::preview::authorised(&rws, &id, &token).await?;
    let stream: u32 = stream
        .parse()
        .ok()
        .filter(|s| *s <= crate::live::MAX_MONITOR)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "stream must be a number from 0 to {}",
                crate::live::MAX_MONITOR
            ))
        })?;
    let seq: u64 = seq
        .parse()
        .map_err(|_| ApiError::invalid("seq must be a non-negative number"))?;
    crate::preview::put(&rws, &preview, stream, seq, body).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
