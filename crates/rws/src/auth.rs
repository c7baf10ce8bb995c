//! Authentication: HTTP Basic credentials checked against the directory's
//! argon2id hashes (on a blocking thread: a hash costs tens of ms), and
//! bearer session tokens compared by their SHA-256 in constant time.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
use subtle::ConstantTimeEq;

use crate::directory::verify_password;
use crate::error::ApiError;

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

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == CONSOLE_COOKIE)
        .map(|(_, v)| v.to_string())
}

async fn load_user(
    db: &SqlitePool,
    username: &str,
) -> Result<Option<(crate::directory::UserRow, String)>, ApiError> {
    let row: Option<crate::directory::UserRow> = sqlx::query_as(
        "SELECT id, password_hash, first_name, last_name, roles, default_place, recording_when
             FROM users WHERE username = ?",
    )
    .bind(username)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r, username.to_string())))
}

fn to_user(row: crate::directory::UserRow, username: String) -> AuthUser {
    let (id, _, first_name, last_name, roles, default_place, recording_when) = row;
    AuthUser {
        id,
        username,
        first_name,
        last_name,
        roles: roles.split(',').map(str::to_string).collect(),
        default_place,
        recording_when,
    }
}

/// Checks a user name and password against the directory (argon2id; the
/// same work for unknown users, so timing does not tell which exist).
pub async fn check_password(
    db: &SqlitePool,
    username: &str,
    password: &str,
) -> Result<AuthUser, ApiError> {
    let row = load_user(db, username).await?;
    let hash = row
        .as_ref()
        .map(|r| r.0.1.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_string());
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    match row {
        Some((row, name)) if ok => Ok(to_user(row, name)),
        _ => Err(ApiError::Unauthenticated(
            "invalid user name or password".into(),
        )),
    }
}

/// Authenticates a request: HTTP Basic credentials (as GWS), or the
/// console's session cookie. 401 when missing or wrong.
pub async fn authenticate(db: &SqlitePool, headers: &HeaderMap) -> Result<AuthUser, ApiError> {
    if let Some((username, password)) = basic_credentials(headers)? {
        return check_password(db, &username, &password).await;
    }
    if let Some(token) = cookie_token(headers) {
        let now = crate::recordings::now();
        let username: Option<String> = sqlx::query_scalar(
            "SELECT username FROM console_sessions WHERE token_hash = ? AND expires_at > ?",
        )
        .bind(token_hash(&token))
        .bind(&now)
        .fetch_optional(db)
        .await?;
        if let Some(name) = username
            && let Some((row, name)) = load_user(db, &name).await?
        {
            return Ok(to_user(row, name));
        }
        return Err(ApiError::Unauthenticated(
            "the console session expired: log in again".into(),
        ));
    }
    Err(ApiError::Unauthenticated(
        "credentials required (Authorization: Basic, or the console's session cookie)".into(),
    ))
}

