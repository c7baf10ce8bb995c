//! `GET /api/v2/me`: who the console's user is and what they may do, so the
//! console shows the right pages without probing other endpoints. Only
//! ever about the caller: no parameter names another user.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::Rws;
use crate::compliance::{may_download, setting_true};
use crate::error::ApiError;

/// `GET /api/v2/me` (any authenticated user; cookie or Basic).
pub async fn me(State(rws): State<Rws>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let user = crate::auth::authenticate(&rws.db, &headers).await?;
    let groups = crate::store::directory::memberships(&rws.db, &user.username).await?;
    let agents_see_own = setting_true(&rws.db, "agents_see_own", false).await?;
    let supervisors_may_download = setting_true(&rws.db, "supervisors_may_download", true).await?;
    let oversees = user.has("admin") || user.has("supervisor");
    // Mirrors `compliance::viewer`: agents search only their own, and only
    // when the directory allows it.
    let own_only = !oversees && user.has("agent") && agents_see_own;
    Ok(Json(json!({
        "user": user.resource(),
        "roles": user.roles,
        "groups": groups
            .iter()
            .map(|m| json!({"group": m.group, "role": m.role}))
            .collect::<Vec<_>>(),
        "settings": {
            "agents_see_own": agents_see_own,
            "supervisors_may_download": supervisors_may_download,
        },
        "may": {
            "search": oversees || own_only,
            "ownRecordingsOnly": own_only,
            "live": oversees,
            "failures": oversees,
            "download": may_download(&rws.db, &user).await?,
            "audit": user.has("admin"),
        },
    })))
}
