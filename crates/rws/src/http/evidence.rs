//! Evidence endpoints: `GET /api/v2/keys/signing` (the tenant's public
//! signing key) and `GET /api/v2/recordings/{call_id}/export` (the signed
//! bundle). The work is [`crate::evidence`]'s.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::Rws;
use crate::error::ApiError;
use crate::http::authz::{Remote, User};
use crate::recording::Rec;
use crate::recordings::of_call;

/// `GET /api/v2/keys/signing`: the public key that signs evidence manifests.
#[derive(Debug, Serialize)]
pub struct SigningKeyInfo {
    /// `ed25519`.
    algorithm: &'static str,
    /// Key id (16 hex of SHA-256 of the raw key), as manifests name it.
    key_id: String,
    /// PEM, SubjectPublicKeyInfo (`openssl pkey -pubin` reads it).
    pem: String,
    /// The raw 32-byte key, base64 (what `screenrec verify --key` also takes).
    public_key: String,
}

/// `GET /api/v2/keys/signing` (any signed-in user): the active signing key.
pub async fn signing_key(
    State(rws): State<Rws>,
    User(_): User,
) -> Result<axum::Json<SigningKeyInfo>, ApiError> {
    let key = crate::signing::active_public(&rws.db)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(|| ApiError::NotFound("no signing key yet".into()))?;
    Ok(axum::Json(SigningKeyInfo {
        algorithm: "ed25519",
        key_id: key.key_id(),
        pem: key.to_pem(),
        public_key: key.to_b64(),
    }))
}

/// `?recording=` of an export.
#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    /// Which of the call's screen recordings (needed when it has several).
    recording: Option<String>,
}

/// `GET /api/v2/recordings/{call_id}/export` (admin, or supervisor allowed
/// to download, within their groups): the signed evidence bundle of one
/// final recording of the call, as a zip; every export is audited.
pub async fn export(
    State(rws): State<Rws>,
    headers: HeaderMap,
    remote: Remote,
    Path(call_id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let (user, vis) = crate::compliance::viewer(&rws, &headers).await?;
    if !crate::compliance::may_download(&rws.db, &user).await? {
        return Err(ApiError::Forbidden(
            "exporting needs the admin role (supervisors_may_download is off)".into(),
        ));
    }
    // Recordings of other groups are not there, as everywhere in the API.
    let recs: Vec<Rec> = of_call(&rws.db, &call_id)
        .await?
        .into_iter()
        .filter(|r| vis.sees(&r.username))
        .filter(|r| q.recording.as_ref().is_none_or(|id| *id == r.id))
        .collect();
    let rec = match recs.as_slice() {
        [] => {
            return Err(ApiError::NotFound(match &q.recording {
                Some(id) => format!("no screen recording '{id}' in call '{call_id}'"),
                None => format!("no screen recording for '{call_id}'"),
            }));
        }
        [one] => one,
        many => {
            let ids: Vec<&str> = many.iter().map(|r| r.id.as_str()).collect();
            return Err(ApiError::invalid(format!(
                "call '{call_id}' has {} screen recordings ({}): pick one with ?recording=ID",
                ids.len(),
                ids.join(", ")
            )));
        }
    };
    let bundle = crate::evidence::bundle(&rws, rec).await?;
    crate::compliance::audit(
        &rws.db,
        &user.username,
        "export",
        &rec.id,
        &format!("call {call_id}, manifest signed by key {}", bundle.key_id),
        remote.0,
    )
    .await?;
    let mut resp = Response::new(Body::from_stream(bundle.stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Some(v) =
        super::recordings::content_disposition(&call_id, &format!("{}-evidence.zip", rec.id))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