/// `POST /api/v2/auth/login` `{"username", "password"}`: a console session
/// (cookie `RWSSESSION`, HttpOnly, SameSite=Strict, 8 hours).
pub async fn console_login(
    axum::extract::State(rws): axum::extract::State<crate::Rws>,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Login {
        username: String,
        password: String,
    }
    let login: Login = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!(
            "request body: {e} (expected {{\"username\", \"password\"}})"
        ))
    })?;
    if let Some(wait) = rws.lockout.locked(&login.username) {
        return Err(ApiError::Status(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many failed logins for '{}': try again in {} s",
                login.username,
                wait.as_secs().max(1)
            ),
        ));
    }
    let user = match check_password(&rws.db, &login.username, &login.password).await {
        Ok(u) => u,
        Err(e) => {
            rws.lockout.failed(&login.username);
            tracing::warn!(user = %crate::logsafe::Escaped(&login.username), "console login failed");
            return Err(e);
        }
    };
    rws.lockout.succeeded(&login.username);
    let token = new_token();
    let csrf = new_token();
    let now = time::OffsetDateTime::now_utc();
    let expires = now + time::Duration::hours(CONSOLE_SESSION_HOURS);
    sqlx::query("DELETE FROM console_sessions WHERE expires_at < ?")
        .bind(crate::recordings::rfc3339(now))
        .execute(&rws.db)
        .await?;
    sqlx::query("INSERT INTO console_sessions(token_hash, username, created_at, expires_at, csrf) VALUES (?, ?, ?, ?, ?)")
        .bind(token_hash(&token))
        .bind(&user.username)
        .bind(crate::recordings::rfc3339(now))
        .bind(crate::recordings::rfc3339(expires))
        .bind(&csrf)
        .execute(&rws.db)
        .await?;
    tracing::info!(user = %crate::logsafe::Escaped(&user.username), "console login");
    let mut resp =
        axum::Json(serde_json::json!({"user": user.resource(), "csrfToken": csrf})).into_response();
    let cookie = format!(
        "{CONSOLE_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        CONSOLE_SESSION_HOURS * 3600
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(axum::http::header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `POST /api/v2/auth/logout`: ends the console session.
pub async fn console_logout(
    axum::extract::State(rws): axum::extract::State<crate::Rws>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if let Some(token) = cookie_token(&headers) {
        sqlx::query("DELETE FROM console_sessions WHERE token_hash = ?")
            .bind(token_hash(&token))
            .execute(&rws.db)
            .await?;
    }
    let mut resp = axum::Json(serde_json::json!({"statusCode": 0})).into_response();
    resp.headers_mut().insert(
        axum::http::header::SET_COOKIE,
        axum::http::HeaderValue::from_static(
            "RWSSESSION=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    Ok(resp)
}

/// Requires one of `roles`: 401 without valid credentials, 403 otherwise.
pub async fn require_role(
    db: &SqlitePool,
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

/// Failed console logins per user name: after [`Lockout::MAX_FAILURES`]
/// within [`Lockout::WINDOW`], the name is locked for the window.
#[derive(Default)]
pub struct Lockout(std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>);

impl Lockout {
    /// Failures that lock a name.
    pub const MAX_FAILURES: u32 = 5;
    /// How long failures count, and how long a lock lasts.
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

    fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (u32, std::time::Instant)>>
    {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long the name stays locked, if it is.
    pub fn locked(&self, user: &str) -> Option<std::time::Duration> {
        let map = self.map();
        let (n, since) = map.get(user)?;
        let age = since.elapsed();
        (*n >= Self::MAX_FAILURES && age < Self::WINDOW).then(|| Self::WINDOW - age)
    }

    /// Counts a failure.
    pub fn failed(&self, user: &str) {
        let mut map = self.map();
        if map.len() > 100_000 {
            map.retain(|_, (_, t)| t.elapsed() < Self::WINDOW);
        }
        let e = map
            .entry(user.to_string())
            .or_insert((0, std::time::Instant::now()));
        if e.1.elapsed() >= Self::WINDOW {
            *e = (0, std::time::Instant::now());
        }
        e.0 += 1;
    }

    /// Clears the name's failures.
    pub fn succeeded(&self, user: &str) {
        self.map().remove(user);
    }
}

/// Requests authenticated by the console cookie that change something
/// (not GET/HEAD/OPTIONS) must carry the session's `X-CSRF-Token`; only a
/// request whose `Authorization: Basic` authenticates it is exempt.
pub async fn csrf_guard(
    axum::extract::State(rws): axum::extract::State<crate::Rws>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse;
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    let exempt = path == "/api/v2/auth/login" || path == "/api/v2/auth/logout";
    // Only Basic credentials take the place of the cookie (`authenticate`
    // tries them first and never falls back): any other Authorization
    // header (a junk `Bearer`) leaves the cookie deciding, so CSRF applies.
    let basic = !matches!(basic_credentials(req.headers()), Ok(None));
    if !safe
        && !exempt
        && !basic
        && let Some(token) = cookie_token(req.headers())
    {
        let expected: Option<String> =
            sqlx::query_scalar("SELECT csrf FROM console_sessions WHERE token_hash = ?")
                .bind(token_hash(&token))
                .fetch_optional(&rws.db)
                .await
                .unwrap_or(None);
        let given = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let ok = expected
            .is_some_and(|e| !e.is_empty() && bool::from(e.as_bytes().ct_eq(given.as_bytes())));
        if !ok {
            return ApiError::Forbidden(
                "Missing or invalid Csrf token (X-CSRF-Token from the login answer)".into(),
            )
            .into_response();
        }
    }
    next.run(req).await
}
