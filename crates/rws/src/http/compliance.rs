//! Compliance endpoints: the audit log, legal holds (per call and per
//! agent), labels, delete and a retention run. Who sees what, the audit
//! trail and the purge are [`crate::compliance`]'s.

use crate::Rws;
use crate::compliance::{
    self, AuditFilter, Hold, PurgeReport, audit, delete_call, label_call, purge,
};
use crate::error::ApiError;
use crate::http::authz::{Admin, Viewer};
use crate::recording::parse_time;
use crate::recordings;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

/// Query of `GET /api/v2/audit`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    user: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v2/audit` (admin): the audit log, newest first.
pub async fn audit_log(
    State(rws): State<Rws>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
    Admin(_): Admin,
) -> Result<Json<AuditLog>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::invalid(format!(
            "{} (parameters: user, action, target, from, to, limit)",
            e.body_text()
        ))
    })?;
    for (name, v) in [("from", &q.from), ("to", &q.to)] {
        if let Some(v) = v
            && parse_time(v).is_none()
        {
            return Err(ApiError::invalid(format!(
                "'{name}' must be RFC 3339, got '{v}'"
            )));
        }
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("'limit' must be 1..=1000"));
    }
    let from = q
        .from
        .as_deref()
        .and_then(parse_time)
        .map(recordings::rfc3339);
    let to =
        q.to.as_deref()
            .and_then(parse_time)
            .map(recordings::rfc3339);
    let filter = AuditFilter {
        username: q.user.as_deref(),
        action: q.action.as_deref(),
        target: q.target.as_deref(),
        from: from.as_deref(),
        to: to.as_deref(),
        limit: i64::from(limit),
    };
    let entries: Vec<AuditLine> = compliance::audit_log(&rws.db, &filter)
        .await?
        .into_iter()
        .map(|e| AuditLine {
            action: e.action,
            detail: e.detail,
            id: e.id.to_string(),
            remote: e.remote,
            target: e.target,
            time: e.at,
            user: e.username,
        })
        .collect();
    Ok(Json(AuditLog { entries }))
}

/// `DELETE /api/v2/recordings/{call_id}` (admin): deletes the call's screen
/// recordings. 409 when one is on legal hold or still recording.
pub async fn delete(
    State(rws): State<Rws>,
    remote: crate::http::authz::Remote,
    Path(call_id): Path<String>,
    Admin(user): Admin,
) -> Result<Json<Deleted>, ApiError> {
    let deleted = delete_call(&rws, &user, &call_id, remote.0).await?;
    Ok(Json(Deleted { deleted }))
}

/// Body of the hold endpoints.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    hold: bool,
    #[serde(default)]
    reason: String,
}

/// `PUT /api/v2/recordings/{call_id}/hold` (admin) `{"hold", "reason"}`:
/// places or releases a legal hold on the call's screen recordings.
pub async fn hold_call(
    State(rws): State<Rws>,
    remote: crate::http::authz::Remote,
    Path(call_id): Path<String>,
    Admin(user): Admin,
    body: Bytes,
) -> Result<Json<HoldChanged>, ApiError> {
    let b: HoldBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!(
            "request body: {e} (expected {{\"hold\": true|false, \"reason\": \"…\"}})"
        ))
    })?;
    let hold = Hold {
        hold: b.hold,
        reason: b.reason,
    };
    let recordings = compliance::hold_call(&rws, &user, &call_id, &hold, remote.0).await?;
    Ok(Json(HoldChanged {
        hold: hold.hold,
        recordings,
    }))
}

/// Body of `POST /api/v2/holds`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentHold {
    agent: String,
    from: String,
    to: String,
    reason: String,
    #[serde(default = "yes")]
    hold: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/v2/holds` (admin) `{"agent", "from", "to", "reason", "hold"?}`:
/// legal hold on every recording of an agent that started in the range.
pub async fn hold_agent(
    State(rws): State<Rws>,
    remote: crate::http::authz::Remote,
    Admin(user): Admin,
    body: Bytes,
) -> Result<Json<HoldChanged>, ApiError> {
    let b: AgentHold = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!(
            "request body: {e} (expected {{\"agent\", \"from\", \"to\", \"reason\"}})"
        ))
    })?;
    let hold = Hold {
        hold: b.hold,
        reason: b.reason,
    };
    let range = (b.from.as_str(), b.to.as_str());
    let recordings = compliance::hold_agent(&rws, &user, &b.agent, range, &hold, remote.0).await?;
    Ok(Json(HoldChanged {
        hold: hold.hold,
        recordings,
    }))
}

/// `PUT|DELETE /api/v2/recordings/{call_id}/labels/{label}` (admin, or a
/// supervisor who sees the recordings): adds or removes a label.
pub async fn label(
    State(rws): State<Rws>,
    method: axum::http::Method,
    remote: crate::http::authz::Remote,
    Path((call_id, label)): Path<(String, String)>,
    viewer: Viewer,
) -> Result<Json<LabelChanged>, ApiError> {
    // Authentication first (rule 10): a stranger learns nothing about labels.
    let Viewer {
        user,
        visibility: vis,
    } = viewer;
    let add = method == axum::http::Method::PUT;
    let recordings = label_call(&rws, (&user, &vis), &call_id, &label, add, remote.0).await?;
    Ok(Json(LabelChanged {
        added: add,
        label,
        recordings,
    }))
}

/// `POST /api/v2/retention/run` (admin): applies the retention rules now.
pub async fn run_retention(
    State(rws): State<Rws>,
    remote: crate::http::authz::Remote,
    Admin(user): Admin,
) -> Result<Json<PurgeReport>, ApiError> {
    let report = purge(&rws).await?;
    audit(
        &rws.db,
        &user.username,
        "retention_run",
        "-",
        &format!("purged {}, held {}", report.purged, report.held),
        remote.0,
    )
    .await?;
    Ok(Json(report))
}

// Response bodies: fields in the byte order of their JSON names, the order
// the `json!` maps they replace wrote them in (see `tests`).

/// `GET /api/v2/audit`.
#[derive(Debug, Serialize)]
pub struct AuditLog {
    entries: Vec<AuditLine>,
}

/// One audit entry.
#[derive(Debug, Serialize)]
pub struct AuditLine {
    action: String,
    detail: String,
    id: String,
    remote: Option<String>,
    target: String,
    time: String,
    user: String,
}

/// `DELETE /api/v2/recordings/{call_id}`: how many recordings went.
#[derive(Debug, Serialize)]
pub struct Deleted {
    deleted: usize,
}

/// A legal hold set or released, on how many recordings.
#[derive(Debug, Serialize)]
pub struct HoldChanged {
    hold: bool,
    recordings: usize,
}

/// A label added or removed, on how many recordings.
#[derive(Debug, Serialize)]
pub struct LabelChanged {
    added: bool,
    label: String,
    recordings: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::assert_json_order;

    #[test]
    fn fields_are_in_json_name_order() {
        let s = |v: &str| v.to_string();
        assert_json_order(&AuditLog {
            entries: vec![AuditLine {
                action: s("delete"),
                detail: s("d"),
                id: s("1"),
                remote: Some(s("127.0.0.1")),
                target: s("t"),
                time: s("t0"),
                user: s("u"),
            }],
        });
        assert_json_order(&Deleted { deleted: 1 });
        assert_json_order(&HoldChanged {
            hold: true,
            recordings: 2,
        });
        assert_json_order(&LabelChanged {
            added: true,
            label: s("l"),
            recordings: 2,
        });
    }
}
