//! Who sees which recordings, and what happens to them over time: groups
//! (supervisors see their groups' agents), labels, legal hold, deletion,
//! retention, and the audit log of every playback, download, delete, hold
//! and purge. The endpoints are [`crate::http::compliance`].

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::store::{self, Pool};
use axum::http::HeaderMap;

use crate::Rws;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::recording::{Rec, now, parse_time};
use crate::recordings;

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

/// The retention scheduler: applies the rules every `interval`.
pub async fn scheduler(rws: Rws) {
    loop {
        tokio::time::sleep(rws.config.purge_interval).await;
        // With several nodes, one applies the rules (crate::cluster).
        if !crate::cluster::runs_singletons(&rws) {
            continue;
        }
        rws.metrics.retention_runs.inc();
        if let Err(e) = purge(&rws).await {
            tracing::error!(error = %e, "retention run failed");
        }
    }
}

/// The groups a user belongs to (and in which role), for `GET /api/v2/me`.
pub use crate::store::directory::memberships;

/// One audit entry, and the filter of the audit log.
pub use crate::store::audit::{AuditEntry, AuditFilter};

/// The audit log, newest first (`GET /api/v2/audit`).
pub async fn audit_log(db: &Pool, filter: &AuditFilter<'_>) -> Result<Vec<AuditEntry>, ApiError> {
    Ok(store::audit::list(db, filter).await?)
}

/// A call's screen recordings that `vis` sees; 404 when there is none.
pub async fn recordings_of_call(
    db: &Pool,
    call_id: &str,
    vis: &Visibility,
) -> Result<Vec<Rec>, ApiError> {
    let recs: Vec<Rec> = recordings::of_call(db, call_id)
        .await?
        .into_iter()
        .filter(|r| vis.sees(&r.username))
        .collect();
    if recs.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no screen recording for '{call_id}'"
        )));
    }
    Ok(recs)
}

/// Deletes a call's screen recordings (audited, one entry each); 409 when
/// one is on legal hold or still recording, and then none is deleted.
/// Returns how many went.
pub async fn delete_call(
    rws: &Rws,
    user: &AuthUser,
    call_id: &str,
    remote: Option<SocketAddr>,
) -> Result<usize, ApiError> {
    let recs = recordings_of_call(&rws.db, call_id, &Visibility::All).await?;
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
    for r in &recs {
        remove_recording(rws, r).await?;
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
    Ok(recs.len())
}

/// A legal hold to place (with its reason) or release.
#[derive(Debug, Clone)]
pub struct Hold {
    /// Place (`true`) or release.
    pub hold: bool,
    /// Why; required to place a hold.
    pub reason: String,
}

impl Hold {
    /// 400 for a hold placed without a reason.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.hold && self.reason.trim().is_empty() {
            return Err(ApiError::invalid(
                "'reason' is required to place a legal hold",
            ));
        }
        Ok(())
    }
}

/// Places or releases a legal hold on `recs` (audited, one entry each).
async fn set_hold(
    rws: &Rws,
    user: &AuthUser,
    recs: &[Rec],
    hold: &Hold,
    remote: Option<SocketAddr>,
) -> Result<(), ApiError> {
    hold.check()?;
    for r in recs {
        // The reason is kept only while the hold lasts.
        let reason = hold.hold.then_some(hold.reason.as_str());
        store::compliance::set_hold(&rws.db, &r.id, hold.hold, reason).await?;
        let action = if hold.hold { "hold" } else { "release" };
        audit(&rws.db, &user.username, action, &r.id, &hold.reason, remote).await?;
    }
    Ok(())
}

/// Legal hold on a call's screen recordings; returns how many.
pub async fn hold_call(
    rws: &Rws,
    user: &AuthUser,
    call_id: &str,
    hold: &Hold,
    remote: Option<SocketAddr>,
) -> Result<usize, ApiError> {
    hold.check()?;
    let recs = recordings_of_call(&rws.db, call_id, &Visibility::All).await?;
    set_hold(rws, user, &recs, hold, remote).await?;
    Ok(recs.len())
}

/// Legal hold on every recording of `agent` that started between `from`
/// and `to` (RFC 3339); returns how many (none is not an error).
pub async fn hold_agent(
    rws: &Rws,
    user: &AuthUser,
    agent: &str,
    (from, to): (&str, &str),
    hold: &Hold,
    remote: Option<SocketAddr>,
) -> Result<usize, ApiError> {
    let (Some(from), Some(to)) = (parse_time(from), parse_time(to)) else {
        return Err(ApiError::invalid("'from' and 'to' must be RFC 3339 times"));
    };
    if to < from {
        return Err(ApiError::invalid("'to' is before 'from'"));
    }
    hold.check()?;
    let recs: Vec<Rec> = recordings::of_agent_between(
        &rws.db,
        agent,
        &recordings::rfc3339(from),
        &recordings::rfc3339(to),
    )
    .await?;
    set_hold(rws, user, &recs, hold, remote).await?;
    Ok(recs.len())
}

/// 400 unless `label` is 1 to 64 characters of `A-Z a-z 0-9 - _ .`.
pub fn check_label(label: &str) -> Result<(), ApiError> {
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

/// Adds (`add`) or removes a label on the call's screen recordings that
/// `vis` sees (audited); returns how many. Admins and supervisors only.
pub async fn label_call(
    rws: &Rws,
    (user, vis): (&AuthUser, &Visibility),
    call_id: &str,
    label: &str,
    add: bool,
    remote: Option<SocketAddr>,
) -> Result<usize, ApiError> {
    if !user.has("admin") && !user.has("supervisor") {
        return Err(ApiError::Forbidden(
            "labels need the role admin or supervisor".into(),
        ));
    }
    check_label(label)?;
    let recs = recordings_of_call(&rws.db, call_id, vis).await?;
    for r in &recs {
        if add {
            store::compliance::add_label(&rws.db, &r.id, label).await?;
        } else {
            store::compliance::remove_label(&rws.db, &r.id, label).await?;
        }
        audit(
            &rws.db,
            &user.username,
            if add { "label" } else { "unlabel" },
            &r.id,
            label,
            remote,
        )
        .await?;
    }
    Ok(recs.len())
}
