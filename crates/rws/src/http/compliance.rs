//! Compliance endpoints: the audit log, legal holds (per call and per
//! agent), labels, delete and a retention run. Who sees what, the audit
//! trail and the purge are [`crate::compliance`]'s.

use crate::Rws;
use crate::auth::AuthUser;
use crate::compliance::{PurgeReport, audit, purge, remove_recording};
use crate::error::ApiError;
use crate::http::authz::{Admin, Viewer};
use crate::recording::{Rec, parse_time};
use crate::recordings;
use crate::store::{self};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

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
    let filter = store::audit::AuditFilter {
        username: q.user.as_deref(),
        action: q.action.as_deref(),
        target: q.target.as_deref(),
        from: from.as_deref(),
        to: to.as_deref(),
        limit: i64::from(limit),
    };
    let entries: Vec<AuditLine> = store::audit::list(&rws.db, &filter)
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
    let recs = recordings::of_call(&rws.db, &call_id).await?;
    if recs.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no screen recording for '{call_id}'"
        )));
    }
    if let Some(r) = recs.iter().find(|r| r.legal_hold) {
        return Err(ApiError::Conflict(format!(
            "recording {} is on legal hold ({}): release the hold first",
            r.id,
            r.hold_reason.as_deref().unwrap_or("no reason given")
        )));
    }
    if let Some(r) = recs.iter().find(|r| !r.state.is_final()) {
        return Err(ApiError::Conflict(format!(
            "recording {} is still {}: delete it once it has ended",
            r.id, r.state
        )));
    }
    let remote = remote.0;
    for r in &recs {
        remove_recording(&rws, r).await?;
        audit(
            &rws.db,
            &user.username,
            "delete",
            &r.id,
            &format!("call {call_id}, agent {}", r.username),
            remote,
        )
        .await?;
    }
    Ok(Json(Deleted {
        deleted: recs.len(),
    }))
}

/// Body of the hold endpoints.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    hold: bool,
    #[serde(default)]
    reason: String,
}

async fn set_hold(
    rws: &Rws,
    user: &AuthUser,
    recs: &[Rec],
    body: &HoldBody,
    remote: Option<SocketAddr>,
) -> Result<(), ApiError> {
    for r in recs {
        // The reason is kept only while the hold lasts.
        let reason = body.hold.then_some(body.reason.as_str());
        store::compliance::set_hold(&rws.db, &r.id, body.hold, reason).await?;
        let action = if body.hold { "hold" } else { "release" };
        audit(&rws.db, &user.username, action, &r.id, &body.reason, remote).await?;
    }
    Ok(())
}

fn hold_body(body: &Bytes) -> Result<HoldBody, ApiError> {
    let b: HoldBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(format!(
            "request body: {e} (expected {{\"hold\": true|false, \"reason\": \"…\"}})"
        ))
    })?;
    if b.hold && b.reason.trim().is_empty() {
        return Err(ApiError::invalid(
            "'reason' is required to place a legal hold",
        ));
    }
    Ok(b)
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
    let body = hold_body(&body)?;
    let recs = recordings::of_call(&rws.db, &call_id).await?;
    if recs.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no screen recording for '{call_id}'"
        )));
    }
    set_hold(&rws, &user, &recs, &body, remote.0).await?;
    Ok(Json(HoldChanged {
        hold: body.hold,
        recordings: recs.len(),
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
    let (Some(from), Some(to)) = (parse_time(&b.from), parse_time(&b.to)) else {
        return Err(ApiError::invalid("'from' and 'to' must be RFC 3339 times"));
    };
    if to < from {
        return Err(ApiError::invalid("'to' is before 'from'"));
    }
    if b.hold && b.reason.trim().is_empty() {
        return Err(ApiError::invalid(
            "'reason' is required to place a legal hold",
        ));
    }
    let recs: Vec<Rec> = recordings::of_agent_between(
        &rws.db,
        &b.agent,
        &recordings::rfc3339(from),
        &recordings::rfc3339(to),
    )
    .await?;
    let hb = HoldBody {
        hold: b.hold,
        reason: b.reason.clone(),
    };
    set_hold(&rws, &user, &recs, &hb, remote.0).await?;
    Ok(Json(HoldChanged {
        hold: b.hold,
        recordings: recs.len(),
    }))
}

fn check_label(label: &str) -> Result<(), ApiError> {
    let ok = !label.is_empty()
        && label.len() <= 64
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "label '{label}': 1 to 64 characters of A-Z a-z 0-9 - _ ."
        )))
    }
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
    if !user.has("admin") && !user.has("supervisor") {
        return Err(ApiError::Forbidden(
            "labels need the role admin or supervisor".into(),
        ));
    }
    check_label(&label)?;
    let recs: Vec<Rec> = recordings::of_call(&rws.db, &call_id)
        .await?
        .into_iter()
        .filter(|r| vis.sees(&r.username))
        .collect();
    if recs.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no screen recording for '{call_id}'"
        )));
    }
    let add = method == axum::http::Method::PUT;
    for r in &recs {
        if add {
            store::compliance::add_label(&rws.db, &r.id, &label).await?;
        } else {
            store::compliance::remove_label(&rws.db, &r.id, &label).await?;
        }
        audit(
            &rws.db,
            &user.username,
            if add { "label" } else { "unlabel" },
            &r.id,
            &label,
            remote.0,
        )
        .await?;
    }
    Ok(Json(LabelChanged {
        added: add,
        label,
        recordings: recs.len(),
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
