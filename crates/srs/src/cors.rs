//! CORS for the loopback API, by hand: the allow-list is dynamic (the
//! configured origins plus those RWS hands over at login), may hold
//! wildcards inside a host (`https://*.example.com`), must answer the
//! private-network pre-flight, and must put its headers on every response,
//! errors included, or the desktop cannot read them.
//!
//! A request whose `Origin` is not on the list gets no CORS headers and a
//! 403; a request without `Origin` (a native desktop) is served normally.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Srs;
use crate::error::ApiError;

/// The allow-list's patterns (shared with RWS, which checks a page's
/// `Origin` on the control channel against the same list).
pub use proto::origin::OriginPattern;

const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, X-Support-CSRFP, X-CSRF-Token, X-Requested-With, Accept";

fn add_headers(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("X-CSRF-HEADER, X-CSRF-Token"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}

/// The CORS layer (an axum middleware).
pub async fn cors(State(srs): State<Srs>, req: Request, next: Next) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return next.run(req).await;
    };
    let allowed = origin
        .to_str()
        .map(|o| srs.origin_allowed(o))
        .unwrap_or(false);
    let preflight = req.method() == Method::OPTIONS;
    if !allowed {
        tracing::debug!(origin = ?origin, "request from an origin not on the allow-list refused");
        return ApiError::forbidden("origin not allowed").into_response();
    }
    if preflight {
        let private_network = req
            .headers()
            .get("access-control-request-private-network")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let mut resp = StatusCode::NO_CONTENT.into_response();
        add_headers(resp.headers_mut(), &origin);
        if private_network {
            resp.headers_mut().insert(
                "access-control-allow-private-network",
                HeaderValue::from_static("true"),
            );
        }
        return resp;
    }
    let mut resp = next.run(req).await;
    add_headers(resp.headers_mut(), &origin);
    resp
}
