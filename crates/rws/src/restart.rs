//! SRS restarts keep the call (issue 13 part 4), RWS's side.
//!
//! An SRS stopped with SIGTERM mid-recording (an upgrade, a service
//! restart) writes its last fragment, uploads what it has and says
//! `restarting`: RWS notes the start of the gap ([`on_restarting`]) and
//! leaves the recording active. An SRS killed outright says nothing; its
//! successor finds the recording cut short in the spool. Either way the
//! agent's new session says `hello` without that recording in progress,
//! and RWS — which knows the call is still live — sends `start` again for
//! the *same* recording with `resume` ([`on_hello`]): SRS continues it in
//! new media files (each with its own start time, so the player keeps
//! them on the call's clock) and marks the gap (`gap` … `gap_end`) in the
//! end report. A recording continued after a crash ends `partial`.
//!
//! Only the recording's own agent continues it (threat-model rule 1), and a
//! voice recording only from a session holding its DN (rule 2): another
//! agent's session, or the same agent logged in at another place, never
//! gets the `start`. The upload token is not sent again (RWS keeps only its
//! hash): only the SRS whose spool holds the recording can upload to it.

use proto::SessionKind;
use proto::control::ToAgent;

use crate::Rws;
use crate::recording::RecordingState;
use crate::recordings;

/// The kind of the mark at the start of a restart's gap (its end is
/// `gap_end`, sent by SRS with the end report).
pub const GAP: &str = "gap";

/// Most `gap` marks `restarting` frames put on one recording (a call
/// restarted more often than this is not an upgrade; a flood of frames
/// must not grow the timeline without bound, threat-model rule 3).
pub const MAX_GAPS: usize = 20;

/// `restarting` from SRS (its owner checked by the caller): the gap's start
/// on the timeline, at `at` (SRS's clock), for a recording still active.
/// The same mark arrives again with the end report and is stored once.
pub async fn on_restarting(rws: &Rws, recording_id: &str, at: &str) {
    if let Err(e) = note_gap(rws, recording_id, at).await {
        tracing::error!(recording = %recording_id, error = %e, "noting a restart's gap");
    }
}

async fn note_gap(rws: &Rws, recording_id: &str, at: &str) -> Result<(), sqlx::Error> {
    let Some(rec) = recordings::get(&rws.db, recording_id).await? else {
        return Ok(());
    };
    if !rec.state.is_active() {
        tracing::warn!(recording = %recording_id, state = %rec.state, "restarting for a recording that no longer records: ignored");
        return Ok(());
    }
    let gaps = crate::store::recordings::marks_of(&rws.db, recording_id)
        .await?
        .iter()
        .filter(|(_, kind, _)| kind == GAP)
        .count();
    if gaps >= MAX_GAPS {
        tracing::warn!(recording = %recording_id, gaps, "restarting: the recording has the most gap marks already; ignored");
        return Ok(());
    }
    tracing::info!(recording = %recording_id, at = %proto::logsafe::Escaped(at), "SRS restarting mid-recording: the recording stays active");
    recordings::mark(&rws.db, recording_id, at, GAP, "srs_restarted").await
}

/// After the `hello` of session `session_id` whose SRS reports `active` as
/// the recording in progress: the agent's recording that is still live and
/// that this SRS is not recording is started again with `resume`.
pub async fn on_hello(rws: Rws, session_id: String, active: Option<String>) {
    if let Err(e) = resume(&rws, &session_id, active.as_deref()).await {
        tracing::error!(session = %session_id, error = %e, "continuing a recording after an SRS restart");
    }
}

async fn resume(rws: &Rws, session_id: &str, active: Option<&str>) -> Result<(), sqlx::Error> {
    let Some(facts) = rws.hub.resume_facts(session_id) else {
        return Ok(());
    };
    // The browser recorder keeps no spool to continue from.
    if facts.kind != SessionKind::Native || facts.standby {
        return Ok(());
    }
    let Some(rec) = recordings::active_for(&rws.db, &facts.username).await? else {
        return Ok(());
    };
    // Only a recording SRS acknowledged (a `requested` one still has its
    // own `start` queued), and not the one it reports recording.
    if !matches!(
        rec.state,
        RecordingState::Recording | RecordingState::Paused
    ) || active == Some(rec.id.as_str())
    {
        return Ok(());
    }
    if let Some(dn) = &rec.dn
        && !facts.dns.iter().any(|d| d == dn)
    {
        tracing::warn!(session = %session_id, recording = %rec.id, "the agent's session does not hold the recording's DN: not continued from it");
        return Ok(());
    }
    let _serial = rws.dispatch_lock.lock().await;
    crate::store::recordings::set_session(&rws.db, &rec.id, session_id).await?;
    let recipients = crate::keys::active_recipients(&rws.db)
        .await
        .unwrap_or_default();
    let masks = crate::directory::masks_for(&rws.db, &rec.username).await?;
    let upload_rate_kbit = crate::directory::upload_rate_for(&rws.db, &rec.username).await?;
    let app_titles = crate::directory::app_titles(&rws.db).await?;
    let id = rec.id.clone();
    let cmd = |seq| ToAgent::Start {
        seq,
        recording_id: rec.id.clone(),
        interaction_id: rec.interaction_id.clone(),
        max_duration_s: rec.max_duration_s.max(1) as u64,
        capture: proto::CaptureSettings::default(),
        recipients,
        upload_url: "/api/v2/srs/uploads".into(),
        upload_token: String::new(),
        upload_rate_kbit,
        masks,
        app_titles,
        resume: true,
    };
    let Some(ack) = rws.hub.send(rws, session_id, cmd).await else {
        return Ok(());
    };
    tracing::info!(session = %session_id, recording = %id, "start sent again: the restarted SRS continues the recording");
    let rws = rws.clone();
    let paused = rec.paused_cmd;
    tokio::spawn(async move {
        match ack.await {
            Ok(a) if a.ok => {
                if paused {
                    // The new recorder starts unpaused: the call's pause holds.
                    if let Ok(Some(rec)) = recordings::get(&rws.db, &id).await
                        && let Err(e) = crate::dispatch::resend_pause(&rws, &rec).await
                    {
                        tracing::error!(recording = %id, error = %e, "pausing a continued recording");
                    }
                }
            }
            // The recording keeps its state: its uploads, the call's end or
            // the orphan sweep finish it.
            Ok(a) => {
                tracing::warn!(recording = %id, error = %proto::logsafe::Escaped(a.error.as_deref().unwrap_or("")), "SRS did not continue the recording")
            }
            Err(_) => {}
        }
    });
    Ok(())
}
