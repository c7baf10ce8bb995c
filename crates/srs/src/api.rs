//! The loopback API of `srs-local-api.md`: login, polling, logout.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode as Http, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use proto::{Device, Envelope, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use crate::error::ApiError;
use crate::link::{self, LoginTarget};
use crate::{LocalSession, Srs};

/// Largest accepted body.
pub const BODY_LIMIT: usize = 64 * 1024;
const COOKIE: &str = "SRSSESSION";

/// `GET /healthz`.
pub async fn healthz() -> Json<Value> {
    Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// Unknown path.
pub async fn not_found() -> ApiError {
    ApiError::new(
        Http::NOT_FOUND,
        StatusCode::NotFound,
        "no such endpoint (use /api/v2/me or /ping)",
    )
}

/// Known path, wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        Http::METHOD_NOT_ALLOWED,
        StatusCode::InvalidForState,
        "method not allowed (GET, POST, OPTIONS)",
    )
}

/// A pre-flight reaching the handler has an allowed origin (or none).
pub async fn preflight() -> Http {
    Http::NO_CONTENT
}

/// `GET /api/v2/me`: login with credentials only.
pub async fn me_get(State(srs): State<Srs>, headers: HeaderMap) -> Response {
    login(&srs, &headers, LoginParams::default())
        .await
        .unwrap_or_else(|e| e.into_response())
}

/// `POST /api/v2/me`: login with configuration (array body) or logout (object body).
pub async fn me_post(State(srs): State<Srs>, req: Request) -> Response {
    let headers = req.headers().clone();
    let body = match axum::body::to_bytes(req.into_body(), BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                Http::PAYLOAD_TOO_LARGE,
                StatusCode::ValidationError,
                format!("body larger than {} KiB", BODY_LIMIT / 1024),
            )
            .into_response();
        }
    };
    let result = match parse_body(&body) {
        Ok(Body::Login(params)) => login(&srs, &headers, *params).await,
        Ok(Body::Logout) => logout(&srs, &headers).await,
        Err(e) => Err(e),
    };
    result.unwrap_or_else(|e| e.into_response())
}

#[derive(Default)]
struct LoginParams {
    server: Option<Url>,
    peer_server: Option<Url>,
    place: Option<String>,
    devices: Option<Vec<Device>>,
}

enum Body {
    Login(Box<LoginParams>),
    Logout,
}

fn parse_body(body: &Bytes) -> Result<Body, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Body::Login(Box::default()));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("body is not valid JSON: {e}")))?;
    match value {
        Value::Array(items) => {
            let mut p = LoginParams::default();
            for (i, item) in items.iter().enumerate() {
                let name = item.get("name").and_then(Value::as_str).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "item {i}: expected {{\"name\": ..., \"value\": ...}}"
                    ))
                })?;
                let value = item.get("value");
                let text = |what: &str| {
                    value
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            ApiError::invalid(format!("'{what}' must have a string value"))
                        })
                };
                let url = |what: &str| -> Result<Url, ApiError> {
                    let s = text(what)?;
                    let u = Url::parse(&s).map_err(|e| {
                        ApiError::invalid(format!("'{what}' = '{s}' is not a URL: {e}"))
                    })?;
                    if u.scheme() != "http" && u.scheme() != "https" {
                        return Err(ApiError::invalid(format!(
                            "'{what}' = '{s}': the scheme must be http or https"
                        )));
                    }
                    Ok(u)
                };
                match name {
                    "server" => p.server = Some(url("server")?),
                    "peer_server" => p.peer_server = Some(url("peer_server")?),
                    "place" => p.place = Some(text("place")?),
                    "devices" => {
                        let devices: Vec<Device> = value
                            .cloned()
                            .map(serde_json::from_value)
                            .transpose()
                            .map_err(|e| {
                                ApiError::invalid(format!(
                                    "'devices' must be a list of {{\"dn\", \"switch\"}}: {e}"
                                ))
                            })?
                            .unwrap_or_default();
                        p.devices = Some(devices);
                    }
                    _ => {} // unknown names are ignored (GIR compatibility)
                }
            }
            Ok(Body::Login(Box::new(p)))
        }
        Value::Object(map) => match map.get("operationName").and_then(Value::as_str) {
            Some("EndContactCenterSession") => Ok(Body::Logout),
            Some(other) => Err(ApiError::missing(format!(
                "unknown operationName '{other}'"
            ))),
            None => Err(ApiError::missing("operationName is missing")),
        },
        _ => Err(ApiError::invalid(
            "body must be a JSON array (login) or object (logout)",
        )),
    }
}

