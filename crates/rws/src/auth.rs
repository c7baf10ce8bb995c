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

/// Checks Basic credentials against the directory: 401 when missing or wrong.
pub async fn authenticate(db: &SqlitePool, headers: &HeaderMap) -> Result<AuthUser, ApiError> {
    let Some((username, password)) = basic_credentials(headers)? else {
        return Err(ApiError::Unauthenticated(
            "credentials required (Authorization: Basic)".into(),
        ));
    };
    let row: Option<crate::directory::UserRow> = sqlx::query_as(
        "SELECT id, password_hash, first_name, last_name, roles, default_place, recording_when
             FROM users WHERE username = ?",
    )
    .bind(&username)
    .fetch_optional(db)
    .await?;
    // Verify against a dummy hash for unknown users too, so timing does not
    // tell which user names exist.
    let hash = row
        .as_ref()
        .map(|r| r.1.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_string());
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    match row {
        Some((id, _, first_name, last_name, roles, default_place, recording_when)) if ok => {
            Ok(AuthUser {
                id,
                username,
                first_name,
                last_name,
                roles: roles.split(',').map(str::to_string).collect(),
                default_place,
                recording_when,
            })
        }
        _ => Err(ApiError::Unauthenticated(
            "invalid user name or password".into(),
        )),
    }
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
