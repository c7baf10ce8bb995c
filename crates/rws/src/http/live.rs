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
