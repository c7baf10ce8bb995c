//! The link to RWS: the SRS session opened there with the agent's
//! credentials, and the control channel kept up for it.
//!
//! The control channel is a task ([`spawn`]) that dials RWS's WebSocket
//! with the session token, says `hello` (with the last command `seq` it
//! applied), then acknowledges every command and exchanges heartbeats. When
//! the link drops it reconnects with capped exponential back-off and jitter
//! ([`backoff`]); when `server` has kept failing for `failover_after` and a
//! standby session was opened on `peer_server` at login, the session moves
//! there. A `bye`, or RWS refusing the token, ends the session: the desktop's
//! next `/ping` gets 401 and it logs in again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode as Http;
use futures_util::{SinkExt, StreamExt};
use proto::control::{AgentState, FromAgent, ToAgent};
use proto::{Device, Envelope, OpenSessionRequest, OpenSessionResponse, StatusCode};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use url::Url;

use crate::Srs;
use crate::error::ApiError;

/// Where and how to open the session.
pub struct LoginTarget {
    /// The RWS.
    pub server: Url,
    /// The disaster-recovery RWS.
    pub peer: Option<Url>,
    /// Place, or the user's default.
    pub place: Option<String>,
    /// Devices at that place.
    pub devices: Option<Vec<Device>>,
}

/// A session opened on one RWS.
pub struct OpenedOn {
    /// That RWS.
    pub server: Url,
    /// What it answered.
    pub response: OpenSessionResponse,
}

/// The result of a login on RWS.
pub struct Opened {
    /// The live session.
    pub primary: OpenedOn,
    /// The standby session on the peer, if one could be opened.
    pub standby: Option<OpenedOn>,
}

/// What SRS keeps of an RWS session (no credentials).
#[derive(Clone)]
pub struct RwsSession {
    /// The RWS holding the session.
    pub server: Url,
    /// Session id.
    pub session_id: String,
    /// Bearer token (secret; never logged).
    pub token: String,
    /// Control channel URL.
    pub control_url: String,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// Silence after which the link is considered dead.
    pub silence: Duration,
    /// The standby session on the peer RWS.
    pub standby: Option<Box<RwsSession>>,
    /// Recipients recordings are encrypted to (public keys only).
    pub recipients: Vec<String>,
}

impl RwsSession {
    fn from_response(server: &Url, r: &OpenSessionResponse) -> RwsSession {
        RwsSession {
            server: server.clone(),
            session_id: r.session_id.clone(),
            token: r.token.clone(),
            control_url: r.control_url.clone(),
            heartbeat: Duration::from_secs(r.heartbeat_interval_s.max(1)),
            silence: Duration::from_secs(r.silence_timeout_s.max(2)),
            standby: None,
            recipients: r.recipients.clone(),
        }
    }

    /// From a login's result.
    pub fn from_opened(o: &Opened) -> RwsSession {
        let mut s = RwsSession::from_response(&o.primary.server, &o.primary.response);
        s.standby = o
            .standby
            .as_ref()
            .map(|b| Box::new(RwsSession::from_response(&b.server, &b.response)));
        s
    }
}

fn endpoint(server: &Url, path: &str) -> String {
    format!("{}{}", server.as_str().trim_end_matches('/'), path)
}

