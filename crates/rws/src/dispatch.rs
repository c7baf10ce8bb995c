//! The recording policy at work: after every batch of events, the calls and
//! interactions it touched are re-read in timestamp order and the agents'
//! recordings are brought in line — started, linked, paused, resumed or
//! stopped over the control channel. Deriving the wanted state from all of
//! a call's events (rather than reacting to each event alone) is what makes
//! duplicates and out-of-order arrival harmless.
//!
//! Rules (ARCHITECTURE.md "Recording rules"):
//! * voice and blended agents are recorded while they are on a call whose
//!   voice recording runs (`recording.started` … `recording.stopped`),
//!   unless their `recordingWhen` is `off`;
//! * non-voice agents are recorded during an interaction that matches their
//!   `recordingWhen` ([`crate::policy::matches`]);
//! * one recording per agent at a time, mapped to the interaction that
//!   started it; interactions that overlap it are linked with their own
//!   start and end; it stops when the last of them ends;
//! * a call leg ends with `call.released` or `call.transferred` on the
//!   agent's DN (single-step transfer: A's recording ends, B's starts with
//!   B's `call.established`);
//! * a recording is never started twice for the same call leg (same call,
//!   same DN), so replayed events change nothing.

use std::collections::{BTreeMap, BTreeSet};

use proto::control::{StopReason, ToAgent};
use serde_json::Value;

use crate::Rws;
use crate::recording::Rec;
use crate::recording::rules::{self, StartAnswer};
use crate::recording::{RecordingState, Timestamp};
use crate::recordings::{self, NewRecording};

/// What one call leg or interaction wants.
struct Want {
    interaction_id: String,
    media: String,
    dn: Option<String>,
    /// The agent: by device (voice) or by name (non-voice).
    who: Who,
    /// The agent should be recorded now.
    record: bool,
    /// The recording should be blanked (call's voice recording paused).
    paused: bool,
    /// Since when (leg or recording start, whichever is later).
    since: String,
    /// When it stopped being wanted, and why.
    ended: Option<(String, StopReason)>,
    /// The event that decided it (for non-voice rule checks).
    started_event: Option<Value>,
}

enum Who {
    Device { dn: String, switch: String },
    User(String),
}

/// Re-evaluates the given calls and interactions.
pub async fn on_events(rws: &Rws, calls: BTreeSet<String>, interactions: BTreeSet<String>) {
    let _serial = rws.dispatch_lock.lock().await;
    let mut wants = Vec::new();
    for c in &calls {
        match voice_wants(rws, c).await {
            Ok(w) => wants.extend(w),
            Err(e) => {
                tracing::error!(call = %proto::logsafe::Escaped(c), error = %e, "reading a call's events")
            }
        }
    }
    for i in &interactions {
        match interaction_wants(rws, i).await {
            Ok(w) => wants.extend(w),
            Err(e) => {
                tracing::error!(interaction = %proto::logsafe::Escaped(i), error = %e, "reading an interaction's events")
            }
        }
    }
    for w in wants {
        if let Err(e) = apply(rws, &w).await {
            tracing::error!(interaction = %proto::logsafe::Escaped(&w.interaction_id), error = %e, "applying the recording policy");
        }
    }
    for c in &calls {
        if let Err(e) = note_numbers(rws, c).await {
            tracing::error!(call = %proto::logsafe::Escaped(c), error = %e, "noting the call's numbers");
        }
    }
}

/// Copies the caller and dialed numbers (`ani`, `dnis` of the call's
/// events) onto its recordings, for search.
async fn note_numbers(rws: &Rws, call: &str) -> Result<(), sqlx::Error> {
    let bodies = crate::store::events::bodies_of_call(&rws.db, call).await?;
    let pick = |key: &str| {
        bodies.iter().find_map(|b| {
            serde_json::from_str::<Value>(b)
                .ok()?
                .get(key)?
                .as_str()
                .map(str::to_string)
        })
    };
    let (ani, dnis) = (pick("ani"), pick("dnis"));
    if ani.is_some() || dnis.is_some() {
        crate::store::recordings::set_numbers(&rws.db, call, ani.as_deref(), dnis.as_deref())
            .await?;
    }
    Ok(())
}

