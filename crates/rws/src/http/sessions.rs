//! `POST /api/v2/srs/sessions` (an SRS opens a session with the agent's
//! credentials), `GET /api/v2/srs/sessions` (administrators and supervisors
//! list them), `DELETE /api/v2/srs/sessions/{id}` (SRS ends its own session
//! at logout or ping timeout, with its bearer token; or an administrator).
//!
//! Place rules (`srs-local-api.md`): no place → the user's default place;
//! a place with one DN → devices may be omitted; several DNs → devices are
//! required and each must belong to the place.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use proto::{CaptureSettings, Device, OpenSessionRequest, OpenSessionResponse, StatusCode as Gws};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Rws;
use crate::auth::{self, require_role};
use crate::error::ApiError;
use crate::http::authz::{Overseer, User, Viewer};
use crate::http::sorted_value;
use crate::hub::Live;

/// Opens an SRS session.
pub async fn open(
    State(rws): State<Rws>,
    headers: HeaderMap,
    User(user): User,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let req: OpenSessionRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            code: Gws::ValidationError,
            message: format!("request body: {e}"),
        })?;
    if user.roles.iter().all(|r| r == "integration") {
        return Err(ApiError::Forbidden(format!(
            "user '{}' is an integration account, not an agent",
            user.username
        )));
    }
    let (place, devices) = resolve_place(&rws, &user, req.place.as_deref(), req.devices).await?;

    let recording_when = match &user.recording_when {
        Some(rw) => rw.clone(),
        None => setting(&rws, "recording_when")
            .await?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "always".into()),
    };
    let allowed_origins: Vec<String> = setting(&rws, "allowed_origins")
        .await?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();

    let recipients = crate::keys::active_recipients(&rws.db)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let token = auth::new_token();
    let live = Live::new(
        uuid::Uuid::new_v4().to_string(),
        user.username.clone(),
        place.clone(),
        devices.clone(),
        auth::token_hash(&token),
        req.standby,
        req.srs_version.clone(),
        req.hostname.clone(),
    )
    .with_kind(req.kind);
    let session_id = live.id.clone();
    rws.hub.open(&rws, live).await?;
    tracing::info!(session = %session_id, user = %user.username, place = %place, standby = req.standby, kind = ?req.kind, "SRS session opened");

    let response = OpenSessionResponse {
        session_id,
        token,
        control_url: control_url(&rws, &headers),
        user: user.resource(),
        place,
        devices,
        recording_when,
        allowed_origins,
        capture: CaptureSettings::default(),
        recipients,
        heartbeat_interval_s: rws.config.heartbeat_interval.as_secs().max(1),
        silence_timeout_s: rws.config.silence_timeout.as_secs().max(1),
    };
    Ok((StatusCode::CREATED, Json(response)))
}

async fn setting(rws: &Rws, key: &str) -> Result<Option<String>, ApiError> {
    Ok(crate::store::directory::setting(&rws.db, key).await?)
}

async fn resolve_place(
    rws: &Rws,
    user: &auth::AuthUser,
    place: Option<&str>,
    devices: Option<Vec<Device>>,
) -> Result<(String, Vec<Device>), ApiError> {
    let place = match place {
        Some(p) if !p.trim().is_empty() => p.to_string(),
        _ => user.default_place.clone().ok_or_else(|| {
            ApiError::invalid(format!(
                "user '{}' has no default place: 'place' is required",
                user.username
            ))
        })?,
    };
    if !crate::store::sessions::place_exists(&rws.db, &place).await? {
        return Err(ApiError::invalid(format!("unknown place '{place}'")));
    }
    let place_devices: Vec<Device> = crate::store::sessions::devices_of_place(&rws.db, &place)
        .await?
        .into_iter()
        .map(|(dn, switch)| Device { dn, switch })
        .collect();
    let devices = match devices {
        None | Some(_) if place_devices.is_empty() => Vec::new(),
        None if place_devices.len() == 1 => place_devices,
        None => {
            return Err(ApiError::invalid(format!(
                "place '{place}' has {} devices: 'devices' is required",
                place_devices.len()
            )));
        }
        Some(given) if given.is_empty() && place_devices.len() == 1 => place_devices,
        Some(given) => {
            for d in &given {
                if !place_devices.contains(d) {
                    let known =
                        crate::store::sessions::place_of_device(&rws.db, &d.dn, &d.switch).await?;
                    return Err(ApiError::invalid(match known {
                        None => format!("unknown device {}@{}", d.dn, d.switch),
                        Some(_) => format!(
                            "device {}@{} does not belong to place '{place}'",
                            d.dn, d.switch
                        ),
                    }));
                }
            }
            if given.is_empty() {
                return Err(ApiError::invalid(format!(
                    "place '{place}' has {} devices: 'devices' is required",
                    place_devices.len()
                )));
            }
            given
        }
    };
    Ok((place, devices))
}

