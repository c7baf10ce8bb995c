//! Authentication: HTTP Basic credentials checked against the directory's
//! argon2id hashes, and bearer session tokens compared by their SHA-256 in
//! constant time.
//!
//! Every password check (Basic on any route, the console's login form)
//! goes through [`login`]: the failure throttle ([`crate::throttle`]), then
//! the cache of verified credentials, then the bounded argon2 pool
//! ([`crate::password_pool`]). Basic credentials are checked once per
//! request, by the [`crate::http::auth::basic_gate`] middleware before any handler reads the
//! body; handlers' [`authenticate`] then takes the gate's verdict.

use crate::store::Pool;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// Console sessions (cookie login) as the store keeps them.
pub mod console_sessions {
    pub use crate::store::auth::{
        NewConsoleSession, close_console_session, console_session_csrf, open_console_session,
    };
}
use crate::store::{auth as sessions, directory as users};

/// An authenticated directory user.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// Stable id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Roles (`agent`, `supervisor`, `admin`, `integration`).
    pub roles: Vec<String>,
    /// Default place.
    pub default_place: Option<String>,
    /// Per-agent `recordingWhen`.
    pub recording_when: Option<String>,
}

impl AuthUser {
    /// Has this role.
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The GWS user resource.
    pub fn resource(&self) -> proto::UserResource {
        proto::UserResource {
            id: self.id.clone(),
            user_name: self.username.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            roles: self
                .roles
                .iter()
                .map(|r| format!("ROLE_{}", r.to_uppercase()))
                .collect(),
        }
    }
}

/// `(user, password)` from `Authorization: Basic …`, if present and well-formed.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || ApiError::Unauthenticated("malformed Authorization header".into());
    let value = value.to_str().map_err(|_| bad())?;
    let Some(b64) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let decoded = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (user, pass) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some((user.to_string(), pass.to_string())))
}

/// The bearer token of `Authorization: Bearer …`, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

/// The console's session cookie.
pub const CONSOLE_COOKIE: &str = "RWSSESSION";

/// How long a console session lasts.
pub const CONSOLE_SESSION_HOURS: i64 = 8;

pub(crate) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == CONSOLE_COOKIE)
        .map(|(_, v)| v.to_string())
}

fn to_user(row: users::UserRow) -> AuthUser {
    AuthUser {
        id: row.id,
        username: row.username,
        first_name: row.first_name,
        last_name: row.last_name,
        roles: row.roles.split(',').map(str::to_string).collect(),
        default_place: row.default_place,
        recording_when: row.recording_when,
    }
}

tokio::task_local! {
    /// The user [`crate::http::auth::basic_gate`] verified for the request being handled, so
    /// handlers' [`authenticate`] (which sees only the headers) does not
    /// run argon2 a second time.
    pub(crate) static GATE_VERIFIED: Option<AuthUser>;
}

/// Checks `username`/`password` from client address `addr` on any way in:
/// 429 with `Retry-After` while the throttle makes it wait, 503 with
/// `Retry-After` when the hashing queue is full, 401 when wrong (counted).
pub async fn login(
    rws: &crate::Rws,
    addr: std::net::IpAddr,
    username: &str,
    password: &str,
) -> Result<AuthUser, axum::response::Response> {
    use axum::response::IntoResponse;
    if let Err(wait) = rws.throttle.check(addr, username) {
        crate::metrics::login(rws, "throttled");
        tracing::info!(user = %proto::logsafe::Escaped(username), %addr, "login refused: throttled");
        return Err(retry_later(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            wait,
            format!(
                "too many failed logins for '{}' from this address: try again in {} s",
                username.escape_debug(),
                wait.as_secs().max(1)
            ),
        ));
    }
    let row = users::user(&rws.db, username)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let hash = row
        .as_ref()
        .map(|r| r.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_string());
    let ok = row.is_some() && rws.passwords.cached(username, password, &hash)
        || match rws.passwords.verify(password, &hash).await {
            Ok(ok) => {
                if ok {
                    rws.passwords.remember(username, password, &hash);
                }
                ok
            }
            Err(crate::password_pool::Busy) => {
                crate::metrics::login(rws, "busy");
                return Err(retry_later(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    std::time::Duration::from_secs(1),
                    "too many password checks at once: try again shortly".into(),
                ));
            }
        };
    match row {
        Some(row) if ok => {
            crate::metrics::login(rws, "ok");
            rws.throttle.succeeded(addr, username);
            Ok(to_user(row))
        }
        _ => {
            crate::metrics::login(rws, "failed");
            rws.throttle.failed(addr, username);
            tracing::warn!(user = %proto::logsafe::Escaped(username), %addr, "login failed");
            Err(ApiError::Unauthenticated("invalid user name or password".into()).into_response())
        }
    }
}

/// A GWS envelope with `Retry-After` (whole seconds, at least 1).
fn retry_later(
    status: axum::http::StatusCode,
    wait: std::time::Duration,
    message: String,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let secs = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1);
    let mut resp = ApiError::Status(status, message).into_response();
    resp.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(secs),
    );
    resp
}

/// Authenticates a request: HTTP Basic credentials (as GWS), or the
/// console's session cookie. 401 when missing or wrong.
pub async fn authenticate(db: &Pool, headers: &HeaderMap) -> Result<AuthUser, ApiError> {
    if let Some((username, _)) = basic_credentials(headers)? {
        let gate = GATE_VERIFIED.try_with(Clone::clone).ok().flatten();
        if let Some(user) = gate.filter(|u| u.username == username) {
            return Ok(user);
        }
        // Every route is behind the gate, so this is our bug, not the
        // client's: refuse rather than run argon2 outside the pool.
        return Err(ApiError::Internal(format!(
            "Basic credentials of '{}' reached a handler without basic_gate",
            username.escape_debug()
        )));
    }
    if let Some(token) = cookie_token(headers) {
        let now = crate::recording::now();
        let username = sessions::console_session_user(db, &token_hash(&token), &now).await?;
        if let Some(name) = username
            && let Some(row) = users::user(db, &name).await?
        {
            return Ok(to_user(row));
        }
        return Err(ApiError::Unauthenticated(
            "the console session expired: log in again".into(),
        ));
    }
    Err(ApiError::Unauthenticated(
        "credentials required (Authorization: Basic, or the console's session cookie)".into(),
    ))
}

/// Requires one of `roles`: 401 without valid credentials, 403 otherwise.
pub async fn require_role(
    db: &Pool,
    headers: &HeaderMap,
    roles: &[&str],
) -> Result<AuthUser, ApiError> {
    let user = authenticate(db, headers).await?;
    if roles.iter().any(|r| user.has(r)) {
        Ok(user)
    } else {
        Err(ApiError::Forbidden(format!(
            "this needs the role {}",
            roles.join(" or ")
        )))
    }
}

/// Hex SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison of two token hashes.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A fresh random token (256 bits, URL-safe base64).
pub fn new_token() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// argon2id hash of a random password nobody knows.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2NyZWVucmVjZHVtbXk$0bqP1Qz2i8dl3sTuu4bLJcyIxe0k7WMeCBH2yW5V8Qc";
