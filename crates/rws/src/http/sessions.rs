//! `POST /api/v2/srs/sessions` (an SRS opens a session with the agent's
//! credentials), `GET /api/v2/srs/sessions` (administrators and supervisors
//! list them), `DELETE /api/v2/srs/sessions/{id}` (SRS ends its own session
//! at logout or ping timeout, with its bearer token; or an administrator).
//!
//! Opening (place rules, the live session) is [`crate::srs_sessions`]'s.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use proto::{OpenSessionRequest, StatusCode as Gws};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Rws;
use crate::auth::{self, require_role};
use crate::error::ApiError;
use crate::http::authz::{Overseer, User, Viewer};
use crate::http::sorted_value;

/// Opens an SRS session (the steps are [`crate::srs_sessions::open`]).
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
    let url = control_url(&rws, &headers);
    let response = crate::srs_sessions::open(&rws, &user, req, url).await?;
    Ok((StatusCode::CREATED, Json(response)))
}

/// Where SRS connects its control channel: the public URL, else the host
/// this request reached, as `ws(s)://…/api/v2/srs/control`.
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
    let allowed_origins = crate::srs_sessions::allowed_origins(&rws).await?;
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
