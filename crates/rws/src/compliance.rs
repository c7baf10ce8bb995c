//! Who sees which recordings, and what happens to them over time: groups
//! (supervisors see their groups' agents), labels, legal hold, deletion,
//! retention, and the audit log of every playback, download, delete, hold
//! and purge.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::store::{self, Pool};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Rws;
use crate::auth::{AuthUser, require_role};
use crate::error::ApiError;
use crate::recordings::{self, Rec, now, parse_time};

/// The client's address, when the server knows it (audit "from where").
pub struct Remote(pub Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Remote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Remote(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// Whose recordings a user may see.
#[derive(Debug, Clone)]
pub enum Visibility {
    /// Every agent's (admins; supervisors when no group is defined).
    All,
    /// These agents'.
    Agents(HashSet<String>),
}

impl Visibility {
    /// May the user see this agent's recordings?
    pub fn sees(&self, agent: &str) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Agents(a) => a.contains(agent),
        }
    }
}

pub(crate) async fn setting_true(db: &Pool, key: &str, default: bool) -> Result<bool, sqlx::Error> {
    let v = store::directory::setting(db, key).await?;
    Ok(v.map(|v| v == "true").unwrap_or(default))
}

/// Authenticates and works out what the user may see: admins everything;
/// supervisors the agents of the groups they supervise (everything when
/// the directory defines no group); agents their own recordings when the
/// directory says `agents_see_own = true`, else 403.
pub async fn viewer(rws: &Rws, headers: &HeaderMap) -> Result<(AuthUser, Visibility), ApiError> {
    let user = crate::auth::authenticate(&rws.db, headers).await?;
    if user.has("admin") {
        return Ok((user, Visibility::All));
    }
    let mut agents = HashSet::new();
    if user.has("supervisor") {
        if store::directory::group_count(&rws.db).await? == 0 {
            return Ok((user, Visibility::All));
        }
        agents.extend(store::directory::supervised_agents(&rws.db, &user.username).await?);
    }
    if user.has("agent") && setting_true(&rws.db, "agents_see_own", false).await? {
        agents.insert(user.username.clone());
    } else if !user.has("supervisor") {
        return Err(ApiError::Forbidden(
            "this needs the role admin or supervisor".into(),
        ));
    }
    Ok((user, Visibility::Agents(agents)))
}

/// Writes an audit record.
pub async fn audit(
    db: &Pool,
    who: &str,
    action: &str,
    target: &str,
    detail: &str,
    remote: Option<SocketAddr>,
) -> Result<(), sqlx::Error> {
    let remote = remote.map(|r| r.ip().to_string());
    store::audit::insert(
        db,
        &store::audit::NewAuditEntry {
            at: &now(),
            username: who,
            action,
            target,
            detail,
            remote: remote.as_deref(),
        },
    )
    .await?;
    tracing::info!(user = who, action, target, "audit");
    Ok(())
}

/// Audits a playback once per user and media file per 10 minutes (a
/// player sends many Range requests for one viewing).
pub async fn audit_playback(
    db: &Pool,
    who: &str,
    media_id: &str,
    call_id: &str,
    remote: Option<SocketAddr>,
) -> Result<(), sqlx::Error> {
    let since = recordings::rfc3339(time::OffsetDateTime::now_utc() - time::Duration::minutes(10));
    if !store::audit::played_since(db, who, media_id, &since).await? {
        audit(
            db,
            who,
            "playback",
            media_id,
            &format!("call {call_id}"),
            remote,
        )
        .await?;
    }
    Ok(())
}