/// Opens the session on `server` (retrying, then trying the peer), and a
/// standby session on the peer.
pub async fn open_session(
    srs: &Srs,
    authorization: &str,
    target: &LoginTarget,
) -> Result<Opened, ApiError> {
    let mut last_error = None;
    for (i, server) in std::iter::once(&target.server)
        .chain(target.peer.iter())
        .enumerate()
    {
        for attempt in 0..3u32 {
            match open_on(srs, authorization, target, server, false).await {
                Ok(response) => {
                    let primary = OpenedOn {
                        server: server.clone(),
                        response,
                    };
                    let standby = match (&target.peer, i) {
                        (Some(peer), 0) => {
                            match open_on(srs, authorization, target, peer, true).await {
                                Ok(response) => Some(OpenedOn {
                                    server: peer.clone(),
                                    response,
                                }),
                                Err(e) => {
                                    tracing::warn!(peer = %peer, error = %proto::logsafe::escape(&e.to_string()), "no standby session on the peer RWS: failover will not be possible");
                                    None
                                }
                            }
                        }
                        _ => None,
                    };
                    if i > 0 {
                        tracing::warn!(server = %target.server, peer = %server, "RWS unreachable: logged in on the peer RWS");
                    }
                    return Ok(Opened { primary, standby });
                }
                Err(OpenError::Refused(e)) => return Err(e),
                Err(OpenError::Unreachable(msg)) => {
                    last_error = Some(msg);
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
    }
    let tried: Vec<String> = std::iter::once(&target.server)
        .chain(target.peer.iter())
        .map(|u| u.to_string())
        .collect();
    Err(ApiError::new(
        Http::SERVICE_UNAVAILABLE,
        StatusCode::InternalError,
        format!(
            "RWS unreachable (tried {}): {}",
            tried.join(", "),
            last_error.unwrap_or_default()
        ),
    ))
}

enum OpenError {
    /// RWS answered with an error: relay it.
    Refused(ApiError),
    /// No answer: retry.
    Unreachable(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Refused(e) => write!(f, "refused: {e}"),
            OpenError::Unreachable(m) => write!(f, "unreachable: {m}"),
        }
    }
}

async fn open_on(
    srs: &Srs,
    authorization: &str,
    target: &LoginTarget,
    server: &Url,
    standby: bool,
) -> Result<OpenSessionResponse, OpenError> {
    let body = OpenSessionRequest {
        place: target.place.clone(),
        devices: target.devices.clone(),
        srs_version: env!("CARGO_PKG_VERSION").to_string(),
        hostname: std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string()),
        standby,
        kind: proto::SessionKind::Native,
    };
    let resp = srs
        .http()
        .post(endpoint(server, "/api/v2/srs/sessions"))
        .header(reqwest::header::AUTHORIZATION, authorization)
        .json(&body)
        .send()
        .await
        .map_err(|e| {
            OpenError::Unreachable(format!("{server}: {}", crate::error::with_causes(&e)))
        })?;
    let status = resp.status();
    if status.is_success() {
        let opened = resp.json::<OpenSessionResponse>().await.map_err(|e| {
            OpenError::Refused(ApiError::new(
                Http::BAD_GATEWAY,
                StatusCode::InternalError,
                format!("RWS at {server} answered something unexpected: {e}"),
            ))
        })?;
        return check_opened(srs, server, opened).map_err(|why| {
            OpenError::Refused(ApiError::new(
                Http::BAD_GATEWAY,
                StatusCode::InternalError,
                format!("RWS at {server}: {why}"),
            ))
        });
    }
    if status.is_server_error() {
        return Err(OpenError::Unreachable(format!("{server}: HTTP {status}")));
    }
    let envelope = resp.json::<Envelope>().await.ok();
    let message = envelope
        .as_ref()
        .and_then(|e| e.status_message.clone())
        .unwrap_or_else(|| format!("RWS at {server} answered HTTP {status}"));
    let code = envelope
        .map(|e| e.status_code)
        .unwrap_or(StatusCode::InternalError);
    Err(OpenError::Refused(match status.as_u16() {
        401 => ApiError::unauthenticated(message),
        403 => ApiError::forbidden(message),
        400 | 404 | 422 => ApiError::new(Http::BAD_REQUEST, code, message),
        _ => ApiError::new(Http::BAD_GATEWAY, StatusCode::InternalError, message),
    }))
}

/// What SRS takes from a session-open answer must be safe to use (rules 5
/// and 6): the session id goes into URLs (a UUID), and the control channel,
/// which carries the session token, must be on a configured RWS.
fn check_opened(
    srs: &Srs,
    server: &Url,
    r: OpenSessionResponse,
) -> Result<OpenSessionResponse, String> {
    use proto::logsafe::escape;
    if !crate::recording::valid_id(&r.session_id) {
        return Err(format!(
            "session id '{}' is not a UUID",
            escape(&r.session_id.chars().take(80).collect::<String>())
        ));
    }
    let control = Url::parse(&r.control_url).map_err(|e| {
        format!(
            "control channel URL '{}': {e}",
            escape(&r.control_url.chars().take(200).collect::<String>())
        )
    })?;
    if !matches!(control.scheme(), "ws" | "wss") || !srs.allowed_servers().allows_origin(&control) {
        return Err(format!(
            "the control channel URL '{}' is not on an allowed RWS ({}): add it with --allowed-server if it is yours (server: {server})",
            escape(control.as_str()),
            srs.allowed_servers().describe()
        ));
    }
    Ok(r)
}

/// Ends the session (and its standby) on RWS; failures are logged.
pub async fn end_session(srs: &Srs, rws: &RwsSession) {
    let mut next = Some(rws);
    while let Some(s) = next {
        let url = endpoint(&s.server, &format!("/api/v2/srs/sessions/{}", s.session_id));
        match srs.http().delete(url).bearer_auth(&s.token).send().await {
            Ok(r) if r.status().is_success() || r.status() == reqwest::StatusCode::NOT_FOUND => {}
            Ok(r) => {
                tracing::warn!(server = %s.server, status = %r.status(), "ending the RWS session")
            }
            Err(e) => tracing::warn!(server = %s.server, error = %e, "ending the RWS session"),
        }
        next = s.standby.as_deref();
    }
}

/// Stops the control-channel task.
pub struct LinkHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl LinkHandle {
    /// Asks the task to close the channel and end.
    pub fn stop(self) {
        let _ = self.stop.send(true);
    }

    /// Same, and waits (at most `limit`) for the channel to close, so that
    /// the frames sent before (`restarting`) are on the wire.
    pub async fn stop_and_wait(self, limit: Duration) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(limit, self.task).await;
    }
}

