//! Every error is the GWS envelope, and authentication is decided before a
//! client learns anything about its input (threat model, rule 10).
//!
//! axum's extractors (`Query`, `Path`, `Json`, `WebSocketUpgrade`, the body
//! limit) reject a request before its handler runs, with a `text/plain`
//! answer. Rather than wrap every extractor of every handler, one layer
//! turns those answers into `{"statusCode", "statusMessage"}` with axum's
//! message (which names the parameter and what is wrong with it). Because
//! the handler never ran, it never checked credentials: so a rejected
//! request without credentials gets the 401 it would have had with good
//! input, and one with Basic or console-cookie credentials gets them
//! checked first (a wrong password is a 401, never a 400 that tells the
//! stranger more). Bearer tokens belong to one route each (SRS sessions,
//! uploads, integrations); a request carrying one gets the 400.
//!
//! Our own handlers answer errors as JSON already ([`ApiError`]); they are
//! passed through untouched, as are non-error answers (`/metrics` is
//! `text/plain` with a 200).

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Rws;
use crate::error::ApiError;

/// The longest rejection text read back (axum's are a line or two).
const MAX_REJECTION_TEXT: usize = 4096;

/// Routes anyone may call: their rejections are not about credentials.
const PUBLIC: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/v2/openapi.json",
    "/api/v2/srs/origins",
    "/api/v2/auth/login",
    "/api/v2/auth/logout",
];

/// Middleware: maps plain-text rejections to the envelope, authentication first.
pub async fn envelope(State(rws): State<Rws>, req: Request, next: Next) -> Response {
    // Kept only when the request carries credentials we may have to check.
    let credentials = (req.headers().contains_key(AUTHORIZATION)
        || req.headers().contains_key(COOKIE))
    .then(|| credential_headers(req.headers()));
    let public = PUBLIC.contains(&req.uri().path());
    let resp = next.run(req).await;
    if !is_plain_text_error(&resp) {
        return resp;
    }
    let status = resp.status();
    let text = match axum::body::to_bytes(resp.into_body(), MAX_REJECTION_TEXT).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    if !public && let Err(e) = authentication_first(&rws, credentials.as_ref()).await {
        return e.into_response();
    }
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("bad request")
            .to_string()
    } else {
        text
    };
    match status {
        StatusCode::BAD_REQUEST => ApiError::invalid(message),
        StatusCode::UNAUTHORIZED => ApiError::Unauthenticated(message),
        StatusCode::NOT_FOUND => ApiError::NotFound(message),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        other => ApiError::Status(other, message),
    }
    .into_response()
}

/// An error answer that is not JSON: an extractor's rejection.
fn is_plain_text_error(resp: &Response) -> bool {
    (resp.status().is_client_error() || resp.status().is_server_error())
        && resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
}

/// Only the headers [`crate::auth::authenticate`] reads.
fn credential_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in [AUTHORIZATION, COOKIE] {
        for v in headers.get_all(&name) {
            out.append(name.clone(), v.clone());
        }
    }
    out
}

/// `Err(401)` when the request has no credentials, or Basic/cookie
/// credentials that do not authenticate.
async fn authentication_first(rws: &Rws, credentials: Option<&HeaderMap>) -> Result<(), ApiError> {
    let Some(headers) = credentials else {
        return Err(ApiError::Unauthenticated(
            "credentials required (Authorization: Basic, a bearer token, or the console's session cookie)".into(),
        ));
    };
    let bearer = crate::auth::bearer_token(headers).is_some();
    if bearer {
        return Ok(());
    }
    crate::auth::authenticate(&rws.db, headers)
        .await
        .map(|_| ())
}
