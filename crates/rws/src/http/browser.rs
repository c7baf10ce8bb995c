//! The edges RWS shows the browser recorder (`web/srs-browser.js`, issue
//! 15): an SRS that runs in the agent's desktop page rather than on the PC.
//!
//! It speaks the same session API, control channel and tus uploads as the
//! native SRS; two things differ because a page is not a program:
//!
//! * **The control channel's token.** A page's `WebSocket` cannot set an
//!   `Authorization` header, so the session token rides in the
//!   `Sec-WebSocket-Protocol` list as `screenrec-token.<token>` beside
//!   [`CONTROL_PROTOCOL`], which RWS selects in its answer. (A token in the
//!   URL would end up in access logs and proxies; this header does not.)
//! * **The page's `Origin`.** Browsers always send it on a WebSocket
//!   handshake, and a hostile page the agent visits could otherwise drive
//!   the channel with a token it obtained. Any handshake that carries an
//!   `Origin` must name one of the directory's `allowed_origins`, checked
//!   before the upgrade, so a foreign page never gets a frame. The native
//!   SRS sends no `Origin` and is not affected.
//! * **CORS.** The agent's desktop usually lives on another origin (the
//!   CRM) than RWS: [`cors`] lets the directory's `allowed_origins` load the
//!   module (`/srs-browser.js`, `/srs-browser/`, `/vendor/`) and call the
//!   SRS endpoints it needs (sessions, tus uploads, the end report), with
//!   explicit `Authorization` headers and no cookies. Other origins get no
//!   CORS headers, so their browsers neither load nor read any of it.

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    SEC_WEBSOCKET_PROTOCOL, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Rws;
use crate::error::ApiError;

/// The subprotocol a page asks for, and RWS selects, on the control channel.
pub const CONTROL_PROTOCOL: &str = "screenrec-control.v1";

/// Prefix of the subprotocol entry that carries the session token.
pub const TOKEN_PROTOCOL_PREFIX: &str = "screenrec-token.";

/// The session token a page sent in `Sec-WebSocket-Protocol`, if any.
pub fn protocol_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| p.strip_prefix(TOKEN_PROTOCOL_PREFIX))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// Paths a page on an allowed origin may use across origins.
fn cors_path(path: &str) -> bool {
    path == "/srs-browser.js"
        || [
            "/srs-browser/",
            "/vendor/",
            "/api/v2/srs/uploads",
            "/api/v2/srs/recordings/",
        ]
        .iter()
        .any(|p| path.starts_with(p))
        || path == "/api/v2/srs/sessions"
        || path.starts_with("/api/v2/srs/sessions/") && !path.ends_with("/commands")
}

const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Tus-Resumable, Upload-Offset, \
Upload-Length, Upload-Defer-Length, Upload-Metadata, Upload-Checksum, screenrec-segments, \
screenrec-segment-hashes";
const EXPOSE_HEADERS: &str =
    "Location, Upload-Offset, Upload-Length, Upload-Defer-Length, Tus-Resumable, Tus-Version";