/// Back-off before reconnect attempt `attempt` (0-based): 0.5 s doubling,
/// capped at 10 s, ±25 % jitter so that many SRS do not reconnect in step.
pub fn backoff(attempt: u32) -> Duration {
    let base = 0.5 * 2f64.powi(attempt.min(10) as i32);
    let capped = base.min(10.0);
    let jitter = 0.75 + rand::random::<f64>() * 0.5;
    Duration::from_secs_f64(capped * jitter)
}

/// Starts the control channel for `rws`.
pub fn spawn(srs: Srs, rws: RwsSession) -> LinkHandle {
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(run(srs, rws, rx));
    LinkHandle { stop, task }
}

enum End {
    Stopped,
    Bye,
    Lost,
}

enum ConnectError {
    /// RWS refused the token: it no longer knows the session.
    Refused,
    Other(String),
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(rws: &RwsSession, tls: Arc<rustls::ClientConfig>) -> Result<Ws, ConnectError> {
    let mut req = rws
        .control_url
        .as_str()
        .into_client_request()
        .map_err(|e| ConnectError::Other(e.to_string()))?;
    let bearer = format!("Bearer {}", rws.token);
    req.headers_mut().insert(
        reqwest::header::AUTHORIZATION,
        bearer
            .parse()
            .map_err(|_| ConnectError::Other("bad token".into()))?,
    );
    match tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async_tls_with_config(
            req,
            None,
            false,
            Some(tokio_tungstenite::Connector::Rustls(tls)),
        ),
    )
    .await
    {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) if resp.status() == 401 => {
            Err(ConnectError::Refused)
        }
        Ok(Err(e)) => Err(ConnectError::Other(crate::error::with_causes(&e))),
        Err(_) => Err(ConnectError::Other("timed out".into())),
    }
}

