//! One simulated SRS: its session opened with the agent's credentials
//! (retried while RWS sheds load), its control channel (`hello`,
//! heartbeats at the interval RWS gives, an `ack` for every command) and
//! what a `start` or `stop` does (an upload, the latency measured).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::{SinkExt, StreamExt};
use proto::control::{AgentState, FromAgent, MonitorInfo, RecordingStatus, ToAgent};
use proto::{OpenSessionRequest, OpenSessionResponse};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::request::{Retry, request};
use super::uploads::upload;
use super::{CallRecord, DN_BASE, Shared};

/// Opens agent `i`'s session, retrying what RWS asks to retry (503 when its
/// password queue is full, connection refused at its connection cap).
pub(super) async fn open_session(
    s: &Shared,
    i: usize,
    deadline: Instant,
) -> anyhow::Result<OpenSessionResponse> {
    let body = OpenSessionRequest {
        place: None,
        devices: None,
        srs_version: env!("CARGO_PKG_VERSION").to_string(),
        hostname: Some(format!("loadgen-{i}")),
        standby: false,
        kind: Default::default(),
    };
    let auth = format!("Basic {}", B64.encode(format!("lg{i}:{}", s.password)));
    let url = format!("{}/api/v2/srs/sessions", s.url);
    let r = request(
        "POST /api/v2/srs/sessions",
        reqwest::StatusCode::CREATED,
        Retry::Until(deadline),
        || {
            s.http
                .post(&url)
                .header(reqwest::header::AUTHORIZATION, &auth)
                .json(&body)
        },
    )
    .await?;
    Ok(r.json().await?)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The recording a simulated SRS is making: its uploader stops when told.
struct Active {
    recording_id: String,
    stop: watch::Sender<bool>,
}

/// One simulated SRS from its open session on: control channel, acks,
/// heartbeats, recordings.
pub(super) async fn agent(
    s: Arc<Shared>,
    i: usize,
    session: OpenSessionResponse,
    mut stop: watch::Receiver<bool>,
    settled: &AtomicUsize,
) {
    let ws = match connect(&session).await {
        Ok(ws) => ws,
        Err(e) => {
            s.error(format!("agent lg{i}: control channel: {e:#}"));
            settled.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let (mut tx, mut rx) = ws.split();
    let hello = FromAgent::Hello {
        session_id: session.session_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        monitors: vec![monitor()],
        state: AgentState::Idle,
        active_recording: None,
        last_seq: 0,
    };
    if let Err(e) = send(&mut tx, &hello).await {
        s.error(format!("agent lg{i}: hello: {e:#}"));
        settled.fetch_add(1, Ordering::Relaxed);
        return;
    }
    s.connected[i].store(true, Ordering::Relaxed);
    settled.fetch_add(1, Ordering::Relaxed);
    let mut heartbeat =
        tokio::time::interval(Duration::from_secs(session.heartbeat_interval_s.max(1)));
    heartbeat.tick().await;
    let mut last_seq = 0u64;
    let mut active: Option<Active> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = heartbeat.tick() => {
                let hb = FromAgent::Heartbeat {
                    recording: active.as_ref().map(|a| a.recording_id.clone()),
                    upload_backlog_bytes: 0,
                    last_error: None,
                };
                if let Err(e) = send(&mut tx, &hb).await {
                    s.error(format!("agent lg{i}: heartbeat: {e:#}"));
                    break;
                }
            }
            frame = rx.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => {
                        s.error(format!("agent lg{i}: RWS closed the control channel"));
                        break;
                    }
                    Some(Err(e)) => {
                        s.error(format!("agent lg{i}: control channel: {e}"));
                        break;
                    }
                    Some(Ok(_)) => continue,
                };
                let cmd: ToAgent = match serde_json::from_str(&text) {
                    Ok(c) => c,
                    Err(e) => {
                        s.error(format!("agent lg{i}: unreadable frame from RWS: {e}"));
                        continue;
                    }
                };
                let Some(seq) = cmd.seq() else { continue };
                s.commands.fetch_add(1, Ordering::Relaxed);
                // Applied once; a resent command is acknowledged again only.
                let fresh = seq > last_seq;
                last_seq = last_seq.max(seq);
                let ack = FromAgent::Ack { seq, ok: true, error: None };
                if let Err(e) = send(&mut tx, &ack).await {
                    s.error(format!("agent lg{i}: ack: {e:#}"));
                    break;
                }
                if !fresh {
                    continue;
                }
                let status = match cmd {
                    ToAgent::Start { recording_id, interaction_id, recipients, upload_url, upload_token, .. } => {
                        s.recording[i].store(true, Ordering::Relaxed);
                        on_start(&s, i, &recording_id, &interaction_id);
                        let (stop_tx, stop_rx) = watch::channel(false);
                        if s.upload {
                            let s = s.clone();
                            let rec = recording_id.clone();
                            tokio::spawn(async move {
                                if let Err(e) = upload(&s, &rec, &recipients, &upload_url, &upload_token, stop_rx).await {
                                    s.error(format!("agent lg{i}: upload of {rec}: {e:#}"));
                                }
                                s.recording[i].store(false, Ordering::Relaxed);
                            });
                        }
                        active = Some(Active { recording_id: recording_id.clone(), stop: stop_tx });
                        Some((recording_id, RecordingStatus::Recording, None))
                    }
                    ToAgent::Stop { recording_id, reason, .. } => {
                        s.stops.fetch_add(1, Ordering::Relaxed);
                        if let Some(a) = active.take() {
            let _ = a.stop.send(true);
        }
                        if !s.upload {
                            s.recording[i].store(false, Ordering::Relaxed);
                        }
                        Some((recording_id, RecordingStatus::Stopped, Some(reason.as_str().to_string())))
                    }
                    ToAgent::Bye { reason, .. } => {
                        s.error(format!("agent lg{i}: RWS ended the session ({reason:?})"));
                        break;
                    }
                    _ => None,
                };
                if let Some((recording_id, state, reason)) = status {
                    let st = FromAgent::Status { recording_id, state, reason, at: now(), bytes_spooled: 0 };
                    if let Err(e) = send(&mut tx, &st).await {
                        s.error(format!("agent lg{i}: status: {e:#}"));
                        break;
                    }
                }
            }
        }
    }
    s.connected[i].store(false, Ordering::Relaxed);
    if let Some(a) = active.take() {
        let _ = a.stop.send(true);
    }
    let _ = tx.send(Message::Close(None)).await;
}

