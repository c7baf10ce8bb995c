//! `GET /metrics` (Prometheus text) and the middleware that counts
//! requests and their latency into [`crate::metrics::Metrics`].

use crate::Rws;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Route layer: latency of every matched request.
pub async fn track(State(rws): State<Rws>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".into());
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    rws.metrics
        .http
        .get_or_create(&vec![
            ("method".into(), method),
            ("route".into(), route),
            ("status".into(), resp.status().as_u16().to_string()),
        ])
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// `GET /metrics`.
pub async fn scrape(State(rws): State<Rws>) -> Response {
    let m = &rws.metrics;
    for state in ["opened", "connected", "disconnected", "standby"] {
        let n = rws
            .hub
            .list(true)
            .iter()
            .filter(|s| {
                serde_json::to_value(s.state)
                    .ok()
                    .as_ref()
                    .and_then(|v| v.as_str())
                    == Some(state)
            })
            .count();
        m.sessions
            .get_or_create(&vec![("state".into(), state.into())])
            .set(n as i64);
    }
    let counts = crate::recordings::count_by_state(&rws.db)
        .await
        .unwrap_or_default();
    for state in crate::recording::RecordingState::ALL.map(|s| s.as_str()) {
        let n = counts
            .iter()
            .find(|(s, _)| s == state)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        m.recordings
            .get_or_create(&vec![("state".into(), state.into())])
            .set(n);
    }
    let oldest = crate::recordings::oldest_activity(&rws.db)
        .await
        .unwrap_or(None);
    let lag = oldest
        .as_deref()
        .and_then(crate::recording::parse_time)
        .map(|t| {
            (time::OffsetDateTime::now_utc() - t)
                .as_seconds_f64()
                .max(0.0)
        })
        .unwrap_or(0.0);
    m.upload_lag.set(lag);
    match proto::metrics_text::render(&m.registry) {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(proto::metrics_text::CONTENT_TYPE),
            )],
            body,
        )
            .into_response(),
        Err(_) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "encoding metrics failed",
        )
            .into_response(),
    }
}