async fn voice_wants(rws: &Rws, call: &str) -> Result<Vec<Want>, sqlx::Error> {
    let rows = crate::store::events::of_call(&rws.db, call).await?;
    let mut running = false;
    let mut running_since = String::new();
    let mut paused = false;
    let mut stopped_at: Option<String> = None;
    // (dn, switch) → (open, since, closed_at)
    let mut legs: BTreeMap<(String, String), (bool, String, Option<String>)> = BTreeMap::new();
    for (kind, dn, switch, ts, _) in &rows {
        let key = (
            dn.clone().unwrap_or_default(),
            switch.clone().unwrap_or_default(),
        );
        let open_leg = |legs: &mut BTreeMap<_, (bool, String, Option<String>)>| {
            let leg = legs.entry(key.clone()).or_insert((false, ts.clone(), None));
            if !leg.0 {
                *leg = (true, ts.clone(), None);
            }
        };
        match kind.as_str() {
            "recording.started" => {
                running = true;
                paused = false;
                running_since = ts.clone();
                stopped_at = None;
                open_leg(&mut legs);
            }
            "recording.stopped" => {
                running = false;
                stopped_at = Some(ts.clone());
            }
            "recording.paused" => paused = true,
            "recording.resumed" => paused = false,
            "call.established" | "call.retrieved" | "call.held" | "call.conferenced" => {
                open_leg(&mut legs)
            }
            "call.released" | "call.transferred" => {
                let leg = legs.entry(key).or_insert((false, ts.clone(), None));
                if leg.0 {
                    *leg = (false, leg.1.clone(), Some(ts.clone()));
                }
            }
            _ => {}
        }
    }
    Ok(legs
        .into_iter()
        .map(|((dn, switch), (open, since, closed_at))| {
            let ended = if !open {
                closed_at.map(|t| (t, StopReason::CallReleased))
            } else if !running {
                stopped_at
                    .clone()
                    .map(|t| (t, StopReason::RecordingStopped))
            } else {
                None
            };
            Want {
                interaction_id: call.to_string(),
                media: "voice".into(),
                dn: Some(dn.clone()),
                record: open && running,
                paused,
                since: since.max(running_since.clone()),
                ended,
                started_event: None,
                who: Who::Device { dn, switch },
            }
        })
        .collect())
}

async fn interaction_wants(rws: &Rws, id: &str) -> Result<Vec<Want>, sqlx::Error> {
    let rows = crate::store::events::of_interaction(&rws.db, id).await?;
    let mut started: Option<(String, Value)> = None;
    let mut ended: Option<String> = None;
    for (kind, _, _, ts, body) in rows {
        match kind.as_str() {
            "interaction.started" if started.is_none() => {
                started = Some((ts, serde_json::from_str(&body).unwrap_or(Value::Null)))
            }
            "interaction.ended" => ended = Some(ts),
            _ => {}
        }
    }
    let Some((since, event)) = started else {
        return Ok(Vec::new());
    };
    let Some(agent) = event
        .get("agent")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Ok(Vec::new());
    };
    let media = event
        .get("media")
        .and_then(Value::as_str)
        .unwrap_or("chat")
        .to_string();
    Ok(vec![Want {
        interaction_id: id.to_string(),
        media,
        dn: None,
        record: ended.is_none(),
        paused: false,
        since,
        ended: ended.map(|t| (t, StopReason::CallReleased)),
        started_event: Some(event),
        who: Who::User(agent),
    }])
}

/// The recording already made for this leg (same interaction, same DN), and
/// whether its link is still open.
async fn leg_recording(rws: &Rws, w: &Want) -> Result<Option<(Rec, bool)>, sqlx::Error> {
    let row =
        crate::store::recordings::leg_link(&rws.db, &w.interaction_id, w.dn.as_deref()).await?;
    let Some((id, end_at)) = row else {
        return Ok(None);
    };
    Ok(recordings::get(&rws.db, &id)
        .await?
        .map(|r| (r, end_at.is_none())))
}

/// The agent's recording rule and channel.
async fn rule_of(rws: &Rws, username: &str) -> Result<Option<(String, String)>, sqlx::Error> {
    let row = crate::store::sessions::channel_and_rule(&rws.db, username).await?;
    let Some((channel, own)) = row else {
        return Ok(None);
    };
    let rule = match own {
        Some(r) => r,
        None => crate::store::directory::setting(&rws.db, "recording_when")
            .await?
            .filter(|s: &String| !s.is_empty())
            .unwrap_or_else(|| "always".into()),
    };
    Ok(Some((channel, rule)))
}