/// A `start` arrived at agent `i` for the call `interaction_id`.
fn on_start(s: &Shared, i: usize, recording_id: &str, interaction_id: &str) {
    s.starts.fetch_add(1, Ordering::Relaxed);
    let found = s
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(interaction_id);
    let Some((expected, posted)) = found else {
        s.error(format!(
            "agent lg{i}: start for a call it was not given ({interaction_id})"
        ));
        return;
    };
    let ms = posted.elapsed().as_secs_f64() * 1000.0;
    if expected != i {
        s.error(format!(
            "call {interaction_id} for lg{expected} started on lg{i}"
        ));
    }
    s.latencies_ms
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(ms);
    s.calls
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(CallRecord {
            call_id: interaction_id.to_string(),
            dn: (DN_BASE + expected as u64).to_string(),
            agent: format!("lg{i}"),
            recording_id: Some(recording_id.to_string()),
            latency_ms: Some(ms),
        });
}

pub(super) fn monitor() -> MonitorInfo {
    MonitorInfo {
        name: "LG-1".into(),
        x: 0,
        y: 0,
        width: 1280,
        height: 720,
        primary: true,
    }
}

pub(super) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn connect(session: &OpenSessionResponse) -> anyhow::Result<Ws> {
    let mut req = session.control_url.as_str().into_client_request()?;
    req.headers_mut().insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", session.token).parse()?,
    );
    // Small buffers: 10,000 channels × the 128 KiB default would be the
    // load generator's own 1.3 GB.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async_with_config(req, Some(config), true),
    )
    .await
    .context("timed out")??;
    Ok(ws)
}

async fn send<S>(tx: &mut S, msg: &FromAgent) -> anyhow::Result<()>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    tx.send(Message::text(serde_json::to_string(msg)?)).await?;
    Ok(())
}