fn control_url(rws: &Rws, headers: &HeaderMap) -> String {
    let base = match &rws.config.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1:8090");
            let scheme = if rws.config.https { "https" } else { "http" };
            format!("{scheme}://{host}")
        }
    };
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base
    };
    format!("{ws}/api/v2/srs/control")
}

/// Query of the list.
#[derive(Deserialize)]
pub struct ListQuery {
    include: Option<String>,
}

/// Lists live sessions (admin or supervisor).
pub async fn list(
    State(rws): State<Rws>,
    Query(q): Query<ListQuery>,
    Overseer(_): Overseer,
    // Supervisors see their groups' agents only.
    Viewer {
        visibility: vis, ..
    }: Viewer,
) -> Result<impl IntoResponse, ApiError> {
    let standby = match q.include.as_deref() {
        None => false,
        Some("standby") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "include={other}: the only value is 'standby'"
            )));
        }
    };
    let sessions: Vec<Value> = rws
        .hub
        .list(standby)
        .into_iter()
        .filter(|s| vis.sees(&s.user))
        .map(|s| sorted_value(&s))
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// Ends a session: its own SRS (bearer token) or an administrator.
pub async fn close(
    State(rws): State<Rws>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match auth::bearer_token(&headers) {
        Some(token) => {
            let hash = auth::token_hash(&token);
            if !rws.hub.token_matches(&id, &hash) {
                // Opened on another node a moment ago?
                rws.hub.refresh(&rws).await;
            }
            if !rws.hub.token_matches(&id, &hash) {
                return Err(ApiError::Unauthenticated(
                    "the token does not belong to this session".into(),
                ));
            }
        }
        None => {
            require_role(&rws.db, &headers, &["admin"]).await?;
        }
    }
    if rws.hub.remove(&rws, &id).await? {
        tracing::info!(session = %id, "SRS session ended");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no session '{id}'")))
    }
}

/// `GET /api/v2/srs/origins`: the desktop origins SRS must allow (public:
/// SRS needs them before any login, to answer the browser's pre-flight).
pub async fn origins(State(rws): State<Rws>) -> Result<impl IntoResponse, ApiError> {
    let allowed_origins: Vec<String> = setting(&rws, "allowed_origins")
        .await?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    Ok(Json(Origins { allowed_origins }))
}

/// `GET /api/v2/srs/sessions`: live sessions, each a
/// [`proto::SessionSummary`] as a sorted JSON value
/// ([`crate::http::sorted_value`]).
#[derive(Debug, Serialize)]
pub struct SessionList {
    sessions: Vec<Value>,
}

/// `GET /api/v2/srs/origins`.
#[derive(Debug, Serialize)]
pub struct Origins {
    allowed_origins: Vec<String>,
}

#[cfg(test)]
mod json_order_tests {
    use super::*;
    use crate::http::assert_json_order;

    #[test]
    fn fields_are_in_json_name_order() {
        assert_json_order(&SessionList {
            sessions: Vec::new(),
        });
        assert_json_order(&Origins {
            allowed_origins: vec!["https://a".into()],
        });
    }
}
