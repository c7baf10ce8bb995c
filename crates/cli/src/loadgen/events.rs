//! The call events a load run posts: `call.established` +
//! `recording.started` to a free agent at a fixed rate, `call.released`
//! `call_secs` later, as the integration account.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::request::{Retry, request};
use super::{CallRecord, DN_BASE, RunArgs, SWITCH, Shared};

/// Posts `call.established` at the given rate to free agents, each call
/// released `call_secs` later. Returns (posted, skipped because every
/// connected agent was busy).
pub(super) async fn post_events(s: &Arc<Shared>, a: &RunArgs) -> (u64, u64) {
    let (mut posted, mut skipped) = (0u64, 0u64);
    let Some(token) = a
        .integration_token
        .clone()
        .filter(|_| a.events_per_sec > 0.0)
    else {
        tokio::time::sleep(Duration::from_secs(a.secs)).await;
        return (0, 0);
    };
    let token = Arc::new(token);
    let every = Duration::from_secs_f64(1.0 / a.events_per_sec);
    let end = Instant::now() + Duration::from_secs(a.secs);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let n = s.busy.len();
    let mut cursor = 0usize;
    let call_len = Duration::from_secs_f64(a.call_secs);
    while Instant::now() < end {
        tick.tick().await;
        let free = (0..n).map(|k| (cursor + k) % n).find(|&i| {
            s.connected[i].load(Ordering::Relaxed)
                && s.busy[i]
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
        });
        let Some(i) = free else {
            skipped += 1;
            continue;
        };
        cursor = (i + 1) % n;
        posted += 1;
        let s = s.clone();
        let token = token.clone();
        tokio::spawn(async move { call(&s, i, &token, call_len).await });
    }
    (posted, skipped)
}

/// One call on agent `i`: established with its voice recording running
/// (one batch: `call.established`, `recording.started`, which is what makes
/// RWS record a voice agent), `call_len`, released.
async fn call(s: &Shared, i: usize, token: &str, call_len: Duration) {
    let call_id = uuid::Uuid::new_v4().to_string();
    let dn = (DN_BASE + i as u64).to_string();
    s.pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(call_id.clone(), (i, Instant::now()));
    if let Err(e) = post_event(
        s,
        token,
        &["call.established", "recording.started"],
        &call_id,
        &dn,
    )
    .await
    {
        s.error(format!("call.established for {dn}: {e:#}"));
        s.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&call_id);
        s.busy[i].store(false, Ordering::Relaxed);
        return;
    }
    tokio::time::sleep(call_len).await;
    if let Err(e) = post_event(s, token, &["call.released"], &call_id, &dn).await {
        s.error(format!("call.released for {dn}: {e:#}"));
    }
    // The agent takes no new call until this one's recording has ended
    // (stopped, uploaded, end reported): a call overlapping it would only
    // be linked to it, with no `start` of its own.
    let deadline = Instant::now() + DRAIN;
    let started = loop {
        let started = !s
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&call_id);
        if (started && !s.recording[i].load(Ordering::Relaxed)) || Instant::now() > deadline {
            break started;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if !started {
        s.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(CallRecord {
                call_id,
                dn,
                agent: format!("lg{i}"),
                recording_id: None,
                latency_ms: None,
            });
    }
    s.busy[i].store(false, Ordering::Relaxed);
}

/// How long a call's recording may take to end after its release.
pub(super) const DRAIN: Duration = Duration::from_secs(30);

/// Posts one batch of voice events of `kinds` for the call, in that order.
async fn post_event(
    s: &Shared,
    token: &str,
    kinds: &[&str],
    call_id: &str,
    dn: &str,
) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let body: Vec<serde_json::Value> = kinds
        .iter()
        .map(|kind| {
            serde_json::json!({
                "id": uuid::Uuid::new_v4().to_string(),
                "type": kind,
                "call_id": call_id,
                "dn": dn,
                "switch": SWITCH,
                "timestamp": now,
            })
        })
        .collect();
    let url = format!("{}/api/v2/events", s.url);
    request("POST /api/v2/events", StatusCode::OK, Retry::Never, || {
        s.http.post(&url).bearer_auth(token).json(&body)
    })
    .await?;
    Ok(())
}
