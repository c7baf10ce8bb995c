//! `GET /api/v2/srs/control` (the control channel's WebSocket upgrade) and
//! `POST /api/v2/srs/sessions/{id}/commands` (an administrator's command to
//! one SRS). The channel itself, its sequencing and the silence timeout
//! are [`crate::hub`]'s.

use crate::Rws;
use crate::agent_input;
use crate::auth::{self};
use crate::error::ApiError;
use crate::http::authz::Admin;
use crate::hub::run_channel;
use axum::Json;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use proto::CaptureSettings;
use proto::control::{ByeReason, ToAgent};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Read and write buffer of one control channel (see `control`).
const CHANNEL_BUFFER: usize = 4 << 10;

/// `GET /api/v2/srs/control`: the WebSocket of one session.
pub async fn control(
    State(rws): State<Rws>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // A page (the browser recorder) on a foreign origin is refused before
    // anything else, so it learns nothing and never gets a frame.
    crate::http::browser::check_origin(&rws, &headers).await?;
    let from_page = crate::http::browser::protocol_token(&headers);
    let token = auth::bearer_token(&headers)
        .or_else(|| from_page.clone())
        .ok_or_else(|| {
            ApiError::Unauthenticated("Authorization: Bearer <session token> required".into())
        })?;
    let id = rws
        .hub
        .find_by_token_synced(&rws, &auth::token_hash(&token))
        .await
        .ok_or_else(|| ApiError::Unauthenticated("unknown or ended session".into()))?;
    let Ok(ws) = ws else {
        return Err(ApiError::invalid(
            "this endpoint is a WebSocket (Upgrade: websocket)",
        ));
    };
    // Rule 3: a frame larger than any real one is refused by the WebSocket
    // layer (the connection closes) before it is buffered whole.
    // A page's WebSocket fails unless RWS selects a subprotocol it offered.
    let ws = if from_page.is_some() {
        ws.protocols([crate::http::browser::CONTROL_PROTOCOL])
    } else {
        ws
    };
    // Control frames are small, and a 2-core node holds 10,000 channels:
    // tungstenite's default 128 KiB read buffer stays resident per channel
    // (~140 KiB a session measured by `scripts/bench-rws.sh`). A larger
    // frame (up to MAX_FRAME) still arrives; it is read in more chunks.
    Ok(ws
        .read_buffer_size(CHANNEL_BUFFER)
        .write_buffer_size(CHANNEL_BUFFER)
        .max_message_size(agent_input::MAX_FRAME)
        .max_frame_size(agent_input::MAX_FRAME)
        .on_upgrade(move |socket| run_channel(rws, id, socket)))
}

/// Body of `POST /api/v2/srs/sessions/{id}/commands`.
#[derive(Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
enum CommandRequest {
    Config {
        capture: Option<CaptureSettings>,
        #[serde(default)]
        allowed_origins: Vec<String>,
    },
    Bye,
}

/// Query of the command endpoint.
#[derive(Deserialize)]
pub struct CommandQuery {
    timeout_s: Option<u64>,
}

/// Sends a command to a session's SRS and reports its acknowledgement.
pub async fn command(
    State(rws): State<Rws>,
    Path(id): Path<String>,
    Query(q): Query<CommandQuery>,
    Admin(_): Admin,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CommandRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!(
            "request body: {e} (expected {{\"command\": \"config\" | \"bye\", ...}})"
        ))
    })?;
    let timeout = Duration::from_secs(q.timeout_s.unwrap_or(10).clamp(1, 60));
    // Through the hub, so that with several nodes the command is queued in
    // the database for the node holding the channel.
    let (seq, waiter) = match req {
        CommandRequest::Config {
            capture,
            allowed_origins,
        } => {
            rws.hub
                .send_numbered(&rws, &id, |seq| ToAgent::Config {
                    seq,
                    capture: capture.unwrap_or_default(),
                    allowed_origins,
                })
                .await
        }
        CommandRequest::Bye => {
            rws.hub
                .send_numbered(&rws, &id, |seq| ToAgent::Bye {
                    seq,
                    reason: ByeReason::Admin,
                })
                .await
        }
    }
    .ok_or_else(|| ApiError::NotFound(format!("no session '{id}'")))?;
    match tokio::time::timeout(timeout, waiter).await {
        Ok(Ok(ack)) => Ok(Json(Acknowledged {
            error: ack.error,
            ok: ack.ok,
            seq,
        })
        .into_response()),
        // Not an error of RWS's nor of the caller's: the command is queued and
        // delivered when the SRS (re)connects, so 202 Accepted, not a 5xx.
        _ => Ok((
            axum::http::StatusCode::ACCEPTED,
            Json(Queued {
                queued: true,
                seq,
                status_message: format!(
                    "SRS did not acknowledge command {seq} within {} s (it stays queued)",
                    timeout.as_secs()
                ),
            }),
        )
            .into_response()),
    }
}

/// The SRS acknowledged the command (fields in JSON name order).
#[derive(Debug, Serialize)]
pub struct Acknowledged {
    error: Option<String>,
    ok: bool,
    seq: u64,
}

/// 202: the SRS did not acknowledge in time; the command stays queued.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Queued {
    queued: bool,
    seq: u64,
    status_message: String,
}

#[cfg(test)]
mod json_order_tests {
    use super::*;
    use crate::http::assert_json_order;

    #[test]
    fn fields_are_in_json_name_order() {
        assert_json_order(&Acknowledged {
            error: Some("no".into()),
            ok: false,
            seq: 1,
        });
        assert_json_order(&Queued {
            queued: true,
            seq: 1,
            status_message: "queued".into(),
        });
    }
}
