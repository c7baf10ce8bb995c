//! `GET /api/v2/me`: who the console's user is and what they may do, so the
//! console shows the right pages without probing other endpoints. Only
//! ever about the caller: no parameter names another user.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;

use crate::Rws;
use crate::compliance::{may_download, setting_true};
use crate::error::ApiError;
use crate::http::authz::User;
use crate::http::sorted_value;

/// `GET /api/v2/me` (any authenticated user; cookie or Basic).
pub async fn me(State(rws): State<Rws>, User(user): User) -> Result<Json<Me>, ApiError> {
    let groups = crate::compliance::memberships(&rws.db, &user.username).await?;
    let agents_see_own = setting_true(&rws.db, "agents_see_own", false).await?;
    let supervisors_may_download = setting_true(&rws.db, "supervisors_may_download", true).await?;
    let oversees = user.has("admin") || user.has("supervisor");
    let live_view = if crate::preview::allowed(&rws.db).await? {
        "always"
    } else {
        "recording"
    };
    // Mirrors `compliance::viewer`: agents search only their own, and only
    // when the directory allows it.
    let own_only = !oversees && user.has("agent") && agents_see_own;
    Ok(Json(Me {
        user: sorted_value(&user.resource()),
        groups: groups
            .into_iter()
            .map(|m| Membership {
                group: m.group,
                role: m.role,
            })
            .collect(),
        settings: Settings {
            agents_see_own,
            live_view: live_view.into(),
            supervisors_may_download,
        },
        may: May {
            search: oversees || own_only,
            own_recordings_only: own_only,
            live: oversees,
            failures: oversees,
            download: may_download(&rws.db, &user).await?,
            audit: user.has("admin"),
        },
        roles: user.roles,
    }))
}

// Fields in the byte order of their JSON names: the order of the `json!`
// map this replaced, so the bytes did not change (see `tests`).

/// `GET /api/v2/me`.
#[derive(Debug, Serialize)]
pub struct Me {
    groups: Vec<Membership>,
    may: May,
    roles: Vec<String>,
    settings: Settings,
    user: Value,
}

/// A group the user is in, and their role there.
#[derive(Debug, Serialize)]
pub struct Membership {
    group: String,
    role: String,
}

/// The directory settings the console adapts to.
#[derive(Debug, Serialize)]
pub struct Settings {
    agents_see_own: bool,
    /// The directory's `live_view`: `"always"` lets the console offer
    /// Watch for agents who are not being recorded.
    live_view: String,
    supervisors_may_download: bool,
}

/// What the console may show the user.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct May {
    audit: bool,
    download: bool,
    failures: bool,
    live: bool,
    own_recordings_only: bool,
    search: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_in_json_name_order() {
        crate::http::assert_json_order(&Me {
            groups: vec![Membership {
                group: "g".into(),
                role: "supervisor".into(),
            }],
            may: May {
                audit: true,
                download: true,
                failures: true,
                live: true,
                own_recordings_only: true,
                search: true,
            },
            roles: vec!["admin".into()],
            settings: Settings {
                agents_see_own: true,
                live_view: "recording".into(),
                supervisors_may_download: true,
            },
            user: serde_json::json!({"id": "1", "userName": "u"}),
        });
    }
}