async fn run(srs: Srs, mut rws: RwsSession, mut stop: watch::Receiver<bool>) {
    let mut last_seq = 0u64;
    let mut attempt = 0u32;
    let mut failing_since: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        match connect(&rws, srs.ws_tls()).await {
            Ok(ws) => {
                if attempt > 0 {
                    tracing::info!(server = %rws.server, "control channel reconnected");
                }
                attempt = 0;
                match session(&srs, &rws, ws, &mut last_seq, &mut stop).await {
                    End::Stopped => return,
                    End::Bye => {
                        crate::api::mark_stale(&srs, &rws.session_id, "RWS said bye");
                        return;
                    }
                    End::Lost => {
                        tracing::warn!(server = %rws.server, "control channel lost; reconnecting");
                        failing_since = Some(Instant::now());
                    }
                }
            }
            Err(ConnectError::Refused) if rws.standby.is_none() => {
                crate::api::mark_stale(&srs, &rws.session_id, "RWS no longer knows the session");
                return;
            }
            Err(ConnectError::Refused) => {
                // Straight to the peer.
                failing_since = Some(Instant::now() - srs.config().failover_after);
            }
            Err(ConnectError::Other(e)) => {
                tracing::debug!(server = %rws.server, error = %e, attempt, "control channel connect failed");
                failing_since.get_or_insert_with(Instant::now);
            }
        }
        if let Some(since) = failing_since
            && since.elapsed() >= srs.config().failover_after
            && let Some(standby) = rws.standby.take()
        {
            tracing::warn!(from = %rws.server, to = %standby.server, "RWS keeps failing: moving the session to the peer RWS");
            let old_id = rws.session_id.clone();
            rws = *standby;
            last_seq = 0;
            attempt = 0;
            failing_since = None;
            if let Some(s) = srs.session().as_mut()
                && s.rws.session_id == old_id
            {
                s.rws = rws.clone();
            }
            continue;
        }
        let wait = backoff(attempt);
        attempt = attempt.saturating_add(1);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn session(
    srs: &Srs,
    rws: &RwsSession,
    mut ws: Ws,
    last_seq: &mut u64,
    stop: &mut watch::Receiver<bool>,
) -> End {
    let active = crate::recording::active_id(srs);
    let hello = FromAgent::Hello {
        session_id: rws.session_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        monitors: Vec::new(),
        state: match &active {
            None => AgentState::Idle,
            Some((_, true)) => AgentState::Paused,
            Some((_, false)) => AgentState::Recording,
        },
        active_recording: active.map(|(id, _)| id),
        last_seq: *last_seq,
    };
    if send(&mut ws, &hello).await.is_err() {
        return End::Lost;
    }
    tracing::info!(server = %rws.server, session = %rws.session_id, last_seq = *last_seq, "control channel up");
    let mut heartbeat = tokio::time::interval(rws.heartbeat);
    heartbeat.tick().await;
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = ws.close(None).await;
                return End::Stopped;
            }
            () = srs.inner.outbox_wake.notified() => {
                let msgs = srs.take_outbox();
                for (i, m) in msgs.iter().enumerate() {
                    if send(&mut ws, m).await.is_err() {
                        srs.requeue_front(msgs[i..].to_vec());
                        return End::Lost;
                    }
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > rws.silence {
                    return End::Lost;
                }
                let heartbeat = FromAgent::Heartbeat {
                    recording: crate::recording::active_id(srs).map(|(id, _)| id),
                    upload_backlog_bytes: srs.inner.metrics.backlog.load(std::sync::atomic::Ordering::Relaxed),
                    last_error: srs.last_error(),
                };
                if send(&mut ws, &heartbeat).await.is_err() {
                    return End::Lost;
                }
            }
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return End::Lost,
                    Some(Ok(_)) => continue,
                };
                last_heard = Instant::now();
                let msg = match serde_json::from_str::<ToAgent>(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %proto::logsafe::escape(&e.to_string()), "control channel: unknown frame ignored");
                        continue;
                    }
                };
                let Some(seq) = msg.seq() else { continue };
                let fresh = seq > *last_seq;
                let bye = matches!(msg, ToAgent::Bye { .. });
                let mut result = Ok(());
                if fresh {
                    result = apply(srs, rws, &msg).await;
                    *last_seq = seq;
                }
                if let Err(e) = &result {
                    tracing::warn!(seq, error = %proto::logsafe::escape(e), "command refused");
                }
                let ack = FromAgent::Ack { seq, ok: result.is_ok(), error: result.err() };
                if send(&mut ws, &ack).await.is_err() {
                    return End::Lost;
                }
                if bye {
                    let _ = ws.close(None).await;
                    return End::Bye;
                }
            }
        }
    }
}