async fn apply(rws: &Rws, w: &Want) -> Result<(), sqlx::Error> {
    let existing = leg_recording(rws, w).await?;
    if !w.record {
        if let Some((rec, true)) = existing {
            let (at, reason) = w
                .ended
                .clone()
                .unwrap_or_else(|| (recordings::now(), StopReason::CallReleased));
            let open = recordings::unlink(&rws.db, &rec.id, &w.interaction_id, &at).await?;
            if open == 0 && rec.state.is_active() {
                stop(rws, &rec, reason).await?;
            }
        }
        return Ok(());
    }
    if let Some((rec, link_open)) = existing {
        // Already handled: keep the pause state in line; never restart.
        if link_open && rec.state.is_active() && rec.paused_cmd != w.paused {
            pause(rws, &rec, w.paused).await?;
        }
        return Ok(());
    }
    if rws.cluster.is_some() && !known_agent(rws, &w.who) {
        // The session may have opened on another node a moment ago.
        rws.hub.refresh(rws).await;
    }
    let (session, username) = match &w.who {
        Who::Device { dn, switch } => match rws.hub.session_for_device(dn, switch) {
            Some((s, u)) => (Some(s), u),
            None => {
                let why =
                    format!("no agent with an SRS session is logged in at DN {dn} ({switch})");
                let new = NewRecording {
                    username: "",
                    dn: Some(dn),
                    session_id: None,
                    interaction_id: &w.interaction_id,
                    media: &w.media,
                    at: &w.since,
                };
                recordings::create(rws, &new, Some(&why)).await?;
                return Ok(());
            }
        },
        Who::User(u) => (rws.hub.session_of_user(u), u.clone()),
    };
    let Some((channel, rule)) = rule_of(rws, &username).await? else {
        return Ok(());
    };
    let recorded = match &w.who {
        Who::Device { .. } => channel != "nonvoice" && rule.trim() != "off",
        Who::User(_) => {
            channel == "nonvoice"
                && w.started_event
                    .as_ref()
                    .is_some_and(|e| crate::policy::matches(&rule, e, &w.interaction_id))
        }
    };
    if !recorded {
        tracing::debug!(agent = %proto::logsafe::Escaped(&username), interaction = %proto::logsafe::Escaped(&w.interaction_id), channel = %channel, rule = %rule, "not recorded by policy");
        return Ok(());
    }
    if let Some(active) = recordings::active_for(&rws.db, &username).await? {
        recordings::link(
            &rws.db,
            &active.id,
            &w.interaction_id,
            &w.media,
            w.dn.as_deref(),
            &w.since,
        )
        .await?;
        tracing::info!(recording = %active.id, interaction = %proto::logsafe::Escaped(&w.interaction_id), "interaction linked to the agent's recording");
        return Ok(());
    }
    let new = NewRecording {
        username: &username,
        dn: w.dn.as_deref(),
        session_id: session.as_deref(),
        interaction_id: &w.interaction_id,
        media: &w.media,
        at: &w.since,
    };
    let Some(session) = session.clone() else {
        let why = format!("agent '{username}' has no SRS session");
        recordings::create(rws, &new, Some(&why)).await?;
        return Ok(());
    };
    let (rec, token) = recordings::create(rws, &new, None).await?;
    start(rws, &rec, &session, token, w.paused).await
}

/// True when the hub has a live session for this agent.
fn known_agent(rws: &Rws, who: &Who) -> bool {
    match who {
        Who::Device { dn, switch } => rws.hub.session_for_device(dn, switch).is_some(),
        Who::User(u) => rws.hub.session_of_user(u).is_some(),
    }
}

async fn start(
    rws: &Rws,
    rec: &Rec,
    session: &str,
    token: String,
    paused: bool,
) -> Result<(), sqlx::Error> {
    let recipients = crate::keys::active_recipients(&rws.db)
        .await
        .unwrap_or_default();
    // Rules changed by a later directory import apply from the next start.
    let masks = crate::directory::masks_for(&rws.db, &rec.username).await?;
    let upload_rate_kbit = crate::directory::upload_rate_for(&rws.db, &rec.username).await?;
    let app_titles = crate::directory::app_titles(&rws.db).await?;
    let cmd = |seq| ToAgent::Start {
        seq,
        recording_id: rec.id.clone(),
        interaction_id: rec.interaction_id.clone(),
        max_duration_s: rec.max_duration_s.max(1) as u64,
        capture: proto::CaptureSettings::default(),
        recipients,
        upload_url: "/api/v2/srs/uploads".into(),
        upload_token: token,
        upload_rate_kbit,
        masks,
        app_titles,
        resume: false,
    };
    match rws.hub.send(rws, session, cmd).await {
        Some(ack) => {
            let rws2 = rws.clone();
            let id = rec.id.clone();
            tokio::spawn(async move {
                let ack = ack.await;
                let answer = match &ack {
                    Ok(a) if a.ok => StartAnswer::Accepted,
                    Ok(a) => StartAnswer::Refused(a.error.as_deref()),
                    // The session ended before SRS answered; uploads (if
                    // any) still arrive with the upload token.
                    Err(_) => StartAnswer::Unanswered,
                };
                let result = match rules::start_answer(answer) {
                    Some(d) => recordings::transition(&rws2, &id, d.to, d.reason.as_deref()).await,
                    None => Ok(false),
                };
                if let Err(e) = result {
                    tracing::error!(recording = %id, error = %e, "recording state after start");
                }
            });
            if paused {
                pause(rws, rec, true).await?;
            }
        }
        None => {
            if let Some(d) = rules::start_answer(StartAnswer::NotSent) {
                recordings::transition(rws, &rec.id, d.to, d.reason.as_deref()).await?;
            }
        }
    }
    Ok(())
}

