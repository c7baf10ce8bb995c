//! The body deadline middleware (`--body-timeout`, `--body-min-rate`).
//! The limits themselves and the connection cap are [`crate::limits`]'.

use crate::error::ApiError;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Middleware: the request body must keep to the deadline of [`Limits`];
/// when it does not, the answer is 408 and the connection is closed.
pub async fn body_deadline(
    axum::extract::State(rws): axum::extract::State<crate::Rws>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // No body (GET, WebSocket upgrades): nothing to time. Asked of the
    // body, not of Content-Length, so HTTP/2 bodies are timed too.
    if axum::body::HttpBody::is_end_stream(req.body()) {
        return next.run(req).await;
    }
    let limits = &rws.config.limits;
    let (grace, rate) = (limits.body_timeout, limits.body_min_rate.max(1));
    let start = tokio::time::Instant::now();
    let late = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let stream = futures_util::stream::unfold(
        (body.into_data_stream(), 0u64, Some(Arc::clone(&late))),
        move |(mut data, received, late)| async move {
            let late = late?;
            // One second more per `rate` bytes received; saturating: a
            // client's byte count never overflows the deadline.
            let extra = Duration::from_secs(received / rate);
            let deadline = start + grace.saturating_add(extra);
            match tokio::time::timeout_at(deadline, data.next()).await {
                Ok(Some(Ok(chunk))) => {
                    let received = received.saturating_add(chunk.len() as u64);
                    Some((Ok(chunk), (data, received, Some(late))))
                }
                Ok(Some(Err(e))) => Some((Err(e), (data, received, None))),
                Ok(None) => None,
                Err(_) => {
                    late.store(true, Ordering::Relaxed);
                    let e = axum::Error::new(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request body too slow",
                    ));
                    Some((Err(e), (data, received, None)))
                }
            }
        },
    );
    let req = axum::extract::Request::from_parts(parts, Body::from_stream(stream));
    let resp = next.run(req).await;
    if late.load(Ordering::Relaxed) {
        tracing::info!(timeout = ?grace, "request body too slow: connection closed");
        let mut resp = ApiError::Status(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive in time ({} s, plus 1 s per {rate} bytes received)",
                grace.as_secs()
            ),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    resp
}