/// May this user download media?
pub async fn may_download(db: &Pool, user: &AuthUser) -> Result<bool, sqlx::Error> {
    Ok(user.has("admin")
        || (user.has("supervisor") && setting_true(db, "supervisors_may_download", true).await?))
}

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
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    require_role(&rws.db, &headers, &["admin"]).await?;
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
    let entries: Vec<Value> = store::audit::list(&rws.db, &filter)
        .await?
        .into_iter()
        .map(|e| {
            json!({"id": e.id.to_string(), "time": e.at, "user": e.username, "action": e.action, "target": e.target, "detail": e.detail, "remote": e.remote})
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}

/// Removes a recording: media objects, staged parts, metadata.
pub async fn remove_recording(rws: &Rws, rec: &Rec) -> Result<(), ApiError> {
    let media = store::compliance::media_objects(&rws.db, &rec.id).await?;
    for m in &media {
        if let Some(k) = &m.object_path {
            rws.storage.delete(k).await.map_err(ApiError::Internal)?;
        }
        rws.storage
            .delete_staging(&m.id)
            .await
            .map_err(ApiError::Internal)?;
    }
    store::compliance::delete_recording(&rws.db, &rec.id).await?;
    Ok(())
}

/// `DELETE /api/v2/recordings/{call_id}` (admin): deletes the call's screen
/// recordings. 409 when one is on legal hold or still recording.
pub async fn delete(
    State(rws): State<Rws>,
    headers: HeaderMap,
    remote: crate::compliance::Remote,
    Path(call_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = require_role(&rws.db, &headers, &["admin"]).await?;
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
    Ok(Json(json!({"deleted": recs.len()})))
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
    headers: HeaderMap,
    remote: crate::compliance::Remote,
    Path(call_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let user = require_role(&rws.db, &headers, &["admin"]).await?;
    let body = hold_body(&body)?;
    let recs = recordings::of_call(&rws.db, &call_id).await?;
    if recs.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no screen recording for '{call_id}'"
        )));
    }
    set_hold(&rws, &user, &recs, &body, remote.0).await?;
    Ok(Json(json!({"recordings": recs.len(), "hold": body.hold})))
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
    headers: HeaderMap,
    remote: crate::compliance::Remote,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let user = require_role(&rws.db, &headers, &["admin"]).await?;
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
    Ok(Json(json!({"recordings": recs.len(), "hold": b.hold})))
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
    headers: HeaderMap,
    method: axum::http::Method,
    remote: crate::compliance::Remote,
    Path((call_id, label)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    // Authentication first (rule 10): a stranger learns nothing about labels.
    let (user, vis) = viewer(&rws, &headers).await?;
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
    Ok(Json(
        json!({"recordings": recs.len(), "label": label, "added": add}),
    ))
}

/// What a retention run did.
#[derive(Debug, Default, serde::Serialize)]
pub struct PurgeReport {
    /// Recordings removed.
    pub purged: u64,
    /// Expired recordings kept because of a legal hold.
    pub held: u64,
}

/// Removes final recordings whose retention has run out, except those on
/// legal hold. Of the rules that apply, the most specific (most of group,
/// label, state set) wins, then the longest; no rule applies: kept.
pub async fn purge(rws: &Rws) -> Result<PurgeReport, ApiError> {
    let rules = store::directory::retention_rules(&rws.db).await?;
    let mut report = PurgeReport::default();
    if rules.is_empty() {
        return Ok(report);
    }
    let now = time::OffsetDateTime::now_utc();
    for rec in recordings::finished(&rws.db).await? {
        let labels = recordings::labels_of(&rws.db, &rec.id).await?;
        let groups = store::directory::agent_groups(&rws.db, &rec.username).await?;
        let keep = rules
            .iter()
            .filter(|r| {
                r.group.as_ref().is_none_or(|g| groups.contains(g))
                    && r.label.as_ref().is_none_or(|l| labels.contains(l))
                    && r.state.as_ref().is_none_or(|s| s == rec.state.as_str())
            })
            // The most specific rule wins (most conditions), then the longest.
            .map(|r| {
                let specific = [r.group.is_some(), r.label.is_some(), r.state.is_some()]
                    .iter()
                    .filter(|x| **x)
                    .count();
                (specific, r.keep_days)
            })
            .max()
            .map(|(_, d)| d);
        let Some(days) = keep else { continue };
        let ended = rec
            .stopped_at
            .as_deref()
            .or(Some(rec.requested_at.as_str()))
            .and_then(parse_time)
            .unwrap_or(now);
        if now - ended < time::Duration::days(days) {
            continue;
        }
        if rec.legal_hold {
            report.held += 1;
            continue;
        }
        remove_recording(rws, &rec).await?;
        audit(
            &rws.db,
            "retention",
            "purge",
            &rec.id,
            &format!(
                "call {}, agent {}, kept {days} days",
                rec.interaction_id, rec.username
            ),
            None,
        )
        .await?;
        report.purged += 1;
    }
    if report.purged > 0 || report.held > 0 {
        tracing::info!(purged = report.purged, held = report.held, "retention run");
    }
    Ok(report)
}

/// `POST /api/v2/retention/run` (admin): applies the retention rules now.
pub async fn run_retention(
    State(rws): State<Rws>,
    headers: HeaderMap,
    remote: crate::compliance::Remote,
) -> Result<Json<PurgeReport>, ApiError> {
    let user = require_role(&rws.db, &headers, &["admin"]).await?;
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

/// The retention scheduler: applies the rules every `interval`.
pub async fn scheduler(rws: Rws) {
    loop {
        tokio::time::sleep(rws.config.purge_interval).await;
        if let Err(e) = purge(&rws).await {
            tracing::error!(error = %e, "retention run failed");
        }
    }
}
