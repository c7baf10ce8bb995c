//! Contact-centre events taken in (`POST /api/v2/events`, handler
//! [`crate::http::events`], which checks each event's shape): kept once
//! (a duplicate is counted, not stored twice), then handed to
//! [`crate::dispatch`], which starts and stops recordings; and the
//! timeline of one call or interaction as it was received.

use crate::Rws;
use crate::compliance::Visibility;
use crate::error::ApiError;
use crate::store;

/// One checked event, ready to keep.
pub use crate::store::events::NewEvent;

/// What became of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intake {
    /// Kept (new).
    pub accepted: u64,
    /// Already there (same event id), ignored.
    pub duplicates: u64,
}

/// Keeps the batch, lets dispatch act on the calls and interactions it
/// names, and counts it in the metrics.
pub async fn accept(rws: &Rws, checked: &[NewEvent]) -> Result<Intake, ApiError> {
    let received = crate::recording::now();
    let accepted = store::events::insert_all(&rws.db, checked, &received).await?;
    let calls = checked.iter().filter_map(|e| e.call_id.clone()).collect();
    let interactions = checked
        .iter()
        .filter_map(|e| e.interaction_id.clone())
        .collect();
    crate::dispatch::on_events(rws, calls, interactions).await;
    let duplicates = checked.len() as u64 - accepted;
    crate::metrics::event(rws, "accepted", accepted);
    crate::metrics::event(rws, "duplicate", duplicates);
    tracing::debug!(accepted, duplicates, "events received");
    Ok(Intake {
        accepted,
        duplicates,
    })
}

/// The bodies of the events of call or interaction `id`, in timestamp
/// order. Someone who sees only some agents gets them only when the call
/// was recorded for one of those; else (and when there is none) 404.
pub async fn timeline(rws: &Rws, id: &str, vis: &Visibility) -> Result<Vec<String>, ApiError> {
    if let Visibility::Agents(agents) = vis {
        let recorded_for = store::recordings::agents_of_interaction(&rws.db, id).await?;
        if !recorded_for.iter().any(|u| agents.contains(u)) {
            return Err(ApiError::NotFound(format!("no events for '{id}'")));
        }
    }
    Ok(store::events::bodies_of(&rws.db, id).await?)
}