async fn apply(srs: &Srs, rws: &RwsSession, msg: &ToAgent) -> Result<(), String> {
    use proto::control::StopReason;
    match msg {
        ToAgent::Start {
            recording_id,
            interaction_id,
            max_duration_s,
            capture,
            recipients,
            upload_url,
            upload_token,
            upload_rate_kbit,
            masks,
            app_titles,
            resume,
            ..
        } => {
            let cmd = crate::recording::StartCommand {
                recording_id: recording_id.clone(),
                interaction_id: interaction_id.clone(),
                max_duration: Duration::from_secs(*max_duration_s),
                capture: capture.clone(),
                recipients: recipients.clone(),
                upload_url: upload_url.clone(),
                upload_token: upload_token.clone(),
                server: rws.server.clone(),
                upload_rate_kbit: *upload_rate_kbit,
                masks: masks.clone(),
                app_titles: *app_titles,
                resume: *resume,
            };
            let srs = srs.clone();
            return tokio::task::spawn_blocking(move || crate::recording::start(&srs, cmd))
                .await
                .map_err(|e| format!("start: {e}"))?;
        }
        ToAgent::Stop {
            recording_id,
            reason,
            ..
        } => crate::recording::stop(srs, Some(recording_id), *reason).await,
        ToAgent::Pause {
            recording_id,
            reason,
            ..
        } => crate::recording::pause(srs, recording_id, true, reason),
        ToAgent::Resume {
            recording_id,
            reason,
            ..
        } => crate::recording::pause(srs, recording_id, false, reason),
        ToAgent::Bye { reason, .. } => {
            tracing::info!(?reason, "RWS ended the session");
            let why = match reason {
                proto::control::ByeReason::SessionReplaced => StopReason::SessionReplaced,
                proto::control::ByeReason::Admin => StopReason::Admin,
                _ => StopReason::SessionEnded,
            };
            crate::recording::stop(srs, None, why).await;
        }
        ToAgent::Config {
            capture,
            allowed_origins,
            ..
        } => {
            srs.set_rws_origins(allowed_origins);
            tracing::info!(
                fps = capture.fps,
                quality = capture.quality,
                origins = allowed_origins.len(),
                "configuration from RWS applied"
            );
        }
        ToAgent::Live {
            recording_id,
            on,
            notice,
            ..
        } => crate::recording::live(srs, recording_id, *on, *notice),
        ToAgent::Preview {
            preview_id,
            on,
            notice,
            recipients,
            upload_url,
            upload_token,
            masks,
            max_duration_s,
            ..
        } => {
            let srs = srs.clone();
            let id = preview_id.clone();
            if !*on {
                return tokio::task::spawn_blocking(move || {
                    crate::preview::stop(&srs, Some(&id));
                })
                .await
                .map_err(|e| format!("preview: {e}"));
            }
            let cmd = crate::preview::PreviewCommand {
                id,
                recipients: recipients.clone(),
                upload_url: upload_url.clone(),
                upload_token: upload_token.clone(),
                server: rws.server.clone(),
                masks: masks.clone(),
                notice: *notice,
                max_duration: Duration::from_secs(*max_duration_s),
            };
            let handle = tokio::runtime::Handle::current();
            return tokio::task::spawn_blocking(move || {
                let _enter = handle.enter();
                crate::preview::start(&srs, cmd)
            })
            .await
            .map_err(|e| format!("preview: {e}"))?;
        }
        ToAgent::Heartbeat => {}
    }
    Ok(())
}

async fn send(ws: &mut Ws, msg: &FromAgent) -> Result<(), ()> {
    let text = serde_json::to_string(msg).map_err(|_| ())?;
    ws.send(Message::Text(text.into())).await.map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        for attempt in 0..20 {
            let nominal = (0.5 * 2f64.powi(attempt.min(10) as i32)).min(10.0);
            let d = backoff(attempt).as_secs_f64();
            assert!(
                d >= nominal * 0.75 - 1e-9 && d <= nominal * 1.25 + 1e-9,
                "attempt {attempt}: {d}"
            );
        }
        let samples: Vec<Duration> = (0..20).map(|_| backoff(3)).collect();
        assert!(samples.iter().any(|d| *d != samples[0]), "jitter varies");
    }
}