fn basic_authorization(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::invalid("the Authorization header is not valid text"))?;
    let Some(b64) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| {
            ApiError::invalid("the Authorization header is not valid Basic credentials (base64)")
        })?;
    let text = String::from_utf8(decoded)
        .map_err(|_| ApiError::invalid("the Basic credentials are not UTF-8"))?;
    if !text.contains(':') {
        return Err(ApiError::invalid(
            "the Basic credentials have no ':' between user and password",
        ));
    }
    Ok(Some(v.to_string()))
}

fn salted(salt: &[u8; 16], authorization: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(authorization.as_bytes());
    h.finalize().into()
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Is this request authenticated for the current session (Basic or cookie)?
fn authenticated(session: &LocalSession, headers: &HeaderMap) -> Result<bool, ApiError> {
    if let Some(auth) = basic_authorization(headers)? {
        return Ok(bool::from(
            salted(&session.salt, &auth).ct_eq(&session.credential_hash),
        ));
    }
    Ok(cookie_value(headers)
        .is_some_and(|c| bool::from(c.as_bytes().ct_eq(session.cookie.as_bytes()))))
}

fn wants_csrf(headers: &HeaderMap) -> bool {
    headers
        .get("x-support-csrfp")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

async fn login(srs: &Srs, headers: &HeaderMap, params: LoginParams) -> Result<Response, ApiError> {
    let authorization = basic_authorization(headers)?
        .ok_or_else(|| ApiError::unauthenticated("credentials required (Authorization: Basic)"))?;
    let server = params
        .server
        .or_else(|| srs.config().server.clone())
        .ok_or_else(|| {
            ApiError::missing(
                "no RWS server: give 'server' in the login body or configure SRS with --server",
            )
        })?;
    let peer = params
        .peer_server
        .or_else(|| srs.config().peer_server.clone());
    // Rule 5: the credentials go only to a configured RWS, checked before
    // any connection is made.
    for (what, url) in
        std::iter::once(("server", &server)).chain(peer.iter().map(|p| ("peer_server", p)))
    {
        if !srs.allowed_servers().allows(url) {
            tracing::warn!(server = %url, what, "login refused: it names an RWS that is not configured");
            return Err(ApiError::forbidden(format!(
                "'{what}' = '{url}' is not an allowed RWS: SRS talks only to its --server, --peer-server and --allowed-server URLs (allowed: {})",
                srs.allowed_servers().describe()
            )));
        }
    }
    let target = LoginTarget {
        server,
        peer,
        place: params.place,
        devices: params.devices,
    };
    // The credentials go to RWS now and are not kept.
    let opened = link::open_session(srs, &authorization, &target).await?;

    let salt: [u8; 16] = rand::random();
    let cookie = hex::encode(rand::random::<[u8; 32]>());
    let csrf = wants_csrf(headers).then(|| hex::encode(rand::random::<[u8; 16]>()));
    let user = opened.primary.response.user.clone();
    srs.set_rws_origins(&opened.primary.response.allowed_origins);

    // A new login ends the recording of the previous session: its RWS
    // session is replaced, so RWS could no longer stop it.
    crate::recording::stop(srs, None, proto::control::StopReason::SessionReplaced).await;
    let old = srs.session().take();
    if let Some(mut old) = old {
        if let Some(l) = old.link.take() {
            l.stop();
        }
        if old.user.user_name != user.user_name && !old.stale {
            // A different user: end the previous user's RWS session.
            link::end_session(srs, &old.rws).await;
        }
    }
    let rws = link::RwsSession::from_opened(&opened);
    let handle = link::spawn(srs.clone(), rws.clone());
    *srs.session() = Some(LocalSession {
        user: user.clone(),
        credential_hash: salted(&salt, &authorization),
        salt,
        cookie: cookie.clone(),
        csrf: csrf.clone(),
        last_ping: Instant::now(),
        stale: false,
        rws,
        link: Some(handle),
    });
    tracing::info!(
        user = %proto::logsafe::escape(&user.user_name),
        place = %proto::logsafe::escape(&opened.primary.response.place),
        "agent logged in"
    );

    let mut resp = (
        Http::OK,
        Json(serde_json::json!({"statusCode": 0, "user": user})),
    )
        .into_response();
    let h = resp.headers_mut();
    let cookie_attrs = if srs.config().https {
        "HttpOnly; Path=/; Secure; SameSite=None"
    } else {
        // SameSite=None needs Secure; loopback pages on another port are
        // same-site, so Lax still travels with their fetches.
        "HttpOnly; Path=/; SameSite=Lax"
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{COOKIE}={cookie}; {cookie_attrs}")) {
        h.insert(header::SET_COOKIE, v);
    }
    if let Some(token) = csrf
        && let Ok(v) = HeaderValue::from_str(&token)
    {
        h.insert("X-CSRF-Token", v);
        h.insert("X-CSRF-HEADER", HeaderValue::from_static("X-CSRF-Token"));
    }
    Ok(resp)
}

/// The rules of a state-changing request (logout, PCI pause): the login's
/// credentials or session cookie, and the CSRF token when the login asked
/// for one (compared in constant time).
fn may_change(session: &LocalSession, headers: &HeaderMap) -> Result<(), ApiError> {
    if !authenticated(session, headers)? {
        return Err(ApiError::unauthenticated(
            "credentials or session cookie required",
        ));
    }
    if let Some(expected) = &session.csrf {
        let given = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(ApiError::forbidden("Missing or invalid Csrf token"));
        }
    }
    Ok(())
}

async fn logout(srs: &Srs, headers: &HeaderMap) -> Result<Response, ApiError> {
    let ended = {
        let mut guard = srs.session();
        let Some(session) = guard.as_ref() else {
            return Err(ApiError::unauthenticated("no session: log in first"));
        };
        may_change(session, headers)?;
        guard.take()
    };
    if let Some(mut s) = ended {
        crate::recording::stop(srs, None, proto::control::StopReason::Logout).await;
        if let Some(l) = s.link.take() {
            l.stop();
        }
        if !s.stale {
            link::end_session(srs, &s.rws).await;
        }
        tracing::info!(user = %proto::logsafe::escape(&s.user.user_name), "agent logged out");
    }
    Ok((Http::OK, Json(Envelope::ok())).into_response())
}

/// `GET /ping`: keep-alive.
pub async fn ping(State(srs): State<Srs>, headers: HeaderMap) -> Response {
    let mut guard = srs.session();
    match live_session(guard.as_mut(), &headers) {
        Ok(session) => {
            session.last_ping = Instant::now();
            (Http::OK, Json(Envelope::ok())).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The session `/ping` and `GET /api/v2/me/recording` answer for: there is
/// one, the request carries its login's Basic credentials or its cookie,
/// and it is not stale (401 otherwise).
fn live_session<'a>(
    session: Option<&'a mut LocalSession>,
    headers: &HeaderMap,
) -> Result<&'a mut LocalSession, ApiError> {
    let Some(session) = session else {
        return Err(ApiError::unauthenticated("no session: log in"));
    };
    if !authenticated(session, headers)? {
        return Err(ApiError::unauthenticated(
            "credentials or session cookie required",
        ));
    }
    if session.stale {
        return Err(ApiError::unauthenticated(
            "the session timed out or ended: log in again",
        ));
    }
    Ok(session)
}

/// Ends the RWS session when the desktop stopped polling.
pub async fn expire_if_silent(srs: &Srs) {
    let timeout = srs.config().ping_timeout;
    let expired = {
        let mut guard = srs.session();
        match guard.as_mut() {
            Some(s) if !s.stale && s.last_ping.elapsed() > timeout => {
                s.stale = true;
                if let Some(l) = s.link.take() {
                    l.stop();
                }
                Some(s.rws.clone())
            }
            _ => None,
        }
    };
    if let Some(rws) = expired {
        tracing::warn!(
            timeout_s = timeout.as_secs(),
            "no /ping from the desktop: RWS session ended"
        );
        crate::recording::stop(srs, None, proto::control::StopReason::PingTimeout).await;
        link::end_session(srs, &rws).await;
    }
}

/// Marks the session stale after RWS ended it (`bye`, or its token refused).
pub(crate) fn mark_stale(srs: &Srs, session_id: &str, why: &str) {
    let mut guard = srs.session();
    if let Some(s) = guard.as_mut()
        && s.rws.session_id == session_id
        && !s.stale
    {
        s.stale = true;
        s.link.take();
        tracing::warn!(session = %session_id, why, "RWS ended the session: the desktop must log in again");
        let srs = srs.clone();
        tokio::spawn(async move {
            crate::recording::stop(&srs, None, proto::control::StopReason::SessionEnded).await;
        });
    }
}

/// `POST /api/v2/me/recording` (screenrec extension to the GIR API): the
/// desktop pauses or resumes the screen recording for a PCI moment, with
/// `{"operationName": "PauseScreenRecording" | "ResumeScreenRecording"}`.
/// Same authentication and CSRF rules as logout. A pause holds until the
/// desktop resumes, including over a recording that starts meanwhile.
pub async fn me_recording(State(srs): State<Srs>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        {
            let guard = srs.session();
            let Some(session) = guard.as_ref() else {
                return Err(ApiError::unauthenticated("no session: log in first"));
            };
            may_change(session, &headers)?;
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("body is not valid JSON: {e}")))?;
        let op = value.get("operationName").and_then(Value::as_str);
        let paused = match op {
            Some("PauseScreenRecording") => true,
            Some("ResumeScreenRecording") => false,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "operationName '{other}' is unknown (PauseScreenRecording, ResumeScreenRecording)"
                )));
            }
            None => {
                return Err(ApiError::invalid(
                    "'operationName' is required (PauseScreenRecording, ResumeScreenRecording)",
                ));
            }
        };
        let recording = crate::recording::desktop_pause(&srs, paused);
        tracing::info!(paused, recording, "desktop pause/resume");
        Ok((
            Http::OK,
            Json(serde_json::json!({
                "statusCode": 0,
                "paused": paused,
                "recording": recording,
            })),
        )
            .into_response())
    }
    .await;
    result.unwrap_or_else(|e| e.into_response())
}

/// `GET /api/v2/me/recording` (screenrec extension to the GIR API): what
/// the agent is told about the screen recording — `{"statusCode": 0,
/// "state": "idle"|"recording"|"paused"|"masked", "since", "reason"?,
/// "recordingId"?, "interactionId"?}`. Same authentication as `/ping`
/// (Basic credentials of the login or the session cookie; a stale session
/// answers 401); it does not count as a keep-alive.
pub async fn me_recording_get(State(srs): State<Srs>, headers: HeaderMap) -> Response {
    if let Err(e) = live_session(srs.session().as_mut(), &headers) {
        return e.into_response();
    }
    let notice = crate::recording::notice(&srs);
    let mut body = serde_json::to_value(&notice).unwrap_or_default();
    if let Some(map) = body.as_object_mut() {
        map.insert("statusCode".into(), Value::from(0));
    }
    (Http::OK, Json(body)).into_response()
}
