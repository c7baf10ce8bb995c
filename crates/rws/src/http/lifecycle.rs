//! `GET /api/v2/recordings/events`: recording state changes as
//! server-sent events, filtered by what the viewer may see. The events are
//! published by [`crate::lifecycle`].

use crate::Rws;
use crate::error::ApiError;
use crate::http::authz::Viewer;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::time::Duration;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

/// `GET /api/v2/recordings/events`: server-sent events, one per state change.
pub async fn sse(
    State(rws): State<Rws>,
    Viewer { user, visibility }: Viewer,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // The same visibility as the REST endpoints (rule 7): a supervisor gets
    // the events of their groups' agents only.
    if !(user.has("admin") || user.has("supervisor")) {
        return Err(ApiError::Forbidden(
            "this needs the role admin or supervisor".into(),
        ));
    }
    let stream = BroadcastStream::new(rws.lifecycle.subscribe()).filter_map(move |item| {
        let event = item.ok()?;
        if !visibility.sees(&event.agent) {
            return None;
        }
        Some(Ok(Event::default()
            .event("recording")
            .id(event.event_id.clone())
            .data(serde_json::to_string(&event).unwrap_or_default())))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