/// Middleware: CORS for the browser recorder's paths and the directory's
/// `allowed_origins` (pre-flights answered here, before authentication,
/// which a pre-flight never carries).
pub async fn cors(State(rws): State<Rws>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(ORIGIN).cloned();
    let Some(origin) = origin.filter(|_| cors_path(req.uri().path())) else {
        return next.run(req).await;
    };
    let allowed = match allowed_origins(&rws).await {
        Ok(list) => origin.to_str().is_ok_and(|o| origin_allowed(&list, o)),
        Err(e) => return e.into_response(),
    };
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut resp = StatusCode::NO_CONTENT.into_response();
        if allowed {
            let h = resp.headers_mut();
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            h.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
        resp.headers_mut()
            .insert(VARY, HeaderValue::from_static("Origin"));
        return resp;
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if allowed {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    h.append(VARY, HeaderValue::from_static("Origin"));
    resp
}

/// Refuses (403) a control-channel handshake whose `Origin` is not in the
/// directory's `allowed_origins`; a handshake without `Origin` (the native
/// SRS) passes.
pub async fn check_origin(rws: &Rws, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("(not ASCII)");
    let allowed = allowed_origins(rws).await?;
    if origin_allowed(&allowed, origin) {
        return Ok(());
    }
    let shown = crate::agent_input::bounded(origin, 128);
    tracing::warn!(origin = %proto::logsafe::Escaped(&shown), "control channel: page origin not in allowed_origins; refused");
    Err(ApiError::Forbidden(format!(
        "origin '{shown}' is not in the directory's allowed_origins: a page there may not open the control channel"
    )))
}

/// True when `origin` matches one of the `allowed` patterns (the same
/// rules as SRS's CORS: [`proto::origin::OriginPattern`], wildcards as
/// leftmost host labels); a pattern that does not parse matches nothing.
fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    allowed
        .iter()
        .any(|a| proto::origin::OriginPattern::parse(a).is_ok_and(|p| p.matches(origin)))
}

/// The directory's `allowed_origins` (a JSON list in `settings`).
async fn allowed_origins(rws: &Rws) -> Result<Vec<String>, ApiError> {
    crate::srs_sessions::allowed_origins(rws).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(protocols: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for p in protocols {
            h.append(
                SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_str(p).unwrap_or(HeaderValue::from_static("x")),
            );
        }
        h
    }

    #[test]
    fn token_from_the_protocol_list() {
        let cases: &[(&[&str], Option<&str>)] = &[
            (&[], None),
            (&["screenrec-control.v1"], None),
            (
                &["screenrec-control.v1, screenrec-token.abc_-9"],
                Some("abc_-9"),
            ),
            (
                &["screenrec-control.v1", "screenrec-token.xyz"],
                Some("xyz"),
            ),
            (&["screenrec-control.v1, screenrec-token."], None),
            (&["other.screenrec-token.abc"], None),
        ];
        for (given, want) in cases {
            assert_eq!(
                protocol_token(&headers(given)).as_deref(),
                *want,
                "{given:?}"
            );
        }
    }

    #[test]
    fn cors_only_where_the_page_needs_it() {
        for p in [
            "/srs-browser.js",
            "/srs-browser/upload.js",
            "/vendor/mediabunny.js",
            "/api/v2/srs/sessions",
            "/api/v2/srs/sessions/abc",
            "/api/v2/srs/uploads",
            "/api/v2/srs/uploads/abc",
            "/api/v2/srs/recordings/abc/end",
        ] {
            assert!(cors_path(p), "{p}");
        }
        for p in [
            "/api/v2/srs/sessions/abc/commands",
            "/api/v2/srs/control",
            "/api/v2/recordings",
            "/console/",
            "/srs-client.js",
            "/api/v2/me",
        ] {
            assert!(!cors_path(p), "{p}");
        }
    }

    #[test]
    fn origins_compare_whole() {
        let allowed = vec![
            "https://desk.example.com".to_string(),
            "http://127.0.0.1:8080/".to_string(),
            "https://*.agents.example.org".to_string(),
        ];
        assert!(origin_allowed(&allowed, "https://desk.example.com"));
        assert!(origin_allowed(&allowed, "https://eu.agents.example.org"));
        assert!(!origin_allowed(&allowed, "https://agents.example.org"));
        assert!(origin_allowed(&allowed, "http://127.0.0.1:8080"));
        assert!(!origin_allowed(
            &allowed,
            "https://desk.example.com.evil.net"
        ));
        assert!(!origin_allowed(&allowed, "http://desk.example.com"));
        assert!(!origin_allowed(&allowed, "http://127.0.0.1:8081"));
        assert!(!origin_allowed(&allowed, "null"));
        assert!(!origin_allowed(&[], "https://desk.example.com"));
    }
}