/// Sends `stop` (if the session is live) and moves the recording to
/// `finalizing`; the uploads finish it.
pub async fn stop(rws: &Rws, rec: &Rec, reason: StopReason) -> Result<(), sqlx::Error> {
    crate::store::recordings::set_stop_reason(&rws.db, &rec.id, reason.as_str()).await?;
    recordings::transition(
        rws,
        &rec.id,
        RecordingState::Finalizing,
        Some(reason.as_str()),
    )
    .await?;
    if let Some(session) = &rec.session_id {
        let id = rec.id.clone();
        let sent = rws
            .hub
            .send(rws, session, |seq| ToAgent::Stop {
                seq,
                recording_id: id,
                reason,
            })
            .await;
        if sent.is_none() {
            tracing::warn!(recording = %rec.id, "stop not sent: the SRS session is gone (its uploads finish the recording)");
        }
    }
    Ok(())
}

/// Sends the pause RWS last commanded again (a continued recording starts
/// unpaused on a restarted SRS).
pub(crate) async fn resend_pause(rws: &Rws, rec: &Rec) -> Result<(), sqlx::Error> {
    pause(rws, rec, true).await
}

async fn pause(rws: &Rws, rec: &Rec, paused: bool) -> Result<(), sqlx::Error> {
    crate::store::recordings::set_paused_cmd(&rws.db, &rec.id, paused).await?;
    if let Some(session) = &rec.session_id {
        let id = rec.id.clone();
        rws.hub
            .send(rws, session, |seq| {
                if paused {
                    ToAgent::Pause {
                        seq,
                        recording_id: id,
                        reason: "recording_paused".into(),
                    }
                } else {
                    ToAgent::Resume {
                        seq,
                        recording_id: id,
                        reason: "recording_resumed".into(),
                    }
                }
            })
            .await;
    }
    Ok(())
}

/// A `status` frame from SRS.
pub async fn on_status(
    rws: &Rws,
    recording_id: &str,
    state: proto::control::RecordingStatus,
    reason: Option<String>,
    at: &str,
) {
    let result = async {
        let current = recordings::get(&rws.db, recording_id)
            .await?
            .map(|r| r.state);
        let effect = rules::on_status(current, state, reason.as_deref());
        if let Some(mark) = effect.mark {
            recordings::mark(
                &rws.db,
                recording_id,
                at,
                mark.as_str(),
                reason.as_deref().unwrap_or(""),
            )
            .await?;
        }
        if effect.stop_reason
            && let Some(r) = &reason
        {
            crate::store::recordings::set_stop_reason(&rws.db, recording_id, r).await?;
        }
        let d = effect.decision;
        recordings::transition(rws, recording_id, d.to, d.reason.as_deref()).await?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(recording = %proto::logsafe::Escaped(recording_id), error = %e, "applying an SRS status");
    }
}

/// Every second: stops recordings past their maximum duration; every 30 s:
/// gives up on recordings whose SRS went silent.
pub async fn sweep(rws: Rws) {
    let mut tick = 0u64;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        // With several nodes, one runs the sweeps (crate::cluster).
        if !crate::cluster::runs_singletons(&rws) {
            continue;
        }
        tick += 1;
        if let Ok(list) = recordings::unfinished(&rws.db).await {
            let now = Timestamp::now();
            for rec in list {
                // An unreadable start is not timed (never written by RWS).
                let started = rec
                    .started_at
                    .as_deref()
                    .and_then(|t| t.parse::<Timestamp>().ok());
                if rules::over_max_duration(rec.state, started, now, rec.max_duration_s) {
                    let _serial = rws.dispatch_lock.lock().await;
                    if let Err(e) = stop(&rws, &rec, StopReason::MaxDuration).await {
                        tracing::error!(recording = %rec.id, error = %e, "max duration stop");
                    }
                }
            }
        }
        if tick.is_multiple_of(30)
            && let Err(e) = crate::uploads::sweep_orphans(&rws).await
        {
            tracing::error!(error = %e, "orphan sweep");
        }
    }
}
