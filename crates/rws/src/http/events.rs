//! Event intake: `POST /api/v2/events`, authenticated by the integration
//! token (`Authorization: Bearer …`). The body is one event or an array.
//! Intake is idempotent by event `id` (a repeated id is counted as a
//! duplicate and changes nothing) and tolerant of out-of-order arrival:
//! events are kept with their own timestamps and read back in timestamp
//! order (`GET /api/v2/interactions/{id}/events`), which is the timeline the
//! player will show. Event types and fields: `docs/events.md`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::Rws;
use crate::auth;
use crate::error::ApiError;
use crate::http::authz::Viewer;

/// Voice event types (they need `call_id`).
pub const VOICE_TYPES: [&str; 10] = [
    "call.established",
    "call.released",
    "call.held",
    "call.retrieved",
    "call.transferred",
    "call.conferenced",
    "recording.started",
    "recording.stopped",
    "recording.paused",
    "recording.resumed",
];

/// Non-voice event types (they need `interaction_id`).
pub const INTERACTION_TYPES: [&str; 2] = ["interaction.started", "interaction.ended"];

/// Largest number of events in one request.
pub const MAX_BATCH: usize = 1000;

type Checked = crate::events::NewEvent;

fn text(event: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, ApiError> {
    match event.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(format!(
            "{at}'{key}' must be a non-empty string"
        ))),
    }
}

fn check(value: &Value, at: &str) -> Result<Checked, ApiError> {
    let Value::Object(event) = value else {
        return Err(ApiError::invalid(format!(
            "{at}an event must be a JSON object"
        )));
    };
    let required = |key: &str| -> Result<String, ApiError> {
        text(event, key, at)?.ok_or_else(|| ApiError::invalid(format!("{at}'{key}' is required")))
    };
    let id = required("id")?;
    let kind = required("type")?;
    let voice = VOICE_TYPES.contains(&kind.as_str());
    if !voice && !INTERACTION_TYPES.contains(&kind.as_str()) {
        return Err(ApiError::invalid(format!(
            "{at}'type' '{kind}' is unknown (one of {}, {})",
            VOICE_TYPES.join(", "),
            INTERACTION_TYPES.join(", ")
        )));
    }
    let raw_ts = required("timestamp")?;
    // Stored in RWS's one fixed-width UTC form, so events sort by time.
    let ts = crate::recording::parse_time(&raw_ts)
        .map(crate::recording::rfc3339)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "{at}'timestamp' must be RFC 3339 (2026-01-05T10:00:00Z), got '{raw_ts}'"
            ))
        })?;
    let call_id = text(event, "call_id", at)?;
    let interaction_id = text(event, "interaction_id", at)?;
    if voice && call_id.is_none() {
        return Err(ApiError::invalid(format!(
            "{at}'call_id' is required for {kind}"
        )));
    }
    if !voice && interaction_id.is_none() {
        return Err(ApiError::invalid(format!(
            "{at}'interaction_id' is required for {kind}"
        )));
    }
    let dn = text(event, "dn", at)?;
    let switch = text(event, "switch", at)?;
    if voice && (dn.is_none() || switch.is_none()) {
        return Err(ApiError::invalid(format!(
            "{at}'dn' and 'switch' are required for {kind}"
        )));
    }
    for key in ["media", "queue", "agent", "direction", "ani", "dnis"] {
        text(event, key, at)?;
    }
    if let Some(data) = event.get("attached_data")
        && !data.is_object()
    {
        return Err(ApiError::invalid(format!(
            "{at}'attached_data' must be an object"
        )));
    }
    Ok(Checked {
        id,
        kind,
        call_id,
        interaction_id,
        dn,
        switch,
        ts,
        body: value.to_string(),
    })
}

/// `POST /api/v2/events`.
pub async fn intake(
    State(rws): State<Rws>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Accepted>, ApiError> {
    let Some(expected) = rws.config.integration_token.as_deref() else {
        return Err(ApiError::Unauthenticated(
            "event intake is off: start RWS with --integration-token-file (or SCREENREC_INTEGRATION_TOKEN)".into(),
        ));
    };
    let given = auth::bearer_token(&headers).unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(ApiError::Unauthenticated(
            "the integration token (Authorization: Bearer …) is missing or wrong".into(),
        ));
    }
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        crate::metrics::event(&rws, "rejected", 1);
        ApiError::invalid(format!("body is not valid JSON: {e}"))
    })?;
    let checked: Vec<Checked> = match &value {
        Value::Array(items) => {
            if items.len() > MAX_BATCH {
                return Err(ApiError::invalid(format!(
                    "at most {MAX_BATCH} events per request, got {}",
                    items.len()
                )));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| check(v, &format!("event {i}: ")))
                .collect::<Result<Vec<_>, _>>()
        }
        v => check(v, "").map(|c| vec![c]),
    }
    .inspect_err(|_| crate::metrics::event(&rws, "rejected", 1))?;
    let intake = crate::events::accept(&rws, &checked).await?;
    Ok(Json(Accepted {
        accepted: intake.accepted,
        duplicates: intake.duplicates,
    }))
}

/// `GET /api/v2/interactions/{id}/events`: the events of a call or
/// interaction, in timestamp order. Admins see every call's; supervisors
/// (and agents allowed their own) only calls recorded for an agent they
/// see — the same rule as the recordings, answered 404 otherwise.
pub async fn timeline(
    State(rws): State<Rws>,
    Path(id): Path<String>,
    Viewer { visibility, .. }: Viewer,
) -> Result<Json<Timeline>, ApiError> {
    let rows = crate::events::timeline(&rws, &id, &visibility).await?;
    let events: Vec<Value> = rows
        .into_iter()
        .filter_map(|b| serde_json::from_str(&b).ok())
        .collect();
    if events.is_empty() {
        return Err(ApiError::NotFound(format!("no events for '{id}'")));
    }
    Ok(Json(Timeline { events }))
}

/// `POST /api/v2/events`: how many events were new and how many repeats.
#[derive(Debug, Serialize)]
pub struct Accepted {
    accepted: u64,
    duplicates: u64,
}

/// `GET /api/v2/interactions/{id}/events`: the events as they were posted
/// (the stored JSON, returned as it came in).
#[derive(Debug, Serialize)]
pub struct Timeline {
    events: Vec<Value>,
}

#[cfg(test)]
mod json_order_tests {
    use super::*;
    use crate::http::assert_json_order;

    #[test]
    fn fields_are_in_json_name_order() {
        assert_json_order(&Accepted {
            accepted: 1,
            duplicates: 2,
        });
        assert_json_order(&Timeline { events: Vec::new() });
    }
}
